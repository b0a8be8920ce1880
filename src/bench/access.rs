//! `portal bench --only access` (issue 5): how long `accessAsOf` takes for one company of
//! `--access-users` users (10,000) whose log holds `--access-events` events (1,000,000).
//!
//! On a database of its own (dropped at the end, also after an error or Ctrl-C): the company
//! and its users are created through the command handler; each user's history is then filled
//! up with profile changes appended straight to the log (about a hundred per user, in one append
//! each); one user in ten then gets a role with BILLING and one in twenty a direct BILLING grant.
//! The query runs through the GraphQL schema in process, as the operator, `--access-queries`
//! times; the answer is checked (every holder listed, with the events behind the level).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chrono::Utc;
use command_api::RequestInfo;
use domain::Actor;
use eventlog::{AppendRequest, ExpectedVersion, Metadata, NewEvent, StreamWrite};
use serde_json::json;
use uuid::Uuid;

use super::{BenchArgs, bench_api, bench_company, bench_users, drive, ms, on_scratch_database, percentile};

/// Concurrent commands and appends while the data is made.
const SETUP_LOOPS: usize = 8;

pub(super) struct AccessReport {
    users: usize,
    events: i64,
    holders: usize,
    setup: Duration,
    latencies: Vec<Duration>,
}

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<AccessReport> {
    on_scratch_database(args, "the accessAsOf run", |url| async move { measure(args, &url).await }).await
}

async fn measure(args: &BenchArgs, url: &str) -> anyhow::Result<AccessReport> {
    let started = Instant::now();
    let (database, log, api) = bench_api(url, false).await?;
    let company = bench_company(&api, "Access Bench", "+1 415 555 0142").await?;
    let role = api
        .execute(
            "CreateRole",
            json!({ "companyId": company, "name": "Billing", "permissions": [{ "module": "BILLING", "level": "VIEW" }] }),
            RequestInfo::operator(),
        )
        .await
        .map_err(|error| anyhow!("CreateRole was refused: {error}"))?
        .reply
        .id;
    let users = args.access_users;
    let created = bench_users(&api, company, users, SETUP_LOOPS, "access").await?;
    eprintln!("  {users} users created in {:.1} s", created.elapsed.as_secs_f64());

    // Each user's history: profile changes, appended straight to the log after the creation.
    let per_user = (args.access_events.saturating_sub(users * 6) / users).max(1);
    let ids = Arc::new(created.ids.clone());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..SETUP_LOOPS)
        .map(|_| {
            let (log, ids, next) = (Arc::clone(&log), Arc::clone(&ids), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(user) = ids.get(index) else { return Ok::<_, anyhow::Error>(()) };
                    let events = (0..per_user)
                        .map(|n| NewEvent {
                            event_id: Uuid::now_v7(),
                            event_type: "UserProfileUpdated".to_owned(),
                            schema_version: 1,
                            data: json!({ "firstName": format!("Name {n}") }),
                        })
                        .collect();
                    log.append(AppendRequest {
                        writes: vec![StreamWrite {
                            stream_id: domain::stream_id(domain::user::CATEGORY, *user),
                            expected: ExpectedVersion::Any,
                            events,
                        }],
                        claims: Vec::new(),
                        metadata: Metadata {
                            company_id: Some(company),
                            actor: Actor::operator(),
                            correlation_id: Uuid::now_v7(),
                            causation_id: None,
                            request_id: None,
                            recorded_at: Utc::now(),
                            reason: None,
                            client_ip: None,
                            user_agent: None,
                        },
                        idempotency: None,
                        notifications: Vec::new(),
                        erase: Vec::new(),
                        new_keys: Vec::new(),
                    })
                    .await
                    .map_err(|error| anyhow!("a history append failed: {error}"))?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.context("a history task failed")??;
    }
    // The holders: a role for one user in ten, a direct grant for one in twenty (those also
    // hold the role: their level is the higher one, EDIT).
    let holders: Vec<Uuid> = created.ids.iter().step_by(10).copied().collect();
    let granted: Vec<Uuid> = created.ids.iter().step_by(20).copied().collect();
    let (assign, grant) = (holders.clone(), granted.clone());
    let assigned = drive(&api, SETUP_LOOPS, assign.len(), move |index, _| {
        ("AssignRole", json!({ "userId": assign[index], "roleId": role }))
    })
    .await;
    let grants = drive(&api, SETUP_LOOPS, grant.len(), move |index, _| {
        ("GrantPermission", json!({ "userId": grant[index], "module": "BILLING", "level": "EDIT" }))
    })
    .await;
    if assigned.failures + grants.failures > 0 {
        bail!("assignments refused: {:?} {:?}", assigned.first_failure, grants.first_failure);
    }
    let events = eventlog::events_after(&database, 0).await?;
    let setup = started.elapsed();
    eprintln!("  setup: {events} events in {:.1} s", setup.as_secs_f64());

    let schema = query_api::schema(database.clone(), Arc::clone(&log));
    let query = format!(
        "{{ accessAsOf(companyId: \"{company}\", module: BILLING, at: \"{}\") {{ userId level because {{ type }} }} }}",
        Utc::now().to_rfc3339()
    );
    let mut latencies = Vec::with_capacity(args.access_queries);
    for _ in 0..args.access_queries {
        let request = query_api::request_for(
            async_graphql::Request::new(query.clone()),
            query_api::Viewer::Operator,
            projections::read::Reader::Whole(database.clone()),
        );
        let sent = Instant::now();
        let response = schema.execute(request).await;
        latencies.push(sent.elapsed());
        if !response.errors.is_empty() {
            bail!("accessAsOf failed: {:?}", response.errors);
        }
        let data = response.data.into_json().context("the answer is not JSON")?;
        let answered = data["accessAsOf"].as_array().map_or(0, Vec::len);
        if answered != holders.len() {
            bail!("accessAsOf listed {answered} holders, {} hold BILLING", holders.len());
        }
    }
    latencies.sort();
    database.close().await;
    Ok(AccessReport { users, events, holders: holders.len(), setup, latencies })
}

impl AccessReport {
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n### accessAsOf (issue 5)\n");
        let _ = writeln!(
            out,
            "One company of {} users, {} events in the log ({} holders of BILLING); setup {:.0} s.\n",
            self.users,
            self.events,
            self.holders,
            self.setup.as_secs_f64()
        );
        let _ = writeln!(out, "| queries | p50 ms | p99 ms | max ms |");
        let _ = writeln!(out, "|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            self.latencies.len(),
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.99)),
            ms(self.latencies.last().copied().unwrap_or_default())
        );
        out
    }
}
