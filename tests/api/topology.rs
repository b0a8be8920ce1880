//! The scale-out topology, without Docker: `portal command-api`, two `portal projector`s and
//! `portal query-api` as separate processes on one Postgres database. A command taken by one
//! process is read (read-your-writes) from another; when the active projector is killed, the
//! standby takes over and the next write is still read back through the query process.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use eventlog::testing::Location;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::TOKEN;

struct Process {
    child: Child,
    url: String,
}

/// Starts `portal <role>` on a free port and waits for the address it prints.
async fn start(role: &str, database_url: &str, data_dir: &Path) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args([role, "--listen", "127.0.0.1:0", "--database-url", database_url, "--data-dir"])
        .arg(data_dir)
        .env("PORTAL_OPERATOR_TOKEN", TOKEN)
        .env("PORTAL_LOG", "warn")
        .env_remove("PORTAL_NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the portal binary");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("portal listening on ") {
                assert!(rest.contains(role), "the line names the role: {line}");
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("portal {role} did not start"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Process { child, url }
}

async fn command(client: &reqwest::Client, process: &Process, name: &str, body: Value) -> (u16, Value) {
    let response = client
        .post(format!("{}/commands/{name}", process.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("send a command");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn query(client: &reqwest::Client, process: &Process, query: &str, min_position: i64) -> (u16, Value) {
    let response = client
        .post(format!("{}/graphql", process.url))
        .bearer_auth(TOKEN)
        .header("X-Portal-Min-Position", min_position.to_string())
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("send a query");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_roles_in_separate_processes_and_a_projector_failover() {
    // Without PORTAL_TEST_DATABASE_URL this says SKIPPED (and fails under CI=true).
    let Some(database) = eventlog::testing::postgres("topology").await else { return };
    let Location::PostgresUrl(url) = database.location.clone() else { panic!("a Postgres URL") };
    let data_dir = std::env::temp_dir().join(format!("portal-topology-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).expect("a data directory");
    let client = crate::helpers::test_client();

    let commands = start("command-api", &url, &data_dir).await;
    let mut active = start("projector", &url, &data_dir).await;
    let queries = start("query-api", &url, &data_dir).await;

    // Each process serves its own part only.
    let (status, _) = query(&client, &commands, "{ companies { totalCount } }", 0).await;
    assert_eq!(status, 404, "the command process answers no GraphQL");
    let (status, _) = command(&client, &queries, "RegisterCompany", json!({})).await;
    assert_eq!(status, 404, "the query process takes no commands");
    let health = client.get(format!("{}/readyz", active.url)).send().await.expect("readyz");
    assert_eq!(health.status().as_u16(), 200);

    // Written through one process, read through another.
    let main_phone = crate::helpers::unique_main_phone();
    let (status, company) = command(
        &client,
        &commands,
        "RegisterCompany",
        json!({ "name": "Scaled Ltd", "mainPhone": main_phone }),
    )
    .await;
    assert_eq!(status, 200, "{company:#}");
    let company_id = company["id"].as_str().expect("an id").to_owned();
    let read = format!("{{ company(id: \"{company_id}\") {{ name roles {{ name }} }} }}");
    let (status, answer) = query(&client, &queries, &read, company["position"].as_i64().unwrap_or(0)).await;
    assert_eq!((status, &answer["data"]["company"]["name"]), (200, &json!("Scaled Ltd")), "{answer:#}");

    // Two command processes change one user: the one whose cache is behind finds out at the
    // append, reads the user's new events and decides again (counted in its /metrics).
    let other_commands = start("command-api", &url, &data_dir).await;
    let (status, created) = command(
        &client,
        &commands,
        "CreateUser",
        json!({ "companyId": company_id, "username": "shared", "email": "shared@example.com",
            "firstName": "Shared", "lastName": "User" }),
    )
    .await;
    assert_eq!(status, 200, "{created:#}");
    let user_id = created["id"].as_str().expect("an id").to_owned();
    let mut last = Value::Null;
    for (process, name) in [(&commands, "First"), (&other_commands, "Second"), (&commands, "Third")] {
        let (status, updated) =
            command(&client, process, "UpdateUserProfile", json!({ "userId": user_id, "firstName": name }))
                .await;
        assert_eq!(status, 200, "{updated:#}");
        last = updated;
    }
    let version = created["version"].as_i64().map(|version| version + 3);
    assert_eq!(last["version"].as_i64(), version, "decided again on the other process's change: {last:#}");
    let read_user = format!("{{ user(id: \"{user_id}\") {{ firstName version }} }}");
    let (status, answer) = query(&client, &queries, &read_user, last["position"].as_i64().unwrap_or(0)).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["data"]["user"], json!({ "firstName": "Third", "version": version }), "{answer:#}");
    for (process, retries) in [(&commands, 1.0), (&other_commands, 0.0)] {
        let metrics = crate::metrics::scrape(&client, &process.url).await;
        assert_eq!(crate::metrics::sample(&metrics, command_api::RETRIES, &[]), Some(retries), "{metrics}");
    }
    drop(other_commands);

    // A standby joins; the active projector dies; the next write is still read back.
    let standby = start("projector", &url, &data_dir).await;
    active.child.kill().await.expect("kill the active projector");
    let (status, renamed) = command(
        &client,
        &commands,
        "UpdateCompany",
        json!({ "companyId": company_id, "name": "Scaled Group" }),
    )
    .await;
    assert_eq!(status, 200, "{renamed:#}");
    let (status, answer) = query(&client, &queries, &read, renamed["position"].as_i64().unwrap_or(0)).await;
    assert_eq!(
        (status, &answer["data"]["company"]["name"]),
        (200, &json!("Scaled Group")),
        "the standby took over within the query's wait: {answer:#}"
    );
    drop(standby);

    // The scale-out roles refuse SQLite, saying why.
    let output = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["projector", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env_remove("PORTAL_DATABASE_URL")
        .output()
        .await
        .expect("run the portal binary");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("share one Postgres database"), "{stderr}");
    let _ = std::fs::remove_dir_all(&data_dir);
}
