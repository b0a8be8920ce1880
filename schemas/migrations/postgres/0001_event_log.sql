-- The event log: append-only, one row per event.
create table events (
    position       bigint generated always as identity,
    -- The writing transaction: readers order by (tx_id, position) and read only below the
    -- oldest running transaction, so an event that commits late is never skipped.
    tx_id          xid8 not null default pg_current_xact_id(),
    stream_id      text not null,
    version        bigint not null,
    event_id       uuid not null,
    event_type     text not null,
    schema_version integer not null,
    data           jsonb not null,
    company_id     uuid,
    actor_kind     text not null,
    actor_id       uuid,
    correlation_id uuid not null,
    causation_id   uuid,
    request_id     text,
    recorded_at    timestamptz not null,
    constraint events_pkey primary key (position),
    constraint events_stream_version_key unique (stream_id, version),
    constraint events_version_positive check (version > 0)
);
create index events_tx_position_idx on events (tx_id, position);
create index events_company_idx on events (company_id, tx_id, position) where company_id is not null;
create index events_actor_idx on events (actor_id, tx_id, position) where actor_id is not null;
create index events_recorded_at_idx on events using brin (recorded_at);

create function events_are_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the event log is append-only: % on events is not allowed', tg_op;
end
$$;
create trigger events_no_update_or_delete before update or delete on events
    for each row execute function events_are_append_only();
create trigger events_no_truncate before truncate on events
    for each statement execute function events_are_append_only();

-- Unique values across aggregates (username, email, extension, role name), owned by a stream.
create table claims (
    claim_key    text not null,
    owner_stream text not null,
    claimed_at   timestamptz not null default now(),
    constraint claims_pkey primary key (claim_key)
);

-- Replies to accepted commands, by idempotency key, written in the append's transaction.
create table idempotency_keys (
    scope        text not null,
    key          text not null,
    request_hash text not null,
    reply        jsonb,
    created_at   timestamptz not null default now(),
    constraint idempotency_keys_pkey primary key (scope, key)
);
