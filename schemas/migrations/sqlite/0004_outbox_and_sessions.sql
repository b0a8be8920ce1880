-- Issue 4: the outbox. A notification is written in the same transaction as the events of the
-- command that sends it, and delivered after the commit. It holds the token or PIN the
-- message carries (the event log never does), so only the dispatcher and operators read it.
create table outbox (
    id           blob not null,
    channel      text not null check (channel in ('EMAIL', 'SMS')),
    recipient    text not null,
    template     text not null,
    body         text not null,
    secret_kind  text check (secret_kind in ('token', 'pin')),
    secret       text,
    company_id   blob,
    created_at   text not null,
    delivered_at text,
    attempts     integer not null default 0,
    last_error   text,
    constraint outbox_pkey primary key (id)
);
create index outbox_pending_idx on outbox (created_at) where delivered_at is null;
create index outbox_recipient_idx on outbox (recipient, created_at);

-- Sign-in sessions: the bearer token is only stored as its SHA-256. A session also ends when its
-- user may no longer sign in, or changes password (checked against the user's events).
create table sessions (
    token_hash text not null,
    user_id    blob not null,
    company_id blob,
    created_at text not null,
    expires_at text not null,
    revoked_at text,
    constraint sessions_pkey primary key (token_hash)
);
create index sessions_user_idx on sessions (user_id);
