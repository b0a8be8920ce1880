-- Issue 7: bulk imports of users.
--
-- Read model: one row per import (`state` holds its settings, counts and every row's result).
create table imports (
    id          blob not null,
    company_id  blob not null,
    status      text not null,
    state       text not null,
    version     integer not null,
    created_at  text not null,
    updated_at  text not null,
    constraint imports_pkey primary key (id)
);
create index imports_company_idx on imports (company_id, id);

-- The rows of an import still running, so that a restarted process can go on with them. They
-- hold personal data (and maybe passwords), so they are sealed with a vault key of the
-- import's own (subject = the import's id), and `rows` is set to null and the key destroyed
-- when the import completes. Not an event and no read model: a rebuild leaves it alone.
create table import_jobs (
    import_id   blob not null,
    company_id  blob not null,
    rows        text,
    created_at  text not null,
    finished_at text,
    constraint import_jobs_pkey primary key (import_id),
    constraint import_jobs_finished_check check ((rows is null) = (finished_at is not null))
);
