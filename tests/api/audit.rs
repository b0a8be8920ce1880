//! The audit trail's integrity as an auditor meets it: the running server seals what it
//! records (`auditIntegrity`), `portal audit verify` recomputes everything and prints the head,
//! and an event edited in the database behind the server's back is named precisely.

use serde_json::json;

use crate::helpers::{App, create_user, on_both_backends, register_company};
use crate::identity::{PASSWORD, activated_user, sign_in};

on_both_backends!(
    the_audit_trail_is_sealed_and_verified,
    the_past_and_the_trail_by_request_and_reseller,
    who_could_use_a_module_then_and_why,
    auditors_export_the_trail_as_a_file
);

const INTEGRITY: &str = "{ auditIntegrity { lastSeal { sequence upToPosition events totalEvents head sealedAt } verifiedUpToPosition unsealedEvents } }";

async fn the_audit_trail_is_sealed_and_verified(mut app: App) {
    let company = register_company(&app, "Audited Ltd").await;
    let alice = create_user(&app, &company, "alice").await;
    // Any command takes a reason, kept with its events, with where the request came from.
    let approved = app
        .command_with(
            "ApproveUser",
            &json!({ "userId": alice, "reason": "contract signed" }),
            &[("user-agent", "portal-admin-ui/2.1")],
        )
        .await;
    assert_eq!(approved.status, 200, "{:#}", approved.body);
    app.ok("SuspendUser", json!({ "userId": alice, "reason": "non-payment" })).await;
    let trail = app.audit(json!({ "userId": alice })).await;
    let entry = |kind: &str| trail.iter().find(|e| e["type"] == kind).cloned().unwrap_or_default();
    let approval = entry("UserApproved");
    assert_eq!(
        (&approval["reason"], &approval["clientIp"], &approval["userAgent"]),
        (&json!("contract signed"), &json!("127.0.0.1"), &json!("portal-admin-ui/2.1")),
        "{approval:#}"
    );
    assert_eq!(approval["hash"].as_str().map(str::len), Some(64));
    let suspension = entry("UserSuspended");
    assert_eq!(
        (&suspension["reason"], &suspension["data"]["reason"]),
        (&json!("non-payment"), &json!("non-payment"))
    );
    assert_eq!(entry("UserCreated")["reason"], json!(null));
    // A reason that is not text, or too long, is refused and changes nothing.
    let (status, body, _) = app.command("ReactivateUser", json!({ "userId": alice, "reason": 5 })).await;
    assert_eq!((status, &body["error"]["details"]["reason"]), (400, &json!("must be a string")), "{body:#}");
    let (status, body, _) =
        app.command("ReactivateUser", json!({ "userId": alice, "reason": "x".repeat(501) })).await;
    assert_eq!(status, 400, "{body:#}");
    assert!(body["error"]["details"]["reason"].is_string(), "{body:#}");
    // The suspension as the fields it changed; an activation never shows a hash.
    let changed = app
        .query(
            "query($user: ID!) { auditTrail(filter: { userId: $user }) { edges { node { type changes { field before after } } } } }",
            json!({ "user": alice }),
        )
        .await;
    let edges = changed["auditTrail"]["edges"].as_array().cloned().unwrap_or_default();
    let suspended = edges.iter().find(|e| e["node"]["type"] == "UserSuspended").expect("the suspension");
    let fields: Vec<&str> = suspended["node"]["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(fields.contains(&"suspended") && fields.contains(&"suspensionReason"), "{suspended:#}");
    let created = edges.iter().find(|e| e["node"]["type"] == "UserCreated").expect("the creation");
    assert!(created["node"]["changes"].as_array().is_some_and(|c| c.len() > 5), "{created:#}");
    let events = app.event_count().await as i64;

    // The server seals within about a second.
    let mut integrity = json!(null);
    for _ in 0..50 {
        integrity = app.query(INTEGRITY, json!(null)).await["auditIntegrity"].clone();
        if integrity["lastSeal"]["totalEvents"] == events {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(integrity["lastSeal"]["totalEvents"], events, "{integrity:#}");
    assert_eq!(integrity["unsealedEvents"], 0, "{integrity:#}");
    assert_eq!(integrity["verifiedUpToPosition"], integrity["lastSeal"]["upToPosition"]);
    let head = integrity["lastSeal"]["head"].as_str().expect("a head").to_owned();
    assert_eq!(head.len(), 64);

    // Only the operator sees it.
    let user = activated_user(&app, &company, "ursula").await;
    let session =
        sign_in(&app, "ursula", PASSWORD).await.body["sessionToken"].as_str().expect("a session").to_owned();
    let answer = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth(&session)
        .json(&json!({ "query": INTEGRITY }))
        .send()
        .await
        .expect("send");
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body:#} ({user})");
    let activation = app
        .query(
            "query($user: ID!) { auditTrail(filter: { userId: $user }) { edges { node { type changes { field before after } } } } }",
            json!({ "user": user }),
        )
        .await
        .to_string();
    assert!(activation.contains("PasswordSet") && activation.contains("activated"), "{activation}");
    assert!(!activation.contains("$argon2") && !activation.contains("tokenHash"), "{activation}");

    // Stopped, the store verifies: every event, and the head the server sealed.
    stopped_store_verifies(&mut app).await;

    // Someone with the database files changes alice's suspension reason.
    tamper(&app, &alice).await;
    let output = app.run_cli(&["audit", "verify"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with(&format!("BROKEN at stream user-{alice} version 3 position ")), "{stdout}");
    assert!(stdout.contains("does not match its hash"), "{stdout}");
}

/// Stops the server; `portal audit verify` then checks every event of its store (as many as the
/// audit trail showed) and prints the head.
pub(crate) async fn stopped_store_verifies(app: &mut App) {
    let total = app.event_count().await;
    app.stop().await;
    let output = app.run_cli(&["audit", "verify"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with(&format!("verified {total} events, head ")), "{stdout}");
}

/// Edits alice's third event (`UserSuspended`) in SQL, the append-only triggers switched off.
async fn tamper(app: &App, alice: &str) {
    let sql =
        format!("update events set request_id = 'forged' where stream_id = 'user-{alice}' and version = 3");
    match app.database_url() {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.expect("connect");
            let mut transaction = pool.begin().await.expect("begin");
            for statement in [
                "alter table events disable trigger user",
                sql.as_str(),
                "alter table events enable trigger user",
            ] {
                let changed = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
                    .execute(&mut *transaction)
                    .await
                    .expect("tamper");
                assert!(!statement.starts_with("update") || changed.rows_affected() == 1);
            }
            transaction.commit().await.expect("commit");
            pool.close().await;
        }
        None => {
            let path = app.data_dir().join("portal.db");
            let pool =
                sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("open");
            sqlx::raw_sql("drop trigger events_no_update").execute(&pool).await.expect("drop the trigger");
            let changed =
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("tamper").rows_affected();
            assert_eq!(changed, 1);
            pool.close().await;
        }
    }
}

/// `roleAsOf` and `companyAsOf` fold the streams up to an instant; the trail narrows to one
/// request (`correlationId`) or to a reseller with its customers; `auditEntry` finds one entry
/// by position, for those who may see it.
async fn the_past_and_the_trail_by_request_and_reseller(app: App) {
    let reseller = register_company(&app, "Reseller Ltd").await;
    let customer = app
        .ok(
            "RegisterCompany",
            json!({ "name": "Customer Co", "mainPhone": crate::helpers::unique_main_phone(), "parentCompanyId": reseller.id }),
        )
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let role = app.ok("CreateRole", json!({ "companyId": reseller.id, "name": "Billing" })).await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let before = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.ok("UpdateRole", json!({ "roleId": role, "name": "Finance" })).await;
    app.ok("UpdateCompany", json!({ "companyId": reseller.id, "name": "Reseller Group" })).await;

    let past = app
        .query(
            "query($role: ID!, $company: ID!, $at: DateTime!) {
                roleAsOf(id: $role, at: $at) { name } now: role(id: $role) { name }
                companyAsOf(id: $company, at: $at) { name } }",
            json!({ "role": role, "company": reseller.id, "at": before }),
        )
        .await;
    assert_eq!(past["roleAsOf"]["name"], "Billing", "{past:#}");
    assert_eq!(past["now"]["name"], "Finance");
    assert_eq!(past["companyAsOf"]["name"], "Reseller Ltd");
    let before_it = app
        .query(
            "query($role: ID!, $at: DateTime!) { roleAsOf(id: $role, at: $at) { name } }",
            json!({ "role": role, "at": "2000-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(before_it["roleAsOf"], json!(null), "it did not exist yet");

    // What each entry changed, from the stream: the role's rename, before and after.
    let renamed = app
        .query(
            "query($role: ID!) { auditTrail(filter: { streamId: $role, eventTypes: [\"RoleUpdated\"] }) {
                edges { node { changes { field before after } } } } }",
            json!({ "role": format!("role-{role}") }),
        )
        .await;
    assert_eq!(
        renamed["auditTrail"]["edges"][0]["node"]["changes"],
        json!([{ "field": "name", "before": "Billing", "after": "Finance" }]),
        "{renamed:#}"
    );

    // One request, every event it wrote: the user, the seat, the role's holder, the member.
    let alice = create_user(&app, &reseller, "alice-r").await;
    let created = app.audit(json!({ "userId": alice })).await;
    let correlation = created[0]["correlationId"].clone();
    let request = app.audit(json!({ "correlationId": correlation })).await;
    let mut streams: Vec<&str> = request.iter().filter_map(|e| e["streamId"].as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    assert!(streams.len() >= 3, "{request:#?}");
    assert!(request.iter().all(|e| e["correlationId"] == correlation));

    // The reseller's trail, with or without its customers'.
    let own = app.audit(json!({ "companyId": reseller.id })).await;
    let with_customers = app.audit(json!({ "companyId": reseller.id, "includeDescendants": true })).await;
    assert!(own.iter().all(|e| e["companyId"] == reseller.id.as_str()));
    assert!(with_customers.iter().any(|e| e["companyId"] == customer.as_str()));
    assert_eq!(
        with_customers.len(),
        own.len() + app.audit(json!({ "companyId": customer })).await.len(),
        "the reseller's and the customer's, nothing else"
    );

    // One entry by its position.
    let position = created[0]["position"].clone();
    let entry = app
        .query(
            "query($p: Int!) { auditEntry(position: $p) { streamId type causedBy { position } } }",
            json!({ "p": position }),
        )
        .await;
    assert_eq!(entry["auditEntry"]["streamId"], format!("user-{alice}"));
    assert_eq!(entry["auditEntry"]["causedBy"], json!(null), "a command is caused by nobody's event");
    let missing = app.query("{ auditEntry(position: 999999999) { type } }", json!(null)).await;
    assert_eq!(missing["auditEntry"], json!(null));
}

const ACCESS: &str = "query($company: ID!, $at: DateTime!) {
    accessAsOf(companyId: $company, module: BILLING, at: $at) {
        userId username status level sources because { type reason actor { kind } } } }";

/// `accessAsOf`: who could use BILLING in a company at an instant, at what level, from which
/// source, and the events (with their reasons) that gave it.
async fn who_could_use_a_module_then_and_why(app: App) {
    let company = register_company(&app, "Ledger Ltd").await;
    let role = app
        .ok(
            "CreateRole",
            json!({ "companyId": company.id, "name": "Billing Viewers", "permissions": [{ "module": "BILLING", "level": "VIEW" }] }),
        )
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let bob = create_user(&app, &company, "bob").await;
    let carol = create_user(&app, &company, "carol").await;
    let dave = create_user(&app, &company, "dave").await;
    let erin = create_user(&app, &company, "erin").await;
    app.ok("AssignRole", json!({ "userId": bob, "roleId": role, "reason": "new hire in accounts" })).await;
    app.ok(
        "GrantPermission",
        json!({ "userId": carol, "module": "BILLING", "level": "EDIT", "reason": "month-end close" }),
    )
    .await;
    app.ok("AssignRole", json!({ "userId": erin, "roleId": company.administrator_role_id })).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let then = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.ok("RevokePermission", json!({ "userId": carol, "module": "BILLING", "reason": "close done" })).await;
    app.ok("GrantPermission", json!({ "userId": dave, "module": "BILLING", "level": "VIEW" })).await;

    let at_then = app.query(ACCESS, json!({ "company": company.id, "at": then })).await;
    let grants = at_then["accessAsOf"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = grants.iter().filter_map(|g| g["username"].as_str()).collect();
    assert_eq!(names, ["bob", "carol", "erin"], "{at_then:#}");
    let [bob_then, carol_then, erin_then] = [&grants[0], &grants[1], &grants[2]];
    assert_eq!(bob_then["userId"], bob.as_str());
    assert_eq!((&bob_then["level"], &bob_then["sources"]), (&json!("VIEW"), &json!(["ROLE"])));
    let why: Vec<(&str, &serde_json::Value)> = bob_then["because"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["type"].as_str().unwrap_or(""), &e["reason"]))
        .collect();
    assert_eq!(
        why,
        [("RoleCreated", &json!(null)), ("RoleAssigned", &json!("new hire in accounts"))],
        "{bob_then:#}"
    );
    assert_eq!((&carol_then["level"], &carol_then["sources"]), (&json!("EDIT"), &json!(["DIRECT"])));
    assert_eq!(
        carol_then["because"],
        json!([{ "type": "UserPermissionGranted", "reason": "month-end close", "actor": { "kind": "OPERATOR" } }])
    );
    assert_eq!((&erin_then["level"], &erin_then["status"]), (&json!("FULL"), &json!("PENDING_APPROVAL")));

    let now = app.query(ACCESS, json!({ "company": company.id, "at": chrono::Utc::now() })).await;
    let names: Vec<&str> =
        now["accessAsOf"].as_array().into_iter().flatten().filter_map(|g| g["username"].as_str()).collect();
    assert_eq!(names, ["bob", "dave", "erin"], "carol's grant was revoked, dave got one: {now:#}");
    let before = app.query(ACCESS, json!({ "company": company.id, "at": "2000-01-01T00:00:00Z" })).await;
    assert_eq!(before["accessAsOf"], json!([]));

    // Another company's admin asks: nothing, as for a company that does not exist.
    let other = register_company(&app, "Elsewhere Books").await;
    let stranger = activated_user(&app, &other, "stranger-b").await;
    app.ok("AssignRole", json!({ "userId": stranger, "roleId": other.administrator_role_id })).await;
    let session = sign_in(&app, "stranger-b", PASSWORD).await.body["sessionToken"]
        .as_str()
        .expect("a session")
        .to_owned();
    let answer = crate::identity::post(
        &app,
        "/graphql",
        json!({ "query": ACCESS, "variables": { "company": company.id, "at": then } }),
        Some(&session),
    )
    .await;
    assert_eq!(answer.body["data"]["accessAsOf"], json!([]), "{:#}", answer.body);
}

/// GET /audit/export as the operator, streamed.
pub(crate) async fn export(app: &App, query: &str, token: &str) -> (u16, String, String) {
    let response = app
        .client()
        .get(app.url(&format!("/audit/export?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.expect("the body"))
}

/// The trail of a reseller (and its customers) as JSON lines and CSV, over HTTP and from the
/// command line, the same rows the audit trail shows; bad parameters are named.
async fn auditors_export_the_trail_as_a_file(mut app: App) {
    let reseller = register_company(&app, "Export Ltd").await;
    let customer = app
        .ok(
            "RegisterCompany",
            json!({ "name": "Export Customer", "mainPhone": crate::helpers::unique_main_phone(), "parentCompanyId": reseller.id }),
        )
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let user = create_user(&app, &reseller, "exported").await;
    app.ok("SuspendUser", json!({ "userId": user, "reason": "audit, \"quoted\", and, commas" })).await;
    app.ok("SetPassword", json!({ "userId": user, "password": "Admin-Set-123" })).await;
    let own = app.audit(json!({ "companyId": reseller.id })).await;
    let both = app.audit(json!({ "companyId": reseller.id, "includeDescendants": true })).await;
    assert!(both.len() > own.len());

    let token = crate::helpers::TOKEN;
    let (status, content_type, body) = export(&app, &format!("companyId={}", reseller.id), token).await;
    assert_eq!((status, content_type.as_str()), (200, "application/x-ndjson"), "{body}");
    let rows: Vec<serde_json::Value> =
        body.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
    let positions =
        |entries: &[serde_json::Value]| entries.iter().map(|e| e["position"].clone()).collect::<Vec<_>>();
    assert_eq!(positions(&rows), positions(&own), "the same events as the trail, in commit order");
    assert!(rows.iter().all(|row| row["hash"].as_str().is_some_and(|h| h.len() == 64)));
    assert!(!body.contains("$argon2"), "password hashes are redacted in exports too");

    let query = format!("companyId={}&includeDescendants=true&format=csv", reseller.id);
    let (status, content_type, body) = export(&app, &query, token).await;
    assert_eq!((status, content_type.as_str()), (200, "text/csv; charset=utf-8"));
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().expect("a header").clone();
    assert_eq!(&headers[0], "position");
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(records.len(), both.len());
    let reason = headers.iter().position(|h| h == "reason").expect("a reason column");
    assert!(records.iter().any(|r| &r[reason] == "audit, \"quoted\", and, commas"), "quoted exactly");
    let company = headers.iter().position(|h| h == "companyId").expect("a companyId column");
    assert!(records.iter().any(|r| r[company] == customer));

    // Bad parameters are named; the export is the operator's.
    let (status, _, body) = export(&app, "format=xml", token).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("format must be jsonl or csv"), "{body}");
    let (status, _, body) = export(&app, "from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", token).await;
    assert!(status == 400 && body.contains("from must not be after to"), "{body}");
    let (status, _, _) = export(&app, &format!("companyId={}", uuid::Uuid::now_v7()), token).await;
    assert_eq!(status, 404);
    let (status, _, _) = export(&app, "", "not-a-token").await;
    assert_eq!(status, 401);
    let session = {
        let id = activated_user(&app, &reseller, "exporter").await;
        app.ok("AssignRole", json!({ "userId": id, "roleId": reseller.administrator_role_id })).await;
        sign_in(&app, "exporter", PASSWORD).await.body["sessionToken"].as_str().expect("a session").to_owned()
    };
    let (status, _, _) = export(&app, "", &session).await;
    assert_eq!(status, 403, "even a company's admin");

    // The command line writes the same rows to a file.
    app.stop().await;
    let file = app.data_dir().join("export.csv");
    let file_arg = file.to_string_lossy().into_owned();
    let company_arg = reseller.id.clone();
    let output = app
        .run_cli(&[
            "audit",
            "export",
            "--company",
            &company_arg,
            "--include-descendants",
            "--format",
            "csv",
            "--output",
            &file_arg,
        ])
        .await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written = std::fs::read_to_string(&file).expect("the export file");
    let mut reader = csv::Reader::from_reader(written.as_bytes());
    assert!(reader.records().count() > both.len(), "and the events since (the exporter's)");
    let output = app.run_cli(&["audit", "export", "--format", "xml"]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("jsonl or csv"));
}
