//! Field validation shared by the aggregates. Collects every problem, not just the first.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.to_owned(), message: message.into() });
    }

    pub fn into_result(self) -> Result<(), crate::DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(crate::DomainError::Invalid(self.0)) }
    }

    /// The fields named so far, in order.
    pub fn fields(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.field.as_str()).collect()
    }

    /// The messages so far, in order.
    pub fn messages(&self) -> Vec<String> {
        self.0.iter().map(|e| e.message.clone()).collect()
    }

    /// A required, trimmed, non-empty text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else {
            self.optional_text(field, value, max);
        }
    }

    /// A text that may be empty, of at most `max` characters.
    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) {
        let trimmed = value.trim();
        if trimmed.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if trimmed.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
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

    /// A phone number in international format; returns it in E.164, or `None` after noting
    /// the problem.
    pub fn phone(&mut self, field: &str, value: &str) -> Option<String> {
        match crate::phone::normalize(value) {
            Ok(number) => Some(number),
            Err(rule) => {
                self.add(field, rule);
                None
            }
        }
    }

    /// An optional phone number: blank clears it.
    pub fn optional_phone(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let value = value.filter(|v| !v.trim().is_empty())?;
        self.phone(field, &value)
    }

    /// An extension is 3 or 4 digits.
    pub fn extension(&mut self, field: &str, value: &str) {
        if !(3..=4).contains(&value.len()) || !value.chars().all(|c| c.is_ascii_digit()) {
            self.add(field, "must be 3 or 4 digits");
        }
    }
}

/// A trimmed optional text; blank becomes `None`.
pub fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
