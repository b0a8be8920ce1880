//! The JSON bodies of the commands, decoded strictly: an unknown field is an error naming it.

use chrono::{DateTime, Utc};
use domain::policy::{PasswordPolicy, UsernamePolicy};
use domain::ticket::Topic;
use domain::user::ServiceLevel;
use domain::{Level, Module};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::error::ApiError;

/// Decodes a command body, naming the field that is wrong.
pub fn parse<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        // serde names a missing or unknown field in its message, not in the path.
        let field = between_backticks(&inner).filter(|_| path == ".").unwrap_or(path);
        let problem = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        ApiError::invalid_field(&field, problem)
    })
}

fn between_backticks(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
}

/// A field that is present is `Some`, even when its value is `null` (which clears it).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

fn present_uuid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(deserializer).map(Some)
}

fn present_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterCompany {
    pub name: String,
    pub main_phone: String,
    pub parent_company_id: Option<Uuid>,
    pub license_limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCompany {
    pub company_id: Uuid,
    pub name: Option<String>,
    pub main_phone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetLicenseLimit {
    pub company_id: Uuid,
    /// Required; `null` removes the limit.
    #[serde(deserialize_with = "present_u32")]
    pub limit: Option<Option<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetCompanyPolicies {
    pub company_id: Uuid,
    pub username_policy: Option<UsernamePolicyBody>,
    pub password_policy: Option<PasswordPolicyBody>,
}

/// A username policy; an absent field keeps the company's current value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsernamePolicyBody {
    pub min_length: Option<u32>,
    pub max_length: Option<u32>,
    pub allowed_symbols: Option<String>,
    pub email_as_username: Option<bool>,
}

impl UsernamePolicyBody {
    pub fn over(self, current: &UsernamePolicy) -> UsernamePolicy {
        UsernamePolicy {
            min_length: self.min_length.unwrap_or(current.min_length),
            max_length: self.max_length.unwrap_or(current.max_length),
            allowed_symbols: self.allowed_symbols.unwrap_or_else(|| current.allowed_symbols.clone()),
            email_as_username: self.email_as_username.unwrap_or(current.email_as_username),
        }
    }
}

/// A password policy; an absent field keeps the company's current value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordPolicyBody {
    pub min_length: Option<u32>,
    pub max_length: Option<u32>,
    pub required_classes: Option<u32>,
    pub forbidden_characters: Option<String>,
    /// Failed sign-ins in a row that lock the account.
    pub max_failed_logins: Option<u32>,
    /// How long the first lock lasts; each further one twice as long (at most a day).
    pub lock_minutes: Option<u32>,
    /// Every user signs in with a PIN by SMS as well.
    pub require_two_factor: Option<bool>,
}

impl PasswordPolicyBody {
    pub fn over(self, current: &PasswordPolicy) -> PasswordPolicy {
        PasswordPolicy {
            max_failed_logins: self.max_failed_logins.unwrap_or(current.max_failed_logins),
            lock_minutes: self.lock_minutes.unwrap_or(current.lock_minutes),
            require_two_factor: self.require_two_factor.unwrap_or(current.require_two_factor),
            min_length: self.min_length.unwrap_or(current.min_length),
            max_length: self.max_length.unwrap_or(current.max_length),
            required_classes: self.required_classes.unwrap_or(current.required_classes),
            forbidden_characters: self
                .forbidden_characters
                .unwrap_or_else(|| current.forbidden_characters.clone()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    pub company_id: Uuid,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub office_phone: Option<String>,
    pub fax: Option<String>,
    pub outbound_caller_id: Option<String>,
    pub extension: Option<String>,
    pub title: Option<String>,
    pub customer_code: Option<String>,
    pub udid: Option<String>,
    pub service_level: Option<ServiceLevel>,
    pub role_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    #[serde(default)]
    pub approved: bool,
    #[serde(default)]
    pub admin: bool,
    pub portal_access: Option<bool>,
    /// Telzio's "send credentials": the admin sets a first password, which the user must
    /// change at their first sign-in. Without it, the user gets an invitation to set one.
    pub password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserTarget {
    pub user_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuspendUser {
    pub user_id: Uuid,
    pub until: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// Absent keeps a field; `null` clears an optional one.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserProfile {
    pub user_id: Uuid,
    /// Present only to be refused with a clear message: a username never changes.
    pub username: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub mobile: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub office_phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub fax: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub outbound_caller_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub extension: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub customer_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub udid: Option<Option<String>>,
    pub service_level: Option<ServiceLevel>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetUserAccess {
    pub user_id: Uuid,
    pub admin: Option<bool>,
    pub portal_access: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permission {
    pub module: Module,
    pub level: Level,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRole {
    pub company_id: Uuid,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRole {
    pub role_id: Uuid,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleTarget {
    pub role_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignRole {
    pub user_id: Uuid,
    pub role_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantPermission {
    pub role_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub module: Module,
    pub level: Level,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokePermission {
    pub role_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub module: Module,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateGroup {
    pub company_id: Uuid,
    pub name: String,
    pub role_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenameGroup {
    pub group_id: Uuid,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupTarget {
    pub group_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetGroupRole {
    pub group_id: Uuid,
    /// Required; `null` takes the group's role away.
    #[serde(deserialize_with = "present_uuid")]
    pub role_id: Option<Option<Uuid>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignGroup {
    pub user_id: Uuid,
    pub group_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenTicket {
    pub company_id: Uuid,
    pub requester_id: Option<Uuid>,
    pub topic: Topic,
    pub message: String,
    /// Ids of files uploaded with `POST /attachments`.
    #[serde(default)]
    pub attachments: Vec<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentOnTicket {
    pub ticket_id: Uuid,
    pub message: String,
    #[serde(default)]
    pub attachments: Vec<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloseTicket {
    pub ticket_id: Uuid,
    pub resolution: Option<String>,
}

/// Self-service: `userId` is the signed-in user's own id (and may be left out by them); the
/// operator names the user.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMySettings {
    pub user_id: Option<Uuid>,
    pub manual_filtering: Option<bool>,
    /// Settings to set; `null` removes one.
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, Option<serde_json::Value>>,
}

/// The fields of TeleGo's "My Account" page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMyProfile {
    pub user_id: Option<Uuid>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub mobile: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub extension: Option<Option<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeMobileNumber {
    pub user_id: Uuid,
    pub mobile: String,
    /// `SUSPENDED`: kept for this user; `REMOVED`: free for anyone.
    pub previous_number: domain::user::PreviousNumber,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetEnabledApps {
    pub company_id: Uuid,
    pub apps: std::collections::BTreeSet<domain::apps::App>,
}

/// Names the user by id, username or email (exactly one).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestOwnership {
    pub company_id: Uuid,
    pub user_id: Option<Uuid>,
    pub username: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnershipAnswer {
    pub user_id: Uuid,
    pub request_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivateAccount {
    pub token: String,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetPassword {
    pub user_id: Uuid,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePassword {
    pub user_id: Option<Uuid>,
    pub old_password: String,
    pub new_password: String,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Login {
    pub login: String,
    pub password: String,
}

/// `POST /auth/password-reset`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordReset {
    pub login: String,
}

/// Internal: a sign-in attempt, after the password was checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordLogin {
    pub user_id: Uuid,
    pub password_ok: bool,
}

/// Internal: the same password hashed with today's parameters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RehashPassword {
    pub user_id: Uuid,
    pub password_hash: String,
}

/// Internal: the PIN of a sign-in challenge, after it was compared.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyPin {
    pub user_id: Uuid,
    pub challenge_id: Uuid,
    pub pin_ok: bool,
    /// For an authenticator-app challenge: the time step the code matched.
    #[serde(default)]
    pub totp_step: Option<u64>,
}

/// Internal: a new authenticator-app secret, sealed with the user's vault key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollTotp {
    pub user_id: Uuid,
    pub secret: String,
}

/// Internal: the first code of the app just enrolled, after it was checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmTotp {
    pub user_id: Uuid,
    pub step: Option<u64>,
}

/// `POST /auth/totp/confirm`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

/// `POST /auth/verify`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Verify {
    pub challenge_id: Uuid,
    pub pin: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetTwoFactor {
    pub user_id: Uuid,
    pub enabled: bool,
}
