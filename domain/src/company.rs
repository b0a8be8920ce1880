//! A company: a customer of the provider, or a reseller with customer companies under it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::{Problems, normalize_phone};
use crate::{Context, DomainError};

pub const CATEGORY: &str = "company";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Register(Register),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub company_id: Uuid,
    pub name: String,
    pub main_phone: String,
    /// The parent company's state, looked up by the caller; `None` for a top-level company.
    pub parent: Option<(Uuid, State)>,
    pub license_limit: Option<u32>,
    /// Ids the caller chose for the two default roles created with the company.
    pub administrator_role_id: Uuid,
    pub user_role_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    },
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::CompanyRegistered { .. } => "CompanyRegistered",
        }
    }
}

crate::stored_event!(Event);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub registered: bool,
    pub name: String,
    pub main_phone: String,
    pub parent_company_id: Option<Uuid>,
    pub license_limit: Option<u32>,
    pub administrator_role_id: Option<Uuid>,
    pub user_role_id: Option<Uuid>,
}

pub fn decide(state: &State, command: Command, _context: &Context) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::Register(register) => {
            if state.registered {
                return Err(DomainError::rule("already_registered", "the company is already registered"));
            }
            let main_phone = normalize_phone(register.main_phone.trim());
            let mut problems = Problems::default();
            problems.text("name", &register.name, 200);
            problems.phone("mainPhone", &main_phone);
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
                main_phone,
                parent_company_id,
                license_limit: register.license_limit,
                administrator_role_id: register.administrator_role_id,
                user_role_id: register.user_role_id,
            }])
        }
    }
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
        } => {
            state.registered = true;
            state.name.clone_from(name);
            state.main_phone.clone_from(main_phone);
            state.parent_company_id = *parent_company_id;
            state.license_limit = *license_limit;
            state.administrator_role_id = Some(*administrator_role_id);
            state.user_role_id = Some(*user_role_id);
        }
    }
    state
}
