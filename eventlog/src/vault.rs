//! The key vault: one AES-256-GCM key per subject (a user), kept beside the log and never in
//! it. An event that must carry a secret or personal data carries it sealed with its subject's
//! key; destroying the key ([`shred`]) makes every such value unreadable for good, while the
//! events, and any hash over them, stay exactly as they were.
//!
//! A sealed value is `v1:` and the hex of a random 12-byte nonce followed by the ciphertext and
//! its tag. The caller names what the value is for (`aad`, e.g. `totp:user-<id>`): a sealed
//! value copied into another field or another user's event does not open there.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Database, StoreError, with_reader, with_writer};

const PREFIX: &str = "v1:";

/// Ends an `insert into vault_keys (subject, key, created_at, shredded_at)` of a destroyed key:
/// a subject that had a key loses it, one that had none gets a tombstone (nothing can be sealed
/// for them later), and one already destroyed keeps its first destruction time.
pub(crate) const SHRED_ON_CONFLICT: &str = "on conflict (subject) do update set key = null, \
     shredded_at = coalesce(vault_keys.shredded_at, excluded.shredded_at)";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The subject's key was destroyed: nothing can be sealed for it any more.
    #[error("the key of {0} was destroyed")]
    Shredded(Uuid),
    /// Not a value this vault sealed for this subject and purpose.
    #[error("a sealed value does not open: {0}")]
    Corrupt(&'static str),
    #[error("the system's random number generator failed")]
    Random,
}

impl From<sqlx::Error> for VaultError {
    fn from(error: sqlx::Error) -> Self {
        VaultError::Store(StoreError::Database(error))
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    subject: Uuid,
    key: Option<Vec<u8>>,
}

/// The vault's keys of these subjects: `None` for a destroyed one; absent if never made.
pub(crate) async fn keys_of(
    database: &Database,
    subjects: &[Uuid],
) -> Result<HashMap<Uuid, Option<[u8; 32]>>, VaultError> {
    let mut keys = HashMap::with_capacity(subjects.len());
    for chunk in subjects.chunks(500) {
        let rows: Vec<KeyRow> = with_reader!(database, |pool| {
            let mut builder =
                sqlx::QueryBuilder::new("select subject, key from vault_keys where subject in (");
            let mut separated = builder.separated(", ");
            for subject in chunk {
                separated.push_bind(*subject);
            }
            builder.push(")");
            builder.build_query_as().fetch_all(pool).await?
        });
        for row in rows {
            let key = row
                .key
                .map(|key| {
                    <[u8; 32]>::try_from(key.as_slice()).map_err(|_| VaultError::Corrupt("key length"))
                })
                .transpose()?;
            keys.insert(row.subject, key);
        }
    }
    Ok(keys)
}

/// The subject's key: `Some(None)` once destroyed, `None` if it never had one.
async fn key_of(database: &Database, subject: Uuid) -> Result<Option<Option<[u8; 32]>>, VaultError> {
    Ok(keys_of(database, &[subject]).await?.remove(&subject))
}

/// The subject's key, made on first use. Two callers racing both end up with the one stored.
pub(crate) async fn key_for_sealing(database: &Database, subject: Uuid) -> Result<[u8; 32], VaultError> {
    keys_for_sealing(database, &[subject])
        .await?
        .remove(&subject)
        .flatten()
        .ok_or(VaultError::Shredded(subject))
}

/// The keys of many subjects for sealing, made for those that have none, in three queries
/// whatever their number: `None` for a subject whose key was destroyed.
pub(crate) async fn keys_for_sealing(
    database: &Database,
    subjects: &[Uuid],
) -> Result<HashMap<Uuid, Option<[u8; 32]>>, VaultError> {
    let mut keys = keys_of(database, subjects).await?;
    let missing: Vec<Uuid> = subjects.iter().filter(|subject| !keys.contains_key(subject)).copied().collect();
    if missing.is_empty() {
        return Ok(keys);
    }
    let now = Utc::now();
    for chunk in missing.chunks(500) {
        let mut made = Vec::with_capacity(chunk.len());
        for subject in chunk {
            made.push((*subject, new_key()?));
        }
        with_writer!(database, |pool| {
            let mut builder = sqlx::QueryBuilder::new("insert into vault_keys (subject, key, created_at) ");
            builder.push_values(&made, |mut row, (subject, key)| {
                row.push_bind(*subject).push_bind(key.as_slice()).push_bind(now);
            });
            // Two callers racing both end up with the one stored.
            builder.push(" on conflict (subject) do nothing");
            builder.build().execute(pool).await?;
        });
    }
    keys.extend(keys_of(database, &missing).await?);
    Ok(keys)
}

/// A new random key.
pub(crate) fn new_key() -> Result<[u8; 32], VaultError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|_| VaultError::Random)?;
    Ok(key)
}

/// `plaintext` encrypted for the purpose `aad`: a random nonce followed by the ciphertext and
/// its tag. Every sealed value of the vault, whatever its text form, is these bytes.
pub(crate) fn encrypt(key: &[u8; 32], aad: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| VaultError::Random)?;
    let sealed = Aes256Gcm::new(key.into())
        .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: aad.as_bytes() })
        .map_err(|_| VaultError::Corrupt("encryption failed"))?;
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    Ok(bytes)
}

/// Opens bytes made by [`encrypt`] with the same key and purpose; `None` if they do not open.
pub(crate) fn decrypt(cipher: &Aes256Gcm, aad: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    cipher.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: aad.as_bytes() }).ok()
}

/// Seals `plaintext` with the subject's key, for the purpose `aad`.
pub async fn seal(
    database: &Database,
    subject: Uuid,
    aad: &str,
    plaintext: &[u8],
) -> Result<String, VaultError> {
    let key = key_for_sealing(database, subject).await?;
    Ok(format!("{PREFIX}{}", hex::encode(encrypt(&key, aad, plaintext)?)))
}

/// Opens a value sealed by [`seal`] for the same subject and purpose; `None` when the subject's
/// key was destroyed (the value is erased).
pub async fn unseal(
    database: &Database,
    subject: Uuid,
    aad: &str,
    sealed: &str,
) -> Result<Option<Vec<u8>>, VaultError> {
    let bytes = sealed
        .strip_prefix(PREFIX)
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or(VaultError::Corrupt("not a sealed value"))?;
    let key = match key_of(database, subject).await? {
        Some(Some(key)) => key,
        Some(None) => return Ok(None),
        None => return Err(VaultError::Corrupt("its subject has no key")),
    };
    decrypt(&Aes256Gcm::new(&key.into()), aad, &bytes)
        .map(Some)
        .ok_or(VaultError::Corrupt("wrong key, purpose or bytes"))
}

/// Destroys the subject's key for good; `false` if it had none or it was already destroyed.
pub async fn shred(database: &Database, subject: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let destroyed = with_writer!(database, |pool| {
        sqlx::query(
            "update vault_keys set key = null, shredded_at = $2 where subject = $1 and shredded_at is null",
        )
        .bind(subject)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(destroyed > 0)
}
