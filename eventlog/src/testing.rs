//! Throw-away databases for tests: a SQLite file in a temporary folder, or a fresh Postgres
//! database on the server named by `PORTAL_TEST_DATABASE_URL`, dropped when the test ends.
//!
//! Without that variable the Postgres tests say loudly that they were skipped; under `CI=true`
//! a missing or unreachable Postgres fails the test instead.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::{Checkpoint, Database, EventLog, RecordedEvent};

pub const POSTGRES_URL_VARIABLE: &str = "PORTAL_TEST_DATABASE_URL";

pub struct TestDatabase {
    pub database: Database,
    /// What the `portal` binary takes to open the same database.
    pub location: Location,
    cleanup: Cleanup,
}

#[derive(Clone, Debug)]
pub enum Location {
    SqliteDataDir(PathBuf),
    PostgresUrl(String),
}

enum Cleanup {
    Directory(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

/// A migrated SQLite database in a fresh temporary data directory.
pub async fn sqlite() -> TestDatabase {
    let directory = std::env::temp_dir().join(format!("portal-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&directory).expect("create a temporary data directory");
    let database = Database::open_sqlite(&directory.join("portal.db")).await.expect("open SQLite");
    database.migrate().await.expect("migrate SQLite");
    TestDatabase {
        database,
        location: Location::SqliteDataDir(directory.clone()),
        cleanup: Cleanup::Directory(directory),
    }
}

/// The Postgres server URL for tests, or `None` (after saying so) when none is configured.
pub fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{POSTGRES_URL_VARIABLE} is not set and CI=true: the Postgres tests must run in CI")
        }
        _ => {
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("SKIPPED {test} on Postgres: set {POSTGRES_URL_VARIABLE}=postgres://… to run it\n")
                    .as_bytes(),
            );
            None
        }
    }
}

/// A migrated, empty Postgres database of its own, or `None` when no server is configured.
pub async fn postgres(test: &str) -> Option<TestDatabase> {
    let admin_url = postgres_admin_url(test)?;
    let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|error| panic!("cannot reach Postgres at {admin_url}: {error}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    let url = database_url(&admin_url, &name);
    let database = Database::connect_postgres(&url).await.expect("connect to the test database");
    database.migrate().await.expect("migrate Postgres");
    Some(TestDatabase {
        database,
        location: Location::PostgresUrl(url),
        cleanup: Cleanup::PostgresDatabase { admin_url, name },
    })
}

/// The same server URL with another database name.
fn database_url(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Directory(directory) => {
                let _ = std::fs::remove_dir_all(directory);
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let database = self.database.clone();
                // Drop runs inside the test's runtime: use a thread with a runtime of its own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    runtime.block_on(async move {
                        database.close().await;
                        let options = PgConnectOptions::from_str(&admin_url)?;
                        let mut admin = PgConnection::connect_with(&options).await?;
                        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "drop database if exists {name} with (force)"
                        )))
                        .execute(&mut admin)
                        .await?;
                        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                    })
                })
                .join();
                if let Ok(Err(error)) = dropped {
                    eprintln!("could not drop test database: {error}");
                }
            }
        }
    }
}

/// Everything `read_all` gives from the start, once it includes the last event this process
/// appended. On Postgres a committed event becomes readable in commit order only once every
/// older transaction of the whole server has ended (other tests' too), so a test that reads
/// the log, or queries the audit trail, right after appending waits here first (10 s at most).
pub async fn everything_appended(log: &dyn EventLog) -> Vec<RecordedEvent> {
    let head = *log.subscribe().borrow();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut all = Vec::new();
        let mut after = Checkpoint::START;
        loop {
            let page = log.read_all(after, 500).await.expect("read_all");
            let Some(last) = page.last() else { break };
            after = last.checkpoint;
            all.extend(page);
        }
        if head <= 0 || all.iter().any(|e| e.position == head) {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the event at position {head} was appended but never became readable in commit order"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Makes `<name>::sqlite` and `<name>::postgres` tests of each `async fn name(&TestDatabase)`
/// in scope: the same test body on both backends, each on a database of its own.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(&$crate::testing::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(database) = $crate::testing::postgres(stringify!($name)).await {
                    super::$name(&database).await;
                }
            }
        }
    )*};
}
