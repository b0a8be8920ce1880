//! The outbox: notifications written in the same transaction as the events of the command
//! that sends them, and read back by the dispatcher that delivers them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Channel, Database, Notification, OutboxQuery, Secret, StoreError, StoredNotification, with_reader,
    with_writer,
};

const COLUMNS: &str = "select id, channel, recipient, template, body, secret_kind, secret, company_id, \
     subject, created_at, delivered_at, attempts, last_error from outbox";

/// The columns of one notification as the outbox stores them.
pub(crate) struct Columns<'a> {
    pub id: Uuid,
    pub channel: &'static str,
    pub recipient: &'a str,
    pub template: &'a str,
    pub body: &'a str,
    pub secret_kind: Option<&'static str>,
    pub secret: Option<&'a str>,
    pub company_id: Option<Uuid>,
    pub subject: Option<Uuid>,
}

impl<'a> Columns<'a> {
    pub fn of(notification: &'a Notification) -> Self {
        let (secret_kind, secret) = match &notification.secret {
            Some(Secret::Token(token)) => (Some("token"), Some(token.as_str())),
            Some(Secret::Pin(pin)) => (Some("pin"), Some(pin.as_str())),
            None => (None, None),
        };
        Columns {
            id: notification.id,
            channel: notification.channel.as_str(),
            recipient: &notification.recipient,
            template: &notification.template,
            body: &notification.body,
            secret_kind,
            secret,
            company_id: notification.company_id,
            subject: notification.subject,
        }
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: Uuid,
    channel: String,
    recipient: String,
    template: String,
    body: String,
    secret_kind: Option<String>,
    secret: Option<String>,
    company_id: Option<Uuid>,
    subject: Option<Uuid>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    attempts: i64,
    last_error: Option<String>,
}

impl TryFrom<OutboxRow> for StoredNotification {
    type Error = StoreError;

    fn try_from(row: OutboxRow) -> Result<Self, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { position: 0, reason };
        let channel = Channel::parse(&row.channel)
            .ok_or_else(|| corrupt(format!("outbox {}: unknown channel {:?}", row.id, row.channel)))?;
        let secret = match (row.secret_kind.as_deref(), row.secret) {
            (Some("token"), Some(value)) => Some(Secret::Token(value)),
            (Some("pin"), Some(value)) => Some(Secret::Pin(value)),
            // Delivered: the secret was wiped, its kind stays.
            (Some("token" | "pin"), None) | (None, None) => None,
            (kind, _) => return Err(corrupt(format!("outbox {}: secret kind {kind:?}", row.id))),
        };
        let carried_secret = row.secret_kind.is_some();
        Ok(StoredNotification {
            notification: Notification {
                id: row.id,
                channel,
                recipient: row.recipient,
                template: row.template,
                body: row.body,
                secret,
                company_id: row.company_id,
                subject: row.subject,
            },
            carried_secret,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
            attempts: row.attempts,
            last_error: row.last_error,
        })
    }
}

fn decode(rows: Vec<OutboxRow>) -> Result<Vec<StoredNotification>, StoreError> {
    rows.into_iter().map(StoredNotification::try_from).collect()
}

/// Appends the filter of `query` (after a `where true`) and its order and limit.
fn push_query<DB: sqlx::Database>(builder: &mut sqlx::QueryBuilder<DB>, query: &OutboxQuery)
where
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(recipient) = &query.recipient {
        builder.push(" and recipient = ").push_bind(recipient.clone());
    }
    if let Some(template) = &query.template {
        builder.push(" and template = ").push_bind(template.clone());
    }
    if query.pending {
        builder.push(" and delivered_at is null");
    }
    builder.push(" order by created_at, id limit ").push_bind(query.limit);
}

/// Notifications in the outbox, oldest first.
pub async fn outbox(database: &Database, query: &OutboxQuery) -> Result<Vec<StoredNotification>, StoreError> {
    let rows: Vec<OutboxRow> = with_reader!(database, |pool| {
        let mut builder = sqlx::QueryBuilder::new(COLUMNS);
        builder.push(" where true");
        push_query(&mut builder, query);
        builder.build_query_as().fetch_all(pool).await?
    });
    decode(rows)
}

/// Records a delivery attempt: `Ok` marks the notification delivered (and wipes its token or
/// PIN, which has done its job), `Err` counts a failure.
pub async fn outbox_attempted(
    database: &Database,
    id: Uuid,
    outcome: Result<(), String>,
) -> Result<(), StoreError> {
    let (delivered_at, error) = match outcome {
        Ok(()) => (Some(chrono::Utc::now()), None),
        Err(error) => (None, Some(error)),
    };
    with_writer!(database, |pool| {
        sqlx::query(
            "update outbox set attempts = attempts + 1, delivered_at = $2, last_error = $3, \
             secret = case when $2 is null then secret else null end where id = $1",
        )
        .bind(id)
        .bind(delivered_at)
        .bind(error)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Marks these notifications delivered at once (the file mailbox writes a batch with one
/// `fsync`), and wipes their secrets.
pub async fn outbox_delivered(database: &Database, ids: &[Uuid]) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    for ids in ids.chunks(500) {
        with_writer!(database, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "update outbox set attempts = attempts + 1, last_error = null, secret = null, delivered_at = ",
            );
            query.push_bind(now).push(" where id in (");
            let mut separated = query.separated(", ");
            for id in ids {
                separated.push_bind(*id);
            }
            query.push(")");
            query.build().execute(pool).await?;
        });
    }
    Ok(())
}
