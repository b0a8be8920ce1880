//! A portal user: belongs to one company, has one role, one group and per-user grants.
//!
//! Refusals and no-ops, per command (ARCHITECTURE.md repeats this table):
//! - every command but `Delete` on a deleted user: refused, `user_deleted`;
//! - `Approve` of an approved user, `Disapprove` of a disapproved user: no-op;
//! - `Suspend` of a suspended user: refused, `already_suspended` (its reason or end would be lost);
//! - `Deactivate` of a deactivated user: no-op;
//! - `Reactivate` of a user who is neither suspended nor deactivated: refused, `not_suspended`;
//! - `Delete` of a deleted user: no-op (deleting is idempotent);
//! - `UpdateProfile`, `AssignRole`, `AssignGroup`, `SetAccess`, `Grant`, `Revoke` that change
//!   nothing: no-op.
//!
//! A user's role, group and seat are also recorded on the role's, the group's and the
//! company's streams, in the same append (see `command-api`): this module decides only the
//! user's own events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::permissions::{Level, Module, PermissionSet};
use crate::validate::Problems;
use crate::{ClaimChange, Context, DomainError, company, group, role};

mod credentials;
mod ownership;

pub use credentials::invalid_token;
mod self_service;

pub const CATEGORY: &str = "user";

/// The profile fields a user or an admin may change. `Email`, `FirstName` and `LastName` are
/// required; the others may be cleared.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    Email,
    FirstName,
    LastName,
    /// The main number, in E.164.
    Phone,
    /// The mobile (cell) number, in E.164: where SMS codes go.
    Mobile,
    OfficePhone,
    Fax,
    /// The number shown as caller id on outbound calls, in E.164.
    OutboundCallerId,
    /// 3 or 4 digits, unique within the company.
    Extension,
    Title,
    /// A free-form code the customer uses for its own purposes (TeleMessage).
    CustomerCode,
    /// A mobile device identifier (TeleMessage).
    Udid,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Email,
        Field::FirstName,
        Field::LastName,
        Field::Phone,
        Field::Mobile,
        Field::OfficePhone,
        Field::Fax,
        Field::OutboundCallerId,
        Field::Extension,
        Field::Title,
        Field::CustomerCode,
        Field::Udid,
    ];

    /// The field's JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::FirstName => "firstName",
            Field::LastName => "lastName",
            Field::Phone => "phone",
            Field::Mobile => "mobile",
            Field::OfficePhone => "officePhone",
            Field::Fax => "fax",
            Field::OutboundCallerId => "outboundCallerId",
            Field::Extension => "extension",
            Field::Title => "title",
            Field::CustomerCode => "customerCode",
            Field::Udid => "udid",
        }
    }

    pub fn is_required(self) -> bool {
        matches!(self, Field::Email | Field::FirstName | Field::LastName)
    }

    fn is_phone(self) -> bool {
        matches!(
            self,
            Field::Phone | Field::Mobile | Field::OfficePhone | Field::Fax | Field::OutboundCallerId
        )
    }

    /// Checks and normalises one value: trimmed, phones in E.164; `None` when it is invalid.
    fn normalize(self, problems: &mut Problems, value: &str) -> Option<String> {
        let field = self.name();
        let value = value.trim();
        let before = problems.fields().len();
        match self {
            Field::Email => problems.email(field, value),
            Field::FirstName | Field::LastName => problems.text(field, value, 100),
            Field::Extension => problems.extension(field, value),
            Field::Title | Field::CustomerCode | Field::Udid => problems.text(field, value, 100),
            _ if self.is_phone() => return problems.phone(field, value),
            _ => {}
        }
        (problems.fields().len() == before).then(|| value.to_owned())
    }
}

/// `ARCHIVE` is TeleMessage's default subscriber; `PRO` adds administrative capabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceLevel {
    #[default]
    Archive,
    Pro,
}

/// Where a user stands, derived from the lifecycle flags (the strongest wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    PendingApproval,
    Active,
    Disapproved,
    Suspended,
    Deactivated,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Create(Box<Create>),
    Approve,
    Disapprove,
    Suspend {
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
    },
    /// Kept in lists, no access, until reactivated (Sangoma's "Active" checkbox).
    Deactivate,
    /// Lifts a suspension and a deactivation.
    Reactivate,
    UpdateProfile(ProfileChanges),
    Delete,
    /// `role` is the role's state, looked up by the caller.
    AssignRole {
        role_id: Uuid,
        role: role::State,
    },
    /// `group` is the group's state, looked up by the caller.
    AssignGroup {
        group_id: Uuid,
        group: group::State,
    },
    SetAccess {
        admin: Option<bool>,
        portal_access: Option<bool>,
    },
    Grant {
        module: Module,
        level: Level,
    },
    Revoke {
        module: Module,
    },
    /// The user's own preferences (self-service).
    UpdateSettings(SettingsChanges),
    /// TeleMessage's change of mobile number: the new number becomes the user's mobile; the
    /// old one is suspended (kept reserved for this user) or removed (free for anyone).
    ChangeMobile {
        mobile: String,
        previous: PreviousNumber,
    },
    /// Another company (`company`, looked up by the caller) asks to take this user over.
    RequestOwnership {
        request_id: Uuid,
        company_id: Uuid,
        company: company::State,
    },
    /// The user accepts the pending request; `company` is the requesting company's state.
    ConfirmOwnership {
        request_id: Uuid,
        company: company::State,
    },
    DeclineOwnership {
        request_id: Uuid,
    },
    /// Sends a (new) single-use token; the previous one stops working. The caller keeps the
    /// plain token for the message and passes its hash.
    IssueToken {
        token_hash: String,
        expires_at: DateTime<Utc>,
        purpose: TokenPurpose,
    },
    /// Redeems the pending token with a new password, hashed by the caller after the policy
    /// check (`ActivateAccount`).
    RedeemToken {
        token_hash: String,
        password_hash: String,
    },
    /// An admin sets the password (Telzio's "send credentials"); the user must change it.
    SetPassword {
        password_hash: String,
    },
    /// A bulk import brings the user's password hash from another system (argon2 or bcrypt,
    /// checked by the caller); the user signs in with their old password, which is hashed again
    /// with today's parameters at the first sign-in.
    ImportPassword {
        password_hash: String,
    },
    /// The user changes their password; `old_password_ok` is the caller's verification. A wrong
    /// old password is a failed sign-in (it counts toward the company's lockout).
    ChangePassword {
        old_password_ok: bool,
        password_hash: String,
        policy: crate::policy::PasswordPolicy,
    },
    /// A sign-in attempt; `password_ok` is the caller's verification of the password. With
    /// `challenge`, a right password asks for the PIN the caller sends by SMS instead of
    /// signing in (when the company or the user wants a second factor).
    RecordLogin {
        password_ok: bool,
        policy: crate::policy::PasswordPolicy,
        challenge: Option<NewChallenge>,
    },
    /// The PIN of the pending challenge; `pin_ok` is the caller's comparison of hashes.
    VerifyPin {
        challenge_id: Uuid,
        pin_ok: bool,
        /// For a challenge answered from an authenticator app: the time step of the code that
        /// matched (the caller's check), which must be later than the last one used.
        totp_step: Option<u64>,
        /// The company's policy: a wrong PIN is also a failed sign-in, and locks at its limit.
        policy: crate::policy::PasswordPolicy,
    },
    /// Two-factor sign-in for this user, whatever the company's policy.
    SetTwoFactor {
        enabled: bool,
    },
    /// A new authenticator-app secret, sealed by the caller with the user's vault key; it
    /// counts once confirmed with a code from the app.
    EnrollTotp {
        secret: String,
    },
    /// A code from the app just enrolled: `step` is the time step it matched, if it did.
    ConfirmTotp {
        step: Option<u64>,
    },
    /// The authenticator app no longer signs the user in (a lost phone).
    RemoveTotp,
    Unlock,
    /// The same password, hashed again with today's parameters after a sign-in.
    Rehash {
        password_hash: String,
    },
}

/// A second-factor challenge the caller is about to send: the PIN's hash and its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChallenge {
    pub challenge_id: Uuid,
    /// Empty for a code from an authenticator app: nothing was sent.
    pub pin_hash: String,
    pub expires_at: DateTime<Utc>,
    pub channel: SecondFactor,
}

/// How the second factor reaches the user: a PIN by SMS, or a code from an authenticator app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecondFactor {
    #[default]
    Sms,
    Totp,
}

/// An authenticator app (RFC 6238 TOTP) of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpFactor {
    /// The shared secret, sealed with the user's vault key.
    #[serde(skip)]
    pub secret: String,
    /// Enrolled and proven with a code: from now on every sign-in asks for a code.
    pub confirmed: bool,
    /// The time step of the last code accepted: a code is good once.
    pub last_step: u64,
}

/// A PIN sent by SMS, waiting; only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingChallenge {
    pub challenge_id: Uuid,
    #[serde(skip)]
    pub pin_hash: String,
    pub expires_at: DateTime<Utc>,
    pub failures: u32,
    #[serde(default)]
    pub channel: SecondFactor,
}

/// The user events that set what a user's access rests on: the company, role, group, direct
/// grants, the admin flag and the status. Folding only these gives those fields exactly (the
/// profile is not needed); `accessAsOf` reads nothing else. The partial index
/// `events_access_idx` (migrations "access history") lists the same types.
pub const ACCESS_EVENTS: [&str; 13] = [
    "UserCreated",
    "UserApproved",
    "UserDisapproved",
    "UserSuspended",
    "UserReactivated",
    "UserDeactivated",
    "UserDeleted",
    "RoleAssigned",
    "GroupAssigned",
    "UserPermissionGranted",
    "UserPermissionRevoked",
    "UserAccessChanged",
    "OwnershipConfirmed",
];

/// Wrong PINs a challenge takes before it is void (a new sign-in sends a new PIN).
pub const PIN_ATTEMPTS: u32 = 3;

/// What a single-use token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenPurpose {
    /// The invitation sent when the user is created (or sent again).
    Activation,
    /// A new password for a forgotten one, or after an admin's reset.
    PasswordReset,
}

/// How a password came to be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PasswordSource {
    /// Through an invitation or reset token.
    Token,
    /// By an admin; the user must change it at the next sign-in.
    Admin,
    /// By the user, knowing the old one.
    User,
    /// Brought, already hashed, from another system by a bulk import: the user keeps using it.
    Imported,
}

/// A token waiting to be redeemed; only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingToken {
    #[serde(skip)]
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub purpose: TokenPurpose,
}

/// Settings to change: `Some(None)` removes a setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChanges {
    /// TeleGo's "Use Button to Manual Filtering" (Analytics sorts only on APPLY).
    pub manual_filtering: Option<bool>,
    pub settings: BTreeMap<String, Option<serde_json::Value>>,
}

/// What becomes of the old number when a mobile number changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PreviousNumber {
    /// Kept for this user (no one else may take it) but no longer used.
    Suspended,
    /// Given up: anyone may take it.
    Removed,
}

/// A mobile number the user had before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousMobile {
    pub number: String,
    pub status: PreviousNumber,
}

/// A company's pending request to take the user over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipRequest {
    pub request_id: Uuid,
    pub company_id: Uuid,
}

/// Most settings a user may keep, and the longest key and text value.
pub const MAX_SETTINGS: usize = 50;
const MAX_SETTING_KEY: usize = 64;
const MAX_SETTING_TEXT: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub company_id: Uuid,
    /// The company's state, looked up by the caller: its policies and default role and group.
    pub company: company::State,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Optional profile fields (`Phone`, `Mobile`, `Extension`, …); blank values are dropped.
    pub profile: BTreeMap<Field, String>,
    pub service_level: ServiceLevel,
    /// The role and its state; `None` gives the company's default `User` role.
    pub role: Option<(Uuid, role::State)>,
    /// The group and its state; `None` puts the user in the company's Main Group.
    pub group: Option<(Uuid, group::State)>,
    pub approved: bool,
    pub admin: bool,
    pub portal_access: bool,
}

/// Profile fields to change: absent keeps a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub fields: BTreeMap<Field, Option<String>>,
    pub service_level: Option<ServiceLevel>,
}

/// The stored fields of `UserCreated` and `UserProfileUpdated` that identify the person: sealed
/// with their key in the log, and erased with it (see [`crate::personal`]).
pub const PERSONAL_FIELDS: &[&str] = &[
    "username",
    "email",
    "firstName",
    "lastName",
    "phone",
    "mobile",
    "officePhone",
    "fax",
    "outboundCallerId",
    "title",
    "udid",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    UserCreated {
        company_id: Uuid,
        username: String,
        email: String,
        first_name: String,
        last_name: String,
        phone: Option<String>,
        extension: Option<String>,
        role_id: Option<Uuid>,
        approved: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<Uuid>,
        #[serde(default)]
        service_level: ServiceLevel,
        #[serde(default)]
        admin: bool,
        #[serde(default = "yes")]
        portal_access: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mobile: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        office_phone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fax: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outbound_caller_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer_code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        udid: Option<String>,
    },
    UserApproved {},
    UserDisapproved {},
    #[serde(rename_all = "camelCase")]
    UserSuspended {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    UserDeactivated {},
    UserReactivated {},
    /// Only the changed fields are present (`None`: unchanged); `null` (`Some(None)`) clears an
    /// optional field. Build one with [`Event::profile_updated`].
    #[serde(rename_all = "camelCase")]
    UserProfileUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service_level: Option<ServiceLevel>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        email: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        first_name: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        last_name: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        phone: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        mobile: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        office_phone: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        fax: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        outbound_caller_id: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        extension: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        title: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        customer_code: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        udid: Option<Option<String>>,
    },
    UserDeleted {},
    #[serde(rename_all = "camelCase")]
    RoleAssigned {
        role_id: Uuid,
    },
    #[serde(rename_all = "camelCase")]
    GroupAssigned {
        group_id: Uuid,
    },
    #[serde(rename_all = "camelCase")]
    UserAccessChanged {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        admin: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        portal_access: Option<bool>,
    },
    UserPermissionGranted {
        module: Module,
        level: Level,
    },
    UserPermissionRevoked {
        module: Module,
    },
    /// Only changed settings are present; `null` removes one.
    #[serde(rename_all = "camelCase")]
    UserSettingsUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manual_filtering: Option<bool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        settings: BTreeMap<String, Option<serde_json::Value>>,
    },
    #[serde(rename_all = "camelCase")]
    MobileNumberChanged {
        mobile: String,
        previous: Option<String>,
        previous_status: PreviousNumber,
    },
    #[serde(rename_all = "camelCase")]
    OwnershipRequested {
        request_id: Uuid,
        company_id: Uuid,
    },
    /// The user moved to `companyId`, with its default role and Main Group; their extension
    /// and direct grants belonged to the old company and are gone.
    #[serde(rename_all = "camelCase")]
    OwnershipConfirmed {
        request_id: Uuid,
        from_company_id: Uuid,
        company_id: Uuid,
        role_id: Option<Uuid>,
        group_id: Option<Uuid>,
    },
    #[serde(rename_all = "camelCase")]
    OwnershipDeclined {
        request_id: Uuid,
    },
    /// `tokenHash` is a SHA-256 of the token: the token itself is only in the message.
    #[serde(rename_all = "camelCase")]
    TokenIssued {
        token_hash: String,
        expires_at: DateTime<Utc>,
        purpose: TokenPurpose,
    },
    /// `passwordHash` is an argon2id PHC string; the password itself is never stored.
    #[serde(rename_all = "camelCase")]
    PasswordSet {
        password_hash: String,
        source: PasswordSource,
        must_change: bool,
        /// Sessions started before this instant end.
        at: DateTime<Utc>,
    },
    LoginSucceeded {
        at: DateTime<Utc>,
    },
    /// `failures` in a row so far.
    LoginFailed {
        failures: u32,
    },
    UserLocked {
        until: DateTime<Utc>,
    },
    UserUnlocked {},
    #[serde(rename_all = "camelCase")]
    PasswordRehashed {
        password_hash: String,
    },
    /// The password was right; a PIN went by SMS. `pinHash` is a keyed SHA-256 of the PIN (the
    /// key is the server's), so that nobody who reads the audit trail can try the million PINs.
    #[serde(rename_all = "camelCase")]
    TwoFactorChallenged {
        challenge_id: Uuid,
        /// Empty when the code comes from an authenticator app (nothing was sent).
        pin_hash: String,
        expires_at: DateTime<Utc>,
        /// Absent in events stored before authenticator apps: those were all PINs by SMS.
        #[serde(default)]
        channel: SecondFactor,
    },
    /// A wrong PIN; the challenge is void after [`PIN_ATTEMPTS`].
    #[serde(rename_all = "camelCase")]
    TwoFactorFailed {
        challenge_id: Uuid,
        failures: u32,
    },
    TwoFactorSet {
        enabled: bool,
    },
    /// An authenticator app, not yet confirmed; `secret` is sealed with the user's vault key.
    TotpEnrolled {
        secret: String,
    },
    /// The app's first code was right: sign-ins now ask for its codes.
    TotpConfirmed {
        step: u64,
    },
    TotpRemoved {},
    /// A code from the app signed the user in; codes of this step or earlier are spent.
    TotpCodeAccepted {
        step: u64,
    },
}

fn yes() -> bool {
    true
}

/// A field that is present reads as `Some`, so that `null` (`Some(None)`) differs from absent.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::UserCreated { .. } => "UserCreated",
            Event::UserApproved {} => "UserApproved",
            Event::UserDisapproved {} => "UserDisapproved",
            Event::UserSuspended { .. } => "UserSuspended",
            Event::UserDeactivated {} => "UserDeactivated",
            Event::UserReactivated {} => "UserReactivated",
            Event::UserProfileUpdated { .. } => "UserProfileUpdated",
            Event::UserDeleted {} => "UserDeleted",
            Event::RoleAssigned { .. } => "RoleAssigned",
            Event::GroupAssigned { .. } => "GroupAssigned",
            Event::UserAccessChanged { .. } => "UserAccessChanged",
            Event::UserPermissionGranted { .. } => "UserPermissionGranted",
            Event::UserPermissionRevoked { .. } => "UserPermissionRevoked",
            Event::UserSettingsUpdated { .. } => "UserSettingsUpdated",
            Event::MobileNumberChanged { .. } => "MobileNumberChanged",
            Event::OwnershipRequested { .. } => "OwnershipRequested",
            Event::OwnershipConfirmed { .. } => "OwnershipConfirmed",
            Event::OwnershipDeclined { .. } => "OwnershipDeclined",
            Event::TokenIssued { .. } => "TokenIssued",
            Event::PasswordSet { .. } => "PasswordSet",
            Event::LoginSucceeded { .. } => "LoginSucceeded",
            Event::LoginFailed { .. } => "LoginFailed",
            Event::UserLocked { .. } => "UserLocked",
            Event::UserUnlocked {} => "UserUnlocked",
            Event::PasswordRehashed { .. } => "PasswordRehashed",
            Event::TwoFactorChallenged { .. } => "TwoFactorChallenged",
            Event::TwoFactorFailed { .. } => "TwoFactorFailed",
            Event::TwoFactorSet { .. } => "TwoFactorSet",
            Event::TotpEnrolled { .. } => "TotpEnrolled",
            Event::TotpConfirmed { .. } => "TotpConfirmed",
            Event::TotpRemoved {} => "TotpRemoved",
            Event::TotpCodeAccepted { .. } => "TotpCodeAccepted",
        }
    }

    /// A `UserProfileUpdated` of these changes: absent keeps a field, `None` clears it.
    pub fn profile_updated(
        service_level: Option<ServiceLevel>,
        mut changes: BTreeMap<Field, Option<String>>,
    ) -> Event {
        let mut take = |field| changes.remove(&field);
        Event::UserProfileUpdated {
            service_level,
            email: take(Field::Email),
            first_name: take(Field::FirstName),
            last_name: take(Field::LastName),
            phone: take(Field::Phone),
            mobile: take(Field::Mobile),
            office_phone: take(Field::OfficePhone),
            fax: take(Field::Fax),
            outbound_caller_id: take(Field::OutboundCallerId),
            extension: take(Field::Extension),
            title: take(Field::Title),
            customer_code: take(Field::CustomerCode),
            udid: take(Field::Udid),
        }
    }

    /// The profile fields this event sets (`Some`) or clears (`None`): every field for a
    /// `UserCreated`, the changed ones for a `UserProfileUpdated`, none for the others.
    pub fn changed_fields(&self) -> BTreeMap<Field, Option<String>> {
        match self {
            Event::UserCreated {
                email,
                first_name,
                last_name,
                phone,
                mobile,
                office_phone,
                fax,
                outbound_caller_id,
                extension,
                title,
                customer_code,
                udid,
                ..
            } => [
                (Field::Email, Some(email)),
                (Field::FirstName, Some(first_name)),
                (Field::LastName, Some(last_name)),
                (Field::Phone, phone.as_ref()),
                (Field::Mobile, mobile.as_ref()),
                (Field::OfficePhone, office_phone.as_ref()),
                (Field::Fax, fax.as_ref()),
                (Field::OutboundCallerId, outbound_caller_id.as_ref()),
                (Field::Extension, extension.as_ref()),
                (Field::Title, title.as_ref()),
                (Field::CustomerCode, customer_code.as_ref()),
                (Field::Udid, udid.as_ref()),
            ]
            .into_iter()
            .map(|(field, value)| (field, value.cloned()))
            .collect(),
            Event::UserProfileUpdated {
                service_level: _,
                email,
                first_name,
                last_name,
                phone,
                mobile,
                office_phone,
                fax,
                outbound_caller_id,
                extension,
                title,
                customer_code,
                udid,
            } => [
                (Field::Email, email),
                (Field::FirstName, first_name),
                (Field::LastName, last_name),
                (Field::Phone, phone),
                (Field::Mobile, mobile),
                (Field::OfficePhone, office_phone),
                (Field::Fax, fax),
                (Field::OutboundCallerId, outbound_caller_id),
                (Field::Extension, extension),
                (Field::Title, title),
                (Field::CustomerCode, customer_code),
                (Field::Udid, udid),
            ]
            .into_iter()
            .filter_map(|(field, value)| Some((field, value.clone()?)))
            .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// Claims this event takes or frees, given the state before it.
    ///
    /// A username is unique for ever (it is freed only by erasure, a later capability); a
    /// login email is unique among users who are not deleted; an extension is unique
    /// within its company among users who are not deleted.
    pub fn claims(&self, before: &State) -> Vec<ClaimChange> {
        let mut changes = Vec::new();
        match self {
            Event::UserCreated { company_id, username, email, extension, mobile, .. } => {
                changes.push(ClaimChange::Acquire(username_claim(username)));
                changes.push(ClaimChange::Acquire(email_claim(email)));
                if let Some(extension) = extension {
                    changes.push(ClaimChange::Acquire(extension_claim(*company_id, extension)));
                }
                if let Some(mobile) = mobile {
                    changes.push(ClaimChange::Acquire(mobile_claim(mobile)));
                }
            }
            Event::UserProfileUpdated { email, extension, mobile, .. } => {
                if let Some(mobile) = mobile {
                    if let Some(old) = before.get(Field::Mobile) {
                        changes.push(ClaimChange::Release(mobile_claim(old)));
                    }
                    if let Some(new) = mobile {
                        changes.push(ClaimChange::Acquire(mobile_claim(new)));
                    }
                }
                if let Some(Some(email)) = email {
                    changes.push(ClaimChange::Release(email_claim(&before.email)));
                    changes.push(ClaimChange::Acquire(email_claim(email)));
                }
                if let (Some(extension), Some(company_id)) = (extension, before.company_id) {
                    if let Some(old) = before.get(Field::Extension) {
                        changes.push(ClaimChange::Release(extension_claim(company_id, old)));
                    }
                    if let Some(new) = extension {
                        changes.push(ClaimChange::Acquire(extension_claim(company_id, new)));
                    }
                }
            }
            Event::MobileNumberChanged { mobile, previous, previous_status } => {
                if let (Some(previous), PreviousNumber::Removed) = (previous, previous_status) {
                    changes.push(ClaimChange::Release(mobile_claim(previous)));
                }
                changes.push(ClaimChange::Acquire(mobile_claim(mobile)));
            }
            Event::TokenIssued { token_hash, .. } => {
                if let Some(pending) = &before.pending_token {
                    changes.push(ClaimChange::Release(token_claim(&pending.token_hash)));
                }
                changes.push(ClaimChange::Acquire(token_claim(token_hash)));
            }
            Event::TwoFactorChallenged { challenge_id, .. } => {
                if let Some(pending) = &before.pending_challenge {
                    changes.push(ClaimChange::Release(challenge_claim(pending.challenge_id)));
                }
                changes.push(ClaimChange::Acquire(challenge_claim(*challenge_id)));
            }
            Event::LoginSucceeded { .. } => {
                if let Some(pending) = &before.pending_challenge {
                    changes.push(ClaimChange::Release(challenge_claim(pending.challenge_id)));
                }
            }
            Event::TwoFactorFailed { challenge_id, failures } if *failures >= PIN_ATTEMPTS => {
                changes.push(ClaimChange::Release(challenge_claim(*challenge_id)));
            }
            Event::TotpRemoved {} => {
                if let Some(pending) =
                    before.pending_challenge.as_ref().filter(|c| c.channel == SecondFactor::Totp)
                {
                    changes.push(ClaimChange::Release(challenge_claim(pending.challenge_id)));
                }
            }
            Event::PasswordSet { .. } => {
                if let Some(pending) = &before.pending_token {
                    changes.push(ClaimChange::Release(token_claim(&pending.token_hash)));
                }
                // A sign-in begun with the old password does not finish with the new one.
                if let Some(pending) = &before.pending_challenge {
                    changes.push(ClaimChange::Release(challenge_claim(pending.challenge_id)));
                }
            }
            Event::OwnershipConfirmed { from_company_id, .. } => {
                if let Some(extension) = before.get(Field::Extension) {
                    changes.push(ClaimChange::Release(extension_claim(*from_company_id, extension)));
                }
            }
            Event::UserDeleted {} => {
                if let Some(pending) = &before.pending_token {
                    changes.push(ClaimChange::Release(token_claim(&pending.token_hash)));
                }
                if let Some(pending) = &before.pending_challenge {
                    changes.push(ClaimChange::Release(challenge_claim(pending.challenge_id)));
                }
                let suspended =
                    before.previous_mobiles.iter().filter(|m| m.status == PreviousNumber::Suspended);
                for number in
                    before.get(Field::Mobile).into_iter().chain(suspended.map(|m| m.number.as_str()))
                {
                    changes.push(ClaimChange::Release(mobile_claim(number)));
                }
                changes.push(ClaimChange::Release(email_claim(&before.email)));
                if let (Some(extension), Some(company_id)) = (before.get(Field::Extension), before.company_id)
                {
                    changes.push(ClaimChange::Release(extension_claim(company_id, extension)));
                }
                // Erasure frees the username too: the person is gone, and so is their name.
                changes.push(ClaimChange::Release(username_claim(&before.username)));
            }
            _ => {}
        }
        changes
    }
}

crate::stored_event!(Event);

pub fn username_claim(username: &str) -> String {
    format!("username:{}", username.to_lowercase())
}

/// A pending second-factor challenge leads to its user: `/auth/verify` names no user.
pub fn challenge_claim(challenge_id: Uuid) -> String {
    format!("challenge:{challenge_id}")
}

/// A pending token (by its hash) leads to its user: `ActivateAccount` names no user.
pub fn token_claim(token_hash: &str) -> String {
    format!("token:{token_hash}")
}

/// A mobile number belongs to one user at a time (it receives their sign-in codes).
pub fn mobile_claim(mobile: &str) -> String {
    format!("mobile:{mobile}")
}

pub fn email_claim(email: &str) -> String {
    format!("email:{}", email.to_lowercase())
}

pub fn extension_claim(company_id: Uuid, extension: &str) -> String {
    format!("extension:{company_id}:{extension}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub company_id: Option<Uuid>,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// The optional profile fields that are set.
    pub profile: BTreeMap<Field, String>,
    pub service_level: ServiceLevel,
    pub role_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub admin: bool,
    pub portal_access: bool,
    pub approved: bool,
    pub disapproved: bool,
    pub suspended: bool,
    pub suspended_until: Option<DateTime<Utc>>,
    pub suspension_reason: Option<String>,
    pub deactivated: bool,
    pub deleted: bool,
    /// Direct grants; the effective level is the highest of these, the role's and the group's.
    pub permissions: PermissionSet,
    pub manual_filtering: bool,
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Mobile numbers the user had before, oldest first.
    pub previous_mobiles: Vec<PreviousMobile>,
    pub ownership_request: Option<OwnershipRequest>,
    /// Set once the user has a password (through their invitation, or from an admin).
    pub activated: bool,
    /// The argon2id hash; kept out of the read models.
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub pending_token: Option<PendingToken>,
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
    /// Locks so far: each lasts twice as long as the one before.
    pub lockouts: u32,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Sessions started before this instant are void (the password changed).
    pub sessions_valid_after: Option<DateTime<Utc>>,
    /// Signs in with a PIN by SMS as well, whatever the company's policy.
    pub two_factor: bool,
    pub pending_challenge: Option<PendingChallenge>,
    pub totp: Option<TotpFactor>,
}

impl Default for State {
    fn default() -> Self {
        State {
            company_id: None,
            username: String::new(),
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            profile: BTreeMap::new(),
            service_level: ServiceLevel::default(),
            role_id: None,
            group_id: None,
            admin: false,
            portal_access: true,
            approved: false,
            disapproved: false,
            suspended: false,
            suspended_until: None,
            suspension_reason: None,
            deactivated: false,
            deleted: false,
            permissions: PermissionSet::new(),
            manual_filtering: false,
            settings: BTreeMap::new(),
            previous_mobiles: Vec::new(),
            ownership_request: None,
            activated: false,
            password_hash: None,
            must_change_password: false,
            pending_token: None,
            failed_logins: 0,
            locked_until: None,
            lockouts: 0,
            last_login_at: None,
            sessions_valid_after: None,
            two_factor: false,
            pending_challenge: None,
            totp: None,
        }
    }
}

impl State {
    pub fn exists(&self) -> bool {
        self.company_id.is_some()
    }

    /// An optional profile field, when set.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.profile.get(&field).map(String::as_str)
    }

    /// Sets (`Some`) or clears (`None`) a profile field; a required field is never cleared.
    fn set(&mut self, field: Field, value: Option<String>) {
        match (field, value) {
            (Field::Email, Some(value)) => self.email = value,
            (Field::FirstName, Some(value)) => self.first_name = value,
            (Field::LastName, Some(value)) => self.last_name = value,
            (field, Some(value)) => {
                self.profile.insert(field, value);
            }
            (field, None) => {
                self.profile.remove(&field);
            }
        }
    }

    /// What is left of a deleted user: no name, address, number, device or credential, only
    /// the facts of their account (company, role, status, grants) that the audit still needs.
    fn erase_personal_data(&mut self) {
        for name in [&mut self.username, &mut self.email, &mut self.first_name, &mut self.last_name] {
            *name = crate::personal::ERASED.to_owned();
        }
        self.profile.clear();
        self.previous_mobiles.clear();
        self.settings.clear();
        self.password_hash = None;
        self.pending_token = None;
        self.pending_challenge = None;
        self.totp = None;
    }

    /// The current value of any profile field.
    fn value(&self, field: Field) -> Option<&str> {
        match field {
            Field::Email => Some(&self.email),
            Field::FirstName => Some(&self.first_name),
            Field::LastName => Some(&self.last_name),
            _ => self.get(field),
        }
    }

    /// Locked at this moment (a lock whose end has passed no longer counts).
    pub fn is_locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// May sign in and act at `now`: active, with portal access, a password, and not locked.
    pub fn may_sign_in_at(&self, now: DateTime<Utc>) -> bool {
        self.status_at(now) == Status::Active
            && self.portal_access
            && self.activated
            && !self.is_locked_at(now)
    }

    /// Signs in with codes from an authenticator app (enrolled and confirmed).
    pub fn has_totp(&self) -> bool {
        self.totp.as_ref().is_some_and(|totp| totp.confirmed)
    }

    /// A suspension with an end lifts by itself once that instant has passed.
    pub fn is_suspended_at(&self, now: DateTime<Utc>) -> bool {
        self.suspended && self.suspended_until.is_none_or(|until| until > now)
    }

    pub fn status_at(&self, now: DateTime<Utc>) -> Status {
        if self.deleted {
            Status::Deleted
        } else if self.deactivated {
            Status::Deactivated
        } else if self.is_suspended_at(now) {
            Status::Suspended
        } else if self.approved {
            Status::Active
        } else if self.disapproved {
            Status::Disapproved
        } else {
            Status::PendingApproval
        }
    }
}

pub fn decide(state: &State, command: Command, context: &Context) -> Result<Vec<Event>, DomainError> {
    let events = match command {
        Command::Create(create) => return decide_create(state, *create),
        _ if !state.exists() => return Err(DomainError::rule("not_found", "the user does not exist")),
        Command::Delete if state.deleted => Vec::new(),
        _ if state.deleted => return Err(DomainError::rule("user_deleted", "the user has been deleted")),
        Command::Delete => vec![Event::UserDeleted {}],
        Command::Approve if state.approved => Vec::new(),
        Command::Approve => vec![Event::UserApproved {}],
        Command::Disapprove if state.disapproved && !state.approved => Vec::new(),
        Command::Disapprove => vec![Event::UserDisapproved {}],
        Command::Suspend { .. } if state.is_suspended_at(context.now) => {
            return Err(DomainError::rule("already_suspended", "the user is already suspended"));
        }
        Command::Suspend { until, reason } => {
            let mut problems = Problems::default();
            if until.is_some_and(|until| until <= context.now) {
                problems.add("until", "must be in the future");
            }
            if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
                problems.add("reason", "must be at most 500 characters");
            }
            problems.into_result()?;
            let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
            vec![Event::UserSuspended { until, reason }]
        }
        Command::Deactivate if state.deactivated => Vec::new(),
        Command::Deactivate => vec![Event::UserDeactivated {}],
        Command::Reactivate if !state.is_suspended_at(context.now) && !state.deactivated => {
            return Err(DomainError::rule("not_suspended", "the user is neither suspended nor deactivated"));
        }
        Command::Reactivate => vec![Event::UserReactivated {}],
        Command::UpdateProfile(changes) => decide_profile(state, changes)?,
        Command::AssignRole { role_id, role } => {
            role.usable_by(state.company_id, role_id, "roleId")?;
            if state.role_id == Some(role_id) { Vec::new() } else { vec![Event::RoleAssigned { role_id }] }
        }
        Command::AssignGroup { group_id, group } => {
            check_group(state.company_id, group_id, &group)?;
            if state.group_id == Some(group_id) {
                Vec::new()
            } else {
                vec![Event::GroupAssigned { group_id }]
            }
        }
        Command::SetAccess { admin, portal_access } => {
            let admin = admin.filter(|admin| *admin != state.admin);
            let portal_access = portal_access.filter(|access| *access != state.portal_access);
            if admin.is_none() && portal_access.is_none() {
                Vec::new()
            } else {
                vec![Event::UserAccessChanged { admin, portal_access }]
            }
        }
        Command::Grant { module, level } if state.permissions.get(&module) == Some(&level) => Vec::new(),
        Command::Grant { module, level } => vec![Event::UserPermissionGranted { module, level }],
        Command::Revoke { module } if !state.permissions.contains_key(&module) => Vec::new(),
        Command::Revoke { module } => vec![Event::UserPermissionRevoked { module }],
        Command::UpdateSettings(changes) => self_service::decide_settings(state, changes)?,
        Command::ChangeMobile { mobile, previous } => self_service::decide_mobile(state, &mobile, previous)?,
        Command::RequestOwnership { request_id, company_id, company } => {
            ownership::decide_request(state, request_id, company_id, &company)?
        }
        Command::ConfirmOwnership { request_id, company } => {
            ownership::decide_confirm(state, request_id, &company)?
        }
        Command::DeclineOwnership { request_id } => ownership::decide_decline(state, request_id)?,
        Command::IssueToken { token_hash, expires_at, purpose } => {
            credentials::decide_issue(state, token_hash, expires_at, purpose, context)?
        }
        Command::RedeemToken { token_hash, password_hash } => {
            credentials::decide_redeem(state, &token_hash, password_hash, context)?
        }
        Command::SetPassword { password_hash } => vec![Event::PasswordSet {
            password_hash,
            source: PasswordSource::Admin,
            must_change: true,
            at: context.now,
        }],
        Command::ImportPassword { password_hash } => vec![Event::PasswordSet {
            password_hash,
            source: PasswordSource::Imported,
            must_change: false,
            at: context.now,
        }],
        Command::ChangePassword { old_password_ok, password_hash, policy } => {
            credentials::decide_change(state, old_password_ok, password_hash, &policy, context)?
        }
        Command::RecordLogin { password_ok, policy, challenge } => {
            credentials::decide_login(state, password_ok, &policy, challenge, context)?
        }
        Command::VerifyPin { challenge_id, pin_ok, totp_step, policy } => {
            credentials::decide_pin(state, challenge_id, pin_ok, totp_step, &policy, context)?
        }
        Command::EnrollTotp { secret } => credentials::decide_enroll_totp(state, secret)?,
        Command::ConfirmTotp { step } => credentials::decide_confirm_totp(state, step)?,
        Command::RemoveTotp if state.totp.is_none() => Vec::new(),
        Command::RemoveTotp => vec![Event::TotpRemoved {}],
        Command::SetTwoFactor { enabled } if enabled == state.two_factor => Vec::new(),
        Command::SetTwoFactor { enabled } => vec![Event::TwoFactorSet { enabled }],
        Command::Unlock if state.is_locked_at(context.now) || state.failed_logins > 0 => {
            vec![Event::UserUnlocked {}]
        }
        Command::Unlock => Vec::new(),
        Command::Rehash { password_hash } if state.password_hash.is_some() => {
            vec![Event::PasswordRehashed { password_hash }]
        }
        Command::Rehash { .. } => Vec::new(),
    };
    Ok(events)
}

fn decide_create(state: &State, create: Create) -> Result<Vec<Event>, DomainError> {
    if state.exists() {
        return Err(DomainError::rule("already_exists", "the user already exists"));
    }
    if !create.company.registered {
        return Err(DomainError::UnknownReference { field: "companyId", id: create.company_id });
    }
    let mut problems = Problems::default();
    create.company.username_policy.check(&mut problems, "username", &create.username, &create.email);
    let email = Field::Email.normalize(&mut problems, &create.email);
    let first_name = Field::FirstName.normalize(&mut problems, &create.first_name);
    let last_name = Field::LastName.normalize(&mut problems, &create.last_name);
    let mut profile = BTreeMap::new();
    for (field, value) in create.profile {
        if field.is_required() {
            continue;
        }
        if !value.trim().is_empty()
            && let Some(value) = field.normalize(&mut problems, &value)
        {
            profile.insert(field, value);
        }
    }
    problems.into_result()?;
    let role_id = match create.role {
        Some((role_id, role)) => Some(role.usable_by(Some(create.company_id), role_id, "roleId")?),
        None => create.company.user_role_id,
    };
    let group_id = match create.group {
        Some((group_id, group)) => Some(check_group(Some(create.company_id), group_id, &group)?),
        None => create.company.main_group_id,
    };
    let mut take = |field| profile.remove(&field);
    Ok(vec![Event::UserCreated {
        company_id: create.company_id,
        username: create.username,
        email: email.unwrap_or_default(),
        first_name: first_name.unwrap_or_default(),
        last_name: last_name.unwrap_or_default(),
        phone: take(Field::Phone),
        extension: take(Field::Extension),
        role_id,
        approved: create.approved,
        group_id,
        service_level: create.service_level,
        admin: create.admin,
        portal_access: create.portal_access,
        mobile: take(Field::Mobile),
        office_phone: take(Field::OfficePhone),
        fax: take(Field::Fax),
        outbound_caller_id: take(Field::OutboundCallerId),
        title: take(Field::Title),
        customer_code: take(Field::CustomerCode),
        udid: take(Field::Udid),
    }])
}

fn decide_profile(state: &State, changes: ProfileChanges) -> Result<Vec<Event>, DomainError> {
    let mut problems = Problems::default();
    let mut changed = BTreeMap::new();
    for (field, value) in changes.fields {
        let value = match value.filter(|v| !v.trim().is_empty()) {
            Some(value) => match field.normalize(&mut problems, &value) {
                Some(value) => Some(value),
                None => continue,
            },
            None if field.is_required() => {
                problems.add(field.name(), "must not be empty");
                continue;
            }
            None => None,
        };
        if value.as_deref() != state.value(field) {
            changed.insert(field, value);
        }
    }
    problems.into_result()?;
    if let Some(Some(mobile)) = changed.get(&Field::Mobile) {
        self_service::refuse_suspended(state, mobile)?;
    }
    let service_level = changes.service_level.filter(|level| *level != state.service_level);
    if changed.is_empty() && service_level.is_none() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::profile_updated(service_level, changed)])
}

/// A group a user of `company_id` may join: it exists, is the company's and is not deleted.
fn check_group(company_id: Option<Uuid>, group_id: Uuid, group: &group::State) -> Result<Uuid, DomainError> {
    if !group.exists() {
        return Err(DomainError::UnknownReference { field: "groupId", id: group_id });
    }
    if group.company_id != company_id {
        return Err(DomainError::rule("group_in_other_company", "the group belongs to another company"));
    }
    if group.deleted {
        return Err(DomainError::rule("group_deleted", "the group has been deleted"));
    }
    Ok(group_id)
}

pub fn evolve(mut state: State, event: &Event) -> State {
    match event {
        Event::UserCreated {
            company_id,
            username,
            role_id,
            approved,
            group_id,
            service_level,
            admin,
            portal_access,
            ..
        } => {
            state.company_id = Some(*company_id);
            state.username.clone_from(username);
            for (field, value) in event.changed_fields() {
                state.set(field, value);
            }
            state.role_id = *role_id;
            state.group_id = *group_id;
            state.service_level = *service_level;
            state.admin = *admin;
            state.portal_access = *portal_access;
            state.approved = *approved;
        }
        Event::UserApproved {} => {
            state.approved = true;
            state.disapproved = false;
        }
        Event::UserDisapproved {} => {
            state.approved = false;
            state.disapproved = true;
        }
        Event::UserSuspended { until, reason } => {
            state.suspended = true;
            state.suspended_until = *until;
            state.suspension_reason.clone_from(reason);
        }
        Event::UserDeactivated {} => state.deactivated = true,
        Event::UserReactivated {} => {
            state.suspended = false;
            state.suspended_until = None;
            state.suspension_reason = None;
            state.deactivated = false;
        }
        Event::UserProfileUpdated { service_level, .. } => {
            if let Some(level) = service_level {
                state.service_level = *level;
            }
            for (field, value) in event.changed_fields() {
                state.set(field, value);
            }
        }
        Event::UserDeleted {} => {
            state.deleted = true;
            state.erase_personal_data();
        }
        Event::RoleAssigned { role_id } => state.role_id = Some(*role_id),
        Event::GroupAssigned { group_id } => state.group_id = Some(*group_id),
        Event::UserAccessChanged { admin, portal_access } => {
            if let Some(admin) = admin {
                state.admin = *admin;
            }
            if let Some(access) = portal_access {
                state.portal_access = *access;
            }
        }
        Event::UserPermissionGranted { module, level } => {
            state.permissions.insert(*module, *level);
        }
        Event::UserPermissionRevoked { module } => {
            state.permissions.remove(module);
        }
        Event::UserSettingsUpdated { manual_filtering, settings } => {
            if let Some(manual) = manual_filtering {
                state.manual_filtering = *manual;
            }
            for (key, value) in settings {
                match value {
                    Some(value) => state.settings.insert(key.clone(), value.clone()),
                    None => state.settings.remove(key),
                };
            }
        }
        Event::MobileNumberChanged { mobile, previous, previous_status } => {
            if let Some(previous) = previous {
                state
                    .previous_mobiles
                    .push(PreviousMobile { number: previous.clone(), status: *previous_status });
            }
            state.profile.insert(Field::Mobile, mobile.clone());
        }
        Event::OwnershipRequested { request_id, company_id } => {
            state.ownership_request =
                Some(OwnershipRequest { request_id: *request_id, company_id: *company_id });
        }
        Event::OwnershipConfirmed { company_id, role_id, group_id, .. } => {
            state.company_id = Some(*company_id);
            state.role_id = *role_id;
            state.group_id = *group_id;
            state.profile.remove(&Field::Extension);
            state.permissions.clear();
            state.admin = false;
            state.ownership_request = None;
        }
        Event::OwnershipDeclined { .. } => state.ownership_request = None,
        Event::TokenIssued { token_hash, expires_at, purpose } => {
            state.pending_token = Some(PendingToken {
                token_hash: token_hash.clone(),
                expires_at: *expires_at,
                purpose: *purpose,
            });
        }
        Event::PasswordSet { password_hash, must_change, at, .. } => {
            state.password_hash = Some(password_hash.clone());
            state.must_change_password = *must_change;
            state.pending_token = None;
            state.pending_challenge = None;
            state.activated = true;
            state.failed_logins = 0;
            state.locked_until = None;
            state.sessions_valid_after = Some(*at);
        }
        Event::LoginSucceeded { at } => {
            state.pending_challenge = None;
            state.last_login_at = Some(*at);
            state.failed_logins = 0;
            // Locks grow while the wrong passwords go on; a good sign-in starts again.
            state.lockouts = 0;
        }
        Event::LoginFailed { failures } => state.failed_logins = *failures,
        Event::UserLocked { until } => {
            state.locked_until = Some(*until);
            state.lockouts += 1;
            // Once the lock ends, the policy's number of attempts again before the next one.
            state.failed_logins = 0;
        }
        Event::UserUnlocked {} => {
            state.locked_until = None;
            state.failed_logins = 0;
        }
        Event::PasswordRehashed { password_hash } => state.password_hash = Some(password_hash.clone()),
        Event::TwoFactorChallenged { challenge_id, pin_hash, expires_at, channel } => {
            state.pending_challenge = Some(PendingChallenge {
                challenge_id: *challenge_id,
                pin_hash: pin_hash.clone(),
                expires_at: *expires_at,
                failures: 0,
                channel: *channel,
            });
        }
        Event::TwoFactorFailed { failures, .. } => {
            if *failures >= PIN_ATTEMPTS {
                state.pending_challenge = None;
            } else if let Some(challenge) = &mut state.pending_challenge {
                challenge.failures = *failures;
            }
        }
        Event::TwoFactorSet { enabled } => state.two_factor = *enabled,
        Event::TotpEnrolled { secret } => {
            state.totp = Some(TotpFactor { secret: secret.clone(), confirmed: false, last_step: 0 });
        }
        Event::TotpConfirmed { step } | Event::TotpCodeAccepted { step } => {
            if let Some(totp) = &mut state.totp {
                totp.confirmed = true;
                totp.last_step = *step;
            }
        }
        Event::TotpRemoved {} => {
            state.totp = None;
            if state.pending_challenge.as_ref().is_some_and(|c| c.channel == SecondFactor::Totp) {
                state.pending_challenge = None;
            }
        }
    }
    state
}
