-- Issue 5: tamper evidence.
--
-- `hash` chains each event to the one before it in its stream:
-- SHA-256(previous hash ‖ canonical bytes of the event), hex (eventlog/src/chain.rs). Events
-- stored before this migration have none; verification reports them as unchained.
alter table events add column hash text;

-- The sealer chains every event in commit order: each seal covers the events after the
-- previous seal up to (`up_to_tx`, `up_to_position`), and `head` is
-- SHA-256(previous seal's head ‖ each covered event's position and hash, in order).
create table audit_seals (
    sequence        bigint not null,
    up_to_tx        bigint not null,
    up_to_position  bigint not null,
    events          bigint not null,
    total_events    bigint not null,
    head            text not null,
    sealed_at       timestamptz not null,
    constraint audit_seals_pkey primary key (sequence)
);

create function audit_seals_are_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'audit seals are immutable: % on audit_seals is not allowed', tg_op;
end
$$;
create trigger audit_seals_no_update before update or delete on audit_seals
    for each row execute function audit_seals_are_immutable();
