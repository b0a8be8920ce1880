//! The portal's pure domain model: aggregates as `decide` / `evolve` pairs.
//!
//! Nothing here does IO, awaits, or knows about SQL, HTTP or GraphQL. Anything
//! a decision needs from outside (the time, the actor, another aggregate's
//! state) is looked up by the caller and passed in.

pub mod apps;
pub mod attachment;
pub mod company;
pub mod group;
pub mod import;
pub mod permissions;
pub mod personal;
pub mod phone;
pub mod policy;
pub mod role;
pub mod schemas;
pub mod ticket;
pub mod user;
pub mod validate;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use permissions::{Level, Module, PermissionSet};
pub use validate::FieldError;

/// Who is acting, and when. Passed to every `decide`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub actor: Actor,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's id for `User`; `None` for the platform operator and the system.
    pub id: Option<Uuid>,
}

impl Actor {
    pub fn operator() -> Self {
        Actor { kind: ActorKind::Operator, id: None }
    }

    /// A portal user, by id.
    pub fn user(id: Uuid) -> Self {
        Actor { kind: ActorKind::User, id: Some(id) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActorKind {
    Operator,
    User,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Operator => "OPERATOR",
            ActorKind::User => "USER",
            ActorKind::System => "SYSTEM",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "OPERATOR" => Some(ActorKind::Operator),
            "USER" => Some(ActorKind::User),
            "SYSTEM" => Some(ActorKind::System),
            _ => None,
        }
    }
}

/// Why a command was refused. No technical failures live here: only "the domain said no".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// One or more fields are malformed or out of bounds.
    #[error("invalid fields: {}", .0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldError>),
    /// The command targets an aggregate that does not exist.
    #[error("{kind} {id} does not exist")]
    NotFound { kind: &'static str, id: Uuid },
    /// A referenced aggregate (named by `field`) does not exist or cannot be used.
    #[error("{field} {id} does not exist")]
    UnknownReference { field: &'static str, id: Uuid },
    /// A business rule refuses the command; `code` is stable, `message` is for people.
    #[error("{message}")]
    Rule { code: &'static str, message: String, details: Option<serde_json::Value> },
}

impl DomainError {
    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Rule { code, message: message.into(), details: None }
    }

    /// A refusal that carries figures a client can act on (`{"users": 3}`).
    pub fn rule_with(code: &'static str, message: impl Into<String>, details: serde_json::Value) -> Self {
        DomainError::Rule { code, message: message.into(), details: Some(details) }
    }
}

/// A change of a uniqueness claim that an event needs, written with the event.
///
/// Claims make values unique across aggregates (a username across all users).
/// The key is a stable string such as `username:alice`; its owner is the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimChange {
    Acquire(String),
    Release(String),
}

/// Event type names and payloads as stored: `type` plus a JSON object.
pub trait EventPayload: Sized {
    fn event_type(&self) -> &'static str;
    fn to_data(&self) -> serde_json::Value;
    fn from_stored(event_type: &str, data: &serde_json::Value) -> Result<Self, serde_json::Error>;
}

/// Implements [`EventPayload`] for an adjacently tagged serde enum.
#[macro_export]
macro_rules! stored_event {
    ($ty:ty) => {
        impl $crate::EventPayload for $ty {
            fn event_type(&self) -> &'static str {
                self.type_name()
            }

            fn to_data(&self) -> serde_json::Value {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::Object(mut tagged)) => {
                        tagged.remove("data").unwrap_or(serde_json::Value::Object(Default::default()))
                    }
                    _ => serde_json::Value::Object(Default::default()),
                }
            }

            fn from_stored(
                event_type: &str,
                data: &serde_json::Value,
            ) -> Result<Self, serde_json::Error> {
                serde_json::from_value(serde_json::json!({ "type": event_type, "data": data }))
            }
        }
    };
}

pub fn stream_id(category: &str, id: Uuid) -> String {
    format!("{category}-{id}")
}

/// Splits `user-<uuid>` into its category and id.
pub fn parse_stream_id(stream_id: &str) -> Option<(&str, Uuid)> {
    let (category, id) = stream_id.split_once('-')?;
    Some((category, Uuid::parse_str(id).ok()?))
}

#[cfg(test)]
mod given_when_then;
