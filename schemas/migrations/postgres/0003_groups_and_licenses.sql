-- Issue 3: groups, licence history, and the user columns lists filter on.

create table groups (
    id           uuid not null,
    company_id   uuid not null,
    name         text not null,
    is_main      boolean not null,
    deleted      boolean not null,
    role_id      uuid,
    member_count integer not null,
    state        jsonb not null,
    version      bigint not null,
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    constraint groups_pkey primary key (id)
);
create index groups_company_idx on groups (company_id, name);

-- One row per change of a company's seats or licence limit: the seat-count history for billing.
create table company_license_history (
    company_id    uuid not null,
    version       bigint not null,
    recorded_at   timestamptz not null,
    used          integer not null,
    license_limit integer,
    event_type    text not null,
    constraint company_license_history_pkey primary key (company_id, version)
);

alter table users add column group_id uuid;
alter table users add column deactivated boolean not null default false;
alter table users add column disapproved boolean not null default false;
create index users_group_idx on users (group_id);
