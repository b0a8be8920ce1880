//! Files uploaded for support tickets, stored in the same database as the event log.
//!
//! An attachment is written once and never changed (the database refuses `update`); events
//! refer to it by id and carry its size and sha256, which the table's checks keep honest. An
//! upload nobody references is harmless. Deciding what may be uploaded is the domain's
//! (`domain::attachment`); this module only stores and reads.

use chrono::{DateTime, Utc};
use domain::{Actor, ActorKind};
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::{Database, StoreError, with_reader, with_writer};

/// An attachment's description, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub id: Uuid,
    /// The SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    pub content_type: String,
    pub file_name: String,
    /// In bytes.
    pub size: i64,
    pub uploaded_at: DateTime<Utc>,
    pub uploaded_by: Actor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub info: AttachmentInfo,
    pub bytes: Vec<u8>,
}

const INFO_COLUMNS: &str =
    "id, sha256, content_type, file_name, size, uploaded_at, uploaded_by_kind, uploaded_by_id";

#[derive(sqlx::FromRow)]
struct InfoRow {
    id: Uuid,
    sha256: String,
    content_type: String,
    file_name: String,
    size: i64,
    uploaded_at: DateTime<Utc>,
    uploaded_by_kind: String,
    uploaded_by_id: Option<Uuid>,
}

impl TryFrom<InfoRow> for AttachmentInfo {
    type Error = StoreError;

    fn try_from(row: InfoRow) -> Result<Self, StoreError> {
        let kind = ActorKind::parse(&row.uploaded_by_kind).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                format!("attachment {}: unknown uploader kind {:?}", row.id, row.uploaded_by_kind).into(),
            ))
        })?;
        Ok(AttachmentInfo {
            id: row.id,
            sha256: row.sha256,
            content_type: row.content_type,
            file_name: row.file_name,
            size: row.size,
            uploaded_at: row.uploaded_at,
            uploaded_by: Actor { kind, id: row.uploaded_by_id },
        })
    }
}

#[derive(sqlx::FromRow)]
struct BytesRow {
    #[sqlx(flatten)]
    info: InfoRow,
    bytes: Vec<u8>,
}

/// Stores a new attachment; `info.size` must be the length of `bytes` (the database checks).
#[tracing::instrument(skip_all, fields(id = %info.id, size = info.size))]
pub async fn put_attachment(
    database: &Database,
    info: &AttachmentInfo,
    bytes: &[u8],
) -> Result<(), StoreError> {
    with_writer!(database, |pool| {
        sqlx::query(
            "insert into attachments (id, sha256, content_type, file_name, size, bytes, uploaded_at, \
             uploaded_by_kind, uploaded_by_id) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(info.id)
        .bind(&info.sha256)
        .bind(&info.content_type)
        .bind(&info.file_name)
        .bind(info.size)
        .bind(bytes)
        .bind(info.uploaded_at)
        .bind(info.uploaded_by.kind.as_str())
        .bind(info.uploaded_by.id)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The attachment with its bytes, if there is one with that id.
pub async fn get_attachment(database: &Database, id: Uuid) -> Result<Option<Attachment>, StoreError> {
    let row: Option<BytesRow> = with_reader!(database, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {INFO_COLUMNS}, bytes from attachments where id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    row.map(|row| Ok(Attachment { info: row.info.try_into()?, bytes: row.bytes })).transpose()
}

/// The descriptions of the attachments with these ids that exist, in no particular order.
pub async fn describe_attachments(
    database: &Database,
    ids: &[Uuid],
) -> Result<Vec<AttachmentInfo>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<InfoRow> = with_reader!(database, |pool| {
        let mut query = QueryBuilder::new(format!("select {INFO_COLUMNS} from attachments where id in ("));
        let mut separated = query.separated(", ");
        for id in ids {
            separated.push_bind(*id);
        }
        query.push(")");
        query.build_query_as().fetch_all(pool).await?
    });
    rows.into_iter().map(AttachmentInfo::try_from).collect()
}
