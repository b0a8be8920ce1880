//! Erasure as a person and an auditor meet it: `DeleteUser` ("deletes the account and all
//! associated data, allowing the same email address to be reused") destroys the person's key
//! with the event. Afterwards their personal data reads as erased in every view of the past,
//! the read models hold none of it, it is in no database file, the hash chain still verifies,
//! and their username and email can be used again.

use serde_json::json;

use crate::audit::export;
use crate::helpers::{App, Backend, TOKEN, on_both_backends, register_company, user};
use crate::identity::{PASSWORD, activated_user, sign_in};

on_both_backends!(deleting_a_user_erases_their_personal_data_everywhere);

const ERASED: &str = "[erased]";

/// Letters only (names allow no digits), different in every run.
fn tag() -> String {
    uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(10)
        .map(|c| (b'a' + c.to_digit(16).unwrap_or(0) as u8) as char)
        .collect()
}

async fn deleting_a_user_erases_their_personal_data_everywhere(mut app: App) {
    let company = register_company(&app, "Erasure Ltd").await;
    let tag = tag();
    let username = format!("erin{tag}");
    let email = format!("{username}@example.com");
    let (first_name, last_name) = (format!("Erinelle{tag}"), format!("Probeworth{tag}"));
    let id = activated_user(&app, &company, &username).await;
    app.ok(
        "UpdateUserProfile",
        json!({ "userId": id, "firstName": first_name, "lastName": last_name, "mobile": "+447911123456",
                "title": format!("Chief Prober {tag}") }),
    )
    .await;
    assert_eq!(sign_in(&app, &username, PASSWORD).await.status, 200);
    let personal = [
        username.clone(),
        email.clone(),
        first_name.clone(),
        last_name.clone(),
        "7911123456".to_owned(),
        format!("Chief Prober {tag}"),
    ];
    let live = user(&app, &id).await;
    assert_eq!((&live["email"], &live["mobile"]), (&json!(email), &json!("+447911123456")), "{live:#}");
    let before_deletion = chrono::Utc::now().to_rfc3339();

    app.ok("DeleteUser", json!({ "userId": id, "reason": "the customer asked to be forgotten" })).await;

    // The read model holds nothing personal, and search finds nothing by it.
    let deleted = user(&app, &id).await;
    for field in ["username", "email", "firstName", "lastName"] {
        assert_eq!(deleted[field], ERASED, "{field}: {deleted:#}");
    }
    assert_eq!(
        (&deleted["mobile"], &deleted["title"], &deleted["deleted"]),
        (&json!(null), &json!(null), &json!(true))
    );
    let found = app
        .query(
            "query($s: String) { users(filter: { search: $s, includeDeleted: true }) { totalCount } }",
            json!({ "s": tag }),
        )
        .await;
    assert_eq!(found["users"]["totalCount"], 0, "{found:#}");

    // Every view of the past: the trail, its changes, the user as of before the deletion, an export.
    let trail = app.audit(json!({ "userId": id })).await;
    let text = serde_json::to_string(&trail).unwrap_or_default();
    assert_no_personal_data(&text, &personal, "the audit trail");
    let created = trail.iter().find(|e| e["type"] == "UserCreated").expect("the creation");
    assert_eq!((&created["data"]["email"], &created["data"]["username"]), (&json!(ERASED), &json!(ERASED)));
    let login = trail.iter().find(|e| e["type"] == "LoginSucceeded").expect("the sign-in");
    assert_eq!(login["clientIp"], ERASED, "the person's address went with them: {login:#}");
    let deletion = trail.iter().find(|e| e["type"] == "UserDeleted").expect("the deletion");
    assert_eq!(
        (&deletion["reason"], &deletion["clientIp"]),
        (&json!("the customer asked to be forgotten"), &json!("127.0.0.1")),
        "the operator's own request stays readable"
    );
    let changes = app
        .query(
            "query($user: ID!) { auditTrail(filter: { userId: $user }) { edges { node { changes { field before after } } } } }",
            json!({ "user": id }),
        )
        .await;
    assert_no_personal_data(&changes.to_string(), &personal, "the changes");
    let past = app
        .query(
            "query($id: ID!, $at: DateTime!) { userAsOf(id: $id, at: $at) { username email firstName mobile deleted } }",
            json!({ "id": id, "at": before_deletion }),
        )
        .await;
    assert_eq!(
        past["userAsOf"],
        json!({ "username": ERASED, "email": ERASED, "firstName": ERASED, "mobile": ERASED, "deleted": false })
    );
    let (status, _, exported) = export(&app, &format!("companyId={}", company.id), TOKEN).await;
    assert_eq!(status, 200);
    assert!(exported.contains(ERASED), "{exported}");
    assert_no_personal_data(&exported, &personal, "the export");

    // In no database file: SQLite's (with its write-ahead log), or a dump of Postgres.
    let files = database_files(&app).await;
    assert_no_personal_data(&files, &personal, "the database files");

    // The username and email are free again; the old trail stays erased.
    let again = app
        .ok(
            "CreateUser",
            json!({ "companyId": company.id, "username": username, "email": email, "firstName": "Erin", "lastName": "Again" }),
        )
        .await;
    assert_ne!(again["id"], json!(id));
    assert_eq!(user(&app, again["id"].as_str().unwrap_or_default()).await["email"], json!(email));

    // And the hash chain verifies from the first event to the last.
    crate::audit::stopped_store_verifies(&mut app).await;
}

fn assert_no_personal_data(text: &str, personal: &[String], place: &str) {
    let lower = text.to_lowercase();
    for value in personal {
        assert!(!lower.contains(&value.to_lowercase()), "{value} is still in {place}");
    }
}

/// Everything the database keeps, as text: SQLite's files (its database, write-ahead log and
/// shared memory; not the server log or the delivered-mail file beside them), or Postgres's
/// `pg_dump`.
async fn database_files(app: &App) -> String {
    match app.backend {
        Backend::Sqlite => {
            let mut text = String::new();
            for entry in std::fs::read_dir(app.data_dir()).expect("the data directory").flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("portal.db") {
                    let bytes = std::fs::read(entry.path()).expect("read a database file");
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
            assert!(text.len() > 4096, "the SQLite database was not found");
            text
        }
        Backend::Postgres => {
            let url = app.database_url().expect("a Postgres URL");
            let output = tokio::process::Command::new("pg_dump")
                .args(["--data-only", "--no-owner", url])
                .output()
                .await
                .expect("run pg_dump (the Postgres client tools)");
            assert!(output.status.success(), "pg_dump: {}", String::from_utf8_lossy(&output.stderr));
            let dump = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(dump.contains("vault_keys"), "the dump has the tables");
            dump
        }
    }
}
