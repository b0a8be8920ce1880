//! The HTTP API for commands: `POST /commands/{CommandType}`; and the files commands refer
//! to: `POST /attachments`, `GET /attachments/{id}`.
//!
//! A request is authenticated, decoded, decided by the domain against cached aggregates, and
//! appended to the event log with its metadata (actor, request id, correlation id). Refusals
//! become the error body of CONTRACT.md; nothing is written for a refused command.
//!
//! Must not: write SQL, read read models, or decide business rules itself.

mod access;
mod attachments;
mod auth;
mod cache;
pub mod commands;
mod dto;
mod error;
pub mod imports;
mod locks;
mod plan;
mod secrets;
mod totp;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use domain::{Actor, ActorKind, Context};
use eventlog::{AppendError, Database, EventLog, ExpectedVersion, Idempotency};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use cache::Aggregates;
pub use cache::Settings;
pub use commands::COMMAND_TYPES;
use commands::{ANONYMOUS_COMMAND_TYPES, INTERNAL_COMMAND_TYPES};
pub use error::ApiError;
pub use plan::Reply;

/// Largest command body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Attempts of a command whose streams another writer changed meanwhile (without `If-Match`).
const ATTEMPTS: usize = 8;
/// The counter of commands decided again after their append was refused for a version
/// conflict: another process (or, rarely, a command of this one on several streams) wrote one
/// of their streams after they were decided. Commands of this process on one stream take turns
/// instead (`locks`).
pub const RETRIES: &str = "portal_command_retries_total";
/// Locks that order, within this process, the commands that write to several streams of one
/// company (the company's seats, a role's holders, a group's members).
const COMPANY_LOCKS: usize = 64;

pub struct CommandApi {
    aggregates: Aggregates,
    operator_token_digest: [u8; 32],
    company_locks: Vec<tokio::sync::Mutex<()>>,
    /// Orders, within this process, the commands that write one stream.
    stream_locks: locks::StreamLocks,
    /// Orders one user's sign-in attempts within this process (across processes, the
    /// conditional append on the user's stream still counts every attempt once).
    login_locks: Vec<tokio::sync::Mutex<()>>,
    /// Rate limits of the sign-in endpoints.
    limits: auth::Limits,
    /// The imports this process is running, so that none runs twice here.
    running_imports: std::sync::Mutex<std::collections::HashSet<Uuid>>,
}

/// Who is calling, as the bearer token says.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    /// A user whose password was set by an admin may only change it.
    pub must_change_password: bool,
}

impl Caller {
    /// No token: only commands whose body proves who acts (`ActivateAccount`).
    fn anonymous() -> Self {
        Caller { actor: Actor { kind: ActorKind::System, id: None }, must_change_password: false }
    }
}

impl CommandApi {
    /// `database` is the log's own: it also keeps the uploaded attachments and the sessions.
    pub fn new(log: Arc<dyn EventLog>, database: Database, operator_token: &str) -> Self {
        Self::with_settings(log, database, operator_token, Settings::default())
    }

    pub fn with_settings(
        log: Arc<dyn EventLog>,
        database: Database,
        operator_token: &str,
        settings: Settings,
    ) -> Self {
        let locks = || (0..COMPANY_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect();
        CommandApi {
            aggregates: Aggregates::new(
                log,
                database,
                settings,
                digest(format!("pin-key\n{operator_token}").as_bytes()),
            ),
            operator_token_digest: digest(operator_token.as_bytes()),
            company_locks: locks(),
            stream_locks: locks::StreamLocks::default(),
            login_locks: locks(),
            limits: auth::Limits::new(),
            running_imports: std::sync::Mutex::default(),
        }
    }

    /// Who the bearer token belongs to: the operator, or the user of a live session who may
    /// still sign in (not suspended, locked, deactivated or deleted since, and no password
    /// change since the session began).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
        // Comparing digests keeps the comparison's time independent of the token's prefix.
        if digest(token.as_bytes()) == self.operator_token_digest {
            return Ok(Caller { actor: Actor::operator(), must_change_password: false });
        }
        let now = Utc::now();
        let session = eventlog::find_session(&self.aggregates.database, &secrets::token_hash(token))
            .await?
            .filter(|session| session.is_live_at(now))
            .ok_or(ApiError::Unauthorized)?;
        let user = self.aggregates.users.refresh(self.aggregates.log.as_ref(), session.user_id).await?.state;
        let voided = user.sessions_valid_after.is_some_and(|after| session.created_at < after);
        // A lock stops new sign-ins, not the sessions already open: otherwise five wrong
        // passwords from anyone would throw the user out.
        let active =
            user.status_at(now) == domain::user::Status::Active && user.portal_access && user.activated;
        if voided || !active {
            return Err(ApiError::Unauthorized);
        }
        Ok(Caller { actor: Actor::user(session.user_id), must_change_password: user.must_change_password })
    }

    /// The operator, or 401/403: for what signed-in users may not reach yet (files, until
    /// per-company access control lands).
    pub async fn operator(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        let caller = self.authenticate(headers).await?;
        match caller.actor.kind {
            ActorKind::Operator => Ok(caller.actor),
            _ => Err(ApiError::Forbidden("only the operator may use this yet".to_owned())),
        }
    }

    /// Runs one command as `actor`; the in-process entry point the HTTP handler and the
    /// benchmark share.
    pub async fn execute(
        &self,
        command_type: &str,
        body: serde_json::Value,
        request: RequestInfo,
    ) -> Result<Outcome, ApiError> {
        let started = std::time::Instant::now();
        let outcome = self.execute_timed(command_type, body, request).await;
        // Labels from fixed sets only: an unknown command type is not a new time series.
        let command = COMMAND_TYPES
            .iter()
            .chain(INTERNAL_COMMAND_TYPES.iter())
            .find(|known| **known == command_type)
            .copied()
            .unwrap_or("unknown");
        let result = match &outcome {
            Ok(_) => "accepted",
            Err(error) => error.code(),
        };
        metrics::histogram!("portal_command_duration_seconds", "command" => command, "outcome" => result)
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    async fn execute_timed(
        &self,
        command_type: &str,
        body: serde_json::Value,
        request: RequestInfo,
    ) -> Result<Outcome, ApiError> {
        if !COMMAND_TYPES.contains(&command_type) && !INTERNAL_COMMAND_TYPES.contains(&command_type) {
            return Err(ApiError::UnknownCommand(command_type.to_owned()));
        }
        let idempotency = request.idempotency_key.as_ref().map(|key| Idempotency {
            scope: format!(
                "{}:{}:{command_type}",
                request.actor.kind.as_str(),
                request.actor.id.unwrap_or_default()
            ),
            key: key.clone(),
            request_hash: hex::encode(digest(format!("{command_type}\n{body}").as_bytes())),
        });
        if let Some(idempotency) = &idempotency
            && let Some(replayed) = self.replay(idempotency).await?
        {
            return Ok(replayed);
        }
        let context = Context { actor: request.actor.clone(), now: Utc::now() };
        let log = self.aggregates.log.as_ref();
        let mut company_lock = None;
        let mut stream_lock = None;
        for attempt in 1..=ATTEMPTS {
            // (An internal command's endpoint established who acts; it has no grant to check.)
            if attempt > 1
                && request.actor.kind == ActorKind::User
                && !INTERNAL_COMMAND_TYPES.contains(&command_type)
            {
                // The streams changed since the caller was authorized (a user moved to another
                // company, a role lost a right): authorize again against them as they are now.
                let caller = Caller { actor: request.actor.clone(), must_change_password: false };
                self.authorize(&caller, command_type, &body).await?;
            }
            let decision =
                commands::decide(&self.aggregates, command_type, body.clone(), &context, request.if_match)
                    .await?;
            if decision.writes.len() > 1
                && company_lock.is_none()
                && let Some(company_id) = decision.company_id
            {
                // Commands that share a company's streams would otherwise conflict with each
                // other on every attempt: one at a time per company. Free at once, the decision
                // stands (the append's version checks still catch a change since); after a wait
                // for another command, it is made again under the lock.
                let lock = stripe(&self.company_locks, company_id);
                if let Ok(guard) = lock.try_lock() {
                    company_lock = Some(guard);
                } else {
                    company_lock = Some(lock.lock().await);
                    continue;
                }
            }
            if let [write] = decision.writes.as_slice()
                && company_lock.is_none()
                && stream_lock.is_none()
            {
                // Another command of this process on the same stream would make the append
                // conflict, and this one be decided again after reading the stream: wait for
                // it instead, then decide again on the cache it brought up to date. (Not while
                // holding a company lock: a command holding a stream lock may still come to
                // wait for its company's lock, so the other way round could deadlock.)
                match self.stream_locks.try_lock(&write.stream_id) {
                    Ok(guard) => {
                        stream_lock = Some(guard);
                        // Free now, but another command may have finished on the stream between
                        // this decision and the lock: then the cache is ahead of the decision.
                        if let ExpectedVersion::Exact(expected) = write.expected
                            && self.aggregates.cached_version(&write.stream_id).is_some_and(|v| v != expected)
                        {
                            continue;
                        }
                    }
                    Err(held) => {
                        stream_lock = Some(held.lock().await);
                        continue;
                    }
                }
            }
            if decision.writes.is_empty() {
                return Ok(Outcome {
                    reply: Reply {
                        id: decision.target_id,
                        stream_id: decision.target_stream,
                        version: decision.version,
                        position: decision.position,
                        events: Vec::new(),
                    },
                    replayed: false,
                });
            }
            let target_stream = decision.target_stream.clone();
            let (append, remember) = decision.into_append(&request, context.now, idempotency.clone());
            match log.append(append).await {
                Ok(appended) => {
                    remember(&self.aggregates, &appended);
                    self.end_sessions_after(&appended).await;
                    let reply = Reply::from_appended(&appended).ok_or(ApiError::Internal)?;
                    return Ok(Outcome { reply, replayed: false });
                }
                Err(AppendError::VersionConflict { stream_id, .. })
                    if (request.if_match.is_none() || stream_id != target_stream) && attempt < ATTEMPTS =>
                {
                    // Another writer got there first: decide again on the stream as it is now.
                    metrics::counter!(RETRIES).increment(1);
                    self.aggregates.refresh_stream(&stream_id).await?;
                }
                Err(AppendError::IdempotencyKeyUsed) => {
                    // The same request, sent twice at once: answer as the first one was answered.
                    if let Some(idempotency) = &idempotency
                        && let Some(replayed) = self.replay(idempotency).await?
                    {
                        return Ok(replayed);
                    }
                    return Err(ApiError::IdempotencyKeyReused);
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(ApiError::Unavailable)
    }

    /// Makes a decision taken outside [`CommandApi::execute`] (the importer's chunks) ready to
    /// append, with the metadata of `request`: its personal data is sealed now, while the
    /// caller may still be appending the decision before it.
    pub(crate) async fn prepare_decision(
        &self,
        decision: plan::Decision,
        request: &RequestInfo,
        recorded_at: chrono::DateTime<Utc>,
    ) -> Result<PreparedDecision, ApiError> {
        let (append, remember) = decision.into_append(request, recorded_at, None);
        let append = self.aggregates.log.prepare(append).await?;
        Ok(PreparedDecision { append, remember })
    }

    /// Appends a prepared decision and brings the caches up to date when it is accepted. A
    /// conflict is not retried: the caller decides again; the stream that conflicted is read
    /// again first, so that it does.
    pub(crate) async fn append_decision(
        &self,
        PreparedDecision { append, remember }: PreparedDecision,
    ) -> Result<eventlog::Appended, ApiError> {
        match self.aggregates.log.append_prepared(append).await {
            Ok(appended) => {
                remember(&self.aggregates, &appended);
                Ok(appended)
            }
            Err(error) => {
                if let AppendError::VersionConflict { stream_id, .. } = &error {
                    metrics::counter!(RETRIES).increment(1);
                    self.aggregates.refresh_stream(stream_id).await?;
                }
                Err(error.into())
            }
        }
    }

    /// Ends the sessions of users an append suspended, deactivated, deleted or took portal
    /// access from, so that a later reactivation does not bring an old (maybe stolen) session
    /// back. (While the user is not active, `authenticate` refuses their sessions anyway.)
    async fn end_sessions_after(&self, appended: &eventlog::Appended) {
        for stream in &appended.streams {
            let Some((domain::user::CATEGORY, user_id)) = domain::parse_stream_id(&stream.stream_id) else {
                continue;
            };
            let ends = stream.events.iter().any(|event| {
                matches!(
                    event.event_type.as_str(),
                    "UserSuspended" | "UserDeactivated" | "UserDeleted" | "UserAccessChanged"
                )
            });
            if ends
                && let Err(error) =
                    eventlog::revoke_user_sessions(&self.aggregates.database, user_id, Utc::now()).await
            {
                tracing::error!(%error, %user_id, "sessions were not ended; they stay refused while the user is inactive");
            }
        }
    }

    async fn replay(&self, idempotency: &Idempotency) -> Result<Option<Outcome>, ApiError> {
        let Some(stored) = self.aggregates.log.idempotent_reply(&idempotency.scope, &idempotency.key).await?
        else {
            return Ok(None);
        };
        if stored.request_hash != idempotency.request_hash {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let reply = Reply::from_appended(&stored.reply).ok_or(ApiError::Internal)?;
        Ok(Some(Outcome { reply, replayed: true }))
    }
}

/// A decision made ready to append ([`CommandApi::prepare_decision`]).
pub(crate) struct PreparedDecision {
    append: eventlog::PreparedAppend,
    remember: plan::Remember,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Who sent a command and how: everything besides its body.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub actor: Actor,
    pub request_id: String,
    pub correlation_id: Uuid,
    pub idempotency_key: Option<String>,
    pub if_match: Option<i64>,
    /// Why, in the caller's words: the `reason` a command body may carry.
    pub reason: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestInfo {
    /// A request with fresh ids made for a user by the portal's `/auth` endpoints (the user a
    /// password, PIN or token proves is the events' actor).
    pub fn user(user_id: Uuid) -> Self {
        RequestInfo { actor: Actor::user(user_id), ..RequestInfo::system() }
    }

    /// A request with fresh ids made by the portal itself (its `/auth` endpoints).
    pub fn system() -> Self {
        RequestInfo { actor: Actor { kind: ActorKind::System, id: None }, ..RequestInfo::operator() }
    }

    /// A request with fresh ids, as the operator: for in-process callers.
    pub fn operator() -> Self {
        let id = Uuid::now_v7();
        RequestInfo {
            actor: Actor::operator(),
            request_id: id.to_string(),
            correlation_id: id,
            idempotency_key: None,
            if_match: None,
            reason: None,
            client_ip: None,
            user_agent: None,
        }
    }
}

pub struct Outcome {
    pub reply: Reply,
    pub replayed: bool,
}

/// `POST /commands/{CommandType}`, and the attachments' `POST /attachments` and
/// `GET /attachments/{id}` (with a limit of their own instead of [`BODY_LIMIT`]).
pub fn router(api: Arc<CommandApi>) -> Router {
    Router::new()
        .route("/commands/{command_type}", post(post_command))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(attachments::routes())
        .merge(imports::routes())
        .merge(auth::routes())
        .merge(totp::routes())
        .with_state(api)
}

#[tracing::instrument(skip_all, fields(command = %command_type))]
async fn post_command(
    State(api): State<Arc<CommandApi>>,
    Path(command_type): Path<String>,
    peer: auth::Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = request_id(&headers);
    let client_ip = auth::client_ip(peer).map(|ip| ip.to_string());
    let mut response = match handle(&api, &command_type, &headers, body, &request_id, client_ip).await {
        Ok(outcome) => {
            let etag = HeaderValue::from_str(&format!("\"{}\"", outcome.reply.version));
            let mut response = (StatusCode::OK, axum::Json(&outcome.reply)).into_response();
            if let Ok(etag) = etag {
                response.headers_mut().insert(header::ETAG, etag);
            }
            if outcome.replayed {
                response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            response
        }
        Err(error) => error.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn handle(
    api: &Arc<CommandApi>,
    command_type: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    request_id: &str,
    client_ip: Option<String>,
) -> Result<Outcome, ApiError> {
    let caller = match api.authenticate(headers).await {
        Ok(caller) => caller,
        Err(ApiError::Unauthorized) if ANONYMOUS_COMMAND_TYPES.contains(&command_type) => Caller::anonymous(),
        Err(error) => return Err(error),
    };
    if !COMMAND_TYPES.contains(&command_type) {
        return Err(ApiError::UnknownCommand(command_type.to_owned()));
    }
    permit(&caller, command_type)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: BODY_LIMIT },
        _ => ApiError::MalformedJson(rejection.body_text()),
    })?;
    let mut body: serde_json::Value =
        serde_json::from_slice(&body).map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    if !body.is_object() {
        return Err(ApiError::MalformedJson("the body must be a JSON object".to_owned()));
    }
    let reason = take_reason(command_type, &mut body)?;
    api.authorize(&caller, command_type, &body).await?;
    let request = RequestInfo {
        actor: caller.actor,
        request_id: request_id.to_owned(),
        correlation_id: Uuid::parse_str(request_id).unwrap_or_else(|_| Uuid::now_v7()),
        idempotency_key: idempotency_key(headers)?,
        if_match: if_match(headers)?,
        reason,
        client_ip,
        user_agent: user_agent(headers),
    };
    // Run detached: a client that hangs up mid-command must not stop it between its append
    // and the caches that remember it.
    let runner = Arc::clone(api);
    let command_type = command_type.to_owned();
    let outcome = tokio::spawn(async move { runner.execute(&command_type, body, request).await })
        .await
        .map_err(|_| ApiError::Internal)??;
    // A wrong old password in ChangePassword is recorded as a failed sign-in, then refused.
    let recorded = |kind: &str| outcome.reply.events.iter().any(|event| event.event_type == kind);
    if recorded("UserLocked") {
        return Err(api.locked(outcome.reply.id).await);
    }
    if recorded("LoginFailed") {
        return Err(ApiError::Refused {
            code: "wrong_password",
            message: "the current password is not right".to_owned(),
            details: None,
        });
    }
    Ok(outcome)
}

/// Longest `reason` a command may carry, in characters.
const REASON_LIMIT: usize = 500;
/// A `User-Agent` is kept up to this many characters.
const USER_AGENT_LIMIT: usize = 300;

/// The client's `User-Agent`, as events keep it.
pub(crate) fn user_agent(headers: &HeaderMap) -> Option<String> {
    let agent = headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok())?;
    Some(agent.chars().take(USER_AGENT_LIMIT).collect())
}

/// The optional `reason` of any command (why, in the caller's words; it goes into every event's
/// metadata). Taken out of the body, except for the commands whose own fields include it
/// (`SuspendUser`: the suspension's reason is also the user's state).
fn take_reason(command_type: &str, body: &mut serde_json::Value) -> Result<Option<String>, ApiError> {
    let Some(object) = body.as_object_mut() else { return Ok(None) };
    let value =
        if command_type == "SuspendUser" { object.get("reason").cloned() } else { object.remove("reason") };
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => {
            let text = text.trim();
            if text.chars().count() > REASON_LIMIT {
                return Err(ApiError::invalid_field("reason", "must be at most 500 characters"));
            }
            Ok(Some(text.to_owned()).filter(|text| !text.is_empty()))
        }
        Some(_) => Err(ApiError::invalid_field("reason", "must be a string")),
    }
}

/// What a caller may send, before the body is read. The operator: everything. A signed-in
/// user: only `ChangePassword` while an admin-set password waits to be changed (the rest is
/// decided by `access.rs`). No token: only the commands whose body proves who acts.
fn permit(caller: &Caller, command_type: &str) -> Result<(), ApiError> {
    match caller.actor.kind {
        ActorKind::Operator => Ok(()),
        ActorKind::User if caller.must_change_password && command_type != "ChangePassword" => {
            Err(ApiError::Forbidden(
                "the password an administrator set must be changed first (ChangePassword)".to_owned(),
            ))
        }
        // What their levels allow, on which companies: `access.rs`, once the body is read.
        ActorKind::User => Ok(()),
        ActorKind::System if ANONYMOUS_COMMAND_TYPES.contains(&command_type) => Ok(()),
        ActorKind::System => Err(ApiError::Unauthorized),
    }
}

/// The lock of `locks` that orders what concerns `id` (a company, a user) in this process.
pub(crate) fn stripe(locks: &[tokio::sync::Mutex<()>], id: Uuid) -> &tokio::sync::Mutex<()> {
    &locks[(id.as_u128() % locks.len() as u128) as usize]
}

/// The bearer token of a request, trimmed.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// The client's `X-Request-Id` when it is sensible, or a new one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 200 && id.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string())
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().map_err(|_| ApiError::InvalidHeader {
        header: "Idempotency-Key",
        problem: "must be visible ASCII".to_owned(),
    })?;
    if key.is_empty() || key.len() > 200 {
        return Err(ApiError::InvalidHeader {
            header: "Idempotency-Key",
            problem: "must be 1 to 200 characters".to_owned(),
        });
    }
    Ok(Some(key.to_owned()))
}

/// `If-Match: "3"` (or `3`, or a weak `W/"3"`): the version the client expects the target at.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let invalid = || ApiError::InvalidHeader {
        header: "If-Match",
        problem: "must be the stream version from an ETag, e.g. \"3\"".to_owned(),
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().ok().filter(|version| *version >= 0).map(Some).ok_or_else(invalid)
}
