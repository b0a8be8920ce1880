//! Bulk imports of users (`POST /imports`): a file (CSV, TXT or XLSX, as a multipart upload)
//! or a JSON body of rows becomes an import aggregate whose rows are decided and recorded in
//! chunks, in the background, each chunk one append.
//!
//! Before anything is written the whole file is read and every row decided against the store
//! as it is (a preview): a file that cannot be read, or that would take more licences than the
//! company has free, is refused with nothing written (unless the caller asks for a partial
//! import); a dry run answers with that preview. A real import keeps its rows, sealed, in
//! `import_jobs`, starts the aggregate, answers 202 with its id, and goes on in the background;
//! a process that starts finds the imports still running and goes on with them.
//!
//! Plain passwords are checked against the company's policy in the preview and hashed chunk by
//! chunk while the import runs (this dominates its time); a `passwordHash` column carries
//! argon2 or bcrypt hashes from another system, which users sign in with as before.

pub mod file;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use domain::import::{self, Format, RowResult};
use domain::user::ServiceLevel;
use domain::{ActorKind, Context};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::commands::imports::{Recorder, mark_repeats, preview};
use crate::error::ApiError;
use crate::{Caller, CommandApi, PreparedDecision, RequestInfo, auth, secrets};
use file::{Column, Row};

/// The largest upload: 5,000 rows of a wide sheet fit well within it.
pub const UPLOAD_LIMIT: usize = 16 * 1024 * 1024;
/// Rows per append when no password must be hashed.
const CHUNK: usize = 500;
/// Rows per append when plain passwords are hashed (so progress shows while it runs).
const HASHING_CHUNK: usize = 16;
/// A job whose import never started (its process died in between) is dropped after this.
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// A row ready to be decided: its password, if any, as a hash (never in the clear).
#[derive(Debug, Clone)]
pub struct PreparedRow {
    pub row: Row,
    pub password: Option<Credential>,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// A plain password from the file, hashed; the user must change it at first sign-in.
    SetByAdmin { password_hash: String },
    /// A hash from another system, which the user keeps signing in with.
    Imported { password_hash: String },
}

/// The options of an import, from JSON fields or multipart text parts.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    company_id: Option<Uuid>,
    role_id: Option<Uuid>,
    group_id: Option<Uuid>,
    service_level: Option<ServiceLevel>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    partial: bool,
    /// New users are approved at once.
    #[serde(default)]
    approved: bool,
    file_name: Option<String>,
    /// JSON rows, keyed by the column names (`username`, `firstName`…).
    rows: Option<Vec<BTreeMap<Column, serde_json::Value>>>,
}

/// What `POST /imports` answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    import_id: Option<Uuid>,
    dry_run: bool,
    status: &'static str,
    rows: usize,
    /// The log position of `ImportStarted`, for `X-Portal-Min-Position`.
    position: Option<i64>,
    licences: Licences,
    summary: import::Counts,
    /// Every row's result, for a dry run; for a real import, see `import(id)` in GraphQL.
    results: Vec<RowResult>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Licences {
    limit: Option<u32>,
    used: u32,
    /// Users the rows would create.
    needed: u32,
}

pub(crate) fn routes() -> Router<Arc<CommandApi>> {
    Router::new().route("/imports", post(start)).layer(DefaultBodyLimit::max(UPLOAD_LIMIT))
}

#[tracing::instrument(skip_all)]
async fn start(State(api): State<Arc<CommandApi>>, peer: auth::Peer, request: Request) -> Response {
    let headers = request.headers().clone();
    let request_id = crate::request_id(&headers);
    let client_ip = auth::client_ip(peer).map(|ip| ip.to_string());
    // Detached: a client that hangs up must not stop an import between its start and its run.
    let begun = tokio::spawn(async move { begin(&api, &headers, request, &request_id, client_ip).await })
        .await
        .unwrap_or(Err(ApiError::Internal));
    match begun {
        Ok(answer) => {
            let status = if answer.dry_run { StatusCode::OK } else { StatusCode::ACCEPTED };
            (status, axum::Json(answer)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn begin(
    api: &Arc<CommandApi>,
    headers: &HeaderMap,
    request: Request,
    request_id: &str,
    client_ip: Option<String>,
) -> Result<Answer, ApiError> {
    let caller = api.authenticate(headers).await?;
    if caller.must_change_password {
        return Err(ApiError::Forbidden(
            "the password an administrator set must be changed first".to_owned(),
        ));
    }
    let (options, format, mut rows) = read_request(headers, request).await?;
    let company_id = options.company_id.ok_or_else(|| ApiError::invalid_field("companyId", "is required"))?;
    // Whoever may create users in the company (with that role and group) may import them.
    let target = json!({ "companyId": company_id, "roleId": options.role_id, "groupId": options.group_id });
    api.authorize(&caller, "CreateUser", &target).await?;
    let a = &api.aggregates;
    let company = a.companies.load(a.log.as_ref(), company_id).await?;
    if company.version == 0 || !company.state.registered {
        return Err(ApiError::NotFound {
            what: "company".to_owned(),
            field: "companyId".to_owned(),
            id: company_id.to_string(),
        });
    }
    mark_repeats(&mut rows);
    vet_updates(api, &caller, company_id, &mut rows).await?;
    let settings = import::Settings {
        file_name: options.file_name.clone(),
        format,
        rows: u32::try_from(rows.len()).unwrap_or(u32::MAX),
        role_id: options.role_id,
        group_id: options.group_id,
        service_level: options.service_level.unwrap_or_default(),
        partial: options.partial,
        approved: options.approved,
    };
    if settings.rows > import::MAX_ROWS {
        return Err(too_many(rows.len()));
    }
    let context = Context { actor: caller.actor.clone(), now: Utc::now() };
    let policy = company.state.password_policy.clone();
    let mut checked = Vec::with_capacity(rows.len());
    for row in &rows {
        checked.push(prepare(row.clone(), &policy, Hashing::CheckOnly).await?);
    }

    // What the rows would do if the company had licences enough: the users they create.
    let results = preview(a, &context, company_id, &settings, checked.clone(), true).await?;
    let needed = count(&results).created;
    let licences = Licences { limit: company.state.license_limit, used: company.state.licenses_used, needed };
    let free = licences.limit.map(|limit| limit.saturating_sub(licences.used));
    let results = match free {
        Some(free) if needed > free && !settings.partial => {
            return Err(ApiError::Refused {
                code: "license_limit",
                message: format!(
                    "the company has {free} free licences ({} of {} in use) and the file would create {needed} users: \
                     the first {free} of them fit; ask for a partial import to create those and refuse the rest, \
                     or raise the licence limit",
                    licences.used,
                    licences.limit.unwrap_or_default(),
                ),
                details: Some(json!({
                    "free": free,
                    "used": licences.used,
                    "limit": licences.limit,
                    "needed": needed,
                    "fit": free,
                })),
            });
        }
        Some(free) if needed > free => preview(a, &context, company_id, &settings, checked, false).await?,
        _ => results,
    };
    if options.dry_run {
        return Ok(Answer {
            import_id: None,
            dry_run: true,
            status: "DRY_RUN",
            rows: rows.len(),
            position: None,
            licences,
            summary: count(&results),
            results,
        });
    }

    let import_id = Uuid::now_v7();
    let encoded = serde_json::to_vec(&rows).map_err(|_| ApiError::Internal)?;
    eventlog::put_import_job(&a.database, import_id, company_id, &encoded, context.now).await?;
    let info = RequestInfo {
        actor: caller.actor,
        request_id: request_id.to_owned(),
        correlation_id: Uuid::parse_str(request_id).unwrap_or_else(|_| Uuid::now_v7()),
        idempotency_key: None,
        if_match: None,
        reason: None,
        client_ip,
        user_agent: crate::user_agent(headers),
    };
    let body = json!({ "importId": import_id, "companyId": company_id, "settings": settings });
    let started = match api.execute("StartImport", body, info.clone()).await {
        Ok(started) => started,
        Err(error) => {
            let _ = eventlog::finish_import_job(&a.database, import_id, Utc::now()).await;
            return Err(error);
        }
    };
    spawn_run(Arc::clone(api), import_id, info);
    Ok(Answer {
        import_id: Some(import_id),
        dry_run: false,
        status: "RUNNING",
        rows: rows.len(),
        position: Some(started.reply.position),
        licences,
        summary: import::Counts::default(),
        results: Vec::new(),
    })
}

/// A signed-in admin updates through an import only the users they could update one by one:
/// a row naming a user of the company they may not manage (one with more rights than theirs)
/// gets that refusal as its problem. (The operator may update anyone.)
async fn vet_updates(
    api: &CommandApi,
    caller: &Caller,
    company_id: Uuid,
    rows: &mut [Row],
) -> Result<(), ApiError> {
    if caller.actor.kind != ActorKind::User {
        return Ok(());
    }
    let a = &api.aggregates;
    let keys: Vec<String> =
        rows.iter().filter_map(|row| row.get(Column::Username)).map(domain::user::username_claim).collect();
    let owners = a.log.claim_owners(&keys).await?;
    for row in rows.iter_mut().filter(|row| row.problems.is_empty()) {
        let Some(user_id) = row
            .get(Column::Username)
            .and_then(|username| owners.get(&domain::user::username_claim(username)))
            .and_then(|stream| domain::parse_stream_id(stream))
            .map(|(_, id)| id)
        else {
            continue;
        };
        if a.users.load(a.log.as_ref(), user_id).await?.state.company_id != Some(company_id) {
            continue;
        }
        let mut body = serde_json::Map::new();
        body.insert("userId".to_owned(), json!(user_id));
        for (column, value) in &row.values {
            if !matches!(column, Column::Username | Column::Password | Column::PasswordHash) {
                body.insert(column.name().to_owned(), json!(value));
            }
        }
        match api.authorize(caller, "UpdateUserProfile", &serde_json::Value::Object(body)).await {
            Ok(()) => {}
            Err(error @ (ApiError::Forbidden(_) | ApiError::NotFound { .. })) => {
                row.problem("username", error.to_string());
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

fn too_many(rows: usize) -> ApiError {
    ApiError::Refused {
        code: "too_many_rows",
        message: format!(
            "the import has {rows} rows; an import holds at most {}: split it",
            import::MAX_ROWS
        ),
        details: Some(json!({ "rows": rows, "limit": import::MAX_ROWS })),
    }
}

fn count(results: &[RowResult]) -> import::Counts {
    let mut counts = import::Counts::default();
    for result in results {
        counts.add(result.outcome);
    }
    counts
}

/// The options and rows of a request: a multipart upload (a `file` part and text parts for
/// the options) or a JSON body with `rows`.
async fn read_request(
    headers: &HeaderMap,
    request: Request,
) -> Result<(Options, Format, Vec<Row>), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|rejection| ApiError::invalid_field("file", rejection.body_text()))?;
        return read_multipart(multipart).await;
    }
    if !content_type.starts_with("application/json") {
        return Err(ApiError::InvalidHeader {
            header: "Content-Type",
            problem: "send the file as multipart/form-data, or the rows as application/json".to_owned(),
        });
    }
    let bytes = axum::body::Bytes::from_request(request, &()).await.map_err(|rejection| {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: UPLOAD_LIMIT },
            _ => ApiError::MalformedJson(rejection.body_text()),
        }
    })?;
    let body: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    let mut options: Options = crate::dto::parse(body)?;
    let json_rows = options.rows.take().ok_or_else(|| ApiError::invalid_field("rows", "is required"))?;
    if json_rows.len() > import::MAX_ROWS as usize {
        return Err(too_many(json_rows.len()));
    }
    if json_rows.is_empty() {
        return Err(ApiError::invalid_field("rows", "must hold at least one row"));
    }
    let rows = json_rows
        .into_iter()
        .enumerate()
        .map(|(index, values)| json_row(u32::try_from(index + 1).unwrap_or(u32::MAX), values))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((options, Format::Json, rows))
}

/// A JSON row: strings (numbers are taken as their text); `null` and "" are no value.
fn json_row(number: u32, values: BTreeMap<Column, serde_json::Value>) -> Result<Row, ApiError> {
    let mut row = Row { number, ..Row::default() };
    for (column, value) in values {
        let text = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(text) => text.trim().to_owned(),
            serde_json::Value::Number(number) => number.to_string(),
            _ => {
                return Err(ApiError::invalid_field(
                    &format!("rows[{}].{}", number - 1, column.name()),
                    "must be a string",
                ));
            }
        };
        if !text.is_empty() {
            row.values.insert(column, text);
        }
    }
    Ok(row)
}

async fn read_multipart(mut multipart: Multipart) -> Result<(Options, Format, Vec<Row>), ApiError> {
    let mut fields = serde_json::Map::new();
    let mut upload = None;
    while let Some(part) = multipart.next_field().await.map_err(|error| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: UPLOAD_LIMIT }
        } else {
            ApiError::invalid_field("file", error.body_text())
        }
    })? {
        let name = part.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = part.file_name().map(str::to_owned);
            let content_type = part.content_type().map(str::to_owned);
            let bytes =
                part.bytes().await.map_err(|error| ApiError::invalid_field("file", error.body_text()))?;
            upload = Some((file_name, content_type, bytes));
            continue;
        }
        let text = part.text().await.map_err(|error| ApiError::invalid_field(&name, error.body_text()))?;
        let value = match name.as_str() {
            "dryRun" | "partial" | "approved" => match text.trim() {
                "true" | "1" | "on" | "yes" => json!(true),
                "false" | "0" | "off" | "no" | "" => json!(false),
                _ => return Err(ApiError::invalid_field(&name, "must be true or false")),
            },
            _ if text.trim().is_empty() => continue,
            _ => json!(text.trim()),
        };
        fields.insert(name, value);
    }
    let (file_name, content_type, bytes) = upload.ok_or_else(|| {
        ApiError::invalid_field("file", "is required: send the file as the part named file")
    })?;
    let mut options: Options = crate::dto::parse(serde_json::Value::Object(fields))?;
    options.file_name = options.file_name.or(file_name);
    let format = file::format_of(options.file_name.as_deref(), content_type.as_deref(), &bytes)?;
    let rows = tokio::task::spawn_blocking(move || file::read(format, &bytes))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok((options, format, rows))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hashing {
    /// Check plain passwords against the policy only (a preview).
    CheckOnly,
    /// Check and hash them (a chunk about to be recorded).
    Hash,
}

/// The row with its password checked (and hashed), or with the problem that refuses it.
async fn prepare(
    mut row: Row,
    policy: &domain::policy::PasswordPolicy,
    hashing: Hashing,
) -> Result<PreparedRow, ApiError> {
    let plain = row.values.remove(&Column::Password);
    let hashed = row.values.remove(&Column::PasswordHash);
    let password = match (plain, hashed) {
        (None, None) => None,
        (Some(_), Some(_)) => {
            row.problem("password", "give a password or a passwordHash, not both");
            None
        }
        (Some(plain), None) => match crate::commands::check_policy(policy, "password", &plain) {
            Err(ApiError::InvalidFields { fields, .. }) => {
                for (field, message) in fields {
                    row.problem(&field, message);
                }
                None
            }
            Err(error) => return Err(error),
            Ok(()) if hashing == Hashing::CheckOnly => {
                Some(Credential::SetByAdmin { password_hash: String::new() })
            }
            Ok(()) => Some(Credential::SetByAdmin { password_hash: secrets::hash_password(plain).await? }),
        },
        (None, Some(hash)) => match secrets::known_hash(&hash) {
            Ok(()) => Some(Credential::Imported { password_hash: hash }),
            Err(problem) => {
                row.problem("passwordHash", problem);
                None
            }
        },
    };
    Ok(PreparedRow { row, password })
}

/// Runs an import in the background until every row is recorded.
fn spawn_run(api: Arc<CommandApi>, import_id: Uuid, request: RequestInfo) {
    {
        let Ok(mut running) = api.running_imports.lock() else { return };
        if !running.insert(import_id) {
            return;
        }
    }
    tokio::spawn(async move {
        let result = run(&api, import_id, request).await;
        if let Ok(mut running) = api.running_imports.lock() {
            running.remove(&import_id);
        }
        if let Err(error) = result {
            tracing::error!(%import_id, code = error.code(), %error, "the import stopped; it goes on at the next start");
        }
    });
}

async fn run(api: &Arc<CommandApi>, import_id: Uuid, request: RequestInfo) -> Result<(), ApiError> {
    let a = &api.aggregates;
    let Some(encoded) = eventlog::import_job_rows(&a.database, import_id).await? else { return Ok(()) };
    let rows: Vec<Row> = serde_json::from_slice(&encoded).map_err(|error| {
        tracing::error!(%import_id, %error, "the rows of an import do not decode");
        ApiError::Internal
    })?;
    let hashing = rows.iter().any(|row| row.get(Column::Password).is_some());
    let chunk = if hashing { HASHING_CHUNK } else { CHUNK };
    const FIRST_PAUSE: Duration = Duration::from_millis(250);
    let mut pause = FIRST_PAUSE;
    loop {
        let mut progressed = false;
        match record(api, import_id, &rows, chunk, &request, &mut progressed).await {
            Ok(counts) => {
                eventlog::finish_import_job(&a.database, import_id, Utc::now()).await?;
                tracing::info!(%import_id, created = counts.created, rejected = counts.rejected, "import completed");
                return Ok(());
            }
            Err(
                error @ (ApiError::NotFound { .. }
                | ApiError::Refused { .. }
                | ApiError::InvalidFields { .. }),
            ) => {
                return Err(error);
            }
            Err(error @ (ApiError::VersionConflict { .. } | ApiError::AlreadyTaken { .. })) => {
                // Another command changed the company, a role, a group or a claim since the
                // chunk was decided: decide again from the store.
                tracing::debug!(%import_id, %error, "an import chunk met a concurrent change; deciding again");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => {
                // The store failed: the rows recorded so far stay recorded; try the rest again
                // after a pause, which grows only while no chunk gets through.
                tracing::warn!(%import_id, code = error.code(), %error, "an import chunk failed; trying again");
                if progressed {
                    pause = FIRST_PAUSE;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Records every row of `rows` not recorded yet, `chunk` rows to an append, and answers the
/// import's counts once it is complete (`progressed` tells whether a chunk was appended). Each
/// chunk is decided (its passwords hashed, its rows decided on the state the chunk before it
/// leaves) while the chunk before it is appended.
async fn record(
    api: &Arc<CommandApi>,
    import_id: Uuid,
    rows: &[Row],
    chunk: usize,
    request: &RequestInfo,
    progressed: &mut bool,
) -> Result<import::Counts, ApiError> {
    let a = &api.aggregates;
    let mut recorder = Recorder::start(a, &request.actor, import_id).await?;
    let policy = a.companies.load(a.log.as_ref(), recorder.company_id()).await?.state.password_policy;
    let mut pending: Option<(PreparedDecision, Instant)> = None;
    loop {
        let done = recorder.state().recorded();
        let next: Vec<Row> =
            rows.iter().filter(|row| !done.contains(&row.number)).take(chunk).cloned().collect();
        let chunk_request =
            RequestInfo { request_id: format!("{}:{}", request.request_id, done.len()), ..request.clone() };
        let decide = async {
            if next.is_empty() {
                return Ok(None);
            }
            let started = Instant::now();
            let prepared = futures::future::try_join_all(
                next.into_iter().map(|row| prepare(row, &policy, Hashing::Hash)),
            )
            .await?;
            let (decision, now) = recorder.decide(prepared).await?;
            let decision = api.prepare_decision(decision, &chunk_request, now).await?;
            Ok::<_, ApiError>(Some((decision, started)))
        };
        let previous = pending.take();
        let append = async {
            let Some((decision, started)) = previous else { return Ok(false) };
            // On a task of its own: hashing and storing the chunk's events runs on the other
            // core while this one decides the next chunk and seals its personal data.
            let appender = Arc::clone(api);
            tokio::spawn(async move { appender.append_decision(decision).await })
                .await
                .map_err(|_| ApiError::Internal)??;
            metrics::histogram!("portal_import_chunk_seconds").record(started.elapsed().as_secs_f64());
            Ok::<_, ApiError>(true)
        };
        let (appended, decided) = tokio::join!(append, decide);
        *progressed |= appended?;
        match decided? {
            Some(decided) => pending = Some(decided),
            None => return Ok(recorder.state().counts),
        }
    }
}

/// Goes on with the imports a stopped process left running (their rows are in `import_jobs`).
pub async fn resume(api: Arc<CommandApi>) -> Result<usize, ApiError> {
    let a = &api.aggregates;
    let log = a.log.as_ref();
    let mut resumed = 0;
    for (import_id, created_at) in eventlog::unfinished_import_jobs(&a.database).await? {
        let stream = a.imports.stream_id(import_id);
        let Some(started) = log.read_stream(&stream, 0).await?.into_iter().next() else {
            // The process died between keeping the rows and starting the import.
            if Utc::now() - created_at > ABANDONED_AFTER {
                eventlog::finish_import_job(&a.database, import_id, Utc::now()).await?;
            }
            continue;
        };
        let metadata = started.metadata;
        let request = RequestInfo {
            actor: metadata.actor.clone(),
            request_id: metadata.request_id.clone().unwrap_or_else(|| import_id.to_string()),
            correlation_id: metadata.correlation_id,
            idempotency_key: None,
            if_match: None,
            reason: metadata.reason.clone(),
            client_ip: metadata.client_ip.clone(),
            user_agent: metadata.user_agent.clone(),
        };
        tracing::info!(%import_id, "going on with an import a stopped process left running");
        spawn_run(Arc::clone(&api), import_id, request);
        resumed += 1;
    }
    Ok(resumed)
}
