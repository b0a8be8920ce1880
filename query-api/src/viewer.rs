//! Who is asking, and what they may see. The operator sees everything. A signed-in user sees
//! their own companies (their company and those under it) and nothing of any other: another
//! company's ids answer like ids that do not exist, and lists leave its rows out. Within their
//! companies, VIEW on USERS shows users, roles, groups, every ticket and the audit trail;
//! without it, a user sees themselves and their own tickets only.

use std::collections::HashSet;

use async_graphql::Context;
use domain::Level;
use uuid::Uuid;

/// Who sent the request, as the transport authenticated it.
#[derive(Debug, Clone)]
pub enum Viewer {
    Operator,
    User {
        user_id: Uuid,
        company_id: Uuid,
        /// The user's effective level on USERS (the admin flag counts as FULL).
        users_level: Level,
        /// Their company and every company under it.
        companies: HashSet<Uuid>,
    },
}

impl Viewer {
    pub fn of<'a>(context: &'a Context<'_>) -> &'a Viewer {
        // Requests come through the transport, which always sets one; without it, nothing.
        context.data_opt::<Viewer>().unwrap_or(&NOBODY)
    }

    pub fn is_operator(&self) -> bool {
        matches!(self, Viewer::Operator)
    }

    pub fn sees_company(&self, company_id: Uuid) -> bool {
        match self {
            Viewer::Operator => true,
            Viewer::User { companies, .. } => companies.contains(&company_id),
        }
    }

    /// Users, roles, groups and every ticket of `company_id`.
    pub fn sees_people_of(&self, company_id: Uuid) -> bool {
        match self {
            Viewer::Operator => true,
            Viewer::User { users_level, .. } => *users_level >= Level::View && self.sees_company(company_id),
        }
    }

    /// One user: themselves, or someone of a company whose people they see.
    pub fn sees_user(&self, user_id: Uuid, company_id: Option<Uuid>) -> bool {
        match self {
            Viewer::Operator => true,
            Viewer::User { user_id: me, .. } if *me == user_id => true,
            Viewer::User { .. } => company_id.is_some_and(|company| self.sees_people_of(company)),
        }
    }

    /// The companies a listing may show: `None` for all (the operator).
    pub fn within(&self) -> Option<Vec<Uuid>> {
        match self {
            Viewer::Operator => None,
            Viewer::User { companies, .. } => Some(companies.iter().copied().collect()),
        }
    }

    /// The only user a listing may show, for a user who sees nobody else.
    pub fn only_self(&self) -> Option<Uuid> {
        match self {
            Viewer::User { user_id, users_level, .. } if *users_level < Level::View => Some(*user_id),
            _ => None,
        }
    }
}

/// A viewer who sees nothing: a user of no company.
static NOBODY: std::sync::LazyLock<Viewer> = std::sync::LazyLock::new(|| Viewer::User {
    user_id: Uuid::nil(),
    company_id: Uuid::nil(),
    users_level: Level::None,
    companies: HashSet::new(),
});
