-- Issue 4: the admin's users list filters on activation and lock (TeleGo's list shows both).
alter table users add column activated boolean not null default false;
alter table users add column locked_until timestamptz;
