//! Delivers the outbox. With no mail or SMS gateway configured, every notification is
//! appended to `<data-dir>/outbox/notifications.jsonl`, one JSON object per line (`to`,
//! `channel`, `template`, `body`, and `token` or `pin` where the message carries one), which is
//! how developers and the black-box tests read their "mail".

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eventlog::{EventLog, OutboxQuery, Secret, StoredNotification};
use serde_json::json;

/// How often the outbox is looked at when no append in this process wakes the dispatcher.
const POLL: Duration = Duration::from_secs(1);
/// Notifications delivered per round.
const BATCH: i64 = 100;

/// The file every notification is appended to.
pub fn mailbox_path(data_dir: &Path) -> PathBuf {
    data_dir.join("outbox").join("notifications.jsonl")
}

/// Runs until the process stops: delivers what the outbox holds after each append and poll.
pub fn spawn(log: Arc<dyn EventLog>, data_dir: &Path) -> tokio::task::JoinHandle<()> {
    let path = mailbox_path(data_dir);
    tokio::spawn(async move {
        let mut head = log.subscribe();
        loop {
            if let Err(error) = deliver_pending(log.as_ref(), &path).await {
                tracing::warn!(%error, "the outbox could not be read; trying again");
            }
            tokio::select! {
                changed = head.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(POLL) => {}
            }
        }
    })
}

async fn deliver_pending(log: &dyn EventLog, path: &Path) -> Result<(), eventlog::StoreError> {
    loop {
        let pending =
            log.outbox(&OutboxQuery { pending: true, limit: BATCH, ..OutboxQuery::default() }).await?;
        for stored in &pending {
            let outcome = append_line(path, stored).map_err(|error| format!("{}: {error}", path.display()));
            if let Err(error) = &outcome {
                // The secret never reaches the logs: only the id and the reason.
                tracing::warn!(id = %stored.notification.id, %error, "a notification was not delivered");
            }
            log.outbox_attempted(stored.notification.id, outcome).await?;
        }
        if (pending.len() as i64) < BATCH {
            return Ok(());
        }
    }
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
