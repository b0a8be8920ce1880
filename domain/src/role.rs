//! A role: a named set of module permissions within one company.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::permissions::{Level, Module, PermissionSet};
use crate::validate::Problems;
use crate::{ClaimChange, Context, DomainError};

pub const CATEGORY: &str = "role";

#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a command lives for one decision and is never held in bulk; boxing the looked-up state would change every caller"
)]
pub enum Command {
    /// `company` is the owning company's state, looked up by the caller.
    Create {
        company_id: Uuid,
        company: crate::company::State,
        name: String,
        description: String,
        permissions: PermissionSet,
        is_default: bool,
    },
    Update {
        name: Option<String>,
        description: Option<String>,
    },
    Delete,
    Grant {
        module: Module,
        level: Level,
    },
    Revoke {
        module: Module,
    },
    /// A user was given this role, or a group now carries it.
    AddHolder(Holder),
    /// A user moved to another role (or was deleted), or a group stopped carrying it.
    RemoveHolder(Holder),
}

/// Who holds a role: a user directly, or a group whose members inherit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Holder {
    User(Uuid),
    Group(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    RoleCreated {
        company_id: Uuid,
        name: String,
        description: String,
        is_default: bool,
        permissions: PermissionSet,
    },
    #[serde(rename_all = "camelCase")]
    RoleUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    RoleDeleted {},
    RolePermissionGranted {
        module: Module,
        level: Level,
    },
    RolePermissionRevoked {
        module: Module,
    },
    RoleHolderAdded {
        holder: Holder,
    },
    RoleHolderRemoved {
        holder: Holder,
    },
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::RoleCreated { .. } => "RoleCreated",
            Event::RoleUpdated { .. } => "RoleUpdated",
            Event::RoleDeleted {} => "RoleDeleted",
            Event::RolePermissionGranted { .. } => "RolePermissionGranted",
            Event::RolePermissionRevoked { .. } => "RolePermissionRevoked",
            Event::RoleHolderAdded { .. } => "RoleHolderAdded",
            Event::RoleHolderRemoved { .. } => "RoleHolderRemoved",
        }
    }

    /// Claims this event takes or frees: a role name is unique within its company.
    pub fn claims(&self, before: &State) -> Vec<ClaimChange> {
        match self {
            Event::RoleCreated { company_id, name, .. } => {
                vec![ClaimChange::Acquire(name_claim(*company_id, name))]
            }
            Event::RoleUpdated { name: Some(name), .. } => match before.company_id {
                Some(company_id) => vec![
                    ClaimChange::Release(name_claim(company_id, &before.name)),
                    ClaimChange::Acquire(name_claim(company_id, name)),
                ],
                None => Vec::new(),
            },
            Event::RoleDeleted {} => match before.company_id {
                Some(company_id) => vec![ClaimChange::Release(name_claim(company_id, &before.name))],
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

crate::stored_event!(Event);

pub fn name_claim(company_id: Uuid, name: &str) -> String {
    format!("role-name:{company_id}:{}", name.trim().to_lowercase())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub company_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub permissions: PermissionSet,
    pub deleted: bool,
    /// Users who hold the role directly.
    pub users: u32,
    /// Groups that carry the role.
    pub groups: u32,
}

impl State {
    pub fn exists(&self) -> bool {
        self.company_id.is_some()
    }

    /// Checks that a user or group of `company_id` may be given this role (named `field` in
    /// the command): it exists, belongs to that company and is not deleted.
    pub fn usable_by(
        &self,
        company_id: Option<Uuid>,
        role_id: Uuid,
        field: &'static str,
    ) -> Result<Uuid, DomainError> {
        if !self.exists() {
            return Err(DomainError::UnknownReference { field, id: role_id });
        }
        if self.company_id != company_id {
            return Err(DomainError::rule("role_in_other_company", "the role belongs to another company"));
        }
        if self.deleted {
            return Err(DomainError::rule("role_deleted", "the role has been deleted"));
        }
        Ok(role_id)
    }
}

pub fn decide(state: &State, command: Command, _context: &Context) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::Create { company_id, company, name, description, permissions, is_default } => {
            if state.exists() {
                return Err(DomainError::rule("already_exists", "the role already exists"));
            }
            if !company.registered {
                return Err(DomainError::UnknownReference { field: "companyId", id: company_id });
            }
            let mut problems = Problems::default();
            problems.text("name", &name, 100);
            check_description(&mut problems, Some(&description));
            problems.into_result()?;
            Ok(vec![Event::RoleCreated {
                company_id,
                name: name.trim().to_owned(),
                description: description.trim().to_owned(),
                is_default,
                permissions,
            }])
        }
        Command::Update { name, description } => {
            ensure_live(state)?;
            let mut problems = Problems::default();
            if let Some(name) = &name {
                problems.text("name", name, 100);
            }
            check_description(&mut problems, description.as_deref());
            problems.into_result()?;
            let name = name.map(|n| n.trim().to_owned()).filter(|n| *n != state.name);
            let description = description.map(|d| d.trim().to_owned()).filter(|d| *d != state.description);
            if name.is_some() && state.is_default {
                return Err(DomainError::rule("default_role", "a default role cannot be renamed"));
            }
            if name.is_none() && description.is_none() {
                return Ok(Vec::new());
            }
            Ok(vec![Event::RoleUpdated { name, description }])
        }
        Command::Delete => {
            ensure_live(state)?;
            if state.is_default {
                return Err(DomainError::rule("default_role", "a default role cannot be deleted"));
            }
            if state.users > 0 || state.groups > 0 {
                return Err(DomainError::rule_with(
                    "role_in_use",
                    format!(
                        "the role is held by {} and {}; give them another role first",
                        count(state.users, "user", "users"),
                        count(state.groups, "group", "groups"),
                    ),
                    serde_json::json!({ "users": state.users, "groups": state.groups }),
                ));
            }
            Ok(vec![Event::RoleDeleted {}])
        }
        Command::Grant { module, level } => {
            ensure_live(state)?;
            if state.permissions.get(&module) == Some(&level) {
                return Ok(Vec::new());
            }
            Ok(vec![Event::RolePermissionGranted { module, level }])
        }
        Command::Revoke { module } => {
            ensure_live(state)?;
            if !state.permissions.contains_key(&module) {
                return Ok(Vec::new());
            }
            Ok(vec![Event::RolePermissionRevoked { module }])
        }
        // Recorded beside the user's or group's own event; the holder was checked there.
        Command::AddHolder(holder) => Ok(vec![Event::RoleHolderAdded { holder }]),
        Command::RemoveHolder(holder) => Ok(vec![Event::RoleHolderRemoved { holder }]),
    }
}

fn ensure_live(state: &State) -> Result<(), DomainError> {
    if state.deleted {
        return Err(DomainError::rule("role_deleted", "the role has been deleted"));
    }
    Ok(())
}

/// "1 user", "2 users", "0 users".
fn count(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn check_description(problems: &mut Problems, description: Option<&str>) {
    if description.is_some_and(|d| d.chars().count() > 1000) {
        problems.add("description", "must be at most 1000 characters");
    }
}

pub fn evolve(mut state: State, event: &Event) -> State {
    match event {
        Event::RoleCreated { company_id, name, description, is_default, permissions } => {
            state.company_id = Some(*company_id);
            state.name.clone_from(name);
            state.description.clone_from(description);
            state.is_default = *is_default;
            state.permissions.clone_from(permissions);
        }
        Event::RoleUpdated { name, description } => {
            if let Some(name) = name {
                state.name.clone_from(name);
            }
            if let Some(description) = description {
                state.description.clone_from(description);
            }
        }
        Event::RoleDeleted {} => state.deleted = true,
        Event::RolePermissionGranted { module, level } => {
            state.permissions.insert(*module, *level);
        }
        Event::RolePermissionRevoked { module } => {
            state.permissions.remove(module);
        }
        Event::RoleHolderAdded { holder: Holder::User(_) } => state.users += 1,
        Event::RoleHolderAdded { holder: Holder::Group(_) } => state.groups += 1,
        Event::RoleHolderRemoved { holder: Holder::User(_) } => state.users = state.users.saturating_sub(1),
        Event::RoleHolderRemoved { holder: Holder::Group(_) } => {
            state.groups = state.groups.saturating_sub(1)
        }
    }
    state
}
