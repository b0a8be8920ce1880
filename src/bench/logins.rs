//! `portal bench --only logins` (issue 4): password sign-ins per second with the portal's argon2id
//! parameters, and the latency of ordinary commands while sign-ins run at full rate.
//!
//! Like the write bench it runs on a database of its own, `portal_bench_<random>`, dropped at the
//! end (also after an error or Ctrl-C), and drives the command API in process, with no projector
//! running: sign-ins through `CommandApi::login` (the per-login rate limit, the username's claim,
//! argon2id on a blocking thread, the `LoginSucceeded` append and the session row), ordinary
//! commands through `CommandApi::execute`. Each phase runs for a fixed time rather than a fixed
//! count, every loop starting its next call as soon as its last one returned.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use command_api::{ApiError, RequestInfo};
use serde_json::json;
use uuid::Uuid;

use super::{
    BenchArgs, COMMAND, CpuUsage, Machine, Rng, Server, TICKS_PER_SECOND, bench_api, bench_company,
    bench_users, cpu_times, drive, ms, on_scratch_database, percentile, rate,
};

/// The mixed phase: sign-ins from 4 loops while 8 loops run ordinary commands.
const MIXED_LOGIN_LOOPS: usize = 4;
const ORDINARY_LOOPS: usize = 8;
/// The target for ordinary commands while sign-ins run at full rate.
const TARGET_ORDINARY_P99: Duration = Duration::from_millis(20);
/// Concurrent commands during the setup.
const SETUP_LOOPS: usize = 8;
/// The password an administrator sets for every signing-in user (the default policy wants 8
/// characters of 2 classes).
const PASSWORD: &str = "Bench-password-1";
/// The per-login limit of `command-api/src/auth.rs`.
const ATTEMPTS_PER_LOGIN_PER_MINUTE: f64 = 60.0;

pub(super) struct LoginReport {
    users: usize,
    ordinary_users: usize,
    seconds: u64,
    load_before: Option<String>,
    load_after: Option<String>,
    /// The PHC parameters of a stored hash, e.g. `m=19456,t=2,p=1`.
    argon2: Option<String>,
    setup_events: u64,
    setup_elapsed: Duration,
    /// Ordinary commands alone, for comparison.
    baseline: Phase,
    /// Sign-ins alone, at each `--login-concurrency`.
    alone: Vec<Phase>,
    /// Sign-ins from `MIXED_LOGIN_LOOPS` loops and ordinary commands from `ORDINARY_LOOPS` at once.
    mixed: Phase,
}

struct Phase {
    login_loops: usize,
    ordinary_loops: usize,
    logins: Loops,
    ordinary: Loops,
    cpu: Option<CpuUsage>,
    /// Cores' worth of CPU the Postgres processes used.
    postgres_cores: Option<f64>,
}

/// What some loops did for a phase's time.
#[derive(Default)]
struct Loops {
    elapsed: Duration,
    /// Per call that was not rate-limited, sorted.
    latencies: Vec<Duration>,
    succeeded: u64,
    events: u64,
    rate_limited: u64,
    failures: u64,
    first_failure: Option<String>,
}

enum Failed {
    RateLimited,
    Other(String),
}

impl From<ApiError> for Failed {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::RateLimited { .. } => Failed::RateLimited,
            other => Failed::Other(format!("{} ({other})", other.code())),
        }
    }
}

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<LoginReport> {
    on_scratch_database(args, "the sign-in bench", |url| async move { measure(args, &url).await }).await
}

async fn measure(args: &BenchArgs, url: &str) -> anyhow::Result<LoginReport> {
    let load_before = load_average();
    let (database, log, api) = bench_api(url, false).await?;

    // Setup: a company, the users who sign in (an admin-set password, approved), and the users
    // the ordinary commands change.
    let started = Instant::now();
    let stats_before_setup = eventlog::writer_stats();
    let company_id = bench_company(&api, "Bench Sign-in Company", "+14155550124").await?;
    let created = drive(&api, SETUP_LOOPS, args.login_users, move |index, _| {
        let body = json!({
            "companyId": company_id,
            "username": username(index),
            "email": format!("login.user{index}@example.com"),
            "firstName": "Login",
            "lastName": format!("User {index}"),
            "password": PASSWORD,
        });
        ("CreateUser", body)
    })
    .await;
    if let Some(failure) = &created.first_failure {
        bail!("{} of {} CreateUser commands failed, e.g.: {failure}", created.failures, args.login_users);
    }
    let login_ids = Arc::new(created.ids);
    let first_login_id = login_ids.first().copied();
    let ids = Arc::clone(&login_ids);
    let approved = drive(&api, SETUP_LOOPS, login_ids.len(), move |index, _| {
        ("ApproveUser", json!({ "userId": ids[index] }))
    })
    .await;
    if let Some(failure) = &approved.first_failure {
        bail!("{} ApproveUser commands failed, e.g.: {failure}", approved.failures);
    }
    let ordinary = bench_users(&api, company_id, args.streams, SETUP_LOOPS, "bench.user").await?;
    let ordinary_ids = Arc::new(ordinary.ids);
    let setup_elapsed = started.elapsed();
    let setup_events = eventlog::writer_stats().since(stats_before_setup).accepted_events;
    eprintln!("  setup: {setup_events} events in {:.2} s", setup_elapsed.as_secs_f64());
    let argon2 = match first_login_id {
        Some(id) => stored_hash_parameters(log.as_ref(), id).await?,
        None => None,
    };

    let seconds = Duration::from_secs(args.login_seconds);
    // Turns shared by every phase: the users sign in one after the other, so each signs in once
    // every `users / rate` seconds, and every ordinary command sets a first name never set before.
    let login_turn = Arc::new(AtomicUsize::new(0));
    let ordinary_turn = Arc::new(AtomicUsize::new(0));
    let sign_in = {
        let (api, login_turn, users) = (Arc::clone(&api), Arc::clone(&login_turn), args.login_users);
        move |_: &mut Rng| {
            let api = Arc::clone(&api);
            let login = username(login_turn.fetch_add(1, Ordering::Relaxed) % users);
            async move {
                let reply = api.login(&login, PASSWORD).await?;
                // An admin-set password signs in, and must then be changed.
                if reply["mustChangePassword"] != json!(true) || reply["sessionToken"].as_str().is_none() {
                    return Err(Failed::Other(format!("unexpected sign-in reply: {reply}")));
                }
                Ok(1)
            }
        }
    };
    let update = {
        let (api, ordinary_turn, ids) = (Arc::clone(&api), Arc::clone(&ordinary_turn), ordinary_ids);
        move |rng: &mut Rng| {
            let api = Arc::clone(&api);
            let user_id = ids[rng.below(ids.len())];
            let turn = ordinary_turn.fetch_add(1, Ordering::Relaxed);
            async move {
                let body = json!({ "userId": user_id, "firstName": format!("Bench {turn}") });
                let outcome = api.execute(COMMAND, body, RequestInfo::operator()).await?;
                Ok(outcome.reply.events.len() as u64)
            }
        }
    };

    let baseline = phase(0, ORDINARY_LOOPS, seconds, sign_in.clone(), update.clone()).await;
    let mut alone = Vec::new();
    for &loops in &args.login_concurrency {
        alone.push(phase(loops, 0, seconds, sign_in.clone(), update.clone()).await);
    }
    let mixed = phase(MIXED_LOGIN_LOOPS, ORDINARY_LOOPS, seconds, sign_in, update).await;
    database.close().await;

    Ok(LoginReport {
        users: args.login_users,
        ordinary_users: args.streams,
        seconds: args.login_seconds,
        load_before,
        load_after: load_average(),
        argon2,
        setup_events,
        setup_elapsed,
        baseline,
        alone,
        mixed,
    })
}

fn username(index: usize) -> String {
    format!("login.user{index}")
}

/// `login_loops` sign-in loops and `ordinary_loops` ordinary-command loops, side by side for
/// `seconds`.
async fn phase<S, SF, U, UF>(
    login_loops: usize,
    ordinary_loops: usize,
    seconds: Duration,
    sign_in: S,
    update: U,
) -> Phase
where
    S: Fn(&mut Rng) -> SF + Send + Sync + 'static,
    SF: Future<Output = Result<u64, Failed>> + Send + 'static,
    U: Fn(&mut Rng) -> UF + Send + Sync + 'static,
    UF: Future<Output = Result<u64, Failed>> + Send + 'static,
{
    let cpu_before = cpu_times();
    let postgres_before = postgres_ticks();
    let started = Instant::now();
    let (logins, ordinary) =
        tokio::join!(run_for(login_loops, seconds, sign_in), run_for(ordinary_loops, seconds, update));
    let wall = started.elapsed();
    let cpu = cpu_before.zip(cpu_times()).map(|(before, after)| after.since(before, wall));
    let postgres_cores = postgres_before.zip(postgres_ticks()).map(|(before, after)| {
        after.saturating_sub(before) as f64 / TICKS_PER_SECOND / wall.as_secs_f64().max(1e-9)
    });
    let phase = Phase { login_loops, ordinary_loops, logins, ordinary, cpu, postgres_cores };
    eprintln!(
        "  {} sign-in loops, {} ordinary loops: {:.1} sign-ins/s (p99 {} ms), {:.0} ordinary events/s (p99 {} ms)",
        login_loops,
        ordinary_loops,
        phase.logins.rate(),
        ms(percentile(&phase.logins.latencies, 0.99)),
        rate(phase.ordinary.events, phase.ordinary.elapsed),
        ms(percentile(&phase.ordinary.latencies, 0.99)),
    );
    phase
}

/// Calls `call` from `loops` tasks, each starting its next call as soon as its last returned,
/// until `duration` has passed.
async fn run_for<F, Fut>(loops: usize, duration: Duration, call: F) -> Loops
where
    F: Fn(&mut Rng) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64, Failed>> + Send + 'static,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..loops)
        .map(|_| {
            let call = Arc::clone(&call);
            tokio::spawn(async move {
                let mut rng = Rng::seeded();
                let mut done = Loops::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let outcome = call(&mut rng).await;
                    let took = sent.elapsed();
                    match outcome {
                        Ok(events) => {
                            done.succeeded += 1;
                            done.events += events;
                            done.latencies.push(took);
                        }
                        Err(Failed::RateLimited) => done.rate_limited += 1,
                        Err(Failed::Other(failure)) => {
                            done.failures += 1;
                            done.latencies.push(took);
                            done.first_failure.get_or_insert(failure);
                        }
                    }
                }
                done
            })
        })
        .collect();
    let mut all = Loops::default();
    for task in tasks {
        match task.await {
            Ok(done) => {
                all.latencies.extend(done.latencies);
                all.succeeded += done.succeeded;
                all.events += done.events;
                all.rate_limited += done.rate_limited;
                all.failures += done.failures;
                if all.first_failure.is_none() {
                    all.first_failure = done.first_failure;
                }
            }
            Err(error) => {
                all.failures += 1;
                all.first_failure.get_or_insert_with(|| format!("a bench task failed: {error}"));
            }
        }
    }
    all.elapsed = if loops == 0 { Duration::ZERO } else { started.elapsed() };
    all.latencies.sort_unstable();
    all
}

impl Loops {
    /// Successful calls per second.
    fn rate(&self) -> f64 {
        if self.elapsed.is_zero() { 0.0 } else { rate(self.succeeded, self.elapsed) }
    }
}

/// The argon2 parameters of the password hash stored for `user_id` (from its `PasswordSet`
/// event), e.g. `argon2id v=19 m=19456,t=2,p=1`.
async fn stored_hash_parameters(
    log: &dyn eventlog::EventLog,
    user_id: Uuid,
) -> anyhow::Result<Option<String>> {
    let stream = domain::stream_id(domain::user::CATEGORY, user_id);
    let events = log.read_stream(&stream, 0).await.context("cannot read a signing-in user's stream")?;
    Ok(events.iter().find_map(|event| {
        let hash = event.data.get("passwordHash")?.as_str()?;
        // `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`: keep the algorithm, version and parameters.
        let mut parts = hash.split('$').skip(1);
        Some(format!("{} {} {}", parts.next()?, parts.next()?, parts.next()?))
    }))
}

/// The CPU time of every process named `postgres` on this machine (the server and its backends),
/// in ticks. The bench's connections live as long as their pool, so few backends end mid-phase.
fn postgres_ticks() -> Option<u64> {
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        if std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.trim() == "postgres") {
            let Ok(stat) = std::fs::read_to_string(path.join("stat")) else { continue };
            let Some((_, fields)) = stat.rsplit_once(')') else { continue };
            let fields: Vec<&str> = fields.split_whitespace().collect();
            let field = |index: usize| fields.get(index).and_then(|value| value.parse::<u64>().ok());
            ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
        }
    }
    Some(ticks)
}

/// `/proc/loadavg`'s three load averages, when there is one.
fn load_average() -> Option<String> {
    let load = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

// ---------------------------------------------------------------------------------------------
// The report

impl LoginReport {
    pub(super) fn render(&self, server: &Server, machine: &Machine) -> String {
        let mut out = String::new();
        self.render_setting(&mut out, server, machine);
        self.render_alone(&mut out);
        self.render_mixed(&mut out);
        self.render_target(&mut out);
        out
    }

    fn render_setting(&self, out: &mut String, server: &Server, machine: &Machine) {
        let _ = writeln!(out, "\n## portal bench: sign-in (issue 4)\n");
        let _ = writeln!(
            out,
            "- machine: {} cores ({}), {} memory; load average (1, 5, 15 min) before the run: {}, after: {}",
            machine.cores,
            machine.cpu_model,
            machine.memory,
            self.load_before.as_deref().unwrap_or("?"),
            self.load_after.as_deref().unwrap_or("?"),
        );
        let _ = writeln!(
            out,
            "- Postgres {}: synchronous_commit = {}, wal_sync_method = {}, shared_buffers = {}",
            server.version, server.synchronous_commit, server.wal_sync_method, server.shared_buffers
        );
        let argon2 =
            self.argon2.as_deref().map_or_else(|| "? (no stored hash found)".to_owned(), describe_argon2);
        let _ = writeln!(out, "- password hashing (read from a stored hash): {argon2}");
        let _ = writeln!(
            out,
            "- setup on a fresh database: 1 RegisterCompany, {} CreateUser with an admin-set password (so \
             they must change it at their first sign-in, which still signs them in) and {} ApproveUser, \
             {} CreateUser without a password for the ordinary commands: {} events in {:.2} s",
            self.users,
            self.users,
            self.ordinary_users,
            self.setup_events,
            self.setup_elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "- a sign-in: `CommandApi::login(username, password)` in process: the per-login rate limit, \
             the username's claim, argon2id verify on a blocking thread, `RecordLogin` (appends \
             `LoginSucceeded`) and a session row; the {} users sign in in turn",
            self.users
        );
        let _ = writeln!(
            out,
            "- an ordinary command: {COMMAND} with a new firstName (one event) on a random user among \
             {}, through `CommandApi::execute`",
            self.ordinary_users
        );
        let _ = writeln!(
            out,
            "- each phase runs {} s; no projector runs. Other processes' CPU = the machine's busy cores less \
             the bench's and Postgres's: anything above a few hundredths disturbs the figures",
            self.seconds
        );
    }

    fn render_alone(&self, out: &mut String) {
        let _ = writeln!(out, "\n### sign-ins alone\n");
        let _ = writeln!(
            out,
            "| sign-in loops | sign-ins | failed | rate-limited | wall s | sign-ins/s | p50 ms | p99 ms | \
             max ms | portal CPU ms per sign-in | portal CPU cores | Postgres CPU cores | other processes' CPU cores |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for phase in &self.alone {
            let logins = &phase.logins;
            let per_login = phase.cpu.as_ref().map_or("?".to_owned(), |cpu| {
                format!(
                    "{:.1}",
                    cpu.process_cores * logins.elapsed.as_secs_f64() * 1000.0
                        / logins.succeeded.max(1) as f64
                )
            });
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.2} | {:.1} | {} | {} | {} | {per_login} | {} | {} | {} |",
                phase.login_loops,
                logins.succeeded,
                logins.failures,
                logins.rate_limited,
                logins.elapsed.as_secs_f64(),
                logins.rate(),
                ms(percentile(&logins.latencies, 0.50)),
                ms(percentile(&logins.latencies, 0.99)),
                ms(logins.latencies.last().copied().unwrap_or_default()),
                cores(phase, |cpu| cpu.process_cores),
                phase.postgres_cores.map_or("?".to_owned(), |cores| format!("{cores:.2}")),
                others(phase),
            );
        }
        let best = self.alone.iter().map(|phase| phase.logins.rate()).fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "\nThe users sign in in turn, so at {best:.1} sign-ins/s each of the {} signs in {:.1} times a \
             minute (the per-login limit allows {ATTEMPTS_PER_LOGIN_PER_MINUTE:.0}): the limiter does not \
             shape these figures.",
            self.users,
            best * 60.0 / self.users as f64
        );
        self.render_failures(out);
    }

    fn render_failures(&self, out: &mut String) {
        let phases = std::iter::once(&self.baseline).chain(&self.alone).chain(std::iter::once(&self.mixed));
        for phase in phases {
            for (what, loops) in [("sign-in", &phase.logins), ("ordinary command", &phase.ordinary)] {
                if let Some(failure) = &loops.first_failure {
                    let _ = writeln!(
                        out,
                        "\n{} {what}s failed with {} sign-in and {} ordinary loops, e.g.: {failure}",
                        loops.failures, phase.login_loops, phase.ordinary_loops
                    );
                }
            }
        }
    }

    fn render_mixed(&self, out: &mut String) {
        let _ = writeln!(out, "\n### ordinary commands, alone and while sign-ins run at full rate\n");
        let _ = writeln!(
            out,
            "| ordinary loops | sign-in loops | events | failed | wall s | events/s | p50 ms | p99 ms | max ms | \
             sign-ins/s meanwhile | sign-in p50 / p99 ms | portal CPU cores | Postgres CPU cores | other processes' \
             CPU cores |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for phase in [&self.baseline, &self.mixed] {
            let (ordinary, logins) = (&phase.ordinary, &phase.logins);
            let sign_ins = if phase.login_loops == 0 {
                ("—".to_owned(), "—".to_owned())
            } else {
                (
                    format!("{:.1}", logins.rate()),
                    format!(
                        "{} / {}",
                        ms(percentile(&logins.latencies, 0.50)),
                        ms(percentile(&logins.latencies, 0.99))
                    ),
                )
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                phase.ordinary_loops,
                phase.login_loops,
                ordinary.events,
                ordinary.failures,
                ordinary.elapsed.as_secs_f64(),
                rate(ordinary.events, ordinary.elapsed),
                ms(percentile(&ordinary.latencies, 0.50)),
                ms(percentile(&ordinary.latencies, 0.99)),
                ms(ordinary.latencies.last().copied().unwrap_or_default()),
                sign_ins.0,
                sign_ins.1,
                cores(phase, |cpu| cpu.process_cores),
                phase.postgres_cores.map_or("?".to_owned(), |cores| format!("{cores:.2}")),
                others(phase),
            );
        }
    }

    fn render_target(&self, out: &mut String) {
        let _ = writeln!(out, "\n### target\n");
        let p99 = percentile(&self.mixed.ordinary.latencies, 0.99);
        let verdict = if self.mixed.ordinary.latencies.is_empty() {
            "NOT MET (no ordinary command completed)"
        } else if p99 <= TARGET_ORDINARY_P99 {
            "met"
        } else {
            "NOT MET"
        };
        let _ = writeln!(
            out,
            "- ordinary p99 ≤ {} ms while logins run ({} sign-in loops, {:.1} sign-ins/s; {} ordinary loops): \
             {} ms → {verdict}",
            TARGET_ORDINARY_P99.as_millis(),
            self.mixed.login_loops,
            self.mixed.logins.rate(),
            self.mixed.ordinary_loops,
            ms(p99)
        );
    }
}

fn cores(phase: &Phase, value: fn(&CpuUsage) -> f64) -> String {
    phase.cpu.as_ref().map_or("?".to_owned(), |cpu| format!("{:.2}", value(cpu)))
}

/// The machine's busy cores less the bench's and Postgres's: a compiler or tests running beside
/// the bench show here.
fn others(phase: &Phase) -> String {
    match (&phase.cpu, phase.postgres_cores) {
        (Some(cpu), Some(postgres)) => {
            format!("{:.2}", (cpu.machine_busy_cores - cpu.process_cores - postgres).max(0.0))
        }
        _ => "?".to_owned(),
    }
}

/// `argon2id v=19 m=19456,t=2,p=1` → `argon2id v=19, m = 19456 KiB (19.0 MiB), t = 2, p = 1`.
fn describe_argon2(parameters: &str) -> String {
    let mut words = parameters.split(' ');
    let (Some(algorithm), Some(version), Some(costs)) = (words.next(), words.next(), words.next()) else {
        return parameters.to_owned();
    };
    let value = |key: &str| costs.split(',').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='));
    match (value("m").and_then(|m| m.parse::<f64>().ok()), value("t"), value("p")) {
        (Some(memory), Some(t), Some(p)) => {
            format!("{algorithm} {version}, m = {memory} KiB ({:.1} MiB), t = {t}, p = {p}", memory / 1024.0)
        }
        _ => parameters.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_argon2;

    #[test]
    fn describes_the_parameters_of_a_phc_hash() {
        assert_eq!(
            describe_argon2("argon2id v=19 m=19456,t=2,p=1"),
            "argon2id v=19, m = 19456 KiB (19.0 MiB), t = 2, p = 1"
        );
        assert_eq!(describe_argon2("bcrypt"), "bcrypt");
    }
}
