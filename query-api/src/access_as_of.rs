//! The question auditors ask: who could use module M in company C at instant T, and why?
//!
//! Every user stream that ever recorded an event for C is folded up to T with the write side's
//! `evolve` (its access events only, read for all users in one query); those still in C at T keep their role, group and direct grants as they were then,
//! and the roles and groups are folded to T as well. The effective level is the domain's own
//! `effective()`. The "why" is, for each source of that level, the events that last set what it
//! rests on: the grant itself, or the assignment of the role (or group) together with the
//! role's grant of M (and the group's choice of role), each with who, when and their reason.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use async_graphql::{Context, Result, SimpleObject};
use chrono::{DateTime, Utc};
use domain::permissions::Source;
use domain::{EventPayload, Level, Module, group, role, user};
use eventlog::RecordedEvent;
use uuid::Uuid;

use crate::types::{AuditEntry, PermissionLevel, PermissionSource, UserStatus};
use crate::{QueryState, Viewer, audit_entry, internal};

/// One user who could use the module at the instant, and why.
#[derive(SimpleObject)]
pub struct AccessGrant {
    pub user_id: async_graphql::ID,
    pub username: String,
    /// The user's status then (a suspended user held the access but could not sign in).
    pub status: UserStatus,
    pub level: PermissionLevel,
    /// What gave that level (every source that gives it, when several do).
    pub sources: Vec<PermissionSource>,
    /// The events that last set what the level rests on, oldest first.
    pub because: Vec<AuditEntry>,
}

/// A stream folded up to an instant, with its events.
struct Folded<S> {
    state: S,
    events: Vec<RecordedEvent>,
}

async fn fold<E: EventPayload, S: Default>(
    state: &QueryState,
    stream_id: &str,
    at: DateTime<Utc>,
    evolve: fn(S, &E) -> S,
) -> Result<Folded<S>> {
    let (state, events) = crate::fold_until(state, stream_id, at, evolve).await?;
    Ok(Folded { state, events })
}

/// The event after which `project` of the folded state last took the value it has at the end.
fn last_set<E: EventPayload, S: Default, P: PartialEq>(
    events: &[RecordedEvent],
    evolve: fn(S, &E) -> S,
    project: impl Fn(&S) -> P,
) -> Option<RecordedEvent> {
    let mut state = S::default();
    let mut current = project(&state);
    let mut cause = None;
    for event in events {
        let Ok(payload) = event.payload::<E>() else { continue };
        state = evolve(state, &payload);
        let value = project(&state);
        if value != current {
            cause = Some(event.clone());
            current = value;
        }
    }
    cause
}

/// Roles and groups folded to the instant, each once.
#[derive(Default)]
struct AtInstant {
    roles: HashMap<Uuid, Folded<role::State>>,
    groups: HashMap<Uuid, Folded<group::State>>,
}

impl AtInstant {
    async fn role(
        &mut self,
        state: &QueryState,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<&Folded<role::State>> {
        if let Entry::Vacant(slot) = self.roles.entry(id) {
            slot.insert(fold(state, &domain::stream_id(role::CATEGORY, id), at, role::evolve).await?);
        }
        self.roles.get(&id).ok_or_else(|| internal("a role just folded is missing"))
    }

    async fn group(
        &mut self,
        state: &QueryState,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<&Folded<group::State>> {
        if let Entry::Vacant(slot) = self.groups.entry(id) {
            slot.insert(fold(state, &domain::stream_id(group::CATEGORY, id), at, group::evolve).await?);
        }
        self.groups.get(&id).ok_or_else(|| internal("a group just folded is missing"))
    }
}

/// `accessAsOf(companyId, module, at)`: users of the company at `at` with a level above NONE on
/// `module`, by username. Empty for a company whose people the viewer does not see.
pub async fn access_as_of(
    context: &Context<'_>,
    company_id: Uuid,
    module: Module,
    at: DateTime<Utc>,
) -> Result<Vec<AccessGrant>> {
    if !Viewer::of(context).sees_people_of(company_id) {
        return Ok(Vec::new());
    }
    let state = context.data::<QueryState>()?;
    // Only the events that move a user's company, role, group, grants or status: one query for
    // every user of the company, however long their profiles' histories.
    let history = eventlog::access_history(&state.database, company_id, at).await.map_err(internal)?;
    let mut instant = AtInstant::default();
    let mut grants = Vec::new();
    for events in history.chunk_by(|a, b| a.stream_id == b.stream_id) {
        let Some((_, user_id)) = events.first().and_then(|e| domain::parse_stream_id(&e.stream_id)) else {
            continue;
        };
        let mut folded = user::State::default();
        for event in events {
            folded = user::evolve(folded, &event.payload::<user::Event>().map_err(internal)?);
        }
        let person = Folded { state: folded, events: events.to_vec() };
        let user_state = &person.state;
        if user_state.company_id != Some(company_id) || user_state.deleted {
            continue;
        }
        let mut because: Vec<RecordedEvent> = Vec::new();
        let none = domain::PermissionSet::new();
        let role = match user_state.role_id {
            Some(id) => Some((id, instant.role(state, id, at).await?.state.clone())),
            None => None,
        };
        // Only the group's role: its member set (every user of a Main Group) is not copied.
        let group_role_id = match user_state.group_id {
            Some(id) => instant.group(state, id, at).await?.state.role_id,
            None => None,
        };
        let group_role = match group_role_id {
            Some(id) => Some((id, instant.role(state, id, at).await?.state.clone())),
            None => None,
        };
        let effective = domain::permissions::effective(
            role.as_ref().map_or(&none, |(_, r)| &r.permissions),
            group_role.as_ref().map(|(_, r)| &r.permissions),
            &user_state.permissions,
        );
        let Some(level) =
            effective.into_iter().find(|e| e.module == module).filter(|e| e.level > Level::None)
        else {
            continue;
        };
        let role_grant = |folded: &Folded<role::State>| {
            last_set(&folded.events, role::evolve, |r: &role::State| r.permissions.get(&module).copied())
        };
        for source in &level.sources {
            match source {
                Source::Direct => {
                    because.extend(last_set(&person.events, user::evolve, |u: &user::State| {
                        u.permissions.get(&module).copied()
                    }))
                }
                Source::Role => {
                    because.extend(last_set(&person.events, user::evolve, |u: &user::State| u.role_id));
                    if let Some((id, _)) = role {
                        because.extend(role_grant(instant.role(state, id, at).await?));
                    }
                }
                Source::Group => {
                    because.extend(last_set(&person.events, user::evolve, |u: &user::State| u.group_id));
                    if let Some(id) = user_state.group_id {
                        let folded = instant.group(state, id, at).await?;
                        because.extend(last_set(&folded.events, group::evolve, |g: &group::State| g.role_id));
                    }
                    if let Some((id, _)) = group_role {
                        because.extend(role_grant(instant.role(state, id, at).await?));
                    }
                }
            }
        }
        because.sort_by_key(|event| event.checkpoint);
        because.dedup_by_key(|event| event.event_id);
        grants.push(AccessGrant {
            user_id: async_graphql::ID(user_id.to_string()),
            username: user_state.username.clone(),
            status: user_state.status_at(at).into(),
            level: level.level.into(),
            sources: level.sources.into_iter().map(Into::into).collect(),
            because: because.into_iter().map(audit_entry).collect(),
        });
    }
    grants.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(grants)
}
