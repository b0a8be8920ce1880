//! Companies and resellers, licences, policies, groups, roles in use and the user profile,
//! driven over HTTP and GraphQL as an admin's portal would.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::helpers::{App, Company, create_user, create_user_with, on_both_backends, register_company, user};

on_both_backends!(licence_limit, resellers, policies, groups, roles_in_use, user_profile);

fn company_of(id: &Value) -> Company {
    Company {
        id: id.as_str().expect("a company id").to_owned(),
        administrator_role_id: String::new(),
        user_role_id: String::new(),
    }
}

async fn licenses(app: &App, company: &str) -> Value {
    let query = "query($id: ID!) { company(id: $id) { licenses { used limit } licenseHistory { used limit cause } } }";
    app.query(query, json!({ "id": company })).await["company"].clone()
}

/// With a limit of 10, 20 concurrent creates: exactly 10 users exist, the rest are refused.
async fn licence_limit(app: App) {
    let app = Arc::new(app);
    let reply = app
        .ok(
            "RegisterCompany",
            json!({ "name": "Ten Seats", "mainPhone": "+14155550100", "licenseLimit": 10 }),
        )
        .await;
    let company = company_of(&reply["id"]);
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let (app, barrier, company_id) = (Arc::clone(&app), Arc::clone(&barrier), company.id.clone());
            tokio::spawn(async move {
                let body = json!({ "companyId": company_id, "username": format!("seat{n:02}"),
                                   "email": format!("seat{n:02}@example.com"), "firstName": "Seat", "lastName": "Holder" });
                barrier.wait().await;
                app.command_with("CreateUser", &body, &[]).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a request task panicked"));
    }
    let created = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.status != 200).collect();
    assert_eq!(created, 10, "{answers:#?}");
    for answer in &refused {
        answer.assert_error(422, "license_limit_reached");
        assert_eq!(answer.body["error"]["details"], json!({ "used": 10, "limit": 10 }));
    }
    let count = "query($id: ID!) { users(companyId: $id) { totalCount } }";
    assert_eq!(app.query(count, json!({ "id": company.id })).await["users"]["totalCount"], 10);
    let state = licenses(&app, &company.id).await;
    assert_eq!(state["licenses"], json!({ "used": 10, "limit": 10 }));
    let history = state["licenseHistory"].as_array().expect("a history");
    assert_eq!(history.len(), 11, "registration, then one point per seat: {history:#?}");
    assert_eq!(history[0], json!({ "used": 0, "limit": 10, "cause": "CompanyRegistered" }));
    let used: Vec<_> = history.iter().map(|p| p["used"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(used, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // Lowering the limit below the seats in use is refused; deleting a user frees a seat.
    app.command_with("SetLicenseLimit", &json!({ "companyId": company.id, "limit": 9 }), &[])
        .await
        .assert_error(422, "license_limit_below_used");
    let some_user = answers.iter().find(|a| a.status == 200).map(|a| a.body["id"].clone()).expect("a user");
    app.ok("DeleteUser", json!({ "userId": some_user })).await;
    create_user(&app, &company, "late.comer").await;
    app.command_with(
        "CreateUser",
        &json!({ "companyId": company.id, "username": "one.too.many", "email": "x@example.com", "firstName": "X", "lastName": "Y" }),
        &[],
    )
    .await
    .assert_error(422, "license_limit_reached");
    // No limit at all.
    app.ok("SetLicenseLimit", json!({ "companyId": company.id, "limit": null })).await;
    create_user(&app, &company, "unlimited").await;
    let state = licenses(&app, &company.id).await;
    assert_eq!(state["licenses"], json!({ "used": 11, "limit": null }));
    let causes: Vec<_> = state["licenseHistory"].as_array().expect("history")[11..]
        .iter()
        .map(|p| p["cause"].clone())
        .collect();
    assert_eq!(
        causes,
        [
            json!("LicenseSeatReleased"),
            json!("LicenseSeatTaken"),
            json!("LicenseLimitSet"),
            json!("LicenseSeatTaken")
        ]
    );

    // Bad input names the field and changes nothing.
    let events = app.event_count().await;
    app.command_with("SetLicenseLimit", &json!({ "companyId": company.id, "limit": 0 }), &[])
        .await
        .assert_error(400, "invalid_fields");
    app.command_with("SetLicenseLimit", &json!({ "companyId": company.id }), &[])
        .await
        .assert_error(400, "invalid_fields");
    app.command_with("SetLicenseLimit", &json!({ "companyId": company.id, "limit": -3 }), &[])
        .await
        .assert_error(400, "invalid_fields");
    assert_eq!(app.event_count().await, events);
}

/// A reseller with customers under it, to any depth.
async fn resellers(app: App) {
    let reseller = register_company(&app, "Reseller").await;
    let customer = app
        .ok(
            "RegisterCompany",
            json!({ "name": "Customer", "mainPhone": "+14155550101", "parentCompanyId": reseller.id }),
        )
        .await["id"]
        .clone();
    let sub = app
        .ok(
            "RegisterCompany",
            json!({ "name": "Sub-customer", "mainPhone": "+14155550102", "parentCompanyId": customer }),
        )
        .await["id"]
        .clone();
    let other = register_company(&app, "Unrelated").await;
    create_user(&app, &reseller, "reseller.admin").await;
    create_user(&app, &company_of(&customer), "customer.user").await;
    create_user(&app, &company_of(&sub), "sub.user").await;
    create_user(&app, &other, "other.user").await;

    let query = "query($id: ID!) {
        company(id: $id) { children { name } descendants { name } }
        direct: companies(filter: { parentId: $id }) { totalCount edges { node { name } } }
        all: companies(filter: { parentId: $id, includeDescendants: true }) { totalCount edges { node { name } } }
        own: users(companyId: $id) { totalCount }
        everyone: users(companyId: $id, filter: { includeDescendants: true }) { totalCount edges { node { username } } }
    }";
    let data = app.query(query, json!({ "id": reseller.id })).await;
    assert_eq!(data["company"]["children"], json!([{ "name": "Customer" }]));
    assert_eq!(data["company"]["descendants"], json!([{ "name": "Customer" }, { "name": "Sub-customer" }]));
    assert_eq!(data["direct"]["totalCount"], 1);
    assert_eq!(data["all"]["totalCount"], 2);
    assert_eq!(data["own"]["totalCount"], 1);
    assert_eq!(data["everyone"]["totalCount"], 3);
    let names: Vec<_> = data["everyone"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["username"].clone())
        .collect();
    assert_eq!(names, [json!("reseller.admin"), json!("customer.user"), json!("sub.user")]);

    // Companies page by cursor, and search by name.
    let page = "query($after: String) { companies(first: 2, after: $after) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }";
    let first = app.query(page, json!({ "after": null })).await;
    assert_eq!(first["companies"]["totalCount"], 4);
    assert_eq!(first["companies"]["pageInfo"]["hasNextPage"], true);
    let second = app.query(page, json!({ "after": first["companies"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(second["companies"]["edges"].as_array().map(Vec::len), Some(2));
    assert_eq!(second["companies"]["pageInfo"]["hasNextPage"], false);
    let found = app
        .query("{ companies(filter: { search: \"SUB-\" }) { edges { node { name } } } }", json!(null))
        .await;
    assert_eq!(found["companies"]["edges"], json!([{ "node": { "name": "Sub-customer" } }]));
    app.query_error(
        "{ companies(filter: { includeDescendants: true }) { totalCount } }",
        json!(null),
        "BAD_USER_INPUT",
    )
    .await;

    // UpdateCompany normalises the phone; bad fields are named.
    app.ok(
        "UpdateCompany",
        json!({ "companyId": customer, "name": "Customer Inc", "mainPhone": "+1 (415) 555-0177" }),
    )
    .await;
    let data =
        app.query("query($id: ID!) { company(id: $id) { name mainPhone } }", json!({ "id": customer })).await;
    assert_eq!(data["company"], json!({ "name": "Customer Inc", "mainPhone": "+14155550177" }));
    let answer = app
        .command_with("UpdateCompany", &json!({ "companyId": customer, "name": " ", "mainPhone": "12" }), &[])
        .await;
    answer.assert_error(400, "invalid_fields");
    assert_eq!(
        answer.body["error"]["details"],
        json!({ "name": "must not be empty", "mainPhone": "must be a valid phone number in international format, e.g. +14155550123" })
    );
    let noop = app.ok("UpdateCompany", json!({ "companyId": customer, "name": "Customer Inc" })).await;
    assert_eq!(noop["events"], json!([]));
    app.command_with(
        "UpdateCompany",
        &json!({ "companyId": uuid::Uuid::now_v7().to_string(), "name": "Ghost" }),
        &[],
    )
    .await
    .assert_error(404, "not_found");
}

/// Each company's username policy applies to its users, in its own terms.
async fn policies(app: App) {
    let telzio = register_company(&app, "Telzio-like").await;
    let data = app.query("query($id: ID!) { company(id: $id) { policies { username { minLength maxLength allowedSymbols emailAsUsername } password { minLength requiredClasses } } } }", json!({ "id": telzio.id })).await;
    assert_eq!(
        data["company"]["policies"]["username"],
        json!({ "minLength": 3, "maxLength": 64, "allowedSymbols": ".-_@", "emailAsUsername": false })
    );
    app.ok(
        "SetCompanyPolicies",
        json!({ "companyId": telzio.id, "usernamePolicy": { "minLength": 5, "maxLength": 30 } }),
    )
    .await;
    let body = json!({ "companyId": telzio.id, "username": "bob", "email": "bob@example.com", "firstName": "Bob", "lastName": "B" });
    let answer = app.command_with("CreateUser", &body, &[]).await;
    answer.assert_error(400, "invalid_fields");
    assert_eq!(answer.body["error"]["details"], json!({ "username": "must be 5 to 30 characters" }));
    create_user(&app, &telzio, "bobby").await;

    let telemessage = register_company(&app, "TeleMessage-like").await;
    app.ok(
        "SetCompanyPolicies",
        json!({ "companyId": telemessage.id, "usernamePolicy": { "minLength": 4, "allowedSymbols": ".-_ " },
                "passwordPolicy": { "minLength": 8, "maxLength": 20, "requiredClasses": 3, "forbiddenCharacters": "\"'," } }),
    )
    .await;
    create_user_with(&app, &telemessage, "Ann Lee", json!({ "email": "ann.lee@example.com" })).await;
    let body = json!({ "companyId": telemessage.id, "username": "ann@lee", "email": "ann2@example.com", "firstName": "Ann", "lastName": "Lee" });
    let answer = app.command_with("CreateUser", &body, &[]).await;
    assert_eq!(
        answer.body["error"]["details"],
        json!({ "username": "may contain only letters, digits and '.', '-', '_' and spaces" })
    );
    let data = app.query("query($id: ID!) { company(id: $id) { policies { password { minLength maxLength requiredClasses forbiddenCharacters } } } }", json!({ "id": telemessage.id })).await;
    assert_eq!(
        data["company"]["policies"]["password"],
        json!({ "minLength": 8, "maxLength": 20, "requiredClasses": 3, "forbiddenCharacters": "\"'," })
    );

    let sangoma = register_company(&app, "Sangoma-like").await;
    app.ok(
        "SetCompanyPolicies",
        json!({ "companyId": sangoma.id, "usernamePolicy": { "emailAsUsername": true } }),
    )
    .await;
    let body = json!({ "companyId": sangoma.id, "username": "carol", "email": "carol@example.com", "firstName": "Carol", "lastName": "C" });
    let answer = app.command_with("CreateUser", &body, &[]).await;
    assert_eq!(answer.body["error"]["details"], json!({ "username": "must be the user's email address" }));
    let body = json!({ "companyId": sangoma.id, "username": "carol@example.com", "email": "carol@example.com", "firstName": "Carol", "lastName": "C" });
    assert_eq!(app.command_with("CreateUser", &body, &[]).await.status, 200);

    // A policy that makes no sense is refused field by field, and changes nothing.
    let events = app.event_count().await;
    let answer = app
        .command_with(
            "SetCompanyPolicies",
            &json!({ "companyId": sangoma.id, "usernamePolicy": { "minLength": 0 }, "passwordPolicy": { "requiredClasses": 5, "maxLength": 2 } }),
            &[],
        )
        .await;
    answer.assert_error(400, "invalid_fields");
    let details = answer.body["error"]["details"].as_object().expect("details");
    let mut fields: Vec<_> = details.keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["passwordPolicy.maxLength", "passwordPolicy.requiredClasses", "usernamePolicy.minLength"]
    );
    app.command_with("SetCompanyPolicies", &json!({ "companyId": sangoma.id }), &[])
        .await
        .assert_error(400, "invalid_fields");
    app.command_with(
        "SetCompanyPolicies",
        &json!({ "companyId": sangoma.id, "usernamePolicy": { "color": "red" } }),
        &[],
    )
    .await
    .assert_error(400, "invalid_fields");
    assert_eq!(app.event_count().await, events);
}

async fn groups_of(app: &App, company: &str) -> Value {
    let query = "query($id: ID!) { groups(companyId: $id) { id name isMain memberCount role { name } } }";
    app.query(query, json!({ "id": company })).await["groups"].clone()
}

/// Every company starts with Main Group; deleting a group moves its users back there.
async fn groups(app: App) {
    let company = register_company(&app, "Grouped").await;
    let groups = groups_of(&app, &company.id).await;
    assert_eq!(
        groups,
        json!([{ "id": groups[0]["id"], "name": "Main Group", "isMain": true, "memberCount": 0, "role": null }])
    );
    let main = groups[0]["id"].clone();
    let alice = create_user(&app, &company, "alice").await;
    assert_eq!(
        user(&app, &alice).await["group"],
        json!({ "id": main, "name": "Main Group", "isMain": true })
    );

    let sales =
        app.ok("CreateGroup", json!({ "companyId": company.id, "name": "Sales" })).await["id"].clone();
    app.command_with("CreateGroup", &json!({ "companyId": company.id, "name": "sales" }), &[])
        .await
        .assert_error(409, "already_taken");
    let bob = create_user_with(&app, &company, "bob", json!({ "groupId": sales })).await;
    app.ok("AssignGroup", json!({ "userId": alice, "groupId": sales })).await;
    let renamed = app.ok("RenameGroup", json!({ "groupId": sales, "name": "Sales EMEA" })).await;
    assert_eq!(renamed["events"][0]["type"], "GroupRenamed");
    let groups = groups_of(&app, &company.id).await;
    assert_eq!(groups[1]["name"], "Sales EMEA");
    assert_eq!(groups[1]["memberCount"], 2);
    let filtered = app
        .query(
            "query($c: ID!, $g: ID!) { users(companyId: $c, filter: { groupId: $g }) { totalCount } }",
            json!({ "c": company.id, "g": sales }),
        )
        .await;
    assert_eq!(filtered["users"]["totalCount"], 2);

    // Main Group stays; deleting another group moves its members back to it.
    app.command_with("DeleteGroup", &json!({ "groupId": main }), &[]).await.assert_error(422, "main_group");
    app.command_with("RenameGroup", &json!({ "groupId": main, "name": "Other" }), &[])
        .await
        .assert_error(422, "main_group");
    let deleted = app.ok("DeleteGroup", json!({ "groupId": sales })).await;
    assert_eq!(
        deleted["events"],
        json!([{ "eventId": deleted["events"][0]["eventId"], "type": "GroupDeleted" }])
    );
    for id in [&alice, &bob] {
        assert_eq!(user(&app, id).await["group"]["name"], "Main Group");
    }
    let groups = groups_of(&app, &company.id).await;
    assert_eq!(groups.as_array().map(Vec::len), Some(1));
    assert_eq!(groups[0]["memberCount"], 2);
    let moved = app.audit(json!({ "eventTypes": ["GroupAssigned"], "userId": bob })).await;
    assert_eq!(moved.last().map(|e| e["data"].clone()), Some(json!({ "groupId": main })));
    // The name is free again; a deleted group takes nobody.
    app.ok("CreateGroup", json!({ "companyId": company.id, "name": "Sales EMEA" })).await;
    app.command_with("AssignGroup", &json!({ "userId": alice, "groupId": sales }), &[])
        .await
        .assert_error(422, "group_deleted");

    // Another company's group is refused; unknown ids are 404.
    let other = register_company(&app, "Elsewhere").await;
    let theirs =
        app.ok("CreateGroup", json!({ "companyId": other.id, "name": "Theirs" })).await["id"].clone();
    app.command_with("AssignGroup", &json!({ "userId": alice, "groupId": theirs }), &[])
        .await
        .assert_error(422, "group_in_other_company");
    let ghost = uuid::Uuid::now_v7().to_string();
    app.command_with("AssignGroup", &json!({ "userId": alice, "groupId": ghost }), &[])
        .await
        .assert_error(404, "not_found");
    app.command_with("RenameGroup", &json!({ "groupId": ghost, "name": "X" }), &[])
        .await
        .assert_error(404, "not_found");
    app.command_with("CreateGroup", &json!({ "companyId": company.id, "name": "" }), &[])
        .await
        .assert_error(400, "invalid_fields");
}

/// A role in use cannot be deleted until its holders move; default roles never.
async fn roles_in_use(app: App) {
    let company = register_company(&app, "Roles Inc").await;
    let support =
        app.ok("CreateRole", json!({ "companyId": company.id, "name": "Support" })).await["id"].clone();
    let dana = create_user_with(&app, &company, "dana", json!({ "roleId": support })).await;
    let crew = app
        .ok("CreateGroup", json!({ "companyId": company.id, "name": "Crew", "roleId": support }))
        .await["id"]
        .clone();
    let answer = app.command_with("DeleteRole", &json!({ "roleId": support }), &[]).await;
    answer.assert_error(422, "role_in_use");
    assert_eq!(answer.body["error"]["details"], json!({ "users": 1, "groups": 1 }));
    let data = app
        .query("query($id: ID!) { role(id: $id) { userCount groupCount } }", json!({ "id": support }))
        .await;
    assert_eq!(data["role"], json!({ "userCount": 1, "groupCount": 1 }));

    app.ok("AssignRole", json!({ "userId": dana, "roleId": company.user_role_id })).await;
    app.ok("SetGroupRole", json!({ "groupId": crew, "roleId": null })).await;
    let deleted = app.ok("DeleteRole", json!({ "roleId": support })).await;
    assert_eq!(deleted["events"][0]["type"], "RoleDeleted");
    app.command_with("DeleteRole", &json!({ "roleId": company.user_role_id }), &[])
        .await
        .assert_error(422, "default_role");
    app.command_with("SetGroupRole", &json!({ "groupId": crew, "roleId": support }), &[])
        .await
        .assert_error(422, "role_deleted");
    app.command_with("SetGroupRole", &json!({ "groupId": crew }), &[])
        .await
        .assert_error(400, "invalid_fields");
}

/// Every profile field, validated and normalised, and the lifecycle beyond approval.
async fn user_profile(app: App) {
    let company = register_company(&app, "Profiles").await;
    let full = json!({
        "phone": "+1 (415) 555-0123", "mobile": "+44 7911 123456", "officePhone": "14155550124",
        "fax": "+1 415 555 0125", "outboundCallerId": "+1 415 555 0126", "extension": "301",
        "title": "Dispatcher", "customerCode": "C-77", "udid": "00008030-001A2B3C4D5E", "serviceLevel": "PRO",
        "admin": true, "portalAccess": false, "approved": true
    });
    let eve = create_user_with(&app, &company, "eve", full).await;
    let state = user(&app, &eve).await;
    for (field, value) in [
        ("phone", "+14155550123"),
        ("mobile", "+447911123456"),
        ("officePhone", "+14155550124"),
        ("fax", "+14155550125"),
        ("outboundCallerId", "+14155550126"),
        ("extension", "301"),
        ("title", "Dispatcher"),
        ("customerCode", "C-77"),
        ("udid", "00008030-001A2B3C4D5E"),
        ("serviceLevel", "PRO"),
        ("status", "ACTIVE"),
    ] {
        assert_eq!(state[field], value, "{field}: {state:#}");
    }
    assert_eq!((state["admin"].clone(), state["portalAccess"].clone()), (json!(true), json!(false)));

    // Every invalid field is named with the rule it broke; nothing is written.
    let events = app.event_count().await;
    let bad = json!({ "companyId": company.id, "username": "x!y", "email": "nope", "firstName": "", "lastName": "L",
                      "mobile": "12", "extension": "12345", "fax": "+1 call me", "serviceLevel": "GOLD" });
    let answer = app.command_with("CreateUser", &bad, &[]).await;
    answer.assert_error(400, "invalid_fields");
    assert_eq!(
        answer.body["error"]["details"],
        json!({ "serviceLevel": "unknown variant `GOLD`, expected `ARCHIVE` or `PRO`" })
    );
    let mut bad = bad;
    bad.as_object_mut().map(|b| b.remove("serviceLevel"));
    let answer = app.command_with("CreateUser", &bad, &[]).await;
    let phone_rule = "must be a valid phone number in international format, e.g. +14155550123";
    assert_eq!(
        answer.body["error"]["details"],
        json!({ "username": "may contain only letters, digits and '.', '-', '_' and '@'", "email": "must be an email address such as name@example.com",
                "firstName": "must not be empty", "mobile": phone_rule, "extension": "must be 3 or 4 digits", "fax": phone_rule })
    );
    // The extension is unique within a company only.
    let answer = app.command_with("CreateUser", &json!({ "companyId": company.id, "username": "frank", "email": "frank@example.com", "firstName": "F", "lastName": "F", "extension": "301" }), &[]).await;
    answer.assert_error(409, "already_taken");
    assert_eq!(answer.body["error"]["details"], json!({ "extension": "301" }));
    assert_eq!(app.event_count().await, events);
    let elsewhere = register_company(&app, "Elsewhere").await;
    create_user_with(&app, &elsewhere, "frank", json!({ "extension": "301" })).await;

    // Updates: change, clear, and refuse what cannot change.
    app.ok("UpdateUserProfile", json!({ "userId": eve, "mobile": "+44 7911 123999", "fax": null, "title": "Lead", "serviceLevel": "ARCHIVE" })).await;
    let state = user(&app, &eve).await;
    assert_eq!(
        (
            state["mobile"].clone(),
            state["fax"].clone(),
            state["title"].clone(),
            state["serviceLevel"].clone()
        ),
        (json!("+447911123999"), json!(null), json!("Lead"), json!("ARCHIVE"))
    );
    let history = app.audit(json!({ "userId": eve, "eventTypes": ["UserProfileUpdated"] })).await;
    assert_eq!(
        history[0]["data"],
        json!({ "mobile": "+447911123999", "fax": null, "title": "Lead", "serviceLevel": "ARCHIVE" })
    );
    let answer =
        app.command_with("UpdateUserProfile", &json!({ "userId": eve, "username": "eve2" }), &[]).await;
    assert_eq!(answer.body["error"]["details"], json!({ "username": "a username cannot be changed" }));
    let answer = app
        .command_with("UpdateUserProfile", &json!({ "userId": eve, "email": null, "lastName": "" }), &[])
        .await;
    assert_eq!(
        answer.body["error"]["details"],
        json!({ "email": "must not be empty", "lastName": "must not be empty" })
    );

    // Deactivated users stay in lists, without access, until reactivated.
    app.ok("DeactivateUser", json!({ "userId": eve })).await;
    assert_eq!(user(&app, &eve).await["status"], "DEACTIVATED");
    let listed = app.query("query($c: ID!) { all: users(companyId: $c) { totalCount } off: users(companyId: $c, filter: { deactivated: true }) { totalCount } }", json!({ "c": company.id })).await;
    assert_eq!(
        (listed["all"]["totalCount"].clone(), listed["off"]["totalCount"].clone()),
        (json!(1), json!(1))
    );
    app.ok("ReactivateUser", json!({ "userId": eve })).await;
    assert_eq!(user(&app, &eve).await["status"], "ACTIVE");
    app.command_with("ReactivateUser", &json!({ "userId": eve }), &[])
        .await
        .assert_error(422, "not_suspended");
    let pending = create_user(&app, &company, "pending").await;
    app.ok("DisapproveUser", json!({ "userId": pending })).await;
    assert_eq!(user(&app, &pending).await["status"], "DISAPPROVED");
    app.ok("SetUserAccess", json!({ "userId": eve, "admin": false, "portalAccess": true })).await;
    let state = user(&app, &eve).await;
    assert_eq!((state["admin"].clone(), state["portalAccess"].clone()), (json!(false), json!(true)));
    let noop = app.ok("SetUserAccess", json!({ "userId": eve, "admin": false })).await;
    assert_eq!(noop["events"], json!([]));
}
