//! A group of users within one company (Telzio). Every company starts with `Main Group`; a
//! group may carry a role, whose permissions its members inherit.
//!
//! The group keeps its member list: `AddMember` / `RemoveMember` are written in the same
//! append as the user's `GroupAssigned`, so deleting a group knows exactly whom to move back
//! to Main Group, and a concurrent assignment to a group being deleted fails its version check.
//!
//! Refusals and no-ops:
//! - every command but `Create` on a deleted group: refused, `group_deleted`;
//! - `Rename` or `Delete` of Main Group: refused, `main_group`;
//! - `Rename` to the same name, `SetRole` to the same role, `AddMember` of a member and
//!   `RemoveMember` of a non-member: no-op.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::Problems;
use crate::{ClaimChange, Context, DomainError, company, role};

pub const CATEGORY: &str = "group";
pub const MAIN_GROUP: &str = "Main Group";

#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a command lives for one decision and is never held in bulk; boxing the looked-up state would change every caller"
)]
pub enum Command {
    Create {
        company_id: Uuid,
        /// The owning company's state, looked up by the caller.
        company: company::State,
        name: String,
        /// The role and its state, looked up by the caller.
        role: Option<(Uuid, role::State)>,
        is_main: bool,
    },
    Rename {
        name: String,
    },
    /// `None` takes the group's role away.
    SetRole {
        role: Option<(Uuid, role::State)>,
    },
    Delete,
    AddMember {
        user_id: Uuid,
    },
    RemoveMember {
        user_id: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    GroupCreated {
        company_id: Uuid,
        name: String,
        role_id: Option<Uuid>,
        is_main: bool,
    },
    GroupRenamed {
        name: String,
    },
    #[serde(rename_all = "camelCase")]
    GroupRoleSet {
        role_id: Option<Uuid>,
    },
    GroupDeleted {},
    #[serde(rename_all = "camelCase")]
    GroupMemberAdded {
        user_id: Uuid,
    },
    #[serde(rename_all = "camelCase")]
    GroupMemberRemoved {
        user_id: Uuid,
    },
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::GroupCreated { .. } => "GroupCreated",
            Event::GroupRenamed { .. } => "GroupRenamed",
            Event::GroupRoleSet { .. } => "GroupRoleSet",
            Event::GroupDeleted {} => "GroupDeleted",
            Event::GroupMemberAdded { .. } => "GroupMemberAdded",
            Event::GroupMemberRemoved { .. } => "GroupMemberRemoved",
        }
    }

    /// A group's name is unique within its company among groups that are not deleted.
    pub fn claims(&self, before: &State) -> Vec<ClaimChange> {
        match (self, before.company_id) {
            (Event::GroupCreated { company_id, name, .. }, _) => {
                vec![ClaimChange::Acquire(name_claim(*company_id, name))]
            }
            (Event::GroupRenamed { name }, Some(company_id)) => vec![
                ClaimChange::Release(name_claim(company_id, &before.name)),
                ClaimChange::Acquire(name_claim(company_id, name)),
            ],
            (Event::GroupDeleted {}, Some(company_id)) => {
                vec![ClaimChange::Release(name_claim(company_id, &before.name))]
            }
            _ => Vec::new(),
        }
    }
}

crate::stored_event!(Event);

pub fn name_claim(company_id: Uuid, name: &str) -> String {
    format!("group-name:{company_id}:{}", name.trim().to_lowercase())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub company_id: Option<Uuid>,
    pub name: String,
    pub role_id: Option<Uuid>,
    pub is_main: bool,
    pub deleted: bool,
    pub members: BTreeSet<Uuid>,
}

impl State {
    pub fn exists(&self) -> bool {
        self.company_id.is_some()
    }

    /// The group without its member list: all that deciding for one user looks at (whether
    /// the group exists, whose it is, whether it was deleted), without copying every member.
    pub fn without_members(&self) -> State {
        State {
            company_id: self.company_id,
            name: self.name.clone(),
            role_id: self.role_id,
            is_main: self.is_main,
            deleted: self.deleted,
            members: BTreeSet::new(),
        }
    }
}

pub fn decide(state: &State, command: Command, _context: &Context) -> Result<Vec<Event>, DomainError> {
    if let Command::Create { company_id, company, name, role, is_main } = command {
        if state.exists() {
            return Err(DomainError::rule("already_exists", "the group already exists"));
        }
        if !company.registered {
            return Err(DomainError::UnknownReference { field: "companyId", id: company_id });
        }
        let mut problems = Problems::default();
        problems.text("name", &name, 100);
        problems.into_result()?;
        let role_id = match role {
            Some((role_id, role)) => Some(role.usable_by(Some(company_id), role_id, "roleId")?),
            None => None,
        };
        return Ok(vec![Event::GroupCreated { company_id, name: name.trim().to_owned(), role_id, is_main }]);
    }
    if !state.exists() {
        return Err(DomainError::rule("not_found", "the group does not exist"));
    }
    if state.deleted {
        return Err(DomainError::rule("group_deleted", "the group has been deleted"));
    }
    let company_id = state.company_id.unwrap_or_default();
    let events = match command {
        Command::Create { .. } => Vec::new(),
        Command::Rename { name } => {
            let mut problems = Problems::default();
            problems.text("name", &name, 100);
            problems.into_result()?;
            let name = name.trim().to_owned();
            if name == state.name {
                return Ok(Vec::new());
            }
            refuse_main(state, "renamed")?;
            vec![Event::GroupRenamed { name }]
        }
        Command::SetRole { role } => {
            let role_id = match role {
                Some((role_id, role)) => Some(role.usable_by(Some(company_id), role_id, "roleId")?),
                None => None,
            };
            if role_id == state.role_id { Vec::new() } else { vec![Event::GroupRoleSet { role_id }] }
        }
        Command::Delete => {
            refuse_main(state, "deleted")?;
            vec![Event::GroupDeleted {}]
        }
        Command::AddMember { user_id } if state.members.contains(&user_id) => Vec::new(),
        Command::AddMember { user_id } => vec![Event::GroupMemberAdded { user_id }],
        Command::RemoveMember { user_id } if !state.members.contains(&user_id) => Vec::new(),
        Command::RemoveMember { user_id } => vec![Event::GroupMemberRemoved { user_id }],
    };
    Ok(events)
}

fn refuse_main(state: &State, action: &str) -> Result<(), DomainError> {
    if state.is_main {
        return Err(DomainError::rule("main_group", format!("Main Group cannot be {action}")));
    }
    Ok(())
}

pub fn evolve(mut state: State, event: &Event) -> State {
    match event {
        Event::GroupCreated { company_id, name, role_id, is_main } => {
            state.company_id = Some(*company_id);
            state.name.clone_from(name);
            state.role_id = *role_id;
            state.is_main = *is_main;
        }
        Event::GroupRenamed { name } => state.name.clone_from(name),
        Event::GroupRoleSet { role_id } => state.role_id = *role_id,
        Event::GroupDeleted {} => {
            state.deleted = true;
            state.members.clear();
        }
        Event::GroupMemberAdded { user_id } => {
            state.members.insert(*user_id);
        }
        Event::GroupMemberRemoved { user_id } => {
            state.members.remove(user_id);
        }
    }
    state
}
