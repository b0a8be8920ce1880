//! Modules of the portal and the access levels a role or user has on them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
