//! The support-ticket commands: `OpenTicket`, `CommentOnTicket` and `CloseTicket`.
//!
//! A ticket's files are uploaded first (`POST /attachments`); each id a command lists is
//! resolved here to the stored file's name, type, size and sha256, which the event keeps, so
//! the audit trail can verify the bytes. A ticket writes its own stream only.

use domain::ticket::{self, AttachmentRef};
use domain::{Context, company};
use uuid::Uuid;

use super::{On, existing, target};
use crate::cache::{Aggregates, Loaded};
use crate::dto::{self, parse};
use crate::error::ApiError;
use crate::plan::{Decision, Plan, no_claims};

pub(super) async fn decide(
    on: &On<'_>,
    command_type: &str,
    body: serde_json::Value,
) -> Result<Decision, ApiError> {
    match command_type {
        "OpenTicket" => open(on.aggregates, parse(body)?, on.context).await,
        "CommentOnTicket" => {
            let dto::CommentOnTicket { ticket_id, message, attachments } = parse(body)?;
            let loaded = on.target(&on.aggregates.tickets, ticket_id, "ticket", "ticketId").await?;
            let attachments = resolve(on.aggregates, &attachments).await?;
            on.ticket(ticket_id, loaded, ticket::Command::Comment { message, attachments })
        }
        "CloseTicket" => {
            let dto::CloseTicket { ticket_id, resolution } = parse(body)?;
            let loaded = on.target(&on.aggregates.tickets, ticket_id, "ticket", "ticketId").await?;
            on.ticket(ticket_id, loaded, ticket::Command::Close { resolution })
        }
        other => Err(ApiError::UnknownCommand(other.to_owned())),
    }
}

impl On<'_> {
    fn ticket(
        &self,
        ticket_id: Uuid,
        loaded: Loaded<ticket::State>,
        command: ticket::Command,
    ) -> Result<Decision, ApiError> {
        let a = self.aggregates;
        let events = ticket::decide(&loaded.state, command, self.context)?;
        let (target, company_id) = (target(&a.tickets, ticket_id, &loaded), loaded.state.company_id);
        let mut plan = Plan::default();
        plan.write(a, |a| &a.tickets, ticket_id, loaded, events, no_claims);
        Ok(plan.decision(target, company_id))
    }
}

async fn open(
    aggregates: &Aggregates,
    body: dto::OpenTicket,
    context: &Context,
) -> Result<Decision, ApiError> {
    let a = aggregates;
    let company: Loaded<company::State> = existing(a, &a.companies, body.company_id, "companyId").await?;
    let requester = match body.requester_id {
        Some(user_id) => Some((user_id, existing(a, &a.users, user_id, "requesterId").await?.state)),
        None => None,
    };
    let attachments = resolve(a, &body.attachments).await?;
    let ticket_id = Uuid::now_v7();
    let command = ticket::Command::Open {
        company_id: body.company_id,
        company: company.state,
        requester,
        topic: body.topic,
        message: body.message,
        attachments,
    };
    let events = ticket::decide(&ticket::State::default(), command, context)?;
    let mut plan = Plan::default();
    plan.write(a, |a| &a.tickets, ticket_id, Loaded::default(), events, no_claims);
    Ok(plan.decision((ticket_id, a.tickets.stream_id(ticket_id), 0, 0), Some(body.company_id)))
}

/// The stored description of each uploaded file, in the order given: 404 naming
/// `attachments[i]` for an id that was never uploaded.
async fn resolve(aggregates: &Aggregates, ids: &[Uuid]) -> Result<Vec<AttachmentRef>, ApiError> {
    // The domain refuses more too; refusing here first spares looking up a long list.
    if ids.len() > ticket::MAX_ATTACHMENTS {
        return Err(ApiError::invalid_field(
            "attachments",
            format!("must be at most {} files per message", ticket::MAX_ATTACHMENTS),
        ));
    }
    let stored = eventlog::describe_attachments(&aggregates.database, ids).await?;
    ids.iter()
        .enumerate()
        .map(|(index, id)| {
            let info = stored.iter().find(|info| info.id == *id).ok_or_else(|| ApiError::NotFound {
                what: "attachment".to_owned(),
                field: format!("attachments[{index}]"),
                id: id.to_string(),
            })?;
            Ok(AttachmentRef {
                id: info.id,
                file_name: info.file_name.clone(),
                content_type: info.content_type.clone(),
                size: u64::try_from(info.size).map_err(|_| ApiError::Internal)?,
                sha256: info.sha256.clone(),
            })
        })
        .collect()
}
