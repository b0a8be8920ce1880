//! What users change about themselves, mobile number changes, the app launcher, and
//! ownership requests between companies, driven over HTTP and GraphQL.

use serde_json::{Value, json};

use crate::helpers::{App, create_user, create_user_with, on_both_backends, register_company, user};

on_both_backends!(self_service, mobile_number_change, app_launcher, ownership_requests);

async fn person(app: &App, id: &str) -> Value {
    let query = "query($id: ID!) { user(id: $id) { firstName phone mobile extension manualFiltering settings
        previousMobiles { number status } company { id } role { id } group { id name }
        ownershipRequest { requestId company { id name } } status } }";
    app.query(query, json!({ "id": id })).await["user"].clone()
}

/// TeleGo's "My Account": profile fields and user settings.
async fn self_service(app: App) {
    let company = register_company(&app, "Selfie").await;
    let id = create_user(&app, &company, "mia").await;

    app.ok(
        "UpdateMyProfile",
        json!({ "userId": id, "firstName": "Mia", "phone": "+1 415 555 0123", "extension": "204" }),
    )
    .await;
    let state = person(&app, &id).await;
    assert_eq!((state["firstName"].clone(), state["phone"].clone()), (json!("Mia"), json!("+14155550123")));
    // What only an admin may change is not part of "My Account".
    app.command_with("UpdateMyProfile", &json!({ "userId": id, "title": "Boss" }), &[])
        .await
        .assert_error(400, "invalid_fields");
    app.command_with("UpdateMyProfile", &json!({ "firstName": "Nobody" }), &[])
        .await
        .assert_error(400, "invalid_fields");

    let reply = app
        .ok(
            "UpdateMySettings",
            json!({ "userId": id, "manualFiltering": true, "settings": { "theme": "dark", "pageSize": 50 } }),
        )
        .await;
    assert_eq!(reply["events"][0]["type"], "UserSettingsUpdated");
    let state = person(&app, &id).await;
    assert_eq!(state["manualFiltering"], true);
    assert_eq!(state["settings"], json!({ "theme": "dark", "pageSize": 50 }));
    app.ok("UpdateMySettings", json!({ "userId": id, "settings": { "theme": null } })).await;
    assert_eq!(person(&app, &id).await["settings"], json!({ "pageSize": 50 }));
    let noop = app.ok("UpdateMySettings", json!({ "userId": id, "manualFiltering": true })).await;
    assert_eq!(noop["events"], json!([]));

    let events = app.event_count().await;
    let answer = app
        .command_with(
            "UpdateMySettings",
            &json!({ "userId": id, "settings": { "bad key": 1, "nested": { "a": 1 } } }),
            &[],
        )
        .await;
    answer.assert_error(400, "invalid_fields");
    let details = answer.body["error"]["details"].as_object().expect("details");
    assert!(
        details.contains_key("settings.bad key") && details.contains_key("settings.nested"),
        "{details:?}"
    );
    app.command_with("UpdateMySettings", &json!({ "userId": id, "manualFiltering": "yes" }), &[])
        .await
        .assert_error(400, "invalid_fields");
    assert_eq!(app.event_count().await, events);
}

/// TeleMessage: a new mobile number; the old one suspended (kept) or removed (freed).
async fn mobile_number_change(app: App) {
    let company = register_company(&app, "Mobiles").await;
    let ana = create_user_with(&app, &company, "ana", json!({ "mobile": "+44 7911 123456" })).await;
    // A mobile number belongs to one user.
    let answer = app
        .command_with(
            "CreateUser",
            &json!({ "companyId": company.id, "username": "ben", "email": "ben@example.com", "firstName": "B",
                     "lastName": "B", "mobile": "+447911123456" }),
            &[],
        )
        .await;
    answer.assert_error(409, "already_taken");
    assert_eq!(answer.body["error"]["details"], json!({ "mobile": "+447911123456" }));

    app.ok(
        "ChangeMobileNumber",
        json!({ "userId": ana, "mobile": "+44 7911 123457", "previousNumber": "SUSPENDED" }),
    )
    .await;
    app.ok(
        "ChangeMobileNumber",
        json!({ "userId": ana, "mobile": "+44 7911 123458", "previousNumber": "REMOVED" }),
    )
    .await;
    let state = person(&app, &ana).await;
    assert_eq!(state["mobile"], "+447911123458");
    assert_eq!(
        state["previousMobiles"],
        json!([{ "number": "+447911123456", "status": "SUSPENDED" }, { "number": "+447911123457", "status": "REMOVED" }])
    );
    // The suspended number stays reserved; the removed one is free for someone else.
    let body = |mobile: &str| json!({ "companyId": company.id, "username": "ben", "email": "ben@example.com", "firstName": "B", "lastName": "B", "mobile": mobile });
    app.command_with("CreateUser", &body("+447911123456"), &[]).await.assert_error(409, "already_taken");
    assert_eq!(app.command_with("CreateUser", &body("+447911123457"), &[]).await.status, 200);
    // The history is in the audit trail.
    let changes = app.audit(json!({ "userId": ana, "eventTypes": ["MobileNumberChanged"] })).await;
    assert_eq!(
        changes.iter().map(|e| e["data"].clone()).collect::<Vec<_>>(),
        [
            json!({ "mobile": "+447911123457", "previous": "+447911123456", "previousStatus": "SUSPENDED" }),
            json!({ "mobile": "+447911123458", "previous": "+447911123457", "previousStatus": "REMOVED" }),
        ]
    );
    // Bad input.
    let events = app.event_count().await;
    app.command_with(
        "ChangeMobileNumber",
        &json!({ "userId": ana, "mobile": "12", "previousNumber": "REMOVED" }),
        &[],
    )
    .await
    .assert_error(400, "invalid_fields");
    app.command_with(
        "ChangeMobileNumber",
        &json!({ "userId": ana, "mobile": "+447911123459", "previousNumber": "LOST" }),
        &[],
    )
    .await
    .assert_error(400, "invalid_fields");
    app.command_with(
        "ChangeMobileNumber",
        &json!({ "userId": ana, "mobile": "+447911123456", "previousNumber": "REMOVED" }),
        &[],
    )
    .await
    .assert_error(422, "number_suspended");
    assert_eq!(app.event_count().await, events);
    // Deleting the user frees every number they held.
    app.ok("DeleteUser", json!({ "userId": ana })).await;
    assert_eq!(
        app.command_with(
            "CreateUser",
            &json!({ "companyId": company.id, "username": "cai", "email": "cai@example.com",
        "firstName": "C", "lastName": "C", "mobile": "+447911123456" }),
            &[]
        )
        .await
        .status,
        200
    );
}

fn menu_of(data: &Value) -> Vec<(String, bool, bool)> {
    data.as_array()
        .expect("a menu")
        .iter()
        .map(|e| {
            (
                e["app"].as_str().unwrap_or_default().to_owned(),
                e["available"].as_bool().unwrap_or_default(),
                e["comingSoon"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

fn entry(menu: &[(String, bool, bool)], app: &str) -> (bool, bool) {
    menu.iter().find(|(name, ..)| name == app).map(|(_, a, c)| (*a, *c)).expect("every app is listed")
}

/// The launcher: every app, available from the company's apps and the user's permissions.
async fn app_launcher(app: App) {
    let company = register_company(&app, "Launch Co").await;
    let admin =
        create_user_with(&app, &company, "boss", json!({ "roleId": company.administrator_role_id })).await;
    let agent = create_user(&app, &company, "agent").await;
    app.ok("GrantPermission", json!({ "userId": agent, "module": "CALL_LOGS", "level": "VIEW" })).await;

    let query = "query($id: ID!) { appMenu(userId: $id) { app title available comingSoon } }";
    let boss = menu_of(&app.query(query, json!({ "id": admin })).await["appMenu"]);
    assert_eq!(boss.len(), 14);
    assert!(boss.iter().all(|(_, available, coming_soon)| *available && !*coming_soon), "{boss:?}");
    let agents = menu_of(&app.query(query, json!({ "id": agent })).await["appMenu"]);
    assert_eq!(entry(&agents, "CALL_LOGS"), (true, false));
    assert_eq!(entry(&agents, "SETTINGS"), (false, false), "Settings is for administrators");
    assert_eq!(entry(&agents, "BILLING"), (false, false));

    // The company has only some apps: the others are "coming soon" for everyone.
    app.ok(
        "SetEnabledApps",
        json!({ "companyId": company.id, "apps": ["CALL_LOGS", "SETTINGS", "ANALYTICS"] }),
    )
    .await;
    let boss = menu_of(&app.query(query, json!({ "id": admin })).await["appMenu"]);
    assert_eq!(entry(&boss, "SETTINGS"), (true, false));
    assert_eq!(entry(&boss, "BILLING"), (false, true));
    let data = app.query("query($id: ID!) { user(id: $id) { appMenu { app title } } company: user(id: $id) { company { apps { app enabled } } } }", json!({ "id": agent })).await;
    assert_eq!(data["user"]["appMenu"][0], json!({ "app": "CALL_LOGS", "title": "Call Logs" }));
    let apps = data["company"]["company"]["apps"].as_array().expect("apps");
    assert_eq!(apps.iter().filter(|a| a["enabled"] == true).count(), 3);
    // The admin flag opens Settings too.
    app.ok("SetUserAccess", json!({ "userId": agent, "admin": true })).await;
    let agents = menu_of(&app.query(query, json!({ "id": agent })).await["appMenu"]);
    assert_eq!(entry(&agents, "SETTINGS"), (true, false));

    app.command_with("SetEnabledApps", &json!({ "companyId": company.id, "apps": ["TELEPORTER"] }), &[])
        .await
        .assert_error(400, "invalid_fields");
    app.query_error(query, json!({ "id": uuid::Uuid::now_v7().to_string() }), "BAD_USER_INPUT").await;
}

/// A user who already exists in another company moves only once they confirm.
async fn ownership_requests(app: App) {
    let old = register_company(&app, "Old Home").await;
    let new = register_company(&app, "New Home").await;
    let zoe = create_user_with(&app, &old, "zoe", json!({ "extension": "300" })).await;
    app.ok("GrantPermission", json!({ "userId": zoe, "module": "BILLING", "level": "FULL" })).await;

    // The new company finds her by username; nothing moves yet.
    let reply = app.ok("RequestOwnership", json!({ "companyId": new.id, "username": "zoe" })).await;
    assert_eq!(reply["id"], zoe.as_str());
    assert_eq!(reply["events"][0]["type"], "OwnershipRequested");
    let state = person(&app, &zoe).await;
    assert_eq!(state["company"]["id"], old.id.as_str());
    assert_eq!(state["ownershipRequest"]["company"]["name"], "New Home");
    let request = state["ownershipRequest"]["requestId"].clone();

    // Another company must wait; asking twice is a no-op; unknown people are 404.
    let third = register_company(&app, "Third").await;
    app.command_with("RequestOwnership", &json!({ "companyId": third.id, "email": "zoe@example.com" }), &[])
        .await
        .assert_error(422, "ownership_request_pending");
    let again = app.ok("RequestOwnership", json!({ "companyId": new.id, "userId": zoe })).await;
    assert_eq!(again["events"], json!([]));
    app.command_with("RequestOwnership", &json!({ "companyId": new.id, "username": "nobody" }), &[])
        .await
        .assert_error(404, "not_found");
    app.command_with("RequestOwnership", &json!({ "companyId": old.id, "userId": zoe }), &[])
        .await
        .assert_error(422, "already_in_company");
    app.command_with(
        "RequestOwnership",
        &json!({ "companyId": new.id, "username": "zoe", "userId": zoe }),
        &[],
    )
    .await
    .assert_error(400, "invalid_fields");
    app.command_with(
        "ConfirmOwnership",
        &json!({ "userId": zoe, "requestId": uuid::Uuid::now_v7().to_string() }),
        &[],
    )
    .await
    .assert_error(422, "no_such_request");

    // She confirms: she moves with a seat, the new company's User role and Main Group.
    let licences = "query($id: ID!) { company(id: $id) { licenses { used } } }";
    let confirmed = app.ok("ConfirmOwnership", json!({ "userId": zoe, "requestId": request })).await;
    assert_eq!(confirmed["events"][0]["type"], "OwnershipConfirmed");
    let state = person(&app, &zoe).await;
    assert_eq!(state["company"]["id"], new.id.as_str());
    assert_eq!(state["role"]["id"], new.user_role_id.as_str());
    assert_eq!(state["group"]["name"], "Main Group");
    assert_eq!(state["extension"], json!(null), "extensions belong to a company");
    assert_eq!(state["ownershipRequest"], json!(null));
    assert_eq!(user(&app, &zoe).await["permissions"], json!([]), "grants belonged to the old company");
    assert_eq!(app.query(licences, json!({ "id": old.id })).await["company"]["licenses"]["used"], 0);
    assert_eq!(app.query(licences, json!({ "id": new.id })).await["company"]["licenses"]["used"], 1);
    // Her old extension is free in the old company.
    create_user_with(&app, &old, "yan", json!({ "extension": "300" })).await;

    // Declining leaves everything where it was.
    let back = app.ok("RequestOwnership", json!({ "companyId": old.id, "userId": zoe })).await;
    assert_eq!(back["events"][0]["type"], "OwnershipRequested");
    let request = person(&app, &zoe).await["ownershipRequest"]["requestId"].clone();
    app.ok("DeclineOwnership", json!({ "userId": zoe, "requestId": request })).await;
    let state = person(&app, &zoe).await;
    assert_eq!(
        (state["company"]["id"].clone(), state["ownershipRequest"].clone()),
        (json!(new.id), json!(null))
    );
}
