//! The commands the API accepts: their JSON bodies, and how each becomes a decision of the
//! domain and the writes that record it.

use chrono::{DateTime, Utc};
use domain::{ClaimChange, Context, EventPayload, Level, Module, PermissionSet, company, role, user};
use eventlog::{Appended, ClaimRequest, ExpectedVersion, NewEvent, StreamWrite};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::cache::{Aggregates, Cache, Loaded};
use crate::error::ApiError;

/// Every command type, as named in `POST /commands/{CommandType}`.
pub const COMMAND_TYPES: [&str; 14] = [
    "RegisterCompany",
    "CreateUser",
    "ApproveUser",
    "DisapproveUser",
    "SuspendUser",
    "ReactivateUser",
    "UpdateUserProfile",
    "DeleteUser",
    "CreateRole",
    "UpdateRole",
    "DeleteRole",
    "AssignRole",
    "GrantPermission",
    "RevokePermission",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterCompany {
    pub name: String,
    pub main_phone: String,
    pub parent_company_id: Option<Uuid>,
    pub license_limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    pub company_id: Uuid,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub extension: Option<String>,
    pub role_id: Option<Uuid>,
    #[serde(default)]
    pub approved: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserTarget {
    pub user_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuspendUser {
    pub user_id: Uuid,
    pub until: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserProfile {
    pub user_id: Uuid,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Absent keeps the phone; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub extension: Option<Option<String>>,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permission {
    pub module: Module,
    pub level: Level,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRole {
    pub company_id: Uuid,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRole {
    pub role_id: Uuid,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleTarget {
    pub role_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignRole {
    pub user_id: Uuid,
    pub role_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantPermission {
    pub role_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub module: Module,
    pub level: Level,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokePermission {
    pub role_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub module: Module,
}

/// Decodes a command body, naming the field that is wrong.
pub fn parse<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        // serde names a missing or unknown field in its message, not in the path.
        let field = between_backticks(&inner).filter(|_| path == ".").unwrap_or(path);
        let problem = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        ApiError::invalid_field(&field, problem)
    })
}

fn between_backticks(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
}

/// Brings the caches up to date with an accepted append.
pub type Remember = Box<dyn FnOnce(&Aggregates, &Appended) + Send>;

/// What a command decided: the writes to append and how to answer.
pub struct Decision {
    pub target_id: Uuid,
    pub target_stream: String,
    /// The target's version and last position before this command (the answer to a no-op).
    pub version: i64,
    pub position: i64,
    pub writes: Vec<StreamWrite>,
    pub claims: Vec<ClaimRequest>,
    pub company_id: Option<Uuid>,
    /// Brings the caches up to date once the append is accepted.
    pub remember: Remember,
}

/// The answer to an accepted command.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    pub id: Uuid,
    pub stream_id: String,
    pub version: i64,
    pub position: i64,
    pub events: Vec<ReplyEvent>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
}

impl Reply {
    /// The reply for an accepted append whose first write is the command's target.
    pub fn from_appended(appended: &Appended) -> Option<Reply> {
        let target = appended.streams.first()?;
        let (_, id) = domain::parse_stream_id(&target.stream_id)?;
        Some(Reply {
            id,
            stream_id: target.stream_id.clone(),
            version: target.version,
            position: appended.last_position().unwrap_or_default(),
            events: target
                .events
                .iter()
                .map(|e| ReplyEvent { event_id: e.event_id, event_type: e.event_type.clone() })
                .collect(),
        })
    }
}

/// Decides `command_type` with `body` against the current state of its aggregates.
pub async fn decide(
    aggregates: &Aggregates,
    command_type: &str,
    body: serde_json::Value,
    context: &Context,
    if_match: Option<i64>,
) -> Result<Decision, ApiError> {
    let log = aggregates.log.as_ref();
    match command_type {
        "RegisterCompany" => register_company(aggregates, parse(body)?, context).await,
        "CreateUser" => create_user(aggregates, parse(body)?, context).await,
        "ApproveUser" => {
            let target: UserTarget = parse(body)?;
            change_user(aggregates, target.user_id, if_match, context, user::Command::Approve).await
        }
        "DisapproveUser" => {
            let target: UserTarget = parse(body)?;
            change_user(aggregates, target.user_id, if_match, context, user::Command::Disapprove).await
        }
        "SuspendUser" => {
            let SuspendUser { user_id, until, reason } = parse(body)?;
            change_user(aggregates, user_id, if_match, context, user::Command::Suspend { until, reason })
                .await
        }
        "ReactivateUser" => {
            let target: UserTarget = parse(body)?;
            change_user(aggregates, target.user_id, if_match, context, user::Command::Reactivate).await
        }
        "UpdateUserProfile" => {
            let update: UpdateUserProfile = parse(body)?;
            let changes = user::ProfileChanges {
                email: update.email,
                first_name: update.first_name,
                last_name: update.last_name,
                phone: update.phone,
                extension: update.extension,
            };
            change_user(aggregates, update.user_id, if_match, context, user::Command::UpdateProfile(changes))
                .await
        }
        "DeleteUser" => {
            let target: UserTarget = parse(body)?;
            change_user(aggregates, target.user_id, if_match, context, user::Command::Delete).await
        }
        "AssignRole" => {
            let AssignRole { user_id, role_id } = parse(body)?;
            let role = aggregates.roles.refresh(log, role_id).await?.state;
            change_user(aggregates, user_id, if_match, context, user::Command::AssignRole { role_id, role })
                .await
        }
        "CreateRole" => create_role(aggregates, parse(body)?, context).await,
        "UpdateRole" => {
            let UpdateRole { role_id, name, description } = parse(body)?;
            change_role(aggregates, role_id, if_match, context, role::Command::Update { name, description })
                .await
        }
        "DeleteRole" => {
            let target: RoleTarget = parse(body)?;
            change_role(aggregates, target.role_id, if_match, context, role::Command::Delete).await
        }
        "GrantPermission" => {
            let GrantPermission { role_id, user_id, module, level } = parse(body)?;
            match one_target(role_id, user_id)? {
                Target::Role(role_id) => {
                    change_role(
                        aggregates,
                        role_id,
                        if_match,
                        context,
                        role::Command::Grant { module, level },
                    )
                    .await
                }
                Target::User(user_id) => {
                    change_user(
                        aggregates,
                        user_id,
                        if_match,
                        context,
                        user::Command::Grant { module, level },
                    )
                    .await
                }
            }
        }
        "RevokePermission" => {
            let RevokePermission { role_id, user_id, module } = parse(body)?;
            match one_target(role_id, user_id)? {
                Target::Role(role_id) => {
                    change_role(aggregates, role_id, if_match, context, role::Command::Revoke { module })
                        .await
                }
                Target::User(user_id) => {
                    change_user(aggregates, user_id, if_match, context, user::Command::Revoke { module })
                        .await
                }
            }
        }
        other => Err(ApiError::UnknownCommand(other.to_owned())),
    }
}

enum Target {
    Role(Uuid),
    User(Uuid),
}

fn one_target(role_id: Option<Uuid>, user_id: Option<Uuid>) -> Result<Target, ApiError> {
    match (role_id, user_id) {
        (Some(role_id), None) => Ok(Target::Role(role_id)),
        (None, Some(user_id)) => Ok(Target::User(user_id)),
        (Some(_), Some(_)) => {
            Err(ApiError::invalid_field("roleId", "give either roleId or userId, not both"))
        }
        (None, None) => Err(ApiError::invalid_field("roleId", "give either roleId or userId")),
    }
}

fn to_new_events<E: EventPayload>(events: &[E]) -> Vec<NewEvent> {
    events.iter().map(NewEvent::from_payload).collect()
}

/// The claims `events` take and free on `stream_id`, each judged against the state just
/// before it (`before`, then folded event by event).
fn claims_of<S: Clone, E>(
    stream_id: &str,
    before: &S,
    events: &[E],
    evolve: fn(S, &E) -> S,
    claims: fn(&E, &S) -> Vec<ClaimChange>,
) -> Vec<ClaimRequest> {
    let mut state = before.clone();
    let mut requests = Vec::new();
    for event in events {
        requests.extend(
            claims(event, &state)
                .into_iter()
                .map(|change| ClaimRequest { owner_stream: stream_id.to_owned(), change }),
        );
        state = evolve(state, event);
    }
    requests
}

/// The version and position a stream reached with an accepted append.
fn reached(appended: &Appended, stream_id: &str) -> Option<(i64, i64)> {
    let stream = appended.streams.iter().find(|s| s.stream_id == stream_id)?;
    Some((stream.version, stream.events.iter().map(|e| e.position).max().unwrap_or_default()))
}

/// Loads an existing aggregate for a change: 404 when it has no events, 409 when `If-Match`
/// names another version.
async fn load_target<S: Clone + Default, E: EventPayload>(
    cache: &Cache<S, E>,
    log: &dyn eventlog::EventLog,
    id: Uuid,
    what: &str,
    field: &'static str,
    if_match: Option<i64>,
) -> Result<Loaded<S>, ApiError> {
    let mut loaded = cache.load(log, id).await?;
    if loaded.version == 0 || if_match.is_some_and(|expected| expected != loaded.version) {
        // Not cached yet, or cached before another process appended: ask the log.
        loaded = cache.refresh(log, id).await?;
    }
    if loaded.version == 0 {
        return Err(ApiError::NotFound { what: what.to_owned(), field, id: id.to_string() });
    }
    if let Some(expected) = if_match.filter(|expected| *expected != loaded.version) {
        return Err(ApiError::VersionConflict {
            stream_id: cache.stream_id(id),
            expected,
            actual: loaded.version,
        });
    }
    Ok(loaded)
}

async fn change_user(
    aggregates: &Aggregates,
    user_id: Uuid,
    if_match: Option<i64>,
    context: &Context,
    command: user::Command,
) -> Result<Decision, ApiError> {
    let cache = &aggregates.users;
    let loaded = load_target(cache, aggregates.log.as_ref(), user_id, "user", "userId", if_match).await?;
    let events = user::decide(&loaded.state, command, context)?;
    let stream_id = cache.stream_id(user_id);
    let claims = claims_of(&stream_id, &loaded.state, &events, user::evolve, user::Event::claims);
    let company_id = loaded.state.company_id;
    Ok(decision(|a| &a.users, user_id, stream_id, loaded, company_id, events, claims))
}

async fn change_role(
    aggregates: &Aggregates,
    role_id: Uuid,
    if_match: Option<i64>,
    context: &Context,
    command: role::Command,
) -> Result<Decision, ApiError> {
    let cache = &aggregates.roles;
    let loaded = load_target(cache, aggregates.log.as_ref(), role_id, "role", "roleId", if_match).await?;
    let events = role::decide(&loaded.state, command, context)?;
    let stream_id = cache.stream_id(role_id);
    let claims = claims_of(&stream_id, &loaded.state, &events, role::evolve, role::Event::claims);
    let company_id = loaded.state.company_id;
    Ok(decision(|a| &a.roles, role_id, stream_id, loaded, company_id, events, claims))
}

/// A decision that writes `events` (if any) to one stream of the aggregate kind `select` gives.
fn decision<S, E>(
    select: fn(&Aggregates) -> &Cache<S, E>,
    id: Uuid,
    stream_id: String,
    loaded: Loaded<S>,
    company_id: Option<Uuid>,
    events: Vec<E>,
    claims: Vec<ClaimRequest>,
) -> Decision
where
    S: Clone + Default + Send + 'static,
    E: EventPayload + Send + 'static,
{
    let writes = if events.is_empty() {
        Vec::new()
    } else {
        vec![StreamWrite {
            stream_id: stream_id.clone(),
            expected: ExpectedVersion::Exact(loaded.version),
            events: to_new_events(&events),
        }]
    };
    let (version, position) = (loaded.version, loaded.position);
    let remembered_stream = stream_id.clone();
    Decision {
        target_id: id,
        target_stream: stream_id,
        version,
        position,
        writes,
        claims,
        company_id,
        remember: Box::new(move |aggregates, appended| {
            if let Some((version, position)) = reached(appended, &remembered_stream) {
                select(aggregates).applied(id, loaded, &events, version, position);
            }
        }),
    }
}

async fn create_user(
    aggregates: &Aggregates,
    body: CreateUser,
    context: &Context,
) -> Result<Decision, ApiError> {
    let log = aggregates.log.as_ref();
    let company = aggregates.companies.refresh(log, body.company_id).await?.state;
    let role = match body.role_id {
        Some(role_id) => Some((role_id, aggregates.roles.refresh(log, role_id).await?.state)),
        None => None,
    };
    let user_id = Uuid::now_v7();
    let command = user::Command::Create(Box::new(user::Create {
        company_id: body.company_id,
        company,
        username: body.username,
        email: body.email,
        first_name: body.first_name,
        last_name: body.last_name,
        phone: body.phone,
        extension: body.extension,
        role,
        approved: body.approved,
    }));
    let events = user::decide(&user::State::default(), command, context)?;
    let stream_id = aggregates.users.stream_id(user_id);
    let claims = claims_of(&stream_id, &user::State::default(), &events, user::evolve, user::Event::claims);
    Ok(decision(|a| &a.users, user_id, stream_id, Loaded::default(), Some(body.company_id), events, claims))
}

async fn create_role(
    aggregates: &Aggregates,
    body: CreateRole,
    context: &Context,
) -> Result<Decision, ApiError> {
    let company = aggregates.companies.refresh(aggregates.log.as_ref(), body.company_id).await?.state;
    let permissions: PermissionSet = body.permissions.into_iter().map(|p| (p.module, p.level)).collect();
    let role_id = Uuid::now_v7();
    let command = role::Command::Create {
        company_id: body.company_id,
        company,
        name: body.name,
        description: body.description,
        permissions,
        is_default: false,
    };
    let events = role::decide(&role::State::default(), command, context)?;
    let stream_id = aggregates.roles.stream_id(role_id);
    let claims = claims_of(&stream_id, &role::State::default(), &events, role::evolve, role::Event::claims);
    Ok(decision(|a| &a.roles, role_id, stream_id, Loaded::default(), Some(body.company_id), events, claims))
}

/// Registers a company with its default roles `Administrator` (FULL on every module) and
/// `User` (no module), all in one append.
async fn register_company(
    aggregates: &Aggregates,
    body: RegisterCompany,
    context: &Context,
) -> Result<Decision, ApiError> {
    let parent = match body.parent_company_id {
        Some(parent_id) => {
            Some((parent_id, aggregates.companies.refresh(aggregates.log.as_ref(), parent_id).await?.state))
        }
        None => None,
    };
    let (company_id, administrator_role_id, user_role_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let company_events = company::decide(
        &company::State::default(),
        company::Command::Register(company::Register {
            company_id,
            name: body.name,
            main_phone: body.main_phone,
            parent,
            license_limit: body.license_limit,
            administrator_role_id,
            user_role_id,
        }),
        context,
    )?;
    let registered = company_events.iter().fold(company::State::default(), company::evolve);
    let default_role = |name: &str, description: &str, permissions: PermissionSet| {
        role::decide(
            &role::State::default(),
            role::Command::Create {
                company_id,
                company: registered.clone(),
                name: name.to_owned(),
                description: description.to_owned(),
                permissions,
                is_default: true,
            },
            context,
        )
    };
    let administrator_events = default_role(
        "Administrator",
        "Complete access to all of the company's information and applications",
        domain::permissions::full_access(),
    )?;
    let user_events =
        default_role("User", "Access to the modules an administrator grants", PermissionSet::new())?;

    let company_stream = aggregates.companies.stream_id(company_id);
    let mut writes = vec![StreamWrite {
        stream_id: company_stream.clone(),
        expected: ExpectedVersion::Exact(0),
        events: to_new_events(&company_events),
    }];
    let mut claims = Vec::new();
    for (role_id, events) in [(administrator_role_id, &administrator_events), (user_role_id, &user_events)] {
        let stream_id = aggregates.roles.stream_id(role_id);
        claims.extend(claims_of(
            &stream_id,
            &role::State::default(),
            events,
            role::evolve,
            role::Event::claims,
        ));
        writes.push(StreamWrite {
            stream_id,
            expected: ExpectedVersion::Exact(0),
            events: to_new_events(events),
        });
    }
    Ok(Decision {
        target_id: company_id,
        target_stream: company_stream,
        version: 0,
        position: 0,
        writes,
        claims,
        company_id: Some(company_id),
        remember: Box::new(move |aggregates, appended| {
            let remember_role = |role_id: Uuid, events: &[role::Event]| {
                if let Some((version, position)) = reached(appended, &aggregates.roles.stream_id(role_id)) {
                    aggregates.roles.applied(role_id, Loaded::default(), events, version, position);
                }
            };
            remember_role(administrator_role_id, &administrator_events);
            remember_role(user_role_id, &user_events);
            if let Some((version, position)) = reached(appended, &aggregates.companies.stream_id(company_id))
            {
                aggregates.companies.applied(
                    company_id,
                    Loaded::default(),
                    &company_events,
                    version,
                    position,
                );
            }
        }),
    })
}
