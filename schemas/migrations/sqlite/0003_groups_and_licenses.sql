-- Issue 3: groups, licence history, and the user columns lists filter on.

create table groups (
    id           blob not null,
    company_id   blob not null,
    name         text not null,
    is_main      integer not null,
    deleted      integer not null,
    role_id      blob,
    member_count integer not null,
    state        text not null,
    version      integer not null,
    created_at   text not null,
    updated_at   text not null,
    constraint groups_pkey primary key (id)
);
create index groups_company_idx on groups (company_id, name);

-- One row per change of a company's seats or licence limit: the seat-count history for billing.
create table company_license_history (
    company_id    blob not null,
    version       integer not null,
    recorded_at   text not null,
    used          integer not null,
    license_limit integer,
    event_type    text not null,
    constraint company_license_history_pkey primary key (company_id, version)
);

alter table users add column group_id blob;
alter table users add column deactivated integer not null default 0;
alter table users add column disapproved integer not null default 0;
create index users_group_idx on users (group_id);
