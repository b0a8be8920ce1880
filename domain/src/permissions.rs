//! Modules of the portal and the access levels a role or user has on them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Module {
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

impl Module {
    pub const ALL: [Module; 14] = [
        Module::AccountSettings,
        Module::Analytics,
        Module::Billing,
        Module::CallFlows,
        Module::CallLogs,
        Module::CallMonitoring,
        Module::CallRecordings,
        Module::Integrations,
        Module::LiveReports,
        Module::NoAnswerSettings,
        Module::PlansAndNumbers,
        Module::Queues,
        Module::Sms,
        Module::Users,
    ];
}

/// Access levels, ordered: `NONE < VIEW < EDIT < FULL`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    None,
    View,
    Edit,
    Full,
}

/// The level granted per module; a module that is absent has no grant.
pub type PermissionSet = BTreeMap<Module, Level>;

pub fn full_access() -> PermissionSet {
    Module::ALL.iter().map(|module| (*module, Level::Full)).collect()
}

/// Where a user's level on a module comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Source {
    /// The user's own role.
    Role,
    /// The role the user's group carries.
    Group,
    /// A grant made to the user directly.
    Direct,
}

/// A user's level on one module and every source that gives exactly that level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub module: Module,
    pub level: Level,
    /// Empty when nothing grants the module (the level is then `NONE`).
    pub sources: Vec<Source>,
}

/// The effective level per module: the highest of the role's, the group role's and the direct
/// grants, for every module in [`Module::ALL`] order.
pub fn effective(
    role: &PermissionSet,
    group: Option<&PermissionSet>,
    direct: &PermissionSet,
) -> Vec<Effective> {
    let sources = [(Source::Role, Some(role)), (Source::Group, group), (Source::Direct, Some(direct))];
    Module::ALL
        .iter()
        .map(|module| {
            let granted: Vec<(Source, Level)> = sources
                .iter()
                .filter_map(|(source, set)| Some((*source, *set.as_ref()?.get(module)?)))
                .collect();
            let level = granted.iter().map(|(_, level)| *level).max().unwrap_or(Level::None);
            let sources = if level == Level::None {
                Vec::new()
            } else {
                granted.iter().filter(|(_, l)| *l == level).map(|(source, _)| *source).collect()
            };
            Effective { module: *module, level, sources }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_grant_wins_and_names_every_source_that_gives_it() {
        let role: PermissionSet = [(Module::CallLogs, Level::View), (Module::Billing, Level::Edit)].into();
        let group: PermissionSet = [(Module::CallLogs, Level::Edit), (Module::Billing, Level::Edit)].into();
        let direct: PermissionSet = [(Module::Sms, Level::Full), (Module::Billing, Level::View)].into();
        let effective = effective(&role, Some(&group), &direct);
        let of = |module| effective.iter().find(|e| e.module == module).expect("every module is listed");

        assert_eq!(effective.len(), Module::ALL.len());
        assert_eq!(of(Module::CallLogs).level, Level::Edit);
        assert_eq!(of(Module::CallLogs).sources, [Source::Group]);
        assert_eq!(of(Module::Billing).level, Level::Edit);
        assert_eq!(of(Module::Billing).sources, [Source::Role, Source::Group]);
        assert_eq!(of(Module::Sms).level, Level::Full);
        assert_eq!(of(Module::Sms).sources, [Source::Direct]);
        assert_eq!(of(Module::Queues).level, Level::None);
        assert!(of(Module::Queues).sources.is_empty());
    }

    #[test]
    fn without_a_group_role_only_the_role_and_direct_grants_count() {
        let role: PermissionSet = [(Module::Users, Level::Full)].into();
        let direct: PermissionSet = [(Module::Users, Level::None)].into();
        let effective = effective(&role, None, &direct);
        let users = effective.iter().find(|e| e.module == Module::Users).expect("listed");
        assert_eq!((users.level, users.sources.as_slice()), (Level::Full, &[Source::Role][..]));
    }
}
