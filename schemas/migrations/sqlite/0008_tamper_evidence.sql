-- Issue 5: tamper evidence (see the Postgres migration of the same name).
alter table events add column hash text;

create table audit_seals (
    sequence        integer not null,
    up_to_tx        integer not null,
    up_to_position  integer not null,
    events          integer not null,
    total_events    integer not null,
    head            text not null,
    sealed_at       text not null,
    constraint audit_seals_pkey primary key (sequence)
);

create trigger audit_seals_no_update before update on audit_seals
begin
    select raise(abort, 'audit seals are immutable: UPDATE on audit_seals is not allowed');
end;
create trigger audit_seals_no_delete before delete on audit_seals
begin
    select raise(abort, 'audit seals are immutable: DELETE on audit_seals is not allowed');
end;
