//! Support tickets: files uploaded and downloaded, a ticket's conversation from opening to
//! closing, listings with filters and pages, and bad input that writes nothing.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Answer, App, Company, TOKEN, create_user, on_both_backends, register_company};

on_both_backends!(ticket_conversation, ticket_refusals, tickets_filter_and_pagination);

/// A 1×1 transparent PNG.
pub const PNG: &str = "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489\
                       0000000a49444154789c63000100000500010d0a2db40000000049454e44ae426082";

pub fn png() -> Vec<u8> {
    hex::decode(PNG).expect("a valid hex PNG")
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The fields of `Ticket` the tests look at.
pub const TICKET_FIELDS: &str = "id company { id name } requester { id username } topic status commentCount \
    messages { body at author { kind id } attachments { id fileName contentType size sha256 url } } \
    openedAt closedAt resolution updatedAt version";

/// `POST /attachments` with `bytes` as the body; `None` leaves a header out.
pub async fn upload_raw(
    app: &App,
    bytes: Vec<u8>,
    content_type: Option<&str>,
    file_name: Option<&str>,
    token: Option<&str>,
) -> Answer {
    let mut request = app.client().post(app.url("/attachments")).body(bytes);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(file_name) = file_name {
        request = request.header("x-file-name", file_name);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("send the upload");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("read the upload's answer");
    let body: Value = serde_json::from_slice(&body).unwrap_or_else(|error| {
        panic!("the upload's answer ({status}) is not JSON ({error}): {}", String::from_utf8_lossy(&body))
    });
    Answer { status, body, headers }
}

/// Uploads a file as the operator; it must be accepted. Its id.
pub async fn upload(app: &App, bytes: Vec<u8>, content_type: &str, file_name: &str) -> String {
    let answer = upload_raw(app, bytes, Some(content_type), Some(file_name), Some(TOKEN)).await;
    assert_eq!(answer.status, 201, "upload of {file_name} refused: {:#}", answer.body);
    answer.body["id"].as_str().expect("an attachment id").to_owned()
}

/// `GET <path>`: status, headers and bytes.
async fn download(app: &App, path: &str, token: Option<&str>) -> (u16, HeaderMap, Vec<u8>) {
    let mut request = app.client().get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("send the download");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("read the download").to_vec();
    (status, headers, bytes)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("<none>")
}

pub async fn ticket(app: &App, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ ticket(id: $id) {{ {TICKET_FIELDS} }} }}");
    app.query(&query, json!({ "id": id })).await["ticket"].clone()
}

async fn ticket_conversation(app: App) {
    let company = register_company(&app, "Helpdesk Ltd").await;
    let alice = create_user(&app, &company, "alice.asks").await;

    // Upload a screenshot (name in a header) and a text file (name as a parameter).
    let screenshot = png();
    let answer =
        upload_raw(&app, screenshot.clone(), Some("image/png"), Some("screen shot.png"), Some(TOKEN)).await;
    assert_eq!(answer.status, 201, "{:#}", answer.body);
    let png_id = answer.body["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        answer.body,
        json!({ "id": png_id, "sha256": sha256(&screenshot), "size": screenshot.len(),
                "contentType": "image/png", "fileName": "screen shot.png" })
    );
    let notes = "Steps:\n1. dial 101\n2. nothing happens — café\n".as_bytes().to_vec();
    let response = app
        .client()
        .post(app.url("/attachments?fileName=R%C3%A9sum%C3%A9%20notes.txt"))
        .bearer_auth(TOKEN)
        .header("content-type", "Text/Plain; charset=utf-8")
        .body(notes.clone())
        .send()
        .await
        .expect("upload the notes");
    assert_eq!(response.status().as_u16(), 201);
    let uploaded: Value = response.json().await.expect("JSON");
    assert_eq!(uploaded["contentType"], "text/plain", "the type without its parameters: {uploaded:#}");
    assert_eq!(uploaded["fileName"], "Résumé notes.txt");
    let notes_id = uploaded["id"].as_str().expect("an id").to_owned();

    // Open a ticket for alice with both files.
    let opened = app
        .ok(
            "OpenTicket",
            json!({ "companyId": company.id, "requesterId": alice, "topic": "TECHNICAL_SUPPORT",
                    "message": "  My extension does not ring.\nSee the screenshot. ",
                    "attachments": [png_id, notes_id] }),
        )
        .await;
    let ticket_id = opened["id"].as_str().expect("a ticket id").to_owned();
    assert_eq!(opened["streamId"], format!("ticket-{ticket_id}"));
    assert_eq!(opened["version"], 1);
    assert_eq!(opened["events"][0]["type"], "TicketOpened");

    // The event names the files exactly, so the audit trail can verify them.
    let trail = app.audit(json!({ "streamId": format!("ticket-{ticket_id}") })).await;
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0]["companyId"], company.id, "a ticket's events belong to its company");
    assert_eq!(
        trail[0]["data"],
        json!({
            "companyId": company.id,
            "requesterId": alice,
            "topic": "TECHNICAL_SUPPORT",
            "message": "My extension does not ring.\nSee the screenshot.",
            "attachments": [
                { "id": png_id, "fileName": "screen shot.png", "contentType": "image/png",
                  "size": screenshot.len(), "sha256": sha256(&screenshot) },
                { "id": notes_id, "fileName": "Résumé notes.txt", "contentType": "text/plain",
                  "size": notes.len(), "sha256": sha256(&notes) },
            ],
        })
    );

    // A comment with one of the files again, then the ticket as GraphQL shows it.
    let commented = app
        .ok(
            "CommentOnTicket",
            json!({ "ticketId": ticket_id, "message": "It happens on every call.", "attachments": [png_id] }),
        )
        .await;
    assert_eq!(commented["version"], 2);
    let comment_without_files =
        app.ok("CommentOnTicket", json!({ "ticketId": ticket_id, "message": "Any news?" })).await;
    assert_eq!(comment_without_files["version"], 3);
    let shown = ticket(&app, &ticket_id).await;
    assert_eq!(shown["id"], ticket_id);
    assert_eq!(shown["company"], json!({ "id": company.id, "name": "Helpdesk Ltd" }));
    assert_eq!(shown["requester"], json!({ "id": alice, "username": "alice.asks" }));
    assert_eq!(
        (&shown["topic"], &shown["status"], &shown["commentCount"], &shown["version"]),
        (&json!("TECHNICAL_SUPPORT"), &json!("OPEN"), &json!(2), &json!(3))
    );
    assert_eq!((&shown["closedAt"], &shown["resolution"]), (&Value::Null, &Value::Null));
    let messages = shown["messages"].as_array().expect("messages");
    let bodies: Vec<_> = messages.iter().map(|m| m["body"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        bodies,
        ["My extension does not ring.\nSee the screenshot.", "It happens on every call.", "Any news?"]
    );
    for message in messages {
        assert_eq!(message["author"], json!({ "kind": "OPERATOR", "id": null }));
    }
    assert_eq!(messages[0]["at"], shown["openedAt"]);
    assert!(messages[0]["at"].as_str() < messages[1]["at"].as_str(), "{messages:#?}");
    assert_eq!(
        messages[0]["attachments"],
        json!([
            { "id": png_id, "fileName": "screen shot.png", "contentType": "image/png",
              "size": screenshot.len(), "sha256": sha256(&screenshot), "url": format!("/attachments/{png_id}") },
            { "id": notes_id, "fileName": "Résumé notes.txt", "contentType": "text/plain",
              "size": notes.len(), "sha256": sha256(&notes), "url": format!("/attachments/{notes_id}") },
        ])
    );
    assert_eq!(messages[1]["attachments"][0]["id"], png_id);
    assert_eq!(messages[2]["attachments"], json!([]));

    // Download the files from the urls the ticket gives: the same bytes, the same digest.
    for (attachment, original) in
        messages[0]["attachments"].as_array().expect("files").iter().zip([&screenshot, &notes])
    {
        let url = attachment["url"].as_str().expect("a url");
        let (status, headers, bytes) = download(&app, url, Some(TOKEN)).await;
        assert_eq!(status, 200);
        assert!(bytes == *original, "{url} downloads other bytes");
        assert_eq!(sha256(&bytes), attachment["sha256"]);
        assert_eq!(header(&headers, "content-type"), attachment["contentType"]);
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        assert_eq!(header(&headers, "etag"), format!("\"{}\"", attachment["sha256"].as_str().unwrap_or("")));
    }
    let (_, headers, _) = download(&app, &format!("/attachments/{png_id}"), Some(TOKEN)).await;
    assert_eq!(header(&headers, "content-disposition"), "attachment; filename=\"screen shot.png\"");
    let (_, headers, _) = download(&app, &format!("/attachments/{notes_id}"), Some(TOKEN)).await;
    assert_eq!(
        header(&headers, "content-disposition"),
        "attachment; filename=\"R_sum_ notes.txt\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20notes.txt"
    );
    let (status, _, _) = download(&app, &format!("/attachments/{png_id}"), None).await;
    assert_eq!(status, 401, "a download needs the token");
    for missing in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let (status, _, bytes) = download(&app, &format!("/attachments/{missing}"), Some(TOKEN)).await;
        let body: Value = serde_json::from_slice(&bytes).expect("a JSON error");
        assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")), "{body:#}");
        assert_eq!(body["error"]["details"], json!({ "id": missing }));
    }

    // Close with a resolution; closing again is a no-op; a closed ticket takes no comment.
    let closed = app
        .ok("CloseTicket", json!({ "ticketId": ticket_id, "resolution": "Call forwarding was on." }))
        .await;
    assert_eq!((&closed["version"], &closed["events"][0]["type"]), (&json!(4), &json!("TicketClosed")));
    let again = app.ok("CloseTicket", json!({ "ticketId": ticket_id })).await;
    assert_eq!((&again["version"], &again["events"]), (&json!(4), &json!([])), "a no-op: {again:#}");
    let events = app.event_count().await;
    let answer = app
        .command_with("CommentOnTicket", &json!({ "ticketId": ticket_id, "message": "Thanks!" }), &[])
        .await;
    answer.assert_error(422, "ticket_closed");
    let answer = app
        .command_with(
            "CommentOnTicket",
            &json!({ "ticketId": ticket_id, "message": "Thanks!" }),
            &[("if-match", "\"3\"")],
        )
        .await;
    answer.assert_error(409, "version_conflict");
    assert_eq!(app.event_count().await, events, "refused comments write nothing");

    let shown = ticket(&app, &ticket_id).await;
    assert_eq!(
        (&shown["status"], &shown["resolution"]),
        (&json!("CLOSED"), &json!("Call forwarding was on."))
    );
    assert_eq!(shown["closedAt"], shown["updatedAt"]);
    assert!(shown["closedAt"].as_str() > shown["openedAt"].as_str(), "{shown:#}");
    assert_eq!(shown["messages"].as_array().map(Vec::len), Some(3), "closing adds no message");

    // A ticket with neither requester nor files.
    let bare =
        app.ok("OpenTicket", json!({ "companyId": company.id, "topic": "OTHER", "message": "Hello" })).await;
    let shown = ticket(&app, bare["id"].as_str().expect("an id")).await;
    assert_eq!((&shown["requester"], &shown["messages"][0]["attachments"]), (&Value::Null, &json!([])));
    let missing = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.query("query($id: ID!) { ticket(id: $id) { id } }", json!({ "id": missing })).await["ticket"],
        Value::Null
    );
}

async fn ticket_refusals(app: App) {
    let company = register_company(&app, "Refusals Inc").await;
    let other = register_company(&app, "Elsewhere Inc").await;
    let alice = create_user(&app, &company, "alice.refused").await;
    let outsider = create_user(&app, &other, "out.sider").await;
    let gone = create_user(&app, &company, "gone.user").await;
    app.ok("DeleteUser", json!({ "userId": gone })).await;
    let file = upload(&app, png(), "image/png", "ok.png").await;
    let opened = app
        .ok("OpenTicket", json!({ "companyId": company.id, "topic": "BILLING", "message": "Wrong invoice" }))
        .await;
    let ticket_id = opened["id"].as_str().expect("a ticket id").to_owned();
    let events = app.event_count().await;

    // Uploads: too large, not the declared type, a type not allowed, no name, no token.
    let limit = 5 * 1024 * 1024;
    let answer =
        upload_raw(&app, vec![b'a'; limit + 1], Some("text/plain"), Some("big.txt"), Some(TOKEN)).await;
    answer.assert_error(413, "payload_too_large");
    assert_eq!(answer.body["error"]["details"], json!({ "limitBytes": limit }));
    let answer = upload_raw(&app, vec![b'a'; limit], Some("text/plain"), Some("max.txt"), Some(TOKEN)).await;
    assert_eq!(answer.status, 201, "exactly 5 MiB is accepted (the 64 KiB command limit does not apply)");
    let refused = [
        (b"%PDF-1.7\n".to_vec(), Some("image/png"), Some("fake.png"), "contentType"),
        (png(), Some("image/jpeg"), Some("fake.jpg"), "contentType"),
        (vec![0xff, 0xfe, 0x00], Some("text/csv"), Some("binary.csv"), "contentType"),
        (b"PK\x03\x04".to_vec(), Some("application/zip"), Some("archive.zip"), "contentType"),
        (b"<p>hi</p>".to_vec(), Some("text/html"), Some("page.html"), "contentType"),
        (png(), None, Some("untyped.png"), "contentType"),
        (png(), Some("image/png"), None, "fileName"),
        (png(), Some("image/png"), Some("../../etc/passwd"), "fileName"),
        (Vec::new(), Some("text/plain"), Some("empty.txt"), "file"),
    ];
    for (bytes, content_type, file_name, field) in refused {
        let answer = upload_raw(&app, bytes, content_type, file_name, Some(TOKEN)).await;
        answer.assert_error(400, "invalid_fields");
        let details = answer.body["error"]["details"].as_object().expect("details");
        assert_eq!(
            details.keys().collect::<Vec<_>>(),
            [field],
            "{content_type:?} {file_name:?}: {details:#?}"
        );
    }
    let answer =
        upload_raw(&app, b"%PDF-1.7".to_vec(), Some("image/png"), Some("fake.png"), Some(TOKEN)).await;
    assert_eq!(
        answer.body["error"]["details"]["contentType"],
        "the file is declared image/png but its bytes are not of that type"
    );
    upload_raw(&app, png(), Some("image/png"), Some("a.png"), None).await.assert_error(401, "unauthorized");
    upload_raw(&app, png(), Some("image/png"), Some("a.png"), Some("wrong-token"))
        .await
        .assert_error(401, "unauthorized");

    // Commands: unknown references, bad fields, no token.
    let unknown = uuid::Uuid::now_v7().to_string();
    let open = |extra: Value| {
        let mut body = json!({ "companyId": company.id, "requesterId": alice, "topic": "ACCOUNT",
                               "message": "Please help" });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let answer = app.command_with("OpenTicket", &open(json!({ "attachments": [file, unknown] })), &[]).await;
    answer.assert_error(404, "not_found");
    assert_eq!(answer.body["error"]["details"], json!({ "attachments[1]": unknown }));
    let answer = app.command_with("OpenTicket", &open(json!({ "companyId": unknown })), &[]).await;
    answer.assert_error(404, "not_found");
    assert_eq!(answer.body["error"]["details"], json!({ "companyId": unknown }));
    let answer = app.command_with("OpenTicket", &open(json!({ "requesterId": unknown })), &[]).await;
    answer.assert_error(404, "not_found");
    assert_eq!(answer.body["error"]["details"], json!({ "requesterId": unknown }));
    app.command_with("OpenTicket", &open(json!({ "requesterId": outsider })), &[])
        .await
        .assert_error(422, "user_in_other_company");
    app.command_with("OpenTicket", &open(json!({ "requesterId": gone })), &[])
        .await
        .assert_error(422, "user_deleted");
    let invalid = [
        (open(json!({ "message": "" })), "message"),
        (open(json!({ "message": " \n " })), "message"),
        (open(json!({ "message": "x".repeat(5001) })), "message"),
        (open(json!({ "topic": "BILING" })), "topic"),
        (open(json!({ "topic": null })), "topic"),
        (open(json!({ "attachments": vec![file.clone(); 11] })), "attachments"),
        (open(json!({ "attachments": [file, file] })), "attachments[1]"),
        (open(json!({ "attachments": ["not-a-uuid"] })), "attachments[0]"),
        (open(json!({ "priority": "HIGH" })), "priority"),
        (json!({ "companyId": company.id, "topic": "ACCOUNT" }), "message"),
    ];
    for (body, field) in invalid {
        let answer = app.command_with("OpenTicket", &body, &[]).await;
        answer.assert_error(400, "invalid_fields");
        let details = answer.body["error"]["details"].as_object().expect("details");
        assert_eq!(details.keys().collect::<Vec<_>>(), [field], "{body}: {details:#?}");
    }
    let answer = app.command_raw("OpenTicket", open(json!({})).to_string(), &[], None).await;
    answer.assert_error(401, "unauthorized");
    let answer =
        app.command_with("CommentOnTicket", &json!({ "ticketId": unknown, "message": "Hello?" }), &[]).await;
    answer.assert_error(404, "not_found");
    assert_eq!(answer.body["error"]["details"], json!({ "ticketId": unknown }));
    app.command_with("CommentOnTicket", &json!({ "ticketId": ticket_id, "message": "" }), &[])
        .await
        .assert_error(400, "invalid_fields");
    let answer = app
        .command_with(
            "CommentOnTicket",
            &json!({ "ticketId": ticket_id, "message": "See", "attachments": [unknown] }),
            &[],
        )
        .await;
    answer.assert_error(404, "not_found");
    assert_eq!(answer.body["error"]["details"], json!({ "attachments[0]": unknown }));
    app.command_with("CloseTicket", &json!({ "ticketId": unknown }), &[])
        .await
        .assert_error(404, "not_found");
    app.command_with("CloseTicket", &json!({ "ticketId": ticket_id, "resolution": "r".repeat(1001) }), &[])
        .await
        .assert_error(400, "invalid_fields");

    assert_eq!(app.event_count().await, events, "refused uploads and commands write no event");
    let shown = ticket(&app, &ticket_id).await;
    assert_eq!((&shown["version"], &shown["status"]), (&json!(1), &json!("OPEN")));
}

/// Opens a ticket; its id.
async fn open_ticket(app: &App, company: &Company, topic: &str, requester: Option<&str>) -> String {
    let reply = app
        .ok(
            "OpenTicket",
            json!({ "companyId": company.id, "requesterId": requester, "topic": topic,
                    "message": format!("About {topic}") }),
        )
        .await;
    reply["id"].as_str().expect("a ticket id").to_owned()
}

async fn tickets_filter_and_pagination(app: App) {
    let acme = register_company(&app, "Acme Tickets").await;
    let globex = register_company(&app, "Globex Tickets").await;
    let ann = create_user(&app, &acme, "ann.tickets").await;
    let bob = create_user(&app, &acme, "bob.tickets").await;
    let mut acme_tickets = Vec::new();
    for (topic, requester) in [
        ("BILLING", Some(ann.as_str())),
        ("TECHNICAL_SUPPORT", Some(bob.as_str())),
        ("BILLING", None),
        ("NUMBERS_AND_PLANS", Some(ann.as_str())),
        ("FEATURE_REQUEST", Some(ann.as_str())),
    ] {
        acme_tickets.push(open_ticket(&app, &acme, topic, requester).await);
    }
    let globex_ticket = open_ticket(&app, &globex, "BILLING", None).await;
    app.ok("CloseTicket", json!({ "ticketId": acme_tickets[0] })).await;
    app.ok("CloseTicket", json!({ "ticketId": acme_tickets[3], "resolution": "Ported" })).await;
    app.ok("CommentOnTicket", json!({ "ticketId": acme_tickets[1], "message": "Restarted the phone" })).await;

    let list = "query($company: ID, $filter: TicketFilter, $first: Int, $after: String) {
        tickets(companyId: $company, filter: $filter, first: $first, after: $after) {
            totalCount edges { cursor node { id status topic commentCount requester { id } } }
            pageInfo { hasNextPage endCursor }
        }
    }";
    let ids = |data: &Value| -> Vec<String> {
        data["tickets"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| edge["node"]["id"].as_str().expect("an id").to_owned())
            .collect()
    };
    let select =
        |indexes: &[usize]| -> Vec<String> { indexes.iter().map(|i| acme_tickets[*i].clone()).collect() };
    let cases = [
        (json!({ "company": acme.id }), select(&[0, 1, 2, 3, 4])),
        (json!({ "company": acme.id, "filter": { "status": "OPEN" } }), select(&[1, 2, 4])),
        (json!({ "company": acme.id, "filter": { "status": "CLOSED" } }), select(&[0, 3])),
        (json!({ "company": acme.id, "filter": { "topic": "BILLING" } }), select(&[0, 2])),
        (json!({ "company": acme.id, "filter": { "requesterId": ann } }), select(&[0, 3, 4])),
        (json!({ "company": acme.id, "filter": { "requesterId": ann, "status": "OPEN" } }), select(&[4])),
        (json!({ "company": globex.id }), vec![globex_ticket.clone()]),
        (
            json!({ "filter": { "topic": "BILLING" } }),
            [select(&[0, 2]), vec![globex_ticket.clone()]].concat(),
        ),
        (json!({ "filter": { "topic": "ACCOUNT" } }), vec![]),
    ];
    for (variables, expected) in cases {
        let data = app.query(list, variables.clone()).await;
        assert_eq!(ids(&data), expected, "{variables}: {data:#}");
        assert_eq!(data["tickets"]["totalCount"], expected.len(), "{variables}");
    }
    let data = app.query(list, json!({ "company": acme.id })).await;
    let edges = data["tickets"]["edges"].as_array().expect("edges");
    assert_eq!(edges[1]["node"]["commentCount"], 1);
    assert_eq!(edges[2]["node"]["requester"], Value::Null);

    // Pages of two walk every ticket once, in order, each page counting them all.
    let everyone = [acme_tickets.clone(), vec![globex_ticket]].concat();
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app.query(list, json!({ "first": 2, "after": after })).await;
        let page = &data["tickets"];
        assert_eq!(page["totalCount"], everyone.len());
        let page_ids = ids(&data);
        assert!(page_ids.len() <= 2);
        walked.extend(page_ids);
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = Some(page["pageInfo"]["endCursor"].as_str().expect("an end cursor").to_owned());
    }
    assert_eq!(walked, everyone);

    // Bad arguments are the client's error.
    let first = "query($first: Int, $after: String) { tickets(first: $first, after: $after) { totalCount } }";
    app.query_error(first, json!({ "first": 0 }), "BAD_USER_INPUT").await;
    app.query_error(first, json!({ "after": "user:not-a-ticket" }), "BAD_USER_INPUT").await;
    app.query_error(
        "query { tickets(filter: { requesterId: \"nobody\" }) { totalCount } }",
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
}
