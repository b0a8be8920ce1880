//! The event log contract, run against every adapter: SQLite always, Postgres when
//! `PORTAL_TEST_DATABASE_URL` names a server (each test in a database of its own).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use domain::{Actor, ClaimChange};
use eventlog::testing::{self, TestDatabase};
use eventlog::{
    AppendError, AppendRequest, Channel, Checkpoint, ClaimRequest, Database, EventLog, ExpectedVersion,
    Idempotency, Metadata, NewEvent, Notification, OutboxQuery, Secret, StreamWrite,
};
use uuid::Uuid;

fn event(event_type: &str, n: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        data: serde_json::json!({ "n": n }),
    }
}

fn metadata() -> Metadata {
    Metadata {
        company_id: Some(Uuid::now_v7()),
        actor: Actor::operator(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        request_id: Some("test-request".to_owned()),
        recorded_at: Utc::now(),
        reason: None,
        client_ip: None,
        user_agent: None,
    }
}

fn write(stream_id: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        writes: vec![StreamWrite { stream_id: stream_id.to_owned(), expected, events }],
        claims: Vec::new(),
        metadata: metadata(),
        idempotency: None,
        notifications: Vec::new(),
        erase: Vec::new(),
        new_keys: Vec::new(),
    }
}

fn with_claims(mut request: AppendRequest, claims: &[ClaimChange]) -> AppendRequest {
    let owner = request.writes[0].stream_id.clone();
    request.claims = claims
        .iter()
        .map(|change| ClaimRequest { owner_stream: owner.clone(), change: change.clone() })
        .collect();
    request
}

fn new_stream() -> String {
    format!("test-{}", Uuid::now_v7())
}

async fn read_everything(log: &dyn EventLog) -> Vec<eventlog::RecordedEvent> {
    eventlog::testing::everything_appended(log).await
}

/// What `read_all` gives from the start right now, without waiting for anything.
async fn read_from_start(log: &dyn EventLog) -> Vec<eventlog::RecordedEvent> {
    let mut all = Vec::new();
    let mut after = Checkpoint::START;
    loop {
        let page = log.read_all(after, 100).await.expect("read_all");
        let Some(last) = page.last() else { return all };
        after = last.checkpoint;
        all.extend(page);
    }
}

eventlog::on_every_backend!(
    an_audit_filter_in_memory_agrees_with_the_database,
    appended_events_read_back_in_version_order_with_their_metadata,
    a_version_conflict_is_an_error_and_writes_nothing,
    a_taken_claim_refuses_the_whole_request_until_it_is_released,
    releasing_and_taking_the_same_key_in_one_request_keeps_it,
    a_request_with_many_claims_takes_all_of_them_or_none,
    of_sixteen_concurrent_claims_of_one_key_exactly_one_wins,
    of_concurrent_appends_at_one_expected_version_exactly_one_wins,
    a_writer_notices_what_another_process_appended,
    copies_of_one_keyed_request_sent_at_once_are_accepted_once,
    concurrent_appends_keep_every_stream_gap_free_and_read_all_complete,
    an_idempotency_key_is_accepted_once_and_keeps_its_reply,
    one_request_writes_several_streams_atomically,
    the_database_refuses_to_change_or_remove_stored_events,
    a_reader_of_some_categories_gets_all_of_theirs_and_reaches_past_the_rest,
    notifications_are_kept_exactly_when_their_events_are,
);

fn notification(recipient: &str, secret: Option<Secret>) -> Notification {
    Notification {
        id: Uuid::now_v7(),
        channel: Channel::Email,
        recipient: recipient.to_owned(),
        template: "invitation".to_owned(),
        body: "Welcome".to_owned(),
        secret,
        company_id: Some(Uuid::now_v7()),
        subject: None,
    }
}

/// The outbox is part of the append: a refused request leaves no notification behind, and the
/// dispatcher's marks record each delivery attempt.
async fn notifications_are_kept_exactly_when_their_events_are(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let recipient = format!("{}@example.com", Uuid::now_v7());
        let query = |pending| OutboxQuery {
            recipient: Some(recipient.clone()),
            pending,
            limit: 10,
            ..OutboxQuery::default()
        };
        let stream = new_stream();
        let mut first = write(&stream, ExpectedVersion::Exact(0), vec![event("A", 1)]);
        let sent = notification(&recipient, Some(Secret::Token("t0ken".to_owned())));
        first.notifications.push(sent.clone());
        log.append(first).await.expect("append with a notification");
        // A conflicting request with a notification: refused, and its notification is not kept.
        let mut refused = write(&stream, ExpectedVersion::Exact(0), vec![event("B", 1)]);
        refused.notifications.push(notification(&recipient, Some(Secret::Pin("123456".to_owned()))));
        assert!(matches!(log.append(refused).await, Err(AppendError::VersionConflict { .. })));

        let kept = eventlog::outbox(&db.database, &query(true)).await.expect("outbox");
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].notification, sent);
        assert_eq!((kept[0].attempts, kept[0].delivered_at), (0, None));

        eventlog::outbox_attempted(&db.database, sent.id, Err("smtp: connection refused".to_owned()))
            .await
            .expect("mark failure");
        let failed = eventlog::outbox(&db.database, &query(true)).await.expect("outbox");
        assert_eq!(
            (failed[0].attempts, failed[0].last_error.as_deref()),
            (1, Some("smtp: connection refused"))
        );
        eventlog::outbox_attempted(&db.database, sent.id, Ok(())).await.expect("mark delivered");
        assert!(
            eventlog::outbox(&db.database, &query(true)).await.expect("outbox").is_empty(),
            "delivered ones are not pending"
        );
        let all = eventlog::outbox(&db.database, &query(false)).await.expect("outbox");
        assert_eq!(all[0].attempts, 2);
        assert!(all[0].delivered_at.is_some());
        assert_eq!(all[0].notification.secret, None, "a delivered token is wiped");
        assert!(all[0].carried_secret);
    }
}

/// `AuditQuery::matches` (what the live feed of subscriptions filters with) keeps exactly the
/// events the adapter's SQL returns for the same filter.
async fn an_audit_filter_in_memory_agrees_with_the_database(db: &TestDatabase) {
    let log = db.database.event_log();
    let (one, two) = (new_stream(), new_stream());
    let mut first = write(&one, ExpectedVersion::Exact(0), vec![event("A", 1), event("B", 2)]);
    first.metadata.actor = Actor::user(Uuid::from_u128(7));
    let company = first.metadata.company_id;
    let correlation = first.metadata.correlation_id;
    log.append(first).await.expect("append");
    log.append(write(&two, ExpectedVersion::Exact(0), vec![event("A", 3)])).await.expect("append");
    let middle = Utc::now();
    log.append(write(&one, ExpectedVersion::Exact(2), vec![event("C", 4)])).await.expect("append");
    let all = read_everything(log.as_ref()).await;
    let everything = eventlog::AuditQuery { limit: 1000, ..eventlog::AuditQuery::default() };
    let filters = [
        eventlog::AuditQuery { stream_id: Some(one.clone()), ..everything.clone() },
        eventlog::AuditQuery { company_ids: company.map(|c| vec![c]), ..everything.clone() },
        eventlog::AuditQuery { company_ids: Some(Vec::new()), ..everything.clone() },
        eventlog::AuditQuery { actor_id: Some(Uuid::from_u128(7)), ..everything.clone() },
        eventlog::AuditQuery { correlation_id: Some(correlation), ..everything.clone() },
        eventlog::AuditQuery {
            event_types: Some(vec!["A".to_owned(), "C".to_owned()]),
            ..everything.clone()
        },
        eventlog::AuditQuery { from: Some(middle), ..everything.clone() },
        eventlog::AuditQuery { to: Some(middle), stream_id: Some(one.clone()), ..everything.clone() },
    ];
    for filter in filters {
        let from_sql: Vec<i64> =
            log.audit(&filter).await.expect("audit").iter().map(|e| e.position).collect();
        let in_memory: Vec<i64> = all.iter().filter(|e| filter.matches(e)).map(|e| e.position).collect();
        assert_eq!(in_memory, from_sql, "{filter:?}");
    }
}

async fn appended_events_read_back_in_version_order_with_their_metadata(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let stream = new_stream();
        let request = write(&stream, ExpectedVersion::Exact(0), vec![event("A", 1), event("B", 2)]);
        let sent_metadata = request.metadata.clone();
        let appended = log.append(request).await.expect("first append");
        assert_eq!(appended.streams[0].version, 2);
        let positions: Vec<i64> = appended.streams[0].events.iter().map(|e| e.position).collect();
        assert!(positions[0] < positions[1], "positions grow: {positions:?}");
        log.append(write(&stream, ExpectedVersion::Exact(2), vec![event("C", 3)]))
            .await
            .expect("second append");

        let events = log.read_stream(&stream, 0).await.expect("read_stream");
        let summary: Vec<(i64, &str, serde_json::Value)> =
            events.iter().map(|e| (e.version, e.event_type.as_str(), e.data.clone())).collect();
        assert_eq!(
            summary,
            vec![
                (1, "A", serde_json::json!({"n": 1})),
                (2, "B", serde_json::json!({"n": 2})),
                (3, "C", serde_json::json!({"n": 3}))
            ]
        );
        let stored = &events[0].metadata;
        assert_eq!(stored.company_id, sent_metadata.company_id);
        assert_eq!(stored.correlation_id, sent_metadata.correlation_id);
        assert_eq!(stored.request_id.as_deref(), Some("test-request"));
        assert_eq!(stored.actor, Actor::operator());
        assert_eq!(log.read_stream(&stream, 2).await.expect("tail").len(), 1);
    }
}

async fn a_version_conflict_is_an_error_and_writes_nothing(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let stream = new_stream();
        log.append(write(&stream, ExpectedVersion::Exact(0), vec![event("A", 1)])).await.expect("create");
        let refused = with_claims(
            write(&stream, ExpectedVersion::Exact(0), vec![event("B", 2)]),
            &[ClaimChange::Acquire(format!("k:{stream}"))],
        );
        match log.append(refused).await {
            Err(AppendError::VersionConflict { expected: 0, actual: 1, .. }) => {}
            other => panic!("expected a version conflict, got {other:?}"),
        }
        assert_eq!(log.read_stream(&stream, 0).await.expect("read").len(), 1);
        // The refused request's claim was not kept either.
        let other = new_stream();
        log.append(with_claims(
            write(&other, ExpectedVersion::Exact(0), vec![event("A", 1)]),
            &[ClaimChange::Acquire(format!("k:{stream}"))],
        ))
        .await
        .expect("the claim is still free");
    }
}

async fn a_taken_claim_refuses_the_whole_request_until_it_is_released(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let key = format!("username:{}", Uuid::now_v7());
        let (first, second) = (new_stream(), new_stream());
        log.append(with_claims(
            write(&first, ExpectedVersion::Exact(0), vec![event("A", 1)]),
            &[ClaimChange::Acquire(key.clone())],
        ))
        .await
        .expect("first claim");
        let other_key = format!("email:{}", Uuid::now_v7());
        let refused = with_claims(
            write(&second, ExpectedVersion::Exact(0), vec![event("A", 1)]),
            &[ClaimChange::Acquire(other_key.clone()), ClaimChange::Acquire(key.clone())],
        );
        match log.append(refused).await {
            Err(AppendError::ClaimTaken { key: taken }) => assert_eq!(taken, key),
            other => panic!("expected ClaimTaken, got {other:?}"),
        }
        assert!(log.read_stream(&second, 0).await.expect("read").is_empty(), "refused events were written");
        assert_eq!(log.claim_owner(&key).await.expect("owner"), Some(first.clone()));
        assert_eq!(
            log.claim_owner(&other_key).await.expect("owner"),
            None,
            "the refused request took nothing"
        );

        // The first owner releases the key; now the second takes both keys.
        log.append(with_claims(
            write(&first, ExpectedVersion::Exact(1), vec![event("Deleted", 2)]),
            &[ClaimChange::Release(key.clone())],
        ))
        .await
        .expect("release");
        log.append(with_claims(
            write(&second, ExpectedVersion::Exact(0), vec![event("A", 1)]),
            &[ClaimChange::Acquire(other_key.clone()), ClaimChange::Acquire(key.clone())],
        ))
        .await
        .expect("the released key and the other one are free");
        assert_eq!(log.claim_owner(&key).await.expect("owner"), Some(second.clone()));
        // Many keys in one query: each held one with its owner, the free one absent.
        let free = format!("email:{}", Uuid::now_v7());
        let owners = log.claim_owners(&[key.clone(), free, other_key.clone()]).await.expect("owners");
        assert_eq!(owners, HashMap::from([(key, second.clone()), (other_key, second)]));
    }
}

/// A request taking many claims at once (an import chunk takes thousands): all of them or, when
/// one is held already, none; one that takes a key twice is refused.
async fn a_request_with_many_claims_takes_all_of_them_or_none(db: &TestDatabase) {
    let log = db.database.event_log();
    let keys: Vec<String> = (0..300).map(|n| format!("extension:{}:{n}", Uuid::now_v7())).collect();
    let holder = new_stream();
    log.append(with_claims(
        write(&holder, ExpectedVersion::Exact(0), vec![event("A", 1)]),
        &[ClaimChange::Acquire(keys[150].clone())],
    ))
    .await
    .expect("one key held first");

    let refused = new_stream();
    let all: Vec<ClaimChange> = keys.iter().cloned().map(ClaimChange::Acquire).collect();
    match log.append(with_claims(write(&refused, ExpectedVersion::Exact(0), vec![event("A", 1)]), &all)).await
    {
        Err(AppendError::ClaimTaken { key }) => assert_eq!(key, keys[150]),
        other => panic!("expected the held key to refuse the request, got {other:?}"),
    }
    let owners = log.claim_owners(&keys).await.expect("owners");
    assert_eq!(owners.len(), 1, "the refused request kept none of its claims: {owners:?}");
    assert!(log.read_stream(&refused, 0).await.expect("read").is_empty());

    let taker = new_stream();
    let free: Vec<ClaimChange> =
        keys.iter().filter(|key| **key != keys[150]).cloned().map(ClaimChange::Acquire).collect();
    log.append(with_claims(write(&taker, ExpectedVersion::Exact(0), vec![event("A", 1)]), &free))
        .await
        .expect("every free key");
    let owners = log.claim_owners(&keys).await.expect("owners");
    assert_eq!(owners.len(), keys.len());

    // One key twice in a request: refused, on either backend, at once.
    let twice = with_claims(
        write(&new_stream(), ExpectedVersion::Exact(0), vec![event("A", 1)]),
        &vec![ClaimChange::Acquire(format!("email:{}", Uuid::now_v7())); 2],
    );
    let key = match &twice.claims[0].change {
        ClaimChange::Acquire(key) | ClaimChange::Release(key) => key.clone(),
    };
    match tokio::time::timeout(std::time::Duration::from_secs(10), log.append(twice)).await {
        Ok(Err(AppendError::ClaimTaken { key: taken })) => assert_eq!(taken, key),
        other => panic!("expected the repeated key to refuse the request, got {other:?}"),
    }
    assert_eq!(log.claim_owner(&key).await.expect("owner"), None);
    assert!(owners.iter().all(|(key, owner)| owner == if *key == keys[150] { &holder } else { &taker }));
}

async fn releasing_and_taking_the_same_key_in_one_request_keeps_it(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let key = format!("email:{}", Uuid::now_v7());
        let stream = new_stream();
        log.append(with_claims(
            write(&stream, ExpectedVersion::Exact(0), vec![event("A", 1)]),
            &[ClaimChange::Acquire(key.clone())],
        ))
        .await
        .expect("claim");
        log.append(with_claims(
            write(&stream, ExpectedVersion::Exact(1), vec![event("B", 2)]),
            &[ClaimChange::Release(key.clone()), ClaimChange::Acquire(key.clone())],
        ))
        .await
        .expect("release and take again");
        let thief = with_claims(
            write(&new_stream(), ExpectedVersion::Exact(0), vec![event("A", 1)]),
            &[ClaimChange::Acquire(key)],
        );
        assert!(
            matches!(log.append(thief).await, Err(AppendError::ClaimTaken { .. })),
            "the key is still held"
        );
    }
}

async fn of_sixteen_concurrent_claims_of_one_key_exactly_one_wins(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let key = format!("username:{}", Uuid::now_v7());
        let attempts = (0..16).map(|_| {
            let log = Arc::clone(&log);
            let request = with_claims(
                write(&new_stream(), ExpectedVersion::Exact(0), vec![event("A", 1)]),
                &[ClaimChange::Acquire(key.clone())],
            );
            tokio::spawn(async move { log.append(request).await })
        });
        let mut won = 0;
        let mut taken = 0;
        for attempt in attempts {
            match attempt.await.expect("task") {
                Ok(_) => won += 1,
                Err(AppendError::ClaimTaken { .. }) => taken += 1,
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert_eq!((won, taken), (1, 15));
        assert_eq!(read_everything(log.as_ref()).await.len(), 1, "only the winner's event is stored");
    }
}

async fn of_concurrent_appends_at_one_expected_version_exactly_one_wins(db: &TestDatabase) {
    let log = db.database.event_log();
    let (contested, bystander) = (new_stream(), new_stream());
    log.append(write(&contested, ExpectedVersion::Exact(0), vec![event("A", 0)])).await.expect("create");
    let mut attempts = Vec::new();
    for n in 0..20 {
        let log = Arc::clone(&log);
        let request = write(&contested, ExpectedVersion::Exact(1), vec![event("B", n), event("C", n)]);
        attempts.push(tokio::spawn(async move { log.append(request).await }));
    }
    // A stale writer and an unrelated one in the same moment: refused and accepted on their own.
    let stale = write(&bystander, ExpectedVersion::Exact(3), vec![event("A", 0)]);
    let fresh = write(&new_stream(), ExpectedVersion::Exact(0), vec![event("A", 0)]);
    let (stale, fresh) = tokio::join!(log.append(stale), log.append(fresh));
    assert!(matches!(stale, Err(AppendError::VersionConflict { expected: 3, actual: 0, .. })), "{stale:?}");
    assert_eq!(fresh.expect("an unrelated stream is not held up").streams[0].version, 1);
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(appended) => {
                won += 1;
                assert_eq!(appended.streams[0].version, 3);
            }
            Err(AppendError::VersionConflict { expected: 1, actual: 3, .. }) => {}
            Err(other) => panic!("expected a conflict at version 3, got {other:?}"),
        }
    }
    assert_eq!(won, 1);
    let versions: Vec<i64> =
        log.read_stream(&contested, 0).await.expect("read").iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![1, 2, 3]);
}

/// Two event logs on one database stand for two processes: each must see the other's appends
/// in its version checks, whatever it remembers of the stream.
async fn a_writer_notices_what_another_process_appended(db: &TestDatabase) {
    let (here, there) = (db.database.event_log(), db.database.event_log());
    let stream = new_stream();
    here.append(write(&stream, ExpectedVersion::Exact(0), vec![event("A", 1)])).await.expect("first");
    here.append(write(&stream, ExpectedVersion::Exact(1), vec![event("B", 2)])).await.expect("second");
    there.append(write(&stream, ExpectedVersion::Exact(2), vec![event("C", 3)])).await.expect("elsewhere");
    match here.append(write(&stream, ExpectedVersion::Exact(2), vec![event("D", 4)])).await {
        Err(AppendError::VersionConflict { expected: 2, actual: 3, .. }) => {}
        other => panic!("expected a conflict with version 3, got {other:?}"),
    }
    let refused_gap = here.append(write(&stream, ExpectedVersion::Exact(5), vec![event("E", 5)])).await;
    assert!(matches!(refused_gap, Err(AppendError::VersionConflict { actual: 3, .. })), "{refused_gap:?}");
    here.append(write(&stream, ExpectedVersion::Exact(3), vec![event("D", 4)]))
        .await
        .expect("at the true version");
    let versions: Vec<i64> =
        here.read_stream(&stream, 0).await.expect("read").iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![1, 2, 3, 4]);

    // A stream begun by the other process first (the request beginning it here also takes a
    // claim, so it is not the single-statement kind): refused whole, its claim left free.
    let begun = new_stream();
    there.append(write(&begun, ExpectedVersion::Exact(0), vec![event("A", 1)])).await.expect("begun there");
    let key = format!("username:{}", Uuid::now_v7());
    let late = with_claims(
        write(&begun, ExpectedVersion::Exact(0), vec![event("B", 2)]),
        &[ClaimChange::Acquire(key.clone())],
    );
    match here.append(late).await {
        Err(AppendError::VersionConflict { expected: 0, actual: 1, .. }) => {}
        other => panic!("expected a conflict with version 1, got {other:?}"),
    }
    assert_eq!(here.claim_owner(&key).await.expect("owner"), None, "the refused request took its claim");
    assert_eq!(here.read_stream(&begun, 0).await.expect("read").len(), 1);
}

/// A client retrying impatiently: copies of one request, one idempotency key, each with its
/// own new stream and the same claim. One is accepted and its reply kept; the others are
/// told the key is used (and the caller replays the stored reply).
async fn copies_of_one_keyed_request_sent_at_once_are_accepted_once(db: &TestDatabase) {
    let log = db.database.event_log();
    // On Postgres, first hold both group-commit writers up (their batches wait on a claim that
    // an open transaction holds), so that the copies queue up and meet inside one batch. The
    // pauses only make that meeting likely; the assertions hold either way.
    let mut hold = None;
    if let Database::Postgres(pool) = &db.database {
        let blocker = format!("blocker:{}", Uuid::now_v7());
        let mut transaction = pool.begin().await.expect("begin");
        sqlx::query("insert into claims (claim_key, owner_stream) values ($1, 'test-holder')")
            .bind(&blocker)
            .execute(&mut *transaction)
            .await
            .expect("hold the blocker claim");
        let blocked: Vec<_> = (0..8)
            .map(|_| {
                let log = Arc::clone(&log);
                let request = with_claims(
                    write(&new_stream(), ExpectedVersion::Exact(0), vec![event("B", 0)]),
                    &[ClaimChange::Acquire(blocker.clone())],
                );
                tokio::spawn(async move { log.append(request).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        hold = Some((transaction, blocked));
    }
    let claim = format!("username:{}", Uuid::now_v7());
    let idempotency = Idempotency {
        scope: "operator:Copies".to_owned(),
        key: "copy".to_owned(),
        request_hash: "h".to_owned(),
    };
    let copies: Vec<_> = (0..8)
        .map(|_| {
            let log = Arc::clone(&log);
            let mut request = with_claims(
                write(&new_stream(), ExpectedVersion::Exact(0), vec![event("A", 1)]),
                &[ClaimChange::Acquire(claim.clone())],
            );
            request.idempotency = Some(idempotency.clone());
            tokio::spawn(async move { log.append(request).await })
        })
        .collect();
    if let Some((transaction, blocked)) = hold {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        transaction.rollback().await.expect("release the writers");
        for request in blocked {
            let _ = request.await.expect("task");
        }
    }
    let mut accepted = Vec::new();
    for copy in copies {
        match copy.await.expect("task") {
            Ok(appended) => accepted.push(appended),
            Err(AppendError::IdempotencyKeyUsed) => {}
            Err(other) => panic!("a copy was refused with {other:?} instead of being told the key is used"),
        }
    }
    assert_eq!(accepted.len(), 1, "exactly one copy is accepted");
    let stored = log.idempotent_reply("operator:Copies", "copy").await.expect("lookup").expect("reply kept");
    assert_eq!(stored.reply, accepted[0]);
    let copies_stored = read_everything(log.as_ref()).await.iter().filter(|e| e.event_type == "A").count();
    assert_eq!(copies_stored, 1);
}

async fn concurrent_appends_keep_every_stream_gap_free_and_read_all_complete(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let streams: Vec<String> = (0..8).map(|_| new_stream()).collect();
        let mut tasks = Vec::new();
        for round in 0..25 {
            for stream in &streams {
                let log = Arc::clone(&log);
                let request = write(stream, ExpectedVersion::Any, vec![event("Tick", round)]);
                tasks.push(tokio::spawn(async move { log.append(request).await }));
            }
        }
        for task in tasks {
            task.await.expect("task").expect("append with Any never conflicts");
        }
        for stream in &streams {
            let versions: Vec<i64> =
                log.read_stream(stream, 0).await.expect("read").iter().map(|e| e.version).collect();
            assert_eq!(versions, (1..=25).collect::<Vec<_>>(), "versions of {stream}");
        }
        let all = read_everything(log.as_ref()).await;
        assert_eq!(all.len(), 200);
        let mut positions: Vec<i64> = all.iter().map(|e| e.position).collect();
        positions.sort_unstable();
        positions.dedup();
        assert_eq!(positions.len(), 200, "read_all returned an event twice");
    }
}

async fn an_idempotency_key_is_accepted_once_and_keeps_its_reply(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let idempotency = Idempotency {
            scope: "operator:Test".to_owned(),
            key: "key-1".to_owned(),
            request_hash: "h1".to_owned(),
        };
        let mut first = write(&new_stream(), ExpectedVersion::Exact(0), vec![event("A", 1)]);
        first.idempotency = Some(idempotency.clone());
        let appended = log.append(first).await.expect("first");
        let mut retry = write(&new_stream(), ExpectedVersion::Exact(0), vec![event("A", 1)]);
        retry.idempotency = Some(idempotency);
        assert!(matches!(log.append(retry).await, Err(AppendError::IdempotencyKeyUsed)));
        let stored = log.idempotent_reply("operator:Test", "key-1").await.expect("lookup").expect("stored");
        assert_eq!(stored.reply, appended);
        assert_eq!(stored.request_hash, "h1");
        assert!(log.idempotent_reply("operator:Other", "key-1").await.expect("lookup").is_none());
        assert_eq!(read_everything(log.as_ref()).await.len(), 1);
    }
}

async fn one_request_writes_several_streams_atomically(db: &TestDatabase) {
    let log = db.database.event_log();
    {
        let (fresh, existing) = (new_stream(), new_stream());
        log.append(write(&existing, ExpectedVersion::Exact(0), vec![event("A", 1)])).await.expect("setup");
        let mut request = write(&fresh, ExpectedVersion::Exact(0), vec![event("A", 1)]);
        request.writes.push(StreamWrite {
            stream_id: existing.clone(),
            expected: ExpectedVersion::Exact(0),
            events: vec![event("B", 2)],
        });
        assert!(matches!(log.append(request).await, Err(AppendError::VersionConflict { .. })));
        assert!(log.read_stream(&fresh, 0).await.expect("read").is_empty(), "half a request was written");
    }
}

async fn a_reader_of_some_categories_gets_all_of_theirs_and_reaches_past_the_rest(db: &TestDatabase) {
    let log = db.database.event_log();
    let ours = [format!("ours-{}", Uuid::now_v7()), format!("ours-{}", Uuid::now_v7())];
    let theirs = format!("theirs-{}", Uuid::now_v7());
    for n in 1..=5 {
        log.append(write(&ours[0], ExpectedVersion::Exact(n - 1), vec![event("Ours", n)]))
            .await
            .expect("ours");
        log.append(write(
            &theirs,
            ExpectedVersion::Exact(2 * (n - 1)),
            vec![event("Theirs", n), event("Theirs", n)],
        ))
        .await
        .expect("theirs");
        log.append(write(&ours[1], ExpectedVersion::Exact(n - 1), vec![event("Ours", n)]))
            .await
            .expect("ours");
    }
    let all = read_everything(log.as_ref()).await;
    let expected: Vec<i64> =
        all.iter().filter(|e| e.stream_id.starts_with("ours-")).map(|e| e.position).collect();
    // Pages of 3, as a projector reads: every event of ours once, in order, and nothing else.
    let mut got = Vec::new();
    let mut checkpoint = Checkpoint::START;
    loop {
        let (events, reached) = log.read_all_of(checkpoint, 3, &["ours"]).await.expect("read");
        assert!(events.len() <= 3);
        if reached == checkpoint {
            assert!(events.is_empty());
            break;
        }
        got.extend(events.iter().map(|e| e.position));
        checkpoint = reached;
    }
    assert_eq!(got, expected);
    assert_eq!(
        checkpoint,
        all.last().expect("events").checkpoint,
        "the reader reached the last event of all"
    );
    let (none, reached) = log.read_all_of(Checkpoint::START, 100, &["nobody"]).await.expect("read");
    assert!(none.is_empty());
    assert_eq!(reached, all.last().expect("events").checkpoint, "a reader of nothing still moves on");
}

async fn the_database_refuses_to_change_or_remove_stored_events(db: &TestDatabase) {
    let log = db.database.event_log();
    let database = db.database.clone();
    {
        log.append(write(&new_stream(), ExpectedVersion::Exact(0), vec![event("A", 1)]))
            .await
            .expect("append");
        for statement in ["update events set event_type = 'Forged'", "delete from events"] {
            let outcome = match &database {
                Database::Sqlite { write, .. } => sqlx::query(statement).execute(write).await.map(|_| ()),
                Database::Postgres(pool) => sqlx::query(statement).execute(pool).await.map(|_| ()),
            };
            let error = outcome.expect_err(statement);
            assert!(error.to_string().contains("append-only"), "{statement}: {error}");
        }
        assert_eq!(read_everything(log.as_ref()).await[0].event_type, "A");
    }
}

/// A writer holds its transaction open while a later one commits: the reader must not move
/// past the open one's event (it would never see it), and must see both once it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_neither_skips_a_late_commit_nor_waits_for_ever() {
    let Some(db) = testing::postgres("a_reader_neither_skips_a_late_commit_nor_waits_for_ever").await else {
        return;
    };
    let Database::Postgres(pool) = &db.database else { unreachable!("postgres() gives Postgres") };
    let log = db.database.event_log();
    let mut slow = pool.begin().await.expect("begin");
    let slow_position: i64 = sqlx::query_scalar(
        "insert into events (stream_id, version, event_id, event_type, schema_version, data, actor_kind, \
         correlation_id, recorded_at) values ('slow-1', 1, $1, 'Slow', 1, '{}', 'SYSTEM', $1, now()) \
         returning position",
    )
    .bind(Uuid::now_v7())
    .fetch_one(&mut *slow)
    .await
    .expect("insert in the slow transaction");

    let fast = log.append(write(&new_stream(), ExpectedVersion::Exact(0), vec![event("Fast", 1)])).await;
    let fast_position = fast.expect("fast append").last_position().expect("a position");
    assert!(fast_position > slow_position, "the later writer got the later position");

    let seen = read_from_start(log.as_ref()).await;
    assert!(
        seen.is_empty(),
        "the reader went past the open transaction: it saw {:?}",
        seen.iter().map(|e| &e.event_type).collect::<Vec<_>>()
    );

    slow.commit().await.expect("commit the slow transaction");
    let seen = read_everything(log.as_ref()).await;
    let types: Vec<&str> = seen.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec!["Slow", "Fast"], "both events, in commit (transaction) order");
    assert_eq!(
        log.read_all(seen[0].checkpoint, 10).await.expect("resume").len(),
        1,
        "resuming after the first gives exactly the second"
    );
    // A reader of one category reaches past the other's events, and only once they are final.
    let (slow_only, reached) = log.read_all_of(Checkpoint::START, 10, &["slow"]).await.expect("slow");
    assert_eq!(slow_only.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(), vec!["Slow"]);
    assert_eq!(reached, seen[1].checkpoint, "past the other category's event too");
}

/// Held open, a transaction also holds back a reader of other categories: it must not move its
/// checkpoint past the open event, which it would then never see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_of_some_categories_does_not_pass_a_late_commit() {
    let Some(db) = testing::postgres("a_reader_of_some_categories_does_not_pass_a_late_commit").await else {
        return;
    };
    let Database::Postgres(pool) = &db.database else { unreachable!("postgres() gives Postgres") };
    let log = db.database.event_log();
    let mut slow = pool.begin().await.expect("begin");
    sqlx::query(
        "insert into events (stream_id, version, event_id, event_type, schema_version, data, actor_kind, \
         correlation_id, recorded_at) values ('late-1', 1, $1, 'Late', 1, '{}', 'SYSTEM', $1, now())",
    )
    .bind(Uuid::now_v7())
    .execute(&mut *slow)
    .await
    .expect("insert in the slow transaction");
    log.append(write(&new_stream(), ExpectedVersion::Exact(0), vec![event("Fast", 1)])).await.expect("fast");
    let (events, reached) = log.read_all_of(Checkpoint::START, 10, &["test", "late"]).await.expect("read");
    assert!(events.is_empty() && reached == Checkpoint::START, "went past the open transaction: {reached}");
    slow.commit().await.expect("commit");
    read_everything(log.as_ref()).await;
    let (events, _) = log.read_all_of(Checkpoint::START, 10, &["late"]).await.expect("read");
    assert_eq!(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(), vec!["Late"]);
}
