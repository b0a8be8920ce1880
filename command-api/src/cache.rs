//! Aggregates kept in memory between commands, so a command does not re-read its stream.
//!
//! The cache is trusted optimistically for the command's own target: if another process
//! appended meanwhile, the append's version check fails, the stream's new events are read,
//! and the command is decided again. Aggregates a command only looks at (the role it assigns,
//! the company it creates a user in) are brought up to date before every use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::EventPayload;
use eventlog::{Database, EventLog};
use futures::future::BoxFuture;
use uuid::Uuid;

use crate::error::ApiError;

/// Entries kept per aggregate kind before the cache starts over (bounded memory).
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Default)]
pub struct Loaded<S> {
    pub state: S,
    pub version: i64,
    /// Position of the stream's last event (0 for a stream with none).
    pub position: i64,
}

pub struct Cache<S, E> {
    category: &'static str,
    evolve: fn(S, &E) -> S,
    entries: Mutex<HashMap<Uuid, Loaded<S>>>,
}

impl<S: Clone + Default, E: EventPayload> Cache<S, E> {
    pub fn new(category: &'static str, evolve: fn(S, &E) -> S) -> Self {
        Cache { category, evolve, entries: Mutex::new(HashMap::new()) }
    }

    pub fn stream_id(&self, id: Uuid) -> String {
        domain::stream_id(self.category, id)
    }

    /// The aggregate's `evolve`, to fold events the cache has not seen yet.
    pub fn evolve(&self) -> fn(S, &E) -> S {
        self.evolve
    }

    fn cached(&self, id: Uuid) -> Option<Loaded<S>> {
        self.entries.lock().ok()?.get(&id).cloned()
    }

    fn store(&self, id: Uuid, loaded: &Loaded<S>) {
        if let Ok(mut entries) = self.entries.lock() {
            // Versions only grow: a reader or a command that finished late must not put an older
            // state back over a newer one (every command on it would then conflict once more).
            if entries.get(&id).is_some_and(|cached| cached.version > loaded.version) {
                return;
            }
            if entries.len() >= CAPACITY && !entries.contains_key(&id) {
                entries.clear();
            }
            entries.insert(id, loaded.clone());
        }
    }

    /// The cached aggregate, or the stream folded from the log when it is not cached.
    pub async fn load(&self, log: &dyn EventLog, id: Uuid) -> Result<Loaded<S>, ApiError> {
        match self.cached(id) {
            Some(loaded) => Ok(loaded),
            None => self.refresh(log, id).await,
        }
    }

    /// The aggregate with every event the log has for it.
    pub async fn refresh(&self, log: &dyn EventLog, id: Uuid) -> Result<Loaded<S>, ApiError> {
        let mut loaded = self.cached(id).unwrap_or_default();
        let events = log.read_stream(&self.stream_id(id), loaded.version).await?;
        for event in &events {
            let payload: E = event.payload().map_err(|error| {
                tracing::error!(%error, stream = %event.stream_id, version = event.version, "undecodable event");
                ApiError::Internal
            })?;
            loaded.state = (self.evolve)(std::mem::take(&mut loaded.state), &payload);
            loaded.version = event.version;
            loaded.position = event.position;
        }
        if loaded.version > 0 {
            self.store(id, &loaded);
        }
        Ok(loaded)
    }

    /// Records events this process just appended, so the next command need not read them.
    pub fn applied(&self, id: Uuid, mut loaded: Loaded<S>, events: &[E], version: i64, position: i64) {
        for event in events {
            loaded.state = (self.evolve)(std::mem::take(&mut loaded.state), event);
        }
        loaded.version = version;
        loaded.position = position;
        self.store(id, &loaded);
    }
}

/// What is asked of a cache by stream id alone, whatever its aggregate.
trait StreamCache: Send + Sync {
    /// The version the cache holds the aggregate at, if it holds it.
    fn version(&self, id: Uuid) -> Option<i64>;
    /// [`Cache::refresh`], its result dropped.
    fn reload<'a>(&'a self, log: &'a dyn EventLog, id: Uuid) -> BoxFuture<'a, Result<(), ApiError>>;
}

impl<S, E> StreamCache for Cache<S, E>
where
    S: Clone + Default + Send + Sync,
    E: EventPayload,
{
    fn version(&self, id: Uuid) -> Option<i64> {
        self.entries.lock().ok()?.get(&id).map(|loaded| loaded.version)
    }

    fn reload<'a>(&'a self, log: &'a dyn EventLog, id: Uuid) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move { self.refresh(log, id).await.map(drop) })
    }
}

/// The caches of every aggregate kind.
/// How long what the command API hands out lasts.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Invitation and password-reset tokens.
    pub token_ttl: chrono::TimeDelta,
    /// Sign-in sessions.
    pub session_ttl: chrono::TimeDelta,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { token_ttl: chrono::TimeDelta::minutes(15), session_ttl: chrono::TimeDelta::hours(12) }
    }
}

pub struct Aggregates {
    pub log: Arc<dyn EventLog>,
    pub settings: Settings,
    /// The server's key for PIN hashes (derived from the operator token, so every process of
    /// one deployment has it).
    pub pin_key: [u8; 32],
    /// The log's database, for the attachments stored beside it.
    pub database: Database,
    pub companies: Cache<domain::company::State, domain::company::Event>,
    pub roles: Cache<domain::role::State, domain::role::Event>,
    pub users: Cache<domain::user::State, domain::user::Event>,
    pub groups: Cache<domain::group::State, domain::group::Event>,
    pub tickets: Cache<domain::ticket::State, domain::ticket::Event>,
    pub imports: Cache<domain::import::State, domain::import::Event>,
}

impl Aggregates {
    pub fn new(log: Arc<dyn EventLog>, database: Database, settings: Settings, pin_key: [u8; 32]) -> Self {
        use domain::{company, group, import, role, ticket, user};
        Aggregates {
            log,
            settings,
            pin_key,
            database,
            companies: Cache::new(company::CATEGORY, company::evolve),
            roles: Cache::new(role::CATEGORY, role::evolve),
            users: Cache::new(user::CATEGORY, user::evolve),
            groups: Cache::new(group::CATEGORY, group::evolve),
            tickets: Cache::new(ticket::CATEGORY, ticket::evolve),
            imports: Cache::new(import::CATEGORY, import::evolve),
        }
    }

    /// The cache of a stream category's aggregates.
    fn cache_of(&self, category: &str) -> Option<&dyn StreamCache> {
        Some(match category {
            domain::user::CATEGORY => &self.users,
            domain::role::CATEGORY => &self.roles,
            domain::company::CATEGORY => &self.companies,
            domain::group::CATEGORY => &self.groups,
            domain::ticket::CATEGORY => &self.tickets,
            domain::import::CATEGORY => &self.imports,
            _ => return None,
        })
    }

    /// The version the cache holds `stream_id` at, if it holds it.
    pub fn cached_version(&self, stream_id: &str) -> Option<i64> {
        let (category, id) = domain::parse_stream_id(stream_id)?;
        self.cache_of(category)?.version(id)
    }

    /// Reads the new events of `stream_id` into its cache (after another writer appended).
    pub async fn refresh_stream(&self, stream_id: &str) -> Result<(), ApiError> {
        let Some((category, id)) = domain::parse_stream_id(stream_id) else { return Ok(()) };
        match self.cache_of(category) {
            Some(cache) => cache.reload(self.log.as_ref(), id).await,
            None => Ok(()),
        }
    }
}
