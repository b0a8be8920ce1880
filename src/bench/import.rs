//! `portal bench --only import` (issue 7): `--import-rows` (5,000) users imported through HTTP,
//! as an admin's browser would send them, until every one is visible in GraphQL.
//!
//! Each run starts this very binary as `portal serve` on a store of its own (SQLite in a
//! temporary folder, then a scratch Postgres database), registers a company, uploads a CSV of
//! the rows as a multipart form to `POST /imports`, and polls GraphQL until the import is
//! COMPLETED and `users(companyId)` counts every row. Time = from sending the upload to that
//! moment. Once without passwords (users get invitations), once with a plain password in every
//! row (each hashed with argon2id while the import runs).

use std::fmt::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{BenchArgs, on_scratch_database, random_hex};

pub(super) struct ImportReport {
    rows: usize,
    runs: Vec<ImportRun>,
}

struct ImportRun {
    backend: &'static str,
    passwords: bool,
    /// From sending the upload to its answer (the file read and every row checked).
    accepted: Duration,
    /// From sending the upload to the import's completion.
    completed: Duration,
    /// From sending the upload to every user counted by `users(companyId)`.
    visible: Duration,
}

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<ImportReport> {
    let mut runs = Vec::new();
    for passwords in [false, true] {
        let folder = std::env::temp_dir().join(format!("portal-bench-import-{}", random_hex(6)));
        std::fs::create_dir_all(&folder)?;
        let sqlite = measure(args, &folder, None, passwords).await;
        let _ = std::fs::remove_dir_all(&folder);
        runs.push(sqlite.context("the SQLite import run failed")?);
        let label = format!("the Postgres import run{}", if passwords { " with passwords" } else { "" });
        let postgres = on_scratch_database(args, &label, |url| async move {
            let folder = std::env::temp_dir().join(format!("portal-bench-import-{}", random_hex(6)));
            std::fs::create_dir_all(&folder)?;
            let run = measure(args, &folder, Some(&url), passwords).await;
            let _ = std::fs::remove_dir_all(&folder);
            run
        })
        .await?;
        runs.push(postgres);
    }
    Ok(ImportReport { rows: args.import_rows, runs })
}

/// A `portal serve` of this binary on its own store; killed when dropped.
struct Server {
    _child: tokio::process::Child,
    url: String,
}

async fn serve(folder: &std::path::Path, database_url: Option<&str>, token: &str) -> anyhow::Result<Server> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(folder)
        .env("PORTAL_OPERATOR_TOKEN", token)
        .env("PORTAL_LOG", "warn")
        .env_remove("PORTAL_DATABASE_URL")
        .env_remove("PORTAL_NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let mut child = command.spawn().context("cannot start portal serve")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("portal listening on ") {
                return Ok(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
        Err(anyhow!("portal serve exited before listening"))
    })
    .await
    .context("portal serve did not start within a minute")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server { _child: child, url })
}

async fn measure(
    args: &BenchArgs,
    folder: &std::path::Path,
    database_url: Option<&str>,
    passwords: bool,
) -> anyhow::Result<ImportRun> {
    let backend = if database_url.is_some() { "Postgres" } else { "SQLite" };
    eprintln!(
        "import bench: {} rows on {backend}{} …",
        args.import_rows,
        if passwords { " with passwords" } else { "" }
    );
    let token = random_hex(32);
    let server = serve(folder, database_url, &token).await?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let post_json = |path: &str, body: Value| {
        client.post(format!("{}{path}", server.url)).bearer_auth(&token).json(&body).send()
    };
    let company: Value = post_json(
        "/commands/RegisterCompany",
        json!({ "name": "Import Bench", "mainPhone": "+1 415 555 0177", "licenseLimit": null }),
    )
    .await?
    .json()
    .await?;
    let company_id = company["id"].as_str().ok_or_else(|| anyhow!("no company: {company}"))?.to_owned();
    let mut csv = String::from(if passwords {
        "username,email,firstName,lastName,mobile,extension,password\n"
    } else {
        "username,email,firstName,lastName,mobile,extension\n"
    });
    for n in 0..args.import_rows {
        let _ = write!(csv, "bench.{n},bench.{n}@example.com,Bench,Number{n},+4479111{n:05},{}", 1000 + n);
        if passwords {
            let _ = write!(csv, ",Bench-Pass-{n:05}");
        }
        csv.push('\n');
    }
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("bench.csv"))
        .text("companyId", company_id.clone());
    let started = Instant::now();
    let response =
        client.post(format!("{}/imports", server.url)).bearer_auth(&token).multipart(form).send().await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    let accepted = started.elapsed();
    if status.as_u16() != 202 {
        bail!("the import was not started ({status}): {answer}");
    }
    let import_id = answer["importId"].as_str().ok_or_else(|| anyhow!("no import id"))?.to_owned();
    let graphql = |query: &'static str, variables: Value| {
        let request = post_json("/graphql", json!({ "query": query, "variables": variables }));
        async move {
            let body: Value = request.await?.json().await?;
            Ok::<Value, anyhow::Error>(body["data"].clone())
        }
    };
    let mut completed = None;
    let visible = loop {
        if completed.is_none() {
            let data = graphql(
                "query($id: ID!) { import(id: $id) { status rejected } }",
                json!({ "id": import_id }),
            )
            .await?;
            if data["import"]["status"] == "COMPLETED" {
                if data["import"]["rejected"] != 0 {
                    bail!("the import refused rows: {data}");
                }
                completed = Some(started.elapsed());
            }
        }
        if completed.is_some() {
            let data =
                graphql("query($c: ID!) { users(companyId: $c) { totalCount } }", json!({ "c": company_id }))
                    .await?;
            if data["users"]["totalCount"].as_u64() == Some(args.import_rows as u64) {
                break started.elapsed();
            }
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("the import did not finish within 15 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Ok(ImportRun { backend, passwords, accepted, completed: completed.unwrap_or(visible), visible })
}

impl ImportReport {
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n### Bulk import through HTTP (issue 7)\n");
        let _ = writeln!(
            out,
            "{} rows in one CSV uploaded to `POST /imports` of a `portal serve` process, until every user is counted by \
             `users(companyId)` in GraphQL.\n",
            self.rows
        );
        let _ = writeln!(
            out,
            "| store | passwords | upload answered s | import completed s | all users visible s | rows/s |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
        for run in &self.runs {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.0} |",
                run.backend,
                if run.passwords { "plain, hashed (argon2id)" } else { "none (invitations)" },
                run.accepted.as_secs_f64(),
                run.completed.as_secs_f64(),
                run.visible.as_secs_f64(),
                self.rows as f64 / run.visible.as_secs_f64(),
            );
        }
        let _ = writeln!(out, "\nTarget: {} rows without passwords visible in under 3 s.", self.rows);
        for run in self.runs.iter().filter(|run| !run.passwords) {
            let verdict = if run.visible.as_secs_f64() < 3.0 { "met" } else { "NOT MET" };
            let _ = writeln!(out, "- {}: {:.2} s → {verdict}", run.backend, run.visible.as_secs_f64());
        }
        out
    }
}
