-- Issue 5: accessAsOf reads only the events a user's access rests on (domain::user::ACCESS_EVENTS,
-- the same list as below), for the users created in a company or moved between companies.
-- Partial indexes: appends of other events (most of them) do not maintain them.
create index events_user_created_idx on events (company_id) where event_type = 'UserCreated';
create index events_ownership_idx on events (stream_id) where event_type = 'OwnershipConfirmed';
create index events_access_idx on events (stream_id, version) where event_type in ('UserCreated', 'UserApproved', 'UserDisapproved', 'UserSuspended', 'UserReactivated', 'UserDeactivated', 'UserDeleted', 'RoleAssigned', 'GroupAssigned', 'UserPermissionGranted', 'UserPermissionRevoked', 'UserAccessChanged', 'OwnershipConfirmed');
