//! Sign-in for portal users: `POST /auth/login`, `POST /auth/logout` and
//! `POST /auth/password-reset`.
//!
//! A sign-in attempt is recorded on the user's stream (`LoginFailed`, `UserLocked`,
//! `LoginSucceeded`) by one conditional append, so parallel wrong passwords cannot get past
//! the company's limit. A successful one opens a session: an opaque bearer token, stored only
//! as its hash.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use domain::{ActorKind, user};
use serde_json::json;
use uuid::Uuid;

use crate::dto::{self, parse};
use crate::error::ApiError;
use crate::{CommandApi, RequestInfo, secrets};

/// Sign-in attempts allowed per minute, per client address and per login (a burst of that
/// many, then one more every 60 / n seconds).
const ATTEMPTS_PER_IP: u32 = 300;
const ATTEMPTS_PER_LOGIN: u32 = 60;
/// Largest body of an `/auth` request: a login and a password.
const AUTH_BODY_LIMIT: usize = 16 * 1024;
/// The longest login kept as a rate-limit key (the longest email is 254 characters).
const MAX_LOGIN: usize = 320;

/// The rate limits of the `/auth` endpoints.
pub(crate) struct Limits {
    by_ip: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    by_login: governor::DefaultKeyedRateLimiter<String>,
    /// Per account, whatever spelling of the login was used (username, email, phone and
    /// extension), shared by passwords and PINs.
    by_user: governor::DefaultKeyedRateLimiter<Uuid>,
}

impl Limits {
    pub(crate) fn new() -> Self {
        let per_minute = |n: u32| {
            governor::Quota::per_minute(std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN))
        };
        Limits {
            by_ip: governor::RateLimiter::keyed(per_minute(ATTEMPTS_PER_IP)),
            by_login: governor::RateLimiter::keyed(per_minute(ATTEMPTS_PER_LOGIN)),
            by_user: governor::RateLimiter::keyed(per_minute(ATTEMPTS_PER_LOGIN)),
        }
    }

    /// 429 with `Retry-After` when the address or the login has used up its attempts.
    fn check(&self, ip: Option<std::net::IpAddr>, login: &str) -> Result<(), ApiError> {
        if let Some(ip) = ip {
            self.by_ip.check_key(&ip).map_err(too_many)?;
        }
        // A login longer than any username or email is not one: it only costs memory here.
        let login: String = login.trim().to_lowercase().chars().take(MAX_LOGIN).collect();
        self.by_login.check_key(&login).map_err(too_many)?;
        self.forget_idle();
        Ok(())
    }

    /// 429 when the account has used up its attempts.
    pub(crate) fn check_user(&self, user_id: Uuid) -> Result<(), ApiError> {
        self.by_user.check_key(&user_id).map_err(too_many)
    }

    /// Forgets keys that are back to a full allowance, so memory stays bounded.
    fn forget_idle(&self) {
        if self.by_login.len() > 10_000 || self.by_ip.len() > 10_000 || self.by_user.len() > 10_000 {
            self.by_login.retain_recent();
            self.by_ip.retain_recent();
            self.by_user.retain_recent();
        }
    }
}

/// The 429 for a used-up allowance, with how long until the next attempt.
fn too_many(
    not_until: governor::NotUntil<<governor::clock::DefaultClock as governor::clock::Clock>::Instant>,
) -> ApiError {
    use governor::clock::{Clock, DefaultClock};
    ApiError::RateLimited {
        retry_after: not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1) as i64,
    }
}

pub(crate) fn routes() -> Router<Arc<CommandApi>> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/password-reset", post(password_reset))
        .route("/auth/verify", post(verify))
        .layer(axum::extract::DefaultBodyLimit::max(AUTH_BODY_LIMIT))
}

pub(crate) fn json_body(body: Result<Bytes, BytesRejection>) -> Result<serde_json::Value, ApiError> {
    let body = body.map_err(|rejection| ApiError::MalformedJson(rejection.body_text()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::MalformedJson("the body must be a JSON object".to_owned()));
    }
    Ok(value)
}

/// The same answer for an unknown login and a wrong password.
fn login_failed() -> ApiError {
    ApiError::LoginFailed
}

/// The client's address, when the server knows it.
pub(crate) type Peer = Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>;

pub(crate) fn client_ip(peer: Peer) -> Option<std::net::IpAddr> {
    peer.map(|axum::Extension(axum::extract::ConnectInfo(address))| address.ip())
}

/// Where a sign-in step came from, for its events' metadata.
#[derive(Clone, Default)]
pub(crate) struct Origin {
    ip: Option<std::net::IpAddr>,
    user_agent: Option<String>,
}

impl Origin {
    fn of(peer: Peer, headers: &HeaderMap) -> Self {
        Origin { ip: client_ip(peer), user_agent: crate::user_agent(headers) }
    }

    /// A request as the user, from here.
    fn request(&self, user_id: Uuid) -> RequestInfo {
        RequestInfo {
            client_ip: self.ip.map(|ip| ip.to_string()),
            user_agent: self.user_agent.clone(),
            ..RequestInfo::user(user_id)
        }
    }
}

async fn login(
    State(api): State<Arc<CommandApi>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let origin = Origin::of(peer, &headers);
    detached(async move {
        let body: dto::Login = parse(json_body(body)?)?;
        api.limits.check(origin.ip, &body.login)?;
        api.sign_in(body, &origin).await
    })
    .await
}

async fn verify(
    State(api): State<Arc<CommandApi>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let origin = Origin::of(peer, &headers);
    detached(async move {
        let body: dto::Verify = parse(json_body(body)?)?;
        api.limits.check(origin.ip, &body.challenge_id.to_string())?;
        api.verify_pin(body, &origin).await
    })
    .await
}

/// Runs a sign-in step in a task of its own, like a command: a client hanging up must not cut
/// it between its append and its session. 200 with the reply, or the error.
pub(crate) async fn detached(
    step: impl std::future::Future<Output = Result<serde_json::Value, ApiError>> + Send + 'static,
) -> Response {
    match tokio::spawn(step).await.unwrap_or(Err(ApiError::Internal)) {
        Ok(reply) => (StatusCode::OK, axum::Json(reply)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn logout(State(api): State<Arc<CommandApi>>, headers: HeaderMap) -> Response {
    let outcome = async {
        let caller = api.authenticate(&headers).await?;
        if caller.actor.kind != ActorKind::User {
            return Err(ApiError::Forbidden("the operator token is not a session".to_owned()));
        }
        let token = crate::bearer(&headers).ok_or(ApiError::Unauthorized)?;
        eventlog::revoke_session(&api.aggregates.database, &secrets::token_hash(token), Utc::now()).await?;
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

/// A forgotten password: always 202, whether or not the login names someone, so the answer
/// tells nobody who has an account; the user, if any, gets a reset token by email.
async fn password_reset(
    State(api): State<Arc<CommandApi>>,
    peer: Peer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ip = client_ip(peer);
    let outcome = async {
        let body: dto::PasswordReset = parse(json_body(body)?)?;
        api.limits.check(ip, &body.login)?;
        if let Some(user_id) = api.user_by_login(&body.login).await? {
            let request = RequestInfo::system();
            let result = api.execute("RequestPasswordReset", json!({ "userId": user_id }), request).await;
            if let Err(error) = result {
                // A deleted user, say: the caller learns nothing either way.
                tracing::info!(code = error.code(), "a password reset was not issued");
            }
        }
        Ok::<_, ApiError>(())
    }
    .await;
    match outcome {
        Ok(()) => (StatusCode::ACCEPTED, axum::Json(json!({ "accepted": true }))).into_response(),
        Err(error) => error.into_response(),
    }
}

impl CommandApi {
    /// The user a login names: a username, an email, or a company's main phone number and an
    /// extension (`+14155550100 x101`, `+14155550100#101` or `+14155550100,101`).
    pub(crate) async fn user_by_login(&self, login: &str) -> Result<Option<Uuid>, ApiError> {
        let login = login.trim();
        let log = self.aggregates.log.as_ref();
        let claim = if let Some((phone, extension)) = split_phone_login(login) {
            let Ok(phone) = domain::phone::normalize(phone) else { return Ok(None) };
            let Some((_, company_id)) = log
                .claim_owner(&domain::company::main_phone_claim(&phone))
                .await?
                .as_deref()
                .and_then(domain::parse_stream_id)
            else {
                return Ok(None);
            };
            user::extension_claim(company_id, extension)
        } else if login.contains('@') {
            user::email_claim(login)
        } else {
            user::username_claim(login)
        };
        let owner = log.claim_owner(&claim).await?;
        Ok(owner
            .as_deref()
            .and_then(domain::parse_stream_id)
            .filter(|(c, _)| *c == user::CATEGORY)
            .map(|(_, id)| id))
    }

    /// Signs in in process, as `POST /auth/login` does for a caller without an address: the
    /// per-login rate limit, then the argon2 check, the recorded attempt and a new session.
    /// Answers the same JSON (`sessionToken`, `expiresAt`, `userId`, `mustChangePassword`).
    /// `portal bench` measures sign-ins through it.
    pub async fn login(&self, login: &str, password: &str) -> Result<serde_json::Value, ApiError> {
        self.limits.check(None, login)?;
        let body = dto::Login { login: login.to_owned(), password: password.to_owned() };
        self.sign_in(body, &Origin::default()).await
    }

    async fn sign_in(&self, body: dto::Login, origin: &Origin) -> Result<serde_json::Value, ApiError> {
        let user_id = self.user_by_login(&body.login).await?;
        let hash = match user_id {
            Some(id) => {
                self.aggregates.users.refresh(self.aggregates.log.as_ref(), id).await?.state.password_hash
            }
            None => None,
        };
        // Checked whether or not the user exists, so both answers take as long.
        let password_ok = secrets::verify_password(body.password.clone(), hash.clone()).await;
        let Some(user_id) = user_id else { return Err(login_failed()) };
        self.limits.check_user(user_id)?;
        let _serialised = crate::stripe(&self.login_locks, user_id).lock().await;
        let request = origin.request(user_id);
        let outcome = self
            .execute("RecordLogin", json!({ "userId": user_id, "passwordOk": password_ok }), request)
            .await
            .map_err(|error| match error {
                ApiError::Refused { code: "account_locked", details, .. } => ApiError::Locked {
                    retry_after: details.as_ref().and_then(|d| d["retryAfterSeconds"].as_i64()).unwrap_or(60),
                },
                ApiError::Refused { code: "account_inactive", message, .. } => {
                    ApiError::AccountInactive(message)
                }
                // No user behind the login's stream, or a deleted one: as if it did not exist.
                ApiError::NotFound { .. } | ApiError::Refused { code: "user_deleted", .. } => login_failed(),
                other => other,
            })?;
        let types: Vec<&str> = outcome.reply.events.iter().map(|e| e.event_type.as_str()).collect();
        if types.contains(&"UserLocked") {
            return Err(self.locked(user_id).await);
        }
        if types.contains(&"TwoFactorChallenged") {
            let user = self.aggregates.users.load(self.aggregates.log.as_ref(), user_id).await?.state;
            let challenge = user.pending_challenge.ok_or(ApiError::Internal)?;
            if user.password_hash.as_deref().is_some_and(secrets::needs_rehash) {
                self.rehash(user_id, body.password).await;
            }
            return Ok(json!({
                "mfaRequired": true,
                "challengeId": challenge.challenge_id,
                "channel": challenge.channel,
                "expiresAt": challenge.expires_at,
            }));
        }
        if !types.contains(&"LoginSucceeded") {
            return Err(login_failed());
        }
        let user = self.aggregates.users.load(self.aggregates.log.as_ref(), user_id).await?.state;
        if user.password_hash.as_deref().is_some_and(secrets::needs_rehash) {
            self.rehash(user_id, body.password).await;
        }
        self.open_session(user_id).await
    }

    /// A new session for a user who just signed in.
    async fn open_session(&self, user_id: Uuid) -> Result<serde_json::Value, ApiError> {
        let token = secrets::new_token()?;
        let user = self.aggregates.users.load(self.aggregates.log.as_ref(), user_id).await?.state;
        // The session begins when the sign-in was decided, so a password change recorded after
        // it (even before this row is written) ends it.
        let now = user.last_login_at.unwrap_or_else(Utc::now);
        let session = eventlog::Session {
            token_hash: secrets::token_hash(&token),
            user_id,
            company_id: user.company_id,
            created_at: now,
            expires_at: now + self.aggregates.settings.session_ttl,
            revoked_at: None,
        };
        eventlog::create_session(&self.aggregates.database, &session).await?;
        Ok(json!({
            "sessionToken": token,
            "expiresAt": session.expires_at,
            "userId": user_id,
            "mustChangePassword": user.must_change_password,
        }))
    }

    /// The second step of a sign-in with a PIN by SMS.
    async fn verify_pin(&self, body: dto::Verify, origin: &Origin) -> Result<serde_json::Value, ApiError> {
        let log = self.aggregates.log.as_ref();
        let owner = log.claim_owner(&user::challenge_claim(body.challenge_id)).await?;
        let Some((_, user_id)) = owner.as_deref().and_then(domain::parse_stream_id) else {
            return Err(ApiError::from(domain::DomainError::rule(
                "invalid_challenge",
                "the sign-in this PIN was for is over (used, replaced, or too many wrong PINs): sign in again",
            )));
        };
        self.limits.check_user(user_id)?;
        let _serialised = crate::stripe(&self.login_locks, user_id).lock().await;
        let user = self.aggregates.users.refresh(log, user_id).await?.state;
        let pending = user.pending_challenge.as_ref().filter(|c| c.challenge_id == body.challenge_id);
        let (pin_ok, totp_step) = match pending.map(|c| c.channel) {
            Some(user::SecondFactor::Totp) if user.has_totp() => {
                let step = self.totp_step(user_id, &user, &body.pin).await?;
                (step.is_some(), step)
            }
            Some(user::SecondFactor::Sms) => {
                let expected = pending.map(|c| c.pin_hash.as_str()).unwrap_or_default();
                let ok = !expected.is_empty()
                    && secrets::pin_hash(&self.aggregates.pin_key, body.challenge_id, &body.pin) == expected;
                (ok, None)
            }
            // No such challenge (the domain says so), or an app no longer there.
            _ => (false, None),
        };
        let request = origin.request(user_id);
        let body = json!({
            "userId": user_id,
            "challengeId": body.challenge_id,
            "pinOk": pin_ok,
            "totpStep": totp_step,
        });
        let outcome = self.execute("VerifyPin", body, request).await?;
        if outcome.reply.events.iter().any(|e| e.event_type == "LoginSucceeded") {
            return self.open_session(user_id).await;
        }
        if outcome.reply.events.iter().any(|e| e.event_type == "UserLocked") {
            return Err(self.locked(user_id).await);
        }
        Err(ApiError::PinFailed)
    }

    /// The 429 for a user just locked: how long until the lock ends.
    pub(crate) async fn locked(&self, user_id: Uuid) -> ApiError {
        let until = match self.aggregates.users.load(self.aggregates.log.as_ref(), user_id).await {
            Ok(user) => user.state.locked_until.unwrap_or_else(Utc::now),
            Err(error) => return error,
        };
        ApiError::Locked { retry_after: (until - Utc::now()).num_seconds().max(1) }
    }

    /// Stores the password again with today's parameters, after a successful sign-in.
    async fn rehash(&self, user_id: Uuid, password: String) {
        let Ok(password_hash) = secrets::hash_password(password).await else { return };
        let request = RequestInfo::user(user_id);
        let body = json!({ "userId": user_id, "passwordHash": password_hash });
        if let Err(error) = self.execute("RehashPassword", body, request).await {
            tracing::warn!(code = error.code(), "a password hash was not upgraded");
        }
    }
}

/// `+14155550100 x101` → (`+14155550100`, `101`): a phone number then a 3 or 4 digit extension.
fn split_phone_login(login: &str) -> Option<(&str, &str)> {
    let (phone, extension) = login.rsplit_once(['x', 'X', '#', ',', ';'])?;
    let extension = extension.trim();
    let phone = phone.trim().trim_end_matches(|c: char| c == ' ' || c.eq_ignore_ascii_case(&'e') || c == 't');
    let phone_like = phone.starts_with('+') || phone.chars().next().is_some_and(|c| c.is_ascii_digit());
    ((3..=4).contains(&extension.len()) && extension.chars().all(|c| c.is_ascii_digit()) && phone_like)
        .then_some((phone.trim(), extension))
}

#[cfg(test)]
mod tests {
    use super::split_phone_login;

    #[test]
    fn a_main_phone_and_an_extension_are_one_login() {
        assert_eq!(split_phone_login("+14155550100 x101"), Some(("+14155550100", "101")));
        assert_eq!(split_phone_login("+1 415 555 0100#2001"), Some(("+1 415 555 0100", "2001")));
        assert_eq!(split_phone_login("14155550100,101"), Some(("14155550100", "101")));
        assert_eq!(split_phone_login("alex"), None);
        assert_eq!(split_phone_login("max@example.com"), None);
        assert_eq!(split_phone_login("+14155550100 x12"), None);
    }
}
