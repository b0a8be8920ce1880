//! What an audit entry changed: the aggregate's state folded from its stream just before the
//! event and just after it, with the write side's own `evolve`, compared field by field. Nothing
//! of it is stored: the stream is the only record.
//!
//! States serialise without their secrets (password, token, PIN hashes and sealed secrets are
//! skipped by the domain), so a change of password shows as a change of the fields that say so
//! (`activated`, `mustChangePassword`…), never as the hash.

use async_graphql::{Json, SimpleObject};
use domain::EventPayload;
use eventlog::RecordedEvent;
use serde::Serialize;
use serde_json::Value;

/// One field an event changed, by its path in the aggregate's state (`profile.MOBILE`).
#[derive(SimpleObject, Debug, PartialEq)]
pub struct FieldChange {
    pub field: String,
    /// `null` when the field did not exist before.
    pub before: Json<Value>,
    /// `null` when the event removed it.
    pub after: Json<Value>,
}

/// The states around the event at `version` of `events` (its stream, from version 1 on).
fn around<E: EventPayload, S: Default + Clone + Serialize>(
    events: &[RecordedEvent],
    version: i64,
    evolve: fn(S, &E) -> S,
) -> Result<(Value, Value), String> {
    let mut state = S::default();
    let mut before = None;
    for event in events.iter().take_while(|e| e.version <= version) {
        if event.version == version {
            before = Some(state.clone());
        }
        let payload = event.payload::<E>().map_err(|error| error.to_string())?;
        state = evolve(state, &payload);
    }
    let before = before.ok_or_else(|| format!("version {version} is not in the stream"))?;
    let to_json = |state: &S| serde_json::to_value(state).map_err(|error| error.to_string());
    Ok((to_json(&before)?, to_json(&state)?))
}

/// The fields the event at `version` of the stream changed; empty for streams of no aggregate.
pub fn changes(category: &str, events: &[RecordedEvent], version: i64) -> Result<Vec<FieldChange>, String> {
    use domain::{company, group, role, ticket, user};
    let (before, after) = match category {
        user::CATEGORY => around(events, version, user::evolve)?,
        role::CATEGORY => around(events, version, role::evolve)?,
        company::CATEGORY => around(events, version, company::evolve)?,
        group::CATEGORY => around(events, version, group::evolve)?,
        ticket::CATEGORY => around(events, version, ticket::evolve)?,
        _ => return Ok(Vec::new()),
    };
    let mut found = Vec::new();
    diff("", &before, &after, &mut found);
    for change in &mut found {
        redact(&change.field, &mut change.before.0);
        redact(&change.field, &mut change.after.0);
    }
    Ok(found)
}

/// What the audit trail never shows ([`crate::REDACTED`]), wherever it sits in a change: as the
/// changed field itself, or inside an object that changed.
fn redact(path: &str, value: &mut Value) {
    if value.is_null() {
        return;
    }
    if path.rsplit('.').next().is_some_and(|field| crate::REDACTED.contains(&field)) {
        *value = Value::String("[redacted]".to_owned());
        return;
    }
    match value {
        Value::Object(fields) => {
            for (key, nested) in fields.iter_mut() {
                redact(key, nested);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact("", item)),
        _ => {}
    }
}

/// Objects are compared key by key (nested ones too); anything else as a whole.
fn diff(path: &str, before: &Value, after: &Value, found: &mut Vec<FieldChange>) {
    if before == after {
        return;
    }
    let (Value::Object(old), Value::Object(new)) = (before, after) else {
        found.push(FieldChange {
            field: path.to_owned(),
            before: Json(before.clone()),
            after: Json(after.clone()),
        });
        return;
    };
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let nested = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        diff(&nested, old.get(key).unwrap_or(&Value::Null), new.get(key).unwrap_or(&Value::Null), found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_as_a_field_and_inside_objects() {
        let mut value = json!({ "challengeId": "c", "expiresAt": "t", "inner": [{ "pinHash": "h" }] });
        redact("pendingChallenge", &mut value);
        assert_eq!(
            value,
            json!({ "challengeId": "[redacted]", "expiresAt": "t", "inner": [{ "pinHash": "[redacted]" }] })
        );
        let mut value = json!("abc");
        redact("pendingChallenge.challengeId", &mut value);
        assert_eq!(value, json!("[redacted]"));
    }

    #[test]
    fn nested_objects_are_compared_by_path_and_the_rest_whole() {
        let mut found = Vec::new();
        diff(
            "",
            &json!({ "name": "a", "profile": { "MOBILE": "+1", "TITLE": "x" }, "tags": [1], "same": 1 }),
            &json!({ "name": "b", "profile": { "MOBILE": "+2" }, "tags": [1, 2], "same": 1, "new": true }),
            &mut found,
        );
        let summary: Vec<(String, Value, Value)> =
            found.into_iter().map(|c| (c.field, c.before.0, c.after.0)).collect();
        assert_eq!(
            summary,
            vec![
                ("name".to_owned(), json!("a"), json!("b")),
                ("new".to_owned(), json!(null), json!(true)),
                ("profile.MOBILE".to_owned(), json!("+1"), json!("+2")),
                ("profile.TITLE".to_owned(), json!("x"), json!(null)),
                ("tags".to_owned(), json!([1]), json!([1, 2])),
            ]
        );
    }
}
