//! `GET /metrics`, in Prometheus's text format: what every crate records through the `metrics`
//! facade (commands' latency by type and outcome, events appended), and at each scrape the
//! projectors' lag and the NATS publisher's state.

use std::sync::Arc;

use eventlog::Database;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use projections::{Progress, PublisherStatus, ReadModel};
use tokio::sync::watch;

/// Latency buckets of a command, in seconds: from a cached aggregate's 1 ms to a sign-in's
/// argon2 and a slow disk's seconds.
const COMMAND_BUCKETS: [f64; 12] = [0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Installs the process's recorder; its handle renders the text.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("portal_command_duration_seconds".to_owned()),
            &COMMAND_BUCKETS,
        )?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|error| anyhow::anyhow!("metrics recorder: {error}"))?;
    metrics::describe_histogram!(
        "portal_command_duration_seconds",
        metrics::Unit::Seconds,
        "Time to decide and append a command, by command type and outcome (accepted or the error code)"
    );
    metrics::describe_counter!("portal_events_appended_total", "Events appended to the log by this process");
    metrics::describe_counter!(
        command_api::RETRIES,
        "Commands decided again because another writer appended to one of their streams first"
    );
    // Shown from the start: zero is the figure to watch.
    metrics::counter!(command_api::RETRIES).absolute(0);
    metrics::describe_gauge!(
        "portal_projection_lag_events",
        "Events in the log that a projector has not applied yet, by projector"
    );
    metrics::describe_gauge!(
        "portal_nats_publish_lag_events",
        "Events in the log not yet acknowledged by JetStream"
    );
    metrics::describe_gauge!("portal_nats_connected", "1 while the publisher reaches JetStream");
    metrics::describe_counter!(
        "portal_nats_published_total",
        "Events JetStream acknowledged (duplicates included)"
    );
    metrics::describe_counter!(
        "portal_nats_publish_failures_total",
        "Publisher rounds that failed and were retried"
    );
    Ok(handle)
}

/// What a scrape reads besides the recorder.
#[derive(Clone)]
pub struct Scrape {
    pub handle: PrometheusHandle,
    pub database: Database,
    pub progress: Progress,
    pub publisher: Option<watch::Receiver<PublisherStatus>>,
}

impl Scrape {
    pub async fn render(self: Arc<Self>) -> String {
        for model in ReadModel::ALL {
            let Some(checkpoint) = self.progress.checkpoint(model) else { continue };
            if let Ok(lag) = eventlog::events_after(&self.database, checkpoint.position).await {
                metrics::gauge!("portal_projection_lag_events", "projector" => model.name()).set(lag as f64);
            }
        }
        if let Some(publisher) = &self.publisher {
            let status = publisher.borrow().clone();
            metrics::gauge!("portal_nats_publish_lag_events").set(status.lag_events as f64);
            metrics::gauge!("portal_nats_connected").set(if status.connected { 1.0 } else { 0.0 });
            metrics::counter!("portal_nats_published_total").absolute(status.published_total);
            metrics::counter!("portal_nats_publish_failures_total").absolute(status.failures_total);
        }
        self.handle.render()
    }
}
