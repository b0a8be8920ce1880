//! User: profile, role, group, access and permissions, and the claims they take.

use super::*;
use crate::phone::PHONE_RULE;

#[test]
fn user_profile() {
    let with_extension_202 = || vec![alice_created(), profile_updated().extension(Some("202")).event()];
    let cases = vec![
        Case {
            name: "only the changed fields are in the event",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated()
                    .email("alice@example.com")
                    .first_name("Alicia")
                    .last_name("Smith")
                    .phone(Some("+14155550123"))
                    .extension(Some("101"))
                    .changes(),
            ),
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
            name: "the new fields are set, phones normalised and texts trimmed",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated()
                    .set(Field::Mobile, "+1 (415) 555-0123")
                    .set(Field::OfficePhone, "1 415 555 0199")
                    .set(Field::Fax, "+1.415.555.0142")
                    .set(Field::OutboundCallerId, "+44 20 7946 0958")
                    .set(Field::Title, " CTO ")
                    .set(Field::CustomerCode, " C-42")
                    .set(Field::Udid, "abc-123 ")
                    .changes(),
            ),
            then: Then::Events(vec![
                profile_updated()
                    .set(Field::Mobile, "+14155550123")
                    .set(Field::OfficePhone, "+14155550199")
                    .set(Field::Fax, "+14155550142")
                    .set(Field::OutboundCallerId, "+442079460958")
                    .set(Field::Title, "CTO")
                    .set(Field::CustomerCode, "C-42")
                    .set(Field::Udid, "abc-123")
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
            name: "a new field equal to the one set at creation is a no-op",
            given: vec![created().field(Field::Mobile, "+442079460958").field(Field::Title, "CTO").event()],
            when: update_profile(
                profile_updated().set(Field::Mobile, "+44 20 7946 0958").set(Field::Title, " CTO").changes(),
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
            name: "optional fields set at creation are cleared by null or blank",
            given: vec![
                created()
                    .field(Field::Mobile, "+442079460958")
                    .field(Field::Title, "CTO")
                    .field(Field::Udid, "x")
                    .event(),
            ],
            when: update_profile(
                profile_updated().clear(Field::Mobile).set(Field::Title, "  ").set(Field::Udid, "").changes(),
            ),
            then: Then::Events(vec![
                profile_updated().clear(Field::Mobile).clear(Field::Title).clear(Field::Udid).event(),
            ]),
        },
        Case {
            name: "clearing optional fields there are not is a no-op",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated()
                    .clear(Field::Mobile)
                    .clear(Field::Fax)
                    .set(Field::CustomerCode, " ")
                    .changes(),
            ),
            then: Then::Events(vec![]),
        },
        Case {
            name: "an email cannot be cleared",
            given: vec![alice_created()],
            when: update_profile(profile_updated().clear(Field::Email).changes()),
            then: Then::Problems(vec![("email", "must not be empty")]),
        },
        Case {
            name: "first and last names cannot be cleared, by null or blank",
            given: vec![alice_created()],
            when: update_profile(profile_updated().clear(Field::FirstName).last_name("  ").changes()),
            then: Then::Problems(vec![("firstName", "must not be empty"), ("lastName", "must not be empty")]),
        },
        Case {
            name: "a blank email is invalid, it does not clear",
            given: vec![alice_created()],
            when: update_profile(profile_updated().email(" ").changes()),
            then: Then::Invalid(vec!["email"]),
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
            name: "an invalid mobile and fax are named by their field",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated().set(Field::Mobile, "mobile").set(Field::Fax, "+1415555").changes(),
            ),
            then: Then::Problems(vec![("mobile", PHONE_RULE), ("fax", PHONE_RULE)]),
        },
        Case {
            name: "an invalid field refuses the valid ones with it",
            given: vec![alice_created()],
            when: update_profile(profile_updated().first_name("Alicia").extension(Some("12345")).changes()),
            then: Then::Problems(vec![("extension", "must be 3 or 4 digits")]),
        },
        Case {
            name: "an invalid field refuses a service level with it",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated()
                    .set(Field::Title, &"t".repeat(101))
                    .service_level(ServiceLevel::Pro)
                    .changes(),
            ),
            then: Then::Invalid(vec!["title"]),
        },
        Case {
            name: "change the service level",
            given: vec![alice_created()],
            when: update_profile(profile_updated().service_level(ServiceLevel::Pro).changes()),
            then: Then::Events(vec![profile_updated().service_level(ServiceLevel::Pro).event()]),
        },
        Case {
            name: "the service level and a field in one update",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated().service_level(ServiceLevel::Pro).first_name("Alicia").changes(),
            ),
            then: Then::Events(vec![
                profile_updated().service_level(ServiceLevel::Pro).first_name("Alicia").event(),
            ]),
        },
        Case {
            name: "the service level the user has is left out",
            given: vec![alice_created()],
            when: update_profile(
                profile_updated().service_level(ServiceLevel::Archive).first_name("Alicia").changes(),
            ),
            then: Then::Events(vec![profile_updated().first_name("Alicia").event()]),
        },
        Case {
            name: "the service level set at creation is what is compared",
            given: vec![created().service_level(ServiceLevel::Pro).event()],
            when: update_profile(profile_updated().service_level(ServiceLevel::Pro).changes()),
            then: Then::Events(vec![]),
        },
        Case {
            name: "the service level set by an earlier update is what is compared",
            given: vec![alice_created(), profile_updated().service_level(ServiceLevel::Pro).event()],
            when: update_profile(profile_updated().service_level(ServiceLevel::Archive).changes()),
            then: Then::Events(vec![profile_updated().service_level(ServiceLevel::Archive).event()]),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_profile_state() {
    let state = user_state(&[
        created().field(Field::Mobile, "+442079460958").event(),
        profile_updated()
            .email("alicia@example.com")
            .first_name("Alicia")
            .clear(Field::Phone)
            .set(Field::Title, "CTO")
            .service_level(ServiceLevel::Pro)
            .event(),
    ]);
    let fields: Vec<(Field, Option<&str>)> =
        Field::ALL.iter().map(|field| (*field, state.get(*field))).collect();
    assert_eq!(
        fields,
        [
            (Field::Email, None),
            (Field::FirstName, None),
            (Field::LastName, None),
            (Field::Phone, None),
            (Field::Mobile, Some("+442079460958")),
            (Field::OfficePhone, None),
            (Field::Fax, None),
            (Field::OutboundCallerId, None),
            (Field::Extension, Some("101")),
            (Field::Title, Some("CTO")),
            (Field::CustomerCode, None),
            (Field::Udid, None),
        ],
        "`get` answers the optional fields only"
    );
    assert_eq!(
        (state.email.as_str(), state.first_name.as_str(), state.last_name.as_str(), state.service_level),
        ("alicia@example.com", "Alicia", "Smith", ServiceLevel::Pro)
    );
}

#[test]
fn user_role_group_and_access() {
    use user::Command::{AssignGroup, AssignRole, SetAccess};
    use user::Event::{GroupAssigned, RoleAssigned, UserAccessChanged};

    let acme_user_role = role_state(&[role_created(ACME, "User", true)]);
    let acme_main_group = group_state(&[main_group_created()]);
    let deleted_support = group_state(&[support_group_created(), group::Event::GroupDeleted {}]);
    let globex_main_group = group_state(&[group_created(GLOBEX, group::MAIN_GROUP, None, true)]);
    let access =
        |admin: Option<bool>, portal_access: Option<bool>| UserAccessChanged { admin, portal_access };
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
            when: AssignRole { role_id: GLOBEX_USER_ROLE, role: globex_user_role() },
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
            when: AssignRole { role_id: ACME_SALES_ROLE, role: deleted_sales_role() },
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "assign another group of the same company",
            given: vec![alice_created()],
            when: AssignGroup { group_id: ACME_SUPPORT_GROUP, group: support_group() },
            then: Then::Events(vec![GroupAssigned { group_id: ACME_SUPPORT_GROUP }]),
        },
        Case {
            name: "assign back to Main Group",
            given: vec![alice_created(), GroupAssigned { group_id: ACME_SUPPORT_GROUP }],
            when: AssignGroup { group_id: ACME_MAIN_GROUP, group: acme_main_group.clone() },
            then: Then::Events(vec![GroupAssigned { group_id: ACME_MAIN_GROUP }]),
        },
        Case {
            name: "assign the group the user is in is a no-op",
            given: vec![alice_created()],
            when: AssignGroup { group_id: ACME_MAIN_GROUP, group: acme_main_group },
            then: Then::Events(vec![]),
        },
        Case {
            name: "assign the group given by an earlier assignment is a no-op",
            given: vec![alice_created(), GroupAssigned { group_id: ACME_SUPPORT_GROUP }],
            when: AssignGroup { group_id: ACME_SUPPORT_GROUP, group: support_group() },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a user created without a group can be given one",
            given: vec![created().group(None).event()],
            when: AssignGroup { group_id: ACME_SUPPORT_GROUP, group: support_group() },
            then: Then::Events(vec![GroupAssigned { group_id: ACME_SUPPORT_GROUP }]),
        },
        Case {
            name: "assign a group of another company is refused",
            given: vec![alice_created()],
            when: AssignGroup { group_id: GLOBEX_MAIN_GROUP, group: globex_main_group },
            then: Then::Error(group_in_other_company()),
        },
        Case {
            name: "assign a deleted group is refused",
            given: vec![alice_created()],
            when: AssignGroup { group_id: ACME_SUPPORT_GROUP, group: deleted_support.clone() },
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "assign the deleted group the user is in is refused, not a no-op",
            given: vec![alice_created(), GroupAssigned { group_id: ACME_SUPPORT_GROUP }],
            when: AssignGroup { group_id: ACME_SUPPORT_GROUP, group: deleted_support },
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "assign an unknown group is an unknown groupId",
            given: vec![alice_created()],
            when: AssignGroup { group_id: UNKNOWN, group: group::State::default() },
            then: Then::Error(DomainError::UnknownReference { field: "groupId", id: UNKNOWN }),
        },
        Case {
            name: "make a user an admin",
            given: vec![alice_created()],
            when: SetAccess { admin: Some(true), portal_access: None },
            then: Then::Events(vec![access(Some(true), None)]),
        },
        Case {
            name: "take portal access away",
            given: vec![alice_created()],
            when: SetAccess { admin: None, portal_access: Some(false) },
            then: Then::Events(vec![access(None, Some(false))]),
        },
        Case {
            name: "both in one command",
            given: vec![alice_created()],
            when: SetAccess { admin: Some(true), portal_access: Some(false) },
            then: Then::Events(vec![access(Some(true), Some(false))]),
        },
        Case {
            name: "only what changes is in the event",
            given: vec![alice_created()],
            when: SetAccess { admin: Some(true), portal_access: Some(true) },
            then: Then::Events(vec![access(Some(true), None)]),
        },
        Case {
            name: "the access the user has is a no-op",
            given: vec![alice_created()],
            when: SetAccess { admin: Some(false), portal_access: Some(true) },
            then: Then::Events(vec![]),
        },
        Case {
            name: "no access fields is a no-op",
            given: vec![alice_created()],
            when: SetAccess { admin: None, portal_access: None },
            then: Then::Events(vec![]),
        },
        Case {
            name: "the access given at creation is what is compared",
            given: vec![created().admin().without_portal_access().event()],
            when: SetAccess { admin: Some(true), portal_access: Some(false) },
            then: Then::Events(vec![]),
        },
        Case {
            name: "the access set by an earlier event is what is compared",
            given: vec![alice_created(), access(Some(true), Some(false))],
            when: SetAccess { admin: Some(false), portal_access: Some(false) },
            then: Then::Events(vec![access(Some(false), None)]),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_permissions() {
    use user::Command::{Grant, Revoke};
    use user::Event::{UserPermissionGranted, UserPermissionRevoked};

    let cases = vec![
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
    use user::Event::{
        GroupAssigned, RoleAssigned, UserAccessChanged, UserApproved, UserDeactivated, UserDeleted,
        UserSuspended,
    };

    let username = |name: &str| ClaimChange::Acquire(format!("username:{name}"));
    let email = |email: &str| format!("email:{email}");
    let extension = |ext: &str| format!("extension:{ACME}:{ext}");
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
            event: created().username("Alice.Smith").email("Alice@Example.COM").event(),
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
            name: "the other profile fields claim nothing at creation, but the mobile does",
            given: vec![],
            event: created()
                .extension(None)
                .field(Field::Mobile, "+442079460958")
                .field(Field::OutboundCallerId, "+14155550100")
                .event(),
            then: vec![
                username("alice"),
                ClaimChange::Acquire(email("alice@example.com")),
                ClaimChange::Acquire("mobile:+442079460958".to_owned()),
            ],
        },
        ClaimCase {
            name: "an extension is claimed within the user's own company",
            given: vec![],
            event: created().company(GLOBEX).event(),
            then: vec![
                username("alice"),
                ClaimChange::Acquire(email("alice@example.com")),
                ClaimChange::Acquire(format!("extension:{GLOBEX}:101")),
            ],
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
            name: "a second new email frees the one taken by the first",
            given: vec![alice_created(), profile_updated().email("a@acme.example").event()],
            event: profile_updated().email("b@acme.example").event(),
            then: vec![
                ClaimChange::Release(email("a@acme.example")),
                ClaimChange::Acquire(email("b@acme.example")),
            ],
        },
        ClaimCase {
            name: "a new extension frees the old one and claims the new one",
            given: vec![alice_created()],
            event: profile_updated().extension(Some("202")).event(),
            then: vec![ClaimChange::Release(extension("101")), ClaimChange::Acquire(extension("202"))],
        },
        ClaimCase {
            name: "a second new extension frees the one taken by the first",
            given: vec![alice_created(), profile_updated().extension(Some("202")).event()],
            event: profile_updated().extension(Some("303")).event(),
            then: vec![ClaimChange::Release(extension("202")), ClaimChange::Acquire(extension("303"))],
        },
        ClaimCase {
            name: "a first extension only claims",
            given: vec![bare_alice_created()],
            event: profile_updated().extension(Some("202")).event(),
            then: vec![ClaimChange::Acquire(extension("202"))],
        },
        ClaimCase {
            name: "an extension set again after being cleared only claims",
            given: vec![alice_created(), profile_updated().extension(None).event()],
            event: profile_updated().extension(Some("101")).event(),
            then: vec![ClaimChange::Acquire(extension("101"))],
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
            name: "names, phones other than the mobile and the other fields claim nothing",
            given: vec![alice_created()],
            event: profile_updated()
                .first_name("Alicia")
                .last_name("Jones")
                .phone(None)
                .set(Field::OfficePhone, "+442079460958")
                .set(Field::Title, "CTO")
                .service_level(ServiceLevel::Pro)
                .event(),
            then: vec![],
        },
        ClaimCase {
            name: "deletion frees email, extension and username",
            given: vec![alice_created()],
            event: UserDeleted {},
            then: vec![
                ClaimChange::Release(email("alice@example.com")),
                ClaimChange::Release(extension("101")),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "deletion frees the email and extension the user has now",
            given: vec![
                alice_created(),
                profile_updated().email("a@acme.example").extension(Some("202")).event(),
            ],
            event: UserDeleted {},
            then: vec![
                ClaimChange::Release(email("a@acme.example")),
                ClaimChange::Release(extension("202")),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "deletion of a user without an extension frees the email and username",
            given: vec![bare_alice_created()],
            event: UserDeleted {},
            then: vec![
                ClaimChange::Release(email("alice@example.com")),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "deletion after the extension was cleared frees the email and username",
            given: vec![alice_created(), profile_updated().extension(None).event()],
            event: UserDeleted {},
            then: vec![
                ClaimChange::Release(email("alice@example.com")),
                ClaimChange::Release(user::username_claim("alice")),
            ],
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
            name: "deactivation frees nothing: the user keeps its email and extension",
            given: vec![alice_created()],
            event: UserDeactivated {},
            then: vec![],
        },
        ClaimCase {
            name: "role assignment claims nothing",
            given: vec![alice_created()],
            event: RoleAssigned { role_id: ACME_SALES_ROLE },
            then: vec![],
        },
        ClaimCase {
            name: "group assignment claims nothing",
            given: vec![alice_created()],
            event: GroupAssigned { group_id: ACME_SUPPORT_GROUP },
            then: vec![],
        },
        ClaimCase {
            name: "an access change claims nothing",
            given: vec![alice_created()],
            event: UserAccessChanged { admin: Some(true), portal_access: None },
            then: vec![],
        },
    ];
    check_claims(cases, user::Event::claims, user::evolve);
}
