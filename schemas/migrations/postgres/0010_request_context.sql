-- Issue 5: every event also records why (the command's optional `reason`) and from where (the
-- client's address and user agent, as the server saw them). Part of each event's hash.
alter table events add column reason text;
alter table events add column client_ip text;
alter table events add column user_agent text;
