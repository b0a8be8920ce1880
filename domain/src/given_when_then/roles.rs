//! Role: creation, updates, grants, holders and name claims.

use serde_json::json;

use super::*;
use crate::role::Holder;

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

pub(super) fn role_updated(name: Option<&str>, description: Option<&str>) -> role::Event {
    role::Event::RoleUpdated { name: name.map(str::to_owned), description: description.map(str::to_owned) }
}

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

fn held_by(holder: Holder) -> role::Event {
    role::Event::RoleHolderAdded { holder }
}

fn released_by(holder: Holder) -> role::Event {
    role::Event::RoleHolderRemoved { holder }
}

/// `held_by` is the message's count, spelled out: "1 user and 0 groups".
fn role_in_use(users: u32, groups: u32, held_by: &str) -> DomainError {
    rule_with(
        "role_in_use",
        &format!("the role is held by {held_by}; give them another role first"),
        json!({ "users": users, "groups": groups }),
    )
}

#[test]
fn role_holders() {
    use role::Command::{AddHolder, Delete, RemoveHolder};
    use role::Event::RoleDeleted;

    let sales = || role_created(ACME, "Sales", false);
    let cases = vec![
        Case {
            name: "a user who is given the role is a holder",
            given: vec![sales()],
            when: AddHolder(Holder::User(ALICE)),
            then: Then::Events(vec![held_by(Holder::User(ALICE))]),
        },
        Case {
            name: "a group that carries the role is a holder",
            given: vec![sales()],
            when: AddHolder(Holder::Group(ACME_SUPPORT_GROUP)),
            then: Then::Events(vec![held_by(Holder::Group(ACME_SUPPORT_GROUP))]),
        },
        Case {
            name: "a user who leaves the role is no longer a holder",
            given: vec![sales(), held_by(Holder::User(ALICE))],
            when: RemoveHolder(Holder::User(ALICE)),
            then: Then::Events(vec![released_by(Holder::User(ALICE))]),
        },
        Case {
            name: "a group that stops carrying the role is no longer a holder",
            given: vec![sales(), held_by(Holder::Group(ACME_SUPPORT_GROUP))],
            when: RemoveHolder(Holder::Group(ACME_SUPPORT_GROUP)),
            then: Then::Events(vec![released_by(Holder::Group(ACME_SUPPORT_GROUP))]),
        },
        Case {
            name: "a default role is held like any other",
            given: vec![role_created(ACME, "User", true)],
            when: AddHolder(Holder::User(ALICE)),
            then: Then::Events(vec![held_by(Holder::User(ALICE))]),
        },
        Case {
            name: "a role held by a user cannot be deleted, and says by how many",
            given: vec![sales(), held_by(Holder::User(ALICE))],
            when: Delete,
            then: Then::Error(role_in_use(1, 0, "1 user and 0 groups")),
        },
        Case {
            name: "a role carried by a group cannot be deleted",
            given: vec![sales(), held_by(Holder::Group(ACME_SUPPORT_GROUP))],
            when: Delete,
            then: Then::Error(role_in_use(0, 1, "0 users and 1 group")),
        },
        Case {
            name: "users and groups are counted apart",
            given: vec![
                sales(),
                held_by(Holder::User(ALICE)),
                held_by(Holder::Group(ACME_SUPPORT_GROUP)),
                held_by(Holder::User(BOB)),
            ],
            when: Delete,
            then: Then::Error(role_in_use(2, 1, "2 users and 1 group")),
        },
        Case {
            name: "a role still held by one of two users cannot be deleted",
            given: vec![
                sales(),
                held_by(Holder::User(ALICE)),
                held_by(Holder::User(BOB)),
                released_by(Holder::User(ALICE)),
            ],
            when: Delete,
            then: Then::Error(role_in_use(1, 0, "1 user and 0 groups")),
        },
        Case {
            name: "a role is deleted once every holder is gone",
            given: vec![
                sales(),
                held_by(Holder::User(ALICE)),
                held_by(Holder::Group(ACME_SUPPORT_GROUP)),
                released_by(Holder::User(ALICE)),
                released_by(Holder::Group(ACME_SUPPORT_GROUP)),
            ],
            when: Delete,
            then: Then::Events(vec![RoleDeleted {}]),
        },
        Case {
            name: "a default role in use is refused as default, not as in use",
            given: vec![role_created(ACME, "User", true), held_by(Holder::User(ALICE))],
            when: Delete,
            then: Then::Error(default_role("deleted")),
        },
        Case {
            name: "a deleted role in use is refused as deleted",
            given: vec![sales(), RoleDeleted {}, held_by(Holder::User(ALICE))],
            when: Delete,
            then: Then::Error(role_deleted()),
        },
    ];
    check(cases, role::decide, role::evolve);
}

#[test]
fn role_holders_are_counted() {
    let sales = || role_created(ACME, "Sales", false);
    let cases = vec![
        StateCase { name: "a new role has no holders", given: vec![sales()], then: (0, 0) },
        StateCase {
            name: "each user and each group counts once",
            given: vec![
                sales(),
                held_by(Holder::User(ALICE)),
                held_by(Holder::User(BOB)),
                held_by(Holder::Group(ACME_SUPPORT_GROUP)),
            ],
            then: (2, 1),
        },
        StateCase {
            name: "a removal counts down its own kind",
            given: vec![
                sales(),
                held_by(Holder::User(ALICE)),
                held_by(Holder::Group(ACME_SUPPORT_GROUP)),
                released_by(Holder::Group(ACME_SUPPORT_GROUP)),
            ],
            then: (1, 0),
        },
        StateCase {
            name: "a removal never counts below zero",
            given: vec![
                sales(),
                released_by(Holder::User(ALICE)),
                released_by(Holder::Group(ACME_MAIN_GROUP)),
            ],
            then: (0, 0),
        },
    ];
    check_states(cases, role::evolve, |state: &role::State| (state.users, state.groups));
}

#[test]
fn a_role_is_usable_by_its_own_company_while_it_lives() {
    let cases = vec![
        StateCase {
            name: "a live role of the company",
            given: vec![role_created(ACME, "Sales", false)],
            then: Ok(ACME_SALES_ROLE),
        },
        StateCase {
            name: "a role that does not exist is an unknown reference under the field given",
            given: vec![],
            then: Err(DomainError::UnknownReference { field: "roleId", id: ACME_SALES_ROLE }),
        },
        StateCase {
            name: "a role of another company",
            given: vec![role_created(GLOBEX, "Sales", false)],
            then: Err(role_in_other_company()),
        },
        StateCase {
            name: "a deleted role",
            given: vec![role_created(ACME, "Sales", false), role::Event::RoleDeleted {}],
            then: Err(role_deleted()),
        },
        StateCase {
            name: "a deleted role of another company is refused as another company's",
            given: vec![role_created(GLOBEX, "Sales", false), role::Event::RoleDeleted {}],
            then: Err(role_in_other_company()),
        },
    ];
    check_states(cases, role::evolve, |state: &role::State| {
        state.usable_by(Some(ACME), ACME_SALES_ROLE, "roleId")
    });
    assert_eq!(
        role_state(&[]).usable_by(Some(ACME), UNKNOWN, "groupRoleId"),
        Err(DomainError::UnknownReference { field: "groupRoleId", id: UNKNOWN }),
        "the field named is the caller's",
    );
    assert_eq!(
        sales_role().usable_by(None, ACME_SALES_ROLE, "roleId"),
        Err(role_in_other_company()),
        "a holder of no company cannot use a company's role",
    );
}

#[test]
fn role_holders_claim_nothing() {
    let sales = || role_created(ACME, "Sales", false);
    let cases = vec![
        ClaimCase {
            name: "a user holder claims nothing",
            given: vec![sales()],
            event: held_by(Holder::User(ALICE)),
            then: vec![],
        },
        ClaimCase {
            name: "a group holder claims nothing",
            given: vec![sales()],
            event: held_by(Holder::Group(ACME_SUPPORT_GROUP)),
            then: vec![],
        },
        ClaimCase {
            name: "a holder removed frees nothing",
            given: vec![sales(), held_by(Holder::User(ALICE))],
            event: released_by(Holder::User(ALICE)),
            then: vec![],
        },
    ];
    check_claims(cases, role::Event::claims, role::evolve);
}
