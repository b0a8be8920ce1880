//! A bulk import of users from a file (TeleMessage's "Import Users from File"): one aggregate
//! per import, so that its progress and every row's result are part of the audit trail.
//!
//! The import is started with the number of rows it will record; each row then gets exactly
//! one result (created, updated, ownership requested or rejected, with the reasons), in the
//! same append as the changes that row made to the users; the result of the last row also
//! completes the import. So a process that dies mid-import and starts again sees which rows
//! are done, and a row can never be recorded (so never created) twice.
//!
//! The rows themselves are not in the events: they hold people's personal data, which lives
//! only in those people's own streams (where it can be erased). A result names the row by its
//! number in the file and says why it was refused, never what it held.
//!
//! Refusals: `Start` of an import that exists (`already_exists`), for a company that is not
//! registered, or of 0 or more than [`MAX_ROWS`] rows (`too_many_rows`); `Record` before the
//! start (`not_found`), after the completion (`import_completed`), of a row recorded already
//! or twice in one command (`row_recorded`), or of more results than rows (`too_many_results`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::user::ServiceLevel;
use crate::{Context, DomainError, FieldError, company};

pub const CATEGORY: &str = "import";
/// The most rows one import may hold (TeleMessage's limit).
pub const MAX_ROWS: u32 = 5000;

/// Where the rows came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Format {
    Csv,
    Txt,
    Xlsx,
    /// Rows sent as JSON.
    #[default]
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Txt => "TXT",
            Format::Xlsx => "XLSX",
            Format::Json => "JSON",
        }
    }
}

/// What became of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// A new user of the importing company.
    Created,
    /// A user of the importing company already had this username or email: their profile
    /// took the row's values.
    Updated,
    /// The user belongs to another company: they were asked to move, and must confirm.
    OwnershipRequested,
    /// Nothing was changed; `problems` say why.
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "CREATED",
            Outcome::Updated => "UPDATED",
            Outcome::OwnershipRequested => "OWNERSHIP_REQUESTED",
            Outcome::Rejected => "REJECTED",
        }
    }
}

/// Why a row was refused: the field (a column, or `row`) and the reason, in the words a single
/// `CreateUser` would have used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl From<FieldError> for Problem {
    fn from(error: FieldError) -> Self {
        Problem { field: error.field, message: error.message }
    }
}

/// One row's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    /// The row's number in the file: the line it begins on in a CSV or TXT file, the sheet's row
    /// number in an XLSX workbook (the header is 1), its place in the list for JSON rows.
    pub row: u32,
    pub outcome: Outcome,
    /// The user the row created, updated or asked to move.
    pub user_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// How an import is set up; everything a row does not say itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub file_name: Option<String>,
    pub format: Format,
    /// Rows the import will record.
    pub rows: u32,
    /// The role and group new users get (else the company's defaults).
    pub role_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub service_level: ServiceLevel,
    /// Import the rows that fit the company's licences, refuse the rest.
    pub partial: bool,
    /// New users are approved at once (else they wait for approval, as after `CreateUser`).
    #[serde(default)]
    pub approved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(clippy::large_enum_variant, reason = "a command lives for one decision and is never held in bulk")]
pub enum Command {
    Start {
        company_id: Uuid,
        /// The company's state, looked up by the caller.
        company: company::State,
        settings: Settings,
    },
    /// Results of rows not recorded yet; the last one completes the import.
    Record { results: Vec<RowResult> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    ImportStarted {
        company_id: Uuid,
        file_name: Option<String>,
        format: Format,
        rows: u32,
        role_id: Option<Uuid>,
        group_id: Option<Uuid>,
        service_level: ServiceLevel,
        partial: bool,
        #[serde(default)]
        approved: bool,
    },
    ImportRowRecorded(RowResult),
    #[serde(rename_all = "camelCase")]
    ImportCompleted {
        created: u32,
        updated: u32,
        ownership_requested: u32,
        rejected: u32,
    },
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::ImportStarted { .. } => "ImportStarted",
            Event::ImportRowRecorded(_) => "ImportRowRecorded",
            Event::ImportCompleted { .. } => "ImportCompleted",
        }
    }
}

crate::stored_event!(Event);

/// Rows counted by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Counts {
    pub created: u32,
    pub updated: u32,
    pub ownership_requested: u32,
    pub rejected: u32,
}

impl Counts {
    pub fn add(&mut self, outcome: Outcome) {
        let count = match outcome {
            Outcome::Created => &mut self.created,
            Outcome::Updated => &mut self.updated,
            Outcome::OwnershipRequested => &mut self.ownership_requested,
            Outcome::Rejected => &mut self.rejected,
        };
        *count = count.saturating_add(1);
    }

    pub fn total(&self) -> u32 {
        self.created + self.updated + self.ownership_requested + self.rejected
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Running,
    Completed,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Completed => "COMPLETED",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub company_id: Option<Uuid>,
    pub settings: Option<Settings>,
    /// Every row's result so far, in the order they were recorded.
    pub results: Vec<RowResult>,
    pub counts: Counts,
    pub completed: bool,
}

impl State {
    pub fn exists(&self) -> bool {
        self.company_id.is_some()
    }

    pub fn rows(&self) -> u32 {
        self.settings.as_ref().map_or(0, |settings| settings.rows)
    }

    pub fn status(&self) -> Status {
        if self.completed { Status::Completed } else { Status::Running }
    }

    /// The numbers of the rows that have a result.
    pub fn recorded(&self) -> BTreeSet<u32> {
        self.results.iter().map(|result| result.row).collect()
    }
}

pub fn decide(state: &State, command: Command, _context: &Context) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::Start { company_id, company, settings } => {
            if state.exists() {
                return Err(DomainError::rule("already_exists", "the import already exists"));
            }
            if !company.registered {
                return Err(DomainError::UnknownReference { field: "companyId", id: company_id });
            }
            if settings.rows == 0 {
                return Err(DomainError::rule("no_rows", "the file holds no rows to import"));
            }
            if settings.rows > MAX_ROWS {
                return Err(DomainError::rule_with(
                    "too_many_rows",
                    format!("an import holds at most {MAX_ROWS} rows; this one has {}", settings.rows),
                    serde_json::json!({ "rows": settings.rows, "limit": MAX_ROWS }),
                ));
            }
            let Settings { file_name, format, rows, role_id, group_id, service_level, partial, approved } =
                settings;
            Ok(vec![Event::ImportStarted {
                company_id,
                file_name,
                format,
                rows,
                role_id,
                group_id,
                service_level,
                partial,
                approved,
            }])
        }
        Command::Record { results } => {
            if !state.exists() {
                return Err(DomainError::rule("not_found", "the import does not exist"));
            }
            if state.completed {
                return Err(DomainError::rule("import_completed", "the import is completed"));
            }
            let mut recorded = state.recorded();
            for result in &results {
                if !recorded.insert(result.row) {
                    return Err(DomainError::rule(
                        "row_recorded",
                        format!("row {} already has a result", result.row),
                    ));
                }
            }
            let total = u32::try_from(recorded.len()).unwrap_or(u32::MAX);
            if total > state.rows() {
                return Err(DomainError::rule(
                    "too_many_results",
                    format!("the import has {} rows, not {total}", state.rows()),
                ));
            }
            let mut counts = state.counts;
            let mut events = Vec::with_capacity(results.len() + 1);
            for result in results {
                counts.add(result.outcome);
                events.push(Event::ImportRowRecorded(result));
            }
            if total == state.rows() && !events.is_empty() {
                events.push(Event::ImportCompleted {
                    created: counts.created,
                    updated: counts.updated,
                    ownership_requested: counts.ownership_requested,
                    rejected: counts.rejected,
                });
            }
            Ok(events)
        }
    }
}

pub fn evolve(mut state: State, event: &Event) -> State {
    match event {
        Event::ImportStarted {
            company_id,
            file_name,
            format,
            rows,
            role_id,
            group_id,
            service_level,
            partial,
            approved,
        } => {
            state.company_id = Some(*company_id);
            state.settings = Some(Settings {
                file_name: file_name.clone(),
                format: *format,
                rows: *rows,
                role_id: *role_id,
                group_id: *group_id,
                service_level: *service_level,
                partial: *partial,
                approved: *approved,
            });
        }
        Event::ImportRowRecorded(result) => {
            state.counts.add(result.outcome);
            state.results.push(result.clone());
        }
        Event::ImportCompleted { .. } => state.completed = true,
    }
    state
}
