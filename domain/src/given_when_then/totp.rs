//! The authenticator app (TOTP) as a second factor: enrolment, confirmation, sign-in with a
//! code, replayed codes, removal, and the challenge claim an app challenge takes.

use super::*;
use crate::policy::PasswordPolicy;
use crate::user::{PasswordSource, SecondFactor, TokenPurpose};

const SECRET: &str = "v1:sealed-secret";
const NEW_SECRET: &str = "v1:another-sealed-secret";
const CHALLENGE: Uuid = Uuid::from_u128(0x7_07B0_0001);
const OTHER_CHALLENGE: Uuid = Uuid::from_u128(0x7_07B0_0002);
/// A time step (30 s each since 1970): 2025-06-01T12:00:00Z is step 58 308 480.
const STEP: u64 = 58_308_480;

/// Approved, invited and activated: alice may sign in.
fn active_and(extra: &[user::Event]) -> Vec<user::Event> {
    let mut events = vec![
        created().approved().event(),
        user::Event::TokenIssued {
            token_hash: "t".to_owned(),
            expires_at: days(7),
            purpose: TokenPurpose::Activation,
        },
        user::Event::PasswordSet {
            password_hash: "$argon2id$hash".to_owned(),
            source: PasswordSource::Token,
            must_change: false,
            at: days(-1),
        },
    ];
    events.extend_from_slice(extra);
    events
}

fn enrolled(secret: &str) -> user::Event {
    user::Event::TotpEnrolled { secret: secret.to_owned() }
}

fn confirmed(step: u64) -> user::Event {
    user::Event::TotpConfirmed { step }
}

fn enroll(secret: &str) -> user::Command {
    user::Command::EnrollTotp { secret: secret.to_owned() }
}

fn confirm(step: Option<u64>) -> user::Command {
    user::Command::ConfirmTotp { step }
}

fn app_challenged(challenge_id: Uuid) -> user::Event {
    user::Event::TwoFactorChallenged {
        challenge_id,
        pin_hash: String::new(),
        expires_at: now() + TimeDelta::minutes(10),
        channel: SecondFactor::Totp,
    }
}

fn login_with_app(challenge_id: Uuid) -> user::Command {
    user::Command::RecordLogin {
        password_ok: true,
        policy: PasswordPolicy::default(),
        challenge: Some(user::NewChallenge {
            challenge_id,
            pin_hash: String::new(),
            expires_at: now() + TimeDelta::minutes(10),
            channel: SecondFactor::Totp,
        }),
    }
}

/// A code sent for `challenge_id`: `matched` is the step the caller found it valid for.
fn code(challenge_id: Uuid, matched: Option<u64>) -> user::Command {
    user::Command::VerifyPin {
        challenge_id,
        pin_ok: matched.is_some(),
        totp_step: matched,
        policy: PasswordPolicy::default(),
    }
}

fn signed_in() -> user::Event {
    user::Event::LoginSucceeded { at: now() }
}

fn accepted(step: u64) -> user::Event {
    user::Event::TotpCodeAccepted { step }
}

fn wrong(failures_on_challenge: u32, failed_logins: u32) -> Vec<user::Event> {
    vec![
        user::Event::TwoFactorFailed { challenge_id: CHALLENGE, failures: failures_on_challenge },
        user::Event::LoginFailed { failures: failed_logins },
    ]
}

fn already_enrolled(message: &str) -> DomainError {
    rule("totp_already_enrolled", message)
}

#[test]
fn user_enroll_and_confirm_an_authenticator_app() {
    let cases = vec![
        Case {
            name: "a user without an app enrols one",
            given: active_and(&[]),
            when: enroll(SECRET),
            then: Then::Events(vec![enrolled(SECRET)]),
        },
        Case {
            name: "a new enrolment replaces one never confirmed",
            given: active_and(&[enrolled(SECRET)]),
            when: enroll(NEW_SECRET),
            then: Then::Events(vec![enrolled(NEW_SECRET)]),
        },
        Case {
            name: "a confirmed app must be removed before another is enrolled",
            given: active_and(&[enrolled(SECRET), confirmed(STEP)]),
            when: enroll(NEW_SECRET),
            then: Then::Error(already_enrolled(
                "an authenticator app already signs this user in: remove it first",
            )),
        },
        Case {
            name: "a deleted user enrols nothing",
            given: active_and(&[user::Event::UserDeleted {}]),
            when: enroll(SECRET),
            then: Then::Error(rule("user_deleted", "the user has been deleted")),
        },
        Case {
            name: "the app's right code confirms it, spending that step",
            given: active_and(&[enrolled(SECRET)]),
            when: confirm(Some(STEP)),
            then: Then::Events(vec![confirmed(STEP)]),
        },
        Case {
            name: "a wrong code confirms nothing",
            given: active_and(&[enrolled(SECRET)]),
            when: confirm(None),
            then: Then::Error(rule(
                "invalid_code",
                "the code is wrong or has expired: enter the current one",
            )),
        },
        Case {
            name: "nothing to confirm without an enrolment",
            given: active_and(&[]),
            when: confirm(Some(STEP)),
            then: Then::Error(rule("totp_not_enrolled", "no authenticator app is waiting to be confirmed")),
        },
        Case {
            name: "a confirmed app is not confirmed twice",
            given: active_and(&[enrolled(SECRET), confirmed(STEP)]),
            when: confirm(Some(STEP + 1)),
            then: Then::Error(already_enrolled("the authenticator app is already confirmed")),
        },
        Case {
            name: "removing the app records it",
            given: active_and(&[enrolled(SECRET), confirmed(STEP)]),
            when: user::Command::RemoveTotp,
            then: Then::Events(vec![user::Event::TotpRemoved {}]),
        },
        Case {
            name: "removing an app never confirmed records it too",
            given: active_and(&[enrolled(SECRET)]),
            when: user::Command::RemoveTotp,
            then: Then::Events(vec![user::Event::TotpRemoved {}]),
        },
        Case {
            name: "removing no app is a no-op",
            given: active_and(&[]),
            when: user::Command::RemoveTotp,
            then: Then::Events(vec![]),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[test]
fn user_sign_in_with_an_authenticator_app() {
    let with_app = |extra: &[user::Event]| {
        let mut given = vec![enrolled(SECRET), confirmed(STEP - 10)];
        given.extend_from_slice(extra);
        active_and(&given)
    };
    let cases = vec![
        Case {
            name: "a right password asks for the app's code: nothing is sent",
            given: with_app(&[]),
            when: login_with_app(CHALLENGE),
            then: Then::Events(vec![app_challenged(CHALLENGE)]),
        },
        Case {
            name: "an app challenge for a user whose app is not confirmed is refused",
            given: active_and(&[enrolled(SECRET)]),
            when: login_with_app(CHALLENGE),
            then: Then::Error(rule("totp_not_enrolled", "the user has no authenticator app")),
        },
        Case {
            name: "a code of a later step signs in and spends the step",
            given: with_app(&[app_challenged(CHALLENGE)]),
            when: code(CHALLENGE, Some(STEP)),
            then: Then::Events(vec![accepted(STEP), signed_in()]),
        },
        Case {
            name: "a code already used (its step spent) counts as wrong",
            given: with_app(&[accepted(STEP), app_challenged(CHALLENGE)]),
            when: code(CHALLENGE, Some(STEP)),
            then: Then::Events(wrong(1, 1)),
        },
        Case {
            name: "a code of a step before the last one used counts as wrong",
            given: with_app(&[accepted(STEP), app_challenged(CHALLENGE)]),
            when: code(CHALLENGE, Some(STEP - 1)),
            then: Then::Events(wrong(1, 1)),
        },
        Case {
            name: "the step the app was confirmed with is spent as well",
            given: active_and(&[enrolled(SECRET), confirmed(STEP), app_challenged(CHALLENGE)]),
            when: code(CHALLENGE, Some(STEP)),
            then: Then::Events(wrong(1, 1)),
        },
        Case {
            name: "a wrong code counts on the challenge and as a failed sign-in",
            given: with_app(&[app_challenged(CHALLENGE)]),
            when: code(CHALLENGE, None),
            then: Then::Events(wrong(1, 1)),
        },
        Case {
            name: "a step without the caller's match is wrong: the caller's check decides",
            given: with_app(&[app_challenged(CHALLENGE)]),
            when: user::Command::VerifyPin {
                challenge_id: CHALLENGE,
                pin_ok: false,
                totp_step: Some(STEP),
                policy: PasswordPolicy::default(),
            },
            then: Then::Events(wrong(1, 1)),
        },
        Case {
            name: "the wrong code that reaches the lockout limit locks",
            given: with_app(&[user::Event::LoginFailed { failures: 4 }, app_challenged(CHALLENGE)]),
            when: code(CHALLENGE, None),
            then: Then::Events({
                let mut events = wrong(1, 5);
                events.push(user::Event::UserLocked { until: now() + TimeDelta::minutes(15) });
                events
            }),
        },
        Case {
            name: "after the app is removed its challenge is over",
            given: with_app(&[app_challenged(CHALLENGE), user::Event::TotpRemoved {}]),
            when: code(CHALLENGE, Some(STEP)),
            then: Then::Error(rule(
                "invalid_challenge",
                "the sign-in this PIN was for is over (used, replaced, or too many wrong PINs): sign in again",
            )),
        },
        Case {
            name: "a code for another challenge is refused",
            given: with_app(&[app_challenged(CHALLENGE)]),
            when: code(OTHER_CHALLENGE, Some(STEP)),
            then: Then::Error(rule(
                "invalid_challenge",
                "the sign-in this PIN was for is over (used, replaced, or too many wrong PINs): sign in again",
            )),
        },
    ];
    check(cases, user::decide, user::evolve);
}

#[derive(Debug, PartialEq)]
struct App {
    enrolled: bool,
    confirmed: bool,
    last_step: u64,
    secret: Option<String>,
    challenge: Option<SecondFactor>,
}

#[test]
fn user_authenticator_app_state() {
    let none = || App { enrolled: false, confirmed: false, last_step: 0, secret: None, challenge: None };
    let cases = vec![
        StateCase { name: "no app", given: active_and(&[]), then: none() },
        StateCase {
            name: "enrolled, not yet confirmed",
            given: active_and(&[enrolled(SECRET)]),
            then: App { enrolled: true, secret: Some(SECRET.to_owned()), ..none() },
        },
        StateCase {
            name: "confirmed with a step",
            given: active_and(&[enrolled(SECRET), confirmed(STEP)]),
            then: App {
                enrolled: true,
                confirmed: true,
                last_step: STEP,
                secret: Some(SECRET.to_owned()),
                ..none()
            },
        },
        StateCase {
            name: "each code accepted moves the last step on",
            given: active_and(&[enrolled(SECRET), confirmed(STEP), accepted(STEP + 3)]),
            then: App {
                enrolled: true,
                confirmed: true,
                last_step: STEP + 3,
                secret: Some(SECRET.to_owned()),
                ..none()
            },
        },
        StateCase {
            name: "an app challenge is pending with its channel",
            given: active_and(&[enrolled(SECRET), confirmed(STEP), app_challenged(CHALLENGE)]),
            then: App {
                enrolled: true,
                confirmed: true,
                last_step: STEP,
                secret: Some(SECRET.to_owned()),
                challenge: Some(SecondFactor::Totp),
            },
        },
        StateCase {
            name: "removed: no app, and its challenge is over",
            given: active_and(&[
                enrolled(SECRET),
                confirmed(STEP),
                app_challenged(CHALLENGE),
                user::Event::TotpRemoved {},
            ]),
            then: none(),
        },
        StateCase {
            name: "a new enrolment after a removal starts again, unconfirmed",
            given: active_and(&[
                enrolled(SECRET),
                confirmed(STEP),
                user::Event::TotpRemoved {},
                enrolled(NEW_SECRET),
            ]),
            then: App { enrolled: true, secret: Some(NEW_SECRET.to_owned()), ..none() },
        },
    ];
    check_states(cases, user::evolve, |state: &user::State| App {
        enrolled: state.totp.is_some(),
        confirmed: state.has_totp(),
        last_step: state.totp.as_ref().map_or(0, |totp| totp.last_step),
        secret: state.totp.as_ref().map(|totp| totp.secret.clone()),
        challenge: state.pending_challenge.as_ref().map(|challenge| challenge.channel),
    });
}

#[test]
fn an_app_challenge_takes_its_claim_and_a_removal_gives_it_back() {
    let before = user_state(&active_and(&[enrolled(SECRET), confirmed(STEP)]));
    let claims = app_challenged(CHALLENGE).claims(&before);
    assert_eq!(claims, vec![ClaimChange::Acquire(user::challenge_claim(CHALLENGE))]);
    let pending = user_state(&active_and(&[enrolled(SECRET), confirmed(STEP), app_challenged(CHALLENGE)]));
    let claims = user::Event::TotpRemoved {}.claims(&pending);
    assert_eq!(claims, vec![ClaimChange::Release(user::challenge_claim(CHALLENGE))]);
    let claims = user::Event::TotpRemoved {}.claims(&before);
    assert_eq!(claims, vec![], "no challenge pending, no claim to give back");
}

#[test]
fn the_state_as_json_holds_no_secret() {
    let state = user_state(&active_and(&[enrolled(SECRET), confirmed(STEP)]));
    let value = serde_json::to_value(&state).expect("a state serializes");
    assert!(!value.to_string().contains(SECRET), "{value}");
    assert_eq!(value["totp"], serde_json::json!({ "confirmed": true, "lastStep": STEP }));
}
