//! The read models: one table each, rows upserted in batches inside the projector's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::{company, group, import, role, ticket, user};
use eventlog::RecordedEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::ProjectionError;
use crate::fold::{Folded, StoredRow, fold, ids_of};
use crate::runtime::Transaction;

/// Rows per upsert statement: 13 parameters each stays far below both backends' limits.
const ROWS_PER_STATEMENT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadModel {
    Companies,
    Roles,
    Users,
    Groups,
    Tickets,
    Imports,
}

impl ReadModel {
    pub const ALL: [ReadModel; 6] = [
        ReadModel::Companies,
        ReadModel::Roles,
        ReadModel::Users,
        ReadModel::Groups,
        ReadModel::Tickets,
        ReadModel::Imports,
    ];

    /// The projector's name: its checkpoint row and its table.
    pub fn name(self) -> &'static str {
        match self {
            ReadModel::Companies => "companies",
            ReadModel::Roles => "roles",
            ReadModel::Users => "users",
            ReadModel::Groups => "groups",
            ReadModel::Tickets => "tickets",
            ReadModel::Imports => "imports",
        }
    }

    /// The categories of the streams whose events the model folds (it reads no others).
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            ReadModel::Companies => &[company::CATEGORY],
            ReadModel::Roles => &[role::CATEGORY],
            ReadModel::Users => &[user::CATEGORY],
            ReadModel::Groups => &[group::CATEGORY],
            ReadModel::Tickets => &[ticket::CATEGORY],
            ReadModel::Imports => &[import::CATEGORY],
        }
    }

    /// Tables the model owns besides the one named after it.
    fn extra_tables(self) -> &'static [&'static str] {
        match self {
            ReadModel::Companies => &["company_license_history"],
            ReadModel::Tickets => &["ticket_messages"],
            _ => &[],
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|model| model.name() == name)
    }

    /// A stable number for this model's Postgres advisory lock.
    pub(crate) fn lock_key(self) -> i64 {
        0x706f_7274_0000 + self as i64
    }

    pub(crate) async fn apply(
        self,
        transaction: &mut Transaction,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        match self {
            ReadModel::Companies => {
                let mut history = Vec::new();
                let mut observe =
                    |event: &RecordedEvent, payload: &company::Event, state: &company::State| {
                        if let Some(entry) = LicenseEntry::of(event, payload, state) {
                            history.push(entry);
                        }
                    };
                let rows = folded(
                    transaction,
                    events,
                    company::CATEGORY,
                    "companies",
                    company::evolve,
                    &mut observe,
                )
                .await?;
                upsert_companies(transaction, &rows).await?;
                insert_license_history(transaction, &history).await
            }
            ReadModel::Roles => {
                let rows =
                    folded(transaction, events, role::CATEGORY, "roles", role::evolve, &mut |_, _, _| {})
                        .await?;
                upsert_roles(transaction, &rows).await
            }
            ReadModel::Users => {
                let rows =
                    folded(transaction, events, user::CATEGORY, "users", user::evolve, &mut |_, _, _| {})
                        .await?;
                upsert_users(transaction, &rows).await
            }
            ReadModel::Groups => {
                let rows =
                    folded(transaction, events, group::CATEGORY, "groups", group::evolve, &mut |_, _, _| {})
                        .await?;
                upsert_groups(transaction, &rows).await
            }
            ReadModel::Tickets => {
                let mut messages = Vec::new();
                let mut observe = |event: &RecordedEvent, payload: &ticket::Event, _: &ticket::State| {
                    if let Some(message) = MessageRow::of(event, payload) {
                        messages.push(message);
                    }
                };
                let rows =
                    folded(transaction, events, ticket::CATEGORY, "tickets", ticket::evolve, &mut observe)
                        .await?;
                upsert_tickets(transaction, &rows).await?;
                insert_ticket_messages(transaction, &messages).await
            }
            ReadModel::Imports => {
                let rows = folded(
                    transaction,
                    events,
                    import::CATEGORY,
                    "imports",
                    import::evolve,
                    &mut |_, _, _| {},
                )
                .await?;
                upsert_imports(transaction, &rows).await
            }
        }
    }

    pub(crate) async fn clear(self, transaction: &mut Transaction) -> Result<(), ProjectionError> {
        let table = self.name();
        crate::with_transaction!(transaction, |connection| {
            for table in std::iter::once(&table).chain(self.extra_tables()) {
                sqlx::query(sqlx::AssertSqlSafe(format!("delete from {table}")))
                    .execute(&mut **connection)
                    .await?;
            }
            sqlx::query("delete from projection_checkpoints where name = $1")
                .bind(table)
                .execute(&mut **connection)
                .await?;
        });
        Ok(())
    }
}

/// Loads the stored rows of the aggregates these events touch and folds the events into them.
async fn folded<S, E>(
    transaction: &mut Transaction,
    events: &[RecordedEvent],
    category: &str,
    table: &str,
    evolve: fn(S, &E) -> S,
    observe: &mut (dyn FnMut(&RecordedEvent, &E, &S) + Send),
) -> Result<Vec<Folded<S>>, ProjectionError>
where
    S: Default + Clone + Serialize + DeserializeOwned,
    E: domain::EventPayload,
{
    let ids = ids_of(events, category);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let stored: Vec<StoredRow> = crate::with_transaction!(transaction, |connection| {
        let mut query = QueryBuilder::new(format!(
            "select id, state, version, created_at, updated_at from {table} where id in ("
        ));
        let mut separated = query.separated(", ");
        for id in &ids {
            separated.push_bind(*id);
        }
        query.push(")");
        query.build_query_as().fetch_all(&mut **connection).await?
    });
    let rows: HashMap<Uuid, Folded<S>> =
        stored.into_iter().map(|row| row.into_folded().map(|f| (f.id, f))).collect::<Result<_, _>>()?;
    fold(rows, events, category, evolve, observe)
}

fn json<S: Serialize>(state: &S) -> serde_json::Value {
    serde_json::to_value(state).unwrap_or_default()
}

async fn upsert_companies(
    transaction: &mut Transaction,
    rows: &[Folded<company::State>],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    for rows in rows.chunks(ROWS_PER_STATEMENT) {
        crate::with_transaction!(transaction, |connection| {
            let mut query = QueryBuilder::new(
                "insert into companies (id, name, main_phone, parent_id, license_limit, state, version, created_at, \
             updated_at) ",
            );
            query.push_values(rows, |mut values, row| {
                values
                    .push_bind(row.id)
                    .push_bind(row.state.name.clone())
                    .push_bind(row.state.main_phone.clone())
                    .push_bind(row.state.parent_company_id)
                    .push_bind(row.state.license_limit.map(i64::from))
                    .push_bind(json(&row.state))
                    .push_bind(row.version)
                    .push_bind(row.created_at)
                    .push_bind(row.updated_at);
            });
            query.push(
                " on conflict (id) do update set name = excluded.name, main_phone = excluded.main_phone, \
             parent_id = excluded.parent_id, license_limit = excluded.license_limit, state = excluded.state, \
             version = excluded.version, updated_at = excluded.updated_at",
            );
            query.build().execute(&mut **connection).await?;
        });
    }
    Ok(())
}

async fn upsert_roles(
    transaction: &mut Transaction,
    rows: &[Folded<role::State>],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    for rows in rows.chunks(ROWS_PER_STATEMENT) {
        crate::with_transaction!(transaction, |connection| {
            let mut query = QueryBuilder::new(
                "insert into roles (id, company_id, name, is_default, deleted, state, version, created_at, updated_at) ",
            );
            query.push_values(rows, |mut values, row| {
                values
                    .push_bind(row.id)
                    .push_bind(row.state.company_id.unwrap_or_default())
                    .push_bind(row.state.name.clone())
                    .push_bind(row.state.is_default)
                    .push_bind(row.state.deleted)
                    .push_bind(json(&row.state))
                    .push_bind(row.version)
                    .push_bind(row.created_at)
                    .push_bind(row.updated_at);
            });
            query.push(
                " on conflict (id) do update set company_id = excluded.company_id, name = excluded.name, \
             is_default = excluded.is_default, deleted = excluded.deleted, state = excluded.state, \
             version = excluded.version, updated_at = excluded.updated_at",
            );
            query.build().execute(&mut **connection).await?;
        });
    }
    Ok(())
}

/// What free-text search looks in: username, names, email, phone and extension, lower-cased.
fn search_text(state: &user::State) -> String {
    let phone = state.get(user::Field::Phone).unwrap_or_default();
    let extension = state.get(user::Field::Extension).unwrap_or_default();
    format!("{} {} {} {} {phone} {extension}", state.username, state.first_name, state.last_name, state.email)
        .to_lowercase()
}

async fn upsert_users(
    transaction: &mut Transaction,
    rows: &[Folded<user::State>],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    for rows in rows.chunks(ROWS_PER_STATEMENT) {
        crate::with_transaction!(transaction, |connection| {
            let mut query = QueryBuilder::new(
                "insert into users (id, company_id, username, role_id, group_id, approved, disapproved, suspended, \
             suspended_until, deactivated, deleted, activated, locked_until, search, state, version, created_at, \
             updated_at) ",
            );
            query.push_values(rows, |mut values, row| {
                values
                    .push_bind(row.id)
                    .push_bind(row.state.company_id.unwrap_or_default())
                    .push_bind(row.state.username.clone())
                    .push_bind(row.state.role_id)
                    .push_bind(row.state.group_id)
                    .push_bind(row.state.approved)
                    .push_bind(row.state.disapproved)
                    .push_bind(row.state.suspended)
                    .push_bind(row.state.suspended_until)
                    .push_bind(row.state.deactivated)
                    .push_bind(row.state.deleted)
                    .push_bind(row.state.activated)
                    .push_bind(row.state.locked_until)
                    .push_bind(search_text(&row.state))
                    .push_bind(json(&row.state))
                    .push_bind(row.version)
                    .push_bind(row.created_at)
                    .push_bind(row.updated_at);
            });
            query.push(
            " on conflict (id) do update set company_id = excluded.company_id, username = excluded.username, \
             role_id = excluded.role_id, group_id = excluded.group_id, approved = excluded.approved, \
             disapproved = excluded.disapproved, suspended = excluded.suspended, \
             suspended_until = excluded.suspended_until, deactivated = excluded.deactivated, \
             deleted = excluded.deleted, activated = excluded.activated, locked_until = excluded.locked_until, \
             search = excluded.search, \
             state = excluded.state, version = excluded.version, updated_at = excluded.updated_at",
        );
            query.build().execute(&mut **connection).await?;
        });
    }
    Ok(())
}

async fn upsert_groups(
    transaction: &mut Transaction,
    rows: &[Folded<group::State>],
) -> Result<(), ProjectionError> {
    for rows in rows.chunks(ROWS_PER_STATEMENT) {
        crate::with_transaction!(transaction, |connection| {
            let mut query = QueryBuilder::new(
                "insert into groups (id, company_id, name, is_main, deleted, role_id, member_count, state, version, \
                 created_at, updated_at) ",
            );
            query.push_values(rows, |mut values, row| {
                values
                    .push_bind(row.id)
                    .push_bind(row.state.company_id.unwrap_or_default())
                    .push_bind(row.state.name.clone())
                    .push_bind(row.state.is_main)
                    .push_bind(row.state.deleted)
                    .push_bind(row.state.role_id)
                    .push_bind(i64::try_from(row.state.members.len()).unwrap_or(i64::MAX))
                    .push_bind(json(&row.state))
                    .push_bind(row.version)
                    .push_bind(row.created_at)
                    .push_bind(row.updated_at);
            });
            query.push(
                " on conflict (id) do update set company_id = excluded.company_id, name = excluded.name, \
                 is_main = excluded.is_main, deleted = excluded.deleted, role_id = excluded.role_id, \
                 member_count = excluded.member_count, state = excluded.state, version = excluded.version, \
                 updated_at = excluded.updated_at",
            );
            query.build().execute(&mut **connection).await?;
        });
    }
    Ok(())
}

/// One point of a company's seat-count history.
struct LicenseEntry {
    company_id: Uuid,
    version: i64,
    recorded_at: DateTime<Utc>,
    used: u32,
    limit: Option<u32>,
    event_type: &'static str,
}

impl LicenseEntry {
    /// The history point an event makes, if it changes seats or the limit.
    fn of(event: &RecordedEvent, payload: &company::Event, state: &company::State) -> Option<Self> {
        use company::Event::*;
        if !matches!(
            payload,
            CompanyRegistered { .. }
                | LicenseLimitSet { .. }
                | LicenseSeatTaken { .. }
                | LicenseSeatReleased { .. }
        ) {
            return None;
        }
        let (_, company_id) = domain::parse_stream_id(&event.stream_id)?;
        Some(LicenseEntry {
            company_id,
            version: event.version,
            recorded_at: event.metadata.recorded_at,
            used: state.licenses_used,
            limit: state.license_limit,
            event_type: payload.type_name(),
        })
    }
}

async fn insert_license_history(
    transaction: &mut Transaction,
    entries: &[LicenseEntry],
) -> Result<(), ProjectionError> {
    for entries in entries.chunks(ROWS_PER_STATEMENT) {
        crate::with_transaction!(transaction, |connection| {
            let mut query = QueryBuilder::new(
                "insert into company_license_history (company_id, version, recorded_at, used, license_limit, event_type) ",
            );
            query.push_values(entries, |mut values, entry| {
                values
                    .push_bind(entry.company_id)
                    .push_bind(entry.version)
                    .push_bind(entry.recorded_at)
                    .push_bind(i64::from(entry.used))
                    .push_bind(entry.limit.map(i64::from))
                    .push_bind(entry.event_type);
            });
            // A batch replayed after a crash writes the same rows again.
            query.push(" on conflict (company_id, version) do nothing");
            query.build().execute(&mut **connection).await?;
        });
    }
    Ok(())
}

async fn upsert_tickets(
    transaction: &mut Transaction,
    rows: &[Folded<ticket::State>],
) -> Result<(), ProjectionError> {
    for rows in rows.chunks(ROWS_PER_STATEMENT) {
        crate::with_transaction!(transaction, |connection| {
            let mut query = QueryBuilder::new(
                "insert into tickets (id, company_id, requester_id, topic, status, comment_count, closed_at, state, \
                 version, created_at, updated_at) ",
            );
            query.push_values(rows, |mut values, row| {
                // A closed ticket takes no event after the one that closed it.
                let closed_at = row.state.closed.then_some(row.updated_at);
                values
                    .push_bind(row.id)
                    .push_bind(row.state.company_id.unwrap_or_default())
                    .push_bind(row.state.requester_id)
                    .push_bind(row.state.topic.as_str())
                    .push_bind(row.state.status().as_str())
                    .push_bind(i64::from(row.state.comment_count))
                    .push_bind(closed_at)
                    .push_bind(json(&row.state))
                    .push_bind(row.version)
                    .push_bind(row.created_at)
                    .push_bind(row.updated_at);
            });
            query.push(
                " on conflict (id) do update set company_id = excluded.company_id, \
                 requester_id = excluded.requester_id, topic = excluded.topic, status = excluded.status, \
                 comment_count = excluded.comment_count, closed_at = excluded.closed_at, state = excluded.state, \
                 version = excluded.version, updated_at = excluded.updated_at",
            );
            query.build().execute(&mut **connection).await?;
        });
    }
    Ok(())
}

async fn upsert_imports(
    transaction: &mut Transaction,
    rows: &[Folded<import::State>],
) -> Result<(), ProjectionError> {
    // A row holds every result of its import (up to 5,000): a few per statement.
    for rows in rows.chunks(50) {
        crate::with_transaction!(transaction, |connection| {
            let mut query = QueryBuilder::new(
                "insert into imports (id, company_id, status, state, version, created_at, updated_at) ",
            );
            query.push_values(rows, |mut values, row| {
                values
                    .push_bind(row.id)
                    .push_bind(row.state.company_id.unwrap_or_default())
                    .push_bind(row.state.status().as_str())
                    .push_bind(json(&row.state))
                    .push_bind(row.version)
                    .push_bind(row.created_at)
                    .push_bind(row.updated_at);
            });
            query.push(
                " on conflict (id) do update set company_id = excluded.company_id, status = excluded.status, \
                 state = excluded.state, version = excluded.version, updated_at = excluded.updated_at",
            );
            query.build().execute(&mut **connection).await?;
        });
    }
    Ok(())
}

/// One message of a ticket's conversation: the opening message or a comment, with its author
/// and time from the event's metadata.
struct MessageRow {
    ticket_id: Uuid,
    version: i64,
    recorded_at: DateTime<Utc>,
    author: domain::Actor,
    body: String,
    attachments: serde_json::Value,
}

impl MessageRow {
    fn of(event: &RecordedEvent, payload: &ticket::Event) -> Option<Self> {
        let (body, attachments) = payload.message()?;
        let (_, ticket_id) = domain::parse_stream_id(&event.stream_id)?;
        Some(MessageRow {
            ticket_id,
            version: event.version,
            recorded_at: event.metadata.recorded_at,
            author: event.metadata.actor.clone(),
            body: body.to_owned(),
            attachments: serde_json::to_value(attachments).unwrap_or_default(),
        })
    }
}

async fn insert_ticket_messages(
    transaction: &mut Transaction,
    messages: &[MessageRow],
) -> Result<(), ProjectionError> {
    for messages in messages.chunks(ROWS_PER_STATEMENT) {
        crate::with_transaction!(transaction, |connection| {
            let mut query = QueryBuilder::new(
                "insert into ticket_messages (ticket_id, version, recorded_at, author_kind, author_id, body, \
                 attachments) ",
            );
            query.push_values(messages, |mut values, message| {
                values
                    .push_bind(message.ticket_id)
                    .push_bind(message.version)
                    .push_bind(message.recorded_at)
                    .push_bind(message.author.kind.as_str())
                    .push_bind(message.author.id)
                    .push_bind(message.body.clone())
                    .push_bind(message.attachments.clone());
            });
            // A batch replayed after a crash writes the same rows again.
            query.push(" on conflict (ticket_id, version) do nothing");
            query.build().execute(&mut **connection).await?;
        });
    }
    Ok(())
}
