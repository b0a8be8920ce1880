//! Crypto-shredding, run against every adapter: a person's personal fields are stored sealed
//! with their own key and read back plain; the event that erases them destroys the key in its
//! own transaction, after which those fields read as erased, their notifications are gone from
//! the outbox, and the stored bytes (so the hash chain) are exactly what they were.

use chrono::Utc;
use domain::{Actor, ActorKind};
use eventlog::testing::TestDatabase;
use eventlog::{
    AppendError, AppendRequest, Channel, ERASED, EventLog, ExpectedVersion, Metadata, NewEvent, Notification,
    OutboxQuery, RecordedEvent, Sealer, StreamWrite, Verification, verify,
};
use serde_json::json;
use uuid::Uuid;

const EMAIL: &str = "erin.probe@example.com";
const PHONE: &str = "+447700900123";
const IP: &str = "203.0.113.77";

fn created() -> serde_json::Value {
    json!({
        "companyId": Uuid::from_u128(42),
        "username": "erin.probe",
        "email": EMAIL,
        "firstName": "Erinelle",
        "lastName": "Probeworth",
        "phone": PHONE,
        "extension": "4321",
        "approved": true,
    })
}

fn event(event_type: &str, data: serde_json::Value) -> NewEvent {
    NewEvent { event_id: Uuid::now_v7(), event_type: event_type.to_owned(), schema_version: 1, data }
}

/// A sign-in-like request: nobody signed in (the system acts), from a client address.
fn request(stream_id: &str, expected: i64, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        writes: vec![StreamWrite {
            stream_id: stream_id.to_owned(),
            expected: ExpectedVersion::Exact(expected),
            events,
        }],
        claims: Vec::new(),
        metadata: Metadata {
            company_id: Some(Uuid::from_u128(42)),
            actor: Actor { kind: ActorKind::System, id: None },
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            request_id: None,
            recorded_at: Utc::now(),
            reason: Some("kept readable: an admin's words".to_owned()),
            client_ip: Some(IP.to_owned()),
            user_agent: Some("ProbeAgent/1.0".to_owned()),
        },
        idempotency: None,
        notifications: Vec::new(),
        erase: Vec::new(),
        new_keys: Vec::new(),
    }
}

fn notification(subject: Option<Uuid>, recipient: &str) -> Notification {
    Notification {
        id: Uuid::now_v7(),
        channel: Channel::Email,
        recipient: recipient.to_owned(),
        template: "invitation".to_owned(),
        body: "Hello Erinelle".to_owned(),
        secret: None,
        company_id: Some(Uuid::from_u128(42)),
        subject,
    }
}

/// A user stream with a `UserCreated` (with an invitation for them and a message for someone
/// else in the outbox) and a profile change.
async fn person(log: &dyn EventLog) -> (Uuid, String) {
    let id = Uuid::now_v7();
    let stream = domain::stream_id("user", id);
    let mut first = request(&stream, 0, vec![event("UserCreated", created())]);
    first.notifications = vec![notification(Some(id), EMAIL), notification(None, "someone.else@example.com")];
    log.append(first).await.expect("create");
    let update = event("UserProfileUpdated", json!({ "mobile": "+447700900555", "title": null }));
    log.append(request(&stream, 1, vec![update])).await.expect("update");
    (id, stream)
}

fn stored_text(events: &[RecordedEvent]) -> String {
    events.iter().map(|e| format!("{} {:?}", e.data, e.metadata)).collect()
}

async fn personal_fields_are_sealed_at_rest_and_read_back_plain(db: &TestDatabase) {
    let log = db.database.event_log();
    let (_, stream) = person(log.as_ref()).await;

    let read = log.read_stream(&stream, 0).await.expect("read");
    assert_eq!(read[0].data, created(), "read back as written");
    assert_eq!(read[1].data["mobile"], "+447700900555");
    assert_eq!(read[1].data["title"], serde_json::Value::Null, "a cleared field stays null");
    assert_eq!(read[0].metadata.client_ip.as_deref(), Some(IP));
    assert_eq!(read[0].metadata.user_agent.as_deref(), Some("ProbeAgent/1.0"));

    let stored = log.stored().read_stream(&stream, 0).await.expect("read stored");
    let text = stored_text(&stored);
    for plain in [EMAIL, "erin.probe", "Erinelle", "Probeworth", PHONE, "+447700900555", IP, "ProbeAgent"] {
        assert!(!text.contains(plain), "{plain} is stored in the clear: {text}");
    }
    assert!(stored[0].data["email"].as_str().is_some_and(|v| v.starts_with("pii:v1:")), "{text}");
    // What is not personal stays readable to anyone with the database.
    assert_eq!(stored[0].data["extension"], "4321");
    assert_eq!(stored[0].data["companyId"], json!(Uuid::from_u128(42)));
    assert_eq!(stored[0].metadata.reason.as_deref(), Some("kept readable: an admin's words"));

    // A stream that is not a person's keeps everything as it came.
    let company = domain::stream_id("company", Uuid::now_v7());
    log.append(request(&company, 0, vec![event("CompanyRegistered", json!({ "mainPhone": PHONE }))]))
        .await
        .expect("company");
    let stored = log.stored().read_stream(&company, 0).await.expect("read stored");
    assert_eq!(stored[0].data["mainPhone"], PHONE);
    assert_eq!(stored[0].metadata.client_ip.as_deref(), Some(IP), "no person to seal it for");
}

async fn erasing_a_person_destroys_their_key_with_the_event(db: &TestDatabase) {
    let log = db.database.event_log();
    let (id, stream) = person(log.as_ref()).await;
    let stored_before = log.stored().read_stream(&stream, 0).await.expect("read stored");

    // A refused erasure (a stale version) destroys nothing.
    let stale = log.append(request(&stream, 1, vec![event("UserDeleted", json!({}))])).await;
    assert!(matches!(stale, Err(AppendError::VersionConflict { .. })), "{stale:?}");
    assert_eq!(log.read_stream(&stream, 0).await.expect("read")[0].data["email"], EMAIL);

    log.append(request(&stream, 2, vec![event("UserDeleted", json!({}))])).await.expect("delete");

    let read = log.read_stream(&stream, 0).await.expect("read after erasure");
    for field in ["username", "email", "firstName", "lastName", "phone"] {
        assert_eq!(read[0].data[field], ERASED, "{field}");
    }
    assert_eq!(read[1].data["mobile"], ERASED);
    assert_eq!(read[0].metadata.client_ip.as_deref(), Some(ERASED));
    assert_eq!(read[0].metadata.user_agent.as_deref(), Some(ERASED));
    assert_eq!(read[0].data["extension"], "4321", "what was not personal is still there");
    assert_eq!(read[0].data["approved"], true);
    // The same through the audit query and the whole log.
    eventlog::testing::everything_appended(log.as_ref()).await;
    let audit = log
        .audit(&eventlog::AuditQuery {
            stream_id: Some(stream.clone()),
            limit: 10,
            ..eventlog::AuditQuery::one()
        })
        .await
        .expect("audit");
    assert_eq!(audit[0].data["email"], ERASED);

    // The stored events did not change: only the key went.
    let stored_after = log.stored().read_stream(&stream, 0).await.expect("read stored");
    assert_eq!(stored_after[..2], stored_before[..], "stored bytes unchanged");
    let keys: Vec<(Option<Vec<u8>>, bool)> = eventlog::with_reader!(&db.database, |pool| {
        sqlx::query_as("select key, shredded_at is not null from vault_keys where subject = $1")
            .bind(id)
            .fetch_all(pool)
            .await
            .expect("vault")
    });
    assert_eq!(keys, vec![(None, true)], "the key is destroyed");

    // Their invitation left the outbox with them; someone else's message did not.
    let all = eventlog::outbox(&db.database, &OutboxQuery { limit: 100, ..Default::default() })
        .await
        .expect("outbox");
    let recipients: Vec<&str> = all.iter().map(|n| n.notification.recipient.as_str()).collect();
    assert_eq!(recipients, vec!["someone.else@example.com"]);

    // Nothing more can be sealed for them: a later personal value is stored erased.
    let late = event("UserProfileUpdated", json!({ "email": "erin.again@example.com" }));
    log.append(request(&stream, 3, vec![late])).await.expect("append after erasure");
    let stored = log.stored().read_stream(&stream, 3).await.expect("read stored");
    assert_eq!(stored[0].data["email"], ERASED);

    // And the hash chain still holds from the first event to the last.
    eventlog::testing::everything_appended(log.as_ref()).await;
    Sealer::default().seal_all(log.as_ref(), &db.database).await.expect("seal");
    let verification = verify(log.as_ref(), &db.database, |_| {}).await.expect("verify");
    assert!(matches!(verification, Verification::Verified { events: 4, .. }), "{verification:?}");
}

async fn vault_rows(db: &TestDatabase, subject: Uuid) -> i64 {
    eventlog::with_reader!(&db.database, |pool| {
        sqlx::query_scalar("select count(*) from vault_keys where subject = $1")
            .bind(subject)
            .fetch_one(pool)
            .await
            .expect("vault")
    })
}

/// A person's key is made with the request that begins their stream and stored in its
/// transaction: a refused request leaves no key behind, and a request prepared ahead
/// (`prepare`, as the importer does) is sealed with the key that is stored with it.
async fn a_new_persons_key_is_stored_with_their_first_events(db: &TestDatabase) {
    let log = db.database.event_log();
    let id = Uuid::now_v7();
    let stream = domain::stream_id("user", id);

    // Refused as a whole: the other stream of the request is not at the version it expects.
    let mut refused = request(&stream, 0, vec![event("UserCreated", created())]);
    refused.writes.push(StreamWrite {
        stream_id: domain::stream_id("company", Uuid::from_u128(42)),
        expected: ExpectedVersion::Exact(3),
        events: vec![event("LicenseSeatTaken", json!({ "userId": id }))],
    });
    let prepared = log.prepare(refused).await.expect("prepare");
    let outcome = log.append_prepared(prepared).await;
    assert!(matches!(outcome, Err(AppendError::VersionConflict { .. })), "{outcome:?}");
    assert_eq!(vault_rows(db, id).await, 0, "no key is left by a refused request");

    let prepared =
        log.prepare(request(&stream, 0, vec![event("UserCreated", created())])).await.expect("prepare");
    log.append_prepared(prepared).await.expect("append prepared");
    assert_eq!(vault_rows(db, id).await, 1);
    let stored = log.stored().read_stream(&stream, 0).await.expect("read stored");
    assert!(!stored_text(&stored).contains(EMAIL), "sealed at rest");
    let read = log.read_stream(&stream, 0).await.expect("read");
    assert_eq!(read[0].data, created(), "opens with the key stored with it");
    assert_eq!(read[0].metadata.client_ip.as_deref(), Some(IP));

    // Later events of the person are sealed with that same key.
    let update = event("UserProfileUpdated", json!({ "mobile": "+447700900555" }));
    log.append(request(&stream, 1, vec![update])).await.expect("update");
    assert_eq!(vault_rows(db, id).await, 1);
    assert_eq!(log.read_stream(&stream, 1).await.expect("read")[0].data["mobile"], "+447700900555");
}

eventlog::on_every_backend!(
    personal_fields_are_sealed_at_rest_and_read_back_plain,
    erasing_a_person_destroys_their_key_with_the_event,
    a_new_persons_key_is_stored_with_their_first_events,
);
