-- Issue 4: row-level security on the read models, the second wall of tenant isolation.
--
-- The query API answers a signed-in user inside a transaction that takes the role
-- `portal_reader` and names the user's companies (their own and every one under it) in the
-- setting `portal.companies`. The policies below then show that transaction only those
-- companies' rows, whatever the SQL the resolvers send: a query that forgot its tenant filter
-- still finds nothing of another company. The operator and the projectors run as the portal's
-- own database user, which these policies do not restrict.
--
-- Roles belong to the whole server, not to one database: the role is made once and shared by
-- every portal database on the server. The portal's user needs CREATEROLE for this migration,
-- or an administrator creates `portal_reader` (NOLOGIN) beforehand and grants it to that user.
do $$
begin
    if not exists (select from pg_roles where rolname = 'portal_reader') then
        create role portal_reader nologin;
    end if;
exception
    -- Another database's migration made it at the same moment.
    when duplicate_object or unique_violation then null;
end
$$;

do $$
begin
    if not pg_has_role(current_user, 'portal_reader', 'member') then
        execute format('grant portal_reader to %I', current_user);
    end if;
end
$$;

-- The companies the current transaction may see; none when the setting is absent or empty.
create function portal_companies() returns uuid[] language sql stable as $$
    select coalesce(string_to_array(nullif(current_setting('portal.companies', true), ''), ',')::uuid[], '{}')
$$;

grant usage on schema public to portal_reader;
grant execute on function portal_companies() to portal_reader;
grant select on companies, users, roles, groups, company_license_history, tickets, ticket_messages
    to portal_reader;

alter table companies enable row level security;
alter table users enable row level security;
alter table roles enable row level security;
alter table groups enable row level security;
alter table company_license_history enable row level security;
alter table tickets enable row level security;
alter table ticket_messages enable row level security;

-- Only `portal_reader` is bound by these policies: the portal's own user owns the tables (it
-- applies these migrations), and an owner passes row security unless it is forced.
create policy tenant_rows on companies for select to portal_reader
    using (id = any (portal_companies()));
create policy tenant_rows on users for select to portal_reader
    using (company_id = any (portal_companies()));
create policy tenant_rows on roles for select to portal_reader
    using (company_id = any (portal_companies()));
create policy tenant_rows on groups for select to portal_reader
    using (company_id = any (portal_companies()));
create policy tenant_rows on company_license_history for select to portal_reader
    using (company_id = any (portal_companies()));
create policy tenant_rows on tickets for select to portal_reader
    using (company_id = any (portal_companies()));
create policy tenant_rows on ticket_messages for select to portal_reader
    using (exists (select from tickets where tickets.id = ticket_messages.ticket_id));
