//! The event log: the port every other part of the portal writes and reads history through,
//! and its two adapters, SQLite (embedded default) and Postgres (production).
//!
//! Invariants every adapter keeps (the contract tests in `tests/contract.rs` check them):
//! - an append is all or nothing: every stream write, claim change and idempotency record of
//!   one [`AppendRequest`] commits together, or none does;
//! - a stream's versions are 1, 2, 3… without gaps; an append whose expected version is not the
//!   stream's version fails with [`AppendError::VersionConflict`] and writes nothing;
//! - a claim key has at most one owner; taking a taken key fails with [`AppendError::ClaimTaken`];
//! - [`EventLog::read_all`] returns events in one total order (the [`Checkpoint`] order) and never
//!   skips an event, even one whose transaction commits after a later one;
//! - stored events are never updated or deleted (the database refuses it);
//! - the notifications of an append are in the outbox if and only if its events are stored.
//!
//! Beside the log, the same database keeps the files uploaded for support tickets
//! ([`put_attachment`], [`get_attachment`]): written once, never changed; and the key vault
//! ([`seal`], [`unseal`], [`shred`]): a key per user for what events carry sealed.

mod attachments;
mod chain;
mod database;
mod imports;
mod outbox;
mod personal;
mod postgres;
mod row;
mod seal;
mod sessions;
mod sqlite;
mod types;
mod vault;

pub use attachments::{Attachment, AttachmentInfo, describe_attachments, get_attachment, put_attachment};
pub use chain::{EventContent, canonical_json};
pub use database::{Backend, Database, postgres_options};
pub use imports::{finish_import_job, import_job_rows, put_import_job, unfinished_import_jobs};
pub use outbox::{outbox, outbox_attempted, outbox_delivered};
pub use personal::{ERASED, PersonalData, open as open_personal_data};
pub use postgres::{PostgresEventLog, WriterStats, audit_on, writer_stats};
pub use seal::{
    BrokenLink, GENESIS, SEAL_EVERY, Seal, SealError, Sealer, Verification, access_history, events_after,
    last_seal, next_head, verify,
};
pub use sessions::{Session, create_session, find_session, revoke_session, revoke_user_sessions};
pub use sqlite::SqliteEventLog;
pub use types::*;
pub use vault::{VaultError, seal, shred, unseal};

use async_trait::async_trait;
use tokio::sync::watch;

#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends atomically; concurrent calls are grouped into shared transactions.
    async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError>;

    /// Does now what [`EventLog::append`] does to a request before it stores it (seals its
    /// personal data), so that a caller with a run of large appends (the importer) prepares
    /// the next one while the last one commits. Append the result with
    /// [`EventLog::append_prepared`] on the same log.
    async fn prepare(&self, request: AppendRequest) -> Result<PreparedAppend, AppendError> {
        Ok(PreparedAppend(request))
    }

    /// Appends a request made ready by [`EventLog::prepare`].
    async fn append_prepared(&self, prepared: PreparedAppend) -> Result<Appended, AppendError> {
        self.append(prepared.0).await
    }

    /// The events of one stream with a version above `after_version`, in version order.
    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events after `after`, in checkpoint order, without gaps.
    async fn read_all(&self, after: Checkpoint, limit: i64) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Like [`EventLog::read_all`], but only the events of streams of `categories` (`user`,
    /// `role`…), with the checkpoint the read reached: past every event, of any category, that
    /// it passed over. Resuming from that checkpoint skips nothing of those categories, and a
    /// reader of a few categories does not decode everyone else's events.
    async fn read_all_of(
        &self,
        after: Checkpoint,
        limit: i64,
        categories: &[&str],
    ) -> Result<(Vec<RecordedEvent>, Checkpoint), StoreError>;

    /// The checkpoint of the event stored at `position`, if there is one.
    async fn checkpoint_of(&self, position: i64) -> Result<Option<Checkpoint>, StoreError>;

    /// The reply stored with an idempotency key, if a request with that key was accepted.
    async fn idempotent_reply(&self, scope: &str, key: &str) -> Result<Option<StoredReply>, StoreError>;

    /// The stream that holds a uniqueness claim (`username:alice` → `user-<id>`), if any.
    async fn claim_owner(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// The streams that hold these claims, in one query; a key nobody holds is absent.
    async fn claim_owners(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError>;

    /// Events matching an audit filter, in checkpoint order, after `query.after`.
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The events of one stream recorded at or before an instant.
    async fn read_stream_until(
        &self,
        stream_id: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Changes whenever this process commits new events (its value is the last position).
    fn subscribe(&self) -> watch::Receiver<i64>;

    /// The log as stored, personal fields still sealed: what the hash chain covers, so what
    /// the sealer and verification read. (The adapters return themselves; [`PersonalData`]
    /// the adapter it wraps.)
    fn stored(&self) -> &dyn EventLog;
}

#[cfg(feature = "testing")]
pub mod testing;
