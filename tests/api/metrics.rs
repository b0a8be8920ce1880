//! `/metrics` as Prometheus scrapes it: command latency by type and outcome, events appended,
//! and each projector's lag.

use serde_json::json;

use crate::helpers::{App, create_user, on_both_backends, register_company};

on_both_backends!(metrics_count_commands_events_and_projection_lag);

/// The value of the first sample whose line starts with `name` and has every label given.
pub(crate) fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

/// `GET /metrics` of the process at `base_url`, as text.
pub(crate) async fn scrape(client: &reqwest::Client, base_url: &str) -> String {
    let response = client.get(format!("{base_url}/metrics")).send().await.expect("GET /metrics");
    response.text().await.expect("the metrics")
}

async fn metrics_count_commands_events_and_projection_lag(app: App) {
    let company = register_company(&app, "Metered Ltd").await;
    create_user(&app, &company, "metered").await;
    let (status, _, _) = app.command("ApproveUser", json!({ "userId": "not-a-uuid" })).await;
    assert_eq!(status, 400);
    let events = app.event_count().await as f64; // (waits for the projectors)

    let response = app.client().get(app.url("/metrics")).send().await.expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap_or_default().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("the metrics");

    assert_eq!(sample(&text, "portal_events_appended_total", &[]), Some(events), "{text}");
    let created = ["command=\"CreateUser\"", "outcome=\"accepted\""];
    assert_eq!(sample(&text, "portal_command_duration_seconds_count", &created), Some(1.0), "{text}");
    let fast = ["command=\"CreateUser\"", "le=\"2.5\""];
    assert_eq!(sample(&text, "portal_command_duration_seconds_bucket", &fast), Some(1.0), "{text}");
    let refused = ["command=\"ApproveUser\"", "outcome=\"invalid_fields\""];
    assert_eq!(sample(&text, "portal_command_duration_seconds_count", &refused), Some(1.0), "{text}");
    for projector in ["companies", "roles", "users", "groups", "tickets"] {
        let label = format!("projector=\"{projector}\"");
        assert_eq!(sample(&text, "portal_projection_lag_events", &[&label]), Some(0.0), "{text}");
    }
    assert!(text.contains("# HELP portal_command_duration_seconds"), "{text}");
}
