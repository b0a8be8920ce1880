//! An authenticator app as the second factor, the way a user sets it up: enrol with their own
//! session, scan the `otpauth://` URI (here: read by the `totp-rs` crate, as a phone app
//! would), confirm with a first code, then sign in with codes; a code is good once; an admin
//! removes the app when the phone is lost.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use totp_rs::Totp;

use crate::helpers::{App, TOKEN, on_both_backends, register_company};
use crate::identity::{PASSWORD, activated_user, post, sign_in};

on_both_backends!(an_authenticator_app_signs_in_with_single_use_codes);

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

async fn an_authenticator_app_signs_in_with_single_use_codes(app: App) {
    let company = register_company(&app, "Authenticator Ltd").await;
    let otto = activated_user(&app, &company, "otto").await;
    let session =
        sign_in(&app, "otto", PASSWORD).await.body["sessionToken"].as_str().expect("a session").to_owned();

    // Only the user enrols their app, with their own session.
    post(&app, "/auth/totp", json!({}), None).await.assert_error(401, "unauthorized");
    post(&app, "/auth/totp", json!({}), Some(TOKEN)).await.assert_error(403, "forbidden");

    let enrolled = post(&app, "/auth/totp", json!({}), Some(&session)).await;
    assert_eq!(enrolled.status, 200, "{:#}", enrolled.body);
    let secret = enrolled.body["secret"].as_str().expect("the secret, in base32").to_owned();
    let uri = enrolled.body["otpauthUri"].as_str().expect("an otpauth URI");
    assert!(uri.starts_with("otpauth://totp/Portal:otto?"), "{uri}");
    let phone = Totp::from_url(uri).expect("the URI reads like a QR code");
    assert_eq!(phone.secret().to_base32(), secret);
    assert_eq!((phone.digits(), phone.step()), (6, 30));

    // The log holds the secret only sealed; the audit trail does not show even that.
    let trail = app.audit(json!({ "userId": otto, "eventTypes": ["TotpEnrolled"] })).await;
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0]["data"]["secret"], "[redacted]");
    let everything = serde_json::to_string(&app.audit(json!({ "userId": otto })).await).unwrap_or_default();
    assert!(!everything.contains(&secret), "the plain secret is in the audit trail");

    // Not on until a code from the app proves it was scanned.
    let unconfirmed = sign_in(&app, "otto", PASSWORD).await;
    assert!(unconfirmed.body["sessionToken"].is_string(), "{:#}", unconfirmed.body);
    let confirm = |code: String| {
        let (app, session) = (&app, session.clone());
        async move { post(app, "/auth/totp/confirm", json!({ "code": code }), Some(&session)).await }
    };
    let answer = confirm("12ab56".to_owned()).await;
    answer.assert_error(400, "invalid_fields");
    assert!(answer.body["error"]["details"]["code"].is_string(), "{:#}", answer.body);
    let right = phone.generate(now()).to_string();
    let wrong = if right == "000000" { "111111" } else { "000000" };
    confirm(wrong.to_owned()).await.assert_error(422, "invalid_code");
    let confirmed = confirm(right.clone()).await;
    assert_eq!(confirmed.status, 200, "{:#}", confirmed.body);
    assert_eq!(confirmed.body["totpEnabled"], true);
    let shown =
        app.query("query($id: ID!) { user(id: $id) { totpEnabled twoFactor } }", json!({ "id": otto })).await;
    assert_eq!(shown["user"], json!({ "totpEnabled": true, "twoFactor": false }));
    // A second app needs the first removed.
    post(&app, "/auth/totp", json!({}), Some(&session)).await.assert_error(422, "totp_already_enrolled");

    // Every sign-in now asks for a code; nothing is sent (otto has no mobile number at all).
    let first = sign_in(&app, "otto", PASSWORD).await;
    assert_eq!(
        (first.body["mfaRequired"].clone(), first.body["channel"].clone()),
        (json!(true), json!("TOTP")),
        "{:#}",
        first.body
    );
    let challenge = first.body["challengeId"].clone();
    let verify = |pin: String, challenge: serde_json::Value| {
        let app = &app;
        async move { post(app, "/auth/verify", json!({ "challengeId": challenge, "pin": pin }), None).await }
    };
    verify(wrong.to_owned(), challenge.clone()).await.assert_error(401, "pin_failed");
    // The confirming code's step is spent: the next step's code (within the one step of clock
    // drift allowed) signs in.
    verify(right, challenge.clone()).await.assert_error(401, "pin_failed");
    let next = phone.generate(now() + 30).to_string();
    let signed = verify(next.clone(), challenge).await;
    assert_eq!(signed.status, 200, "{:#}", signed.body);
    assert!(signed.body["sessionToken"].is_string());
    assert_eq!(signed.body["userId"], otto.as_str());

    // The same code again, on a new sign-in: refused, it was used.
    let again = sign_in(&app, "otto", PASSWORD).await.body["challengeId"].clone();
    verify(next, again).await.assert_error(401, "pin_failed");
    let counted = app
        .audit_at_least(
            json!({ "userId": otto, "eventTypes": ["TotpConfirmed", "TotpCodeAccepted", "TwoFactorFailed"] }),
            5,
        )
        .await;
    let types: Vec<&str> = counted.iter().filter_map(|entry| entry["type"].as_str()).collect();
    assert_eq!(
        types,
        ["TotpConfirmed", "TwoFactorFailed", "TwoFactorFailed", "TotpCodeAccepted", "TwoFactorFailed"]
    );

    // The phone is lost: an admin of the company removes the app; the password alone signs in.
    let admin = activated_user(&app, &company, "ada").await;
    app.ok("AssignRole", json!({ "userId": admin, "roleId": company.administrator_role_id })).await;
    let admin_session =
        sign_in(&app, "ada", PASSWORD).await.body["sessionToken"].as_str().expect("a session").to_owned();
    let removed = post(&app, "/commands/RemoveTotp", json!({ "userId": otto }), Some(&admin_session)).await;
    assert_eq!(removed.status, 200, "{:#}", removed.body);
    let plain = sign_in(&app, "otto", PASSWORD).await;
    assert!(plain.body["sessionToken"].is_string(), "{:#}", plain.body);
    // Another company's admin cannot: the user is not theirs to see.
    let other = register_company(&app, "Elsewhere Ltd").await;
    let stranger = activated_user(&app, &other, "stranger").await;
    app.ok("AssignRole", json!({ "userId": stranger, "roleId": other.administrator_role_id })).await;
    let stranger_session = sign_in(&app, "stranger", PASSWORD).await.body["sessionToken"]
        .as_str()
        .expect("a session")
        .to_owned();
    post(&app, "/commands/RemoveTotp", json!({ "userId": otto }), Some(&stranger_session))
        .await
        .assert_error(404, "not_found");
}
