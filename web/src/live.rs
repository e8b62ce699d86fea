//! The live side: a task that follows the event log (counting for `/metrics`, rebuilding the
//! dashboard and sending it to every open event stream), a task that feeds the search index, the
//! server-sent events endpoint, and the three unauthenticated probes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use salvo::http::HeaderValue;
use salvo::oapi::endpoint;
use salvo::prelude::*;
use salvo::sse::{SseEvent, SseKeepAlive};
use serde_json::Value;
use store::View;
use tokio::sync::{broadcast, watch};

use crate::{App, app, model};

/// A dashboard as sent: its JSON text.
pub type Frame = Arc<Vec<u8>>;

/// The latest dashboard and its subscribers.
pub struct Live {
    tx: broadcast::Sender<Frame>,
    latest: Mutex<Option<Frame>>,
}

impl Live {
    /// Sends through `tx`.
    pub fn new(tx: broadcast::Sender<Frame>) -> Live {
        Live {
            tx,
            latest: Mutex::new(None),
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
            app.metrics.count(&batch);
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

/// Readiness: the engine takes a durable write, the store reads, and every enabled part is alive
/// and recent. `200` with `{"state":"ok"}` only when every part is ok; `503` otherwise, the body
/// naming each part's state, since when and why.
#[handler]
pub async fn readyz(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let mut readiness = app.backend.readiness().await;
    if let Err(e) = app.live.current(&app) {
        readiness.parts.push(domain::report::PartStatus {
            part: "store".into(),
            state: domain::report::PartState::Down,
            since: chrono::Utc::now(),
            why: format!("the database cannot be read: {e}"),
            action: "Check the disk and the log; `appliance check` verifies the database.".into(),
            restarts: 0,
            last_failure: String::new(),
        });
        readiness = domain::report::Readiness::of(readiness.parts);
    }
    if readiness.state != domain::report::PartState::Ok {
        res.status_code(StatusCode::SERVICE_UNAVAILABLE);
    }
    res.render(Json(readiness));
}

/// CPU seconds, resident memory and threads of this process (Linux `/proc`).
pub fn process_stats() -> Value {
    let u = crate::process::usage("self").unwrap_or_default();
    serde_json::json!({"cpu_seconds": u.cpu_seconds, "rss_bytes": u.rss_bytes, "threads": u.threads})
}

/// OpenMetrics text: the names are listed in the README ([`crate::metrics`]).
#[handler]
pub async fn metrics(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.metrics.encode(app.sessions.count()) {
        Ok(text) => {
            res.headers_mut().insert(
                "content-type",
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            let _ = res.write_body(text);
        }
        Err(e) => {
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            res.render(Text::Plain(format!("metrics could not be encoded: {e}\n")));
        }
    }
}
