//! User self-service: settings, and TeleMessage's change of mobile number (with its claims).

use serde_json::{Value, json};

use super::*;
use crate::phone::PHONE_RULE;
use crate::user::{MAX_SETTINGS, PreviousMobile, PreviousNumber};

// --- settings --------------------------------------------------------------------------------

type Settings = BTreeMap<String, Option<Value>>;

fn settings<const N: usize>(entries: [(&str, Option<Value>); N]) -> Settings {
    entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
}

/// `s00`, `s01`, … set to their number.
fn numbered(range: impl Iterator<Item = usize>) -> Settings {
    range.map(|n| (format!("s{n:02}"), Some(json!(n)))).collect()
}

fn update_settings(manual_filtering: Option<bool>, settings: Settings) -> user::Command {
    user::Command::UpdateSettings(user::SettingsChanges { manual_filtering, settings })
}

fn settings_updated(manual_filtering: Option<bool>, settings: Settings) -> user::Event {
    user::Event::UserSettingsUpdated { manual_filtering, settings }
}

/// The field a problem with setting `key` is named by.
fn setting(key: &str) -> &'static str {
    format!("settings.{key}").leak()
}

const KEY_RULE: &str = "a setting's name is 1 to 64 letters, digits, '_', '-' or '.'";
const VALUE_RULE: &str = "must be a boolean, a number, a string or null (to remove it)";

fn too_many_settings() -> DomainError {
    rule_with("too_many_settings", "a user keeps at most 50 settings", json!({ "limit": 50 }))
}

#[test]
fn user_settings() {
    let with_50 = || vec![alice_created(), settings_updated(None, numbered(0..MAX_SETTINGS))];
    let cases = vec![
        Case {
            name: "settings and manual filtering are recorded",
            given: vec![alice_created()],
            when: update_settings(
                Some(true),
                settings([
                    ("theme", Some(json!("dark"))),
                    ("pageSize", Some(json!(25))),
                    ("compact", Some(json!(true))),
                ]),
            ),
            then: Then::Events(vec![settings_updated(
                Some(true),
                settings([
                    ("theme", Some(json!("dark"))),
                    ("pageSize", Some(json!(25))),
                    ("compact", Some(json!(true))),
                ]),
            )]),
        },
        Case {
            name: "manual filtering alone",
            given: vec![alice_created()],
            when: update_settings(Some(true), Settings::new()),
            then: Then::Events(vec![settings_updated(Some(true), Settings::new())]),
        },
        Case {
            name: "manual filtering turned off again",
            given: vec![alice_created(), settings_updated(Some(true), Settings::new())],
            when: update_settings(Some(false), Settings::new()),
            then: Then::Events(vec![settings_updated(Some(false), Settings::new())]),
        },
        Case {
            name: "a fractional number and a negative one are values",
            given: vec![alice_created()],
            when: update_settings(None, settings([("zoom", Some(json!(1.25))), ("offset", Some(json!(-3)))])),
            then: Then::Events(vec![settings_updated(
                None,
                settings([("zoom", Some(json!(1.25))), ("offset", Some(json!(-3)))]),
            )]),
        },
        Case {
            name: "an unchanged manual filtering is left out, the settings recorded",
            given: vec![alice_created(), settings_updated(Some(true), Settings::new())],
            when: update_settings(Some(true), settings([("theme", Some(json!("dark")))])),
            then: Then::Events(vec![settings_updated(None, settings([("theme", Some(json!("dark")))]))]),
        },
        Case {
            name: "only the settings whose value changes are recorded",
            given: vec![
                alice_created(),
                settings_updated(
                    None,
                    settings([("theme", Some(json!("dark"))), ("pageSize", Some(json!(25)))]),
                ),
            ],
            when: update_settings(
                None,
                settings([
                    ("theme", Some(json!("dark"))),
                    ("pageSize", Some(json!(50))),
                    ("lang", Some(json!("en"))),
                ]),
            ),
            then: Then::Events(vec![settings_updated(
                None,
                settings([("pageSize", Some(json!(50))), ("lang", Some(json!("en")))]),
            )]),
        },
        Case {
            name: "a value of another type is a change",
            given: vec![alice_created(), settings_updated(None, settings([("pageSize", Some(json!(25)))]))],
            when: update_settings(None, settings([("pageSize", Some(json!("25")))])),
            then: Then::Events(vec![settings_updated(None, settings([("pageSize", Some(json!("25")))]))]),
        },
        Case {
            name: "null removes a setting",
            given: vec![alice_created(), settings_updated(None, settings([("theme", Some(json!("dark")))]))],
            when: update_settings(None, settings([("theme", None)])),
            then: Then::Events(vec![settings_updated(None, settings([("theme", None)]))]),
        },
        Case {
            name: "removing a setting the user does not have is left out",
            given: vec![alice_created(), settings_updated(None, settings([("theme", Some(json!("dark")))]))],
            when: update_settings(None, settings([("lang", None), ("theme", None)])),
            then: Then::Events(vec![settings_updated(None, settings([("theme", None)]))]),
        },
        Case {
            name: "removing a setting the user does not have is a no-op",
            given: vec![alice_created()],
            when: update_settings(None, settings([("theme", None)])),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a removed setting can be removed again only as a no-op",
            given: vec![
                alice_created(),
                settings_updated(None, settings([("theme", Some(json!("dark")))])),
                settings_updated(None, settings([("theme", None)])),
            ],
            when: update_settings(None, settings([("theme", None)])),
            then: Then::Events(vec![]),
        },
        Case {
            name: "the same settings and manual filtering again are a no-op",
            given: vec![
                alice_created(),
                settings_updated(
                    Some(true),
                    settings([("theme", Some(json!("dark"))), ("pageSize", Some(json!(25)))]),
                ),
            ],
            when: update_settings(
                Some(true),
                settings([("theme", Some(json!("dark"))), ("pageSize", Some(json!(25)))]),
            ),
            then: Then::Events(vec![]),
        },
        Case {
            name: "manual filtering off on a new user is a no-op",
            given: vec![alice_created()],
            when: update_settings(Some(false), Settings::new()),
            then: Then::Events(vec![]),
        },
        Case {
            name: "no changes at all are a no-op",
            given: vec![alice_created()],
            when: user::Command::UpdateSettings(user::SettingsChanges::default()),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a name of letters, digits, '_', '-' and '.' of up to 64 characters is fine",
            given: vec![alice_created()],
            when: update_settings(
                None,
                settings([("analytics.call-logs_v2", Some(json!(true))), (&"k".repeat(64), Some(json!(1)))]),
            ),
            then: Then::Events(vec![settings_updated(
                None,
                settings([("analytics.call-logs_v2", Some(json!(true))), (&"k".repeat(64), Some(json!(1)))]),
            )]),
        },
        Case {
            name: "invalid names are each named under settings., in key order",
            given: vec![alice_created()],
            when: update_settings(
                None,
                settings([
                    ("", Some(json!(1))),
                    ("bad key", Some(json!(1))),
                    (&"k".repeat(65), Some(json!(1))),
                    ("thème", Some(json!(1))),
                    ("a/b", None),
                    ("fine", Some(json!(1))),
                ]),
            ),
            then: Then::Problems(vec![
                (setting(""), KEY_RULE),
                (setting("a/b"), KEY_RULE),
                (setting("bad key"), KEY_RULE),
                (setting(&"k".repeat(65)), KEY_RULE),
                (setting("thème"), KEY_RULE),
            ]),
        },
        Case {
            name: "an invalid name is named once, its value not checked",
            given: vec![alice_created()],
            when: update_settings(None, settings([("bad key", Some(json!({ "a": 1 })))])),
            then: Then::Problems(vec![(setting("bad key"), KEY_RULE)]),
        },
        Case {
            name: "objects and arrays are refused",
            given: vec![alice_created()],
            when: update_settings(
                None,
                settings([
                    ("filters", Some(json!({ "status": "ACTIVE" }))),
                    ("columns", Some(json!(["name", "email"]))),
                    ("empty", Some(json!([]))),
                ]),
            ),
            then: Then::Problems(vec![
                (setting("columns"), VALUE_RULE),
                (setting("empty"), VALUE_RULE),
                (setting("filters"), VALUE_RULE),
            ]),
        },
        Case {
            name: "a text of 1000 characters is fine, multi-byte ones counted as one",
            given: vec![alice_created()],
            when: update_settings(
                None,
                settings([
                    ("note", Some(json!("n".repeat(1000)))),
                    ("accents", Some(json!("é".repeat(1000)))),
                ]),
            ),
            then: Then::Events(vec![settings_updated(
                None,
                settings([
                    ("note", Some(json!("n".repeat(1000)))),
                    ("accents", Some(json!("é".repeat(1000)))),
                ]),
            )]),
        },
        Case {
            name: "a text of 1001 characters is refused",
            given: vec![alice_created()],
            when: update_settings(None, settings([("note", Some(json!("n".repeat(1001))))])),
            then: Then::Problems(vec![(setting("note"), "must be at most 1000 characters")]),
        },
        Case {
            name: "an invalid setting refuses the valid changes with it",
            given: vec![alice_created()],
            when: update_settings(
                Some(true),
                settings([("theme", Some(json!("dark"))), ("columns", Some(json!(["name"])))]),
            ),
            then: Then::Invalid(vec!["settings.columns"]),
        },
        Case {
            name: "an invalid value is refused even when the key already holds something else",
            given: vec![
                alice_created(),
                settings_updated(None, settings([("columns", Some(json!("name")))])),
            ],
            when: update_settings(None, settings([("columns", Some(json!(["name"])))])),
            then: Then::Invalid(vec!["settings.columns"]),
        },
        Case {
            name: "the 50th setting is fine",
            given: vec![alice_created(), settings_updated(None, numbered(0..MAX_SETTINGS - 1))],
            when: update_settings(None, numbered(MAX_SETTINGS - 1..MAX_SETTINGS)),
            then: Then::Events(vec![settings_updated(None, numbered(MAX_SETTINGS - 1..MAX_SETTINGS))]),
        },
        Case {
            name: "50 settings at once are fine",
            given: vec![alice_created()],
            when: update_settings(None, numbered(0..MAX_SETTINGS)),
            then: Then::Events(vec![settings_updated(None, numbered(0..MAX_SETTINGS))]),
        },
        Case {
            name: "a 51st setting is refused, with the limit",
            given: with_50(),
            when: update_settings(None, settings([("theme", Some(json!("dark")))])),
            then: Then::Error(too_many_settings()),
        },
        Case {
            name: "51 settings at once are refused",
            given: vec![alice_created()],
            when: update_settings(None, numbered(0..=MAX_SETTINGS)),
            then: Then::Error(too_many_settings()),
        },
        Case {
            name: "at the limit, changing a setting's value is fine",
            given: with_50(),
            when: update_settings(None, settings([("s07", Some(json!("seven")))])),
            then: Then::Events(vec![settings_updated(None, settings([("s07", Some(json!("seven")))]))]),
        },
        Case {
            name: "at the limit, removing one setting makes room for another in the same command",
            given: with_50(),
            when: update_settings(None, settings([("s07", None), ("theme", Some(json!("dark")))])),
            then: Then::Events(vec![settings_updated(
                None,
                settings([("s07", None), ("theme", Some(json!("dark")))]),
            )]),
        },
        Case {
            name: "at the limit, removing a setting the user does not have makes no room",
            given: with_50(),
            when: update_settings(None, settings([("lang", None), ("theme", Some(json!("dark")))])),
            then: Then::Error(too_many_settings()),
        },
        Case {
            name: "at the limit, manual filtering is not a setting",
            given: with_50(),
            when: update_settings(Some(true), Settings::new()),
            then: Then::Events(vec![settings_updated(Some(true), Settings::new())]),
        },
        Case {
            name: "an invalid name is reported before the limit",
            given: with_50(),
            when: update_settings(None, settings([("bad key", Some(json!(1)))])),
            then: Then::Invalid(vec!["settings.bad key"]),
        },
        Case {
            name: "a deleted user refuses settings",
            given: vec![alice_created(), user::Event::UserDeleted {}],
            when: update_settings(Some(true), settings([("theme", Some(json!("dark")))])),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses settings, even invalid ones or none",
            given: vec![alice_created(), user::Event::UserDeleted {}],
            when: update_settings(None, settings([("bad key", Some(json!([])))])),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user refuses settings",
            given: vec![],
            when: update_settings(Some(true), Settings::new()),
            then: Then::Error(rule("not_found", "the user does not exist")),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_settings_state() {
    let cases = vec![
        StateCase {
            name: "a new user has no settings",
            given: vec![alice_created()],
            then: (false, json!({})),
        },
        StateCase {
            name: "settings are set, changed and removed; manual filtering kept when absent",
            given: vec![
                alice_created(),
                settings_updated(
                    Some(true),
                    settings([
                        ("theme", Some(json!("dark"))),
                        ("pageSize", Some(json!(25))),
                        ("lang", Some(json!("en"))),
                    ]),
                ),
                settings_updated(None, settings([("pageSize", Some(json!(50))), ("theme", None)])),
            ],
            then: (true, json!({ "pageSize": 50, "lang": "en" })),
        },
        StateCase {
            name: "manual filtering turned off keeps the settings",
            given: vec![
                alice_created(),
                settings_updated(Some(true), settings([("theme", Some(json!("dark")))])),
                settings_updated(Some(false), Settings::new()),
            ],
            then: (false, json!({ "theme": "dark" })),
        },
    ];
    check_states(cases, user::evolve, |state: &user::State| {
        (state.manual_filtering, serde_json::to_value(&state.settings).expect("settings are JSON"))
    });
}

// --- mobile ----------------------------------------------------------------------------------

const UK_MOBILE: &str = "+447911123456";
const UK_MOBILE_2: &str = "+447911123457";
const US_MOBILE: &str = "+14155550177";
const US_MOBILE_2: &str = "+14155550178";

fn change_mobile(mobile: &str, previous: PreviousNumber) -> user::Command {
    user::Command::ChangeMobile { mobile: mobile.to_owned(), previous }
}

fn mobile_changed(mobile: &str, previous: Option<&str>, previous_status: PreviousNumber) -> user::Event {
    user::Event::MobileNumberChanged {
        mobile: mobile.to_owned(),
        previous: previous.map(str::to_owned),
        previous_status,
    }
}

/// Alice created with `mobile`.
fn alice_with_mobile(mobile: &str) -> user::Event {
    created().field(Field::Mobile, mobile).event()
}

fn number_suspended() -> DomainError {
    rule("number_suspended", "this number is one of the user's suspended numbers; it cannot come back")
}

#[test]
fn user_change_mobile() {
    use PreviousNumber::{Removed, Suspended};

    let cases = vec![
        Case {
            name: "a first mobile has no previous number",
            given: vec![alice_created()],
            when: change_mobile(UK_MOBILE, Suspended),
            then: Then::Events(vec![mobile_changed(UK_MOBILE, None, Suspended)]),
        },
        Case {
            name: "a first mobile records the fate asked for, though there is no previous number",
            given: vec![alice_created()],
            when: change_mobile(UK_MOBILE, Removed),
            then: Then::Events(vec![mobile_changed(UK_MOBILE, None, Removed)]),
        },
        Case {
            name: "a UK mobile typed with spaces becomes E.164",
            given: vec![alice_created()],
            when: change_mobile("+44 7911 123456", Suspended),
            then: Then::Events(vec![mobile_changed(UK_MOBILE, None, Suspended)]),
        },
        Case {
            name: "a number without '+', with punctuation and blanks around it, becomes E.164",
            given: vec![alice_created()],
            when: change_mobile(" 1 (415) 555-0177 ", Suspended),
            then: Then::Events(vec![mobile_changed(US_MOBILE, None, Suspended)]),
        },
        Case {
            name: "a new number suspends the previous one",
            given: vec![alice_with_mobile(UK_MOBILE)],
            when: change_mobile(US_MOBILE, Suspended),
            then: Then::Events(vec![mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended)]),
        },
        Case {
            name: "a new number removes the previous one",
            given: vec![alice_with_mobile(UK_MOBILE)],
            when: change_mobile(US_MOBILE, Removed),
            then: Then::Events(vec![mobile_changed(US_MOBILE, Some(UK_MOBILE), Removed)]),
        },
        Case {
            name: "the previous number is the one set by the last change",
            given: vec![alice_with_mobile(UK_MOBILE), mobile_changed(US_MOBILE, Some(UK_MOBILE), Removed)],
            when: change_mobile(US_MOBILE_2, Suspended),
            then: Then::Events(vec![mobile_changed(US_MOBILE_2, Some(US_MOBILE), Suspended)]),
        },
        Case {
            name: "the previous number is the one set by a profile update",
            given: vec![alice_created(), profile_updated().set(Field::Mobile, UK_MOBILE).event()],
            when: change_mobile(US_MOBILE, Removed),
            then: Then::Events(vec![mobile_changed(US_MOBILE, Some(UK_MOBILE), Removed)]),
        },
        Case {
            name: "after the mobile was cleared, the new number has no previous one",
            given: vec![alice_with_mobile(UK_MOBILE), profile_updated().clear(Field::Mobile).event()],
            when: change_mobile(US_MOBILE, Suspended),
            then: Then::Events(vec![mobile_changed(US_MOBILE, None, Suspended)]),
        },
        Case {
            name: "the same number is a no-op",
            given: vec![alice_with_mobile(UK_MOBILE)],
            when: change_mobile(UK_MOBILE, Removed),
            then: Then::Events(vec![]),
        },
        Case {
            name: "the same number typed differently is a no-op",
            given: vec![alice_with_mobile(UK_MOBILE)],
            when: change_mobile("+44 7911 123456", Suspended),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a suspended previous number cannot come back",
            given: vec![alice_with_mobile(UK_MOBILE), mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended)],
            when: change_mobile("+44 7911 123456", Removed),
            then: Then::Error(number_suspended()),
        },
        Case {
            name: "a number suspended two changes ago still cannot come back",
            given: vec![
                alice_with_mobile(UK_MOBILE),
                mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended),
                mobile_changed(US_MOBILE_2, Some(US_MOBILE), Removed),
            ],
            when: change_mobile(UK_MOBILE, Suspended),
            then: Then::Error(number_suspended()),
        },
        Case {
            name: "a removed previous number may come back",
            given: vec![alice_with_mobile(UK_MOBILE), mobile_changed(US_MOBILE, Some(UK_MOBILE), Removed)],
            when: change_mobile(UK_MOBILE, Suspended),
            then: Then::Events(vec![mobile_changed(UK_MOBILE, Some(US_MOBILE), Suspended)]),
        },
        Case {
            name: "a number removed after the suspended one may come back",
            given: vec![
                alice_with_mobile(UK_MOBILE),
                mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended),
                mobile_changed(US_MOBILE_2, Some(US_MOBILE), Removed),
            ],
            when: change_mobile(US_MOBILE, Removed),
            then: Then::Events(vec![mobile_changed(US_MOBILE, Some(US_MOBILE_2), Removed)]),
        },
        Case {
            name: "an invalid number is named mobile",
            given: vec![alice_with_mobile(UK_MOBILE)],
            when: change_mobile("07911 123456", Removed),
            then: Then::Problems(vec![("mobile", PHONE_RULE)]),
        },
        Case {
            name: "a blank number is invalid",
            given: vec![alice_with_mobile(UK_MOBILE)],
            when: change_mobile("  ", Removed),
            then: Then::Problems(vec![("mobile", PHONE_RULE)]),
        },
        Case {
            name: "letters are invalid",
            given: vec![alice_created()],
            when: change_mobile("+1415CALLNOW", Suspended),
            then: Then::Invalid(vec!["mobile"]),
        },
        Case {
            name: "an invalid number is reported before a suspended one would be",
            given: vec![alice_with_mobile(UK_MOBILE), mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended)],
            when: change_mobile("+999 1234567", Suspended),
            then: Then::Invalid(vec!["mobile"]),
        },
        Case {
            name: "a deleted user refuses a new mobile",
            given: vec![alice_with_mobile(UK_MOBILE), user::Event::UserDeleted {}],
            when: change_mobile(US_MOBILE, Removed),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses a new mobile, even the same or an invalid one",
            given: vec![alice_with_mobile(UK_MOBILE), user::Event::UserDeleted {}],
            when: change_mobile("not a number", Removed),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user refuses a new mobile",
            given: vec![],
            when: change_mobile(US_MOBILE, Removed),
            then: Then::Error(rule("not_found", "the user does not exist")),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_previous_mobiles() {
    use PreviousNumber::{Removed, Suspended};

    let previous = |number: &str, status| PreviousMobile { number: number.to_owned(), status };
    let cases = vec![
        StateCase {
            name: "a user created with a mobile has no previous numbers",
            given: vec![alice_with_mobile(UK_MOBILE)],
            then: (Some(UK_MOBILE.to_owned()), vec![]),
        },
        StateCase {
            name: "a first mobile adds no previous number",
            given: vec![alice_created(), mobile_changed(UK_MOBILE, None, Removed)],
            then: (Some(UK_MOBILE.to_owned()), vec![]),
        },
        StateCase {
            name: "every change keeps the previous number with its fate, oldest first",
            given: vec![
                alice_with_mobile(UK_MOBILE),
                mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended),
                mobile_changed(US_MOBILE_2, Some(US_MOBILE), Removed),
                mobile_changed(UK_MOBILE_2, Some(US_MOBILE_2), Suspended),
            ],
            then: (
                Some(UK_MOBILE_2.to_owned()),
                vec![
                    previous(UK_MOBILE, Suspended),
                    previous(US_MOBILE, Removed),
                    previous(US_MOBILE_2, Suspended),
                ],
            ),
        },
        StateCase {
            name: "a removed number that comes back and goes again is listed twice",
            given: vec![
                alice_with_mobile(UK_MOBILE),
                mobile_changed(US_MOBILE, Some(UK_MOBILE), Removed),
                mobile_changed(UK_MOBILE, Some(US_MOBILE), Removed),
                mobile_changed(US_MOBILE_2, Some(UK_MOBILE), Suspended),
            ],
            then: (
                Some(US_MOBILE_2.to_owned()),
                vec![
                    previous(UK_MOBILE, Removed),
                    previous(US_MOBILE, Removed),
                    previous(UK_MOBILE, Suspended),
                ],
            ),
        },
        StateCase {
            name: "a profile update changes the mobile without keeping the old one",
            given: vec![
                alice_with_mobile(UK_MOBILE),
                profile_updated().set(Field::Mobile, US_MOBILE).event(),
            ],
            then: (Some(US_MOBILE.to_owned()), vec![]),
        },
        StateCase {
            name: "clearing the mobile keeps the previous numbers",
            given: vec![
                alice_with_mobile(UK_MOBILE),
                mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended),
                profile_updated().clear(Field::Mobile).event(),
            ],
            then: (None, vec![previous(UK_MOBILE, Suspended)]),
        },
    ];
    check_states(cases, user::evolve, |state: &user::State| {
        (state.get(Field::Mobile).map(str::to_owned), state.previous_mobiles.clone())
    });
}

#[test]
fn user_mobile_claims() {
    use PreviousNumber::{Removed, Suspended};
    use user::Event::UserDeleted;

    let acquire = |number: &str| ClaimChange::Acquire(format!("mobile:{number}"));
    let release = |number: &str| ClaimChange::Release(format!("mobile:{number}"));
    let email = ClaimChange::Release("email:alice@example.com".to_owned());
    let extension = ClaimChange::Release(format!("extension:{ACME}:101"));
    let cases = vec![
        ClaimCase {
            name: "creation with a mobile claims it, after username, email and extension",
            given: vec![],
            event: alice_with_mobile(UK_MOBILE),
            then: vec![
                ClaimChange::Acquire("username:alice".to_owned()),
                ClaimChange::Acquire("email:alice@example.com".to_owned()),
                ClaimChange::Acquire(format!("extension:{ACME}:101")),
                acquire(UK_MOBILE),
            ],
        },
        ClaimCase {
            name: "a first mobile is only claimed",
            given: vec![alice_created()],
            event: mobile_changed(UK_MOBILE, None, Suspended),
            then: vec![acquire(UK_MOBILE)],
        },
        ClaimCase {
            name: "a first mobile 'removing' no previous number frees nothing",
            given: vec![alice_created()],
            event: mobile_changed(UK_MOBILE, None, Removed),
            then: vec![acquire(UK_MOBILE)],
        },
        ClaimCase {
            name: "a suspended previous number stays claimed",
            given: vec![alice_with_mobile(UK_MOBILE)],
            event: mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended),
            then: vec![acquire(US_MOBILE)],
        },
        ClaimCase {
            name: "a removed previous number is freed",
            given: vec![alice_with_mobile(UK_MOBILE)],
            event: mobile_changed(US_MOBILE, Some(UK_MOBILE), Removed),
            then: vec![release(UK_MOBILE), acquire(US_MOBILE)],
        },
        ClaimCase {
            name: "a removed number that comes back is claimed again",
            given: vec![alice_with_mobile(UK_MOBILE), mobile_changed(US_MOBILE, Some(UK_MOBILE), Removed)],
            event: mobile_changed(UK_MOBILE, Some(US_MOBILE), Removed),
            then: vec![release(US_MOBILE), acquire(UK_MOBILE)],
        },
        ClaimCase {
            name: "a profile update's new mobile frees the old one and claims the new one",
            given: vec![alice_with_mobile(UK_MOBILE)],
            event: profile_updated().set(Field::Mobile, US_MOBILE).event(),
            then: vec![release(UK_MOBILE), acquire(US_MOBILE)],
        },
        ClaimCase {
            name: "a profile update's first mobile is only claimed",
            given: vec![alice_created()],
            event: profile_updated().set(Field::Mobile, US_MOBILE).event(),
            then: vec![acquire(US_MOBILE)],
        },
        ClaimCase {
            name: "a profile update frees the mobile set by the last change",
            given: vec![alice_with_mobile(UK_MOBILE), mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended)],
            event: profile_updated().set(Field::Mobile, US_MOBILE_2).event(),
            then: vec![release(US_MOBILE), acquire(US_MOBILE_2)],
        },
        ClaimCase {
            name: "a cleared mobile is freed",
            given: vec![alice_with_mobile(UK_MOBILE)],
            event: profile_updated().clear(Field::Mobile).event(),
            then: vec![release(UK_MOBILE)],
        },
        ClaimCase {
            name: "mobile, email and extension changed together: mobile first",
            given: vec![alice_with_mobile(UK_MOBILE)],
            event: profile_updated()
                .email("a@acme.example")
                .extension(Some("202"))
                .set(Field::Mobile, US_MOBILE)
                .event(),
            then: vec![
                release(UK_MOBILE),
                acquire(US_MOBILE),
                ClaimChange::Release("email:alice@example.com".to_owned()),
                ClaimChange::Acquire("email:a@acme.example".to_owned()),
                ClaimChange::Release(format!("extension:{ACME}:101")),
                ClaimChange::Acquire(format!("extension:{ACME}:202")),
            ],
        },
        ClaimCase {
            name: "a profile update that leaves the mobile alone claims nothing for it",
            given: vec![alice_with_mobile(UK_MOBILE)],
            event: profile_updated().first_name("Alicia").set(Field::OfficePhone, US_MOBILE).event(),
            then: vec![],
        },
        ClaimCase {
            name: "deletion frees the current mobile, then email and extension",
            given: vec![alice_with_mobile(UK_MOBILE)],
            event: UserDeleted {},
            then: vec![
                release(UK_MOBILE),
                email.clone(),
                extension.clone(),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "deletion frees the current mobile and every suspended one, not the removed ones",
            given: vec![
                alice_with_mobile(UK_MOBILE),
                mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended),
                mobile_changed(US_MOBILE_2, Some(US_MOBILE), Removed),
                mobile_changed(UK_MOBILE_2, Some(US_MOBILE_2), Suspended),
            ],
            event: UserDeleted {},
            then: vec![
                release(UK_MOBILE_2),
                release(UK_MOBILE),
                release(US_MOBILE_2),
                email.clone(),
                extension.clone(),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "deletion after the mobile was cleared frees the suspended numbers still held",
            given: vec![
                alice_with_mobile(UK_MOBILE),
                mobile_changed(US_MOBILE, Some(UK_MOBILE), Suspended),
                profile_updated().clear(Field::Mobile).event(),
            ],
            event: UserDeleted {},
            then: vec![
                release(UK_MOBILE),
                email.clone(),
                extension.clone(),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "deletion of a user who never had a mobile frees none",
            given: vec![alice_created()],
            event: UserDeleted {},
            then: vec![email, extension, ClaimChange::Release(user::username_claim("alice"))],
        },
        ClaimCase {
            name: "a settings update claims nothing",
            given: vec![alice_with_mobile(UK_MOBILE)],
            event: settings_updated(Some(true), settings([("theme", Some(json!("dark")))])),
            then: vec![],
        },
    ];
    check_claims(cases, user::Event::claims, user::evolve);
}
