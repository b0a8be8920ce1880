//! A support ticket (TeleGo's "contact us"): a company's question on one topic, the
//! conversation that follows it, and how it was closed.
//!
//! Files are uploaded before they are attached; the caller resolves each attachment id to its
//! stored [`AttachmentRef`] and passes it in, so the events say exactly which bytes were
//! attached. Who wrote a message and when is the event's metadata (actor, recorded time), not
//! part of the event.
//!
//! Refusals and no-ops:
//! - `Open`: the company must exist; a requester must be a user of that company who is not
//!   deleted (`user_in_other_company`, `user_deleted`);
//! - a message is 1 to 5000 characters, with at most 10 attachments, none listed twice;
//! - `Comment` on a closed ticket: refused, `ticket_closed`;
//! - `Close` of a closed ticket: no-op.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::attachment::AttachmentRef;
use crate::validate::Problems;
use crate::{Context, DomainError, company, user};

pub const CATEGORY: &str = "ticket";
/// The longest message (the opening one or a comment), in characters.
pub const MAX_MESSAGE: usize = 5000;
/// The longest resolution note, in characters.
pub const MAX_RESOLUTION: usize = 1000;
/// The most files one message may carry.
pub const MAX_ATTACHMENTS: usize = 10;

/// What a ticket is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Topic {
    Billing,
    TechnicalSupport,
    Account,
    NumbersAndPlans,
    FeatureRequest,
    /// Also the topic of a state that does not exist yet.
    #[default]
    Other,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Topic::Billing,
        Topic::TechnicalSupport,
        Topic::Account,
        Topic::NumbersAndPlans,
        Topic::FeatureRequest,
        Topic::Other,
    ];

    /// The name stored in events and read-model columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Billing => "BILLING",
            Topic::TechnicalSupport => "TECHNICAL_SUPPORT",
            Topic::Account => "ACCOUNT",
            Topic::NumbersAndPlans => "NUMBERS_AND_PLANS",
            Topic::FeatureRequest => "FEATURE_REQUEST",
            Topic::Other => "OTHER",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Open,
    Closed,
}

impl Status {
    /// The name stored in read-model columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "OPEN",
            Status::Closed => "CLOSED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a command lives for one decision and is never held in bulk; boxing the looked-up state would change every caller"
)]
pub enum Command {
    Open {
        company_id: Uuid,
        /// The company's state, looked up by the caller.
        company: company::State,
        /// The user the ticket is opened for, and their state, looked up by the caller.
        requester: Option<(Uuid, user::State)>,
        topic: Topic,
        message: String,
        attachments: Vec<AttachmentRef>,
    },
    Comment {
        message: String,
        attachments: Vec<AttachmentRef>,
    },
    Close {
        resolution: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    TicketOpened {
        company_id: Uuid,
        requester_id: Option<Uuid>,
        topic: Topic,
        message: String,
        attachments: Vec<AttachmentRef>,
    },
    TicketCommented {
        message: String,
        attachments: Vec<AttachmentRef>,
    },
    TicketClosed {
        resolution: Option<String>,
    },
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::TicketOpened { .. } => "TicketOpened",
            Event::TicketCommented { .. } => "TicketCommented",
            Event::TicketClosed { .. } => "TicketClosed",
        }
    }

    /// The message and files this event adds to the conversation, if it adds one.
    pub fn message(&self) -> Option<(&str, &[AttachmentRef])> {
        match self {
            Event::TicketOpened { message, attachments, .. }
            | Event::TicketCommented { message, attachments } => Some((message, attachments)),
            Event::TicketClosed { .. } => None,
        }
    }
}

crate::stored_event!(Event);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub company_id: Option<Uuid>,
    pub requester_id: Option<Uuid>,
    pub topic: Topic,
    pub closed: bool,
    pub resolution: Option<String>,
    /// Messages after the opening one.
    pub comment_count: u32,
}

impl State {
    pub fn exists(&self) -> bool {
        self.company_id.is_some()
    }

    pub fn status(&self) -> Status {
        if self.closed { Status::Closed } else { Status::Open }
    }
}

pub fn decide(state: &State, command: Command, _context: &Context) -> Result<Vec<Event>, DomainError> {
    if let Command::Open { company_id, company, requester, topic, message, attachments } = command {
        if state.exists() {
            return Err(DomainError::rule("already_exists", "the ticket already exists"));
        }
        if !company.registered {
            return Err(DomainError::UnknownReference { field: "companyId", id: company_id });
        }
        let mut problems = Problems::default();
        check_message(&mut problems, &message, &attachments);
        problems.into_result()?;
        let requester_id = match requester {
            Some((user_id, user)) => Some(requester_of(company_id, user_id, &user)?),
            None => None,
        };
        return Ok(vec![Event::TicketOpened {
            company_id,
            requester_id,
            topic,
            message: message.trim().to_owned(),
            attachments,
        }]);
    }
    if !state.exists() {
        return Err(DomainError::rule("not_found", "the ticket does not exist"));
    }
    let events = match command {
        Command::Open { .. } => Vec::new(),
        Command::Comment { .. } if state.closed => {
            return Err(DomainError::rule("ticket_closed", "the ticket is closed"));
        }
        Command::Comment { message, attachments } => {
            let mut problems = Problems::default();
            check_message(&mut problems, &message, &attachments);
            problems.into_result()?;
            vec![Event::TicketCommented { message: message.trim().to_owned(), attachments }]
        }
        Command::Close { .. } if state.closed => Vec::new(),
        Command::Close { resolution } => {
            let resolution = crate::validate::trimmed(resolution);
            let mut problems = Problems::default();
            if let Some(resolution) = &resolution {
                multiline_text(&mut problems, "resolution", resolution, MAX_RESOLUTION);
            }
            problems.into_result()?;
            vec![Event::TicketClosed { resolution }]
        }
    };
    Ok(events)
}

/// A requester must be a user of the ticket's company who is not deleted.
fn requester_of(company_id: Uuid, user_id: Uuid, user: &user::State) -> Result<Uuid, DomainError> {
    if !user.exists() {
        return Err(DomainError::UnknownReference { field: "requesterId", id: user_id });
    }
    if user.company_id != Some(company_id) {
        return Err(DomainError::rule("user_in_other_company", "the requester belongs to another company"));
    }
    if user.deleted {
        return Err(DomainError::rule("user_deleted", "the requester has been deleted"));
    }
    Ok(user_id)
}

fn check_message(problems: &mut Problems, message: &str, attachments: &[AttachmentRef]) {
    if message.trim().is_empty() {
        problems.add("message", "must not be empty");
    } else {
        multiline_text(problems, "message", message, MAX_MESSAGE);
    }
    if attachments.len() > MAX_ATTACHMENTS {
        problems.add("attachments", format!("must be at most {MAX_ATTACHMENTS} files per message"));
    }
    for (index, attachment) in attachments.iter().enumerate() {
        if attachments[..index].iter().any(|earlier| earlier.id == attachment.id) {
            problems.add(&format!("attachments[{index}]"), "lists the same file twice");
        }
    }
}

/// A trimmed text of at most `max` characters that may span lines (tabs and line breaks are
/// the only control characters it may hold).
fn multiline_text(problems: &mut Problems, field: &str, value: &str, max: usize) {
    let value = value.trim();
    if value.chars().count() > max {
        problems.add(field, format!("must be at most {max} characters"));
    } else if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        problems.add(field, "must not contain control characters other than tabs and line breaks");
    }
}

pub fn evolve(mut state: State, event: &Event) -> State {
    match event {
        Event::TicketOpened { company_id, requester_id, topic, .. } => {
            state.company_id = Some(*company_id);
            state.requester_id = *requester_id;
            state.topic = *topic;
        }
        Event::TicketCommented { .. } => state.comment_count = state.comment_count.saturating_add(1),
        Event::TicketClosed { resolution } => {
            state.closed = true;
            state.resolution.clone_from(resolution);
        }
    }
    state
}
