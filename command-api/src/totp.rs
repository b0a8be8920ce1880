//! The authenticator app (RFC 6238 TOTP: 6 digits, 30-second steps, SHA-1, what every app
//! reads from a QR code) as a second factor.
//!
//! - `POST /auth/totp` (a user's session): a new secret, returned once as base32 and as an
//!   `otpauth://` URI for the QR code; the event log only gets it sealed with the user's vault
//!   key (`TotpEnrolled`).
//! - `POST /auth/totp/confirm {code}`: the app's first code turns it on (`TotpConfirmed`); from
//!   then on every sign-in asks for a code (`/auth/login` answers `channel: "TOTP"`), answered
//!   at `/auth/verify` like a PIN. A code is good once: its time step must be later than the
//!   last one accepted.
//! - `POST /commands/RemoveTotp {userId}`: the user, or an admin for a lost phone.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use domain::ActorKind;
use domain::user;
use serde_json::json;
use totp_rs::{Builder, Secret, Totp};
use uuid::Uuid;

use crate::auth::{detached, json_body};
use crate::dto::{self, parse};
use crate::error::ApiError;
use crate::{CommandApi, RequestInfo};

/// What authenticator apps show above the code.
const ISSUER: &str = "Portal";
/// 160 bits, the size RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

pub(crate) fn routes() -> Router<Arc<CommandApi>> {
    Router::new().route("/auth/totp", post(enroll)).route("/auth/totp/confirm", post(confirm))
}

/// Where the secret is sealed for: a sealed secret opens only as this user's TOTP secret.
fn purpose(user_id: Uuid) -> String {
    format!("totp:{}", domain::stream_id(user::CATEGORY, user_id))
}

fn totp(secret: Vec<u8>, account: &str) -> Result<Totp, ApiError> {
    Builder::new()
        .with_secret(Secret::from(secret))
        .with_issuer(Some(ISSUER.to_owned()))
        // An otpauth label may not hold a colon.
        .with_account_name(account.replace(':', "."))
        .build()
        .map_err(|error| {
            tracing::error!(%error, "an authenticator-app secret was refused");
            ApiError::Internal
        })
}

/// The six digits of a code, or 400 naming `field`.
fn six_digits<'a>(field: &str, code: &'a str) -> Result<&'a str, ApiError> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(ApiError::invalid_field(field, "must be the 6 digits the authenticator app shows"))
    }
}

/// The signed-in user the request is for: a session, not the operator's token.
async fn session_user(api: &CommandApi, headers: &HeaderMap) -> Result<Uuid, ApiError> {
    let caller = api.authenticate(headers).await?;
    match (caller.actor.kind, caller.actor.id) {
        (ActorKind::User, Some(_)) if caller.must_change_password => Err(ApiError::Forbidden(
            "the password an administrator set must be changed first (ChangePassword)".to_owned(),
        )),
        (ActorKind::User, Some(user_id)) => Ok(user_id),
        _ => Err(ApiError::Forbidden(
            "an authenticator app is enrolled by its user, signed in with their own session".to_owned(),
        )),
    }
}

async fn enroll(State(api): State<Arc<CommandApi>>, headers: HeaderMap) -> Response {
    detached(async move {
        let user_id = session_user(&api, &headers).await?;
        api.enroll_totp(user_id).await
    })
    .await
}

async fn confirm(
    State(api): State<Arc<CommandApi>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    detached(async move {
        let user_id = session_user(&api, &headers).await?;
        let body: dto::TotpCode = parse(json_body(body)?)?;
        let code = six_digits("code", &body.code)?.to_owned();
        api.limits.check_user(user_id)?;
        let user = api.aggregates.users.refresh(api.aggregates.log.as_ref(), user_id).await?.state;
        let step = api.totp_step(user_id, &user, &code).await?;
        let outcome = api
            .execute("ConfirmTotp", json!({ "userId": user_id, "step": step }), RequestInfo::user(user_id))
            .await?;
        Ok(json!({ "totpEnabled": true, "position": outcome.reply.position }))
    })
    .await
}

impl CommandApi {
    /// A new secret for the user's app: sealed into `TotpEnrolled`, and shown this once.
    async fn enroll_totp(&self, user_id: Uuid) -> Result<serde_json::Value, ApiError> {
        let user = self.aggregates.users.load(self.aggregates.log.as_ref(), user_id).await?.state;
        if user.has_totp() {
            // Refused before a key or secret is made for nothing (the domain refuses it too).
            return Err(domain::DomainError::rule(
                "totp_already_enrolled",
                "an authenticator app already signs this user in: remove it first",
            )
            .into());
        }
        let mut secret = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|_| ApiError::Internal)?;
        let sealed = eventlog::seal(&self.aggregates.database, user_id, &purpose(user_id), &secret).await?;
        let totp = totp(secret, &user.username)?;
        let body = json!({ "userId": user_id, "secret": sealed });
        let outcome = self.execute("EnrollTotp", body, RequestInfo::user(user_id)).await?;
        Ok(json!({
            "secret": totp.secret().to_base32(),
            "otpauthUri": totp.to_url().map_err(|_| ApiError::Internal)?,
            "issuer": ISSUER,
            "accountName": user.username,
            "digits": 6,
            "period": 30,
            "position": outcome.reply.position,
        }))
    }

    /// The time step a code from the user's app matches now (one step of clock drift either
    /// way), or `None`. Whether the step was already used is the domain's decision.
    pub(crate) async fn totp_step(
        &self,
        user_id: Uuid,
        user: &user::State,
        code: &str,
    ) -> Result<Option<u64>, ApiError> {
        let Some(factor) = &user.totp else {
            return Err(domain::DomainError::rule(
                "totp_not_enrolled",
                "no authenticator app is waiting to be confirmed",
            )
            .into());
        };
        let Ok(code) = six_digits("pin", code) else { return Ok(None) };
        let secret = eventlog::unseal(&self.aggregates.database, user_id, &purpose(user_id), &factor.secret)
            .await?
            .ok_or(ApiError::Internal)?;
        Ok(totp(secret, &user.username)?.check_current(code))
    }
}
