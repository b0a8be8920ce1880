//! `portal import FILE --company …`: uploads a CSV, TXT or XLSX file to a running portal's
//! `POST /imports`, as any client would, then follows the import through GraphQL with a
//! progress bar, and prints each refused row with its reasons.
//!
//! The import runs in the server: stopping this command does not stop it (and a server that
//! stops goes on with it when it starts again). Exit status: 0 when every row was imported, 2
//! when some rows were refused, 1 when the file was refused or the server could not be reached.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

#[derive(Args)]
pub struct ImportArgs {
    /// The file: .csv, .txt (any common delimiter, UTF-8 or UTF-16) or .xlsx, with a header row.
    file: PathBuf,
    /// The company the users join.
    #[arg(long)]
    company: String,
    /// The portal to import into.
    #[arg(long, env = "PORTAL_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The operator's token (else the one `serve` stored in --data-dir).
    #[arg(long, env = "PORTAL_OPERATOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where `serve` stored the operator token, when --token is not given.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./portal-data")]
    data_dir: PathBuf,
    /// Check every row and say what would happen; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// When the rows would take more licences than the company has free: import the rows that
    /// fit and refuse the rest (else the whole import is refused).
    #[arg(long)]
    partial: bool,
    /// New users are approved at once.
    #[arg(long)]
    approved: bool,
    /// The role new users get (else the company's User role).
    #[arg(long)]
    role_id: Option<String>,
    /// The group new users join (else Main Group).
    #[arg(long)]
    group_id: Option<String>,
    /// ARCHIVE or PRO, for rows without a serviceLevel column.
    #[arg(long)]
    service_level: Option<String>,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<i32> {
    let token = match &args.token {
        Some(token) => token.trim().to_owned(),
        None => std::fs::read_to_string(args.data_dir.join("operator-token"))
            .with_context(|| {
                format!(
                    "no --token, and no operator token in {}",
                    args.data_dir.join("operator-token").display()
                )
            })?
            .trim()
            .to_owned(),
    };
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let file_name = args
        .file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".to_owned());
    let mut form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.clone()))
        .text("companyId", args.company.clone());
    for (name, value) in [
        ("dryRun", args.dry_run.then(|| "true".to_owned())),
        ("partial", args.partial.then(|| "true".to_owned())),
        ("approved", args.approved.then(|| "true".to_owned())),
        ("roleId", args.role_id.clone()),
        ("groupId", args.group_id.clone()),
        ("serviceLevel", args.service_level.clone()),
    ] {
        if let Some(value) = value {
            form = form.text(name, value);
        }
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let url = args.url.trim_end_matches('/');
    let response = client
        .post(format!("{url}/imports"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .with_context(|| format!("cannot reach the portal at {url}"))?;
    let status = response.status();
    let answer: Value = response.json().await.context("the portal's answer is not JSON")?;
    if !status.is_success() {
        let error = &answer["error"];
        eprintln!("the import was refused ({status}): {}", error["message"].as_str().unwrap_or("no message"));
        if let Some(details) = error["details"].as_object().filter(|details| !details.is_empty()) {
            eprintln!("details: {}", Value::Object(details.clone()));
        }
        return Ok(1);
    }
    if args.dry_run {
        let summary = &answer["summary"];
        println!("dry run of {file_name}: {} rows, nothing written", answer["rows"]);
        print_summary(summary);
        let rejected: Vec<Value> = answer["results"]
            .as_array()
            .map(|results| results.iter().filter(|r| r["outcome"] == "REJECTED").cloned().collect())
            .unwrap_or_default();
        print_rejected(&rejected);
        return Ok(if rejected.is_empty() { 0 } else { 2 });
    }
    let Some(import_id) = answer["importId"].as_str() else {
        bail!("the portal answered no import id: {answer}")
    };
    let rows = answer["rows"].as_u64().unwrap_or_default();
    eprintln!("import {import_id} of {file_name}: {rows} rows");
    let progress = indicatif::ProgressBar::new(rows);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} rows ({per_sec}, {elapsed}, about {eta} left) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let graphql = |query: &'static str| {
        let client = client.clone();
        let token = token.clone();
        let url = format!("{url}/graphql");
        let id = import_id.to_owned();
        async move {
            let body: Value = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": query, "variables": { "id": id } }))
                .send()
                .await?
                .json()
                .await?;
            if let Some(errors) = body["errors"].as_array().filter(|errors| !errors.is_empty()) {
                bail!("GraphQL answered errors: {}", Value::Array(errors.clone()));
            }
            Ok::<Value, anyhow::Error>(body["data"]["import"].clone())
        }
    };
    let done = loop {
        let import = graphql(
            "query($id: ID!) { import(id: $id) { status done created updated ownershipRequested rejected } }",
        )
        .await?;
        progress.set_position(import["done"].as_u64().unwrap_or_default());
        progress.set_message(format!("{} refused", import["rejected"].as_u64().unwrap_or_default()));
        if import["status"] == "COMPLETED" {
            break import;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    progress.finish_and_clear();
    println!("import {import_id} of {file_name}: completed, {rows} rows");
    print_summary(&done);
    let rejected = graphql(
        "query($id: ID!) { import(id: $id) { results(outcome: REJECTED, first: 5000) { row problems { field message } } } }",
    )
    .await?;
    let rejected = rejected["results"].as_array().cloned().unwrap_or_default();
    print_rejected(&rejected);
    Ok(if rejected.is_empty() { 0 } else { 2 })
}

fn print_summary(counts: &Value) {
    for (label, field) in [
        ("created", "created"),
        ("updated", "updated"),
        ("ownership requested", "ownershipRequested"),
        ("refused", "rejected"),
    ] {
        println!("  {label:>20}: {}", counts[field].as_u64().unwrap_or_default());
    }
}

fn print_rejected(results: &[Value]) {
    for result in results {
        let problems: Vec<String> = result["problems"]
            .as_array()
            .map(|problems| {
                problems
                    .iter()
                    .map(|p| {
                        format!(
                            "{}: {}",
                            p["field"].as_str().unwrap_or(""),
                            p["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!("row {}: {}", result["row"], problems.join("; "));
    }
}
