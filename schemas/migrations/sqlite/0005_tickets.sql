-- Issue 3: support tickets, the messages of their conversation, and the files attached to them.

-- Uploaded files, stored beside the event log. A row is written once and never changed: events
-- refer to it by id and carry its sha256, so the audit trail can verify the bytes.
create table attachments (
    id               blob not null,
    sha256           text not null,
    content_type     text not null,
    file_name        text not null,
    size             integer not null,
    bytes            blob not null,
    uploaded_at      text not null,
    uploaded_by_kind text not null,
    uploaded_by_id   blob,
    constraint attachments_pkey primary key (id),
    constraint attachments_size_check check (size = length(bytes)),
    constraint attachments_sha256_check check (length(sha256) = 64)
);

create trigger attachments_no_update before update on attachments
begin
    select raise(abort, 'attachments are immutable: UPDATE on attachments is not allowed');
end;

-- Read model: one row per ticket. `created_at` is when it was opened; a closed ticket takes no
-- event after its `TicketClosed`, so `closed_at` is its last change.
create table tickets (
    id            blob not null,
    company_id    blob not null,
    requester_id  blob,
    topic         text not null,
    status        text not null,
    comment_count integer not null,
    closed_at     text,
    state         text not null,
    version       integer not null,
    created_at    text not null,
    updated_at    text not null,
    constraint tickets_pkey primary key (id)
);
create index tickets_company_idx on tickets (company_id, id);
create index tickets_requester_idx on tickets (requester_id, id);

-- Read model: the conversation of each ticket, one row per message (the opening one and each
-- comment), with who wrote it and when (the event's metadata).
create table ticket_messages (
    ticket_id   blob not null,
    version     integer not null,
    recorded_at text not null,
    author_kind text not null,
    author_id   blob,
    body        text not null,
    attachments text not null,
    constraint ticket_messages_pkey primary key (ticket_id, version)
);
