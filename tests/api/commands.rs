//! Commands: what an accepted command answers and changes, and what a refused one does not.

use serde_json::json;

use crate::helpers::{App, TOKEN, create_user, level_of, on_both_backends, register_company, user};

on_both_backends!(register_company_creates_default_roles, user_lifecycle, bad_input_writes_nothing);

const MODULES: [&str; 14] = [
    "ACCOUNT_SETTINGS",
    "ANALYTICS",
    "BILLING",
    "CALL_FLOWS",
    "CALL_LOGS",
    "CALL_MONITORING",
    "CALL_RECORDINGS",
    "INTEGRATIONS",
    "LIVE_REPORTS",
    "NO_ANSWER_SETTINGS",
    "PLANS_AND_NUMBERS",
    "QUEUES",
    "SMS",
    "USERS",
];

async fn register_company_creates_default_roles(app: App) {
    let reply = app
        .ok(
            "RegisterCompany",
            json!({ "name": "  Acme Corp ", "mainPhone": "+1 (415) 555-0100", "licenseLimit": 5 }),
        )
        .await;
    let company_id = reply["id"].as_str().expect("company id");
    assert_eq!(reply["streamId"], format!("company-{company_id}"));
    assert_eq!(reply["version"], 1);
    assert_eq!(reply["events"][0]["type"], "CompanyRegistered");

    let data = app
        .query(
            "query($id: ID!) {
                roles(companyId: $id) { id name isDefault permissions { module level } }
                company(id: $id) {
                    id name mainPhone parent { id } children { id }
                    roles { name isDefault permissions { module level } }
                    licenses { used limit }
                }
            }",
            json!({ "id": company_id }),
        )
        .await;
    let company = &data["company"];
    assert_eq!(company["id"], company_id);
    assert_eq!(company["name"], "Acme Corp");
    assert_eq!(company["mainPhone"], "+14155550100");
    assert_eq!(company["parent"], json!(null));
    assert_eq!(company["children"], json!([]));
    assert_eq!(company["licenses"], json!({ "used": 0, "limit": 5 }));

    let full: Vec<_> = MODULES.iter().map(|module| json!({ "module": module, "level": "FULL" })).collect();
    assert_eq!(
        company["roles"],
        json!([
            { "name": "Administrator", "isDefault": true, "permissions": full },
            { "name": "User", "isDefault": true, "permissions": [] },
        ])
    );
    let roles = data["roles"].as_array().expect("roles");
    let names: Vec<_> = roles.iter().map(|role| (role["name"].clone(), role["isDefault"].clone())).collect();
    assert_eq!(names, vec![(json!("Administrator"), json!(true)), (json!("User"), json!(true))]);
    assert_eq!(roles[0]["permissions"], json!(full));

    // A company under it shows its parent, and the parent its child; each has its own roles.
    let child = app
        .ok(
            "RegisterCompany",
            json!({ "name": "Acme West", "mainPhone": "+14155550101", "parentCompanyId": company_id }),
        )
        .await;
    let child_id = child["id"].as_str().expect("child id");
    let data = app
        .query(
            "query($id: ID!, $child: ID!) {
                company(id: $id) { children { id } }
                child: company(id: $child) { parent { id } licenses { used limit } }
                childRoles: roles(companyId: $child) { id name }
            }",
            json!({ "id": company_id, "child": child_id }),
        )
        .await;
    assert_eq!(data["company"]["children"], json!([{ "id": child_id }]));
    assert_eq!(data["child"]["parent"], json!({ "id": company_id }));
    assert_eq!(data["child"]["licenses"], json!({ "used": 0, "limit": null }));
    let child_roles = data["childRoles"].as_array().expect("child roles");
    assert_eq!(child_roles.len(), 2);
    assert!(
        child_roles.iter().all(|role| !roles.iter().any(|parent_role| parent_role["id"] == role["id"])),
        "the child company has roles of its own: {data:#}"
    );
}

async fn user_lifecycle(app: App) {
    let company = register_company(&app, "Lifecycle Inc").await;
    let answer = app
        .command_with(
            "CreateUser",
            &json!({
                "companyId": company.id,
                "username": "jdoe",
                "email": " jdoe@example.com ",
                "firstName": "Jane",
                "lastName": "Doe",
                "extension": "101",
            }),
            &[],
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let reply = &answer.body;
    let id = reply["id"].as_str().expect("the user id").to_owned();
    uuid::Uuid::parse_str(&id).expect("the id is a UUID");
    assert_eq!(reply["streamId"], format!("user-{id}"));
    // The user, and the invitation they get to set their password.
    assert_eq!(reply["version"], 2);
    let position = reply["position"].as_i64().expect("a position");
    assert!(position > 0);
    let events = reply["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{reply:#}");
    assert_eq!(events[0]["type"], "UserCreated");
    assert_eq!(events[1]["type"], "TokenIssued");
    uuid::Uuid::parse_str(events[0]["eventId"].as_str().expect("an event id"))
        .expect("the event id is a UUID");
    let object = reply.as_object().expect("the reply is an object");
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["events", "id", "position", "streamId", "version"]);
    assert_eq!(answer.header("etag"), Some("\"2\""));

    // Read-your-writes: the position of the reply is enough to see the user right away.
    let body = app
        .graphql(
            "query($id: ID!) { user(id: $id) { id username email status approved role { name } version } }",
            json!({ "id": id }),
            Some(position),
        )
        .await;
    assert_eq!(
        body,
        json!({ "data": { "user": {
            "id": id, "username": "jdoe", "email": "jdoe@example.com", "status": "PENDING_APPROVAL",
            "approved": false, "role": { "name": "User" }, "version": 2,
        } } })
    );

    let approved = app.ok("ApproveUser", json!({ "userId": id })).await;
    assert_eq!(approved["version"], 3);
    assert_eq!(approved["events"][0]["type"], "UserApproved");
    let state = user(&app, &id).await;
    assert_eq!((state["status"].as_str(), state["approved"].as_bool()), (Some("ACTIVE"), Some(true)));

    // Approving again changes nothing and writes nothing.
    let again = app.ok("ApproveUser", json!({ "userId": id })).await;
    assert_eq!((again["version"].clone(), again["events"].clone()), (json!(3), json!([])));

    app.ok("SuspendUser", json!({ "userId": id, "reason": "  left the building " })).await;
    let state = user(&app, &id).await;
    assert_eq!(state["status"], "SUSPENDED");
    assert_eq!(state["suspended"], true);
    assert_eq!(state["suspensionReason"], "left the building");
    assert_eq!(state["version"], 4);

    app.ok("ReactivateUser", json!({ "userId": id })).await;
    let state = user(&app, &id).await;
    assert_eq!((state["status"].as_str(), state["suspended"].as_bool()), (Some("ACTIVE"), Some(false)));
    assert_eq!(state["suspensionReason"], json!(null));

    app.ok(
        "UpdateUserProfile",
        json!({ "userId": id, "phone": "+1 415 555 0100", "firstName": " Janet ", "email": "janet@example.com" }),
    )
    .await;
    let state = user(&app, &id).await;
    assert_eq!(state["phone"], "+14155550100");
    assert_eq!(state["firstName"], "Janet");
    assert_eq!(state["lastName"], "Doe");
    assert_eq!(state["email"], "janet@example.com");
    assert_eq!(state["extension"], "101");

    // Absent keeps a field; null clears it.
    app.ok("UpdateUserProfile", json!({ "userId": id, "phone": null })).await;
    let state = user(&app, &id).await;
    assert_eq!(state["phone"], json!(null));
    assert_eq!(state["extension"], "101");
    assert_eq!(state["firstName"], "Janet");

    let other = create_user(&app, &company, "other.user").await;
    let listing = "query($company: ID!, $deleted: Boolean! = false) {
        users(companyId: $company, filter: { includeDeleted: $deleted }) {
            totalCount edges { node { id status deleted } }
        }
    }";
    let data = app.query(listing, json!({ "company": company.id })).await;
    assert_eq!(data["users"]["totalCount"], 2);

    app.ok("DeleteUser", json!({ "userId": id })).await;
    let data = app.query(listing, json!({ "company": company.id })).await;
    assert_eq!(
        data["users"],
        json!({ "totalCount": 1, "edges": [{ "node": { "id": other, "status": "PENDING_APPROVAL", "deleted": false } }] })
    );
    let data = app.query(listing, json!({ "company": company.id, "deleted": true })).await;
    assert_eq!(data["users"]["totalCount"], 2);
    let deleted = data["users"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|edge| edge["node"]["id"] == id)
        .expect("the deleted user is listed with includeDeleted");
    assert_eq!(deleted["node"]["status"], "DELETED");
    assert_eq!(deleted["node"]["deleted"], true);
    // The deleted user no longer takes a licence.
    let data = app
        .query("query($id: ID!) { company(id: $id) { licenses { used } } }", json!({ "id": company.id }))
        .await;
    assert_eq!(data["company"]["licenses"]["used"], 1);
    // But is still there by id.
    assert_eq!(user(&app, &id).await["status"], "DELETED");
}

async fn bad_input_writes_nothing(app: App) {
    let company = register_company(&app, "Refusals Ltd").await;
    let alice = create_user(&app, &company, "alice").await;
    let events_before = app.event_count().await;
    let count = "query($company: ID!) { users(companyId: $company, filter: { includeDeleted: true }) { totalCount } }";
    let users_before =
        app.query(count, json!({ "company": company.id })).await["users"]["totalCount"].clone();
    assert_eq!(users_before, 1);

    let valid_user = json!({
        "companyId": company.id, "username": "bob", "email": "bob@example.com",
        "firstName": "Bob", "lastName": "Builder",
    });

    // Malformed JSON.
    let answer = app.command_raw("CreateUser", "{\"companyId\": ", &[], Some(TOKEN)).await;
    answer.assert_error(400, "malformed_json");
    let answer = app.command_raw("CreateUser", "[1, 2]", &[], Some(TOKEN)).await;
    answer.assert_error(400, "malformed_json");

    // An unknown field is named.
    let mut with_unknown = valid_user.clone();
    with_unknown["nickname"] = json!("bobby");
    let answer = app.command_with("CreateUser", &with_unknown, &[]).await;
    answer.assert_error(400, "invalid_fields");
    assert!(answer.body["error"]["details"].get("nickname").is_some(), "{:#}", answer.body);

    // Several invalid fields are all named at once.
    let answer = app
        .command_with(
            "CreateUser",
            &json!({
                "companyId": company.id, "username": "a", "email": "not-an-email",
                "firstName": "   ", "lastName": "Builder",
            }),
            &[],
        )
        .await;
    answer.assert_error(400, "invalid_fields");
    insta::assert_json_snapshot!("create_user_invalid_fields", answer.body);
    let details = answer.body["error"]["details"].as_object().expect("details");
    let mut fields: Vec<_> = details.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "firstName", "username"]);

    // A wrong type names the field too.
    let answer = app.command_with("ApproveUser", &json!({ "userId": "not-a-uuid" }), &[]).await;
    answer.assert_error(400, "invalid_fields");
    assert!(answer.body["error"]["details"].get("userId").is_some(), "{:#}", answer.body);

    // Unknown command.
    let (status, body, headers) = app.command("PromoteUser", json!({ "userId": alice })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_command")), "{body:#}");
    assert!(headers.contains_key("x-request-id"), "every answer carries a request id");

    // No token, a wrong token, another scheme: on commands and on GraphQL.
    let body = valid_user.to_string();
    app.command_raw("CreateUser", body.clone(), &[], None).await.assert_error(401, "unauthorized");
    app.command_raw("CreateUser", body.clone(), &[], Some("not-the-operator-token-at-all-0000"))
        .await
        .assert_error(401, "unauthorized");
    app.command_raw("CreateUser", body.clone(), &[("authorization", &format!("Basic {TOKEN}"))], None)
        .await
        .assert_error(401, "unauthorized");
    // Authentication comes before anything else: an unknown command without a token is 401.
    app.command_raw("PromoteUser", "{}", &[], None).await.assert_error(401, "unauthorized");
    for token in [None, Some("wrong-token-wrong-token-wrong-token")] {
        let mut request =
            app.client().post(app.url("/graphql")).json(&json!({ "query": "{ users { totalCount } }" }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send GraphQL");
        assert_eq!(response.status().as_u16(), 401);
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body:#}");
        assert!(body.get("data").is_none(), "no data without a token: {body:#}");
    }

    // Unknown targets and references.
    let nobody = uuid::Uuid::now_v7().to_string();
    let answer = app.command_with("ApproveUser", &json!({ "userId": nobody }), &[]).await;
    answer.assert_error(404, "not_found");
    assert_eq!(answer.body["error"]["details"], json!({ "userId": nobody }));
    let mut elsewhere = valid_user.clone();
    elsewhere["companyId"] = json!(nobody);
    let answer = app.command_with("CreateUser", &elsewhere, &[]).await;
    answer.assert_error(404, "not_found");
    assert_eq!(answer.body["error"]["details"], json!({ "companyId": nobody }));
    let mut with_role = valid_user.clone();
    with_role["roleId"] = json!(nobody);
    app.command_with("CreateUser", &with_role, &[]).await.assert_error(404, "not_found");

    // Too large a body.
    let mut huge = valid_user.clone();
    huge["lastName"] = json!("x".repeat(70 * 1024));
    let answer = app.command_with("CreateUser", &huge, &[]).await;
    answer.assert_error(413, "payload_too_large");

    // A taken username (in any case) or email.
    let mut taken = valid_user.clone();
    taken["username"] = json!("ALICE");
    let answer = app.command_with("CreateUser", &taken, &[]).await;
    answer.assert_error(409, "already_taken");
    assert_eq!(answer.body["error"]["details"], json!({ "username": "alice" }));
    let mut taken = valid_user.clone();
    taken["email"] = json!("Alice@Example.com");
    app.command_with("CreateUser", &taken, &[]).await.assert_error(409, "already_taken");

    // Bad headers.
    app.command_with("ApproveUser", &json!({ "userId": alice }), &[("if-match", "\"abc\"")])
        .await
        .assert_error(400, "invalid_header");

    // Domain refusals.
    app.ok("SuspendUser", json!({ "userId": alice, "reason": "first" })).await;
    let suspended = app.event_count().await;
    let answer = app.command_with("SuspendUser", &json!({ "userId": alice, "reason": "second" }), &[]).await;
    answer.assert_error(422, "already_suspended");
    // The refused second suspension did not replace the first one's reason.
    assert_eq!(user(&app, &alice).await["suspensionReason"], "first");
    let doomed = create_user(&app, &company, "doomed").await;
    app.ok("DeleteUser", json!({ "userId": doomed })).await;
    let answer = app.command_with("ApproveUser", &json!({ "userId": doomed }), &[]).await;
    answer.assert_error(422, "user_deleted");
    let answer =
        app.command_with("DeleteRole", &json!({ "roleId": company.administrator_role_id }), &[]).await;
    answer.assert_error(422, "default_role");
    let answer = app
        .command_with("UpdateRole", &json!({ "roleId": company.user_role_id, "name": "Staff" }), &[])
        .await;
    answer.assert_error(422, "default_role");
    let answer = app
        .command_with("SuspendUser", &json!({ "userId": doomed, "until": "2001-01-01T00:00:00Z" }), &[])
        .await;
    answer.assert_error(422, "user_deleted");

    // A command that is accepted after all of the above: the log holds exactly the events of
    // the accepted commands (SuspendUser, CreateUser and DeleteUser with what they do to the
    // company's seats, the role's holders and the group's members, ReactivateUser), nothing else.
    let sentinel = app.ok("ReactivateUser", json!({ "userId": alice })).await;
    let events = app.audit(json!(null)).await;
    assert_eq!(suspended, events_before + 1);
    assert_eq!(events.len(), events_before + 11, "refused commands wrote events: {events:#?}");
    assert_eq!(events.last().map(|e| e["position"].clone()), Some(sentinel["position"].clone()));
    let types: Vec<_> =
        events[events_before..].iter().map(|e| e["type"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        types,
        [
            "UserSuspended",
            "UserCreated",
            "TokenIssued",
            "LicenseSeatTaken",
            "RoleHolderAdded",
            "GroupMemberAdded",
            "UserDeleted",
            "LicenseSeatReleased",
            "RoleHolderRemoved",
            "GroupMemberRemoved",
            "UserReactivated"
        ]
    );
    let users_after = app.query(count, json!({ "company": company.id })).await["users"]["totalCount"].clone();
    assert_eq!(users_after, 2, "only `doomed` was added");
    // The default roles are intact.
    let data =
        app.query("query($id: ID!) { roles(companyId: $id) { name } }", json!({ "id": company.id })).await;
    assert_eq!(data["roles"], json!([{ "name": "Administrator" }, { "name": "User" }]));
    // And alice is as the accepted commands left her.
    let alice_state = user(&app, &alice).await;
    assert_eq!(alice_state["status"], "PENDING_APPROVAL");
    assert_eq!(level_of(&alice_state["effectivePermissions"], "USERS"), Some("NONE"));
}
