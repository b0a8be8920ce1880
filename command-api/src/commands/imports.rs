//! The decisions of a bulk import, made for the importer (`crate::imports`), never posted:
//! the internal command `StartImport` creates the import; a [`Recorder`] then decides chunk
//! after chunk of rows, each chunk's results in the same append as the users, seats, role
//! holders and group members its rows create, so a row is done exactly when its result is
//! stored. The recorder decides a chunk on the state the chunk before it will leave, so the
//! importer can decide one chunk while the one before it is being appended.
//!
//! A row is refused, not the chunk, when the domain refuses it: its result then carries the
//! same messages a single `CreateUser` would have answered with. Only a failure of the store
//! fails the whole chunk (and the importer tries it again).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use domain::import::{self, Outcome, Problem, RowResult};
use domain::user::{Field, ServiceLevel};
use domain::{ClaimChange, Context, company, group, role, user};
use serde::Deserialize;
use uuid::Uuid;

use super::{FirstPassword, NewUser, On, existing, target};
use crate::cache::{Aggregates, Loaded};
use crate::dto::{self, parse};
use crate::error::ApiError;
use crate::imports::file::{Column, Row};
use crate::imports::{Credential, PreparedRow};
use crate::plan::{Decision, Plan, no_claims};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StartImport {
    import_id: Uuid,
    company_id: Uuid,
    settings: import::Settings,
}

pub(super) async fn decide(on: &On<'_>, body: serde_json::Value) -> Result<Decision, ApiError> {
    let a = on.aggregates;
    let StartImport { import_id, company_id, settings } = parse(body)?;
    let company = existing(a, &a.companies, company_id, "companyId").await?.state;
    let command = import::Command::Start { company_id, company, settings };
    let events = import::decide(&import::State::default(), command, on.context)?;
    let mut plan = Plan::default();
    plan.write(a, |a| &a.imports, import_id, Loaded::default(), events, no_claims);
    Ok(plan.decision((import_id, a.imports.stream_id(import_id), 0, 0), Some(company_id)))
}

/// Decides the chunks of one import in turn. Each decision starts from the state the decisions
/// before it leave (the import's results, the company's seats, the role's holders, the group's
/// members, the claims the rows took), and expects the versions they reach: if one of them is
/// not appended, the ones after it are refused by the log's version checks, and the importer
/// starts a new recorder from the store.
pub(crate) struct Recorder<'a> {
    import_id: Uuid,
    import: Loaded<import::State>,
    chunk: Chunk<'a>,
}

impl<'a> Recorder<'a> {
    /// A recorder from the import as the store has it now.
    pub(crate) async fn start(
        a: &'a Aggregates,
        actor: &domain::Actor,
        import_id: Uuid,
    ) -> Result<Recorder<'a>, ApiError> {
        let import = a.imports.refresh(a.log.as_ref(), import_id).await?;
        let (Some(company_id), Some(settings)) = (import.state.company_id, import.state.settings.clone())
        else {
            return Err(ApiError::NotFound {
                what: "import".to_owned(),
                field: "importId".to_owned(),
                id: import_id.to_string(),
            });
        };
        let context = Context { actor: actor.clone(), now: chrono::Utc::now() };
        let chunk = Chunk::load(a, context, company_id, &settings, false).await?;
        Ok(Recorder { import_id, import, chunk })
    }

    /// The import as it will be once every decision made so far is appended.
    pub(crate) fn state(&self) -> &import::State {
        &self.import.state
    }

    pub(crate) fn company_id(&self) -> Uuid {
        self.chunk.company_id
    }

    /// The decision for the next chunk, `rows` (none of them recorded yet: the domain refuses a
    /// row recorded twice), and when it was made.
    pub(crate) async fn decide(
        &mut self,
        rows: Vec<PreparedRow>,
    ) -> Result<(Decision, chrono::DateTime<chrono::Utc>), ApiError> {
        let a = self.chunk.a;
        let now = chrono::Utc::now();
        self.chunk.context.now = now;
        let results = self.chunk.decide(rows).await?;
        let events =
            import::decide(&self.import.state, import::Command::Record { results }, &self.chunk.context)?;
        let target = target(&a.imports, self.import_id, &self.import);
        let after = events.iter().fold(self.import.state.clone(), import::evolve);
        let loaded = advance(&mut self.import, after, events.len());
        // The import's stream first: it is the target, whose version the reply names.
        let mut plan = Plan::default();
        plan.write(a, |a| &a.imports, self.import_id, loaded, events, no_claims);
        let company_id = self.chunk.company_id;
        Ok((self.chunk.take_plan(plan).decision(target, Some(company_id)), now))
    }
}

/// Decides every row of `rows` against the state the store has now, and writes nothing: what
/// an import would do (a dry run, and the licence check before a real one). With
/// `ignore_licences`, as if the company had no licence limit: the users the rows would create.
pub(crate) async fn preview(
    a: &Aggregates,
    context: &Context,
    company_id: Uuid,
    settings: &import::Settings,
    rows: Vec<PreparedRow>,
    ignore_licences: bool,
) -> Result<Vec<RowResult>, ApiError> {
    Chunk::load(a, context.clone(), company_id, settings, ignore_licences).await?.decide(rows).await
}

/// Moves an aggregate on past `events` of its own, to the state they leave; what it was before.
fn advance<S>(loaded: &mut Loaded<S>, state: S, events: usize) -> Loaded<S> {
    let next = Loaded { state, version: loaded.version + events as i64, position: loaded.position };
    std::mem::replace(loaded, next)
}

/// The rows of one command decided one after the other: each sees the seats, holders and
/// members the rows before it took, and the claims they acquired.
struct Chunk<'a> {
    a: &'a Aggregates,
    context: Context,
    company_id: Uuid,
    service_level: ServiceLevel,
    approved: bool,
    company: Loaded<company::State>,
    company_now: company::State,
    company_events: Vec<company::Event>,
    role: Option<(Uuid, Loaded<role::State>, role::State, Vec<role::Event>)>,
    group: Option<(Uuid, Loaded<group::State>, group::State, Vec<group::Event>)>,
    users: Vec<(Uuid, Loaded<user::State>, Vec<user::Event>)>,
    /// Users this command changes, by the row that changes them.
    touched: BTreeMap<Uuid, u32>,
    /// Claim keys rows of this command take.
    claimed: HashSet<String>,
    /// The messages of the rows taken (invitations, credentials).
    notifications: Vec<eventlog::Notification>,
    /// As if the company had no licence limit (to count the users the rows would create).
    ignore_licences: bool,
    /// Who holds each claim key looked up so far (`None`: nobody), kept across passes.
    owners: HashMap<String, Option<Uuid>>,
    /// Keys rows of this pass take that were not looked up yet, with the user taking each.
    unchecked: Vec<(String, Uuid)>,
    /// Who holds each key the rows of this pass take (or free: `None`) once they are appended.
    changes: HashMap<String, Option<Uuid>>,
}

impl<'a> Chunk<'a> {
    async fn load(
        a: &'a Aggregates,
        context: Context,
        company_id: Uuid,
        settings: &import::Settings,
        ignore_licences: bool,
    ) -> Result<Chunk<'a>, ApiError> {
        let company = existing(a, &a.companies, company_id, "companyId").await?;
        let role = match settings.role_id.or(company.state.user_role_id) {
            Some(role_id) => {
                let loaded = existing(a, &a.roles, role_id, "roleId").await?;
                Some((role_id, loaded.clone(), loaded.state, Vec::new()))
            }
            None => None,
        };
        let group = match settings.group_id.or(company.state.main_group_id) {
            Some(group_id) => {
                let loaded = existing(a, &a.groups, group_id, "groupId").await?;
                Some((group_id, loaded.clone(), loaded.state, Vec::new()))
            }
            None => None,
        };
        Ok(Chunk {
            a,
            context,
            company_id,
            service_level: settings.service_level,
            approved: settings.approved,
            company_now: company.state.clone(),
            company,
            company_events: Vec::new(),
            role,
            group,
            users: Vec::new(),
            touched: BTreeMap::new(),
            claimed: HashSet::new(),
            notifications: Vec::new(),
            ignore_licences,
            owners: HashMap::new(),
            unchecked: Vec::new(),
            changes: HashMap::new(),
        })
    }

    /// Every row's result, each row decided after the ones before it.
    ///
    /// The owners of the rows' usernames and emails are looked up in one query first. Other
    /// keys a row takes (its extension, its mobile number as the domain writes it) are assumed
    /// free during a pass and looked up together after it; if one was taken, the rows are
    /// decided again knowing it (the row that wanted it is then refused).
    async fn decide(&mut self, rows: Vec<PreparedRow>) -> Result<Vec<RowResult>, ApiError> {
        let keys: Vec<String> = rows
            .iter()
            .flat_map(|prepared| {
                let row = &prepared.row;
                [
                    row.get(Column::Username).map(user::username_claim),
                    row.get(Column::Email).map(user::email_claim),
                ]
            })
            .flatten()
            .collect();
        self.look_up(keys).await?;
        let mut results = Vec::with_capacity(rows.len());
        for _pass in 0..3 {
            self.reset();
            results.clear();
            for row in &rows {
                results.push(self.row(row.clone()).await?);
            }
            if self.settled().await? {
                break;
            }
        }
        // Still unsettled after three passes (others keep taking keys): the append refuses the
        // chunk with the taken key, and the importer decides it again.
        Ok(results)
    }

    /// Starts a pass over the rows from the state as loaded.
    fn reset(&mut self) {
        self.company_now = self.company.state.clone();
        if self.ignore_licences {
            self.company_now.license_limit = None;
        }
        self.company_events.clear();
        if let Some((_, loaded, now, events)) = &mut self.role {
            *now = loaded.state.clone();
            events.clear();
        }
        if let Some((_, loaded, now, events)) = &mut self.group {
            *now = loaded.state.clone();
            events.clear();
        }
        self.users.clear();
        self.touched.clear();
        self.claimed.clear();
        self.notifications.clear();
        self.unchecked.clear();
        self.changes.clear();
    }

    /// Looks up who holds `keys`, in one query.
    async fn look_up(&mut self, keys: Vec<String>) -> Result<(), ApiError> {
        if keys.is_empty() {
            return Ok(());
        }
        let owners = self.a.log.claim_owners(&keys).await?;
        for key in keys {
            let owner = owners.get(&key).and_then(|stream| domain::parse_stream_id(stream)).map(|(_, id)| id);
            self.owners.insert(key, owner);
        }
        Ok(())
    }

    /// Looks up the keys this pass assumed free; `false` when one was not.
    async fn settled(&mut self) -> Result<bool, ApiError> {
        let unchecked = std::mem::take(&mut self.unchecked);
        self.look_up(unchecked.iter().map(|(key, _)| key.clone()).collect()).await?;
        Ok(unchecked.iter().all(|(key, user_id)| {
            self.owners.get(key).copied().flatten().is_none_or(|owner| owner == *user_id)
        }))
    }

    /// The row's result. Only a failure of the store is an error.
    async fn row(&mut self, prepared: PreparedRow) -> Result<RowResult, ApiError> {
        let number = prepared.row.number;
        if !prepared.row.problems.is_empty() {
            return Ok(rejected(number, prepared.row.problems));
        }
        match self.apply(prepared).await {
            Ok((outcome, user_id)) => {
                Ok(RowResult { row: number, outcome, user_id: Some(user_id), problems: Vec::new() })
            }
            Err(error @ (ApiError::Unavailable | ApiError::Internal)) => Err(error),
            Err(error) => Ok(rejected(number, problems_of(error))),
        }
    }

    async fn apply(&mut self, prepared: PreparedRow) -> Result<(Outcome, Uuid), ApiError> {
        let PreparedRow { row, password } = prepared;
        let log = self.a.log.as_ref();
        let username = row.get(Column::Username).unwrap_or_default();
        let email = row.get(Column::Email).unwrap_or_default();
        let by_username = self.owner(&user::username_claim(username)).await?;
        let by_email = self.owner(&user::email_claim(email)).await?;
        let existing = match (by_username, by_email) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ApiError::invalid_field("email", "is already taken by another user"));
            }
            (Some(user_id), Some(other)) if user_id != other => {
                return Err(ApiError::invalid_field("email", "belongs to another user than the username"));
            }
            (Some(user_id), _) => Some(user_id),
        };
        let Some(user_id) = existing else {
            return self.create(row, password).await.map(|user_id| (Outcome::Created, user_id));
        };
        if let Some(earlier) = self.touched.get(&user_id) {
            return Err(ApiError::invalid_field("username", format!("names the same user as row {earlier}")));
        }
        let loaded = self.a.users.refresh(log, user_id).await?;
        let (outcome, command) = if loaded.state.company_id == Some(self.company_id) {
            (Outcome::Updated, user::Command::UpdateProfile(profile_changes(&row)?))
        } else {
            let command = user::Command::RequestOwnership {
                request_id: Uuid::now_v7(),
                company_id: self.company_id,
                company: self.company_now.clone(),
            };
            (Outcome::OwnershipRequested, command)
        };
        let events = user::decide(&loaded.state, command, &self.context)?;
        self.claims(user_id, &loaded.state, &events)?;
        self.touched.insert(user_id, row.number);
        self.users.push((user_id, loaded, events));
        Ok((outcome, user_id))
    }

    async fn create(&mut self, row: Row, password: Option<Credential>) -> Result<Uuid, ApiError> {
        let user_id = Uuid::now_v7();
        let text = |column: Column| row.get(column).map(str::to_owned);
        let body = dto::CreateUser {
            company_id: self.company_id,
            username: text(Column::Username).unwrap_or_default(),
            email: text(Column::Email).unwrap_or_default(),
            first_name: text(Column::FirstName).unwrap_or_default(),
            last_name: text(Column::LastName).unwrap_or_default(),
            phone: text(Column::Phone),
            mobile: text(Column::Mobile),
            office_phone: text(Column::OfficePhone),
            fax: text(Column::Fax),
            outbound_caller_id: text(Column::OutboundCallerId),
            extension: text(Column::Extension),
            title: text(Column::Title),
            customer_code: text(Column::CustomerCode),
            udid: text(Column::Udid),
            service_level: Some(service_level(&row)?.unwrap_or(self.service_level)),
            role_id: None,
            group_id: None,
            approved: self.approved,
            admin: false,
            portal_access: None,
            password: None,
        };
        let password = match password {
            None => FirstPassword::Invitation,
            Some(Credential::SetByAdmin { password_hash }) => FirstPassword::SetByAdmin { password_hash },
            Some(Credential::Imported { password_hash }) => FirstPassword::Imported { password_hash },
        };
        // The row's message goes out only if the row is taken.
        let mut messages = Plan::default();
        let new = NewUser::decide(
            self.a,
            user_id,
            body,
            &self.company_now,
            self.role.as_ref().map(|(id, _, now, _)| (*id, now)),
            self.group.as_ref().map(|(id, _, now, _)| (*id, now)),
            password,
            &self.context,
            &mut messages,
        )
        .await?;
        self.claims(user_id, &user::State::default(), &new.user)?;
        self.notifications.extend(messages.into_notifications());
        self.company_now = new.company.iter().fold(std::mem::take(&mut self.company_now), company::evolve);
        self.company_events.extend(new.company);
        if let Some((_, _, now, events)) = &mut self.role {
            *now = new.role.iter().fold(std::mem::take(now), role::evolve);
            events.extend(new.role);
        }
        if let Some((_, _, now, events)) = &mut self.group {
            *now = new.group.iter().fold(std::mem::take(now), group::evolve);
            events.extend(new.group);
        }
        self.touched.insert(user_id, row.number);
        self.users.push((user_id, Loaded::default(), new.user));
        Ok(user_id)
    }

    /// The user stream that holds a claim, as a user id.
    async fn owner(&mut self, claim: &str) -> Result<Option<Uuid>, ApiError> {
        if let Some(owner) = self.owners.get(claim) {
            return Ok(*owner);
        }
        let owner = self.a.log.claim_owner(claim).await?;
        let owner = owner.as_deref().and_then(domain::parse_stream_id).map(|(_, id)| id);
        self.owners.insert(claim.to_owned(), owner);
        Ok(owner)
    }

    /// Refuses the row when its events would take a claim another stream is known to hold, or
    /// one an earlier row of this pass takes; otherwise notes the claims it takes (and which of
    /// them are still to be looked up).
    fn claims(
        &mut self,
        user_id: Uuid,
        before: &user::State,
        events: &[user::Event],
    ) -> Result<(), ApiError> {
        let mut state = before.clone();
        let mut keys = Vec::new();
        let mut freed = Vec::new();
        for event in events {
            for change in event.claims(&state) {
                match change {
                    ClaimChange::Acquire(key) => keys.push(key),
                    ClaimChange::Release(key) => freed.push(key),
                }
            }
            state = user::evolve(state, event);
        }
        for key in &keys {
            let taken = match self.owners.get(key) {
                Some(owner) => owner.is_some_and(|owner| owner != user_id),
                None => false,
            };
            if self.claimed.contains(key) || taken {
                return Err(eventlog::AppendError::ClaimTaken { key: key.clone() }.into());
            }
        }
        for key in &keys {
            if !self.owners.contains_key(key) {
                self.unchecked.push((key.clone(), user_id));
            }
        }
        self.changes.extend(freed.into_iter().map(|key| (key, None)));
        self.changes.extend(keys.iter().map(|key| (key.clone(), Some(user_id))));
        self.claimed.extend(keys);
        Ok(())
    }

    /// Adds to `plan` every stream the rows decided so far change (after the import's own
    /// write), and goes on from the state they leave: the next rows are decided as if this
    /// plan were appended.
    fn take_plan(&mut self, mut plan: Plan) -> Plan {
        let a = self.a;
        for (user_id, loaded, events) in std::mem::take(&mut self.users) {
            plan.write(a, |a| &a.users, user_id, loaded, events, user::Event::claims);
        }
        let events = std::mem::take(&mut self.company_events);
        let before = advance(&mut self.company, self.company_now.clone(), events.len());
        plan.write(a, |a| &a.companies, self.company_id, before, events, company::Event::claims);
        if let Some((role_id, loaded, now, events)) = &mut self.role {
            let events = std::mem::take(events);
            let before = advance(loaded, now.clone(), events.len());
            plan.write(a, |a| &a.roles, *role_id, before, events, role::Event::claims);
        }
        if let Some((group_id, loaded, now, events)) = &mut self.group {
            let events = std::mem::take(events);
            let before = advance(loaded, now.clone(), events.len());
            plan.write(a, |a| &a.groups, *group_id, before, events, group::Event::claims);
        }
        for notification in std::mem::take(&mut self.notifications) {
            plan.notify(notification);
        }
        self.owners.extend(self.changes.drain());
        plan
    }
}

fn rejected(row: u32, problems: Vec<Problem>) -> RowResult {
    RowResult { row, outcome: Outcome::Rejected, user_id: None, problems }
}

/// A refusal as row problems, without the values (the import's events hold no personal data).
fn problems_of(error: ApiError) -> Vec<Problem> {
    let problem = |field: &str, message: String| Problem { field: field.to_owned(), message };
    match error {
        ApiError::InvalidFields { fields, .. } => {
            fields.into_iter().map(|(field, message)| problem(&field, message)).collect()
        }
        ApiError::AlreadyTaken { field, .. } => vec![problem(field, "is already taken".to_owned())],
        ApiError::NotFound { what, field, .. } => vec![problem(&field, format!("no such {what}"))],
        ApiError::Refused { message, .. } => vec![problem("row", message)],
        other => vec![problem("row", other.to_string())],
    }
}

/// The row's service level, if it names one.
fn service_level(row: &Row) -> Result<Option<ServiceLevel>, ApiError> {
    let Some(text) = row.get(Column::ServiceLevel) else { return Ok(None) };
    let text = text.to_ascii_lowercase();
    if text.starts_with("pro") {
        Ok(Some(ServiceLevel::Pro))
    } else if text.starts_with("archive") {
        Ok(Some(ServiceLevel::Archive))
    } else {
        Err(ApiError::invalid_field("serviceLevel", "must be ARCHIVE or PRO"))
    }
}

/// What a row changes on an existing user of the company: the fields it has values for.
fn profile_changes(row: &Row) -> Result<user::ProfileChanges, ApiError> {
    let columns = [
        (Column::Email, Field::Email),
        (Column::FirstName, Field::FirstName),
        (Column::LastName, Field::LastName),
        (Column::Phone, Field::Phone),
        (Column::Mobile, Field::Mobile),
        (Column::OfficePhone, Field::OfficePhone),
        (Column::Fax, Field::Fax),
        (Column::OutboundCallerId, Field::OutboundCallerId),
        (Column::Extension, Field::Extension),
        (Column::Title, Field::Title),
        (Column::CustomerCode, Field::CustomerCode),
        (Column::Udid, Field::Udid),
    ];
    let fields = columns
        .into_iter()
        .filter_map(|(column, field)| Some((field, Some(row.get(column)?.to_owned()))))
        .collect();
    Ok(user::ProfileChanges { fields, service_level: service_level(row)? })
}

/// The rows of `rows` whose username, email or extension another row repeats: each gets a
/// problem naming the other rows (not the value).
pub(crate) fn mark_repeats(rows: &mut [Row]) {
    for (column, field) in
        [(Column::Username, "username"), (Column::Email, "email"), (Column::Extension, "extension")]
    {
        let mut by_value: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
        for row in rows.iter() {
            if let Some(value) = row.get(column) {
                by_value.entry(value.trim().to_lowercase()).or_default().insert(row.number);
            }
        }
        for row in rows.iter_mut() {
            let Some(value) = row.get(column) else { continue };
            let Some(numbers) =
                by_value.get(&value.trim().to_lowercase()).filter(|numbers| numbers.len() > 1)
            else {
                continue;
            };
            let others: Vec<String> =
                numbers.iter().filter(|n| **n != row.number).map(|n| format!("row {n}")).collect();
            row.problem(field, format!("the same {field} is on {}", others.join(", ")));
        }
    }
}
