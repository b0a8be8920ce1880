//! Projectors and the read models they build.
//!
//! A projector reads the event log in checkpoint order from where it stopped, folds the events
//! of its aggregate category into rows, and moves its checkpoint in the same transaction as
//! those rows, so a crash never applies an event twice or skips one. Read-model rows hold the
//! aggregate state folded with the domain's own `evolve`, plus columns to filter on.
//!
//! Must not: write to the event log, decide anything, or know about HTTP or GraphQL.

mod fold;
mod models;
pub mod publisher;
pub mod read;
pub(crate) mod runtime;

pub use models::ReadModel;
pub use publisher::{Publisher, PublisherSettings, PublisherStatus, spawn_publisher};
pub use runtime::{Progress, ProjectionError, Projectors, RebuildReport, rebuild, spawn_all, spawn_standbys};
