//! Black-box tests of the portal's HTTP API: the real `portal` binary is started on a
//! throw-away store and driven over HTTP, as a client would. Every test runs twice, on SQLite
//! and on Postgres (`PORTAL_TEST_DATABASE_URL`; without it the Postgres runs are skipped,
//! loudly, and fail under `CI=true`).

mod helpers;

mod access;
mod audit;
mod commands;
mod concurrency;
mod erasure;
mod graphql;
mod identity;
mod imports;
mod lifecycle;
mod metrics;
mod nats;
mod people;
mod subscriptions;
mod tenancy;
mod tickets;
mod tls;
mod topology;
mod totp;
