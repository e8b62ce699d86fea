//! The live side: a task that follows the event log (counting for `/metrics`, rebuilding the
//! dashboard and sending it to every open event stream), a task that feeds the search index, the
//! server-sent events endpoint, and the three unauthenticated probes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use salvo::http::HeaderValue;
use salvo::oapi::endpoint;
use salvo::prelude::*;
use salvo::sse::{SseEvent, SseKeepAlive};
use serde_json::Value;
use store::{Event, View};
use tokio::sync::{broadcast, watch};

use crate::{App, app, model};

/// A dashboard as sent: its JSON text.
pub type Frame = Arc<Vec<u8>>;

/// Counters since start, from the committed events.
#[derive(Default)]
struct Counters {
    events: u64,
    bids_accepted: u64,
    bids_rejected: BTreeMap<String, u64>,
    tweets: BTreeMap<String, u64>,
    admin_actions: u64,
}

/// The latest dashboard and its subscribers.
pub struct Live {
    tx: broadcast::Sender<Frame>,
    latest: Mutex<Option<Frame>>,
    counters: Mutex<Counters>,
}

impl Live {
    /// Sends through `tx`.
    pub fn new(tx: broadcast::Sender<Frame>) -> Live {
        Live {
            tx,
            latest: Mutex::new(None),
            counters: Mutex::new(Counters::default()),
        }
    }

    /// The newest dashboard (at most a second old; built now if none yet).
    pub fn current(&self, app: &App) -> Result<Frame, String> {
        if let Some(f) = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(f);
        }
        let f = build(app)?;
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(f.clone());
        Ok(f)
    }

    fn count(&self, records: &[store::EventRecord]) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for r in records {
            c.events += 1;
            match &r.event {
                Event::BidAccepted { .. } => c.bids_accepted += 1,
                Event::BidRejected { bid } => {
                    let code = bid
                        .rejection
                        .as_ref()
                        .map_or("unknown", |r| r.code.as_str());
                    *c.bids_rejected.entry(code.to_string()).or_default() += 1;
                }
                Event::TweetReceived { tweet } => {
                    *c.tweets.entry(tweet.kind.as_str().to_string()).or_default() += 1;
                }
                Event::AdminAction { .. } => c.admin_actions += 1,
                _ => {}
            }
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn build(app: &App) -> Result<Frame, String> {
    let r = app.store.read().map_err(|e| e.to_string())?;
    let d = model::dashboard(&r, &app.backend.status(), now_ms())?;
    serde_json::to_vec(&d)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Follows the log until `stop`: counts, rebuilds the dashboard after every commit (and each
/// second, for the stream's figures) and sends it to the event streams.
pub async fn follow(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut changes = app.backend.changes();
    let mut seq = app
        .store
        .read()
        .ok()
        .and_then(|r| r.head().ok().flatten())
        .map_or(0, |h| h.seq);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let search = tokio::spawn(index(app.clone(), stop.clone()));
    loop {
        tokio::select! {
            r = changes.changed() => if r.is_err() { break },
            _ = tick.tick() => {}
            _ = stop.changed() => if *stop.borrow() { break },
        }
        // Count what was committed since the last pass.
        loop {
            let batch = match app.store.read().and_then(|r| r.events_after(seq, 4096)) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "the admin page cannot read the event log");
                    break;
                }
            };
            let Some(last) = batch.last() else { break };
            seq = last.seq;
            app.live.count(&batch);
        }
        match build(&app) {
            Ok(frame) => {
                *app.live.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(frame.clone());
                // No subscriber is not an error.
                let _ = app.live.tx.send(frame);
            }
            Err(e) => tracing::warn!(error = %e, "cannot build the dashboard"),
        }
    }
    let _ = search.await;
}

/// Feeds the search index: everything missing at start, then what arrives, once a second.
async fn index(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => if *stop.borrow() { return },
        }
        let (search, store) = (app.search.clone(), app.store.clone());
        match tokio::task::spawn_blocking(move || search.catch_up(&store)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the search index cannot keep up"),
            Err(e) => tracing::warn!(error = %e, "the search indexer stopped"),
        }
    }
}

/// The dashboard as server-sent events: the current one at once, then one per change
/// (`event: dashboard`, the same JSON as `GET /api/v1/dashboard`).
#[endpoint(tags("dashboard"))]
pub async fn events(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let rx = app.live.tx.subscribe();
    let first = app.live.current(&app).ok();
    let stream = futures_util::stream::unfold((first, rx), |(first, mut rx)| async move {
        let frame = match first {
            Some(f) => f,
            None => loop {
                match rx.recv().await {
                    Ok(f) => break f,
                    // A slow reader skips to the newest: each frame is the whole dashboard.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
        };
        let text = String::from_utf8_lossy(&frame).into_owned();
        let event = SseEvent::default().name("dashboard").text(text);
        Some((Ok::<_, std::convert::Infallible>(event), (None, rx)))
    });
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    SseKeepAlive::new(stream)
        .max_interval(Duration::from_secs(15))
        .stream(res);
}

/// Liveness: the process answers.
#[handler]
pub async fn healthz(res: &mut Response) {
    res.render(Text::Plain("ok\n"));
}

/// Readiness: the database reads and the dashboard builds.
#[handler]
pub async fn readyz(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.live.current(&app) {
        Ok(_) => res.render(Text::Plain("ready\n")),
        Err(e) => {
            res.status_code(StatusCode::SERVICE_UNAVAILABLE);
            res.render(Text::Plain(format!("not ready: {e}\n")));
        }
    }
}

/// CPU seconds, resident memory and threads of this process (Linux `/proc`).
pub fn process_stats() -> Value {
    let u = crate::process::usage("self").unwrap_or_default();
    serde_json::json!({"cpu_seconds": u.cpu_seconds, "rss_bytes": u.rss_bytes, "threads": u.threads})
}

fn metric_name(path: &str) -> String {
    let mut out = String::from("sothebais_");
    for c in path.chars() {
        out.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        });
    }
    out
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every number (and boolean) in the status as a gauge named after its path; list entries are
/// told apart by their `source`/`name`/`provider` field or their position.
fn gauges(path: &str, labels: &str, v: &Value, out: &mut String) {
    match v {
        Value::Number(n) => {
            let _ = writeln!(out, "{}{labels} {n}", metric_name(path));
        }
        Value::Bool(b) => {
            let _ = writeln!(out, "{}{labels} {}", metric_name(path), u8::from(*b));
        }
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}_{k}")
                };
                gauges(&p, labels, v, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let id = ["source", "name", "provider", "url"]
                    .iter()
                    .find_map(|k| item[*k].as_str())
                    .map_or_else(|| i.to_string(), str::to_string);
                let inner = format!("item=\"{}\"", label(&id));
                let labels = if labels.is_empty() {
                    format!("{{{inner}}}")
                } else {
                    format!("{},{inner}}}", labels.trim_end_matches('}'))
                };
                gauges(path, &labels, item, out);
            }
        }
        _ => {}
    }
}

/// Prometheus text: bids and rejections by reason, tweets by kind, then every figure of the
/// status (engine, stream, X, chain) and the process.
#[handler]
pub async fn metrics(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let mut out = String::new();
    {
        let c = app.live.counters.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# TYPE sothebais_events_total counter\nsothebais_events_total {}",
            c.events
        );
        let _ = writeln!(
            out,
            "# TYPE sothebais_bids_accepted_total counter\nsothebais_bids_accepted_total {}",
            c.bids_accepted
        );
        let _ = writeln!(out, "# TYPE sothebais_bids_rejected_total counter");
        for (reason, n) in &c.bids_rejected {
            let _ = writeln!(
                out,
                "sothebais_bids_rejected_total{{reason=\"{}\"}} {n}",
                label(reason)
            );
        }
        let _ = writeln!(out, "# TYPE sothebais_tweets_total counter");
        for (kind, n) in &c.tweets {
            let _ = writeln!(
                out,
                "sothebais_tweets_total{{kind=\"{}\"}} {n}",
                label(kind)
            );
        }
        let _ = writeln!(
            out,
            "# TYPE sothebais_admin_actions_total counter\nsothebais_admin_actions_total {}",
            c.admin_actions
        );
    }
    let _ = writeln!(out, "sothebais_web_sessions {}", app.sessions.count());
    gauges("", "", &app.backend.status(), &mut out);
    gauges("process", "", &process_stats(), &mut out);
    res.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    let _ = res.write_body(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_becomes_gauges() {
        let mut out = String::new();
        let status = serde_json::json!({
            "stream": {"fps": 30.0, "connected": true, "last_error": "x"},
            "connections": {"x_polls": [{"source": "mentions", "errors": 2}]},
        });
        gauges("", "", &status, &mut out);
        assert!(out.contains("sothebais_stream_fps 30.0\n"), "{out}");
        assert!(out.contains("sothebais_stream_connected 1\n"), "{out}");
        assert!(
            out.contains("sothebais_connections_x_polls_errors{item=\"mentions\"} 2\n"),
            "{out}"
        );
        assert!(!out.contains("last_error"));
        assert!(process_stats()["rss_bytes"].as_u64().unwrap() > 0);
    }
}
