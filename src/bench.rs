//! `portal bench`: command throughput through the in-process command handler on Postgres, the
//! rebuild of the users read model, and, in the same run, the ceiling of this machine to judge
//! them by: bare batched inserts of the same event rows, and the disk's fsync latency.
//!
//! Each concurrency level gets a database of its own, `portal_bench_<random>`, created on the
//! server `--database-url` names, migrated, and dropped at the end, also after an error or Ctrl-C.
//! No projector runs while commands are written: the write side is measured alone, the rebuild
//! separately.
//!
//! The bare-insert ceiling is the one place outside the event log adapters that writes SQL: it
//! measures the database without the portal, so it cannot go through the portal.
//!
//! `--only logins` measures password sign-ins instead (see `logins.rs`); `--only writes,logins`
//! runs both.

mod access;
mod fanout;
mod import;
mod logins;
mod publish;

use std::fmt::Write as _;
use std::io::{Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chrono::Utc;
use clap::Args;
use command_api::{CommandApi, RequestInfo};
use domain::Actor;
use eventlog::{Database, NewEvent, WriterStats};
use projections::ReadModel;
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

/// The measured command: a new first name every time, so it always appends exactly one event
/// (a repeated value would be a no-op, and suspend/reactivate would be refused when two writers
/// pick the same user at once).
const COMMAND: &str = "UpdateUserProfile";
/// The targets, stated for N = 50,000 events over M = 1,000 streams.
const TARGET_EVENTS: usize = 50_000;
const TARGET_STREAMS: usize = 1_000;
const TARGET_RATES: [(usize, f64); 2] = [(8, 5_000.0), (64, 30_000.0)];
const TARGET_P99: Duration = Duration::from_millis(15);
const TARGET_REBUILD: f64 = 50_000.0;
/// The group-commit writers of the Postgres event log (`eventlog/src/postgres.rs`).
const EVENT_LOG_WRITERS: usize = 2;
const FSYNC_SAMPLES: usize = 200;
/// Linux reports process CPU time in ticks of 1/100 s (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Args)]
pub struct BenchArgs {
    /// The Postgres server to measure on: the bench creates a database of its own there and drops it.
    #[arg(
        long,
        env = "PORTAL_BENCH_DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Events written through the command handler at each concurrency (the setup comes on top).
    #[arg(long, default_value_t = TARGET_EVENTS)]
    events: usize,
    /// Streams (users) the events are spread over.
    #[arg(long, default_value_t = TARGET_STREAMS)]
    streams: usize,
    /// Concurrent writers, comma-separated: one run, on a fresh database, for each.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    concurrency: Vec<usize>,
    /// Skips the bare-insert ceiling.
    #[arg(long)]
    skip_raw: bool,
    /// Writes personal data in the clear (no sealing with each person's key): only to measure
    /// what sealing costs, against a run without this flag.
    #[arg(long)]
    personal_data_in_the_clear: bool,
    /// What to measure, comma-separated: `writes` (commands, rebuild and ceiling, the default),
    /// `logins` (password sign-ins, and ordinary commands while they run: about a minute) and
    /// `access` (accessAsOf over a company of 10,000 users and 1,000,000 events: a few minutes),
    /// `publish` (the NATS publisher's lag while commands are written: needs --nats-url),
    /// `fanout` (1,000 GraphQL subscribers on one query process), `import` (5,000 users imported
    /// through HTTP into a `portal serve` process, on SQLite and on Postgres, without and with
    /// passwords: a minute or two).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "writes")]
    only: Vec<Part>,
    /// Sign-in bench: users who sign in, in turn (each may sign in 60 times a minute).
    #[arg(long, default_value_t = 200)]
    login_users: usize,
    /// Sign-in bench: seconds each phase runs.
    #[arg(long, default_value_t = 10)]
    login_seconds: u64,
    /// Sign-in bench: concurrent sign-in loops, comma-separated: one phase of sign-ins alone each.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8")]
    login_concurrency: Vec<usize>,
    /// accessAsOf bench: users of the company.
    #[arg(long, default_value_t = 10_000)]
    access_users: usize,
    /// accessAsOf bench: events in the log (the users' histories fill it up to this).
    #[arg(long, default_value_t = 1_000_000)]
    access_events: usize,
    /// accessAsOf bench: how many times the query runs.
    #[arg(long, default_value_t = 20)]
    access_queries: usize,
    /// Publish bench: the NATS server (a stream of the bench's own is made there and deleted).
    #[arg(long, env = "PORTAL_BENCH_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Publish bench: concurrent writers while the publisher runs.
    #[arg(long, default_value_t = 64)]
    publish_concurrency: usize,
    /// Fan-out bench: GraphQL subscribers (WebSocket connections) on one query process.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Fan-out bench: events written while they listen (each reaches every subscriber).
    #[arg(long, default_value_t = 200)]
    fanout_events: usize,
    /// Import bench: rows in the file.
    #[arg(long, default_value_t = 5000)]
    import_rows: usize,
}

/// The parts of `portal bench`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    Writes,
    Logins,
    Access,
    Publish,
    Fanout,
    Import,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.events == 0 || args.streams == 0 {
        bail!("--events and --streams must be at least 1");
    }
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency must list numbers of at least 1, e.g. 8,64");
    }
    if args.login_users == 0 || args.login_seconds == 0 {
        bail!("--login-users and --login-seconds must be at least 1");
    }
    if args.login_concurrency.is_empty() || args.login_concurrency.contains(&0) {
        bail!("--login-concurrency must list numbers of at least 1, e.g. 2,4,8");
    }
    let server = server_info(&args.database_url).await?;
    let machine = machine_info();
    if args.only.contains(&Part::Writes) {
        writes(&args, &server, &machine).await?;
    }
    if args.only.contains(&Part::Logins) {
        let report = logins::run(&args).await?;
        print!("{}", report.render(&server, &machine));
    }
    if args.only.contains(&Part::Access) {
        if args.access_users == 0 || args.access_queries == 0 {
            bail!("--access-users and --access-queries must be at least 1");
        }
        let report = access::run(&args).await?;
        print!("{}", report.render());
    }
    if args.only.contains(&Part::Publish) {
        if args.publish_concurrency == 0 {
            bail!("--publish-concurrency must be at least 1");
        }
        let report = publish::run(&args).await?;
        print!("{}", report.render());
    }
    if args.only.contains(&Part::Fanout) {
        if args.subscribers == 0 || args.fanout_events == 0 {
            bail!("--subscribers and --fanout-events must be at least 1");
        }
        let report = fanout::run(&args).await?;
        print!("{}", report.render());
    }
    if args.only.contains(&Part::Import) {
        if args.import_rows == 0 || args.import_rows > domain::import::MAX_ROWS as usize {
            bail!("--import-rows must be 1 to {}", domain::import::MAX_ROWS);
        }
        let report = import::run(&args).await?;
        print!("{}", report.render());
    }
    Ok(())
}

/// The command throughput, the rebuild and the ceiling, at each concurrency.
async fn writes(args: &BenchArgs, server: &Server, machine: &Machine) -> anyhow::Result<()> {
    let fsync_directory = fsync_directory(server.data_directory.as_deref());
    eprintln!("measuring fsync latency in {} …", fsync_directory.display());
    let pg_test_fsync = pg_test_fsync(&fsync_directory).await;
    let fsync_start = measure_fsync_blocking(fsync_directory.clone()).await?;

    let mut levels = Vec::new();
    for &concurrency in &args.concurrency {
        let label = format!("the run at concurrency {concurrency}");
        let fsync_directory = &fsync_directory;
        let level = on_scratch_database(args, &label, |url| async move {
            level(args, concurrency, &url, fsync_directory).await
        })
        .await?;
        levels.push(level);
    }
    let report = Report { args, server, machine, fsync_directory, pg_test_fsync, fsync_start, levels };
    print!("{}", report.render());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One concurrency level

struct Level {
    concurrency: usize,
    fsync: FsyncSample,
    setup: Driven,
    setup_commands: usize,
    writes: Driven,
    writer: WriterStats,
    cpu: Option<CpuUsage>,
    rebuild_events: u64,
    rebuild_elapsed: Duration,
    seal_elapsed: Duration,
    verified_events: u64,
    verify_elapsed: Duration,
    raw: Vec<RawRun>,
}

async fn level(
    args: &BenchArgs,
    concurrency: usize,
    url: &str,
    fsync_directory: &Path,
) -> anyhow::Result<Level> {
    let fsync = measure_fsync_blocking(fsync_directory.to_path_buf()).await?;
    let (database, log, api) = bench_api(url, args.personal_data_in_the_clear).await?;

    // Setup: one company (with its two default roles), then the users, written like the rest.
    let started = Instant::now();
    let stats_before_setup = eventlog::writer_stats();
    let company_id = bench_company(&api, "Bench Company", "+14155550123").await?;
    let mut setup = bench_users(&api, company_id, args.streams, concurrency, "bench.user").await?;
    setup.elapsed = started.elapsed();
    // The reply lists the target stream's events only; the company's roles are events too.
    setup.events = eventlog::writer_stats().since(stats_before_setup).accepted_events;
    let users = Arc::new(std::mem::take(&mut setup.ids));
    eprintln!("  setup: {} events in {:.2} s", setup.events, setup.elapsed.as_secs_f64());

    // The measured writes.
    let stats_before = eventlog::writer_stats();
    let cpu_before = cpu_times();
    let writes = drive(&api, concurrency, args.events, profile_updates(users, "Bench")).await;
    let cpu = cpu_before.zip(cpu_times()).map(|(before, after)| after.since(before, writes.elapsed));
    let writer = eventlog::writer_stats().since(stats_before);
    eprintln!(
        "  writes: {} events in {:.2} s ({:.0} events/s, {} failed)",
        writes.events,
        writes.elapsed.as_secs_f64(),
        rate(writes.events, writes.elapsed),
        writes.failures
    );

    // The users read model, from the whole log.
    let rebuild = projections::rebuild(&database, log.as_ref(), ReadModel::Users, |_| {}).await?;
    eprintln!(
        "  rebuild: {} events in {:.2} s ({:.0} events/s)",
        rebuild.events,
        rebuild.elapsed.as_secs_f64(),
        rate(rebuild.events, rebuild.elapsed)
    );

    // Issue 5: the seals over the whole log, then `portal audit verify`'s full recomputation.
    let started = Instant::now();
    eventlog::Sealer::default().seal_all(log.as_ref(), &database).await?;
    let seal_elapsed = started.elapsed();
    let started = Instant::now();
    let verification = eventlog::verify(log.as_ref(), &database, |_| {}).await?;
    let verify_elapsed = started.elapsed();
    let eventlog::Verification::Verified { events: verified_events, .. } = verification else {
        anyhow::bail!("the bench's own log did not verify: {verification:?}");
    };
    eprintln!(
        "  seal: {:.2} s; verify: {verified_events} events in {:.2} s ({:.0} events/s)",
        seal_elapsed.as_secs_f64(),
        verify_elapsed.as_secs_f64(),
        rate(verified_events, verify_elapsed)
    );
    database.close().await;

    // The ceiling, on the same database: the same rows, no portal code.
    let mut raw = Vec::new();
    if !args.skip_raw {
        for plan in RawPlan::all(concurrency) {
            let run = raw_insert(url, plan, args.events, args.streams, company_id)
                .await
                .context("the bare-insert ceiling failed")?;
            eprintln!(
                "  raw {}: {} tasks × {} rows per transaction: {:.0} events/s",
                plan.shape.name(),
                plan.tasks,
                plan.rows_per_transaction,
                rate(run.rows as u64, run.elapsed)
            );
            raw.push(run);
        }
    }

    Ok(Level {
        concurrency,
        fsync,
        setup,
        setup_commands: 1 + args.streams,
        writes,
        writer,
        cpu,
        rebuild_events: rebuild.events,
        rebuild_elapsed: rebuild.elapsed,
        seal_elapsed,
        verified_events,
        verify_elapsed,
        raw,
    })
}

/// What `count` commands run by `concurrency` tasks did.
#[derive(Default)]
struct Driven {
    elapsed: Duration,
    /// Per command, sorted.
    latencies: Vec<Duration>,
    events: u64,
    ids: Vec<Uuid>,
    failures: u64,
    first_failure: Option<String>,
}

/// Runs command number 0 to `count - 1` (as `command` makes them) through the command handler
/// from `concurrency` tasks, each taking the next number as soon as its last command returned.
async fn drive<F>(api: &Arc<CommandApi>, concurrency: usize, count: usize, command: F) -> Driven
where
    F: Fn(usize, &mut Rng) -> (&'static str, serde_json::Value) + Send + Sync + 'static,
{
    let command = Arc::new(command);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (api, command, next) = (Arc::clone(api), Arc::clone(&command), Arc::clone(&next));
            tokio::spawn(async move {
                let mut rng = Rng::seeded();
                let mut driven = Driven::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let (command_type, body) = command(index, &mut rng);
                    let sent = Instant::now();
                    let outcome = api.execute(command_type, body, RequestInfo::operator()).await;
                    driven.latencies.push(sent.elapsed());
                    match outcome {
                        Ok(outcome) => {
                            driven.events += outcome.reply.events.len() as u64;
                            driven.ids.push(outcome.reply.id);
                        }
                        Err(error) => {
                            driven.failures += 1;
                            driven.first_failure.get_or_insert_with(|| error.to_string());
                        }
                    }
                }
                driven
            })
        })
        .collect();
    let mut all = Driven::default();
    for task in tasks {
        match task.await {
            Ok(driven) => {
                all.latencies.extend(driven.latencies);
                all.events += driven.events;
                all.ids.extend(driven.ids);
                all.failures += driven.failures;
                if all.first_failure.is_none() {
                    all.first_failure = driven.first_failure;
                }
            }
            Err(error) => {
                all.failures += 1;
                all.first_failure.get_or_insert_with(|| format!("a writer task failed: {error}"));
            }
        }
    }
    all.elapsed = started.elapsed();
    all.latencies.sort_unstable();
    all
}

// ---------------------------------------------------------------------------------------------
// The bare-insert ceiling

#[derive(Clone, Copy, PartialEq, Eq)]
enum RawShape {
    /// One `insert … select from unnest(…)` statement: its own transaction.
    Insert,
    /// The event log writer's full transaction around the same insert (what a batch with claims
    /// or idempotency keys takes): begin, the streams' newest versions, the insert, commit.
    WriterTransaction,
}

impl RawShape {
    fn name(self) -> &'static str {
        match self {
            RawShape::Insert => "insert",
            RawShape::WriterTransaction => "writer-shaped",
        }
    }
}

#[derive(Clone, Copy)]
struct RawPlan {
    shape: RawShape,
    tasks: usize,
    rows_per_transaction: usize,
}

impl RawPlan {
    /// With C commands in flight, group commit can at best put all C in the batches of the
    /// event log's writers; one transaction per command is the other extreme.
    fn all(concurrency: usize) -> [RawPlan; 3] {
        let writers = EVENT_LOG_WRITERS.min(concurrency);
        let batch = concurrency.div_ceil(writers);
        [
            RawPlan { shape: RawShape::Insert, tasks: writers, rows_per_transaction: batch },
            RawPlan { shape: RawShape::WriterTransaction, tasks: writers, rows_per_transaction: batch },
            RawPlan { shape: RawShape::Insert, tasks: concurrency, rows_per_transaction: 1 },
        ]
    }
}

struct RawRun {
    plan: RawPlan,
    rows: usize,
    elapsed: Duration,
    /// Per transaction, sorted.
    latencies: Vec<Duration>,
}

/// `plan.tasks` connections each writing `plan.rows_per_transaction` event rows per transaction,
/// `rows` in all, with the event log's own statements and nothing else.
async fn raw_insert(
    url: &str,
    plan: RawPlan,
    rows: usize,
    streams: usize,
    company_id: Uuid,
) -> anyhow::Result<RawRun> {
    let RawPlan { shape, tasks, rows_per_transaction } = plan;
    let streams_per_task = streams.div_ceil(tasks).max(1);
    let options = eventlog::postgres_options(url)?;
    let mut connections = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        connections
            .push(PgConnection::connect_with(&options).await.context("cannot connect for the bare inserts")?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut rng = Rng::seeded();
                let stream_ids: Vec<String> =
                    (0..streams_per_task).map(|_| format!("user-{}", Uuid::now_v7())).collect();
                let mut versions = vec![0i64; streams_per_task];
                let mut latencies = Vec::new();
                loop {
                    let first = next.fetch_add(rows_per_transaction, Ordering::Relaxed);
                    if first >= rows {
                        break;
                    }
                    let mut batch = RawRows::default();
                    for index in first..rows.min(first + rows_per_transaction) {
                        let stream = rng.below(streams_per_task);
                        versions[stream] += 1;
                        batch.push(&stream_ids[stream], versions[stream], index, company_id);
                    }
                    let sent = Instant::now();
                    match shape {
                        RawShape::Insert => batch.insert(&mut connection).await?,
                        RawShape::WriterTransaction => batch.insert_like_the_writer(&mut connection).await?,
                    }
                    latencies.push(sent.elapsed());
                }
                let _ = connection.close().await;
                Ok::<_, sqlx::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await.map_err(|error| anyhow!("a bare-insert task failed: {error}"))??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(RawRun { plan, rows, elapsed, latencies })
}

const INSERT: &str = "insert into events (stream_id, version, event_id, event_type, schema_version, data, \
     company_id, actor_kind, actor_id, correlation_id, causation_id, request_id, recorded_at) \
     select * from unnest($1::text[], $2::int8[], $3::uuid[], $4::text[], $5::int4[], $6::jsonb[], \
     $7::uuid[], $8::text[], $9::uuid[], $10::uuid[], $11::uuid[], $12::text[], $13::timestamptz[]) \
     returning event_id, position";
const NEWEST_VERSIONS: &str = "select s.stream_id, v.version from unnest($1::text[]) as s(stream_id) \
     cross join lateral (select max(e.version) as version from events e where e.stream_id = s.stream_id) as v \
     where v.version is not null";

/// Event rows as the command handler would write them for the measured command.
#[derive(Default)]
struct RawRows {
    stream_id: Vec<String>,
    version: Vec<i64>,
    event_id: Vec<Uuid>,
    event_type: Vec<String>,
    schema_version: Vec<i32>,
    data: Vec<serde_json::Value>,
    company_id: Vec<Option<Uuid>>,
    actor_kind: Vec<&'static str>,
    actor_id: Vec<Option<Uuid>>,
    correlation_id: Vec<Uuid>,
    causation_id: Vec<Option<Uuid>>,
    request_id: Vec<Option<String>>,
    recorded_at: Vec<chrono::DateTime<Utc>>,
}

impl RawRows {
    fn push(&mut self, stream_id: &str, version: i64, index: usize, company_id: Uuid) {
        let event = NewEvent::from_payload(&domain::user::Event::profile_updated(
            None,
            [(domain::user::Field::FirstName, Some(format!("Bench {index}")))].into(),
        ));
        let actor = Actor::operator();
        let request_id = Uuid::now_v7();
        self.stream_id.push(stream_id.to_owned());
        self.version.push(version);
        self.event_id.push(event.event_id);
        self.event_type.push(event.event_type);
        self.schema_version.push(event.schema_version);
        self.data.push(event.data);
        self.company_id.push(Some(company_id));
        self.actor_kind.push(actor.kind.as_str());
        self.actor_id.push(actor.id);
        self.correlation_id.push(request_id);
        self.causation_id.push(None);
        self.request_id.push(Some(request_id.to_string()));
        self.recorded_at.push(Utc::now());
    }

    /// The insert of `eventlog/src/postgres.rs`, on its own (autocommit) transaction.
    async fn insert(self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.insert_with(INSERT, connection).await
    }

    /// The statements of the event log writer's transaction, copied from `eventlog/src/postgres.rs`.
    async fn insert_like_the_writer(self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        let mut transaction = connection.begin().await?;
        let _: Vec<(String, i64)> =
            sqlx::query_as(NEWEST_VERSIONS).bind(&self.stream_id).fetch_all(&mut *transaction).await?;
        self.insert_with(INSERT, &mut transaction).await?;
        transaction.commit().await
    }

    async fn insert_with(
        self,
        statement: &'static str,
        connection: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        let _: Vec<(Uuid, i64)> = sqlx::query_as(statement)
            .bind(&self.stream_id)
            .bind(&self.version)
            .bind(&self.event_id)
            .bind(&self.event_type)
            .bind(&self.schema_version)
            .bind(&self.data)
            .bind(&self.company_id)
            .bind(&self.actor_kind)
            .bind(&self.actor_id)
            .bind(&self.correlation_id)
            .bind(&self.causation_id)
            .bind(&self.request_id)
            .bind(&self.recorded_at)
            .fetch_all(connection)
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The machine: Postgres settings, cores, memory, fsync

struct Server {
    version: String,
    synchronous_commit: String,
    wal_sync_method: String,
    commit_delay: String,
    shared_buffers: String,
    autovacuum: String,
    data_directory: Option<PathBuf>,
}

async fn server_info(url: &str) -> anyhow::Result<Server> {
    let mut admin = PgConnection::connect(url)
        .await
        .context("cannot connect to Postgres at --database-url (PORTAL_BENCH_DATABASE_URL)")?;
    let mut setting = async |name: &str| -> anyhow::Result<String> {
        let value: Option<String> = sqlx::query_scalar("select current_setting($1, true)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .with_context(|| format!("cannot read the Postgres setting {name}"))?;
        Ok(value.unwrap_or_else(|| "?".to_owned()))
    };
    let server = Server {
        version: setting("server_version").await?,
        synchronous_commit: setting("synchronous_commit").await?,
        wal_sync_method: setting("wal_sync_method").await?,
        commit_delay: setting("commit_delay").await?,
        shared_buffers: setting("shared_buffers").await?,
        autovacuum: setting("autovacuum").await?,
        // Only superusers (and pg_read_all_settings) may read it.
        data_directory: setting("data_directory").await.ok().filter(|d| d != "?").map(PathBuf::from),
    };
    let _ = admin.close().await;
    Ok(server)
}

struct Machine {
    cores: usize,
    memory: String,
    cpu_model: String,
}

fn machine_info() -> Machine {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".to_owned());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "?".to_owned());
    Machine { cores: std::thread::available_parallelism().map_or(0, |n| n.get()), memory, cpu_model }
}

/// Where to time fsync: the filesystem of Postgres's data directory when it is on this machine.
fn fsync_directory(data_directory: Option<&Path>) -> PathBuf {
    let temp = std::env::temp_dir();
    let Some(data_directory) = data_directory.filter(|d| d.exists()) else { return temp };
    if same_device(data_directory, &temp) {
        return temp;
    }
    data_directory.parent().map_or(temp, Path::to_path_buf)
}

#[cfg(unix)]
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_device(_: &Path, _: &Path) -> bool {
    false
}

#[derive(Clone, Copy)]
struct FsyncSample {
    p50: Duration,
    p99: Duration,
}

async fn measure_fsync_blocking(directory: PathBuf) -> anyhow::Result<FsyncSample> {
    tokio::task::spawn_blocking(move || measure_fsync(&directory))
        .await?
        .context("cannot time fsync in a temporary file")
}

/// Rewrites one 8 kB block of a temporary file and `fdatasync`s it, `FSYNC_SAMPLES` times: what
/// Postgres does to its WAL at every commit.
fn measure_fsync(directory: &Path) -> std::io::Result<FsyncSample> {
    let path = directory.join(format!("portal_bench_fsync_{}.tmp", random_hex(8)));
    let timed = (|| {
        let mut file = std::fs::OpenOptions::new().create_new(true).write(true).open(&path)?;
        let block = vec![0x5a_u8; 8192];
        file.write_all(&block)?;
        file.sync_all()?;
        let mut samples = Vec::with_capacity(FSYNC_SAMPLES);
        for _ in 0..FSYNC_SAMPLES {
            let started = Instant::now();
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&block)?;
            file.sync_data()?;
            samples.push(started.elapsed());
        }
        Ok::<_, std::io::Error>(samples)
    })();
    let _ = std::fs::remove_file(&path);
    let mut samples = timed?;
    samples.sort_unstable();
    Ok(FsyncSample { p50: percentile(&samples, 0.50), p99: percentile(&samples, 0.99) })
}

struct PgTestFsync {
    binary: PathBuf,
    /// The `fdatasync` line of "one 8kB write" (Postgres's `wal_sync_method` on Linux).
    fdatasync_ops_per_second: f64,
}

/// Runs `pg_test_fsync -s 1` when it is installed; `None` when it is not.
async fn pg_test_fsync(directory: &Path) -> Option<Result<PgTestFsync, String>> {
    let binary = find_pg_test_fsync()?;
    eprintln!("running {} -s 1 (about 15 s) …", binary.display());
    let file = directory.join(format!("portal_bench_pg_test_fsync_{}.tmp", random_hex(8)));
    let output = tokio::process::Command::new(&binary).arg("-s").arg("1").arg("-f").arg(&file).output().await;
    let _ = std::fs::remove_file(&file);
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            return Some(Err(format!(
                "{} failed: {}",
                binary.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Err(error) => return Some(Err(format!("cannot run {}: {error}", binary.display()))),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    Some(match parse_fdatasync(&stdout) {
        Some(fdatasync_ops_per_second) => Ok(PgTestFsync { binary, fdatasync_ops_per_second }),
        None => Err(format!("no fdatasync figure in the output of {}", binary.display())),
    })
}

/// The first `fdatasync … ops/sec` line: the single 8 kB write.
fn parse_fdatasync(output: &str) -> Option<f64> {
    output.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == "fdatasync").then_some(())?;
        let ops = words.next()?.parse::<f64>().ok()?;
        (words.next()? == "ops/sec").then_some(ops)
    })
}

fn find_pg_test_fsync() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("pg_test_fsync")).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin/pg_test_fsync")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path.into_iter().chain(versioned.into_iter().map(|(_, path)| path)).find(|path| path.is_file())
}

/// CPU time of this process and of the whole machine, from `/proc` (Linux only).
#[derive(Clone, Copy)]
struct CpuTimes {
    process_ticks: u64,
    machine_busy: u64,
    machine_iowait: u64,
    machine_total: u64,
}

struct CpuUsage {
    /// Cores' worth of CPU the bench process (command handler and event log) used.
    process_cores: f64,
    /// Cores' worth busy on the whole machine (the bench, Postgres, anything else).
    machine_busy_cores: f64,
    machine_iowait_cores: f64,
}

impl CpuTimes {
    fn since(self, before: CpuTimes, wall: Duration) -> CpuUsage {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let total = self.machine_total.saturating_sub(before.machine_total).max(1) as f64;
        let share = |ticks: u64| ticks as f64 / total * cores;
        CpuUsage {
            process_cores: self.process_ticks.saturating_sub(before.process_ticks) as f64
                / TICKS_PER_SECOND
                / wall.as_secs_f64().max(1e-9),
            machine_busy_cores: share(self.machine_busy.saturating_sub(before.machine_busy)),
            machine_iowait_cores: share(self.machine_iowait.saturating_sub(before.machine_iowait)),
        }
    }
}

fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let process_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let machine = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = machine
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let machine_total: u64 = cpu.iter().take(8).sum();
    let (idle, iowait) = (*cpu.get(3)?, *cpu.get(4)?);
    Some(CpuTimes {
        process_ticks,
        machine_busy: machine_total.saturating_sub(idle + iowait),
        machine_iowait: iowait,
        machine_total,
    })
}

// ---------------------------------------------------------------------------------------------
// The bench databases

/// Runs `work` on a throw-away database of the bench server (given its URL), and drops the
/// database afterwards, also when the run fails or is interrupted.
async fn on_scratch_database<T, F, Fut>(args: &BenchArgs, label: &str, work: F) -> anyhow::Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let name = format!("portal_bench_{}", random_hex(8));
    create_database(&args.database_url, &name).await?;
    eprintln!("{label}: database {name}");
    let outcome = tokio::select! {
        outcome = work(database_url(&args.database_url, &name)) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let dropped = drop_database(&args.database_url, &name).await;
    let result = outcome.with_context(|| format!("{label} failed"))?;
    dropped.with_context(|| format!("cannot drop the bench database {name}"))?;
    Ok(result)
}

/// The migrated bench database at `url`, its event log and a command handler on it.
async fn bench_api(
    url: &str,
    in_the_clear: bool,
) -> anyhow::Result<(Database, Arc<dyn eventlog::EventLog>, Arc<CommandApi>)> {
    let database = Database::connect_postgres(url).await.context("cannot connect to the bench database")?;
    database.migrate().await.context("cannot migrate the bench database")?;
    let log = if in_the_clear { database.event_log_in_the_clear() } else { database.event_log() };
    let api = Arc::new(CommandApi::new(Arc::clone(&log), database.clone(), &random_hex(32)));
    Ok((database, log, api))
}

/// The measured command ([`COMMAND`]) on a random one of `users`, first name `<label> <index>`.
fn profile_updates(
    users: Arc<Vec<Uuid>>,
    label: &'static str,
) -> impl Fn(usize, &mut Rng) -> (&'static str, serde_json::Value) + Send + Sync + 'static {
    move |index, rng| {
        let user_id = users[rng.below(users.len())];
        (COMMAND, json!({ "userId": user_id, "firstName": format!("{label} {index}") }))
    }
}

/// `count` users of `company` created through the command handler from `concurrency` tasks,
/// named `<prefix><index>`; a refused creation fails the run.
async fn bench_users(
    api: &Arc<CommandApi>,
    company: Uuid,
    count: usize,
    concurrency: usize,
    prefix: &'static str,
) -> anyhow::Result<Driven> {
    let created = drive(api, concurrency, count, move |index, _| {
        let name = format!("{prefix}{index}");
        let body = json!({ "companyId": company, "username": name, "email": format!("{name}@example.com"),
            "firstName": "Bench", "lastName": format!("User {index}") });
        ("CreateUser", body)
    })
    .await;
    if let Some(failure) = &created.first_failure {
        bail!("{} of {count} CreateUser commands failed, e.g.: {failure}", created.failures);
    }
    Ok(created)
}

/// Registers the company a run's users belong to; its id.
async fn bench_company(api: &CommandApi, name: &str, main_phone: &str) -> anyhow::Result<Uuid> {
    let company = api
        .execute("RegisterCompany", json!({ "name": name, "mainPhone": main_phone }), RequestInfo::operator())
        .await
        .map_err(|error| anyhow!("RegisterCompany was refused: {error}"))?;
    Ok(company.reply.id)
}

async fn create_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(server_url).await.context("cannot connect to Postgres")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .with_context(|| format!("cannot create the bench database {name}"))?;
    let _ = admin.close().await;
    Ok(())
}

async fn drop_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(server_url).await.context("cannot connect to Postgres")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop database if exists {name} with (force)")))
        .execute(&mut admin)
        .await?;
    let _ = admin.close().await;
    Ok(())
}

/// The same server URL naming another database.
fn database_url(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// xorshift64: which user a command targets; nothing here needs more.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Rng(u64::from_le_bytes(seed) | 1)
    }

    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound.max(1) as u64) as usize
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    if getrandom::fill(&mut buffer).is_err() {
        // Not secret, only unique: the clock will do.
        return format!("{:x}", Utc::now().timestamp_nanos_opt().unwrap_or_default());
    }
    hex::encode(buffer)
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------------------------
// The report

struct Report<'a> {
    args: &'a BenchArgs,
    server: &'a Server,
    machine: &'a Machine,
    fsync_directory: PathBuf,
    pg_test_fsync: Option<Result<PgTestFsync, String>>,
    fsync_start: FsyncSample,
    levels: Vec<Level>,
}

impl Report<'_> {
    /// The fsync latency the bounds use: `pg_test_fsync`'s when it ran, else our own median.
    fn fsync_latency(&self) -> (Duration, &'static str) {
        match &self.pg_test_fsync {
            Some(Ok(test)) if test.fdatasync_ops_per_second > 0.0 => {
                (Duration::from_secs_f64(1.0 / test.fdatasync_ops_per_second), "pg_test_fsync fdatasync")
            }
            _ => (self.fsync_start.p50, "measured fdatasync p50"),
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        self.render_setting(&mut out);
        self.render_fsync(&mut out);
        self.render_writes(&mut out);
        self.render_time(&mut out);
        self.render_rebuild(&mut out);
        self.render_integrity(&mut out);
        self.render_targets(&mut out);
        out
    }

    fn bound(&self, concurrency: usize) -> f64 {
        concurrency as f64 / self.fsync_latency().0.as_secs_f64().max(1e-9)
    }

    fn render_setting(&self, out: &mut String) {
        let (args, server, machine) = (self.args, self.server, self.machine);
        let _ = writeln!(out, "\n## portal bench\n");
        let _ = writeln!(
            out,
            "- machine: {} cores ({}), {} memory",
            machine.cores, machine.cpu_model, machine.memory
        );
        let _ = writeln!(
            out,
            "- Postgres {}: synchronous_commit = {}, wal_sync_method = {}, commit_delay = {}, \
             shared_buffers = {}, autovacuum = {}",
            server.version,
            server.synchronous_commit,
            server.wal_sync_method,
            server.commit_delay,
            server.shared_buffers,
            server.autovacuum
        );
        let _ = writeln!(
            out,
            "- workload, per concurrency C, each on a fresh database: setup of 1 RegisterCompany + {} \
             CreateUser (counted apart), then {} × {COMMAND} (one event each) on random users among {}, \
             from C tasks through `CommandApi::execute`, no projector running; then a rebuild of the users \
             read model from the whole log",
            args.streams, args.events, args.streams
        );
        let _ = writeln!(
            out,
            "- personal data (names, email, phones; a person's client address): {}",
            if args.personal_data_in_the_clear {
                "stored in the clear (--personal-data-in-the-clear: the comparison run)"
            } else {
                "sealed with each person's key (AES-256-GCM), as the server stores it"
            }
        );
    }

    fn render_fsync(&self, out: &mut String) {
        let _ = writeln!(out, "\n### fsync (measured in {})\n", self.fsync_directory.display());
        match &self.pg_test_fsync {
            Some(Ok(test)) => {
                let _ = writeln!(
                    out,
                    "- `{} -s 1`: fdatasync (one 8 kB write) {:.1} ops/s = {:.2} ms per fsync",
                    test.binary.display(),
                    test.fdatasync_ops_per_second,
                    1000.0 / test.fdatasync_ops_per_second
                );
            }
            Some(Err(problem)) => {
                let _ = writeln!(out, "- pg_test_fsync: {problem}");
            }
            None => {
                let _ = writeln!(out, "- pg_test_fsync: not installed");
            }
        }
        let _ = writeln!(
            out,
            "- timed by the bench ({FSYNC_SAMPLES} × 8 kB write + fdatasync): at start p50 {} ms, p99 {} ms",
            ms(self.fsync_start.p50),
            ms(self.fsync_start.p99)
        );
        for level in &self.levels {
            let _ = writeln!(
                out,
                "- again before the C = {} run: p50 {} ms, p99 {} ms",
                level.concurrency,
                ms(level.fsync.p50),
                ms(level.fsync.p99)
            );
        }
        let (fsync, source) = self.fsync_latency();
        let _ = writeln!(
            out,
            "\nThe physical bound: a command is answered only after the WAL fsync of its commit, so none \
             takes less than one fsync ({:.2} ms, {source}), and with C commands in flight at most C events \
             can be waiting for each fsync: events/s ≤ C / fsync latency. A target above that bound cannot \
             be met on this disk, whatever the code.",
            fsync.as_secs_f64() * 1000.0
        );
    }

    fn render_writes(&self, out: &mut String) {
        let _ = writeln!(out, "\n### writes through the command handler\n");
        let _ = writeln!(
            out,
            "| C | events | refused | wall s | events/s | p50 ms | p99 ms | max ms | fsync bound events/s | \
             raw ceiling events/s | ours / ceiling |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for level in &self.levels {
            let writes = &level.writes;
            let ours = rate(writes.events, writes.elapsed);
            let ceiling = level.raw.first().map(|raw| rate(raw.rows as u64, raw.elapsed));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {:.0} | {} | {} | {} | {:.0} | {} | {} |",
                level.concurrency,
                writes.events,
                writes.failures,
                writes.elapsed.as_secs_f64(),
                ours,
                ms(percentile(&writes.latencies, 0.50)),
                ms(percentile(&writes.latencies, 0.99)),
                ms(writes.latencies.last().copied().unwrap_or_default()),
                self.bound(level.concurrency),
                ceiling.map_or("—".to_owned(), |r| format!("{r:.0}")),
                ceiling.map_or("—".to_owned(), |r| format!("{:.0} %", 100.0 * ours / r.max(1e-9))),
            );
        }
        if let Some(failure) = self.levels.iter().find_map(|level| level.writes.first_failure.as_deref()) {
            let _ = writeln!(
                out,
                "\nRefused commands lost a version race five times in a row (two writers on one user at \
                 once; the command handler retries four times), e.g.: {failure}"
            );
        }
        if self.levels.iter().all(|level| level.raw.is_empty()) {
            return;
        }
        let _ = writeln!(
            out,
            "\nThe raw ceiling runs the same event rows straight into `events` with sqlx, no portal code, \
             on the same database right after the rebuild:\n\n\
             - insert: one `insert … select from unnest(…)` per transaction, the C rows in flight split over \
             the event log's {EVENT_LOG_WRITERS} writer connections (what group commit achieves at best; \
             the ceiling above);\n\
             - writer-shaped: the same batches in the writer's full transaction, as batches with claims or \
             idempotency keys take it (begin, the streams' newest versions, the insert, commit);\n\
             - 1 row/tx: C connections, one row per transaction (no group commit).\n"
        );
        let _ = writeln!(
            out,
            "| C | raw run | connections × rows per tx | events/s | ms per tx p50 / p99 | ours / it |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|");
        for level in &self.levels {
            let ours = rate(level.writes.events, level.writes.elapsed);
            for raw in &level.raw {
                let name = match (raw.plan.shape, raw.plan.rows_per_transaction) {
                    (RawShape::Insert, 1) if level.concurrency > 1 => "1 row/tx",
                    (shape, _) => shape.name(),
                };
                let theirs = rate(raw.rows as u64, raw.elapsed);
                let _ = writeln!(
                    out,
                    "| {} | {name} | {} × {} | {theirs:.0} | {} / {} | {:.0} % |",
                    level.concurrency,
                    raw.plan.tasks,
                    raw.plan.rows_per_transaction,
                    ms(percentile(&raw.latencies, 0.50)),
                    ms(percentile(&raw.latencies, 0.99)),
                    100.0 * ours / theirs.max(1e-9)
                );
            }
        }
    }

    fn render_time(&self, out: &mut String) {
        let _ = writeln!(out, "\n### where the time goes (write phase)\n");
        let _ = writeln!(
            out,
            "| C | writer transactions | requests per tx | ms per tx | requests deferred | version conflicts | \
             portal CPU cores | machine busy cores | iowait cores | setup |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for level in &self.levels {
            let writer = &level.writer;
            let transactions = writer.transactions.max(1) as f64;
            let cpu = |value: fn(&CpuUsage) -> f64| {
                level.cpu.as_ref().map_or("?".to_owned(), |usage| format!("{:.2}", value(usage)))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.2} | {} | {} | {} | {} | {} | {} events from {} commands in {:.2} s |",
                level.concurrency,
                writer.transactions,
                writer.accepted_requests as f64 / transactions,
                writer.busy.as_secs_f64() * 1000.0 / transactions,
                writer.deferred_requests,
                writer.conflicted_requests,
                cpu(|usage| usage.process_cores),
                cpu(|usage| usage.machine_busy_cores),
                cpu(|usage| usage.machine_iowait_cores),
                level.setup.events,
                level.setup_commands,
                level.setup.elapsed.as_secs_f64(),
            );
        }
        let _ = writeln!(
            out,
            "\nA writer transaction serves the requests queued when it starts; each writer runs one at a \
             time, so events/s ≈ {EVENT_LOG_WRITERS} × requests per tx / ms per tx. A request is deferred \
             to the next batch when its stream is already in this one. A version conflict sends its \
             command back to be decided again after a read of the stream; commands of one process on \
             one stream take turns, so here there should be next to none."
        );
    }

    fn render_rebuild(&self, out: &mut String) {
        let _ = writeln!(out, "\n### rebuild of the users read model (whole log, one transaction)\n");
        let _ = writeln!(out, "| after C | user events replayed | s | events/s |");
        let _ = writeln!(out, "|---:|---:|---:|---:|");
        for level in &self.levels {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.0} |",
                level.concurrency,
                level.rebuild_events,
                level.rebuild_elapsed.as_secs_f64(),
                rate(level.rebuild_events, level.rebuild_elapsed)
            );
        }
    }

    fn render_integrity(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n### seals and verification (issue 5: the whole log sealed, then `portal audit verify`'s recomputation)\n"
        );
        let _ = writeln!(out, "| after C | events | seal s | verify s | verified events/s |");
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
        for level in &self.levels {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.0} |",
                level.concurrency,
                level.verified_events,
                level.seal_elapsed.as_secs_f64(),
                level.verify_elapsed.as_secs_f64(),
                rate(level.verified_events, level.verify_elapsed)
            );
        }
    }

    fn render_targets(&self, out: &mut String) {
        let args = self.args;
        let (fsync, _) = self.fsync_latency();
        let _ = writeln!(out, "\n### targets\n");
        if args.events != TARGET_EVENTS || args.streams != TARGET_STREAMS {
            let _ = writeln!(
                out,
                "(stated for --events {TARGET_EVENTS} --streams {TARGET_STREAMS}; this run used {} and {})\n",
                args.events, args.streams
            );
        }
        for level in &self.levels {
            let writes = &level.writes;
            let ours = rate(writes.events, writes.elapsed);
            let bound = self.bound(level.concurrency);
            if let Some((_, target)) = TARGET_RATES.iter().find(|(c, _)| *c == level.concurrency) {
                let verdict = if ours >= *target {
                    "met".to_owned()
                } else if *target > bound {
                    format!(
                        "NOT MET, physically impossible on this disk: {} / {:.2} ms = {bound:.0} events/s at most",
                        level.concurrency,
                        fsync.as_secs_f64() * 1000.0
                    )
                } else {
                    format!(
                        "NOT MET ({:.0} % of it; the fsync bound, {bound:.0} events/s, allows it)",
                        100.0 * ours / target
                    )
                };
                let _ = writeln!(
                    out,
                    "- C = {}: ≥ {target:.0} events/s: {ours:.0} → {verdict}",
                    level.concurrency
                );
            }
            let p99 = percentile(&writes.latencies, 0.99);
            let verdict = if p99 <= TARGET_P99 {
                "met"
            } else if fsync > TARGET_P99 {
                "NOT MET, physically impossible on this disk: one fsync takes longer"
            } else {
                "NOT MET"
            };
            let _ = writeln!(
                out,
                "- C = {}: p99 ≤ {} ms: {} ms → {verdict}",
                level.concurrency,
                TARGET_P99.as_millis(),
                ms(p99)
            );
        }
        for level in &self.levels {
            let rebuild = rate(level.rebuild_events, level.rebuild_elapsed);
            let verdict = if rebuild >= TARGET_REBUILD { "met" } else { "NOT MET" };
            let _ = writeln!(
                out,
                "- rebuild (after the C = {} run): ≥ {TARGET_REBUILD:.0} events/s: {rebuild:.0} → {verdict}",
                level.concurrency
            );
            let verify = rate(level.verified_events, level.verify_elapsed);
            let verdict = if verify >= TARGET_VERIFY { "met" } else { "NOT MET" };
            let _ = writeln!(
                out,
                "- verify (after the C = {} run, issue 5): ≥ {TARGET_VERIFY:.0} events/s: {verify:.0} → {verdict}",
                level.concurrency
            );
        }
    }
}

/// Issue 5's target for `portal audit verify`.
const TARGET_VERIFY: f64 = 200_000.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fdatasync_line_of_pg_test_fsync() {
        let output = "Compare file sync methods using one 8kB write:\n\
            (in wal_sync_method preference order, except fdatasync is Linux's default)\n\
            \x20       open_datasync                       324.842 ops/sec    3078 usecs/op\n\
            \x20       fdatasync                           317.842 ops/sec    3146 usecs/op\n\
            \x20       fsync                               356.940 ops/sec    2802 usecs/op\n\
            Compare file sync methods using two 8kB writes:\n\
            \x20       fdatasync                           277.805 ops/sec    3600 usecs/op\n";
        assert_eq!(parse_fdatasync(output), Some(317.842));
    }

    #[test]
    fn names_another_database_on_the_same_server() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "portal_bench_1"),
            "postgres://postgres@127.0.0.1:5432/portal_bench_1"
        );
        assert_eq!(
            database_url("postgres://u:p@host/db?sslmode=disable", "b"),
            "postgres://u:p@host/b?sslmode=disable"
        );
        assert_eq!(database_url("postgres://host", "b"), "postgres://host/b");
    }

    #[test]
    fn takes_nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }
}
