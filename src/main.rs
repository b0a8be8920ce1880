//! `portal`: the one binary. It wires the event log, the projectors, the command API and the
//! GraphQL API together, and runs the operator's commands.

mod audit;
mod bench;
mod import;
mod mailbox;
mod telemetry;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use clap::{Args, Parser, Subcommand};
use command_api::CommandApi;
use eventlog::Database;
use projections::ReadModel;

#[derive(Parser)]
#[command(
    name = "portal",
    version,
    about = "Event-sourced identity and access backend for a customer portal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the portal: commands, projections and GraphQL on one port.
    Serve(ServeArgs),
    /// Scale-out (Postgres): takes commands (`POST /commands/…`, `/auth/…`), nothing else.
    #[command(name = "command-api")]
    Commands(ServeArgs),
    /// Scale-out (Postgres): the projectors (one active per read model across processes, a
    /// standby takes over), the NATS publisher, the audit sealer and the outbox's delivery; on
    /// its port only `/healthz`, `/readyz` and `/metrics`.
    Projector(ServeArgs),
    /// Scale-out (Postgres): answers GraphQL (and subscriptions) from the read models the
    /// projector processes keep; any number of them.
    #[command(name = "query-api")]
    Queries(ServeArgs),
    /// Read-model maintenance.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Measures command throughput and rebuild speed (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Imports users from a CSV, TXT or XLSX file into a running portal, with a progress bar.
    Import(import::ImportArgs),
    /// The audit trail's integrity.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recomputes every event's hash-chain link and every seal; prints "verified N events, head
    /// <hash>", or the first broken link (and exits with status 1). Changes nothing.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Writes the audit trail as a file, in commit order: every event recorded for a company (and
    /// the companies under it, with --include-descendants), or all, in [--from, --to).
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        export: audit::ExportArgs,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Replays the whole event log into the read models, in one transaction per read model.
    Rebuild {
        #[command(flatten)]
        store: StoreArgs,
        /// Which read model: users, roles, companies, groups, tickets, or all.
        #[arg(long, default_value = "all")]
        read_model: String,
    },
}

#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Where the embedded database and the operator token live.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./portal-data")]
    data_dir: PathBuf,
    /// A `postgres://` URL; without it the data lives in SQLite at <data-dir>/portal.db.
    #[arg(long, env = "PORTAL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// Publishing every event to NATS JetStream (for analytics consumers).
#[derive(Args, Clone)]
pub struct NatsArgs {
    /// The NATS server (`nats://host:4222`): every event is published to a JetStream stream there.
    #[arg(long, env = "PORTAL_NATS_URL")]
    nats_url: Option<String>,
    /// The JetStream stream the events go to, created or updated at start.
    #[arg(long, env = "PORTAL_NATS_STREAM", default_value = "PORTAL_EVENTS")]
    nats_stream: String,
    /// Subjects are `<prefix>.<companyId>.<category>.<EventType>`.
    #[arg(long, env = "PORTAL_NATS_SUBJECT_PREFIX", default_value = "portal.events")]
    nats_subject_prefix: String,
    /// How many days the stream keeps an event; 0 keeps every event for ever.
    #[arg(long, env = "PORTAL_NATS_RETENTION_DAYS", default_value_t = 0)]
    nats_retention_days: u32,
}

impl NatsArgs {
    /// The publisher's settings, or `None` without `--nats-url`; bad names are refused.
    fn settings(&self) -> anyhow::Result<Option<projections::PublisherSettings>> {
        let Some(url) = &self.nats_url else { return Ok(None) };
        let stream_ok = !self.nats_stream.is_empty()
            && self.nats_stream.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !stream_ok {
            bail!("--nats-stream {:?}: use letters, digits, '_' and '-' only", self.nats_stream);
        }
        let prefix_ok = !self.nats_subject_prefix.is_empty()
            && self.nats_subject_prefix.split('.').all(|token| {
                !token.is_empty() && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        if !prefix_ok {
            bail!(
                "--nats-subject-prefix {:?}: dot-separated tokens of letters, digits, '_' and '-' (no wildcards)",
                self.nats_subject_prefix
            );
        }
        let mut settings = projections::PublisherSettings::new(url.clone());
        settings.stream = self.nats_stream.clone();
        settings.subject_prefix = self.nats_subject_prefix.clone();
        settings.max_age = Duration::from_secs(u64::from(self.nats_retention_days) * 86_400);
        Ok(Some(settings))
    }
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, env = "PORTAL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    nats: NatsArgs,
    /// How long invitation and password-reset tokens work, in minutes.
    #[arg(long, env = "PORTAL_TOKEN_TTL_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=10080))]
    token_ttl_minutes: u32,
    /// The SMS gateway's webhook (https://, or http:// to a local relay): every SMS (sign-in
    /// PINs) is POSTed there as JSON `{"id", "to", "text", "template"}`. Without it, SMS go to
    /// the file mailbox.
    #[arg(long, env = "PORTAL_SMS_WEBHOOK_URL")]
    sms_webhook_url: Option<String>,
    /// The SMTP server for mail: `smtps://[user:password@]host[:465]` (TLS from the start),
    /// `smtp://…?tls=required` (STARTTLS, port 587 by default) or `smtp://host[:25]` (plain, for a
    /// local relay). Without it, mail goes to the file mailbox.
    #[arg(long, env = "PORTAL_SMTP_URL")]
    smtp_url: Option<String>,
    /// The From address of the portal's mail.
    #[arg(long, env = "PORTAL_MAIL_FROM", default_value = "Customer Portal <portal@localhost>")]
    mail_from: String,
    /// A PEM file of extra certificate authorities to trust for the SMTP server and the SMS
    /// gateway (a private CA), besides the public ones.
    #[arg(long, env = "PORTAL_TLS_CA_FILE")]
    tls_ca_file: Option<PathBuf>,
    /// How long a sign-in session lasts, in minutes.
    #[arg(long, env = "PORTAL_SESSION_TTL_MINUTES", default_value_t = 720, value_parser = clap::value_parser!(u32).range(1..=43200))]
    session_ttl_minutes: u32,
}

fn main() -> anyhow::Result<()> {
    // The one crypto provider of every TLS client in the process (SMTP, the SMS webhook,
    // Postgres); an error only means one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args, Role::All).await,
            Command::Commands(args) => serve(args, Role::Commands).await,
            Command::Projector(args) => serve(args, Role::Projector).await,
            Command::Queries(args) => serve(args, Role::Queries).await,
            Command::Projections { command: ProjectionsCommand::Rebuild { store, read_model } } => {
                rebuild(store, &read_model).await
            }
            Command::Bench(args) => bench::run(args).await,
            Command::Import(args) => {
                let status = import::run(args).await?;
                if status != 0 {
                    std::process::exit(status);
                }
                Ok(())
            }
            Command::Audit { command: AuditCommand::Export { store, export } } => {
                let store = open_store(&store).await?;
                audit::export(&store.database, &export).await
            }
            Command::Audit { command: AuditCommand::Verify { store } } => {
                let store = open_store(&store).await?;
                if audit::verify(&store.database).await? {
                    Ok(())
                } else {
                    std::process::exit(1);
                }
            }
        }
    })
}

/// An open store, and (for SQLite) the lock that keeps a second process off its files.
pub struct OpenStore {
    pub database: Database,
    _lock: Option<std::fs::File>,
}

/// Opens and migrates the store the arguments name.
pub async fn open_store(store: &StoreArgs) -> anyhow::Result<OpenStore> {
    std::fs::create_dir_all(&store.data_dir)
        .with_context(|| format!("cannot create the data directory {}", store.data_dir.display()))?;
    let (database, lock) = match &store.database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let database = Database::connect_postgres(url).await.context("cannot connect to Postgres")?;
            (database, None)
        }
        Some(_) => {
            bail!("--database-url must be a postgres:// URL (without it, SQLite in --data-dir is used)")
        }
        None => {
            let lock = lock_data_dir(&store.data_dir)?;
            let database = Database::open_sqlite(&store.data_dir.join("portal.db"))
                .await
                .context("cannot open the SQLite database")?;
            (database, Some(lock))
        }
    };
    database.migrate().await.context("cannot apply the database migrations")?;
    Ok(OpenStore { database, _lock: lock })
}

/// SQLite serves one process: a second `portal` on the same data directory is refused.
fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join("portal.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("another portal process is using {} (stop it first)", data_dir.display())
        }
        Err(std::fs::TryLockError::Error(error)) => Err(error).context("cannot lock the data directory"),
    }
}

/// `PORTAL_OPERATOR_TOKEN`, or the token stored in `<data-dir>/operator-token`, generated
/// (and printed, once) on first start.
fn operator_token(data_dir: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("PORTAL_OPERATOR_TOKEN") {
        if token.trim().len() < 16 {
            bail!("PORTAL_OPERATOR_TOKEN must be at least 16 characters");
        }
        return Ok(token.trim().to_owned());
    }
    let path = data_dir.join("operator-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        println!("operator token: stored in {}", path.display());
        return Ok(token.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| anyhow::anyhow!("no randomness for a token: {error}"))?;
    let token = hex::encode(bytes);
    write_private(&path, &token)
        .with_context(|| format!("cannot store the operator token in {}", path.display()))?;
    println!("operator token (stored in {}): {token}", path.display());
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// `/readyz`: 200 when the database answers (commands work whatever NATS does), with the NATS
/// publisher's state and lag as detail; 503 when the database does not answer.
async fn readiness(
    database: &Database,
    nats: Option<projections::PublisherStatus>,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let database_ok = database.ping().await.is_ok();
    let status = if database_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "status": if database_ok { "ready" } else { "the database does not answer" },
        "database": if database_ok { "ok" } else { "unreachable" },
        "nats": nats,
    });
    (status, axum::Json(body))
}

/// How long requests in flight may take to finish once a stop signal arrived.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// What one process of the portal does: everything (`serve`), or one part of the scale-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    All,
    Commands,
    Projector,
    Queries,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::All => "serve",
            Role::Commands => "command-api",
            Role::Projector => "projector",
            Role::Queries => "query-api",
        }
    }

    /// Leads projectors (or stands by to), publishes, seals and delivers the outbox.
    fn works_in_background(self) -> bool {
        matches!(self, Role::All | Role::Projector)
    }

    fn takes_commands(self) -> bool {
        matches!(self, Role::All | Role::Commands)
    }

    fn answers_queries(self) -> bool {
        matches!(self, Role::All | Role::Queries)
    }
}

async fn serve(args: ServeArgs, role: Role) -> anyhow::Result<()> {
    if role != Role::All && args.store.database_url.is_none() {
        bail!(
            "portal {}: the scale-out roles share one Postgres database (--database-url postgres://…); \
             SQLite serves one process: run `portal serve`",
            role.name()
        );
    }
    let nats = args.nats.settings()?.filter(|_| role.works_in_background());
    let metrics_handle = telemetry::install()?;
    let store = open_store(&args.store).await?;
    let token = operator_token(&args.store.data_dir)?;
    let database = store.database.clone();
    let log = database.event_log();
    let projectors = if role.works_in_background() {
        projections::spawn_all(database.clone(), Arc::clone(&log))
    } else {
        projections::spawn_standbys(database.clone(), Arc::clone(&log))
    };
    let publisher =
        nats.map(|settings| projections::spawn_publisher(database.clone(), Arc::clone(&log), settings));
    let publisher_status = publisher.as_ref().map(|publisher| publisher.status.clone());
    let extra_ca = match &args.tls_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|error| anyhow::anyhow!("--tls-ca-file {}: {error}", path.display()))?,
        ),
        None => None,
    };
    let smtp = args
        .smtp_url
        .as_deref()
        .map(|url| mailbox::Smtp::new(url, &args.mail_from, extra_ca.as_deref()))
        .transpose()?;
    let sms = args
        .sms_webhook_url
        .as_deref()
        .map(|url| mailbox::SmsWebhook::new(url, extra_ca.as_deref()))
        .transpose()?;
    let delivery = mailbox::Delivery::new(&args.store.data_dir, sms, smtp);
    let _background = role.works_in_background().then(|| {
        (
            mailbox::spawn(Arc::clone(&log), database.clone(), delivery),
            audit::spawn_sealer(Arc::clone(&log), database.clone()),
        )
    });

    let settings = command_api::Settings {
        token_ttl: chrono::TimeDelta::minutes(i64::from(args.token_ttl_minutes)),
        session_ttl: chrono::TimeDelta::minutes(i64::from(args.session_ttl_minutes)),
    };
    let commands = Arc::new(CommandApi::with_settings(Arc::clone(&log), database.clone(), &token, settings));
    let authenticator = Arc::clone(&commands);
    let graphql = query_api::GraphqlState {
        schema: query_api::schema(database.clone(), Arc::clone(&log)),
        database: database.clone(),
        log: Arc::clone(&log),
        progress: projectors.progress.clone(),
        authenticate: Arc::new(move |headers| {
            let authenticator = Arc::clone(&authenticator);
            Box::pin(async move {
                let Ok(caller) = authenticator.authenticate(&headers).await else {
                    return query_api::Access::Unauthenticated;
                };
                match (caller.actor.kind, caller.actor.id) {
                    (domain::ActorKind::Operator, _) => {
                        query_api::Access::Granted(query_api::Viewer::Operator)
                    }
                    (domain::ActorKind::User, Some(user_id)) if !caller.must_change_password => {
                        match authenticator.standing(user_id).await {
                            Ok((company_id, users_level)) => {
                                query_api::Access::Granted(query_api::Viewer::User {
                                    user_id,
                                    company_id,
                                    users_level,
                                    companies: Default::default(),
                                })
                            }
                            Err(_) => query_api::Access::Unauthenticated,
                        }
                    }
                    (domain::ActorKind::User, _) => query_api::Access::Forbidden(
                        "the password an administrator set must be changed first (ChangePassword)".to_owned(),
                    ),
                    _ => query_api::Access::Unauthenticated,
                }
            })
        }),
    };
    let scrape = Arc::new(telemetry::Scrape {
        handle: metrics_handle,
        database: database.clone(),
        progress: projectors.progress.clone(),
        publisher: publisher_status.clone(),
    });
    let mut app = Router::new();
    if role.takes_commands() {
        // Imports a stopped process left running go on here (their rows wait, sealed).
        let resumer = Arc::clone(&commands);
        tokio::spawn(async move {
            match command_api::imports::resume(resumer).await {
                Ok(0) => {}
                Ok(resumed) => tracing::info!(resumed, "imports left running go on"),
                Err(error) => tracing::error!(%error, "could not look for imports left running"),
            }
        });
        app = app.merge(command_api::router(commands));
    }
    if role.answers_queries() {
        app = app.merge(query_api::router(graphql));
    }
    let app = app
        .route(
            "/metrics",
            get(move || {
                let scrape = Arc::clone(&scrape);
                async move {
                    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], scrape.render().await)
                }
            }),
        )
        .route("/healthz", get(|| async { StatusCode::OK }))
        .route(
            "/readyz",
            get(move || {
                let database = database.clone();
                let nats = publisher_status.as_ref().map(|status| status.borrow().clone());
                async move { readiness(&database, nats).await }
            }),
        )
        .layer(tower_http::trace::TraceLayer::new_for_http());

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let backend = match args.store.database_url {
        Some(_) => "Postgres".to_owned(),
        None => format!("SQLite in {}", args.store.data_dir.display()),
    };
    let role_note = if role == Role::All { String::new() } else { format!(", {}", role.name()) };
    println!("portal listening on http://{address} ({backend}{role_note})");
    std::io::stdout().flush()?;
    let (stopping, stopped) = tokio::sync::oneshot::channel();
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stopping.send(());
        });
    tokio::select! {
        served = server => served?,
        () = async {
            if stopped.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_DEADLINE).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!("requests still running {SHUTDOWN_DEADLINE:?} after the stop signal; closing anyway"),
    }
    // Let in-flight appends finish before the stores close.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A round cut short is published again at the next start (JetStream drops the duplicates).
    if let Some(publisher) = publisher {
        publisher.stop().await;
    }
    projectors.stop().await;
    store.database.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

async fn rebuild(store_args: StoreArgs, read_model: &str) -> anyhow::Result<()> {
    let models: Vec<ReadModel> = match read_model {
        "all" => ReadModel::ALL.to_vec(),
        name => vec![ReadModel::parse(name).with_context(|| {
            format!(
                "--read-model: unknown read model {name:?} (users, roles, companies, groups, tickets or all)"
            )
        })?],
    };
    let store = open_store(&store_args).await?;
    let log = store.database.event_log();
    for model in models {
        // A server stopped a moment ago may still hold its projector's lock until Postgres has
        // noticed its connection is gone: wait for that (a few seconds at most) before refusing.
        let mut waited = 0;
        let report = loop {
            let mut last_printed = 0;
            let attempt = projections::rebuild(&store.database, log.as_ref(), model, |count| {
                if count - last_printed >= 10_000 {
                    eprintln!("  {}: {count} events of its streams replayed", model.name());
                    last_printed = count;
                }
            })
            .await;
            match attempt {
                Err(projections::ProjectionError::Busy(_)) if waited < 50 => {
                    waited += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other?,
            }
        };
        let rate = report.events as f64 / report.elapsed.as_secs_f64().max(1e-9);
        println!(
            "rebuilt {}: {} events of its streams in {:.2} s ({rate:.0} events/s)",
            model.name(),
            report.events,
            report.elapsed.as_secs_f64()
        );
    }
    store.database.close().await;
    Ok(())
}
