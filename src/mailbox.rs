//! Delivers the outbox. Mail goes to an SMTP server when one is configured (`--smtp-url`, TLS or
//! STARTTLS, or plain to a local relay), SMS to the SMS gateway's webhook (`--sms-webhook-url`,
//! https); anything without its gateway is appended to
//! `<data-dir>/outbox/notifications.jsonl`, one JSON object per line (`to`, `channel`,
//! `template`, `body`, and `token` or `pin` where the message carries one), which is how
//! developers and the black-box tests read their "mail".
//!
//! Delivery is at least once: a notification is marked delivered after the file line is
//! written or the gateway answered 2xx; a failure is counted and retried, after a pause that
//! doubles while failures go on (at most a minute).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eventlog::{Channel, Database, EventLog, OutboxQuery, Secret, StoredNotification};
use serde_json::json;

/// How often the outbox is looked at when no append in this process wakes the dispatcher.
const POLL: Duration = Duration::from_secs(1);
/// Notifications delivered per round.
const BATCH: i64 = 500;
/// The longest pause after failed deliveries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where notifications go.
#[derive(Clone)]
pub struct Delivery {
    /// The file mailbox.
    pub file: PathBuf,
    /// The SMS gateway's webhook, if any.
    pub sms_webhook: Option<SmsWebhook>,
    /// The SMTP server for mail, if any.
    pub smtp: Option<Smtp>,
}

/// An SMTP server and the sender's address.
#[derive(Clone)]
pub struct Smtp {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Smtp {
    /// `smtps://[user:password@]host[:465]` (TLS from the first byte), `smtp://…?tls=required`
    /// (STARTTLS, 587 by default, refused if the server cannot), `smtp://…?tls=opportunistic`, or
    /// plain `smtp://host[:25]` for a relay on the same machine. `extra_ca` (PEM) is trusted
    /// besides Mozilla's roots.
    pub fn new(url: &str, from: &str, extra_ca: Option<&[u8]>) -> anyhow::Result<Self> {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let parsed =
            reqwest::Url::parse(url).map_err(|error| anyhow::anyhow!("--smtp-url {url:?}: {error}"))?;
        let host = parsed.host_str().filter(|host| !host.is_empty());
        let Some(host) = host else { anyhow::bail!("--smtp-url: no host") };
        let tls_query =
            parsed.query_pairs().find(|(key, _)| key == "tls").map(|(_, value)| value.into_owned());
        let mode = match (parsed.scheme(), tls_query.as_deref()) {
            ("smtps", _) => Some(Tls::Wrapper as fn(TlsParameters) -> Tls),
            ("smtp", Some("required")) => Some(Tls::Required as fn(TlsParameters) -> Tls),
            ("smtp", Some("opportunistic")) => Some(Tls::Opportunistic as fn(TlsParameters) -> Tls),
            ("smtp", None) => None,
            (scheme, tls) => anyhow::bail!(
                "--smtp-url: {scheme}://…{} is not one of smtps://, smtp://…?tls=required, smtp://…?tls=opportunistic, smtp://",
                tls.map(|tls| format!("?tls={tls}")).unwrap_or_default()
            ),
        };
        // lettre reads the port, the credentials and the TLS mode; the parameters are made again
        // here only to add the extra authorities.
        let mut builder = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            .map_err(|error| anyhow::anyhow!("--smtp-url: {error}"))?
            .timeout(Some(Duration::from_secs(10)));
        if let (Some(mode), Some(pem)) = (mode, extra_ca) {
            let certificate =
                Certificate::from_pem(pem).map_err(|error| anyhow::anyhow!("--tls-ca-file: {error}"))?;
            let parameters = TlsParameters::builder(host.to_owned())
                .add_root_certificate(certificate)
                .build_rustls()
                .map_err(|error| anyhow::anyhow!("--smtp-url: {error}"))?;
            builder = builder.tls(mode(parameters));
        }
        let from = from.parse().map_err(|error| anyhow::anyhow!("--mail-from {from:?}: {error}"))?;
        Ok(Smtp { transport: builder.build(), from })
    }
}

/// An SMS gateway's webhook, and the HTTP client that calls it.
#[derive(Clone)]
pub struct SmsWebhook {
    url: String,
    client: reqwest::Client,
}

impl SmsWebhook {
    /// `https://…` (or `http://…` for a gateway relay on the same machine); `extra_ca` (PEM) is
    /// trusted besides the system's authorities.
    pub fn new(url: &str, extra_ca: Option<&[u8]>) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|error| anyhow::anyhow!("--sms-webhook-url {url:?}: {error}"))?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
            anyhow::bail!("--sms-webhook-url must be an https:// (or http://) URL with a host");
        }
        let mut client = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if let Some(pem) = extra_ca {
            for certificate in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|error| anyhow::anyhow!("--tls-ca-file: {error}"))?
            {
                client = client.add_root_certificate(certificate);
            }
        }
        let client = client.build().map_err(|error| anyhow::anyhow!("the SMS gateway's client: {error}"))?;
        Ok(SmsWebhook { url: url.to_owned(), client })
    }
}

impl Delivery {
    pub fn new(data_dir: &Path, sms_webhook: Option<SmsWebhook>, smtp: Option<Smtp>) -> Self {
        Delivery { file: mailbox_path(data_dir), sms_webhook, smtp }
    }
}

/// The file every notification without a gateway is appended to.
pub fn mailbox_path(data_dir: &Path) -> PathBuf {
    data_dir.join("outbox").join("notifications.jsonl")
}

/// Runs until the process stops: delivers what the outbox holds after each append and poll.
pub fn spawn(log: Arc<dyn EventLog>, database: Database, delivery: Delivery) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut head = log.subscribe();
        let mut backoff = POLL;
        loop {
            let pause = match deliver_pending(&database, &delivery).await {
                Ok(true) => {
                    backoff = POLL;
                    POLL
                }
                Ok(false) => {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
                Err(error) => {
                    tracing::warn!(%error, "the outbox could not be read; trying again");
                    POLL
                }
            };
            tokio::select! {
                changed = head.changed(), if pause == POLL => if changed.is_err() { return },
                () = tokio::time::sleep(pause) => {}
            }
        }
    })
}

/// How a message that does not go to the file mailbox goes out.
enum Transport<'a> {
    Sms(&'a SmsWebhook),
    Email(&'a Smtp),
}

/// Delivers every pending notification once; `false` if some delivery failed.
async fn deliver_pending(database: &Database, delivery: &Delivery) -> Result<bool, eventlog::StoreError> {
    let mut all_delivered = true;
    loop {
        let pending = eventlog::outbox(
            database,
            &OutboxQuery { pending: true, limit: BATCH, ..OutboxQuery::default() },
        )
        .await?;
        // Each message goes out by its channel's transport, or to the file without one.
        let mut sent = Vec::new();
        let mut filed = Vec::new();
        for stored in &pending {
            match (&stored.notification.channel, &delivery.sms_webhook, &delivery.smtp) {
                (Channel::Sms, Some(webhook), _) => sent.push((stored, Transport::Sms(webhook))),
                (Channel::Email, _, Some(smtp)) => sent.push((stored, Transport::Email(smtp))),
                _ => filed.push(stored),
            }
        }
        // The file mailbox: the batch's lines in one write and one fsync, off the async workers.
        if !filed.is_empty() {
            let path = delivery.file.clone();
            let lines: Vec<String> = filed.iter().map(|stored| mailbox_line(stored)).collect();
            let written = tokio::task::spawn_blocking(move || append_lines(&path, &lines))
                .await
                .unwrap_or_else(|_| Err(std::io::Error::other("the writing thread panicked")));
            match written {
                Ok(()) => {
                    let ids: Vec<uuid::Uuid> = filed.iter().map(|stored| stored.notification.id).collect();
                    eventlog::outbox_delivered(database, &ids).await?;
                }
                Err(error) => {
                    let error = format!("{}: {error}", delivery.file.display());
                    tracing::warn!(%error, count = filed.len(), "notifications were not written to the mailbox file");
                    all_delivered = false;
                    for stored in &filed {
                        eventlog::outbox_attempted(database, stored.notification.id, Err(error.clone()))
                            .await?;
                    }
                }
            }
        }
        for (stored, transport) in sent {
            let outcome = match transport {
                Transport::Sms(webhook) => post_sms(webhook, stored).await,
                Transport::Email(smtp) => send_mail(smtp, stored).await,
            };
            if let Err(error) = &outcome {
                // The secret never reaches the logs: only the id and the reason.
                tracing::warn!(id = %stored.notification.id, %error, "a notification was not delivered");
                all_delivered = false;
            }
            eventlog::outbox_attempted(database, stored.notification.id, outcome).await?;
        }
        if (pending.len() as i64) < BATCH || !all_delivered {
            return Ok(all_delivered);
        }
    }
}

/// The text an SMS carries: the body, and the PIN or token.
fn sms_text(stored: &StoredNotification) -> String {
    let notification = &stored.notification;
    match &notification.secret {
        Some(Secret::Pin(pin)) => format!("{pin} is your code. {}", notification.body),
        Some(Secret::Token(token)) => format!("{} Code: {token}", notification.body),
        None => notification.body.clone(),
    }
}

/// `POST <webhook> {"id", "to", "text", "template"}` with the notification's id as
/// `Idempotency-Key`, so a gateway can drop a repeat; 2xx means delivered.
async fn post_sms(webhook: &SmsWebhook, stored: &StoredNotification) -> Result<(), String> {
    let notification = &stored.notification;
    let body = json!({
        "id": notification.id,
        "to": notification.recipient,
        "text": sms_text(stored),
        "template": notification.template,
    });
    let response = webhook
        .client
        .post(&webhook.url)
        .header("idempotency-key", notification.id.to_string())
        .json(&body)
        .send()
        .await
        .map_err(|error| format!("SMS gateway: {}", error.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("SMS gateway answered {}", response.status()))
    }
}

/// The subject of a mail, by template.
fn subject(template: &str) -> &'static str {
    match template {
        "invitation" => "Activate your customer portal account",
        "password_reset" => "Choose a new password for the customer portal",
        "credentials" => "Your customer portal sign-in",
        _ => "A message from the customer portal",
    }
}

/// Sends one mail through the relay: the body, and the token it carries on a line of its own.
async fn send_mail(smtp: &Smtp, stored: &StoredNotification) -> Result<(), String> {
    use lettre::AsyncTransport as _;
    let notification = &stored.notification;
    let to = notification.recipient.parse().map_err(|error| format!("recipient: {error}"))?;
    let mut text = notification.body.clone();
    match &notification.secret {
        Some(Secret::Token(token)) => text.push_str(&format!("\n\nYour code: {token}\n")),
        Some(Secret::Pin(pin)) => text.push_str(&format!("\n\nYour PIN: {pin}\n")),
        None => {}
    }
    let message = lettre::Message::builder()
        .from(smtp.from.clone())
        .to(to)
        .subject(subject(&notification.template))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|error| format!("mail: {error}"))?;
    smtp.transport.send(message).await.map(drop).map_err(|error| format!("SMTP server: {error}"))
}

/// A notification as a line of the file mailbox (JSON, with its token or PIN).
fn mailbox_line(stored: &StoredNotification) -> String {
    let notification = &stored.notification;
    let mut line = json!({
        "id": notification.id,
        "to": notification.recipient,
        "channel": notification.channel.as_str(),
        "template": notification.template,
        "body": notification.body,
        "createdAt": stored.created_at,
    });
    match &notification.secret {
        Some(Secret::Token(token)) => line["token"] = json!(token),
        Some(Secret::Pin(pin)) => line["pin"] = json!(pin),
        None => {}
    }
    line.to_string()
}

/// Appends the lines to the mailbox file (mode 0600) and waits until they are on disk.
fn append_lines(path: &Path, lines: &[String]) -> std::io::Result<()> {
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let mut text = String::with_capacity(lines.iter().map(|line| line.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()
}
