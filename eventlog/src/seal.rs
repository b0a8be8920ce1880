//! Tamper evidence, part two: the seals, and verification.
//!
//! The sealer reads the log in commit order and checks each event's link in its stream's chain
//! (its version follows the stream's last one; its hash is the hash of its content after the
//! previous one). It then folds the event into a running hash,
//! `head = SHA-256(previous head ‖ position ‖ event hash)`, and stores a seal: how far it
//! reached, how many events, and the head. Seals are written once (the database refuses
//! changes). An event edited in place breaks its link; one edited together with every hash after
//! it, a stream's removed tail, a removed stream or a reordering change the running hash of the
//! seals that covered them.
//!
//! [`verify`] recomputes all of it from the first event: every link, and every seal's head.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::chain::EventContent;
use crate::{Checkpoint, Database, EventLog, RecordedEvent, StoreError, with_reader, with_writer};

/// Events read per batch while sealing or verifying.
const BATCH: i64 = 10_000;
/// Most events one seal covers.
pub const SEAL_EVERY: u64 = 10_000;
/// The head before the first seal.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Seal {
    pub sequence: i64,
    pub up_to_tx: i64,
    pub up_to_position: i64,
    /// Events this seal covers (after the previous one).
    pub events: i64,
    /// Events sealed so far, this seal's included.
    pub total_events: i64,
    pub head: String,
    pub sealed_at: DateTime<Utc>,
}

impl Seal {
    pub fn up_to(&self) -> Checkpoint {
        Checkpoint { tx: self.up_to_tx, position: self.up_to_position }
    }
}

/// The first thing wrong, as precisely as it can be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub stream_id: Option<String>,
    pub version: Option<i64>,
    pub position: Option<i64>,
    pub what: String,
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(stream_id) = &self.stream_id {
            write!(f, "stream {stream_id}")?;
        }
        if let Some(version) = self.version {
            write!(f, " version {version}")?;
        }
        if let Some(position) = self.position {
            write!(f, " position {position}")?;
        }
        if self.stream_id.is_some() || self.position.is_some() {
            write!(f, ": ")?;
        }
        write!(f, "{}", self.what)
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Verified {
        events: u64,
        /// The running hash over every event.
        head: String,
        seals: u64,
        /// Events after the last seal (their links checked; no seal vouches for them yet).
        unsealed: u64,
        /// Events stored before the hash chain existed (no link to check).
        unchained: u64,
    },
    Broken(BrokenLink),
}

/// Folds one event into the running hash.
pub fn next_head(head: &str, position: i64, event_hash: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(head.as_bytes());
    hasher.update(position.to_be_bytes());
    hasher.update(event_hash.as_bytes());
    hex::encode(hasher.finalize())
}

/// Checks links event by event, in commit order.
struct Links {
    streams: HashMap<String, (i64, Option<String>)>,
}

impl Links {
    /// Past this many streams the sealer forgets them and looks up predecessors again.
    const CAPACITY: usize = 500_000;

    fn broken(event: &RecordedEvent, what: String) -> BrokenLink {
        BrokenLink {
            stream_id: Some(event.stream_id.clone()),
            version: Some(event.version),
            position: Some(event.position),
            what,
        }
    }

    /// `previous`: the stream's event before this one, as stored (`None` for version 1).
    fn check(event: &RecordedEvent, previous: Option<(i64, Option<&str>)>) -> Result<bool, BrokenLink> {
        let expected_version = previous.map_or(1, |(version, _)| version + 1);
        if event.version != expected_version {
            return Err(Self::broken(
                event,
                format!(
                    "expected version {expected_version} of the stream here: events are missing or moved"
                ),
            ));
        }
        let Some(stored) = &event.hash else { return Ok(false) };
        let computed = EventContent::of_recorded(event).hash(previous.and_then(|(_, hash)| hash));
        if &computed != stored {
            return Err(Self::broken(
                event,
                "its content does not match its hash (the event, or the one before it in its stream, was changed)"
                    .to_owned(),
            ));
        }
        Ok(true)
    }

    /// Checks `event` against the stream's previous event, which it remembers or reads.
    async fn follow(&mut self, log: &dyn EventLog, event: &RecordedEvent) -> Result<bool, SealError> {
        let log = log.stored();
        let remembered = self.streams.get(&event.stream_id).cloned();
        let previous = match remembered {
            Some(previous) => Some(previous),
            None if event.version <= 1 => None,
            None => log
                .read_stream(&event.stream_id, event.version - 2)
                .await?
                .into_iter()
                .find(|e| e.version == event.version - 1)
                .map(|e| (e.version, e.hash)),
        };
        let chained = Self::check(event, previous.as_ref().map(|(v, h)| (*v, h.as_deref())))
            .map_err(SealError::Broken)?;
        if self.streams.len() >= Self::CAPACITY {
            self.streams.clear();
        }
        self.streams.insert(event.stream_id.clone(), (event.version, event.hash.clone()));
        Ok(chained)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the log is broken at {0}")]
    Broken(BrokenLink),
}

impl From<sqlx::Error> for SealError {
    fn from(error: sqlx::Error) -> Self {
        SealError::Store(StoreError::Database(error))
    }
}

const SEAL_COLUMNS: &str = "select sequence, up_to_tx, up_to_position, events, total_events, head, sealed_at \
     from audit_seals";

/// The newest seal, if any.
pub async fn last_seal(database: &Database) -> Result<Option<Seal>, StoreError> {
    let sql = format!("{SEAL_COLUMNS} order by sequence desc limit 1");
    let seal = with_reader!(database, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_optional(pool).await?
    });
    Ok(seal)
}

async fn all_seals(database: &Database) -> Result<Vec<Seal>, StoreError> {
    let sql = format!("{SEAL_COLUMNS} order by sequence");
    let seals =
        with_reader!(database, |pool| { sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? });
    Ok(seals)
}

/// Events stored after `position`.
pub async fn events_after(database: &Database, position: i64) -> Result<i64, StoreError> {
    let count = with_reader!(database, |pool| {
        sqlx::query_scalar("select count(*) from events where position > $1")
            .bind(position)
            .fetch_one(pool)
            .await?
    });
    Ok(count)
}

/// The access events ([`domain::user::ACCESS_EVENTS`]) recorded at or before `until` of every
/// user created in `company_id` or moved between companies by then, ordered by stream and
/// version: the history `accessAsOf` folds, in one query. The types are written into the SQL as
/// literals so that the partial indexes of the "access history" migration serve it: a user's
/// profile changes, however many, are never read.
pub async fn access_history(
    database: &Database,
    company_id: uuid::Uuid,
    until: DateTime<Utc>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let select = match database {
        Database::Sqlite { .. } => crate::row::EVENT_COLUMNS.replace("$TX", "position"),
        Database::Postgres(_) => crate::row::EVENT_COLUMNS.replace("$TX", "tx_id::text::bigint"),
    };
    let types: Vec<String> = domain::user::ACCESS_EVENTS.iter().map(|t| format!("'{t}'")).collect();
    let sql = format!(
        "select {select} from events where event_type in ({types}) and recorded_at <= $2 and stream_id in \
         (select stream_id from events where event_type = 'UserCreated' and company_id = $1 and recorded_at <= $2 \
          union select stream_id from events where event_type = 'OwnershipConfirmed' and recorded_at <= $2) \
         order by stream_id, version",
        types = types.join(", ")
    );
    let rows: Vec<crate::row::EventRow> = with_reader!(database, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(company_id).bind(until).fetch_all(pool).await?
    });
    let mut events = crate::row::into_events(rows)?;
    crate::personal::open(database, &mut events).await?;
    Ok(events)
}

/// The sealer's state between rounds.
pub struct Sealer {
    links: Links,
}

impl Default for Sealer {
    fn default() -> Self {
        Sealer { links: Links { streams: HashMap::new() } }
    }
}

impl Sealer {
    /// Seals what was committed since the last seal (up to [`SEAL_EVERY`] events), after checking
    /// each event's link. `None` when there was nothing new, or another process sealed it first.
    pub async fn seal_next(
        &mut self,
        log: &dyn EventLog,
        database: &Database,
    ) -> Result<Option<Seal>, SealError> {
        // The chain covers the bytes as stored, personal fields sealed.
        let log = log.stored();
        let last = last_seal(database).await?;
        let (mut after, mut head, sequence, total) = match &last {
            Some(seal) => (seal.up_to(), seal.head.clone(), seal.sequence + 1, seal.total_events),
            None => (Checkpoint::START, GENESIS.to_owned(), 1, 0),
        };
        let mut covered: u64 = 0;
        while covered < SEAL_EVERY {
            let limit = BATCH.min((SEAL_EVERY - covered) as i64);
            let events = log.read_all(after, limit).await?;
            if events.is_empty() {
                break;
            }
            for event in &events {
                self.links.follow(log, event).await?;
                head = next_head(&head, event.position, event.hash.as_deref().unwrap_or_default());
                after = event.checkpoint;
                covered += 1;
            }
            if (events.len() as i64) < limit {
                break;
            }
        }
        if covered == 0 {
            return Ok(None);
        }
        let seal = Seal {
            sequence,
            up_to_tx: after.tx,
            up_to_position: after.position,
            events: covered as i64,
            total_events: total + covered as i64,
            head,
            sealed_at: Utc::now(),
        };
        let inserted = with_writer!(database, |pool| {
            sqlx::query(
                "insert into audit_seals (sequence, up_to_tx, up_to_position, events, total_events, head, sealed_at) \
                 values ($1, $2, $3, $4, $5, $6, $7) on conflict (sequence) do nothing",
            )
            .bind(seal.sequence)
            .bind(seal.up_to_tx)
            .bind(seal.up_to_position)
            .bind(seal.events)
            .bind(seal.total_events)
            .bind(&seal.head)
            .bind(seal.sealed_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok((inserted > 0).then_some(seal))
    }

    /// Seals everything committed so far.
    pub async fn seal_all(&mut self, log: &dyn EventLog, database: &Database) -> Result<u64, SealError> {
        let mut seals = 0;
        while self.seal_next(log, database).await?.is_some() {
            seals += 1;
        }
        Ok(seals)
    }
}

/// Where a verification has got to.
struct Walk<'a> {
    seals: &'a [Seal],
    /// The next seal to reach.
    next_seal: usize,
    links: Links,
    head: String,
    events: u64,
    unchained: u64,
    since_seal: u64,
}

impl Walk<'_> {
    fn seal_broken(seal: &Seal, what: String) -> Verification {
        Verification::Broken(BrokenLink {
            stream_id: None,
            version: None,
            position: Some(seal.up_to_position),
            what: format!("seal {}: {what}", seal.sequence),
        })
    }

    /// Checks one page of events in commit order; the verdict if something is broken.
    fn check(&mut self, batch: &[RecordedEvent]) -> Option<Verification> {
        for event in batch {
            if let Some(seal) = self.seals.get(self.next_seal)
                && event.checkpoint > seal.up_to()
            {
                return Some(Self::seal_broken(
                    seal,
                    "the event it ends at is missing, or events were moved".to_owned(),
                ));
            }
            let previous = self.links.streams.get(&event.stream_id).map(|(v, h)| (*v, h.as_deref()));
            match Links::check(event, previous) {
                Ok(true) => {}
                Ok(false) => self.unchained += 1,
                Err(broken) => return Some(Verification::Broken(broken)),
            }
            self.links.streams.insert(event.stream_id.clone(), (event.version, event.hash.clone()));
            self.head = next_head(&self.head, event.position, event.hash.as_deref().unwrap_or_default());
            self.events += 1;
            self.since_seal += 1;
            let Some(seal) = self.seals.get(self.next_seal).filter(|seal| event.checkpoint == seal.up_to())
            else {
                continue;
            };
            if self.since_seal as i64 != seal.events || self.events as i64 != seal.total_events {
                return Some(Self::seal_broken(
                    seal,
                    format!(
                        "it covered {} events ({} in all), the log now has {} ({} in all) there: events were removed or added",
                        seal.events, seal.total_events, self.since_seal, self.events
                    ),
                ));
            }
            if seal.head != self.head {
                return Some(Self::seal_broken(
                    seal,
                    "the events it covered are not the ones sealed (changed, removed, added or reordered)"
                        .to_owned(),
                ));
            }
            self.next_seal += 1;
            self.since_seal = 0;
        }
        None
    }
}

/// Recomputes every link and every seal from the first event; `progress` hears the count of
/// events checked after each batch. Each page is checked while the database reads the next.
pub async fn verify(
    log: &dyn EventLog,
    database: &Database,
    mut progress: impl FnMut(u64),
) -> Result<Verification, StoreError> {
    // The chain covers the bytes as stored, personal fields sealed.
    let log = log.stored();
    let seals = all_seals(database).await?;
    let mut walk = Walk {
        seals: &seals,
        next_seal: 0,
        links: Links { streams: HashMap::new() },
        head: GENESIS.to_owned(),
        events: 0,
        unchained: 0,
        since_seal: 0,
    };
    let mut batch = log.read_all(Checkpoint::START, BATCH).await?;
    loop {
        let more =
            (batch.len() as i64 == BATCH).then(|| batch.last().map(|event| event.checkpoint)).flatten();
        let (verdict, next) = match more {
            Some(after) => {
                // The read is polled first: its query is on its way before the page is checked.
                let (next, verdict) = tokio::join!(log.read_all(after, BATCH), async { walk.check(&batch) });
                (verdict, Some(next?))
            }
            None => (walk.check(&batch), None),
        };
        if let Some(verdict) = verdict {
            return Ok(verdict);
        }
        progress(walk.events);
        match next {
            Some(next) => batch = next,
            None => break,
        }
    }
    if let Some(seal) = seals.get(walk.next_seal) {
        return Ok(Walk::seal_broken(
            seal,
            "the events it covered are gone (the log ends before it)".to_owned(),
        ));
    }
    Ok(Verification::Verified {
        events: walk.events,
        head: walk.head,
        seals: seals.len() as u64,
        unsealed: walk.since_seal,
        unchained: walk.unchained,
    })
}

#[cfg(test)]
mod tests {
    /// The partial index of the "access history" migrations lists exactly the access events:
    /// a type missing from it would make `access_history` scan instead of use it.
    #[test]
    fn the_access_index_lists_the_access_events() {
        for migration in [
            include_str!("../../schemas/migrations/postgres/0012_access_history.sql"),
            include_str!("../../schemas/migrations/sqlite/0010_access_history.sql"),
        ] {
            let index = migration.lines().find(|line| line.contains("events_access_idx")).unwrap_or_default();
            let listed = index.matches('\'').count() / 2;
            assert_eq!(listed, domain::user::ACCESS_EVENTS.len(), "{index}");
            for event_type in domain::user::ACCESS_EVENTS {
                assert!(index.contains(&format!("'{event_type}'")), "{event_type} is not in {index}");
            }
        }
    }
}
