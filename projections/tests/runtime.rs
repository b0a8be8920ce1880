//! The projector runtime against real databases: catch-up, restart, rebuild, and on Postgres
//! one leader per read model with a standby that takes over.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::{Actor, user};
use eventlog::testing::{self, TestDatabase};
use eventlog::{AppendRequest, Checkpoint, EventLog, ExpectedVersion, Metadata, NewEvent, StreamWrite};
use projections::{ReadModel, read};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

fn user_created(company_id: Uuid, username: &str) -> user::Event {
    user::Event::UserCreated {
        company_id,
        username: username.to_owned(),
        email: format!("{username}@example.com"),
        first_name: "First".to_owned(),
        last_name: "Last".to_owned(),
        phone: None,
        extension: None,
        role_id: None,
        approved: false,
        group_id: None,
        service_level: user::ServiceLevel::Archive,
        admin: false,
        portal_access: true,
        mobile: None,
        office_phone: None,
        fax: None,
        outbound_caller_id: None,
        title: None,
        customer_code: None,
        udid: None,
    }
}

/// Appends `events` to the user's stream and returns the checkpoint of the last one. The
/// events are recorded for the company a `UserCreated` among them names, as the command API does.
async fn append(log: &dyn EventLog, user_id: Uuid, expected: i64, events: &[user::Event]) -> Checkpoint {
    let company_id = events.iter().find_map(|event| match event {
        user::Event::UserCreated { company_id, .. } => Some(*company_id),
        _ => None,
    });
    let request = AppendRequest {
        writes: vec![StreamWrite {
            stream_id: domain::stream_id(user::CATEGORY, user_id),
            expected: ExpectedVersion::Exact(expected),
            events: events.iter().map(NewEvent::from_payload).collect(),
        }],
        claims: Vec::new(),
        metadata: Metadata {
            company_id,
            actor: Actor::operator(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            request_id: None,
            recorded_at: Utc::now(),
            reason: None,
            client_ip: None,
            user_agent: None,
        },
        idempotency: None,
        notifications: Vec::new(),
        erase: Vec::new(),
        new_keys: Vec::new(),
    };
    let position = log.append(request).await.expect("append").last_position().expect("a position");
    log.checkpoint_of(position).await.expect("lookup").expect("the event exists")
}

async fn user_row(db: &TestDatabase, id: Uuid) -> Option<read::Row<user::State>> {
    read::users_by_ids(&read::Reader::Whole(db.database.clone()), &[id])
        .await
        .expect("read")
        .into_iter()
        .next()
}

/// The second wall of tenant isolation: on Postgres, SQL run through a tenant reader sees only
/// its companies' rows even when it asks for everything; on SQLite (no row security) a tenant
/// reader is the whole database, and the query API's own filters are the only wall.
async fn a_tenant_reader_sees_only_its_companies_rows(db: &TestDatabase) {
    let log = db.database.event_log();
    let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let (me, them) = (Uuid::now_v7(), Uuid::now_v7());
    append(log.as_ref(), me, 0, &[user_created(mine, "mine")]).await;
    let last = append(log.as_ref(), them, 0, &[user_created(theirs, "theirs")]).await;
    let projectors = projections::spawn_all(db.database.clone(), Arc::clone(&log));
    assert!(projectors.progress.wait_for(last, WAIT).await);
    projectors.stop().await;

    let reader = read::Reader::tenant(&db.database, [mine]).await.expect("a tenant reader");
    let both = read::users_by_ids(&reader, &[me, them]).await.expect("read");
    let read::Reader::Tenant(transaction) = &reader else {
        assert!(matches!(db.database, eventlog::Database::Sqlite { .. }), "only SQLite reads whole");
        assert_eq!(both.len(), 2, "SQLite has no row security");
        return;
    };
    assert_eq!(
        both.iter().map(|row| row.id).collect::<Vec<_>>(),
        vec![me],
        "the other company's row is hidden"
    );
    // SQL with no tenant filter at all, as a buggy resolver would send it.
    let mut connection = transaction.lock().await;
    let everyone: Vec<(Uuid,)> =
        sqlx::query_as("select id from users").fetch_all(&mut **connection).await.expect("select");
    assert_eq!(everyone, vec![(me,)]);
    let companies: i64 = sqlx::query_scalar("select count(*) from users where company_id = $1")
        .bind(theirs)
        .fetch_one(&mut **connection)
        .await
        .expect("count");
    assert_eq!(companies, 0, "not even a count leaks");
    // The audit trail behind the same wall: a query for every event finds only this company's.
    let everything = eventlog::AuditQuery { limit: 1000, ..eventlog::AuditQuery::default() };
    let trail = eventlog::audit_on(&mut connection, &everything).await.expect("audit");
    assert!(!trail.is_empty(), "the own company's events are there");
    assert!(trail.iter().all(|event| event.metadata.company_id == Some(mine)), "{trail:?}");
    // It only reads: the role may not write the read models (nor touch the event log).
    let write = sqlx::query("update users set username = 'x'").execute(&mut **connection).await;
    assert!(write.is_err(), "a tenant reader wrote");
    drop(connection);

    // No companies named: nothing at all. The operator's reader: everything.
    let nobody = read::Reader::tenant(&db.database, []).await.expect("a tenant reader");
    assert!(read::users_by_ids(&nobody, &[me, them]).await.expect("read").is_empty());
    let whole = read::Reader::Whole(db.database.clone());
    assert_eq!(read::users_by_ids(&whole, &[me, them]).await.expect("read").len(), 2);
}

eventlog::on_every_backend!(
    projects_live_events_then_resumes_after_a_restart,
    a_rebuild_gives_the_same_rows,
    a_tenant_reader_sees_only_its_companies_rows
);

async fn projects_live_events_then_resumes_after_a_restart(db: &TestDatabase) {
    let log = db.database.event_log();
    let (company_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());
    let projectors = projections::spawn_all(db.database.clone(), Arc::clone(&log));
    let created = append(log.as_ref(), user_id, 0, &[user_created(company_id, "alice")]).await;
    assert!(projectors.progress.wait_for(created, WAIT).await, "the projectors did not reach the event");
    let row = user_row(db, user_id).await.expect("projected");
    assert_eq!((row.state.username.as_str(), row.version, row.state.approved), ("alice", 1, false));
    projectors.stop().await;

    // Written while no projector runs: a new one starts from the stored checkpoint.
    let approved = append(log.as_ref(), user_id, 1, &[user::Event::UserApproved {}]).await;
    let restarted = projections::spawn_all(db.database.clone(), Arc::clone(&log));
    assert!(restarted.progress.wait_for(approved, WAIT).await, "the restarted projectors did not catch up");
    let row = user_row(db, user_id).await.expect("projected");
    assert_eq!((row.version, row.state.approved), (2, true));
    assert_eq!(restarted.progress.checkpoint(ReadModel::Users), Some(approved));
    restarted.stop().await;
}

async fn a_rebuild_gives_the_same_rows(db: &TestDatabase) {
    let log = db.database.event_log();
    let company_id = Uuid::now_v7();
    let mut ids = Vec::new();
    let mut last = Checkpoint::START;
    for n in 0..30 {
        let id = Uuid::now_v7();
        last = append(log.as_ref(), id, 0, &[user_created(company_id, &format!("user{n}"))]).await;
        if n % 3 == 0 {
            last = append(log.as_ref(), id, 1, &[user::Event::UserApproved {}, user::Event::UserDeleted {}])
                .await;
        }
        ids.push(id);
    }
    let projectors = projections::spawn_all(db.database.clone(), Arc::clone(&log));
    assert!(projectors.progress.wait_for(last, WAIT).await);
    projectors.stop().await;
    let summary = |rows: Vec<read::Row<user::State>>| {
        let mut rows: Vec<_> = rows.into_iter().map(|r| (r.id, r.version, r.state, r.created_at)).collect();
        rows.sort_by_key(|row| row.0);
        rows
    };
    let before =
        summary(read::users_by_ids(&read::Reader::Whole(db.database.clone()), &ids).await.expect("read"));
    assert_eq!(before.len(), 30);
    assert_eq!(before.iter().filter(|row| row.2.deleted).count(), 10);

    // The stopped leader's connection is closed, but Postgres frees its advisory lock only once
    // that backend has exited: wait for it (bounded) instead of racing it.
    let mut attempts = 0;
    let report = loop {
        match projections::rebuild(&db.database, log.as_ref(), ReadModel::Users, |_| {}).await {
            Err(projections::ProjectionError::Busy(_)) if attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => break other.expect("rebuild"),
        }
    };
    assert_eq!(report.events, 50, "30 creations and 10 approve+delete pairs");
    let after =
        summary(read::users_by_ids(&read::Reader::Whole(db.database.clone()), &ids).await.expect("read"));
    assert_eq!(before, after);
}

/// Two "processes" (two runtimes of projectors) on one Postgres database: one leads, the other
/// stands by and mirrors its progress; when the leader stops, the standby takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_when_the_leader_stops() {
    let Some(db) = testing::postgres("a_standby_takes_over_when_the_leader_stops").await else { return };
    let log = db.database.event_log();
    let (company_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());
    let leader = projections::spawn_all(db.database.clone(), Arc::clone(&log));
    let first = append(log.as_ref(), user_id, 0, &[user_created(company_id, "bob")]).await;
    assert!(leader.progress.wait_for(first, WAIT).await);
    let standby = projections::spawn_all(db.database.clone(), Arc::clone(&log));
    assert!(standby.progress.wait_for(first, WAIT).await, "the standby mirrors the leader's checkpoint");

    let eventlog::Database::Postgres(pool) = &db.database else { unreachable!("postgres() gives Postgres") };
    let held: i64 = sqlx::query_scalar(
        "select count(*) from pg_locks where locktype = 'advisory' and granted \
         and database = (select oid from pg_database where datname = current_database())",
    )
    .fetch_one(pool)
    .await
    .expect("pg_locks");
    assert_eq!(held, ReadModel::ALL.len() as i64, "one lock per read model, all held by the first process");

    leader.stop().await;
    let second = append(log.as_ref(), user_id, 1, &[user::Event::UserApproved {}]).await;
    assert!(standby.progress.wait_for(second, WAIT).await, "the standby did not take over");
    assert!(user_row(&db, user_id).await.expect("projected").state.approved);
    standby.stop().await;
}
