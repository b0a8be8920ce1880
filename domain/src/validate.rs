//! Field validation shared by the aggregates. Collects every problem, not just the first.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.to_owned(), message: message.into() });
    }

    pub fn into_result(self) -> Result<(), crate::DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(crate::DomainError::Invalid(self.0)) }
    }

    /// A required, trimmed, non-empty text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.add(field, "must not be empty");
        } else if trimmed.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if trimmed.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        }
    }

    pub fn username(&mut self, field: &str, value: &str) {
        let length = value.chars().count();
        if !(3..=64).contains(&length) {
            self.add(field, "must be 3 to 64 characters");
        } else if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@')) {
            self.add(field, "may contain only letters, digits, '.', '-', '_' and '@'");
        }
    }

    pub fn email(&mut self, field: &str, value: &str) {
        let valid = value.len() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if !valid {
            self.add(field, "must be an email address such as name@example.com");
        }
    }

    /// International format: `+` then 8 to 15 digits (E.164).
    pub fn phone(&mut self, field: &str, value: &str) {
        let digits = value.strip_prefix('+').unwrap_or("");
        if !(8..=15).contains(&digits.len())
            || !digits.chars().all(|c| c.is_ascii_digit())
            || digits.starts_with('0')
        {
            self.add(field, "must be in international format, e.g. +14155550123");
        }
    }

    /// An extension is 3 or 4 digits.
    pub fn extension(&mut self, field: &str, value: &str) {
        if !(3..=4).contains(&value.len()) || !value.chars().all(|c| c.is_ascii_digit()) {
            self.add(field, "must be 3 or 4 digits");
        }
    }
}

/// Removes spaces, dashes, dots and parentheses that people type in phone numbers.
pub fn normalize_phone(value: &str) -> String {
    value.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect()
}
