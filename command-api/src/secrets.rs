//! Passwords and tokens: argon2id hashing off the async runtime, random tokens, and the
//! SHA-256 under which tokens are stored. Nothing here logs or stores a plain secret.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// OWASP's argon2id parameters: 19 MiB, 2 iterations, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// The PHC parameter string of hashes made now; a stored hash with other parameters is made
/// again at the user's next successful sign-in.
const CURRENT: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// Argon2 runs at a time: each takes 19 MiB and about 25 ms of a core, so a flood of sign-ins
/// queues here instead of taking every core and all the memory it asks for.
static ARGON2_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    tokio::sync::Semaphore::new(cores * 2)
});

/// Hashes a password on a blocking thread (about 20 ms of one core), so that a burst of
/// sign-ins does not stall the requests sharing the async workers.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    let _slot = ARGON2_SLOTS.acquire().await.map_err(|_| ApiError::Internal)?;
    tokio::task::spawn_blocking(move || {
        argon2().hash_password(password.as_bytes()).map(|hash| hash.to_string()).map_err(|error| {
            tracing::error!(%error, "argon2 failed to hash a password");
            ApiError::Internal
        })
    })
    .await
    .map_err(|_| ApiError::Internal)?
}

/// Whether `password` matches `hash`, on a blocking thread. Without a hash (no such user, or no
/// password yet) a dummy hash is checked, so the answer takes as long either way.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    let Ok(_slot) = ARGON2_SLOTS.acquire().await else { return false };
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY.to_owned());
        let matches = if is_bcrypt(&hash) {
            // Imported from another system; hashed again with argon2 at this sign-in.
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        } else {
            argon2().verify_password(password.as_bytes(), hash.as_str()).is_ok()
        };
        known && matches
    })
    .await
    .unwrap_or(false)
}

/// The hash of "dummy-password-never-valid" with the current parameters.
const DUMMY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0l8Yz2w3VJ9j0f7Kx0s0qk3b2GQn3+Yb5Vq6cV7JZ4M";

/// Whether a stored hash was made with other parameters than today's.
pub fn needs_rehash(hash: &str) -> bool {
    !hash.starts_with(CURRENT)
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"].iter().any(|prefix| hash.starts_with(prefix))
}

/// Whether `hash` is a password hash the portal can check a password against: an argon2 PHC
/// string, or a bcrypt hash (`$2b$12$…`). Otherwise what is wrong with it.
pub fn known_hash(hash: &str) -> Result<(), String> {
    if is_bcrypt(hash) {
        return hash
            .parse::<bcrypt::HashParts>()
            .map(drop)
            .map_err(|_| "is not a well-formed bcrypt hash ($2b$<cost>$ and 53 characters)".to_owned());
    }
    match argon2::password_hash::phc::PasswordHash::new(hash) {
        Ok(parsed) if parsed.algorithm.as_str().starts_with("argon2") && parsed.hash.is_some() => Ok(()),
        _ => Err("must be an argon2 PHC string ($argon2id$v=19$…) or a bcrypt hash ($2b$…)".to_owned()),
    }
}

/// A new random token: 32 bytes, hex.
pub fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::Internal)?;
    Ok(hex::encode(bytes))
}

/// A new random 6-digit PIN.
pub fn new_pin() -> Result<String, ApiError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::Internal)?;
    Ok(format!("{:06}", u64::from_le_bytes(bytes) % 1_000_000))
}

/// How a PIN is stored: SHA-256 of the server's key, the challenge and the PIN. A PIN has only a
/// million values, so a plain hash in the audit trail could be reversed by anyone who reads it.
pub fn pin_hash(key: &[u8; 32], challenge_id: uuid::Uuid, pin: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(challenge_id.as_bytes());
    hasher.update(pin.trim().as_bytes());
    hex::encode(hasher.finalize())
}

/// How a token is stored: SHA-256, hex (a token has 256 random bits).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse 1".to_owned()).await.expect("hash");
        assert!(hash.starts_with(CURRENT), "{hash}");
        assert!(!needs_rehash(&hash));
        assert!(verify_password("correct horse 1".to_owned(), Some(hash.clone())).await);
        assert!(!verify_password("correct horse 2".to_owned(), Some(hash.clone())).await);
        assert!(!verify_password("correct horse 1".to_owned(), None).await);
        assert!(!verify_password("anything".to_owned(), Some("not a hash".to_owned())).await);
        let other = hash_password("correct horse 1".to_owned()).await.expect("hash");
        assert_ne!(hash, other, "every hash has its own salt");
    }

    #[test]
    fn tokens_and_pins_are_random_and_stored_hashed() {
        let (first, second) = (new_token().expect("token"), new_token().expect("token"));
        assert_eq!(first.len(), 64);
        assert_ne!(first, second);
        assert_ne!(token_hash(&first), first);
        assert_eq!(token_hash(&first), token_hash(&format!(" {first} ")));
        let challenge = uuid::Uuid::now_v7();
        assert_ne!(pin_hash(&[1; 32], challenge, "123456"), pin_hash(&[2; 32], challenge, "123456"), "keyed");
        assert_ne!(pin_hash(&[1; 32], challenge, "123456"), token_hash("123456"));
        let pin = new_pin().expect("pin");
        assert!(pin.len() == 6 && pin.chars().all(|c| c.is_ascii_digit()), "{pin}");
    }
}
