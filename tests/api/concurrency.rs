//! Writers racing each other, optimistic concurrency with `If-Match`, and `Idempotency-Key`.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::helpers::{Answer, App, create_user, on_both_backends, register_company, user};
use crate::metrics::{sample, scrape};

on_both_backends!(concurrent_writers, idempotency_key);

/// Sends the requests at once (each task waits for all the others before sending).
async fn all_at_once(
    app: &Arc<App>,
    name: &'static str,
    requests: Vec<(Value, Vec<(String, String)>)>,
) -> Vec<Answer> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(body, headers)| {
            let (app, barrier) = (Arc::clone(app), Arc::clone(&barrier));
            tokio::spawn(async move {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                barrier.wait().await;
                app.command_with(name, &body, &headers).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a request task panicked"));
    }
    answers
}

async fn concurrent_writers(app: App) {
    let app = Arc::new(app);
    let company = register_company(&app, "Race Co").await;

    // Sixteen clients want the same username (each with an email of its own).
    let requests = (0..16)
        .map(|i| {
            let body = json!({
                "companyId": company.id, "username": "highlander", "email": format!("mac{i}@example.com"),
                "firstName": "Connor", "lastName": format!("MacLeod {i}"),
            });
            (body, Vec::new())
        })
        .collect();
    let answers = all_at_once(&app, "CreateUser", requests).await;
    let winners: Vec<_> = answers.iter().filter(|answer| answer.status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one CreateUser wins: {answers:#?}");
    for answer in answers.iter().filter(|answer| answer.status != 200) {
        answer.assert_error(409, "already_taken");
        assert_eq!(answer.body["error"]["details"], json!({ "username": "highlander" }));
    }
    let data = app
        .query(
            "query($company: ID!) { users(companyId: $company, filter: { includeDeleted: true }) { totalCount edges { node { id username } } } }",
            json!({ "company": company.id }),
        )
        .await;
    assert_eq!(data["users"]["totalCount"], 1, "{data:#}");
    assert_eq!(data["users"]["edges"][0]["node"]["id"], winners[0].body["id"]);
    let created = app.audit(json!({ "companyId": company.id, "eventTypes": ["UserCreated"] })).await;
    assert_eq!(created.len(), 1, "{created:#?}");
    // The losers' emails were not kept: they can be used again.
    let again = create_user(&app, &company, "mac.again").await;
    let loser_email = answers
        .iter()
        .position(|answer| answer.status != 200)
        .map(|i| format!("mac{i}@example.com"))
        .expect("there are losers");
    app.ok("UpdateUserProfile", json!({ "userId": again, "email": loser_email })).await;

    // Two clients edit the same version of a user: one wins, the other is told it is stale.
    let id = create_user(&app, &company, "contested").await;
    let version = user(&app, &id).await["version"].as_i64().expect("a version");
    let if_match = vec![("if-match".to_owned(), format!("\"{version}\""))];
    let answers = all_at_once(
        &app,
        "UpdateUserProfile",
        vec![
            (json!({ "userId": id, "firstName": "Left" }), if_match.clone()),
            (json!({ "userId": id, "firstName": "Right" }), if_match.clone()),
        ],
    )
    .await;
    let mut statuses: Vec<_> = answers.iter().map(|answer| answer.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{answers:#?}");
    let (winner, loser) =
        if answers[0].status == 200 { (&answers[0], &answers[1]) } else { (&answers[1], &answers[0]) };
    loser.assert_error(409, "version_conflict");
    assert_eq!(loser.body["error"]["details"]["streamId"], format!("user-{id}"));
    assert_eq!(loser.body["error"]["details"]["expectedVersion"], version);
    assert_eq!(loser.body["error"]["details"]["actualVersion"], version + 1);
    assert_eq!(winner.body["version"], version + 1);
    assert_eq!(winner.header("etag"), Some(format!("\"{}\"", version + 1).as_str()));
    let state = user(&app, &id).await;
    let expected_name = if answers[0].status == 200 { "Left" } else { "Right" };
    assert_eq!(
        (state["firstName"].as_str(), state["version"].as_i64()),
        (Some(expected_name), Some(version + 1))
    );

    // A stale If-Match is refused with the version the user is at; the current one is accepted.
    let answer = app
        .command_with(
            "UpdateUserProfile",
            &json!({ "userId": id, "lastName": "Stale" }),
            &[("if-match", &format!("\"{version}\""))],
        )
        .await;
    answer.assert_error(409, "version_conflict");
    assert_eq!(answer.body["error"]["details"]["actualVersion"], version + 1);
    assert_eq!(user(&app, &id).await["lastName"], "User");
    let answer = app
        .command_with(
            "UpdateUserProfile",
            &json!({ "userId": id, "lastName": "Fresh" }),
            &[("if-match", &format!("W/\"{}\"", version + 1))],
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(user(&app, &id).await["lastName"], "Fresh");

    // Without If-Match, concurrent changes to one user are all applied: they take turns on the
    // user's stream, so none of them is refused by the append and decided again.
    let modules =
        ["BILLING", "SMS", "QUEUES", "ANALYTICS", "CALL_LOGS", "CALL_FLOWS", "INTEGRATIONS", "LIVE_REPORTS"];
    let requests = modules
        .iter()
        .map(|module| (json!({ "userId": id, "module": module, "level": "VIEW" }), Vec::new()))
        .collect();
    let answers = all_at_once(&app, "GrantPermission", requests).await;
    assert!(answers.iter().all(|answer| answer.status == 200), "{answers:#?}");
    let mut versions: Vec<_> = answers.iter().filter_map(|answer| answer.body["version"].as_i64()).collect();
    versions.sort_unstable();
    assert_eq!(versions, (version + 3..version + 11).collect::<Vec<_>>(), "{answers:#?}");
    let state = user(&app, &id).await;
    assert_eq!(state["permissions"].as_array().map(Vec::len), Some(8), "{state:#}");
    assert_eq!(state["version"], version + 10);
    let metrics = scrape(app.client(), &app.url("")).await;
    assert_eq!(sample(&metrics, command_api::RETRIES, &[]), Some(0.0), "{metrics}");
}

async fn idempotency_key(app: App) {
    let company = register_company(&app, "Retry Corp").await;
    let body = json!({
        "companyId": company.id, "username": "carol", "email": "carol@example.com",
        "firstName": "Carol", "lastName": "Retry",
    });
    let key = [("idempotency-key", "create-carol-0001")];
    let first = app.command_with("CreateUser", &body, &key).await;
    assert_eq!(first.status, 200, "{:#}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = app.command_with("CreateUser", &body, &key).await;
    assert_eq!(second.status, 200, "{:#}", second.body);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));

    let count = "query($company: ID!) { users(companyId: $company, filter: { includeDeleted: true }) { totalCount } }";
    let data = app.query(count, json!({ "company": company.id })).await;
    assert_eq!(data["users"]["totalCount"], 1);
    let events = app.event_count().await;

    // The same key with another body is refused, and writes nothing.
    let mut other = body.clone();
    other["username"] = json!("carol2");
    other["email"] = json!("carol2@example.com");
    app.command_with("CreateUser", &other, &key).await.assert_error(422, "idempotency_key_reused");
    // Another key is another request.
    let third = app.command_with("CreateUser", &other, &[("idempotency-key", "create-carol-0002")]).await;
    assert_eq!(third.status, 200, "{:#}", third.body);
    assert_ne!(third.body["id"], first.body["id"]);
    // The user and their invitation, the company's seat, the role's holder and Main Group's member.
    assert_eq!(app.event_count().await, events + 5);

    // Several copies of one request at once: one is executed, every one gets its reply.
    let app = Arc::new(app);
    let dave = json!({
        "companyId": company.id, "username": "dave", "email": "dave@example.com",
        "firstName": "Dave", "lastName": "Burst",
    });
    let headers = vec![("idempotency-key".to_owned(), "create-dave".to_owned())];
    let answers =
        all_at_once(&app, "CreateUser", (0..6).map(|_| (dave.clone(), headers.clone())).collect()).await;
    assert!(answers.iter().all(|answer| answer.status == 200), "{answers:#?}");
    assert!(answers.iter().all(|answer| answer.body == answers[0].body), "{answers:#?}");
    let replayed =
        answers.iter().filter(|answer| answer.header("idempotent-replayed") == Some("true")).count();
    assert_eq!(replayed, 5, "{answers:#?}");
    let data = app.query(count, json!({ "company": company.id })).await;
    assert_eq!(data["users"]["totalCount"], 3);
    let mut app = Arc::into_inner(app).expect("no request task holds the app any more");

    // The key outlives the server.
    app.restart().await;
    let after_restart = app.command_with("CreateUser", &body, &key).await;
    assert_eq!(after_restart.status, 200, "{:#}", after_restart.body);
    assert_eq!(after_restart.body, first.body);
    assert_eq!(after_restart.header("idempotent-replayed"), Some("true"));
    app.command_with("CreateUser", &other, &key).await.assert_error(422, "idempotency_key_reused");
    let data = app.query(count, json!({ "company": company.id })).await;
    assert_eq!(data["users"]["totalCount"], 3);
    // Two more users (five events each: the user, the invitation, the seat, the role's holder,
    // the member).
    assert_eq!(app.event_count().await, events + 10);
}
