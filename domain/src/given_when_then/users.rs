//! User: creation, approval, suspension, deactivation, deletion and status.

use super::*;
use crate::phone::PHONE_RULE;
use crate::policy::UsernamePolicy;
use crate::user::Status;

#[test]
fn user_create() {
    let cases = vec![
        Case {
            name: "without a role or group the user gets the company's User role and Main Group",
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
            then: Then::Events(vec![created().role(Some(ACME_SALES_ROLE)).approved().event()]),
        },
        Case {
            name: "with a group of the same company",
            given: vec![],
            when: create_user(user::Create {
                group: Some((ACME_SUPPORT_GROUP, support_group())),
                ..create()
            }),
            then: Then::Events(vec![created().group(Some(ACME_SUPPORT_GROUP)).event()]),
        },
        Case {
            name: "a company registered before groups existed gives no group",
            given: vec![],
            when: create_user(user::Create {
                company: company_state(&[company::Event::CompanyRegistered {
                    name: "Acme".to_owned(),
                    main_phone: "+14155550100".to_owned(),
                    parent_company_id: None,
                    license_limit: None,
                    administrator_role_id: ACME_ADMIN_ROLE,
                    user_role_id: ACME_USER_ROLE,
                    main_group_id: None,
                }]),
                ..create()
            }),
            then: Then::Events(vec![created().group(None).event()]),
        },
        Case {
            name: "service level, admin and portal access are recorded",
            given: vec![],
            when: create_user(user::Create {
                service_level: ServiceLevel::Pro,
                admin: true,
                portal_access: false,
                ..create()
            }),
            then: Then::Events(vec![
                created().service_level(ServiceLevel::Pro).admin().without_portal_access().event(),
            ]),
        },
        Case {
            name: "email, names and extension are trimmed, the phone normalised",
            given: vec![],
            when: create_user(user::Create {
                email: " alice@example.com ".to_owned(),
                first_name: " Alice ".to_owned(),
                last_name: "Smith  ".to_owned(),
                profile: profile([(Field::Phone, " +1 (415) 555-0123 "), (Field::Extension, " 101 ")]),
                ..create()
            }),
            then: Then::Events(vec![alice_created()]),
        },
        Case {
            name: "every phone field is normalised to E.164, the other fields trimmed",
            given: vec![],
            when: create_user(user::Create {
                profile: profile([
                    (Field::Phone, "+1 (415) 555-0123"),
                    (Field::Mobile, "+44 20 7946 0958"),
                    (Field::OfficePhone, "1-415-555-0199"),
                    (Field::Fax, "+1.415.555.0142"),
                    (Field::OutboundCallerId, " +972-3-123-4567 "),
                    (Field::Extension, "101"),
                    (Field::Title, " Head of Sales "),
                    (Field::CustomerCode, " C-42 "),
                    (Field::Udid, " 00008020-0001 "),
                ]),
                ..create()
            }),
            then: Then::Events(vec![
                created()
                    .field(Field::Mobile, "+442079460958")
                    .field(Field::OfficePhone, "+14155550199")
                    .field(Field::Fax, "+14155550142")
                    .field(Field::OutboundCallerId, "+97231234567")
                    .field(Field::Title, "Head of Sales")
                    .field(Field::CustomerCode, "C-42")
                    .field(Field::Udid, "00008020-0001")
                    .event(),
            ]),
        },
        Case {
            name: "a blank phone and extension are absent",
            given: vec![],
            when: create_user(user::Create {
                profile: profile([(Field::Phone, "  "), (Field::Extension, "")]),
                ..create()
            }),
            then: Then::Events(vec![bare_alice_created()]),
        },
        Case {
            name: "blank optional fields are dropped, not refused",
            given: vec![],
            when: create_user(user::Create {
                profile: profile([
                    (Field::Phone, "+14155550123"),
                    (Field::Mobile, " "),
                    (Field::Fax, ""),
                    (Field::Extension, "101"),
                    (Field::Title, "  "),
                    (Field::Udid, ""),
                ]),
                ..create()
            }),
            then: Then::Events(vec![alice_created()]),
        },
        Case {
            name: "no phone and no extension",
            given: vec![],
            when: create_user(user::Create { profile: BTreeMap::new(), ..create() }),
            then: Then::Events(vec![bare_alice_created()]),
        },
        Case {
            name: "a required field in the profile map is ignored: the command's own field counts",
            given: vec![],
            when: create_user(user::Create {
                profile: profile([
                    (Field::Email, "not an email"),
                    (Field::FirstName, ""),
                    (Field::Phone, "+14155550123"),
                    (Field::Extension, "101"),
                ]),
                ..create()
            }),
            then: Then::Events(vec![alice_created()]),
        },
        Case {
            name: "every invalid field is named, in order",
            given: vec![],
            when: create_user(user::Create {
                username: "al".to_owned(),
                email: "alice.example.com".to_owned(),
                first_name: " ".to_owned(),
                last_name: "s".repeat(101),
                profile: profile([(Field::Phone, "4155550123"), (Field::Extension, "12")]),
                ..create()
            }),
            then: Then::Invalid(vec!["username", "email", "firstName", "lastName", "phone", "extension"]),
        },
        Case {
            name: "an invalid phone, mobile and fax are each named by their field",
            given: vec![],
            when: create_user(user::Create {
                profile: profile([
                    (Field::Phone, "555-0123"),
                    (Field::Mobile, "+1415CALLNOW"),
                    (Field::Fax, "+0415550100"),
                    (Field::Extension, "101"),
                ]),
                ..create()
            }),
            then: Then::Problems(vec![("phone", PHONE_RULE), ("mobile", PHONE_RULE), ("fax", PHONE_RULE)]),
        },
        Case {
            name: "an invalid office phone and outbound caller id are named",
            given: vec![],
            when: create_user(user::Create {
                profile: profile([
                    (Field::OfficePhone, "+1415555"),
                    (Field::OutboundCallerId, "+999 1234567"),
                ]),
                ..create()
            }),
            then: Then::Invalid(vec!["officePhone", "outboundCallerId"]),
        },
        Case {
            name: "a title over 100 characters is invalid",
            given: vec![],
            when: create_user(user::Create {
                profile: profile([(Field::Title, &"t".repeat(101))]),
                ..create()
            }),
            then: Then::Problems(vec![("title", "must be at most 100 characters")]),
        },
        Case {
            name: "a username with a space is invalid under the default policy",
            given: vec![],
            when: create_user(user::Create { username: "alice smith".to_owned(), ..create() }),
            then: Then::Problems(vec![(
                "username",
                "may contain only letters, digits and '.', '-', '_' and '@'",
            )]),
        },
        Case {
            name: "a username of 65 characters is invalid under the default policy",
            given: vec![],
            when: create_user(user::Create { username: "a".repeat(65), ..create() }),
            then: Then::Problems(vec![("username", "must be 3 to 64 characters")]),
        },
        Case {
            name: "a company's username policy of 5 to 30 refuses bob in its own terms",
            given: vec![],
            when: create_user(user::Create {
                company: acme_with_username_policy(UsernamePolicy {
                    min_length: 5,
                    max_length: 30,
                    ..UsernamePolicy::default()
                }),
                username: "bob".to_owned(),
                ..create()
            }),
            then: Then::Problems(vec![("username", "must be 5 to 30 characters")]),
        },
        Case {
            name: "a company's username policy of 5 to 30 allows alice",
            given: vec![],
            when: create_user(user::Create {
                company: acme_with_username_policy(UsernamePolicy {
                    min_length: 5,
                    max_length: 30,
                    ..UsernamePolicy::default()
                }),
                ..create()
            }),
            then: Then::Events(vec![alice_created()]),
        },
        Case {
            name: "a company's policy may allow spaces in usernames",
            given: vec![],
            when: create_user(user::Create {
                company: acme_with_username_policy(UsernamePolicy {
                    allowed_symbols: ".-_ ".to_owned(),
                    ..UsernamePolicy::default()
                }),
                username: "Alice Smith".to_owned(),
                ..create()
            }),
            then: Then::Events(vec![created().username("Alice Smith").event()]),
        },
        Case {
            name: "with email as username, the email is the username",
            given: vec![],
            when: create_user(user::Create {
                company: acme_with_username_policy(UsernamePolicy {
                    email_as_username: true,
                    ..UsernamePolicy::default()
                }),
                username: "alice@example.com".to_owned(),
                ..create()
            }),
            then: Then::Events(vec![created().username("alice@example.com").event()]),
        },
        Case {
            name: "with email as username, the case of the email does not matter",
            given: vec![],
            when: create_user(user::Create {
                company: acme_with_username_policy(UsernamePolicy {
                    email_as_username: true,
                    ..UsernamePolicy::default()
                }),
                username: "Alice@Example.com".to_owned(),
                email: " alice@example.com".to_owned(),
                ..create()
            }),
            then: Then::Events(vec![created().username("Alice@Example.com").event()]),
        },
        Case {
            name: "with email as username, another username is refused",
            given: vec![],
            when: create_user(user::Create {
                company: acme_with_username_policy(UsernamePolicy {
                    email_as_username: true,
                    ..UsernamePolicy::default()
                }),
                ..create()
            }),
            then: Then::Problems(vec![("username", "must be the user's email address")]),
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
            then: Then::Problems(vec![("email", "must be an email address such as name@example.com")]),
        },
        Case {
            name: "an extension of 5 digits is invalid",
            given: vec![],
            when: create_user(user::Create { profile: profile([(Field::Extension, "10101")]), ..create() }),
            then: Then::Problems(vec![("extension", "must be 3 or 4 digits")]),
        },
        Case {
            name: "an extension of 2 digits is invalid",
            given: vec![],
            when: create_user(user::Create { profile: profile([(Field::Extension, "12")]), ..create() }),
            then: Then::Problems(vec![("extension", "must be 3 or 4 digits")]),
        },
        Case {
            name: "an extension with a letter is invalid",
            given: vec![],
            when: create_user(user::Create { profile: profile([(Field::Extension, "1a1")]), ..create() }),
            then: Then::Problems(vec![("extension", "must be 3 or 4 digits")]),
        },
        Case {
            name: "an extension of 4 digits is allowed",
            given: vec![],
            when: create_user(user::Create { profile: profile([(Field::Extension, "4242")]), ..create() }),
            then: Then::Events(vec![created().phone(None).extension(Some("4242")).event()]),
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
            name: "validation comes before the group lookup",
            given: vec![],
            when: create_user(user::Create {
                email: "alice".to_owned(),
                group: Some((UNKNOWN, group::State::default())),
                ..create()
            }),
            then: Then::Invalid(vec!["email"]),
        },
        Case {
            name: "a role of another company is refused",
            given: vec![],
            when: create_user(user::Create {
                role: Some((GLOBEX_USER_ROLE, globex_user_role())),
                ..create()
            }),
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
            when: create_user(user::Create {
                role: Some((ACME_SALES_ROLE, deleted_sales_role())),
                ..create()
            }),
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "a group of another company is refused",
            given: vec![],
            when: create_user(user::Create {
                group: Some((
                    GLOBEX_MAIN_GROUP,
                    group_state(&[group_created(GLOBEX, "Main Group", None, true)]),
                )),
                ..create()
            }),
            then: Then::Error(group_in_other_company()),
        },
        Case {
            name: "a deleted group is refused",
            given: vec![],
            when: create_user(user::Create {
                group: Some((
                    ACME_SUPPORT_GROUP,
                    group_state(&[support_group_created(), group::Event::GroupDeleted {}]),
                )),
                ..create()
            }),
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "an unknown group is an unknown groupId",
            given: vec![],
            when: create_user(user::Create { group: Some((UNKNOWN, group::State::default())), ..create() }),
            then: Then::Error(DomainError::UnknownReference { field: "groupId", id: UNKNOWN }),
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
            name: "approve a pending user who was disapproved",
            given: vec![alice_created(), UserDisapproved {}],
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
            name: "disapprove a pending user records the disapproval",
            given: vec![alice_created()],
            when: Disapprove,
            then: Then::Events(vec![UserDisapproved {}]),
        },
        Case {
            name: "disapprove a disapproved user is a no-op",
            given: vec![alice_created(), UserDisapproved {}],
            when: Disapprove,
            then: Then::Events(vec![]),
        },
        Case {
            name: "disapprove a user approved again after a disapproval",
            given: vec![alice_created(), UserDisapproved {}, UserApproved {}],
            when: Disapprove,
            then: Then::Events(vec![UserDisapproved {}]),
        },
        Case {
            name: "approving a suspended user still approves",
            given: vec![alice_created(), suspended(None, None)],
            when: Approve,
            then: Then::Events(vec![UserApproved {}]),
        },
        Case {
            name: "approving a deactivated user still approves",
            given: vec![alice_created(), user::Event::UserDeactivated {}],
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
            name: "delete a deactivated user",
            given: vec![alice_created(), user::Event::UserDeactivated {}],
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
    use user::Command::{
        Approve, AssignGroup, AssignRole, Deactivate, Disapprove, Grant, Reactivate, Revoke, SetAccess,
        UpdateProfile,
    };

    let deleted = || vec![alice_created(), user::Event::UserDeleted {}];
    let cases = vec![
        Case {
            name: "a deleted user refuses: approve",
            given: deleted(),
            when: Approve,
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: disapprove",
            given: deleted(),
            when: Disapprove,
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: disapprove, even when it would be a no-op",
            given: vec![alice_created(), user::Event::UserDisapproved {}, user::Event::UserDeleted {}],
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
            name: "a deleted user refuses: reactivate a user deleted while deactivated",
            given: vec![alice_created(), user::Event::UserDeactivated {}, user::Event::UserDeleted {}],
            when: Reactivate,
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: deactivate",
            given: deleted(),
            when: Deactivate,
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
            name: "a deleted user refuses: assign a group",
            given: deleted(),
            when: AssignGroup { group_id: ACME_SUPPORT_GROUP, group: support_group() },
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user refuses: set access, even when it would be a no-op",
            given: deleted(),
            when: SetAccess { admin: None, portal_access: None },
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
fn user_missing_refuses_every_command_but_create() {
    use user::Command::{Approve, Deactivate, Delete, Reactivate, SetAccess};

    let not_found = || rule("not_found", "the user does not exist");
    let cases = vec![
        Case {
            name: "a missing user refuses: approve",
            given: vec![],
            when: Approve,
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing user refuses: delete, it is not a no-op",
            given: vec![],
            when: Delete,
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing user refuses: deactivate",
            given: vec![],
            when: Deactivate,
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing user refuses: reactivate",
            given: vec![],
            when: Reactivate,
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing user refuses: suspend",
            given: vec![],
            when: suspend(None, None),
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing user refuses: set access",
            given: vec![],
            when: SetAccess { admin: Some(true), portal_access: None },
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing user refuses: update the profile",
            given: vec![],
            when: update_profile(profile_updated().first_name("Alicia").changes()),
            then: Then::Error(not_found()),
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
            then: Then::Problems(vec![("until", "must be in the future")]),
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
            then: Then::Problems(vec![("reason", "must be at most 500 characters")]),
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
fn user_deactivation() {
    use user::Command::{Deactivate, Reactivate};
    use user::Event::{UserDeactivated, UserReactivated};

    let cases = vec![
        Case {
            name: "deactivate an active user",
            given: vec![alice_created(), user::Event::UserApproved {}],
            when: Deactivate,
            then: Then::Events(vec![UserDeactivated {}]),
        },
        Case {
            name: "deactivate a pending user",
            given: vec![alice_created()],
            when: Deactivate,
            then: Then::Events(vec![UserDeactivated {}]),
        },
        Case {
            name: "deactivate a suspended user",
            given: vec![alice_created(), suspended(Some(days(7)), None)],
            when: Deactivate,
            then: Then::Events(vec![UserDeactivated {}]),
        },
        Case {
            name: "deactivate a deactivated user is a no-op",
            given: vec![alice_created(), UserDeactivated {}],
            when: Deactivate,
            then: Then::Events(vec![]),
        },
        Case {
            name: "deactivate a user reactivated after a deactivation",
            given: vec![alice_created(), UserDeactivated {}, UserReactivated {}],
            when: Deactivate,
            then: Then::Events(vec![UserDeactivated {}]),
        },
        Case {
            name: "reactivate a deactivated user",
            given: vec![alice_created(), UserDeactivated {}],
            when: Reactivate,
            then: Then::Events(vec![UserReactivated {}]),
        },
        Case {
            name: "one reactivation lifts a deactivation and a suspension",
            given: vec![alice_created(), suspended(None, Some("holiday")), UserDeactivated {}],
            when: Reactivate,
            then: Then::Events(vec![UserReactivated {}]),
        },
        Case {
            name: "reactivate a deactivated user whose suspension lapsed",
            given: vec![alice_created(), suspended(Some(days(-1)), None), UserDeactivated {}],
            when: Reactivate,
            then: Then::Events(vec![UserReactivated {}]),
        },
        Case {
            name: "reactivate a user reactivated after a deactivation is refused",
            given: vec![alice_created(), UserDeactivated {}, UserReactivated {}],
            when: Reactivate,
            then: Then::Error(not_suspended()),
        },
        Case {
            name: "suspend a deactivated user is allowed",
            given: vec![alice_created(), UserDeactivated {}],
            when: suspend(None, Some("audit")),
            then: Then::Events(vec![suspended(None, Some("audit"))]),
        },
    ];
    check(cases, user::decide, user::evolve);

    let lifted =
        user_state(&[alice_created(), suspended(None, Some("x")), UserDeactivated {}, UserReactivated {}]);
    assert!(
        !lifted.deactivated && !lifted.suspended && lifted.suspension_reason.is_none(),
        "a reactivation lifts both: {lifted:?}"
    );
}

#[test]
fn user_status_at() {
    use user::Event::{UserApproved, UserDeactivated, UserDeleted, UserDisapproved, UserReactivated};

    let cases = vec![
        StateCase {
            name: "a new user is pending approval",
            given: vec![alice_created()],
            then: Status::PendingApproval,
        },
        StateCase {
            name: "a user created approved is active",
            given: vec![created().approved().event()],
            then: Status::Active,
        },
        StateCase {
            name: "an approved user is active",
            given: vec![alice_created(), UserApproved {}],
            then: Status::Active,
        },
        StateCase {
            name: "a pending user disapproved is disapproved",
            given: vec![alice_created(), UserDisapproved {}],
            then: Status::Disapproved,
        },
        StateCase {
            name: "an approved user disapproved is disapproved",
            given: vec![alice_created(), UserApproved {}, UserDisapproved {}],
            then: Status::Disapproved,
        },
        StateCase {
            name: "a disapproved user approved again is active",
            given: vec![alice_created(), UserDisapproved {}, UserApproved {}],
            then: Status::Active,
        },
        StateCase {
            name: "an indefinite suspension",
            given: vec![alice_created(), UserApproved {}, suspended(None, None)],
            then: Status::Suspended,
        },
        StateCase {
            name: "a suspension that has not ended yet",
            given: vec![alice_created(), UserApproved {}, suspended(Some(days(1)), None)],
            then: Status::Suspended,
        },
        StateCase {
            name: "a suspension that ended exactly now has lapsed",
            given: vec![alice_created(), UserApproved {}, suspended(Some(now()), None)],
            then: Status::Active,
        },
        StateCase {
            name: "a lapsed suspension gives back the approval status",
            given: vec![alice_created(), suspended(Some(days(-1)), None)],
            then: Status::PendingApproval,
        },
        StateCase {
            name: "a suspension outranks a disapproval",
            given: vec![alice_created(), UserDisapproved {}, suspended(None, None)],
            then: Status::Suspended,
        },
        StateCase {
            name: "a deactivation outranks a suspension",
            given: vec![alice_created(), UserApproved {}, suspended(None, None), UserDeactivated {}],
            then: Status::Deactivated,
        },
        StateCase {
            name: "a reactivation gives back the approval status",
            given: vec![alice_created(), UserApproved {}, UserDeactivated {}, UserReactivated {}],
            then: Status::Active,
        },
        StateCase {
            name: "a deletion outranks everything",
            given: vec![
                alice_created(),
                UserApproved {},
                suspended(None, None),
                UserDeactivated {},
                UserDeleted {},
            ],
            then: Status::Deleted,
        },
    ];
    check_states(cases, user::evolve, |state: &user::State| state.status_at(now()));

    let until_tomorrow = user_state(&[alice_created(), UserApproved {}, suspended(Some(days(1)), None)]);
    assert_eq!(until_tomorrow.status_at(days(1)), Status::Active, "the suspension lapses at its end");
    assert_eq!(until_tomorrow.status_at(days(-1)), Status::Suspended);
}
