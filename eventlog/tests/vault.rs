//! The key vault, run against every adapter: a sealed value opens only for its own subject and
//! purpose, and never again once the subject's key is destroyed.

use chrono::Utc;
use eventlog::testing::TestDatabase;
use eventlog::{VaultError, seal, shred, unseal};
use uuid::Uuid;

async fn a_sealed_value_opens_for_its_subject_and_purpose_only(db: &TestDatabase) {
    let database = &db.database;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let secret = b"JBSWY3DPEHPK3PXP";
    let sealed = seal(database, alice, "totp", secret).await.expect("seal");
    assert!(sealed.starts_with("v1:"), "{sealed}");
    assert!(!sealed.contains("JBSWY3DPEHPK3PXP"), "sealed, not copied");
    let again = seal(database, alice, "totp", secret).await.expect("seal again");
    assert_ne!(sealed, again, "a fresh nonce each time");

    assert_eq!(unseal(database, alice, "totp", &sealed).await.expect("open"), Some(secret.to_vec()));
    assert_eq!(unseal(database, alice, "totp", &again).await.expect("open"), Some(secret.to_vec()));
    // Another purpose, another subject, or changed bytes: refused, never a wrong plaintext.
    assert!(matches!(unseal(database, alice, "email", &sealed).await, Err(VaultError::Corrupt(_))));
    seal(database, bob, "totp", b"other").await.expect("bob gets a key");
    assert!(matches!(unseal(database, bob, "totp", &sealed).await, Err(VaultError::Corrupt(_))));
    let mut flipped = sealed.clone();
    let last = flipped.pop().expect("not empty");
    flipped.push(if last == '0' { '1' } else { '0' });
    assert!(matches!(unseal(database, alice, "totp", &flipped).await, Err(VaultError::Corrupt(_))));
    assert!(matches!(unseal(database, alice, "totp", "plain text").await, Err(VaultError::Corrupt(_))));
}

async fn a_destroyed_key_erases_everything_sealed_with_it(db: &TestDatabase) {
    let database = &db.database;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let sealed = seal(database, alice, "totp", b"alice's secret").await.expect("seal");
    let bobs = seal(database, bob, "totp", b"bob's secret").await.expect("seal");

    assert!(shred(database, alice, Utc::now()).await.expect("shred"), "destroyed");
    assert!(!shred(database, alice, Utc::now()).await.expect("shred again"), "only once");
    assert!(!shred(database, Uuid::now_v7(), Utc::now()).await.expect("shred"), "no key, nothing destroyed");

    assert_eq!(unseal(database, alice, "totp", &sealed).await.expect("open"), None, "erased");
    assert!(
        matches!(seal(database, alice, "totp", b"new").await, Err(VaultError::Shredded(id)) if id == alice)
    );
    assert_eq!(unseal(database, bob, "totp", &bobs).await.expect("open"), Some(b"bob's secret".to_vec()));
}

eventlog::on_every_backend!(
    a_sealed_value_opens_for_its_subject_and_purpose_only,
    a_destroyed_key_erases_everything_sealed_with_it
);
