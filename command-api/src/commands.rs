//! The commands the API accepts, and how each becomes decisions of the domain's aggregates
//! and the writes that record them.
//!
//! A command may change several aggregates in one append: creating a user also takes a seat
//! on the company, adds a holder to the role and a member to the group. Every stream is
//! written at the version it was decided on, so a concurrent change to any of them fails the
//! whole append and the command is decided again.

mod credentials;
pub(crate) mod imports;
mod tickets;

use std::collections::BTreeMap;

use domain::role::Holder;
use domain::user::Field;
use domain::{ActorKind, Context, PermissionSet, company, group, role, user};
use uuid::Uuid;

use crate::cache::{Aggregates, Cache, Loaded};
use crate::dto::{self, parse};
use crate::error::ApiError;
use crate::plan::{Decision, Plan};
use credentials::FirstPassword;
pub(crate) use credentials::check_policy;

/// Every command type, as named in `POST /commands/{CommandType}`.
pub const COMMAND_TYPES: [&str; 42] = [
    "RegisterCompany",
    "UpdateCompany",
    "SetLicenseLimit",
    "SetCompanyPolicies",
    "SetEnabledApps",
    "CreateUser",
    "ApproveUser",
    "DisapproveUser",
    "SuspendUser",
    "DeactivateUser",
    "ReactivateUser",
    "UpdateUserProfile",
    "SetUserAccess",
    "DeleteUser",
    "UpdateMyProfile",
    "UpdateMySettings",
    "ActivateAccount",
    "ResendInvitation",
    "ResetPassword",
    "SetPassword",
    "ChangePassword",
    "UnlockUser",
    "SetTwoFactor",
    "RemoveTotp",
    "ChangeMobileNumber",
    "RequestOwnership",
    "ConfirmOwnership",
    "DeclineOwnership",
    "CreateRole",
    "UpdateRole",
    "DeleteRole",
    "AssignRole",
    "GrantPermission",
    "RevokePermission",
    "CreateGroup",
    "RenameGroup",
    "SetGroupRole",
    "DeleteGroup",
    "AssignGroup",
    "OpenTicket",
    "CommentOnTicket",
    "CloseTicket",
];

/// Commands the API runs for its own endpoints (`/auth/…`), never reachable as
/// `POST /commands/…`.
pub const INTERNAL_COMMAND_TYPES: [&str; 7] = [
    "RecordLogin",
    "VerifyPin",
    "RequestPasswordReset",
    "RehashPassword",
    "EnrollTotp",
    "ConfirmTotp",
    "StartImport",
];

/// Commands that need no bearer token: the token in their body proves who acts.
pub const ANONYMOUS_COMMAND_TYPES: [&str; 1] = ["ActivateAccount"];

/// Decides `command_type` with `body` against the current state of its aggregates.
pub async fn decide(
    aggregates: &Aggregates,
    command_type: &str,
    body: serde_json::Value,
    context: &Context,
    if_match: Option<i64>,
) -> Result<Decision, ApiError> {
    let on = On { aggregates, context, if_match };
    match command_type {
        "RegisterCompany" => register_company(aggregates, parse(body)?, context).await,
        "UpdateCompany" => {
            let dto::UpdateCompany { company_id, name, main_phone } = parse(body)?;
            on.company(company_id, |_| Ok(company::Command::Update { name, main_phone })).await
        }
        "SetLicenseLimit" => {
            let dto::SetLicenseLimit { company_id, limit } = parse(body)?;
            let limit = limit.flatten();
            on.company(company_id, |_| Ok(company::Command::SetLicenseLimit { limit })).await
        }
        "SetCompanyPolicies" => {
            let dto::SetCompanyPolicies { company_id, username_policy, password_policy } = parse(body)?;
            if username_policy.is_none() && password_policy.is_none() {
                return Err(ApiError::invalid_field(
                    "usernamePolicy",
                    "give usernamePolicy, passwordPolicy or both",
                ));
            }
            on.company(company_id, |current| {
                Ok(company::Command::SetPolicies {
                    username: username_policy.map(|p| p.over(&current.username_policy)),
                    password: password_policy.map(|p| p.over(&current.password_policy)),
                })
            })
            .await
        }
        "SetEnabledApps" => {
            let dto::SetEnabledApps { company_id, apps } = parse(body)?;
            on.company(company_id, |_| Ok(company::Command::SetEnabledApps { apps })).await
        }
        "CreateUser" => create_user(aggregates, parse(body)?, context).await,
        "UpdateMyProfile" => {
            let update: dto::UpdateMyProfile = parse(body)?;
            let user_id = own_user(context, update.user_id)?;
            let fields = [
                (Field::Email, update.email),
                (Field::FirstName, update.first_name),
                (Field::LastName, update.last_name),
                (Field::Phone, update.phone),
                (Field::Mobile, update.mobile),
                (Field::Extension, update.extension),
            ];
            let changes = user::ProfileChanges { fields: present_fields(fields), service_level: None };
            on.user(user_id, user::Command::UpdateProfile(changes)).await
        }
        "UpdateMySettings" => {
            let dto::UpdateMySettings { user_id, manual_filtering, settings } = parse(body)?;
            let user_id = own_user(context, user_id)?;
            on.user(
                user_id,
                user::Command::UpdateSettings(user::SettingsChanges { manual_filtering, settings }),
            )
            .await
        }
        "ChangeMobileNumber" => {
            let dto::ChangeMobileNumber { user_id, mobile, previous_number } = parse(body)?;
            on.user(user_id, user::Command::ChangeMobile { mobile, previous: previous_number }).await
        }
        "RequestOwnership" => {
            let body: dto::RequestOwnership = parse(body)?;
            let user_id = user_named(aggregates, &body).await?;
            let company =
                existing(aggregates, &aggregates.companies, body.company_id, "companyId").await?.state;
            let command = user::Command::RequestOwnership {
                request_id: Uuid::now_v7(),
                company_id: body.company_id,
                company,
            };
            on.user(user_id, command).await
        }
        "ConfirmOwnership" => {
            let dto::OwnershipAnswer { user_id, request_id } = parse(body)?;
            let user = aggregates.users.load(aggregates.log.as_ref(), user_id).await?.state;
            let requesting = user.ownership_request.map(|request| request.company_id).unwrap_or_default();
            let company = aggregates.companies.load(aggregates.log.as_ref(), requesting).await?.state;
            on.user(user_id, user::Command::ConfirmOwnership { request_id, company }).await
        }
        "DeclineOwnership" => {
            let dto::OwnershipAnswer { user_id, request_id } = parse(body)?;
            on.user(user_id, user::Command::DeclineOwnership { request_id }).await
        }
        "ApproveUser" => on.user(parse::<dto::UserTarget>(body)?.user_id, user::Command::Approve).await,
        "DisapproveUser" => on.user(parse::<dto::UserTarget>(body)?.user_id, user::Command::Disapprove).await,
        "SuspendUser" => {
            let dto::SuspendUser { user_id, until, reason } = parse(body)?;
            on.user(user_id, user::Command::Suspend { until, reason }).await
        }
        "DeactivateUser" => on.user(parse::<dto::UserTarget>(body)?.user_id, user::Command::Deactivate).await,
        "ReactivateUser" => on.user(parse::<dto::UserTarget>(body)?.user_id, user::Command::Reactivate).await,
        "UpdateUserProfile" => {
            let update: dto::UpdateUserProfile = parse(body)?;
            let user_id = update.user_id;
            on.user(user_id, user::Command::UpdateProfile(profile_changes(update)?)).await
        }
        "SetUserAccess" => {
            let dto::SetUserAccess { user_id, admin, portal_access } = parse(body)?;
            on.user(user_id, user::Command::SetAccess { admin, portal_access }).await
        }
        "DeleteUser" => on.user(parse::<dto::UserTarget>(body)?.user_id, user::Command::Delete).await,
        "AssignRole" => {
            let dto::AssignRole { user_id, role_id } = parse(body)?;
            let role = aggregates.roles.load(aggregates.log.as_ref(), role_id).await?.state;
            on.user(user_id, user::Command::AssignRole { role_id, role }).await
        }
        "AssignGroup" => {
            let dto::AssignGroup { user_id, group_id } = parse(body)?;
            let group = aggregates.groups.load(aggregates.log.as_ref(), group_id).await?.state;
            on.user(user_id, user::Command::AssignGroup { group_id, group }).await
        }
        "CreateRole" => create_role(aggregates, parse(body)?, context).await,
        "UpdateRole" => {
            let dto::UpdateRole { role_id, name, description } = parse(body)?;
            on.role(role_id, role::Command::Update { name, description }).await
        }
        "DeleteRole" => on.role(parse::<dto::RoleTarget>(body)?.role_id, role::Command::Delete).await,
        "GrantPermission" => {
            let dto::GrantPermission { role_id, user_id, module, level } = parse(body)?;
            match one_target(role_id, user_id)? {
                Target::Role(role_id) => on.role(role_id, role::Command::Grant { module, level }).await,
                Target::User(user_id) => on.user(user_id, user::Command::Grant { module, level }).await,
            }
        }
        "RevokePermission" => {
            let dto::RevokePermission { role_id, user_id, module } = parse(body)?;
            match one_target(role_id, user_id)? {
                Target::Role(role_id) => on.role(role_id, role::Command::Revoke { module }).await,
                Target::User(user_id) => on.user(user_id, user::Command::Revoke { module }).await,
            }
        }
        "CreateGroup" => create_group(aggregates, parse(body)?, context).await,
        "RenameGroup" => {
            let dto::RenameGroup { group_id, name } = parse(body)?;
            on.group(group_id, group::Command::Rename { name }).await
        }
        "SetGroupRole" => {
            let dto::SetGroupRole { group_id, role_id } = parse(body)?;
            let role = match role_id.flatten() {
                Some(role_id) => {
                    Some((role_id, aggregates.roles.load(aggregates.log.as_ref(), role_id).await?.state))
                }
                None => None,
            };
            on.group(group_id, group::Command::SetRole { role }).await
        }
        "DeleteGroup" => on.group(parse::<dto::GroupTarget>(body)?.group_id, group::Command::Delete).await,
        "OpenTicket" | "CommentOnTicket" | "CloseTicket" => tickets::decide(&on, command_type, body).await,
        "StartImport" => imports::decide(&on, body).await,
        "ActivateAccount"
        | "ResendInvitation"
        | "ResetPassword"
        | "SetPassword"
        | "ChangePassword"
        | "UnlockUser"
        | "SetTwoFactor"
        | "RemoveTotp"
        | "EnrollTotp"
        | "ConfirmTotp"
        | "RecordLogin"
        | "VerifyPin"
        | "RequestPasswordReset"
        | "RehashPassword" => credentials::decide(&on, command_type, body).await,
        other => Err(ApiError::UnknownCommand(other.to_owned())),
    }
}

enum Target {
    Role(Uuid),
    User(Uuid),
}

fn one_target(role_id: Option<Uuid>, user_id: Option<Uuid>) -> Result<Target, ApiError> {
    match (role_id, user_id) {
        (Some(role_id), None) => Ok(Target::Role(role_id)),
        (None, Some(user_id)) => Ok(Target::User(user_id)),
        (Some(_), Some(_)) => {
            Err(ApiError::invalid_field("roleId", "give either roleId or userId, not both"))
        }
        (None, None) => Err(ApiError::invalid_field("roleId", "give either roleId or userId")),
    }
}

/// The user a self-service command is for: a signed-in user acts on themselves only; the
/// operator must name the user.
fn own_user(context: &Context, user_id: Option<Uuid>) -> Result<Uuid, ApiError> {
    match (context.actor.kind, context.actor.id, user_id) {
        (ActorKind::User, Some(me), None) => Ok(me),
        (ActorKind::User, Some(me), Some(id)) if id == me => Ok(me),
        (ActorKind::User, _, _) => {
            Err(ApiError::Forbidden("a user may change only their own profile and settings".to_owned()))
        }
        (_, _, Some(id)) => Ok(id),
        (_, _, None) => {
            Err(ApiError::invalid_field("userId", "is required when the operator acts for a user"))
        }
    }
}

/// The user a `RequestOwnership` names by id, username or email (exactly one of them).
async fn user_named(aggregates: &Aggregates, body: &dto::RequestOwnership) -> Result<Uuid, ApiError> {
    let (field, claim) = match (&body.user_id, &body.username, &body.email) {
        (Some(user_id), None, None) => return Ok(*user_id),
        (None, Some(username), None) => ("username", user::username_claim(username.trim())),
        (None, None, Some(email)) => ("email", user::email_claim(email.trim())),
        _ => return Err(ApiError::invalid_field("userId", "give exactly one of userId, username and email")),
    };
    let owner = aggregates.log.claim_owner(&claim).await?;
    owner
        .as_deref()
        .and_then(domain::parse_stream_id)
        .filter(|(category, _)| *category == user::CATEGORY)
        .map(|(_, id)| id)
        .ok_or_else(|| ApiError::NotFound {
            what: "user".to_owned(),
            field: field.to_owned(),
            id: claim.split_once(':').map_or("", |(_, v)| v).to_owned(),
        })
}

/// The fields that were present in a body, with their values (`None`: cleared).
fn present_fields<const N: usize>(
    fields: [(Field, Option<Option<String>>); N],
) -> BTreeMap<Field, Option<String>> {
    fields.into_iter().filter_map(|(field, value)| Some((field, value?))).collect()
}

fn profile_changes(update: dto::UpdateUserProfile) -> Result<user::ProfileChanges, ApiError> {
    if update.username.is_some() {
        return Err(ApiError::invalid_field("username", "a username cannot be changed"));
    }
    let fields = present_fields([
        (Field::Email, update.email),
        (Field::FirstName, update.first_name),
        (Field::LastName, update.last_name),
        (Field::Phone, update.phone),
        (Field::Mobile, update.mobile),
        (Field::OfficePhone, update.office_phone),
        (Field::Fax, update.fax),
        (Field::OutboundCallerId, update.outbound_caller_id),
        (Field::Extension, update.extension),
        (Field::Title, update.title),
        (Field::CustomerCode, update.customer_code),
        (Field::Udid, update.udid),
    ]);
    Ok(user::ProfileChanges { fields, service_level: update.service_level })
}

/// A command on one existing aggregate, with the request's `If-Match`.
struct On<'a> {
    aggregates: &'a Aggregates,
    context: &'a Context,
    if_match: Option<i64>,
}

impl On<'_> {
    async fn company(
        &self,
        company_id: Uuid,
        command: impl FnOnce(&company::State) -> Result<company::Command, ApiError>,
    ) -> Result<Decision, ApiError> {
        let a = self.aggregates;
        let loaded = self.target(&a.companies, company_id, "company", "companyId").await?;
        let events = company::decide(&loaded.state, command(&loaded.state)?, self.context)?;
        let target = target(&a.companies, company_id, &loaded);
        let mut plan = Plan::default();
        plan.write(a, |a| &a.companies, company_id, loaded, events, company::Event::claims);
        Ok(plan.decision(target, Some(company_id)))
    }

    async fn role(&self, role_id: Uuid, command: role::Command) -> Result<Decision, ApiError> {
        let a = self.aggregates;
        let loaded = self.target(&a.roles, role_id, "role", "roleId").await?;
        let events = role::decide(&loaded.state, command, self.context)?;
        let (target, company_id) = (target(&a.roles, role_id, &loaded), loaded.state.company_id);
        let mut plan = Plan::default();
        plan.write(a, |a| &a.roles, role_id, loaded, events, role::Event::claims);
        Ok(plan.decision(target, company_id))
    }

    /// A change of one user, with what it changes on the user's role, group and company.
    async fn user(&self, user_id: Uuid, command: user::Command) -> Result<Decision, ApiError> {
        let a = self.aggregates;
        let log = a.log.as_ref();
        let loaded = self.target(&a.users, user_id, "user", "userId").await?;
        let events = user::decide(&loaded.state, command, self.context)?;
        let before = loaded.state.clone();
        let (target, company_id) = (target(&a.users, user_id, &loaded), before.company_id);
        let mut plan = Plan::default();
        plan.write(a, |a| &a.users, user_id, loaded, events.clone(), user::Event::claims);
        for event in &events {
            match event {
                user::Event::RoleAssigned { role_id } => {
                    if let Some(old) = before.role_id {
                        self.role_holder(&mut plan, old, role::Command::RemoveHolder(Holder::User(user_id)))
                            .await?;
                    }
                    self.role_holder(&mut plan, *role_id, role::Command::AddHolder(Holder::User(user_id)))
                        .await?;
                }
                user::Event::GroupAssigned { group_id } => {
                    if let Some(old) = before.group_id {
                        self.member(&mut plan, old, group::Command::RemoveMember { user_id }).await?;
                    }
                    self.member(&mut plan, *group_id, group::Command::AddMember { user_id }).await?;
                }
                user::Event::OwnershipConfirmed {
                    from_company_id, company_id, role_id, group_id, ..
                } => {
                    for (company_id, command) in [
                        (*from_company_id, company::Command::ReleaseSeat { user_id }),
                        (*company_id, company::Command::TakeSeat { user_id }),
                    ] {
                        let company = a.companies.load(log, company_id).await?;
                        let events = company::decide(&company.state, command, self.context)?;
                        plan.write(a, |a| &a.companies, company_id, company, events, company::Event::claims);
                    }
                    if let Some(old) = before.role_id {
                        self.role_holder(&mut plan, old, role::Command::RemoveHolder(Holder::User(user_id)))
                            .await?;
                    }
                    if let Some(new) = role_id {
                        self.role_holder(&mut plan, *new, role::Command::AddHolder(Holder::User(user_id)))
                            .await?;
                    }
                    if let Some(old) = before.group_id {
                        self.member(&mut plan, old, group::Command::RemoveMember { user_id }).await?;
                    }
                    if let Some(new) = group_id {
                        self.member(&mut plan, *new, group::Command::AddMember { user_id }).await?;
                    }
                }
                user::Event::UserDeleted {} => {
                    if let Some(company_id) = before.company_id {
                        let company = a.companies.load(log, company_id).await?;
                        let events = company::decide(
                            &company.state,
                            company::Command::ReleaseSeat { user_id },
                            self.context,
                        )?;
                        plan.write(a, |a| &a.companies, company_id, company, events, company::Event::claims);
                    }
                    if let Some(role_id) = before.role_id {
                        self.role_holder(
                            &mut plan,
                            role_id,
                            role::Command::RemoveHolder(Holder::User(user_id)),
                        )
                        .await?;
                    }
                    if let Some(group_id) = before.group_id {
                        self.member(&mut plan, group_id, group::Command::RemoveMember { user_id }).await?;
                    }
                }
                _ => {}
            }
        }
        Ok(plan.decision(target, company_id))
    }

    /// A change of one group, with what it changes on its role and, when it is deleted, on
    /// its members (back to Main Group).
    async fn group(&self, group_id: Uuid, command: group::Command) -> Result<Decision, ApiError> {
        let a = self.aggregates;
        let log = a.log.as_ref();
        let loaded = self.target(&a.groups, group_id, "group", "groupId").await?;
        let events = group::decide(&loaded.state, command, self.context)?;
        let before = loaded.state.clone();
        let (target, company_id) = (target(&a.groups, group_id, &loaded), before.company_id);
        let mut plan = Plan::default();
        plan.write(a, |a| &a.groups, group_id, loaded, events.clone(), group::Event::claims);
        for event in &events {
            match event {
                group::Event::GroupRoleSet { role_id } => {
                    if let Some(old) = before.role_id {
                        self.role_holder(
                            &mut plan,
                            old,
                            role::Command::RemoveHolder(Holder::Group(group_id)),
                        )
                        .await?;
                    }
                    if let Some(new) = role_id {
                        self.role_holder(&mut plan, *new, role::Command::AddHolder(Holder::Group(group_id)))
                            .await?;
                    }
                }
                group::Event::GroupDeleted {} => {
                    if let Some(role_id) = before.role_id {
                        self.role_holder(
                            &mut plan,
                            role_id,
                            role::Command::RemoveHolder(Holder::Group(group_id)),
                        )
                        .await?;
                    }
                    let company = a.companies.load(log, company_id.unwrap_or_default()).await?.state;
                    let main_group_id = company.main_group_id.ok_or(ApiError::Internal)?;
                    let main = a.groups.load(log, main_group_id).await?;
                    let mut main_events = Vec::new();
                    for member in &before.members {
                        let user = a.users.load(log, *member).await?;
                        let events = user::decide(
                            &user.state,
                            user::Command::AssignGroup { group_id: main_group_id, group: main.state.clone() },
                            self.context,
                        )?;
                        plan.write(a, |a| &a.users, *member, user, events, user::Event::claims);
                        main_events.push(group::Event::GroupMemberAdded { user_id: *member });
                    }
                    plan.write(a, |a| &a.groups, main_group_id, main, main_events, group::Event::claims);
                }
                _ => {}
            }
        }
        Ok(plan.decision(target, company_id))
    }

    async fn role_holder(
        &self,
        plan: &mut Plan,
        role_id: Uuid,
        command: role::Command,
    ) -> Result<(), ApiError> {
        let a = self.aggregates;
        let role = a.roles.load(a.log.as_ref(), role_id).await?;
        let events = role::decide(&role.state, command, self.context)?;
        plan.write(a, |a| &a.roles, role_id, role, events, role::Event::claims);
        Ok(())
    }

    async fn member(&self, plan: &mut Plan, group_id: Uuid, command: group::Command) -> Result<(), ApiError> {
        let a = self.aggregates;
        let group = a.groups.load(a.log.as_ref(), group_id).await?;
        let events = group::decide(&group.state, command, self.context)?;
        plan.write(a, |a| &a.groups, group_id, group, events, group::Event::claims);
        Ok(())
    }

    /// Loads an existing aggregate for a change: 404 when it has no events, 409 when
    /// `If-Match` names another version.
    async fn target<S: Clone + Default, E: domain::EventPayload>(
        &self,
        cache: &Cache<S, E>,
        id: Uuid,
        what: &str,
        field: &'static str,
    ) -> Result<Loaded<S>, ApiError> {
        let log = self.aggregates.log.as_ref();
        let mut loaded = cache.load(log, id).await?;
        if loaded.version == 0 || self.if_match.is_some_and(|expected| expected != loaded.version) {
            // Not cached yet, or cached before another process appended: ask the log.
            loaded = cache.refresh(log, id).await?;
        }
        if loaded.version == 0 {
            return Err(ApiError::NotFound {
                what: what.to_owned(),
                field: field.to_owned(),
                id: id.to_string(),
            });
        }
        if let Some(expected) = self.if_match.filter(|expected| *expected != loaded.version) {
            return Err(ApiError::VersionConflict {
                stream_id: cache.stream_id(id),
                expected,
                actual: loaded.version,
            });
        }
        Ok(loaded)
    }
}

/// The reply's target: id, stream, and version and position before the command.
fn target<S, E>(cache: &Cache<S, E>, id: Uuid, loaded: &Loaded<S>) -> (Uuid, String, i64, i64)
where
    S: Clone + Default,
    E: domain::EventPayload,
{
    (id, cache.stream_id(id), loaded.version, loaded.position)
}

/// A referenced aggregate that must exist: 404 naming `field` otherwise.
async fn existing<S: Clone + Default, E: domain::EventPayload>(
    aggregates: &Aggregates,
    cache: &Cache<S, E>,
    id: Uuid,
    field: &'static str,
) -> Result<Loaded<S>, ApiError> {
    let loaded = cache.load(aggregates.log.as_ref(), id).await?;
    if loaded.version == 0 {
        return Err(ApiError::NotFound {
            what: field.trim_end_matches("Id").to_owned(),
            field: field.to_owned(),
            id: id.to_string(),
        });
    }
    Ok(loaded)
}

async fn create_user(
    aggregates: &Aggregates,
    body: dto::CreateUser,
    context: &Context,
) -> Result<Decision, ApiError> {
    let a = aggregates;
    let company = existing(a, &a.companies, body.company_id, "companyId").await?;
    let role = match body.role_id.or(company.state.user_role_id) {
        Some(role_id) => Some((role_id, existing(a, &a.roles, role_id, "roleId").await?)),
        None => None,
    };
    let group = match body.group_id.or(company.state.main_group_id) {
        Some(group_id) => Some((group_id, existing(a, &a.groups, group_id, "groupId").await?)),
        None => None,
    };
    let company_id = body.company_id;
    let user_id = Uuid::now_v7();
    let password = body.password.clone().map_or(FirstPassword::Invitation, FirstPassword::Plain);
    let mut plan = Plan::default();
    let new = NewUser::decide(
        a,
        user_id,
        body,
        &company.state,
        role.as_ref().map(|(id, loaded)| (*id, &loaded.state)),
        group.as_ref().map(|(id, loaded)| (*id, &loaded.state)),
        password,
        context,
        &mut plan,
    )
    .await?;
    let target = (user_id, a.users.stream_id(user_id), 0, 0);
    plan.write(a, |a| &a.users, user_id, Loaded::default(), new.user, user::Event::claims);
    plan.write(a, |a| &a.companies, company_id, company, new.company, company::Event::claims);
    if let Some((role_id, role)) = role {
        plan.write(a, |a| &a.roles, role_id, role, new.role, role::Event::claims);
    }
    if let Some((group_id, group)) = group {
        plan.write(a, |a| &a.groups, group_id, group, new.group, group::Event::claims);
    }
    Ok(plan.decision(target, Some(company_id)))
}

/// What creating one user decides: its own events and those of its company (the seat), role
/// (a holder) and group (a member). Shared by `CreateUser` and bulk imports.
pub(crate) struct NewUser {
    pub user: Vec<user::Event>,
    pub company: Vec<company::Event>,
    pub role: Vec<role::Event>,
    pub group: Vec<group::Event>,
}

impl NewUser {
    /// `role` and `group` are the ones the user gets (the body's, or the company's defaults).
    #[expect(clippy::too_many_arguments, reason = "each is one looked-up input of the decision")]
    async fn decide(
        a: &Aggregates,
        user_id: Uuid,
        body: dto::CreateUser,
        company: &company::State,
        role: Option<(Uuid, &role::State)>,
        group: Option<(Uuid, &group::State)>,
        password: FirstPassword,
        context: &Context,
        plan: &mut Plan,
    ) -> Result<NewUser, ApiError> {
        let profile: BTreeMap<Field, String> = [
            (Field::Phone, body.phone),
            (Field::Mobile, body.mobile),
            (Field::OfficePhone, body.office_phone),
            (Field::Fax, body.fax),
            (Field::OutboundCallerId, body.outbound_caller_id),
            (Field::Extension, body.extension),
            (Field::Title, body.title),
            (Field::CustomerCode, body.customer_code),
            (Field::Udid, body.udid),
        ]
        .into_iter()
        .filter_map(|(field, value)| Some((field, value?)))
        .collect();
        let command = user::Command::Create(Box::new(user::Create {
            company_id: body.company_id,
            company: company.clone(),
            username: body.username,
            email: body.email,
            first_name: body.first_name,
            last_name: body.last_name,
            profile,
            service_level: body.service_level.unwrap_or_default(),
            role: role.map(|(id, state)| (id, state.clone())),
            group: group.map(|(id, state)| (id, state.without_members())),
            approved: body.approved,
            admin: body.admin,
            portal_access: body.portal_access.unwrap_or(true),
        }));
        let mut events = user::decide(&user::State::default(), command, context)?;
        let seat = company::decide(company, company::Command::TakeSeat { user_id }, context)?;
        let created = events.iter().fold(user::State::default(), user::evolve);
        events.extend(
            credentials::first_credentials(user_id, &a.settings, company, &created, password, context, plan)
                .await?,
        );
        let role = match role {
            Some((_, role)) => role::decide(role, role::Command::AddHolder(Holder::User(user_id)), context)?,
            None => Vec::new(),
        };
        let group = match group {
            Some((_, group)) => group::decide(group, group::Command::AddMember { user_id }, context)?,
            None => Vec::new(),
        };
        Ok(NewUser { user: events, company: seat, role, group })
    }
}

async fn create_role(
    aggregates: &Aggregates,
    body: dto::CreateRole,
    context: &Context,
) -> Result<Decision, ApiError> {
    let company = aggregates.companies.load(aggregates.log.as_ref(), body.company_id).await?.state;
    let permissions: PermissionSet = body.permissions.into_iter().map(|p| (p.module, p.level)).collect();
    let role_id = Uuid::now_v7();
    let command = role::Command::Create {
        company_id: body.company_id,
        company,
        name: body.name,
        description: body.description,
        permissions,
        is_default: false,
    };
    let events = role::decide(&role::State::default(), command, context)?;
    let mut plan = Plan::default();
    plan.write(aggregates, |a| &a.roles, role_id, Loaded::default(), events, role::Event::claims);
    Ok(plan.decision((role_id, aggregates.roles.stream_id(role_id), 0, 0), Some(body.company_id)))
}

async fn create_group(
    aggregates: &Aggregates,
    body: dto::CreateGroup,
    context: &Context,
) -> Result<Decision, ApiError> {
    let a = aggregates;
    let company = a.companies.load(a.log.as_ref(), body.company_id).await?.state;
    let role = match body.role_id {
        Some(role_id) => Some((role_id, a.roles.load(a.log.as_ref(), role_id).await?)),
        None => None,
    };
    let group_id = Uuid::now_v7();
    let command = group::Command::Create {
        company_id: body.company_id,
        company,
        name: body.name,
        role: role.as_ref().map(|(id, loaded)| (*id, loaded.state.clone())),
        is_main: false,
    };
    let events = group::decide(&group::State::default(), command, context)?;
    let mut plan = Plan::default();
    plan.write(a, |a| &a.groups, group_id, Loaded::default(), events, group::Event::claims);
    if let Some((role_id, role)) = role {
        let events = role::decide(&role.state, role::Command::AddHolder(Holder::Group(group_id)), context)?;
        plan.write(a, |a| &a.roles, role_id, role, events, role::Event::claims);
    }
    Ok(plan.decision((group_id, a.groups.stream_id(group_id), 0, 0), Some(body.company_id)))
}

/// Registers a company with its default roles `Administrator` (FULL on every module) and
/// `User` (no module) and its default group `Main Group`, all in one append.
async fn register_company(
    aggregates: &Aggregates,
    body: dto::RegisterCompany,
    context: &Context,
) -> Result<Decision, ApiError> {
    let a = aggregates;
    let parent = match body.parent_company_id {
        Some(parent_id) => Some((parent_id, a.companies.refresh(a.log.as_ref(), parent_id).await?.state)),
        None => None,
    };
    let company_id = Uuid::now_v7();
    let (administrator_role_id, user_role_id, main_group_id) =
        (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let company_events = company::decide(
        &company::State::default(),
        company::Command::Register(company::Register {
            company_id,
            name: body.name,
            main_phone: body.main_phone,
            parent,
            license_limit: body.license_limit,
            administrator_role_id,
            user_role_id,
            main_group_id,
        }),
        context,
    )?;
    let registered = company_events.iter().fold(company::State::default(), company::evolve);
    let default_role = |name: &str, description: &str, permissions: PermissionSet| {
        role::decide(
            &role::State::default(),
            role::Command::Create {
                company_id,
                company: registered.clone(),
                name: name.to_owned(),
                description: description.to_owned(),
                permissions,
                is_default: true,
            },
            context,
        )
    };
    let administrator_events = default_role(
        "Administrator",
        "Complete access to all of the company's information and applications",
        domain::permissions::full_access(),
    )?;
    let user_events =
        default_role("User", "Access to the modules an administrator grants", PermissionSet::new())?;
    let group_events = group::decide(
        &group::State::default(),
        group::Command::Create {
            company_id,
            company: registered.clone(),
            name: group::MAIN_GROUP.to_owned(),
            role: None,
            is_main: true,
        },
        context,
    )?;
    let mut plan = Plan::default();
    let target = (company_id, a.companies.stream_id(company_id), 0, 0);
    plan.write(a, |a| &a.companies, company_id, Loaded::default(), company_events, company::Event::claims);
    plan.write(
        a,
        |a| &a.roles,
        administrator_role_id,
        Loaded::default(),
        administrator_events,
        role::Event::claims,
    );
    plan.write(a, |a| &a.roles, user_role_id, Loaded::default(), user_events, role::Event::claims);
    plan.write(a, |a| &a.groups, main_group_id, Loaded::default(), group_events, group::Event::claims);
    Ok(plan.decision(target, Some(company_id)))
}
