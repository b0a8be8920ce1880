//! What users change about themselves: their settings, and their mobile number.

use serde_json::Value;

use super::{
    Event, Field, MAX_SETTING_KEY, MAX_SETTING_TEXT, MAX_SETTINGS, PreviousNumber, SettingsChanges, State,
};
use crate::DomainError;
use crate::validate::Problems;

pub(super) fn decide_settings(state: &State, changes: SettingsChanges) -> Result<Vec<Event>, DomainError> {
    let mut problems = Problems::default();
    for (key, value) in &changes.settings {
        let field = format!("settings.{key}");
        let key_fine = (1..=MAX_SETTING_KEY).contains(&key.len())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !key_fine {
            problems.add(
                &field,
                format!("a setting's name is 1 to {MAX_SETTING_KEY} letters, digits, '_', '-' or '.'"),
            );
            continue;
        }
        match value {
            None | Some(Value::Bool(_) | Value::Number(_)) => {}
            Some(Value::String(text)) if text.chars().count() <= MAX_SETTING_TEXT => {}
            Some(Value::String(_)) => {
                problems.add(&field, format!("must be at most {MAX_SETTING_TEXT} characters"))
            }
            Some(_) => problems.add(&field, "must be a boolean, a number, a string or null (to remove it)"),
        }
    }
    problems.into_result()?;
    let settings: std::collections::BTreeMap<_, _> = changes
        .settings
        .into_iter()
        .filter(|(key, value)| state.settings.get(key) != value.as_ref())
        .collect();
    let kept = state.settings.keys().filter(|key| !matches!(settings.get(*key), Some(None))).count();
    let added =
        settings.iter().filter(|(key, value)| value.is_some() && !state.settings.contains_key(*key)).count();
    if kept + added > MAX_SETTINGS {
        return Err(DomainError::rule_with(
            "too_many_settings",
            format!("a user keeps at most {MAX_SETTINGS} settings"),
            serde_json::json!({ "limit": MAX_SETTINGS }),
        ));
    }
    let manual_filtering = changes.manual_filtering.filter(|manual| *manual != state.manual_filtering);
    if manual_filtering.is_none() && settings.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::UserSettingsUpdated { manual_filtering, settings }])
}

pub(super) fn decide_mobile(
    state: &State,
    mobile: &str,
    previous: PreviousNumber,
) -> Result<Vec<Event>, DomainError> {
    let mut problems = Problems::default();
    let mobile = Field::Mobile.normalize(&mut problems, mobile);
    problems.into_result()?;
    let mobile = mobile.unwrap_or_default();
    let current = state.get(Field::Mobile);
    if current == Some(mobile.as_str()) {
        return Ok(Vec::new());
    }
    refuse_suspended(state, &mobile)?;
    Ok(vec![Event::MobileNumberChanged {
        mobile,
        previous: current.map(str::to_owned),
        previous_status: previous,
    }])
}

/// A number the user suspended stays reserved, unused: it cannot become their mobile again.
pub(super) fn refuse_suspended(state: &State, mobile: &str) -> Result<(), DomainError> {
    if state.previous_mobiles.iter().any(|m| m.number == mobile && m.status == PreviousNumber::Suspended) {
        return Err(DomainError::rule(
            "number_suspended",
            "this number is one of the user's suspended numbers; it cannot come back",
        ));
    }
    Ok(())
}
