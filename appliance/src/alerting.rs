//! What the operator is told when nobody watches the page: a part going down, degraded or
//! recovering, a chain transaction that failed for good or is held over the cost caps, and a report of each auction when it is
//! settled, handed to the [`alert`] crate's destinations (webhooks, e-mail) within its limits.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alert::{Alert, AlertStats, Alerter, Level, Limits};
use chain::settle::SettleStats;
use chrono::Utc;
use domain::engine::{Committed, EngineHandle};
use domain::report::{Change, PartState};
use store::{AuctionState, Event, Store, View};
use tokio::sync::{Mutex, broadcast, mpsc};

use crate::config::Config;
use crate::supervisor::Supervisor;

/// The alerts part of the status.
pub struct Alerting {
    /// What was sent, held back and failed.
    pub stats: Arc<AlertStats>,
    /// How many destinations are configured.
    pub destinations: usize,
}

/// Starts the alerts task when a destination is configured.
pub fn start(
    config: &Config,
    changes: mpsc::Receiver<Change>,
    sup: &Arc<Supervisor>,
    engine: &EngineHandle,
    store: &Arc<Store>,
    settle: Option<Arc<SettleStats>>,
) -> anyhow::Result<Alerting> {
    let sinks = config.alerts.sinks().map_err(anyhow::Error::msg)?;
    let stats = Arc::new(AlertStats::default());
    let destinations = sinks.len();
    if sinks.is_empty() {
        tracing::info!("no alert destination configured (alerts.webhooks, alerts.email_to)");
        return Ok(Alerting {
            stats,
            destinations,
        });
    }
    for s in &sinks {
        tracing::info!(to = %s, "alerts go to");
    }
    let source = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sothebais".into());
    let ctx = Arc::new(Ctx {
        sinks,
        limits: Limits {
            per_key: Duration::from_secs(config.alerts.min_interval_secs),
            per_hour: config.alerts.max_per_hour,
        },
        source,
        stats: stats.clone(),
        changes: Mutex::new(changes),
        engine: engine.clone(),
        store: store.clone(),
        settle,
        reports: config.alerts.daily_report,
        stop: sup.stop_signal(),
    });
    sup.spawn("alerts", move || ctx.clone().run());
    Ok(Alerting {
        stats,
        destinations,
    })
}

struct Ctx {
    sinks: Vec<alert::Sink>,
    limits: Limits,
    source: String,
    stats: Arc<AlertStats>,
    changes: Mutex<mpsc::Receiver<Change>>,
    engine: EngineHandle,
    store: Arc<Store>,
    settle: Option<Arc<SettleStats>>,
    reports: bool,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Ctx {
    async fn run(self: Arc<Self>) {
        let mut changes = self.changes.lock().await;
        let mut committed = self.engine.subscribe();
        let (tx, rx) = mpsc::channel(256);
        let alerter = Alerter {
            sinks: self.sinks.clone(),
            limits: self.limits,
            source: self.source.clone(),
            stats: self.stats.clone(),
        };
        let deliver = tokio::spawn(alerter.run(rx, self.stop.clone()));
        let count = |f: fn(&SettleStats) -> u64| self.settle.as_deref().map_or(0, f);
        let failed_tx = |s: &SettleStats| s.failed.load(Ordering::Relaxed);
        let held_tx = |s: &SettleStats| s.held.load(Ordering::Relaxed);
        let mut failed_seen = count(failed_tx);
        let mut held_seen = count(held_tx);
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut stop = self.stop.clone();
        loop {
            let alert = tokio::select! {
                c = changes.recv() => match c {
                    Some(c) => Some(part_alert(&c)),
                    None => break,
                },
                b = committed.recv() => match b {
                    Ok(batch) if self.reports => self.report(&batch),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    let failed = count(failed_tx);
                    let held = count(held_tx);
                    let why = || self.settle.as_ref().map(|s| s.last_error.get()).unwrap_or_default();
                    if held > held_seen {
                        held_seen = held;
                        Some(Alert {
                            key: "chain.held".into(),
                            level: Level::Critical,
                            title: "A chain transaction is held: it would cost more than the caps".into(),
                            text: format!("{}\n\nWhat to do: nothing was sent. Approve it on the Outbox page once fees fall, or raise chain.max_gas / chain.max_fee_per_gas_wei if the cost is right.", why()),
                            at: Utc::now(),
                        })
                    } else if failed > failed_seen {
                        failed_seen = failed;
                        let why = why();
                        Some(Alert {
                            key: "chain.transaction".into(),
                            level: Level::Critical,
                            title: "A chain transaction failed".into(),
                            text: format!("{why}\n\nWhat to do: the Outbox page shows the transaction; a failed settlement can be retried from the auction's page once the cause is fixed (gas, custody)."),
                            at: Utc::now(),
                        })
                    } else {
                        None
                    }
                }
                _ = stop.wait_for(|s| *s) => break,
            };
            if let Some(a) = alert {
                let _ = tx.send(a).await;
            }
        }
        drop(tx);
        let _ = deliver.await;
        // A stop is a normal end; any other end (the channels closed) waits for the stop so
        // the supervisor does not restart a task with nothing left to read.
        let _ = stop.wait_for(|s| *s).await;
    }

    /// A report of each auction settled in `batch`.
    fn report(&self, batch: &Committed) -> Option<Alert> {
        let auction = batch.iter().find_map(|r| match &r.event {
            Event::AuctionSettled { auction, .. } => Some(*auction),
            _ => None,
        })?;
        let r = self.store.read().ok()?;
        let a = r.auction(auction).ok()??;
        let item = r.item(a.item).ok()?.map(|i| i.name).unwrap_or_default();
        let campaign = r.campaign(a.campaign).ok()?;
        let (name, days) = campaign.map_or((String::new(), 0), |c| (c.name, c.days));
        let result = match a.leader {
            Some(u) if a.state == AuctionState::Completed => {
                let who = r
                    .user(u)
                    .ok()
                    .flatten()
                    .map_or_else(|| u.to_string(), |u| format!("@{}", u.handle));
                format!("Sold to {who} for {}.", a.price)
            }
            _ => "Not sold.".into(),
        };
        Some(Alert {
            key: format!("report.{}", a.id.0),
            level: Level::Info,
            title: format!("Day {} of {days}: {item}", a.day),
            text: format!(
                "{name}, day {} of {days}: {item}. {result}\nBids accepted {}, refused {}, extensions {}.",
                a.day, a.bids_accepted, a.bids_rejected, a.extensions
            ),
            at: Utc::now(),
        })
    }
}

/// The alert for a part's change.
fn part_alert(c: &Change) -> Alert {
    let p = &c.now;
    let (level, title) = match p.state {
        PartState::Down => (Level::Critical, format!("{} is down", p.part)),
        PartState::Degraded => (Level::Warning, format!("{} is degraded", p.part)),
        PartState::Ok => (
            Level::Info,
            format!("{} recovered (was {})", p.part, c.was.as_str()),
        ),
    };
    let mut text = String::new();
    if !p.why.is_empty() {
        text.push_str(&p.why);
        text.push('\n');
    }
    text.push_str(&format!("Since {}.", p.since.to_rfc3339()));
    if !p.action.is_empty() {
        text.push_str(&format!("\n\nWhat to do: {}", p.action));
    }
    Alert {
        key: format!("part.{}", p.part),
        level,
        title,
        text,
        at: Utc::now(),
    }
}
