//! Passwords, single-use tokens and sign-in attempts. Hashing and verifying happen outside
//! (they are slow and need randomness): the caller passes hashes and verdicts in, and this
//! module decides what they mean, including the lockout, so that counting failed attempts and
//! locking are one conditional append on the user's stream.

use chrono::{DateTime, Utc};

use uuid::Uuid;

use super::{Event, NewChallenge, PasswordSource, SecondFactor, State, Status, TokenPurpose};
use crate::policy::PasswordPolicy;
use crate::{Context, DomainError};

pub(super) fn decide_issue(
    state: &State,
    token_hash: String,
    expires_at: DateTime<Utc>,
    purpose: TokenPurpose,
    context: &Context,
) -> Result<Vec<Event>, DomainError> {
    if purpose == TokenPurpose::Activation && state.activated {
        return Err(DomainError::rule(
            "already_activated",
            "the user has activated their account; reset their password instead",
        ));
    }
    if expires_at <= context.now {
        return Err(DomainError::rule("token_expired", "the token would expire before it is sent"));
    }
    Ok(vec![Event::TokenIssued { token_hash, expires_at, purpose }])
}

pub(super) fn decide_redeem(
    state: &State,
    token_hash: &str,
    password_hash: String,
    context: &Context,
) -> Result<Vec<Event>, DomainError> {
    let Some(pending) = state.pending_token.as_ref().filter(|pending| pending.token_hash == token_hash)
    else {
        return Err(invalid_token());
    };
    if pending.expires_at <= context.now {
        return Err(DomainError::rule(
            "token_expired",
            "the link has expired; ask for a new invitation or password reset",
        ));
    }
    Ok(vec![Event::PasswordSet {
        password_hash,
        source: PasswordSource::Token,
        must_change: false,
        at: context.now,
    }])
}

/// The same answer for a token that never existed, was used, or was replaced.
pub fn invalid_token() -> DomainError {
    DomainError::rule("invalid_token", "the token is not valid (it may have been used or replaced)")
}

pub(super) fn decide_change(
    state: &State,
    old_password_ok: bool,
    password_hash: String,
    policy: &PasswordPolicy,
    context: &Context,
) -> Result<Vec<Event>, DomainError> {
    if state.password_hash.is_none() {
        return Err(DomainError::rule("not_activated", "the user has no password yet"));
    }
    if !old_password_ok {
        // A stolen session must not be a way to guess the password without limit: the wrong
        // guess is recorded as a failed sign-in (the caller answers `wrong_password`).
        return decide_login(state, false, policy, None, context);
    }
    Ok(vec![Event::PasswordSet {
        password_hash,
        source: PasswordSource::User,
        must_change: false,
        at: context.now,
    }])
}

/// A sign-in attempt. A locked user is refused without counting; a wrong password counts, and
/// the attempt that reaches the policy's limit also locks; a right password for a user who
/// may not sign in records nothing.
pub(super) fn decide_login(
    state: &State,
    password_ok: bool,
    policy: &PasswordPolicy,
    challenge: Option<NewChallenge>,
    context: &Context,
) -> Result<Vec<Event>, DomainError> {
    if let Some(until) = state.locked_until.filter(|until| *until > context.now) {
        return Err(DomainError::rule_with(
            "account_locked",
            "too many failed sign-ins: the account is locked for now",
            serde_json::json!({ "lockedUntil": until, "retryAfterSeconds": (until - context.now).num_seconds().max(1) }),
        ));
    }
    if !password_ok {
        let failures = state.failed_logins + 1;
        let mut events = vec![Event::LoginFailed { failures }];
        if failures >= policy.max_failed_logins {
            events.push(Event::UserLocked { until: context.now + policy.lock_duration(state.lockouts) });
        }
        return Ok(events);
    }
    let status = state.status_at(context.now);
    if status != Status::Active || !state.portal_access || !state.activated {
        let reason = match status {
            Status::Active if !state.activated => "the account is not activated yet",
            Status::Active => "the account has no portal access",
            Status::PendingApproval => "the account is waiting for approval",
            Status::Disapproved => "the account is not approved",
            Status::Suspended => "the account is suspended",
            Status::Deactivated => "the account is deactivated",
            Status::Deleted => "the account is deleted",
        };
        return Err(DomainError::rule("account_inactive", reason));
    }
    if let Some(NewChallenge { challenge_id, pin_hash, expires_at, channel }) = challenge {
        if channel == SecondFactor::Totp && !state.has_totp() {
            return Err(DomainError::rule("totp_not_enrolled", "the user has no authenticator app"));
        }
        return Ok(vec![Event::TwoFactorChallenged { challenge_id, pin_hash, expires_at, channel }]);
    }
    Ok(vec![Event::LoginSucceeded { at: context.now }])
}

/// The PIN or app code of a challenge: right → signed in; wrong → counted, and the third voids
/// it. An app code is right only once: its time step must be later than the last one accepted.
pub(super) fn decide_pin(
    state: &State,
    challenge_id: Uuid,
    pin_ok: bool,
    totp_step: Option<u64>,
    policy: &PasswordPolicy,
    context: &Context,
) -> Result<Vec<Event>, DomainError> {
    let Some(challenge) = state.pending_challenge.as_ref().filter(|c| c.challenge_id == challenge_id) else {
        return Err(DomainError::rule(
            "invalid_challenge",
            "the sign-in this PIN was for is over (used, replaced, or too many wrong PINs): sign in again",
        ));
    };
    if challenge.expires_at <= context.now {
        return Err(DomainError::rule(
            "challenge_expired",
            "the PIN has expired: sign in again for a new one",
        ));
    }
    let totp = state.totp.as_ref().filter(|totp| totp.confirmed);
    let accepted_step = match challenge.channel {
        SecondFactor::Sms => None,
        SecondFactor::Totp => totp_step.filter(|step| totp.is_some_and(|totp| *step > totp.last_step)),
    };
    let pin_ok = match challenge.channel {
        SecondFactor::Sms => pin_ok,
        SecondFactor::Totp => pin_ok && accepted_step.is_some(),
    };
    if !pin_ok {
        // A wrong PIN is a failed sign-in too: with a new challenge at every right password,
        // three tries per challenge alone would not stop someone who knows the password.
        let failures = state.failed_logins + 1;
        let mut events = vec![
            Event::TwoFactorFailed { challenge_id, failures: challenge.failures + 1 },
            Event::LoginFailed { failures },
        ];
        if failures >= policy.max_failed_logins {
            events.push(Event::UserLocked { until: context.now + policy.lock_duration(state.lockouts) });
        }
        return Ok(events);
    }
    if !state.may_sign_in_at(context.now) {
        return Err(DomainError::rule("account_inactive", "the account may not sign in now"));
    }
    let mut events: Vec<Event> =
        accepted_step.map(|step| Event::TotpCodeAccepted { step }).into_iter().collect();
    events.push(Event::LoginSucceeded { at: context.now });
    Ok(events)
}

/// A new authenticator app replaces one not yet confirmed; a confirmed one must be removed
/// first, so that a stolen session alone cannot move the second factor to another phone.
pub(super) fn decide_enroll_totp(state: &State, secret: String) -> Result<Vec<Event>, DomainError> {
    if state.has_totp() {
        return Err(DomainError::rule(
            "totp_already_enrolled",
            "an authenticator app already signs this user in: remove it first",
        ));
    }
    Ok(vec![Event::TotpEnrolled { secret }])
}

/// The first code from the app just enrolled: right → the app signs the user in from now on.
pub(super) fn decide_confirm_totp(state: &State, step: Option<u64>) -> Result<Vec<Event>, DomainError> {
    match &state.totp {
        None => {
            Err(DomainError::rule("totp_not_enrolled", "no authenticator app is waiting to be confirmed"))
        }
        Some(totp) if totp.confirmed => {
            Err(DomainError::rule("totp_already_enrolled", "the authenticator app is already confirmed"))
        }
        Some(_) => match step {
            Some(step) => Ok(vec![Event::TotpConfirmed { step }]),
            None => Err(DomainError::rule(
                "invalid_code",
                "the code is wrong or has expired: enter the current one",
            )),
        },
    }
}
