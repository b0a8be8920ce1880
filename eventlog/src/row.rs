//! The stored shape of an event, decoded the same way from either backend.

use chrono::{DateTime, Utc};
use domain::{Actor, ActorKind};
use uuid::Uuid;

use crate::{Checkpoint, Metadata, RecordedEvent, StoreError};

/// Selects the columns of [`EventRow`]; `$TX` is the backend's expression for the checkpoint's tx.
pub(crate) const EVENT_COLUMNS: &str = "position, $TX as tx, stream_id, version, event_id, event_type, \
     schema_version, data, company_id, actor_kind, actor_id, correlation_id, causation_id, request_id, recorded_at";

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    position: i64,
    tx: i64,
    stream_id: String,
    version: i64,
    event_id: Uuid,
    event_type: String,
    schema_version: i32,
    data: serde_json::Value,
    company_id: Option<Uuid>,
    actor_kind: String,
    actor_id: Option<Uuid>,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    request_id: Option<String>,
    recorded_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        let kind = ActorKind::parse(&row.actor_kind).ok_or_else(|| StoreError::Corrupt {
            position: row.position,
            reason: format!("unknown actor kind {:?}", row.actor_kind),
        })?;
        Ok(RecordedEvent {
            checkpoint: Checkpoint { tx: row.tx, position: row.position },
            position: row.position,
            stream_id: row.stream_id,
            version: row.version,
            event_id: row.event_id,
            event_type: row.event_type,
            schema_version: row.schema_version,
            data: row.data,
            metadata: Metadata {
                company_id: row.company_id,
                actor: Actor { kind, id: row.actor_id },
                correlation_id: row.correlation_id,
                causation_id: row.causation_id,
                request_id: row.request_id,
                recorded_at: row.recorded_at,
            },
        })
    }
}

pub(crate) fn into_events(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(RecordedEvent::try_from).collect()
}
