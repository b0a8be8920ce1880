//! Who may send which command on what: the operator anything; a signed-in user what their
//! effective module levels allow, within their own company and the companies under it (a
//! reseller's customers), and what acts on themselves.
//!
//! Tenant isolation: every id a command names (`userId`, `roleId`, `groupId`, `companyId`,
//! `parentCompanyId`, `ticketId`, `requesterId`) that belongs to a company outside the caller's
//! reach answers 404 `not_found`, exactly like an id that does not exist, before anything is
//! decided. Only then is the level checked (403 `forbidden`).

use std::collections::BTreeMap;

use domain::{ActorKind, Level, Module, user};
use serde_json::Value;
use uuid::Uuid;

use crate::cache::Aggregates;
use crate::error::ApiError;
use crate::{Caller, CommandApi};

/// What a command asks of a signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// At least this level on this module.
    Level(Module, Level),
    /// Acts on the caller only (the body's `userId`, if any, is theirs).
    Themselves,
    /// On the caller, or on others with this level.
    ThemselvesOr(Module, Level),
    /// Any user of the companies the ids name (tickets: "contact us").
    Member,
    /// The platform operator only (licences and apps are the provider's business).
    Operator,
}

fn need(command_type: &str) -> Need {
    use Level::{Edit, Full};
    use Module::{AccountSettings, Users};
    match command_type {
        "UpdateMyProfile" | "UpdateMySettings" | "ChangePassword" | "ConfirmOwnership"
        | "DeclineOwnership" => Need::Themselves,
        // The token in the body proves who acts, whoever else is signed in on this browser.
        "OpenTicket" | "CommentOnTicket" | "CloseTicket" | "ActivateAccount" => Need::Member,
        "SetTwoFactor" | "RemoveTotp" => Need::ThemselvesOr(Users, Edit),
        "SetLicenseLimit" | "SetEnabledApps" => Need::Operator,
        "RegisterCompany" => Need::Level(AccountSettings, Full),
        "UpdateCompany" | "SetCompanyPolicies" => Need::Level(AccountSettings, Edit),
        "CreateUser" | "DeleteUser" | "CreateRole" | "DeleteRole" | "CreateGroup" | "DeleteGroup"
        | "RequestOwnership" => Need::Level(Users, Full),
        _ => Need::Level(Users, Edit),
    }
}

/// The body fields that name an aggregate, and the kind each names.
const ID_FIELDS: [(&str, &str); 7] = [
    ("userId", user::CATEGORY),
    ("requesterId", user::CATEGORY),
    ("roleId", domain::role::CATEGORY),
    ("groupId", domain::group::CATEGORY),
    ("ticketId", domain::ticket::CATEGORY),
    ("companyId", domain::company::CATEGORY),
    ("parentCompanyId", domain::company::CATEGORY),
];

/// A signed-in user as access control sees them.
struct Member {
    user_id: Uuid,
    company_id: Uuid,
    levels: BTreeMap<Module, Level>,
}

impl Member {
    fn level(&self, module: Module) -> Level {
        self.levels.get(&module).copied().unwrap_or(Level::None)
    }
}

impl CommandApi {
    /// 404 for ids outside the caller's companies, then 403 for what their levels do not allow.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        command_type: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let (ActorKind::User, Some(user_id)) = (caller.actor.kind, caller.actor.id) else { return Ok(()) };
        let member = self.member(user_id).await?;
        let need = need(command_type);
        if command_type == "RegisterCompany" && body.get("parentCompanyId").is_none_or(Value::is_null) {
            return Err(ApiError::Forbidden(
                "a signed-in user registers customer companies under a company of theirs: give parentCompanyId".to_owned(),
            ));
        }
        for (field, category) in ID_FIELDS {
            // Asking another company's user to join is the point of an ownership request.
            if command_type == "RequestOwnership" && field == "userId" {
                continue;
            }
            let Some(id) = id_in(body, field) else {
                continue;
            };
            let Some(company_id) = company_of(&self.aggregates, category, id).await? else { continue };
            if !self.reaches(member.company_id, company_id).await? {
                return Err(ApiError::NotFound {
                    what: field.trim_end_matches("Id").to_owned(),
                    field: field.to_owned(),
                    id: id.to_string(),
                });
            }
        }
        let allowed = match need {
            Need::Operator => false,
            Need::Member => true,
            Need::Themselves => is_self(&member, body),
            Need::ThemselvesOr(module, level) => is_self(&member, body) || member.level(module) >= level,
            Need::Level(module, level) => member.level(module) >= level,
        };
        if !allowed {
            return Err(ApiError::Forbidden(match need {
                Need::Level(module, level) => {
                    format!("{command_type} needs {} on {}", name(&level), name(&module))
                }
                Need::Themselves => {
                    "a user may change only their own profile, settings and password".to_owned()
                }
                _ => format!("only the operator may send {command_type}"),
            }));
        }
        // Nobody hands out more than they have.
        if matches!(command_type, "GrantPermission" | "CreateRole") {
            check_grants(&member, body)?;
        }
        self.check_handouts(&member, body).await?;
        self.check_attachments(&member, body).await?;
        // Nobody manages someone who may do more than they may (their password, their mobile,
        // their suspension): that would be a way to become them.
        if !matches!(need, Need::Member | Need::Themselves)
            && command_type != "RequestOwnership"
            && let Some(target) = id_in(body, "userId")
            && target != member.user_id
            && self.aggregates.users.load(self.aggregates.log.as_ref(), target).await?.version > 0
        {
            let target = self.member(target).await?;
            if let Some(module) =
                Module::ALL.into_iter().find(|module| target.level(*module) > member.level(*module))
            {
                return Err(ApiError::Forbidden(format!(
                    "the user has more rights than you on {}: only someone with as many may manage them",
                    name(&module)
                )));
            }
        }
        Ok(())
    }

    /// A user attaches the files they uploaded themselves: anyone else's answers like a file
    /// that does not exist, so a ticket cannot carry another company's file.
    async fn check_attachments(&self, member: &Member, body: &Value) -> Result<(), ApiError> {
        let Some(listed) = body.get("attachments").and_then(Value::as_array) else { return Ok(()) };
        let ids: Vec<(usize, Uuid)> = listed
            .iter()
            .enumerate()
            .filter_map(|(index, id)| Some((index, Uuid::parse_str(id.as_str()?).ok()?)))
            .collect();
        let files = eventlog::describe_attachments(
            &self.aggregates.database,
            &ids.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
        )
        .await?;
        for (index, id) in ids {
            let theirs = files
                .iter()
                .find(|file| file.id == id)
                .is_some_and(|file| file.uploaded_by.id == Some(member.user_id));
            let exists = files.iter().any(|file| file.id == id);
            if exists && !theirs {
                return Err(ApiError::NotFound {
                    what: "attachment".to_owned(),
                    field: format!("attachments[{index}]"),
                    id: id.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The rights a command would give: a role (`roleId`), a group's role (`groupId`), the
    /// admin flag (`admin: true`, FULL on USERS). None may exceed the caller's own.
    async fn check_handouts(&self, member: &Member, body: &Value) -> Result<(), ApiError> {
        let a = &self.aggregates;
        let log = a.log.as_ref();
        let mut given: Vec<(Module, Level)> = Vec::new();
        if let Some(role_id) = id_in(body, "roleId") {
            given.extend(a.roles.load(log, role_id).await?.state.permissions);
        }
        if let Some(group_id) = id_in(body, "groupId")
            && let Some(role_id) = a.groups.load(log, group_id).await?.state.role_id
        {
            given.extend(a.roles.load(log, role_id).await?.state.permissions);
        }
        if body.get("admin").and_then(Value::as_bool) == Some(true) {
            given.push((Module::Users, Level::Full));
        }
        match given.into_iter().find(|(module, level)| *level > member.level(*module)) {
            Some((module, level)) => Err(ApiError::Forbidden(format!(
                "nobody may give more than they have: {} on {} is above your own level",
                name(&level),
                name(&module)
            ))),
            None => Ok(()),
        }
    }

    /// A signed-in user's company and effective level on USERS, for the query side.
    pub async fn standing(&self, user_id: Uuid) -> Result<(Uuid, Level), ApiError> {
        let member = self.member(user_id).await?;
        Ok((member.company_id, member.level(Module::Users)))
    }

    /// The user's company and effective levels; the admin flag counts as FULL on USERS.
    ///
    /// Read fresh from the log, not from the cache: another process may have taken a right
    /// away a moment ago.
    async fn member(&self, user_id: Uuid) -> Result<Member, ApiError> {
        let a = &self.aggregates;
        let log = a.log.as_ref();
        let user = a.users.refresh(log, user_id).await?.state;
        let role = match user.role_id {
            Some(id) => a.roles.refresh(log, id).await?.state.permissions,
            None => Default::default(),
        };
        let group_role = match user.group_id {
            Some(id) => match a.groups.refresh(log, id).await?.state.role_id {
                Some(role_id) => Some(a.roles.refresh(log, role_id).await?.state.permissions),
                None => None,
            },
            None => None,
        };
        let mut levels: BTreeMap<Module, Level> =
            domain::permissions::effective(&role, group_role.as_ref(), &user.permissions)
                .into_iter()
                .map(|e| (e.module, e.level))
                .collect();
        if user.admin {
            levels.insert(Module::Users, Level::Full);
        }
        Ok(Member { user_id, company_id: user.company_id.unwrap_or_default(), levels })
    }

    /// Whether a user of `own` reaches `target`: the same company, or one under it.
    async fn reaches(&self, own: Uuid, target: Uuid) -> Result<bool, ApiError> {
        let log = self.aggregates.log.as_ref();
        let mut current = Some(target);
        // A company tree is shallow; the bound only guards against a cycle in bad data.
        for _ in 0..64 {
            match current {
                Some(id) if id == own => return Ok(true),
                Some(id) => current = self.aggregates.companies.load(log, id).await?.state.parent_company_id,
                None => return Ok(false),
            }
        }
        Ok(false)
    }
}

/// The id a body field holds, if it holds one.
fn id_in(body: &Value, field: &str) -> Option<Uuid> {
    body.get(field).and_then(Value::as_str).and_then(|id| Uuid::parse_str(id).ok())
}

/// The body names no user, or the caller.
fn is_self(member: &Member, body: &Value) -> bool {
    body.get("userId")
        .and_then(Value::as_str)
        .is_none_or(|id| Uuid::parse_str(id).is_ok_and(|id| id == member.user_id))
}

/// The company an aggregate belongs to; `None` when it does not exist (the command's own
/// lookup then answers 404).
async fn company_of(a: &Aggregates, category: &str, id: Uuid) -> Result<Option<Uuid>, ApiError> {
    let log = a.log.as_ref();
    Ok(match category {
        c if c == user::CATEGORY => a.users.load(log, id).await?.state.company_id,
        c if c == domain::role::CATEGORY => a.roles.load(log, id).await?.state.company_id,
        c if c == domain::group::CATEGORY => a.groups.load(log, id).await?.state.company_id,
        c if c == domain::ticket::CATEGORY => a.tickets.load(log, id).await?.state.company_id,
        _ => a.companies.load(log, id).await?.state.registered.then_some(id),
    })
}

/// A grant or a new role's permissions may not exceed the caller's own levels.
fn check_grants(member: &Member, body: &Value) -> Result<(), ApiError> {
    let parse = |value: &Value| serde_json::from_value::<(Module, Level)>(value.clone()).ok();
    let mut wanted: Vec<(Module, Level)> = Vec::new();
    if let (Some(module), Some(level)) = (body.get("module"), body.get("level")) {
        wanted.extend(parse(&serde_json::json!([module, level])));
    }
    for permission in body.get("permissions").and_then(Value::as_array).into_iter().flatten() {
        wanted.extend(parse(&serde_json::json!([permission["module"], permission["level"]])));
    }
    match wanted.into_iter().find(|(module, level)| *level > member.level(*module)) {
        Some((module, level)) => Err(ApiError::Forbidden(format!(
            "nobody may grant more than they have: {} on {} is above your own level",
            name(&level),
            name(&module)
        ))),
        None => Ok(()),
    }
}

/// An enum value as the API spells it (`FULL`, `CALL_LOGS`).
fn name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
