//! The projector loop: elect, catch up, tail; and the offline rebuild.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use eventlog::{Checkpoint, Database, EventLog, RecordedEvent};
use sqlx::{Acquire, Postgres, Sqlite};
use tokio::sync::watch;

use crate::ReadModel;

/// Events read and applied per transaction.
const BATCH: i64 = 1000;
/// Events folded per upsert by a rebuild: a row changed by many of them is written once.
const REBUILD_BATCH: i64 = 20_000;
/// How often an idle projector looks for events written by other processes.
const POLL: Duration = Duration::from_millis(250);
/// How often a process that never leads reads the leaders' checkpoints.
const MIRROR_POLL: Duration = Duration::from_millis(100);
/// How often a standby looks whether the leader is gone.
const STANDBY_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] eventlog::StoreError),
    #[error("cannot project: {0}")]
    Corrupt(String),
    #[error("the {0} projector is running in another process: stop it before rebuilding")]
    Busy(&'static str),
}

/// A transaction on either backend.
pub(crate) enum Transaction {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs the same sqlx code inside whichever transaction `$transaction` holds.
#[macro_export]
#[doc(hidden)]
macro_rules! with_transaction {
    ($transaction:expr, |$connection:ident| $body:expr) => {
        match $transaction {
            $crate::runtime::Transaction::Sqlite($connection) => $body,
            $crate::runtime::Transaction::Postgres($connection) => $body,
        }
    };
}

impl Transaction {
    pub(crate) async fn begin(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Sqlite { write, .. } => Transaction::Sqlite(write.begin_with("begin immediate").await?),
            Database::Postgres(pool) => Transaction::Postgres(pool.begin().await?),
        })
    }

    async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Transaction::Sqlite(transaction) => transaction.commit().await,
            Transaction::Postgres(transaction) => transaction.commit().await,
        }
    }

    async fn save_checkpoint(&mut self, model: ReadModel, checkpoint: Checkpoint) -> Result<(), sqlx::Error> {
        with_transaction!(self, |connection| {
            sqlx::query(UPSERT_CHECKPOINT)
                .bind(model.name())
                .bind(checkpoint.tx)
                .bind(checkpoint.position)
                .bind(Utc::now())
                .execute(&mut **connection)
                .await?;
        });
        Ok(())
    }
}

async fn load_checkpoint(database: &Database, model: ReadModel) -> Result<Checkpoint, sqlx::Error> {
    load_named_checkpoint(database, model.name()).await
}

/// A checkpoint by name: a read model's, or the NATS publisher's.
pub(crate) async fn load_named_checkpoint(
    database: &Database,
    name: &str,
) -> Result<Checkpoint, sqlx::Error> {
    let row: Option<(i64, i64)> = eventlog::with_reader!(database, |pool| {
        sqlx::query_as("select tx, position from projection_checkpoints where name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(tx, position)| Checkpoint { tx, position }).unwrap_or_default())
}

/// Moves a checkpoint that no read-model write goes with (the NATS publisher's).
pub(crate) async fn save_named_checkpoint(
    database: &Database,
    name: &str,
    checkpoint: Checkpoint,
) -> Result<(), sqlx::Error> {
    eventlog::with_writer!(database, |pool| {
        sqlx::query(UPSERT_CHECKPOINT)
            .bind(name)
            .bind(checkpoint.tx)
            .bind(checkpoint.position)
            .bind(Utc::now())
            .execute(pool)
            .await?;
    });
    Ok(())
}

const UPSERT_CHECKPOINT: &str = "insert into projection_checkpoints (name, tx, position, updated_at) \
     values ($1, $2, $3, $4) on conflict (name) do update set tx = excluded.tx, position = excluded.position, \
     updated_at = excluded.updated_at";

/// How far each read model has got; what read-your-writes waits on.
#[derive(Clone)]
pub struct Progress {
    models: HashMap<ReadModel, watch::Receiver<Checkpoint>>,
}

impl Progress {
    /// Waits until every read model has applied `target`; `false` when `timeout` passed first.
    pub async fn wait_for(&self, target: Checkpoint, timeout: Duration) -> bool {
        let all = async {
            for receiver in self.models.values() {
                let mut receiver = receiver.clone();
                if receiver.wait_for(|reached| *reached >= target).await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(timeout, all).await.unwrap_or(false)
    }

    pub fn checkpoint(&self, model: ReadModel) -> Option<Checkpoint> {
        self.models.get(&model).map(|receiver| *receiver.borrow())
    }
}

/// The running projectors of this process.
pub struct Projectors {
    pub progress: Progress,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Projectors {
    /// Stops every projector; on Postgres their leadership locks are released.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts one projector per read model. Each keeps running (retrying after errors) until
/// [`Projectors::stop`] or the end of the process.
pub fn spawn_all(database: Database, log: Arc<dyn EventLog>) -> Projectors {
    spawn(database, log, true)
}

/// Follows the projectors of other processes without ever leading one: each read model's
/// progress mirrors the checkpoint in the database, so that this process (a `query-api`)
/// still answers `X-Portal-Min-Position`. On SQLite, which serves one process, it leads.
pub fn spawn_standbys(database: Database, log: Arc<dyn EventLog>) -> Projectors {
    spawn(database, log, false)
}

fn spawn(database: Database, log: Arc<dyn EventLog>, may_lead: bool) -> Projectors {
    let mut models = HashMap::new();
    let mut tasks = Vec::new();
    for model in ReadModel::ALL {
        let (sender, receiver) = watch::channel(Checkpoint::START);
        tasks.push(tokio::spawn(run(model, database.clone(), Arc::clone(&log), sender, may_lead)));
        models.insert(model, receiver);
    }
    Projectors { progress: Progress { models }, tasks }
}

async fn run(
    model: ReadModel,
    database: Database,
    log: Arc<dyn EventLog>,
    progress: watch::Sender<Checkpoint>,
    may_lead: bool,
) {
    loop {
        let outcome = match &database {
            Database::Sqlite { .. } => lead(model, &database, log.as_ref(), &progress).await,
            Database::Postgres(pool) if may_lead => {
                elect_and_lead(model, pool, &database, log.as_ref(), &progress).await
            }
            Database::Postgres(_) => mirror(model, &database, &progress).await,
        };
        if let Err(error) = outcome {
            tracing::error!(projector = model.name(), %error, "projector failed; retrying in a second");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// One active projector per read model across processes: the holder of a session advisory
/// lock on a connection of its own leads; the others stand by and mirror its checkpoint.
async fn elect_and_lead(
    model: ReadModel,
    pool: &sqlx::PgPool,
    database: &Database,
    log: &dyn EventLog,
    progress: &watch::Sender<Checkpoint>,
) -> Result<(), ProjectionError> {
    lead_when_elected(
        pool,
        model.lock_key(),
        model.name(),
        move || async move {
            progress.send_replace(load_checkpoint(database, model).await?);
            Ok(())
        },
        lead(model, database, log, progress),
        ProjectionError::Database,
    )
    .await
}

/// Runs `lead` once this process holds the session advisory lock `key` (on a connection of its
/// own, detached from the pool: the lock lives exactly as long as it), calling `standby` between
/// tries; returns when `lead` does, or with `lost` when the lock's connection stops answering.
/// What elects one projector per read model, and one NATS publisher, across processes.
pub(crate) async fn lead_when_elected<E: From<sqlx::Error>, Standby: Future<Output = Result<(), E>>>(
    pool: &sqlx::PgPool,
    key: i64,
    name: &str,
    mut standby: impl FnMut() -> Standby,
    lead: impl Future<Output = Result<(), E>>,
    lost: fn(sqlx::Error) -> E,
) -> Result<(), E> {
    let mut lock_connection = pool.acquire().await?.detach();
    loop {
        let leading: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut lock_connection)
            .await?;
        if leading {
            tracing::info!(name, "leading");
            return tokio::select! {
                outcome = lead => outcome,
                error = lock_lost(&mut lock_connection) => Err(lost(error)),
            };
        }
        standby().await?;
        tokio::time::sleep(STANDBY_POLL).await;
    }
}

/// A standby that never leads: its progress is the leader's checkpoint, read often.
async fn mirror(
    model: ReadModel,
    database: &Database,
    progress: &watch::Sender<Checkpoint>,
) -> Result<(), ProjectionError> {
    loop {
        progress.send_replace(load_checkpoint(database, model).await?);
        tokio::time::sleep(MIRROR_POLL).await;
    }
}

/// Returns when the connection that holds the lock stops answering.
async fn lock_lost(connection: &mut sqlx::PgConnection) -> sqlx::Error {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Err(error) = sqlx::query("select 1").execute(&mut *connection).await {
            return error;
        }
    }
}

async fn lead(
    model: ReadModel,
    database: &Database,
    log: &dyn EventLog,
    progress: &watch::Sender<Checkpoint>,
) -> Result<(), ProjectionError> {
    let mut checkpoint = load_checkpoint(database, model).await?;
    progress.send_replace(checkpoint);
    let mut head = log.subscribe();
    let mut last_position_seen = checkpoint.position;
    loop {
        // Only the model's own events are read; the checkpoint also moves past the others, so
        // that read-your-writes waits on every model see every position.
        let (events, reached) = log.read_all_of(checkpoint, BATCH, model.categories()).await?;
        if reached != checkpoint {
            let mut transaction = Transaction::begin(database).await?;
            model.apply(&mut transaction, &events).await?;
            transaction.save_checkpoint(model, reached).await?;
            transaction.commit().await?;
            if model == ReadModel::Users && events.iter().any(|e| domain::personal::erases(&e.event_type)) {
                forget_overwritten_pages(database).await;
            }
            checkpoint = reached;
            last_position_seen = last_position_seen.max(reached.position);
            progress.send_replace(checkpoint);
            continue;
        }
        if *head.borrow_and_update() > last_position_seen {
            // Committed here, but an older transaction elsewhere still hides it: look again soon.
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        let _ = tokio::time::timeout(POLL, head.changed()).await;
    }
}

/// After an erasure has reached the users read model, SQLite's write-ahead log still holds the
/// pages as they were before it (the person's row, their claims and outbox messages): copy the
/// log into the database file, where `secure_delete` zeroed what was removed, and truncate it,
/// so the person's data is in no file. Postgres keeps no such copy a dump could show.
async fn forget_overwritten_pages(database: &Database) {
    let Database::Sqlite { write, .. } = database else { return };
    for _ in 0..10 {
        match sqlx::query_as::<_, (i64, i64, i64)>("pragma wal_checkpoint(truncate)").fetch_one(write).await {
            Ok((0, _, _)) => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(error) => {
                tracing::warn!(%error, "could not truncate the write-ahead log after an erasure");
                return;
            }
        }
    }
    tracing::warn!(
        "readers kept the write-ahead log busy: it is truncated at the next erasure or checkpoint"
    );
}

#[derive(Debug, Clone, PartialEq)]
pub struct RebuildReport {
    pub model: ReadModel,
    pub events: u64,
    pub elapsed: Duration,
}

/// Replays the whole log into `model` in one transaction: readers keep the old rows until it
/// commits. On Postgres it refuses while a projector of that model leads in any process.
pub async fn rebuild(
    database: &Database,
    log: &dyn EventLog,
    model: ReadModel,
    mut on_progress: impl FnMut(u64),
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    let mut transaction = Transaction::begin(database).await?;
    if let Transaction::Postgres(connection) = &mut transaction {
        let free: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
            .bind(model.lock_key())
            .fetch_one(connection.acquire().await?)
            .await?;
        if !free {
            return Err(ProjectionError::Busy(model.name()));
        }
    }
    model.clear(&mut transaction).await?;
    let mut checkpoint = Checkpoint::START;
    let mut count = 0u64;
    loop {
        let (events, reached): (Vec<RecordedEvent>, Checkpoint) =
            log.read_all_of(checkpoint, REBUILD_BATCH, model.categories()).await?;
        if reached == checkpoint {
            break;
        }
        checkpoint = reached;
        model.apply(&mut transaction, &events).await?;
        count += events.len() as u64;
        on_progress(count);
    }
    transaction.save_checkpoint(model, checkpoint).await?;
    transaction.commit().await?;
    Ok(RebuildReport { model, events: count, elapsed: started.elapsed() })
}
