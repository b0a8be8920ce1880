//! The embedded adapter. One writer task owns the single write connection and commits every
//! request queued while the previous transaction ran in one transaction (group commit); each
//! request runs inside a savepoint, so a refused request leaves no trace and the others commit.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};

use crate::row::{EVENT_COLUMNS, EventRow, into_events, push_audit_filter};
use crate::{
    AppendError, AppendRequest, Appended, AuditQuery, Checkpoint, EventLog, RecordedEvent, StoreError,
    StoredReply,
};

const MAX_BATCH: usize = 256;

type Job = (AppendRequest, oneshot::Sender<Result<Appended, AppendError>>);

pub struct SqliteEventLog {
    read: SqlitePool,
    jobs: mpsc::Sender<Job>,
    head: watch::Receiver<i64>,
}

fn select_events() -> String {
    format!("select {} from events", EVENT_COLUMNS.replace("$TX", "position"))
}

impl SqliteEventLog {
    pub fn start(read: SqlitePool, write: SqlitePool) -> Self {
        let (jobs, receiver) = mpsc::channel(4 * MAX_BATCH);
        let (head_sender, head) = watch::channel(0);
        tokio::spawn(writer(write, receiver, head_sender));
        SqliteEventLog { read, jobs, head }
    }
}

async fn writer(pool: SqlitePool, mut receiver: mpsc::Receiver<Job>, head: watch::Sender<i64>) {
    match sqlx::query_scalar::<_, Option<i64>>("select max(position) from events").fetch_one(&pool).await {
        Ok(position) => head.send_replace(position.unwrap_or(0)),
        Err(error) => {
            tracing::error!(%error, "cannot read the event log head");
            0
        }
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = commit_batch(&pool, &batch).await;
        if let Some(last) = results.iter().filter_map(|r| r.as_ref().ok()?.last_position()).max() {
            head.send_replace(last);
        }
        for ((_, reply), result) in batch.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

async fn commit_batch(pool: &SqlitePool, batch: &[Job]) -> Vec<Result<Appended, AppendError>> {
    let fail_all = |error: sqlx::Error| -> Vec<Result<Appended, AppendError>> {
        let message = error.to_string();
        batch
            .iter()
            .map(|_| Err(AppendError::Store(StoreError::Database(sqlx::Error::Protocol(message.clone())))))
            .collect()
    };
    let mut transaction = match pool.begin_with("begin immediate").await {
        Ok(transaction) => transaction,
        Err(error) => return fail_all(error),
    };
    let mut results = Vec::with_capacity(batch.len());
    for (request, _) in batch {
        if let Err(error) = sqlx::query("savepoint request").execute(&mut *transaction).await {
            return fail_all(error);
        }
        let result = append_one(&mut transaction, request).await;
        let end = if result.is_ok() { "release request" } else { "rollback to request; release request" };
        if let Err(error) = sqlx::raw_sql(end).execute(&mut *transaction).await {
            return fail_all(error);
        }
        results.push(result);
    }
    match transaction.commit().await {
        Ok(()) => results,
        Err(error) => fail_all(error),
    }
}

/// Rows per multi-row statement: SQLite takes at most 32,766 parameters (events bind 17 each).
const ROWS_PER_STATEMENT: usize = 1000;

/// The newest version and hash of each of these streams that has events, in one query per
/// 1,000 streams.
async fn heads_of<'s>(
    connection: &mut SqliteConnection,
    streams: impl Iterator<Item = &'s str>,
) -> Result<std::collections::HashMap<String, (i64, Option<String>)>, sqlx::Error> {
    let streams: Vec<&str> = streams.collect();
    let mut heads = std::collections::HashMap::with_capacity(streams.len());
    for streams in streams.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "select e.stream_id, e.version, e.hash from events e join (select stream_id, max(version) as version \
             from events where stream_id in (",
        );
        let mut separated = query.separated(", ");
        for stream in streams {
            separated.push_bind(*stream);
        }
        query.push(
            ") group by stream_id) newest on e.stream_id = newest.stream_id and e.version = newest.version",
        );
        let rows: Vec<(String, i64, Option<String>)> =
            query.build_query_as().fetch_all(&mut *connection).await?;
        heads.extend(rows.into_iter().map(|(stream, version, hash)| (stream, (version, hash))));
    }
    Ok(heads)
}

/// Takes the request's claims; the first one another stream holds (or that the request takes
/// twice) refuses the request.
async fn take_claims(connection: &mut SqliteConnection, request: &AppendRequest) -> Result<(), AppendError> {
    if let Some(key) = request.key_acquired_twice() {
        return Err(AppendError::ClaimTaken { key: key.to_owned() });
    }
    let wanted: Vec<(&str, &str)> = request.acquisitions().collect();
    let mut taken = std::collections::HashSet::with_capacity(wanted.len());
    for chunk in wanted.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new("insert into claims (claim_key, owner_stream) ");
        query.push_values(chunk, |mut row, (key, owner)| {
            row.push_bind(*key).push_bind(*owner);
        });
        query.push(" on conflict do nothing returning claim_key");
        let keys: Vec<String> = query.build_query_scalar().fetch_all(&mut *connection).await?;
        taken.extend(keys);
    }
    match wanted.iter().find(|(key, _)| !taken.contains(*key)) {
        Some((key, _)) => Err(AppendError::ClaimTaken { key: (*key).to_owned() }),
        None => Ok(()),
    }
}

/// Inserts the events (stream, version, event, hash) with the request's metadata; their
/// positions, in the same order.
async fn insert_events(
    connection: &mut SqliteConnection,
    rows: &[(&str, i64, &crate::NewEvent, String)],
    metadata: &crate::Metadata,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut positions = std::collections::HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "insert into events (stream_id, version, event_id, event_type, schema_version, data, company_id, \
             actor_kind, actor_id, correlation_id, causation_id, request_id, recorded_at, hash, reason, client_ip, \
             user_agent) ",
        );
        query.push_values(chunk, |mut row, (stream_id, version, event, hash)| {
            row.push_bind(*stream_id)
                .push_bind(*version)
                .push_bind(event.event_id)
                .push_bind(&event.event_type)
                .push_bind(event.schema_version)
                .push_bind(&event.data)
                .push_bind(metadata.company_id)
                .push_bind(metadata.actor.kind.as_str())
                .push_bind(metadata.actor.id)
                .push_bind(metadata.correlation_id)
                .push_bind(metadata.causation_id)
                .push_bind(&metadata.request_id)
                .push_bind(metadata.recorded_at)
                .push_bind(hash)
                .push_bind(&metadata.reason)
                .push_bind(&metadata.client_ip)
                .push_bind(&metadata.user_agent);
        });
        // The order RETURNING gives rows in is not promised: they are matched by their key.
        query.push(" returning stream_id, version, position");
        let returned: Vec<(String, i64, i64)> = query.build_query_as().fetch_all(&mut *connection).await?;
        positions
            .extend(returned.into_iter().map(|(stream, version, position)| ((stream, version), position)));
    }
    rows.iter()
        .map(|(stream_id, version, _, _)| {
            positions.get(&((*stream_id).to_owned(), *version)).copied().ok_or_else(|| {
                sqlx::Error::Protocol(format!("no position came back for {stream_id} v{version}"))
            })
        })
        .collect()
}

/// Inserts an append's notifications into the outbox.
async fn insert_notifications(
    connection: &mut SqliteConnection,
    notifications: &[crate::Notification],
    created_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for chunk in notifications.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "insert into outbox (id, channel, recipient, template, body, secret_kind, secret, company_id, created_at, \
             subject) ",
        );
        query.push_values(chunk, |mut row, notification| {
            let columns = crate::outbox::Columns::of(notification);
            row.push_bind(columns.id)
                .push_bind(columns.channel)
                .push_bind(columns.recipient.to_owned())
                .push_bind(columns.template.to_owned())
                .push_bind(columns.body.to_owned())
                .push_bind(columns.secret_kind)
                .push_bind(columns.secret.map(str::to_owned))
                .push_bind(columns.company_id)
                .push_bind(created_at)
                .push_bind(columns.subject);
        });
        query.build().execute(&mut *connection).await?;
    }
    Ok(())
}

async fn append_one(
    connection: &mut SqliteConnection,
    request: &AppendRequest,
) -> Result<Appended, AppendError> {
    if let Some(idempotency) = &request.idempotency {
        let inserted = sqlx::query(
            "insert into idempotency_keys (scope, key, request_hash) values ($1, $2, $3) on conflict do nothing",
        )
        .bind(&idempotency.scope)
        .bind(&idempotency.key)
        .bind(&idempotency.request_hash)
        .execute(&mut *connection)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(AppendError::IdempotencyKeyUsed);
        }
    }
    let stream_heads =
        heads_of(connection, request.writes.iter().map(|write| write.stream_id.as_str())).await?;
    let mut versions_before = Vec::with_capacity(request.writes.len());
    let mut heads = Vec::with_capacity(request.writes.len());
    for write in &request.writes {
        let (actual, hash) = stream_heads.get(write.stream_id.as_str()).cloned().unwrap_or((0, None));
        if !write.expected.allows(actual) {
            return Err(write.conflict(actual));
        }
        versions_before.push(actual);
        heads.push(hash);
    }
    for (key, owner) in request.releases() {
        sqlx::query("delete from claims where claim_key = $1 and owner_stream = $2")
            .bind(key)
            .bind(owner)
            .execute(&mut *connection)
            .await?;
    }
    take_claims(connection, request).await?;
    let metadata = &request.metadata;
    let mut rows = Vec::with_capacity(request.event_count());
    for ((write, before), head) in request.writes.iter().zip(&versions_before).zip(&heads) {
        let hashes =
            crate::chain::chain_write(head.as_deref(), &write.stream_id, before + 1, &write.events, metadata);
        for ((offset, event), hash) in write.events.iter().enumerate().zip(hashes) {
            rows.push((write.stream_id.as_str(), before + 1 + offset as i64, event, hash));
        }
    }
    let positions = insert_events(connection, &rows, metadata).await?;
    insert_notifications(connection, &request.notifications, metadata.recorded_at).await?;
    for chunk in request.new_keys.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new("insert into vault_keys (subject, key, created_at) ");
        query.push_values(chunk, |mut row, (subject, key)| {
            row.push_bind(*subject).push_bind(key.as_slice()).push_bind(metadata.recorded_at);
        });
        query.build().execute(&mut *connection).await?;
    }
    for subject in &request.erase {
        let shred = format!(
            "insert into vault_keys (subject, key, created_at, shredded_at) values ($1, null, $2, $2) {}",
            crate::vault::SHRED_ON_CONFLICT
        );
        sqlx::query(AssertSqlSafe(shred))
            .bind(subject)
            .bind(metadata.recorded_at)
            .execute(&mut *connection)
            .await?;
        sqlx::query("delete from outbox where subject = $1").bind(subject).execute(&mut *connection).await?;
    }
    let appended = request.accepted(&positions, &versions_before);
    if let Some(idempotency) = &request.idempotency {
        sqlx::query("update idempotency_keys set reply = $3 where scope = $1 and key = $2")
            .bind(&idempotency.scope)
            .bind(&idempotency.key)
            .bind(sqlx::types::Json(&appended))
            .execute(&mut *connection)
            .await?;
    }
    Ok(appended)
}

#[async_trait]
impl EventLog for SqliteEventLog {
    async fn append(&self, mut request: AppendRequest) -> Result<Appended, AppendError> {
        // Stored, and hashed, in microseconds: what both backends keep.
        request.metadata.recorded_at = request.metadata.recorded_at.trunc_subsecs(6);
        let (reply, answer) = oneshot::channel();
        self.jobs.send((request, reply)).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{} where stream_id = $1 and version > $2 order by version", select_events());
        let rows: Vec<EventRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(stream_id)
            .bind(after_version)
            .fetch_all(&self.read)
            .await?;
        into_events(rows)
    }

    async fn read_stream_until(
        &self,
        stream_id: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{} where stream_id = $1 and recorded_at <= $2 order by version", select_events());
        let rows: Vec<EventRow> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(stream_id).bind(until).fetch_all(&self.read).await?;
        into_events(rows)
    }

    async fn read_all(&self, after: Checkpoint, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{} where position > $1 order by position limit $2", select_events());
        let rows: Vec<EventRow> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(after.position).bind(limit).fetch_all(&self.read).await?;
        into_events(rows)
    }

    async fn read_all_of(
        &self,
        after: Checkpoint,
        limit: i64,
        categories: &[&str],
    ) -> Result<(Vec<RecordedEvent>, Checkpoint), StoreError> {
        // One writer commits in position order: every position up to the newest is final.
        let newest: Option<i64> =
            sqlx::query_scalar("select max(position) from events").fetch_one(&self.read).await?;
        let Some(newest) = newest.filter(|newest| *newest > after.position) else {
            return Ok((Vec::new(), after));
        };
        let mut query = QueryBuilder::<Sqlite>::new(select_events());
        query
            .push(" where position > ")
            .push_bind(after.position)
            .push(" and position <= ")
            .push_bind(newest);
        crate::row::push_categories(&mut query, categories);
        query.push(" order by position limit ").push_bind(limit);
        let rows: Vec<EventRow> = query.build_query_as().fetch_all(&self.read).await?;
        let events = into_events(rows)?;
        let reached = crate::row::reached(&events, limit, Checkpoint { tx: newest, position: newest });
        Ok((events, reached))
    }

    async fn checkpoint_of(&self, position: i64) -> Result<Option<Checkpoint>, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("select position from events where position = $1")
            .bind(position)
            .fetch_optional(&self.read)
            .await?;
        Ok(found.map(|position| Checkpoint { tx: position, position }))
    }

    async fn idempotent_reply(&self, scope: &str, key: &str) -> Result<Option<StoredReply>, StoreError> {
        let row: Option<(String, Option<sqlx::types::Json<Appended>>)> =
            sqlx::query_as("select request_hash, reply from idempotency_keys where scope = $1 and key = $2")
                .bind(scope)
                .bind(key)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.and_then(|(request_hash, reply)| Some(StoredReply { request_hash, reply: reply?.0 })))
    }

    async fn claim_owner(&self, key: &str) -> Result<Option<String>, StoreError> {
        let owner = sqlx::query_scalar("select owner_stream from claims where claim_key = $1")
            .bind(key)
            .fetch_optional(&self.read)
            .await?;
        Ok(owner)
    }

    async fn claim_owners(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut owners = std::collections::HashMap::with_capacity(keys.len());
        // SQLite takes at most 32,766 bound parameters per statement.
        for keys in keys.chunks(1000) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "select claim_key, owner_stream from claims where claim_key in (",
            );
            let mut separated = query.separated(", ");
            for key in keys {
                separated.push_bind(key);
            }
            query.push(")");
            let rows: Vec<(String, String)> = query.build_query_as().fetch_all(&self.read).await?;
            owners.extend(rows);
        }
        Ok(owners)
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut builder = QueryBuilder::<Sqlite>::new(select_events());
        builder.push(" where position > ").push_bind(query.after.position);
        push_audit_filter(&mut builder, query);
        builder.push(" order by position limit ").push_bind(query.limit);
        let rows: Vec<EventRow> = builder.build_query_as().fetch_all(&self.read).await?;
        into_events(rows)
    }

    fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.clone()
    }

    fn stored(&self) -> &dyn EventLog {
        self
    }
}
