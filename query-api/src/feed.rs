//! One live tail of the log per process, shared by every subscription: it reads each new event
//! once, in commit order (`read_all`, so on Postgres nothing that commits late is skipped), and
//! broadcasts it; each subscription filters in memory. A thousand subscribers cost one reader,
//! not a thousand queries per event. Started by the first subscription.

use std::sync::Arc;
use std::time::Duration;

use eventlog::{Database, EventLog, RecordedEvent};
use tokio::sync::broadcast;

/// Events a subscriber may fall behind by before it reads from the database again.
const CAPACITY: usize = 4096;
/// Events read per look.
const PAGE: i64 = 1000;
/// How often the feed looks for events committed by other processes (its own wake it at once).
const POLL: Duration = Duration::from_millis(250);

pub(crate) struct LiveFeed {
    sender: broadcast::Sender<Arc<RecordedEvent>>,
}

impl LiveFeed {
    pub(crate) fn start(database: Database, log: Arc<dyn EventLog>) -> LiveFeed {
        let (sender, _) = broadcast::channel(CAPACITY);
        tokio::spawn(run(database, log, sender.clone()));
        LiveFeed { sender }
    }

    /// Every event broadcast from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<RecordedEvent>> {
        self.sender.subscribe()
    }
}

async fn run(database: Database, log: Arc<dyn EventLog>, sender: broadcast::Sender<Arc<RecordedEvent>>) {
    let mut checkpoint = loop {
        match database.tail_start().await {
            Ok(checkpoint) => break checkpoint,
            Err(error) => {
                tracing::error!(%error, "the live feed cannot find the log's head; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut head = log.subscribe();
    loop {
        head.borrow_and_update();
        match log.read_all(checkpoint, PAGE).await {
            Ok(events) if !events.is_empty() => {
                for event in events {
                    checkpoint = event.checkpoint;
                    // No subscriber at the moment is not an error: the next one catches up from
                    // the database.
                    let _ = sender.send(Arc::new(event));
                }
            }
            Ok(_) => {
                let _ = tokio::time::timeout(POLL, head.changed()).await;
            }
            Err(error) => {
                tracing::error!(%error, "the live feed cannot read the log; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
