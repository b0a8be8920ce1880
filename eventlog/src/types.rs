use chrono::{DateTime, Utc};
use domain::Actor;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the caller expects a stream's version to be before its events are appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    Any,
    /// `Exact(0)` means the stream must not exist yet.
    Exact(i64),
}

impl ExpectedVersion {
    pub fn allows(self, actual: i64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::Exact(expected) => expected == actual,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn from_payload(event: &impl domain::EventPayload) -> Self {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_owned(),
            schema_version: domain::schemas::version_of(event.event_type()),
            data: event.to_data(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StreamWrite {
    pub stream_id: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

impl StreamWrite {
    /// The error for this write when its stream is at `actual`.
    pub(crate) fn conflict(&self, actual: i64) -> AppendError {
        let expected = match self.expected {
            ExpectedVersion::Exact(expected) => expected,
            ExpectedVersion::Any => actual,
        };
        AppendError::VersionConflict { stream_id: self.stream_id.clone(), expected, actual }
    }
}

/// Who did it, for whom, and as part of what: stored with every event of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub company_id: Option<Uuid>,
    pub actor: Actor,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub recorded_at: DateTime<Utc>,
    /// Why, in the caller's words (a command's optional `reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The client's address, as the server saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// The client's `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// A claim change owned by a stream; releases apply before acquisitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub owner_stream: String,
    pub change: domain::ClaimChange,
}

#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Who may replay it (the actor) and for which command: keys of different scopes never meet.
    pub scope: String,
    pub key: String,
    /// A digest of the request, so the same key with another body is refused.
    pub request_hash: String,
}

#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub writes: Vec<StreamWrite>,
    pub claims: Vec<ClaimRequest>,
    pub metadata: Metadata,
    pub idempotency: Option<Idempotency>,
    /// Messages to send once the append commits (the outbox): none is lost, and none is sent
    /// for a refused request.
    pub notifications: Vec<Notification>,
    /// People whose vault key is destroyed in this append's transaction (crypto-shredding), and
    /// whose notifications leave the outbox with it. The log's personal-data layer fills it from
    /// the events ([`domain::personal::erases`]); callers leave it empty.
    pub erase: Vec<Uuid>,
    /// Vault keys made for people whose first events this request writes (their stream is
    /// new), stored in the append's transaction: a key and the first values sealed with it are
    /// kept together or not at all. The log's personal-data layer fills it; callers leave it
    /// empty.
    pub new_keys: Vec<(Uuid, [u8; 32])>,
}

/// An append request made ready to store by [`crate::EventLog::prepare`] (its personal data
/// sealed), to be appended by the same log with [`crate::EventLog::append_prepared`].
pub struct PreparedAppend(pub(crate) AppendRequest);

/// How a notification reaches its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "EMAIL",
            Channel::Sms => "SMS",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "EMAIL" => Some(Channel::Email),
            "SMS" => Some(Channel::Sms),
            _ => None,
        }
    }
}

/// What a notification carries that must never enter the event log or the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Secret {
    /// A single-use token (an invitation, a password reset).
    Token(String),
    /// A one-time PIN (a second factor).
    Pin(String),
}

/// A message for a person, written to the outbox in the same transaction as the events of the
/// command that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub channel: Channel,
    /// An email address or an E.164 number.
    pub recipient: String,
    /// What kind of message (`invitation`, `password_reset`, `sms_pin`, …).
    pub template: String,
    pub body: String,
    pub secret: Option<Secret>,
    pub company_id: Option<Uuid>,
    /// The person it is about (a user): erasing them deletes it from the outbox.
    pub subject: Option<Uuid>,
}

/// A notification as the outbox keeps it, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotification {
    /// Once delivered, its token or PIN is gone (`secret` is `None`; see `carried_secret`).
    pub notification: Notification,
    /// The message carried a token or PIN (still there until it is delivered).
    pub carried_secret: bool,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// Narrows an outbox listing.
#[derive(Debug, Clone, Default)]
pub struct OutboxQuery {
    pub recipient: Option<String>,
    pub template: Option<String>,
    /// Only undelivered ones.
    pub pending: bool,
    pub limit: i64,
}

impl AppendRequest {
    pub fn event_count(&self) -> usize {
        self.writes.iter().map(|w| w.events.len()).sum()
    }

    pub(crate) fn acquisitions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.claims.iter().filter_map(|c| match &c.change {
            domain::ClaimChange::Acquire(key) => Some((key.as_str(), c.owner_stream.as_str())),
            domain::ClaimChange::Release(_) => None,
        })
    }

    /// A key the request acquires twice, if any: every adapter refuses such a request
    /// (`ClaimTaken`) before it takes anything.
    pub(crate) fn key_acquired_twice(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::new();
        self.acquisitions().map(|(key, _)| key).find(|key| !seen.insert(*key))
    }

    pub(crate) fn releases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.claims.iter().filter_map(|c| match &c.change {
            domain::ClaimChange::Release(key) => Some((key.as_str(), c.owner_stream.as_str())),
            domain::ClaimChange::Acquire(_) => None,
        })
    }

    /// The reply for this request once its events got their positions (in write order).
    pub(crate) fn accepted(&self, positions: &[i64], versions_before: &[i64]) -> Appended {
        let mut positions = positions.iter().copied();
        let streams = self
            .writes
            .iter()
            .zip(versions_before)
            .map(|(write, before)| AppendedStream {
                stream_id: write.stream_id.clone(),
                version: before + write.events.len() as i64,
                events: write
                    .events
                    .iter()
                    .map(|e| AppendedEvent {
                        event_id: e.event_id,
                        event_type: e.event_type.clone(),
                        position: positions.next().unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        Appended { streams }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendedEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub position: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendedStream {
    pub stream_id: String,
    pub version: i64,
    pub events: Vec<AppendedEvent>,
}

/// What an accepted append wrote, per stream, in the order of the request's writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appended {
    pub streams: Vec<AppendedStream>,
}

impl Appended {
    /// The highest position written, or `None` when nothing was.
    pub fn last_position(&self) -> Option<i64> {
        self.streams.iter().flat_map(|s| s.events.iter().map(|e| e.position)).max()
    }
}

/// A reply stored with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    pub request_hash: String,
    pub reply: Appended,
}

/// A place in the log's total order. On Postgres `tx` is the writing transaction's id, so an
/// event that commits late still sorts after everything a reader has already seen; on SQLite,
/// which has one writer, `tx` equals `position`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tx: i64,
    pub position: i64,
}

impl Checkpoint {
    pub const START: Checkpoint = Checkpoint { tx: 0, position: 0 };
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.tx, self.position)
    }
}

impl std::str::FromStr for Checkpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (tx, position) = text.split_once(':').ok_or("expected <tx>:<position>")?;
        let tx = tx.parse::<i64>().map_err(|e| e.to_string())?;
        let position = position.parse::<i64>().map_err(|e| e.to_string())?;
        if tx < 0 || position < 0 {
            return Err("negative checkpoint".to_owned());
        }
        Ok(Checkpoint { tx, position })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedEvent {
    pub checkpoint: Checkpoint,
    pub position: i64,
    pub stream_id: String,
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub data: serde_json::Value,
    pub metadata: Metadata,
    /// Its link in its stream's hash chain (`None` for events stored before the chain).
    pub hash: Option<String>,
}

impl RecordedEvent {
    /// Decodes the payload as one aggregate's event type.
    pub fn payload<E: domain::EventPayload>(&self) -> Result<E, serde_json::Error> {
        E::from_stored(
            &self.event_type,
            &domain::schemas::upcast(&self.event_type, self.schema_version, self.data.clone()),
        )
    }
}

/// An audit filter: every field narrows the result; `None` does not filter.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub stream_id: Option<String>,
    /// Events recorded for any of these companies (an empty list: none at all).
    pub company_ids: Option<Vec<Uuid>>,
    pub actor_id: Option<Uuid>,
    pub correlation_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub position: Option<i64>,
    pub event_types: Option<Vec<String>>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Checkpoint,
    pub limit: i64,
}

impl AuditQuery {
    /// Whether `event` passes the filter, as the adapters' SQL decides it (`after` and `limit`
    /// aside): what a live feed applies in memory to the events it broadcasts.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        let metadata = &event.metadata;
        self.stream_id.as_ref().is_none_or(|stream_id| *stream_id == event.stream_id)
            && self
                .company_ids
                .as_ref()
                .is_none_or(|ids| metadata.company_id.is_some_and(|company| ids.contains(&company)))
            && self.actor_id.is_none_or(|actor| metadata.actor.id == Some(actor))
            && self.correlation_id.is_none_or(|id| metadata.correlation_id == id)
            && self.event_id.is_none_or(|id| event.event_id == id)
            && self.position.is_none_or(|position| event.position == position)
            && self.event_types.as_ref().is_none_or(|types| types.contains(&event.event_type))
            && self.from.is_none_or(|from| metadata.recorded_at >= from)
            && self.to.is_none_or(|to| metadata.recorded_at < to)
    }

    /// Every event, at most one: narrow it with one field.
    pub fn one() -> Self {
        AuditQuery {
            stream_id: None,
            company_ids: None,
            actor_id: None,
            correlation_id: None,
            event_id: None,
            position: None,
            event_types: None,
            from: None,
            to: None,
            after: Checkpoint::START,
            limit: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored event at position {position} is unreadable: {reason}")]
    Corrupt { position: i64, reason: String },
    #[error("the event log writer has stopped")]
    WriterStopped,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("stream {stream_id} is at version {actual}, expected {expected}")]
    VersionConflict { stream_id: String, expected: i64, actual: i64 },
    #[error("{key} is already taken")]
    ClaimTaken { key: String },
    #[error("idempotency key already used")]
    IdempotencyKeyUsed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AppendError {
    fn from(error: sqlx::Error) -> Self {
        AppendError::Store(StoreError::Database(error))
    }
}
