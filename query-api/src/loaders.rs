//! DataLoaders: a page of users asks for its roles and companies in one query each.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use domain::{company, group, role};
use eventlog::Database;
use projections::ProjectionError;
use projections::read::Row;
use uuid::Uuid;

pub struct RoleLoader(pub Database);
pub struct CompanyLoader(pub Database);
pub struct GroupLoader(pub Database);

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
