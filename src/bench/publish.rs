//! `portal bench --only publish` (issue 6): does the NATS publisher keep up with the writes, and
//! how long does an event take to reach an analytics consumer?
//!
//! On a database of its own and a JetStream stream of its own on `--nats-url` (both dropped at
//! the end): one company and `--streams` users, then `--events` × `UpdateUserProfile` from
//! `--publish-concurrency` tasks through the command handler, while the publisher runs in the
//! same process as in `portal serve`. An ordered consumer reads the stream meanwhile and stamps
//! each message as it arrives: its lag is that instant minus the event's `occurredAt` (the time
//! the command handler gave it), so it covers the commit, the publisher's read and round, the
//! JetStream acknowledgement and the delivery to the consumer.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::{
    BenchArgs, bench_api, bench_company, bench_users, drive, ms, on_scratch_database, percentile,
    profile_updates, random_hex, rate,
};

pub(super) struct PublishReport {
    concurrency: usize,
    events: usize,
    writes_elapsed: Duration,
    /// From the first message's arrival to the last's.
    delivery_elapsed: Duration,
    /// Sorted.
    lags: Vec<Duration>,
    catch_up: Option<CatchUp>,
}

/// A backlog written while no publisher ran, and how long a new one took to publish it.
pub(super) struct CatchUp {
    events: u64,
    elapsed: Duration,
}

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<PublishReport> {
    on_scratch_database(args, "the publish run", |url| async move { measure(args, &url).await }).await
}

async fn measure(args: &BenchArgs, url: &str) -> anyhow::Result<PublishReport> {
    let (database, log, api) = bench_api(url, false).await?;
    let company = bench_company(&api, "Publish Bench", "+1 415 555 0143").await?;
    let users = std::sync::Arc::new(bench_users(&api, company, args.streams, 8, "publish").await?.ids);

    let tag = random_hex(4);
    let mut settings = projections::PublisherSettings::new(args.nats_url.clone());
    settings.stream = format!("PORTAL_BENCH_{tag}");
    settings.subject_prefix = format!("bench{tag}.events");
    let stream_name = settings.stream.clone();
    let publisher =
        projections::spawn_publisher(database.clone(), std::sync::Arc::clone(&log), settings.clone());
    let client = async_nats::connect(args.nats_url.as_str())
        .await
        .with_context(|| format!("cannot reach NATS at {}", args.nats_url))?;
    let jetstream = jetstream::new(client);
    let outcome = measure_with_stream(args, &api, &users, &publisher, &jetstream, &stream_name).await;
    publisher.stop().await;
    let outcome = match outcome {
        Ok(report) => catch_up(args, &api, &users, &database, &log, settings)
            .await
            .map(|catch_up| PublishReport { catch_up: Some(catch_up), ..report }),
        Err(error) => Err(error),
    };
    let _ = jetstream.delete_stream(&stream_name).await;
    database.close().await;
    outcome
}

/// The publisher's own pace: events written while it is stopped, then the time a new publisher
/// takes (connecting included) until JetStream has acknowledged every one of them.
async fn catch_up(
    args: &BenchArgs,
    api: &std::sync::Arc<command_api::CommandApi>,
    users: &std::sync::Arc<Vec<uuid::Uuid>>,
    database: &eventlog::Database,
    log: &std::sync::Arc<dyn eventlog::EventLog>,
    settings: projections::PublisherSettings,
) -> anyhow::Result<CatchUp> {
    let updates = profile_updates(std::sync::Arc::clone(users), "Backlog");
    let backlog = drive(api, args.publish_concurrency, args.events, updates).await;
    let head = *log.subscribe().borrow();
    let started = Instant::now();
    let publisher = projections::spawn_publisher(database.clone(), std::sync::Arc::clone(log), settings);
    let mut status = publisher.status.clone();
    let caught_up =
        tokio::time::timeout(Duration::from_secs(120), status.wait_for(|s| s.published_position >= head))
            .await;
    let elapsed = started.elapsed();
    publisher.stop().await;
    if !matches!(caught_up, Ok(Ok(_))) {
        bail!("the publisher did not publish a backlog of {} events within two minutes", backlog.events);
    }
    eprintln!("  catch-up: {} events published in {:.2} s", backlog.events, elapsed.as_secs_f64());
    Ok(CatchUp { events: backlog.events, elapsed })
}

async fn measure_with_stream(
    args: &BenchArgs,
    api: &std::sync::Arc<command_api::CommandApi>,
    users: &std::sync::Arc<Vec<uuid::Uuid>>,
    publisher: &projections::Publisher,
    jetstream: &jetstream::Context,
    stream_name: &str,
) -> anyhow::Result<PublishReport> {
    // The setup's events published first: the measured ones start on a quiet publisher.
    let mut status = publisher.status.clone();
    let caught_up = tokio::time::timeout(
        Duration::from_secs(60),
        status.wait_for(|s| s.connected && s.lag_events == 0 && s.published_total > 0),
    )
    .await
    .map(|waited| waited.is_ok());
    if caught_up != Ok(true) {
        bail!("the publisher did not publish the setup within a minute: {:?}", publisher.status.borrow());
    }
    let mut stream = jetstream.get_stream(stream_name).await.context("the publisher's stream")?;
    let start_sequence = stream.info().await.context("stream info")?.state.last_sequence + 1;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence },
            ..Default::default()
        })
        .await
        .context("an ordered consumer")?;
    let mut messages = consumer.messages().await.context("the consumer's messages")?;
    // How many to wait for: known once the writes are done (a command refused after its
    // retries writes nothing).
    let expected = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
    let target = std::sync::Arc::clone(&expected);
    let collector = tokio::spawn(async move {
        let mut lags = Vec::new();
        let mut first = None;
        while lags.len() < target.load(std::sync::atomic::Ordering::Acquire) {
            let Ok(next) = tokio::time::timeout(Duration::from_millis(500), messages.next()).await else {
                continue;
            };
            let Some(Ok(message)) = next else { break };
            let arrived = Utc::now();
            first.get_or_insert_with(Instant::now);
            let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or_default();
            let occurred = body["occurredAt"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
            let lag = occurred.and_then(|at| (arrived - at).to_std().ok()).unwrap_or_default();
            lags.push(lag);
        }
        (lags, first.map(|first| first.elapsed()).unwrap_or_default())
    });

    let updates = profile_updates(std::sync::Arc::clone(users), "Publish");
    let writes = drive(api, args.publish_concurrency, args.events, updates).await;
    let written = writes.events as usize;
    expected.store(written, std::sync::atomic::Ordering::Release);
    eprintln!(
        "  writes: {written} events in {:.2} s ({} refused after their retries)",
        writes.elapsed.as_secs_f64(),
        writes.failures
    );
    let (mut lags, delivery_elapsed) = tokio::time::timeout(Duration::from_secs(120), collector)
        .await
        .map_err(|_| anyhow!("the consumer did not receive every event within two minutes"))??;
    if lags.len() < written {
        bail!("the consumer received {} of {written} events", lags.len());
    }
    lags.sort();
    Ok(PublishReport {
        concurrency: args.publish_concurrency,
        events: written,
        writes_elapsed: writes.elapsed,
        delivery_elapsed,
        lags,
        catch_up: None,
    })
}

impl PublishReport {
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n### NATS JetStream publishing (issue 6)\n");
        let _ = writeln!(
            out,
            "{} × UpdateUserProfile from {} tasks while the publisher runs; lag = arrival at an ordered \
             consumer − the event's occurredAt.\n",
            self.events, self.concurrency
        );
        let _ =
            writeln!(out, "| written events/s | delivered events/s | lag p50 ms | lag p99 ms | lag max ms |");
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| {:.0} | {:.0} | {} | {} | {} |",
            rate(self.events as u64, self.writes_elapsed),
            rate(self.events as u64, self.delivery_elapsed),
            ms(percentile(&self.lags, 0.50)),
            ms(percentile(&self.lags, 0.99)),
            ms(self.lags.last().copied().unwrap_or_default())
        );
        if let Some(catch_up) = &self.catch_up {
            let _ = writeln!(
                out,
                "\nCatch-up (the publisher's own pace, nothing else running): {} events written while no \
                 publisher ran were all acknowledged by JetStream {:.2} s after a new one started: **{:.0} \
                 events/s**.",
                catch_up.events,
                catch_up.elapsed.as_secs_f64(),
                rate(catch_up.events, catch_up.elapsed)
            );
        }
        out
    }
}
