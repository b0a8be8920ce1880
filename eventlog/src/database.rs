//! Opening the database (SQLite file or Postgres server) and applying the migrations.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{EventLog, PersonalData, PostgresEventLog, SqliteEventLog, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One database holds the event log and the read models, so a projector can move its
/// checkpoint in the same transaction as its read-model writes.
#[derive(Clone, Debug)]
pub enum Database {
    /// SQLite allows one writer at a time: every write goes through the single `write`
    /// connection, so no transaction ever waits on a lock it cannot get; reads use `read`.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../schemas/migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../schemas/migrations/sqlite");

/// The connections of a Postgres pool, all opened at start and kept: one opened under load took
/// 90-100 ms on this 2-core machine (a new backend process, and then TLS, which a loopback server
/// no longer gets: see [`postgres_options`]), which the statement waiting for it pays (that was
/// the publisher's worst lag, and the writers' slowest commands). A connection idle for 10
/// minutes is replaced by the pool's own background task, not by a statement.
const CONNECTIONS: u32 = 12;

/// SQLSTATE 28000: among others, "no pg_hba.conf entry for host …, no encryption".
const INVALID_AUTHORIZATION: &str = "28000";

/// How the portal connects to the Postgres server at `url`: as libpq would (`sslmode=prefer`
/// unless the URL or `PGSSLMODE` says otherwise), except that a server on the loopback
/// interface is reached without TLS unless asked for: those bytes never leave the machine, and
/// encrypting them cost both processes CPU (write throughput, p99 and the rebuild in
/// BENCHMARKS.md, "TLS to a local server").
pub fn postgres_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    Ok(options_for(url)?.0)
}

/// [`postgres_options`], and whether TLS was left out by the loopback rule.
fn options_for(url: &str) -> Result<(PgConnectOptions, bool), StoreError> {
    let options = PgConnectOptions::from_str(url)?.application_name("portal");
    let asked = std::env::var_os("PGSSLMODE").is_some()
        || url.split_once('?').is_some_and(|(_, query)| {
            query.split('&').any(|pair| pair.starts_with("sslmode=") || pair.starts_with("ssl-mode="))
        });
    let host = options.get_host().trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    Ok(if loopback && !asked && options.get_socket().is_none() {
        (options.ssl_mode(PgSslMode::Disable), true)
    } else {
        (options, false)
    })
}

impl Database {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Deleted and overwritten content is zeroed, not left in free space: an erased
            // person's data must not survive in the file.
            .pragma("secure_delete", "on");
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(Database::Sqlite { read, write })
    }

    /// Connects to a Postgres server given as `postgres://…` (see [`postgres_options`] for when
    /// it uses TLS).
    pub async fn connect_postgres(url: &str) -> Result<Self, StoreError> {
        let pool_options = || {
            PgPoolOptions::new()
                .max_connections(CONNECTIONS)
                .min_connections(CONNECTIONS)
                // Not closed for age either: the statement that found it too old would pay the new one.
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(10))
                // A ping before every acquire is a round trip per statement; a broken connection
                // still fails its statement and leaves the pool.
                .test_before_acquire(false)
        };
        let (options, tls_left_out) = options_for(url)?;
        let pool = match pool_options().connect_with(options.clone()).await {
            // A server that takes loopback clients only over TLS (`hostssl` in pg_hba.conf)
            // refuses the plain connection: libpq's `sslmode=prefer` then.
            Err(sqlx::Error::Database(error))
                if tls_left_out && error.code().as_deref() == Some(INVALID_AUTHORIZATION) =>
            {
                pool_options().connect_with(options.ssl_mode(PgSslMode::Prefer)).await?
            }
            connected => connected?,
        };
        Ok(Database::Postgres(pool))
    }

    /// Applies the migrations this binary knows and the database does not have yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite { write, .. } => SQLITE_MIGRATIONS.run(write).await,
            Database::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .map_err(|error| StoreError::Database(error.into()))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite { .. } => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts this database's event log (and its group-commit writer), with personal data
    /// sealed at rest ([`PersonalData`]).
    pub fn event_log(&self) -> Arc<dyn EventLog> {
        Arc::new(PersonalData::new(self.event_log_in_the_clear(), self.clone()))
    }

    /// The adapter alone: personal data is stored as it comes. Only for measuring what sealing
    /// costs (`portal bench --personal-data-in-the-clear`); never for a server.
    pub fn event_log_in_the_clear(&self) -> Arc<dyn EventLog> {
        match self {
            Database::Sqlite { read, write } => Arc::new(SqliteEventLog::start(read.clone(), write.clone())),
            Database::Postgres(pool) => Arc::new(PostgresEventLog::start(pool.clone())),
        }
    }

    /// Where a live tail starts, "from now on": after every event committed so far. On Postgres,
    /// the fence of `read_all`: everything of a transaction that is still running, or starts
    /// later, comes after it (so a tail started here misses nothing committed later, though it
    /// may repeat an event committed in the last instant); on SQLite, the newest position.
    pub async fn tail_start(&self) -> Result<crate::Checkpoint, StoreError> {
        Ok(match self {
            Database::Sqlite { read, .. } => {
                let position: i64 = sqlx::query_scalar("select coalesce(max(position), 0) from events")
                    .fetch_one(read)
                    .await?;
                crate::Checkpoint { tx: position, position }
            }
            Database::Postgres(pool) => {
                let xmin: i64 =
                    sqlx::query_scalar("select pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                        .fetch_one(pool)
                        .await?;
                crate::Checkpoint { tx: xmin - 1, position: i64::MAX }
            }
        })
    }

    /// Answers when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite { read, .. } => {
                sqlx::query("select 1").execute(read).await?;
            }
            Database::Postgres(pool) => {
                sqlx::query("select 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Database::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

/// Runs the same sqlx code against whichever pool `database` holds: `$pool` is bound to the
/// SQLite read pool or to the Postgres pool, and the body is compiled once per backend.
#[macro_export]
macro_rules! with_reader {
    ($database:expr, |$pool:ident| $body:expr) => {
        match $database {
            $crate::Database::Sqlite { read: $pool, .. } => $body,
            $crate::Database::Postgres($pool) => $body,
        }
    };
}

/// Like [`with_reader!`], with the pool that may write (SQLite's single write connection).
#[macro_export]
macro_rules! with_writer {
    ($database:expr, |$pool:ident| $body:expr) => {
        match $database {
            $crate::Database::Sqlite { write: $pool, .. } => $body,
            $crate::Database::Postgres($pool) => $body,
        }
    };
}

#[cfg(test)]
mod tests {
    use sqlx::postgres::PgSslMode;

    use super::postgres_options;

    fn mode(url: &str) -> PgSslMode {
        match postgres_options(url) {
            Ok(options) => options.get_ssl_mode(),
            Err(error) => panic!("{url}: {error}"),
        }
    }

    #[test]
    fn a_loopback_server_is_reached_without_tls_unless_the_url_asks() {
        if std::env::var_os("PGSSLMODE").is_some() {
            eprintln!("SKIPPED: PGSSLMODE is set, which asks for a mode for every server");
            return;
        }
        for url in [
            "postgres://postgres@127.0.0.1:5432/portal",
            "postgres://postgres@localhost/portal",
            "postgres://postgres@[::1]:5432/portal",
            "postgres://postgres@127.0.0.2/portal?application_name=x",
        ] {
            assert!(matches!(mode(url), PgSslMode::Disable), "{url}");
        }
        assert!(matches!(mode("postgres://postgres@127.0.0.1/portal?sslmode=require"), PgSslMode::Require));
        assert!(matches!(mode("postgres://postgres@localhost/portal?sslmode=prefer"), PgSslMode::Prefer));
        assert!(matches!(mode("postgres://postgres@db.example.com/portal"), PgSslMode::Prefer));
        assert!(matches!(mode("postgres://postgres@10.0.0.5/portal"), PgSslMode::Prefer));
    }
}
