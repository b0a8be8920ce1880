//! Group: creation, renames, roles, deletion, members and name claims.

use super::*;

fn create_group(name: &str, role: Option<(Uuid, role::State)>) -> group::Command {
    group::Command::Create { company_id: ACME, company: acme(), name: name.to_owned(), role, is_main: false }
}

fn rename(name: &str) -> group::Command {
    group::Command::Rename { name: name.to_owned() }
}

fn main_group(action: &str) -> DomainError {
    rule("main_group", &format!("Main Group cannot be {action}"))
}

fn member_added(user_id: Uuid) -> group::Event {
    group::Event::GroupMemberAdded { user_id }
}

fn member_removed(user_id: Uuid) -> group::Event {
    group::Event::GroupMemberRemoved { user_id }
}

#[test]
fn group_create() {
    let cases = vec![
        Case {
            name: "a group without a role, trimmed",
            given: vec![],
            when: create_group("  Support ", None),
            then: Then::Events(vec![support_group_created()]),
        },
        Case {
            name: "a group with a role of the same company",
            given: vec![],
            when: create_group("Sales floor", Some((ACME_SALES_ROLE, sales_role()))),
            then: Then::Events(vec![group_created(ACME, "Sales floor", Some(ACME_SALES_ROLE), false)]),
        },
        Case {
            name: "the Main Group is created as main",
            given: vec![],
            when: group::Command::Create {
                company_id: ACME,
                company: acme(),
                name: group::MAIN_GROUP.to_owned(),
                role: None,
                is_main: true,
            },
            then: Then::Events(vec![main_group_created()]),
        },
        Case {
            name: "a role of another company is refused",
            given: vec![],
            when: create_group("Support", Some((GLOBEX_USER_ROLE, globex_user_role()))),
            then: Then::Error(role_in_other_company()),
        },
        Case {
            name: "a deleted role is refused",
            given: vec![],
            when: create_group("Support", Some((ACME_SALES_ROLE, deleted_sales_role()))),
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "an unknown role is an unknown roleId",
            given: vec![],
            when: create_group("Support", Some((UNKNOWN, role::State::default()))),
            then: Then::Error(DomainError::UnknownReference { field: "roleId", id: UNKNOWN }),
        },
        Case {
            name: "an empty name is invalid",
            given: vec![],
            when: create_group("", None),
            then: Then::Problems(vec![("name", "must not be empty")]),
        },
        Case {
            name: "a blank name is invalid",
            given: vec![],
            when: create_group("   ", None),
            then: Then::Invalid(vec!["name"]),
        },
        Case {
            name: "a name of 101 characters is too long",
            given: vec![],
            when: create_group(&"g".repeat(101), None),
            then: Then::Problems(vec![("name", "must be at most 100 characters")]),
        },
        Case {
            name: "a name of 100 characters is allowed",
            given: vec![],
            when: create_group(&"g".repeat(100), None),
            then: Then::Events(vec![group_created(ACME, &"g".repeat(100), None, false)]),
        },
        Case {
            name: "validation comes before the role lookup",
            given: vec![],
            when: create_group("", Some((UNKNOWN, role::State::default()))),
            then: Then::Invalid(vec!["name"]),
        },
        Case {
            name: "a group in an unregistered company is an unknown companyId",
            given: vec![],
            when: group::Command::Create {
                company_id: UNKNOWN,
                company: company::State::default(),
                name: "Support".to_owned(),
                role: None,
                is_main: false,
            },
            then: Then::Error(DomainError::UnknownReference { field: "companyId", id: UNKNOWN }),
        },
        Case {
            name: "an existing group cannot be created again",
            given: vec![support_group_created()],
            when: create_group("Support", None),
            then: Then::Error(rule("already_exists", "the group already exists")),
        },
        Case {
            name: "a deleted group cannot be created again: its id is taken",
            given: vec![support_group_created(), group::Event::GroupDeleted {}],
            when: create_group("Support", None),
            then: Then::Error(rule("already_exists", "the group already exists")),
        },
    ];
    check(cases, group::decide, group::evolve);
}

#[test]
fn group_rename_role_and_delete() {
    use group::Command::{Delete, SetRole};
    use group::Event::{GroupDeleted, GroupRenamed, GroupRoleSet};

    let support = support_group_created;
    let cases = vec![
        Case {
            name: "rename a group, trimmed",
            given: vec![support()],
            when: rename(" Customer care "),
            then: Then::Events(vec![GroupRenamed { name: "Customer care".to_owned() }]),
        },
        Case {
            name: "rename to the same name is a no-op",
            given: vec![support()],
            when: rename(" Support "),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a rename to another case of the same name is a rename",
            given: vec![support()],
            when: rename("SUPPORT"),
            then: Then::Events(vec![GroupRenamed { name: "SUPPORT".to_owned() }]),
        },
        Case {
            name: "the evolved name is what a later rename compares with",
            given: vec![support(), GroupRenamed { name: "Care".to_owned() }],
            when: rename("Care"),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a rename to a blank name is invalid",
            given: vec![support()],
            when: rename(" "),
            then: Then::Invalid(vec!["name"]),
        },
        Case {
            name: "Main Group cannot be renamed",
            given: vec![main_group_created()],
            when: rename("Everyone"),
            then: Then::Error(main_group("renamed")),
        },
        Case {
            name: "Main Group given its own name is not renamed: a no-op",
            given: vec![main_group_created()],
            when: rename("Main Group "),
            then: Then::Events(vec![]),
        },
        Case {
            name: "Main Group given an invalid name is refused as invalid",
            given: vec![main_group_created()],
            when: rename(""),
            then: Then::Invalid(vec!["name"]),
        },
        Case {
            name: "give a group a role",
            given: vec![support()],
            when: SetRole { role: Some((ACME_SALES_ROLE, sales_role())) },
            then: Then::Events(vec![GroupRoleSet { role_id: Some(ACME_SALES_ROLE) }]),
        },
        Case {
            name: "Main Group may carry a role",
            given: vec![main_group_created()],
            when: SetRole { role: Some((ACME_SALES_ROLE, sales_role())) },
            then: Then::Events(vec![GroupRoleSet { role_id: Some(ACME_SALES_ROLE) }]),
        },
        Case {
            name: "take a group's role away",
            given: vec![group_created(ACME, "Support", Some(ACME_SALES_ROLE), false)],
            when: SetRole { role: None },
            then: Then::Events(vec![GroupRoleSet { role_id: None }]),
        },
        Case {
            name: "the role the group has is a no-op",
            given: vec![group_created(ACME, "Support", Some(ACME_SALES_ROLE), false)],
            when: SetRole { role: Some((ACME_SALES_ROLE, sales_role())) },
            then: Then::Events(vec![]),
        },
        Case {
            name: "no role for a group without one is a no-op",
            given: vec![support()],
            when: SetRole { role: None },
            then: Then::Events(vec![]),
        },
        Case {
            name: "the role set by an earlier event is what is compared",
            given: vec![support(), GroupRoleSet { role_id: Some(ACME_SALES_ROLE) }],
            when: SetRole { role: Some((ACME_SALES_ROLE, sales_role())) },
            then: Then::Events(vec![]),
        },
        Case {
            name: "a role of another company is refused",
            given: vec![support()],
            when: SetRole { role: Some((GLOBEX_USER_ROLE, globex_user_role())) },
            then: Then::Error(role_in_other_company()),
        },
        Case {
            name: "a deleted role is refused",
            given: vec![support()],
            when: SetRole { role: Some((ACME_SALES_ROLE, deleted_sales_role())) },
            then: Then::Error(role_deleted()),
        },
        Case {
            name: "an unknown role is an unknown roleId",
            given: vec![support()],
            when: SetRole { role: Some((UNKNOWN, role::State::default())) },
            then: Then::Error(DomainError::UnknownReference { field: "roleId", id: UNKNOWN }),
        },
        Case {
            name: "delete a group",
            given: vec![support(), member_added(ALICE)],
            when: Delete,
            then: Then::Events(vec![GroupDeleted {}]),
        },
        Case {
            name: "Main Group cannot be deleted",
            given: vec![main_group_created()],
            when: Delete,
            then: Then::Error(main_group("deleted")),
        },
    ];
    check(cases, group::decide, group::evolve);
}

#[test]
fn group_members() {
    use group::Command::{AddMember, RemoveMember};

    let support = support_group_created;
    let cases = vec![
        Case {
            name: "add a member",
            given: vec![support()],
            when: AddMember { user_id: ALICE },
            then: Then::Events(vec![member_added(ALICE)]),
        },
        Case {
            name: "add a second member",
            given: vec![support(), member_added(ALICE)],
            when: AddMember { user_id: BOB },
            then: Then::Events(vec![member_added(BOB)]),
        },
        Case {
            name: "add a member of the group is a no-op",
            given: vec![support(), member_added(ALICE)],
            when: AddMember { user_id: ALICE },
            then: Then::Events(vec![]),
        },
        Case {
            name: "add a member who left is not a no-op",
            given: vec![support(), member_added(ALICE), member_removed(ALICE)],
            when: AddMember { user_id: ALICE },
            then: Then::Events(vec![member_added(ALICE)]),
        },
        Case {
            name: "Main Group takes members",
            given: vec![main_group_created()],
            when: AddMember { user_id: ALICE },
            then: Then::Events(vec![member_added(ALICE)]),
        },
        Case {
            name: "remove a member",
            given: vec![support(), member_added(ALICE), member_added(BOB)],
            when: RemoveMember { user_id: ALICE },
            then: Then::Events(vec![member_removed(ALICE)]),
        },
        Case {
            name: "remove a user who is not a member is a no-op",
            given: vec![support(), member_added(BOB)],
            when: RemoveMember { user_id: ALICE },
            then: Then::Events(vec![]),
        },
        Case {
            name: "remove a member who already left is a no-op",
            given: vec![support(), member_added(ALICE), member_removed(ALICE)],
            when: RemoveMember { user_id: ALICE },
            then: Then::Events(vec![]),
        },
    ];
    check(cases, group::decide, group::evolve);
}

#[test]
fn group_deleted_or_missing_refuses_everything() {
    use group::Command::{AddMember, Delete, RemoveMember, SetRole};

    let deleted = || vec![support_group_created(), member_added(ALICE), group::Event::GroupDeleted {}];
    let not_found = || rule("not_found", "the group does not exist");
    let cases = vec![
        Case {
            name: "a deleted group refuses: rename",
            given: deleted(),
            when: rename("Care"),
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "a deleted group refuses: rename to its own name, not a no-op",
            given: deleted(),
            when: rename("Support"),
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "a deleted group refuses: an invalid rename, as deleted",
            given: deleted(),
            when: rename(""),
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "a deleted group refuses: set a role",
            given: deleted(),
            when: SetRole { role: Some((ACME_SALES_ROLE, sales_role())) },
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "a deleted group refuses: take the role away, even when it would be a no-op",
            given: deleted(),
            when: SetRole { role: None },
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "a deleted group refuses: a second delete",
            given: deleted(),
            when: Delete,
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "a deleted group refuses: add a member",
            given: deleted(),
            when: AddMember { user_id: BOB },
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "a deleted group refuses: remove a former member",
            given: deleted(),
            when: RemoveMember { user_id: ALICE },
            then: Then::Error(group_deleted()),
        },
        Case {
            name: "a missing group refuses: rename",
            given: vec![],
            when: rename("Care"),
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing group refuses: delete",
            given: vec![],
            when: Delete,
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing group refuses: add a member",
            given: vec![],
            when: AddMember { user_id: ALICE },
            then: Then::Error(not_found()),
        },
        Case {
            name: "a missing group refuses: remove a member, even when it would be a no-op",
            given: vec![],
            when: RemoveMember { user_id: ALICE },
            then: Then::Error(not_found()),
        },
    ];
    check(cases, group::decide, group::evolve);
}

#[test]
fn group_state_keeps_its_members() {
    let cases = vec![
        StateCase {
            name: "members added and removed",
            given: vec![
                support_group_created(),
                member_added(ALICE),
                member_added(BOB),
                member_removed(ALICE),
            ],
            then: (false, vec![BOB]),
        },
        StateCase {
            name: "a deleted group has no members left",
            given: vec![support_group_created(), member_added(ALICE), group::Event::GroupDeleted {}],
            then: (true, vec![]),
        },
    ];
    check_states(cases, group::evolve, |state: &group::State| {
        (state.deleted, state.members.iter().copied().collect::<Vec<_>>())
    });
}

#[test]
fn group_name_claims() {
    use group::Event::{GroupDeleted, GroupRenamed, GroupRoleSet};

    let claim = |name: &str| format!("group-name:{ACME}:{name}");
    let support = support_group_created;
    let cases = vec![
        ClaimCase {
            name: "creating a group claims its name, lower-cased, within its company",
            given: vec![],
            event: support(),
            then: vec![ClaimChange::Acquire(claim("support"))],
        },
        ClaimCase {
            name: "creating Main Group claims its name",
            given: vec![],
            event: main_group_created(),
            then: vec![ClaimChange::Acquire(claim("main group"))],
        },
        ClaimCase {
            name: "a group of another company claims within that company",
            given: vec![],
            event: group_created(GLOBEX, "Support", None, false),
            then: vec![ClaimChange::Acquire(format!("group-name:{GLOBEX}:support"))],
        },
        ClaimCase {
            name: "a rename frees the old name and claims the new one",
            given: vec![support()],
            event: GroupRenamed { name: "Customer Care".to_owned() },
            then: vec![ClaimChange::Release(claim("support")), ClaimChange::Acquire(claim("customer care"))],
        },
        ClaimCase {
            name: "a second rename frees the name taken by the first",
            given: vec![support(), GroupRenamed { name: "Care".to_owned() }],
            event: GroupRenamed { name: "Help".to_owned() },
            then: vec![ClaimChange::Release(claim("care")), ClaimChange::Acquire(claim("help"))],
        },
        ClaimCase {
            name: "deleting a group frees its name",
            given: vec![support()],
            event: GroupDeleted {},
            then: vec![ClaimChange::Release(claim("support"))],
        },
        ClaimCase {
            name: "deleting a renamed group frees the name it has now",
            given: vec![support(), GroupRenamed { name: "Care".to_owned() }],
            event: GroupDeleted {},
            then: vec![ClaimChange::Release(claim("care"))],
        },
        ClaimCase {
            name: "a role set claims nothing",
            given: vec![support()],
            event: GroupRoleSet { role_id: Some(ACME_SALES_ROLE) },
            then: vec![],
        },
        ClaimCase {
            name: "a member added claims nothing",
            given: vec![support()],
            event: member_added(ALICE),
            then: vec![],
        },
        ClaimCase {
            name: "a member removed frees nothing",
            given: vec![support(), member_added(ALICE)],
            event: member_removed(ALICE),
            then: vec![],
        },
    ];
    check_claims(cases, group::Event::claims, group::evolve);
    assert_eq!(
        group::name_claim(ACME, "  Support "),
        claim("support"),
        "a name claim is trimmed and lower-cased"
    );
}
