//! An analytics consumer of the portal's event stream: it reads the JetStream stream the portal
//! publishes to (`portal serve --nats-url …`) through a pull consumer and prints one line per
//! event. With `--durable NAME` the server remembers what was acknowledged, so the next run goes
//! on where this one stopped; without it, each run reads from where `--from-sequence` or
//! `--since` says (everything by default).
//!
//! ```sh
//! cargo run --example consume_events -- --nats-url nats://127.0.0.1:4222 --durable analytics
//! cargo run --example consume_events -- --since 2026-11-01T00:00:00Z --filter 'portal.events.*.user.>'
//! ```
//!
//! Each line: `<stream sequence> <position> <type> <streamId> v<version> <occurredAt> <eventId>`.
//! A message's id (`Nats-Msg-Id`) is the event id: an event seen twice (a re-publish after a
//! crash, outside JetStream's duplicate window) is printed once.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use clap::Parser;
use futures::StreamExt;

#[derive(Parser)]
struct Args {
    #[arg(long, env = "PORTAL_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// The portal's stream (`--nats-stream` of the server).
    #[arg(long, default_value = "PORTAL_EVENTS")]
    stream: String,
    /// A durable consumer: the server keeps its position across runs.
    #[arg(long)]
    durable: Option<String>,
    /// Only events on these subjects, e.g. `portal.events.<companyId>.>` or `portal.events.*.user.>`.
    #[arg(long)]
    filter: Option<String>,
    /// Start at this stream sequence (when the consumer is new).
    #[arg(long, conflicts_with = "since")]
    from_sequence: Option<u64>,
    /// Start at events stored at or after this instant, RFC 3339 (when the consumer is new).
    #[arg(long)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Stop after this many events.
    #[arg(long)]
    max: Option<usize>,
    /// Stop when nothing new came for this many seconds; 0 follows the stream for ever.
    #[arg(long, default_value_t = 2)]
    idle_seconds: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let client = async_nats::connect(args.nats_url.as_str()).await?;
    let stream = jetstream::new(client).get_stream(&args.stream).await?;
    let deliver_policy = match (args.from_sequence, args.since) {
        (Some(start_sequence), _) => consumer::DeliverPolicy::ByStartSequence { start_sequence },
        (None, Some(start_time)) => consumer::DeliverPolicy::ByStartTime { start_time },
        (None, None) => consumer::DeliverPolicy::All,
    };
    let config = consumer::pull::Config {
        durable_name: args.durable.clone(),
        deliver_policy,
        ack_policy: consumer::AckPolicy::Explicit,
        filter_subject: args.filter.clone().unwrap_or_default(),
        ..Default::default()
    };
    let consumer: consumer::PullConsumer = match &args.durable {
        Some(name) => stream.get_or_create_consumer(name, config).await?,
        None => stream.create_consumer(config).await?,
    };
    let wait = Duration::from_secs(args.idle_seconds.max(1));
    let mut seen = HashSet::new();
    let mut printed = 0;
    loop {
        let mut batch = consumer.fetch().max_messages(500).expires(wait).messages().await?;
        let mut received = 0;
        while let Some(message) = batch.next().await {
            let message = message?;
            received += 1;
            let event: serde_json::Value = serde_json::from_slice(&message.payload)?;
            let id = event["eventId"].as_str().unwrap_or_default().to_owned();
            if seen.insert(id.clone()) {
                let sequence = message.info().map(|info| info.stream_sequence).unwrap_or_default();
                println!(
                    "{sequence} {} {} {} v{} {} {id}",
                    event["position"],
                    event["type"].as_str().unwrap_or_default(),
                    event["streamId"].as_str().unwrap_or_default(),
                    event["version"],
                    event["occurredAt"].as_str().unwrap_or_default(),
                );
                printed += 1;
            }
            message.ack().await?;
            if args.max.is_some_and(|max| printed >= max) {
                return Ok(());
            }
        }
        if received == 0 && args.idle_seconds > 0 {
            return Ok(());
        }
    }
}
