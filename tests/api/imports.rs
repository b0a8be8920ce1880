//! Bulk imports (issue 7): real CSV, TXT and XLSX files uploaded as a browser form does, and
//! JSON rows; each row's result read back through GraphQL; files that cannot be imported
//! refused with nothing written; licence limits; and an import killed mid-way that goes on
//! when the server starts again, with no row created twice and none lost.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::access::signed_in;
use crate::helpers::{Answer, App, Company, TOKEN, create_user_with, on_both_backends, register_company};
use crate::identity::sign_in;

on_both_backends!(
    a_csv_file_creates_updates_and_asks_for_ownership_row_by_row,
    txt_and_xlsx_files_are_read_like_csv,
    a_file_that_cannot_be_imported_is_refused_and_nothing_is_written,
    a_dry_run_of_json_rows_reports_and_writes_nothing,
    licences_refuse_the_import_or_limit_a_partial_one,
    an_import_killed_mid_way_goes_on_after_a_restart,
    the_command_line_uploads_a_file_and_prints_the_refused_rows,
    an_admin_imports_only_what_they_may_do_one_by_one,
    chunks_decided_ahead_see_the_chunks_before_them_and_commands_sent_meanwhile,
);

const IMPORT_FIELDS: &str = "id status fileName format rows done created updated ownershipRequested rejected \
    completedAt results(first: 5000) { row outcome userId problems { field message } }";

/// Uploads `bytes` as the form's `file` part, with the other parts as text, as the operator.
pub(crate) async fn upload(app: &App, file_name: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Answer {
    upload_as(app, TOKEN, file_name, bytes, fields).await
}

async fn upload_as(
    app: &App,
    token: &str,
    file_name: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> Answer {
    let mut form = Form::new().part("file", Part::bytes(bytes).file_name(file_name.to_owned()));
    for (name, value) in fields {
        form = form.text((*name).to_owned(), (*value).to_owned());
    }
    let response = app
        .client()
        .post(app.url("/imports"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("send the upload");
    answer(app, response).await
}

async fn post_rows(app: &App, body: Value) -> Answer {
    let response = app
        .client()
        .post(app.url("/imports"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("send the rows");
    answer(app, response).await
}

async fn answer(app: &App, response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().await.expect("a JSON answer");
    if let Some(position) = body["position"].as_i64() {
        app.note_position(position);
    }
    Answer { status, body, headers }
}

/// The import once every row has a result (bounded wait).
pub(crate) async fn completed(app: &App, import_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let data = app
            .query(
                &format!("query($id: ID!) {{ import(id: $id) {{ {IMPORT_FIELDS} }} }}"),
                json!({ "id": import_id }),
            )
            .await;
        if data["import"]["status"] == "COMPLETED" {
            // The users it made are in the same appends as its results: later queries wait for
            // every read model to pass its last event.
            let trail = app.audit(json!({ "streamId": format!("import-{import_id}") })).await;
            let last =
                trail.last().and_then(|entry| entry["position"].as_i64()).expect("the import's events");
            app.note_position(last);
            return data["import"].clone();
        }
        assert!(Instant::now() < deadline, "the import did not complete: {data:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn result_of(import: &Value, row: u64) -> &Value {
    import["results"]
        .as_array()
        .and_then(|results| results.iter().find(|result| result["row"] == row))
        .unwrap_or_else(|| panic!("no result for row {row}: {import:#}"))
}

/// `(outcome, [(field, message)])` of a row.
fn outcome(import: &Value, row: u64) -> (String, Vec<(String, String)>) {
    let result = result_of(import, row);
    let problems = result["problems"]
        .as_array()
        .map(|problems| {
            problems
                .iter()
                .map(|p| {
                    (
                        p["field"].as_str().unwrap_or("").to_owned(),
                        p["message"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (result["outcome"].as_str().unwrap_or("").to_owned(), problems)
}

fn started(answer: &Answer) -> String {
    assert_eq!(answer.status, 202, "the import was not started: {:#}", answer.body);
    answer.body["importId"].as_str().expect("an import id").to_owned()
}

async fn a_csv_file_creates_updates_and_asks_for_ownership_row_by_row(app: App) {
    let company = register_company(&app, "Importers").await;
    let other = register_company(&app, "Elsewhere").await;
    let kept = create_user_with(&app, &company, "kept.user", json!({ "title": "Old title" })).await;
    let away = create_user_with(&app, &other, "away.user", json!({})).await;
    let bcrypt_hash = bcrypt::hash("Old-System-Pass-9", 4).expect("bcrypt");
    // Another system's argon2id, with parameters of its own (8 MiB, 3 passes).
    let argon2_hash = {
        use argon2::password_hash::PasswordHasher;
        let params = argon2::Params::new(8192, 3, 1, None).expect("params");
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(b"Other-Argon-Pass-3")
            .expect("argon2")
            .to_string()
    };
    let csv = format!(
        "User Name,E-mail,First Name,Last Name,Mobile Number,Title,Password,Password Hash\n\
         new.one,new.one@example.com,New,One,+447911123001,,,\n\
         \n\
         kept.user,kept.user@example.com,Kept,User,,New title,,\n\
         away.user,away.user@example.com,Away,User,,,,\n\
         pass.word,pass.word@example.com,Pass,Word,,,Admin-Given-Pass-7,\n\
         old.system,old.system@example.com,Old,System,,,,{bcrypt_hash}\n\
         bad.email,not-an-email,Bad,Email,,,,\n\
         twice,twice.a@example.com,Twice,A,,,,\n\
         twice,twice.b@example.com,Twice,B,,,,\n\
         formula,formula@example.com,=1+1,Formula,,,,\n\
         weak.pass,weak.pass@example.com,Weak,Pass,,,short,\n\
         other.argon,other.argon@example.com,Other,Argon,,,,\"{argon2_hash}\"\n\
         bad.hash,bad.hash@example.com,Bad,Hash,,,,$md5$not-a-hash\n"
    );
    let answer =
        upload(&app, "staff.csv", csv.into_bytes(), &[("companyId", &company.id), ("approved", "true")])
            .await;
    let import_id = started(&answer);
    assert_eq!(answer.body["rows"], 12, "the empty line is not a row: {:#}", answer.body);
    let import = completed(&app, &import_id).await;
    assert_eq!((import["fileName"].as_str(), import["format"].as_str()), (Some("staff.csv"), Some("CSV")));
    assert_eq!(
        (
            &import["rows"],
            &import["done"],
            &import["created"],
            &import["updated"],
            &import["ownershipRequested"],
            &import["rejected"]
        ),
        (&json!(12), &json!(12), &json!(4), &json!(1), &json!(1), &json!(6)),
        "{import:#}"
    );
    assert_eq!(outcome(&import, 2).0, "CREATED");
    assert_eq!(outcome(&import, 4).0, "UPDATED");
    assert_eq!(result_of(&import, 4)["userId"], json!(kept));
    assert_eq!(outcome(&import, 5).0, "OWNERSHIP_REQUESTED");
    assert_eq!(result_of(&import, 5)["userId"], json!(away));
    // Refusals say what a single CreateUser would, and which rows repeat each other.
    let single = app
        .command_with(
            "CreateUser",
            &json!({ "companyId": company.id, "username": "bad.single", "email": "not-an-email", "firstName": "B", "lastName": "E" }),
            &[],
        )
        .await;
    single.assert_error(400, "invalid_fields");
    let single_message =
        single.body["error"]["details"]["email"].as_str().expect("the email's problem").to_owned();
    assert_eq!(outcome(&import, 8), ("REJECTED".to_owned(), vec![("email".to_owned(), single_message)]));
    assert_eq!(
        outcome(&import, 9),
        ("REJECTED".to_owned(), vec![("username".to_owned(), "the same username is on row 10".to_owned())])
    );
    assert_eq!(
        outcome(&import, 10),
        ("REJECTED".to_owned(), vec![("username".to_owned(), "the same username is on row 9".to_owned())])
    );
    let (formula, problems) = outcome(&import, 11);
    assert_eq!((formula.as_str(), problems[0].0.as_str()), ("REJECTED", "firstName"));
    assert!(problems[0].1.contains("formula"), "{problems:?}");
    let (weak, problems) = outcome(&import, 12);
    assert_eq!((weak.as_str(), problems[0].0.as_str()), ("REJECTED", "password"), "{problems:?}");
    let (bad_hash, problems) = outcome(&import, 14);
    assert_eq!((bad_hash.as_str(), problems[0].0.as_str()), ("REJECTED", "passwordHash"), "{problems:?}");

    // The users are there, with the row's values; the existing one took the new title.
    let users = app
        .query(
            "query($c: ID!) { users(companyId: $c, first: 100) { edges { node { username title mobile approved } } } }",
            json!({ "c": company.id }),
        )
        .await;
    let mut names: Vec<&str> = users["users"]["edges"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|edge| edge["node"]["username"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, vec!["kept.user", "new.one", "old.system", "other.argon", "pass.word"]);
    let kept_now = crate::helpers::user(&app, &kept).await;
    assert_eq!(kept_now["title"], "New title");
    let away_now = app
        .query(
            "query($id: ID!) { user(id: $id) { ownershipRequest { company { name } } } }",
            json!({ "id": away }),
        )
        .await;
    assert_eq!(away_now["user"]["ownershipRequest"]["company"]["name"], "Importers");

    // The imported hash signs its user in with their old password; the plain one must change.
    let old = sign_in(&app, "old.system", "Old-System-Pass-9").await;
    assert_eq!(old.status, 200, "{:#}", old.body);
    let other = sign_in(&app, "other.argon", "Other-Argon-Pass-3").await;
    assert_eq!((other.status, &other.body["mustChangePassword"]), (200, &json!(false)), "{:#}", other.body);
    // Both imported hashes are made again with today's parameters at their first sign-in.
    let rehashed =
        app.audit_at_least(json!({ "companyId": company.id, "eventTypes": ["PasswordRehashed"] }), 2).await;
    assert_eq!(rehashed.len(), 2, "{rehashed:#?}");
    let given = sign_in(&app, "pass.word", "Admin-Given-Pass-7").await;
    assert_eq!((given.status, &given.body["mustChangePassword"]), (200, &json!(true)), "{:#}", given.body);

    // The audit trail links every change to the import's request; its events hold no personal data.
    let trail = app.audit(json!({ "streamId": format!("import-{import_id}") })).await;
    let types: Vec<&str> = trail.iter().filter_map(|entry| entry["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"ImportStarted"));
    assert_eq!(types.last(), Some(&"ImportCompleted"));
    assert_eq!(types.iter().filter(|t| **t == "ImportRowRecorded").count(), 12);
    let text = serde_json::to_string(&trail).expect("json");
    for personal in ["new.one@example.com", "not-an-email", "twice.a", "Old-System"] {
        assert!(!text.contains(personal), "the import's events hold {personal}");
    }
    let correlation = trail[0]["correlationId"].clone();
    let created = app.audit(json!({ "correlationId": correlation, "eventTypes": ["UserCreated"] })).await;
    assert_eq!(created.len(), 4, "each created user's event carries the import's correlation id");
}

async fn txt_and_xlsx_files_are_read_like_csv(app: App) {
    let company = register_company(&app, "Sheets").await;
    // Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated.
    let text =
        "username\temail\tfirst_name\tlast_name\textension\nzoe.t\tzoe.t@example.com\tZoë\tTab\t2101\n";
    let utf16: Vec<u8> =
        [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let import =
        completed(&app, &started(&upload(&app, "staff.txt", utf16, &[("companyId", &company.id)]).await))
            .await;
    assert_eq!(
        (outcome(&import, 2).0.as_str(), import["format"].as_str()),
        ("CREATED", Some("TXT")),
        "{import:#}"
    );

    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let header = ["Username", "Email", "First Name", "Last Name", "Mobile", "Extension"];
    for (column, name) in header.iter().enumerate() {
        sheet.write_string(0, column as u16, *name).expect("header");
    }
    let rows = [
        ["xl.one", "xl.one@example.com", "Excel", "One", "+447911123101"],
        ["xl.two", "xl.two@example.com", "Excel", "Two", "+447911123102"],
        ["xl.three", "xl.three@example.com", "Excel", "Three", ""],
    ];
    for (index, row) in rows.iter().enumerate() {
        for (column, value) in row.iter().enumerate() {
            if !value.is_empty() {
                sheet.write_string(index as u32 + 1, column as u16, *value).expect("cell");
            }
        }
    }
    // An extension typed as a number, a formula, and an empty row between.
    sheet.write_number(1, 5, 2201.0).expect("number");
    sheet.write_formula(2, 5, "=1000+1").expect("formula");
    sheet.write_string(5, 0, "xl.five").expect("cell");
    sheet.write_string(5, 1, "xl.five@example.com").expect("cell");
    sheet.write_string(5, 2, "Excel").expect("cell");
    sheet.write_string(5, 3, "Five").expect("cell");
    let bytes = workbook.save_to_buffer().expect("xlsx");
    let answer = upload(&app, "staff.xlsx", bytes, &[("companyId", &company.id)]).await;
    let import = completed(&app, &started(&answer)).await;
    assert_eq!((import["rows"].as_i64(), import["format"].as_str()), (Some(4), Some("XLSX")), "{import:#}");
    assert_eq!(outcome(&import, 2).0, "CREATED");
    let (formula, problems) = outcome(&import, 3);
    assert_eq!((formula.as_str(), problems[0].0.as_str()), ("REJECTED", "extension"), "{import:#}");
    assert!(problems[0].1.contains("formula"), "{problems:?}");
    assert_eq!(outcome(&import, 4).0, "CREATED");
    assert_eq!(outcome(&import, 6).0, "CREATED", "rows keep the sheet's numbers past an empty row");
    let one = result_of(&import, 2)["userId"].as_str().expect("id").to_owned();
    let one = crate::helpers::user(&app, &one).await;
    assert_eq!((one["extension"].as_str(), one["mobile"].as_str()), (Some("2201"), Some("+447911123101")));
}

async fn a_file_that_cannot_be_imported_is_refused_and_nothing_is_written(app: App) {
    let company = register_company(&app, "Careful").await;
    let before = app.event_count().await;
    let good = "username,email,firstName,lastName\nfine,fine@example.com,Fine,Row\n";

    let latin1: Vec<u8> = "username,email,firstName,lastName\nzoe,zoe@example.com,Zoë,Doe\n"
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    let answer = upload(&app, "latin1.csv", latin1, &[("companyId", &company.id)]).await;
    answer.assert_error(400, "invalid_fields");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("is not UTF-8 text: line 2"), "{message}");

    let answer = upload(
        &app,
        "staff.csv",
        b"username,firstName,lastName\nx,X,Y\n".to_vec(),
        &[("companyId", &company.id)],
    )
    .await;
    answer.assert_error(400, "invalid_fields");
    assert!(
        answer.body["error"]["message"].as_str().unwrap_or_default().contains("no email column"),
        "{:#}",
        answer.body
    );

    let mut big = String::from("username,email,firstName,lastName\n");
    for n in 0..5001 {
        big.push_str(&format!("big{n},big{n}@example.com,Big,Number{n}\n"));
    }
    let answer = upload(&app, "big.csv", big.into_bytes(), &[("companyId", &company.id)]).await;
    answer.assert_error(422, "too_many_rows");
    assert_eq!(
        (&answer.body["error"]["details"]["rows"], &answer.body["error"]["details"]["limit"]),
        (&json!(5001), &json!(5000))
    );

    let answer = upload(
        &app,
        "staff.csv",
        good.as_bytes().to_vec(),
        &[("companyId", "01900000-0000-7000-8000-000000000000")],
    )
    .await;
    answer.assert_error(404, "not_found");
    let answer = upload(&app, "staff.csv", good.as_bytes().to_vec(), &[]).await;
    answer.assert_error(400, "invalid_fields");
    assert_eq!(answer.body["error"]["details"]["companyId"], "is required");
    let answer = upload(&app, "old.xls", b"\xd0\xcf\x11\xe0".to_vec(), &[("companyId", &company.id)]).await;
    answer.assert_error(400, "invalid_fields");
    let answer =
        upload(&app, "broken.xlsx", b"PK\x03\x04 not really a zip".to_vec(), &[("companyId", &company.id)])
            .await;
    answer.assert_error(400, "invalid_fields");
    let anonymous = app
        .client()
        .post(app.url("/imports"))
        .multipart(Form::new().part("file", Part::bytes(good.as_bytes().to_vec()).file_name("staff.csv")))
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status().as_u16(), 401);

    assert_eq!(app.event_count().await, before, "a refused import writes nothing");
}

async fn a_dry_run_of_json_rows_reports_and_writes_nothing(app: App) {
    let company = register_company(&app, "Rehearsal").await;
    create_user_with(&app, &company, "already.here", json!({})).await;
    let before = app.event_count().await;
    let rows = json!([
        { "username": "dry.one", "email": "dry.one@example.com", "firstName": "Dry", "lastName": "One" },
        { "username": "already.here", "email": "already.here@example.com", "firstName": "Al", "lastName": "Ready" },
        { "username": "dry.bad", "email": "dry.bad@example.com", "firstName": "Dry", "lastName": "Bad", "mobile": "12" },
    ]);
    let answer = post_rows(&app, json!({ "companyId": company.id, "dryRun": true, "rows": rows })).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["status"], "DRY_RUN");
    assert_eq!(
        answer.body["summary"],
        json!({ "created": 1, "updated": 1, "ownershipRequested": 0, "rejected": 1 })
    );
    let results = answer.body["results"].as_array().expect("results");
    assert_eq!(results[2]["problems"][0]["field"], "mobile", "{:#}", answer.body);
    assert_eq!(app.event_count().await, before, "a dry run writes nothing");

    // The same rows for real: what the dry run said.
    let answer = post_rows(&app, json!({ "companyId": company.id, "rows": rows })).await;
    let import = completed(&app, &started(&answer)).await;
    assert_eq!(
        (&import["created"], &import["updated"], &import["rejected"]),
        (&json!(1), &json!(1), &json!(1))
    );
    let answer =
        post_rows(&app, json!({ "companyId": company.id, "rows": [{ "username": "x", "nickname": "y" }] }))
            .await;
    answer.assert_error(400, "invalid_fields");
}

async fn licences_refuse_the_import_or_limit_a_partial_one(app: App) {
    let company = register_company(&app, "Licensed").await;
    app.ok("SetLicenseLimit", json!({ "companyId": company.id, "limit": 3 })).await;
    create_user_with(&app, &company, "seat.one", json!({})).await;
    let mut csv = String::from("username,email,firstName,lastName\n");
    for n in 1..=4 {
        csv.push_str(&format!("lic{n},lic{n}@example.com,Lic,Number\n"));
    }
    let before = app.event_count().await;
    let answer = upload(&app, "staff.csv", csv.clone().into_bytes(), &[("companyId", &company.id)]).await;
    answer.assert_error(422, "license_limit");
    assert_eq!(answer.body["error"]["details"]["fit"], 2, "{:#}", answer.body);
    assert_eq!(answer.body["error"]["details"]["needed"], 4);
    assert_eq!(app.event_count().await, before, "a refused import writes nothing");

    let answer =
        upload(&app, "staff.csv", csv.into_bytes(), &[("companyId", &company.id), ("partial", "true")]).await;
    let import = completed(&app, &started(&answer)).await;
    assert_eq!((&import["created"], &import["rejected"]), (&json!(2), &json!(2)), "{import:#}");
    let (refused, problems) = outcome(&import, 4);
    assert_eq!(refused, "REJECTED");
    assert_eq!(problems[0].1, "all 3 licences of the company are in use", "{problems:?}");
    let data = app
        .query(
            "query($id: ID!) { company(id: $id) { licenses { used limit } } }",
            json!({ "id": company.id }),
        )
        .await;
    assert_eq!(data["company"]["licenses"], json!({ "used": 3, "limit": 3 }));
}

async fn an_import_killed_mid_way_goes_on_after_a_restart(mut app: App) {
    let company: Company = register_company(&app, "Resilient").await;
    app.ok("SetLicenseLimit", json!({ "companyId": company.id, "limit": null })).await;
    // Plain passwords: each row is hashed (about 20 ms), so the import takes a few seconds.
    const ROWS: u64 = 160;
    let mut csv = String::from("username,email,firstName,lastName,password\n");
    for n in 0..ROWS {
        csv.push_str(&format!("res{n},res{n}@example.com,Res,Number,Resume-Pass-{n:04}\n"));
    }
    let answer = upload(&app, "staff.csv", csv.into_bytes(), &[("companyId", &company.id)]).await;
    let import_id = started(&answer);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let data =
            app.query("query($id: ID!) { import(id: $id) { done } }", json!({ "id": import_id })).await;
        let done = data["import"]["done"].as_u64().unwrap_or(0);
        if done > 0 {
            assert!(done < ROWS, "the import finished before it could be stopped");
            break;
        }
        assert!(Instant::now() < deadline, "no row was recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.restart().await;
    let import = completed(&app, &import_id).await;
    assert_eq!((&import["created"], &import["done"]), (&json!(ROWS), &json!(ROWS)), "{import:#}");
    let rows: Vec<u64> =
        import["results"].as_array().expect("results").iter().filter_map(|r| r["row"].as_u64()).collect();
    assert_eq!(rows, (2..ROWS + 2).collect::<Vec<_>>(), "every row once, in order");
    let created = app.audit(json!({ "companyId": company.id, "eventTypes": ["UserCreated"] })).await;
    assert_eq!(created.len() as u64, ROWS, "no user was created twice");
    let data = app
        .query("query($id: ID!) { company(id: $id) { licenses { used } } }", json!({ "id": company.id }))
        .await;
    assert_eq!(data["company"]["licenses"]["used"], json!(ROWS));
}

async fn the_command_line_uploads_a_file_and_prints_the_refused_rows(app: App) {
    let company = register_company(&app, "Scripted").await;
    let file = app.data_dir().join("people.csv");
    std::fs::write(
        &file,
        "username;email;first name;last name\ncli.one;cli.one@example.com;Cli;One\ncli.bad;nope;Cli;Bad\n",
    )
    .expect("write the file");
    let file = file.display().to_string();
    let before = app.event_count().await;
    let dry = cli(&app, &file, &company.id, &["--dry-run"]).await;
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(dry.status.code(), Some(2), "some rows would be refused: {stdout}");
    assert!(stdout.contains("nothing written") && stdout.contains("row 3: email:"), "{stdout}");
    assert_eq!(app.event_count().await, before, "a dry run writes nothing");

    let real = cli(&app, &file, &company.id, &["--approved"]).await;
    let stdout = String::from_utf8_lossy(&real.stdout);
    assert_eq!(real.status.code(), Some(2), "{stdout}\n{}", String::from_utf8_lossy(&real.stderr));
    assert!(stdout.contains("completed, 2 rows"), "{stdout}");
    assert!(stdout.contains("created: 1") && stdout.contains("refused: 1"), "{stdout}");
    assert!(stdout.contains("row 3: email: must be an email address"), "{stdout}");
    let imports =
        app.query("query($c: ID!) { imports(companyId: $c) { id } }", json!({ "c": company.id })).await;
    let import_id =
        imports["imports"][0]["id"].as_str().expect("the import the command line started").to_owned();
    completed(&app, &import_id).await;
    let users =
        app.query("query($c: ID!) { users(companyId: $c) { totalCount } }", json!({ "c": company.id })).await;
    assert_eq!(users["users"]["totalCount"], 1);

    let refused = cli(&app, &file, "not-a-uuid", &[]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the import was refused"));
}

/// `portal import <file> --company <company> --url <the app> <extra…>`.
async fn cli(app: &App, file: &str, company: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["import", file, "--company", company, "--url", app.base_url.as_str()];
    args.extend_from_slice(extra);
    app.run_portal(&args).await
}

async fn an_admin_imports_only_what_they_may_do_one_by_one(app: App) {
    let company = register_company(&app, "Delegated").await;
    let top =
        create_user_with(&app, &company, "top.admin", json!({ "roleId": company.administrator_role_id }))
            .await;
    let people_role = app
        .ok(
            "CreateRole",
            json!({ "companyId": company.id, "name": "People", "permissions": [{ "module": "USERS", "level": "FULL" }] }),
        )
        .await["id"]
        .as_str()
        .expect("a role id")
        .to_owned();
    let (_, manager) = signed_in(&app, &company, "people.manager", json!({ "roleId": people_role })).await;
    let (_, plain) = signed_in(&app, &company, "plain.member", json!({})).await;
    let csv = "username,email,firstName,lastName\n\
               top.admin,taken.over@example.com,Top,Hijacked\n\
               fresh.hire,fresh.hire@example.com,Fresh,Hire\n";

    // Without a level on USERS, no import at all.
    upload_as(&app, &plain, "staff.csv", csv.as_bytes().to_vec(), &[("companyId", &company.id)])
        .await
        .assert_error(403, "forbidden");
    // With one, the rows they could do one by one: not a change to an admin above them.
    let answer =
        upload_as(&app, &manager, "staff.csv", csv.as_bytes().to_vec(), &[("companyId", &company.id)]).await;
    let import = completed(&app, &started(&answer)).await;
    let (refused, problems) = outcome(&import, 2);
    assert_eq!((refused.as_str(), problems[0].0.as_str()), ("REJECTED", "username"), "{import:#}");
    assert_eq!(outcome(&import, 3).0, "CREATED");
    let top = crate::helpers::user(&app, &top).await;
    assert_eq!(
        (top["email"].as_str(), top["lastName"].as_str()),
        (Some("top.admin@example.com"), Some("User"))
    );
    let created = app
        .audit(json!({ "streamId": format!("import-{}", import["id"].as_str().unwrap_or_default()) }))
        .await;
    assert_eq!(created[0]["actor"]["kind"], "USER", "the import acts as the admin who sent it");
}

/// The importer decides a chunk while the one before it is appended: the later chunk must see
/// what the earlier one takes (here a mobile number, typed differently, so only the claim on
/// the number as stored can tell), and commands sent to the company meanwhile (which take
/// seats on the same streams) must neither be lost nor make a row count twice.
async fn chunks_decided_ahead_see_the_chunks_before_them_and_commands_sent_meanwhile(app: App) {
    let company: Company = register_company(&app, "Pipelined").await;
    app.ok("SetLicenseLimit", json!({ "companyId": company.id, "limit": null })).await;
    const ROWS: u64 = 1_200;
    // Row 602 (the second chunk of 500) repeats row 2's mobile number with spaces.
    let mut csv = String::from("username,email,firstName,lastName,mobile\n");
    for n in 0..ROWS {
        let mobile = if n == 600 { "+44 7911 100000".to_owned() } else { format!("+4479111{n:05}") };
        csv.push_str(&format!("pipe{n},pipe{n}@example.com,Pipe,Number,{mobile}\n"));
    }
    let answer = upload(&app, "staff.csv", csv.into_bytes(), &[("companyId", &company.id)]).await;
    let import_id = started(&answer);
    for n in 0..5 {
        create_user_with(&app, &company, &format!("meanwhile{n}"), json!({})).await;
    }
    let import = completed(&app, &import_id).await;
    assert_eq!(
        (&import["created"], &import["rejected"]),
        (&json!(ROWS - 1), &json!(1)),
        "{:#}",
        import["rejected"]
    );
    let (refused, problems) = outcome(&import, 602);
    assert_eq!(refused, "REJECTED");
    assert_eq!(problems, vec![("mobile".to_owned(), "is already taken".to_owned())]);
    assert_eq!(outcome(&import, 2).0, "CREATED");

    let created = app.audit(json!({ "companyId": company.id, "eventTypes": ["UserCreated"] })).await;
    assert_eq!(created.len() as u64, ROWS - 1 + 5, "every user created once, none lost");
    let data = app
        .query("query($id: ID!) { company(id: $id) { licenses { used } } }", json!({ "id": company.id }))
        .await;
    assert_eq!(data["company"]["licenses"]["used"], json!(ROWS - 1 + 5), "one seat per user");
}
