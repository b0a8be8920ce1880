-- Issue 5 (erasure): a notification names the person it is about, so that erasing them takes
-- it out of the outbox in the same transaction as their key.
alter table outbox add column subject blob;
create index outbox_subject_idx on outbox (subject) where subject is not null;
