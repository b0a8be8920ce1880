//! GraphQL: the audit trail, time travel, listings with filters and pages, permissions, and
//! the plain HTTP endpoints.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    App, TOKEN, USER_FIELDS, create_user, create_user_with, level_of, on_both_backends, register_company,
    sources_of, user,
};

on_both_backends!(audit_trail, user_as_of, users_filter_and_pagination, permissions, http_endpoints);

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn positions(entries: &[Value]) -> Vec<i64> {
    entries.iter().map(|entry| entry["position"].as_i64().expect("a position")).collect()
}

fn types(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|entry| entry["type"].as_str().expect("a type")).collect()
}

async fn audit_trail(app: App) {
    let acme = register_company(&app, "Audit Acme").await;
    let globex = register_company(&app, "Audit Globex").await;

    let create = app
        .command_with(
            "CreateUser",
            &json!({ "companyId": acme.id, "username": "ann", "email": "ann@example.com",
                     "firstName": "Ann", "lastName": "Audit" }),
            &[("x-request-id", "req-create-ann")],
        )
        .await;
    assert_eq!(create.status, 200, "{:#}", create.body);
    assert_eq!(create.header("x-request-id"), Some("req-create-ann"));
    let ann = create.body["id"].as_str().expect("ann's id").to_owned();
    let middle = Utc::now();
    let correlation = uuid::Uuid::new_v4().to_string();
    let approve =
        app.command_with("ApproveUser", &json!({ "userId": ann }), &[("x-request-id", &correlation)]).await;
    assert_eq!(approve.status, 200, "{:#}", approve.body);
    app.ok("SuspendUser", json!({ "userId": ann, "reason": "audit" })).await;
    let bob = create_user(&app, &globex, "bob").await;
    app.ok("ApproveUser", json!({ "userId": bob })).await;
    let answer = app.command_with("ApproveUser", &json!({ "userId": ann }), &[]).await;
    assert_eq!(answer.status, 200, "a no-op");
    let generated_request_id = answer.header("x-request-id").expect("a generated request id").to_owned();
    assert!(uuid::Uuid::parse_str(&generated_request_id).is_ok(), "{generated_request_id}");

    let all = app.audit(json!(null)).await;
    let everything = positions(&all);
    assert!(everything.windows(2).all(|pair| pair[0] < pair[1]), "commit order: {everything:?}");
    assert_eq!(
        types(&all),
        [
            "CompanyRegistered",
            "RoleCreated",
            "RoleCreated",
            "GroupCreated",
            "CompanyRegistered",
            "RoleCreated",
            "RoleCreated",
            "GroupCreated",
            // Creating a user also takes a licence seat, adds a holder to the role and a member
            // to Main Group, in the same append.
            "UserCreated",
            "TokenIssued",
            "LicenseSeatTaken",
            "RoleHolderAdded",
            "GroupMemberAdded",
            "UserApproved",
            "UserSuspended",
            "UserCreated",
            "TokenIssued",
            "LicenseSeatTaken",
            "RoleHolderAdded",
            "GroupMemberAdded",
            "UserApproved",
        ]
    );
    for entry in &all {
        assert_eq!(entry["actor"], json!({ "kind": "OPERATOR", "id": null }), "{entry:#}");
        assert_eq!(entry["causationId"], json!(null));
    }
    // One command's events share their ids.
    assert_eq!(all[1]["requestId"], all[0]["requestId"]);
    assert_eq!(all[2]["correlationId"], all[0]["correlationId"]);
    assert_eq!(all[3]["correlationId"], all[0]["correlationId"]);
    assert_ne!(all[4]["correlationId"], all[0]["correlationId"]);

    // By user.
    let anns = app.audit(json!({ "userId": ann })).await;
    assert_eq!(types(&anns), ["UserCreated", "TokenIssued", "UserApproved", "UserSuspended"]);
    assert!(anns.iter().all(|entry| entry["streamId"] == format!("user-{ann}")));
    assert_eq!(
        anns.iter().map(|e| e["version"].clone()).collect::<Vec<_>>(),
        [json!(1), json!(2), json!(3), json!(4)]
    );
    assert_eq!(anns[0]["data"]["username"], "ann");
    assert_eq!(anns[3]["data"]["reason"], "audit");
    // The invitation's token is in the outbox only: the event keeps its hash.
    assert_eq!(anns[1]["data"]["purpose"], "ACTIVATION");
    assert_eq!(anns[1]["data"]["tokenHash"], "[redacted]", "hashes of secrets are not shown");
    assert_eq!(anns[0]["companyId"], acme.id);
    // requestId is the X-Request-Id sent; correlationId is it too when it is a UUID.
    assert_eq!(anns[0]["requestId"], "req-create-ann");
    assert_ne!(anns[0]["correlationId"], "req-create-ann");
    assert!(uuid::Uuid::parse_str(anns[0]["correlationId"].as_str().expect("an id")).is_ok());
    assert_eq!(anns[1]["requestId"], "req-create-ann", "one command, one request");
    assert_eq!(anns[2]["requestId"], correlation);
    assert_eq!(anns[2]["correlationId"], correlation);
    assert_eq!(app.audit(json!({ "streamId": format!("user-{ann}") })).await, anns);
    assert!(app.audit(json!({ "userId": uuid::Uuid::now_v7().to_string() })).await.is_empty());

    // By company: its registration, its roles and its users' events, nobody else's.
    let acmes = app.audit(json!({ "companyId": acme.id })).await;
    let created = ["UserCreated", "TokenIssued", "LicenseSeatTaken", "RoleHolderAdded", "GroupMemberAdded"];
    let registered = ["CompanyRegistered", "RoleCreated", "RoleCreated", "GroupCreated"];
    assert_eq!(types(&acmes), [&registered[..], &created[..], &["UserApproved", "UserSuspended"]].concat());
    assert!(acmes.iter().all(|entry| entry["companyId"] == acme.id), "{acmes:#?}");
    let globexes = app.audit(json!({ "companyId": globex.id })).await;
    assert_eq!(types(&globexes), [&registered[..], &created[..], &["UserApproved"]].concat());
    assert_eq!(globexes[4]["streamId"], format!("user-{bob}"));
    assert_eq!(globexes[6]["streamId"], format!("company-{}", globex.id));
    assert_eq!(globexes[6]["data"], json!({ "userId": bob, "used": 1 }));

    // By type, and combined.
    let approvals = app.audit(json!({ "eventTypes": ["UserApproved"] })).await;
    assert_eq!(approvals.len(), 2);
    let approvals =
        app.audit(json!({ "eventTypes": ["UserApproved", "UserSuspended"], "companyId": acme.id })).await;
    assert_eq!(types(&approvals), ["UserApproved", "UserSuspended"]);
    assert!(app.audit(json!({ "eventTypes": ["NoSuchEvent"] })).await.is_empty());

    // By time: `from` is inclusive, `to` exclusive, and together they split the log.
    let before = app.audit(json!({ "to": timestamp(middle) })).await;
    let after = app.audit(json!({ "from": timestamp(middle) })).await;
    assert_eq!(types(&before), types(&all[..13]));
    assert_eq!([before, after.clone()].concat(), all);
    let window = app.audit(json!({ "from": timestamp(middle), "to": timestamp(Utc::now()) })).await;
    assert_eq!(window, after);
    assert!(app.audit(json!({ "from": timestamp(Utc::now()) })).await.is_empty());

    // Pages of two walk the whole trail in order, each entry once.
    let paged = app.audit_pages(json!(null), 2).await;
    assert_eq!(positions(&paged), everything);
    let paged = app.audit_pages(json!({ "companyId": acme.id }), 2).await;
    assert_eq!(paged, acmes);

    // Bad input.
    let query = "query($after: String, $first: Int, $filter: AuditFilter) {
        auditTrail(after: $after, first: $first, filter: $filter) { edges { cursor } } }";
    app.query_error(query, json!({ "after": "not-a-cursor" }), "BAD_USER_INPUT").await;
    app.query_error(query, json!({ "first": 0 }), "BAD_USER_INPUT").await;
    app.query_error(query, json!({ "first": 501 }), "BAD_USER_INPUT").await;
    app.query_error(query, json!({ "filter": { "userId": "nope" } }), "BAD_USER_INPUT").await;
    app.query_error(
        query,
        json!({ "filter": { "from": timestamp(Utc::now()), "to": timestamp(middle) } }),
        "BAD_USER_INPUT",
    )
    .await;
}

async fn as_of(app: &App, id: &str, at: DateTime<Utc>) -> Value {
    let query =
        format!("query($id: ID!, $at: DateTime!) {{ userAsOf(id: $id, at: $at) {{ {USER_FIELDS} }} }}");
    app.query(&query, json!({ "id": id, "at": timestamp(at) })).await["userAsOf"].clone()
}

async fn user_as_of(app: App) {
    let company = register_company(&app, "Time Travel Ltd").await;
    let before_creation = Utc::now();
    let id = create_user(&app, &company, "marty").await;
    let pending = Utc::now();
    app.ok("ApproveUser", json!({ "userId": id })).await;
    let between = Utc::now();
    app.ok("SuspendUser", json!({ "userId": id, "reason": "paradox" })).await;
    let suspended = Utc::now();
    app.ok("UpdateUserProfile", json!({ "userId": id, "lastName": "McFly" })).await;

    assert_eq!(as_of(&app, &id, before_creation).await, json!(null));
    let then = as_of(&app, &id, pending).await;
    assert_eq!(
        (then["status"].as_str(), then["approved"].as_bool(), then["version"].as_i64()),
        (Some("PENDING_APPROVAL"), Some(false), Some(2))
    );
    let then = as_of(&app, &id, between).await;
    assert_eq!(then["approved"], true);
    assert_eq!(then["suspended"], false);
    assert_eq!(then["status"], "ACTIVE");
    assert_eq!(then["version"], 3);
    assert_eq!(then["suspensionReason"], json!(null));
    let then = as_of(&app, &id, suspended).await;
    assert_eq!((then["suspended"].as_bool(), then["status"].as_str()), (Some(true), Some("SUSPENDED")));
    assert_eq!(then["suspensionReason"], "paradox");
    assert_eq!(then["lastName"], "User");
    assert_eq!(then["version"], 4);
    // At any time from the last change on, it is the user as they are now.
    let now = as_of(&app, &id, Utc::now()).await;
    assert_eq!(now, user(&app, &id).await);
    assert_eq!(now["lastName"], "McFly");
    // A user that never existed.
    let data = app
        .query(
            "query($id: ID!, $at: DateTime!) { userAsOf(id: $id, at: $at) { id } }",
            json!({ "id": uuid::Uuid::now_v7().to_string(), "at": timestamp(Utc::now()) }),
        )
        .await;
    assert_eq!(data["userAsOf"], json!(null));
}

async fn users_filter_and_pagination(app: App) {
    let company = register_company(&app, "Filters Inc").await;
    let other = register_company(&app, "Elsewhere Inc").await;
    let role = app
        .ok(
            "CreateRole",
            json!({ "companyId": company.id, "name": "Supervisor", "description": "Watches queues" }),
        )
        .await;
    let role_id = role["id"].as_str().expect("role id").to_owned();

    let plain = create_user(&app, &company, "plain.pending").await;
    let approved = create_user_with(&app, &company, "approved.one", json!({ "approved": true })).await;
    let smith = create_user_with(
        &app,
        &company,
        "jsmith",
        json!({ "firstName": "John", "lastName": "Smith", "email": "john@smith-family.org", "approved": true }),
    )
    .await;
    let suspended = create_user_with(&app, &company, "suspended.one", json!({ "approved": true })).await;
    app.ok(
        "SuspendUser",
        json!({ "userId": suspended, "until": timestamp(Utc::now() + chrono::Duration::days(30)) }),
    )
    .await;
    let supervisor = create_user(&app, &company, "super.visor").await;
    app.ok("AssignRole", json!({ "userId": supervisor, "roleId": role_id })).await;
    let deleted = create_user_with(&app, &company, "gone.smithers", json!({ "approved": true })).await;
    app.ok("DeleteUser", json!({ "userId": deleted })).await;
    let outsider = create_user_with(&app, &other, "outside.smith", json!({ "approved": true })).await;
    let (plain, approved, smith, suspended, supervisor, deleted, outsider) = (
        plain.as_str(),
        approved.as_str(),
        smith.as_str(),
        suspended.as_str(),
        supervisor.as_str(),
        deleted.as_str(),
        outsider.as_str(),
    );

    let query = "query($company: ID, $filter: UserFilter, $first: Int, $after: String) {
        users(companyId: $company, filter: $filter, first: $first, after: $after) {
            totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }
        }
    }";
    let ids = |data: &Value| -> Vec<String> {
        data["users"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| edge["node"]["id"].as_str().expect("an id").to_owned())
            .collect()
    };
    let list = |filter: Value| {
        let company = company.id.clone();
        let app = &app;
        async move {
            let data = app.query(query, json!({ "company": company, "filter": filter })).await;
            assert_eq!(data["users"]["totalCount"], ids(&data).len(), "{data:#}");
            ids(&data)
        }
    };

    assert_eq!(list(json!(null)).await, [plain, approved, smith, suspended, supervisor]);
    assert_eq!(
        list(json!({ "includeDeleted": true })).await,
        [plain, approved, smith, suspended, supervisor, deleted]
    );
    assert_eq!(list(json!({ "approved": true })).await, [approved, smith, suspended]);
    assert_eq!(list(json!({ "approved": false })).await, [plain, supervisor]);
    assert_eq!(list(json!({ "suspended": true })).await, [suspended]);
    assert_eq!(list(json!({ "suspended": false })).await, [plain, approved, smith, supervisor]);
    assert_eq!(list(json!({ "roleId": role_id })).await, [supervisor]);
    assert_eq!(list(json!({ "roleId": company.user_role_id })).await, [plain, approved, smith, suspended]);
    assert!(list(json!({ "roleId": company.administrator_role_id })).await.is_empty());
    // Search looks in username, names and email, ignoring case.
    assert_eq!(list(json!({ "search": "SMITH" })).await, [smith]);
    // A deleted user's names were erased with them: search finds them by nothing personal.
    assert_eq!(list(json!({ "search": "smith", "includeDeleted": true })).await, [smith]);
    assert_eq!(list(json!({ "search": "jOhN" })).await, [smith]);
    assert_eq!(list(json!({ "search": "FAMILY.org" })).await, [smith]);
    assert_eq!(list(json!({ "search": "visor" })).await, [supervisor]);
    assert_eq!(list(json!({ "search": "one" })).await, [approved, suspended]);
    assert!(list(json!({ "search": "%" })).await.is_empty(), "a LIKE wildcard is searched for literally");
    assert!(list(json!({ "search": "nobody-by-that-name" })).await.is_empty());
    assert_eq!(list(json!({ "search": "smith", "approved": true, "suspended": false })).await, [smith]);
    // Without companyId, every company's users.
    let data = app.query(query, json!({ "filter": { "search": "smith" } })).await;
    assert_eq!(ids(&data), [smith, outsider]);

    // Pages of two: the same totalCount on each, every user once, in creation order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let data = app
            .query(query, json!({ "company": company.id, "filter": { "includeDeleted": true }, "first": 2, "after": after }))
            .await;
        pages += 1;
        assert_eq!(data["users"]["totalCount"], 6, "{data:#}");
        let page = ids(&data);
        assert!(page.len() <= 2);
        let edges = data["users"]["edges"].as_array().expect("edges");
        assert_eq!(
            data["users"]["pageInfo"]["endCursor"],
            edges.last().map_or(json!(null), |e| e["cursor"].clone())
        );
        seen.extend(page);
        if data["users"]["pageInfo"]["hasNextPage"] == json!(false) {
            break;
        }
        after = data["users"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, [plain, approved, smith, suspended, supervisor, deleted]);

    for first in [0, -1, 501, 1000] {
        app.query_error(query, json!({ "first": first }), "BAD_USER_INPUT").await;
    }
    app.query_error(query, json!({ "after": "garbage" }), "BAD_USER_INPUT").await;
    app.query_error(query, json!({ "company": "not-a-uuid" }), "BAD_USER_INPUT").await;
    app.query_error(query, json!({ "filter": { "roleId": "not-a-uuid" } }), "BAD_USER_INPUT").await;
}

async fn permissions(app: App) {
    let company = register_company(&app, "Permissions plc").await;
    let other = register_company(&app, "Other plc").await;
    let role = app
        .ok(
            "CreateRole",
            json!({
                "companyId": company.id, "name": "Support", "description": "Answers calls",
                "permissions": [{ "module": "CALL_LOGS", "level": "VIEW" }, { "module": "BILLING", "level": "EDIT" }],
            }),
        )
        .await;
    assert_eq!(role["events"][0]["type"], "RoleCreated");
    let role_id = role["id"].as_str().expect("role id").to_owned();
    let role_query =
        "query($id: ID!) { role(id: $id) { name description isDefault permissions { module level } } }";
    let data = app.query(role_query, json!({ "id": role_id })).await;
    assert_eq!(
        data["role"],
        json!({ "name": "Support", "description": "Answers calls", "isDefault": false, "permissions": [
            { "module": "BILLING", "level": "EDIT" }, { "module": "CALL_LOGS", "level": "VIEW" },
        ] })
    );

    // On a role.
    let granted =
        app.ok("GrantPermission", json!({ "roleId": role_id, "module": "SMS", "level": "FULL" })).await;
    assert_eq!(granted["events"][0]["type"], "RolePermissionGranted");
    app.ok("GrantPermission", json!({ "roleId": role_id, "module": "BILLING", "level": "VIEW" })).await;
    let revoked = app.ok("RevokePermission", json!({ "roleId": role_id, "module": "CALL_LOGS" })).await;
    assert_eq!(revoked["events"][0]["type"], "RolePermissionRevoked");
    let data = app.query(role_query, json!({ "id": role_id })).await;
    assert_eq!(
        data["role"]["permissions"],
        json!([{ "module": "BILLING", "level": "VIEW" }, { "module": "SMS", "level": "FULL" }])
    );
    // Revoking what is not granted changes nothing.
    let noop = app.ok("RevokePermission", json!({ "roleId": role_id, "module": "CALL_LOGS" })).await;
    assert_eq!(noop["events"], json!([]));

    // On a user: the effective level is the highest of the role's, the group role's and their
    // own grants, with every source that gives it.
    let id = create_user_with(&app, &company, "perm.user", json!({ "roleId": role_id })).await;
    let state = user(&app, &id).await;
    assert_eq!(state["role"]["name"], "Support");
    assert_eq!(state["permissions"], json!([]));
    let effective = &state["effectivePermissions"];
    assert_eq!(effective.as_array().map(Vec::len), Some(14));
    assert_eq!(level_of(effective, "BILLING"), Some("VIEW"));
    assert_eq!(sources_of(effective, "BILLING"), ["ROLE"]);
    assert_eq!(level_of(effective, "SMS"), Some("FULL"));
    assert_eq!(level_of(effective, "CALL_LOGS"), Some("NONE"));
    assert!(sources_of(effective, "CALL_LOGS").is_empty());
    assert_eq!(level_of(effective, "USERS"), Some("NONE"));

    let granted =
        app.ok("GrantPermission", json!({ "userId": id, "module": "BILLING", "level": "FULL" })).await;
    assert_eq!(granted["events"][0]["type"], "UserPermissionGranted");
    app.ok("GrantPermission", json!({ "userId": id, "module": "SMS", "level": "FULL" })).await;
    let state = user(&app, &id).await;
    assert_eq!(
        state["permissions"],
        json!([{ "module": "BILLING", "level": "FULL" }, { "module": "SMS", "level": "FULL" }])
    );
    assert_eq!(level_of(&state["effectivePermissions"], "BILLING"), Some("FULL"));
    assert_eq!(sources_of(&state["effectivePermissions"], "BILLING"), ["DIRECT"]);
    assert_eq!(sources_of(&state["effectivePermissions"], "SMS"), ["ROLE", "DIRECT"]);

    // A group that carries a role gives its members that role's levels too.
    let billing = app
        .ok(
            "CreateRole",
            json!({ "companyId": company.id, "name": "Billing desk",
                    "permissions": [{ "module": "USERS", "level": "VIEW" }, { "module": "BILLING", "level": "EDIT" }] }),
        )
        .await["id"]
        .clone();
    let desk =
        app.ok("CreateGroup", json!({ "companyId": company.id, "name": "Desk", "roleId": billing })).await;
    app.ok("AssignGroup", json!({ "userId": id, "groupId": desk["id"] })).await;
    let state = user(&app, &id).await;
    assert_eq!(state["group"]["name"], "Desk");
    assert_eq!(level_of(&state["effectivePermissions"], "USERS"), Some("VIEW"));
    assert_eq!(sources_of(&state["effectivePermissions"], "USERS"), ["GROUP"]);
    assert_eq!(level_of(&state["effectivePermissions"], "BILLING"), Some("FULL"));

    // The role still counts where it grants more, as it is now.
    app.ok("GrantPermission", json!({ "roleId": role_id, "module": "USERS", "level": "EDIT" })).await;
    let revoked = app.ok("RevokePermission", json!({ "userId": id, "module": "BILLING" })).await;
    assert_eq!(revoked["events"][0]["type"], "UserPermissionRevoked");
    let state = user(&app, &id).await;
    assert_eq!(state["permissions"], json!([{ "module": "SMS", "level": "FULL" }]));
    assert_eq!(level_of(&state["effectivePermissions"], "BILLING"), Some("EDIT"));
    assert_eq!(sources_of(&state["effectivePermissions"], "BILLING"), ["GROUP"]);
    assert_eq!(level_of(&state["effectivePermissions"], "USERS"), Some("EDIT"));
    assert_eq!(sources_of(&state["effectivePermissions"], "USERS"), ["ROLE"]);
    // Another role replaces the role's levels, not the user's own.
    app.ok("AssignRole", json!({ "userId": id, "roleId": company.administrator_role_id })).await;
    let state = user(&app, &id).await;
    assert_eq!(state["role"]["name"], "Administrator");
    assert_eq!(level_of(&state["effectivePermissions"], "BILLING"), Some("FULL"));
    assert_eq!(sources_of(&state["effectivePermissions"], "SMS"), ["ROLE", "DIRECT"]);

    // Refusals.
    let events = app.event_count().await;
    let refusals = [
        (json!({ "roleId": role_id, "userId": id, "module": "SMS", "level": "VIEW" }), 400, "invalid_fields"),
        (json!({ "module": "SMS", "level": "VIEW" }), 400, "invalid_fields"),
        (json!({ "roleId": role_id, "module": "TELEPORTATION", "level": "VIEW" }), 400, "invalid_fields"),
        (json!({ "roleId": role_id, "module": "SMS", "level": "GODLIKE" }), 400, "invalid_fields"),
        (
            json!({ "roleId": uuid::Uuid::now_v7().to_string(), "module": "SMS", "level": "VIEW" }),
            404,
            "not_found",
        ),
        (
            json!({ "userId": uuid::Uuid::now_v7().to_string(), "module": "SMS", "level": "VIEW" }),
            404,
            "not_found",
        ),
    ];
    for (body, status, code) in refusals {
        let answer = app.command_with("GrantPermission", &body, &[]).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{body}: {:#}", answer.body);
    }
    let answer = app
        .command_with(
            "GrantPermission",
            &json!({ "roleId": role_id, "module": "TELEPORTATION", "level": "VIEW" }),
            &[],
        )
        .await;
    assert!(answer.body["error"]["details"].get("module").is_some(), "{:#}", answer.body);
    let answer =
        app.command_with("AssignRole", &json!({ "userId": id, "roleId": other.user_role_id }), &[]).await;
    answer.assert_error(422, "role_in_other_company");
    let answer =
        app.command_with("CreateRole", &json!({ "companyId": company.id, "name": " SUPPORT " }), &[]).await;
    answer.assert_error(409, "already_taken");
    assert_eq!(answer.body["error"]["details"], json!({ "name": "support" }));

    // A deleted role takes no more grants, and its name is free again.
    let moved = app.ok("AssignRole", json!({ "userId": id, "roleId": company.user_role_id })).await;
    assert_eq!(moved["events"][0]["type"], "RoleAssigned");
    // The user's RoleAssigned, and a holder less on one role and more on the other.
    assert_eq!(app.event_count().await, events + 3, "the refused commands wrote nothing");
    app.ok("DeleteRole", json!({ "roleId": role_id })).await;
    let answer = app
        .command_with("GrantPermission", &json!({ "roleId": role_id, "module": "SMS", "level": "VIEW" }), &[])
        .await;
    answer.assert_error(422, "role_deleted");
    let answer = app.command_with("AssignRole", &json!({ "userId": id, "roleId": role_id }), &[]).await;
    answer.assert_error(422, "role_deleted");
    let data =
        app.query("query($id: ID!) { roles(companyId: $id) { name } }", json!({ "id": company.id })).await;
    assert_eq!(
        data["roles"],
        json!([{ "name": "Administrator" }, { "name": "Billing desk" }, { "name": "User" }])
    );
    app.ok("CreateRole", json!({ "companyId": company.id, "name": "Support" })).await;
}

async fn http_endpoints(app: App) {
    let client = app.client();
    let response = client.get(app.url("/graphql")).send().await.expect("GET /graphql");
    assert_eq!(response.status().as_u16(), 200);
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text().await.expect("the GraphiQL page");
    assert!(page.to_lowercase().contains("graphiql"), "{page}");
    assert!(page.contains("/graphql/ws"), "the page names the subscription endpoint");

    let response = client.get(app.url("/healthz")).send().await.expect("GET /healthz");
    assert_eq!(response.status().as_u16(), 200);
    let response = client.get(app.url("/readyz")).send().await.expect("GET /readyz");
    assert_eq!(response.status().as_u16(), 200);

    // X-Portal-Min-Position must name a real position.
    for position in ["soon", "-1", "999999"] {
        let response = client
            .post(app.url("/graphql"))
            .bearer_auth(TOKEN)
            .header("x-portal-min-position", position)
            .json(&json!({ "query": "{ users { totalCount } }" }))
            .send()
            .await
            .expect("POST /graphql");
        assert_eq!(response.status().as_u16(), 400, "{position}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body:#}");
    }
    // Position 0 (nothing written yet) is fine.
    let body = app.graphql("{ users { totalCount } }", json!(null), Some(0)).await;
    assert_eq!(body, json!({ "data": { "users": { "totalCount": 0 } } }));
}
