//! Given/when/then tests for the aggregates, written as data.
//!
//! Every case is: given prior events (folded with `evolve` from `State::default()`), when a
//! command is decided with a fixed [`Context`], then exactly these events, exactly this
//! error, or (for validation) exactly these invalid fields, in order. [`check`] runs a table
//! and reports every failing case by name.

use std::collections::BTreeSet;
use std::fmt::Debug;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::permissions::{Level, Module, PermissionSet};
use crate::{Actor, ClaimChange, Context, DomainError, EventPayload, company, role, user};

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

/// What a case expects of `decide`.
enum Then<E> {
    /// Exactly these events; an empty list is a no-op.
    Events(Vec<E>),
    /// Exactly this error.
    Error(DomainError),
    /// `DomainError::Invalid` naming exactly these fields, in this order.
    Invalid(Vec<&'static str>),
}

struct Case<C, E> {
    name: &'static str,
    given: Vec<E>,
    when: C,
    then: Then<E>,
}

/// The instant every case is decided at.
fn now() -> DateTime<Utc> {
    "2025-06-01T12:00:00Z".parse().expect("a fixed, valid instant")
}

fn days(n: i64) -> DateTime<Utc> {
    now() + TimeDelta::days(n)
}

fn context() -> Context {
    Context { actor: Actor::operator(), now: now() }
}

/// Runs every case; fails once at the end, naming each failing case with what it got.
fn check<S: Default, C, E: PartialEq + Debug>(
    cases: Vec<Case<C, E>>,
    decide: fn(&S, C, &Context) -> Result<Vec<E>, DomainError>,
    evolve: fn(S, &E) -> S,
) {
    assert!(!cases.is_empty(), "an empty table checks nothing");
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    let total = cases.len();
    for case in cases {
        assert!(names.insert(case.name), "two cases are named {:?}", case.name);
        let state = case.given.iter().fold(S::default(), evolve);
        let outcome = decide(&state, case.when, &context());
        let passed = match (&case.then, &outcome) {
            (Then::Events(expected), Ok(actual)) => expected == actual,
            (Then::Error(expected), Err(actual)) => expected == actual,
            (Then::Invalid(expected), Err(DomainError::Invalid(errors))) => {
                errors.iter().map(|e| e.field.as_str()).eq(expected.iter().copied())
            }
            _ => false,
        };
        if !passed {
            let expected = match &case.then {
                Then::Events(events) => format!("Ok({events:?})"),
                Then::Error(error) => format!("Err({error:?})"),
                Then::Invalid(fields) => format!("Err(Invalid) naming {fields:?}"),
            };
            failures.push(format!("- {}\n    expected: {expected}\n    got:      {outcome:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// Like [`Case`], for `Event::claims(&before)`: before = `given` folded, then `event`.
struct ClaimCase<E> {
    name: &'static str,
    given: Vec<E>,
    event: E,
    then: Vec<ClaimChange>,
}

fn check_claims<S: Default, E>(
    cases: Vec<ClaimCase<E>>,
    claims: fn(&E, &S) -> Vec<ClaimChange>,
    evolve: fn(S, &E) -> S,
) {
    assert!(!cases.is_empty(), "an empty table checks nothing");
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    let total = cases.len();
    for case in cases {
        assert!(names.insert(case.name), "two cases are named {:?}", case.name);
        let before = case.given.iter().fold(S::default(), evolve);
        let actual = claims(&case.event, &before);
        if actual != case.then {
            failures
                .push(format!("- {}\n    expected: {:?}\n    got:      {actual:?}", case.name, case.then));
        }
    }
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// `to_data` then `from_stored` gives the event back, under its own type name.
fn check_round_trip<E: EventPayload + PartialEq + Debug>(samples: &[E]) {
    let mut failures = Vec::new();
    for event in samples {
        let data = event.to_data();
        if !data.is_object() {
            failures.push(format!("- {event:?} is stored as {data}, not an object"));
            continue;
        }
        match E::from_stored(event.event_type(), &data) {
            Ok(back) if back == *event => {}
            other => failures.push(format!("- {event:?}\n    stored as {data}\n    read back as {other:?}")),
        }
    }
    assert!(failures.is_empty(), "round trips failed:\n{}", failures.join("\n"));
}

fn rule(code: &'static str, message: &str) -> DomainError {
    DomainError::rule(code, message)
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const ACME: Uuid = Uuid::from_u128(0xACE);
const GLOBEX: Uuid = Uuid::from_u128(0x610BE);
const RESELLER: Uuid = Uuid::from_u128(0x5E11);
const ACME_ADMIN_ROLE: Uuid = Uuid::from_u128(0xACE_0001);
const ACME_USER_ROLE: Uuid = Uuid::from_u128(0xACE_0002);
const ACME_SALES_ROLE: Uuid = Uuid::from_u128(0xACE_0003);
const GLOBEX_USER_ROLE: Uuid = Uuid::from_u128(0x610B_E002);
const UNKNOWN: Uuid = Uuid::from_u128(0xDEAD);

fn company_registered(name: &str, user_role_id: Uuid) -> company::Event {
    company::Event::CompanyRegistered {
        name: name.to_owned(),
        main_phone: "+14155550100".to_owned(),
        parent_company_id: None,
        license_limit: None,
        administrator_role_id: Uuid::from_u128(user_role_id.as_u128() - 1),
        user_role_id,
    }
}

fn acme() -> company::State {
    company::evolve(company::State::default(), &company_registered("Acme", ACME_USER_ROLE))
}

fn role_created(company_id: Uuid, name: &str, is_default: bool) -> role::Event {
    role::Event::RoleCreated {
        company_id,
        name: name.to_owned(),
        description: String::new(),
        is_default,
        permissions: PermissionSet::from([(Module::CallLogs, Level::View)]),
    }
}

fn role_state(events: &[role::Event]) -> role::State {
    events.iter().fold(role::State::default(), role::evolve)
}

fn sales_role() -> role::State {
    role_state(&[role_created(ACME, "Sales", false)])
}

// --- company ---------------------------------------------------------------------------------

fn register() -> company::Register {
    company::Register {
        company_id: ACME,
        name: "Acme".to_owned(),
        main_phone: "+14155550100".to_owned(),
        parent: None,
        license_limit: None,
        administrator_role_id: ACME_ADMIN_ROLE,
        user_role_id: ACME_USER_ROLE,
    }
}

fn acme_registered() -> company::Event {
    company::Event::CompanyRegistered {
        name: "Acme".to_owned(),
        main_phone: "+14155550100".to_owned(),
        parent_company_id: None,
        license_limit: None,
        administrator_role_id: ACME_ADMIN_ROLE,
        user_role_id: ACME_USER_ROLE,
    }
}

// --- role ------------------------------------------------------------------------------------

fn create_role(name: &str, description: &str, is_default: bool) -> role::Command {
    role::Command::Create {
        company_id: ACME,
        company: acme(),
        name: name.to_owned(),
        description: description.to_owned(),
        permissions: PermissionSet::from([(Module::CallLogs, Level::View)]),
        is_default,
    }
}

fn rename(name: &str) -> role::Command {
    role::Command::Update { name: Some(name.to_owned()), description: None }
}

fn describe(description: &str) -> role::Command {
    role::Command::Update { name: None, description: Some(description.to_owned()) }
}

fn role_updated(name: Option<&str>, description: Option<&str>) -> role::Event {
    role::Event::RoleUpdated { name: name.map(str::to_owned), description: description.map(str::to_owned) }
}

// --- user ------------------------------------------------------------------------------------

/// A valid `Create` for alice at Acme with no role given; cases change what they test.
fn create() -> user::Create {
    user::Create {
        company_id: ACME,
        company: acme(),
        username: "alice".to_owned(),
        email: "alice@example.com".to_owned(),
        first_name: "Alice".to_owned(),
        last_name: "Smith".to_owned(),
        phone: Some("+14155550123".to_owned()),
        extension: Some("101".to_owned()),
        role: None,
        approved: false,
    }
}

fn create_user(create: user::Create) -> user::Command {
    user::Command::Create(Box::new(create))
}

/// What [`create`] decides to.
fn alice_created() -> user::Event {
    user::Event::UserCreated {
        company_id: ACME,
        username: "alice".to_owned(),
        email: "alice@example.com".to_owned(),
        first_name: "Alice".to_owned(),
        last_name: "Smith".to_owned(),
        phone: Some("+14155550123".to_owned()),
        extension: Some("101".to_owned()),
        role_id: Some(ACME_USER_ROLE),
        approved: false,
    }
}

/// Alice without phone or extension.
fn bare_alice_created() -> user::Event {
    match alice_created() {
        user::Event::UserCreated {
            company_id,
            username,
            email,
            first_name,
            last_name,
            role_id,
            approved,
            ..
        } => user::Event::UserCreated {
            company_id,
            username,
            email,
            first_name,
            last_name,
            phone: None,
            extension: None,
            role_id,
            approved,
        },
        other => other,
    }
}

fn suspend(until: Option<DateTime<Utc>>, reason: Option<&str>) -> user::Command {
    user::Command::Suspend { until, reason: reason.map(str::to_owned) }
}

fn suspended(until: Option<DateTime<Utc>>, reason: Option<&str>) -> user::Event {
    user::Event::UserSuspended { until, reason: reason.map(str::to_owned) }
}

fn update_profile(changes: user::ProfileChanges) -> user::Command {
    user::Command::UpdateProfile(changes)
}

fn profile_updated() -> ProfileUpdated {
    ProfileUpdated::default()
}

/// Builds a `UserProfileUpdated` field by field.
#[derive(Default)]
struct ProfileUpdated {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<Option<String>>,
    extension: Option<Option<String>>,
}

impl ProfileUpdated {
    fn email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }
    fn first_name(mut self, name: &str) -> Self {
        self.first_name = Some(name.to_owned());
        self
    }
    fn last_name(mut self, name: &str) -> Self {
        self.last_name = Some(name.to_owned());
        self
    }
    fn phone(mut self, phone: Option<&str>) -> Self {
        self.phone = Some(phone.map(str::to_owned));
        self
    }
    fn extension(mut self, extension: Option<&str>) -> Self {
        self.extension = Some(extension.map(str::to_owned));
        self
    }
    fn event(self) -> user::Event {
        user::Event::UserProfileUpdated {
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            phone: self.phone,
            extension: self.extension,
        }
    }
    fn changes(self) -> user::ProfileChanges {
        user::ProfileChanges {
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            phone: self.phone,
            extension: self.extension,
        }
    }
}

fn user_deleted() -> DomainError {
    rule("user_deleted", "the user has been deleted")
}

fn already_suspended() -> DomainError {
    rule("already_suspended", "the user is already suspended")
}

fn not_suspended() -> DomainError {
    rule("not_suspended", "the user is not suspended")
}

fn role_deleted() -> DomainError {
    rule("role_deleted", "the role has been deleted")
}

fn role_in_other_company() -> DomainError {
    rule("role_in_other_company", "the role belongs to another company")
}

fn default_role(action: &str) -> DomainError {
    rule("default_role", &format!("a default role cannot be {action}"))
}

// ---------------------------------------------------------------------------------------------
// Company
// ---------------------------------------------------------------------------------------------

#[test]
fn company_register() {
    use company::Command::Register;
    use company::Event::CompanyRegistered;

    let reseller =
        company::evolve(company::State::default(), &company_registered("Reseller", ACME_USER_ROLE));
    let cases = vec![
        Case {
            name: "a top-level company is registered with its two default role ids",
            given: vec![],
            when: Register(register()),
            then: Then::Events(vec![acme_registered()]),
        },
        Case {
            name: "name is trimmed and the main phone normalised",
            given: vec![],
            when: Register(company::Register {
                name: "  Acme  ".to_owned(),
                main_phone: " +1 (415) 555-0100 ".to_owned(),
                ..register()
            }),
            then: Then::Events(vec![acme_registered()]),
        },
        Case {
            name: "a customer of a registered reseller records its parent and licence limit",
            given: vec![],
            when: Register(company::Register {
                parent: Some((RESELLER, reseller.clone())),
                license_limit: Some(25),
                ..register()
            }),
            then: Then::Events(vec![CompanyRegistered {
                name: "Acme".to_owned(),
                main_phone: "+14155550100".to_owned(),
                parent_company_id: Some(RESELLER),
                license_limit: Some(25),
                administrator_role_id: ACME_ADMIN_ROLE,
                user_role_id: ACME_USER_ROLE,
            }]),
        },
        Case {
            name: "a licence limit of 1 is allowed",
            given: vec![],
            when: Register(company::Register { license_limit: Some(1), ..register() }),
            then: Then::Events(vec![CompanyRegistered {
                name: "Acme".to_owned(),
                main_phone: "+14155550100".to_owned(),
                parent_company_id: None,
                license_limit: Some(1),
                administrator_role_id: ACME_ADMIN_ROLE,
                user_role_id: ACME_USER_ROLE,
            }]),
        },
        Case {
            name: "an unknown parent is an unknown parentCompanyId",
            given: vec![],
            when: Register(company::Register {
                parent: Some((UNKNOWN, company::State::default())),
                ..register()
            }),
            then: Then::Error(DomainError::UnknownReference { field: "parentCompanyId", id: UNKNOWN }),
        },
        Case {
            name: "an invalid name, main phone and licence limit are all named",
            given: vec![],
            when: Register(company::Register {
                name: "   ".to_owned(),
                main_phone: "555-0100".to_owned(),
                license_limit: Some(0),
                ..register()
            }),
            then: Then::Invalid(vec!["name", "mainPhone", "licenseLimit"]),
        },
        Case {
            name: "validation comes before the parent lookup",
            given: vec![],
            when: Register(company::Register {
                license_limit: Some(0),
                parent: Some((UNKNOWN, company::State::default())),
                ..register()
            }),
            then: Then::Invalid(vec!["licenseLimit"]),
        },
        Case {
            name: "a name of 201 characters is too long",
            given: vec![],
            when: Register(company::Register { name: "a".repeat(201), ..register() }),
            then: Then::Invalid(vec!["name"]),
        },
        Case {
            name: "a name of 200 characters is allowed",
            given: vec![],
            when: Register(company::Register { name: "a".repeat(200), ..register() }),
            then: Then::Events(vec![CompanyRegistered {
                name: "a".repeat(200),
                main_phone: "+14155550100".to_owned(),
                parent_company_id: None,
                license_limit: None,
                administrator_role_id: ACME_ADMIN_ROLE,
                user_role_id: ACME_USER_ROLE,
            }]),
        },
        Case {
            name: "a name with a control character is invalid",
            given: vec![],
            when: Register(company::Register { name: "Ac\u{7}me".to_owned(), ..register() }),
            then: Then::Invalid(vec!["name"]),
        },
        Case {
            name: "a main phone with a leading zero after + is invalid",
            given: vec![],
            when: Register(company::Register { main_phone: "+04155550100".to_owned(), ..register() }),
            then: Then::Invalid(vec!["mainPhone"]),
        },
        Case {
            name: "a main phone of 7 digits is too short",
            given: vec![],
            when: Register(company::Register { main_phone: "+1415555".to_owned(), ..register() }),
            then: Then::Invalid(vec!["mainPhone"]),
        },
        Case {
            name: "a main phone of 16 digits is too long",
            given: vec![],
            when: Register(company::Register { main_phone: "+1415555010012345".to_owned(), ..register() }),
            then: Then::Invalid(vec!["mainPhone"]),
        },
        Case {
            name: "a main phone with letters is invalid",
            given: vec![],
            when: Register(company::Register { main_phone: "+1415CALLNOW".to_owned(), ..register() }),
            then: Then::Invalid(vec!["mainPhone"]),
        },
        Case {
            name: "a registered company cannot be registered again",
            given: vec![acme_registered()],
            when: Register(register()),
            then: Then::Error(rule("already_registered", "the company is already registered")),
        },
    ];
    check(cases, company::decide, company::evolve);
}

// ---------------------------------------------------------------------------------------------
// Role
// ---------------------------------------------------------------------------------------------

#[test]
fn role_create_and_update() {
    use role::Command::Create;
    use role::Event::RoleCreated;

    let cases = vec![
        Case {
            name: "a role is created with trimmed name and description",
            given: vec![],
            when: create_role("  Sales ", " Sells things ", false),
            then: Then::Events(vec![RoleCreated {
                company_id: ACME,
                name: "Sales".to_owned(),
                description: "Sells things".to_owned(),
                is_default: false,
                permissions: PermissionSet::from([(Module::CallLogs, Level::View)]),
            }]),
        },
        Case {
            name: "a default role is created as default",
            given: vec![],
            when: create_role("User", "", true),
            then: Then::Events(vec![RoleCreated {
                company_id: ACME,
                name: "User".to_owned(),
                description: String::new(),
                is_default: true,
                permissions: PermissionSet::from([(Module::CallLogs, Level::View)]),
            }]),
        },
        Case {
            name: "a role in an unregistered company is an unknown companyId",
            given: vec![],
            when: Create {
                company_id: UNKNOWN,
                company: company::State::default(),
                name: "Sales".to_owned(),
                description: String::new(),
                permissions: PermissionSet::new(),
                is_default: false,
            },
            then: Then::Error(DomainError::UnknownReference { field: "companyId", id: UNKNOWN }),
        },
        Case {
            name: "a blank name and a description over 1000 characters are both named",
            given: vec![],
            when: create_role(" ", &"d".repeat(1001), false),
            then: Then::Invalid(vec!["name", "description"]),
        },
        Case {
            name: "a name over 100 characters is invalid",
            given: vec![],
            when: create_role(&"n".repeat(101), "", false),
            then: Then::Invalid(vec!["name"]),
        },
        Case {
            name: "an existing role cannot be created again",
            given: vec![role_created(ACME, "Sales", false)],
            when: create_role("Sales", "", false),
            then: Then::Error(rule("already_exists", "the role already exists")),
        },
        Case {
            name: "rename and describe in one update",
            given: vec![role_created(ACME, "Sales", false)],
            when: role::Command::Update {
                name: Some(" Field sales ".to_owned()),
                description: Some(" Out and about ".to_owned()),
            },
            then: Then::Events(vec![role_updated(Some("Field sales"), Some("Out and about"))]),
        },
        Case {
            name: "an update carries only what changed",
            given: vec![role_created(ACME, "Sales", false)],
            when: role::Command::Update {
                name: Some("Sales".to_owned()),
                description: Some("Sells things".to_owned()),
            },
            then: Then::Events(vec![role_updated(None, Some("Sells things"))]),
        },
        Case {
            name: "an update that changes nothing is a no-op",
            given: vec![role_created(ACME, "Sales", false), role_updated(None, Some("Sells"))],
            when: role::Command::Update {
                name: Some(" Sales ".to_owned()),
                description: Some("Sells ".to_owned()),
            },
            then: Then::Events(vec![]),
        },
        Case {
            name: "an update with no fields is a no-op",
            given: vec![role_created(ACME, "Sales", false)],
            when: role::Command::Update { name: None, description: None },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a rename to a blank name is invalid",
            given: vec![role_created(ACME, "Sales", false)],
            when: rename("  "),
            then: Then::Invalid(vec!["name"]),
        },
        Case {
            name: "the evolved name is what a later rename compares with",
            given: vec![role_created(ACME, "Sales", false), role_updated(Some("Field sales"), None)],
            when: rename("Sales"),
            then: Then::Events(vec![role_updated(Some("Sales"), None)]),
        },
        Case {
            name: "a default role cannot be renamed",
            given: vec![role_created(ACME, "User", true)],
            when: rename("Staff"),
            then: Then::Error(default_role("renamed")),
        },
        Case {
            name: "a default role cannot be renamed even when its description changes too",
            given: vec![role_created(ACME, "User", true)],
            when: role::Command::Update {
                name: Some("Staff".to_owned()),
                description: Some("All".to_owned()),
            },
            then: Then::Error(default_role("renamed")),
        },
        Case {
            name: "a default role's description can change",
            given: vec![role_created(ACME, "User", true)],
            when: describe("Everyone"),
            then: Then::Events(vec![role_updated(None, Some("Everyone"))]),
        },
        Case {
            name: "a default role given its own name is not renamed",
            given: vec![role_created(ACME, "User", true)],
            when: role::Command::Update {
                name: Some(" User ".to_owned()),
                description: Some("All".to_owned()),
            },
            then: Then::Events(vec![role_updated(None, Some("All"))]),
        },
    ];
    check(cases, role::decide, role::evolve);
}

#[test]
fn role_delete_grant_revoke() {
    use role::Command::{Delete, Grant, Revoke};
    use role::Event::{RoleDeleted, RolePermissionGranted, RolePermissionRevoked};

    let sales = || role_created(ACME, "Sales", false);
    let cases = vec![
        Case {
            name: "a role is deleted",
            given: vec![sales()],
            when: Delete,
            then: Then::Events(vec![RoleDeleted {}]),
        },
        Case {
            name: "a default role cannot be deleted",
            given: vec![role_created(ACME, "User", true)],
            when: Delete,
            then: Then::Error(default_role("deleted")),
        },
        Case {
            name: "a deleted role refuses a second delete",
            given: vec![sales(), RoleDeleted {}],
            when: Delete,
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a deleted role refuses a rename",
            given: vec![sales(), RoleDeleted {}],
            when: rename("Other"),
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a deleted role refuses an update that would be a no-op",
            given: vec![sales(), RoleDeleted {}],
            when: role::Command::Update { name: None, description: None },
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a deleted role refuses an invalid update as deleted, not invalid",
            given: vec![sales(), RoleDeleted {}],
            when: rename(""),
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a deleted role refuses a grant",
            given: vec![sales(), RoleDeleted {}],
            when: Grant { module: Module::Billing, level: Level::Full },
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a deleted role refuses a grant that would be a no-op",
            given: vec![sales(), RoleDeleted {}],
            when: Grant { module: Module::CallLogs, level: Level::View },
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a deleted role refuses a revoke",
            given: vec![sales(), RoleDeleted {}],
            when: Revoke { module: Module::CallLogs },
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a deleted role refuses a revoke that would be a no-op",
            given: vec![sales(), RoleDeleted {}],
            when: Revoke { module: Module::Billing },
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a deleted role cannot be created again",
            given: vec![sales(), RoleDeleted {}],
            when: create_role("Sales", "", false),
            then: Then::Error(rule("already_exists", "the role already exists")),
        },
        Case {
            name: "a grant on a new module",
            given: vec![sales()],
            when: Grant { module: Module::Billing, level: Level::Edit },
            then: Then::Events(vec![RolePermissionGranted { module: Module::Billing, level: Level::Edit }]),
        },
        Case {
            name: "a grant that changes the level",
            given: vec![sales()],
            when: Grant { module: Module::CallLogs, level: Level::Full },
            then: Then::Events(vec![RolePermissionGranted { module: Module::CallLogs, level: Level::Full }]),
        },
        Case {
            name: "a grant of the same level is a no-op",
            given: vec![sales()],
            when: Grant { module: Module::CallLogs, level: Level::View },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a grant of the level granted by an earlier event is a no-op",
            given: vec![sales(), RolePermissionGranted { module: Module::Sms, level: Level::Edit }],
            when: Grant { module: Module::Sms, level: Level::Edit },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a grant of NONE is recorded, it is not a revoke",
            given: vec![sales()],
            when: Grant { module: Module::CallLogs, level: Level::None },
            then: Then::Events(vec![RolePermissionGranted { module: Module::CallLogs, level: Level::None }]),
        },
        Case {
            name: "a revoke of a granted module",
            given: vec![sales()],
            when: Revoke { module: Module::CallLogs },
            then: Then::Events(vec![RolePermissionRevoked { module: Module::CallLogs }]),
        },
        Case {
            name: "a revoke of an absent module is a no-op",
            given: vec![sales()],
            when: Revoke { module: Module::Billing },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a revoke of a module already revoked is a no-op",
            given: vec![sales(), RolePermissionRevoked { module: Module::CallLogs }],
            when: Revoke { module: Module::CallLogs },
            then: Then::Events(vec![]),
        },
    ];
    check(cases, role::decide, role::evolve);
}

#[test]
fn role_name_claims() {
    let sales = || role_created(ACME, "Sales", false);
    let claim = |name: &str| format!("role-name:{ACME}:{name}");
    let cases = vec![
        ClaimCase {
            name: "creating a role claims its name, lower-cased, within its company",
            given: vec![],
            event: sales(),
            then: vec![ClaimChange::Acquire(claim("sales"))],
        },
        ClaimCase {
            name: "a rename frees the old name and claims the new one",
            given: vec![sales()],
            event: role_updated(Some("Field Sales"), None),
            then: vec![ClaimChange::Release(claim("sales")), ClaimChange::Acquire(claim("field sales"))],
        },
        ClaimCase {
            name: "a second rename frees the name taken by the first",
            given: vec![sales(), role_updated(Some("Field Sales"), None)],
            event: role_updated(Some("Inside Sales"), None),
            then: vec![
                ClaimChange::Release(claim("field sales")),
                ClaimChange::Acquire(claim("inside sales")),
            ],
        },
        ClaimCase {
            name: "a description change claims nothing",
            given: vec![sales()],
            event: role_updated(None, Some("Sells")),
            then: vec![],
        },
        ClaimCase {
            name: "deleting a role frees its name",
            given: vec![sales()],
            event: role::Event::RoleDeleted {},
            then: vec![ClaimChange::Release(claim("sales"))],
        },
        ClaimCase {
            name: "a grant claims nothing",
            given: vec![sales()],
            event: role::Event::RolePermissionGranted { module: Module::Sms, level: Level::View },
            then: vec![],
        },
        ClaimCase {
            name: "a revoke claims nothing",
            given: vec![sales()],
            event: role::Event::RolePermissionRevoked { module: Module::CallLogs },
            then: vec![],
        },
    ];
    check_claims(cases, role::Event::claims, role::evolve);
    assert_eq!(role::name_claim(ACME, "  Sales "), claim("sales"), "a name claim is trimmed and lower-cased");
}

// ---------------------------------------------------------------------------------------------
// User
// ---------------------------------------------------------------------------------------------

#[test]
fn user_create() {
    use user::Event::UserCreated;

    let sales_alice = match alice_created() {
        UserCreated { company_id, username, email, first_name, last_name, phone, extension, .. } => {
            UserCreated {
                company_id,
                username,
                email,
                first_name,
                last_name,
                phone,
                extension,
                role_id: Some(ACME_SALES_ROLE),
                approved: true,
            }
        }
        other => other,
    };
    let deleted_sales = role_state(&[role_created(ACME, "Sales", false), role::Event::RoleDeleted {}]);
    let globex_user_role = role_state(&[role_created(GLOBEX, "User", true)]);

    let cases = vec![
        Case {
            name: "without a role the user gets the company's default User role",
            given: vec![],
            when: create_user(create()),
            then: Then::Events(vec![alice_created()]),
        },
        Case {
            name: "with a role of the same company, approved",
            given: vec![],
            when: create_user(user::Create {
                role: Some((ACME_SALES_ROLE, sales_role())),
                approved: true,
                ..create()
            }),
            then: Then::Events(vec![sales_alice]),
        },
        Case {
            name: "email, names and extension are trimmed, the phone normalised",
            given: vec![],
            when: create_user(user::Create {
                email: " alice@example.com ".to_owned(),
                first_name: " Alice ".to_owned(),
                last_name: "Smith  ".to_owned(),
                phone: Some(" +1 (415) 555-0123 ".to_owned()),
                extension: Some(" 101 ".to_owned()),
                ..create()
            }),
            then: Then::Events(vec![alice_created()]),
        },
        Case {
            name: "a blank phone and extension are absent",
            given: vec![],
            when: create_user(user::Create {
                phone: Some("  ".to_owned()),
                extension: Some(String::new()),
                ..create()
            }),
            then: Then::Events(vec![bare_alice_created()]),
        },
        Case {
            name: "no phone and no extension",
            given: vec![],
            when: create_user(user::Create { phone: None, extension: None, ..create() }),
            then: Then::Events(vec![bare_alice_created()]),
        },
        Case {
            name: "every invalid field is named, in order",
            given: vec![],
            when: create_user(user::Create {
                username: "al".to_owned(),
                email: "alice.example.com".to_owned(),
                first_name: " ".to_owned(),
                last_name: "s".repeat(101),
                phone: Some("4155550123".to_owned()),
                extension: Some("12".to_owned()),
                ..create()
            }),
            then: Then::Invalid(vec!["username", "email", "firstName", "lastName", "phone", "extension"]),
        },
        Case {
            name: "a username with a space is invalid",
            given: vec![],
            when: create_user(user::Create { username: "alice smith".to_owned(), ..create() }),
            then: Then::Invalid(vec!["username"]),
        },
        Case {
            name: "a username of 65 characters is invalid",
            given: vec![],
            when: create_user(user::Create { username: "a".repeat(65), ..create() }),
            then: Then::Invalid(vec!["username"]),
        },
        Case {
            name: "an email with two @ is invalid",
            given: vec![],
            when: create_user(user::Create { email: "alice@acme@example.com".to_owned(), ..create() }),
            then: Then::Invalid(vec!["email"]),
        },
        Case {
            name: "an email whose domain has no dot is invalid",
            given: vec![],
            when: create_user(user::Create { email: "alice@localhost".to_owned(), ..create() }),
            then: Then::Invalid(vec!["email"]),
        },
        Case {
            name: "an extension of 5 digits is invalid",
            given: vec![],
            when: create_user(user::Create { extension: Some("10101".to_owned()), ..create() }),
            then: Then::Invalid(vec!["extension"]),
        },
        Case {
            name: "validation comes before the role lookup",
            given: vec![],
            when: create_user(user::Create {
                username: "al".to_owned(),
                role: Some((UNKNOWN, role::State::default())),
                ..create()
            }),
            then: Then::Invalid(vec!["username"]),
        },
        Case {
            name: "a role of another company is refused",
            given: vec![],
            when: create_user(user::Create { role: Some((GLOBEX_USER_ROLE, globex_user_role)), ..create() }),
            then: Then::Error(role_in_other_company()),
        },
        Case {
            name: "an unknown role is an unknown roleId",
            given: vec![],
            when: create_user(user::Create { role: Some((UNKNOWN, role::State::default())), ..create() }),
            then: Then::Error(DomainError::UnknownReference { field: "roleId", id: UNKNOWN }),
        },
        Case {
            name: "a deleted role is refused",
            given: vec![],
            when: create_user(user::Create { role: Some((ACME_SALES_ROLE, deleted_sales)), ..create() }),
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "an unregistered company is an unknown companyId",
            given: vec![],
            when: create_user(user::Create {
                company_id: UNKNOWN,
                company: company::State::default(),
                ..create()
            }),
            then: Then::Error(DomainError::UnknownReference { field: "companyId", id: UNKNOWN }),
        },
        Case {
            name: "an existing user cannot be created again",
            given: vec![alice_created()],
            when: create_user(create()),
            then: Then::Error(rule("already_exists", "the user already exists")),
        },
        Case {
            name: "a deleted user cannot be created again: its id is taken",
            given: vec![alice_created(), user::Event::UserDeleted {}],
            when: create_user(create()),
            then: Then::Error(rule("already_exists", "the user already exists")),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_approval_and_deletion() {
    use user::Command::{Approve, Delete, Disapprove};
    use user::Event::{UserApproved, UserDeleted, UserDisapproved};

    let cases = vec![
        Case {
            name: "approve a user who is not approved",
            given: vec![alice_created()],
            when: Approve,
            then: Then::Events(vec![UserApproved {}]),
        },
        Case {
            name: "approve an approved user is a no-op",
            given: vec![alice_created(), UserApproved {}],
            when: Approve,
            then: Then::Events(vec![]),
        },
        Case {
            name: "approve after a disapproval",
            given: vec![alice_created(), UserApproved {}, UserDisapproved {}],
            when: Approve,
            then: Then::Events(vec![UserApproved {}]),
        },
        Case {
            name: "disapprove an approved user",
            given: vec![alice_created(), UserApproved {}],
            when: Disapprove,
            then: Then::Events(vec![UserDisapproved {}]),
        },
        Case {
            name: "disapprove a user who is not approved is a no-op",
            given: vec![alice_created()],
            when: Disapprove,
            then: Then::Events(vec![]),
        },
        Case {
            name: "approving a suspended user still approves",
            given: vec![alice_created(), suspended(None, None)],
            when: Approve,
            then: Then::Events(vec![UserApproved {}]),
        },
        Case {
            name: "delete a user",
            given: vec![alice_created()],
            when: Delete,
            then: Then::Events(vec![UserDeleted {}]),
        },
        Case {
            name: "delete a suspended user",
            given: vec![alice_created(), suspended(Some(days(7)), Some("holiday"))],
            when: Delete,
            then: Then::Events(vec![UserDeleted {}]),
        },
        Case {
            name: "delete a deleted user is a no-op",
            given: vec![alice_created(), UserDeleted {}],
            when: Delete,
            then: Then::Events(vec![]),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_deleted_refuses_every_command_but_delete() {
    use user::Command::{Approve, AssignRole, Disapprove, Grant, Reactivate, Revoke, UpdateProfile};

    let deleted = || vec![alice_created(), user::Event::UserDeleted {}];
    let cases = vec![
        Case {
            name: "a deleted user refuses: approve",
            given: deleted(),
            when: Approve,
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: disapprove, even when it would be a no-op",
            given: deleted(),
            when: Disapprove,
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: suspend",
            given: deleted(),
            when: suspend(None, None),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: suspend with an end in the past: deleted, not invalid",
            given: deleted(),
            when: suspend(Some(days(-1)), None),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: reactivate a user deleted while suspended",
            given: vec![alice_created(), suspended(None, None), user::Event::UserDeleted {}],
            when: Reactivate,
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: update the profile",
            given: deleted(),
            when: UpdateProfile(profile_updated().first_name("Alicia").changes()),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: update the profile with no changes",
            given: deleted(),
            when: UpdateProfile(user::ProfileChanges::default()),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: assign a role",
            given: deleted(),
            when: AssignRole { role_id: ACME_SALES_ROLE, role: sales_role() },
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: grant",
            given: deleted(),
            when: Grant { module: Module::Billing, level: Level::View },
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: revoke, even when it would be a no-op",
            given: deleted(),
            when: Revoke { module: Module::Billing },
            then: Then::Error(user_deleted()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_suspension() {
    use user::Command::Reactivate;
    use user::Event::UserReactivated;

    let cases = vec![
        Case {
            name: "suspend until a future instant with a trimmed reason",
            given: vec![alice_created()],
            when: suspend(Some(days(7)), Some("  holiday ")),
            then: Then::Events(vec![suspended(Some(days(7)), Some("holiday"))]),
        },
        Case {
            name: "suspend indefinitely; a blank reason is absent",
            given: vec![alice_created()],
            when: suspend(None, Some("   ")),
            then: Then::Events(vec![suspended(None, None)]),
        },
        Case {
            name: "suspend until an instant in the past is invalid",
            given: vec![alice_created()],
            when: suspend(Some(days(-1)), None),
            then: Then::Invalid(vec!["until"]),
        },
        Case {
            name: "suspend until now is invalid",
            given: vec![alice_created()],
            when: suspend(Some(now()), None),
            then: Then::Invalid(vec!["until"]),
        },
        Case {
            name: "suspend with a reason over 500 characters is invalid",
            given: vec![alice_created()],
            when: suspend(None, Some(&"r".repeat(501))),
            then: Then::Invalid(vec!["reason"]),
        },
        Case {
            name: "suspend with a reason of 500 characters",
            given: vec![alice_created()],
            when: suspend(None, Some(&"r".repeat(500))),
            then: Then::Events(vec![suspended(None, Some(&"r".repeat(500)))]),
        },
        Case {
            name: "a past end and a long reason are both named",
            given: vec![alice_created()],
            when: suspend(Some(days(-1)), Some(&"r".repeat(501))),
            then: Then::Invalid(vec!["until", "reason"]),
        },
        Case {
            name: "suspend an indefinitely suspended user is refused",
            given: vec![alice_created(), suspended(None, Some("holiday"))],
            when: suspend(Some(days(7)), None),
            then: Then::Error(already_suspended()),
        },
        Case {
            name: "suspend a user suspended until a future instant is refused",
            given: vec![alice_created(), suspended(Some(days(1)), None)],
            when: suspend(None, Some("longer")),
            then: Then::Error(already_suspended()),
        },
        Case {
            name: "suspend a user whose suspension lapsed is allowed",
            given: vec![alice_created(), suspended(Some(days(-1)), Some("old"))],
            when: suspend(Some(days(3)), Some("again")),
            then: Then::Events(vec![suspended(Some(days(3)), Some("again"))]),
        },
        Case {
            name: "suspend a user whose suspension ended exactly now is allowed",
            given: vec![alice_created(), suspended(Some(now()), None)],
            when: suspend(None, None),
            then: Then::Events(vec![suspended(None, None)]),
        },
        Case {
            name: "suspend a reactivated user is allowed",
            given: vec![alice_created(), suspended(None, None), UserReactivated {}],
            when: suspend(None, None),
            then: Then::Events(vec![suspended(None, None)]),
        },
        Case {
            name: "reactivate an indefinitely suspended user",
            given: vec![alice_created(), suspended(None, Some("holiday"))],
            when: Reactivate,
            then: Then::Events(vec![UserReactivated {}]),
        },
        Case {
            name: "reactivate a user suspended until a future instant",
            given: vec![alice_created(), suspended(Some(days(7)), None)],
            when: Reactivate,
            then: Then::Events(vec![UserReactivated {}]),
        },
        Case {
            name: "reactivate a user who was never suspended is refused",
            given: vec![alice_created()],
            when: Reactivate,
            then: Then::Error(not_suspended()),
        },
        Case {
            name: "reactivate a user whose suspension lapsed is refused",
            given: vec![alice_created(), suspended(Some(days(-1)), None)],
            when: Reactivate,
            then: Then::Error(not_suspended()),
        },
        Case {
            name: "reactivate a reactivated user is refused",
            given: vec![alice_created(), suspended(None, None), UserReactivated {}],
            when: Reactivate,
            then: Then::Error(not_suspended()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_profile() {
    let with_extension_202 = || vec![alice_created(), profile_updated().extension(Some("202")).event()];
    let cases = vec![
        Case {
            name: "only the changed fields are in the event",
            given: vec![alice_created()],
            when: update_profile(user::ProfileChanges {
                email: Some("alice@example.com".to_owned()),
                first_name: Some("Alicia".to_owned()),
                last_name: Some("Smith".to_owned()),
                phone: Some(Some("+14155550123".to_owned())),
                extension: Some(Some("101".to_owned())),
            }),
            then: Then::Events(vec![profile_updated().first_name("Alicia").event()]),
        },
        Case {
            name: "every field changed",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated()
                    .email(" alice@acme.example ")
                    .first_name(" Alicia ")
                    .last_name(" Jones ")
                    .phone(Some("+44 20 7946 0958"))
                    .extension(Some(" 4242 "))
                    .changes(),
            ),
            then: Then::Events(vec![
                profile_updated()
                    .email("alice@acme.example")
                    .first_name("Alicia")
                    .last_name("Jones")
                    .phone(Some("+442079460958"))
                    .extension(Some("4242"))
                    .event(),
            ]),
        },
        Case {
            name: "values equal to the current ones after trimming are a no-op",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated()
                    .email(" alice@example.com ")
                    .first_name("Alice ")
                    .phone(Some("+1 415 555 0123"))
                    .extension(Some(" 101"))
                    .changes(),
            ),
            then: Then::Events(vec![]),
        },
        Case {
            name: "no changes at all is a no-op",
            given: vec![alice_created()],
            when: update_profile(user::ProfileChanges::default()),
            then: Then::Events(vec![]),
        },
        Case {
            name: "null clears the phone",
            given: vec![alice_created()],
            when: update_profile(profile_updated().phone(None).changes()),
            then: Then::Events(vec![profile_updated().phone(None).event()]),
        },
        Case {
            name: "a blank phone clears the phone",
            given: vec![alice_created()],
            when: update_profile(profile_updated().phone(Some("  ")).changes()),
            then: Then::Events(vec![profile_updated().phone(None).event()]),
        },
        Case {
            name: "clearing a phone there is not is a no-op",
            given: vec![bare_alice_created()],
            when: update_profile(profile_updated().phone(None).changes()),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a phone cleared by an earlier event can be set again",
            given: vec![alice_created(), profile_updated().phone(None).event()],
            when: update_profile(profile_updated().phone(Some("+14155550123")).changes()),
            then: Then::Events(vec![profile_updated().phone(Some("+14155550123")).event()]),
        },
        Case {
            name: "null clears the extension",
            given: vec![alice_created()],
            when: update_profile(profile_updated().extension(None).changes()),
            then: Then::Events(vec![profile_updated().extension(None).event()]),
        },
        Case {
            name: "the extension set by an earlier update is what is compared",
            given: with_extension_202(),
            when: update_profile(profile_updated().extension(Some("202")).changes()),
            then: Then::Events(vec![]),
        },
        Case {
            name: "every invalid field is named, in order",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated()
                    .email("alice@")
                    .first_name("")
                    .last_name(&"s".repeat(101))
                    .phone(Some("+1-415"))
                    .extension(Some("1a1"))
                    .changes(),
            ),
            then: Then::Invalid(vec!["email", "firstName", "lastName", "phone", "extension"]),
        },
        Case {
            name: "an invalid field refuses the valid ones with it",
            given: vec![alice_created()],
            when: update_profile(profile_updated().first_name("Alicia").extension(Some("12345")).changes()),
            then: Then::Invalid(vec!["extension"]),
        },
        Case {
            name: "a blank email is invalid, it does not clear",
            given: vec![alice_created()],
            when: update_profile(profile_updated().email(" ").changes()),
            then: Then::Invalid(vec!["email"]),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_role_and_permissions() {
    use user::Command::{AssignRole, Grant, Revoke};
    use user::Event::{RoleAssigned, UserPermissionGranted, UserPermissionRevoked};

    let acme_user_role = role_state(&[role_created(ACME, "User", true)]);
    let globex_user_role = role_state(&[role_created(GLOBEX, "User", true)]);
    let deleted_sales = role_state(&[role_created(ACME, "Sales", false), role::Event::RoleDeleted {}]);
    let cases = vec![
        Case {
            name: "assign another role of the same company",
            given: vec![alice_created()],
            when: AssignRole { role_id: ACME_SALES_ROLE, role: sales_role() },
            then: Then::Events(vec![RoleAssigned { role_id: ACME_SALES_ROLE }]),
        },
        Case {
            name: "assign the role the user has is a no-op",
            given: vec![alice_created()],
            when: AssignRole { role_id: ACME_USER_ROLE, role: acme_user_role },
            then: Then::Events(vec![]),
        },
        Case {
            name: "assign the role given by an earlier assignment is a no-op",
            given: vec![alice_created(), RoleAssigned { role_id: ACME_SALES_ROLE }],
            when: AssignRole { role_id: ACME_SALES_ROLE, role: sales_role() },
            then: Then::Events(vec![]),
        },
        Case {
            name: "assign a role of another company is refused",
            given: vec![alice_created()],
            when: AssignRole { role_id: GLOBEX_USER_ROLE, role: globex_user_role },
            then: Then::Error(role_in_other_company()),
        },
        Case {
            name: "assign an unknown role is an unknown roleId",
            given: vec![alice_created()],
            when: AssignRole { role_id: UNKNOWN, role: role::State::default() },
            then: Then::Error(DomainError::UnknownReference { field: "roleId", id: UNKNOWN }),
        },
        Case {
            name: "assign a deleted role is refused",
            given: vec![alice_created()],
            when: AssignRole { role_id: ACME_SALES_ROLE, role: deleted_sales },
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "grant a module",
            given: vec![alice_created()],
            when: Grant { module: Module::Billing, level: Level::View },
            then: Then::Events(vec![UserPermissionGranted { module: Module::Billing, level: Level::View }]),
        },
        Case {
            name: "grant another level of a granted module",
            given: vec![
                alice_created(),
                UserPermissionGranted { module: Module::Billing, level: Level::View },
            ],
            when: Grant { module: Module::Billing, level: Level::None },
            then: Then::Events(vec![UserPermissionGranted { module: Module::Billing, level: Level::None }]),
        },
        Case {
            name: "grant the level already granted is a no-op",
            given: vec![
                alice_created(),
                UserPermissionGranted { module: Module::Billing, level: Level::View },
            ],
            when: Grant { module: Module::Billing, level: Level::View },
            then: Then::Events(vec![]),
        },
        Case {
            name: "revoke a granted module",
            given: vec![
                alice_created(),
                UserPermissionGranted { module: Module::Billing, level: Level::View },
            ],
            when: Revoke { module: Module::Billing },
            then: Then::Events(vec![UserPermissionRevoked { module: Module::Billing }]),
        },
        Case {
            name: "revoke a module never granted is a no-op",
            given: vec![alice_created()],
            when: Revoke { module: Module::Billing },
            then: Then::Events(vec![]),
        },
        Case {
            name: "revoke a module already revoked is a no-op",
            given: vec![
                alice_created(),
                UserPermissionGranted { module: Module::Billing, level: Level::View },
                UserPermissionRevoked { module: Module::Billing },
            ],
            when: Revoke { module: Module::Billing },
            then: Then::Events(vec![]),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_claims() {
    use user::Event::{RoleAssigned, UserApproved, UserDeleted, UserSuspended};

    let username = |name: &str| ClaimChange::Acquire(format!("username:{name}"));
    let email = |email: &str| format!("email:{email}");
    let extension = |ext: &str| format!("extension:{ACME}:{ext}");
    let mixed_case_created = match alice_created() {
        user::Event::UserCreated {
            company_id,
            first_name,
            last_name,
            phone,
            extension,
            role_id,
            approved,
            ..
        } => user::Event::UserCreated {
            company_id,
            username: "Alice.Smith".to_owned(),
            email: "Alice@Example.COM".to_owned(),
            first_name,
            last_name,
            phone,
            extension,
            role_id,
            approved,
        },
        other => other,
    };
    let cases = vec![
        ClaimCase {
            name: "creation claims username, email and extension",
            given: vec![],
            event: alice_created(),
            then: vec![
                username("alice"),
                ClaimChange::Acquire(email("alice@example.com")),
                ClaimChange::Acquire(extension("101")),
            ],
        },
        ClaimCase {
            name: "username and email claims are lower-cased",
            given: vec![],
            event: mixed_case_created,
            then: vec![
                username("alice.smith"),
                ClaimChange::Acquire(email("alice@example.com")),
                ClaimChange::Acquire(extension("101")),
            ],
        },
        ClaimCase {
            name: "creation without an extension claims username and email",
            given: vec![],
            event: bare_alice_created(),
            then: vec![username("alice"), ClaimChange::Acquire(email("alice@example.com"))],
        },
        ClaimCase {
            name: "a new email frees the old one and claims the new one",
            given: vec![alice_created()],
            event: profile_updated().email("alice@acme.example").event(),
            then: vec![
                ClaimChange::Release(email("alice@example.com")),
                ClaimChange::Acquire(email("alice@acme.example")),
            ],
        },
        ClaimCase {
            name: "a new extension frees the old one and claims the new one",
            given: vec![alice_created()],
            event: profile_updated().extension(Some("202")).event(),
            then: vec![ClaimChange::Release(extension("101")), ClaimChange::Acquire(extension("202"))],
        },
        ClaimCase {
            name: "a first extension only claims",
            given: vec![bare_alice_created()],
            event: profile_updated().extension(Some("202")).event(),
            then: vec![ClaimChange::Acquire(extension("202"))],
        },
        ClaimCase {
            name: "a cleared extension only frees",
            given: vec![alice_created()],
            event: profile_updated().extension(None).event(),
            then: vec![ClaimChange::Release(extension("101"))],
        },
        ClaimCase {
            name: "email and extension changed together",
            given: vec![alice_created()],
            event: profile_updated().email("a@acme.example").extension(Some("202")).event(),
            then: vec![
                ClaimChange::Release(email("alice@example.com")),
                ClaimChange::Acquire(email("a@acme.example")),
                ClaimChange::Release(extension("101")),
                ClaimChange::Acquire(extension("202")),
            ],
        },
        ClaimCase {
            name: "names and phone claim nothing",
            given: vec![alice_created()],
            event: profile_updated().first_name("Alicia").last_name("Jones").phone(None).event(),
            then: vec![],
        },
        ClaimCase {
            name: "deletion frees email and extension but not the username",
            given: vec![alice_created()],
            event: UserDeleted {},
            then: vec![
                ClaimChange::Release(email("alice@example.com")),
                ClaimChange::Release(extension("101")),
            ],
        },
        ClaimCase {
            name: "deletion frees the email and extension the user has now",
            given: vec![
                alice_created(),
                profile_updated().email("a@acme.example").extension(Some("202")).event(),
            ],
            event: UserDeleted {},
            then: vec![ClaimChange::Release(email("a@acme.example")), ClaimChange::Release(extension("202"))],
        },
        ClaimCase {
            name: "deletion of a user without an extension frees only the email",
            given: vec![bare_alice_created()],
            event: UserDeleted {},
            then: vec![ClaimChange::Release(email("alice@example.com"))],
        },
        ClaimCase {
            name: "approval claims nothing",
            given: vec![alice_created()],
            event: UserApproved {},
            then: vec![],
        },
        ClaimCase {
            name: "suspension claims nothing",
            given: vec![alice_created()],
            event: UserSuspended { until: None, reason: None },
            then: vec![],
        },
        ClaimCase {
            name: "role assignment claims nothing",
            given: vec![alice_created()],
            event: RoleAssigned { role_id: ACME_SALES_ROLE },
            then: vec![],
        },
    ];
    check_claims(cases, user::Event::claims, user::evolve);
}

// ---------------------------------------------------------------------------------------------
// Stored JSON
// ---------------------------------------------------------------------------------------------

/// One index per event type; the exhaustive match fails to compile when a type is added.
fn user_event_index(event: &user::Event) -> usize {
    use user::Event::*;
    match event {
        UserCreated { .. } => 0,
        UserApproved {} => 1,
        UserDisapproved {} => 2,
        UserSuspended { .. } => 3,
        UserReactivated {} => 4,
        UserProfileUpdated { .. } => 5,
        UserDeleted {} => 6,
        RoleAssigned { .. } => 7,
        UserPermissionGranted { .. } => 8,
        UserPermissionRevoked { .. } => 9,
    }
}

fn role_event_index(event: &role::Event) -> usize {
    use role::Event::*;
    match event {
        RoleCreated { .. } => 0,
        RoleUpdated { .. } => 1,
        RoleDeleted {} => 2,
        RolePermissionGranted { .. } => 3,
        RolePermissionRevoked { .. } => 4,
    }
}

fn company_event_index(event: &company::Event) -> usize {
    match event {
        company::Event::CompanyRegistered { .. } => 0,
    }
}

fn assert_covers<E>(samples: &[E], index: fn(&E) -> usize, types: usize, what: &str) {
    let covered: BTreeSet<usize> = samples.iter().map(index).collect();
    assert_eq!(covered, (0..types).collect(), "{what} samples must cover every event type");
}

#[test]
fn every_event_type_round_trips_through_stored_json() {
    let user_samples = vec![
        alice_created(),
        bare_alice_created(),
        user::Event::UserApproved {},
        user::Event::UserDisapproved {},
        suspended(Some(days(7)), Some("holiday")),
        suspended(None, None),
        user::Event::UserReactivated {},
        profile_updated()
            .email("alice@acme.example")
            .first_name("Alicia")
            .last_name("Jones")
            .phone(Some("+442079460958"))
            .extension(Some("4242"))
            .event(),
        profile_updated().phone(None).extension(None).event(),
        profile_updated().first_name("Alicia").event(),
        user::Event::UserDeleted {},
        user::Event::RoleAssigned { role_id: ACME_SALES_ROLE },
        user::Event::UserPermissionGranted { module: Module::NoAnswerSettings, level: Level::Edit },
        user::Event::UserPermissionRevoked { module: Module::PlansAndNumbers },
    ];
    assert_covers(&user_samples, user_event_index, 10, "user");
    check_round_trip(&user_samples);

    let role_samples = vec![
        role::Event::RoleCreated {
            company_id: ACME,
            name: "Sales".to_owned(),
            description: "Sells".to_owned(),
            is_default: false,
            permissions: Module::ALL.iter().map(|m| (*m, Level::View)).collect(),
        },
        role_created(ACME, "User", true),
        role_updated(Some("Field sales"), Some("Out")),
        role_updated(None, Some("")),
        role::Event::RoleDeleted {},
        role::Event::RolePermissionGranted { module: Module::CallRecordings, level: Level::Full },
        role::Event::RolePermissionRevoked { module: Module::LiveReports },
    ];
    assert_covers(&role_samples, role_event_index, 5, "role");
    check_round_trip(&role_samples);

    let company_samples = vec![
        acme_registered(),
        company::Event::CompanyRegistered {
            name: "Acme".to_owned(),
            main_phone: "+14155550100".to_owned(),
            parent_company_id: Some(RESELLER),
            license_limit: Some(25),
            administrator_role_id: ACME_ADMIN_ROLE,
            user_role_id: ACME_USER_ROLE,
        },
    ];
    assert_covers(&company_samples, company_event_index, 1, "company");
    check_round_trip(&company_samples);
}

#[test]
fn event_type_names_are_the_variant_names() {
    assert_eq!(alice_created().event_type(), "UserCreated");
    assert_eq!(profile_updated().event().event_type(), "UserProfileUpdated");
    assert_eq!(
        user::Event::UserPermissionRevoked { module: Module::Sms }.event_type(),
        "UserPermissionRevoked"
    );
    assert_eq!(role::Event::RoleDeleted {}.event_type(), "RoleDeleted");
    assert_eq!(acme_registered().event_type(), "CompanyRegistered");
    assert!(
        user::Event::from_stored("UserRenamed", &json!({})).is_err(),
        "an unknown type must not be read as some other event"
    );
    assert!(
        user::Event::from_stored("RoleAssigned", &json!({"roleId": "not a uuid"})).is_err(),
        "a malformed payload must not be read"
    );
}

#[test]
fn stored_json_is_camel_case() {
    assert_eq!(
        alice_created().to_data(),
        json!({
            "companyId": ACME.to_string(),
            "username": "alice",
            "email": "alice@example.com",
            "firstName": "Alice",
            "lastName": "Smith",
            "phone": "+14155550123",
            "extension": "101",
            "roleId": ACME_USER_ROLE.to_string(),
            "approved": false,
        }),
    );
    assert_eq!(
        bare_alice_created().to_data()["phone"],
        serde_json::Value::Null,
        "UserCreated keeps an absent phone as null"
    );
    assert_eq!(
        suspended(Some(days(7)), Some("holiday")).to_data(),
        json!({ "until": "2025-06-08T12:00:00Z", "reason": "holiday" }),
    );
    assert_eq!(suspended(None, None).to_data(), json!({}));
    assert_eq!(user::Event::UserApproved {}.to_data(), json!({}));
    assert_eq!(
        user::Event::UserPermissionGranted { module: Module::CallLogs, level: Level::Edit }.to_data(),
        json!({ "module": "CALL_LOGS", "level": "EDIT" }),
    );
    assert_eq!(
        role::Event::RoleCreated {
            company_id: ACME,
            name: "Sales".to_owned(),
            description: String::new(),
            is_default: false,
            permissions: PermissionSet::from([(Module::CallLogs, Level::View), (Module::Users, Level::Full)]),
        }
        .to_data(),
        json!({
            "companyId": ACME.to_string(),
            "name": "Sales",
            "description": "",
            "isDefault": false,
            "permissions": { "CALL_LOGS": "VIEW", "USERS": "FULL" },
        }),
    );
    assert_eq!(role_updated(None, Some("Sells")).to_data(), json!({ "description": "Sells" }));
    assert_eq!(
        company::Event::CompanyRegistered {
            name: "Acme".to_owned(),
            main_phone: "+14155550100".to_owned(),
            parent_company_id: None,
            license_limit: Some(25),
            administrator_role_id: ACME_ADMIN_ROLE,
            user_role_id: ACME_USER_ROLE,
        }
        .to_data(),
        json!({
            "name": "Acme",
            "mainPhone": "+14155550100",
            "parentCompanyId": null,
            "licenseLimit": 25,
            "administratorRoleId": ACME_ADMIN_ROLE.to_string(),
            "userRoleId": ACME_USER_ROLE.to_string(),
        }),
    );
}

#[test]
fn profile_update_phone_null_is_not_absent() {
    // Some(None) — "clear the phone" — is stored as an explicit null ...
    let cleared = profile_updated().first_name("Alicia").phone(None).event();
    assert_eq!(cleared.to_data(), json!({ "firstName": "Alicia", "phone": null }));

    // ... and a stored null reads back as Some(None), while an absent field reads back as None.
    let read = |data: serde_json::Value| {
        user::Event::from_stored("UserProfileUpdated", &data).expect("a valid UserProfileUpdated payload")
    };
    assert_eq!(read(json!({ "firstName": "Alicia", "phone": null })), cleared);
    assert_eq!(read(json!({ "firstName": "Alicia" })), profile_updated().first_name("Alicia").event());
    assert_eq!(read(json!({ "extension": null })), profile_updated().extension(None).event());
    assert_eq!(
        read(json!({ "phone": "+14155550123" })),
        profile_updated().phone(Some("+14155550123")).event()
    );
    assert_eq!(read(json!({})), profile_updated().event());

    // Replaying the stored forms: null clears the phone, absence keeps it.
    let replay = |data: serde_json::Value| {
        [alice_created(), read(data)].iter().fold(user::State::default(), user::evolve).phone
    };
    assert_eq!(replay(json!({ "phone": null })), None);
    assert_eq!(replay(json!({ "firstName": "Alicia" })), Some("+14155550123".to_owned()));
}
