//! Delivers the outbox. Mail goes to an SMTP relay when one is configured (`--smtp-url`), SMS to
//! an HTTP webhook of the SMS gateway (`--sms-webhook-url`); anything without its gateway is
//! appended to
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
const BATCH: i64 = 100;
/// The longest pause after failed deliveries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where notifications go.
#[derive(Clone)]
pub struct Delivery {
    /// The file mailbox.
    pub file: PathBuf,
    /// The SMS gateway's webhook, if any.
    pub sms_webhook: Option<String>,
    /// The SMTP relay for mail, if any.
    pub smtp: Option<Smtp>,
}

/// An SMTP relay (plain SMTP: this build has no TLS client) and the sender's address.
#[derive(Clone)]
pub struct Smtp {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Smtp {
    /// `smtp://host[:port]` (port 25 by default) and the From address.
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("smtp://") else {
            anyhow::bail!(
                "--smtp-url must be smtp://host[:port] (this build has no TLS client: use a local relay)"
            );
        };
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((host, port)) => {
                (host, port.parse::<u16>().map_err(|_| anyhow::anyhow!("--smtp-url: bad port {port:?}"))?)
            }
            None => (rest.trim_end_matches('/'), 25),
        };
        if host.is_empty() {
            anyhow::bail!("--smtp-url: no host");
        }
        let from = from.parse().map_err(|error| anyhow::anyhow!("--mail-from {from:?}: {error}"))?;
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Smtp { transport, from })
    }
}

impl Delivery {
    pub fn new(data_dir: &Path, sms_webhook: Option<String>, smtp: Option<Smtp>) -> Self {
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
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        let mut head = log.subscribe();
        let mut backoff = POLL;
        loop {
            let pause = match deliver_pending(&database, &delivery, &client).await {
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

/// Delivers every pending notification once; `false` if some delivery failed.
async fn deliver_pending(
    database: &Database,
    delivery: &Delivery,
    client: &reqwest::Client,
) -> Result<bool, eventlog::StoreError> {
    let mut all_delivered = true;
    loop {
        let pending = eventlog::outbox(
            database,
            &OutboxQuery { pending: true, limit: BATCH, ..OutboxQuery::default() },
        )
        .await?;
        for stored in &pending {
            let outcome = match (&stored.notification.channel, &delivery.sms_webhook, &delivery.smtp) {
                (Channel::Sms, Some(url), _) => post_sms(client, url, stored).await,
                (Channel::Email, _, Some(smtp)) => send_mail(smtp, stored).await,
                _ => append_line(&delivery.file, stored)
                    .map_err(|error| format!("{}: {error}", delivery.file.display())),
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
async fn post_sms(client: &reqwest::Client, url: &str, stored: &StoredNotification) -> Result<(), String> {
    let notification = &stored.notification;
    let body = json!({
        "id": notification.id,
        "to": notification.recipient,
        "text": sms_text(stored),
        "template": notification.template,
    });
    let response = client
        .post(url)
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
    smtp.transport.send(message).await.map(drop).map_err(|error| format!("SMTP relay: {error}"))
}

fn append_line(path: &Path, stored: &StoredNotification) -> std::io::Result<()> {
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory)?;
    }
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
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{line}")?;
    file.sync_data()
}
