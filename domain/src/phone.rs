//! Phone numbers in international format, validated against libphonenumber's metadata (the
//! `phonenumber` crate) and stored in E.164 (`+14155550123`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use phonenumber::Mode;

/// What a user is told when a number is not a valid international number.
pub const PHONE_RULE: &str = "must be a valid phone number in international format, e.g. +14155550123";

/// Parses a number typed by a person: a leading `+` (or none: the digits then start with the
/// country code), then digits with optional spaces, dashes, dots and parentheses.
///
/// Returns the number in E.164, or the rule it broke.
///
/// Answers are remembered (up to [`REMEMBERED`] texts): libphonenumber's validation costs tens
/// of microseconds a number, and an import decides every row twice (the preview that counts
/// licences, then the run).
pub fn normalize(text: &str) -> Result<String, &'static str> {
    static ANSWERS: OnceLock<Mutex<HashMap<String, Result<String, &'static str>>>> = OnceLock::new();
    let answers = ANSWERS.get_or_init(Default::default);
    let trimmed = text.trim();
    if let Some(known) = answers.lock().ok().and_then(|answers| answers.get(trimmed).cloned()) {
        return known;
    }
    let answer = parse(trimmed);
    if let Ok(mut answers) = answers.lock() {
        if answers.len() >= REMEMBERED {
            answers.clear();
        }
        answers.insert(trimmed.to_owned(), answer.clone());
    }
    answer
}

/// How many typed numbers [`normalize`] remembers before it starts again.
const REMEMBERED: usize = 20_000;

fn parse(trimmed: &str) -> Result<String, &'static str> {
    let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return Err(PHONE_RULE);
    }
    let international = format!("+{digits}");
    let number = phonenumber::parse(None, &international).map_err(|_| PHONE_RULE)?;
    if !phonenumber::is_valid(&number) {
        return Err(PHONE_RULE);
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_people_type_become_e164() {
        for (typed, stored) in [
            ("+14155550123", "+14155550123"),
            ("+1 (415) 555-0123", "+14155550123"),
            ("14155550123", "+14155550123"),
            ("+44 20 7946 0958", "+442079460958"),
            (" +972-3-123-4567 ", "+97231234567"),
        ] {
            assert_eq!(normalize(typed), Ok(stored.to_owned()), "{typed}");
        }
    }

    #[test]
    fn what_is_not_a_number_is_refused() {
        for typed in
            ["", "+", "call me", "+1 415 555 01234567", "+999 1234567", "+1415555012a", "+0415550100"]
        {
            assert_eq!(normalize(typed), Err(PHONE_RULE), "{typed:?}");
        }
    }
}
