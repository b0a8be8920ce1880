//! Access control and tenant isolation for commands: a company admin manages their own company
//! and the companies under it; another company's ids answer exactly like ids that do not
//! exist; levels decide the rest; nobody grants more than they have.

use serde_json::{Value, json};

use crate::helpers::{App, Company, create_user, create_user_with, on_both_backends, register_company};
use crate::identity::{PASSWORD, mail, post, sign_in};

on_both_backends!(another_tenants_ids_are_unknown_ids, admins_reach_down_and_levels_decide);

/// An approved, activated user of `company` (with `extra` fields, e.g. a role) and a session.
pub(crate) async fn signed_in(
    app: &App,
    company: &Company,
    username: &str,
    extra: Value,
) -> (String, String) {
    let mut fields = json!({ "approved": true });
    if let (Some(fields), Some(extra)) = (fields.as_object_mut(), extra.as_object()) {
        fields.extend(extra.clone());
    }
    let id = create_user_with(app, company, username, fields).await;
    let token = mail(app, &format!("{username}@example.com"), "invitation", 1).await[0]["token"].clone();
    let activated =
        post(app, "/commands/ActivateAccount", json!({ "token": token, "password": PASSWORD }), None).await;
    assert_eq!(activated.status, 200, "{:#}", activated.body);
    let session =
        sign_in(app, username, PASSWORD).await.body["sessionToken"].as_str().expect("a session").to_owned();
    (id, session)
}

fn child_of(app_reply: &Value) -> Company {
    Company {
        id: app_reply["id"].as_str().expect("a company id").to_owned(),
        administrator_role_id: String::new(),
        user_role_id: String::new(),
    }
}

/// Replaces every occurrence of `id` in a JSON value with `by`.
fn replace_id(value: &Value, id: &str, by: &str) -> Value {
    serde_json::from_str(&value.to_string().replace(id, by)).expect("still JSON")
}

async fn another_tenants_ids_are_unknown_ids(app: App) {
    let a = register_company(&app, "Tenant A").await;
    let b = register_company(&app, "Tenant B").await;
    let (a_user, _) = (create_user(&app, &a, "a.member").await, ());
    let (_, admin) = signed_in(&app, &a, "a.admin", json!({ "roleId": a.administrator_role_id })).await;
    let b_user = create_user_with(&app, &b, "b.member", json!({ "extension": "300" })).await;
    let b_role = app.ok("CreateRole", json!({ "companyId": b.id, "name": "B role" })).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let b_group = app.ok("CreateGroup", json!({ "companyId": b.id, "name": "B group" })).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let b_ticket = app
        .ok("OpenTicket", json!({ "companyId": b.id, "topic": "BILLING", "message": "B's invoice" }))
        .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Every command company A's admin could send with company B's ids: each answers as if the
    // id did not exist, and writes nothing.
    let cases: Vec<(&str, Value, &str)> = vec![
        ("ApproveUser", json!({ "userId": b_user }), &b_user),
        ("DisapproveUser", json!({ "userId": b_user }), &b_user),
        ("SuspendUser", json!({ "userId": b_user }), &b_user),
        ("DeactivateUser", json!({ "userId": b_user }), &b_user),
        ("ReactivateUser", json!({ "userId": b_user }), &b_user),
        ("UpdateUserProfile", json!({ "userId": b_user, "firstName": "Mallory" }), &b_user),
        ("SetUserAccess", json!({ "userId": b_user, "admin": true }), &b_user),
        ("DeleteUser", json!({ "userId": b_user }), &b_user),
        ("ResendInvitation", json!({ "userId": b_user }), &b_user),
        ("ResetPassword", json!({ "userId": b_user }), &b_user),
        ("SetPassword", json!({ "userId": b_user, "password": "Hijacked-123" }), &b_user),
        ("UnlockUser", json!({ "userId": b_user }), &b_user),
        (
            "ChangeMobileNumber",
            json!({ "userId": b_user, "mobile": "+447911123456", "previousNumber": "REMOVED" }),
            &b_user,
        ),
        ("GrantPermission", json!({ "userId": b_user, "module": "SMS", "level": "VIEW" }), &b_user),
        ("RevokePermission", json!({ "userId": b_user, "module": "SMS" }), &b_user),
        ("AssignRole", json!({ "userId": b_user, "roleId": a.user_role_id }), &b_user),
        ("AssignRole", json!({ "userId": a_user, "roleId": b_role }), &b_role),
        ("AssignGroup", json!({ "userId": a_user, "groupId": b_group }), &b_group),
        ("UpdateRole", json!({ "roleId": b_role, "description": "mine now" }), &b_role),
        ("DeleteRole", json!({ "roleId": b_role }), &b_role),
        ("GrantPermission", json!({ "roleId": b_role, "module": "SMS", "level": "VIEW" }), &b_role),
        ("RenameGroup", json!({ "groupId": b_group, "name": "Mine" }), &b_group),
        ("SetGroupRole", json!({ "groupId": b_group, "roleId": null }), &b_group),
        ("DeleteGroup", json!({ "groupId": b_group }), &b_group),
        (
            "CreateUser",
            json!({ "companyId": b.id, "username": "plant", "email": "plant@example.com", "firstName": "P", "lastName": "P" }),
            &b.id,
        ),
        ("CreateRole", json!({ "companyId": b.id, "name": "Backdoor" }), &b.id),
        ("CreateGroup", json!({ "companyId": b.id, "name": "Backdoor" }), &b.id),
        ("UpdateCompany", json!({ "companyId": b.id, "name": "Owned" }), &b.id),
        ("SetCompanyPolicies", json!({ "companyId": b.id, "usernamePolicy": { "minLength": 20 } }), &b.id),
        (
            "RegisterCompany",
            json!({ "name": "Squatter", "mainPhone": "+1 212 555 9999", "parentCompanyId": b.id }),
            &b.id,
        ),
        ("RequestOwnership", json!({ "companyId": b.id, "userId": a_user }), &b.id),
        ("OpenTicket", json!({ "companyId": b.id, "topic": "OTHER", "message": "hello" }), &b.id),
        ("CommentOnTicket", json!({ "ticketId": b_ticket, "message": "I can read this?" }), &b_ticket),
        ("CloseTicket", json!({ "ticketId": b_ticket }), &b_ticket),
    ];
    let events = app.event_count().await;
    for (command, body, foreign) in &cases {
        let answer = post(&app, &format!("/commands/{command}"), body.clone(), Some(&admin)).await;
        let unknown = uuid::Uuid::now_v7().to_string();
        let control =
            post(&app, &format!("/commands/{command}"), replace_id(body, foreign, &unknown), Some(&admin))
                .await;
        assert_eq!((answer.status, answer.code()), (404, "not_found"), "{command} {body}: {:#}", answer.body);
        assert_eq!(
            replace_id(&answer.body, foreign, &unknown),
            control.body,
            "{command}: another tenant's id must answer exactly like an unknown one"
        );
    }
    assert_eq!(app.event_count().await, events, "nothing was written");

    // Files: a user attaches and fetches their own uploads only; anyone else's reads as unknown.
    let someone_elses =
        crate::tickets::upload(&app, crate::tickets::png(), "image/png", "b-invoice.png").await;
    let open = |attachment: &str| json!({ "companyId": a.id, "topic": "BILLING", "message": "see the file", "attachments": [attachment] });
    let foreign = post(&app, "/commands/OpenTicket", open(&someone_elses), Some(&admin)).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let control = post(&app, "/commands/OpenTicket", open(&unknown), Some(&admin)).await;
    assert_eq!((foreign.status, foreign.code()), (404, "not_found"), "{:#}", foreign.body);
    assert_eq!(replace_id(&foreign.body, &someone_elses, &unknown), control.body);
    let (status, _) = (download_status(&app, &someone_elses, &admin).await, ());
    assert_eq!(status, 404);
    let own = crate::tickets::upload_raw(
        &app,
        crate::tickets::png(),
        Some("image/png"),
        Some("mine.png"),
        Some(&admin),
    )
    .await;
    assert_eq!(own.status, 201, "{:#}", own.body);
    let own_id = own.body["id"].as_str().expect("an id").to_owned();
    let opened = post(&app, "/commands/OpenTicket", open(&own_id), Some(&admin)).await;
    assert_eq!(opened.status, 200, "{:#}", opened.body);
    assert_eq!(download_status(&app, &own_id, &admin).await, 200);
    graphql_shows_nothing_of_another_tenant(&app, &admin, &a, &b, [&b_user, &b_role, &b_group, &b_ticket])
        .await;
    // And B is as it was.
    let data =
        app.query("query($id: ID!) { user(id: $id) { firstName status } }", json!({ "id": b_user })).await;
    assert_eq!(data["user"], json!({ "firstName": "Test", "status": "PENDING_APPROVAL" }));
}

async fn admins_reach_down_and_levels_decide(app: App) {
    let reseller = register_company(&app, "Reseller").await;
    let customer = child_of(
        &app.ok(
            "RegisterCompany",
            json!({ "name": "Customer", "mainPhone": "+1 212 555 8888", "parentCompanyId": reseller.id }),
        )
        .await,
    );
    let customer_roles = app
        .query("query($id: ID!) { roles(companyId: $id) { id name } }", json!({ "id": customer.id }))
        .await;
    let customer_admin_role = customer_roles["roles"]
        .as_array()
        .and_then(|roles| roles.iter().find(|r| r["name"] == "Administrator"))
        .map(|r| r["id"].clone())
        .expect("the customer's Administrator role");
    let (_, reseller_admin) =
        signed_in(&app, &reseller, "reseller.admin", json!({ "roleId": reseller.administrator_role_id }))
            .await;
    let (customer_admin_id, customer_admin) =
        signed_in(&app, &customer, "customer.admin", json!({ "roleId": customer_admin_role })).await;
    let reseller_user = create_user(&app, &reseller, "reseller.user").await;
    let customer_user = create_user(&app, &customer, "customer.user").await;

    // The reseller's admin manages the customer's users; the customer's admin not the reseller's.
    let answer =
        post(&app, "/commands/ApproveUser", json!({ "userId": customer_user }), Some(&reseller_admin)).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let audit = app.audit(json!({ "userId": customer_user, "eventTypes": ["UserApproved"] })).await;
    assert_eq!(audit[0]["actor"]["kind"], "USER", "the actor is the signed-in admin");
    post(&app, "/commands/ApproveUser", json!({ "userId": reseller_user }), Some(&customer_admin))
        .await
        .assert_error(404, "not_found");
    let created = post(
        &app,
        "/commands/CreateUser",
        json!({ "companyId": customer.id, "username": "hired", "email": "hired@example.com", "firstName": "H", "lastName": "H" }),
        Some(&customer_admin),
    )
    .await;
    assert_eq!(created.status, 200, "{:#}", created.body);

    // A plain user has no level on USERS: refused (403), inside their own company.
    let (_, plain) = signed_in(&app, &customer, "plain.user", json!({})).await;
    post(&app, "/commands/ApproveUser", json!({ "userId": customer_user }), Some(&plain))
        .await
        .assert_error(403, "forbidden");
    post(&app, "/commands/CreateGroup", json!({ "companyId": customer.id, "name": "Mine" }), Some(&plain))
        .await
        .assert_error(403, "forbidden");
    // Anyone of the company may contact support.
    let ticket = post(
        &app,
        "/commands/OpenTicket",
        json!({ "companyId": customer.id, "topic": "OTHER", "message": "help" }),
        Some(&plain),
    )
    .await;
    assert_eq!(ticket.status, 200, "{:#}", ticket.body);
    // Licences and apps are the provider's business.
    post(
        &app,
        "/commands/SetLicenseLimit",
        json!({ "companyId": customer.id, "limit": 500 }),
        Some(&customer_admin),
    )
    .await
    .assert_error(403, "forbidden");

    // EDIT on USERS changes users but does not create them; nobody grants more than they have.
    let manager_role = app
        .ok(
            "CreateRole",
            json!({ "companyId": customer.id, "name": "Manager",
                    "permissions": [{ "module": "USERS", "level": "EDIT" }, { "module": "BILLING", "level": "VIEW" }] }),
        )
        .await["id"]
        .clone();
    let (_, manager) = signed_in(&app, &customer, "manager", json!({ "roleId": manager_role })).await;
    let approved =
        post(&app, "/commands/SuspendUser", json!({ "userId": customer_user }), Some(&manager)).await;
    assert_eq!(approved.status, 200, "{:#}", approved.body);
    post(&app, "/commands/DeleteUser", json!({ "userId": customer_user }), Some(&manager))
        .await
        .assert_error(403, "forbidden");
    let events = app.event_count().await;
    let escalation = post(
        &app,
        "/commands/GrantPermission",
        json!({ "userId": customer_user, "module": "BILLING", "level": "FULL" }),
        Some(&manager),
    )
    .await;
    escalation.assert_error(403, "forbidden");
    let within = post(
        &app,
        "/commands/GrantPermission",
        json!({ "userId": customer_user, "module": "BILLING", "level": "VIEW" }),
        Some(&manager),
    )
    .await;
    assert_eq!(within.status, 200, "{:#}", within.body);
    assert_eq!(app.event_count().await, events + 1);

    // EDIT on USERS is no way to become an administrator, nor to take over one.
    let (manager_id, _) = (
        app.query("{ users(filter: { search: \"manager\" }) { edges { node { id } } } }", json!(null)).await
            ["users"]["edges"][0]["node"]["id"]
            .clone(),
        (),
    );
    let events = app.event_count().await;
    let attempts = [
        ("AssignRole", json!({ "userId": manager_id, "roleId": customer_admin_role })),
        ("SetUserAccess", json!({ "userId": manager_id, "admin": true })),
        ("SetPassword", json!({ "userId": customer_admin_id, "password": "Taken-Over-123" })),
        ("UpdateUserProfile", json!({ "userId": customer_admin_id, "email": "mine@example.com" })),
        ("SuspendUser", json!({ "userId": customer_admin_id })),
    ];
    for (command, body) in attempts {
        post(&app, &format!("/commands/{command}"), body.clone(), Some(&manager))
            .await
            .assert_error(403, "forbidden");
    }
    let group = app
        .ok(
            "CreateGroup",
            json!({ "companyId": customer.id, "name": "Admins", "roleId": customer_admin_role }),
        )
        .await["id"]
        .clone();
    post(&app, "/commands/AssignGroup", json!({ "userId": manager_id, "groupId": group }), Some(&manager))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(
        app.event_count().await,
        events + 2,
        "only the operator's group (and its role's holder) was written"
    );

    // The audit trail never shows a password hash.
    let trail = post(
        &app,
        "/graphql",
        json!({ "query": "{ auditTrail(first: 500) { edges { node { type data } } } }" }),
        Some(&customer_admin),
    )
    .await;
    let text = trail.body.to_string();
    assert!(text.contains("PasswordSet") && !text.contains("$argon2id$"), "hashes are redacted");
}

/// Company B's rows are not there for company A's admin, and B's ids read like unknown ids.
async fn graphql_shows_nothing_of_another_tenant(
    app: &App,
    admin: &str,
    a: &Company,
    b: &Company,
    ids: [&String; 4],
) {
    let [b_user, b_role, b_group, b_ticket] = ids;
    let graphql = |query: &'static str, variables: Value| async move {
        let answer =
            post(app, "/graphql", json!({ "query": query, "variables": variables }), Some(admin)).await;
        assert_eq!(answer.status, 200, "{:#}", answer.body);
        answer.body
    };
    let by_id = "query($user: ID!, $role: ID!, $group: ID!, $company: ID!, $ticket: ID!) {
        user(id: $user) { id } role(id: $role) { id } group(id: $group) { id } company(id: $company) { id }
        ticket(id: $ticket) { id } roles(companyId: $company) { id } groups(companyId: $company) { id }
        userAsOf(id: $user, at: \"2100-01-01T00:00:00Z\") { id }
        roleAsOf(id: $role, at: \"2100-01-01T00:00:00Z\") { id }
        companyAsOf(id: $company, at: \"2100-01-01T00:00:00Z\") { id }
        users(companyId: $company) { totalCount } tickets(companyId: $company) { totalCount }
        auditTrail(filter: { companyId: $company }) { edges { cursor } }
        below: auditTrail(filter: { companyId: $company, includeDescendants: true }) { edges { cursor } } }";
    let foreign = graphql(
        by_id,
        json!({ "user": b_user, "role": b_role, "group": b_group, "company": b.id, "ticket": b_ticket }),
    )
    .await;
    let unknown = || uuid::Uuid::now_v7().to_string();
    let nowhere = graphql(
        by_id,
        json!({ "user": unknown(), "role": unknown(), "group": unknown(), "company": unknown(), "ticket": unknown() }),
    )
    .await;
    assert_eq!(foreign, nowhere, "another tenant's ids read exactly like unknown ids");
    assert_eq!(foreign["data"]["user"], json!(null));
    assert_eq!(foreign["data"]["users"]["totalCount"], 0);

    // Lists without a company show A's rows only.
    let lists = graphql(
        "{ users(filter: { includeDeleted: true }) { edges { node { company { id } } } }
           companies { edges { node { id } } } tickets { edges { node { company { id } } } }
           auditTrail(first: 500) { edges { node { companyId } } } }",
        json!(null),
    )
    .await;
    let companies: Vec<_> = lists["data"]["users"]["edges"]
        .as_array()
        .expect("users")
        .iter()
        .map(|e| e["node"]["company"]["id"].clone())
        .collect();
    assert!(!companies.is_empty() && companies.iter().all(|c| *c == json!(a.id)), "{companies:?}");
    assert_eq!(lists["data"]["companies"]["edges"], json!([{ "node": { "id": a.id } }]));
    let tickets = lists["data"]["tickets"]["edges"].as_array().expect("tickets");
    assert!(
        tickets.iter().all(|t| t["node"]["company"]["id"] == json!(a.id)),
        "A's own tickets only: {tickets:?}"
    );
    let trail = lists["data"]["auditTrail"]["edges"].as_array().expect("audit");
    assert!(!trail.is_empty() && trail.iter().all(|e| e["node"]["companyId"] == json!(a.id)));
    let outbox = graphql("{ notifications { to } }", json!(null)).await;
    assert_eq!(outbox["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let seals = graphql("{ auditIntegrity { unsealedEvents } }", json!(null)).await;
    assert_eq!(
        seals["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "the whole log's volume is the operator's"
    );
    assert!(!outbox.to_string().contains("@example.com"));
}

/// The status of `GET /attachments/{id}` with a session.
async fn download_status(app: &App, id: &str, session: &str) -> u16 {
    let response = app
        .client()
        .get(app.url(&format!("/attachments/{id}")))
        .bearer_auth(session)
        .send()
        .await
        .expect("download");
    response.status().as_u16()
}
