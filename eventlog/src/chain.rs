//! Tamper evidence, part one: every event stores
//! `hash = SHA-256(previous hash of its stream ‖ canonical bytes of the event)`, computed by the
//! adapter that appends it (so appends of different streams need no shared lock). The canonical
//! bytes are every stored field but the position (assigned at commit; the seals cover commit
//! order), each as a length-prefixed UTF-8 string, the payload as canonical JSON (object keys
//! sorted, no whitespace), the time in microseconds, an absent value as the empty string.
//! Anyone can recompute them from a row.

use chrono::{DateTime, SubsecRound, Utc};
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
    /// Every field is written without an allocation of its own: the sealer and `audit verify`
    /// hash every event of the log.
    pub fn hash(&self, previous: Option<&str>) -> String {
        let metadata = self.metadata;
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        let mut uuid = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let mut optional = |id: Option<uuid::Uuid>, field: &mut dyn FnMut(&[u8])| match id {
            Some(id) => field(id.hyphenated().encode_lower(&mut uuid).as_bytes()),
            None => field(b""),
        };
        let mut number = itoa::Buffer::new();
        let mut json = Vec::with_capacity(512);
        canonical_json_bytes(self.data, &mut json);
        field(b"portal-event-v1");
        field(previous.unwrap_or_default().as_bytes());
        field(self.stream_id.as_bytes());
        field(number.format(self.version).as_bytes());
        optional(Some(self.event_id), &mut field);
        field(self.event_type.as_bytes());
        field(number.format(self.schema_version).as_bytes());
        field(&json);
        optional(metadata.company_id, &mut field);
        field(metadata.actor.kind.as_str().as_bytes());
        optional(metadata.actor.id, &mut field);
        optional(Some(metadata.correlation_id), &mut field);
        optional(metadata.causation_id, &mut field);
        field(metadata.request_id.as_deref().unwrap_or_default().as_bytes());
        let mut time = [0u8; 27];
        field(microseconds(metadata.recorded_at, &mut time).as_bytes());
        field(metadata.reason.as_deref().unwrap_or_default().as_bytes());
        field(metadata.client_ip.as_deref().unwrap_or_default().as_bytes());
        field(metadata.user_agent.as_deref().unwrap_or_default().as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, truncated to microseconds: chrono's
/// `%Y-%m-%dT%H:%M:%S%.6fZ` without parsing a format for every event (years outside 0–9999,
/// which that format writes differently, and leap seconds are left to chrono).
fn microseconds(at: DateTime<Utc>, out: &mut [u8; 27]) -> std::borrow::Cow<'_, str> {
    use chrono::{Datelike, Timelike};
    let (year, micros) = (at.year(), at.nanosecond() / 1_000);
    // (A leap second's nanoseconds run past 1e9, which chrono prints its own way too.)
    if !(0..=9999).contains(&year) || micros >= 1_000_000 {
        return at.trunc_subsecs(6).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().into();
    }
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut value = value;
        for index in (at..at + digits).rev() {
            out[index] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, at.month(), 2);
    put(8, at.day(), 2);
    put(11, at.hour(), 2);
    put(14, at.minute(), 2);
    put(17, at.second(), 2);
    put(20, micros, 6);
    for (index, separator) in
        [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (26, b'Z')]
    {
        out[index] = separator;
    }
    std::str::from_utf8(out).map(Into::into).unwrap_or_default()
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
    let mut bytes = Vec::new();
    canonical_json_bytes(value, &mut bytes);
    out.push_str(&String::from_utf8_lossy(&bytes));
}

/// [`canonical_json`] into bytes; strings and numbers are written by serde_json itself, so
/// escapes and number forms are exactly its own.
fn canonical_json_bytes(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            // A map that iterates in key order (serde_json's default) needs no sorting.
            let sorted = map.keys().zip(map.keys().skip(1)).all(|(a, b)| a.as_bytes() < b.as_bytes());
            if sorted {
                for (index, (key, value)) in map.iter().enumerate() {
                    member(index, key, value, out);
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                for (index, (key, value)) in entries.into_iter().enumerate() {
                    member(index, key, value, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                canonical_json_bytes(item, out);
            }
            out.push(b']');
        }
        Value::String(text) => scalar(text, out),
        Value::Number(number) => scalar(number, out),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

fn member(index: usize, key: &str, value: &Value, out: &mut Vec<u8>) {
    if index > 0 {
        out.push(b',');
    }
    scalar(key, out);
    out.push(b':');
    canonical_json_bytes(value, out);
}

fn scalar(value: &(impl serde::Serialize + ?Sized), out: &mut Vec<u8>) {
    // Writing a string or a number into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(full: bool, recorded_at: &str) -> Metadata {
        let id = |n: u128| uuid::Uuid::from_u128(n);
        Metadata {
            company_id: full.then(|| id(0xC0FFEE)),
            actor: domain::Actor {
                kind: if full { domain::ActorKind::User } else { domain::ActorKind::Operator },
                id: full.then(|| id(7)),
            },
            correlation_id: id(0xABCDEF0123456789),
            causation_id: full.then(|| id(9)),
            request_id: full.then(|| "req-1".to_owned()),
            recorded_at: recorded_at.parse().expect("time"),
            reason: full.then(|| "a reason, with \"quotes\"".to_owned()),
            client_ip: full.then(|| "203.0.113.7".to_owned()),
            user_agent: full.then(|| "Agent/1.0 (é)".to_owned()),
        }
    }

    /// Links stored in every log so far: the bytes hashed must never change, however the
    /// hashing is written (these values were computed by the first implementation).
    #[test]
    fn the_hash_of_an_event_is_what_it_has_always_been() {
        let data = json!({
            "b": [ { "z": 1, "a": "x \"y\"\n\u{1}é\t/" } ],
            "a": null,
            "n": -1.5e10,
            "f": 0.1,
            "big": 12345678901234567890u64,
            "neg": -42,
            "é": true,
            "": { "nested": [false, [], {}] },
        });
        let event = NewEvent {
            event_id: uuid::Uuid::from_u128(0x0123456789ABCDEF0123456789ABCDEF),
            event_type: "UserCreated".to_owned(),
            schema_version: 2,
            data,
        };
        let full = metadata(true, "2026-11-26T08:15:30.123456789Z");
        let bare = metadata(false, "0999-01-02T03:04:05Z");
        let first = EventContent::of_new("user-1", 1, &event, &full).hash(None);
        let second = EventContent::of_new("user-1", 2, &event, &bare).hash(Some(&first));
        assert_eq!(first, "754077d5e2b12f619f9e234b289665f45527e872107769b6a0ba4a86e4a6efce");
        assert_eq!(second, "99621c5e7b321c462a706e78f395028ca05b48a38ae962b6a1bd8c0b6a50b4f8");
    }

    #[test]
    fn times_are_written_as_chrono_writes_them_in_microseconds() {
        use chrono::{NaiveDate, TimeZone};
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|day| day.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .expect("leap second");
        let instants = [
            "2026-11-26T08:15:30.123456789Z".parse().expect("time"),
            "2026-01-01T00:00:00Z".parse().expect("time"),
            "0001-02-03T04:05:06.000001Z".parse().expect("time"),
            "9999-12-31T23:59:59.999999999Z".parse().expect("time"),
            "+12345-06-07T08:09:10.5Z".parse().expect("time"),
            Utc.from_utc_datetime(&leap),
        ];
        for at in instants {
            let mut buffer = [0u8; 27];
            let expected = at.trunc_subsecs(6).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
            assert_eq!(microseconds(at, &mut buffer), expected);
        }
    }

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
