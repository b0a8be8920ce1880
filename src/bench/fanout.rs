//! `portal bench --only fanout` (issue 6): `--subscribers` (1,000) GraphQL subscriptions on one
//! query process, each following a company's events over its own WebSocket
//! (graphql-transport-ws), while `--fanout-events` commands are written.
//!
//! On a database of its own (dropped at the end): the query API's router is served in process on
//! a free port, exactly as `portal serve` mounts it (its token check replaced by "the operator");
//! the subscribers are real WebSocket clients in the same process. Lag = arrival at a subscriber
//! − the event's `occurredAt`; memory is the process's resident set before the subscribers
//! connect and once all have subscribed.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{BenchArgs, bench_api, bench_company, bench_users, drive, ms, on_scratch_database, percentile};

pub(super) struct FanoutReport {
    subscribers: usize,
    events: usize,
    connect_elapsed: Duration,
    rss_before: Option<u64>,
    rss_subscribed: Option<u64>,
    deliver_elapsed: Duration,
    /// Sorted, one per delivery.
    lags: Vec<Duration>,
}

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<FanoutReport> {
    on_scratch_database(args, "the fan-out run", |url| async move { measure(args, &url).await }).await
}

async fn measure(args: &BenchArgs, url: &str) -> anyhow::Result<FanoutReport> {
    let (database, log, api) = bench_api(url, false).await?;
    let projectors = projections::spawn_all(database.clone(), Arc::clone(&log));
    let state = query_api::GraphqlState {
        schema: query_api::schema(database.clone(), Arc::clone(&log)),
        database: database.clone(),
        log: Arc::clone(&log),
        progress: projectors.progress.clone(),
        authenticate: Arc::new(|_| {
            Box::pin(async { query_api::Access::Granted(query_api::Viewer::Operator) })
        }),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, query_api::router(state)).await });

    let company = bench_company(&api, "Fan-out Bench", "+1 415 555 0144").await?;
    let users = Arc::new(bench_users(&api, company, 100, 8, "fanout").await?.ids);
    // Every event so far was written by this process: its head is the log's.
    let after = *log.subscribe().borrow();

    let rss_before = resident_set();
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(50));
    let events = args.fanout_events;
    let mut connecting = Vec::with_capacity(args.subscribers);
    for _ in 0..args.subscribers {
        let limit = Arc::clone(&limit);
        connecting.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            subscribe(address, company, after).await
        }));
    }
    let mut sockets = Vec::with_capacity(args.subscribers);
    for connection in connecting {
        sockets.push(connection.await.map_err(|error| anyhow!("a subscriber panicked: {error}"))??);
    }
    let connect_elapsed = started.elapsed();
    let rss_subscribed = resident_set();
    eprintln!("  {} subscribers connected in {:.1} s", sockets.len(), connect_elapsed.as_secs_f64());

    let receivers: Vec<_> = sockets.into_iter().map(|socket| tokio::spawn(receive(socket, events))).collect();
    let started = Instant::now();
    let writes = drive(&api, 8, events, move |index, rng| {
        let user_id = users[rng.below(users.len())];
        ("UpdateUserProfile", json!({ "userId": user_id, "title": format!("Fan-out {index}") }))
    })
    .await;
    if writes.failures > 0 {
        bail!("{} commands refused: {}", writes.failures, writes.first_failure.unwrap_or_default());
    }
    let mut lags = Vec::with_capacity(args.subscribers * events);
    for receiver in receivers {
        let received = tokio::time::timeout(Duration::from_secs(300), receiver)
            .await
            .map_err(|_| anyhow!("a subscriber did not receive every event within 5 minutes"))?
            .map_err(|error| anyhow!("a subscriber panicked: {error}"))??;
        lags.extend(received);
    }
    let deliver_elapsed = started.elapsed();
    lags.sort();
    server.abort();
    projectors.stop().await;
    database.close().await;
    Ok(FanoutReport {
        subscribers: args.subscribers,
        events,
        connect_elapsed,
        rss_before,
        rss_subscribed,
        deliver_elapsed,
        lags,
    })
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One subscriber: connected, acknowledged, subscribed to the company's events after `after`.
async fn subscribe(address: std::net::SocketAddr, company: uuid::Uuid, after: i64) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{address}/graphql/ws").into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.context("the WebSocket upgrade")?;
    socket.send(Message::text(json!({ "type": "connection_init", "payload": {} }).to_string())).await?;
    match next_json(&mut socket).await? {
        message if message["type"] == "connection_ack" => {}
        other => bail!("no connection_ack: {other}"),
    }
    let query = "subscription($company: ID!, $after: Int) { events(filter: { companyId: $company }, afterPosition: $after) { position occurredAt } }";
    let subscribe = json!({ "id": "1", "type": "subscribe",
        "payload": { "query": query, "variables": { "company": company, "after": after } } });
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(socket)
}

async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        match socket.next().await.ok_or_else(|| anyhow!("the server closed the connection"))?? {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Close(frame) => bail!("the server closed the connection: {frame:?}"),
            _ => continue,
        }
    }
}

/// The lag of each of the next `count` events.
async fn receive(mut socket: Socket, count: usize) -> anyhow::Result<Vec<Duration>> {
    let mut lags = Vec::with_capacity(count);
    while lags.len() < count {
        let message = next_json(&mut socket).await?;
        if message["type"] != "next" {
            bail!("unexpected message: {message}");
        }
        let arrived = Utc::now();
        let occurred = message["payload"]["data"]["events"]["occurredAt"]
            .as_str()
            .and_then(|at| at.parse::<DateTime<Utc>>().ok())
            .ok_or_else(|| anyhow!("an event without occurredAt: {message}"))?;
        lags.push((arrived - occurred).to_std().unwrap_or_default());
    }
    Ok(lags)
}

/// The process's resident set in bytes (Linux), if it can be read.
fn resident_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl FanoutReport {
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n### GraphQL subscription fan-out (issue 6)\n");
        let mib =
            |bytes: Option<u64>| bytes.map_or("?".to_owned(), |b| format!("{:.1}", b as f64 / 1_048_576.0));
        let per_subscriber = self
            .rss_before
            .zip(self.rss_subscribed)
            .map(|(before, after)| after.saturating_sub(before) / self.subscribers.max(1) as u64);
        let _ = writeln!(
            out,
            "{} subscribers on one query process (connected in {:.1} s; resident set {} MiB before, {} MiB \
             subscribed, {} KiB per subscriber); {} events written, each delivered to every subscriber.\n",
            self.subscribers,
            self.connect_elapsed.as_secs_f64(),
            mib(self.rss_before),
            mib(self.rss_subscribed),
            per_subscriber.map_or("?".to_owned(), |b| (b / 1024).to_string()),
            self.events
        );
        let _ = writeln!(out, "| deliveries | deliveries/s | lag p50 ms | lag p99 ms | lag max ms |");
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} |",
            self.lags.len(),
            self.lags.len() as f64 / self.deliver_elapsed.as_secs_f64().max(1e-9),
            ms(percentile(&self.lags, 0.50)),
            ms(percentile(&self.lags, 0.99)),
            ms(self.lags.last().copied().unwrap_or_default())
        );
        out
    }
}
