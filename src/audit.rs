//! `portal audit …`, and the sealer every server runs.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use eventlog::{Checkpoint, Database, EventLog, Sealer, Verification};
use query_api::export::{Export, Format};
use uuid::Uuid;

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

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The company whose events to export (all companies' when absent).
    #[arg(long)]
    company: Option<Uuid>,
    /// With --company: the companies under it too (a reseller's customers).
    #[arg(long)]
    include_descendants: bool,
    /// Events recorded at or after this instant (RFC 3339).
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// Events recorded before this instant (RFC 3339).
    #[arg(long)]
    to: Option<DateTime<Utc>>,
    /// `jsonl` (one JSON object per line) or `csv`.
    #[arg(long, default_value = "jsonl", value_parser = |text: &str| text.parse::<Format>())]
    format: Format,
    /// Where to write (standard output when absent).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// `portal audit export`: page by page to the output, with a progress line on stderr.
pub async fn export(database: &Database, args: &ExportArgs) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        anyhow::ensure!(from <= to, "--from must not be after --to");
    }
    let company_ids = query_api::export_companies(database, args.company, args.include_descendants)
        .await
        .map_err(|message| anyhow::anyhow!("--company: {message}"))?;
    let export = Export { company_ids, from: args.from, to: args.to, format: args.format };
    let mut output: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("--output {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let progress = indicatif::ProgressBar::new_spinner();
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} events exported ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    output.write_all(&export.header())?;
    let log = database.event_log();
    let mut after = Some(Checkpoint::START);
    while let Some(from) = after {
        let (bytes, count, next) = export.page(log.as_ref(), from).await?;
        output.write_all(&bytes)?;
        progress.inc(count as u64);
        after = next;
    }
    output.flush()?;
    progress.finish();
    Ok(())
}
