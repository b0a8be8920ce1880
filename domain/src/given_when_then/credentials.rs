//! User credentials: single-use tokens, passwords, sign-in attempts and lockouts, the second
//! factor (a PIN by SMS), and the claims tokens, challenges and company main phones take.

use serde_json::json;

use super::*;
use crate::policy::PasswordPolicy;
use crate::user::{PasswordSource, TokenPurpose};

const TOKEN: &str = "token-hash-1";
const OTHER_TOKEN: &str = "token-hash-2";
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b2xk";
const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3";

fn minutes(n: i64) -> DateTime<Utc> {
    now() + TimeDelta::minutes(n)
}

// --- commands and events ---------------------------------------------------------------------

fn issue(token_hash: &str, expires_at: DateTime<Utc>, purpose: TokenPurpose) -> user::Command {
    user::Command::IssueToken { token_hash: token_hash.to_owned(), expires_at, purpose }
}

fn issued(token_hash: &str, expires_at: DateTime<Utc>, purpose: TokenPurpose) -> user::Event {
    user::Event::TokenIssued { token_hash: token_hash.to_owned(), expires_at, purpose }
}

/// An activation token for `token_hash`, valid for a week.
fn invited(token_hash: &str) -> user::Event {
    issued(token_hash, days(7), TokenPurpose::Activation)
}

fn redeem(token_hash: &str, password_hash: &str) -> user::Command {
    user::Command::RedeemToken { token_hash: token_hash.to_owned(), password_hash: password_hash.to_owned() }
}

fn password_set(
    password_hash: &str,
    source: PasswordSource,
    must_change: bool,
    at: DateTime<Utc>,
) -> user::Event {
    user::Event::PasswordSet { password_hash: password_hash.to_owned(), source, must_change, at }
}

/// Alice redeemed her invitation yesterday.
fn activated() -> user::Event {
    password_set(HASH, PasswordSource::Token, false, days(-1))
}

fn set_password(password_hash: &str) -> user::Command {
    user::Command::SetPassword { password_hash: password_hash.to_owned() }
}

fn change_password(old_password_ok: bool, password_hash: &str) -> user::Command {
    user::Command::ChangePassword {
        old_password_ok,
        password_hash: password_hash.to_owned(),
        policy: PasswordPolicy::default(),
    }
}

fn login(password_ok: bool) -> user::Command {
    login_with(password_ok, PasswordPolicy::default())
}

fn login_with(password_ok: bool, policy: PasswordPolicy) -> user::Command {
    user::Command::RecordLogin { password_ok, policy, challenge: None }
}

// --- the second factor -------------------------------------------------------------------------

const CHALLENGE: Uuid = Uuid::from_u128(0xC4A1_0001);
const OTHER_CHALLENGE: Uuid = Uuid::from_u128(0xC4A1_0002);
/// The SHA-256 of the PIN `123456`.
const PIN: &str = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92";
/// The SHA-256 of the PIN `654321`.
const OTHER_PIN: &str = "481f6cc0511143ccdd7e2d1b1b94faf0a700a8b49cd13922a70b5ae28acaa8c5";

/// The company wants a PIN by SMS at every sign-in (the caller then offers a challenge).
fn two_factor_policy() -> PasswordPolicy {
    PasswordPolicy { require_two_factor: true, ..PasswordPolicy::default() }
}

/// A sign-in attempt with a challenge offered, valid for ten minutes, under `policy`.
fn login_challenged(
    password_ok: bool,
    policy: PasswordPolicy,
    challenge_id: Uuid,
    pin_hash: &str,
) -> user::Command {
    user::Command::RecordLogin {
        password_ok,
        policy,
        challenge: Some(user::NewChallenge {
            challenge_id,
            pin_hash: pin_hash.to_owned(),
            expires_at: minutes(10),
            channel: user::SecondFactor::Sms,
        }),
    }
}

/// A sign-in attempt with [`CHALLENGE`] offered, the company requiring a second factor.
fn login_2fa(password_ok: bool) -> user::Command {
    login_challenged(password_ok, two_factor_policy(), CHALLENGE, PIN)
}

fn challenged_until(challenge_id: Uuid, pin_hash: &str, expires_at: DateTime<Utc>) -> user::Event {
    user::Event::TwoFactorChallenged {
        challenge_id,
        pin_hash: pin_hash.to_owned(),
        expires_at,
        channel: user::SecondFactor::Sms,
    }
}

/// A PIN sent now, valid for ten minutes.
fn challenged(challenge_id: Uuid, pin_hash: &str) -> user::Event {
    challenged_until(challenge_id, pin_hash, minutes(10))
}

fn verify(challenge_id: Uuid, pin_ok: bool) -> user::Command {
    user::Command::VerifyPin { challenge_id, pin_ok, totp_step: None, policy: PasswordPolicy::default() }
}

fn pin_failed(challenge_id: Uuid, failures: u32) -> user::Event {
    user::Event::TwoFactorFailed { challenge_id, failures }
}

fn set_two_factor(enabled: bool) -> user::Command {
    user::Command::SetTwoFactor { enabled }
}

fn two_factor_set(enabled: bool) -> user::Event {
    user::Event::TwoFactorSet { enabled }
}

/// Three failures lock, for ten minutes at first.
fn strict() -> PasswordPolicy {
    PasswordPolicy { max_failed_logins: 3, lock_minutes: 10, ..PasswordPolicy::default() }
}

fn failed(failures: u32) -> user::Event {
    user::Event::LoginFailed { failures }
}

fn locked(until: DateTime<Utc>) -> user::Event {
    user::Event::UserLocked { until }
}

fn rehash(password_hash: &str) -> user::Command {
    user::Command::Rehash { password_hash: password_hash.to_owned() }
}

/// Approved, invited and activated: alice may sign in.
fn active() -> Vec<user::Event> {
    vec![created().approved().event(), invited(TOKEN), activated()]
}

fn active_and(extra: &[user::Event]) -> Vec<user::Event> {
    let mut events = active();
    events.extend_from_slice(extra);
    events
}

// --- refusals --------------------------------------------------------------------------------

fn not_found() -> DomainError {
    rule("not_found", "the user does not exist")
}

fn already_activated() -> DomainError {
    rule("already_activated", "the user has activated their account; reset their password instead")
}

fn token_not_sendable() -> DomainError {
    rule("token_expired", "the token would expire before it is sent")
}

fn token_expired() -> DomainError {
    rule("token_expired", "the link has expired; ask for a new invitation or password reset")
}

fn invalid_token() -> DomainError {
    rule("invalid_token", "the token is not valid (it may have been used or replaced)")
}

fn account_locked(until: DateTime<Utc>, retry_after_seconds: i64) -> DomainError {
    rule_with(
        "account_locked",
        "too many failed sign-ins: the account is locked for now",
        json!({ "lockedUntil": until, "retryAfterSeconds": retry_after_seconds }),
    )
}

fn account_inactive(reason: &str) -> DomainError {
    rule("account_inactive", reason)
}

fn invalid_challenge() -> DomainError {
    rule(
        "invalid_challenge",
        "the sign-in this PIN was for is over (used, replaced, or too many wrong PINs): sign in again",
    )
}

fn challenge_expired() -> DomainError {
    rule("challenge_expired", "the PIN has expired: sign in again for a new one")
}

/// A right PIN for a user who may no longer sign in (suspended, locked… since the password).
fn pin_account_inactive() -> DomainError {
    account_inactive("the account may not sign in now")
}

// --- tokens ----------------------------------------------------------------------------------

#[test]
fn user_issue_token() {
    let cases = vec![
        Case {
            name: "an activation token for a new user",
            given: vec![alice_created()],
            when: issue(TOKEN, days(7), TokenPurpose::Activation),
            then: Then::Events(vec![issued(TOKEN, days(7), TokenPurpose::Activation)]),
        },
        Case {
            name: "an activation token for a user waiting for approval, suspended or without portal access",
            given: vec![
                alice_created(),
                suspended(None, None),
                user::Event::UserAccessChanged { admin: None, portal_access: Some(false) },
            ],
            when: issue(TOKEN, days(7), TokenPurpose::Activation),
            then: Then::Events(vec![issued(TOKEN, days(7), TokenPurpose::Activation)]),
        },
        Case {
            name: "an activation token sent again replaces the pending one",
            given: vec![alice_created(), invited(TOKEN)],
            when: issue(OTHER_TOKEN, days(7), TokenPurpose::Activation),
            then: Then::Events(vec![issued(OTHER_TOKEN, days(7), TokenPurpose::Activation)]),
        },
        Case {
            name: "an activated user gets no activation token",
            given: active(),
            when: issue(OTHER_TOKEN, days(7), TokenPurpose::Activation),
            then: Then::Error(already_activated()),
        },
        Case {
            name: "a user whose password an admin set counts as activated",
            given: vec![alice_created(), password_set(HASH, PasswordSource::Admin, true, days(-1))],
            when: issue(TOKEN, days(7), TokenPurpose::Activation),
            then: Then::Error(already_activated()),
        },
        Case {
            name: "already_activated is told before an expiry in the past",
            given: active(),
            when: issue(OTHER_TOKEN, days(-1), TokenPurpose::Activation),
            then: Then::Error(already_activated()),
        },
        Case {
            name: "a password reset token for an activated user",
            given: active(),
            when: issue(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset),
            then: Then::Events(vec![issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset)]),
        },
        Case {
            name: "a password reset token for a user not activated yet",
            given: vec![alice_created()],
            when: issue(TOKEN, minutes(60), TokenPurpose::PasswordReset),
            then: Then::Events(vec![issued(TOKEN, minutes(60), TokenPurpose::PasswordReset)]),
        },
        Case {
            name: "a password reset token replaces a pending reset token",
            given: active_and(&[issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset)]),
            when: issue("token-hash-3", minutes(60), TokenPurpose::PasswordReset),
            then: Then::Events(vec![issued("token-hash-3", minutes(60), TokenPurpose::PasswordReset)]),
        },
        Case {
            name: "a password reset token for a locked user",
            given: active_and(&[failed(5), locked(minutes(15))]),
            when: issue(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset),
            then: Then::Events(vec![issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset)]),
        },
        Case {
            name: "a token that expires now is refused",
            given: vec![alice_created()],
            when: issue(TOKEN, now(), TokenPurpose::Activation),
            then: Then::Error(token_not_sendable()),
        },
        Case {
            name: "a token that expired already is refused",
            given: vec![alice_created()],
            when: issue(TOKEN, minutes(-1), TokenPurpose::Activation),
            then: Then::Error(token_not_sendable()),
        },
        Case {
            name: "a reset token that expires now is refused",
            given: active(),
            when: issue(OTHER_TOKEN, now(), TokenPurpose::PasswordReset),
            then: Then::Error(token_not_sendable()),
        },
        Case {
            name: "a token that expires a second from now is sent",
            given: vec![alice_created()],
            when: issue(TOKEN, now() + TimeDelta::seconds(1), TokenPurpose::Activation),
            then: Then::Events(vec![issued(TOKEN, now() + TimeDelta::seconds(1), TokenPurpose::Activation)]),
        },
        Case {
            name: "a deleted user gets no token",
            given: vec![alice_created(), user::Event::UserDeleted {}],
            when: issue(TOKEN, days(7), TokenPurpose::PasswordReset),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user gets no token",
            given: vec![],
            when: issue(TOKEN, days(7), TokenPurpose::Activation),
            then: Then::Error(not_found()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_redeem_token() {
    let invited_alice = || vec![alice_created(), invited(TOKEN)];
    let set_by_token = || password_set(NEW_HASH, PasswordSource::Token, false, now());
    let cases = vec![
        Case {
            name: "the pending token sets the password, with no change required, from now",
            given: invited_alice(),
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Events(vec![set_by_token()]),
        },
        Case {
            name: "a user waiting for approval may activate",
            given: vec![alice_created(), issued(TOKEN, minutes(1), TokenPurpose::Activation)],
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Events(vec![set_by_token()]),
        },
        Case {
            name: "a reset token sets the password of an activated user and ends the change required",
            given: vec![
                created().approved().event(),
                password_set(HASH, PasswordSource::Admin, true, days(-1)),
                issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset),
            ],
            when: redeem(OTHER_TOKEN, NEW_HASH),
            then: Then::Events(vec![set_by_token()]),
        },
        Case {
            name: "a locked user may reset their password",
            given: active_and(&[
                failed(5),
                locked(minutes(15)),
                issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset),
            ]),
            when: redeem(OTHER_TOKEN, NEW_HASH),
            then: Then::Events(vec![set_by_token()]),
        },
        Case {
            name: "a wrong token is invalid",
            given: invited_alice(),
            when: redeem(OTHER_TOKEN, NEW_HASH),
            then: Then::Error(invalid_token()),
        },
        Case {
            name: "an empty token is invalid",
            given: invited_alice(),
            when: redeem("", NEW_HASH),
            then: Then::Error(invalid_token()),
        },
        Case {
            name: "with no token pending, any token is invalid",
            given: vec![alice_created()],
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Error(invalid_token()),
        },
        Case {
            name: "a used token is invalid",
            given: active(),
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Error(invalid_token()),
        },
        Case {
            name: "a replaced token is invalid",
            given: vec![alice_created(), invited(TOKEN), invited(OTHER_TOKEN)],
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Error(invalid_token()),
        },
        Case {
            name: "the token that replaced another is valid",
            given: vec![alice_created(), invited(TOKEN), invited(OTHER_TOKEN)],
            when: redeem(OTHER_TOKEN, NEW_HASH),
            then: Then::Events(vec![set_by_token()]),
        },
        Case {
            name: "a token made void by an admin's password is invalid",
            given: vec![
                alice_created(),
                invited(TOKEN),
                password_set(HASH, PasswordSource::Admin, true, days(-1)),
            ],
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Error(invalid_token()),
        },
        Case {
            name: "a token that expired is refused",
            given: vec![alice_created(), issued(TOKEN, minutes(-1), TokenPurpose::Activation)],
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Error(token_expired()),
        },
        Case {
            name: "a token that expires now is expired",
            given: vec![alice_created(), issued(TOKEN, now(), TokenPurpose::PasswordReset)],
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Error(token_expired()),
        },
        Case {
            name: "a wrong token is invalid even when the pending one expired",
            given: vec![alice_created(), issued(TOKEN, minutes(-1), TokenPurpose::Activation)],
            when: redeem(OTHER_TOKEN, NEW_HASH),
            then: Then::Error(invalid_token()),
        },
        Case {
            name: "a deleted user's token is refused as the user's deletion",
            given: vec![alice_created(), invited(TOKEN), user::Event::UserDeleted {}],
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user redeems nothing",
            given: vec![],
            when: redeem(TOKEN, NEW_HASH),
            then: Then::Error(not_found()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

// --- passwords -------------------------------------------------------------------------------

#[test]
fn user_set_and_change_password() {
    let cases = vec![
        Case {
            name: "an admin sets a first password, which the user must change",
            given: vec![alice_created()],
            when: set_password(NEW_HASH),
            then: Then::Events(vec![password_set(NEW_HASH, PasswordSource::Admin, true, now())]),
        },
        Case {
            name: "an admin sets a new password for an activated user, which the user must change",
            given: active(),
            when: set_password(NEW_HASH),
            then: Then::Events(vec![password_set(NEW_HASH, PasswordSource::Admin, true, now())]),
        },
        Case {
            name: "an admin sets the password of a suspended, locked user",
            given: active_and(&[suspended(None, None), failed(5), locked(minutes(15))]),
            when: set_password(NEW_HASH),
            then: Then::Events(vec![password_set(NEW_HASH, PasswordSource::Admin, true, now())]),
        },
        Case {
            name: "a deleted user's password is not set",
            given: active_and(&[user::Event::UserDeleted {}]),
            when: set_password(NEW_HASH),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user's password is not set",
            given: vec![],
            when: set_password(NEW_HASH),
            then: Then::Error(not_found()),
        },
        Case {
            name: "the user changes their password, knowing the old one",
            given: active(),
            when: change_password(true, NEW_HASH),
            then: Then::Events(vec![password_set(NEW_HASH, PasswordSource::User, false, now())]),
        },
        Case {
            name: "changing the password an admin set ends the change required",
            given: vec![alice_created(), password_set(HASH, PasswordSource::Admin, true, days(-1))],
            when: change_password(true, NEW_HASH),
            then: Then::Events(vec![password_set(NEW_HASH, PasswordSource::User, false, now())]),
        },
        Case {
            name: "a wrong old password changes nothing but counts as a failed sign-in",
            given: active(),
            when: change_password(false, NEW_HASH),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "a user with no password has nothing to change",
            given: vec![alice_created(), invited(TOKEN)],
            when: change_password(true, NEW_HASH),
            then: Then::Error(rule("not_activated", "the user has no password yet")),
        },
        Case {
            name: "not_activated is told before a wrong old password",
            given: vec![alice_created()],
            when: change_password(false, NEW_HASH),
            then: Then::Error(rule("not_activated", "the user has no password yet")),
        },
        Case {
            name: "a deleted user changes nothing",
            given: active_and(&[user::Event::UserDeleted {}]),
            when: change_password(true, NEW_HASH),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "the password is hashed again with today's parameters",
            given: active(),
            when: rehash(NEW_HASH),
            then: Then::Events(vec![user::Event::PasswordRehashed { password_hash: NEW_HASH.to_owned() }]),
        },
        Case {
            name: "a user without a password has nothing to hash again",
            given: vec![alice_created(), invited(TOKEN)],
            when: rehash(NEW_HASH),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a deleted user's password is not hashed again",
            given: active_and(&[user::Event::UserDeleted {}]),
            when: rehash(NEW_HASH),
            then: Then::Error(user_deleted()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

// --- sign-in attempts ------------------------------------------------------------------------

#[test]
fn user_record_login() {
    let cases = vec![
        Case {
            name: "the right password signs in",
            given: active(),
            when: login(true),
            then: Then::Events(vec![user::Event::LoginSucceeded { at: now() }]),
        },
        Case {
            name: "the right password after failures signs in",
            given: active_and(&[failed(1), failed(2)]),
            when: login(true),
            then: Then::Events(vec![user::Event::LoginSucceeded { at: now() }]),
        },
        Case {
            name: "the right password signs in once the lock has ended",
            given: active_and(&[failed(1), failed(2), failed(3), locked(minutes(-1))]),
            when: login_with(true, strict()),
            then: Then::Events(vec![user::Event::LoginSucceeded { at: now() }]),
        },
        Case {
            name: "the right password signs in once a suspension has ended",
            given: active_and(&[suspended(Some(minutes(-1)), None)]),
            when: login(true),
            then: Then::Events(vec![user::Event::LoginSucceeded { at: now() }]),
        },
        Case {
            name: "the right password signs in after a reactivation",
            given: active_and(&[user::Event::UserDeactivated {}, user::Event::UserReactivated {}]),
            when: login(true),
            then: Then::Events(vec![user::Event::LoginSucceeded { at: now() }]),
        },
        Case {
            name: "the right password signs in a user who must change it",
            given: vec![
                created().approved().event(),
                password_set(HASH, PasswordSource::Admin, true, days(-1)),
            ],
            when: login(true),
            then: Then::Events(vec![user::Event::LoginSucceeded { at: now() }]),
        },
        Case {
            name: "a first wrong password counts one failure",
            given: active(),
            when: login(false),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "a wrong password counts on from the failures so far",
            given: active_and(&[failed(1), failed(2)]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(3), locked(minutes(10))]),
        },
        Case {
            name: "a wrong password below the limit only counts",
            given: active_and(&[failed(1), failed(2), failed(3)]),
            when: login(false),
            then: Then::Events(vec![failed(4)]),
        },
        Case {
            name: "the fifth failure in a row locks for 15 minutes by default",
            given: active_and(&[failed(1), failed(2), failed(3), failed(4)]),
            when: login(false),
            then: Then::Events(vec![failed(5), locked(minutes(15))]),
        },
        Case {
            name: "with a limit of one, the first failure locks",
            given: active(),
            when: login_with(false, PasswordPolicy { max_failed_logins: 1, ..PasswordPolicy::default() }),
            then: Then::Events(vec![failed(1), locked(minutes(15))]),
        },
        Case {
            name: "a stricter policy than the failures so far locks at the next failure",
            given: active_and(&[failed(1), failed(2), failed(3), failed(4)]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(5), locked(minutes(10))]),
        },
        Case {
            name: "failures start again from zero after a sign-in",
            given: active_and(&[failed(1), failed(2), user::Event::LoginSucceeded { at: minutes(-5) }]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "failures start again from zero after an unlock",
            given: active_and(&[failed(1), failed(2), user::Event::UserUnlocked {}]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "failures start again from zero after a new password",
            given: active_and(&[
                failed(1),
                failed(2),
                password_set(NEW_HASH, PasswordSource::User, false, days(-1)),
            ]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "a locked user is refused with the password right, and nothing is recorded",
            given: active_and(&[failed(1), failed(2), failed(3), locked(minutes(10))]),
            when: login_with(true, strict()),
            then: Then::Error(account_locked(minutes(10), 600)),
        },
        Case {
            name: "the lock's end and the seconds to wait are told in the refusal's details",
            given: active_and(&[failed(5), locked(minutes(15))]),
            when: login(true),
            then: Then::Error(rule_with(
                "account_locked",
                "too many failed sign-ins: the account is locked for now",
                json!({ "lockedUntil": "2025-06-01T12:15:00Z", "retryAfterSeconds": 900 }),
            )),
        },
        Case {
            name: "a locked user is refused with the password wrong, and the failure is not counted",
            given: active_and(&[failed(1), failed(2), failed(3), locked(minutes(10))]),
            when: login_with(false, strict()),
            then: Then::Error(account_locked(minutes(10), 600)),
        },
        Case {
            name: "a lock ending in half a second says to retry after one second",
            given: active_and(&[failed(5), locked(now() + TimeDelta::milliseconds(500))]),
            when: login(true),
            then: Then::Error(account_locked(now() + TimeDelta::milliseconds(500), 1)),
        },
        Case {
            name: "a lock that ends now no longer holds",
            given: active_and(&[failed(5), locked(now())]),
            when: login(true),
            then: Then::Events(vec![user::Event::LoginSucceeded { at: now() }]),
        },
        Case {
            name: "the second lock lasts twice as long as the first",
            given: active_and(&[
                failed(1),
                failed(2),
                failed(3),
                locked(minutes(-1)),
                user::Event::UserUnlocked {},
                failed(1),
                failed(2),
            ]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(3), locked(minutes(20))]),
        },
        Case {
            name: "once a lock has ended, the policy's attempts start again: one wrong password is counted",
            given: active_and(&[failed(1), failed(2), failed(3), locked(minutes(-1))]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "after a lock, the next lock comes after the policy's attempts again, twice as long",
            given: active_and(&[failed(1), failed(2), failed(3), locked(minutes(-1)), failed(1), failed(2)]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(3), locked(minutes(20))]),
        },
        Case {
            name: "the third lock lasts four times as long as the first",
            given: active_and(&[failed(3), locked(minutes(-30)), failed(3), locked(minutes(-1)), failed(2)]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(3), locked(minutes(40))]),
        },
        Case {
            name: "a good sign-in between locks starts the doubling again",
            given: active_and(&[
                failed(3),
                locked(minutes(-30)),
                user::Event::LoginSucceeded { at: minutes(-10) },
                failed(1),
                failed(2),
            ]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(3), locked(minutes(10))]),
        },
        Case {
            name: "a lock lasts at most a day",
            given: active_and(&[
                failed(3),
                locked(days(-9)),
                failed(3),
                locked(days(-8)),
                failed(3),
                locked(days(-7)),
                failed(3),
                locked(days(-6)),
                failed(3),
                locked(days(-5)),
                failed(3),
                locked(days(-4)),
                failed(3),
                locked(days(-3)),
                failed(3),
                locked(days(-2)),
                failed(1),
                failed(2),
            ]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(3), locked(days(1))]),
        },
        Case {
            name: "a wrong password counts for a user who is not activated yet",
            given: vec![created().approved().event(), invited(TOKEN)],
            when: login(false),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "a wrong password counts for a suspended user: it says nothing of the status",
            given: active_and(&[suspended(None, None)]),
            when: login(false),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "a wrong password that reaches the limit locks a deactivated user",
            given: active_and(&[user::Event::UserDeactivated {}, failed(1), failed(2)]),
            when: login_with(false, strict()),
            then: Then::Events(vec![failed(3), locked(minutes(10))]),
        },
        Case {
            name: "the right password of a user not activated yet signs in no one",
            given: vec![created().approved().event(), invited(TOKEN)],
            when: login(true),
            then: Then::Error(account_inactive("the account is not activated yet")),
        },
        Case {
            name: "the right password of a user waiting for approval signs in no one",
            given: vec![alice_created(), invited(TOKEN), activated()],
            when: login(true),
            then: Then::Error(account_inactive("the account is waiting for approval")),
        },
        Case {
            name: "waiting for approval is told before not activated",
            given: vec![alice_created()],
            when: login(true),
            then: Then::Error(account_inactive("the account is waiting for approval")),
        },
        Case {
            name: "the right password of a disapproved user signs in no one",
            given: vec![alice_created(), activated(), user::Event::UserDisapproved {}],
            when: login(true),
            then: Then::Error(account_inactive("the account is not approved")),
        },
        Case {
            name: "the right password of a suspended user signs in no one",
            given: active_and(&[suspended(Some(days(3)), Some("holiday"))]),
            when: login(true),
            then: Then::Error(account_inactive("the account is suspended")),
        },
        Case {
            name: "the right password of a deactivated user signs in no one",
            given: active_and(&[user::Event::UserDeactivated {}]),
            when: login(true),
            then: Then::Error(account_inactive("the account is deactivated")),
        },
        Case {
            name: "deactivated is told before suspended",
            given: active_and(&[suspended(None, None), user::Event::UserDeactivated {}]),
            when: login(true),
            then: Then::Error(account_inactive("the account is deactivated")),
        },
        Case {
            name: "the right password of a user without portal access signs in no one",
            given: active_and(&[user::Event::UserAccessChanged { admin: None, portal_access: Some(false) }]),
            when: login(true),
            then: Then::Error(account_inactive("the account has no portal access")),
        },
        Case {
            name: "a user created without portal access signs in no one",
            given: vec![created().approved().without_portal_access().event(), activated()],
            when: login(true),
            then: Then::Error(account_inactive("the account has no portal access")),
        },
        Case {
            name: "not activated is told before no portal access",
            given: vec![created().approved().without_portal_access().event()],
            when: login(true),
            then: Then::Error(account_inactive("the account is not activated yet")),
        },
        Case {
            name: "a locked, suspended user is told of the lock",
            given: active_and(&[suspended(None, None), failed(5), locked(minutes(15))]),
            when: login(true),
            then: Then::Error(account_locked(minutes(15), 900)),
        },
        Case {
            name: "a deleted user is refused as deleted",
            given: active_and(&[user::Event::UserDeleted {}]),
            when: login(true),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a deleted user's wrong password is not counted",
            given: active_and(&[user::Event::UserDeleted {}]),
            when: login(false),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user signs in no one",
            given: vec![],
            when: login(true),
            then: Then::Error(not_found()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_unlock() {
    let cases = vec![
        Case {
            name: "a locked user is unlocked",
            given: active_and(&[failed(5), locked(minutes(15))]),
            when: user::Command::Unlock,
            then: Then::Events(vec![user::Event::UserUnlocked {}]),
        },
        Case {
            name: "a user with failures and no lock has them cleared",
            given: active_and(&[failed(1)]),
            when: user::Command::Unlock,
            then: Then::Events(vec![user::Event::UserUnlocked {}]),
        },
        Case {
            name: "a lock that has ended and left no failures is a no-op",
            given: active_and(&[failed(5), locked(minutes(-1))]),
            when: user::Command::Unlock,
            then: Then::Events(vec![]),
        },
        Case {
            name: "a user neither locked nor failing is a no-op",
            given: active(),
            when: user::Command::Unlock,
            then: Then::Events(vec![]),
        },
        Case {
            name: "unlocking twice is a no-op",
            given: active_and(&[failed(5), locked(minutes(15)), user::Event::UserUnlocked {}]),
            when: user::Command::Unlock,
            then: Then::Events(vec![]),
        },
        Case {
            name: "a sign-in after failures leaves nothing to unlock",
            given: active_and(&[failed(2), user::Event::LoginSucceeded { at: minutes(-1) }]),
            when: user::Command::Unlock,
            then: Then::Events(vec![]),
        },
        Case {
            name: "a new password leaves nothing to unlock",
            given: active_and(&[
                failed(5),
                locked(minutes(15)),
                password_set(NEW_HASH, PasswordSource::Token, false, now()),
            ]),
            when: user::Command::Unlock,
            then: Then::Events(vec![]),
        },
        Case {
            name: "a user not activated yet, with nothing to unlock, is a no-op",
            given: vec![alice_created()],
            when: user::Command::Unlock,
            then: Then::Events(vec![]),
        },
        Case {
            name: "a deleted user is not unlocked",
            given: active_and(&[failed(5), locked(minutes(15)), user::Event::UserDeleted {}]),
            when: user::Command::Unlock,
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user is not unlocked",
            given: vec![],
            when: user::Command::Unlock,
            then: Then::Error(not_found()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

// --- the second factor -------------------------------------------------------------------------

#[test]
fn user_record_login_with_a_second_factor() {
    let signed_in = || user::Event::LoginSucceeded { at: now() };
    let cases = vec![
        Case {
            name: "with a challenge offered, the right password sends the PIN instead of signing in",
            given: active(),
            when: login_2fa(true),
            then: Then::Events(vec![challenged(CHALLENGE, PIN)]),
        },
        Case {
            name: "the challenge keeps the id, PIN hash and end the caller chose",
            given: active(),
            when: login_challenged(true, two_factor_policy(), OTHER_CHALLENGE, OTHER_PIN),
            then: Then::Events(vec![challenged(OTHER_CHALLENGE, OTHER_PIN)]),
        },
        Case {
            name: "a challenge offered by the caller is sent whatever the policy says (the user asked for one)",
            given: active_and(&[two_factor_set(true)]),
            when: login_challenged(true, PasswordPolicy::default(), CHALLENGE, PIN),
            then: Then::Events(vec![challenged(CHALLENGE, PIN)]),
        },
        Case {
            name: "without a challenge the right password signs in: the caller decides when a PIN is needed",
            given: active_and(&[two_factor_set(true)]),
            when: login_with(true, two_factor_policy()),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "with a challenge offered, the right password after failures sends the PIN",
            given: active_and(&[failed(1), failed(2)]),
            when: login_2fa(true),
            then: Then::Events(vec![challenged(CHALLENGE, PIN)]),
        },
        Case {
            name: "a second sign-in while a PIN is pending sends a new one",
            given: active_and(&[challenged(CHALLENGE, PIN), pin_failed(CHALLENGE, 1)]),
            when: login_challenged(true, two_factor_policy(), OTHER_CHALLENGE, OTHER_PIN),
            then: Then::Events(vec![challenged(OTHER_CHALLENGE, OTHER_PIN)]),
        },
        Case {
            name: "a sign-in after a challenge was voided sends a new PIN",
            given: active_and(&[
                challenged(CHALLENGE, PIN),
                pin_failed(CHALLENGE, 1),
                pin_failed(CHALLENGE, 2),
                pin_failed(CHALLENGE, 3),
            ]),
            when: login_challenged(true, two_factor_policy(), OTHER_CHALLENGE, OTHER_PIN),
            then: Then::Events(vec![challenged(OTHER_CHALLENGE, OTHER_PIN)]),
        },
        Case {
            name: "a sign-in without a challenge while a PIN is pending signs in (the second factor was turned off)",
            given: active_and(&[two_factor_set(true), challenged(CHALLENGE, PIN), two_factor_set(false)]),
            when: login(true),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "a wrong password with a challenge offered still counts as a failed sign-in",
            given: active(),
            when: login_2fa(false),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "a wrong password with a challenge offered counts on and locks at the policy's limit",
            given: active_and(&[failed(1), failed(2)]),
            when: login_challenged(
                false,
                PasswordPolicy { require_two_factor: true, ..strict() },
                CHALLENGE,
                PIN,
            ),
            then: Then::Events(vec![failed(3), locked(minutes(10))]),
        },
        Case {
            name: "a wrong password while a PIN is pending counts and sends nothing",
            given: active_and(&[challenged(CHALLENGE, PIN)]),
            when: login_challenged(false, two_factor_policy(), OTHER_CHALLENGE, OTHER_PIN),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "a locked user with the right password gets no PIN: the lock is told first",
            given: active_and(&[failed(5), locked(minutes(15))]),
            when: login_2fa(true),
            then: Then::Error(account_locked(minutes(15), 900)),
        },
        Case {
            name: "a locked user with a wrong password and a challenge offered is refused, not counted",
            given: active_and(&[failed(5), locked(minutes(15))]),
            when: login_2fa(false),
            then: Then::Error(account_locked(minutes(15), 900)),
        },
        Case {
            name: "once the lock has ended, the right password sends the PIN",
            given: active_and(&[failed(5), locked(minutes(-1))]),
            when: login_2fa(true),
            then: Then::Events(vec![challenged(CHALLENGE, PIN)]),
        },
        Case {
            name: "a suspended user gets no PIN",
            given: active_and(&[suspended(Some(days(3)), None)]),
            when: login_2fa(true),
            then: Then::Error(account_inactive("the account is suspended")),
        },
        Case {
            name: "a deactivated user gets no PIN",
            given: active_and(&[user::Event::UserDeactivated {}]),
            when: login_2fa(true),
            then: Then::Error(account_inactive("the account is deactivated")),
        },
        Case {
            name: "a disapproved user gets no PIN",
            given: vec![alice_created(), activated(), user::Event::UserDisapproved {}],
            when: login_2fa(true),
            then: Then::Error(account_inactive("the account is not approved")),
        },
        Case {
            name: "a user waiting for approval gets no PIN",
            given: vec![alice_created(), invited(TOKEN), activated()],
            when: login_2fa(true),
            then: Then::Error(account_inactive("the account is waiting for approval")),
        },
        Case {
            name: "a user not activated yet gets no PIN",
            given: vec![created().approved().event(), invited(TOKEN)],
            when: login_2fa(true),
            then: Then::Error(account_inactive("the account is not activated yet")),
        },
        Case {
            name: "a user without portal access gets no PIN",
            given: active_and(&[user::Event::UserAccessChanged { admin: None, portal_access: Some(false) }]),
            when: login_2fa(true),
            then: Then::Error(account_inactive("the account has no portal access")),
        },
        Case {
            name: "a wrong password of a suspended user with a challenge offered counts",
            given: active_and(&[suspended(None, None)]),
            when: login_2fa(false),
            then: Then::Events(vec![failed(1)]),
        },
        Case {
            name: "a deleted user gets no PIN",
            given: active_and(&[user::Event::UserDeleted {}]),
            when: login_2fa(true),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user gets no PIN",
            given: vec![],
            when: login_2fa(true),
            then: Then::Error(not_found()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_verify_pin() {
    let signed_in = || user::Event::LoginSucceeded { at: now() };
    let pending = |extra: &[user::Event]| {
        let mut events = active_and(&[challenged(CHALLENGE, PIN)]);
        events.extend_from_slice(extra);
        events
    };
    let cases = vec![
        Case {
            name: "the right PIN signs in",
            given: pending(&[]),
            when: verify(CHALLENGE, true),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "the right PIN after failed sign-ins signs in",
            given: active_and(&[failed(1), failed(2), challenged(CHALLENGE, PIN)]),
            when: verify(CHALLENGE, true),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "a first wrong PIN is counted, on the challenge and as a failed sign-in",
            given: pending(&[]),
            when: verify(CHALLENGE, false),
            then: Then::Events(vec![pin_failed(CHALLENGE, 1), failed(1)]),
        },
        Case {
            name: "a second wrong PIN is counted",
            given: pending(&[pin_failed(CHALLENGE, 1), failed(1)]),
            when: verify(CHALLENGE, false),
            then: Then::Events(vec![pin_failed(CHALLENGE, 2), failed(2)]),
        },
        Case {
            name: "the third wrong PIN is counted, and voids the challenge",
            given: pending(&[pin_failed(CHALLENGE, 1), failed(1), pin_failed(CHALLENGE, 2), failed(2)]),
            when: verify(CHALLENGE, false),
            then: Then::Events(vec![pin_failed(CHALLENGE, user::PIN_ATTEMPTS), failed(3)]),
        },
        Case {
            name: "the wrong PIN that reaches the policy's limit of failed sign-ins locks the account",
            given: pending(&[failed(1), failed(2), failed(3), failed(4)]),
            when: verify(CHALLENGE, false),
            then: Then::Events(vec![pin_failed(CHALLENGE, 1), failed(5), locked(minutes(15))]),
        },
        Case {
            name: "the right PIN after two wrong ones signs in",
            given: pending(&[pin_failed(CHALLENGE, 1), pin_failed(CHALLENGE, 2)]),
            when: verify(CHALLENGE, true),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "the right PIN after three wrong ones is too late",
            given: pending(&[pin_failed(CHALLENGE, 1), pin_failed(CHALLENGE, 2), pin_failed(CHALLENGE, 3)]),
            when: verify(CHALLENGE, true),
            then: Then::Error(invalid_challenge()),
        },
        Case {
            name: "a fourth wrong PIN is not counted: the challenge is void",
            given: pending(&[pin_failed(CHALLENGE, 1), pin_failed(CHALLENGE, 2), pin_failed(CHALLENGE, 3)]),
            when: verify(CHALLENGE, false),
            then: Then::Error(invalid_challenge()),
        },
        Case {
            name: "wrong PINs count as failed sign-ins, whatever the challenge",
            given: pending(&[pin_failed(CHALLENGE, 1), failed(1)]),
            when: verify(CHALLENGE, false),
            then: Then::Events(vec![pin_failed(CHALLENGE, 2), failed(2)]),
        },
        Case {
            name: "an expired PIN is refused, right or not",
            given: active_and(&[challenged_until(CHALLENGE, PIN, minutes(-1))]),
            when: verify(CHALLENGE, true),
            then: Then::Error(challenge_expired()),
        },
        Case {
            name: "a PIN that expires now has expired",
            given: active_and(&[challenged_until(CHALLENGE, PIN, now())]),
            when: verify(CHALLENGE, true),
            then: Then::Error(challenge_expired()),
        },
        Case {
            name: "a wrong expired PIN is refused as expired, and not counted",
            given: active_and(&[challenged_until(CHALLENGE, PIN, minutes(-1)), pin_failed(CHALLENGE, 1)]),
            when: verify(CHALLENGE, false),
            then: Then::Error(challenge_expired()),
        },
        Case {
            name: "a PIN that expires in a second still works",
            given: active_and(&[challenged_until(CHALLENGE, PIN, now() + TimeDelta::seconds(1))]),
            when: verify(CHALLENGE, true),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "an unknown challenge is invalid",
            given: pending(&[]),
            when: verify(UNKNOWN, true),
            then: Then::Error(invalid_challenge()),
        },
        Case {
            name: "a wrong PIN for an unknown challenge is invalid, and counts nothing",
            given: pending(&[]),
            when: verify(UNKNOWN, false),
            then: Then::Error(invalid_challenge()),
        },
        Case {
            name: "with no challenge pending, any challenge is invalid",
            given: active(),
            when: verify(CHALLENGE, true),
            then: Then::Error(invalid_challenge()),
        },
        Case {
            name: "unknown is told before expired",
            given: active_and(&[challenged_until(CHALLENGE, PIN, minutes(-1))]),
            when: verify(OTHER_CHALLENGE, true),
            then: Then::Error(invalid_challenge()),
        },
        Case {
            name: "a used challenge is invalid",
            given: pending(&[user::Event::LoginSucceeded { at: minutes(-1) }]),
            when: verify(CHALLENGE, true),
            then: Then::Error(invalid_challenge()),
        },
        Case {
            name: "a second challenge replaces the first: the first is invalid",
            given: pending(&[challenged(OTHER_CHALLENGE, OTHER_PIN)]),
            when: verify(CHALLENGE, true),
            then: Then::Error(invalid_challenge()),
        },
        Case {
            name: "a second challenge replaces the first: the second signs in",
            given: pending(&[challenged(OTHER_CHALLENGE, OTHER_PIN)]),
            when: verify(OTHER_CHALLENGE, true),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "the wrong PINs of the first challenge do not count against the second's tries, but as failed sign-ins",
            given: pending(&[
                pin_failed(CHALLENGE, 1),
                failed(1),
                pin_failed(CHALLENGE, 2),
                failed(2),
                challenged(OTHER_CHALLENGE, OTHER_PIN),
            ]),
            when: verify(OTHER_CHALLENGE, false),
            then: Then::Events(vec![pin_failed(OTHER_CHALLENGE, 1), failed(3)]),
        },
        Case {
            name: "a new sign-in after a void challenge gives three PINs again",
            given: pending(&[
                pin_failed(CHALLENGE, 1),
                pin_failed(CHALLENGE, 2),
                pin_failed(CHALLENGE, 3),
                challenged(OTHER_CHALLENGE, OTHER_PIN),
            ]),
            when: verify(OTHER_CHALLENGE, true),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "a user suspended since the password was checked is not signed in by the right PIN",
            given: pending(&[suspended(Some(days(3)), None)]),
            when: verify(CHALLENGE, true),
            then: Then::Error(pin_account_inactive()),
        },
        Case {
            name: "a suspended user's wrong PIN is still counted",
            given: pending(&[suspended(Some(days(3)), None)]),
            when: verify(CHALLENGE, false),
            then: Then::Events(vec![pin_failed(CHALLENGE, 1), failed(1)]),
        },
        Case {
            name: "a user whose suspension has ended since is signed in by the right PIN",
            given: pending(&[suspended(Some(minutes(-1)), None)]),
            when: verify(CHALLENGE, true),
            then: Then::Events(vec![signed_in()]),
        },
        Case {
            name: "a user deactivated since the password was checked is not signed in",
            given: pending(&[user::Event::UserDeactivated {}]),
            when: verify(CHALLENGE, true),
            then: Then::Error(pin_account_inactive()),
        },
        Case {
            name: "a user who lost portal access since the password was checked is not signed in",
            given: pending(&[user::Event::UserAccessChanged { admin: None, portal_access: Some(false) }]),
            when: verify(CHALLENGE, true),
            then: Then::Error(pin_account_inactive()),
        },
        Case {
            name: "a user locked since the password was checked is not signed in",
            given: pending(&[failed(5), locked(minutes(15))]),
            when: verify(CHALLENGE, true),
            then: Then::Error(pin_account_inactive()),
        },
        Case {
            name: "expired is told before the account's status",
            given: active_and(&[challenged_until(CHALLENGE, PIN, minutes(-1)), suspended(None, None)]),
            when: verify(CHALLENGE, true),
            then: Then::Error(challenge_expired()),
        },
        Case {
            name: "a deleted user's PIN is refused as the user's deletion",
            given: pending(&[user::Event::UserDeleted {}]),
            when: verify(CHALLENGE, true),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user's PIN signs in no one",
            given: vec![],
            when: verify(CHALLENGE, true),
            then: Then::Error(not_found()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_set_two_factor() {
    let cases = vec![
        Case {
            name: "a user turns the second factor on",
            given: active(),
            when: set_two_factor(true),
            then: Then::Events(vec![two_factor_set(true)]),
        },
        Case {
            name: "turning it on again is a no-op",
            given: active_and(&[two_factor_set(true)]),
            when: set_two_factor(true),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a user turns the second factor off",
            given: active_and(&[two_factor_set(true)]),
            when: set_two_factor(false),
            then: Then::Events(vec![two_factor_set(false)]),
        },
        Case {
            name: "turning it off when it was never on is a no-op",
            given: active(),
            when: set_two_factor(false),
            then: Then::Events(vec![]),
        },
        Case {
            name: "turning it off twice is a no-op",
            given: active_and(&[two_factor_set(true), two_factor_set(false)]),
            when: set_two_factor(false),
            then: Then::Events(vec![]),
        },
        Case {
            name: "on, off and on again",
            given: active_and(&[two_factor_set(true), two_factor_set(false)]),
            when: set_two_factor(true),
            then: Then::Events(vec![two_factor_set(true)]),
        },
        Case {
            name: "a user not activated yet may have it on",
            given: vec![alice_created()],
            when: set_two_factor(true),
            then: Then::Events(vec![two_factor_set(true)]),
        },
        Case {
            name: "a suspended, locked user may have it on",
            given: active_and(&[suspended(None, None), failed(5), locked(minutes(15))]),
            when: set_two_factor(true),
            then: Then::Events(vec![two_factor_set(true)]),
        },
        Case {
            name: "a PIN pending does not stop turning it off",
            given: active_and(&[two_factor_set(true), challenged(CHALLENGE, PIN)]),
            when: set_two_factor(false),
            then: Then::Events(vec![two_factor_set(false)]),
        },
        Case {
            name: "a deleted user's second factor is not set",
            given: active_and(&[user::Event::UserDeleted {}]),
            when: set_two_factor(true),
            then: Then::Error(user_deleted()),
        },
        Case {
            name: "a missing user's second factor is not set",
            given: vec![],
            when: set_two_factor(true),
            then: Then::Error(not_found()),
        },
    ];
    check(cases, user::decide, user::evolve);
}

// --- state -----------------------------------------------------------------------------------

/// What the credentials events make of a user, observed at [`now`].
#[derive(Debug, PartialEq)]
struct Credentials {
    activated: bool,
    password_hash: Option<&'static str>,
    must_change_password: bool,
    /// The pending token's hash, expiry and purpose.
    pending_token: Option<(&'static str, DateTime<Utc>, TokenPurpose)>,
    failed_logins: u32,
    locked_until: Option<DateTime<Utc>>,
    locked: bool,
    lockouts: u32,
    last_login_at: Option<DateTime<Utc>>,
    sessions_valid_after: Option<DateTime<Utc>>,
    may_sign_in: bool,
}

/// One of the hashes the cases use, as a `'static` text to compare with.
fn known(hash: &str) -> &'static str {
    [HASH, NEW_HASH, TOKEN, OTHER_TOKEN, PIN, OTHER_PIN]
        .into_iter()
        .find(|known| *known == hash)
        .unwrap_or("an unknown hash")
}

#[test]
fn user_credentials_state() {
    let invited_only = || Credentials {
        activated: false,
        password_hash: None,
        must_change_password: false,
        pending_token: Some((TOKEN, days(7), TokenPurpose::Activation)),
        failed_logins: 0,
        locked_until: None,
        locked: false,
        lockouts: 0,
        last_login_at: None,
        sessions_valid_after: None,
        may_sign_in: false,
    };
    let signed_up = || Credentials {
        activated: true,
        password_hash: Some(HASH),
        pending_token: None,
        sessions_valid_after: Some(days(-1)),
        may_sign_in: true,
        ..invited_only()
    };
    let cases = vec![
        StateCase {
            name: "a new user has no credentials",
            given: vec![created().approved().event()],
            then: Credentials { pending_token: None, ..invited_only() },
        },
        StateCase {
            name: "an invited user has a pending token and may not sign in",
            given: vec![created().approved().event(), invited(TOKEN)],
            then: invited_only(),
        },
        StateCase {
            name: "a new token replaces the pending one",
            given: vec![
                created().approved().event(),
                invited(TOKEN),
                issued(OTHER_TOKEN, days(3), TokenPurpose::PasswordReset),
            ],
            then: Credentials {
                pending_token: Some((OTHER_TOKEN, days(3), TokenPurpose::PasswordReset)),
                ..invited_only()
            },
        },
        StateCase {
            name: "a redeemed token activates, with a password, and sessions start from then",
            given: active(),
            then: signed_up(),
        },
        StateCase {
            name: "an activated user waiting for approval may not sign in",
            given: vec![alice_created(), invited(TOKEN), activated()],
            then: Credentials { may_sign_in: false, ..signed_up() },
        },
        StateCase {
            name: "an admin's password activates and must be changed",
            given: vec![
                created().approved().event(),
                invited(TOKEN),
                password_set(NEW_HASH, PasswordSource::Admin, true, minutes(-5)),
            ],
            then: Credentials {
                password_hash: Some(NEW_HASH),
                must_change_password: true,
                sessions_valid_after: Some(minutes(-5)),
                ..signed_up()
            },
        },
        StateCase {
            name: "the user's own password ends the change required and voids older sessions",
            given: vec![
                created().approved().event(),
                password_set(HASH, PasswordSource::Admin, true, days(-1)),
                password_set(NEW_HASH, PasswordSource::User, false, minutes(-5)),
            ],
            then: Credentials {
                password_hash: Some(NEW_HASH),
                sessions_valid_after: Some(minutes(-5)),
                ..signed_up()
            },
        },
        StateCase {
            name: "a reset token pending keeps the password and sign-ins",
            given: active_and(&[issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset)]),
            then: Credentials {
                pending_token: Some((OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset)),
                ..signed_up()
            },
        },
        StateCase {
            name: "a sign-in is remembered and changes nothing else",
            given: active_and(&[user::Event::LoginSucceeded { at: minutes(-5) }]),
            then: Credentials { last_login_at: Some(minutes(-5)), ..signed_up() },
        },
        StateCase {
            name: "failures are counted without locking",
            given: active_and(&[failed(1), failed(2)]),
            then: Credentials { failed_logins: 2, ..signed_up() },
        },
        StateCase {
            name: "a sign-in clears the failures",
            given: active_and(&[failed(1), failed(2), user::Event::LoginSucceeded { at: minutes(-5) }]),
            then: Credentials { last_login_at: Some(minutes(-5)), ..signed_up() },
        },
        StateCase {
            name: "a lock in the future holds and keeps the user out; its failures are spent",
            given: active_and(&[failed(5), locked(minutes(15))]),
            then: Credentials {
                failed_logins: 0,
                locked_until: Some(minutes(15)),
                locked: true,
                lockouts: 1,
                may_sign_in: false,
                ..signed_up()
            },
        },
        StateCase {
            name: "a lock in the past no longer holds, but its count stays",
            given: active_and(&[failed(5), locked(minutes(-1))]),
            then: Credentials {
                failed_logins: 0,
                locked_until: Some(minutes(-1)),
                lockouts: 1,
                ..signed_up()
            },
        },
        StateCase {
            name: "a lock ending now no longer holds",
            given: active_and(&[failed(5), locked(now())]),
            then: Credentials { failed_logins: 0, locked_until: Some(now()), lockouts: 1, ..signed_up() },
        },
        StateCase {
            name: "an unlock clears the lock and the failures, and keeps the count of locks",
            given: active_and(&[failed(5), locked(minutes(15)), user::Event::UserUnlocked {}]),
            then: Credentials { lockouts: 1, ..signed_up() },
        },
        StateCase {
            name: "a new password clears the lock and the failures, and keeps the count of locks",
            given: active_and(&[
                failed(5),
                locked(minutes(15)),
                password_set(NEW_HASH, PasswordSource::Token, false, minutes(-5)),
            ]),
            then: Credentials {
                password_hash: Some(NEW_HASH),
                lockouts: 1,
                sessions_valid_after: Some(minutes(-5)),
                ..signed_up()
            },
        },
        StateCase {
            name: "locks are counted",
            given: active_and(&[failed(5), locked(minutes(-30)), failed(5), locked(minutes(15))]),
            then: Credentials {
                failed_logins: 0,
                locked_until: Some(minutes(15)),
                locked: true,
                lockouts: 2,
                may_sign_in: false,
                ..signed_up()
            },
        },
        StateCase {
            name: "a hash made again changes the hash only: sessions stay valid",
            given: active_and(&[
                user::Event::LoginSucceeded { at: minutes(-5) },
                user::Event::PasswordRehashed { password_hash: NEW_HASH.to_owned() },
            ]),
            then: Credentials {
                password_hash: Some(NEW_HASH),
                last_login_at: Some(minutes(-5)),
                ..signed_up()
            },
        },
        StateCase {
            name: "a suspended user may not sign in",
            given: active_and(&[suspended(Some(days(3)), None)]),
            then: Credentials { may_sign_in: false, ..signed_up() },
        },
        StateCase {
            name: "a user whose suspension has ended may sign in",
            given: active_and(&[suspended(Some(minutes(-1)), None)]),
            then: signed_up(),
        },
        StateCase {
            name: "a deactivated user may not sign in",
            given: active_and(&[user::Event::UserDeactivated {}]),
            then: Credentials { may_sign_in: false, ..signed_up() },
        },
        StateCase {
            name: "a disapproved user may not sign in",
            given: active_and(&[user::Event::UserDisapproved {}]),
            then: Credentials { may_sign_in: false, ..signed_up() },
        },
        StateCase {
            name: "a user without portal access may not sign in",
            given: active_and(&[user::Event::UserAccessChanged { admin: None, portal_access: Some(false) }]),
            then: Credentials { may_sign_in: false, ..signed_up() },
        },
        StateCase {
            name: "a deleted user may not sign in, and their password hash is gone with them",
            given: active_and(&[user::Event::UserDeleted {}]),
            then: Credentials { may_sign_in: false, password_hash: None, ..signed_up() },
        },
    ];
    check_states(cases, user::evolve, |state: &user::State| Credentials {
        activated: state.activated,
        password_hash: state.password_hash.as_deref().map(known),
        must_change_password: state.must_change_password,
        pending_token: state
            .pending_token
            .as_ref()
            .map(|pending| (known(&pending.token_hash), pending.expires_at, pending.purpose)),
        failed_logins: state.failed_logins,
        locked_until: state.locked_until,
        locked: state.is_locked_at(now()),
        lockouts: state.lockouts,
        last_login_at: state.last_login_at,
        sessions_valid_after: state.sessions_valid_after,
        may_sign_in: state.may_sign_in_at(now()),
    });
}

#[test]
fn lock_and_sign_in_checks_follow_the_clock() {
    let state = user_state(&active_and(&[failed(5), locked(minutes(15))]));
    assert!(state.is_locked_at(now()) && !state.may_sign_in_at(now()));
    assert!(state.is_locked_at(minutes(15) - TimeDelta::seconds(1)));
    assert!(!state.is_locked_at(minutes(15)) && state.may_sign_in_at(minutes(15)));
    let state = user_state(&active_and(&[suspended(Some(days(3)), None)]));
    assert!(!state.may_sign_in_at(now()) && state.may_sign_in_at(days(3)));
}

#[test]
fn the_state_as_json_holds_neither_the_password_hash_nor_the_token_hash() {
    let state = user_state(&active_and(&[issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset)]));
    assert_eq!(state.password_hash.as_deref(), Some(HASH));
    assert_eq!(state.pending_token.as_ref().map(|pending| pending.token_hash.as_str()), Some(OTHER_TOKEN));
    let value = serde_json::to_value(&state).expect("a state serializes");
    let text = value.to_string();
    assert!(!text.contains(HASH) && !text.contains("argon2id"), "{text}");
    assert!(!text.contains(OTHER_TOKEN) && !text.contains("token-hash"), "{text}");
    assert_eq!(value.get("passwordHash"), None);
    assert_eq!(
        value["pendingToken"],
        json!({ "expiresAt": "2025-06-01T13:00:00Z", "purpose": "PASSWORD_RESET" }),
        "the pending token keeps only its expiry and purpose"
    );
    assert_eq!(
        (&value["activated"], &value["mustChangePassword"], &value["failedLogins"], &value["lockouts"]),
        (&json!(true), &json!(false), &json!(0), &json!(0)),
    );
    assert_eq!(value["sessionsValidAfter"], json!("2025-05-31T12:00:00Z"));

    let read: user::State = serde_json::from_value(value).expect("the state reads back");
    assert_eq!(read.password_hash, None, "a state read back has no password");
    assert_eq!(read.pending_token.map(|pending| pending.token_hash), Some(String::new()));
}

/// What the second-factor events make of a user, observed at [`now`].
#[derive(Debug, PartialEq)]
struct SecondFactor {
    two_factor: bool,
    /// The pending challenge's id, PIN hash, end and wrong PINs so far.
    pending_challenge: Option<(Uuid, &'static str, DateTime<Utc>, u32)>,
    failed_logins: u32,
    last_login_at: Option<DateTime<Utc>>,
    may_sign_in: bool,
}

#[test]
fn user_second_factor_state() {
    let none = || SecondFactor {
        two_factor: false,
        pending_challenge: None,
        failed_logins: 0,
        last_login_at: None,
        may_sign_in: true,
    };
    let waiting = |failures| SecondFactor {
        pending_challenge: Some((CHALLENGE, PIN, minutes(10), failures)),
        ..none()
    };
    let cases = vec![
        StateCase {
            name: "an active user has no second factor and no PIN pending",
            given: active(),
            then: none(),
        },
        StateCase {
            name: "a user who turns it on has it on",
            given: active_and(&[two_factor_set(true)]),
            then: SecondFactor { two_factor: true, ..none() },
        },
        StateCase {
            name: "a user who turns it off again has it off",
            given: active_and(&[two_factor_set(true), two_factor_set(false)]),
            then: none(),
        },
        StateCase {
            name: "a PIN sent is pending, with its hash, its end and no wrong PIN yet",
            given: active_and(&[challenged(CHALLENGE, PIN)]),
            then: waiting(0),
        },
        StateCase {
            name: "a PIN pending is no sign-in: the failed sign-ins stay until the right PIN",
            given: active_and(&[failed(1), failed(2), challenged(CHALLENGE, PIN)]),
            then: SecondFactor { failed_logins: 2, ..waiting(0) },
        },
        StateCase {
            name: "a wrong PIN is counted on the challenge",
            given: active_and(&[challenged(CHALLENGE, PIN), pin_failed(CHALLENGE, 1)]),
            then: waiting(1),
        },
        StateCase {
            name: "two wrong PINs are counted on the challenge",
            given: active_and(&[
                challenged(CHALLENGE, PIN),
                pin_failed(CHALLENGE, 1),
                pin_failed(CHALLENGE, 2),
            ]),
            then: waiting(2),
        },
        StateCase {
            name: "the third wrong PIN voids the challenge",
            given: active_and(&[
                challenged(CHALLENGE, PIN),
                pin_failed(CHALLENGE, 1),
                pin_failed(CHALLENGE, 2),
                pin_failed(CHALLENGE, 3),
            ]),
            then: none(),
        },
        StateCase {
            name: "the right PIN signs in, clears the challenge and the failed sign-ins",
            given: active_and(&[
                failed(1),
                challenged(CHALLENGE, PIN),
                pin_failed(CHALLENGE, 1),
                user::Event::LoginSucceeded { at: now() },
            ]),
            then: SecondFactor { last_login_at: Some(now()), ..none() },
        },
        StateCase {
            name: "a second challenge replaces the first, with no wrong PIN yet",
            given: active_and(&[
                challenged(CHALLENGE, PIN),
                pin_failed(CHALLENGE, 1),
                pin_failed(CHALLENGE, 2),
                challenged_until(OTHER_CHALLENGE, OTHER_PIN, minutes(20)),
            ]),
            then: SecondFactor {
                pending_challenge: Some((OTHER_CHALLENGE, OTHER_PIN, minutes(20), 0)),
                ..none()
            },
        },
        StateCase {
            name: "an expired challenge stays pending until replaced or used",
            given: active_and(&[challenged_until(CHALLENGE, PIN, minutes(-1))]),
            then: SecondFactor { pending_challenge: Some((CHALLENGE, PIN, minutes(-1), 0)), ..none() },
        },
        StateCase {
            name: "a wrong password while a PIN is pending counts and leaves the challenge",
            given: active_and(&[challenged(CHALLENGE, PIN), failed(1)]),
            then: SecondFactor { failed_logins: 1, ..waiting(0) },
        },
        StateCase {
            name: "turning the second factor off leaves a pending PIN",
            given: active_and(&[two_factor_set(true), challenged(CHALLENGE, PIN), two_factor_set(false)]),
            then: waiting(0),
        },
        StateCase {
            name: "a suspension while a PIN is pending leaves it, but the user may not sign in",
            given: active_and(&[challenged(CHALLENGE, PIN), suspended(None, None)]),
            then: SecondFactor { may_sign_in: false, ..waiting(0) },
        },
    ];
    check_states(cases, user::evolve, |state: &user::State| SecondFactor {
        two_factor: state.two_factor,
        pending_challenge: state.pending_challenge.as_ref().map(|pending| {
            (pending.challenge_id, known(&pending.pin_hash), pending.expires_at, pending.failures)
        }),
        failed_logins: state.failed_logins,
        last_login_at: state.last_login_at,
        may_sign_in: state.may_sign_in_at(now()),
    });
}

#[test]
fn the_state_as_json_holds_no_pin_hash() {
    let state = user_state(&active_and(&[
        two_factor_set(true),
        challenged(CHALLENGE, PIN),
        pin_failed(CHALLENGE, 1),
    ]));
    assert_eq!(state.pending_challenge.as_ref().map(|pending| pending.pin_hash.as_str()), Some(PIN));
    let value = serde_json::to_value(&state).expect("a state serializes");
    let text = value.to_string();
    assert!(!text.contains(PIN) && !text.contains("pinHash"), "{text}");
    assert_eq!(
        value["pendingChallenge"],
        json!({ "challengeId": CHALLENGE.to_string(), "expiresAt": "2025-06-01T12:10:00Z", "failures": 1, "channel": "SMS" }),
        "the pending challenge keeps only its id, its end, the wrong PINs so far and its channel"
    );
    assert_eq!(value["twoFactor"], json!(true));

    let read: user::State = serde_json::from_value(value).expect("the state reads back");
    let pending = read.pending_challenge.expect("the challenge reads back");
    assert_eq!(
        (pending.challenge_id, pending.pin_hash.as_str(), pending.expires_at, pending.failures),
        (CHALLENGE, "", minutes(10), 1),
        "a state read back has no PIN hash"
    );
    assert!(read.two_factor);

    let without = serde_json::to_value(user_state(&active())).expect("a state serializes");
    assert_eq!((&without["pendingChallenge"], &without["twoFactor"]), (&json!(null), &json!(false)));
    let mut old = without;
    let fields = old.as_object_mut().expect("a state is an object");
    fields.remove("pendingChallenge");
    fields.remove("twoFactor");
    let read: user::State =
        serde_json::from_value(old).expect("a state stored before the second factor reads");
    assert!(!read.two_factor && read.pending_challenge.is_none());
}

// --- claims ----------------------------------------------------------------------------------

#[test]
fn token_claims() {
    let token = |hash: &str| format!("token:{hash}");
    let cases = vec![
        ClaimCase {
            name: "a first token claims its hash",
            given: vec![alice_created()],
            event: invited(TOKEN),
            then: vec![ClaimChange::Acquire(token(TOKEN))],
        },
        ClaimCase {
            name: "a new token frees the pending one and claims its own",
            given: vec![alice_created(), invited(TOKEN)],
            event: issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset),
            then: vec![ClaimChange::Release(token(TOKEN)), ClaimChange::Acquire(token(OTHER_TOKEN))],
        },
        ClaimCase {
            name: "a new token after a used one only claims",
            given: active(),
            event: issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset),
            then: vec![ClaimChange::Acquire(token(OTHER_TOKEN))],
        },
        ClaimCase {
            name: "a password set through the token frees it",
            given: vec![alice_created(), invited(TOKEN)],
            event: password_set(NEW_HASH, PasswordSource::Token, false, now()),
            then: vec![ClaimChange::Release(token(TOKEN))],
        },
        ClaimCase {
            name: "a password set by an admin frees the pending token",
            given: vec![alice_created(), invited(TOKEN)],
            event: password_set(NEW_HASH, PasswordSource::Admin, true, now()),
            then: vec![ClaimChange::Release(token(TOKEN))],
        },
        ClaimCase {
            name: "a password set with no token pending frees nothing",
            given: active(),
            event: password_set(NEW_HASH, PasswordSource::User, false, now()),
            then: vec![],
        },
        ClaimCase {
            name: "deletion frees the pending token with the rest",
            given: vec![bare_alice_created(), invited(TOKEN)],
            event: user::Event::UserDeleted {},
            then: vec![
                ClaimChange::Release(token(TOKEN)),
                ClaimChange::Release("email:alice@example.com".to_owned()),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "deletion after the token was used frees no token",
            given: vec![bare_alice_created(), invited(TOKEN), activated()],
            event: user::Event::UserDeleted {},
            then: vec![
                ClaimChange::Release("email:alice@example.com".to_owned()),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "a sign-in claims nothing",
            given: active_and(&[issued(OTHER_TOKEN, minutes(60), TokenPurpose::PasswordReset)]),
            event: user::Event::LoginSucceeded { at: now() },
            then: vec![],
        },
        ClaimCase { name: "a failure claims nothing", given: active(), event: failed(1), then: vec![] },
        ClaimCase {
            name: "a lock claims nothing",
            given: active(),
            event: locked(minutes(15)),
            then: vec![],
        },
        ClaimCase {
            name: "an unlock claims nothing",
            given: active_and(&[failed(5), locked(minutes(15))]),
            event: user::Event::UserUnlocked {},
            then: vec![],
        },
        ClaimCase {
            name: "a hash made again claims nothing",
            given: active(),
            event: user::Event::PasswordRehashed { password_hash: NEW_HASH.to_owned() },
            then: vec![],
        },
    ];
    check_claims(cases, user::Event::claims, user::evolve);
}

#[test]
fn challenge_claims() {
    let challenge = |id: Uuid| format!("challenge:{id}");
    let cases = vec![
        ClaimCase {
            name: "a first challenge claims its id",
            given: active(),
            event: challenged(CHALLENGE, PIN),
            then: vec![ClaimChange::Acquire("challenge:00000000-0000-0000-0000-0000c4a10001".to_owned())],
        },
        ClaimCase {
            name: "a new challenge frees the pending one and claims its own",
            given: active_and(&[challenged(CHALLENGE, PIN)]),
            event: challenged(OTHER_CHALLENGE, OTHER_PIN),
            then: vec![
                ClaimChange::Release(challenge(CHALLENGE)),
                ClaimChange::Acquire(challenge(OTHER_CHALLENGE)),
            ],
        },
        ClaimCase {
            name: "a new challenge frees an expired one still pending",
            given: active_and(&[challenged_until(CHALLENGE, PIN, minutes(-1))]),
            event: challenged(OTHER_CHALLENGE, OTHER_PIN),
            then: vec![
                ClaimChange::Release(challenge(CHALLENGE)),
                ClaimChange::Acquire(challenge(OTHER_CHALLENGE)),
            ],
        },
        ClaimCase {
            name: "a new challenge after a used one only claims",
            given: active_and(&[challenged(CHALLENGE, PIN), user::Event::LoginSucceeded { at: minutes(-1) }]),
            event: challenged(OTHER_CHALLENGE, OTHER_PIN),
            then: vec![ClaimChange::Acquire(challenge(OTHER_CHALLENGE))],
        },
        ClaimCase {
            name: "a new challenge after a void one only claims",
            given: active_and(&[
                challenged(CHALLENGE, PIN),
                pin_failed(CHALLENGE, 1),
                pin_failed(CHALLENGE, 2),
                pin_failed(CHALLENGE, 3),
            ]),
            event: challenged(OTHER_CHALLENGE, OTHER_PIN),
            then: vec![ClaimChange::Acquire(challenge(OTHER_CHALLENGE))],
        },
        ClaimCase {
            name: "a sign-in frees the pending challenge",
            given: active_and(&[challenged(CHALLENGE, PIN), pin_failed(CHALLENGE, 2)]),
            event: user::Event::LoginSucceeded { at: now() },
            then: vec![ClaimChange::Release(challenge(CHALLENGE))],
        },
        ClaimCase {
            name: "a sign-in with no challenge pending frees nothing",
            given: active_and(&[two_factor_set(true)]),
            event: user::Event::LoginSucceeded { at: now() },
            then: vec![],
        },
        ClaimCase {
            name: "a sign-in after a void challenge frees nothing",
            given: active_and(&[
                challenged(CHALLENGE, PIN),
                pin_failed(CHALLENGE, 1),
                pin_failed(CHALLENGE, 2),
                pin_failed(CHALLENGE, 3),
            ]),
            event: user::Event::LoginSucceeded { at: now() },
            then: vec![],
        },
        ClaimCase {
            name: "a first wrong PIN claims nothing",
            given: active_and(&[challenged(CHALLENGE, PIN)]),
            event: pin_failed(CHALLENGE, 1),
            then: vec![],
        },
        ClaimCase {
            name: "a second wrong PIN claims nothing",
            given: active_and(&[challenged(CHALLENGE, PIN), pin_failed(CHALLENGE, 1)]),
            event: pin_failed(CHALLENGE, 2),
            then: vec![],
        },
        ClaimCase {
            name: "the third wrong PIN frees the challenge it voids",
            given: active_and(&[
                challenged(CHALLENGE, PIN),
                pin_failed(CHALLENGE, 1),
                pin_failed(CHALLENGE, 2),
            ]),
            event: pin_failed(CHALLENGE, 3),
            then: vec![ClaimChange::Release(challenge(CHALLENGE))],
        },
        ClaimCase {
            name: "a wrong password while a PIN is pending claims nothing",
            given: active_and(&[challenged(CHALLENGE, PIN)]),
            event: failed(1),
            then: vec![],
        },
        ClaimCase {
            name: "a lock while a PIN is pending claims nothing",
            given: active_and(&[challenged(CHALLENGE, PIN), failed(5)]),
            event: locked(minutes(15)),
            then: vec![],
        },
        ClaimCase {
            name: "turning the second factor on or off claims nothing",
            given: active_and(&[challenged(CHALLENGE, PIN)]),
            event: two_factor_set(true),
            then: vec![],
        },
        ClaimCase {
            name: "deletion frees the pending challenge with the rest",
            given: vec![bare_alice_created(), invited(TOKEN), activated(), challenged(CHALLENGE, PIN)],
            event: user::Event::UserDeleted {},
            then: vec![
                ClaimChange::Release(challenge(CHALLENGE)),
                ClaimChange::Release("email:alice@example.com".to_owned()),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
        ClaimCase {
            name: "deletion after the challenge was used frees no challenge",
            given: vec![
                bare_alice_created(),
                invited(TOKEN),
                activated(),
                challenged(CHALLENGE, PIN),
                user::Event::LoginSucceeded { at: minutes(-1) },
            ],
            event: user::Event::UserDeleted {},
            then: vec![
                ClaimChange::Release("email:alice@example.com".to_owned()),
                ClaimChange::Release(user::username_claim("alice")),
            ],
        },
    ];
    assert_eq!(user::challenge_claim(CHALLENGE), challenge(CHALLENGE));
    check_claims(cases, user::Event::claims, user::evolve);
}

#[test]
fn company_main_phone_claims() {
    let main_phone = |phone: &str| format!("main-phone:{phone}");
    let updated = |name: Option<&str>, phone: Option<&str>| company::Event::CompanyUpdated {
        name: name.map(str::to_owned),
        main_phone: phone.map(str::to_owned),
    };
    let cases = vec![
        ClaimCase {
            name: "registering a company claims its main phone",
            given: vec![],
            event: acme_registered(),
            then: vec![ClaimChange::Acquire(main_phone("+14155550100"))],
        },
        ClaimCase {
            name: "a new main phone frees the old one and claims the new one",
            given: vec![acme_registered()],
            event: updated(None, Some("+442079460958")),
            then: vec![
                ClaimChange::Release(main_phone("+14155550100")),
                ClaimChange::Acquire(main_phone("+442079460958")),
            ],
        },
        ClaimCase {
            name: "a later new main phone frees the one the company has now",
            given: vec![acme_registered(), updated(None, Some("+442079460958"))],
            event: updated(Some("Acme Corp"), Some("+14155550123")),
            then: vec![
                ClaimChange::Release(main_phone("+442079460958")),
                ClaimChange::Acquire(main_phone("+14155550123")),
            ],
        },
        ClaimCase {
            name: "a rename claims nothing",
            given: vec![acme_registered()],
            event: updated(Some("Acme Corp"), None),
            then: vec![],
        },
        ClaimCase {
            name: "a license limit claims nothing",
            given: vec![acme_registered()],
            event: company::Event::LicenseLimitSet { limit: Some(10) },
            then: vec![],
        },
        ClaimCase {
            name: "policies claim nothing",
            given: vec![acme_registered()],
            event: company::Event::CompanyPoliciesSet {
                username_policy: None,
                password_policy: Some(strict()),
            },
            then: vec![],
        },
        ClaimCase {
            name: "a seat claims nothing",
            given: vec![acme_registered()],
            event: company::Event::LicenseSeatTaken { user_id: ALICE, used: 1 },
            then: vec![],
        },
        ClaimCase {
            name: "apps claim nothing",
            given: vec![acme_registered()],
            event: company::Event::CompanyAppsSet { apps: BTreeSet::new() },
            then: vec![],
        },
    ];
    check_claims(cases, company::Event::claims, company::evolve);
}
