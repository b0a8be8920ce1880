//! Ownership requests: another company asks to take a user over, and nothing moves until the
//! user confirms (TeleMessage's bulk import sends one for every user who already exists).

use uuid::Uuid;

use super::{Event, OwnershipRequest, State};
use crate::{DomainError, company};

pub(super) fn decide_request(
    state: &State,
    request_id: Uuid,
    company_id: Uuid,
    company: &company::State,
) -> Result<Vec<Event>, DomainError> {
    if !company.registered {
        return Err(DomainError::UnknownReference { field: "companyId", id: company_id });
    }
    if state.company_id == Some(company_id) {
        return Err(DomainError::rule("already_in_company", "the user already belongs to this company"));
    }
    match state.ownership_request {
        Some(OwnershipRequest { company_id: pending, .. }) if pending == company_id => Ok(Vec::new()),
        Some(_) => Err(DomainError::rule(
            "ownership_request_pending",
            "another company's ownership request is waiting for the user's answer",
        )),
        None => Ok(vec![Event::OwnershipRequested { request_id, company_id }]),
    }
}

pub(super) fn decide_confirm(
    state: &State,
    request_id: Uuid,
    company: &company::State,
) -> Result<Vec<Event>, DomainError> {
    let request = pending(state, request_id)?;
    if !company.registered {
        return Err(DomainError::UnknownReference { field: "companyId", id: request.company_id });
    }
    Ok(vec![Event::OwnershipConfirmed {
        request_id,
        from_company_id: state.company_id.unwrap_or_default(),
        company_id: request.company_id,
        role_id: company.user_role_id,
        group_id: company.main_group_id,
    }])
}

pub(super) fn decide_decline(state: &State, request_id: Uuid) -> Result<Vec<Event>, DomainError> {
    pending(state, request_id)?;
    Ok(vec![Event::OwnershipDeclined { request_id }])
}

fn pending(state: &State, request_id: Uuid) -> Result<OwnershipRequest, DomainError> {
    match state.ownership_request {
        Some(request) if request.request_id == request_id => Ok(request),
        _ => Err(DomainError::rule(
            "no_such_request",
            "the user has no pending ownership request with this id",
        )),
    }
}
