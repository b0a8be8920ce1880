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
        // (Generous: on Postgres a tail waits for every older transaction of the whole server.)
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a message within 30 s")?
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

/// The data of the next `next` message of subscription `id`; messages of the connection's other
/// subscriptions that come first wait in `pending` for their turn.
async fn next_of(socket: &mut Socket, pending: &mut Vec<Value>, id: &str) -> Value {
    if let Some(index) = pending.iter().position(|message| message["id"] == id) {
        return pending.remove(index)["payload"]["data"].clone();
    }
    loop {
        let message = next_message(socket).await.expect("the connection stays open");
        assert_ne!(message["type"], "error", "{message:#}");
        if message["type"] != "next" {
            continue;
        }
        if message["id"] == id {
            return message["payload"]["data"].clone();
        }
        pending.push(message);
    }
}

const EVENTS: &str = "subscription($filter: AuditFilter, $after: Int) { events(filter: $filter, afterPosition: $after) { position type streamId companyId } }";

async fn subscriptions_deliver_live_events_resume_and_stay_in_scope(app: App) {
    let acme = register_company(&app, "Live Ltd").await;
    let alice = create_user(&app, &acme, "alice").await;
    let mut socket = connect(&app, TOKEN).await.expect("the operator's connection is accepted");
    let mut pending = Vec::new();
    let after = app.last_position();
    subscribe(
        &mut socket,
        "user",
        "subscription($id: ID!, $after: Int) { userChanged(id: $id, afterPosition: $after) { id approved suspended version } }",
        json!({ "id": alice, "after": after }),
    )
    .await;
    subscribe(&mut socket, "events", EVENTS, json!({ "filter": { "userId": alice }, "after": after })).await;

    let approved = app.ok("ApproveUser", json!({ "userId": alice })).await;
    let first = next_of(&mut socket, &mut pending, "events").await["events"].clone();
    assert_eq!((&first["type"], &first["position"]), (&json!("UserApproved"), &approved["position"]));
    let suspended = app.ok("SuspendUser", json!({ "userId": alice, "reason": "live test" })).await;
    let second = next_of(&mut socket, &mut pending, "events").await["events"].clone();
    assert_eq!((&second["type"], &second["position"]), (&json!("UserSuspended"), &suspended["position"]));
    // userChanged follows the user: a snapshot after each of their events.
    let approved_user = next_of(&mut socket, &mut pending, "user").await["userChanged"].clone();
    assert_eq!((&approved_user["approved"], &approved_user["suspended"]), (&json!(true), &json!(false)));
    let suspended_user = next_of(&mut socket, &mut pending, "user").await["userChanged"].clone();
    assert_eq!(
        (&suspended_user["id"], &suspended_user["suspended"], &suspended_user["version"]),
        (&json!(alice), &json!(true), &suspended["version"])
    );
    drop(socket);

    // A client that saw the approval reconnects and resumes after it: the suspension comes first.
    let mut socket = connect(&app, TOKEN).await.expect("accepted again");
    pending.clear();
    let filter = json!({ "filter": { "userId": alice }, "after": approved["position"] });
    subscribe(&mut socket, "again", EVENTS, filter).await;
    assert_eq!(next_of(&mut socket, &mut pending, "again").await["events"]["type"], "UserSuspended");

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
    pending.clear();
    subscribe(&mut theirs, "mine", EVENTS, json!({ "filter": null, "after": app.last_position() })).await;
    let other = app.ok("UpdateUserProfile", json!({ "userId": alice, "title": "Not for Globex" })).await;
    let own = app.ok("UpdateUserProfile", json!({ "userId": admin, "title": "Globex admin" })).await;
    // (Their sign-in, which answers no position, may come first.)
    loop {
        let seen = next_of(&mut theirs, &mut pending, "mine").await["events"].clone();
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
