//! GraphQL object types over the read models and the event log.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, Json, Result, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{Level, Module, company, role, user};
use projections::read::Row;
use uuid::Uuid;

use crate::loaders::{CompanyLoader, RoleLoader};
use crate::{QueryState, internal};

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

/// Where a user stands, derived from their approval, suspension and deletion.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    PendingApproval,
    Active,
    Suspended,
    Deleted,
}

#[derive(Clone)]
pub struct User {
    pub row: Arc<Row<user::State>>,
    /// The instant "suspended" is judged at: now, or the instant of an as-of query.
    pub at: DateTime<Utc>,
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
        self.row.state.phone.as_deref()
    }
    async fn extension(&self) -> Option<&str> {
        self.row.state.extension.as_deref()
    }
    async fn role(&self, context: &Context<'_>) -> Result<Option<Role>> {
        let Some(id) = self.row.state.role_id else { return Ok(None) };
        role_by_id(context, id).await
    }
    async fn approved(&self) -> bool {
        self.row.state.approved
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
        let state = &self.row.state;
        if state.deleted {
            UserStatus::Deleted
        } else if state.is_suspended_at(self.at) {
            UserStatus::Suspended
        } else if state.approved {
            UserStatus::Active
        } else {
            UserStatus::PendingApproval
        }
    }
    /// Grants made to this user directly; they override the role's level for their module.
    async fn permissions(&self) -> Vec<Permission> {
        permissions(&self.row.state.permissions)
    }
    /// The level on every module: the user's own grant if any, else the role's, else NONE.
    async fn effective_permissions(&self, context: &Context<'_>) -> Result<Vec<Permission>> {
        let role = match self.row.state.role_id {
            Some(id) => role_by_id(context, id).await?,
            None => None,
        };
        Ok(Module::ALL
            .iter()
            .map(|module| {
                let level = self
                    .row
                    .state
                    .permissions
                    .get(module)
                    .or_else(|| role.as_ref().and_then(|r| r.row.state.permissions.get(module)))
                    .copied()
                    .unwrap_or(Level::None);
                Permission { module: (*module).into(), level: level.into() }
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
    /// The reseller this company is a customer of.
    async fn parent(&self, context: &Context<'_>) -> Result<Option<Company>> {
        let Some(id) = self.row.state.parent_company_id else { return Ok(None) };
        company_by_id(context, id).await
    }
    /// The customer companies directly under this one.
    async fn children(&self, context: &Context<'_>) -> Result<Vec<Company>> {
        let state = context.data::<QueryState>()?;
        let rows =
            projections::read::children_of_company(&state.database, self.row.id).await.map_err(internal)?;
        Ok(rows.into_iter().map(|row| Company { row: Arc::new(row) }).collect())
    }
    async fn licenses(&self, context: &Context<'_>) -> Result<Licenses> {
        let state = context.data::<QueryState>()?;
        let used = projections::read::licenses_used(&state.database, self.row.id).await.map_err(internal)?;
        Ok(Licenses { used, limit: self.row.state.license_limit.map(i64::from) })
    }
    async fn roles(&self, context: &Context<'_>) -> Result<Vec<Role>> {
        let state = context.data::<QueryState>()?;
        let rows =
            projections::read::roles_of_company(&state.database, self.row.id).await.map_err(internal)?;
        Ok(rows.into_iter().map(|row| Role { row: Arc::new(row) }).collect())
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
    pub schema_version: i32,
    /// The event's payload as stored.
    pub data: Json<serde_json::Value>,
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
