//! A company: a customer of the provider, or a reseller with customer companies under it.
//!
//! The company also counts its licences: every user who is created takes a seat
//! (`LicenseSeatTaken`, written in the same append as `UserCreated`) and every user who is
//! deleted gives it back. Because the seat is an event on the company's stream, concurrent
//! creates in one company are ordered by the stream's version and the limit holds exactly.
//!
//! Refusals and no-ops:
//! - `Register` of a registered company: refused, `already_registered`;
//! - every other command on a company that is not registered: refused, `not_found`;
//! - `TakeSeat` when every licence is used: refused, `license_limit_reached`;
//! - `SetLicenseLimit` below the seats in use: refused, `license_limit_below_used`;
//! - `Update`, `SetLicenseLimit`, `SetPolicies` and `SetEnabledApps` that change nothing: no-op.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::apps::App;
use crate::policy::{PasswordPolicy, UsernamePolicy};
use crate::validate::Problems;
use crate::{Context, DomainError};

pub const CATEGORY: &str = "company";

#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a command lives for one decision and is never held in bulk; boxing the looked-up state would change every caller"
)]
pub enum Command {
    Register(Register),
    Update {
        name: Option<String>,
        main_phone: Option<String>,
    },
    /// `None` removes the limit.
    SetLicenseLimit {
        limit: Option<u32>,
    },
    SetPolicies {
        username: Option<UsernamePolicy>,
        password: Option<PasswordPolicy>,
    },
    /// The apps the company has; the others show as "coming soon".
    SetEnabledApps {
        apps: BTreeSet<App>,
    },
    /// A user of this company was created.
    TakeSeat {
        user_id: Uuid,
    },
    /// A user of this company was deleted.
    ReleaseSeat {
        user_id: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub company_id: Uuid,
    pub name: String,
    pub main_phone: String,
    /// The parent company's state, looked up by the caller; `None` for a top-level company.
    pub parent: Option<(Uuid, State)>,
    pub license_limit: Option<u32>,
    /// Ids the caller chose for the default roles and group created with the company.
    pub administrator_role_id: Uuid,
    pub user_role_id: Uuid,
    pub main_group_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    CompanyRegistered {
        name: String,
        main_phone: String,
        parent_company_id: Option<Uuid>,
        license_limit: Option<u32>,
        administrator_role_id: Uuid,
        user_role_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        main_group_id: Option<Uuid>,
    },
    #[serde(rename_all = "camelCase")]
    CompanyUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        main_phone: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    LicenseLimitSet {
        limit: Option<u32>,
    },
    #[serde(rename_all = "camelCase")]
    CompanyPoliciesSet {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username_policy: Option<UsernamePolicy>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_policy: Option<PasswordPolicy>,
    },
    CompanyAppsSet {
        apps: BTreeSet<App>,
    },
    /// `used` is the number of seats in use after this event.
    #[serde(rename_all = "camelCase")]
    LicenseSeatTaken {
        user_id: Uuid,
        used: u32,
    },
    #[serde(rename_all = "camelCase")]
    LicenseSeatReleased {
        user_id: Uuid,
        used: u32,
    },
}

/// A main phone number belongs to one company: with an extension, it is a sign-in (TeleGo).
pub fn main_phone_claim(main_phone: &str) -> String {
    format!("main-phone:{main_phone}")
}

impl Event {
    /// Claims this event takes or frees, given the state before it.
    pub fn claims(&self, before: &State) -> Vec<crate::ClaimChange> {
        use crate::ClaimChange::{Acquire, Release};
        match self {
            Event::CompanyRegistered { main_phone, .. } => vec![Acquire(main_phone_claim(main_phone))],
            Event::CompanyUpdated { main_phone: Some(main_phone), .. } => {
                vec![Release(main_phone_claim(&before.main_phone)), Acquire(main_phone_claim(main_phone))]
            }
            _ => Vec::new(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Event::CompanyRegistered { .. } => "CompanyRegistered",
            Event::CompanyUpdated { .. } => "CompanyUpdated",
            Event::LicenseLimitSet { .. } => "LicenseLimitSet",
            Event::CompanyPoliciesSet { .. } => "CompanyPoliciesSet",
            Event::CompanyAppsSet { .. } => "CompanyAppsSet",
            Event::LicenseSeatTaken { .. } => "LicenseSeatTaken",
            Event::LicenseSeatReleased { .. } => "LicenseSeatReleased",
        }
    }
}

crate::stored_event!(Event);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub registered: bool,
    pub name: String,
    pub main_phone: String,
    pub parent_company_id: Option<Uuid>,
    pub license_limit: Option<u32>,
    /// Users created and not deleted.
    pub licenses_used: u32,
    pub administrator_role_id: Option<Uuid>,
    pub user_role_id: Option<Uuid>,
    pub main_group_id: Option<Uuid>,
    pub username_policy: UsernamePolicy,
    pub password_policy: PasswordPolicy,
    /// `None`: every app.
    pub enabled_apps: Option<BTreeSet<App>>,
}

pub fn decide(state: &State, command: Command, _context: &Context) -> Result<Vec<Event>, DomainError> {
    if let Command::Register(register) = command {
        return decide_register(state, register);
    }
    if !state.registered {
        return Err(DomainError::rule("not_found", "the company is not registered"));
    }
    match command {
        Command::Register(_) => Ok(Vec::new()),
        Command::Update { name, main_phone } => {
            let mut problems = Problems::default();
            if let Some(name) = &name {
                problems.text("name", name, 200);
            }
            let main_phone = main_phone.and_then(|phone| problems.phone("mainPhone", &phone));
            problems.into_result()?;
            let name = name.map(|n| n.trim().to_owned()).filter(|n| *n != state.name);
            let main_phone = main_phone.filter(|p| *p != state.main_phone);
            if name.is_none() && main_phone.is_none() {
                return Ok(Vec::new());
            }
            Ok(vec![Event::CompanyUpdated { name, main_phone }])
        }
        Command::SetLicenseLimit { limit } => {
            if limit == Some(0) {
                let mut problems = Problems::default();
                problems.add("limit", "must be at least 1");
                problems.into_result()?;
            }
            if let Some(limit) = limit.filter(|limit| *limit < state.licenses_used) {
                return Err(DomainError::rule_with(
                    "license_limit_below_used",
                    format!(
                        "{} licences are in use; delete users before lowering the limit to {limit}",
                        state.licenses_used
                    ),
                    json!({ "used": state.licenses_used, "limit": limit }),
                ));
            }
            if limit == state.license_limit {
                return Ok(Vec::new());
            }
            Ok(vec![Event::LicenseLimitSet { limit }])
        }
        Command::SetPolicies { username, password } => {
            let mut problems = Problems::default();
            if let Some(policy) = &username {
                policy.check_itself(&mut problems, "usernamePolicy");
            }
            if let Some(policy) = &password {
                policy.check_itself(&mut problems, "passwordPolicy");
            }
            problems.into_result()?;
            let username_policy = username.filter(|p| *p != state.username_policy);
            let password_policy = password.filter(|p| *p != state.password_policy);
            if username_policy.is_none() && password_policy.is_none() {
                return Ok(Vec::new());
            }
            Ok(vec![Event::CompanyPoliciesSet { username_policy, password_policy }])
        }
        Command::SetEnabledApps { apps } => {
            if state.enabled_apps.as_ref() == Some(&apps) {
                return Ok(Vec::new());
            }
            Ok(vec![Event::CompanyAppsSet { apps }])
        }
        Command::TakeSeat { user_id } => {
            if let Some(limit) = state.license_limit.filter(|limit| state.licenses_used >= *limit) {
                return Err(DomainError::rule_with(
                    "license_limit_reached",
                    format!("all {limit} licences of the company are in use"),
                    json!({ "used": state.licenses_used, "limit": limit }),
                ));
            }
            Ok(vec![Event::LicenseSeatTaken { user_id, used: state.licenses_used + 1 }])
        }
        Command::ReleaseSeat { user_id } => {
            Ok(vec![Event::LicenseSeatReleased { user_id, used: state.licenses_used.saturating_sub(1) }])
        }
    }
}

fn decide_register(state: &State, register: Register) -> Result<Vec<Event>, DomainError> {
    if state.registered {
        return Err(DomainError::rule("already_registered", "the company is already registered"));
    }
    let mut problems = Problems::default();
    problems.text("name", &register.name, 200);
    let main_phone = problems.phone("mainPhone", &register.main_phone);
    if register.license_limit == Some(0) {
        problems.add("licenseLimit", "must be at least 1");
    }
    problems.into_result()?;
    let parent_company_id = match register.parent {
        Some((parent_id, parent)) if parent.registered => Some(parent_id),
        Some((parent_id, _)) => {
            return Err(DomainError::UnknownReference { field: "parentCompanyId", id: parent_id });
        }
        None => None,
    };
    Ok(vec![Event::CompanyRegistered {
        name: register.name.trim().to_owned(),
        main_phone: main_phone.unwrap_or_default(),
        parent_company_id,
        license_limit: register.license_limit,
        administrator_role_id: register.administrator_role_id,
        user_role_id: register.user_role_id,
        main_group_id: Some(register.main_group_id),
    }])
}

pub fn evolve(mut state: State, event: &Event) -> State {
    match event {
        Event::CompanyRegistered {
            name,
            main_phone,
            parent_company_id,
            license_limit,
            administrator_role_id,
            user_role_id,
            main_group_id,
        } => {
            state.registered = true;
            state.name.clone_from(name);
            state.main_phone.clone_from(main_phone);
            state.parent_company_id = *parent_company_id;
            state.license_limit = *license_limit;
            state.administrator_role_id = Some(*administrator_role_id);
            state.user_role_id = Some(*user_role_id);
            state.main_group_id = *main_group_id;
        }
        Event::CompanyUpdated { name, main_phone } => {
            if let Some(name) = name {
                state.name.clone_from(name);
            }
            if let Some(main_phone) = main_phone {
                state.main_phone.clone_from(main_phone);
            }
        }
        Event::LicenseLimitSet { limit } => state.license_limit = *limit,
        Event::CompanyPoliciesSet { username_policy, password_policy } => {
            if let Some(policy) = username_policy {
                state.username_policy = policy.clone();
            }
            if let Some(policy) = password_policy {
                state.password_policy = policy.clone();
            }
        }
        Event::CompanyAppsSet { apps } => state.enabled_apps = Some(apps.clone()),
        Event::LicenseSeatTaken { used, .. } | Event::LicenseSeatReleased { used, .. } => {
            state.licenses_used = *used;
        }
    }
    state
}
