//! User ownership: another company asks to take a user over; the user confirms or declines.

use super::*;
use crate::user::OwnershipRequest;

const REQUEST: Uuid = Uuid::from_u128(0x4E0_0001);
const OTHER_REQUEST: Uuid = Uuid::from_u128(0x4E0_0002);
const RESELLER_USER_ROLE: Uuid = Uuid::from_u128(0x5E11_0002);

fn globex() -> company::State {
    company_state(&[company_registered("Globex", GLOBEX_USER_ROLE)])
}

fn reseller() -> company::State {
    company_state(&[company_registered("Reseller", RESELLER_USER_ROLE)])
}

fn request(request_id: Uuid, company_id: Uuid, company: company::State) -> user::Command {
    user::Command::RequestOwnership { request_id, company_id, company }
}

fn requested(request_id: Uuid, company_id: Uuid) -> user::Event {
    user::Event::OwnershipRequested { request_id, company_id }
}

fn confirm(request_id: Uuid, company: company::State) -> user::Command {
    user::Command::ConfirmOwnership { request_id, company }
}

/// Alice moved from Acme to Globex, with Globex's User role and Main Group.
fn confirmed_to_globex(request_id: Uuid) -> user::Event {
    user::Event::OwnershipConfirmed {
        request_id,
        from_company_id: ACME,
        company_id: GLOBEX,
        role_id: Some(GLOBEX_USER_ROLE),
        group_id: Some(GLOBEX_MAIN_GROUP),
    }
}

fn decline(request_id: Uuid) -> user::Command {
    user::Command::DeclineOwnership { request_id }
}

fn declined(request_id: Uuid) -> user::Event {
    user::Event::OwnershipDeclined { request_id }
}

fn already_in_company() -> DomainError {
    rule("already_in_company", "the user already belongs to this company")
}

fn request_pending() -> DomainError {
    rule("ownership_request_pending", "another company's ownership request is waiting for the user's answer")
}

fn no_such_request() -> DomainError {
    rule("no_such_request", "the user has no pending ownership request with this id")
}

#[test]
fn user_request_ownership() {
    let cases = vec![
        Case {
            name: "another company's request is recorded",
            given: vec![alice_created()],
            when: request(REQUEST, GLOBEX, globex()),
            then: Then::Events(vec![requested(REQUEST, GLOBEX)]),
        },
        Case {
            name: "a suspended, deactivated user may be asked",
            given: vec![alice_created(), suspended(None, None), user::Event::UserDeactivated {}],
            when: request(REQUEST, GLOBEX, globex()),
            then: Then::Events(vec![requested(REQUEST, GLOBEX)]),
        },
        Case {
            name: "a company that is not registered is an unknown companyId",
            given: vec![alice_created()],
            when: request(REQUEST, GLOBEX, company::State::default()),
            then: Then::Error(DomainError::UnknownReference { field: "companyId", id: GLOBEX }),
        },
        Case {
            name: "the user's own company is refused",
            given: vec![alice_created()],
            when: request(REQUEST, ACME, acme()),
            then: Then::Error(already_in_company()),
        },
        Case {
            name: "the user's own company is refused even with another request pending",
            given: vec![alice_created(), requested(REQUEST, GLOBEX)],
            when: request(OTHER_REQUEST, ACME, acme()),
            then: Then::Error(already_in_company()),
        },
        Case {
            name: "a pending request from the same company makes a new one a no-op",
            given: vec![alice_created(), requested(REQUEST, GLOBEX)],
            when: request(OTHER_REQUEST, GLOBEX, globex()),
            then: Then::Events(vec![]),
        },
        Case {
            name: "the same request again is a no-op",
            given: vec![alice_created(), requested(REQUEST, GLOBEX)],
            when: request(REQUEST, GLOBEX, globex()),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a pending request from another company refuses a second company's",
            given: vec![alice_created(), requested(REQUEST, GLOBEX)],
            when: request(OTHER_REQUEST, RESELLER, reseller()),
            then: Then::Error(request_pending()),
        },
        Case {
            name: "an unregistered company is unknown before a pending request is looked at",
            given: vec![alice_created(), requested(REQUEST, GLOBEX)],
            when: request(OTHER_REQUEST, RESELLER, company::State::default()),
            then: Then::Error(DomainError::UnknownReference { field: "companyId", id: RESELLER }),
        },
        Case {
            name: "after a decline, another company may ask",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), declined(REQUEST)],
            when: request(OTHER_REQUEST, RESELLER, reseller()),
            then: Then::Events(vec![requested(OTHER_REQUEST, RESELLER)]),
        },
        Case {
            name: "after a decline, the same company may ask again",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), declined(REQUEST)],
            when: request(OTHER_REQUEST, GLOBEX, globex()),
            then: Then::Events(vec![requested(OTHER_REQUEST, GLOBEX)]),
        },
        Case {
            name: "after a confirmation, the new company is the user's own",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), confirmed_to_globex(REQUEST)],
            when: request(OTHER_REQUEST, GLOBEX, globex()),
            then: Then::Error(already_in_company()),
        },
        Case {
            name: "after a confirmation, the old company may ask for the user back",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), confirmed_to_globex(REQUEST)],
            when: request(OTHER_REQUEST, ACME, acme()),
            then: Then::Events(vec![requested(OTHER_REQUEST, ACME)]),
        },
        Case {
            name: "a deleted user refuses a request",
            given: vec![alice_created(), user::Event::UserDeleted {}],
            when: request(REQUEST, GLOBEX, globex()),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user refuses a request",
            given: vec![],
            when: request(REQUEST, GLOBEX, globex()),
            then: Then::Error(rule("not_found", "the user does not exist")),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_confirm_and_decline_ownership() {
    let pending = || vec![alice_created(), requested(REQUEST, GLOBEX)];
    let cases = vec![
        Case {
            name: "confirming moves the user to the company's User role and Main Group",
            given: pending(),
            when: confirm(REQUEST, globex()),
            then: Then::Events(vec![confirmed_to_globex(REQUEST)]),
        },
        Case {
            name: "the user's own role, group and grants do not change what is confirmed",
            given: vec![
                alice_created(),
                user::Event::RoleAssigned { role_id: ACME_SALES_ROLE },
                user::Event::GroupAssigned { group_id: ACME_SUPPORT_GROUP },
                user::Event::UserPermissionGranted { module: Module::Billing, level: Level::Edit },
                requested(REQUEST, GLOBEX),
            ],
            when: confirm(REQUEST, globex()),
            then: Then::Events(vec![confirmed_to_globex(REQUEST)]),
        },
        Case {
            name: "a company registered before groups existed gives no group",
            given: pending(),
            when: confirm(
                REQUEST,
                company_state(&[company::Event::CompanyRegistered {
                    name: "Globex".to_owned(),
                    main_phone: "+14155550100".to_owned(),
                    parent_company_id: None,
                    license_limit: None,
                    administrator_role_id: Uuid::from_u128(GLOBEX_USER_ROLE.as_u128() - 1),
                    user_role_id: GLOBEX_USER_ROLE,
                    main_group_id: None,
                }]),
            ),
            then: Then::Events(vec![user::Event::OwnershipConfirmed {
                request_id: REQUEST,
                from_company_id: ACME,
                company_id: GLOBEX,
                role_id: Some(GLOBEX_USER_ROLE),
                group_id: None,
            }]),
        },
        Case {
            name: "the second request of a user who moved before comes from the company they are in now",
            given: vec![
                alice_created(),
                requested(REQUEST, GLOBEX),
                confirmed_to_globex(REQUEST),
                requested(OTHER_REQUEST, ACME),
            ],
            when: confirm(OTHER_REQUEST, acme()),
            then: Then::Events(vec![user::Event::OwnershipConfirmed {
                request_id: OTHER_REQUEST,
                from_company_id: GLOBEX,
                company_id: ACME,
                role_id: Some(ACME_USER_ROLE),
                group_id: Some(ACME_MAIN_GROUP),
            }]),
        },
        Case {
            name: "confirming another request id is refused",
            given: pending(),
            when: confirm(OTHER_REQUEST, globex()),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "confirming with no request pending is refused",
            given: vec![alice_created()],
            when: confirm(REQUEST, globex()),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "confirming a declined request is refused",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), declined(REQUEST)],
            when: confirm(REQUEST, globex()),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "confirming twice is refused",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), confirmed_to_globex(REQUEST)],
            when: confirm(REQUEST, globex()),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "a requesting company that is not registered is an unknown companyId",
            given: pending(),
            when: confirm(REQUEST, company::State::default()),
            then: Then::Error(DomainError::UnknownReference { field: "companyId", id: GLOBEX }),
        },
        Case {
            name: "a wrong request id is refused before the company is looked at",
            given: pending(),
            when: confirm(OTHER_REQUEST, company::State::default()),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "a deleted user refuses a confirmation",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), user::Event::UserDeleted {}],
            when: confirm(REQUEST, globex()),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "declining the pending request",
            given: pending(),
            when: decline(REQUEST),
            then: Then::Events(vec![declined(REQUEST)]),
        },
        Case {
            name: "declining another request id is refused",
            given: pending(),
            when: decline(OTHER_REQUEST),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "declining with no request pending is refused",
            given: vec![alice_created()],
            when: decline(REQUEST),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "declining twice is refused",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), declined(REQUEST)],
            when: decline(REQUEST),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "declining a confirmed request is refused",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), confirmed_to_globex(REQUEST)],
            when: decline(REQUEST),
            then: Then::Error(no_such_request()),
        },
        Case {
            name: "a deleted user refuses a decline",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), user::Event::UserDeleted {}],
            when: decline(REQUEST),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user refuses a decline",
            given: vec![],
            when: decline(REQUEST),
            then: Then::Error(rule("not_found", "the user does not exist")),
        },
    ];
    check(cases, user::decide, user::evolve);
}

/// What ownership changes of a user, and what it keeps.
#[derive(Debug, PartialEq)]
struct Owned {
    company_id: Option<Uuid>,
    role_id: Option<Uuid>,
    group_id: Option<Uuid>,
    extension: Option<String>,
    permissions: PermissionSet,
    admin: bool,
    ownership_request: Option<OwnershipRequest>,
    /// Kept: the phone, the email and approval.
    phone: Option<String>,
    email: String,
    approved: bool,
}

#[test]
fn user_ownership_state() {
    let at_acme = || Owned {
        company_id: Some(ACME),
        role_id: Some(ACME_SALES_ROLE),
        group_id: Some(ACME_SUPPORT_GROUP),
        extension: Some("101".to_owned()),
        permissions: PermissionSet::from([(Module::Billing, Level::Edit)]),
        admin: true,
        ownership_request: None,
        phone: Some("+14155550123".to_owned()),
        email: "alice@example.com".to_owned(),
        approved: true,
    };
    let alice_at_acme = || {
        vec![
            created().approved().admin().event(),
            user::Event::RoleAssigned { role_id: ACME_SALES_ROLE },
            user::Event::GroupAssigned { group_id: ACME_SUPPORT_GROUP },
            user::Event::UserPermissionGranted { module: Module::Billing, level: Level::Edit },
        ]
    };
    let with = |extra: &[user::Event]| {
        let mut events = alice_at_acme();
        events.extend_from_slice(extra);
        events
    };
    let cases = vec![
        StateCase { name: "before any request", given: alice_at_acme(), then: at_acme() },
        StateCase {
            name: "a request is pending and changes nothing else",
            given: with(&[requested(REQUEST, GLOBEX)]),
            then: Owned {
                ownership_request: Some(OwnershipRequest { request_id: REQUEST, company_id: GLOBEX }),
                ..at_acme()
            },
        },
        StateCase {
            name: "a decline clears the request and changes nothing else",
            given: with(&[requested(REQUEST, GLOBEX), declined(REQUEST)]),
            then: at_acme(),
        },
        StateCase {
            name: "a confirmation moves company, role and group, drops extension, grants, admin and the request",
            given: with(&[requested(REQUEST, GLOBEX), confirmed_to_globex(REQUEST)]),
            then: Owned {
                company_id: Some(GLOBEX),
                role_id: Some(GLOBEX_USER_ROLE),
                group_id: Some(GLOBEX_MAIN_GROUP),
                extension: None,
                permissions: PermissionSet::new(),
                admin: false,
                ownership_request: None,
                ..at_acme()
            },
        },
    ];
    check_states(cases, user::evolve, |state: &user::State| Owned {
        company_id: state.company_id,
        role_id: state.role_id,
        group_id: state.group_id,
        extension: state.get(Field::Extension).map(str::to_owned),
        permissions: state.permissions.clone(),
        admin: state.admin,
        ownership_request: state.ownership_request,
        phone: state.get(Field::Phone).map(str::to_owned),
        email: state.email.clone(),
        approved: state.approved,
    });
}

#[test]
fn user_ownership_claims() {
    let email = |email: &str| format!("email:{email}");
    let cases = vec![
        ClaimCase {
            name: "a request claims nothing",
            given: vec![alice_created()],
            event: requested(REQUEST, GLOBEX),
            then: vec![],
        },
        ClaimCase {
            name: "a decline claims nothing",
            given: vec![alice_created(), requested(REQUEST, GLOBEX)],
            event: declined(REQUEST),
            then: vec![],
        },
        ClaimCase {
            name: "a confirmation frees the extension in the old company",
            given: vec![alice_created(), requested(REQUEST, GLOBEX)],
            event: confirmed_to_globex(REQUEST),
            then: vec![ClaimChange::Release(format!("extension:{ACME}:101"))],
        },
        ClaimCase {
            name: "a confirmation frees the extension the user has now",
            given: vec![
                alice_created(),
                profile_updated().extension(Some("4242")).event(),
                requested(REQUEST, GLOBEX),
            ],
            event: confirmed_to_globex(REQUEST),
            then: vec![ClaimChange::Release(format!("extension:{ACME}:4242"))],
        },
        ClaimCase {
            name: "a confirmation of a user without an extension frees nothing",
            given: vec![bare_alice_created(), requested(REQUEST, GLOBEX)],
            event: confirmed_to_globex(REQUEST),
            then: vec![],
        },
        ClaimCase {
            name: "a confirmation keeps the email and the mobile: they are unique everywhere",
            given: vec![created().field(Field::Mobile, "+447911123456").event(), requested(REQUEST, GLOBEX)],
            event: confirmed_to_globex(REQUEST),
            then: vec![ClaimChange::Release(format!("extension:{ACME}:101"))],
        },
        ClaimCase {
            name: "after a confirmation, a new extension is claimed in the new company",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), confirmed_to_globex(REQUEST)],
            event: profile_updated().extension(Some("101")).event(),
            then: vec![ClaimChange::Acquire(format!("extension:{GLOBEX}:101"))],
        },
        ClaimCase {
            name: "after a confirmation, deletion frees no extension in either company",
            given: vec![alice_created(), requested(REQUEST, GLOBEX), confirmed_to_globex(REQUEST)],
            event: user::Event::UserDeleted {},
            then: vec![
                ClaimChange::Release(email("alice@example.com")),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
    ];
    check_claims(cases, user::Event::claims, user::evolve);
}
