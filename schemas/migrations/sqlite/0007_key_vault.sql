-- Issue 4 (TOTP) and issue 5 (erasure): the key vault. Secrets and personal data that events
-- must carry are sealed (AES-256-GCM) with a key of their own subject (a user), kept here and
-- never in the log. Destroying a subject's key (`shredded_at` set, `key` null) makes everything
-- sealed with it unreadable, while the events themselves stay as they were.
create table vault_keys (
    subject     blob not null,
    key         blob,
    created_at  text not null,
    shredded_at text,
    constraint vault_keys_pkey primary key (subject),
    constraint vault_keys_key_check check ((key is null) = (shredded_at is not null)),
    constraint vault_keys_length_check check (key is null or length(key) = 32)
);
