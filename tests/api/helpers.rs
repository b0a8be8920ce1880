//! The server under test: the real `portal` binary on a throw-away store, and the HTTP calls
//! the tests make to it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use eventlog::testing::{Location, TestDatabase};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The operator's bearer token every test server is started with.
pub const TOKEN: &str = "api-test-operator-token-0123456789abcdef";

/// How long a server may take to print its address.
const STARTUP: Duration = Duration::from_secs(30);
/// How long a test waits for something the server does in the background.
const PATIENCE: Duration = Duration::from_secs(10);

/// Makes `<name>::sqlite` and `<name>::postgres` tests of the async fn `name(App)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::App::start($crate::helpers::Backend::Sqlite, stringify!($name))
                    .await
                    .expect("SQLite is always available");
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                // Without PORTAL_TEST_DATABASE_URL this says SKIPPED (and fails under CI=true).
                if let Some(app) =
                    $crate::helpers::App::start($crate::helpers::Backend::Postgres, stringify!($name)).await
                {
                    super::$name(app).await;
                }
            }
        }
    )*};
}
pub(crate) use on_both_backends;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A command's answer: status, JSON body and headers.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The stable error code of a refusal.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error code>")
    }

    /// Asserts the status and error code of a refusal.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "unexpected answer: {self:#?}");
    }
}

/// A running `portal serve` on a store of its own, removed when the test ends.
pub struct App {
    server: Option<Child>,
    pub backend: Backend,
    pub base_url: String,
    client: reqwest::Client,
    /// The highest position a command of this test reached: queries wait for it.
    last_position: AtomicI64,
    data_dir: PathBuf,
    database_url: Option<String>,
    /// More `serve` flags (see [`App::restart_with`]).
    serve_args: Vec<String>,
    /// Dropped after the server is killed: drops the Postgres database.
    _database: Option<TestDatabase>,
}

impl App {
    /// A server on a fresh store, or `None` when Postgres is asked for but not configured.
    pub async fn start(backend: Backend, test: &str) -> Option<App> {
        let (database, database_url) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let database = eventlog::testing::postgres(test).await?;
                let Location::PostgresUrl(url) = database.location.clone() else {
                    panic!("eventlog::testing::postgres gave a location that is not a Postgres URL")
                };
                (Some(database), Some(url))
            }
        };
        // Created once the database exists, so that nothing is left behind when it does not.
        // (On Postgres it holds the server log and nothing else.)
        let data_dir =
            std::env::temp_dir().join(format!("portal-api-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir).expect("create a temporary data directory");
        let mut app = App {
            server: None,
            backend,
            base_url: String::new(),
            client: test_client(),
            last_position: AtomicI64::new(0),
            data_dir,
            database_url,
            serve_args: Vec::new(),
            _database: database,
        };
        app.serve().await;
        Some(app)
    }

    /// `--data-dir …` and, on Postgres, `--database-url …`: the store this app uses.
    pub fn store_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.data_dir.display().to_string()];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.join("server.log")
    }

    /// The binary with the test's environment, and nothing inherited that could redirect it.
    fn portal(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portal"));
        command
            .env("PORTAL_OPERATOR_TOKEN", TOKEN)
            .env("PORTAL_LOG", "warn,portal=info")
            .env_remove("PORTAL_LISTEN")
            .env_remove("PORTAL_DATA_DIR")
            .env_remove("PORTAL_DATABASE_URL")
            .env_remove("PORTAL_NATS_URL")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `portal <args…>` on this app's store to completion (for `projections rebuild`).
    pub async fn run_cli(&self, args: &[&str]) -> std::process::Output {
        let store = self.store_args();
        let args: Vec<&str> = args.iter().copied().chain(store.iter().map(String::as_str)).collect();
        self.run_portal(&args).await
    }

    /// Runs `portal <args…>` to completion, with the operator token in its environment.
    pub async fn run_portal(&self, args: &[&str]) -> std::process::Output {
        let mut command = self.portal();
        command.args(args);
        tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("the portal command finishes within a minute")
            .expect("run the portal binary")
    }

    /// Starts `portal serve` and learns its port from the line it prints.
    async fn serve(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the server log");
        let mut command = self.portal();
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(self.store_args())
            .args(&self.serve_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = command.spawn().expect("start the portal binary");
        let stdout = child.stdout.take().expect("the server's stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let address = tokio::time::timeout(STARTUP, async {
            while let Some(line) = lines.next_line().await.expect("read the server's stdout") {
                if let Some(rest) = line.strip_prefix("portal listening on ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await;
        let url = match address {
            Ok(Some(url)) => url,
            Ok(None) => panic!("the server exited before listening; its log:\n{}", self.server_log()),
            Err(_) => panic!(
                "the server did not print its address within {STARTUP:?}; its log:\n{}",
                self.server_log()
            ),
        };
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected address line: {url}");
        // Keep reading stdout so that the server never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.base_url = url;
        self.server = Some(child);
    }

    /// What the server wrote to stderr so far (for failure messages).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills the server and waits until it has exited (its SQLite lock is then free).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            child.kill().await.expect("kill the server");
        }
    }

    /// Stops the server and starts it again on the same store.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.serve().await;
    }

    /// Restarts the server with more `serve` flags.
    pub async fn restart_with(&mut self, args: &[&str]) {
        self.serve_args = args.iter().map(|arg| (*arg).to_owned()).collect();
        self.restart().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The position every query of [`App::query`] waits for.
    /// Remembers the position of a command sent some other way, so that later reads wait for it.
    pub fn note_position(&self, position: i64) {
        self.last_position.fetch_max(position, Ordering::SeqCst);
    }

    pub fn last_position(&self) -> i64 {
        self.last_position.load(Ordering::SeqCst)
    }

    /// Sends a command with a raw body and extra headers; `token` `None` sends no
    /// `Authorization` header.
    pub async fn command_raw(
        &self,
        name: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
        token: Option<&str>,
    ) -> Answer {
        let mut request = self
            .client
            .post(self.url(&format!("/commands/{name}")))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("send the command");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("read the command's answer");
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!("the answer ({status}) is not JSON ({error}): {}", String::from_utf8_lossy(&bytes))
        });
        if status == 200 {
            let position = body["position"].as_i64().expect("a 200 answer has a position");
            self.last_position.fetch_max(position, Ordering::SeqCst);
        }
        Answer { status, body, headers }
    }

    /// Sends a command as the operator with extra headers.
    pub async fn command_with(&self, name: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        self.command_raw(name, body.to_string(), headers, Some(TOKEN)).await
    }

    /// Sends a command as the operator: `(status, body, headers)`.
    pub async fn command(&self, name: &str, body: Value) -> (u16, Value, HeaderMap) {
        let answer = self.command_with(name, &body, &[]).await;
        (answer.status, answer.body, answer.headers)
    }

    /// Sends a command that must succeed; its reply.
    #[track_caller]
    pub fn ok<'a>(&'a self, name: &'a str, body: Value) -> impl Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let answer = self.command_with(name, &body, &[]).await;
            assert_eq!(answer.status, 200, "{name} {body} failed (called at {caller}): {:#}", answer.body);
            answer.body
        }
    }

    /// Runs a GraphQL request as the operator; the whole response (`data`, `errors`).
    pub async fn graphql(&self, query: &str, variables: Value, min_position: Option<i64>) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .bearer_auth(TOKEN)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(position) = min_position {
            request = request.header("x-portal-min-position", position.to_string());
        }
        let response = request.send().await.expect("send the GraphQL request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("GraphQL answers JSON");
        assert_eq!(status, 200, "GraphQL answered {status}: {body:#}");
        body
    }

    /// A query that must succeed, seeing every command this test sent so far; its `data`.
    #[track_caller]
    pub fn query<'a>(&'a self, query: &'a str, variables: Value) -> impl Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let position = Some(self.last_position()).filter(|position| *position > 0);
            let body = self.graphql(query, variables, position).await;
            assert!(body.get("errors").is_none(), "query failed (called at {caller}): {body:#}");
            body["data"].clone()
        }
    }

    /// A query that must fail with a GraphQL error of `code`.
    #[track_caller]
    pub fn query_error<'a>(
        &'a self,
        query: &'a str,
        variables: Value,
        code: &'a str,
    ) -> impl Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let body = self.graphql(query, variables, None).await;
            let codes: Vec<&str> = body["errors"]
                .as_array()
                .map(|errors| errors.iter().filter_map(|e| e["extensions"]["code"].as_str()).collect())
                .unwrap_or_default();
            assert_eq!(codes, vec![code], "expected a {code} error (called at {caller}): {body:#}");
        }
    }

    /// Every audit entry the filter selects, in order, once the log shows the last command.
    pub async fn audit(&self, filter: Value) -> Vec<Value> {
        self.wait_for_log().await;
        self.audit_pages(filter, 500).await
    }

    /// Walks the audit trail with pages of `first`.
    pub async fn audit_pages(&self, filter: Value, first: i64) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = self
                .query(
                    "query($filter: AuditFilter, $first: Int, $after: String) {
                        auditTrail(filter: $filter, first: $first, after: $after) {
                            edges { cursor node { position streamId version type occurredAt
                                actor { kind id } companyId correlationId causationId requestId reason clientIp userAgent
                                hash data } }
                            pageInfo { hasNextPage endCursor }
                        }
                    }",
                    json!({ "filter": filter, "first": first, "after": after }),
                )
                .await;
            let page = &data["auditTrail"];
            let edges = page["edges"].as_array().expect("edges");
            assert!(edges.len() as i64 <= first, "a page is longer than asked for: {page:#}");
            entries.extend(edges.iter().map(|edge| edge["node"].clone()));
            if page["pageInfo"]["hasNextPage"] != json!(true) {
                return entries;
            }
            after = Some(
                page["pageInfo"]["endCursor"].as_str().expect("a next page has an endCursor").to_owned(),
            );
        }
    }

    /// Waits until the audit trail shows the last command's events. (On Postgres an event is
    /// readable once every older transaction of the whole server has ended.)
    async fn wait_for_log(&self) {
        let target = self.last_position();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let entries = self.audit_pages(json!(null), 500).await;
            if entries.iter().any(|entry| entry["position"].as_i64() >= Some(target)) || target == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the audit trail never showed position {target}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The entries `filter` selects, once there are at least `count` (waiting, bounded): for
    /// events whose reply carried no position to wait for (sign-in steps). On Postgres an event
    /// becomes readable once every older transaction of the server has ended.
    pub async fn audit_at_least(&self, filter: Value, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let entries = self.audit(filter.clone()).await;
            if entries.len() >= count || Instant::now() >= deadline {
                return entries;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many events the log holds (after the last command).
    pub async fn event_count(&self) -> usize {
        self.audit(json!(null)).await.len()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- log of the {:?} server at {} ---\n{}",
                self.backend,
                self.base_url,
                self.server_log()
            );
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The tests' HTTP client. reqwest is built with rustls and no crypto provider of its own (the
/// portal installs ring at start); the test process installs the same before its first client.
pub fn test_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("build an HTTP client")
}

/// A company registered for a test, with its default roles.
#[derive(Debug, Clone)]
pub struct Company {
    pub id: String,
    pub administrator_role_id: String,
    pub user_role_id: String,
}

/// A main phone number no other company of the test has (a main phone belongs to one company).
pub fn unique_main_phone() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1000);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 9000 + 1000;
    format!("+1 212 555 {n}")
}

pub async fn register_company(app: &App, name: &str) -> Company {
    let reply = app
        .ok("RegisterCompany", json!({ "name": name, "mainPhone": unique_main_phone(), "licenseLimit": 50 }))
        .await;
    let id = reply["id"].as_str().expect("the company id").to_owned();
    let data = app.query("query($id: ID!) { roles(companyId: $id) { id name } }", json!({ "id": id })).await;
    let role = |name: &str| {
        data["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .find(|role| role["name"] == name)
            .and_then(|role| role["id"].as_str())
            .unwrap_or_else(|| panic!("no default role {name}: {data:#}"))
            .to_owned()
    };
    Company { administrator_role_id: role("Administrator"), user_role_id: role("User"), id }
}

/// Creates a user `username` (email `<username>@example.com`) and gives their id.
pub async fn create_user(app: &App, company: &Company, username: &str) -> String {
    create_user_with(app, company, username, json!({})).await
}

/// Creates a user with extra fields merged into the body.
pub async fn create_user_with(app: &App, company: &Company, username: &str, extra: Value) -> String {
    let mut body = json!({
        "companyId": company.id,
        "username": username,
        "email": format!("{username}@example.com"),
        "firstName": "Test",
        "lastName": "User",
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let reply = app.ok("CreateUser", body).await;
    reply["id"].as_str().expect("the user id").to_owned()
}

/// The fields of `User` the tests look at.
pub const USER_FIELDS: &str = "id username email firstName lastName phone mobile officePhone fax \
    outboundCallerId extension title customerCode udid serviceLevel role { id name } group { id name isMain } \
    admin portalAccess approved disapproved suspended suspensionReason deactivated deleted status createdAt \
    updatedAt version permissions { module level } effectivePermissions { module level sources } \
    manualFiltering settings previousMobiles { number status } appMenu { app available comingSoon }";

pub async fn user(app: &App, id: &str) -> Value {
    let data = app
        .query(&format!("query($id: ID!) {{ user(id: $id) {{ {USER_FIELDS} }} }}"), json!({ "id": id }))
        .await;
    data["user"].clone()
}

/// The sources an effective permission names for `module`.
pub fn sources_of<'a>(permissions: &'a Value, module: &str) -> Vec<&'a str> {
    permissions
        .as_array()
        .expect("a permission list")
        .iter()
        .find(|permission| permission["module"] == module)
        .and_then(|permission| permission["sources"].as_array())
        .map(|sources| sources.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The level a permission list gives `module`, if it names it.
pub fn level_of<'a>(permissions: &'a Value, module: &str) -> Option<&'a str> {
    permissions
        .as_array()
        .expect("a permission list")
        .iter()
        .find(|permission| permission["module"] == module)
        .and_then(|permission| permission["level"].as_str())
}
