//! Queries over the read models, for the query API. The only SQL that reads these tables.

use chrono::{DateTime, Utc};
use domain::{company, role, user};
use eventlog::{Database, with_reader};
use serde::de::DeserializeOwned;
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::ProjectionError;
use crate::fold::StoredRow;

pub use crate::fold::Folded as Row;

const COLUMNS: &str = "select id, state, version, created_at, updated_at from ";

fn decode<S: DeserializeOwned>(rows: Vec<StoredRow>) -> Result<Vec<Row<S>>, ProjectionError> {
    rows.into_iter().map(StoredRow::into_folded).collect()
}

/// Rows of `table` with the given ids, in no particular order.
async fn by_ids<S: DeserializeOwned>(
    database: &Database,
    table: &str,
    ids: &[Uuid],
) -> Result<Vec<Row<S>>, ProjectionError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<StoredRow> = with_reader!(database, |pool| {
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

pub async fn users_by_ids(
    database: &Database,
    ids: &[Uuid],
) -> Result<Vec<Row<user::State>>, ProjectionError> {
    by_ids(database, "users", ids).await
}

pub async fn roles_by_ids(
    database: &Database,
    ids: &[Uuid],
) -> Result<Vec<Row<role::State>>, ProjectionError> {
    by_ids(database, "roles", ids).await
}

pub async fn companies_by_ids(
    database: &Database,
    ids: &[Uuid],
) -> Result<Vec<Row<company::State>>, ProjectionError> {
    by_ids(database, "companies", ids).await
}

/// The roles of a company that are not deleted, by name.
pub async fn roles_of_company(
    database: &Database,
    company_id: Uuid,
) -> Result<Vec<Row<role::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = with_reader!(database, |pool| {
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
    database: &Database,
    company_id: Uuid,
) -> Result<Vec<Row<company::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = with_reader!(database, |pool| {
        sqlx::query_as(
            "select id, state, version, created_at, updated_at from companies where parent_id = $1 order by name, id",
        )
        .bind(company_id)
        .fetch_all(pool)
        .await?
    });
    decode(rows)
}

/// Users of a company that count against its licences: every one not deleted.
pub async fn licenses_used(database: &Database, company_id: Uuid) -> Result<i64, ProjectionError> {
    let used: i64 = with_reader!(database, |pool| {
        sqlx::query_scalar("select count(*) from users where company_id = $1 and deleted = $2")
            .bind(company_id)
            .bind(false)
            .fetch_one(pool)
            .await?
    });
    Ok(used)
}

/// Narrows a users listing; `None` does not filter.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub company_id: Option<Uuid>,
    pub approved: Option<bool>,
    /// Suspended now: a suspension whose end has passed does not count.
    pub suspended: Option<bool>,
    pub role_id: Option<Uuid>,
    /// Case-insensitive substring of username, first and last name, or email.
    pub search: Option<String>,
    pub include_deleted: bool,
}

fn push_user_filter<DB: sqlx::Database>(query: &mut QueryBuilder<DB>, filter: &UserQuery, now: DateTime<Utc>)
where
    for<'q> Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(company_id) = filter.company_id {
        query.push(" and company_id = ").push_bind(company_id);
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
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let escaped = search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        query.push(" and search like ").push_bind(format!("%{escaped}%")).push(" escape '\\'");
    }
    if !filter.include_deleted {
        query.push(" and deleted = ").push_bind(false);
    }
}

/// One page of users in id order (ids are time-ordered UUID v7), after `after`.
pub async fn users_page(
    database: &Database,
    filter: &UserQuery,
    after: Option<Uuid>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Row<user::State>>, ProjectionError> {
    let rows: Vec<StoredRow> = with_reader!(database, |pool| {
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
    database: &Database,
    filter: &UserQuery,
    now: DateTime<Utc>,
) -> Result<i64, ProjectionError> {
    let count: i64 = with_reader!(database, |pool| {
        let mut query = QueryBuilder::new("select count(*) from users where true");
        push_user_filter(&mut query, filter, now);
        query.build_query_scalar().fetch_one(pool).await?
    });
    Ok(count)
}
