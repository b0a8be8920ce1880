//! Personal data: which stored fields identify a person, whose they are, and which event erases
//! them. The event log seals these fields with the person's own key before they are stored and
//! destroys the key with the erasing event (crypto-shredding); this module only says *what* is
//! personal, so the rule lives beside the events it is about.

use uuid::Uuid;

/// What a personal value reads as once its person's key is destroyed.
pub const ERASED: &str = "[erased]";

/// The person a stream's personal data belongs to: a user's own stream.
pub fn subject_of(stream_id: &str) -> Option<Uuid> {
    match crate::parse_stream_id(stream_id)? {
        ("user", id) => Some(id),
        _ => None,
    }
}

/// The top-level fields of an event's stored `data` that are personal, on a person's stream.
pub fn personal_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "UserCreated" | "UserProfileUpdated" => crate::user::PERSONAL_FIELDS,
        "MobileNumberChanged" => &["mobile", "previous"],
        _ => &[],
    }
}

/// Whether appending this event to a person's stream erases the person: their key is destroyed
/// in the same transaction.
pub fn erases(event_type: &str) -> bool {
    event_type == "UserDeleted"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventPayload;
    use crate::user;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn only_a_users_own_stream_has_a_subject() {
        let id = Uuid::from_u128(7);
        assert_eq!(subject_of(&crate::stream_id("user", id)), Some(id));
        assert_eq!(subject_of(&crate::stream_id("company", id)), None);
        assert_eq!(subject_of("user-not-a-uuid"), None);
    }

    /// Every personal field named exists in the stored JSON of a fully filled event, so a
    /// renamed field cannot silently stop being sealed.
    #[test]
    fn the_personal_fields_are_fields_of_the_stored_events() {
        let filled = Some(Some("x".to_owned()));
        let updated = user::Event::UserProfileUpdated {
            service_level: None,
            email: filled.clone(),
            first_name: filled.clone(),
            last_name: filled.clone(),
            phone: filled.clone(),
            mobile: filled.clone(),
            office_phone: filled.clone(),
            fax: filled.clone(),
            outbound_caller_id: filled.clone(),
            extension: filled.clone(),
            title: filled.clone(),
            customer_code: filled.clone(),
            udid: filled,
        };
        let changed = user::Event::MobileNumberChanged {
            mobile: "+447700900123".to_owned(),
            previous: Some("+447700900124".to_owned()),
            previous_status: user::PreviousNumber::Removed,
        };
        let created = user::Event::UserCreated {
            company_id: id(1),
            username: "alice".to_owned(),
            email: "alice@example.com".to_owned(),
            first_name: "Alice".to_owned(),
            last_name: "Smith".to_owned(),
            phone: Some("+14155550100".to_owned()),
            extension: Some("101".to_owned()),
            role_id: None,
            approved: true,
            group_id: None,
            service_level: Default::default(),
            admin: false,
            portal_access: true,
            mobile: Some("+447700900123".to_owned()),
            office_phone: Some("+14155550101".to_owned()),
            fax: Some("+14155550102".to_owned()),
            outbound_caller_id: Some("+14155550103".to_owned()),
            title: Some("CTO".to_owned()),
            customer_code: Some("C-1".to_owned()),
            udid: Some("device-1".to_owned()),
        };
        for event in [created, updated, changed] {
            let data = event.to_data();
            for field in personal_fields(event.event_type()) {
                if data.get(field).is_some_and(|v| v.is_string()) {
                    continue;
                }
                assert!(
                    event.event_type() == "UserProfileUpdated" && *field == "username",
                    "{} has no {field}",
                    event.event_type()
                );
            }
        }

        assert!(erases("UserDeleted") && !erases("UserSuspended"));
    }
}
