//! The GraphQL API over the read models and the event log.
//!
//! The schema is built by [`schema`]; the transport ([`router`]) only authenticates, applies
//! `X-Portal-Min-Position` (read-your-writes), and hands the request over. The SDL is a
//! committed artifact (`schemas/graphql/schema.snap`) that a snapshot test keeps current.
//!
//! Must not: write anything, or read a read-model table with SQL of its own (that lives in
//! `projections::read`).

mod access_as_of;
mod changes;
pub mod export;
mod feed;
mod loaders;
mod subscriptions;
mod types;
mod viewer;

pub use viewer::Viewer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use async_graphql::http::GraphiQLSource;
use async_graphql::{Context, EmptyMutation, ErrorExtensions, ID, InputObject, Object, Result};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use eventlog::{AuditQuery, Checkpoint, Database, EventLog};
use projections::Progress;
use projections::read::{CompanyQuery, Reader, Row, TicketQuery, UserQuery};
use uuid::Uuid;

use crate::loaders::{CompanyLoader, GroupLoader, RoleLoader, TicketMessagesLoader, UserLoader};
pub use crate::types::*;

pub type PortalSchema = async_graphql::Schema<Query, EmptyMutation, subscriptions::Subscription>;

/// Longest a query waits for the read models to reach `X-Portal-Min-Position`.
pub const MIN_POSITION_WAIT: Duration = Duration::from_secs(5);
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// What resolvers read from.
pub struct QueryState {
    pub database: Database,
    pub log: Arc<dyn EventLog>,
    /// The shared live tail of the subscriptions, started by the first one.
    feed: std::sync::OnceLock<feed::LiveFeed>,
}

impl QueryState {
    pub(crate) fn feed(&self) -> &feed::LiveFeed {
        self.feed.get_or_init(|| feed::LiveFeed::start(self.database.clone(), Arc::clone(&self.log)))
    }
}

/// Builds the schema with its limits; the same function serves the server and the SDL test.
pub fn schema(database: Database, log: Arc<dyn EventLog>) -> PortalSchema {
    async_graphql::Schema::build(Query, EmptyMutation, subscriptions::Subscription)
        .data(QueryState { database, log, feed: std::sync::OnceLock::new() })
        .limit_depth(12)
        .limit_complexity(5_000)
        .finish()
}

/// The request's view of the read models (set by the transport with its [`Viewer`]).
pub(crate) fn request_reader<'a>(context: &'a Context<'_>) -> Result<&'a Reader> {
    context.data::<Reader>()
}

/// A request for `viewer`, reading through `reader`, with DataLoaders of its own.
pub fn request_for(
    mut request: async_graphql::Request,
    viewer: Viewer,
    reader: Reader,
) -> async_graphql::Request {
    insert_request_data(&mut request.data, viewer, reader);
    request
}

/// What every request (or WebSocket connection) carries: who asks, how rows are read, and
/// DataLoaders of its own.
fn insert_request_data(data: &mut async_graphql::Data, viewer: Viewer, reader: Reader) {
    data.insert(DataLoader::new(RoleLoader(reader.clone()), tokio::spawn));
    data.insert(DataLoader::new(CompanyLoader(reader.clone()), tokio::spawn));
    data.insert(DataLoader::new(GroupLoader(reader.clone()), tokio::spawn));
    data.insert(DataLoader::new(UserLoader(reader.clone()), tokio::spawn));
    data.insert(DataLoader::new(TicketMessagesLoader(reader.clone()), tokio::spawn));
    data.insert(reader);
    data.insert(viewer);
}

/// The GraphQL error for bad input: `extensions.code = BAD_USER_INPUT`.
pub(crate) fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", "BAD_USER_INPUT"))
}

/// A failure of ours: logged in full, reported without details.
pub(crate) fn internal(error: impl std::fmt::Display) -> async_graphql::Error {
    tracing::error!(%error, "query failed");
    async_graphql::Error::new("internal error").extend_with(|_, e| e.set("code", "INTERNAL_SERVER_ERROR"))
}

fn parse_id(id: &ID, argument: &str) -> Result<Uuid> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| bad_input(format!("{argument}: {:?} is not a UUID", id.as_str())))
}

fn page_size(first: Option<i32>) -> Result<i64> {
    match first.map(i64::from) {
        None => Ok(DEFAULT_PAGE),
        Some(first) if (1..=MAX_PAGE).contains(&first) => Ok(first),
        Some(first) => Err(bad_input(format!("first: must be between 1 and {MAX_PAGE}, got {first}"))),
    }
}

#[derive(InputObject, Default)]
pub struct UserFilter {
    pub approved: Option<bool>,
    /// Suspended now (a suspension whose end has passed does not count).
    pub suspended: Option<bool>,
    pub role_id: Option<ID>,
    pub group_id: Option<ID>,
    pub deactivated: Option<bool>,
    /// Has set a password (through their invitation, or an admin's).
    pub activated: Option<bool>,
    /// Locked now by failed sign-ins.
    pub locked: Option<bool>,
    /// Case-insensitive text found in the username, first or last name, email, phone or
    /// extension.
    pub search: Option<String>,
    /// Deleted users are left out unless this is true.
    #[graphql(default = false)]
    pub include_deleted: bool,
    /// With `companyId`: the users of every company under it too (a reseller's customers).
    #[graphql(default = false)]
    pub include_descendants: bool,
}

#[derive(InputObject, Default)]
pub struct CompanyFilter {
    /// Companies directly under this one; without it, every company.
    pub parent_id: Option<ID>,
    /// With `parentId`: every company under it, at any depth.
    #[graphql(default = false)]
    pub include_descendants: bool,
    /// Case-insensitive text found in the name.
    pub search: Option<String>,
}

#[derive(InputObject, Default)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub topic: Option<TicketTopic>,
    pub requester_id: Option<ID>,
}

#[derive(InputObject, Default)]
pub struct AuditFilter {
    pub stream_id: Option<String>,
    /// Events of this user's stream.
    pub user_id: Option<ID>,
    /// Events recorded for this company (its own, its users' and its roles').
    pub company_id: Option<ID>,
    /// With `companyId`: the companies under it too, at any depth (a reseller's customers).
    #[graphql(default = false)]
    pub include_descendants: bool,
    /// Events of one request (the id every event of a command shares).
    pub correlation_id: Option<ID>,
    /// Events caused by this actor.
    pub actor_id: Option<ID>,
    pub event_types: Option<Vec<String>>,
    /// Recorded at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before this instant.
    pub to: Option<DateTime<Utc>>,
}

pub struct Query;

#[Object]
impl Query {
    async fn user(&self, context: &Context<'_>, id: ID) -> Result<Option<User>> {
        let id = parse_id(&id, "id")?;
        let rows =
            projections::read::users_by_ids(request_reader(context)?, &[id]).await.map_err(internal)?;
        let viewer = Viewer::of(context);
        Ok(rows
            .into_iter()
            .next()
            .filter(|row| viewer.sees_user(row.id, row.state.company_id))
            .map(|row| User { row: Arc::new(row), at: Utc::now() }))
    }

    /// Users in id order (creation order), optionally of one company and filtered.
    async fn users(
        &self,
        context: &Context<'_>,
        company_id: Option<ID>,
        filter: Option<UserFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<UserConnection> {
        let filter = filter.unwrap_or_default();
        let query = UserQuery {
            company_id: company_id.as_ref().map(|id| parse_id(id, "companyId")).transpose()?,
            approved: filter.approved,
            suspended: filter.suspended,
            role_id: filter.role_id.as_ref().map(|id| parse_id(id, "filter.roleId")).transpose()?,
            group_id: filter.group_id.as_ref().map(|id| parse_id(id, "filter.groupId")).transpose()?,
            deactivated: filter.deactivated,
            activated: filter.activated,
            locked: filter.locked,
            search: filter.search,
            include_deleted: filter.include_deleted,
            include_descendants: filter.include_descendants,
            within: Viewer::of(context).within(),
            only: Viewer::of(context).only_self(),
        };
        if query.include_descendants && query.company_id.is_none() {
            return Err(bad_input("filter.includeDescendants: needs companyId"));
        }
        let limit = page_size(first)?;
        let after = after.as_deref().map(decode_user_cursor).transpose()?;
        let now = Utc::now();
        let mut rows = projections::read::users_page(request_reader(context)?, &query, after, limit + 1, now)
            .await
            .map_err(internal)?;
        let total_count =
            projections::read::users_count(request_reader(context)?, &query, now).await.map_err(internal)?;
        let has_next_page = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let edges: Vec<UserEdge> = rows
            .into_iter()
            .map(|row| UserEdge { cursor: user_cursor(row.id), node: User { row: Arc::new(row), at: now } })
            .collect();
        let end_cursor = edges.last().map(|edge| edge.cursor.clone());
        Ok(UserConnection { total_count, edges, page_info: PageInfo { has_next_page, end_cursor } })
    }

    async fn role(&self, context: &Context<'_>, id: ID) -> Result<Option<Role>> {
        let role = role_by_id(context, parse_id(&id, "id")?).await?;
        let viewer = Viewer::of(context);
        Ok(role
            .filter(|role| role.row.state.company_id.is_some_and(|company| viewer.sees_people_of(company))))
    }

    /// The company's roles that are not deleted, by name.
    async fn roles(&self, context: &Context<'_>, company_id: ID) -> Result<Vec<Role>> {
        let company_id = parse_id(&company_id, "companyId")?;
        if !Viewer::of(context).sees_people_of(company_id) {
            return Ok(Vec::new());
        }
        let rows = projections::read::roles_of_company(request_reader(context)?, company_id)
            .await
            .map_err(internal)?;
        Ok(rows.into_iter().map(|row| Role { row: Arc::new(row) }).collect())
    }

    async fn company(&self, context: &Context<'_>, id: ID) -> Result<Option<Company>> {
        let id = parse_id(&id, "id")?;
        if !Viewer::of(context).sees_company(id) {
            return Ok(None);
        }
        company_by_id(context, id).await
    }

    /// Companies in id order (creation order), filtered.
    async fn companies(
        &self,
        context: &Context<'_>,
        filter: Option<CompanyFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CompanyConnection> {
        let filter = filter.unwrap_or_default();
        let query = CompanyQuery {
            parent_id: filter.parent_id.as_ref().map(|id| parse_id(id, "filter.parentId")).transpose()?,
            include_descendants: filter.include_descendants,
            search: filter.search,
            within: Viewer::of(context).within(),
        };
        if query.include_descendants && query.parent_id.is_none() {
            return Err(bad_input("filter.includeDescendants: needs parentId"));
        }
        let limit = page_size(first)?;
        let after = after.as_deref().map(|cursor| decode_cursor("company", cursor)).transpose()?;
        let mut rows = projections::read::companies_page(request_reader(context)?, &query, after, limit + 1)
            .await
            .map_err(internal)?;
        let total_count =
            projections::read::companies_count(request_reader(context)?, &query).await.map_err(internal)?;
        let has_next_page = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let edges: Vec<CompanyEdge> = rows
            .into_iter()
            .map(|row| CompanyEdge {
                cursor: format!("company:{}", row.id),
                node: Company { row: Arc::new(row) },
            })
            .collect();
        let end_cursor = edges.last().map(|edge| edge.cursor.clone());
        Ok(CompanyConnection { total_count, edges, page_info: PageInfo { has_next_page, end_cursor } })
    }

    /// The signed-in user (`null` for the operator, who is nobody's user).
    async fn me(&self, context: &Context<'_>) -> Result<Option<User>> {
        let Viewer::User { user_id, .. } = Viewer::of(context) else { return Ok(None) };
        let rows =
            projections::read::users_by_ids(request_reader(context)?, &[*user_id]).await.map_err(internal)?;
        Ok(rows.into_iter().next().map(|row| User { row: Arc::new(row), at: Utc::now() }))
    }

    /// The app launcher: every app, `available` or `comingSoon`, for the signed-in user, or for
    /// `userId` (the operator names one; an admin may look at their users').
    async fn app_menu(&self, context: &Context<'_>, user_id: Option<ID>) -> Result<Vec<AppMenuEntry>> {
        let id = match (user_id, Viewer::of(context)) {
            (Some(user_id), _) => parse_id(&user_id, "userId")?,
            (None, Viewer::User { user_id, .. }) => *user_id,
            (None, Viewer::Operator) => return Err(bad_input("userId: the operator names the user")),
        };
        let rows =
            projections::read::users_by_ids(request_reader(context)?, &[id]).await.map_err(internal)?;
        let viewer = Viewer::of(context);
        let Some(row) = rows.into_iter().next().filter(|row| viewer.sees_user(row.id, row.state.company_id))
        else {
            return Err(bad_input(format!("userId: no user {id}")));
        };
        User { row: Arc::new(row), at: Utc::now() }.menu(context).await
    }

    /// The audit trail's seals (operator only): the last one, and how far they reach.
    async fn audit_integrity(&self, context: &Context<'_>) -> Result<AuditIntegrity> {
        if !Viewer::of(context).is_operator() {
            return Err(async_graphql::Error::new("the audit trail's integrity is for the operator only")
                .extend_with(|_, extensions| extensions.set("code", "FORBIDDEN")));
        }
        let state = context.data::<QueryState>()?;
        let last = eventlog::last_seal(&state.database).await.map_err(internal)?;
        let verified = last.as_ref().map_or(0, |seal| seal.up_to_position);
        let unsealed = eventlog::events_after(&state.database, verified).await.map_err(internal)?;
        Ok(AuditIntegrity {
            last_seal: last.map(AuditSeal::from),
            verified_up_to_position: verified,
            unsealed_events: unsealed,
        })
    }

    /// The outbox (operator only): invitations, resets and other messages, oldest first, with
    /// their delivery state. Tokens and PINs are never shown.
    async fn notifications(
        &self,
        context: &Context<'_>,
        to: Option<String>,
        template: Option<String>,
        #[graphql(default = false)] pending: bool,
        first: Option<i32>,
    ) -> Result<Vec<Notification>> {
        if !Viewer::of(context).is_operator() {
            return Err(async_graphql::Error::new("the outbox is for the operator only")
                .extend_with(|_, extensions| extensions.set("code", "FORBIDDEN")));
        }
        let state = context.data::<QueryState>()?;
        let query = eventlog::OutboxQuery { recipient: to, template, pending, limit: page_size(first)? };
        let stored = eventlog::outbox(&state.database, &query).await.map_err(internal)?;
        Ok(stored.into_iter().map(Notification::from).collect())
    }

    async fn group(&self, context: &Context<'_>, id: ID) -> Result<Option<Group>> {
        let group = group_by_id(context, parse_id(&id, "id")?).await?;
        let viewer = Viewer::of(context);
        Ok(group
            .filter(|group| group.row.state.company_id.is_some_and(|company| viewer.sees_people_of(company))))
    }

    /// The company's groups that are not deleted, Main Group first, then by name.
    async fn groups(&self, context: &Context<'_>, company_id: ID) -> Result<Vec<Group>> {
        let company_id = parse_id(&company_id, "companyId")?;
        if !Viewer::of(context).sees_people_of(company_id) {
            return Ok(Vec::new());
        }
        let rows = projections::read::groups_of_company(request_reader(context)?, company_id)
            .await
            .map_err(internal)?;
        Ok(rows.into_iter().map(|row| Group { row: Arc::new(row) }).collect())
    }

    /// A bulk import of users: its progress and each row's result.
    async fn import(&self, context: &Context<'_>, id: ID) -> Result<Option<Import>> {
        let id = parse_id(&id, "id")?;
        let rows =
            projections::read::imports_by_ids(request_reader(context)?, &[id]).await.map_err(internal)?;
        let viewer = Viewer::of(context);
        Ok(rows
            .into_iter()
            .next()
            .filter(|row| viewer.sees_people_of(row.state.company_id.unwrap_or_default()))
            .map(|row| Import { row: Arc::new(row) }))
    }

    /// A company's imports, newest first (at most `first`, default 20, up to 100).
    async fn imports(
        &self,
        context: &Context<'_>,
        company_id: ID,
        first: Option<i32>,
    ) -> Result<Vec<Import>> {
        let company_id = parse_id(&company_id, "companyId")?;
        if !Viewer::of(context).sees_people_of(company_id) {
            return Ok(Vec::new());
        }
        let first = first.unwrap_or(20);
        if !(1..=100).contains(&first) {
            return Err("first must be between 1 and 100".into());
        }
        let rows =
            projections::read::imports_of_company(request_reader(context)?, company_id, i64::from(first))
                .await
                .map_err(internal)?;
        Ok(rows.into_iter().map(|row| Import { row: Arc::new(row) }).collect())
    }

    async fn ticket(&self, context: &Context<'_>, id: ID) -> Result<Option<Ticket>> {
        let id = parse_id(&id, "id")?;
        let rows =
            projections::read::tickets_by_ids(request_reader(context)?, &[id]).await.map_err(internal)?;
        let viewer = Viewer::of(context);
        Ok(rows
            .into_iter()
            .next()
            .filter(|row| {
                let company = row.state.company_id.unwrap_or_default();
                viewer.sees_people_of(company)
                    || (viewer.sees_company(company)
                        && viewer.only_self().is_some_and(|me| row.state.requester_id == Some(me)))
            })
            .map(|row| Ticket { row: Arc::new(row) }))
    }

    /// Support tickets in id order (the order they were opened), optionally of one company
    /// and filtered.
    async fn tickets(
        &self,
        context: &Context<'_>,
        company_id: Option<ID>,
        filter: Option<TicketFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<TicketConnection> {
        let filter = filter.unwrap_or_default();
        let query = TicketQuery {
            company_id: company_id.as_ref().map(|id| parse_id(id, "companyId")).transpose()?,
            status: filter.status.map(Into::into),
            topic: filter.topic.map(Into::into),
            requester_id: filter
                .requester_id
                .as_ref()
                .map(|id| parse_id(id, "filter.requesterId"))
                .transpose()?,
            within: Viewer::of(context).within(),
        };
        // Without VIEW on USERS, a user sees the tickets they opened only.
        let query = match Viewer::of(context).only_self() {
            Some(me) if query.requester_id.is_some_and(|requester| requester != me) => {
                TicketQuery { within: Some(Vec::new()), ..query }
            }
            Some(me) => TicketQuery { requester_id: Some(me), ..query },
            None => query,
        };
        let limit = page_size(first)?;
        let after = after.as_deref().map(|cursor| decode_cursor("ticket", cursor)).transpose()?;
        let mut rows = projections::read::tickets_page(request_reader(context)?, &query, after, limit + 1)
            .await
            .map_err(internal)?;
        let total_count =
            projections::read::tickets_count(request_reader(context)?, &query).await.map_err(internal)?;
        let has_next_page = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let edges: Vec<TicketEdge> = rows
            .into_iter()
            .map(|row| TicketEdge {
                cursor: format!("ticket:{}", row.id),
                node: Ticket { row: Arc::new(row) },
            })
            .collect();
        let end_cursor = edges.last().map(|edge| edge.cursor.clone());
        Ok(TicketConnection { total_count, edges, page_info: PageInfo { has_next_page, end_cursor } })
    }

    /// The event log itself, filtered, in commit order: the audit trail.
    async fn audit_trail(
        &self,
        context: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AuditConnection> {
        let limit = page_size(first)?;
        let after = match after.as_deref() {
            Some(cursor) => Checkpoint::from_str(cursor).map_err(|problem| {
                bad_input(format!("after: {cursor:?} is not a cursor from this API ({problem})"))
            })?,
            None => Checkpoint::START,
        };
        let Some(query) = scoped_audit_query(context, filter.unwrap_or_default(), after, limit + 1).await?
        else {
            return Ok(AuditConnection {
                edges: Vec::new(),
                page_info: PageInfo { has_next_page: false, end_cursor: None },
            });
        };
        let mut events = audit_events(context, &query).await?;
        let has_next_page = events.len() as i64 > limit;
        events.truncate(limit as usize);
        let edges: Vec<AuditEdge> = events
            .into_iter()
            .map(|event| AuditEdge { cursor: event.checkpoint.to_string(), node: audit_entry(event) })
            .collect();
        let end_cursor = edges.last().map(|edge| edge.cursor.clone());
        Ok(AuditConnection { edges, page_info: PageInfo { has_next_page, end_cursor } })
    }

    /// Who could use `module` in the company at `at`, and why: each user of the company then
    /// with a level above NONE, their status, the sources of that level, and the events that last
    /// set what it rests on (the grant; or the role or group assignment with the role's grant).
    /// Empty for a company whose people the viewer does not see.
    async fn access_as_of(
        &self,
        context: &Context<'_>,
        company_id: ID,
        module: PermissionModule,
        at: DateTime<Utc>,
    ) -> Result<Vec<access_as_of::AccessGrant>> {
        let company_id = parse_id(&company_id, "companyId")?;
        access_as_of::access_as_of(context, company_id, module.into(), at).await
    }

    /// One entry of the audit trail, by its position; `null` if there is none the viewer may
    /// see (an entry of another company reads like a missing one).
    async fn audit_entry(&self, context: &Context<'_>, position: i64) -> Result<Option<AuditEntry>> {
        visible_entry(context, AuditQuery { position: Some(position), ..AuditQuery::one() }).await
    }

    /// The role as it was at `at`, folded from its events up to that instant. `null` if it did
    /// not exist yet, or belongs to a company whose people the viewer does not see.
    async fn role_as_of(&self, context: &Context<'_>, id: ID, at: DateTime<Utc>) -> Result<Option<Role>> {
        let id = parse_id(&id, "id")?;
        let Some(row) = fold_as_of::<domain::role::Event, domain::role::State>(
            context,
            domain::role::CATEGORY,
            id,
            at,
            domain::role::evolve,
        )
        .await?
        else {
            return Ok(None);
        };
        let visible = row.state.company_id.is_some_and(|company| Viewer::of(context).sees_people_of(company));
        Ok(visible.then(|| Role { row: Arc::new(row) }))
    }

    /// The company as it was at `at`, folded from its events up to that instant. `null` if it
    /// did not exist yet, or is not one the viewer sees.
    async fn company_as_of(
        &self,
        context: &Context<'_>,
        id: ID,
        at: DateTime<Utc>,
    ) -> Result<Option<Company>> {
        let id = parse_id(&id, "id")?;
        if !Viewer::of(context).sees_company(id) {
            return Ok(None);
        }
        let row = fold_as_of::<domain::company::Event, domain::company::State>(
            context,
            domain::company::CATEGORY,
            id,
            at,
            domain::company::evolve,
        )
        .await?;
        Ok(row.map(|row| Company { row: Arc::new(row) }))
    }

    /// The user as they were at `at`: their events up to that instant, folded with the same
    /// `evolve` the write side uses. `null` if the user did not exist yet.
    async fn user_as_of(&self, context: &Context<'_>, id: ID, at: DateTime<Utc>) -> Result<Option<User>> {
        let id = parse_id(&id, "id")?;
        let Some(row) = fold_as_of(context, domain::user::CATEGORY, id, at, domain::user::evolve).await?
        else {
            return Ok(None);
        };
        if !Viewer::of(context).sees_user(id, row.state.company_id) {
            return Ok(None);
        }
        Ok(Some(User { row: Arc::new(row), at }))
    }
}

/// A stream's events recorded up to `at`, and the state they fold to with `evolve`.
pub(crate) async fn fold_until<E: domain::EventPayload, S: Default>(
    state: &QueryState,
    stream_id: &str,
    at: DateTime<Utc>,
    evolve: fn(S, &E) -> S,
) -> Result<(S, Vec<eventlog::RecordedEvent>)> {
    let events = state.log.read_stream_until(stream_id, at).await.map_err(internal)?;
    let mut folded = S::default();
    for event in &events {
        folded = evolve(folded, &event.payload::<E>().map_err(internal)?);
    }
    Ok((folded, events))
}

/// An aggregate's stream up to `at`, folded with its own `evolve`; `None` before it existed.
async fn fold_as_of<E: domain::EventPayload, S: Default>(
    context: &Context<'_>,
    category: &str,
    id: Uuid,
    at: DateTime<Utc>,
    evolve: fn(S, &E) -> S,
) -> Result<Option<Row<S>>> {
    let state = context.data::<QueryState>()?;
    let (folded, events) = fold_until(state, &domain::stream_id(category, id), at, evolve).await?;
    let (Some(first), Some(last)) = (events.first(), events.last()) else { return Ok(None) };
    Ok(Some(Row {
        id,
        state: folded,
        version: last.version,
        created_at: first.metadata.recorded_at,
        updated_at: last.metadata.recorded_at,
    }))
}

/// The audit query for `filter` as the viewer may run it: a signed-in user reads the trail of
/// the companies whose people they see (their own when none is named); `None` when the filter
/// names one they do not see. Shared by `auditTrail` and the `events` subscription.
pub(crate) async fn scoped_audit_query(
    context: &Context<'_>,
    filter: AuditFilter,
    after: Checkpoint,
    limit: i64,
) -> Result<Option<AuditQuery>> {
    let state = context.data::<QueryState>()?;
    let user_stream = filter
        .user_id
        .as_ref()
        .map(|id| parse_id(id, "filter.userId").map(|id| domain::stream_id(domain::user::CATEGORY, id)))
        .transpose()?;
    let stream_id = match (filter.stream_id, user_stream) {
        (Some(stream), Some(user)) if stream != user => {
            return Err(bad_input("filter: streamId and userId name different streams"));
        }
        (stream, user) => stream.or(user),
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(bad_input("filter: from must not be after to"));
    }
    let company_id = filter.company_id.as_ref().map(|id| parse_id(id, "filter.companyId")).transpose()?;
    if filter.include_descendants && company_id.is_none() {
        return Err(bad_input("filter: includeDescendants needs companyId"));
    }
    // A signed-in user with VIEW on USERS reads the trail of a company they see (their own
    // when none is named); anyone else reads nothing.
    let company_id = match Viewer::of(context) {
        Viewer::Operator => company_id,
        viewer @ Viewer::User { company_id: own, .. } => {
            let company = company_id.unwrap_or(*own);
            if !viewer.sees_people_of(company) {
                return Ok(None);
            }
            Some(company)
        }
    };
    let company_ids = match company_id {
        Some(company_id) if filter.include_descendants => {
            let whole = Reader::Whole(state.database.clone());
            Some(projections::read::company_and_descendants(&whole, company_id).await.map_err(internal)?)
        }
        Some(company_id) => Some(vec![company_id]),
        None => None,
    };
    let query = AuditQuery {
        stream_id,
        company_ids,
        correlation_id: filter
            .correlation_id
            .as_ref()
            .map(|id| parse_id(id, "filter.correlationId"))
            .transpose()?,
        event_id: None,
        position: None,
        actor_id: filter.actor_id.as_ref().map(|id| parse_id(id, "filter.actorId")).transpose()?,
        event_types: filter.event_types,
        from: filter.from,
        to: filter.to,
        after,
        limit,
    };
    Ok(Some(query))
}

/// The audit query, inside the request's row-secured transaction for a signed-in user on
/// Postgres (another company's events are not even there), on the log itself otherwise.
async fn audit_events(context: &Context<'_>, query: &AuditQuery) -> Result<Vec<eventlog::RecordedEvent>> {
    let state = context.data::<QueryState>()?;
    if let Ok(Reader::Tenant(transaction)) = request_reader(context) {
        let mut events = {
            let mut connection = transaction.lock().await;
            eventlog::audit_on(&mut connection, query).await.map_err(internal)?
        };
        // The personal fields open with the vault's keys, which no tenant role reads.
        eventlog::open_personal_data(&state.database, &mut events).await.map_err(internal)?;
        return Ok(events);
    }
    state.log.audit(query).await.map_err(internal)
}

/// The one entry `query` finds, if the viewer may see it: the operator any; a signed-in user
/// one recorded for a company whose people they see.
pub(crate) async fn visible_entry(context: &Context<'_>, query: AuditQuery) -> Result<Option<AuditEntry>> {
    let event = audit_events(context, &query).await?.into_iter().next();
    let viewer = Viewer::of(context);
    Ok(event
        .filter(|event| {
            viewer.is_operator() || event.metadata.company_id.is_some_and(|c| viewer.sees_people_of(c))
        })
        .map(audit_entry))
}

fn user_cursor(id: Uuid) -> String {
    format!("user:{id}")
}

fn decode_user_cursor(cursor: &str) -> Result<Uuid> {
    decode_cursor("user", cursor)
}

/// The id in a `<kind>:<uuid>` cursor this API handed out.
fn decode_cursor(kind: &str, cursor: &str) -> Result<Uuid> {
    cursor
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| bad_input(format!("after: {cursor:?} is not a cursor from this API")))
}

pub(crate) fn audit_entry(event: eventlog::RecordedEvent) -> AuditEntry {
    let metadata = event.metadata;
    AuditEntry {
        position: event.position,
        event_id: ID(event.event_id.to_string()),
        stream_id: event.stream_id,
        version: event.version,
        event_type: event.event_type,
        occurred_at: metadata.recorded_at,
        actor: AuditActor {
            kind: metadata.actor.kind.into(),
            id: metadata.actor.id.map(|id| ID(id.to_string())),
        },
        company_id: metadata.company_id.map(|id| ID(id.to_string())),
        correlation_id: ID(metadata.correlation_id.to_string()),
        causation_id: metadata.causation_id.map(|id| ID(id.to_string())),
        request_id: metadata.request_id,
        reason: metadata.reason,
        client_ip: metadata.client_ip,
        user_agent: metadata.user_agent,
        hash: event.hash,
        schema_version: event.schema_version,
        data: async_graphql::Json(redacted(event.data)),
    }
}

/// Fields of stored events that the audit trail never shows: password hashes (which could be
/// cracked offline), token and PIN hashes, and the id of a sign-in waiting for its PIN (with it,
/// a colleague could void someone's sign-in), and the sealed secret of an authenticator app.
/// The event log keeps them; only the answer hides them, so the log still verifies.
pub(crate) const REDACTED: [&str; 5] = ["passwordHash", "tokenHash", "pinHash", "challengeId", "secret"];

pub(crate) fn redacted(mut data: serde_json::Value) -> serde_json::Value {
    if let Some(object) = data.as_object_mut() {
        for field in REDACTED {
            if let Some(value) = object.get_mut(field) {
                *value = serde_json::Value::String("[redacted]".to_owned());
            }
        }
    }
    data
}

/// Everything the transport needs besides the schema.
#[derive(Clone)]
pub struct GraphqlState {
    pub schema: PortalSchema,
    /// The read models' database, to find the companies a signed-in user sees.
    pub database: Database,
    pub log: Arc<dyn EventLog>,
    pub progress: Progress,
    /// Decides what a request's bearer token may do here.
    pub authenticate: Authenticate,
}

/// What the transport lets through.
pub enum Access {
    /// For a user, `companies` is filled in by the transport (their company and those under it).
    Granted(Viewer),
    /// No token, or not a good one: 401.
    Unauthenticated,
    /// A good token that may not query this API: 403, with why.
    Forbidden(String),
}

pub type Authenticate = Arc<
    dyn Fn(HeaderMap) -> std::pin::Pin<Box<dyn std::future::Future<Output = Access> + Send>> + Send + Sync,
>;

pub fn router(state: GraphqlState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/audit/export", get(audit_export))
        .with_state(state)
}

/// An error of `GET /audit/export`, in the command API's shape.
fn http_error(status: axum::http::StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// The companies an export covers: one, with those under it when asked; all when none is named.
pub async fn export_companies(
    database: &Database,
    company_id: Option<Uuid>,
    include_descendants: bool,
) -> std::result::Result<Option<Vec<Uuid>>, String> {
    let Some(company_id) = company_id else {
        return if include_descendants {
            Err("includeDescendants needs companyId".to_owned())
        } else {
            Ok(None)
        };
    };
    let whole = Reader::Whole(database.clone());
    let known =
        projections::read::companies_by_ids(&whole, &[company_id]).await.map_err(|e| e.to_string())?;
    if known.is_empty() {
        return Err(format!("no company has id {company_id}"));
    }
    if !include_descendants {
        return Ok(Some(vec![company_id]));
    }
    let ids =
        projections::read::company_and_descendants(&whole, company_id).await.map_err(|e| e.to_string())?;
    Ok(Some(ids))
}

/// `GET /audit/export?companyId=&includeDescendants=&from=&to=&format=jsonl|csv` (operator
/// only): the audit trail as a file, streamed page by page.
async fn audit_export(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    use axum::http::StatusCode;
    match (state.authenticate)(headers).await {
        Access::Granted(Viewer::Operator) => {}
        Access::Unauthenticated => {
            return http_error(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
        }
        _ => return http_error(StatusCode::FORBIDDEN, "forbidden", "the audit export is the operator's"),
    }
    let bad = |message: String| http_error(StatusCode::BAD_REQUEST, "invalid_fields", &message);
    if let Some(unknown) = params
        .keys()
        .find(|key| !["companyId", "includeDescendants", "from", "to", "format"].contains(&key.as_str()))
    {
        return bad(format!("{unknown}: not a parameter of the export"));
    }
    let instant = |name: &str| -> std::result::Result<Option<DateTime<Utc>>, String> {
        params
            .get(name)
            .map(|text| {
                DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| format!("{name}: {text:?} is not an RFC 3339 instant"))
            })
            .transpose()
    };
    let parsed = (|| {
        let format = params.get("format").map_or("jsonl", String::as_str).parse::<export::Format>()?;
        let company_id = params
            .get("companyId")
            .map(|id| Uuid::parse_str(id).map_err(|_| format!("companyId: {id:?} is not an id")))
            .transpose()?;
        let include_descendants = match params.get("includeDescendants").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(format!("includeDescendants: {other:?} is not true or false")),
        };
        let (from, to) = (instant("from")?, instant("to")?);
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err("from must not be after to".to_owned());
        }
        Ok((format, company_id, include_descendants, from, to))
    })();
    let (format, company_id, include_descendants, from, to) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => return bad(message),
    };
    let company_ids = match export_companies(&state.database, company_id, include_descendants).await {
        Ok(ids) => ids,
        Err(message) if message.starts_with("no company") => {
            return http_error(StatusCode::NOT_FOUND, "not_found", &message);
        }
        Err(message) => return bad(message),
    };
    let export = export::Export { company_ids, from, to, format };
    let name =
        format!("audit-{}.{}", company_id.map_or("all".to_owned(), |id| id.to_string()), format.extension());
    let body = axum::body::Body::from_stream(export.stream(Arc::clone(&state.log)));
    (
        [
            (axum::http::header::CONTENT_TYPE, format.content_type().to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").finish())
}

fn error_response(status: axum::http::StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

/// A signed-in user sees their company and the companies under it.
async fn with_companies(database: &Database, viewer: &mut Viewer) -> std::result::Result<(), String> {
    if let Viewer::User { company_id, companies, .. } = viewer {
        let whole = Reader::Whole(database.clone());
        let ids = projections::read::company_and_descendants(&whole, *company_id)
            .await
            .map_err(|e| e.to_string())?;
        companies.extend(ids);
    }
    Ok(())
}

/// `/graphql/ws`: subscriptions over graphql-transport-ws (and the older graphql-ws). The token
/// comes in the `connection_init` payload, `{"Authorization": "Bearer …"}`, since browsers cannot
/// set headers on a WebSocket; a connection without a good one is closed.
async fn graphql_ws(
    State(state): State<GraphqlState>,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    upgrade.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| {
        let (schema, authenticate, database) = (state.schema.clone(), state.authenticate, state.database);
        async_graphql_axum::GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| connection_data(authenticate, database, payload))
            .serve()
    })
}

async fn connection_data(
    authenticate: Authenticate,
    database: Database,
    payload: serde_json::Value,
) -> Result<async_graphql::Data> {
    let token = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(*key)?.as_str())
        .and_then(|value| axum::http::HeaderValue::from_str(value).ok());
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        headers.insert(axum::http::header::AUTHORIZATION, token);
    }
    let mut viewer = match authenticate(headers).await {
        Access::Granted(viewer) => viewer,
        Access::Unauthenticated => {
            return Err(async_graphql::Error::new(
                "a valid bearer token is required: send {\"Authorization\": \"Bearer …\"} as the connection_init payload",
            ));
        }
        Access::Forbidden(reason) => return Err(async_graphql::Error::new(reason)),
    };
    with_companies(&database, &mut viewer).await.map_err(internal)?;
    let mut data = async_graphql::Data::default();
    insert_request_data(&mut data, viewer, Reader::Whole(database));
    Ok(data)
}

async fn graphql(State(state): State<GraphqlState>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    use axum::http::StatusCode;
    let mut viewer = match (state.authenticate)(headers.clone()).await {
        Access::Granted(viewer) => viewer,
        Access::Unauthenticated => {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "a valid bearer token is required",
            );
        }
        Access::Forbidden(reason) => return error_response(StatusCode::FORBIDDEN, "FORBIDDEN", &reason),
    };
    if let Err(error) = with_companies(&state.database, &mut viewer).await {
        tracing::error!(%error, "the companies of a viewer could not be read");
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again");
    }
    if let Some(value) = headers.get("x-portal-min-position") {
        let Some(position) =
            value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).filter(|p| *p >= 0)
        else {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "X-Portal-Min-Position must be a position from a command's reply",
            );
        };
        if position > 0 {
            let checkpoint = match state.log.checkpoint_of(position).await {
                Ok(Some(checkpoint)) => checkpoint,
                Ok(None) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "BAD_USER_INPUT",
                        &format!("X-Portal-Min-Position: no event has position {position}"),
                    );
                }
                Err(error) => {
                    tracing::error!(%error, "cannot look up a position");
                    return error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "UNAVAILABLE",
                        "the event log is unavailable",
                    );
                }
            };
            if !state.progress.wait_for(checkpoint, MIN_POSITION_WAIT).await {
                return error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "STALE_READ",
                    &format!(
                        "the read models did not reach position {position} within {MIN_POSITION_WAIT:?}"
                    ),
                );
            }
        }
    }
    // A signed-in user reads inside a transaction that Postgres's row security confines to
    // their companies: the second wall behind the resolvers' own filters.
    let reader = match &viewer {
        Viewer::Operator => Reader::Whole(state.database.clone()),
        Viewer::User { companies, .. } => {
            match Reader::tenant(&state.database, companies.iter().copied()).await {
                Ok(reader) => reader,
                Err(error) => {
                    tracing::error!(%error, "a tenant's read transaction could not start");
                    return error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again");
                }
            }
        }
    };
    let request = request_for(request.into_inner(), viewer, reader);
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// The SDL of the schema, as committed under `schemas/graphql/`.
pub fn sdl(schema: &PortalSchema) -> String {
    schema.sdl()
}
