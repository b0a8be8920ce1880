//! GraphQL subscriptions over `/graphql/ws` (graphql-transport-ws), fed by the live tail of the
//! event log: they work the same with or without NATS. The bearer token goes in the
//! `connection_init` payload (`{"Authorization": "Bearer …"}`); a subscription sees what the same
//! viewer's queries see.

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::{Context, ID, Result, Subscription};
use eventlog::{AuditQuery, Checkpoint, EventLog, RecordedEvent};
use futures::Stream;
use tokio::sync::broadcast;

use crate::types::User;
use crate::viewer::Viewer;
use crate::{
    AuditEntry, AuditFilter, QueryState, audit_entry, bad_input, internal, parse_id, scoped_audit_query,
};

/// Events read per look.
const PAGE: i64 = 200;

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Every event the filter matches (the filter of `auditTrail`), in commit order, as it is
    /// committed. `afterPosition` resumes after an event a client already has (a reconnecting UI
    /// misses nothing): the events since then come first, then the live ones. Without it, only
    /// events committed from now on.
    async fn events(
        &self,
        context: &Context<'_>,
        filter: Option<AuditFilter>,
        after_position: Option<i64>,
    ) -> Result<impl Stream<Item = AuditEntry> + use<>> {
        let state = context.data::<QueryState>()?;
        let after = start(state, after_position).await?;
        let query = scoped_audit_query(context, filter.unwrap_or_default(), after, PAGE).await?;
        let tail = query.map(|query| Tail::new(state, query));
        Ok(futures::stream::unfold(tail, |tail| async move {
            let mut tail = tail?;
            let event = tail.next().await?;
            Some((audit_entry(event), Some(tail)))
        }))
    }

    /// The user, as their stream folds, each time an event is appended to it: from now on, or
    /// after `afterPosition` (as `events`). Ends at once for a user the viewer does not see.
    async fn user_changed(
        &self,
        context: &Context<'_>,
        id: ID,
        after_position: Option<i64>,
    ) -> Result<impl Stream<Item = User> + use<>> {
        let id = parse_id(&id, "id")?;
        let state = context.data::<QueryState>()?;
        let stream_id = domain::stream_id(domain::user::CATEGORY, id);
        let (now, _) = crate::fold_until(state, &stream_id, chrono::Utc::now(), domain::user::evolve).await?;
        let visible = Viewer::of(context).sees_user(id, now.company_id);
        let query = AuditQuery { stream_id: Some(stream_id.clone()), limit: PAGE, ..AuditQuery::one() };
        let after = start(state, after_position).await?;
        let tail = visible.then(|| Tail::new(state, AuditQuery { after, ..query }));
        let log = Arc::clone(&state.log);
        Ok(futures::stream::unfold(tail, move |tail| {
            let (log, stream_id) = (Arc::clone(&log), stream_id.clone());
            async move {
                let mut tail = tail?;
                let event = tail.next().await?;
                let user = fold_user(log.as_ref(), &stream_id, id, &event).await?;
                Some((user, Some(tail)))
            }
        }))
    }
}

/// Where a subscription starts: after `after_position` (which must be a real position), or
/// after the newest event.
async fn start(state: &QueryState, after_position: Option<i64>) -> Result<Checkpoint> {
    let position = match after_position {
        Some(position) if position < 0 => return Err(bad_input("afterPosition: must not be negative")),
        Some(0) => return Ok(Checkpoint::START),
        Some(position) => position,
        None => return state.database.tail_start().await.map_err(internal),
    };
    state
        .log
        .checkpoint_of(position)
        .await
        .map_err(internal)?
        .ok_or_else(|| bad_input(format!("afterPosition: no event has position {position}")))
}

/// The user folded from their stream up to `event`.
async fn fold_user(
    log: &dyn EventLog,
    stream_id: &str,
    id: uuid::Uuid,
    event: &RecordedEvent,
) -> Option<User> {
    let events = log.read_stream(stream_id, 0).await.ok()?;
    let mut state = domain::user::State::default();
    let mut first = None;
    for stored in events.iter().take_while(|stored| stored.version <= event.version) {
        first.get_or_insert(stored.metadata.recorded_at);
        state = domain::user::evolve(state, &stored.payload::<domain::user::Event>().ok()?);
    }
    let row = projections::read::Row {
        id,
        state,
        version: event.version,
        created_at: first.unwrap_or(event.metadata.recorded_at),
        updated_at: event.metadata.recorded_at,
    };
    Some(User { row: Arc::new(row), at: event.metadata.recorded_at })
}

/// The events of an audit query from its `after` on, for ever: first from the database (what
/// was committed before, page by page), then from the process's live feed, filtered here. The
/// feed is subscribed before the first page is read, so nothing committed meanwhile is lost;
/// what both give is told apart by its checkpoint. A subscriber that falls behind the feed's
/// buffer reads from the database again.
struct Tail {
    log: Arc<dyn EventLog>,
    query: AuditQuery,
    buffer: VecDeque<RecordedEvent>,
    live: broadcast::Receiver<Arc<RecordedEvent>>,
    catching_up: bool,
}

impl Tail {
    fn new(state: &QueryState, query: AuditQuery) -> Self {
        let live = state.feed().subscribe();
        Tail { log: Arc::clone(&state.log), query, buffer: VecDeque::new(), live, catching_up: true }
    }

    /// The next event; `None` only when the log cannot be read (the subscription ends).
    async fn next(&mut self) -> Option<RecordedEvent> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(event);
            }
            if self.catching_up {
                match self.log.audit(&self.query).await {
                    Ok(events) if events.is_empty() => self.catching_up = false,
                    Ok(events) => {
                        if let Some(last) = events.last() {
                            self.query.after = last.checkpoint;
                        }
                        self.buffer.extend(events);
                    }
                    Err(error) => {
                        tracing::error!(%error, "a subscription cannot read the log");
                        return None;
                    }
                }
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.checkpoint > self.query.after => {
                    self.query.after = event.checkpoint;
                    if self.query.matches(&event) {
                        return Some(RecordedEvent::clone(&event));
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
