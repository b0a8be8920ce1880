//! What a command decided, as writes to one or more streams appended together, and the reply.

use domain::{ClaimChange, EventPayload};
use eventlog::{Appended, ClaimRequest, ExpectedVersion, NewEvent, StreamWrite};
use uuid::Uuid;

use crate::cache::{Aggregates, Cache, Loaded};

/// Brings the caches up to date with an accepted append.
pub type Remember = Box<dyn FnOnce(&Aggregates, &Appended) + Send>;

/// Picks one aggregate kind's cache.
pub type Select<S, E> = fn(&Aggregates) -> &Cache<S, E>;

/// What a command decided: the writes to append and how to answer.
pub struct Decision {
    pub target_id: Uuid,
    pub target_stream: String,
    /// The target's version and last position before this command (the answer to a no-op).
    pub version: i64,
    pub position: i64,
    pub writes: Vec<StreamWrite>,
    pub claims: Vec<ClaimRequest>,
    pub company_id: Option<Uuid>,
    /// Messages to send once the append commits.
    pub notifications: Vec<eventlog::Notification>,
    /// Who the events name as their actor, when it is not the caller: the user a token or a
    /// sign-in proves.
    pub actor: Option<domain::Actor>,
    /// Brings the caches up to date once the append is accepted.
    pub remember: Remember,
}

impl Decision {
    /// The append this decision asks for, with the metadata of `request` (recorded at
    /// `recorded_at`), and what brings the caches up to date once it is accepted.
    pub fn into_append(
        self,
        request: &crate::RequestInfo,
        recorded_at: chrono::DateTime<chrono::Utc>,
        idempotency: Option<eventlog::Idempotency>,
    ) -> (eventlog::AppendRequest, Remember) {
        let append = eventlog::AppendRequest {
            writes: self.writes,
            claims: self.claims,
            metadata: eventlog::Metadata {
                company_id: self.company_id,
                actor: self.actor.unwrap_or_else(|| request.actor.clone()),
                correlation_id: request.correlation_id,
                causation_id: None,
                request_id: Some(request.request_id.clone()),
                recorded_at,
                reason: request.reason.clone(),
                client_ip: request.client_ip.clone(),
                user_agent: request.user_agent.clone(),
            },
            idempotency,
            notifications: self.notifications,
            erase: Vec::new(),
            new_keys: Vec::new(),
        };
        (append, self.remember)
    }
}

/// Collects the events a command decided for each aggregate it changes; the first aggregate
/// written is the command's target, whose stream the reply names.
#[derive(Default)]
pub struct Plan {
    writes: Vec<StreamWrite>,
    claims: Vec<ClaimRequest>,
    notifications: Vec<eventlog::Notification>,
    remember: Vec<Remember>,
}

/// For aggregates whose events claim nothing.
pub fn no_claims<E, S>(_: &E, _: &S) -> Vec<ClaimChange> {
    Vec::new()
}

impl Plan {
    /// Adds `events` for the aggregate `id` (loaded at `loaded.version`), with the claims they
    /// take and free. Nothing is added for no events.
    pub fn write<S, E>(
        &mut self,
        aggregates: &Aggregates,
        select: Select<S, E>,
        id: Uuid,
        loaded: Loaded<S>,
        events: Vec<E>,
        claims: fn(&E, &S) -> Vec<ClaimChange>,
    ) where
        S: Clone + Default + Send + 'static,
        E: EventPayload + Send + 'static,
    {
        if events.is_empty() {
            return;
        }
        let cache = select(aggregates);
        let stream_id = cache.stream_id(id);
        self.claims.extend(claims_of(&stream_id, &loaded.state, &events, cache.evolve(), claims));
        self.writes.push(StreamWrite {
            stream_id: stream_id.clone(),
            expected: ExpectedVersion::Exact(loaded.version),
            events: events.iter().map(NewEvent::from_payload).collect(),
        });
        self.remember.push(Box::new(move |aggregates, appended| {
            if let Some((version, position)) = reached(appended, &stream_id) {
                select(aggregates).applied(id, loaded, &events, version, position);
            }
        }));
    }

    /// Sends `notification` if, and only if, the append commits.
    pub fn notify(&mut self, notification: eventlog::Notification) {
        self.notifications.push(notification);
    }

    /// The messages of this plan (its writes are dropped).
    pub fn into_notifications(self) -> Vec<eventlog::Notification> {
        self.notifications
    }

    /// The decision for a command on `target` (its id, stream, version and position before).
    pub fn decision(self, target: (Uuid, String, i64, i64), company_id: Option<Uuid>) -> Decision {
        let (target_id, target_stream, version, position) = target;
        let remember = self.remember;
        Decision {
            target_id,
            target_stream,
            version,
            position,
            writes: self.writes,
            claims: self.claims,
            company_id,
            notifications: self.notifications,
            actor: None,
            remember: Box::new(move |aggregates, appended| {
                for remember in remember {
                    remember(aggregates, appended);
                }
            }),
        }
    }
}

/// The claims `events` take and free on `stream_id`, each judged against the state just
/// before it (`before`, then folded event by event).
fn claims_of<S: Clone, E>(
    stream_id: &str,
    before: &S,
    events: &[E],
    evolve: fn(S, &E) -> S,
    claims: fn(&E, &S) -> Vec<ClaimChange>,
) -> Vec<ClaimRequest> {
    let mut state = before.clone();
    let mut requests = Vec::new();
    for event in events {
        requests.extend(
            claims(event, &state)
                .into_iter()
                .map(|change| ClaimRequest { owner_stream: stream_id.to_owned(), change }),
        );
        state = evolve(state, event);
    }
    requests
}

/// The version and position a stream reached with an accepted append.
fn reached(appended: &Appended, stream_id: &str) -> Option<(i64, i64)> {
    let stream = appended.streams.iter().find(|s| s.stream_id == stream_id)?;
    Some((stream.version, stream.events.iter().map(|e| e.position).max().unwrap_or_default()))
}

/// The answer to an accepted command.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    pub id: Uuid,
    pub stream_id: String,
    pub version: i64,
    pub position: i64,
    pub events: Vec<ReplyEvent>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
}

impl Reply {
    /// The reply for an accepted append whose first write is the command's target.
    pub fn from_appended(appended: &Appended) -> Option<Reply> {
        let target = appended.streams.first()?;
        let (_, id) = domain::parse_stream_id(&target.stream_id)?;
        Some(Reply {
            id,
            stream_id: target.stream_id.clone(),
            version: target.version,
            position: appended.last_position().unwrap_or_default(),
            events: target
                .events
                .iter()
                .map(|e| ReplyEvent { event_id: e.event_id, event_type: e.event_type.clone() })
                .collect(),
        })
    }
}
