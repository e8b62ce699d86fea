//! Tells the operator about trouble when nobody watches the page: outgoing webhooks (plain JSON,
//! Slack, Discord, ntfy) and e-mail (SMTP with STARTTLS or implicit TLS), rate-limited so that a
//! flapping part does not flood anyone. Knows nothing of the auction: it is handed [`Alert`]s.

mod limit;
mod sinks;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::report::LastError;
use domain::retry::Backoff;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

pub use limit::{Limiter, Limits};
pub use sinks::{Format, Sink, Smtp, SmtpTls, Webhook};

/// How serious an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// For the record (a daily report, a recovery).
    Info,
    /// Look at it soon.
    Warning,
    /// Something is down or money is at stake.
    Critical,
}

impl Level {
    /// `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
}

/// One thing to tell the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// What it is about (`part.stream`, `settlement`, `report.day-3`): the rate limit is per key.
    pub key: String,
    /// How serious.
    pub level: Level,
    /// One line.
    pub title: String,
    /// The details: why, since when, what to do.
    pub text: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// What the alerter did since start.
#[derive(Debug, Default)]
pub struct AlertStats {
    /// Alerts delivered to at least one destination.
    pub sent: AtomicU64,
    /// Alerts held back by the rate limit (their latest is sent when the window passes).
    pub suppressed: AtomicU64,
    /// Deliveries that failed after their retries.
    pub failed: AtomicU64,
    /// The last delivery failure.
    pub last_error: LastError,
}

/// Delivers alerts to every destination, within the limits.
pub struct Alerter {
    /// Where alerts go.
    pub sinks: Vec<Sink>,
    /// The rate limits.
    pub limits: Limits,
    /// The appliance's name in every message (the box's host name).
    pub source: String,
    /// Counters for the status.
    pub stats: Arc<AlertStats>,
}

/// Tries per destination before a delivery counts as failed.
const TRIES: u32 = 3;

impl Alerter {
    /// Sends what arrives on `alerts` until `stop` (or until every sender is gone), holding back
    /// what the limits refuse and sending the latest held alert of a key once its window passes.
    pub async fn run(self, mut alerts: mpsc::Receiver<Alert>, mut stop: watch::Receiver<bool>) {
        let client = match egress::client(Duration::from_secs(15)) {
            Ok(c) => c,
            Err(e) => {
                self.stats.last_error.set(e.clone());
                tracing::error!(error = %e, "alerts cannot be sent");
                return;
            }
        };
        let mut limiter = Limiter::new(self.limits);
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            let due = tokio::select! {
                a = alerts.recv() => match a {
                    Some(a) => match limiter.admit(a, Instant::now()) {
                        Some(a) => vec![a],
                        None => {
                            self.stats.suppressed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    },
                    None => return,
                },
                _ = tick.tick() => limiter.due(Instant::now()),
                _ = stop.changed() => return,
            };
            for a in due {
                self.deliver(&client, &a).await;
            }
        }
    }

    /// Sends `alert` to every destination, retrying each a few times.
    pub async fn deliver(&self, client: &reqwest::Client, alert: &Alert) {
        let mut any = false;
        for sink in &self.sinks {
            let mut tries = 0;
            loop {
                tries += 1;
                match sink.send(client, alert, &self.source).await {
                    Ok(()) => {
                        any = true;
                        break;
                    }
                    Err(e) if tries < TRIES => {
                        tracing::debug!(to = %sink, error = %e, "alert delivery failed; retrying");
                        tokio::time::sleep(
                            Backoff::new(Duration::from_millis(500), Duration::from_secs(5))
                                .delay(tries),
                        )
                        .await;
                    }
                    Err(e) => {
                        self.stats.failed.fetch_add(1, Ordering::Relaxed);
                        let line = format!("{sink}: {e}");
                        tracing::warn!(to = %sink, error = %e, key = %alert.key, "alert not delivered");
                        self.stats.last_error.set(line);
                        break;
                    }
                }
            }
        }
        if any {
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(key = %alert.key, level = alert.level.as_str(), title = %alert.title, "alert sent");
        }
    }
}
