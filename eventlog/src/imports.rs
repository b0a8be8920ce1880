//! The rows of bulk imports still running (`import_jobs`), kept so that a process that dies
//! mid-import can go on where it stopped.
//!
//! Rows hold people's personal data and maybe passwords, so they are stored sealed with a vault
//! key of the import's own (the subject is the import's id). Finishing a job forgets its rows
//! and destroys that key: nothing of the file outlives the import but the users it made and
//! the results in its events.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::vault::{self, VaultError};
use crate::{Database, StoreError, with_reader, with_writer};

/// What `seal` binds the rows to: they open only as this import's rows.
fn purpose(import_id: Uuid) -> String {
    format!("import-rows:{import_id}")
}

/// Keeps the rows of a new import (`rows` is the caller's encoding), sealed.
pub async fn put_import_job(
    database: &Database,
    import_id: Uuid,
    company_id: Uuid,
    rows: &[u8],
    now: DateTime<Utc>,
) -> Result<(), VaultError> {
    let sealed = vault::seal(database, import_id, &purpose(import_id), rows).await?;
    with_writer!(database, |pool| {
        sqlx::query(
            "insert into import_jobs (import_id, company_id, rows, created_at) values ($1, $2, $3, $4)",
        )
        .bind(import_id)
        .bind(company_id)
        .bind(sealed)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The rows of an import not finished yet; `None` when there is no such job or it finished.
pub async fn import_job_rows(database: &Database, import_id: Uuid) -> Result<Option<Vec<u8>>, VaultError> {
    let sealed: Option<Option<String>> = with_reader!(database, |pool| {
        sqlx::query_scalar("select rows from import_jobs where import_id = $1")
            .bind(import_id)
            .fetch_optional(pool)
            .await?
    });
    let Some(Some(sealed)) = sealed else { return Ok(None) };
    vault::unseal(database, import_id, &purpose(import_id), &sealed).await
}

/// The imports whose jobs have not finished, oldest first, with when each was started.
pub async fn unfinished_import_jobs(database: &Database) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
    let jobs: Vec<(Uuid, DateTime<Utc>)> = with_reader!(database, |pool| {
        sqlx::query_as(
            "select import_id, created_at from import_jobs where rows is not null order by created_at",
        )
        .fetch_all(pool)
        .await?
    });
    Ok(jobs)
}

/// Forgets an import's rows and destroys their key; `false` if it was finished already.
pub async fn finish_import_job(
    database: &Database,
    import_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let finished = with_writer!(database, |pool| {
        sqlx::query(
            "update import_jobs set rows = null, finished_at = $2 where import_id = $1 and rows is not null",
        )
        .bind(import_id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    vault::shred(database, import_id, now).await?;
    Ok(finished > 0)
}
