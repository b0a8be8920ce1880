//! The one error type of the command API: each variant documents its status and stable code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `malformed_json`: the body is not a JSON object.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 400 `invalid_fields`: `details` maps each field to what is wrong with it.
    #[error("{message}")]
    InvalidFields { message: String, fields: Vec<(String, String)> },
    /// 400 `invalid_header`.
    #[error("header {header}: {problem}")]
    InvalidHeader { header: &'static str, problem: String },
    /// 401 `unauthorized`.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 401 `pin_failed`: a wrong PIN (the third voids the challenge).
    #[error("the PIN is not right")]
    PinFailed,
    /// 401 `login_failed`: the same for an unknown login and a wrong password.
    #[error("the login or the password is not right")]
    LoginFailed,
    /// 403 `account_inactive`: the password is right, but the account may not sign in.
    #[error("{0}")]
    AccountInactive(String),
    /// 429 `account_locked`, with `Retry-After`.
    #[error("too many failed sign-ins: the account is locked; try again in {retry_after} seconds")]
    Locked { retry_after: i64 },
    /// 429 `rate_limited`, with `Retry-After`: too many sign-in attempts from one address or
    /// for one login.
    #[error("too many attempts; try again in {retry_after} seconds")]
    RateLimited { retry_after: i64 },
    /// 403 `forbidden`: the caller may not act on this target.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `unknown_command`.
    #[error("there is no command named {0:?}")]
    UnknownCommand(String),
    /// 404 `not_found`: the target, or a referenced id (named by `field`), does not exist.
    #[error("{what} {id} does not exist")]
    NotFound { what: String, field: String, id: String },
    /// 409 `version_conflict`.
    #[error("{stream_id} is at version {actual}, not {expected}")]
    VersionConflict { stream_id: String, expected: i64, actual: i64 },
    /// 409 `already_taken`.
    #[error("{field} {value:?} is already taken")]
    AlreadyTaken { field: &'static str, value: String },
    /// 413 `payload_too_large`.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 422 with the domain's own code.
    #[error("{message}")]
    Refused { code: &'static str, message: String, details: Option<Value> },
    /// 422 `idempotency_key_reused`.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// 503 `unavailable`: the store did not answer; nothing may have been written.
    #[error("the event store is unavailable, try again")]
    Unavailable,
    /// 500 `internal`: details are logged, never sent.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::InvalidFields { .. } | ApiError::InvalidHeader { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::AccountInactive(_) => StatusCode::FORBIDDEN,
            ApiError::LoginFailed | ApiError::PinFailed => StatusCode::UNAUTHORIZED,
            ApiError::Locked { .. } | ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnknownCommand(_) | ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::VersionConflict { .. } | ApiError::AlreadyTaken { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Refused { .. } | ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidFields { .. } => "invalid_fields",
            ApiError::InvalidHeader { .. } => "invalid_header",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::LoginFailed => "login_failed",
            ApiError::PinFailed => "pin_failed",
            ApiError::AccountInactive(_) => "account_inactive",
            ApiError::Locked { .. } => "account_locked",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::UnknownCommand(_) => "unknown_command",
            ApiError::NotFound { .. } => "not_found",
            ApiError::VersionConflict { .. } => "version_conflict",
            ApiError::AlreadyTaken { .. } => "already_taken",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Refused { code, .. } => code,
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::InvalidFields { fields, .. } => {
                Value::Object(fields.iter().map(|(field, problem)| (field.clone(), json!(problem))).collect())
            }
            ApiError::InvalidHeader { header, .. } => json!({ "header": header }),
            ApiError::NotFound { field, id, .. } => json!({ field.clone(): id }),
            ApiError::VersionConflict { stream_id, expected, actual } => {
                json!({ "streamId": stream_id, "expectedVersion": expected, "actualVersion": actual })
            }
            ApiError::AlreadyTaken { field, value } => json!({ field.to_string(): value }),
            ApiError::PayloadTooLarge { limit } => json!({ "limitBytes": limit }),
            ApiError::Locked { retry_after } | ApiError::RateLimited { retry_after } => {
                json!({ "retryAfterSeconds": retry_after })
            }
            ApiError::Refused { details: Some(details), .. } => details.clone(),
            _ => json!({}),
        }
    }

    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        ApiError::InvalidFields {
            message: format!("{field}: {problem}"),
            fields: vec![(field.to_owned(), problem)],
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code(), "message": self.to_string(), "details": self.details() } });
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::Locked { retry_after } | ApiError::RateLimited { retry_after } = self
            && let Ok(value) = axum::http::HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<domain::DomainError> for ApiError {
    fn from(error: domain::DomainError) -> Self {
        match error {
            domain::DomainError::Invalid(problems) => ApiError::InvalidFields {
                message: problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                fields: problems.into_iter().map(|p| (p.field, p.message)).collect(),
            },
            domain::DomainError::NotFound { kind, id } => {
                ApiError::NotFound { what: kind.to_owned(), field: "id".to_owned(), id: id.to_string() }
            }
            domain::DomainError::UnknownReference { field, id } => ApiError::NotFound {
                what: field.trim_end_matches("Id").to_owned(),
                field: field.to_owned(),
                id: id.to_string(),
            },
            domain::DomainError::Rule { code, message, details } => {
                ApiError::Refused { code, message, details }
            }
        }
    }
}

impl From<eventlog::AppendError> for ApiError {
    fn from(error: eventlog::AppendError) -> Self {
        match error {
            eventlog::AppendError::VersionConflict { stream_id, expected, actual } => {
                ApiError::VersionConflict { stream_id, expected, actual }
            }
            eventlog::AppendError::ClaimTaken { key } => taken(&key),
            eventlog::AppendError::IdempotencyKeyUsed => ApiError::IdempotencyKeyReused,
            eventlog::AppendError::Store(error) => error.into(),
        }
    }
}

impl From<eventlog::StoreError> for ApiError {
    fn from(error: eventlog::StoreError) -> Self {
        tracing::error!(%error, "event store failure");
        match error {
            eventlog::StoreError::Database(_) | eventlog::StoreError::WriterStopped => ApiError::Unavailable,
            eventlog::StoreError::Corrupt { .. } => ApiError::Internal,
        }
    }
}

impl From<eventlog::VaultError> for ApiError {
    fn from(error: eventlog::VaultError) -> Self {
        match error {
            eventlog::VaultError::Store(error) => error.into(),
            eventlog::VaultError::Shredded(_) => {
                domain::DomainError::rule("user_deleted", "the user has been deleted").into()
            }
            error @ (eventlog::VaultError::Corrupt(_) | eventlog::VaultError::Random) => {
                tracing::error!(%error, "key vault failure");
                ApiError::Internal
            }
        }
    }
}

/// Names the field behind a claim key (`username:alice` → `username`).
fn taken(key: &str) -> ApiError {
    let (kind, value) = key.split_once(':').unwrap_or(("value", key));
    let field = match kind {
        "username" => "username",
        "email" => "email",
        "extension" => "extension",
        "role-name" | "group-name" => "name",
        "mobile" => "mobile",
        "main-phone" => "mainPhone",
        _ => "value",
    };
    // Keys unique within a company (`extension:<company>:<ext>`) carry the company first.
    let value = match kind {
        "extension" | "role-name" | "group-name" => value.split_once(':').map_or(value, |(_, v)| v),
        _ => value,
    };
    ApiError::AlreadyTaken { field, value: value.to_owned() }
}
