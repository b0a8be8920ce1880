//! Portal users signing in: invitations read from the file mailbox as a user reads their mail,
//! activation, sign-in by username, email or main phone and extension, sessions, lockout,
//! "send credentials", password changes and resets.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::helpers::{
    Answer, App, Company, create_user_with, on_both_backends, register_company, unique_main_phone,
};

on_both_backends!(
    two_factor_by_sms,
    pins_go_to_the_sms_gateway,
    invitations_go_to_the_smtp_relay,
    invitation_activation_and_sessions,
    fifty_wrong_passwords_lock_at_the_limit,
    credentials_and_resets
);

pub(crate) const PASSWORD: &str = "Correct-Horse-42";

/// POSTs JSON to `path` with an optional bearer token.
pub(crate) async fn post(app: &App, path: &str, body: Value, token: Option<&str>) -> Answer {
    let mut request = app.client().post(app.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("send the request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("read the answer");
    let body =
        if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("a JSON answer") };
    if let Some(position) = body["position"].as_i64().filter(|_| status == 200) {
        app.note_position(position);
    }
    Answer { status, body, headers }
}

pub(crate) async fn sign_in(app: &App, login: &str, password: &str) -> Answer {
    post(app, "/auth/login", json!({ "login": login, "password": password }), None).await
}

/// The notifications of the file mailbox for `to` with `template`, waiting (bounded) for the
/// `count`th to arrive: the outbox is delivered just after the append commits.
pub(crate) async fn mail(app: &App, to: &str, template: &str, count: usize) -> Vec<Value> {
    let path = app.data_dir().join("outbox").join("notifications.jsonl");
    for _ in 0..100 {
        let lines = std::fs::read_to_string(&path).unwrap_or_default();
        let found: Vec<Value> = lines
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|message| message["to"] == to && message["template"] == template)
            .collect();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {template} number {count} for {to} in {}", path.display());
}

/// Creates an approved user and activates their account through the invitation they got.
pub(crate) async fn activated_user(app: &App, company: &Company, username: &str) -> String {
    let id = create_user_with(app, company, username, json!({ "approved": true })).await;
    let email = format!("{username}@example.com");
    let token = mail(app, &email, "invitation", 1).await[0]["token"].as_str().expect("a token").to_owned();
    let answer =
        post(app, "/commands/ActivateAccount", json!({ "token": token, "password": PASSWORD }), None).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    id
}

async fn invitation_activation_and_sessions(app: App) {
    let main_phone = unique_main_phone();
    let reply = app.ok("RegisterCompany", json!({ "name": "Sign-in Co", "mainPhone": main_phone })).await;
    let company = Company {
        id: reply["id"].as_str().expect("id").to_owned(),
        administrator_role_id: String::new(),
        user_role_id: String::new(),
    };
    let id = create_user_with(&app, &company, "ivy", json!({ "approved": true, "extension": "101" })).await;

    // The invitation: the token is in the mail, never in the event log.
    let invitation = mail(&app, "ivy@example.com", "invitation", 1).await;
    assert_eq!(invitation[0]["channel"], "EMAIL");
    let token = invitation[0]["token"].as_str().expect("a token").to_owned();
    assert!(
        invitation[0]["body"].as_str().is_some_and(|body| body.contains("ivy") && !body.contains(&token))
    );

    // The operator sees the outbox, never the token.
    let listed = app
        .query(
            "{ notifications(to: \"ivy@example.com\") { channel template carriesSecret body } }",
            json!(null),
        )
        .await;
    assert_eq!(listed["notifications"][0]["template"], "invitation");
    assert_eq!(listed["notifications"][0]["carriesSecret"], true);
    assert!(!listed.to_string().contains(&token));

    // Not activated yet: no sign-in, whatever the password.
    assert_eq!(sign_in(&app, "ivy", PASSWORD).await.status, 401);
    // The refusal is a failed sign-in on the record; its answer carries no position to wait for,
    // and on Postgres it is readable once every older transaction of the server has ended.
    let failed = app.audit_at_least(json!({ "userId": id, "eventTypes": ["LoginFailed"] }), 1).await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    // A password the company's policy refuses is named in its terms; nothing changes.
    let events = app.event_count().await;
    let weak =
        post(&app, "/commands/ActivateAccount", json!({ "token": token, "password": "short" }), None).await;
    weak.assert_error(400, "invalid_fields");
    assert_eq!(weak.body["error"]["details"], json!({ "password": "must be 8 to 128 characters" }));
    let wrong = post(
        &app,
        "/commands/ActivateAccount",
        json!({ "token": "0".repeat(64), "password": PASSWORD }),
        None,
    )
    .await;
    wrong.assert_error(422, "invalid_token");
    assert_eq!(app.event_count().await, events);

    let activated =
        post(&app, "/commands/ActivateAccount", json!({ "token": token, "password": PASSWORD }), None).await;
    assert_eq!(activated.status, 200, "{:#}", activated.body);
    assert_eq!(activated.body["events"][0]["type"], "PasswordSet");
    let reused =
        post(&app, "/commands/ActivateAccount", json!({ "token": token, "password": PASSWORD }), None).await;
    reused.assert_error(422, "invalid_token");

    // Sign in by username, email, or the company's main phone and the extension.
    for login in ["ivy", "IVY@example.com", &format!("{main_phone} x101")] {
        let answer = sign_in(&app, login, PASSWORD).await;
        assert_eq!(answer.status, 200, "{login}: {:#}", answer.body);
        assert_eq!(answer.body["userId"], id.as_str());
    }
    sign_in(&app, "ivy", "Wrong-Password-1").await.assert_error(401, "login_failed");
    sign_in(&app, "nobody", PASSWORD).await.assert_error(401, "login_failed");

    // A session acts as the user: on themselves only, with the user as the events' actor.
    let session =
        sign_in(&app, "ivy", PASSWORD).await.body["sessionToken"].as_str().expect("a session").to_owned();
    let mine = post(&app, "/commands/UpdateMyProfile", json!({ "firstName": "Ivy" }), Some(&session)).await;
    assert_eq!(mine.status, 200, "{:#}", mine.body);
    let entry = app.audit(json!({ "userId": id, "eventTypes": ["UserProfileUpdated"] })).await;
    assert_eq!(entry[0]["actor"], json!({ "kind": "USER", "id": id }));
    post(&app, "/commands/ApproveUser", json!({ "userId": id }), Some(&session))
        .await
        .assert_error(403, "forbidden");
    post(
        &app,
        "/commands/UpdateMyProfile",
        json!({ "userId": company.id, "firstName": "X" }),
        Some(&session),
    )
    .await
    .assert_error(403, "forbidden");
    // GraphQL shows a user without VIEW on USERS themselves only.
    let graphql = post(
        &app,
        "/graphql",
        json!({ "query": "{ users { totalCount edges { node { id } } } }" }),
        Some(&session),
    )
    .await;
    assert_eq!(graphql.status, 200, "{:#}", graphql.body);
    assert_eq!(graphql.body["data"]["users"]["totalCount"], 1);
    assert_eq!(graphql.body["data"]["users"]["edges"][0]["node"]["id"], id.as_str());
    // The portal's home page: who am I, and my app launcher.
    let home = post(
        &app,
        "/graphql",
        json!({ "query": "{ me { id username } appMenu { app available comingSoon } }" }),
        Some(&session),
    )
    .await;
    assert_eq!(home.body["data"]["me"], json!({ "id": id, "username": "ivy" }), "{:#}", home.body);
    assert_eq!(home.body["data"]["appMenu"].as_array().map(Vec::len), Some(14));
    let last_login =
        app.query("query($id: ID!) { user(id: $id) { activated lastLoginAt } }", json!({ "id": id })).await;
    assert_eq!(last_login["user"]["activated"], true);
    assert!(last_login["user"]["lastLoginAt"].is_string());

    // Logging out ends that session; suspending the user ends every other one.
    let other =
        sign_in(&app, "ivy", PASSWORD).await.body["sessionToken"].as_str().expect("a session").to_owned();
    assert_eq!(post(&app, "/auth/logout", json!({}), Some(&session)).await.status, 204);
    post(&app, "/commands/UpdateMyProfile", json!({ "firstName": "Ivy" }), Some(&session))
        .await
        .assert_error(401, "unauthorized");
    app.ok("SuspendUser", json!({ "userId": id })).await;
    post(&app, "/commands/UpdateMyProfile", json!({ "firstName": "Ivy" }), Some(&other))
        .await
        .assert_error(401, "unauthorized");
    sign_in(&app, "ivy", PASSWORD).await.assert_error(403, "account_inactive");

    // No plain secret anywhere in the log.
    let everything = serde_json::to_string(&app.audit(json!(null)).await).expect("json");
    assert!(!everything.contains(&token) && !everything.contains(PASSWORD) && !everything.contains(&session));
}

/// Fifty wrong passwords at once: exactly the policy's limit is counted, then the lock holds.
async fn fifty_wrong_passwords_lock_at_the_limit(app: App) {
    let company = register_company(&app, "Brute Force Ltd").await;
    let id = activated_user(&app, &company, "target").await;
    let app = Arc::new(app);
    let barrier = Arc::new(Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let (app, barrier) = (Arc::clone(&app), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                sign_in(&app, "target", &format!("Wrong-Guess-{n}")).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("a sign-in task").status);
    }
    let failed = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((failed, locked), (4, 46), "the fifth wrong password locks: {statuses:?}");
    let counted = app.audit(json!({ "userId": id, "eventTypes": ["LoginFailed", "UserLocked"] })).await;
    let types: Vec<_> = counted.iter().map(|e| e["type"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        types,
        ["LoginFailed", "LoginFailed", "LoginFailed", "LoginFailed", "LoginFailed", "UserLocked"]
    );

    // The right password waits for the lock too; Retry-After says how long.
    let answer = sign_in(&app, "target", PASSWORD).await;
    answer.assert_error(429, "account_locked");
    let retry: i64 = answer.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((800..=900).contains(&retry), "15 minutes: {retry}");
    // The admin's list shows who is locked, and who has activated their account.
    let list = "query($c: ID!) { locked: users(companyId: $c, filter: { locked: true }) { totalCount }
        active: users(companyId: $c, filter: { activated: true, locked: false }) { totalCount }
        waiting: users(companyId: $c, filter: { activated: false }) { totalCount } }";
    let counts = app.query(list, json!({ "c": company.id })).await;
    assert_eq!(
        counts,
        json!({ "locked": { "totalCount": 1 }, "active": { "totalCount": 0 }, "waiting": { "totalCount": 0 } })
    );
    // An admin unlocks.
    app.ok("UnlockUser", json!({ "userId": id })).await;
    let counts = app.query(list, json!({ "c": company.id })).await;
    assert_eq!(
        (counts["locked"]["totalCount"].clone(), counts["active"]["totalCount"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(sign_in(&app, "target", PASSWORD).await.status, 200);

    // Guessing at a login that has no account is limited too: a burst of 60 attempts per login,
    // then one a second. Seventy at once: about ten are turned away before any password check.
    let barrier = Arc::new(Barrier::new(70));
    let tasks: Vec<_> = (0..70)
        .map(|n| {
            let (app, barrier) = (Arc::clone(&app), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                sign_in(&app, if n % 2 == 0 { "spray@example.com" } else { "Spray@Example.com" }, "Guess-1")
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a sign-in task"));
    }
    let limited: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert!((5..=15).contains(&limited.len()), "{} of 70 limited", limited.len());
    assert_eq!(answers.iter().filter(|a| a.status == 401).count() + limited.len(), 70);
    limited[0].assert_error(429, "rate_limited");
    assert!(limited[0].header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s >= 1));
}

async fn credentials_and_resets(app: App) {
    let company = register_company(&app, "Credentials Inc").await;
    // Telzio's "send credentials": a first password the user must change.
    let id =
        create_user_with(&app, &company, "cara", json!({ "approved": true, "password": "Admin-Set-123" }))
            .await;
    let note = mail(&app, "cara@example.com", "credentials", 1).await;
    assert!(
        note[0].get("token").is_none()
            && !note[0]["body"].as_str().unwrap_or_default().contains("Admin-Set-123")
    );
    let signed = sign_in(&app, "cara", "Admin-Set-123").await;
    assert_eq!((signed.status, signed.body["mustChangePassword"].clone()), (200, json!(true)));
    let session = signed.body["sessionToken"].as_str().expect("a session").to_owned();
    post(&app, "/commands/UpdateMyProfile", json!({ "firstName": "C" }), Some(&session))
        .await
        .assert_error(403, "forbidden");
    let bad = post(
        &app,
        "/commands/ChangePassword",
        json!({ "oldPassword": "nope", "newPassword": PASSWORD }),
        Some(&session),
    )
    .await;
    bad.assert_error(422, "wrong_password");
    let changed = post(
        &app,
        "/commands/ChangePassword",
        json!({ "oldPassword": "Admin-Set-123", "newPassword": PASSWORD }),
        Some(&session),
    )
    .await;
    assert_eq!(changed.status, 200, "{:#}", changed.body);
    // The wrong guess was counted like a failed sign-in (a stolen session is no way to guess).
    let failures = app.audit(json!({ "userId": id, "eventTypes": ["LoginFailed"] })).await;
    assert_eq!(failures.len(), 1);
    // A new password ends the sessions started before it.
    post(&app, "/commands/UpdateMyProfile", json!({ "firstName": "C" }), Some(&session))
        .await
        .assert_error(401, "unauthorized");
    let fresh = sign_in(&app, "cara", PASSWORD).await;
    assert_eq!((fresh.status, fresh.body["mustChangePassword"].clone()), (200, json!(false)));

    // A forgotten password: the answer is the same for anyone; the user gets a reset token.
    for login in ["cara@example.com", "nobody@example.com"] {
        let answer = post(&app, "/auth/password-reset", json!({ "login": login }), None).await;
        assert_eq!((answer.status, answer.body.clone()), (202, json!({ "accepted": true })));
    }
    let reset = mail(&app, "cara@example.com", "password_reset", 1).await;
    let token = reset[0]["token"].as_str().expect("a token").to_owned();
    let answer = post(
        &app,
        "/commands/ActivateAccount",
        json!({ "token": token, "password": "Brand-New-Pass-7" }),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    sign_in(&app, "cara", PASSWORD).await.assert_error(401, "login_failed");
    assert_eq!(sign_in(&app, "cara", "Brand-New-Pass-7").await.status, 200);
    // An admin's reset sends a new token; the previous one no longer works.
    app.ok("ResetPassword", json!({ "userId": id })).await;
    app.ok("ResetPassword", json!({ "userId": id })).await;
    let resets = mail(&app, "cara@example.com", "password_reset", 3).await;
    let (older, newest) = (resets[1]["token"].clone(), resets[2]["token"].clone());
    post(&app, "/commands/ActivateAccount", json!({ "token": older, "password": PASSWORD }), None)
        .await
        .assert_error(422, "invalid_token");
    assert_eq!(
        post(&app, "/commands/ActivateAccount", json!({ "token": newest, "password": PASSWORD }), None)
            .await
            .status,
        200
    );
    // An activated user gets no second invitation.
    app.command_with("ResendInvitation", &json!({ "userId": id }), &[])
        .await
        .assert_error(422, "already_activated");
}

/// A company that wants a second factor: the password, then a 6-digit PIN sent by SMS.
async fn two_factor_by_sms(app: App) {
    let company = register_company(&app, "Two Steps Ltd").await;
    app.ok(
        "SetCompanyPolicies",
        json!({ "companyId": company.id, "passwordPolicy": { "requireTwoFactor": true } }),
    )
    .await;
    let id =
        create_user_with(&app, &company, "tess", json!({ "approved": true, "mobile": "+44 7911 123456" }))
            .await;
    let token = mail(&app, "tess@example.com", "invitation", 1).await[0]["token"].clone();
    let activated =
        post(&app, "/commands/ActivateAccount", json!({ "token": token, "password": PASSWORD }), None).await;
    assert_eq!(activated.status, 200, "{:#}", activated.body);

    // The right password asks for the PIN, sent by SMS to the mobile number.
    let first = sign_in(&app, "tess", PASSWORD).await;
    assert_eq!(first.status, 200, "{:#}", first.body);
    assert_eq!(
        (first.body["mfaRequired"].clone(), first.body["channel"].clone()),
        (json!(true), json!("SMS"))
    );
    assert!(first.body.get("sessionToken").is_none());
    let challenge = first.body["challengeId"].clone();
    let sms = mail(&app, "+447911123456", "sms_pin", 1).await;
    assert_eq!(sms[0]["channel"], "SMS");
    let pin = sms[0]["pin"].as_str().expect("a PIN").to_owned();
    assert!(pin.len() == 6 && !sms[0]["body"].as_str().unwrap_or_default().contains(&pin));

    let verify = |pin: String, challenge: Value| {
        let app = &app;
        async move { post(app, "/auth/verify", json!({ "challengeId": challenge, "pin": pin }), None).await }
    };
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    verify(wrong.to_owned(), challenge.clone()).await.assert_error(401, "pin_failed");
    let signed = verify(pin.clone(), challenge.clone()).await;
    assert_eq!(signed.status, 200, "{:#}", signed.body);
    assert!(signed.body["sessionToken"].is_string());
    assert_eq!(signed.body["userId"], id.as_str());
    // A PIN works once.
    verify(pin, challenge).await.assert_error(422, "invalid_challenge");

    // Three wrong PINs void the challenge: sign in again for a new one.
    let again = sign_in(&app, "tess", PASSWORD).await.body["challengeId"].clone();
    for _ in 0..3 {
        verify(wrong.to_owned(), again.clone()).await.assert_error(401, "pin_failed");
    }
    let sms = mail(&app, "+447911123456", "sms_pin", 2).await;
    let right = sms[1]["pin"].as_str().expect("a PIN").to_owned();
    verify(right, again).await.assert_error(422, "invalid_challenge");
    let filter =
        json!({ "userId": id, "eventTypes": ["TwoFactorChallenged", "TwoFactorFailed", "LoginSucceeded"] });
    let trail = app.audit_at_least(filter, 7).await;
    assert_eq!(trail.len(), 2 + 4 + 1, "two challenges, four wrong PINs, one sign-in");
    assert!(
        !serde_json::to_string(&trail)
            .unwrap_or_default()
            .contains(&sms[1]["pin"].as_str().unwrap_or("-").to_owned())
    );

    // A user can ask for the second factor themselves, in a company that does not require it.
    let relaxed = register_company(&app, "Relaxed Ltd").await;
    let (ray, _) = (
        create_user_with(
            &app,
            &relaxed,
            "ray",
            json!({ "approved": true, "mobile": "+44 7911 123457", "password": "Admin-Set-123" }),
        )
        .await,
        (),
    );
    let session = change_first_password(&app, "ray", "Admin-Set-123").await;
    let enabled =
        post(&app, "/commands/SetTwoFactor", json!({ "userId": ray, "enabled": true }), Some(&session)).await;
    assert_eq!(enabled.status, 200, "{:#}", enabled.body);
    assert_eq!(sign_in(&app, "ray", PASSWORD).await.body["mfaRequired"], true);

    // Without a mobile number there is no second factor to send: refused, clearly.
    create_user_with(&app, &company, "nomo", json!({ "approved": true, "password": "Admin-Set-123" })).await;
    let answer = sign_in(&app, "nomo", "Admin-Set-123").await;
    answer.assert_error(403, "account_inactive");
    assert!(answer.body["error"]["message"].as_str().is_some_and(|m| m.contains("mobile")));
}

/// Signs in with the password an admin set, changes it to [`PASSWORD`] and signs in again: the
/// new session.
async fn change_first_password(app: &App, login: &str, first: &str) -> String {
    let session =
        sign_in(app, login, first).await.body["sessionToken"].as_str().expect("a session").to_owned();
    let changed = post(
        app,
        "/commands/ChangePassword",
        json!({ "oldPassword": first, "newPassword": PASSWORD }),
        Some(&session),
    )
    .await;
    assert_eq!(changed.status, 200, "{:#}", changed.body);
    sign_in(app, login, PASSWORD).await.body["sessionToken"].as_str().expect("a session").to_owned()
}

/// The `count`th thing a stand-in gateway received, waiting (bounded) for it.
pub(crate) async fn arrived<T: Clone>(received: &std::sync::Mutex<Vec<T>>, count: usize, what: &str) -> T {
    for _ in 0..100 {
        if let Some(item) = received.lock().ok().and_then(|r| r.get(count - 1).cloned()) {
            return item;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never arrived: {what}");
}

/// A stand-in for an SMS gateway (the one part that cannot run here): it records what it is
/// sent, and refuses the first message, so the portal has to try again.
async fn sms_gateway() -> (String, Arc<std::sync::Mutex<Vec<(Value, String)>>>) {
    use axum::routing::post;
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&received);
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/sms",
        post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
            let (record, calls) = (Arc::clone(&record), Arc::clone(&calls));
            async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if let Ok(mut received) = record.lock() {
                    received.push((body, key));
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the gateway");
    let address = listener.local_addr().expect("the gateway's address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/sms"), received)
}

async fn pins_go_to_the_sms_gateway(mut app: App) {
    let (url, received) = sms_gateway().await;
    app.restart_with(&["--sms-webhook-url", &url]).await;
    let company = register_company(&app, "Gateway Co").await;
    app.ok(
        "SetCompanyPolicies",
        json!({ "companyId": company.id, "passwordPolicy": { "requireTwoFactor": true } }),
    )
    .await;
    create_user_with(
        &app,
        &company,
        "gus",
        json!({ "approved": true, "mobile": "+44 7911 123458", "password": "Admin-Set-123" }),
    )
    .await;
    let first = sign_in(&app, "gus", "Admin-Set-123").await;
    assert_eq!(first.body["mfaRequired"], true, "{:#}", first.body);
    // The gateway refused once; the dispatcher tries again after a pause.
    let (sms, key) = arrived(&received, 1, "the gateway got the PIN").await;
    assert_eq!(sms["to"], "+447911123458");
    assert_eq!(sms["template"], "sms_pin");
    assert_eq!(key, sms["id"].as_str().unwrap_or_default(), "the notification id is the idempotency key");
    let pin: String = sms["text"].as_str().unwrap_or_default().chars().take(6).collect();
    let answer =
        post(&app, "/auth/verify", json!({ "challengeId": first.body["challengeId"], "pin": pin }), None)
            .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    // Nothing of it went to the file mailbox.
    let file = std::fs::read_to_string(app.data_dir().join("outbox").join("notifications.jsonl"))
        .unwrap_or_default();
    assert!(!file.contains("sms_pin"));
    let listed = app
        .query("{ notifications(template: \"sms_pin\") { attempts deliveredAt lastError } }", json!(null))
        .await;
    assert_eq!(listed["notifications"][0]["attempts"], 2, "{listed:#}");
    assert!(listed["notifications"][0]["deliveredAt"].is_string(), "{listed:#}");
    assert_eq!(listed["notifications"][0]["lastError"], json!(null), "the last attempt went through");
}

/// A stand-in for an SMTP relay (the other part that cannot run here): it speaks just enough
/// SMTP to take mail, and records each message's text.
async fn smtp_relay() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
    let port = listener.local_addr().expect("the relay's address").port();
    let record = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(smtp_dialogue(socket, Arc::clone(&record)));
        }
    });
    (port, received)
}

/// The relay's side of one SMTP connection, on any stream (plain TCP, or TLS).
pub(crate) async fn smtp_dialogue<S>(stream: S, record: Arc<std::sync::Mutex<Vec<String>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (reader, mut writer) = tokio::io::split(stream);
    let mut lines = BufReader::new(reader).lines();
    let _ = writer.write_all(b"220 relay ready\r\n").await;
    let mut data: Option<String> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(text) = data.as_mut() {
            if line == "." {
                if let Ok(mut record) = record.lock() {
                    record.push(std::mem::take(text));
                }
                data = None;
                let _ = writer.write_all(b"250 queued\r\n").await;
            } else {
                text.push_str(&line);
                text.push('\n');
            }
            continue;
        }
        let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
            Some("DATA") => {
                data = Some(String::new());
                b"354 go ahead\r\n"
            }
            Some("QUIT") => {
                let _ = writer.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        let _ = writer.write_all(reply).await;
    }
}

async fn invitations_go_to_the_smtp_relay(mut app: App) {
    let (port, received) = smtp_relay().await;
    let url = format!("smtp://127.0.0.1:{port}");
    app.restart_with(&["--smtp-url", &url, "--mail-from", "Customer Portal <portal@example.com>"]).await;
    let company = register_company(&app, "Mail Co").await;
    create_user_with(&app, &company, "molly", json!({ "approved": true })).await;
    let mail = arrived(&received, 1, "the relay got the invitation").await;
    assert!(mail.contains("To: molly@example.com"), "{mail}");
    assert!(
        mail.contains("From: \"Customer Portal\" <portal@example.com>")
            || mail.contains("From: Customer Portal <portal@example.com>"),
        "{mail}"
    );
    assert!(mail.contains("Subject: Activate your customer portal account"), "{mail}");
    let token = mail
        .lines()
        .find_map(|line| line.strip_prefix("Your code: "))
        .map(str::trim)
        .expect("the token in the mail")
        .to_owned();
    let activated =
        post(&app, "/commands/ActivateAccount", json!({ "token": token, "password": PASSWORD }), None).await;
    assert_eq!(activated.status, 200, "{:#}", activated.body);
    assert_eq!(sign_in(&app, "molly", PASSWORD).await.status, 200);
    let file = std::fs::read_to_string(app.data_dir().join("outbox").join("notifications.jsonl"))
        .unwrap_or_default();
    assert!(!file.contains("molly@example.com"), "the mail went to the relay, not the file");
}
