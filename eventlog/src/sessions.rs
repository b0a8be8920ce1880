//! Sign-in sessions, kept beside the log: an opaque bearer token, stored only as its hash,
//! with an expiry, revocable one by one. Whether its user may still act is decided from the
//! user's events by the command API, not here.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Database, StoreError, with_reader, with_writer};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub token_hash: String,
    pub user_id: Uuid,
    pub company_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Not revoked and not expired at `now`.
    pub fn is_live_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

pub async fn create_session(database: &Database, session: &Session) -> Result<(), StoreError> {
    with_writer!(database, |pool| {
        sqlx::query(
            "insert into sessions (token_hash, user_id, company_id, created_at, expires_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(&session.token_hash)
        .bind(session.user_id)
        .bind(session.company_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn find_session(database: &Database, token_hash: &str) -> Result<Option<Session>, StoreError> {
    let session = with_reader!(database, |pool| {
        sqlx::query_as(
            "select token_hash, user_id, company_id, created_at, expires_at, revoked_at from sessions \
             where token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    });
    Ok(session)
}

/// Ends one session; `false` if there was no live session with that token.
pub async fn revoke_session(
    database: &Database,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let revoked = with_writer!(database, |pool| {
        sqlx::query("update sessions set revoked_at = $2 where token_hash = $1 and revoked_at is null")
            .bind(token_hash)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(revoked > 0)
}

/// Ends every live session of a user (suspended, deactivated, deleted, or without portal
/// access: a later reactivation does not bring a session back). Returns how many ended.
pub async fn revoke_user_sessions(
    database: &Database,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let revoked = with_writer!(database, |pool| {
        sqlx::query("update sessions set revoked_at = $2 where user_id = $1 and revoked_at is null")
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(revoked)
}
