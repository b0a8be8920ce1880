//! `portal audit …`, and the sealer every server runs.

use std::sync::Arc;
use std::time::Duration;

use eventlog::{Database, EventLog, Sealer, Verification};

/// How often the sealer looks for new events to seal.
const SEAL_INTERVAL: Duration = Duration::from_secs(1);

/// Seals what was committed, about once a second, until the process stops. With several
/// processes on one Postgres each seals; a seal already written by another is skipped. A broken
/// link stops the sealer (nothing after it is vouched for) and is logged as an error.
pub fn spawn_sealer(log: Arc<dyn EventLog>, database: Database) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sealer = Sealer::default();
        loop {
            match sealer.seal_next(log.as_ref(), &database).await {
                // Each head also goes to the log, kept apart from the database: an intruder who
                // rewrites the events and the seals alike still contradicts what was logged.
                Ok(Some(seal)) => {
                    tracing::info!(
                        sequence = seal.sequence,
                        up_to_position = seal.up_to_position,
                        total_events = seal.total_events,
                        head = %seal.head,
                        "audit trail sealed"
                    );
                    continue;
                }
                Ok(None) => {}
                Err(eventlog::SealError::Broken(link)) => {
                    tracing::error!(%link, "the event log failed its integrity check: sealing stopped");
                    return;
                }
                Err(error) => tracing::warn!(%error, "sealing failed; trying again"),
            }
            tokio::time::sleep(SEAL_INTERVAL).await;
        }
    })
}

/// `portal audit verify`: recomputes every link and every seal, changing nothing; `Ok(false)`
/// when something is broken.
pub async fn verify(database: &Database) -> anyhow::Result<bool> {
    // Read only: what no seal covers yet is checked link by link and reported as unsealed, never
    // sealed here (that would vouch for whatever an intruder appended).
    let log = database.event_log();
    let mut last_printed = 0;
    let verification = eventlog::verify(log.as_ref(), database, |count| {
        if count - last_printed >= 100_000 {
            eprintln!("  {count} events verified");
            last_printed = count;
        }
    })
    .await?;
    match verification {
        Verification::Verified { events, head, seals, unsealed, unchained } => {
            println!("verified {events} events, head {head}");
            println!(
                "  {seals} seals; {unsealed} events after the last seal; {unchained} events from before the chain"
            );
            Ok(true)
        }
        Verification::Broken(link) => {
            println!("BROKEN at {link}");
            Ok(false)
        }
    }
}
