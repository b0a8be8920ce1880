//! Folding a batch of events into the rows they touch, with the domain's `evolve`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use eventlog::RecordedEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::ProjectionError;

/// One aggregate as a read-model row: its folded state and when it last changed.
#[derive(Debug, Clone)]
pub struct Folded<S> {
    pub id: Uuid,
    pub state: S,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A row as stored: state as JSON text or JSONB.
#[derive(sqlx::FromRow)]
pub(crate) struct StoredRow {
    pub id: Uuid,
    pub state: serde_json::Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoredRow {
    pub fn into_folded<S: DeserializeOwned>(self) -> Result<Folded<S>, ProjectionError> {
        let state = serde_json::from_value(self.state)
            .map_err(|e| ProjectionError::Corrupt(format!("row {}: {e}", self.id)))?;
        Ok(Folded {
            id: self.id,
            state,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The ids (from `<category>-<uuid>` stream ids) of the events of one category.
pub(crate) fn ids_of(events: &[RecordedEvent], category: &str) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = events
        .iter()
        .filter_map(|e| domain::parse_stream_id(&e.stream_id))
        .filter(|(c, _)| *c == category)
        .map(|(_, id)| id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Applies the events of `category` to `rows` (which holds the stored rows of their ids) and
/// returns the rows that changed. Events at or below a row's version were applied before and
/// are skipped, so replaying a batch changes nothing. `observe` sees each applied event with
/// the row's state just after it.
pub(crate) fn fold<S, E>(
    mut rows: HashMap<Uuid, Folded<S>>,
    events: &[RecordedEvent],
    category: &str,
    evolve: fn(S, &E) -> S,
    observe: &mut (dyn FnMut(&RecordedEvent, &E, &S) + Send),
) -> Result<Vec<Folded<S>>, ProjectionError>
where
    S: Default + Clone + Serialize,
    E: domain::EventPayload,
{
    let mut changed = Vec::new();
    for event in events {
        let Some((event_category, id)) = domain::parse_stream_id(&event.stream_id) else { continue };
        if event_category != category {
            continue;
        }
        let payload: E = event.payload().map_err(|e| {
            ProjectionError::Corrupt(format!(
                "event at position {} ({}): {e}",
                event.position, event.event_type
            ))
        })?;
        let recorded_at = event.metadata.recorded_at;
        let row = rows.entry(id).or_insert_with(|| Folded {
            id,
            state: S::default(),
            version: 0,
            created_at: recorded_at,
            updated_at: recorded_at,
        });
        if event.version <= row.version {
            continue;
        }
        row.state = evolve(std::mem::take(&mut row.state), &payload);
        observe(event, &payload, &row.state);
        row.version = event.version;
        row.updated_at = recorded_at;
        changed.push(id);
    }
    changed.sort_unstable();
    changed.dedup();
    Ok(changed.into_iter().filter_map(|id| rows.remove(&id)).collect())
}
