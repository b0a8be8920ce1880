//! GraphQL object types over the read models and the event log.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, Json, Result, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{company, group, import, role, ticket, user};
use projections::read::Row;
use uuid::Uuid;

use crate::loaders::{CompanyLoader, GroupLoader, RoleLoader, TicketMessagesLoader, UserLoader};
use crate::{internal, request_reader};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::Module")]
pub enum PermissionModule {
    AccountSettings,
    Analytics,
    Billing,
    CallFlows,
    CallLogs,
    CallMonitoring,
    CallRecordings,
    Integrations,
    LiveReports,
    NoAnswerSettings,
    PlansAndNumbers,
    Queues,
    Sms,
    Users,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::Level")]
pub enum PermissionLevel {
    None,
    View,
    Edit,
    Full,
}

#[derive(SimpleObject, Clone)]
pub struct Permission {
    pub module: PermissionModule,
    pub level: PermissionLevel,
}

fn permissions(set: &domain::PermissionSet) -> Vec<Permission> {
    set.iter()
        .map(|(module, level)| Permission { module: (*module).into(), level: (*level).into() })
        .collect()
}

/// Where a user stands, derived from approval, suspension, deactivation and deletion (the
/// strongest wins: DELETED, DEACTIVATED, SUSPENDED, then ACTIVE, DISAPPROVED or PENDING_APPROVAL).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::user::Status")]
pub enum UserStatus {
    PendingApproval,
    Active,
    Disapproved,
    Suspended,
    Deactivated,
    Deleted,
}

/// `ARCHIVE`: the default subscriber; `PRO`: adds administrative capabilities (TeleMessage).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::user::ServiceLevel")]
pub enum ServiceLevel {
    Archive,
    Pro,
}

/// An app of the portal's launcher.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::apps::App")]
pub enum App {
    CallLogs,
    Analytics,
    Billing,
    Settings,
    AccountSettings,
    CallFlows,
    CallMonitoring,
    CallRecordings,
    Integrations,
    LiveReports,
    NoAnswerSettings,
    PlansAndNumbers,
    Queues,
    Sms,
}

/// One app of the launcher for one user.
#[derive(SimpleObject)]
pub struct AppMenuEntry {
    pub app: App,
    /// The name the launcher shows, e.g. "Call Logs".
    pub title: String,
    /// The company has the app and the user's effective permissions open it.
    pub available: bool,
    /// The company does not have the app yet (the launcher shows a COMING SOON ribbon).
    pub coming_soon: bool,
}

/// An app and whether the company has it.
#[derive(SimpleObject)]
pub struct CompanyApp {
    pub app: App,
    pub title: String,
    pub enabled: bool,
}

/// What became of a mobile number the user had before.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::user::PreviousNumber")]
pub enum PreviousNumberStatus {
    /// Kept for this user, no longer used.
    Suspended,
    /// Given up: free for anyone.
    Removed,
}

#[derive(SimpleObject)]
pub struct PreviousMobile {
    pub number: String,
    pub status: PreviousNumberStatus,
}

/// Another company's request to take the user over, waiting for the user's answer.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct OwnershipRequest {
    pub request_id: ID,
    #[graphql(skip)]
    pub company_id: Uuid,
}

#[async_graphql::ComplexObject]
impl OwnershipRequest {
    /// The company that asks, for a viewer who sees it (`companyName` for anyone else).
    async fn company(&self, context: &Context<'_>) -> Result<Option<Company>> {
        if !crate::Viewer::of(context).sees_company(self.company_id) {
            return Ok(None);
        }
        company_by_id(context, self.company_id).await
    }
    /// The name of the company that asks: all the user needs to answer.
    async fn company_name(&self, context: &Context<'_>) -> Result<Option<String>> {
        let loader = context.data::<DataLoader<CompanyLoader>>()?;
        Ok(loader.load_one(self.company_id).await.map_err(internal)?.map(|row| row.state.name.clone()))
    }
}

/// Where an effective level comes from.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::permissions::Source")]
pub enum PermissionSource {
    /// The user's own role.
    Role,
    /// The role the user's group carries.
    Group,
    /// A grant made to the user directly.
    Direct,
}

/// A user's level on one module, and every source that gives that level.
#[derive(SimpleObject, Clone)]
pub struct EffectivePermission {
    pub module: PermissionModule,
    pub level: PermissionLevel,
    /// Empty when nothing grants the module (the level is then NONE).
    pub sources: Vec<PermissionSource>,
}

#[derive(Clone)]
pub struct User {
    pub row: Arc<Row<user::State>>,
    /// The instant "suspended" is judged at: now, or the instant of an as-of query.
    pub at: DateTime<Utc>,
}

impl User {
    /// The user's effective permissions, from their role, their group's role and their grants.
    async fn effective(&self, context: &Context<'_>) -> Result<Vec<domain::permissions::Effective>> {
        let role = match self.row.state.role_id {
            Some(id) => role_by_id(context, id).await?,
            None => None,
        };
        let group_role = match self.row.state.group_id {
            Some(id) => match group_by_id(context, id).await?.and_then(|g| g.row.state.role_id) {
                Some(role_id) => role_by_id(context, role_id).await?,
                None => None,
            },
            None => None,
        };
        let none = domain::PermissionSet::new();
        let role_permissions = role.as_ref().map_or(&none, |r| &r.row.state.permissions);
        let group_permissions = group_role.as_ref().map(|r| &r.row.state.permissions);
        Ok(domain::permissions::effective(role_permissions, group_permissions, &self.row.state.permissions))
    }

    /// The launcher: the company's apps, opened by the user's effective permissions.
    pub(crate) async fn menu(&self, context: &Context<'_>) -> Result<Vec<AppMenuEntry>> {
        let effective = self.effective(context).await?;
        let company = match self.row.state.company_id {
            Some(id) => company_by_id(context, id).await?,
            None => None,
        };
        let enabled = company.as_ref().and_then(|c| c.row.state.enabled_apps.as_ref());
        Ok(domain::apps::menu(enabled, &effective, self.row.state.admin)
            .into_iter()
            .map(|entry| AppMenuEntry {
                app: entry.app.into(),
                title: entry.app.title().to_owned(),
                available: entry.available,
                coming_soon: entry.coming_soon,
            })
            .collect())
    }
}

#[async_graphql::Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn company_id(&self) -> Option<ID> {
        self.row.state.company_id.map(|id| ID(id.to_string()))
    }
    async fn company(&self, context: &Context<'_>) -> Result<Option<Company>> {
        let Some(id) = self.row.state.company_id else { return Ok(None) };
        company_by_id(context, id).await
    }
    async fn username(&self) -> &str {
        &self.row.state.username
    }
    async fn email(&self) -> &str {
        &self.row.state.email
    }
    async fn first_name(&self) -> &str {
        &self.row.state.first_name
    }
    async fn last_name(&self) -> &str {
        &self.row.state.last_name
    }
    /// International format (E.164).
    async fn phone(&self) -> Option<&str> {
        self.row.state.get(user::Field::Phone)
    }
    /// The mobile (cell) number, E.164.
    async fn mobile(&self) -> Option<&str> {
        self.row.state.get(user::Field::Mobile)
    }
    async fn office_phone(&self) -> Option<&str> {
        self.row.state.get(user::Field::OfficePhone)
    }
    async fn fax(&self) -> Option<&str> {
        self.row.state.get(user::Field::Fax)
    }
    /// The number shown as caller id on outbound calls, E.164.
    async fn outbound_caller_id(&self) -> Option<&str> {
        self.row.state.get(user::Field::OutboundCallerId)
    }
    /// 3 or 4 digits, unique within the company.
    async fn extension(&self) -> Option<&str> {
        self.row.state.get(user::Field::Extension)
    }
    async fn title(&self) -> Option<&str> {
        self.row.state.get(user::Field::Title)
    }
    async fn customer_code(&self) -> Option<&str> {
        self.row.state.get(user::Field::CustomerCode)
    }
    async fn udid(&self) -> Option<&str> {
        self.row.state.get(user::Field::Udid)
    }
    async fn service_level(&self) -> ServiceLevel {
        self.row.state.service_level.into()
    }
    async fn role(&self, context: &Context<'_>) -> Result<Option<Role>> {
        let Some(id) = self.row.state.role_id else { return Ok(None) };
        role_by_id(context, id).await
    }
    async fn group(&self, context: &Context<'_>) -> Result<Option<Group>> {
        let Some(id) = self.row.state.group_id else { return Ok(None) };
        group_by_id(context, id).await
    }
    /// A company administrator (Sangoma's "Admin" checkbox).
    async fn admin(&self) -> bool {
        self.row.state.admin
    }
    /// May use the portal (Sangoma's "Portal Access" checkbox).
    async fn portal_access(&self) -> bool {
        self.row.state.portal_access
    }
    async fn approved(&self) -> bool {
        self.row.state.approved
    }
    async fn disapproved(&self) -> bool {
        self.row.state.disapproved
    }
    /// Kept in lists, with no access, until reactivated.
    async fn deactivated(&self) -> bool {
        self.row.state.deactivated
    }
    /// The user has set a password (through their invitation), or an admin set one.
    async fn activated(&self) -> bool {
        self.row.state.activated
    }
    /// Locked now by failed sign-ins.
    async fn locked(&self) -> bool {
        self.row.state.is_locked_at(self.at)
    }
    async fn locked_until(&self) -> Option<DateTime<Utc>> {
        self.row.state.locked_until.filter(|_| self.row.state.is_locked_at(self.at))
    }
    /// Failed sign-ins in a row.
    async fn failed_logins(&self) -> i32 {
        i32::try_from(self.row.state.failed_logins).unwrap_or(i32::MAX)
    }
    async fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.row.state.last_login_at
    }
    /// An administrator set the password: the user must change it at their next sign-in.
    async fn must_change_password(&self) -> bool {
        self.row.state.must_change_password
    }
    /// Signs in with a PIN by SMS as well, whatever the company's policy.
    async fn two_factor(&self) -> bool {
        self.row.state.two_factor
    }

    /// Signs in with codes from an authenticator app (enrolled and confirmed).
    async fn totp_enabled(&self) -> bool {
        self.row.state.has_totp()
    }
    /// Suspended at this moment (a suspension whose end has passed no longer counts).
    async fn suspended(&self) -> bool {
        self.row.state.is_suspended_at(self.at)
    }
    async fn suspended_until(&self) -> Option<DateTime<Utc>> {
        self.row.state.suspended_until.filter(|_| self.row.state.is_suspended_at(self.at))
    }
    async fn suspension_reason(&self) -> Option<&str> {
        self.row.state.suspension_reason.as_deref().filter(|_| self.row.state.is_suspended_at(self.at))
    }
    async fn deleted(&self) -> bool {
        self.row.state.deleted
    }
    async fn status(&self) -> UserStatus {
        self.row.state.status_at(self.at).into()
    }
    /// Grants made to this user directly.
    async fn permissions(&self) -> Vec<Permission> {
        permissions(&self.row.state.permissions)
    }
    /// TeleGo's "Use Button to Manual Filtering": Analytics sorts only when APPLY is pressed.
    async fn manual_filtering(&self) -> bool {
        self.row.state.manual_filtering
    }
    /// The user's other settings, by name.
    async fn settings(&self) -> Json<&std::collections::BTreeMap<String, serde_json::Value>> {
        Json(&self.row.state.settings)
    }
    /// Mobile numbers the user had before, oldest first (the current one is `mobile`).
    async fn previous_mobiles(&self) -> Vec<PreviousMobile> {
        self.row
            .state
            .previous_mobiles
            .iter()
            .map(|m| PreviousMobile { number: m.number.clone(), status: m.status.into() })
            .collect()
    }
    async fn ownership_request(&self) -> Option<OwnershipRequest> {
        self.row.state.ownership_request.map(|request| OwnershipRequest {
            request_id: ID(request.request_id.to_string()),
            company_id: request.company_id,
        })
    }
    /// The app launcher as this user sees it.
    async fn app_menu(&self, context: &Context<'_>) -> Result<Vec<AppMenuEntry>> {
        self.menu(context).await
    }
    /// The level on every module: the highest of the user's role, the role their group
    /// carries, and their direct grants, with where it comes from.
    async fn effective_permissions(&self, context: &Context<'_>) -> Result<Vec<EffectivePermission>> {
        Ok(self
            .effective(context)
            .await?
            .into_iter()
            .map(|e| EffectivePermission {
                module: e.module.into(),
                level: e.level.into(),
                sources: e.sources.into_iter().map(Into::into).collect(),
            })
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
    /// The stream version: send it back as `If-Match` to change this user only if unchanged.
    async fn version(&self) -> i64 {
        self.row.version
    }
}

#[derive(Clone)]
pub struct Role {
    pub row: Arc<Row<role::State>>,
}

#[async_graphql::Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn company_id(&self) -> Option<ID> {
        self.row.state.company_id.map(|id| ID(id.to_string()))
    }
    async fn name(&self) -> &str {
        &self.row.state.name
    }
    async fn description(&self) -> &str {
        &self.row.state.description
    }
    /// `Administrator` and `User`, created with the company: they cannot be renamed or deleted.
    async fn is_default(&self) -> bool {
        self.row.state.is_default
    }
    async fn deleted(&self) -> bool {
        self.row.state.deleted
    }
    async fn permissions(&self) -> Vec<Permission> {
        permissions(&self.row.state.permissions)
    }
    /// Users who hold this role directly.
    async fn user_count(&self) -> i64 {
        i64::from(self.row.state.users)
    }
    /// Groups that carry this role.
    async fn group_count(&self) -> i64 {
        i64::from(self.row.state.groups)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
    async fn version(&self) -> i64 {
        self.row.version
    }
}

#[derive(Clone)]
pub struct Group {
    pub row: Arc<Row<group::State>>,
}

#[async_graphql::Object]
impl Group {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn company_id(&self) -> Option<ID> {
        self.row.state.company_id.map(|id| ID(id.to_string()))
    }
    async fn name(&self) -> &str {
        &self.row.state.name
    }
    /// `Main Group`, created with the company: it cannot be renamed or deleted.
    async fn is_main(&self) -> bool {
        self.row.state.is_main
    }
    async fn deleted(&self) -> bool {
        self.row.state.deleted
    }
    /// The role the group's members inherit.
    async fn role(&self, context: &Context<'_>) -> Result<Option<Role>> {
        let Some(id) = self.row.state.role_id else { return Ok(None) };
        role_by_id(context, id).await
    }
    async fn member_count(&self) -> i64 {
        self.row.state.members.len() as i64
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
    async fn version(&self) -> i64 {
        self.row.version
    }
}

/// A company's rules for usernames.
#[derive(SimpleObject)]
pub struct UsernamePolicy {
    pub min_length: i32,
    pub max_length: i32,
    /// Characters allowed besides letters and digits.
    pub allowed_symbols: String,
    /// The username must be the user's email address.
    pub email_as_username: bool,
}

/// A company's rules for passwords.
#[derive(SimpleObject)]
pub struct PasswordPolicy {
    pub min_length: i32,
    pub max_length: i32,
    /// How many of uppercase, lowercase, digits and symbols a password must contain.
    pub required_classes: i32,
    pub forbidden_characters: String,
    /// Failed sign-ins in a row that lock the account.
    pub max_failed_logins: i32,
    /// How long the first lock lasts, in minutes; each further one twice as long.
    pub lock_minutes: i32,
    /// Every user signs in with a PIN by SMS as well.
    pub require_two_factor: bool,
}

#[derive(SimpleObject)]
pub struct Policies {
    pub username: UsernamePolicy,
    pub password: PasswordPolicy,
}

fn small(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A point of the seat-count history: the licences in use after a change.
#[derive(SimpleObject)]
pub struct LicensePoint {
    pub at: DateTime<Utc>,
    pub used: i64,
    pub limit: Option<i64>,
    /// The event that changed it: `CompanyRegistered`, `LicenseSeatTaken`,
    /// `LicenseSeatReleased` or `LicenseLimitSet`.
    pub cause: String,
    /// The company stream's version at that event.
    pub version: i64,
}

#[derive(SimpleObject)]
pub struct Licenses {
    /// Users of the company that are not deleted.
    pub used: i64,
    /// `null` when the company has no limit.
    pub limit: Option<i64>,
}

#[derive(Clone)]
pub struct Company {
    pub row: Arc<Row<company::State>>,
}

#[async_graphql::Object]
impl Company {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.row.state.name
    }
    async fn main_phone(&self) -> &str {
        &self.row.state.main_phone
    }
    /// The reseller this company is a customer of (`null` for a signed-in user of the customer:
    /// the reseller is not theirs to see).
    async fn parent(&self, context: &Context<'_>) -> Result<Option<Company>> {
        let Some(id) = self.row.state.parent_company_id else { return Ok(None) };
        if !crate::Viewer::of(context).sees_company(id) {
            return Ok(None);
        }
        company_by_id(context, id).await
    }
    /// The customer companies directly under this one.
    async fn children(&self, context: &Context<'_>) -> Result<Vec<Company>> {
        let rows = projections::read::children_of_company(request_reader(context)?, self.row.id)
            .await
            .map_err(internal)?;
        Ok(rows.into_iter().map(|row| Company { row: Arc::new(row) }).collect())
    }
    /// Every company under this one, at any depth.
    async fn descendants(&self, context: &Context<'_>) -> Result<Vec<Company>> {
        let rows = projections::read::descendants_of_company(request_reader(context)?, self.row.id)
            .await
            .map_err(internal)?;
        Ok(rows.into_iter().map(|row| Company { row: Arc::new(row) }).collect())
    }
    async fn licenses(&self) -> Licenses {
        Licenses {
            used: i64::from(self.row.state.licenses_used),
            limit: self.row.state.license_limit.map(i64::from),
        }
    }
    /// Licences in use over time, oldest first, recorded at or after `from` and before `to`.
    async fn license_history(
        &self,
        context: &Context<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<LicensePoint>> {
        if !crate::Viewer::of(context).sees_people_of(self.row.id) {
            return Ok(Vec::new());
        }
        let points = projections::read::license_history(request_reader(context)?, self.row.id, from, to)
            .await
            .map_err(internal)?;
        Ok(points
            .into_iter()
            .map(|p| LicensePoint {
                at: p.recorded_at,
                used: p.used,
                limit: p.license_limit,
                cause: p.event_type,
                version: p.version,
            })
            .collect())
    }
    /// Every app, and whether the company has it (the others are "coming soon").
    async fn apps(&self) -> Vec<CompanyApp> {
        let enabled = self.row.state.enabled_apps.as_ref();
        domain::apps::App::ALL
            .iter()
            .map(|app| CompanyApp {
                app: (*app).into(),
                title: app.title().to_owned(),
                enabled: enabled.is_none_or(|enabled| enabled.contains(app)),
            })
            .collect()
    }
    async fn policies(&self) -> Policies {
        let username = &self.row.state.username_policy;
        let password = &self.row.state.password_policy;
        Policies {
            username: UsernamePolicy {
                min_length: small(username.min_length),
                max_length: small(username.max_length),
                allowed_symbols: username.allowed_symbols.clone(),
                email_as_username: username.email_as_username,
            },
            password: PasswordPolicy {
                min_length: small(password.min_length),
                max_length: small(password.max_length),
                required_classes: small(password.required_classes),
                forbidden_characters: password.forbidden_characters.clone(),
                max_failed_logins: small(password.max_failed_logins),
                lock_minutes: small(password.lock_minutes),
                require_two_factor: password.require_two_factor,
            },
        }
    }
    async fn roles(&self, context: &Context<'_>) -> Result<Vec<Role>> {
        if !crate::Viewer::of(context).sees_people_of(self.row.id) {
            return Ok(Vec::new());
        }
        let rows = projections::read::roles_of_company(request_reader(context)?, self.row.id)
            .await
            .map_err(internal)?;
        Ok(rows.into_iter().map(|row| Role { row: Arc::new(row) }).collect())
    }
    /// The company's groups that are not deleted, Main Group first.
    async fn groups(&self, context: &Context<'_>) -> Result<Vec<Group>> {
        if !crate::Viewer::of(context).sees_people_of(self.row.id) {
            return Ok(Vec::new());
        }
        let rows = projections::read::groups_of_company(request_reader(context)?, self.row.id)
            .await
            .map_err(internal)?;
        Ok(rows.into_iter().map(|row| Group { row: Arc::new(row) }).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
    async fn version(&self) -> i64 {
        self.row.version
    }
}

pub async fn role_by_id(context: &Context<'_>, id: Uuid) -> Result<Option<Role>> {
    let loader = context.data::<DataLoader<RoleLoader>>()?;
    Ok(loader.load_one(id).await.map_err(internal)?.map(|row| Role { row }))
}

pub async fn group_by_id(context: &Context<'_>, id: Uuid) -> Result<Option<Group>> {
    let loader = context.data::<DataLoader<GroupLoader>>()?;
    Ok(loader.load_one(id).await.map_err(internal)?.map(|row| Group { row }))
}

pub async fn user_by_id(context: &Context<'_>, id: Uuid) -> Result<Option<User>> {
    let loader = context.data::<DataLoader<UserLoader>>()?;
    Ok(loader.load_one(id).await.map_err(internal)?.map(|row| User { row, at: Utc::now() }))
}

pub async fn company_by_id(context: &Context<'_>, id: Uuid) -> Result<Option<Company>> {
    let loader = context.data::<DataLoader<CompanyLoader>>()?;
    Ok(loader.load_one(id).await.map_err(internal)?.map(|row| Company { row }))
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct UserEdge {
    pub cursor: String,
    pub node: User,
}

#[derive(SimpleObject)]
pub struct UserConnection {
    /// Users matching the filter, over all pages.
    pub total_count: i64,
    pub edges: Vec<UserEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct CompanyEdge {
    pub cursor: String,
    pub node: Company,
}

#[derive(SimpleObject)]
pub struct CompanyConnection {
    /// Companies matching the filter, over all pages.
    pub total_count: i64,
    pub edges: Vec<CompanyEdge>,
    pub page_info: PageInfo,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::ActorKind")]
pub enum ActorKind {
    Operator,
    User,
    System,
}

#[derive(SimpleObject)]
pub struct AuditActor {
    pub kind: ActorKind,
    pub id: Option<ID>,
}

/// One event of the log, with who did it, when and as part of what.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AuditEntry {
    /// Global position in the log.
    pub position: i64,
    pub event_id: ID,
    pub stream_id: String,
    pub version: i64,
    #[graphql(name = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: AuditActor,
    pub company_id: Option<ID>,
    pub correlation_id: ID,
    pub causation_id: Option<ID>,
    pub request_id: Option<String>,
    /// Why, in the words of whoever sent the command (its optional `reason`).
    pub reason: Option<String>,
    /// The client's address and `User-Agent`, as the server saw them.
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The event's link in its stream's hash chain (`portal audit verify` recomputes it).
    pub hash: Option<String>,
    pub schema_version: i32,
    /// The event's payload as stored.
    pub data: Json<serde_json::Value>,
}

#[async_graphql::ComplexObject]
impl AuditEntry {
    /// The fields of its aggregate this event changed, before and after: the stream folded to
    /// just before it and to just after it, with the write side's `evolve` (nothing is stored
    /// twice). Secrets are redacted as in `data`.
    async fn changes(&self, context: &Context<'_>) -> Result<Vec<crate::changes::FieldChange>> {
        let Some((category, _)) = domain::parse_stream_id(&self.stream_id) else { return Ok(Vec::new()) };
        let state = context.data::<crate::QueryState>()?;
        let events = state.log.read_stream(&self.stream_id, 0).await.map_err(internal)?;
        crate::changes::changes(category, &events, self.version).map_err(internal)
    }

    /// The entry that caused this one (`causationId`), if the viewer may see it.
    async fn caused_by(&self, context: &Context<'_>) -> Result<Option<AuditEntry>> {
        let Some(causation) = &self.causation_id else { return Ok(None) };
        let Ok(event_id) = uuid::Uuid::parse_str(causation) else { return Ok(None) };
        crate::visible_entry(
            context,
            eventlog::AuditQuery { event_id: Some(event_id), ..eventlog::AuditQuery::one() },
        )
        .await
    }
}

#[derive(SimpleObject)]
pub struct AuditEdge {
    pub cursor: String,
    pub node: AuditEntry,
}

#[derive(SimpleObject)]
pub struct AuditConnection {
    pub edges: Vec<AuditEdge>,
    pub page_info: PageInfo,
}

/// What a support ticket is about.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::ticket::Topic")]
pub enum TicketTopic {
    Billing,
    TechnicalSupport,
    Account,
    NumbersAndPlans,
    FeatureRequest,
    Other,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::ticket::Status")]
pub enum TicketStatus {
    Open,
    Closed,
}

/// A file attached to a ticket's message, as the message's event recorded it.
#[derive(SimpleObject)]
pub struct Attachment {
    pub id: ID,
    pub file_name: String,
    pub content_type: String,
    /// In bytes.
    pub size: i64,
    /// The SHA-256 of the file, lower-case hex: the downloaded bytes can be checked against it.
    pub sha256: String,
    /// Where to download it (with the same bearer token): `/attachments/<id>`.
    pub url: String,
}

impl From<&ticket::AttachmentRef> for Attachment {
    fn from(file: &ticket::AttachmentRef) -> Self {
        Attachment {
            id: ID(file.id.to_string()),
            file_name: file.file_name.clone(),
            content_type: file.content_type.clone(),
            size: i64::try_from(file.size).unwrap_or(i64::MAX),
            sha256: file.sha256.clone(),
            url: format!("/attachments/{}", file.id),
        }
    }
}

/// One message of a ticket's conversation: the opening message or a comment.
#[derive(SimpleObject)]
pub struct TicketMessage {
    pub body: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who wrote it: the actor of the command that added it.
    pub author: AuditActor,
    pub attachments: Vec<Attachment>,
}

#[derive(Clone)]
pub struct Ticket {
    pub row: Arc<Row<ticket::State>>,
}

#[async_graphql::Object]
impl Ticket {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn company(&self, context: &Context<'_>) -> Result<Option<Company>> {
        let Some(id) = self.row.state.company_id else { return Ok(None) };
        company_by_id(context, id).await
    }
    /// The user it was opened for, if any.
    async fn requester(&self, context: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.row.state.requester_id else { return Ok(None) };
        let viewer = crate::Viewer::of(context);
        // A requester who has since moved to a company the viewer does not see is not shown.
        Ok(user_by_id(context, id)
            .await?
            .filter(|user| viewer.sees_user(user.row.id, user.row.state.company_id)))
    }
    async fn topic(&self) -> TicketTopic {
        self.row.state.topic.into()
    }
    async fn status(&self) -> TicketStatus {
        self.row.state.status().into()
    }
    /// The conversation, oldest first: the opening message, then every comment.
    async fn messages(&self, context: &Context<'_>) -> Result<Vec<TicketMessage>> {
        let loader = context.data::<DataLoader<TicketMessagesLoader>>()?;
        let messages = loader.load_one(self.row.id).await.map_err(internal)?.unwrap_or_default();
        Ok(messages
            .iter()
            .map(|message| TicketMessage {
                body: message.body.clone(),
                at: message.recorded_at,
                author: AuditActor {
                    kind: message.author.kind.into(),
                    id: message.author.id.map(|id| ID(id.to_string())),
                },
                attachments: message.attachments.iter().map(Attachment::from).collect(),
            })
            .collect())
    }
    /// Messages after the opening one.
    async fn comment_count(&self) -> i64 {
        i64::from(self.row.state.comment_count)
    }
    async fn opened_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    /// `null` while the ticket is open.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        // A closed ticket takes no event after the one that closed it.
        self.row.state.closed.then_some(self.row.updated_at)
    }
    /// What the ticket was closed with, if anything.
    async fn resolution(&self) -> Option<&str> {
        self.row.state.resolution.as_deref()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
    /// The stream version: send it back as `If-Match` to change this ticket only if unchanged.
    async fn version(&self) -> i64 {
        self.row.version
    }
}

#[derive(SimpleObject)]
pub struct TicketEdge {
    pub cursor: String,
    pub node: Ticket,
}

#[derive(SimpleObject)]
pub struct TicketConnection {
    /// Tickets matching the filter, over all pages.
    pub total_count: i64,
    pub edges: Vec<TicketEdge>,
    pub page_info: PageInfo,
}

/// A seal of the audit trail: the sealer checked every event's hash-chain link up to
/// `upToPosition` and folded them, in commit order, into `head`.
#[derive(SimpleObject)]
pub struct AuditSeal {
    pub sequence: i64,
    pub up_to_position: i64,
    /// Events this seal covers (after the previous one).
    pub events: i64,
    /// Events sealed so far, this seal's included.
    pub total_events: i64,
    pub head: String,
    pub sealed_at: DateTime<Utc>,
}

impl From<eventlog::Seal> for AuditSeal {
    fn from(seal: eventlog::Seal) -> Self {
        AuditSeal {
            sequence: seal.sequence,
            up_to_position: seal.up_to_position,
            events: seal.events,
            total_events: seal.total_events,
            head: seal.head,
            sealed_at: seal.sealed_at,
        }
    }
}

/// How far the audit trail is sealed. `portal audit verify` recomputes all of it.
#[derive(SimpleObject)]
pub struct AuditIntegrity {
    pub last_seal: Option<AuditSeal>,
    /// The position up to which every event's link was checked and sealed.
    pub verified_up_to_position: i64,
    /// Events stored after the last seal (sealed within about a second).
    pub unsealed_events: i64,
}

/// A message of the outbox. The token or PIN it carries is never shown here.
#[derive(SimpleObject)]
pub struct Notification {
    pub id: ID,
    /// `EMAIL` or `SMS`.
    pub channel: String,
    pub to: String,
    pub template: String,
    pub body: String,
    /// The message carries a token or PIN (delivered to the recipient only).
    pub carries_secret: bool,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl From<eventlog::StoredNotification> for Notification {
    fn from(stored: eventlog::StoredNotification) -> Self {
        let notification = stored.notification;
        Notification {
            id: ID(notification.id.to_string()),
            channel: notification.channel.as_str().to_owned(),
            to: notification.recipient,
            template: notification.template,
            body: notification.body,
            carries_secret: stored.carried_secret,
            created_at: stored.created_at,
            delivered_at: stored.delivered_at,
            attempts: stored.attempts,
            last_error: stored.last_error,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::import::Status")]
pub enum ImportStatus {
    Running,
    Completed,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::import::Format")]
pub enum ImportFormat {
    Csv,
    Txt,
    Xlsx,
    Json,
}

/// What became of a row of an import.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::import::Outcome")]
pub enum ImportOutcome {
    /// A new user of the importing company.
    Created,
    /// A user of the company already had the username: their profile took the row's values.
    Updated,
    /// The user belongs to another company, which was asked to let them move; they must confirm.
    OwnershipRequested,
    /// Nothing was changed; `problems` say why.
    Rejected,
}

/// Why a row was refused: a column (or `row`) and the reason, in the company's policy terms.
#[derive(SimpleObject)]
pub struct ImportProblem {
    pub field: String,
    pub message: String,
}

/// One row's result.
#[derive(SimpleObject)]
pub struct ImportRowResult {
    /// The row's number in the file as a spreadsheet shows it (the header is row 1); for JSON
    /// rows, the row's place in the list, from 1.
    pub row: i32,
    pub outcome: ImportOutcome,
    /// The user the row created, updated or asked to move.
    pub user_id: Option<ID>,
    pub problems: Vec<ImportProblem>,
}

/// A bulk import of users: its progress and every row's result.
pub struct Import {
    pub row: Arc<Row<import::State>>,
}

#[async_graphql::Object]
impl Import {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn company(&self, context: &Context<'_>) -> Result<Option<Company>> {
        let Some(id) = self.row.state.company_id else { return Ok(None) };
        company_by_id(context, id).await
    }
    async fn status(&self) -> ImportStatus {
        self.row.state.status().into()
    }
    async fn file_name(&self) -> Option<&str> {
        self.row.state.settings.as_ref().and_then(|settings| settings.file_name.as_deref())
    }
    async fn format(&self) -> ImportFormat {
        self.row.state.settings.as_ref().map(|settings| settings.format).unwrap_or_default().into()
    }
    /// Rows in the import.
    async fn rows(&self) -> i32 {
        i32::try_from(self.row.state.rows()).unwrap_or(i32::MAX)
    }
    /// Rows with a result so far.
    async fn done(&self) -> i32 {
        i32::try_from(self.row.state.results.len()).unwrap_or(i32::MAX)
    }
    async fn created(&self) -> i32 {
        i32::try_from(self.row.state.counts.created).unwrap_or(i32::MAX)
    }
    async fn updated(&self) -> i32 {
        i32::try_from(self.row.state.counts.updated).unwrap_or(i32::MAX)
    }
    async fn ownership_requested(&self) -> i32 {
        i32::try_from(self.row.state.counts.ownership_requested).unwrap_or(i32::MAX)
    }
    async fn rejected(&self) -> i32 {
        i32::try_from(self.row.state.counts.rejected).unwrap_or(i32::MAX)
    }
    /// Whether rows beyond the company's free licences were refused instead of the import.
    async fn partial(&self) -> bool {
        self.row.state.settings.as_ref().is_some_and(|settings| settings.partial)
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.row.state.completed.then_some(self.row.updated_at)
    }
    /// The rows' results in row order, optionally only those of one outcome, from the row
    /// after `afterRow`, at most `first` (default 100, at most 5000).
    async fn results(
        &self,
        outcome: Option<ImportOutcome>,
        after_row: Option<i32>,
        first: Option<i32>,
    ) -> Result<Vec<ImportRowResult>> {
        let first = first.unwrap_or(100);
        if !(1..=5000).contains(&first) {
            return Err("first must be between 1 and 5000".into());
        }
        let outcome: Option<import::Outcome> = outcome.map(Into::into);
        let after = after_row.unwrap_or(0);
        let mut results: Vec<&import::RowResult> = self
            .row
            .state
            .results
            .iter()
            .filter(|result| i64::from(result.row) > i64::from(after))
            .filter(|result| outcome.is_none_or(|outcome| result.outcome == outcome))
            .collect();
        results.sort_by_key(|result| result.row);
        Ok(results
            .into_iter()
            .take(usize::try_from(first).unwrap_or(100))
            .map(|result| ImportRowResult {
                row: i32::try_from(result.row).unwrap_or(i32::MAX),
                outcome: result.outcome.into(),
                user_id: result.user_id.map(|id| ID(id.to_string())),
                problems: result
                    .problems
                    .iter()
                    .map(|problem| ImportProblem {
                        field: problem.field.clone(),
                        message: problem.message.clone(),
                    })
                    .collect(),
            })
            .collect())
    }
}
