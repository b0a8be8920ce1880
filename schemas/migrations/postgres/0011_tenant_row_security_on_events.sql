-- Issue 4/5: the second wall of tenant isolation covers the audit trail too. A signed-in user's
-- audit queries run in their row-secured transaction as `portal_reader` (migration 0008), where
-- only the events recorded for their companies exist. The portal's own user (the writers, the
-- projectors, the sealer, the operator) owns the table and is not bound by the policy.
grant select on events to portal_reader;
alter table events enable row level security;
create policy tenant_events on events for select to portal_reader
    using (company_id = any (portal_companies()));
