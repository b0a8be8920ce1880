-- The event log: append-only, one row per event. SQLite has one writer at a time, so the
-- position order is the commit order and no transaction id is needed.
create table events (
    position       integer primary key autoincrement,
    stream_id      text not null,
    version        integer not null check (version > 0),
    event_id       blob not null,
    event_type     text not null,
    schema_version integer not null,
    data           text not null,
    company_id     blob,
    actor_kind     text not null,
    actor_id       blob,
    correlation_id blob not null,
    causation_id   blob,
    request_id     text,
    recorded_at    text not null,
    constraint events_stream_version_key unique (stream_id, version)
);
create index events_company_idx on events (company_id, position) where company_id is not null;
create index events_actor_idx on events (actor_id, position) where actor_id is not null;
create index events_recorded_at_idx on events (recorded_at);

create trigger events_no_update before update on events
begin
    select raise(abort, 'the event log is append-only: UPDATE on events is not allowed');
end;
create trigger events_no_delete before delete on events
begin
    select raise(abort, 'the event log is append-only: DELETE on events is not allowed');
end;

create table claims (
    claim_key    text not null primary key,
    owner_stream text not null,
    claimed_at   text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

create table idempotency_keys (
    scope        text not null,
    key          text not null,
    request_hash text not null,
    reply        text,
    created_at   text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    primary key (scope, key)
);
