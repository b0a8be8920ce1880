//! DataLoaders: a page of users asks for its roles and companies in one query each, and a
//! page of tickets for its companies, requesters and conversations. They are made for each
//! request, on that request's [`Reader`]: what one viewer loads is never batched with, or
//! read under the row security of, another's.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use domain::{company, group, role, user};
use projections::ProjectionError;
use projections::read::{Reader, Row, TicketMessage};
use uuid::Uuid;

pub struct RoleLoader(pub Reader);
pub struct CompanyLoader(pub Reader);
pub struct GroupLoader(pub Reader);
pub struct UserLoader(pub Reader);
/// The conversation of each ticket, oldest message first.
pub struct TicketMessagesLoader(pub Reader);

impl Loader<Uuid> for RoleLoader {
    type Value = Arc<Row<role::State>>;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = projections::read::roles_by_ids(&self.0, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (row.id, Arc::new(row))).collect())
    }
}

impl Loader<Uuid> for CompanyLoader {
    type Value = Arc<Row<company::State>>;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = projections::read::companies_by_ids(&self.0, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (row.id, Arc::new(row))).collect())
    }
}

impl Loader<Uuid> for GroupLoader {
    type Value = Arc<Row<group::State>>;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = projections::read::groups_by_ids(&self.0, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (row.id, Arc::new(row))).collect())
    }
}

impl Loader<Uuid> for UserLoader {
    type Value = Arc<Row<user::State>>;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = projections::read::users_by_ids(&self.0, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (row.id, Arc::new(row))).collect())
    }
}

impl Loader<Uuid> for TicketMessagesLoader {
    type Value = Arc<Vec<TicketMessage>>;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let messages = projections::read::ticket_messages(&self.0, keys).await.map_err(Arc::new)?;
        let mut conversations: HashMap<Uuid, Vec<TicketMessage>> = HashMap::new();
        for message in messages {
            conversations.entry(message.ticket_id).or_default().push(message);
        }
        Ok(conversations.into_iter().map(|(id, messages)| (id, Arc::new(messages))).collect())
    }
}
