//! Given/when/then tests for the aggregates, written as data.
//!
//! Every case is: given prior events (folded with `evolve` from `State::default()`), when a
//! command is decided with a fixed [`Context`], then exactly these events, exactly this
//! error, or (for validation) exactly these invalid fields, in order. [`check`] runs a table
//! and reports every failing case by name.
//!
//! This file holds the harness and the fixtures every aggregate shares; the tables live in
//! one file per aggregate, and `stored_json` checks the events' public format.

mod companies;
mod credentials;
mod groups;
mod imports;
mod ownership;
mod profiles;
mod roles;
mod self_service;
mod stored_json;
mod tickets;
mod totp;
mod users;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::permissions::{Level, Module, PermissionSet};
use crate::user::{Field, ServiceLevel};
use crate::{Actor, ClaimChange, Context, DomainError, EventPayload, company, group, role, user};

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
    /// `DomainError::Invalid` with exactly these fields and messages, in this order.
    Problems(Vec<(&'static str, &'static str)>),
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
            (Then::Problems(expected), Err(DomainError::Invalid(errors))) => {
                errors.iter().map(|e| (e.field.as_str(), e.message.as_str())).eq(expected.iter().copied())
            }
            _ => false,
        };
        if !passed {
            let expected = match &case.then {
                Then::Events(events) => format!("Ok({events:?})"),
                Then::Error(error) => format!("Err({error:?})"),
                Then::Invalid(fields) => format!("Err(Invalid) naming {fields:?}"),
                Then::Problems(problems) => format!("Err(Invalid) with {problems:?}"),
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

/// Like [`Case`], for what a state says of itself: `given` folded, then `then` applied to it.
struct StateCase<E, T> {
    name: &'static str,
    given: Vec<E>,
    then: T,
}

fn check_states<S: Default, E, T: PartialEq + Debug>(
    cases: Vec<StateCase<E, T>>,
    evolve: fn(S, &E) -> S,
    observe: impl Fn(&S) -> T,
) {
    assert!(!cases.is_empty(), "an empty table checks nothing");
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    let total = cases.len();
    for case in cases {
        assert!(names.insert(case.name), "two cases are named {:?}", case.name);
        let state = case.given.iter().fold(S::default(), evolve);
        let actual = observe(&state);
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

fn rule_with(code: &'static str, message: &str, details: serde_json::Value) -> DomainError {
    DomainError::rule_with(code, message, details)
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
const ACME_MAIN_GROUP: Uuid = Uuid::from_u128(0xACE_0100);
const ACME_SUPPORT_GROUP: Uuid = Uuid::from_u128(0xACE_0101);
const GLOBEX_MAIN_GROUP: Uuid = Uuid::from_u128(0x610B_E100);
const ALICE: Uuid = Uuid::from_u128(0xA11CE);
const BOB: Uuid = Uuid::from_u128(0xB0B);
const UNKNOWN: Uuid = Uuid::from_u128(0xDEAD);

// --- company ---------------------------------------------------------------------------------

/// A top-level company whose administrator role id is `user_role_id - 1` and whose Main
/// Group id is `user_role_id + 0xFE`.
fn company_registered(name: &str, user_role_id: Uuid) -> company::Event {
    company::Event::CompanyRegistered {
        name: name.to_owned(),
        main_phone: "+14155550100".to_owned(),
        parent_company_id: None,
        license_limit: None,
        administrator_role_id: Uuid::from_u128(user_role_id.as_u128() - 1),
        user_role_id,
        main_group_id: Some(Uuid::from_u128(user_role_id.as_u128() + 0xFE)),
    }
}

fn company_state(events: &[company::Event]) -> company::State {
    events.iter().fold(company::State::default(), company::evolve)
}

fn acme() -> company::State {
    company_state(&[acme_registered()])
}

fn register() -> company::Register {
    company::Register {
        company_id: ACME,
        name: "Acme".to_owned(),
        main_phone: "+14155550100".to_owned(),
        parent: None,
        license_limit: None,
        administrator_role_id: ACME_ADMIN_ROLE,
        user_role_id: ACME_USER_ROLE,
        main_group_id: ACME_MAIN_GROUP,
    }
}

/// What [`register`] decides to.
fn acme_registered() -> company::Event {
    company_registered("Acme", ACME_USER_ROLE)
}

/// Acme with the given username policy (a default password policy).
fn acme_with_username_policy(policy: crate::policy::UsernamePolicy) -> company::State {
    company_state(&[
        acme_registered(),
        company::Event::CompanyPoliciesSet { username_policy: Some(policy), password_policy: None },
    ])
}

// --- role ------------------------------------------------------------------------------------

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

fn deleted_sales_role() -> role::State {
    role_state(&[role_created(ACME, "Sales", false), role::Event::RoleDeleted {}])
}

fn globex_user_role() -> role::State {
    role_state(&[role_created(GLOBEX, "User", true)])
}

// --- group -----------------------------------------------------------------------------------

fn group_created(company_id: Uuid, name: &str, role_id: Option<Uuid>, is_main: bool) -> group::Event {
    group::Event::GroupCreated { company_id, name: name.to_owned(), role_id, is_main }
}

fn group_state(events: &[group::Event]) -> group::State {
    events.iter().fold(group::State::default(), group::evolve)
}

fn main_group_created() -> group::Event {
    group_created(ACME, group::MAIN_GROUP, None, true)
}

fn support_group_created() -> group::Event {
    group_created(ACME, "Support", None, false)
}

fn support_group() -> group::State {
    group_state(&[support_group_created()])
}

// --- user ------------------------------------------------------------------------------------

fn profile<const N: usize>(fields: [(Field, &str); N]) -> BTreeMap<Field, String> {
    fields.into_iter().map(|(field, value)| (field, value.to_owned())).collect()
}

/// A valid `Create` for alice at Acme with no role or group given; cases change what they test.
fn create() -> user::Create {
    user::Create {
        company_id: ACME,
        company: acme(),
        username: "alice".to_owned(),
        email: "alice@example.com".to_owned(),
        first_name: "Alice".to_owned(),
        last_name: "Smith".to_owned(),
        profile: profile([(Field::Phone, "+14155550123"), (Field::Extension, "101")]),
        service_level: ServiceLevel::Archive,
        role: None,
        group: None,
        approved: false,
        admin: false,
        portal_access: true,
    }
}

fn create_user(create: user::Create) -> user::Command {
    user::Command::Create(Box::new(create))
}

/// What [`create`] decides to.
fn alice_created() -> user::Event {
    created().event()
}

/// Alice without phone or extension.
fn bare_alice_created() -> user::Event {
    created().phone(None).extension(None).event()
}

/// Builds a `UserCreated` from what [`create`] decides to, field by field.
struct Created(user::Event);

fn created() -> Created {
    Created(user::Event::UserCreated {
        company_id: ACME,
        username: "alice".to_owned(),
        email: "alice@example.com".to_owned(),
        first_name: "Alice".to_owned(),
        last_name: "Smith".to_owned(),
        phone: Some("+14155550123".to_owned()),
        extension: Some("101".to_owned()),
        role_id: Some(ACME_USER_ROLE),
        approved: false,
        group_id: Some(ACME_MAIN_GROUP),
        service_level: ServiceLevel::Archive,
        admin: false,
        portal_access: true,
        mobile: None,
        office_phone: None,
        fax: None,
        outbound_caller_id: None,
        title: None,
        customer_code: None,
        udid: None,
    })
}

impl Created {
    fn edit(mut self, edit: impl FnOnce(&mut user::Event)) -> Self {
        edit(&mut self.0);
        self
    }
    fn company(self, value: Uuid) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { company_id, .. } = event {
                *company_id = value;
            }
        })
    }
    fn username(self, value: &str) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { username, .. } = event {
                *username = value.to_owned();
            }
        })
    }
    fn email(self, value: &str) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { email, .. } = event {
                *email = value.to_owned();
            }
        })
    }
    fn phone(self, value: Option<&str>) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { phone, .. } = event {
                *phone = value.map(str::to_owned);
            }
        })
    }
    fn extension(self, value: Option<&str>) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { extension, .. } = event {
                *extension = value.map(str::to_owned);
            }
        })
    }
    fn role(self, value: Option<Uuid>) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { role_id, .. } = event {
                *role_id = value;
            }
        })
    }
    fn group(self, value: Option<Uuid>) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { group_id, .. } = event {
                *group_id = value;
            }
        })
    }
    fn approved(self) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { approved, .. } = event {
                *approved = true;
            }
        })
    }
    fn service_level(self, value: ServiceLevel) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { service_level, .. } = event {
                *service_level = value;
            }
        })
    }
    fn admin(self) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { admin, .. } = event {
                *admin = true;
            }
        })
    }
    fn without_portal_access(self) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated { portal_access, .. } = event {
                *portal_access = false;
            }
        })
    }
    /// One of the optional fields besides phone and extension.
    fn field(self, field: Field, value: &str) -> Self {
        self.edit(|event| {
            if let user::Event::UserCreated {
                mobile,
                office_phone,
                fax,
                outbound_caller_id,
                title,
                customer_code,
                udid,
                ..
            } = event
            {
                let slot = match field {
                    Field::Mobile => mobile,
                    Field::OfficePhone => office_phone,
                    Field::Fax => fax,
                    Field::OutboundCallerId => outbound_caller_id,
                    Field::Title => title,
                    Field::CustomerCode => customer_code,
                    Field::Udid => udid,
                    _ => unreachable!("{field:?} has a builder method of its own"),
                };
                *slot = Some(value.to_owned());
            }
        })
    }
    fn event(self) -> user::Event {
        self.0
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

/// Builds a `UserProfileUpdated`, or the `ProfileChanges` of the same fields, field by field.
#[derive(Default)]
struct ProfileUpdated {
    fields: BTreeMap<Field, Option<String>>,
    service_level: Option<ServiceLevel>,
}

impl ProfileUpdated {
    fn set(mut self, field: Field, value: &str) -> Self {
        self.fields.insert(field, Some(value.to_owned()));
        self
    }
    fn clear(mut self, field: Field) -> Self {
        self.fields.insert(field, None);
        self
    }
    fn email(self, email: &str) -> Self {
        self.set(Field::Email, email)
    }
    fn first_name(self, name: &str) -> Self {
        self.set(Field::FirstName, name)
    }
    fn last_name(self, name: &str) -> Self {
        self.set(Field::LastName, name)
    }
    fn phone(self, phone: Option<&str>) -> Self {
        match phone {
            Some(phone) => self.set(Field::Phone, phone),
            None => self.clear(Field::Phone),
        }
    }
    fn extension(self, extension: Option<&str>) -> Self {
        match extension {
            Some(extension) => self.set(Field::Extension, extension),
            None => self.clear(Field::Extension),
        }
    }
    fn service_level(mut self, level: ServiceLevel) -> Self {
        self.service_level = Some(level);
        self
    }
    fn event(self) -> user::Event {
        user::Event::profile_updated(self.service_level, self.fields)
    }
    fn changes(self) -> user::ProfileChanges {
        user::ProfileChanges { fields: self.fields, service_level: self.service_level }
    }
}

fn user_state(events: &[user::Event]) -> user::State {
    events.iter().fold(user::State::default(), user::evolve)
}

fn user_deleted() -> DomainError {
    rule("user_deleted", "the user has been deleted")
}

fn already_suspended() -> DomainError {
    rule("already_suspended", "the user is already suspended")
}

fn not_suspended() -> DomainError {
    rule("not_suspended", "the user is neither suspended nor deactivated")
}

fn role_deleted() -> DomainError {
    rule("role_deleted", "the role has been deleted")
}

fn role_in_other_company() -> DomainError {
    rule("role_in_other_company", "the role belongs to another company")
}

fn group_deleted() -> DomainError {
    rule("group_deleted", "the group has been deleted")
}

fn group_in_other_company() -> DomainError {
    rule("group_in_other_company", "the group belongs to another company")
}

fn default_role(action: &str) -> DomainError {
    rule("default_role", &format!("a default role cannot be {action}"))
}
