//! Tamper evidence, run against every adapter: a real store is written through the log and
//! sealed; then its database is changed behind the log's back, in SQL, the way someone with
//! access to the files would (the append-only triggers switched off first), and verification
//! must name what was done. One store per case.

use chrono::Utc;
use domain::Actor;
use eventlog::testing::TestDatabase;
use eventlog::{
    AppendRequest, Database, EventContent, ExpectedVersion, Metadata, NewEvent, RecordedEvent, Sealer,
    StreamWrite, Verification, verify,
};
use uuid::Uuid;

const STREAMS: [&str; 4] = ["user-a", "user-b", "role-c", "company-d"];

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "Changed".to_owned(),
        schema_version: 1,
        // Nested keys in no order, a float, non-ASCII text: what the database may hand back in
        // another form (Postgres's jsonb reorders keys) must still hash the same.
        data: serde_json::json!({ "n": n, "zoom": 1.5, "name": "Zoë", "nested": { "b": [1, "x"], "a": null } }),
    }
}

fn request(writes: Vec<(&str, i64, Vec<NewEvent>)>) -> AppendRequest {
    AppendRequest {
        writes: writes
            .into_iter()
            .map(|(stream_id, expected, events)| StreamWrite {
                stream_id: stream_id.to_owned(),
                expected: ExpectedVersion::Exact(expected),
                events,
            })
            .collect(),
        claims: Vec::new(),
        metadata: Metadata {
            company_id: Some(Uuid::now_v7()),
            actor: Actor::operator(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            request_id: Some("tamper-test".to_owned()),
            recorded_at: Utc::now(),
            reason: None,
            client_ip: None,
            user_agent: None,
        },
        idempotency: None,
        notifications: Vec::new(),
        erase: Vec::new(),
        new_keys: Vec::new(),
    }
}

/// 4 streams of 6 events, interleaved, one append of two streams at once; then sealed. The
/// positions of the two-stream append's events are returned.
async fn sealed_store(db: &TestDatabase) -> (i64, i64) {
    let log = db.database.event_log();
    for round in 0..4i64 {
        for stream in STREAMS {
            let events = if round == 3 { vec![event(round), event(round + 10)] } else { vec![event(round)] };
            log.append(request(vec![(stream, round, events)])).await.expect("append");
        }
    }
    // Versions 1-5 of every stream so far; the sixth, the last two streams' in one append.
    for stream in &STREAMS[..2] {
        log.append(request(vec![(stream, 5, vec![event(5)])])).await.expect("append");
    }
    let both = log
        .append(request(vec![(STREAMS[2], 5, vec![event(5)]), (STREAMS[3], 5, vec![event(5)])]))
        .await
        .expect("append two streams");
    let positions: Vec<i64> = both.streams.iter().map(|s| s.events[0].position).collect();
    eventlog::testing::everything_appended(log.as_ref()).await;
    let sealed = Sealer::default().seal_all(log.as_ref(), &db.database).await.expect("seal");
    assert_eq!(sealed, 1, "one seal covers the 24 events");
    (positions[0], positions[1])
}

async fn verified(db: &TestDatabase) -> Verification {
    let log = db.database.event_log();
    verify(log.as_ref(), &db.database, |_| {}).await.expect("verify")
}

fn broken(verification: Verification) -> eventlog::BrokenLink {
    match verification {
        Verification::Broken(link) => link,
        verified => panic!("tampering went unnoticed: {verified:?}"),
    }
}

/// Runs `sql` (with `$1`…) with the log's triggers off, as an intruder with the files would.
async fn tamper(database: &Database, sql: &str, binds: &[String]) {
    match database {
        Database::Sqlite { write, .. } => {
            sqlx::raw_sql("drop trigger if exists events_no_update; drop trigger if exists events_no_delete")
                .execute(write)
                .await
                .expect("drop the triggers");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for bind in binds {
                query = query.bind(bind.clone());
            }
            query.execute(write).await.expect("tamper");
        }
        Database::Postgres(pool) => {
            let mut transaction = pool.begin().await.expect("begin");
            sqlx::raw_sql("alter table events disable trigger user")
                .execute(&mut *transaction)
                .await
                .expect("disable the triggers");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for bind in binds {
                query = query.bind(bind.clone());
            }
            query.execute(&mut *transaction).await.expect("tamper");
            sqlx::raw_sql("alter table events enable trigger user")
                .execute(&mut *transaction)
                .await
                .expect("enable the triggers");
            transaction.commit().await.expect("commit");
        }
    }
}

async fn stream(db: &TestDatabase, stream_id: &str) -> Vec<RecordedEvent> {
    db.database.event_log().read_stream(stream_id, 0).await.expect("read")
}

async fn an_untouched_store_verifies_and_names_its_head(db: &TestDatabase) {
    sealed_store(db).await;
    let Verification::Verified { events, head, seals, unsealed, unchained } = verified(db).await else {
        panic!("an untouched store did not verify");
    };
    assert_eq!((events, seals, unsealed, unchained), (24, 1, 0, 0));
    let last = eventlog::last_seal(&db.database).await.expect("read").expect("a seal");
    assert_eq!((last.head.as_str(), last.total_events), (head.as_str(), 24));
    // Every stored hash is the recomputed link after the one before it.
    let events = stream(db, "user-a").await;
    let mut previous: Option<String> = None;
    for event in &events {
        assert_eq!(
            event.hash.as_deref(),
            Some(EventContent::of_recorded(event).hash(previous.as_deref()).as_str())
        );
        previous = event.hash.clone();
    }
    // New events are checked too, and reported as not sealed yet.
    let log = db.database.event_log();
    log.append(request(vec![("user-a", 6, vec![event(6)])])).await.expect("append");
    eventlog::testing::everything_appended(log.as_ref()).await;
    let Verification::Verified { events, unsealed, .. } = verified(db).await else {
        panic!("did not verify")
    };
    assert_eq!((events, unsealed), (25, 1));
}

async fn a_changed_field_breaks_its_link(db: &TestDatabase) {
    sealed_store(db).await;
    tamper(
        &db.database,
        "update events set request_id = 'forged' where stream_id = 'user-b' and version = 3",
        &[],
    )
    .await;
    let link = broken(verified(db).await);
    assert_eq!((link.stream_id.as_deref(), link.version), (Some("user-b"), Some(3)), "{link}");
    assert!(link.what.contains("does not match its hash"), "{link}");
}

async fn a_change_with_recomputed_hashes_breaks_the_seal(db: &TestDatabase) {
    sealed_store(db).await;
    // The stream's last event, changed, with its hash made again: every link still holds.
    let events = stream(db, "user-b").await;
    let mut forged = events[5].clone();
    forged.metadata.request_id = Some("forged".to_owned());
    let hash = EventContent::of_recorded(&forged).hash(events[4].hash.as_deref());
    tamper(
        &db.database,
        "update events set request_id = 'forged', hash = $1 where stream_id = 'user-b' and version = 6",
        &[hash],
    )
    .await;
    let link = broken(verified(db).await);
    assert!(link.what.starts_with("seal 1:") && link.what.contains("not the ones sealed"), "{link}");
}

async fn a_removed_stream_tail_breaks_the_seal(db: &TestDatabase) {
    sealed_store(db).await;
    tamper(&db.database, "delete from events where stream_id = 'role-c' and version = 6", &[]).await;
    let link = broken(verified(db).await);
    assert!(link.what.starts_with("seal 1:") && link.what.contains("removed"), "{link}");
}

async fn a_removed_stream_breaks_the_seal(db: &TestDatabase) {
    sealed_store(db).await;
    tamper(&db.database, "delete from events where stream_id = 'company-d'", &[]).await;
    let link = broken(verified(db).await);
    assert!(link.what.starts_with("seal 1:"), "{link}");
}

async fn a_removed_event_inside_a_stream_breaks_the_next_link(db: &TestDatabase) {
    sealed_store(db).await;
    tamper(&db.database, "delete from events where stream_id = 'user-a' and version = 2", &[]).await;
    let link = broken(verified(db).await);
    assert_eq!((link.stream_id.as_deref(), link.version), (Some("user-a"), Some(3)), "{link}");
    assert!(link.what.contains("expected version 2"), "{link}");
}

async fn a_reordering_breaks_the_seal(db: &TestDatabase) {
    let (first, second) = sealed_store(db).await;
    // The two events of one append (two streams), swapped in the commit order.
    let sql = match &db.database {
        // SQLite orders by position (checked row by row: through a free one).
        Database::Sqlite { .. } => format!(
            "update events set position = -1 where position = {first}; \
             update events set position = {first} where position = {second}; \
             update events set position = {second} where position = -1"
        ),
        // Postgres orders by (transaction, position), and position cannot be rewritten: move
        // the first into a later transaction.
        Database::Postgres(_) => format!(
            "update events set tx_id = (select max(tx_id::text::bigint) + 1 from events)::text::xid8 \
             where position = {first}"
        ),
    };
    tamper_script(&db.database, &sql).await;
    let link = broken(verified(db).await);
    assert!(link.what.starts_with("seal 1:"), "{link}");
}

/// Several statements, no binds.
async fn tamper_script(database: &Database, script: &str) {
    for statement in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        tamper(database, statement, &[]).await;
    }
}

eventlog::on_every_backend!(
    an_untouched_store_verifies_and_names_its_head,
    a_changed_field_breaks_its_link,
    a_change_with_recomputed_hashes_breaks_the_seal,
    a_removed_stream_tail_breaks_the_seal,
    a_removed_stream_breaks_the_seal,
    a_removed_event_inside_a_stream_breaks_the_next_link,
    a_reordering_breaks_the_seal
);
