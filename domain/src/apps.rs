//! The portal's apps and the app launcher (TeleGo's home-page menu): every app is listed; it
//! is `available` when the company has it enabled and the user's effective permissions open
//! its module, and `comingSoon` when the company does not have it yet.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::permissions::{Effective, Level, Module};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum App {
    CallLogs,
    Analytics,
    Billing,
    /// Users and roles: for administrators.
    Settings,
    AccountSettings,
    CallFlows,
    CallMonitoring,
    CallRecordings,
    Integrations,
    LiveReports,
    NoAnswerSettings,
    PlansAndNumbers,
    Queues,
    Sms,
}

impl App {
    /// Every app, in the launcher's order.
    pub const ALL: [App; 14] = [
        App::CallLogs,
        App::Analytics,
        App::Billing,
        App::Settings,
        App::AccountSettings,
        App::CallFlows,
        App::CallMonitoring,
        App::CallRecordings,
        App::Integrations,
        App::LiveReports,
        App::NoAnswerSettings,
        App::PlansAndNumbers,
        App::Queues,
        App::Sms,
    ];

    pub fn title(self) -> &'static str {
        match self {
            App::CallLogs => "Call Logs",
            App::Analytics => "Analytics",
            App::Billing => "Billing",
            App::Settings => "Settings",
            App::AccountSettings => "Account Settings",
            App::CallFlows => "Call Flows",
            App::CallMonitoring => "Call Monitoring",
            App::CallRecordings => "Call Recordings",
            App::Integrations => "Integrations",
            App::LiveReports => "Live Reports",
            App::NoAnswerSettings => "No Answer Settings",
            App::PlansAndNumbers => "Plans & Numbers",
            App::Queues => "Queues",
            App::Sms => "SMS",
        }
    }

    /// The permission module that opens the app, and the level it needs.
    pub fn needs(self) -> (Module, Level) {
        match self {
            App::CallLogs => (Module::CallLogs, Level::View),
            App::Analytics => (Module::Analytics, Level::View),
            App::Billing => (Module::Billing, Level::View),
            // Managing users and roles is for administrators: editing users, not only seeing them.
            App::Settings => (Module::Users, Level::Edit),
            App::AccountSettings => (Module::AccountSettings, Level::View),
            App::CallFlows => (Module::CallFlows, Level::View),
            App::CallMonitoring => (Module::CallMonitoring, Level::View),
            App::CallRecordings => (Module::CallRecordings, Level::View),
            App::Integrations => (Module::Integrations, Level::View),
            App::LiveReports => (Module::LiveReports, Level::View),
            App::NoAnswerSettings => (Module::NoAnswerSettings, Level::View),
            App::PlansAndNumbers => (Module::PlansAndNumbers, Level::View),
            App::Queues => (Module::Queues, Level::View),
            App::Sms => (Module::Sms, Level::View),
        }
    }
}

/// One app of the launcher, for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuEntry {
    pub app: App,
    pub available: bool,
    pub coming_soon: bool,
}

/// The launcher for a user: `enabled` are the company's apps (`None`: every app), `effective`
/// the user's effective permissions, `admin` the user's admin flag (opens Settings).
pub fn menu(enabled: Option<&BTreeSet<App>>, effective: &[Effective], admin: bool) -> Vec<MenuEntry> {
    App::ALL
        .iter()
        .map(|app| {
            let coming_soon = enabled.is_some_and(|enabled| !enabled.contains(app));
            let (module, needed) = app.needs();
            let level = effective.iter().find(|e| e.module == module).map_or(Level::None, |e| e.level);
            let permitted = level >= needed || (admin && *app == App::Settings);
            MenuEntry { app: *app, available: !coming_soon && permitted, coming_soon }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::{PermissionSet, effective};

    fn entry(menu: &[MenuEntry], app: App) -> (bool, bool) {
        let entry = menu.iter().find(|e| e.app == app).expect("every app is listed");
        (entry.available, entry.coming_soon)
    }

    #[test]
    fn an_app_is_available_when_enabled_and_permitted() {
        let role: PermissionSet =
            [(Module::CallLogs, Level::View), (Module::Users, Level::View), (Module::Billing, Level::Full)]
                .into();
        let enabled: BTreeSet<App> = [App::CallLogs, App::Settings, App::Analytics].into();
        let menu = menu(Some(&enabled), &effective(&role, None, &PermissionSet::new()), false);
        assert_eq!(menu.len(), App::ALL.len());
        assert_eq!(entry(&menu, App::CallLogs), (true, false));
        assert_eq!(entry(&menu, App::Analytics), (false, false), "enabled, but no permission");
        assert_eq!(entry(&menu, App::Settings), (false, false), "seeing users is not managing them");
        assert_eq!(entry(&menu, App::Billing), (false, true), "permitted, but not enabled yet");
    }

    #[test]
    fn every_app_is_enabled_by_default_and_admins_get_settings() {
        let menu = menu(None, &effective(&PermissionSet::new(), None, &PermissionSet::new()), true);
        assert!(menu.iter().all(|e| !e.coming_soon));
        assert_eq!(entry(&menu, App::Settings), (true, false));
        assert_eq!(entry(&menu, App::Sms), (false, false));
    }
}
