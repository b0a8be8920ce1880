//! Every event to NATS JetStream, as an analytics consumer meets it: the portal publishes to a
//! real nats-server that this test starts on a free port, stops in the middle of a stream of
//! commands, and starts again. Commands keep working while it is away, `/readyz` shows the lag,
//! and afterwards the stream holds every event of the log exactly once, in order per stream,
//! with its headers; the example consumer prints them and, durable, goes on where it stopped.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::{App, create_user, on_both_backends, register_company};

on_both_backends!(every_event_reaches_jetstream_once_across_a_nats_outage);

/// A nats-server with JetStream of the test's own, on a free port, its store in a temporary
/// directory that outlives restarts.
pub(crate) struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
}

impl NatsServer {
    /// `None` (after saying SKIPPED) when there is no nats-server binary; under `CI=true` that
    /// fails the test instead.
    pub(crate) async fn start() -> Option<NatsServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let store = std::env::temp_dir().join(format!("portal-nats-test-{}", uuid::Uuid::new_v4().simple()));
        let mut server = NatsServer { child: None, port, store };
        if !server.run().await {
            let message = format!(
                "SKIPPED: no nats-server binary ({}): set PORTAL_TEST_NATS_SERVER or put nats-server on PATH",
                binary()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message} (CI=true: failing)");
            eprintln!("{message}");
            return None;
        }
        Some(server)
    }

    /// Starts the process and waits until it accepts connections; `false` if there is no binary.
    async fn run(&mut self) -> bool {
        let spawned = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return false,
            Err(error) => panic!("start {}: {error}", binary()),
        };
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not listen on port {} within 5 s", self.port);
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill nats-server");
        }
    }

    pub(crate) async fn start_again(&mut self) {
        assert!(self.run().await, "nats-server ran before");
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

fn binary() -> String {
    std::env::var("PORTAL_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned())
}

/// Letters only, different in every run: stream names and subject tokens of one test.
fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// `/readyz`'s NATS part.
async fn publisher(app: &App) -> Value {
    let response = app.client().get(app.url("/readyz")).send().await.expect("GET /readyz");
    assert_eq!(response.status().as_u16(), 200, "commands work whatever NATS does");
    response.json::<Value>().await.expect("a JSON body")["nats"].clone()
}

/// Waits (bounded) until the publisher says `done` of its state.
async fn publisher_until(app: &App, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        last = publisher(app).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the publisher never {what}: {last:#}\n{}", app.server_log());
}

async fn every_event_reaches_jetstream_once_across_a_nats_outage(mut app: App) {
    let Some(mut nats) = NatsServer::start().await else { return };
    let tag = tag();
    let (stream_name, prefix) = (format!("TEST_{tag}"), format!("test{tag}.events"));
    let url = nats.url();
    app.restart_with(&["--nats-url", &url, "--nats-stream", &stream_name, "--nats-subject-prefix", &prefix])
        .await;

    let company = register_company(&app, "Published Ltd").await;
    let mut users = Vec::new();
    for index in 0..4 {
        users.push(create_user(&app, &company, &format!("pub{index}")).await);
    }
    let reached = app.last_position();
    publisher_until(&app, "caught up", |nats| nats["publishedPosition"].as_i64() >= Some(reached)).await;

    // NATS goes away: commands still work, and the lag shows.
    nats.stop().await;
    for (index, user) in users.iter().enumerate() {
        app.ok("ApproveUser", json!({ "userId": user })).await;
        app.ok("UpdateUserProfile", json!({ "userId": user, "title": format!("Title {index}") })).await;
    }
    let down = publisher_until(&app, "noticed NATS was gone", |nats| {
        nats["connected"] == false && nats["lagEvents"].as_i64() > Some(0)
    })
    .await;
    assert!(down["lastError"].is_string(), "{down:#}");

    // It comes back (same store); more commands meanwhile.
    nats.start_again().await;
    for user in &users {
        app.ok("SuspendUser", json!({ "userId": user, "reason": "while NATS came back" })).await;
    }
    let reached = app.last_position();
    let up = publisher_until(&app, "caught up after the outage", |nats| {
        nats["connected"] == true
            && nats["publishedPosition"].as_i64() >= Some(reached)
            && nats["lagEvents"] == 0
    })
    .await;
    assert!(up["failuresTotal"].as_u64() > Some(0), "{up:#}");
    let metrics = app.client().get(app.url("/metrics")).send().await.expect("GET /metrics");
    let metrics = metrics.text().await.expect("the metrics");
    let sample = |name: &str| crate::metrics::sample(&metrics, name, &[]);
    assert_eq!(
        (sample("portal_nats_publish_lag_events"), sample("portal_nats_connected")),
        (Some(0.0), Some(1.0))
    );
    assert!(sample("portal_nats_publish_failures_total") > Some(0.0), "{metrics}");

    // The stream holds the log, each event once.
    let log = app.audit(json!({})).await;
    assert!(
        sample("portal_nats_published_total") >= Some(log.len() as f64),
        "all by this process: {metrics}"
    );
    let messages = stream_messages(&url, &stream_name).await;
    assert_eq!(messages.len(), log.len(), "one message per event, none lost, none twice");
    let ids: HashSet<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), messages.len(), "no message id twice");
    let by_position: HashMap<i64, &Message> = messages.iter().map(|m| (m.position, m)).collect();
    for event in &log {
        let position = event["position"].as_i64().expect("a position");
        let message =
            by_position.get(&position).unwrap_or_else(|| panic!("event {position} was not published"));
        let stream_id = event["streamId"].as_str().expect("a stream id");
        let category = stream_id.split_once('-').map(|(c, _)| c).unwrap_or_default();
        let company_id = event["companyId"].as_str().unwrap_or("none");
        assert_eq!(
            message.subject,
            format!("{prefix}.{company_id}.{category}.{}", event["type"].as_str().unwrap_or_default())
        );
        assert_eq!(message.headers.get("Portal-Stream").map(String::as_str), Some(stream_id));
        assert_eq!(message.headers.get("Portal-Version"), Some(&event["version"].to_string()));
        assert_eq!(message.body["type"], event["type"]);
        assert_eq!(message.body["eventId"].as_str(), Some(message.id.as_str()));
        assert_eq!(message.body["hash"], event["hash"]);
    }
    // In order per stream: each stream's versions come 1, 2, 3… in stream order.
    let mut versions: HashMap<&str, i64> = HashMap::new();
    for message in &messages {
        let stream_id = message.headers.get("Portal-Stream").map(String::as_str).unwrap_or_default();
        let version = message.body["version"].as_i64().unwrap_or_default();
        let previous = versions.insert(stream_id, version).unwrap_or(0);
        assert_eq!(version, previous + 1, "{stream_id} out of order");
    }
    // Personal data goes out as stored: sealed.
    let created = messages.iter().find(|m| m.body["type"] == "UserCreated").expect("a UserCreated");
    assert!(
        created.body["data"]["email"].as_str().is_some_and(|e| e.starts_with("pii:v1:")),
        "{:#}",
        created.body
    );

    // The example consumer prints every event; durable, its second run has nothing new.
    let durable =
        ["--nats-url", &url, "--stream", &stream_name, "--durable", "analytics", "--idle-seconds", "1"];
    let first = example(&durable).await;
    assert_eq!(first.lines().count(), log.len(), "{first}");
    assert!(first.lines().any(|line| line.contains(" UserCreated user-")), "{first}");
    let second = example(&durable).await;
    assert_eq!(second, "", "a durable consumer goes on where it stopped");
    let from = log.len() - 2;
    let replay =
        example(&["--nats-url", &url, "--stream", &stream_name, "--from-sequence", &from.to_string()]).await;
    assert_eq!(replay.lines().count(), 3, "replay from a sequence: {replay}");
}

struct Message {
    subject: String,
    id: String,
    position: i64,
    headers: HashMap<String, String>,
    body: Value,
}

/// Every message of the stream, in stream order, read one by one by sequence.
async fn stream_messages(url: &str, name: &str) -> Vec<Message> {
    let client = async_nats::connect(url).await.expect("connect to NATS");
    let mut stream = jetstream::new(client).get_stream(name).await.expect("the portal created its stream");
    let last = stream.info().await.expect("stream info").state.last_sequence;
    let mut messages = Vec::new();
    for sequence in 1..=last {
        let raw = stream.get_raw_message(sequence).await.expect("a stored message");
        let headers: HashMap<String, String> = raw
            .headers
            .iter()
            .filter_map(|(name, values)| Some((name.to_string(), values.first()?.to_string())))
            .collect();
        messages.push(Message {
            subject: raw.subject.to_string(),
            id: headers.get("Nats-Msg-Id").cloned().expect("a message id"),
            position: headers.get("Portal-Position").and_then(|p| p.parse().ok()).expect("a position header"),
            body: serde_json::from_slice(&raw.payload).expect("a JSON body"),
            headers,
        });
    }
    messages
}

/// Runs the example consumer (`examples/consume_events.rs`, built by `cargo test`); its stdout.
async fn example(args: &[&str]) -> String {
    let portal = PathBuf::from(env!("CARGO_BIN_EXE_portal"));
    let binary = portal.parent().expect("the target directory").join("examples").join("consume_events");
    let output = tokio::time::timeout(Duration::from_secs(60), Command::new(&binary).args(args).output())
        .await
        .expect("the example finishes")
        .unwrap_or_else(|error| panic!("run {}: {error}", binary.display()));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
