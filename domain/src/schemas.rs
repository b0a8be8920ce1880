//! The stored events' public format: a version per event type, a JSON Schema of each type's
//! `data` generated from the event types themselves (committed under `schemas/events/`, kept
//! current by a test), and the upcasters that bring data stored at an older version to the
//! current one.
//!
//! Changing a stored field of an event type means: bump its version in [`version_of`], add the
//! step from the old version to [`upcast_once`] (tested against recorded JSON of the old
//! version), and commit the new schema beside the old one, which stays as it was.

use schemars::JsonSchema;
use serde_json::{Value, json};

use crate::{company, group, import, role, ticket, user};

/// The current version of an event type's stored data.
pub fn version_of(event_type: &str) -> i32 {
    match event_type {
        // v2 names the channel of the second factor (an authenticator app came beside SMS).
        "TwoFactorChallenged" => 2,
        _ => 1,
    }
}

/// `data` as stored at `version`, brought to the event type's current version.
pub fn upcast(event_type: &str, version: i32, mut data: Value) -> Value {
    let mut version = version.max(1);
    while version < version_of(event_type) {
        data = upcast_once(event_type, version, data);
        version += 1;
    }
    data
}

/// One step: `data` stored at `version` as it reads at `version + 1`.
fn upcast_once(event_type: &str, version: i32, mut data: Value) -> Value {
    match (event_type, version) {
        // Before authenticator apps every second factor was a PIN by SMS.
        ("TwoFactorChallenged", 1) => {
            if let Some(fields) = data.as_object_mut() {
                fields.entry("channel").or_insert(json!("SMS"));
            }
            data
        }
        _ => data,
    }
}

/// One event type's schema at its current version.
pub struct EventSchema {
    pub category: &'static str,
    pub event_type: String,
    pub version: i32,
    pub schema: Value,
}

impl EventSchema {
    /// Where it is committed, under `schemas/events/`.
    pub fn path(&self) -> String {
        format!("{}/{}.v{}.json", self.category, self.event_type, self.version)
    }
}

/// Every event type of the aggregate `E`, from its derived schema (`type` + `data`, adjacently
/// tagged): each variant's `data`, with the definitions it refers to.
fn of<E: JsonSchema>(category: &'static str) -> Vec<EventSchema> {
    let root = serde_json::to_value(schemars::schema_for!(E)).unwrap_or_default();
    let definitions = root.get("$defs").cloned();
    let variants = root.get("oneOf").and_then(Value::as_array).cloned().unwrap_or_default();
    variants
        .into_iter()
        .filter_map(|variant| {
            let event_type = variant.pointer("/properties/type/const")?.as_str()?.to_owned();
            let mut schema = variant.pointer("/properties/data")?.clone();
            let version = version_of(&event_type);
            let text = schema.to_string();
            let fields = schema.as_object_mut()?;
            fields.insert("$schema".to_owned(), json!("https://json-schema.org/draft/2020-12/schema"));
            fields.insert("title".to_owned(), json!(format!("{event_type} v{version}")));
            fields.insert(
                "description".to_owned(),
                json!(format!(
                    "The `data` of a stored `{event_type}` event (stream `{category}-<uuid>`), schema version {version}."
                )),
            );
            if let Some(used) = definitions.as_ref().and_then(|definitions| referenced(definitions, &text)) {
                fields.insert("$defs".to_owned(), used);
            }
            Some(EventSchema { category, event_type, version, schema })
        })
        .collect()
}

/// The definitions `text` refers to, and those they refer to in turn; `None` if none.
fn referenced(definitions: &Value, text: &str) -> Option<Value> {
    let all = definitions.as_object()?;
    let mut used = serde_json::Map::new();
    let mut pending = vec![text.to_owned()];
    while let Some(text) = pending.pop() {
        for name in all.keys() {
            if !used.contains_key(name) && text.contains(&format!("\"#/$defs/{name}\"")) {
                let definition = all.get(name).cloned().unwrap_or_default();
                pending.push(definition.to_string());
                used.insert(name.clone(), definition);
            }
        }
    }
    (!used.is_empty()).then_some(Value::Object(used))
}

/// Every stored event type's schema, aggregate by aggregate.
pub fn event_schemas() -> Vec<EventSchema> {
    let mut all = of::<user::Event>(user::CATEGORY);
    all.extend(of::<role::Event>(role::CATEGORY));
    all.extend(of::<company::Event>(company::CATEGORY));
    all.extend(of::<group::Event>(group::CATEGORY));
    all.extend(of::<ticket::Event>(ticket::CATEGORY));
    all.extend(of::<import::Event>(import::CATEGORY));
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventPayload;
    use std::path::PathBuf;

    fn committed() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")
    }

    /// The committed schemas are the generated ones; `PORTAL_UPDATE_SCHEMAS=1` writes them.
    #[test]
    fn the_committed_event_schemas_are_current() {
        let schemas = event_schemas();
        assert!(schemas.len() >= 40, "every event type of every aggregate: {}", schemas.len());
        let update = std::env::var("PORTAL_UPDATE_SCHEMAS").is_ok_and(|v| v == "1");
        let mut stale = Vec::new();
        for schema in &schemas {
            let path = committed().join(schema.path());
            let text = serde_json::to_string_pretty(&schema.schema).unwrap_or_default() + "\n";
            if update {
                std::fs::create_dir_all(path.parent().unwrap_or(&committed())).unwrap_or_default();
                std::fs::write(&path, &text).unwrap_or_default();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(schema.path());
            }
        }
        assert!(
            stale.is_empty(),
            "these schemas differ from the committed ones: {stale:?}. A stored field changed: bump the \
             event type's version in schemas::version_of, add its upcaster, then run the tests with \
             PORTAL_UPDATE_SCHEMAS=1 (the old version's file stays)."
        );
    }

    /// Every older version of a type keeps its committed schema: stored data of it still exists.
    #[test]
    fn every_older_version_stays_committed() {
        for schema in event_schemas() {
            for version in 1..schema.version {
                let path =
                    committed().join(format!("{}/{}.v{version}.json", schema.category, schema.event_type));
                assert!(
                    path.exists(),
                    "{} is gone: data stored at that version still exists",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn a_second_factor_challenge_stored_at_version_1_reads_as_a_pin_by_sms() {
        // Recorded as stored before authenticator apps existed.
        let v1 = json!({
            "challengeId": "00000000-0000-0000-0000-0000c4a10001",
            "pinHash": "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92",
            "expiresAt": "2025-06-01T12:10:00Z",
        });
        let current = upcast("TwoFactorChallenged", 1, v1.clone());
        assert_eq!(current["channel"], "SMS");
        assert_eq!(current["pinHash"], v1["pinHash"]);
        let event = user::Event::from_stored("TwoFactorChallenged", &current).expect("reads at v2");
        assert!(matches!(event, user::Event::TwoFactorChallenged { channel: user::SecondFactor::Sms, .. }));
        // Data at the current version passes through untouched; so does every other type.
        let app = json!({ "challengeId": v1["challengeId"], "pinHash": "", "expiresAt": v1["expiresAt"], "channel": "TOTP" });
        assert_eq!(upcast("TwoFactorChallenged", 2, app.clone()), app);
        assert_eq!(upcast("UserApproved", 1, json!({})), json!({}));
    }
}
