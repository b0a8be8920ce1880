//! GraphQL subscriptions as a portal UI meets them: a real WebSocket client speaking
//! graphql-transport-ws to `/graphql/ws`. Events arrive live and in commit order, a reconnecting
//! client resumes after the last position it saw, `userChanged` follows one user, a signed-in
//! user sees their own company's events only, and a connection without a good token is closed.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{App, TOKEN, create_user, create_user_with, on_both_backends, register_company};
use crate::identity::{PASSWORD, mail, post, sign_in};

on_both_backends!(subscriptions_deliver_live_events_resume_and_stay_in_scope);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection; `Err` carries how the server ended a refused one.
async fn connect(app: &App, token: &str) -> Result<Socket, String> {
    let url = app.url("/graphql/ws").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().expect("a WebSocket request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("a header"));
    let (mut socket, response) =
        tokio_tungstenite::connect_async(request).await.expect("the WebSocket upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    let init =
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await.expect("send connection_init");
    match next_message(&mut socket).await {
        Some(message) if message["type"] == "connection_ack" => Ok(socket),
        other => Err(format!("{other:?}")),
    }
}

/// The next JSON message, or `None` when the server closed the connection; bounded wait.
async fn next_message(socket: &mut Socket) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")?
            .ok()?;
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).ok(),
            Message::Close(frame) => return Some(json!({ "closed": frame.map(|f| u16::from(f.code)) })),
            _ => continue,
        }
    }
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    let message =
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
    socket.send(Message::text(message.to_string())).await.expect("send subscribe");
}

/// The data of the next `next` message of subscription `id`.
async fn next_of(socket: &mut Socket, id: &str) -> Value {
    loop {
        let message = next_message(socket).await.expect("the connection stays open");
        if message["id"] == id && message["type"] == "next" {
            return message["payload"]["data"].clone();
        }
        assert_ne!(message["type"], "error", "{message:#}");
    }
}

const EVENTS: &str = "subscription($filter: AuditFilter, $after: Int) { events(filter: $filter, afterPosition: $after) { position type streamId companyId } }";

async fn subscriptions_deliver_live_events_resume_and_stay_in_scope(app: App) {
    let acme = register_company(&app, "Live Ltd").await;
    let alice = create_user(&app, &acme, "alice").await;
    let mut socket = connect(&app, TOKEN).await.expect("the operator's connection is accepted");
    subscribe(
        &mut socket,
        "user",
        "subscription($id: ID!) { userChanged(id: $id) { id approved suspended version } }",
        json!({ "id": alice }),
    )
    .await;
    let after = app.last_position();
    subscribe(&mut socket, "events", EVENTS, json!({ "filter": { "userId": alice }, "after": after })).await;

    let approved = app.ok("ApproveUser", json!({ "userId": alice })).await;
    let first = next_of(&mut socket, "events").await["events"].clone();
    assert_eq!((&first["type"], &first["position"]), (&json!("UserApproved"), &approved["position"]));
    let suspended = app.ok("SuspendUser", json!({ "userId": alice, "reason": "live test" })).await;
    let second = next_of(&mut socket, "events").await["events"].clone();
    assert_eq!((&second["type"], &second["position"]), (&json!("UserSuspended"), &suspended["position"]));
    // userChanged follows the user: the suspension shows in one of its snapshots.
    let mut snapshot = json!(null);
    for _ in 0..4 {
        snapshot = next_of(&mut socket, "user").await["userChanged"].clone();
        if snapshot["suspended"] == true {
            break;
        }
    }
    assert_eq!(
        (&snapshot["id"], &snapshot["approved"], &snapshot["suspended"]),
        (&json!(alice), &json!(true), &json!(true))
    );
    drop(socket);

    // A client that saw the approval reconnects and resumes after it: the suspension comes first.
    let mut socket = connect(&app, TOKEN).await.expect("accepted again");
    let filter = json!({ "filter": { "userId": alice }, "after": approved["position"] });
    subscribe(&mut socket, "again", EVENTS, filter).await;
    assert_eq!(next_of(&mut socket, "again").await["events"]["type"], "UserSuspended");

    // A signed-in administrator of another company sees their company's events only.
    let globex = register_company(&app, "Globex Live").await;
    let admin = create_user_with(&app, &globex, "gadmin", json!({ "approved": true, "admin": true })).await;
    let token = mail(&app, "gadmin@example.com", "invitation", 1).await[0]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let activated =
        post(&app, "/commands/ActivateAccount", json!({ "token": token, "password": PASSWORD }), None).await;
    assert_eq!(activated.status, 200, "{:#}", activated.body);
    let session =
        sign_in(&app, "gadmin", PASSWORD).await.body["sessionToken"].as_str().unwrap_or_default().to_owned();
    let mut theirs = connect(&app, &session).await.expect("a signed-in user's connection is accepted");
    subscribe(&mut theirs, "mine", EVENTS, json!({ "filter": null, "after": app.last_position() })).await;
    let other = app.ok("UpdateUserProfile", json!({ "userId": alice, "title": "Not for Globex" })).await;
    let own = app.ok("UpdateUserProfile", json!({ "userId": admin, "title": "Globex admin" })).await;
    // (Their sign-in, which answers no position, may come first.)
    loop {
        let seen = next_of(&mut theirs, "mine").await["events"].clone();
        assert_eq!(seen["companyId"], json!(globex.id), "another company's event: {seen:#}");
        assert_ne!(seen["position"], other["position"]);
        if seen["position"] == own["position"] {
            break;
        }
    }

    // Without a good token the connection is refused.
    let refused = connect(&app, "not-a-token").await;
    assert!(refused.is_err(), "{refused:?}");
}
