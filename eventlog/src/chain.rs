//! Tamper evidence, part one: every event stores
//! `hash = SHA-256(previous hash of its stream ‖ canonical bytes of the event)`, computed by the
//! adapter that appends it (so appends of different streams need no shared lock). The canonical
//! bytes are every stored field but the position (assigned at commit; the seals cover commit
//! order), each as a length-prefixed UTF-8 string, the payload as canonical JSON (object keys
//! sorted, no whitespace), the time in microseconds, an absent value as the empty string.
//! Anyone can recompute them from a row.

use chrono::SubsecRound;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Metadata, NewEvent, RecordedEvent};

/// What a stored event's hash covers.
pub struct EventContent<'a> {
    pub stream_id: &'a str,
    pub version: i64,
    pub event_id: uuid::Uuid,
    pub event_type: &'a str,
    pub schema_version: i32,
    pub data: &'a Value,
    pub metadata: &'a Metadata,
}

impl<'a> EventContent<'a> {
    pub fn of_new(stream_id: &'a str, version: i64, event: &'a NewEvent, metadata: &'a Metadata) -> Self {
        EventContent {
            stream_id,
            version,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            data: &event.data,
            metadata,
        }
    }

    pub fn of_recorded(event: &'a RecordedEvent) -> Self {
        EventContent {
            stream_id: &event.stream_id,
            version: event.version,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            data: &event.data,
            metadata: &event.metadata,
        }
    }

    /// The event's link in its stream's chain, after `previous` (`None` for a stream's first).
    pub fn hash(&self, previous: Option<&str>) -> String {
        let metadata = self.metadata;
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        let optional = |id: Option<uuid::Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
        let mut json = String::with_capacity(256);
        canonical_json(self.data, &mut json);
        field(b"portal-event-v1");
        field(previous.unwrap_or_default().as_bytes());
        field(self.stream_id.as_bytes());
        field(self.version.to_string().as_bytes());
        field(self.event_id.to_string().as_bytes());
        field(self.event_type.as_bytes());
        field(self.schema_version.to_string().as_bytes());
        field(json.as_bytes());
        field(optional(metadata.company_id).as_bytes());
        field(metadata.actor.kind.as_str().as_bytes());
        field(optional(metadata.actor.id).as_bytes());
        field(metadata.correlation_id.to_string().as_bytes());
        field(optional(metadata.causation_id).as_bytes());
        field(metadata.request_id.as_deref().unwrap_or_default().as_bytes());
        field(metadata.recorded_at.trunc_subsecs(6).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().as_bytes());
        field(metadata.reason.as_deref().unwrap_or_default().as_bytes());
        field(metadata.client_ip.as_deref().unwrap_or_default().as_bytes());
        field(metadata.user_agent.as_deref().unwrap_or_default().as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// The hashes of a write's events, in order, chained after the stream's head.
pub(crate) fn chain_write(
    previous: Option<&str>,
    stream_id: &str,
    first_version: i64,
    events: &[NewEvent],
    metadata: &Metadata,
) -> Vec<String> {
    let mut hashes: Vec<String> = Vec::with_capacity(events.len());
    for (offset, event) in events.iter().enumerate() {
        let before = hashes.last().map(String::as_str).or(previous);
        let content = EventContent::of_new(stream_id, first_version + offset as i64, event, metadata);
        hashes.push(content.hash(before));
    }
    hashes
}

/// JSON with object keys in byte order and no whitespace: the same text for the same value,
/// whatever the order the database gives keys back in.
pub fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_has_no_whitespace() {
        let mut a = String::new();
        canonical_json(&json!({ "b": [ { "z": 1, "a": "x y" } ], "a": null, "é": 1.5 }), &mut a);
        assert_eq!(a, r#"{"a":null,"b":[{"a":"x y","z":1}],"é":1.5}"#);
        let mut b = String::new();
        canonical_json(&serde_json::from_str::<Value>(&a).expect("json"), &mut b);
        assert_eq!(a, b);
    }
}
