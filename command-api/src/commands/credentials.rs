//! Passwords and single-use tokens: the invitation a new user gets, `ActivateAccount`,
//! `ResendInvitation`, `ResetPassword`, `SetPassword`, `ChangePassword`, `UnlockUser`,
//! `SetTwoFactor`, `RemoveTotp`, and the internal `RecordLogin`, `VerifyPin`,
//! `RequestPasswordReset`, `EnrollTotp` and `ConfirmTotp` behind `/auth`.
//!
//! Plain passwords, tokens and PINs stay in this process: events get argon2id hashes and
//! SHA-256 token hashes, and the messages carrying a token go to the outbox, written in the
//! same append as the events.

use chrono::{DateTime, Utc};
use domain::policy::PasswordPolicy;
use domain::user::{self, TokenPurpose};
use domain::validate::Problems;
use domain::{Actor, Context, company};
use eventlog::{Channel, Notification, Secret};
use uuid::Uuid;

use super::{On, own_user};
use crate::dto::{self, parse};
use crate::error::ApiError;
use crate::plan::{Decision, Plan};
use crate::secrets;

pub(super) async fn decide(
    on: &On<'_>,
    command_type: &str,
    body: serde_json::Value,
) -> Result<Decision, ApiError> {
    let a = on.aggregates;
    match command_type {
        "ActivateAccount" => {
            let dto::ActivateAccount { token, password } = parse(body)?;
            let hash = secrets::token_hash(&token);
            let owner = a.log.claim_owner(&user::token_claim(&hash)).await?;
            let Some((_, user_id)) = owner.as_deref().and_then(domain::parse_stream_id) else {
                return Err(user::invalid_token().into());
            };
            let state = a.users.refresh(a.log.as_ref(), user_id).await?.state;
            check_policy(&company_of(on, &state).await?.password_policy, "password", &password)?;
            let password_hash = secrets::hash_password(password).await?;
            let mut decision =
                on.user(user_id, user::Command::RedeemToken { token_hash: hash, password_hash }).await?;
            // The token proves who is acting: the user themselves.
            decision.actor = Some(Actor::user(user_id));
            Ok(decision)
        }
        "ResendInvitation" => {
            let user_id = parse::<dto::UserTarget>(body)?.user_id;
            issue(on, user_id, TokenPurpose::Activation).await
        }
        "ResetPassword" => {
            let user_id = parse::<dto::UserTarget>(body)?.user_id;
            issue(on, user_id, TokenPurpose::PasswordReset).await
        }
        "RequestPasswordReset" => {
            let user_id = parse::<dto::UserTarget>(body)?.user_id;
            let mut decision = issue(on, user_id, TokenPurpose::PasswordReset).await?;
            decision.actor = Some(Actor::user(user_id));
            Ok(decision)
        }
        "SetPassword" => {
            let dto::SetPassword { user_id, password } = parse(body)?;
            let state = a.users.load(a.log.as_ref(), user_id).await?.state;
            check_policy(&company_of(on, &state).await?.password_policy, "password", &password)?;
            let password_hash = secrets::hash_password(password).await?;
            let mut decision = on.user(user_id, user::Command::SetPassword { password_hash }).await?;
            decision.notifications.push(credentials_message(user_id, &state));
            Ok(decision)
        }
        "ChangePassword" => {
            let dto::ChangePassword { user_id, old_password, new_password } = parse(body)?;
            let user_id = own_user(on.context, user_id)?;
            let state = a.users.refresh(a.log.as_ref(), user_id).await?.state;
            check_policy(&company_of(on, &state).await?.password_policy, "newPassword", &new_password)?;
            let old_password_ok = secrets::verify_password(old_password, state.password_hash.clone()).await;
            // A wrong old password costs no second argon2 run: the domain refuses it anyway.
            let password_hash =
                if old_password_ok { secrets::hash_password(new_password).await? } else { String::new() };
            let policy = company_of(on, &state).await?.password_policy;
            on.user(user_id, user::Command::ChangePassword { old_password_ok, password_hash, policy }).await
        }
        "UnlockUser" => on.user(parse::<dto::UserTarget>(body)?.user_id, user::Command::Unlock).await,
        "RehashPassword" => {
            let dto::RehashPassword { user_id, password_hash } = parse(body)?;
            on.user(user_id, user::Command::Rehash { password_hash }).await
        }
        "RecordLogin" => {
            let dto::RecordLogin { user_id, password_ok } = parse(body)?;
            let state = a.users.load(a.log.as_ref(), user_id).await?.state;
            let policy = company_of(on, &state).await?.password_policy;
            // A second factor when the company or the user wants one: a code from the user's
            // authenticator app if they have one, else a PIN by SMS.
            let mut message = None;
            let challenge = if password_ok && state.has_totp() {
                Some(user::NewChallenge {
                    challenge_id: Uuid::now_v7(),
                    pin_hash: String::new(),
                    expires_at: on.context.now + chrono::TimeDelta::minutes(PIN_MINUTES),
                    channel: user::SecondFactor::Totp,
                })
            } else if password_ok && (policy.require_two_factor || state.two_factor) {
                let Some(mobile) = state.get(user::Field::Mobile) else {
                    return Err(ApiError::AccountInactive(
                        "signing in needs a PIN by SMS, and the account has no mobile number: ask an administrator"
                            .to_owned(),
                    ));
                };
                let pin = secrets::new_pin()?;
                let challenge_id = Uuid::now_v7();
                let challenge = user::NewChallenge {
                    challenge_id,
                    pin_hash: secrets::pin_hash(&a.pin_key, challenge_id, &pin),
                    expires_at: on.context.now + chrono::TimeDelta::minutes(PIN_MINUTES),
                    channel: user::SecondFactor::Sms,
                };
                message = Some(pin_message(user_id, &state, mobile, pin));
                Some(challenge)
            } else {
                None
            };
            let command = user::Command::RecordLogin { password_ok, policy, challenge };
            let mut decision = on.user(user_id, command).await?;
            decision.notifications.extend(message);
            decision.actor = Some(Actor::user(user_id));
            Ok(decision)
        }
        "VerifyPin" => {
            let dto::VerifyPin { user_id, challenge_id, pin_ok, totp_step } = parse(body)?;
            let state = a.users.load(a.log.as_ref(), user_id).await?.state;
            let policy = company_of(on, &state).await?.password_policy;
            let command = user::Command::VerifyPin { challenge_id, pin_ok, totp_step, policy };
            let mut decision = on.user(user_id, command).await?;
            decision.actor = Some(Actor::user(user_id));
            Ok(decision)
        }
        "EnrollTotp" => {
            let dto::EnrollTotp { user_id, secret } = parse(body)?;
            on.user(user_id, user::Command::EnrollTotp { secret }).await
        }
        "ConfirmTotp" => {
            let dto::ConfirmTotp { user_id, step } = parse(body)?;
            on.user(user_id, user::Command::ConfirmTotp { step }).await
        }
        "RemoveTotp" => {
            let user_id = parse::<dto::UserTarget>(body)?.user_id;
            on.user(user_id, user::Command::RemoveTotp).await
        }
        "SetTwoFactor" => {
            let dto::SetTwoFactor { user_id, enabled } = parse(body)?;
            on.user(
                own_user(on.context, Some(user_id)).unwrap_or(user_id),
                user::Command::SetTwoFactor { enabled },
            )
            .await
        }
        other => Err(ApiError::UnknownCommand(other.to_owned())),
    }
}

/// How long a sign-in PIN works (the seeds' "valid only for 10 minutes").
const PIN_MINUTES: i64 = 10;

/// The SMS that carries a sign-in PIN.
fn pin_message(user_id: Uuid, user: &user::State, mobile: &str, pin: String) -> Notification {
    Notification {
        id: Uuid::now_v7(),
        channel: Channel::Sms,
        recipient: mobile.to_owned(),
        template: "sms_pin".to_owned(),
        body: format!("Your customer portal verification code is valid for {PIN_MINUTES} minutes."),
        secret: Some(Secret::Pin(pin)),
        company_id: user.company_id,
        subject: Some(user_id),
    }
}

/// The user's company, for its password policy.
async fn company_of(on: &On<'_>, user: &user::State) -> Result<company::State, ApiError> {
    let a = on.aggregates;
    Ok(a.companies.load(a.log.as_ref(), user.company_id.unwrap_or_default()).await?.state)
}

/// A password that breaks the company's policy: 400 naming `field`, in the policy's terms.
pub(crate) fn check_policy(policy: &PasswordPolicy, field: &str, password: &str) -> Result<(), ApiError> {
    let mut problems = Problems::default();
    policy.check(&mut problems, field, password);
    problems.into_result().map_err(Into::into)
}

/// A new token for `user_id`, and the message that carries it.
async fn issue(on: &On<'_>, user_id: Uuid, purpose: TokenPurpose) -> Result<Decision, ApiError> {
    let a = on.aggregates;
    let state = a.users.load(a.log.as_ref(), user_id).await?.state;
    let token = secrets::new_token()?;
    let expires_at = on.context.now + a.settings.token_ttl;
    let command = user::Command::IssueToken { token_hash: secrets::token_hash(&token), expires_at, purpose };
    let mut decision = on.user(user_id, command).await?;
    decision.notifications.push(token_message(user_id, &state, purpose, token, expires_at));
    Ok(decision)
}

/// The first credentials of a user being created: an invitation to set a password, or a
/// password set by the admin that must be changed. Returns the user's extra events.
/// How a new user gets their first password.
pub(super) enum FirstPassword {
    /// An invitation to set one.
    Invitation,
    /// Set by an admin (checked against the company's policy and hashed here); the user must
    /// change it at the first sign-in.
    Plain(String),
    /// The same, checked and hashed by the caller already (a bulk import hashes ahead).
    SetByAdmin { password_hash: String },
    /// The user's own password from another system, as its hash (a bulk import).
    Imported { password_hash: String },
}

pub(super) async fn first_credentials(
    user_id: Uuid,
    on_settings: &crate::cache::Settings,
    company: &company::State,
    created: &user::State,
    password: FirstPassword,
    context: &Context,
    plan: &mut Plan,
) -> Result<Vec<user::Event>, ApiError> {
    match password {
        FirstPassword::Plain(password) => {
            check_policy(&company.password_policy, "password", &password)?;
            let password_hash = secrets::hash_password(password).await?;
            plan.notify(credentials_message(user_id, created));
            Ok(user::decide(created, user::Command::SetPassword { password_hash }, context)?)
        }
        FirstPassword::SetByAdmin { password_hash } => {
            plan.notify(credentials_message(user_id, created));
            Ok(user::decide(created, user::Command::SetPassword { password_hash }, context)?)
        }
        FirstPassword::Imported { password_hash } => {
            Ok(user::decide(created, user::Command::ImportPassword { password_hash }, context)?)
        }
        FirstPassword::Invitation => {
            let token = secrets::new_token()?;
            let expires_at = context.now + on_settings.token_ttl;
            let command = user::Command::IssueToken {
                token_hash: secrets::token_hash(&token),
                expires_at,
                purpose: TokenPurpose::Activation,
            };
            let events = user::decide(created, command, context)?;
            plan.notify(token_message(user_id, created, TokenPurpose::Activation, token, expires_at));
            Ok(events)
        }
    }
}

fn token_message(
    user_id: Uuid,
    user: &user::State,
    purpose: TokenPurpose,
    token: String,
    expires_at: DateTime<Utc>,
) -> Notification {
    let (template, body) = match purpose {
        TokenPurpose::Activation => (
            "invitation",
            format!(
                "Hello {}, an account was created for you on the customer portal (username {}). Activate it with the \
                 token of this message before {} UTC; it works once.",
                user.first_name,
                user.username,
                expires_at.format("%Y-%m-%d %H:%M")
            ),
        ),
        TokenPurpose::PasswordReset => (
            "password_reset",
            format!(
                "Hello {}, choose a new password for the customer portal (username {}) with the token of this message \
                 before {} UTC; it works once. If you did not ask for this, ignore this message.",
                user.first_name,
                user.username,
                expires_at.format("%Y-%m-%d %H:%M")
            ),
        ),
    };
    Notification {
        id: Uuid::now_v7(),
        channel: Channel::Email,
        recipient: user.email.clone(),
        template: template.to_owned(),
        body,
        secret: Some(Secret::Token(token)),
        company_id: user.company_id,
        subject: Some(user_id),
    }
}

/// Telzio's "send credentials": the username and the fact that a first password was set (the
/// password itself is never sent by the portal).
fn credentials_message(user_id: Uuid, user: &user::State) -> Notification {
    Notification {
        id: Uuid::now_v7(),
        channel: Channel::Email,
        recipient: user.email.clone(),
        template: "credentials".to_owned(),
        body: format!(
            "Hello {}, your administrator created your sign-in for the customer portal: username {}, with a first \
             password they will give you. You will choose your own password when you first sign in.",
            user.first_name, user.username
        ),
        secret: None,
        company_id: user.company_id,
        subject: Some(user_id),
    }
}
