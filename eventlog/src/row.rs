//! The stored shape of an event, decoded the same way from either backend.

use chrono::{DateTime, Utc};
use domain::{Actor, ActorKind};
use uuid::Uuid;

use sqlx::QueryBuilder;

use crate::{AuditQuery, Checkpoint, Metadata, RecordedEvent, StoreError};

/// Selects the columns of [`EventRow`]; `$TX` is the backend's expression for the checkpoint's tx.
pub(crate) const EVENT_COLUMNS: &str = "position, $TX as tx, stream_id, version, event_id, event_type, \
     schema_version, data, company_id, actor_kind, actor_id, correlation_id, causation_id, request_id, recorded_at, hash, reason, client_ip, user_agent";

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
    hash: Option<String>,
    reason: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
}

/// Decoded by position, in the order of [`EVENT_COLUMNS`]: looking each column up by name, for
/// every row, was a measurable part of reading the log (verification, projectors, the audit).
impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for EventRow
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    serde_json::Value: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(EventRow {
            position: row.try_get(0)?,
            tx: row.try_get(1)?,
            stream_id: row.try_get(2)?,
            version: row.try_get(3)?,
            event_id: row.try_get(4)?,
            event_type: row.try_get(5)?,
            schema_version: row.try_get(6)?,
            data: row.try_get(7)?,
            company_id: row.try_get(8)?,
            actor_kind: row.try_get(9)?,
            actor_id: row.try_get(10)?,
            correlation_id: row.try_get(11)?,
            causation_id: row.try_get(12)?,
            request_id: row.try_get(13)?,
            recorded_at: row.try_get(14)?,
            hash: row.try_get(15)?,
            reason: row.try_get(16)?,
            client_ip: row.try_get(17)?,
            user_agent: row.try_get(18)?,
        })
    }
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
                reason: row.reason,
                client_ip: row.client_ip,
                user_agent: row.user_agent,
            },
            hash: row.hash,
        })
    }
}

pub(crate) fn into_events(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(RecordedEvent::try_from).collect()
}

/// Adds the audit filter's conditions; the caller has written `... where true`.
pub(crate) fn push_audit_filter<DB: sqlx::Database>(builder: &mut QueryBuilder<DB>, query: &AuditQuery)
where
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> uuid::Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(stream_id) = &query.stream_id {
        builder.push(" and stream_id = ").push_bind(stream_id.clone());
    }
    match query.company_ids.as_deref() {
        None => {}
        Some([]) => {
            builder.push(" and false");
        }
        Some([company_id]) => {
            builder.push(" and company_id = ").push_bind(*company_id);
        }
        Some(company_ids) => {
            builder.push(" and company_id in (");
            let mut separated = builder.separated(", ");
            for company_id in company_ids {
                separated.push_bind(*company_id);
            }
            builder.push(")");
        }
    }
    if let Some(correlation_id) = query.correlation_id {
        builder.push(" and correlation_id = ").push_bind(correlation_id);
    }
    if let Some(event_id) = query.event_id {
        builder.push(" and event_id = ").push_bind(event_id);
    }
    if let Some(position) = query.position {
        builder.push(" and position = ").push_bind(position);
    }
    if let Some(actor_id) = query.actor_id {
        builder.push(" and actor_id = ").push_bind(actor_id);
    }
    if let Some(types) = &query.event_types {
        builder.push(" and event_type in (");
        let mut separated = builder.separated(", ");
        for event_type in types {
            separated.push_bind(event_type.clone());
        }
        builder.push(")");
    }
    if let Some(from) = query.from {
        builder.push(" and recorded_at >= ").push_bind(from);
    }
    if let Some(to) = query.to {
        builder.push(" and recorded_at < ").push_bind(to);
    }
}

/// ` and (stream_id like '<category>-%' or …)`: the events of streams of these categories.
pub(crate) fn push_categories<DB: sqlx::Database>(query: &mut sqlx::QueryBuilder<DB>, categories: &[&str])
where
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if categories.is_empty() {
        query.push(" and false");
        return;
    }
    query.push(" and (");
    for (index, category) in categories.iter().enumerate() {
        if index > 0 {
            query.push(" or ");
        }
        // Categories are lowercase words: nothing in them for `like` to read as a wildcard.
        query.push("stream_id like ").push_bind(format!("{category}-%"));
    }
    query.push(")");
}

/// Where a `read_all_of` page leaves its reader: after its last event when the page is full
/// (more may follow), else at `newest`, the newest event that was final when the read began.
pub(crate) fn reached(
    events: &[crate::RecordedEvent],
    limit: i64,
    newest: crate::Checkpoint,
) -> crate::Checkpoint {
    match events.last() {
        Some(last) if events.len() as i64 >= limit => last.checkpoint,
        _ => newest,
    }
}

#[cfg(test)]
mod tests {
    /// `EventRow` is decoded by position: its columns must stay in this order.
    #[test]
    fn the_event_columns_are_in_the_order_rows_are_decoded() {
        let columns: Vec<&str> = super::EVENT_COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(
            columns,
            [
                "position",
                "$TX as tx",
                "stream_id",
                "version",
                "event_id",
                "event_type",
                "schema_version",
                "data",
                "company_id",
                "actor_kind",
                "actor_id",
                "correlation_id",
                "causation_id",
                "request_id",
                "recorded_at",
                "hash",
                "reason",
                "client_ip",
                "user_agent",
            ]
        );
    }
}
