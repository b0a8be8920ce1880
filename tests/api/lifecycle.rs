//! What survives the server: restarts, and rebuilding the read models from the event log.

use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::helpers::{
    App, Backend, Company, USER_FIELDS, create_user, create_user_with, on_both_backends, register_company,
};
use crate::tickets::{TICKET_FIELDS, png, upload};

on_both_backends!(restart_persistence, projections_rebuild);

/// A little of everything: companies, a custom role, users in every status.
async fn populate(app: &App) -> Company {
    let company = register_company(app, "Durable Ltd").await;
    let child = app
        .ok(
            "RegisterCompany",
            json!({ "name": "Durable Kids", "mainPhone": "+14155550142", "parentCompanyId": company.id }),
        )
        .await;
    let role = app
        .ok(
            "CreateRole",
            json!({ "companyId": company.id, "name": "Auditor",
                    "permissions": [{ "module": "CALL_RECORDINGS", "level": "VIEW" }] }),
        )
        .await;
    let role_id = role["id"].as_str().expect("role id");
    create_user(app, &company, "pending.person").await;
    let active = create_user_with(
        app,
        &company,
        "active.person",
        json!({ "phone": "+44 20 7946 0000", "extension": "200" }),
    )
    .await;
    app.ok("ApproveUser", json!({ "userId": active })).await;
    app.ok("AssignRole", json!({ "userId": active, "roleId": role_id })).await;
    app.ok("GrantPermission", json!({ "userId": active, "module": "BILLING", "level": "EDIT" })).await;
    let suspended = create_user_with(app, &company, "suspended.person", json!({ "approved": true })).await;
    app.ok("SuspendUser", json!({ "userId": suspended, "reason": "holiday" })).await;
    let deleted = create_user(app, &company, "deleted.person").await;
    app.ok("DeleteUser", json!({ "userId": deleted })).await;
    let child_id = child["id"].as_str().expect("child id");
    let kid = create_user_with(
        app,
        &Company {
            id: child_id.to_owned(),
            administrator_role_id: String::new(),
            user_role_id: String::new(),
        },
        "kid.person",
        json!({}),
    )
    .await;
    app.ok("UpdateUserProfile", json!({ "userId": kid, "lastName": "Renamed" })).await;
    app.ok("GrantPermission", json!({ "roleId": company.user_role_id, "module": "SMS", "level": "VIEW" }))
        .await;
    // Groups, a group role, deactivation, licences and policies.
    let night = app
        .ok("CreateGroup", json!({ "companyId": company.id, "name": "Night shift", "roleId": role_id }))
        .await;
    app.ok("AssignGroup", json!({ "userId": active, "groupId": night["id"] })).await;
    let gone = app.ok("CreateGroup", json!({ "companyId": company.id, "name": "Gone" })).await;
    app.ok("AssignGroup", json!({ "userId": suspended, "groupId": gone["id"] })).await;
    app.ok("DeleteGroup", json!({ "groupId": gone["id"] })).await;
    app.ok("DeactivateUser", json!({ "userId": kid })).await;
    app.ok(
        "ChangeMobileNumber",
        json!({ "userId": active, "mobile": "+44 7911 123456", "previousNumber": "REMOVED" }),
    )
    .await;
    app.ok(
        "ChangeMobileNumber",
        json!({ "userId": active, "mobile": "+44 7911 123457", "previousNumber": "SUSPENDED" }),
    )
    .await;
    app.ok(
        "UpdateMySettings",
        json!({ "userId": active, "manualFiltering": true, "settings": { "theme": "dark" } }),
    )
    .await;
    app.ok("SetEnabledApps", json!({ "companyId": company.id, "apps": ["CALL_LOGS", "SETTINGS"] })).await;
    app.ok("SetLicenseLimit", json!({ "companyId": company.id, "limit": 40 })).await;
    app.ok(
        "SetCompanyPolicies",
        json!({ "companyId": company.id, "usernamePolicy": { "minLength": 5 }, "passwordPolicy": { "requiredClasses": 3 } }),
    )
    .await;
    // Tickets: one answered and closed, with files; one still open.
    let screenshot = upload(app, png(), "image/png", "screenshot.png").await;
    let log = upload(app, b"12:00 call dropped\n".to_vec(), "text/plain", "calls.log").await;
    let question = app
        .ok(
            "OpenTicket",
            json!({ "companyId": company.id, "requesterId": active, "topic": "TECHNICAL_SUPPORT",
                    "message": "Calls drop after a minute", "attachments": [screenshot] }),
        )
        .await;
    app.ok(
        "CommentOnTicket",
        json!({ "ticketId": question["id"], "message": "Log attached", "attachments": [log] }),
    )
    .await;
    app.ok("CloseTicket", json!({ "ticketId": question["id"], "resolution": "Firmware updated" })).await;
    app.ok(
        "OpenTicket",
        json!({ "companyId": company.id, "topic": "BILLING", "message": "Invoice copy please" }),
    )
    .await;
    company
}

/// Everything the read models answer about the populated data.
async fn read_everything(app: &App, company: &Company) -> Value {
    let query = format!(
        "query($company: ID!) {{
            users(filter: {{ includeDeleted: true }}) {{ totalCount edges {{ cursor node {{ {USER_FIELDS} }} }} }}
            active: users(companyId: $company, filter: {{ suspended: false }}) {{ totalCount edges {{ node {{ id }} }} }}
            roles(companyId: $company) {{ id name description isDefault permissions {{ module level }} userCount groupCount createdAt updatedAt version }}
            groups(companyId: $company) {{ id name isMain role {{ id }} memberCount deleted createdAt updatedAt version }}
            company(id: $company) {{
                id name mainPhone parent {{ id }} children {{ id name licenses {{ used limit }} roles {{ id name }} }}
                descendants {{ id }} licenses {{ used limit }} licenseHistory {{ at used limit cause version }}
                policies {{ username {{ minLength maxLength allowedSymbols emailAsUsername }} password {{ minLength maxLength requiredClasses forbiddenCharacters }} }}
                createdAt updatedAt version
            }}
            companies {{ totalCount edges {{ cursor node {{ id name }} }} }}
            tickets(companyId: $company) {{ totalCount edges {{ cursor node {{ {TICKET_FIELDS} }} }} }}
            open: tickets(filter: {{ status: OPEN }}) {{ totalCount edges {{ node {{ id }} }} }}
        }}"
    );
    app.query(&query, json!({ "company": company.id })).await
}

async fn restart_persistence(mut app: App) {
    let company = populate(&app).await;
    let before = read_everything(&app, &company).await;
    assert_eq!(before["users"]["totalCount"], 5, "{before:#}");
    assert_eq!(before["active"]["totalCount"], 2, "{before:#}");
    assert_eq!(before["groups"].as_array().map(Vec::len), Some(2), "Main Group and Night shift: {before:#}");
    assert_eq!(before["company"]["licenses"], json!({ "used": 3, "limit": 40 }), "{before:#}");
    assert_eq!(before["company"]["licenseHistory"].as_array().map(Vec::len), Some(7), "{before:#}");
    assert_eq!(before["tickets"]["totalCount"], 2, "{before:#}");
    assert_eq!(before["open"]["totalCount"], 1, "{before:#}");
    assert_eq!(
        before["tickets"]["edges"][0]["node"]["messages"].as_array().map(Vec::len),
        Some(2),
        "{before:#}"
    );
    let audit_before = app.audit(json!(null)).await;
    let active = before["users"]["edges"][1]["node"].clone();
    assert_eq!(active["username"], "active.person");
    let old_url = app.base_url.clone();

    app.restart().await;
    assert_ne!(app.base_url, old_url, "a new server on a new port");
    assert_eq!(read_everything(&app, &company).await, before);
    assert_eq!(app.audit(json!(null)).await, audit_before);

    // The restarted server knows what the old one wrote: unique names stay taken, versions
    // go on, and If-Match with a version read before the restart still works.
    let answer = app
        .command_with(
            "CreateUser",
            &json!({ "companyId": company.id, "username": "Active.Person", "email": "fresh@example.com",
                     "firstName": "Copy", "lastName": "Cat" }),
            &[],
        )
        .await;
    answer.assert_error(409, "already_taken");
    let id = active["id"].as_str().expect("an id");
    let version = active["version"].as_i64().expect("a version");
    let answer = app
        .command_with(
            "UpdateUserProfile",
            &json!({ "userId": id, "extension": "201" }),
            &[("if-match", &format!("\"{version}\""))],
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["version"], version + 1);
    app.command_with("SuspendUser", &json!({ "userId": before["users"]["edges"][2]["node"]["id"] }), &[])
        .await
        .assert_error(422, "already_suspended");
    let after = read_everything(&app, &company).await;
    assert_eq!(after["users"]["edges"][1]["node"]["extension"], "201");
    assert_eq!(app.audit(json!(null)).await.len(), audit_before.len() + 1);
}

/// Empties the read-model tables behind the server's back (the server is stopped), so that
/// only a rebuild can bring them back.
async fn wipe_read_models(app: &App) {
    const WIPE: &str = "delete from users; delete from roles; delete from companies; delete from groups; \
                        delete from company_license_history; delete from tickets; delete from ticket_messages;";
    match app.database_url() {
        Some(url) => {
            let mut connection =
                sqlx::PgConnection::connect(url).await.expect("connect to the test database");
            sqlx::raw_sql(WIPE).execute(&mut connection).await.expect("empty the read models");
            connection.close().await.expect("close the connection");
        }
        None => {
            let options =
                sqlx::sqlite::SqliteConnectOptions::new().filename(app.data_dir().join("portal.db"));
            let mut connection =
                sqlx::SqliteConnection::connect_with(&options).await.expect("open the SQLite database");
            sqlx::raw_sql(WIPE).execute(&mut connection).await.expect("empty the read models");
            connection.close().await.expect("close the connection");
        }
    }
}

async fn projections_rebuild(mut app: App) {
    let company = populate(&app).await;
    let before = read_everything(&app, &company).await;
    let events = app.event_count().await;

    if app.backend == Backend::Sqlite {
        // SQLite serves one process: a rebuild next to the running server is refused.
        let output = app.run_cli(&["projections", "rebuild"]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "the rebuild ran next to the server: {stderr}");
        assert!(stderr.contains("another portal process"), "{stderr}");
    }
    let output = app.run_cli(&["projections", "rebuild", "--read-model", "invoices"]).await;
    assert!(!output.status.success(), "an unknown read model is refused");

    app.stop().await;
    wipe_read_models(&app).await;
    let output = app.run_cli(&["projections", "rebuild"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "rebuild failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // Each model replays the events of its own streams; together, every event of the log.
    let mut replayed = 0;
    for model in ["users", "roles", "companies", "groups", "tickets", "imports"] {
        let prefix = format!("rebuilt {model}: ");
        let count = stdout
            .lines()
            .find_map(|line| {
                line.strip_prefix(&prefix)?.split_once(" events of its streams in ")?.0.parse::<usize>().ok()
            })
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{stdout}"));
        replayed += count;
    }
    assert_eq!(replayed, events, "every event replayed by exactly one model:\n{stdout}");
    // One read model on its own, too.
    for model in ["users", "tickets"] {
        let output = app.run_cli(&["projections", "rebuild", "--read-model", model]).await;
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    app.restart().await;
    let after = read_everything(&app, &company).await;
    assert_eq!(after, before);

    // The rebuilt read models go on following new events.
    let id = create_user(&app, &company, "after.rebuild").await;
    let data = app.query("query($id: ID!) { user(id: $id) { username status } }", json!({ "id": id })).await;
    assert_eq!(data["user"], json!({ "username": "after.rebuild", "status": "PENDING_APPROVAL" }));
}
