//! The audit trail's integrity as an auditor meets it: the running server seals what it
//! records (`auditIntegrity`), `portal audit verify` recomputes everything and prints the head,
//! and an event edited in the database behind the server's back is named precisely.

use serde_json::json;

use crate::helpers::{App, create_user, on_both_backends, register_company};
use crate::identity::{PASSWORD, activated_user, sign_in};

on_both_backends!(the_audit_trail_is_sealed_and_verified);

const INTEGRITY: &str = "{ auditIntegrity { lastSeal { sequence upToPosition events totalEvents head sealedAt } verifiedUpToPosition unsealedEvents } }";

async fn the_audit_trail_is_sealed_and_verified(mut app: App) {
    let company = register_company(&app, "Audited Ltd").await;
    let alice = create_user(&app, &company, "alice").await;
    app.ok("ApproveUser", json!({ "userId": alice })).await;
    app.ok("SuspendUser", json!({ "userId": alice, "reason": "non-payment" })).await;
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

    // Stopped, the store verifies: every event, and the head the server sealed.
    let total = app.event_count().await;
    app.stop().await;
    let output = app.run_cli(&["audit", "verify"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with(&format!("verified {total} events, head ")), "{stdout}");

    // Someone with the database files changes alice's suspension reason.
    tamper(&app, &alice).await;
    let output = app.run_cli(&["audit", "verify"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with(&format!("BROKEN at stream user-{alice} version 3 position ")), "{stdout}");
    assert!(stdout.contains("does not match its hash"), "{stdout}");
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
