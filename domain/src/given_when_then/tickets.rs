//! Ticket: opening, comments, closing, the files they carry, and the upload rules for those
//! files; with the stored JSON of ticket events.

use serde_json::json;

use super::*;
use crate::attachment::{self, AttachmentRef};
use crate::ticket::{self, Topic};

const SCREENSHOT: Uuid = Uuid::from_u128(0xF11E_0001);
const INVOICE: Uuid = Uuid::from_u128(0xF11E_0002);

fn file(id: Uuid, file_name: &str, content_type: &str) -> AttachmentRef {
    AttachmentRef {
        id,
        file_name: file_name.to_owned(),
        content_type: content_type.to_owned(),
        size: 1234,
        sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
    }
}

fn screenshot() -> AttachmentRef {
    file(SCREENSHOT, "screenshot.png", "image/png")
}

fn invoice() -> AttachmentRef {
    file(INVOICE, "invoice.pdf", "application/pdf")
}

fn alice() -> user::State {
    user_state(&[alice_created()])
}

/// A valid `Open` at Acme about billing, for alice, with no files; cases change what they test.
fn open(message: &str, attachments: Vec<AttachmentRef>) -> ticket::Command {
    ticket::Command::Open {
        company_id: ACME,
        company: acme(),
        requester: Some((ALICE, alice())),
        topic: Topic::Billing,
        message: message.to_owned(),
        attachments,
    }
}

fn open_with_requester(requester: Option<(Uuid, user::State)>) -> ticket::Command {
    match open("My invoice is wrong", vec![]) {
        ticket::Command::Open { company_id, company, topic, message, attachments, .. } => {
            ticket::Command::Open { company_id, company, requester, topic, message, attachments }
        }
        other => other,
    }
}

fn opened(requester_id: Option<Uuid>, message: &str, attachments: Vec<AttachmentRef>) -> ticket::Event {
    ticket::Event::TicketOpened {
        company_id: ACME,
        requester_id,
        topic: Topic::Billing,
        message: message.to_owned(),
        attachments,
    }
}

/// What `open("My invoice is wrong", [])` decides to.
fn invoice_question() -> ticket::Event {
    opened(Some(ALICE), "My invoice is wrong", vec![])
}

fn comment(message: &str, attachments: Vec<AttachmentRef>) -> ticket::Command {
    ticket::Command::Comment { message: message.to_owned(), attachments }
}

fn commented(message: &str, attachments: Vec<AttachmentRef>) -> ticket::Event {
    ticket::Event::TicketCommented { message: message.to_owned(), attachments }
}

fn close(resolution: Option<&str>) -> ticket::Command {
    ticket::Command::Close { resolution: resolution.map(str::to_owned) }
}

fn closed(resolution: Option<&str>) -> ticket::Event {
    ticket::Event::TicketClosed { resolution: resolution.map(str::to_owned) }
}

fn eleven_files() -> Vec<AttachmentRef> {
    (0..11).map(|n| file(Uuid::from_u128(0xF11E_1000 + n), &format!("page{n}.png"), "image/png")).collect()
}

#[test]
fn ticket_open() {
    let long = "x".repeat(ticket::MAX_MESSAGE);
    let too_long = "x".repeat(ticket::MAX_MESSAGE + 1);
    let cases = vec![
        Case {
            name: "a ticket for a requester, trimmed",
            given: vec![],
            when: open("  My invoice is wrong\n ", vec![]),
            then: Then::Events(vec![invoice_question()]),
        },
        Case {
            name: "a ticket with files keeps their references in order",
            given: vec![],
            when: open("See attached", vec![screenshot(), invoice()]),
            then: Then::Events(vec![opened(Some(ALICE), "See attached", vec![screenshot(), invoice()])]),
        },
        Case {
            name: "a ticket with no requester",
            given: vec![],
            when: open_with_requester(None),
            then: Then::Events(vec![opened(None, "My invoice is wrong", vec![])]),
        },
        Case {
            name: "a message may span lines and hold tabs",
            given: vec![],
            when: open("Line one\r\n\tLine two", vec![]),
            then: Then::Events(vec![opened(Some(ALICE), "Line one\r\n\tLine two", vec![])]),
        },
        Case {
            name: "a message of exactly the longest length",
            given: vec![],
            when: open(&long, vec![]),
            then: Then::Events(vec![opened(Some(ALICE), &long, vec![])]),
        },
        Case {
            name: "exactly ten files",
            given: vec![],
            when: open("Pages", eleven_files()[..10].to_vec()),
            then: Then::Events(vec![opened(Some(ALICE), "Pages", eleven_files()[..10].to_vec())]),
        },
        Case {
            name: "an empty message is refused",
            given: vec![],
            when: open(" \n ", vec![]),
            then: Then::Problems(vec![("message", "must not be empty")]),
        },
        Case {
            name: "a message too long is refused",
            given: vec![],
            when: open(&too_long, vec![]),
            then: Then::Problems(vec![("message", "must be at most 5000 characters")]),
        },
        Case {
            name: "a message with other control characters is refused",
            given: vec![],
            when: open("bell\u{7}", vec![]),
            then: Then::Problems(vec![(
                "message",
                "must not contain control characters other than tabs and line breaks",
            )]),
        },
        Case {
            name: "eleven files are refused",
            given: vec![],
            when: open("Pages", eleven_files()),
            then: Then::Problems(vec![("attachments", "must be at most 10 files per message")]),
        },
        Case {
            name: "the same file twice is refused, naming the second",
            given: vec![],
            when: open("Twice", vec![screenshot(), invoice(), screenshot()]),
            then: Then::Problems(vec![("attachments[2]", "lists the same file twice")]),
        },
        Case {
            name: "every problem is named",
            given: vec![],
            when: open("", vec![invoice(), invoice()]),
            then: Then::Invalid(vec!["message", "attachments[1]"]),
        },
        Case {
            name: "an unknown company is refused before the fields",
            given: vec![],
            when: ticket::Command::Open {
                company_id: UNKNOWN,
                company: company::State::default(),
                requester: None,
                topic: Topic::Other,
                message: String::new(),
                attachments: vec![],
            },
            then: Then::Error(DomainError::UnknownReference { field: "companyId", id: UNKNOWN }),
        },
        Case {
            name: "an unknown requester is refused",
            given: vec![],
            when: open_with_requester(Some((UNKNOWN, user::State::default()))),
            then: Then::Error(DomainError::UnknownReference { field: "requesterId", id: UNKNOWN }),
        },
        Case {
            name: "a requester of another company is refused",
            given: vec![],
            when: open_with_requester(Some((BOB, user_state(&[created().company(GLOBEX).event()])))),
            then: Then::Error(rule("user_in_other_company", "the requester belongs to another company")),
        },
        Case {
            name: "a deleted requester is refused",
            given: vec![],
            when: open_with_requester(Some((
                ALICE,
                user_state(&[alice_created(), user::Event::UserDeleted {}]),
            ))),
            then: Then::Error(rule("user_deleted", "the requester has been deleted")),
        },
        Case {
            name: "a suspended requester may still ask for help",
            given: vec![],
            when: open_with_requester(Some((ALICE, user_state(&[alice_created(), suspended(None, None)])))),
            then: Then::Events(vec![invoice_question()]),
        },
        Case {
            name: "opening an existing ticket is refused",
            given: vec![invoice_question()],
            when: open("Again", vec![]),
            then: Then::Error(rule("already_exists", "the ticket already exists")),
        },
    ];
    check(cases, ticket::decide, ticket::evolve);
}

#[test]
fn ticket_comment_and_close() {
    let cases = vec![
        Case {
            name: "a comment, trimmed",
            given: vec![invoice_question()],
            when: comment(" We are looking into it ", vec![]),
            then: Then::Events(vec![commented("We are looking into it", vec![])]),
        },
        Case {
            name: "a comment with a file",
            given: vec![invoice_question(), commented("Which invoice?", vec![])],
            when: comment("This one", vec![invoice()]),
            then: Then::Events(vec![commented("This one", vec![invoice()])]),
        },
        Case {
            name: "an empty comment is refused",
            given: vec![invoice_question()],
            when: comment("", vec![]),
            then: Then::Problems(vec![("message", "must not be empty")]),
        },
        Case {
            name: "a comment with eleven files is refused",
            given: vec![invoice_question()],
            when: comment("Pages", eleven_files()),
            then: Then::Invalid(vec!["attachments"]),
        },
        Case {
            name: "a comment on a closed ticket is refused",
            given: vec![invoice_question(), closed(None)],
            when: comment("One more thing", vec![]),
            then: Then::Error(rule("ticket_closed", "the ticket is closed")),
        },
        Case {
            name: "a comment on a closed ticket is refused before its fields are checked",
            given: vec![invoice_question(), closed(None)],
            when: comment("", vec![]),
            then: Then::Error(rule("ticket_closed", "the ticket is closed")),
        },
        Case {
            name: "close with a resolution, trimmed",
            given: vec![invoice_question()],
            when: close(Some(" Refunded ")),
            then: Then::Events(vec![closed(Some("Refunded"))]),
        },
        Case {
            name: "close without a resolution",
            given: vec![invoice_question(), commented("Fixed", vec![])],
            when: close(None),
            then: Then::Events(vec![closed(None)]),
        },
        Case {
            name: "a blank resolution is none",
            given: vec![invoice_question()],
            when: close(Some("  ")),
            then: Then::Events(vec![closed(None)]),
        },
        Case {
            name: "a resolution too long is refused",
            given: vec![invoice_question()],
            when: close(Some(&"r".repeat(ticket::MAX_RESOLUTION + 1))),
            then: Then::Problems(vec![("resolution", "must be at most 1000 characters")]),
        },
        Case {
            name: "closing a closed ticket is a no-op",
            given: vec![invoice_question(), closed(Some("Refunded"))],
            when: close(Some("Again")),
            then: Then::Events(vec![]),
        },
        Case {
            name: "closing a closed ticket is a no-op even with a bad resolution",
            given: vec![invoice_question(), closed(None)],
            when: close(Some(&"r".repeat(ticket::MAX_RESOLUTION + 1))),
            then: Then::Events(vec![]),
        },
        Case {
            name: "a missing ticket refuses a comment",
            given: vec![],
            when: comment("Hello?", vec![]),
            then: Then::Error(rule("not_found", "the ticket does not exist")),
        },
        Case {
            name: "a missing ticket refuses to close, even when it would be a no-op",
            given: vec![],
            when: close(None),
            then: Then::Error(rule("not_found", "the ticket does not exist")),
        },
    ];
    check(cases, ticket::decide, ticket::evolve);
}

#[test]
fn ticket_state() {
    let cases = vec![
        StateCase {
            name: "an opened ticket is open, with no comments",
            given: vec![invoice_question()],
            then: (Some(ACME), Some(ALICE), Topic::Billing, ticket::Status::Open, 0, None),
        },
        StateCase {
            name: "comments are counted, the opening message is not",
            given: vec![invoice_question(), commented("a", vec![]), commented("b", vec![invoice()])],
            then: (Some(ACME), Some(ALICE), Topic::Billing, ticket::Status::Open, 2, None),
        },
        StateCase {
            name: "a closed ticket keeps its resolution",
            given: vec![opened(None, "Hi", vec![]), commented("a", vec![]), closed(Some("Done"))],
            then: (Some(ACME), None, Topic::Billing, ticket::Status::Closed, 1, Some("Done".to_owned())),
        },
        StateCase {
            name: "no events: no ticket",
            given: vec![],
            then: (None, None, Topic::Other, ticket::Status::Open, 0, None),
        },
    ];
    check_states(cases, ticket::evolve, |state: &ticket::State| {
        (
            state.company_id,
            state.requester_id,
            state.topic,
            state.status(),
            state.comment_count,
            state.resolution.clone(),
        )
    });
}

/// One index per event type; the exhaustive match fails to compile when a type is added.
fn ticket_event_index(event: &ticket::Event) -> usize {
    use ticket::Event::*;
    match event {
        TicketOpened { .. } => 0,
        TicketCommented { .. } => 1,
        TicketClosed { .. } => 2,
    }
}

#[test]
fn ticket_events_round_trip_through_stored_json() {
    let samples = vec![
        invoice_question(),
        opened(None, "Hi", vec![screenshot(), invoice()]),
        ticket::Event::TicketOpened {
            company_id: GLOBEX,
            requester_id: Some(BOB),
            topic: Topic::NumbersAndPlans,
            message: "Port my number\nplease".to_owned(),
            attachments: vec![],
        },
        commented("Which one?", vec![]),
        commented("This one", vec![invoice()]),
        closed(Some("Refunded")),
        closed(None),
    ];
    let covered: BTreeSet<usize> = samples.iter().map(ticket_event_index).collect();
    assert_eq!(covered, (0..3).collect(), "ticket samples must cover every event type");
    check_round_trip(&samples);
    for topic in Topic::ALL {
        check_round_trip(&[ticket::Event::TicketOpened {
            company_id: ACME,
            requester_id: None,
            topic,
            message: "m".to_owned(),
            attachments: vec![],
        }]);
    }
}

#[test]
fn ticket_stored_json_is_camel_case() {
    assert_eq!(invoice_question().event_type(), "TicketOpened");
    assert_eq!(commented("a", vec![]).event_type(), "TicketCommented");
    assert_eq!(closed(None).event_type(), "TicketClosed");
    assert_eq!(
        opened(None, "See attached", vec![screenshot()]).to_data(),
        json!({
            "companyId": ACME.to_string(),
            "requesterId": null,
            "topic": "BILLING",
            "message": "See attached",
            "attachments": [{
                "id": SCREENSHOT.to_string(),
                "fileName": "screenshot.png",
                "contentType": "image/png",
                "size": 1234,
                "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            }],
        }),
    );
    assert_eq!(commented("Thanks", vec![]).to_data(), json!({ "message": "Thanks", "attachments": [] }));
    assert_eq!(closed(Some("Refunded")).to_data(), json!({ "resolution": "Refunded" }));
    assert_eq!(closed(None).to_data(), json!({ "resolution": null }));
    let topics: Vec<_> = Topic::ALL.iter().map(|topic| json!(topic)).collect();
    assert_eq!(
        topics,
        [
            json!("BILLING"),
            json!("TECHNICAL_SUPPORT"),
            json!("ACCOUNT"),
            json!("NUMBERS_AND_PLANS"),
            json!("FEATURE_REQUEST"),
            json!("OTHER")
        ]
    );
    for topic in Topic::ALL {
        assert_eq!(json!(topic), json!(topic.as_str()), "as_str is the stored name");
    }
    assert!(
        ticket::Event::from_stored(
            "TicketOpened",
            &json!({ "companyId": ACME.to_string(), "topic": "BILING",
            "message": "m", "attachments": [] })
        )
        .is_err(),
        "an unknown topic must not be read"
    );
    assert_eq!(
        ticket::Event::from_stored("TicketClosed", &json!({})).ok(),
        Some(closed(None)),
        "a resolution left out reads as none"
    );
}

// --- uploads ---------------------------------------------------------------------------------

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// The fields an upload check names, or what it accepts.
fn upload(
    content_type: Option<&str>,
    file_name: Option<&str>,
    bytes: &[u8],
) -> Result<(String, String), Vec<String>> {
    match attachment::check(content_type, file_name, bytes) {
        Ok(checked) => Ok((checked.content_type, checked.file_name)),
        Err(DomainError::Invalid(problems)) => Err(problems.into_iter().map(|p| p.field).collect()),
        Err(other) => panic!("an upload is only ever refused as invalid, not {other:?}"),
    }
}

#[test]
fn uploads_are_checked_against_their_declared_type() {
    let accepted = |content_type: &str, bytes: &[u8]| upload(Some(content_type), Some("f"), bytes).is_ok();
    assert!(accepted("image/png", PNG));
    assert!(accepted("image/jpeg", b"\xff\xd8\xff\xe0\0\x10JFIF"));
    assert!(accepted("image/gif", b"GIF89a\x01\0\x01\0"));
    assert!(accepted("image/gif", b"GIF87a\x01\0\x01\0"));
    assert!(accepted("application/pdf", b"%PDF-1.7\n"));
    assert!(accepted("text/plain", "héllo\n".as_bytes()));
    assert!(accepted("text/csv", b"a,b\n1,2\n"));
    assert!(accepted("Text/Plain; charset=utf-8", b"parameters and case aside"));

    let refused = |content_type: Option<&str>, bytes: &[u8]| upload(content_type, Some("f"), bytes);
    let content_type = Err(vec!["contentType".to_owned()]);
    assert_eq!(refused(Some("image/png"), b"%PDF-1.7"), content_type, "a PDF declared PNG");
    assert_eq!(refused(Some("image/jpeg"), PNG), content_type, "a PNG declared JPEG");
    assert_eq!(refused(Some("image/gif"), b"GIF90a"), content_type);
    assert_eq!(refused(Some("application/pdf"), b"PDF"), content_type);
    assert_eq!(refused(Some("text/plain"), b"\xff\xfe not UTF-8"), content_type);
    assert_eq!(refused(Some("text/csv"), PNG), content_type, "a PNG is not UTF-8");
    assert_eq!(refused(Some("application/zip"), b"PK\x03\x04"), content_type, "not an allowed type");
    assert_eq!(refused(Some("text/html"), b"<p>hi</p>"), content_type, "not an allowed type");
    assert_eq!(refused(Some(""), b"x"), content_type, "blank");
    assert_eq!(refused(None, b"x"), content_type, "none declared");
    assert_eq!(refused(Some("text/plain"), b""), Err(vec!["file".to_owned()]), "empty");
    let too_big = vec![b'a'; attachment::MAX_SIZE + 1];
    assert_eq!(refused(Some("text/plain"), &too_big), Err(vec!["file".to_owned()]));
    assert!(upload(Some("text/plain"), Some("f"), &too_big[1..]).is_ok(), "exactly the largest size");

    let problems = match attachment::check(Some("image/png"), Some("f.png"), b"GIF89a") {
        Err(DomainError::Invalid(problems)) => problems,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(problems[0].message, "the file is declared image/png but its bytes are not of that type");
}

#[test]
fn upload_file_names() {
    let name = |file_name: Option<&str>| upload(Some("text/plain"), file_name, b"x");
    assert_eq!(name(Some(" notes.txt ")), Ok(("text/plain".to_owned(), "notes.txt".to_owned())));
    assert!(name(Some("Relevé de compte (2025).txt")).is_ok(), "any letters, spaces and brackets");
    assert!(name(Some(&"n".repeat(attachment::MAX_FILE_NAME))).is_ok());
    let file_name = Err(vec!["fileName".to_owned()]);
    assert_eq!(name(Some(&"n".repeat(attachment::MAX_FILE_NAME + 1))), file_name);
    assert_eq!(name(Some("../etc/passwd")), file_name);
    assert_eq!(name(Some("C:\\boot.ini")), file_name);
    assert_eq!(name(Some("two\nlines")), file_name);
    assert_eq!(name(Some("  ")), file_name);
    assert_eq!(name(None), file_name);
    assert_eq!(
        upload(None, None, b""),
        Err(vec!["file".to_owned(), "contentType".to_owned(), "fileName".to_owned()]),
        "every problem is named"
    );
}
