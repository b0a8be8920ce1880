//! Queries over the read models, for the query API. The only SQL that reads these tables.

use chrono::{DateTime, Utc};
use domain::{company, group, import, role, ticket, user};
use std::sync::Arc;

use eventlog::{Database, with_reader};
use serde::de::DeserializeOwned;
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::ProjectionError;
use crate::fold::StoredRow;

pub use crate::fold::Folded as Row;

/// Where read-model queries run.
#[derive(Clone, Debug)]
pub enum Reader {
    /// Every row: for the operator, and for everyone on SQLite, which has no row security (the
    /// query API's own filters are the only wall there).
    Whole(Database),
    /// On Postgres, for a signed-in user: one transaction under the role `portal_reader`, which
    /// row-level security confines to the rows of the companies named in `portal.companies`
    /// (migration 0008), whatever SQL runs in it. Dropped, it rolls back: it only ever reads.
    Tenant(Arc<tokio::sync::Mutex<sqlx::Transaction<'static, sqlx::Postgres>>>),
}

impl Reader {
    /// A reader that sees only `companies`: a `Tenant` transaction on Postgres; on SQLite the
    /// whole database.
    pub async fn tenant(
        database: &Database,
        companies: impl IntoIterator<Item = Uuid>,
    ) -> Result<Reader, ProjectionError> {
        let Database::Postgres(pool) = database else { return Ok(Reader::Whole(database.clone())) };
        let companies: Vec<String> = companies.into_iter().map(|id| id.to_string()).collect();
        let mut transaction = pool.begin().await?;
        sqlx::query(
            "select set_config('role', 'portal_reader', true), set_config('portal.companies', $1, true)",
        )
        .bind(companies.join(","))
        .execute(&mut *transaction)
        .await?;
        Ok(Reader::Tenant(Arc::new(tokio::sync::Mutex::new(transaction))))
    }
}

/// Runs the same sqlx code on whichever connection `reader` stands for: `$conn` is a pool of
/// either backend, or the tenant transaction's connection. The body is compiled once for each.
macro_rules! read_with {
    ($reader:expr, |$conn:ident| $body:expr) => {
        match $reader {
            Reader::Whole(database) => with_reader!(database, |$conn| $body),
            Reader::Tenant(transaction) => {
                let mut guard = transaction.lock().await;
                let $conn = &mut **guard;
                $body
            }
        }
    };
}

const COLUMNS: &str = "select id, state, version, created_at, updated_at from ";

fn decode<S: DeserializeOwned>(rows: Vec<StoredRow>) -> Result<Vec<Row<S>>, ProjectionError> {
    rows.into_iter().map(StoredRow::into_folded).collect()
}

/// Rows of `table` with the given ids, in no particular order.
async fn by_ids<S: DeserializeOwned>(
    reader: &Reader,
    table: &str,
    ids: &[Uuid],
) -> Result<Vec<Row<S>>, ProjectionError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new(format!("{COLUMNS}{table} where id in ("));
        let mut separated = query.separated(", ");
        for id in ids {
            separated.push_bind(*id);
        }
        query.push(")");
        query.build_query_as().fetch_all(pool).await?
    });
    decode(rows)
}

pub async fn users_by_ids(reader: &Reader, ids: &[Uuid]) -> Result<Vec<Row<user::State>>, ProjectionError> {
    by_ids(reader, "users", ids).await
}

pub async fn roles_by_ids(reader: &Reader, ids: &[Uuid]) -> Result<Vec<Row<role::State>>, ProjectionError> {
    by_ids(reader, "roles", ids).await
}

pub async fn companies_by_ids(
    reader: &Reader,
    ids: &[Uuid],
) -> Result<Vec<Row<company::State>>, ProjectionError> {
    by_ids(reader, "companies", ids).await
}

pub async fn groups_by_ids(reader: &Reader, ids: &[Uuid]) -> Result<Vec<Row<group::State>>, ProjectionError> {
    by_ids(reader, "groups", ids).await
}

/// The groups of a company that are not deleted, Main Group first, then by name.
pub async fn groups_of_company(
    reader: &Reader,
    company_id: Uuid,
) -> Result<Vec<Row<group::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        sqlx::query_as(
            "select id, state, version, created_at, updated_at from groups \
             where company_id = $1 and deleted = $2 order by is_main desc, name, id",
        )
        .bind(company_id)
        .bind(false)
        .fetch_all(pool)
        .await?
    });
    decode(rows)
}

/// The companies under `company_id` at any depth (not the company itself), by name.
pub async fn descendants_of_company(
    reader: &Reader,
    company_id: Uuid,
) -> Result<Vec<Row<company::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        sqlx::query_as(
            "with recursive tree(id) as ( \
                 select id from companies where parent_id = $1 \
                 union select c.id from companies c join tree t on c.parent_id = t.id) \
             select id, state, version, created_at, updated_at from companies where id in (select id from tree) \
             order by name, id",
        )
        .bind(company_id)
        .fetch_all(pool)
        .await?
    });
    decode(rows)
}

/// The company's id, then the ids of every company under it at any depth: what a reseller
/// reaches.
pub async fn company_and_descendants(
    reader: &Reader,
    company_id: Uuid,
) -> Result<Vec<Uuid>, ProjectionError> {
    let below = descendants_of_company(reader, company_id).await?;
    Ok(std::iter::once(company_id).chain(below.into_iter().map(|row| row.id)).collect())
}

/// A point of a company's seat-count history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LicensePoint {
    pub version: i64,
    pub recorded_at: DateTime<Utc>,
    pub used: i64,
    pub license_limit: Option<i64>,
    pub event_type: String,
}

/// How many seats a company used over time, oldest first, within `[from, to)` when given.
pub async fn license_history(
    reader: &Reader,
    company_id: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<LicensePoint>, ProjectionError> {
    let points: Vec<LicensePoint> = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new(
            "select version, recorded_at, cast(used as bigint) as used, cast(license_limit as bigint) as license_limit, \
             event_type from company_license_history \
             where company_id = ",
        );
        query.push_bind(company_id);
        if let Some(from) = from {
            query.push(" and recorded_at >= ").push_bind(from);
        }
        if let Some(to) = to {
            query.push(" and recorded_at < ").push_bind(to);
        }
        query.push(" order by version");
        query.build_query_as().fetch_all(pool).await?
    });
    Ok(points)
}

/// The roles of a company that are not deleted, by name.
pub async fn roles_of_company(
    reader: &Reader,
    company_id: Uuid,
) -> Result<Vec<Row<role::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        sqlx::query_as(
            "select id, state, version, created_at, updated_at from roles \
             where company_id = $1 and deleted = $2 order by name, id",
        )
        .bind(company_id)
        .bind(false)
        .fetch_all(pool)
        .await?
    });
    decode(rows)
}

pub async fn children_of_company(
    reader: &Reader,
    company_id: Uuid,
) -> Result<Vec<Row<company::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        sqlx::query_as(
            "select id, state, version, created_at, updated_at from companies where parent_id = $1 order by name, id",
        )
        .bind(company_id)
        .fetch_all(pool)
        .await?
    });
    decode(rows)
}

/// Narrows a users listing; `None` does not filter.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub company_id: Option<Uuid>,
    pub approved: Option<bool>,
    /// Suspended now: a suspension whose end has passed does not count.
    pub suspended: Option<bool>,
    pub role_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub deactivated: Option<bool>,
    /// Has set a password.
    pub activated: Option<bool>,
    /// Locked now by failed sign-ins.
    pub locked: Option<bool>,
    /// Case-insensitive substring of username, names, email, phone or extension.
    pub search: Option<String>,
    pub include_deleted: bool,
    /// Users of the company's descendants too (with `company_id`).
    pub include_descendants: bool,
    /// Only users of these companies (what a signed-in user may see); `None`: any company.
    pub within: Option<Vec<Uuid>>,
    /// Only this user (a signed-in user who may not see others).
    pub only: Option<Uuid>,
}

fn push_user_filter<DB: sqlx::Database>(query: &mut QueryBuilder<DB>, filter: &UserQuery, now: DateTime<Utc>)
where
    for<'q> Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(within) = &filter.within {
        push_within(query, "company_id", within);
    }
    if let Some(only) = filter.only {
        query.push(" and id = ").push_bind(only);
    }
    if let Some(company_id) = filter.company_id {
        if filter.include_descendants {
            query
                .push(" and company_id in (with recursive tree(id) as (select id from companies where id = ")
                .push_bind(company_id)
                .push(" union select c.id from companies c join tree t on c.parent_id = t.id) select id from tree)");
        } else {
            query.push(" and company_id = ").push_bind(company_id);
        }
    }
    if let Some(approved) = filter.approved {
        query.push(" and approved = ").push_bind(approved);
    }
    if let Some(suspended) = filter.suspended {
        let condition = if suspended { " and " } else { " and not " };
        query
            .push(condition)
            .push("(suspended = ")
            .push_bind(true)
            .push(" and (suspended_until is null or suspended_until > ")
            .push_bind(now)
            .push("))");
    }
    if let Some(role_id) = filter.role_id {
        query.push(" and role_id = ").push_bind(role_id);
    }
    if let Some(group_id) = filter.group_id {
        query.push(" and group_id = ").push_bind(group_id);
    }
    if let Some(deactivated) = filter.deactivated {
        query.push(" and deactivated = ").push_bind(deactivated);
    }
    if let Some(activated) = filter.activated {
        query.push(" and activated = ").push_bind(activated);
    }
    if let Some(locked) = filter.locked {
        let condition = if locked { " and " } else { " and not " };
        query.push(condition).push("(locked_until is not null and locked_until > ").push_bind(now).push(")");
    }
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query.push(" and search like ").push_bind(like_pattern(search)).push(" escape '\\'");
    }
    if !filter.include_deleted {
        query.push(" and deleted = ").push_bind(false);
    }
}

/// One page of users in id order (ids are time-ordered UUID v7), after `after`.
pub async fn users_page(
    reader: &Reader,
    filter: &UserQuery,
    after: Option<Uuid>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Row<user::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new(format!("{COLUMNS}users where true"));
        push_user_filter(&mut query, filter, now);
        if let Some(after) = after {
            query.push(" and id > ").push_bind(after);
        }
        query.push(" order by id limit ").push_bind(limit);
        query.build_query_as().fetch_all(pool).await?
    });
    decode(rows)
}

pub async fn users_count(
    reader: &Reader,
    filter: &UserQuery,
    now: DateTime<Utc>,
) -> Result<i64, ProjectionError> {
    let count: i64 = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new("select count(*) from users where true");
        push_user_filter(&mut query, filter, now);
        query.build_query_scalar().fetch_one(pool).await?
    });
    Ok(count)
}

/// ` and <column> in (…)`: rows of these ids only (an empty list matches nothing).
fn push_within<DB: sqlx::Database>(query: &mut QueryBuilder<DB>, column: &str, ids: &[Uuid])
where
    for<'q> Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if ids.is_empty() {
        query.push(" and false");
        return;
    }
    query.push(format!(" and {column} in ("));
    let mut separated = query.separated(", ");
    for id in ids {
        separated.push_bind(*id);
    }
    query.push(")");
}

/// Narrows a companies listing.
#[derive(Debug, Clone, Default)]
pub struct CompanyQuery {
    /// Companies directly under this one; `None` lists every company.
    pub parent_id: Option<Uuid>,
    /// With `parent_id`: every company under it, at any depth.
    pub include_descendants: bool,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Only these companies (what a signed-in user may see); `None`: every company.
    pub within: Option<Vec<Uuid>>,
}

fn push_company_filter<DB: sqlx::Database>(query: &mut QueryBuilder<DB>, filter: &CompanyQuery)
where
    for<'q> Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(within) = &filter.within {
        push_within(query, "id", within);
    }
    match (filter.parent_id, filter.include_descendants) {
        (Some(parent_id), true) => {
            query
                .push(" and id in (with recursive tree(id) as (select id from companies where parent_id = ")
                .push_bind(parent_id)
                .push(" union select c.id from companies c join tree t on c.parent_id = t.id) select id from tree)");
        }
        (Some(parent_id), false) => {
            query.push(" and parent_id = ").push_bind(parent_id);
        }
        (None, _) => {}
    }
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query.push(" and lower(name) like ").push_bind(like_pattern(search)).push(" escape '\\'");
    }
}

/// `%text%` for `like`, with the wildcards in `text` escaped.
fn like_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of companies in id order, after `after`.
pub async fn companies_page(
    reader: &Reader,
    filter: &CompanyQuery,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Row<company::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new(format!("{COLUMNS}companies where true"));
        push_company_filter(&mut query, filter);
        if let Some(after) = after {
            query.push(" and id > ").push_bind(after);
        }
        query.push(" order by id limit ").push_bind(limit);
        query.build_query_as().fetch_all(pool).await?
    });
    decode(rows)
}

pub async fn companies_count(reader: &Reader, filter: &CompanyQuery) -> Result<i64, ProjectionError> {
    let count: i64 = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new("select count(*) from companies where true");
        push_company_filter(&mut query, filter);
        query.build_query_scalar().fetch_one(pool).await?
    });
    Ok(count)
}

pub async fn tickets_by_ids(
    reader: &Reader,
    ids: &[Uuid],
) -> Result<Vec<Row<ticket::State>>, ProjectionError> {
    by_ids(reader, "tickets", ids).await
}

pub async fn imports_by_ids(
    reader: &Reader,
    ids: &[Uuid],
) -> Result<Vec<Row<import::State>>, ProjectionError> {
    by_ids(reader, "imports", ids).await
}

/// A company's imports, newest first, up to `limit`.
pub async fn imports_of_company(
    reader: &Reader,
    company_id: Uuid,
    limit: i64,
) -> Result<Vec<Row<import::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        sqlx::query_as(
            "select id, state, version, created_at, updated_at from imports \
             where company_id = $1 order by id desc limit $2",
        )
        .bind(company_id)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    decode(rows)
}

/// Narrows a tickets listing; `None` does not filter.
#[derive(Debug, Clone, Default)]
pub struct TicketQuery {
    pub company_id: Option<Uuid>,
    pub status: Option<ticket::Status>,
    pub topic: Option<ticket::Topic>,
    pub requester_id: Option<Uuid>,
    /// Only tickets of these companies (what a signed-in user may see); `None`: any company.
    pub within: Option<Vec<Uuid>>,
}

fn push_ticket_filter<DB: sqlx::Database>(query: &mut QueryBuilder<DB>, filter: &TicketQuery)
where
    for<'q> Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'static str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(within) = &filter.within {
        push_within(query, "company_id", within);
    }
    if let Some(company_id) = filter.company_id {
        query.push(" and company_id = ").push_bind(company_id);
    }
    if let Some(status) = filter.status {
        query.push(" and status = ").push_bind(status.as_str());
    }
    if let Some(topic) = filter.topic {
        query.push(" and topic = ").push_bind(topic.as_str());
    }
    if let Some(requester_id) = filter.requester_id {
        query.push(" and requester_id = ").push_bind(requester_id);
    }
}

/// One page of tickets in id order (ids are time-ordered UUID v7: the order they were opened),
/// after `after`.
pub async fn tickets_page(
    reader: &Reader,
    filter: &TicketQuery,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Row<ticket::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new(format!("{COLUMNS}tickets where true"));
        push_ticket_filter(&mut query, filter);
        if let Some(after) = after {
            query.push(" and id > ").push_bind(after);
        }
        query.push(" order by id limit ").push_bind(limit);
        query.build_query_as().fetch_all(pool).await?
    });
    decode(rows)
}

pub async fn tickets_count(reader: &Reader, filter: &TicketQuery) -> Result<i64, ProjectionError> {
    let count: i64 = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new("select count(*) from tickets where true");
        push_ticket_filter(&mut query, filter);
        query.build_query_scalar().fetch_one(pool).await?
    });
    Ok(count)
}

/// One message of a ticket's conversation.
#[derive(Debug, Clone)]
pub struct TicketMessage {
    pub ticket_id: Uuid,
    /// The ticket stream's version at the event that added it.
    pub version: i64,
    pub recorded_at: DateTime<Utc>,
    pub author: domain::Actor,
    pub body: String,
    pub attachments: Vec<ticket::AttachmentRef>,
}

#[derive(sqlx::FromRow)]
struct TicketMessageRow {
    ticket_id: Uuid,
    version: i64,
    recorded_at: DateTime<Utc>,
    author_kind: String,
    author_id: Option<Uuid>,
    body: String,
    attachments: serde_json::Value,
}

impl TryFrom<TicketMessageRow> for TicketMessage {
    type Error = ProjectionError;

    fn try_from(row: TicketMessageRow) -> Result<Self, ProjectionError> {
        let corrupt = |problem: String| {
            ProjectionError::Corrupt(format!(
                "message {} of ticket {}: {problem}",
                row.version, row.ticket_id
            ))
        };
        let kind = domain::ActorKind::parse(&row.author_kind)
            .ok_or_else(|| corrupt(format!("unknown author kind {:?}", row.author_kind)))?;
        let attachments =
            serde_json::from_value(row.attachments.clone()).map_err(|e| corrupt(e.to_string()))?;
        Ok(TicketMessage {
            ticket_id: row.ticket_id,
            version: row.version,
            recorded_at: row.recorded_at,
            author: domain::Actor { kind, id: row.author_id },
            body: row.body,
            attachments,
        })
    }
}

/// The conversations of these tickets: every message, oldest first within a ticket.
pub async fn ticket_messages(
    reader: &Reader,
    ticket_ids: &[Uuid],
) -> Result<Vec<TicketMessage>, ProjectionError> {
    if ticket_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<TicketMessageRow> = read_with!(reader, |pool| {
        let mut query = QueryBuilder::new(
            "select ticket_id, version, recorded_at, author_kind, author_id, body, attachments \
             from ticket_messages where ticket_id in (",
        );
        let mut separated = query.separated(", ");
        for id in ticket_ids {
            separated.push_bind(*id);
        }
        query.push(") order by ticket_id, version");
        query.build_query_as().fetch_all(pool).await?
    });
    rows.into_iter().map(TicketMessage::try_from).collect()
}
