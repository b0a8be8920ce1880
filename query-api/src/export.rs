//! The audit trail for auditors, as a file: JSON lines or CSV, in commit order, page by page
//! (never the whole export in memory). One writer serves `portal audit export` and the
//! operator's `GET /audit/export`, which streams.
//!
//! Each row is an audit entry as GraphQL shows it: secrets redacted, the payload as JSON.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use eventlog::{AuditQuery, Checkpoint, EventLog, RecordedEvent, StoreError};
use serde_json::{Value, json};
use uuid::Uuid;

/// Rows read from the log at a time.
const PAGE: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "jsonl" => Ok(Format::JsonLines),
            "csv" => Ok(Format::Csv),
            other => Err(format!("format must be jsonl or csv, not {other:?}")),
        }
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::JsonLines => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::JsonLines => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// What to export: the events recorded for these companies (all when `None`), in `[from, to)`.
#[derive(Debug, Clone)]
pub struct Export {
    pub company_ids: Option<Vec<Uuid>>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub format: Format,
}

const COLUMNS: [&str; 17] = [
    "position",
    "streamId",
    "version",
    "type",
    "occurredAt",
    "actorKind",
    "actorId",
    "companyId",
    "correlationId",
    "causationId",
    "requestId",
    "reason",
    "clientIp",
    "userAgent",
    "schemaVersion",
    "hash",
    "data",
];

/// One event as an export row (the fields of [`COLUMNS`]).
fn row(event: RecordedEvent) -> Value {
    let metadata = event.metadata;
    json!({
        "position": event.position,
        "streamId": event.stream_id,
        "version": event.version,
        "type": event.event_type,
        "occurredAt": metadata.recorded_at,
        "actorKind": metadata.actor.kind.as_str(),
        "actorId": metadata.actor.id,
        "companyId": metadata.company_id,
        "correlationId": metadata.correlation_id,
        "causationId": metadata.causation_id,
        "requestId": metadata.request_id,
        "reason": metadata.reason,
        "clientIp": metadata.client_ip,
        "userAgent": metadata.user_agent,
        "schemaVersion": event.schema_version,
        "hash": event.hash,
        "data": crate::redacted(event.data),
    })
}

fn csv_line(fields: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail; an empty line would only lose a row's formatting.
    let _ = writer.write_record(fields);
    writer.into_inner().unwrap_or_default()
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl Export {
    /// What comes before the first row (the CSV header).
    pub fn header(&self) -> Vec<u8> {
        match self.format {
            Format::JsonLines => Vec::new(),
            Format::Csv => csv_line(COLUMNS.iter().map(|c| (*c).to_owned())),
        }
    }

    /// The next page after `after`: its bytes, how many rows, and where the next one starts
    /// (`None` at the end).
    pub async fn page(
        &self,
        log: &dyn EventLog,
        after: Checkpoint,
    ) -> Result<(Vec<u8>, usize, Option<Checkpoint>), StoreError> {
        let query = AuditQuery {
            company_ids: self.company_ids.clone(),
            from: self.from,
            to: self.to,
            after,
            limit: PAGE,
            ..AuditQuery::default()
        };
        let events = log.audit(&query).await?;
        let count = events.len();
        let next = events.last().map(|event| event.checkpoint).filter(|_| count as i64 == PAGE);
        let mut bytes = Vec::new();
        for event in events {
            let row = row(event);
            match self.format {
                Format::JsonLines => {
                    bytes.extend_from_slice(row.to_string().as_bytes());
                    bytes.push(b'\n');
                }
                Format::Csv => bytes.extend(csv_line(COLUMNS.iter().map(|column| cell(&row[*column])))),
            }
        }
        Ok((bytes, count, next))
    }

    /// The whole export as a stream of chunks (the header, then one per page).
    pub fn stream(
        self,
        log: std::sync::Arc<dyn EventLog>,
    ) -> impl futures::Stream<Item = Result<Vec<u8>, StoreError>> + Send + 'static {
        let header = self.header();
        let first = futures::stream::iter((!header.is_empty()).then_some(Ok(header)));
        let pages = futures::stream::try_unfold(Some(Checkpoint::START), move |after| {
            let (export, log) = (self.clone(), std::sync::Arc::clone(&log));
            async move {
                let Some(after) = after else { return Ok(None) };
                let (bytes, _, next) = export.page(log.as_ref(), after).await?;
                Ok(Some((bytes, next)))
            }
        });
        futures::StreamExt::chain(first, pages)
    }
}
