//! The stored JSON of every event: round trips, names, shapes, and old formats still read.

use serde_json::json;

use super::roles::role_updated;
use super::*;
use crate::apps::App;
use crate::policy::{PasswordPolicy, UsernamePolicy};
use crate::role::Holder;
use crate::user::{PasswordSource, PreviousNumber, SecondFactor, TokenPurpose};

const REQUEST: Uuid = Uuid::from_u128(0x4E0_0001);

fn settings_updated(manual_filtering: Option<bool>, settings: serde_json::Value) -> user::Event {
    let settings = serde_json::from_value(settings).expect("a map of settings");
    user::Event::UserSettingsUpdated { manual_filtering, settings }
}

fn mobile_changed(mobile: &str, previous: Option<&str>, previous_status: PreviousNumber) -> user::Event {
    user::Event::MobileNumberChanged {
        mobile: mobile.to_owned(),
        previous: previous.map(str::to_owned),
        previous_status,
    }
}

const ARGON: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

const CHALLENGE: Uuid = Uuid::from_u128(0xC4A1_0001);
/// The SHA-256 of the PIN `123456`.
const PIN_HASH: &str = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92";

fn two_factor_challenged() -> user::Event {
    user::Event::TwoFactorChallenged {
        challenge_id: CHALLENGE,
        pin_hash: PIN_HASH.to_owned(),
        expires_at: now() + TimeDelta::minutes(10),
        channel: SecondFactor::Sms,
    }
}

/// A TOTP secret as the vault seals it (`v1:` + nonce and ciphertext in hex).
const SEALED: &str = "v1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn totp_challenged() -> user::Event {
    user::Event::TwoFactorChallenged {
        challenge_id: CHALLENGE,
        pin_hash: String::new(),
        expires_at: now() + TimeDelta::minutes(10),
        channel: SecondFactor::Totp,
    }
}

fn password_set(source: PasswordSource, must_change: bool) -> user::Event {
    user::Event::PasswordSet { password_hash: ARGON.to_owned(), source, must_change, at: now() }
}

fn ownership_confirmed(role_id: Option<Uuid>, group_id: Option<Uuid>) -> user::Event {
    user::Event::OwnershipConfirmed {
        request_id: REQUEST,
        from_company_id: ACME,
        company_id: GLOBEX,
        role_id,
        group_id,
    }
}

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
        UserDeactivated {} => 10,
        GroupAssigned { .. } => 11,
        UserAccessChanged { .. } => 12,
        UserSettingsUpdated { .. } => 13,
        MobileNumberChanged { .. } => 14,
        OwnershipRequested { .. } => 15,
        OwnershipConfirmed { .. } => 16,
        OwnershipDeclined { .. } => 17,
        TokenIssued { .. } => 18,
        PasswordSet { .. } => 19,
        LoginSucceeded { .. } => 20,
        LoginFailed { .. } => 21,
        UserLocked { .. } => 22,
        UserUnlocked {} => 23,
        PasswordRehashed { .. } => 24,
        TwoFactorChallenged { .. } => 25,
        TwoFactorFailed { .. } => 26,
        TwoFactorSet { .. } => 27,
        TotpEnrolled { .. } => 28,
        TotpConfirmed { .. } => 29,
        TotpRemoved {} => 30,
        TotpCodeAccepted { .. } => 31,
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
        RoleHolderAdded { .. } => 5,
        RoleHolderRemoved { .. } => 6,
    }
}

fn company_event_index(event: &company::Event) -> usize {
    use company::Event::*;
    match event {
        CompanyRegistered { .. } => 0,
        CompanyUpdated { .. } => 1,
        LicenseLimitSet { .. } => 2,
        CompanyPoliciesSet { .. } => 3,
        LicenseSeatTaken { .. } => 4,
        LicenseSeatReleased { .. } => 5,
        CompanyAppsSet { .. } => 6,
    }
}

fn group_event_index(event: &group::Event) -> usize {
    use group::Event::*;
    match event {
        GroupCreated { .. } => 0,
        GroupRenamed { .. } => 1,
        GroupRoleSet { .. } => 2,
        GroupDeleted {} => 3,
        GroupMemberAdded { .. } => 4,
        GroupMemberRemoved { .. } => 5,
    }
}

fn assert_covers<E>(samples: &[E], index: fn(&E) -> usize, types: usize, what: &str) {
    let covered: BTreeSet<usize> = samples.iter().map(index).collect();
    assert_eq!(covered, (0..types).collect(), "{what} samples must cover every event type");
}

fn telemessage_policies() -> company::Event {
    company::Event::CompanyPoliciesSet {
        username_policy: Some(UsernamePolicy {
            min_length: 4,
            max_length: 64,
            allowed_symbols: ".-_ ".to_owned(),
            email_as_username: false,
        }),
        password_policy: Some(PasswordPolicy {
            min_length: 8,
            max_length: 20,
            required_classes: 3,
            forbidden_characters: "\"',".to_owned(),
            max_failed_logins: 3,
            lock_minutes: 30,
            require_two_factor: false,
        }),
    }
}

#[test]
fn every_event_type_round_trips_through_stored_json() {
    let user_samples = vec![
        alice_created(),
        bare_alice_created(),
        created()
            .group(None)
            .role(None)
            .approved()
            .service_level(ServiceLevel::Pro)
            .admin()
            .without_portal_access()
            .field(Field::Mobile, "+442079460958")
            .field(Field::OfficePhone, "+14155550199")
            .field(Field::Fax, "+14155550142")
            .field(Field::OutboundCallerId, "+97231234567")
            .field(Field::Title, "CTO")
            .field(Field::CustomerCode, "C-42")
            .field(Field::Udid, "00008020-0001")
            .event(),
        user::Event::UserApproved {},
        user::Event::UserDisapproved {},
        suspended(Some(days(7)), Some("holiday")),
        suspended(None, None),
        user::Event::UserDeactivated {},
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
        profile_updated().service_level(ServiceLevel::Pro).event(),
        profile_updated()
            .set(Field::Mobile, "+14155550123")
            .clear(Field::Fax)
            .set(Field::Title, "CTO")
            .clear(Field::Udid)
            .service_level(ServiceLevel::Archive)
            .event(),
        user::Event::UserDeleted {},
        user::Event::RoleAssigned { role_id: ACME_SALES_ROLE },
        user::Event::GroupAssigned { group_id: ACME_SUPPORT_GROUP },
        user::Event::UserAccessChanged { admin: Some(true), portal_access: Some(false) },
        user::Event::UserAccessChanged { admin: None, portal_access: Some(true) },
        user::Event::UserPermissionGranted { module: Module::NoAnswerSettings, level: Level::Edit },
        user::Event::UserPermissionRevoked { module: Module::PlansAndNumbers },
        settings_updated(
            Some(true),
            json!({ "theme": "dark", "pageSize": 25, "compact": false, "zoom": 1.5 }),
        ),
        settings_updated(None, json!({ "theme": null, "note": "é".repeat(1000) })),
        settings_updated(Some(false), json!({})),
        mobile_changed("+447911123456", None, PreviousNumber::Suspended),
        mobile_changed("+14155550177", Some("+447911123456"), PreviousNumber::Removed),
        user::Event::OwnershipRequested { request_id: REQUEST, company_id: GLOBEX },
        ownership_confirmed(Some(GLOBEX_USER_ROLE), Some(GLOBEX_MAIN_GROUP)),
        ownership_confirmed(None, None),
        user::Event::OwnershipDeclined { request_id: REQUEST },
        user::Event::TokenIssued {
            token_hash: "9f86d081884c7d65".to_owned(),
            expires_at: days(7),
            purpose: TokenPurpose::Activation,
        },
        user::Event::TokenIssued {
            token_hash: "60303ae22b998861".to_owned(),
            expires_at: now() + TimeDelta::hours(1),
            purpose: TokenPurpose::PasswordReset,
        },
        password_set(PasswordSource::Token, false),
        password_set(PasswordSource::Admin, true),
        password_set(PasswordSource::User, false),
        user::Event::LoginSucceeded { at: now() },
        user::Event::LoginFailed { failures: 3 },
        user::Event::UserLocked { until: now() + TimeDelta::minutes(15) },
        user::Event::UserUnlocked {},
        user::Event::PasswordRehashed { password_hash: ARGON.to_owned() },
        two_factor_challenged(),
        user::Event::TwoFactorFailed { challenge_id: CHALLENGE, failures: 1 },
        user::Event::TwoFactorFailed { challenge_id: CHALLENGE, failures: user::PIN_ATTEMPTS },
        user::Event::TwoFactorSet { enabled: true },
        user::Event::TwoFactorSet { enabled: false },
        totp_challenged(),
        user::Event::TotpEnrolled { secret: SEALED.to_owned() },
        user::Event::TotpConfirmed { step: 58_000_000 },
        user::Event::TotpRemoved {},
        user::Event::TotpCodeAccepted { step: 58_000_001 },
    ];
    assert_covers(&user_samples, user_event_index, 32, "user");
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
        role::Event::RoleHolderAdded { holder: Holder::User(ALICE) },
        role::Event::RoleHolderAdded { holder: Holder::Group(ACME_SUPPORT_GROUP) },
        role::Event::RoleHolderRemoved { holder: Holder::User(ALICE) },
        role::Event::RoleHolderRemoved { holder: Holder::Group(ACME_SUPPORT_GROUP) },
    ];
    assert_covers(&role_samples, role_event_index, 7, "role");
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
            main_group_id: None,
        },
        company::Event::CompanyUpdated { name: Some("Acme Corp".to_owned()), main_phone: None },
        company::Event::CompanyUpdated { name: None, main_phone: Some("+14155550123".to_owned()) },
        company::Event::LicenseLimitSet { limit: Some(10) },
        company::Event::LicenseLimitSet { limit: None },
        telemessage_policies(),
        company::Event::CompanyPoliciesSet { username_policy: None, password_policy: None },
        company::Event::CompanyPoliciesSet {
            username_policy: None,
            password_policy: Some(PasswordPolicy { require_two_factor: true, ..PasswordPolicy::default() }),
        },
        company::Event::LicenseSeatTaken { user_id: ALICE, used: 3 },
        company::Event::LicenseSeatReleased { user_id: ALICE, used: 0 },
        company::Event::CompanyAppsSet { apps: App::ALL.into() },
        company::Event::CompanyAppsSet { apps: BTreeSet::new() },
    ];
    assert_covers(&company_samples, company_event_index, 7, "company");
    check_round_trip(&company_samples);

    let group_samples = vec![
        main_group_created(),
        group_created(ACME, "Sales floor", Some(ACME_SALES_ROLE), false),
        group::Event::GroupRenamed { name: "Care".to_owned() },
        group::Event::GroupRoleSet { role_id: Some(ACME_SALES_ROLE) },
        group::Event::GroupRoleSet { role_id: None },
        group::Event::GroupDeleted {},
        group::Event::GroupMemberAdded { user_id: ALICE },
        group::Event::GroupMemberRemoved { user_id: ALICE },
    ];
    assert_covers(&group_samples, group_event_index, 6, "group");
    check_round_trip(&group_samples);
}

#[test]
fn event_type_names_are_the_variant_names() {
    assert_eq!(alice_created().event_type(), "UserCreated");
    assert_eq!(profile_updated().event().event_type(), "UserProfileUpdated");
    assert_eq!(
        user::Event::UserPermissionRevoked { module: Module::Sms }.event_type(),
        "UserPermissionRevoked"
    );
    assert_eq!(user::Event::UserDeactivated {}.event_type(), "UserDeactivated");
    assert_eq!(user::Event::GroupAssigned { group_id: ACME_MAIN_GROUP }.event_type(), "GroupAssigned");
    assert_eq!(
        user::Event::UserAccessChanged { admin: None, portal_access: None }.event_type(),
        "UserAccessChanged"
    );
    assert_eq!(role::Event::RoleDeleted {}.event_type(), "RoleDeleted");
    assert_eq!(role::Event::RoleHolderAdded { holder: Holder::User(ALICE) }.event_type(), "RoleHolderAdded");
    assert_eq!(acme_registered().event_type(), "CompanyRegistered");
    assert_eq!(company::Event::LicenseSeatTaken { user_id: ALICE, used: 1 }.event_type(), "LicenseSeatTaken");
    assert_eq!(telemessage_policies().event_type(), "CompanyPoliciesSet");
    assert_eq!(main_group_created().event_type(), "GroupCreated");
    assert_eq!(group::Event::GroupMemberRemoved { user_id: ALICE }.event_type(), "GroupMemberRemoved");
    assert_eq!(settings_updated(None, json!({})).event_type(), "UserSettingsUpdated");
    assert_eq!(
        mobile_changed("+447911123456", None, PreviousNumber::Removed).event_type(),
        "MobileNumberChanged"
    );
    assert_eq!(
        user::Event::OwnershipRequested { request_id: REQUEST, company_id: GLOBEX }.event_type(),
        "OwnershipRequested"
    );
    assert_eq!(ownership_confirmed(None, None).event_type(), "OwnershipConfirmed");
    assert_eq!(user::Event::OwnershipDeclined { request_id: REQUEST }.event_type(), "OwnershipDeclined");
    assert_eq!(company::Event::CompanyAppsSet { apps: BTreeSet::new() }.event_type(), "CompanyAppsSet");
    assert!(
        user::Event::from_stored("UserRenamed", &json!({})).is_err(),
        "an unknown type must not be read as some other event"
    );
    assert!(
        user::Event::from_stored("RoleAssigned", &json!({"roleId": "not a uuid"})).is_err(),
        "a malformed payload must not be read"
    );
    assert!(
        group::Event::from_stored("GroupCreated", &json!({"companyId": ACME.to_string()})).is_err(),
        "a payload missing a required field must not be read"
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
            "groupId": ACME_MAIN_GROUP.to_string(),
            "serviceLevel": "ARCHIVE",
            "admin": false,
            "portalAccess": true,
        }),
    );
    assert_eq!(
        bare_alice_created().to_data()["phone"],
        serde_json::Value::Null,
        "UserCreated keeps an absent phone as null"
    );
    let with_fields = created()
        .group(None)
        .field(Field::Mobile, "+442079460958")
        .field(Field::OutboundCallerId, "+14155550100")
        .field(Field::CustomerCode, "C-42")
        .event()
        .to_data();
    assert_eq!(
        (
            &with_fields["mobile"],
            &with_fields["outboundCallerId"],
            &with_fields["customerCode"],
            with_fields.get("groupId"),
            with_fields.get("title"),
        ),
        (&json!("+442079460958"), &json!("+14155550100"), &json!("C-42"), None, None),
        "the other profile fields sit beside the rest, under their JSON names, only when set"
    );
    assert_eq!(
        suspended(Some(days(7)), Some("holiday")).to_data(),
        json!({ "until": "2025-06-08T12:00:00Z", "reason": "holiday" }),
    );
    assert_eq!(suspended(None, None).to_data(), json!({}));
    assert_eq!(user::Event::UserApproved {}.to_data(), json!({}));
    assert_eq!(user::Event::UserDeactivated {}.to_data(), json!({}));
    assert_eq!(
        user::Event::UserPermissionGranted { module: Module::CallLogs, level: Level::Edit }.to_data(),
        json!({ "module": "CALL_LOGS", "level": "EDIT" }),
    );
    assert_eq!(
        profile_updated()
            .service_level(ServiceLevel::Pro)
            .set(Field::OfficePhone, "+14155550199")
            .clear(Field::Mobile)
            .event()
            .to_data(),
        json!({ "serviceLevel": "PRO", "officePhone": "+14155550199", "mobile": null }),
    );
    assert_eq!(
        user::Event::GroupAssigned { group_id: ACME_SUPPORT_GROUP }.to_data(),
        json!({ "groupId": ACME_SUPPORT_GROUP.to_string() }),
    );
    assert_eq!(
        user::Event::UserAccessChanged { admin: None, portal_access: Some(false) }.to_data(),
        json!({ "portalAccess": false }),
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
        role::Event::RoleHolderAdded { holder: Holder::User(ALICE) }.to_data(),
        json!({ "holder": { "kind": "USER", "id": ALICE.to_string() } }),
    );
    assert_eq!(
        role::Event::RoleHolderRemoved { holder: Holder::Group(ACME_SUPPORT_GROUP) }.to_data(),
        json!({ "holder": { "kind": "GROUP", "id": ACME_SUPPORT_GROUP.to_string() } }),
    );
    assert_eq!(
        company::Event::CompanyRegistered {
            name: "Acme".to_owned(),
            main_phone: "+14155550100".to_owned(),
            parent_company_id: None,
            license_limit: Some(25),
            administrator_role_id: ACME_ADMIN_ROLE,
            user_role_id: ACME_USER_ROLE,
            main_group_id: Some(ACME_MAIN_GROUP),
        }
        .to_data(),
        json!({
            "name": "Acme",
            "mainPhone": "+14155550100",
            "parentCompanyId": null,
            "licenseLimit": 25,
            "administratorRoleId": ACME_ADMIN_ROLE.to_string(),
            "userRoleId": ACME_USER_ROLE.to_string(),
            "mainGroupId": ACME_MAIN_GROUP.to_string(),
        }),
    );
    assert_eq!(
        company::Event::CompanyUpdated { name: None, main_phone: Some("+14155550123".to_owned()) }.to_data(),
        json!({ "mainPhone": "+14155550123" }),
    );
    assert_eq!(company::Event::LicenseLimitSet { limit: None }.to_data(), json!({ "limit": null }));
    assert_eq!(
        company::Event::LicenseSeatTaken { user_id: ALICE, used: 3 }.to_data(),
        json!({ "userId": ALICE.to_string(), "used": 3 }),
    );
    assert_eq!(
        telemessage_policies().to_data(),
        json!({
            "usernamePolicy": {
                "minLength": 4,
                "maxLength": 64,
                "allowedSymbols": ".-_ ",
                "emailAsUsername": false,
            },
            "passwordPolicy": {
                "maxFailedLogins": 3,
                "lockMinutes": 30,
                "requireTwoFactor": false,
                "minLength": 8,
                "maxLength": 20,
                "requiredClasses": 3,
                "forbiddenCharacters": "\"',",
            },
        }),
    );
    assert_eq!(
        group_created(ACME, "Sales floor", Some(ACME_SALES_ROLE), false).to_data(),
        json!({
            "companyId": ACME.to_string(),
            "name": "Sales floor",
            "roleId": ACME_SALES_ROLE.to_string(),
            "isMain": false,
        }),
    );
    assert_eq!(
        group::Event::GroupMemberAdded { user_id: ALICE }.to_data(),
        json!({ "userId": ALICE.to_string() }),
    );
}

#[test]
fn events_stored_before_this_version_still_read() {
    let old_created = user::Event::from_stored(
        "UserCreated",
        &json!({
            "companyId": ACME.to_string(),
            "username": "alice",
            "email": "alice@example.com",
            "firstName": "Alice",
            "lastName": "Smith",
            "phone": null,
            "extension": null,
            "roleId": null,
            "approved": false,
        }),
    )
    .expect("an old UserCreated reads");
    assert_eq!(
        old_created,
        created().role(None).group(None).phone(None).extension(None).event(),
        "an old UserCreated has no group, the ARCHIVE level, no admin, portal access and no other fields"
    );
    let mut with_unknown_key = alice_created().to_data();
    with_unknown_key["nickname"] = json!("Al");
    assert_eq!(
        user::Event::from_stored("UserCreated", &with_unknown_key).expect("an unknown key is ignored"),
        alice_created()
    );
    let state = user_state(&[old_created]);
    assert!(state.portal_access && !state.admin && state.profile.is_empty(), "{state:?}");
    assert_eq!(state.status_at(now()), user::Status::PendingApproval);

    let old_registered = company::Event::from_stored(
        "CompanyRegistered",
        &json!({
            "name": "Acme",
            "mainPhone": "+14155550100",
            "parentCompanyId": null,
            "licenseLimit": null,
            "administratorRoleId": ACME_ADMIN_ROLE.to_string(),
            "userRoleId": ACME_USER_ROLE.to_string(),
        }),
    )
    .expect("an old CompanyRegistered reads");
    let state = company_state(&[old_registered]);
    assert_eq!((state.main_group_id, state.licenses_used), (None, 0), "an old company has no Main Group yet");
}

#[test]
fn profile_update_null_is_not_absent() {
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
    assert_eq!(read(json!({ "phone": null })), profile_updated().phone(None).event());
    assert_eq!(
        read(json!({ "phone": "+14155550123" })),
        profile_updated().phone(Some("+14155550123")).event()
    );
    assert_eq!(
        read(json!({
            "email": "a@acme.example",
            "firstName": "A",
            "lastName": "B",
            "phone": null,
            "extension": "202",
        })),
        profile_updated()
            .email("a@acme.example")
            .first_name("A")
            .last_name("B")
            .phone(None)
            .extension(Some("202"))
            .event(),
        "every field of the old format reads"
    );
    assert_eq!(
        read(json!({ "mobile": null, "serviceLevel": "PRO" })),
        profile_updated().clear(Field::Mobile).service_level(ServiceLevel::Pro).event()
    );
    assert_eq!(read(json!({})), profile_updated().event());
    assert_eq!(
        read(json!({ "firstName": "A", "nickname": "Al" })),
        profile_updated().first_name("A").event(),
        "an unknown key is ignored"
    );

    // Replaying the stored forms: null clears the field, absence keeps it.
    let replay = |data: serde_json::Value| user_state(&[alice_created(), read(data)]);
    assert_eq!(replay(json!({ "phone": null })).get(Field::Phone), None);
    assert_eq!(replay(json!({ "firstName": "Alicia" })).get(Field::Phone), Some("+14155550123"));
    assert_eq!(replay(json!({ "extension": null })).get(Field::Extension), None);
    assert_eq!(replay(json!({ "extension": null })).get(Field::Phone), Some("+14155550123"));
}

#[test]
fn self_service_ownership_and_apps_stored_json() {
    // Only what changed is stored; a setting's own name is kept as given, null removes it.
    assert_eq!(
        settings_updated(
            Some(true),
            json!({ "theme": "dark", "page_size": 25, "compact": false, "old": null })
        )
        .to_data(),
        json!({
            "manualFiltering": true,
            "settings": { "theme": "dark", "page_size": 25, "compact": false, "old": null },
        }),
    );
    assert_eq!(settings_updated(Some(false), json!({})).to_data(), json!({ "manualFiltering": false }));
    assert_eq!(
        settings_updated(None, json!({ "theme": null })).to_data(),
        json!({ "settings": { "theme": null } }),
    );
    assert_eq!(settings_updated(None, json!({})).to_data(), json!({}));

    // A stored null reads back as "remove", not as an absent key.
    let read = |data: serde_json::Value| {
        user::Event::from_stored("UserSettingsUpdated", &data).expect("a valid UserSettingsUpdated payload")
    };
    let removed = read(json!({ "settings": { "theme": null } }));
    let user::Event::UserSettingsUpdated { manual_filtering: None, settings } = &removed else {
        panic!("read as {removed:?}");
    };
    assert_eq!(settings.get("theme"), Some(&None));
    assert_eq!(read(json!({})), settings_updated(None, json!({})));
    assert_eq!(
        user_state(&[
            alice_created(),
            read(json!({ "settings": { "theme": "dark", "lang": "en" } })),
            removed
        ])
        .settings,
        BTreeMap::from([("lang".to_owned(), json!("en"))]),
    );

    assert_eq!(
        mobile_changed("+14155550177", Some("+447911123456"), PreviousNumber::Removed).to_data(),
        json!({ "mobile": "+14155550177", "previous": "+447911123456", "previousStatus": "REMOVED" }),
    );
    assert_eq!(
        mobile_changed("+447911123456", None, PreviousNumber::Suspended).to_data(),
        json!({ "mobile": "+447911123456", "previous": null, "previousStatus": "SUSPENDED" }),
        "a first mobile keeps its absent previous number as null"
    );
    assert!(
        user::Event::from_stored(
            "MobileNumberChanged",
            &json!({ "mobile": "+447911123456", "previous": null })
        )
        .is_err(),
        "a MobileNumberChanged without previousStatus must not be read"
    );
    assert!(
        user::Event::from_stored(
            "MobileNumberChanged",
            &json!({ "mobile": "+447911123456", "previous": null, "previousStatus": "Suspended" }),
        )
        .is_err(),
        "previousStatus is SCREAMING_SNAKE_CASE only"
    );

    assert_eq!(
        user::Event::OwnershipRequested { request_id: REQUEST, company_id: GLOBEX }.to_data(),
        json!({ "requestId": REQUEST.to_string(), "companyId": GLOBEX.to_string() }),
    );
    assert_eq!(
        ownership_confirmed(Some(GLOBEX_USER_ROLE), Some(GLOBEX_MAIN_GROUP)).to_data(),
        json!({
            "requestId": REQUEST.to_string(),
            "fromCompanyId": ACME.to_string(),
            "companyId": GLOBEX.to_string(),
            "roleId": GLOBEX_USER_ROLE.to_string(),
            "groupId": GLOBEX_MAIN_GROUP.to_string(),
        }),
    );
    assert_eq!(
        ownership_confirmed(None, None).to_data(),
        json!({
            "requestId": REQUEST.to_string(),
            "fromCompanyId": ACME.to_string(),
            "companyId": GLOBEX.to_string(),
            "roleId": null,
            "groupId": null,
        }),
    );
    assert_eq!(
        user::Event::OwnershipDeclined { request_id: REQUEST }.to_data(),
        json!({ "requestId": REQUEST.to_string() }),
    );

    assert_eq!(
        company::Event::CompanyAppsSet { apps: [App::Sms, App::CallLogs, App::PlansAndNumbers].into() }
            .to_data(),
        json!({ "apps": ["CALL_LOGS", "PLANS_AND_NUMBERS", "SMS"] }),
        "apps are stored in the launcher's order, SCREAMING_SNAKE_CASE"
    );
    assert_eq!(company::Event::CompanyAppsSet { apps: BTreeSet::new() }.to_data(), json!({ "apps": [] }));
    assert!(
        company::Event::from_stored("CompanyAppsSet", &json!({ "apps": ["TELEPORT"] })).is_err(),
        "an unknown app must not be read"
    );
}

#[test]
fn credentials_stored_json() {
    assert_eq!(
        user::Event::TokenIssued {
            token_hash: "9f86d081884c7d65".to_owned(),
            expires_at: days(7),
            purpose: TokenPurpose::Activation,
        }
        .to_data(),
        json!({ "tokenHash": "9f86d081884c7d65", "expiresAt": "2025-06-08T12:00:00Z", "purpose": "ACTIVATION" }),
    );
    assert_eq!(
        user::Event::TokenIssued {
            token_hash: "60303ae22b998861".to_owned(),
            expires_at: now() + TimeDelta::hours(1),
            purpose: TokenPurpose::PasswordReset,
        }
        .to_data(),
        json!({
            "tokenHash": "60303ae22b998861",
            "expiresAt": "2025-06-01T13:00:00Z",
            "purpose": "PASSWORD_RESET",
        }),
    );
    assert_eq!(
        password_set(PasswordSource::Token, false).to_data(),
        json!({ "passwordHash": ARGON, "source": "TOKEN", "mustChange": false, "at": "2025-06-01T12:00:00Z" }),
    );
    assert_eq!(password_set(PasswordSource::Admin, true).to_data()["source"], json!("ADMIN"));
    assert_eq!(password_set(PasswordSource::User, false).to_data()["source"], json!("USER"));
    assert_eq!(user::Event::LoginSucceeded { at: now() }.to_data(), json!({ "at": "2025-06-01T12:00:00Z" }));
    assert_eq!(user::Event::LoginFailed { failures: 3 }.to_data(), json!({ "failures": 3 }));
    assert_eq!(
        user::Event::UserLocked { until: now() + TimeDelta::minutes(15) }.to_data(),
        json!({ "until": "2025-06-01T12:15:00Z" }),
    );
    assert_eq!(user::Event::UserUnlocked {}.to_data(), json!({}));
    assert_eq!(
        user::Event::PasswordRehashed { password_hash: ARGON.to_owned() }.to_data(),
        json!({ "passwordHash": ARGON }),
    );

    let names = [
        (
            user::Event::TokenIssued {
                token_hash: String::new(),
                expires_at: now(),
                purpose: TokenPurpose::Activation,
            },
            "TokenIssued",
        ),
        (password_set(PasswordSource::Token, false), "PasswordSet"),
        (user::Event::LoginSucceeded { at: now() }, "LoginSucceeded"),
        (user::Event::LoginFailed { failures: 1 }, "LoginFailed"),
        (user::Event::UserLocked { until: now() }, "UserLocked"),
        (user::Event::UserUnlocked {}, "UserUnlocked"),
        (user::Event::PasswordRehashed { password_hash: ARGON.to_owned() }, "PasswordRehashed"),
    ];
    for (event, name) in names {
        assert_eq!(event.event_type(), name);
    }

    assert!(
        user::Event::from_stored(
            "TokenIssued",
            &json!({ "tokenHash": "h", "expiresAt": "2025-06-08T12:00:00Z", "purpose": "PasswordReset" }),
        )
        .is_err(),
        "purpose is SCREAMING_SNAKE_CASE only"
    );
    assert!(
        user::Event::from_stored("PasswordSet", &json!({ "passwordHash": ARGON, "source": "TOKEN" }))
            .is_err(),
        "a PasswordSet without mustChange and at must not be read"
    );
    assert!(
        user::Event::from_stored(
            "PasswordSet",
            &json!({ "password_hash": ARGON, "source": "TOKEN", "must_change": false, "at": "2025-06-01T12:00:00Z" }),
        )
        .is_err(),
        "PasswordSet is camelCase only"
    );
}

#[test]
fn second_factor_stored_json() {
    assert_eq!(
        two_factor_challenged().to_data(),
        json!({
            "challengeId": "00000000-0000-0000-0000-0000c4a10001",
            "pinHash": PIN_HASH,
            "expiresAt": "2025-06-01T12:10:00Z",
            "channel": "SMS",
        }),
    );
    assert_eq!(
        totp_challenged().to_data(),
        json!({
            "challengeId": "00000000-0000-0000-0000-0000c4a10001",
            "pinHash": "",
            "expiresAt": "2025-06-01T12:10:00Z",
            "channel": "TOTP",
        }),
    );
    assert_eq!(
        user::Event::TotpEnrolled { secret: SEALED.to_owned() }.to_data(),
        json!({ "secret": SEALED })
    );
    assert_eq!(user::Event::TotpConfirmed { step: 7 }.to_data(), json!({ "step": 7 }));
    assert_eq!(user::Event::TotpCodeAccepted { step: 8 }.to_data(), json!({ "step": 8 }));
    assert_eq!(user::Event::TotpRemoved {}.to_data(), json!({}));
    assert_eq!(
        user::Event::TwoFactorFailed { challenge_id: CHALLENGE, failures: 2 }.to_data(),
        json!({ "challengeId": "00000000-0000-0000-0000-0000c4a10001", "failures": 2 }),
    );
    assert_eq!(user::Event::TwoFactorSet { enabled: true }.to_data(), json!({ "enabled": true }));
    assert_eq!(user::Event::TwoFactorSet { enabled: false }.to_data(), json!({ "enabled": false }));

    let names = [
        (two_factor_challenged(), "TwoFactorChallenged"),
        (user::Event::TwoFactorFailed { challenge_id: CHALLENGE, failures: 1 }, "TwoFactorFailed"),
        (user::Event::TwoFactorSet { enabled: true }, "TwoFactorSet"),
        (user::Event::TotpEnrolled { secret: SEALED.to_owned() }, "TotpEnrolled"),
        (user::Event::TotpConfirmed { step: 1 }, "TotpConfirmed"),
        (user::Event::TotpRemoved {}, "TotpRemoved"),
        (user::Event::TotpCodeAccepted { step: 1 }, "TotpCodeAccepted"),
    ];
    for (event, name) in names {
        assert_eq!(event.event_type(), name);
    }

    let read = |event_type: &str, data: serde_json::Value| user::Event::from_stored(event_type, &data);
    assert_eq!(
        read(
            "TwoFactorChallenged",
            json!({
                "challengeId": CHALLENGE.to_string(),
                "pinHash": PIN_HASH,
                "expiresAt": "2025-06-01T12:10:00Z",
            }),
        )
        .expect("a TwoFactorChallenged stored before authenticator apps reads"),
        two_factor_challenged(),
        "and its channel is SMS: the only one there was"
    );
    assert!(
        read(
            "TwoFactorChallenged",
            json!({ "challengeId": CHALLENGE.to_string(), "pinHash": "", "expiresAt": "2025-06-01T12:10:00Z", "channel": "totp" }),
        )
        .is_err(),
        "channel is SCREAMING_SNAKE_CASE only"
    );
    assert!(read("TotpEnrolled", json!({})).is_err(), "a TotpEnrolled without its secret must not be read");
    assert!(read("TotpConfirmed", json!({})).is_err(), "a TotpConfirmed without its step must not be read");
    assert!(
        read(
            "TwoFactorChallenged",
            json!({ "challenge_id": CHALLENGE.to_string(), "pin_hash": PIN_HASH, "expires_at": "2025-06-01T12:10:00Z" }),
        )
        .is_err(),
        "TwoFactorChallenged is camelCase only"
    );
    assert!(
        read(
            "TwoFactorChallenged",
            json!({ "challengeId": CHALLENGE.to_string(), "expiresAt": "2025-06-01T12:10:00Z" })
        )
        .is_err(),
        "a TwoFactorChallenged without its PIN hash must not be read"
    );
    assert!(
        read("TwoFactorFailed", json!({ "challengeId": CHALLENGE.to_string() })).is_err(),
        "a TwoFactorFailed without failures must not be read"
    );
    assert!(read("TwoFactorSet", json!({})).is_err(), "a TwoFactorSet without enabled must not be read");

    assert_eq!(
        company::Event::CompanyPoliciesSet {
            username_policy: None,
            password_policy: Some(PasswordPolicy { require_two_factor: true, ..PasswordPolicy::default() }),
        }
        .to_data()["passwordPolicy"],
        json!({
            "maxFailedLogins": 5,
            "lockMinutes": 15,
            "requireTwoFactor": true,
            "minLength": 8,
            "maxLength": 128,
            "requiredClasses": 2,
            "forbiddenCharacters": "",
        }),
    );
}

#[test]
fn a_password_policy_stored_before_lockouts_reads_with_the_default_lockout() {
    let old = company::Event::from_stored(
        "CompanyPoliciesSet",
        &json!({
            "usernamePolicy": null,
            "passwordPolicy": {
                "minLength": 8,
                "maxLength": 20,
                "requiredClasses": 3,
                "forbiddenCharacters": "",
            },
        }),
    )
    .expect("an old CompanyPoliciesSet reads");
    assert_eq!(
        old,
        company::Event::CompanyPoliciesSet {
            username_policy: None,
            password_policy: Some(PasswordPolicy {
                min_length: 8,
                max_length: 20,
                required_classes: 3,
                forbidden_characters: String::new(),
                max_failed_logins: 5,
                lock_minutes: 15,
                require_two_factor: false,
            }),
        },
    );
}
