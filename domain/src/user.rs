//! A portal user: belongs to one company, has one role and per-user permission overrides.
//!
//! Refusals and no-ops, per command (ARCHITECTURE.md repeats this table):
//! - every command but `Delete` on a deleted user: refused, `user_deleted`;
//! - `Approve` of an approved user, `Disapprove` of a user who is not approved: no-op;
//! - `Suspend` of a suspended user: refused, `already_suspended` (its reason or end would be lost);
//! - `Reactivate` of a user who is not suspended: refused, `not_suspended`;
//! - `Delete` of a deleted user: no-op (deleting is idempotent);
//! - `UpdateProfile`, `AssignRole`, `Grant`, `Revoke` that change nothing: no-op.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::permissions::{Level, Module, PermissionSet};
use crate::validate::{Problems, normalize_phone};
use crate::{ClaimChange, Context, DomainError, company, role};

pub const CATEGORY: &str = "user";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Create(Box<Create>),
    Approve,
    Disapprove,
    Suspend {
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
    },
    Reactivate,
    UpdateProfile(ProfileChanges),
    Delete,
    /// `role` is the role's state, looked up by the caller.
    AssignRole {
        role_id: Uuid,
        role: role::State,
    },
    Grant {
        module: Module,
        level: Level,
    },
    Revoke {
        module: Module,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub company_id: Uuid,
    /// The company's state, looked up by the caller.
    pub company: company::State,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub extension: Option<String>,
    /// The role and its state; `None` gives the company's default `User` role.
    pub role: Option<(Uuid, role::State)>,
    pub approved: bool,
}

/// Fields to change; `None` keeps a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<Option<String>>,
    pub extension: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    UserCreated {
        company_id: Uuid,
        username: String,
        email: String,
        first_name: String,
        last_name: String,
        phone: Option<String>,
        extension: Option<String>,
        role_id: Option<Uuid>,
        approved: bool,
    },
    UserApproved {},
    UserDisapproved {},
    #[serde(rename_all = "camelCase")]
    UserSuspended {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    UserReactivated {},
    /// Only the changed fields are present; `null` clears an optional field.
    #[serde(rename_all = "camelCase")]
    UserProfileUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        phone: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        extension: Option<Option<String>>,
    },
    UserDeleted {},
    #[serde(rename_all = "camelCase")]
    RoleAssigned {
        role_id: Uuid,
    },
    UserPermissionGranted {
        module: Module,
        level: Level,
    },
    UserPermissionRevoked {
        module: Module,
    },
}

/// A field that is present is `Some`, even when its value is `null`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::UserCreated { .. } => "UserCreated",
            Event::UserApproved {} => "UserApproved",
            Event::UserDisapproved {} => "UserDisapproved",
            Event::UserSuspended { .. } => "UserSuspended",
            Event::UserReactivated {} => "UserReactivated",
            Event::UserProfileUpdated { .. } => "UserProfileUpdated",
            Event::UserDeleted {} => "UserDeleted",
            Event::RoleAssigned { .. } => "RoleAssigned",
            Event::UserPermissionGranted { .. } => "UserPermissionGranted",
            Event::UserPermissionRevoked { .. } => "UserPermissionRevoked",
        }
    }

    /// Claims this event takes or frees, given the state before it.
    ///
    /// A username is unique for ever (it is freed only by erasure, a later capability); a
    /// login email is unique among users who are not deleted; an extension is unique
    /// within its company among users who are not deleted.
    pub fn claims(&self, before: &State) -> Vec<ClaimChange> {
        let mut changes = Vec::new();
        match self {
            Event::UserCreated { company_id, username, email, extension, .. } => {
                changes.push(ClaimChange::Acquire(username_claim(username)));
                changes.push(ClaimChange::Acquire(email_claim(email)));
                if let Some(extension) = extension {
                    changes.push(ClaimChange::Acquire(extension_claim(*company_id, extension)));
                }
            }
            Event::UserProfileUpdated { email, extension, .. } => {
                if let Some(email) = email {
                    changes.push(ClaimChange::Release(email_claim(&before.email)));
                    changes.push(ClaimChange::Acquire(email_claim(email)));
                }
                if let (Some(extension), Some(company_id)) = (extension, before.company_id) {
                    if let Some(old) = &before.extension {
                        changes.push(ClaimChange::Release(extension_claim(company_id, old)));
                    }
                    if let Some(new) = extension {
                        changes.push(ClaimChange::Acquire(extension_claim(company_id, new)));
                    }
                }
            }
            Event::UserDeleted {} => {
                changes.push(ClaimChange::Release(email_claim(&before.email)));
                if let (Some(extension), Some(company_id)) = (&before.extension, before.company_id) {
                    changes.push(ClaimChange::Release(extension_claim(company_id, extension)));
                }
            }
            _ => {}
        }
        changes
    }
}

crate::stored_event!(Event);

pub fn username_claim(username: &str) -> String {
    format!("username:{}", username.to_lowercase())
}

pub fn email_claim(email: &str) -> String {
    format!("email:{}", email.to_lowercase())
}

pub fn extension_claim(company_id: Uuid, extension: &str) -> String {
    format!("extension:{company_id}:{extension}")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub company_id: Option<Uuid>,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub extension: Option<String>,
    pub role_id: Option<Uuid>,
    pub approved: bool,
    pub suspended: bool,
    pub suspended_until: Option<DateTime<Utc>>,
    pub suspension_reason: Option<String>,
    pub deleted: bool,
    /// Per-user grants that override the role's level for a module.
    pub permissions: PermissionSet,
}

impl State {
    pub fn exists(&self) -> bool {
        self.company_id.is_some()
    }

    /// A suspension with an end lifts by itself once that instant has passed.
    pub fn is_suspended_at(&self, now: DateTime<Utc>) -> bool {
        self.suspended && self.suspended_until.is_none_or(|until| until > now)
    }
}

pub fn decide(state: &State, command: Command, context: &Context) -> Result<Vec<Event>, DomainError> {
    let events = match command {
        Command::Create(create) => return decide_create(state, *create),
        Command::Delete if state.deleted => Vec::new(),
        _ if state.deleted => return Err(DomainError::rule("user_deleted", "the user has been deleted")),
        Command::Delete => vec![Event::UserDeleted {}],
        Command::Approve if state.approved => Vec::new(),
        Command::Approve => vec![Event::UserApproved {}],
        Command::Disapprove if !state.approved => Vec::new(),
        Command::Disapprove => vec![Event::UserDisapproved {}],
        Command::Suspend { .. } if state.is_suspended_at(context.now) => {
            return Err(DomainError::rule("already_suspended", "the user is already suspended"));
        }
        Command::Suspend { until, reason } => {
            let mut problems = Problems::default();
            if until.is_some_and(|until| until <= context.now) {
                problems.add("until", "must be in the future");
            }
            if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
                problems.add("reason", "must be at most 500 characters");
            }
            problems.into_result()?;
            let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
            vec![Event::UserSuspended { until, reason }]
        }
        Command::Reactivate if !state.is_suspended_at(context.now) => {
            return Err(DomainError::rule("not_suspended", "the user is not suspended"));
        }
        Command::Reactivate => vec![Event::UserReactivated {}],
        Command::UpdateProfile(changes) => decide_profile(state, changes)?,
        Command::AssignRole { role_id, role } => {
            check_role(state.company_id, role_id, &role, "roleId")?;
            if state.role_id == Some(role_id) { Vec::new() } else { vec![Event::RoleAssigned { role_id }] }
        }
        Command::Grant { module, level } if state.permissions.get(&module) == Some(&level) => Vec::new(),
        Command::Grant { module, level } => vec![Event::UserPermissionGranted { module, level }],
        Command::Revoke { module } if !state.permissions.contains_key(&module) => Vec::new(),
        Command::Revoke { module } => vec![Event::UserPermissionRevoked { module }],
    };
    Ok(events)
}

fn decide_create(state: &State, create: Create) -> Result<Vec<Event>, DomainError> {
    if state.exists() {
        return Err(DomainError::rule("already_exists", "the user already exists"));
    }
    if !create.company.registered {
        return Err(DomainError::UnknownReference { field: "companyId", id: create.company_id });
    }
    let email = create.email.trim().to_owned();
    let phone = create.phone.map(|p| normalize_phone(p.trim())).filter(|p| !p.is_empty());
    let extension = create.extension.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    let mut problems = Problems::default();
    problems.username("username", &create.username);
    problems.email("email", &email);
    problems.text("firstName", &create.first_name, 100);
    problems.text("lastName", &create.last_name, 100);
    if let Some(phone) = &phone {
        problems.phone("phone", phone);
    }
    if let Some(extension) = &extension {
        problems.extension("extension", extension);
    }
    problems.into_result()?;
    let role_id = match create.role {
        Some((role_id, role)) => {
            check_role(Some(create.company_id), role_id, &role, "roleId")?;
            Some(role_id)
        }
        None => create.company.user_role_id,
    };
    Ok(vec![Event::UserCreated {
        company_id: create.company_id,
        username: create.username,
        email,
        first_name: create.first_name.trim().to_owned(),
        last_name: create.last_name.trim().to_owned(),
        phone,
        extension,
        role_id,
        approved: create.approved,
    }])
}

fn decide_profile(state: &State, changes: ProfileChanges) -> Result<Vec<Event>, DomainError> {
    let email = changes.email.map(|e| e.trim().to_owned());
    let first_name = changes.first_name.map(|n| n.trim().to_owned());
    let last_name = changes.last_name.map(|n| n.trim().to_owned());
    let phone = changes.phone.map(|p| p.map(|p| normalize_phone(p.trim())).filter(|p| !p.is_empty()));
    let extension = changes.extension.map(|e| e.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()));
    let mut problems = Problems::default();
    if let Some(email) = &email {
        problems.email("email", email);
    }
    if let Some(first_name) = &first_name {
        problems.text("firstName", first_name, 100);
    }
    if let Some(last_name) = &last_name {
        problems.text("lastName", last_name, 100);
    }
    if let Some(Some(phone)) = &phone {
        problems.phone("phone", phone);
    }
    if let Some(Some(extension)) = &extension {
        problems.extension("extension", extension);
    }
    problems.into_result()?;
    let event = Event::UserProfileUpdated {
        email: email.filter(|e| *e != state.email),
        first_name: first_name.filter(|n| *n != state.first_name),
        last_name: last_name.filter(|n| *n != state.last_name),
        phone: phone.filter(|p| *p != state.phone),
        extension: extension.filter(|e| *e != state.extension),
    };
    match event {
        Event::UserProfileUpdated {
            email: None,
            first_name: None,
            last_name: None,
            phone: None,
            extension: None,
        } => Ok(Vec::new()),
        event => Ok(vec![event]),
    }
}

fn check_role(
    company_id: Option<Uuid>,
    role_id: Uuid,
    role: &role::State,
    field: &'static str,
) -> Result<(), DomainError> {
    if !role.exists() {
        return Err(DomainError::UnknownReference { field, id: role_id });
    }
    if role.company_id != company_id {
        return Err(DomainError::rule("role_in_other_company", "the role belongs to another company"));
    }
    if role.deleted {
        return Err(DomainError::rule("role_deleted", "the role has been deleted"));
    }
    Ok(())
}

pub fn evolve(mut state: State, event: &Event) -> State {
    match event {
        Event::UserCreated {
            company_id,
            username,
            email,
            first_name,
            last_name,
            phone,
            extension,
            role_id,
            approved,
        } => {
            state.company_id = Some(*company_id);
            state.username.clone_from(username);
            state.email.clone_from(email);
            state.first_name.clone_from(first_name);
            state.last_name.clone_from(last_name);
            state.phone.clone_from(phone);
            state.extension.clone_from(extension);
            state.role_id = *role_id;
            state.approved = *approved;
        }
        Event::UserApproved {} => state.approved = true,
        Event::UserDisapproved {} => state.approved = false,
        Event::UserSuspended { until, reason } => {
            state.suspended = true;
            state.suspended_until = *until;
            state.suspension_reason.clone_from(reason);
        }
        Event::UserReactivated {} => {
            state.suspended = false;
            state.suspended_until = None;
            state.suspension_reason = None;
        }
        Event::UserProfileUpdated { email, first_name, last_name, phone, extension } => {
            if let Some(email) = email {
                state.email.clone_from(email);
            }
            if let Some(first_name) = first_name {
                state.first_name.clone_from(first_name);
            }
            if let Some(last_name) = last_name {
                state.last_name.clone_from(last_name);
            }
            if let Some(phone) = phone {
                state.phone.clone_from(phone);
            }
            if let Some(extension) = extension {
                state.extension.clone_from(extension);
            }
        }
        Event::UserDeleted {} => state.deleted = true,
        Event::RoleAssigned { role_id } => state.role_id = Some(*role_id),
        Event::UserPermissionGranted { module, level } => {
            state.permissions.insert(*module, *level);
        }
        Event::UserPermissionRevoked { module } => {
            state.permissions.remove(module);
        }
    }
    state
}
