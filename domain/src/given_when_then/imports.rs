//! Import: started with its row count, one result per row, completed by the last result;
//! never a row recorded twice. With the stored JSON of import events.

use serde_json::json;

use super::*;
use crate::import::{self, Format, Outcome, Problem, RowResult, Settings};

const UNKNOWN: Uuid = Uuid::from_u128(0xDEAD);

fn settings(rows: u32) -> Settings {
    Settings {
        file_name: Some("staff.csv".to_owned()),
        format: Format::Csv,
        rows,
        role_id: None,
        group_id: Some(ACME_SUPPORT_GROUP),
        service_level: ServiceLevel::Pro,
        partial: false,
        approved: true,
    }
}

fn start(rows: u32) -> import::Command {
    import::Command::Start { company_id: ACME, company: acme(), settings: settings(rows) }
}

fn started(rows: u32) -> import::Event {
    import::Event::ImportStarted {
        company_id: ACME,
        file_name: Some("staff.csv".to_owned()),
        format: Format::Csv,
        rows,
        role_id: None,
        group_id: Some(ACME_SUPPORT_GROUP),
        service_level: ServiceLevel::Pro,
        partial: false,
        approved: true,
    }
}

fn result(row: u32, outcome: Outcome) -> RowResult {
    let problems = match outcome {
        Outcome::Rejected => {
            vec![Problem { field: "email".to_owned(), message: "must be an email address".to_owned() }]
        }
        _ => Vec::new(),
    };
    let user_id = (outcome != Outcome::Rejected).then_some(ALICE);
    RowResult { row, outcome, user_id, problems }
}

fn record(results: Vec<RowResult>) -> import::Command {
    import::Command::Record { results }
}

fn recorded(row: u32, outcome: Outcome) -> import::Event {
    import::Event::ImportRowRecorded(result(row, outcome))
}

#[test]
fn an_import_records_each_row_once_and_completes_with_the_last() {
    let cases = vec![
        Case {
            name: "start: the company's import of 3 rows",
            given: vec![],
            when: start(3),
            then: Then::Events(vec![started(3)]),
        },
        Case {
            name: "start: an unknown company is refused",
            given: vec![],
            when: import::Command::Start {
                company_id: UNKNOWN,
                company: company::State::default(),
                settings: settings(3),
            },
            then: Then::Error(DomainError::UnknownReference { field: "companyId", id: UNKNOWN }),
        },
        Case {
            name: "start: no rows is refused",
            given: vec![],
            when: start(0),
            then: Then::Error(DomainError::rule("no_rows", "the file holds no rows to import")),
        },
        Case {
            name: "start: 5,001 rows is refused, saying the limit",
            given: vec![],
            when: start(5001),
            then: Then::Error(DomainError::rule_with(
                "too_many_rows",
                "an import holds at most 5000 rows; this one has 5001",
                json!({ "rows": 5001, "limit": 5000 }),
            )),
        },
        Case {
            name: "start: 5,000 rows is fine",
            given: vec![],
            when: start(5000),
            then: Then::Events(vec![started(5000)]),
        },
        Case {
            name: "start: twice is refused",
            given: vec![started(3)],
            when: start(3),
            then: Then::Error(DomainError::rule("already_exists", "the import already exists")),
        },
        Case {
            name: "record: before the start is refused",
            given: vec![],
            when: record(vec![result(2, Outcome::Created)]),
            then: Then::Error(DomainError::rule("not_found", "the import does not exist")),
        },
        Case {
            name: "record: some rows, not yet all",
            given: vec![started(3)],
            when: record(vec![result(2, Outcome::Created), result(4, Outcome::Rejected)]),
            then: Then::Events(vec![recorded(2, Outcome::Created), recorded(4, Outcome::Rejected)]),
        },
        Case {
            name: "record: the last row completes the import with the counts of all",
            given: vec![started(3), recorded(2, Outcome::Created), recorded(4, Outcome::Rejected)],
            when: record(vec![result(5, Outcome::OwnershipRequested)]),
            then: Then::Events(vec![
                recorded(5, Outcome::OwnershipRequested),
                import::Event::ImportCompleted {
                    created: 1,
                    updated: 0,
                    ownership_requested: 1,
                    rejected: 1,
                },
            ]),
        },
        Case {
            name: "record: a row recorded before is refused (a resumed import never redoes one)",
            given: vec![started(3), recorded(2, Outcome::Created)],
            when: record(vec![result(3, Outcome::Updated), result(2, Outcome::Created)]),
            then: Then::Error(DomainError::rule("row_recorded", "row 2 already has a result")),
        },
        Case {
            name: "record: the same row twice in one command is refused",
            given: vec![started(3)],
            when: record(vec![result(3, Outcome::Updated), result(3, Outcome::Created)]),
            then: Then::Error(DomainError::rule("row_recorded", "row 3 already has a result")),
        },
        Case {
            name: "record: more results than rows is refused",
            given: vec![started(1)],
            when: record(vec![result(2, Outcome::Created), result(3, Outcome::Created)]),
            then: Then::Error(DomainError::rule("too_many_results", "the import has 1 rows, not 2")),
        },
        Case {
            name: "record: after the completion is refused",
            given: vec![
                started(1),
                recorded(2, Outcome::Created),
                import::Event::ImportCompleted {
                    created: 1,
                    updated: 0,
                    ownership_requested: 0,
                    rejected: 0,
                },
            ],
            when: record(vec![]),
            then: Then::Error(DomainError::rule("import_completed", "the import is completed")),
        },
        Case {
            name: "record: nothing is a no-op",
            given: vec![started(2)],
            when: record(vec![]),
            then: Then::Events(vec![]),
        },
    ];
    check(cases, import::decide, import::evolve);
}

#[test]
fn the_state_counts_outcomes_and_knows_the_rows_done() {
    let state = [started(3), recorded(2, Outcome::Created), recorded(3, Outcome::Rejected)]
        .iter()
        .fold(import::State::default(), import::evolve);
    assert_eq!(state.status(), import::Status::Running);
    assert_eq!(state.recorded(), BTreeSet::from([2, 3]));
    assert_eq!((state.counts.created, state.counts.rejected, state.counts.total()), (1, 1, 2));
    let done = import::evolve(
        import::evolve(state, &recorded(4, Outcome::Updated)),
        &import::Event::ImportCompleted { created: 1, updated: 1, ownership_requested: 0, rejected: 1 },
    );
    assert_eq!(done.status(), import::Status::Completed);
}

#[test]
fn import_events_are_stored_as_flat_camel_case_objects_without_personal_data() {
    let event = recorded(7, Outcome::Rejected);
    assert_eq!(event.event_type(), "ImportRowRecorded");
    assert_eq!(
        event.to_data(),
        json!({
            "row": 7,
            "outcome": "REJECTED",
            "userId": null,
            "problems": [{ "field": "email", "message": "must be an email address" }],
        })
    );
    let started = started(3).to_data();
    assert_eq!(started["fileName"], "staff.csv");
    assert_eq!(started["serviceLevel"], "PRO");
    assert_eq!(started["groupId"], json!(ACME_SUPPORT_GROUP));
    for event in [recorded(7, Outcome::Rejected), recorded(8, Outcome::Created)] {
        let back = import::Event::from_stored(event.event_type(), &event.to_data()).expect("round trip");
        assert_eq!(back, event);
    }
}
