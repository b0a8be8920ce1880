-- Issue 3: support tickets, the messages of their conversation, and the files attached to them.

-- Uploaded files, stored beside the event log. A row is written once and never changed: events
-- refer to it by id and carry its sha256, so the audit trail can verify the bytes.
create table attachments (
    id               uuid not null,
    sha256           text not null,
    content_type     text not null,
    file_name        text not null,
    size             bigint not null,
    bytes            bytea not null,
    uploaded_at      timestamptz not null,
    uploaded_by_kind text not null,
    uploaded_by_id   uuid,
    constraint attachments_pkey primary key (id),
    constraint attachments_size_check check (size = octet_length(bytes)),
    constraint attachments_sha256_check check (length(sha256) = 64)
);

create function attachments_are_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'attachments are immutable: UPDATE on attachments is not allowed';
end
$$;
create trigger attachments_no_update before update on attachments
    for each row execute function attachments_are_immutable();

-- Read model: one row per ticket. `created_at` is when it was opened; a closed ticket takes no
-- event after its `TicketClosed`, so `closed_at` is its last change.
create table tickets (
    id            uuid not null,
    company_id    uuid not null,
    requester_id  uuid,
    topic         text not null,
    status        text not null,
    comment_count integer not null,
    closed_at     timestamptz,
    state         jsonb not null,
    version       bigint not null,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    constraint tickets_pkey primary key (id)
);
create index tickets_company_idx on tickets (company_id, id);
create index tickets_requester_idx on tickets (requester_id, id);

-- Read model: the conversation of each ticket, one row per message (the opening one and each
-- comment), with who wrote it and when (the event's metadata).
create table ticket_messages (
    ticket_id   uuid not null,
    version     bigint not null,
    recorded_at timestamptz not null,
    author_kind text not null,
    author_id   uuid,
    body        text not null,
    attachments jsonb not null,
    constraint ticket_messages_pkey primary key (ticket_id, version)
);
