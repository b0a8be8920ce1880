-- Read models, rebuilt from the event log by the projectors. `state` is the aggregate state
-- folded with the domain's own `evolve`; the other columns exist to be filtered and sorted on.
create table projection_checkpoints (
    name       text not null,
    tx         bigint not null,
    position   bigint not null,
    updated_at timestamptz not null,
    constraint projection_checkpoints_pkey primary key (name)
);

create table companies (
    id            uuid not null,
    name          text not null,
    main_phone    text not null,
    parent_id     uuid,
    license_limit integer,
    state         jsonb not null,
    version       bigint not null,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    constraint companies_pkey primary key (id)
);
create index companies_parent_idx on companies (parent_id);

create table roles (
    id          uuid not null,
    company_id  uuid not null,
    name        text not null,
    is_default  boolean not null,
    deleted     boolean not null,
    state       jsonb not null,
    version     bigint not null,
    created_at  timestamptz not null,
    updated_at  timestamptz not null,
    constraint roles_pkey primary key (id)
);
create index roles_company_idx on roles (company_id, name);

create table users (
    id              uuid not null,
    company_id      uuid not null,
    username        text not null,
    role_id         uuid,
    approved        boolean not null,
    suspended       boolean not null,
    suspended_until timestamptz,
    deleted         boolean not null,
    -- Lower-cased username, names and email, for free-text search.
    search          text not null,
    state           jsonb not null,
    version         bigint not null,
    created_at      timestamptz not null,
    updated_at      timestamptz not null,
    constraint users_pkey primary key (id)
);
create index users_company_idx on users (company_id, id);
create index users_role_idx on users (role_id);
