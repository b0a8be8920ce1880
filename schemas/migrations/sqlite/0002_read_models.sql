-- Read models, rebuilt from the event log by the projectors. `state` is the aggregate state
-- folded with the domain's own `evolve`; the other columns exist to be filtered and sorted on.
create table projection_checkpoints (
    name       text not null,
    tx         integer not null,
    position   integer not null,
    updated_at text not null,
    constraint projection_checkpoints_pkey primary key (name)
);

create table companies (
    id            blob not null,
    name          text not null,
    main_phone    text not null,
    parent_id     blob,
    license_limit integer,
    state         text not null,
    version       integer not null,
    created_at    text not null,
    updated_at    text not null,
    constraint companies_pkey primary key (id)
);
create index companies_parent_idx on companies (parent_id);

create table roles (
    id          blob not null,
    company_id  blob not null,
    name        text not null,
    is_default  integer not null,
    deleted     integer not null,
    state       text not null,
    version     integer not null,
    created_at  text not null,
    updated_at  text not null,
    constraint roles_pkey primary key (id)
);
create index roles_company_idx on roles (company_id, name);

create table users (
    id              blob not null,
    company_id      blob not null,
    username        text not null,
    role_id         blob,
    approved        integer not null,
    suspended       integer not null,
    suspended_until text,
    deleted         integer not null,
    -- Lower-cased username, names and email, for free-text search.
    search          text not null,
    state           text not null,
    version         integer not null,
    created_at      text not null,
    updated_at      text not null,
    constraint users_pkey primary key (id)
);
create index users_company_idx on users (company_id, id);
create index users_role_idx on users (role_id);
