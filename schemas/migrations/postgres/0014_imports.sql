-- Issue 7: bulk imports of users.
--
-- Read model: one row per import (`state` holds its settings, counts and every row's result).
create table imports (
    id          uuid not null,
    company_id  uuid not null,
    status      text not null,
    state       jsonb not null,
    version     bigint not null,
    created_at  timestamptz not null,
    updated_at  timestamptz not null,
    constraint imports_pkey primary key (id)
);
create index imports_company_idx on imports (company_id, id);

grant select on imports to portal_reader;
alter table imports enable row level security;
create policy tenant_rows on imports for select to portal_reader
    using (company_id = any (portal_companies()));

-- The rows of an import still running, so that a restarted process can go on with them. They
-- hold personal data (and maybe passwords), so they are sealed with a vault key of the
-- import's own (subject = the import's id), and `rows` is set to null and the key destroyed
-- when the import completes. Not an event and no read model: a rebuild leaves it alone, and
-- tenants' readers cannot see it.
create table import_jobs (
    import_id   uuid not null,
    company_id  uuid not null,
    rows        text,
    created_at  timestamptz not null,
    finished_at timestamptz,
    constraint import_jobs_pkey primary key (import_id),
    constraint import_jobs_finished_check check ((rows is null) = (finished_at is not null))
);
