//! A company's policies for usernames and passwords, with defaults, checks of the policies
//! themselves, and checks of a value against them in the company's own terms.

use serde::{Deserialize, Serialize};

use crate::validate::Problems;

/// Longest username any policy may allow.
pub const USERNAME_MAX: u32 = 128;
/// Longest password any policy may allow.
pub const PASSWORD_MAX: u32 = 1024;
/// Longest a lock lasts, in minutes (a day).
pub const MAX_LOCK_MINUTES: u32 = 24 * 60;

/// What a username must look like. Letters and digits are always allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsernamePolicy {
    pub min_length: u32,
    pub max_length: u32,
    /// Characters allowed besides letters and digits (a space may be one of them).
    pub allowed_symbols: String,
    /// The username must be the user's email address (Sangoma's portal).
    pub email_as_username: bool,
}

impl Default for UsernamePolicy {
    fn default() -> Self {
        UsernamePolicy {
            min_length: 3,
            max_length: 64,
            allowed_symbols: ".-_@".to_owned(),
            email_as_username: false,
        }
    }
}

impl UsernamePolicy {
    /// Problems with the policy itself, reported under `field` (e.g. `usernamePolicy`).
    pub fn check_itself(&self, problems: &mut Problems, field: &str) {
        if self.min_length < 1 {
            problems.add(&format!("{field}.minLength"), "must be at least 1");
        }
        if self.max_length < self.min_length || self.max_length > USERNAME_MAX {
            problems
                .add(&format!("{field}.maxLength"), format!("must be between minLength and {USERNAME_MAX}"));
        }
        check_symbols(problems, &format!("{field}.allowedSymbols"), &self.allowed_symbols, true);
    }

    /// Checks a username against this policy; `email` is the user's email address.
    pub fn check(&self, problems: &mut Problems, field: &str, username: &str, email: &str) {
        if self.email_as_username {
            if !username.eq_ignore_ascii_case(email.trim()) {
                problems.add(field, "must be the user's email address");
            }
            return;
        }
        let length = username.chars().count() as u32;
        if length < self.min_length || length > self.max_length {
            problems.add(field, format!("must be {} to {} characters", self.min_length, self.max_length));
        } else if username.trim() != username {
            problems.add(field, "must not start or end with a space");
        } else if !username.chars().all(|c| c.is_alphanumeric() || self.allowed_symbols.contains(c)) {
            problems.add(
                field,
                format!("may contain only letters, digits and {}", describe(&self.allowed_symbols)),
            );
        }
    }
}

/// What a password must look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordPolicy {
    /// Failed sign-ins in a row that lock the account.
    #[serde(default = "default_max_failed_logins")]
    pub max_failed_logins: u32,
    /// How long the first lock lasts; each further lock lasts twice as long (at most a day).
    #[serde(default = "default_lock_minutes")]
    pub lock_minutes: u32,
    /// Every user of the company signs in with a PIN sent by SMS as well.
    #[serde(default)]
    pub require_two_factor: bool,
    pub min_length: u32,
    pub max_length: u32,
    /// How many of the four classes (uppercase, lowercase, digits, symbols) must appear.
    pub required_classes: u32,
    /// Characters a password must not contain (TeleMessage forbids `"`, `'` and `,`).
    pub forbidden_characters: String,
}

fn default_max_failed_logins() -> u32 {
    5
}

fn default_lock_minutes() -> u32 {
    15
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            max_failed_logins: default_max_failed_logins(),
            lock_minutes: default_lock_minutes(),
            require_two_factor: false,
            min_length: 8,
            max_length: 128,
            required_classes: 2,
            forbidden_characters: String::new(),
        }
    }
}

impl PasswordPolicy {
    pub fn check_itself(&self, problems: &mut Problems, field: &str) {
        if self.min_length < 6 {
            problems.add(&format!("{field}.minLength"), "must be at least 6");
        }
        if self.max_length < self.min_length || self.max_length > PASSWORD_MAX {
            problems
                .add(&format!("{field}.maxLength"), format!("must be between minLength and {PASSWORD_MAX}"));
        }
        if self.required_classes > 4 {
            problems.add(&format!("{field}.requiredClasses"), "must be 0 to 4");
        }
        if !(1..=100).contains(&self.max_failed_logins) {
            problems.add(&format!("{field}.maxFailedLogins"), "must be 1 to 100");
        }
        if !(1..=MAX_LOCK_MINUTES).contains(&self.lock_minutes) {
            problems.add(&format!("{field}.lockMinutes"), format!("must be 1 to {MAX_LOCK_MINUTES}"));
        }
        check_symbols(problems, &format!("{field}.forbiddenCharacters"), &self.forbidden_characters, false);
    }

    /// Checks a password against this policy. The message never repeats the password.
    pub fn check(&self, problems: &mut Problems, field: &str, password: &str) {
        let length = password.chars().count() as u32;
        if length < self.min_length || length > self.max_length {
            problems.add(field, format!("must be {} to {} characters", self.min_length, self.max_length));
            return;
        }
        if password.chars().any(|c| self.forbidden_characters.contains(c)) {
            problems.add(field, format!("must not contain {}", describe(&self.forbidden_characters)));
            return;
        }
        let classes = [
            password.chars().any(|c| c.is_uppercase()),
            password.chars().any(|c| c.is_lowercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ];
        let present = classes.iter().filter(|present| **present).count() as u32;
        if present < self.required_classes {
            problems.add(
                field,
                format!(
                    "must contain at least {} of: uppercase letters, lowercase letters, digits, symbols",
                    self.required_classes
                ),
            );
        }
    }
}

impl PasswordPolicy {
    /// How long the lock after `earlier_locks` previous ones lasts: doubling, at most a day.
    pub fn lock_duration(&self, earlier_locks: u32) -> chrono::TimeDelta {
        let minutes = u64::from(self.lock_minutes).saturating_mul(1u64 << earlier_locks.min(16));
        chrono::TimeDelta::minutes(minutes.min(u64::from(MAX_LOCK_MINUTES)) as i64)
    }
}

/// Symbols a policy lists: printable ASCII punctuation (and a space where `space_allowed`).
fn check_symbols(problems: &mut Problems, field: &str, symbols: &str, space_allowed: bool) {
    let fine = |c: char| c.is_ascii_punctuation() || (space_allowed && c == ' ');
    if symbols.chars().count() > 32 || !symbols.chars().all(fine) {
        problems.add(
            field,
            if space_allowed {
                "must be at most 32 ASCII punctuation characters or spaces"
            } else {
                "must be at most 32 ASCII punctuation characters"
            },
        );
    }
}

/// `'.', '-', '_' and spaces` — the symbols of a policy as people read them.
fn describe(symbols: &str) -> String {
    let names: Vec<String> =
        symbols.chars().map(|c| if c == ' ' { "spaces".to_owned() } else { format!("'{c}'") }).collect();
    match names.as_slice() {
        [] => "nothing else".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn username_problems(policy: &UsernamePolicy, username: &str, email: &str) -> Vec<String> {
        let mut problems = Problems::default();
        policy.check(&mut problems, "username", username, email);
        problems.messages()
    }

    fn password_problems(policy: &PasswordPolicy, password: &str) -> Vec<String> {
        let mut problems = Problems::default();
        policy.check(&mut problems, "password", password);
        problems.messages()
    }

    #[test]
    fn usernames_follow_the_company_policy_and_say_so_in_its_terms() {
        let telzio = UsernamePolicy { min_length: 5, max_length: 30, ..UsernamePolicy::default() };
        assert!(username_problems(&telzio, "alice.b", "a@example.com").is_empty());
        assert_eq!(username_problems(&telzio, "bob", "b@example.com"), ["must be 5 to 30 characters"]);

        let telemessage = UsernamePolicy {
            min_length: 4,
            max_length: 64,
            allowed_symbols: ".-_ ".to_owned(),
            email_as_username: false,
        };
        assert!(username_problems(&telemessage, "Ann Lee", "a@example.com").is_empty());
        assert_eq!(
            username_problems(&telemessage, "ann@lee", "a@example.com"),
            ["may contain only letters, digits and '.', '-', '_' and spaces"]
        );
        assert_eq!(
            username_problems(&telemessage, " ann", "a@example.com"),
            ["must not start or end with a space"]
        );

        let sangoma = UsernamePolicy { email_as_username: true, ..UsernamePolicy::default() };
        assert!(username_problems(&sangoma, "Ann@Example.com", "ann@example.com").is_empty());
        assert_eq!(
            username_problems(&sangoma, "ann", "ann@example.com"),
            ["must be the user's email address"]
        );
    }

    #[test]
    fn passwords_follow_the_company_policy() {
        let telemessage = PasswordPolicy {
            min_length: 8,
            max_length: 20,
            required_classes: 3,
            forbidden_characters: "\"',".to_owned(),
            ..PasswordPolicy::default()
        };
        assert!(password_problems(&telemessage, "Secret123").is_empty());
        assert!(password_problems(&telemessage, "secret12!").is_empty());
        assert_eq!(password_problems(&telemessage, "Sh0rt!"), ["must be 8 to 20 characters"]);
        assert_eq!(
            password_problems(&telemessage, "secret123"),
            ["must contain at least 3 of: uppercase letters, lowercase letters, digits, symbols"]
        );
        assert_eq!(password_problems(&telemessage, "Secret,123"), ["must not contain '\"', ''' and ','"]);
    }

    #[test]
    fn a_policy_that_makes_no_sense_is_refused_field_by_field() {
        let mut problems = Problems::default();
        UsernamePolicy {
            min_length: 0,
            max_length: 500,
            allowed_symbols: "é".to_owned(),
            email_as_username: false,
        }
        .check_itself(&mut problems, "usernamePolicy");
        PasswordPolicy {
            max_failed_logins: 0,
            lock_minutes: 0,
            require_two_factor: false,
            min_length: 4,
            max_length: 2,
            required_classes: 5,
            forbidden_characters: String::new(),
        }
        .check_itself(&mut problems, "passwordPolicy");
        assert_eq!(
            problems.fields(),
            [
                "usernamePolicy.minLength",
                "usernamePolicy.maxLength",
                "usernamePolicy.allowedSymbols",
                "passwordPolicy.minLength",
                "passwordPolicy.maxLength",
                "passwordPolicy.requiredClasses",
                "passwordPolicy.maxFailedLogins",
                "passwordPolicy.lockMinutes",
            ]
        );
    }

    fn policy_problems(policy: &PasswordPolicy) -> Vec<(String, String)> {
        let mut problems = Problems::default();
        policy.check_itself(&mut problems, "passwordPolicy");
        problems.fields().into_iter().map(str::to_owned).zip(problems.messages()).collect()
    }

    #[test]
    fn the_lockout_settings_have_bounds() {
        let default = PasswordPolicy::default();
        assert_eq!((default.max_failed_logins, default.lock_minutes), (5, 15));
        assert!(policy_problems(&default).is_empty());
        let at_the_bounds = [(1, 1), (100, MAX_LOCK_MINUTES)];
        for (max_failed_logins, lock_minutes) in at_the_bounds {
            let policy = PasswordPolicy { max_failed_logins, lock_minutes, ..PasswordPolicy::default() };
            assert!(policy_problems(&policy).is_empty(), "{max_failed_logins} failures, {lock_minutes} min");
        }
        for (max_failed_logins, lock_minutes) in [(0, 0), (101, MAX_LOCK_MINUTES + 1)] {
            let policy = PasswordPolicy { max_failed_logins, lock_minutes, ..PasswordPolicy::default() };
            assert_eq!(
                policy_problems(&policy),
                [
                    ("passwordPolicy.maxFailedLogins".to_owned(), "must be 1 to 100".to_owned()),
                    ("passwordPolicy.lockMinutes".to_owned(), "must be 1 to 1440".to_owned()),
                ],
                "{max_failed_logins} failures, {lock_minutes} min"
            );
        }
    }

    #[test]
    fn a_second_factor_is_off_by_default_and_any_choice_is_valid() {
        assert!(!PasswordPolicy::default().require_two_factor);
        let required = PasswordPolicy { require_two_factor: true, ..PasswordPolicy::default() };
        assert!(policy_problems(&required).is_empty());

        let stored = serde_json::json!({
            "maxFailedLogins": 5,
            "lockMinutes": 15,
            "minLength": 8,
            "maxLength": 128,
            "requiredClasses": 2,
            "forbiddenCharacters": "",
        });
        let read: PasswordPolicy =
            serde_json::from_value(stored).expect("a policy without the second factor reads");
        assert_eq!(read, PasswordPolicy::default(), "a policy stored before the second factor requires none");
        let written = serde_json::to_value(&required).expect("a policy serializes");
        assert_eq!(written["requireTwoFactor"], serde_json::json!(true));
        assert_eq!(serde_json::from_value::<PasswordPolicy>(written).expect("it reads back"), required);
    }

    #[test]
    fn each_lock_lasts_twice_as_long_as_the_one_before_and_at_most_a_day() {
        let minutes =
            |policy: &PasswordPolicy, earlier_locks| policy.lock_duration(earlier_locks).num_minutes();
        let default = PasswordPolicy::default();
        assert_eq!(
            (0..9).map(|earlier| minutes(&default, earlier)).collect::<Vec<_>>(),
            [15, 30, 60, 120, 240, 480, 960, 1440, 1440]
        );
        assert_eq!(minutes(&default, 16), 1440);
        assert_eq!(minutes(&default, u32::MAX), 1440, "a huge count neither overflows nor panics");

        let one_minute = PasswordPolicy { lock_minutes: 1, ..PasswordPolicy::default() };
        assert_eq!(minutes(&one_minute, 10), 1024);
        assert_eq!(minutes(&one_minute, 11), 1440);
        assert_eq!(minutes(&one_minute, 40), 1440);

        let a_day = PasswordPolicy { lock_minutes: MAX_LOCK_MINUTES, ..PasswordPolicy::default() };
        assert_eq!(minutes(&a_day, 0), 1440, "the longest first lock is a day");
        assert_eq!(minutes(&a_day, 1), 1440);
        assert_eq!(default.lock_duration(0), chrono::TimeDelta::minutes(15));
    }
}
