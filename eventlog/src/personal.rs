//! Personal data in the log (crypto-shredding). [`PersonalData`] wraps an adapter: on the way in
//! it seals every personal field (what [`domain::personal`] names) with the key of the person it
//! belongs to, before the adapter hashes and stores the event; on the way out it opens them
//! again, or reads them as [`ERASED`] once that person's key is destroyed. The event that erases
//! a person (`UserDeleted`) destroys their key in its own transaction ([`AppendRequest::erase`]);
//! the request that begins a person's stream stores their new key in its transaction
//! ([`AppendRequest::new_keys`]), so a refused request leaves no key behind.
//!
//! A sealed value is `pii:v1:<subject>:<nonce ‖ ciphertext ‖ tag>` (AES-256-GCM; the subject's
//! 16 bytes and the sealed bytes in unpadded URL-safe base64, the shortest text JSON keeps
//! as is: every byte of it is stored, hashed and sent on every event); it is bound to its
//! event and field, so it does not open when copied elsewhere. The request's client
//! address and user agent are the acting person's: sealed with the acting user's key, or, when
//! nobody is signed in (a sign-in), with the key of the user whose stream is written; an
//! operator's stay readable. The stored bytes, and so the hash chain, never change: only the
//! key goes. Verification and the sealer read the stored bytes ([`EventLog::stored`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aes_gcm::{Aes256Gcm, KeyInit};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;
use chrono::{DateTime, Utc};
use domain::ActorKind;
pub use domain::personal::ERASED;
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use crate::vault::{self, VaultError};
use crate::{
    AppendError, AppendRequest, Appended, AuditQuery, Checkpoint, Database, EventLog, ExpectedVersion,
    Metadata, PreparedAppend, RecordedEvent, StoreError, StoredReply,
};

const PREFIX: &str = "pii:v1:";
/// Keys remembered for sealing; past this many the memory is dropped and refilled.
const CACHED_KEYS: usize = 100_000;
const METADATA_IP: &str = "metadata/clientIp";
const METADATA_AGENT: &str = "metadata/userAgent";

/// An event log that keeps personal data sealed at rest: see the module documentation.
pub struct PersonalData {
    inner: Arc<dyn EventLog>,
    database: Database,
    /// Live keys by subject, for sealing. (Opening always asks the vault, so a key destroyed by
    /// another process is never used to read.)
    keys: Mutex<HashMap<Uuid, [u8; 32]>>,
}

impl PersonalData {
    pub fn new(inner: Arc<dyn EventLog>, database: Database) -> Self {
        PersonalData { inner, database, keys: Mutex::new(HashMap::new()) }
    }

    /// The subject's key for sealing, made on first use; `None` once destroyed.
    async fn key(&self, subject: Uuid) -> Result<Option<[u8; 32]>, StoreError> {
        if let Some(key) = self.keys.lock().ok().and_then(|keys| keys.get(&subject).copied()) {
            return Ok(Some(key));
        }
        Ok(self.fetch_keys(&[subject]).await?.remove(&subject).flatten())
    }

    /// The subjects' sealing keys from the vault (made for those that have none), in a few
    /// queries whatever their number; the live ones are cached.
    async fn fetch_keys(&self, subjects: &[Uuid]) -> Result<HashMap<Uuid, Option<[u8; 32]>>, StoreError> {
        let fetched = vault::keys_for_sealing(&self.database, subjects).await.map_err(store_error)?;
        self.cache(fetched.iter().filter_map(|(subject, key)| Some((*subject, (*key)?))));
        Ok(fetched)
    }

    /// Remembers live keys for sealing.
    fn cache(&self, found: impl IntoIterator<Item = (Uuid, [u8; 32])>) {
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= CACHED_KEYS {
                keys.clear();
            }
            keys.extend(found);
        }
    }

    /// The sealing keys of the people whose personal fields a request carries (`None` for a
    /// destroyed one): remembered, read from the vault together, or made. A person whose stream
    /// the request begins and who has no key yet gets one made now and stored with the request
    /// (`new_keys`), in its transaction; anyone else without one, in the vault's own.
    async fn request_keys(
        &self,
        request: &mut AppendRequest,
    ) -> Result<HashMap<Uuid, Option<[u8; 32]>>, StoreError> {
        let mut begun = HashSet::new();
        let mut wanted: Vec<Uuid> = Vec::new();
        for write in &request.writes {
            let Some(subject) = domain::personal::subject_of(&write.stream_id) else { continue };
            let personal = write.events.iter().any(|event| {
                let fields = domain::personal::personal_fields(&event.event_type);
                event.data.as_object().is_some_and(|data| carries(fields, data))
            });
            if personal {
                wanted.push(subject);
                if write.expected == ExpectedVersion::Exact(0) {
                    begun.insert(subject);
                }
            }
        }
        let mut found: HashMap<Uuid, Option<[u8; 32]>> = HashMap::with_capacity(wanted.len());
        if let Ok(keys) = self.keys.lock() {
            found.extend(wanted.iter().filter_map(|subject| Some((*subject, Some(*keys.get(subject)?)))));
        }
        let mut missing: Vec<Uuid> =
            wanted.into_iter().filter(|subject| !found.contains_key(subject)).collect();
        if missing.is_empty() {
            return Ok(found);
        }
        missing.sort_unstable();
        missing.dedup();
        let stored = vault::keys_of(&self.database, &missing).await.map_err(store_error)?;
        self.cache(stored.iter().filter_map(|(subject, key)| Some((*subject, (*key)?))));
        found.extend(stored);
        let mut elsewhere = Vec::new();
        missing.retain(|subject| !found.contains_key(subject));
        for subject in missing {
            if begun.contains(&subject) {
                let key = vault::new_key().map_err(store_error)?;
                request.new_keys.push((subject, key));
                found.insert(subject, Some(key));
            } else {
                elsewhere.push(subject);
            }
        }
        if !elsewhere.is_empty() {
            found.extend(self.fetch_keys(&elsewhere).await?);
        }
        Ok(found)
    }

    /// Seals the request's personal fields and names the people it erases.
    async fn seal_request(&self, request: &mut AppendRequest) -> Result<(), StoreError> {
        let keys = &self.request_keys(request).await?;
        let key_of = |subject: Uuid| async move {
            match keys.get(&subject) {
                Some(key) => Ok(*key),
                None => self.key(subject).await,
            }
        };
        for write in &mut request.writes {
            let Some(subject) = domain::personal::subject_of(&write.stream_id) else { continue };
            for event in &mut write.events {
                if domain::personal::erases(&event.event_type) && !request.erase.contains(&subject) {
                    request.erase.push(subject);
                }
                let fields = domain::personal::personal_fields(&event.event_type);
                let Some(data) = event.data.as_object_mut() else { continue };
                if !carries(fields, data) {
                    continue;
                }
                let key = key_of(subject).await?;
                for field in fields {
                    if let Some(Value::String(text)) = data.get_mut(*field) {
                        *text =
                            seal_text(key.as_ref(), subject, &format!("{}/{field}", event.event_id), text)?;
                    }
                }
            }
        }
        let metadata = &mut request.metadata;
        if metadata.client_ip.is_none() && metadata.user_agent.is_none() {
            return Ok(());
        }
        let person = match metadata.actor.kind {
            ActorKind::User => metadata.actor.id,
            ActorKind::System => {
                request.writes.iter().find_map(|write| domain::personal::subject_of(&write.stream_id))
            }
            ActorKind::Operator => None,
        };
        if let Some(subject) = person {
            let key = key_of(subject).await?;
            for (value, aad) in
                [(&mut metadata.client_ip, METADATA_IP), (&mut metadata.user_agent, METADATA_AGENT)]
            {
                if let Some(text) = value {
                    *text = seal_text(key.as_ref(), subject, aad, text)?;
                }
            }
        }
        Ok(())
    }

    async fn opened(
        &self,
        events: Result<Vec<RecordedEvent>, StoreError>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = events?;
        open(&self.database, &mut events).await?;
        Ok(events)
    }
}

/// Whether an event's `data` holds a value in one of its personal `fields` (a string: a
/// cleared field is `null`).
fn carries(fields: &[&str], data: &serde_json::Map<String, Value>) -> bool {
    fields.iter().any(|field| data.get(*field).is_some_and(Value::is_string))
}

fn store_error(error: VaultError) -> StoreError {
    match error {
        VaultError::Store(error) => error,
        other => StoreError::Corrupt { position: 0, reason: other.to_string() },
    }
}

/// `text` sealed for `subject` and the purpose `aad`; [`ERASED`] when the key is gone.
fn seal_text(key: Option<&[u8; 32]>, subject: Uuid, aad: &str, text: &str) -> Result<String, StoreError> {
    let Some(key) = key else { return Ok(ERASED.to_owned()) };
    let bytes = vault::encrypt(key, aad, text.as_bytes()).map_err(store_error)?;
    Ok(format!("{PREFIX}{}:{}", BASE64.encode(subject.as_bytes()), BASE64.encode(bytes)))
}

/// The subject of a sealed value, and its bytes.
fn parse_sealed(text: &str) -> Option<(Uuid, &str)> {
    let rest = text.strip_prefix(PREFIX)?;
    let (subject, bytes) = rest.split_once(':')?;
    let subject = Uuid::from_slice(&BASE64.decode(subject).ok()?).ok()?;
    Some((subject, bytes))
}

/// Where a sealed value sits in an event: its purpose is made from it only when it is opened.
enum Place<'a> {
    /// A top-level field of `data`.
    Data(&'a str),
    Metadata(&'static str),
}

impl Place<'_> {
    fn aad(&self, event_id: Uuid) -> String {
        match self {
            Place::Data(field) => format!("{event_id}/{field}"),
            Place::Metadata(aad) => (*aad).to_owned(),
        }
    }
}

/// Every sealed string of an event, with where it sits.
fn sealed_values(event: &mut RecordedEvent) -> Vec<(&mut String, Place<'_>)> {
    let mut found = Vec::new();
    if let Some(data) = event.data.as_object_mut() {
        for (field, value) in data.iter_mut() {
            if let Value::String(text) = value
                && text.starts_with(PREFIX)
            {
                found.push((text, Place::Data(field.as_str())));
            }
        }
    }
    let Metadata { client_ip, user_agent, .. } = &mut event.metadata;
    for (value, aad) in [(client_ip, METADATA_IP), (user_agent, METADATA_AGENT)] {
        if let Some(text) = value.as_mut().filter(|text| text.starts_with(PREFIX)) {
            found.push((text, Place::Metadata(aad)));
        }
    }
    found
}

/// Opens the personal fields of events read from the log in place: each reads as it was
/// written, or as [`ERASED`] when its person's key was destroyed. A sealed value that does not
/// open with its person's key is an error naming the event (the store was tampered with).
pub async fn open(database: &Database, events: &mut [RecordedEvent]) -> Result<(), StoreError> {
    let mut subjects = HashSet::new();
    for event in events.iter_mut() {
        for (text, _) in sealed_values(event) {
            subjects.extend(parse_sealed(text).map(|(subject, _)| subject));
        }
    }
    if subjects.is_empty() {
        return Ok(());
    }
    let subjects: Vec<Uuid> = subjects.into_iter().collect();
    let ciphers: HashMap<Uuid, Option<Aes256Gcm>> = vault::keys_of(database, &subjects)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|(subject, key)| (subject, key.map(|key| Aes256Gcm::new(&key.into()))))
        .collect();
    for event in events.iter_mut() {
        let (position, event_id) = (event.position, event.event_id);
        for (text, place) in sealed_values(event) {
            let aad = place.aad(event_id);
            let corrupt =
                |what: &str| StoreError::Corrupt { position, reason: format!("personal data {aad}: {what}") };
            let (subject, encoded) = parse_sealed(text).ok_or_else(|| corrupt("not a sealed value"))?;
            let plain = match ciphers.get(&subject) {
                None => return Err(corrupt("its person has no key")),
                Some(None) => ERASED.to_owned(),
                Some(Some(cipher)) => {
                    let bytes = BASE64.decode(encoded).map_err(|_| corrupt("not a sealed value"))?;
                    let opened = vault::decrypt(cipher, &aad, &bytes)
                        .ok_or_else(|| corrupt("does not open with its person's key (changed or moved)"))?;
                    String::from_utf8(opened).map_err(|_| corrupt("not text"))?
                }
            };
            *text = plain;
        }
    }
    Ok(())
}

#[async_trait]
impl EventLog for PersonalData {
    async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let prepared = self.prepare(request).await?;
        self.append_prepared(prepared).await
    }

    async fn prepare(&self, mut request: AppendRequest) -> Result<PreparedAppend, AppendError> {
        self.seal_request(&mut request).await?;
        Ok(PreparedAppend(request))
    }

    async fn append_prepared(
        &self,
        PreparedAppend(request): PreparedAppend,
    ) -> Result<Appended, AppendError> {
        let erased = request.erase.clone();
        let made = request.new_keys.clone();
        let count = request.event_count() as u64;
        let appended = self.inner.append(request).await?;
        metrics::counter!("portal_events_appended_total").increment(count);
        // Only now: a key whose append failed was never stored.
        self.cache(made);
        if !erased.is_empty()
            && let Ok(mut keys) = self.keys.lock()
        {
            for subject in &erased {
                keys.remove(subject);
            }
        }
        Ok(appended)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.opened(self.inner.read_stream(stream_id, after_version).await).await
    }

    async fn read_all(&self, after: Checkpoint, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.opened(self.inner.read_all(after, limit).await).await
    }

    async fn read_all_of(
        &self,
        after: Checkpoint,
        limit: i64,
        categories: &[&str],
    ) -> Result<(Vec<RecordedEvent>, Checkpoint), StoreError> {
        let (events, reached) = self.inner.read_all_of(after, limit, categories).await?;
        Ok((self.opened(Ok(events)).await?, reached))
    }

    async fn checkpoint_of(&self, position: i64) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.checkpoint_of(position).await
    }

    async fn idempotent_reply(&self, scope: &str, key: &str) -> Result<Option<StoredReply>, StoreError> {
        self.inner.idempotent_reply(scope, key).await
    }

    async fn claim_owner(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.claim_owner(key).await
    }

    async fn claim_owners(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        self.inner.claim_owners(keys).await
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<RecordedEvent>, StoreError> {
        self.opened(self.inner.audit(query).await).await
    }

    async fn read_stream_until(
        &self,
        stream_id: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.opened(self.inner.read_stream_until(stream_id, until).await).await
    }

    fn subscribe(&self) -> watch::Receiver<i64> {
        self.inner.subscribe()
    }

    fn stored(&self) -> &dyn EventLog {
        self.inner.stored()
    }
}
