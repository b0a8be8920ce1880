//! Company: registration, updates, licences, policies and enabled apps.

use serde_json::json;

use super::*;
use crate::apps::App;
use crate::phone::PHONE_RULE;
use crate::policy::{PasswordPolicy, UsernamePolicy};

fn not_registered() -> DomainError {
    rule("not_found", "the company is not registered")
}

fn seat_taken(user_id: Uuid, used: u32) -> company::Event {
    company::Event::LicenseSeatTaken { user_id, used }
}

fn seat_released(user_id: Uuid, used: u32) -> company::Event {
    company::Event::LicenseSeatReleased { user_id, used }
}

fn limit_set(limit: Option<u32>) -> company::Event {
    company::Event::LicenseLimitSet { limit }
}

/// Acme registered with a licence limit, then `used` seats taken.
fn acme_using(limit: Option<u32>, used: u32) -> Vec<company::Event> {
    let mut events = vec![acme_registered()];
    if limit.is_some() {
        events.push(limit_set(limit));
    }
    events.extend((1..=used).map(|n| seat_taken(Uuid::from_u128(u128::from(n)), n)));
    events
}

fn acme_registered_with_limit(limit: u32) -> company::Event {
    match acme_registered() {
        company::Event::CompanyRegistered {
            name,
            main_phone,
            parent_company_id,
            administrator_role_id,
            user_role_id,
            main_group_id,
            ..
        } => company::Event::CompanyRegistered {
            name,
            main_phone,
            parent_company_id,
            license_limit: Some(limit),
            administrator_role_id,
            user_role_id,
            main_group_id,
        },
        other => other,
    }
}

fn telzio_usernames() -> UsernamePolicy {
    UsernamePolicy { min_length: 5, max_length: 30, ..UsernamePolicy::default() }
}

fn telemessage_passwords() -> PasswordPolicy {
    PasswordPolicy {
        min_length: 8,
        max_length: 20,
        required_classes: 3,
        forbidden_characters: "\"',".to_owned(),
        ..PasswordPolicy::default()
    }
}

/// The default password policy, with a PIN by SMS at every sign-in.
fn two_factor_passwords() -> PasswordPolicy {
    PasswordPolicy { require_two_factor: true, ..PasswordPolicy::default() }
}

fn policies_set(username: Option<UsernamePolicy>, password: Option<PasswordPolicy>) -> company::Event {
    company::Event::CompanyPoliciesSet { username_policy: username, password_policy: password }
}

#[test]
fn company_register() {
    use company::Command::Register;
    use company::Event::CompanyRegistered;

    let reseller = company_state(&[company_registered("Reseller", ACME_USER_ROLE)]);
    let acme_registered_with = |name: String, parent_company_id, license_limit| CompanyRegistered {
        name,
        main_phone: "+14155550100".to_owned(),
        parent_company_id,
        license_limit,
        administrator_role_id: ACME_ADMIN_ROLE,
        user_role_id: ACME_USER_ROLE,
        main_group_id: Some(ACME_MAIN_GROUP),
    };
    let cases = vec![
        Case {
            name: "a top-level company is registered with its default role and group ids",
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
            name: "a main phone without + starts with its country code",
            given: vec![],
            when: Register(company::Register { main_phone: "1 415 555 0100".to_owned(), ..register() }),
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
            then: Then::Events(vec![acme_registered_with("Acme".to_owned(), Some(RESELLER), Some(25))]),
        },
        Case {
            name: "a licence limit of 1 is allowed",
            given: vec![],
            when: Register(company::Register { license_limit: Some(1), ..register() }),
            then: Then::Events(vec![acme_registered_with("Acme".to_owned(), None, Some(1))]),
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
            then: Then::Problems(vec![
                ("name", "must not be empty"),
                ("mainPhone", PHONE_RULE),
                ("licenseLimit", "must be at least 1"),
            ]),
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
            then: Then::Problems(vec![("name", "must be at most 200 characters")]),
        },
        Case {
            name: "a name of 200 characters is allowed",
            given: vec![],
            when: Register(company::Register { name: "a".repeat(200), ..register() }),
            then: Then::Events(vec![acme_registered_with("a".repeat(200), None, None)]),
        },
        Case {
            name: "a name with a control character is invalid",
            given: vec![],
            when: Register(company::Register { name: "Ac\u{7}me".to_owned(), ..register() }),
            then: Then::Problems(vec![("name", "must not contain control characters")]),
        },
        Case {
            name: "a main phone with a leading zero after + is invalid",
            given: vec![],
            when: Register(company::Register { main_phone: "+04155550100".to_owned(), ..register() }),
            then: Then::Problems(vec![("mainPhone", PHONE_RULE)]),
        },
        Case {
            name: "a main phone of 7 digits is too short",
            given: vec![],
            when: Register(company::Register { main_phone: "+1415555".to_owned(), ..register() }),
            then: Then::Problems(vec![("mainPhone", PHONE_RULE)]),
        },
        Case {
            name: "a main phone of 16 digits is too long",
            given: vec![],
            when: Register(company::Register { main_phone: "+1415555010012345".to_owned(), ..register() }),
            then: Then::Problems(vec![("mainPhone", PHONE_RULE)]),
        },
        Case {
            name: "a main phone with letters is invalid",
            given: vec![],
            when: Register(company::Register { main_phone: "+1415CALLNOW".to_owned(), ..register() }),
            then: Then::Problems(vec![("mainPhone", PHONE_RULE)]),
        },
        Case {
            name: "a main phone in an unassigned country code is invalid",
            given: vec![],
            when: Register(company::Register { main_phone: "+999 1234567".to_owned(), ..register() }),
            then: Then::Problems(vec![("mainPhone", PHONE_RULE)]),
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

#[test]
fn company_update() {
    use company::Command::Update;
    use company::Event::CompanyUpdated;

    let update = |name: Option<&str>, main_phone: Option<&str>| Update {
        name: name.map(str::to_owned),
        main_phone: main_phone.map(str::to_owned),
    };
    let updated = |name: Option<&str>, main_phone: Option<&str>| CompanyUpdated {
        name: name.map(str::to_owned),
        main_phone: main_phone.map(str::to_owned),
    };
    let cases = vec![
        Case {
            name: "rename a company, trimmed",
            given: vec![acme_registered()],
            when: update(Some("  Acme Corp "), None),
            then: Then::Events(vec![updated(Some("Acme Corp"), None)]),
        },
        Case {
            name: "a new main phone is normalised to E.164",
            given: vec![acme_registered()],
            when: update(None, Some("+1 (415) 555-0123")),
            then: Then::Events(vec![updated(None, Some("+14155550123"))]),
        },
        Case {
            name: "name and main phone in one update",
            given: vec![acme_registered()],
            when: update(Some("Acme Corp"), Some("+44 20 7946 0958")),
            then: Then::Events(vec![updated(Some("Acme Corp"), Some("+442079460958"))]),
        },
        Case {
            name: "an update carries only what changed",
            given: vec![acme_registered()],
            when: update(Some("Acme"), Some("+14155550123")),
            then: Then::Events(vec![updated(None, Some("+14155550123"))]),
        },
        Case {
            name: "the same name and phone, as typed, is a no-op",
            given: vec![acme_registered()],
            when: update(Some(" Acme "), Some("+1 415-555-0100")),
            then: Then::Events(vec![]),
        },
        Case {
            name: "an update with no fields is a no-op",
            given: vec![acme_registered()],
            when: update(None, None),
            then: Then::Events(vec![]),
        },
        Case {
            name: "the evolved name is what a later update compares with",
            given: vec![acme_registered(), updated(Some("Acme Corp"), None)],
            when: update(Some("Acme Corp"), None),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a blank name and an invalid main phone are both named",
            given: vec![acme_registered()],
            when: update(Some("  "), Some("call me")),
            then: Then::Problems(vec![("name", "must not be empty"), ("mainPhone", PHONE_RULE)]),
        },
        Case {
            name: "an invalid main phone refuses the valid name with it",
            given: vec![acme_registered()],
            when: update(Some("Acme Corp"), Some("+1415555")),
            then: Then::Invalid(vec!["mainPhone"]),
        },
        Case {
            name: "an update of a company that is not registered is refused",
            given: vec![],
            when: update(Some("Acme"), None),
            then: Then::Error(not_registered()),
        },
        Case {
            name: "an empty update of a company that is not registered is refused, not a no-op",
            given: vec![],
            when: update(None, None),
            then: Then::Error(not_registered()),
        },
    ];
    check(cases, company::decide, company::evolve);
}

#[test]
fn company_license_limit() {
    use company::Command::SetLicenseLimit;

    let cases = vec![
        Case {
            name: "set a limit on a company without one",
            given: acme_using(None, 0),
            when: SetLicenseLimit { limit: Some(10) },
            then: Then::Events(vec![limit_set(Some(10))]),
        },
        Case {
            name: "raise a limit",
            given: acme_using(Some(2), 2),
            when: SetLicenseLimit { limit: Some(5) },
            then: Then::Events(vec![limit_set(Some(5))]),
        },
        Case {
            name: "remove a limit",
            given: acme_using(Some(2), 2),
            when: SetLicenseLimit { limit: None },
            then: Then::Events(vec![limit_set(None)]),
        },
        Case {
            name: "lower a limit to exactly the seats in use",
            given: acme_using(Some(5), 3),
            when: SetLicenseLimit { limit: Some(3) },
            then: Then::Events(vec![limit_set(Some(3))]),
        },
        Case {
            name: "lower a limit below the seats in use is refused with the figures",
            given: acme_using(Some(5), 3),
            when: SetLicenseLimit { limit: Some(2) },
            then: Then::Error(rule_with(
                "license_limit_below_used",
                "3 licences are in use; delete users before lowering the limit to 2",
                json!({ "used": 3, "limit": 2 }),
            )),
        },
        Case {
            name: "a first limit below the seats in use is refused",
            given: acme_using(None, 4),
            when: SetLicenseLimit { limit: Some(1) },
            then: Then::Error(rule_with(
                "license_limit_below_used",
                "4 licences are in use; delete users before lowering the limit to 1",
                json!({ "used": 4, "limit": 1 }),
            )),
        },
        Case {
            name: "seats released count: the limit may go down to what is still used",
            given: [acme_using(Some(3), 3), vec![seat_released(Uuid::from_u128(3), 2)]].concat(),
            when: SetLicenseLimit { limit: Some(2) },
            then: Then::Events(vec![limit_set(Some(2))]),
        },
        Case {
            name: "a limit of zero is invalid",
            given: acme_using(None, 0),
            when: SetLicenseLimit { limit: Some(0) },
            then: Then::Problems(vec![("limit", "must be at least 1")]),
        },
        Case {
            name: "a limit of zero is invalid before it is compared with the seats in use",
            given: acme_using(None, 2),
            when: SetLicenseLimit { limit: Some(0) },
            then: Then::Invalid(vec!["limit"]),
        },
        Case {
            name: "the same limit is a no-op",
            given: acme_using(Some(5), 1),
            when: SetLicenseLimit { limit: Some(5) },
            then: Then::Events(vec![]),
        },
        Case {
            name: "the limit given at registration is what is compared",
            given: vec![acme_registered_with_limit(7)],
            when: SetLicenseLimit { limit: Some(7) },
            then: Then::Events(vec![]),
        },
        Case {
            name: "removing a limit there is not is a no-op",
            given: acme_using(None, 3),
            when: SetLicenseLimit { limit: None },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a limit on a company that is not registered is refused",
            given: vec![],
            when: SetLicenseLimit { limit: Some(5) },
            then: Then::Error(not_registered()),
        },
    ];
    check(cases, company::decide, company::evolve);
}

#[test]
fn company_seats() {
    use company::Command::{ReleaseSeat, TakeSeat};

    let cases = vec![
        Case {
            name: "without a limit a seat is always taken",
            given: acme_using(None, 40),
            when: TakeSeat { user_id: ALICE },
            then: Then::Events(vec![seat_taken(ALICE, 41)]),
        },
        Case {
            name: "the first seat",
            given: acme_using(Some(2), 0),
            when: TakeSeat { user_id: ALICE },
            then: Then::Events(vec![seat_taken(ALICE, 1)]),
        },
        Case {
            name: "the last seat below the limit",
            given: acme_using(Some(2), 1),
            when: TakeSeat { user_id: ALICE },
            then: Then::Events(vec![seat_taken(ALICE, 2)]),
        },
        Case {
            name: "at the limit a seat is refused with the figures",
            given: acme_using(Some(2), 2),
            when: TakeSeat { user_id: ALICE },
            then: Then::Error(rule_with(
                "license_limit_reached",
                "all 2 licences of the company are in use",
                json!({ "used": 2, "limit": 2 }),
            )),
        },
        Case {
            name: "a limit given at registration holds",
            given: vec![acme_registered_with_limit(1), seat_taken(BOB, 1)],
            when: TakeSeat { user_id: ALICE },
            then: Then::Error(rule_with(
                "license_limit_reached",
                "all 1 licences of the company are in use",
                json!({ "used": 1, "limit": 1 }),
            )),
        },
        Case {
            name: "a seat released at the limit can be taken again",
            given: [acme_using(Some(2), 2), vec![seat_released(Uuid::from_u128(2), 1)]].concat(),
            when: TakeSeat { user_id: ALICE },
            then: Then::Events(vec![seat_taken(ALICE, 2)]),
        },
        Case {
            name: "a raised limit frees a seat",
            given: [acme_using(Some(2), 2), vec![limit_set(Some(3))]].concat(),
            when: TakeSeat { user_id: ALICE },
            then: Then::Events(vec![seat_taken(ALICE, 3)]),
        },
        Case {
            name: "a removed limit frees every seat",
            given: [acme_using(Some(2), 2), vec![limit_set(None)]].concat(),
            when: TakeSeat { user_id: ALICE },
            then: Then::Events(vec![seat_taken(ALICE, 3)]),
        },
        Case {
            name: "release a seat",
            given: acme_using(Some(2), 2),
            when: ReleaseSeat { user_id: Uuid::from_u128(1) },
            then: Then::Events(vec![seat_released(Uuid::from_u128(1), 1)]),
        },
        Case {
            name: "release the last seat in use",
            given: acme_using(None, 1),
            when: ReleaseSeat { user_id: Uuid::from_u128(1) },
            then: Then::Events(vec![seat_released(Uuid::from_u128(1), 0)]),
        },
        Case {
            name: "a release when no seat is used does not go below zero",
            given: acme_using(None, 0),
            when: ReleaseSeat { user_id: ALICE },
            then: Then::Events(vec![seat_released(ALICE, 0)]),
        },
        Case {
            name: "a seat in a company that is not registered is refused",
            given: vec![],
            when: TakeSeat { user_id: ALICE },
            then: Then::Error(not_registered()),
        },
        Case {
            name: "a release in a company that is not registered is refused",
            given: vec![],
            when: ReleaseSeat { user_id: ALICE },
            then: Then::Error(not_registered()),
        },
    ];
    check(cases, company::decide, company::evolve);
}

#[test]
fn company_policies() {
    use company::Command::SetPolicies;

    let cases = vec![
        Case {
            name: "set a username policy",
            given: vec![acme_registered()],
            when: SetPolicies { username: Some(telzio_usernames()), password: None },
            then: Then::Events(vec![policies_set(Some(telzio_usernames()), None)]),
        },
        Case {
            name: "set a password policy",
            given: vec![acme_registered()],
            when: SetPolicies { username: None, password: Some(telemessage_passwords()) },
            then: Then::Events(vec![policies_set(None, Some(telemessage_passwords()))]),
        },
        Case {
            name: "set both policies",
            given: vec![acme_registered()],
            when: SetPolicies { username: Some(telzio_usernames()), password: Some(telemessage_passwords()) },
            then: Then::Events(vec![policies_set(Some(telzio_usernames()), Some(telemessage_passwords()))]),
        },
        Case {
            name: "email as username is a policy of its own",
            given: vec![acme_registered()],
            when: SetPolicies {
                username: Some(UsernamePolicy { email_as_username: true, ..UsernamePolicy::default() }),
                password: None,
            },
            then: Then::Events(vec![policies_set(
                Some(UsernamePolicy { email_as_username: true, ..UsernamePolicy::default() }),
                None,
            )]),
        },
        Case {
            name: "the default policies are a no-op on a new company",
            given: vec![acme_registered()],
            when: SetPolicies {
                username: Some(UsernamePolicy::default()),
                password: Some(PasswordPolicy::default()),
            },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a company may require a second factor for every sign-in",
            given: vec![acme_registered()],
            when: SetPolicies { username: None, password: Some(two_factor_passwords()) },
            then: Then::Events(vec![policies_set(None, Some(two_factor_passwords()))]),
        },
        Case {
            name: "requiring a second factor again is a no-op",
            given: vec![acme_registered(), policies_set(None, Some(two_factor_passwords()))],
            when: SetPolicies { username: None, password: Some(two_factor_passwords()) },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a second factor no longer required is a change",
            given: vec![acme_registered(), policies_set(None, Some(two_factor_passwords()))],
            when: SetPolicies { username: None, password: Some(PasswordPolicy::default()) },
            then: Then::Events(vec![policies_set(None, Some(PasswordPolicy::default()))]),
        },
        Case {
            name: "no policies at all is a no-op",
            given: vec![acme_registered()],
            when: SetPolicies { username: None, password: None },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a policy set earlier is what is compared",
            given: vec![acme_registered(), policies_set(Some(telzio_usernames()), None)],
            when: SetPolicies { username: Some(telzio_usernames()), password: Some(telemessage_passwords()) },
            then: Then::Events(vec![policies_set(None, Some(telemessage_passwords()))]),
        },
        Case {
            name: "back to the default username policy",
            given: vec![acme_registered(), policies_set(Some(telzio_usernames()), None)],
            when: SetPolicies { username: Some(UsernamePolicy::default()), password: None },
            then: Then::Events(vec![policies_set(Some(UsernamePolicy::default()), None)]),
        },
        Case {
            name: "an invalid policy is named field by field, under the policy's name",
            given: vec![acme_registered()],
            when: SetPolicies {
                username: Some(UsernamePolicy {
                    min_length: 0,
                    max_length: 500,
                    allowed_symbols: "é".to_owned(),
                    email_as_username: false,
                }),
                password: Some(PasswordPolicy {
                    max_failed_logins: 0,
                    lock_minutes: 0,
                    require_two_factor: false,
                    min_length: 4,
                    max_length: 2,
                    required_classes: 5,
                    forbidden_characters: "\n".to_owned(),
                }),
            },
            then: Then::Invalid(vec![
                "usernamePolicy.minLength",
                "usernamePolicy.maxLength",
                "usernamePolicy.allowedSymbols",
                "passwordPolicy.minLength",
                "passwordPolicy.maxLength",
                "passwordPolicy.requiredClasses",
                "passwordPolicy.maxFailedLogins",
                "passwordPolicy.lockMinutes",
                "passwordPolicy.forbiddenCharacters",
            ]),
        },
        Case {
            name: "a username policy whose maximum is below its minimum is invalid",
            given: vec![acme_registered()],
            when: SetPolicies {
                username: Some(UsernamePolicy { min_length: 10, max_length: 5, ..UsernamePolicy::default() }),
                password: None,
            },
            then: Then::Problems(vec![("usernamePolicy.maxLength", "must be between minLength and 128")]),
        },
        Case {
            name: "a username policy may allow spaces; a password policy may not forbid them",
            given: vec![acme_registered()],
            when: SetPolicies {
                username: Some(UsernamePolicy {
                    allowed_symbols: ".- ".to_owned(),
                    ..UsernamePolicy::default()
                }),
                password: Some(PasswordPolicy {
                    forbidden_characters: " ".to_owned(),
                    ..PasswordPolicy::default()
                }),
            },
            then: Then::Problems(vec![(
                "passwordPolicy.forbiddenCharacters",
                "must be at most 32 ASCII punctuation characters",
            )]),
        },
        Case {
            name: "a password policy's lockout is bounded: 1 to 100 failures, 1 to 1440 minutes",
            given: vec![acme_registered()],
            when: SetPolicies {
                username: None,
                password: Some(PasswordPolicy {
                    max_failed_logins: 101,
                    lock_minutes: 1441,
                    ..PasswordPolicy::default()
                }),
            },
            then: Then::Problems(vec![
                ("passwordPolicy.maxFailedLogins", "must be 1 to 100"),
                ("passwordPolicy.lockMinutes", "must be 1 to 1440"),
            ]),
        },
        Case {
            name: "a password policy's lockout at its bounds is set",
            given: vec![acme_registered()],
            when: SetPolicies {
                username: None,
                password: Some(PasswordPolicy {
                    max_failed_logins: 1,
                    lock_minutes: 1440,
                    ..PasswordPolicy::default()
                }),
            },
            then: Then::Events(vec![policies_set(
                None,
                Some(PasswordPolicy {
                    max_failed_logins: 1,
                    lock_minutes: 1440,
                    ..PasswordPolicy::default()
                }),
            )]),
        },
        Case {
            name: "an invalid password policy refuses the valid username policy with it",
            given: vec![acme_registered()],
            when: SetPolicies {
                username: Some(telzio_usernames()),
                password: Some(PasswordPolicy { min_length: 5, ..PasswordPolicy::default() }),
            },
            then: Then::Problems(vec![("passwordPolicy.minLength", "must be at least 6")]),
        },
        Case {
            name: "policies of a company that is not registered are refused",
            given: vec![],
            when: SetPolicies { username: Some(telzio_usernames()), password: None },
            then: Then::Error(not_registered()),
        },
    ];
    check(cases, company::decide, company::evolve);
}

#[test]
fn company_state_folds_every_event() {
    let cases = vec![
        StateCase {
            name: "registration records the default role and group ids",
            given: vec![acme_registered()],
            then: (
                true,
                Some(ACME_ADMIN_ROLE),
                Some(ACME_USER_ROLE),
                Some(ACME_MAIN_GROUP),
                "Acme".to_owned(),
                0,
            ),
        },
        StateCase {
            name: "an update replaces only the fields it carries",
            given: vec![
                acme_registered(),
                company::Event::CompanyUpdated { name: Some("Acme Corp".to_owned()), main_phone: None },
            ],
            then: (
                true,
                Some(ACME_ADMIN_ROLE),
                Some(ACME_USER_ROLE),
                Some(ACME_MAIN_GROUP),
                "Acme Corp".to_owned(),
                0,
            ),
        },
        StateCase {
            name: "seats count what the last seat event says",
            given: acme_using(None, 3),
            then: (
                true,
                Some(ACME_ADMIN_ROLE),
                Some(ACME_USER_ROLE),
                Some(ACME_MAIN_GROUP),
                "Acme".to_owned(),
                3,
            ),
        },
    ];
    check_states(cases, company::evolve, |state: &company::State| {
        (
            state.registered,
            state.administrator_role_id,
            state.user_role_id,
            state.main_group_id,
            state.name.clone(),
            state.licenses_used,
        )
    });

    let with_policies = company_state(&[
        acme_registered(),
        policies_set(Some(telzio_usernames()), None),
        policies_set(None, Some(telemessage_passwords())),
    ]);
    assert_eq!(with_policies.username_policy, telzio_usernames(), "a later password policy keeps it");
    assert_eq!(with_policies.password_policy, telemessage_passwords());
    assert_eq!(acme().username_policy, UsernamePolicy::default(), "a new company has the default policy");
}

fn apps<const N: usize>(apps: [App; N]) -> BTreeSet<App> {
    apps.into()
}

fn apps_set(set: BTreeSet<App>) -> company::Event {
    company::Event::CompanyAppsSet { apps: set }
}

#[test]
fn company_enabled_apps() {
    use company::Command::SetEnabledApps;

    let cases = vec![
        Case {
            name: "a first set of apps is recorded",
            given: vec![acme_registered()],
            when: SetEnabledApps { apps: apps([App::CallLogs, App::Analytics]) },
            then: Then::Events(vec![apps_set(apps([App::Analytics, App::CallLogs]))]),
        },
        Case {
            name: "no apps at all is recorded: every app is coming soon",
            given: vec![acme_registered()],
            when: SetEnabledApps { apps: BTreeSet::new() },
            then: Then::Events(vec![apps_set(BTreeSet::new())]),
        },
        Case {
            name: "every app, listed, is recorded on a new company: a list is not the default",
            given: vec![acme_registered()],
            when: SetEnabledApps { apps: App::ALL.into() },
            then: Then::Events(vec![apps_set(App::ALL.into())]),
        },
        Case {
            name: "the same set is a no-op",
            given: vec![acme_registered(), apps_set(apps([App::CallLogs, App::Analytics]))],
            when: SetEnabledApps { apps: apps([App::Analytics, App::CallLogs]) },
            then: Then::Events(vec![]),
        },
        Case {
            name: "an empty set after an empty set is a no-op",
            given: vec![acme_registered(), apps_set(BTreeSet::new())],
            when: SetEnabledApps { apps: BTreeSet::new() },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a different set replaces the whole set",
            given: vec![acme_registered(), apps_set(apps([App::CallLogs, App::Analytics]))],
            when: SetEnabledApps { apps: apps([App::CallLogs, App::Sms]) },
            then: Then::Events(vec![apps_set(apps([App::CallLogs, App::Sms]))]),
        },
        Case {
            name: "the set of the last event is what is compared",
            given: vec![
                acme_registered(),
                apps_set(apps([App::CallLogs])),
                apps_set(apps([App::CallLogs, App::Billing])),
            ],
            when: SetEnabledApps { apps: apps([App::CallLogs]) },
            then: Then::Events(vec![apps_set(apps([App::CallLogs]))]),
        },
        Case {
            name: "apps of a company that is not registered are refused",
            given: vec![],
            when: SetEnabledApps { apps: apps([App::CallLogs]) },
            then: Then::Error(not_registered()),
        },
    ];
    check(cases, company::decide, company::evolve);
}

#[test]
fn company_enabled_apps_state() {
    let cases = vec![
        StateCase {
            name: "a new company has every app: no list",
            given: vec![acme_registered()],
            then: None,
        },
        StateCase {
            name: "a set of apps is the company's list",
            given: vec![acme_registered(), apps_set(apps([App::Sms, App::Queues]))],
            then: Some(apps([App::Queues, App::Sms])),
        },
        StateCase {
            name: "the last set replaces the earlier ones",
            given: vec![
                acme_registered(),
                apps_set(apps([App::Sms, App::Queues])),
                apps_set(apps([App::Billing])),
            ],
            then: Some(apps([App::Billing])),
        },
        StateCase {
            name: "an empty set is a list of no apps, not the default",
            given: vec![acme_registered(), apps_set(apps([App::Sms])), apps_set(BTreeSet::new())],
            then: Some(BTreeSet::new()),
        },
        StateCase {
            name: "other company events keep the list",
            given: vec![
                acme_registered(),
                apps_set(apps([App::Sms])),
                limit_set(Some(10)),
                seat_taken(ALICE, 1),
                policies_set(Some(telzio_usernames()), None),
            ],
            then: Some(apps([App::Sms])),
        },
    ];
    check_states(cases, company::evolve, |state: &company::State| state.enabled_apps.clone());
}
