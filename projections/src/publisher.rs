//! The NATS JetStream publisher: one more projector, whose "read model" is a JetStream stream.
//! The event log is its outbox: it reads the log in commit order from its checkpoint, publishes
//! each event with `Nats-Msg-Id` = the event id, and moves its checkpoint only after JetStream
//! acknowledged every event up to it. A crash or an unreachable server costs a re-publish of
//! what was not acknowledged, which JetStream drops as a duplicate within its window (and a
//! consumer that keys on the message id drops after it): every event arrives exactly once.
//!
//! While NATS is away the portal keeps taking commands; the publisher retries with a pause
//! that doubles up to [`MAX_BACKOFF`] and reports its lag ([`PublisherStatus`]).
//!
//! Events go out as stored: personal fields stay sealed (`pii:v1:…`), so what JetStream keeps
//! of a person becomes unreadable when their key is destroyed, like the log itself.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use chrono::{DateTime, Utc};
use eventlog::{Checkpoint, Database, EventLog, RecordedEvent};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::runtime::{load_named_checkpoint, save_named_checkpoint};

/// The checkpoint's name, beside the read models'.
pub const CHECKPOINT: &str = "nats-publisher";
/// Events read and published per round; the checkpoint moves once per acknowledged round.
const BATCH: i64 = 1000;
/// Rounds sent whose acknowledgements are still awaited, at most (within async-nats's own bound
/// of 5,000 acknowledgements in flight).
const ROUNDS_IN_FLIGHT: usize = 4;
const POLL: Duration = Duration::from_millis(250);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long JetStream may take to acknowledge a publish before the round is retried.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// The Postgres advisory lock that elects the one active publisher across processes.
const LOCK_KEY: i64 = 0x706f_7274_0100;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    /// `nats://host:port`.
    pub url: String,
    /// The JetStream stream, created or updated at start.
    pub stream: String,
    /// Subjects are `<prefix>.<companyId>.<category>.<EventType>`.
    pub subject_prefix: String,
    /// How long the stream keeps an event; zero keeps it for ever.
    pub max_age: Duration,
    /// Within this window a re-published event id is dropped by JetStream itself.
    pub duplicate_window: Duration,
}

impl PublisherSettings {
    pub fn new(url: impl Into<String>) -> Self {
        PublisherSettings {
            url: url.into(),
            stream: "PORTAL_EVENTS".to_owned(),
            subject_prefix: "portal.events".to_owned(),
            max_age: Duration::ZERO,
            duplicate_window: Duration::from_secs(120),
        }
    }

    /// The subject of one event: `portal.events.<companyId|none>.<category>.<EventType>`.
    pub fn subject(&self, event: &RecordedEvent) -> String {
        let company = event.metadata.company_id.map_or_else(|| "none".to_owned(), |id| id.to_string());
        let category =
            event.stream_id.split_once('-').map_or(event.stream_id.as_str(), |(category, _)| category);
        format!("{}.{company}.{category}.{}", self.subject_prefix, event.event_type)
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            max_age: self.max_age,
            duplicate_window: self.duplicate_window,
            storage: stream::StorageType::File,
            ..Default::default()
        }
    }
}

/// What the publisher reports: `/readyz` shows it, `/metrics` counts from it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublisherStatus {
    /// Publishing from this process (on Postgres one process leads; the others stand by).
    pub leading: bool,
    /// The last round reached JetStream.
    pub connected: bool,
    /// Every event up to this position is acknowledged.
    pub published_position: i64,
    /// Events the log holds beyond that (as far as this process knows the log's head).
    pub lag_events: i64,
    /// When the publisher was last caught up with the log.
    pub caught_up_at: Option<DateTime<Utc>>,
    /// Events acknowledged since start (duplicates included).
    pub published_total: u64,
    /// Re-published events JetStream recognised as already stored.
    pub duplicates_total: u64,
    pub failures_total: u64,
    pub last_error: Option<String>,
}

impl PublisherStatus {
    /// Counts the lag against the log's head at `head`, noting the time when there is none.
    fn behind(&mut self, head: i64) {
        self.lag_events = (head - self.published_position).max(0);
        if self.lag_events == 0 {
            self.caught_up_at = Some(Utc::now());
        }
    }
}

/// The running publisher of this process.
pub struct Publisher {
    pub status: watch::Receiver<PublisherStatus>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[derive(Debug, thiserror::Error)]
enum PublishError {
    #[error("cannot reach NATS at {url}: {source}")]
    Connect { url: String, source: async_nats::ConnectError },
    #[error("cannot create or update the JetStream stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
    #[error("JetStream did not acknowledge event {position}: {source}")]
    Publish { position: i64, source: async_nats::jetstream::context::PublishError },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] eventlog::StoreError),
    #[error("lost the publisher's leadership lock: {0}")]
    LockLost(sqlx::Error),
}

/// Starts the publisher; it runs (retrying, backing off) until stopped.
pub fn spawn_publisher(
    database: Database,
    log: std::sync::Arc<dyn EventLog>,
    settings: PublisherSettings,
) -> Publisher {
    let (sender, status) = watch::channel(PublisherStatus::default());
    let task = tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        if let Ok(checkpoint) = load_named_checkpoint(&database, CHECKPOINT).await {
            sender.send_modify(|status| status.published_position = checkpoint.position);
        }
        loop {
            let outcome = match &database {
                Database::Sqlite { .. } => publish(&database, log.as_ref(), &settings, &sender).await,
                Database::Postgres(pool) => {
                    elect_and_publish(pool, &database, log.as_ref(), &settings, &sender).await
                }
            };
            let Err(error) = outcome else { continue };
            // A failure after a good spell starts the pauses over; failures in a row double them.
            if sender.borrow().connected {
                backoff = FIRST_BACKOFF;
            }
            tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "NATS publisher");
            sender.send_modify(|status| {
                status.connected = false;
                status.failures_total += 1;
                status.last_error = Some(error.to_string());
            });
            pause_counting_lag(&database, backoff, &sender).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    Publisher { status, task }
}

/// Waits `pause` before the next attempt, keeping the reported lag current meanwhile (commands
/// go on while NATS is away).
async fn pause_counting_lag(database: &Database, pause: Duration, status: &watch::Sender<PublisherStatus>) {
    let until = tokio::time::Instant::now() + pause;
    loop {
        let published = status.borrow().published_position;
        if let Ok(lag) = eventlog::events_after(database, published).await {
            status.send_modify(|status| status.lag_events = lag);
        }
        let now = tokio::time::Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep((until - now).min(POLL)).await;
    }
}

/// On Postgres one publisher leads across processes: the holder of a session advisory lock.
async fn elect_and_publish(
    pool: &sqlx::PgPool,
    database: &Database,
    log: &dyn EventLog,
    settings: &PublisherSettings,
    status: &watch::Sender<PublisherStatus>,
) -> Result<(), PublishError> {
    crate::runtime::lead_when_elected(
        pool,
        LOCK_KEY,
        CHECKPOINT,
        move || async move {
            status.send_modify(|status| status.leading = false);
            Ok(())
        },
        publish(database, log, settings, status),
        PublishError::LockLost,
    )
    .await
}

/// Connects, makes sure the stream is there, then publishes from the checkpoint on; returns
/// only with an error (the caller backs off and comes back).
async fn publish(
    database: &Database,
    log: &dyn EventLog,
    settings: &PublisherSettings,
    status: &watch::Sender<PublisherStatus>,
) -> Result<(), PublishError> {
    let client = async_nats::ConnectOptions::new()
        .name("portal event publisher")
        .connection_timeout(Duration::from_secs(5))
        .connect(settings.url.as_str())
        .await
        .map_err(|source| PublishError::Connect { url: settings.url.clone(), source })?;
    let jetstream = jetstream::ContextBuilder::new().timeout(ACK_TIMEOUT).build(client);
    ensure_stream(&jetstream, settings).await?;
    // The log as stored: personal fields stay sealed.
    let stored = log.stored();
    let checkpoint = load_named_checkpoint(database, CHECKPOINT).await?;
    status.send_modify(|status| {
        status.leading = true;
        status.connected = true;
        status.published_position = checkpoint.position;
    });
    tracing::info!(stream = %settings.stream, from = %checkpoint, "publishing events to NATS JetStream");
    // Reading and sending the next round does not wait for the acknowledgements of the ones
    // before it; the checkpoint follows the acknowledgements, in order. Whichever half fails
    // ends both: the caller starts over from the checkpoint.
    let (sender, rounds) = mpsc::channel(ROUNDS_IN_FLIGHT);
    tokio::try_join!(
        send_rounds(&jetstream, settings, stored, checkpoint, log.subscribe(), sender, status),
        acknowledge_rounds(database, log.subscribe(), rounds, status),
    )?;
    Ok(())
}

/// A round on its way: its events' acknowledgements, and the checkpoint they move to.
struct Round {
    last: Checkpoint,
    acks: Vec<(i64, jetstream::context::PublishAckFuture)>,
}

/// Reads the log from `checkpoint` on and sends each round of events as soon as it is read.
async fn send_rounds(
    jetstream: &jetstream::Context,
    settings: &PublisherSettings,
    stored: &dyn EventLog,
    mut checkpoint: Checkpoint,
    mut head: watch::Receiver<i64>,
    rounds: mpsc::Sender<Round>,
    status: &watch::Sender<PublisherStatus>,
) -> Result<(), PublishError> {
    loop {
        let events = stored.read_all(checkpoint, BATCH).await?;
        if let Some(last) = events.last() {
            let round =
                Round { last: last.checkpoint, acks: send_round(jetstream, settings, &events).await? };
            checkpoint = round.last;
            // The other half has stopped only with an error, which ends this one too.
            if rounds.send(round).await.is_err() {
                return Ok(());
            }
            continue;
        }
        let head_position = *head.borrow_and_update();
        if head_position > checkpoint.position {
            // Committed, but an older transaction still hides it: look again soon.
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        status.send_modify(|status| status.behind(head_position));
        let _ = tokio::time::timeout(POLL, head.changed()).await;
    }
}

/// Awaits each round's acknowledgements in order, then moves the checkpoint past it.
async fn acknowledge_rounds(
    database: &Database,
    head: watch::Receiver<i64>,
    mut rounds: mpsc::Receiver<Round>,
    status: &watch::Sender<PublisherStatus>,
) -> Result<(), PublishError> {
    while let Some(round) = rounds.recv().await {
        let published = round.acks.len() as u64;
        let mut duplicates = 0;
        for (position, ack) in round.acks {
            let ack = ack.await.map_err(|source| PublishError::Publish { position, source })?;
            duplicates += u64::from(ack.duplicate);
        }
        save_named_checkpoint(database, CHECKPOINT, round.last).await?;
        let head_position = *head.borrow();
        status.send_modify(|status| {
            status.connected = true;
            status.last_error = None;
            status.published_position = round.last.position;
            status.published_total += published;
            status.duplicates_total += duplicates;
            status.behind(head_position);
        });
    }
    Ok(())
}

/// Creates the stream, or brings an existing one's subjects and limits to the settings.
async fn ensure_stream(
    jetstream: &jetstream::Context,
    settings: &PublisherSettings,
) -> Result<(), PublishError> {
    let failed = |reason: String| PublishError::Stream { stream: settings.stream.clone(), reason };
    let wanted = settings.stream_config();
    let mut stream =
        jetstream.get_or_create_stream(wanted.clone()).await.map_err(|e| failed(e.to_string()))?;
    let info = stream.info().await.map_err(|e| failed(e.to_string()))?;
    let current = &info.config;
    if current.subjects != wanted.subjects
        || current.max_age != wanted.max_age
        || current.duplicate_window != wanted.duplicate_window
    {
        jetstream.update_stream(&wanted).await.map_err(|e| failed(e.to_string()))?;
        tracing::info!(stream = %settings.stream, "JetStream stream updated to the portal's settings");
    }
    Ok(())
}

/// Sends the events in order; their acknowledgements, to be awaited.
async fn send_round(
    jetstream: &jetstream::Context,
    settings: &PublisherSettings,
    events: &[RecordedEvent],
) -> Result<Vec<(i64, jetstream::context::PublishAckFuture)>, PublishError> {
    let mut pending = Vec::with_capacity(events.len());
    for event in events {
        let failed = |source| PublishError::Publish { position: event.position, source };
        let message = jetstream::message::PublishMessage::build()
            .payload(payload(event).into())
            .message_id(event.event_id.to_string())
            .header("Portal-Position", event.position.to_string().as_str())
            .header("Portal-Stream", event.stream_id.as_str())
            .header("Portal-Version", event.version.to_string().as_str())
            .header("Portal-Event-Type", event.event_type.as_str())
            .header("Portal-Correlation-Id", event.metadata.correlation_id.to_string().as_str());
        let ack = jetstream.send_publish(settings.subject(event), message).await.map_err(failed)?;
        pending.push((event.position, ack));
    }
    Ok(pending)
}

/// The message body: the event as the audit trail and the export show it, `data` in its type's
/// JSON Schema (`schemas/events/`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    event_id: uuid::Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    schema_version: i32,
    stream_id: &'a str,
    version: i64,
    position: i64,
    occurred_at: DateTime<Utc>,
    company_id: Option<uuid::Uuid>,
    actor: &'a domain::Actor,
    correlation_id: uuid::Uuid,
    causation_id: Option<uuid::Uuid>,
    request_id: Option<&'a str>,
    reason: Option<&'a str>,
    client_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    hash: Option<&'a str>,
    data: &'a serde_json::Value,
}

fn payload(event: &RecordedEvent) -> Vec<u8> {
    let metadata = &event.metadata;
    let message = Message {
        event_id: event.event_id,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        stream_id: &event.stream_id,
        version: event.version,
        position: event.position,
        occurred_at: metadata.recorded_at,
        company_id: metadata.company_id,
        actor: &metadata.actor,
        correlation_id: metadata.correlation_id,
        causation_id: metadata.causation_id,
        request_id: metadata.request_id.as_deref(),
        reason: metadata.reason.as_deref(),
        client_ip: metadata.client_ip.as_deref(),
        user_agent: metadata.user_agent.as_deref(),
        hash: event.hash.as_deref(),
        data: &event.data,
    };
    serde_json::to_vec(&message).unwrap_or_default()
}
