//! The appliance's health: what each connection reports (counters, last failures, heartbeats),
//! and each part judged ok, degraded or down from its heartbeat, its task's record and a write
//! through the engine. The judgement feeds `/readyz`, the System page's cards, the dashboard's
//! alerts, `/metrics` and the outgoing alerts.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use control::HealthReport;

use chain::deposits::DepositStats;
use chain::reconcile::EscrowStats;
use chain::rpc::Rpc;
use chain::settle::SettleStats;
use domain::engine::{Command, EngineHandle};
use domain::report::{Change, Heartbeat, PartState, PartStatus, Readiness, judge};
use x::deliver::DeliveryStats;
use x::poll::PollStats;

use crate::alerting::Alerting;
use crate::backups::BackupStatus;
use crate::streaming::StreamControl;
use crate::supervisor::Supervisor;

/// What the chain's tasks report.
pub struct ChainHealth {
    /// The deposit watcher (and the connection before it).
    pub deposits: Arc<DepositStats>,
    /// The chain deliverer.
    pub settle: Arc<SettleStats>,
    /// The RPC providers.
    pub rpc: Arc<Rpc>,
    /// The custody (escrow) wallet.
    pub custody: String,
    /// The custody checks.
    pub custody_beat: Arc<Heartbeat>,
    /// How often the deposit watcher reads the chain.
    pub poll: Duration,
    /// How often custody is checked.
    pub custody_every: Duration,
    /// The escrow reconciliation.
    pub escrow: Arc<EscrowStats>,
    /// How often it runs.
    pub reconcile_every: Duration,
}

/// What the connections report.
#[derive(Default)]
pub struct Health {
    /// X pollers, by source, with the interval they poll at.
    pub polls: Vec<(&'static str, Arc<PollStats>, Duration)>,
    /// Whether X is connected (else tweets are only logged).
    pub x_enabled: bool,
    /// The tweet deliverer.
    pub tweets: Arc<DeliveryStats>,
    /// What X costs.
    pub spend: Option<Arc<x::spend::Spend>>,
    /// The chain, when enabled.
    pub chain: Option<ChainHealth>,
    /// Scheduled backups, when they are on, with their interval.
    pub backups: Option<(Arc<BackupStatus>, Duration)>,
    /// The AI host's counters, when it is on.
    pub host: Option<Arc<crate::hosting::HostStats>>,
}

impl Health {
    /// A snapshot of the counters.
    pub fn report(&self) -> HealthReport {
        let x_polls = self
            .polls
            .iter()
            .map(|(name, s, _)| {
                serde_json::json!({
                    "source": name,
                    "polls": s.polls.load(Ordering::Relaxed),
                    "tweets": s.tweets.load(Ordering::Relaxed),
                    "errors": s.errors.load(Ordering::Relaxed),
                    "last_error": s.last_error.get(),
                })
            })
            .collect();
        let t = &self.tweets;
        let tweets = serde_json::json!({
            "posted": t.posted.load(Ordering::Relaxed),
            "skipped": t.skipped.load(Ordering::Relaxed),
            "failed": t.failed.load(Ordering::Relaxed),
            "last_error": t.last_error.get(),
            "spend": self.spend.as_ref().map(|s| {
                let f = s.figures();
                let usd = |micro: u64| (micro as f64 / 1e4).round() / 100.0;
                serde_json::json!({
                    "today_usd": usd(f.today),
                    "month_usd": usd(f.month),
                    "campaign_usd": usd(f.campaign),
                    "budget_usd": usd(f.budget),
                    "level": match s.level() {
                        x::spend::Level::Fine => "fine",
                        x::spend::Level::Warning => "warning",
                        x::spend::Level::Spent => "spent",
                    },
                    "month_reads": f.month_usage.reads,
                    "month_posts": f.month_usage.posts + f.month_usage.posts_with_url,
                })
            }),
        });
        let chain = self.chain.as_ref().map(|c| {
            let (d, s, rpc) = (&c.deposits, &c.settle, &c.rpc);
            let pending: Vec<serde_json::Value> = d
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|p| {
                    serde_json::json!({"tx": p.tx.to_string(), "from": p.from.to_string(),
                        "amount_wei": p.amount.to_string(), "block": p.block})
                })
                .collect();
            serde_json::json!({
                "custody_wallet": c.custody,
                "provider": rpc.current_provider(),
                "rpc_failovers": rpc.stats.failovers.load(Ordering::Relaxed),
                "rpc_last_error": rpc.stats.last_error.get(),
                "head": d.head.load(Ordering::Relaxed),
                "confirmed_through": d.confirmed_through.load(Ordering::Relaxed),
                "pending_deposits": pending,
                "deposits_recorded": d.recorded.load(Ordering::Relaxed),
                "deposits_reverted": d.reverted.load(Ordering::Relaxed),
                "deposit_last_error": d.last_error.get(),
                "tx_signed": s.signed.load(Ordering::Relaxed),
                "tx_confirmed": s.confirmed.load(Ordering::Relaxed),
                "tx_failed": s.failed.load(Ordering::Relaxed),
                "tx_last_error": s.last_error.get(),
                "tx_held": s.held.load(Ordering::Relaxed),
                "tx_replaced": s.replaced.load(Ordering::Relaxed),
                "escrow": c.escrow.reading().map(|r| serde_json::json!({
                    "balance_wei": r.balance.0.to_string(),
                    "owed_wei": r.liability.owed().0.to_string(),
                    "deposits_wei": r.liability.deposits.0.to_string(),
                    "paid_out_wei": r.liability.paid_out.0.to_string(),
                    "in_flight_wei": r.liability.in_flight.0.to_string(),
                    "shortfall_wei": r.shortfall().0.to_string(),
                })),
            })
        });
        HealthReport {
            x_polls,
            tweets,
            chain,
            backups: self.backups.as_ref().map(|(b, _)| b.report()),
            parts: Vec::new(),
        }
    }
}

/// How long a write through the engine may take before the engine counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A probe younger than this is reused.
const PROBE_FRESH: Duration = Duration::from_secs(2);
/// Frames must have been encoded this recently for the stream to count as flowing.
const FRAMES_STALL: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Memory {
    probe: Option<(Instant, Result<(), String>)>,
    frames: Option<(u64, Instant)>,
    since: HashMap<String, (PartState, DateTime<Utc>)>,
    latest: Option<Readiness>,
}

/// Judges the appliance's parts.
pub struct Parts {
    engine: EngineHandle,
    health: Arc<Health>,
    stream: Arc<StreamControl>,
    sup: Arc<Supervisor>,
    alerts: Arc<Alerting>,
    memory: Mutex<Memory>,
    probe_lock: tokio::sync::Mutex<()>,
}

impl Parts {
    /// Judges what these report.
    pub fn new(
        engine: EngineHandle,
        health: Arc<Health>,
        stream: Arc<StreamControl>,
        sup: Arc<Supervisor>,
        alerts: Arc<Alerting>,
    ) -> Arc<Parts> {
        Arc::new(Parts {
            engine,
            health,
            stream,
            sup,
            alerts,
            memory: Mutex::new(Memory::default()),
            probe_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connections' counters.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Where alerts go and what was sent.
    pub fn alerts(&self) -> &Arc<Alerting> {
        &self.alerts
    }

    /// The supervisor whose tasks are judged.
    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.sup
    }

    /// Writes a state row through the engine (proving it accepts commands and the store takes
    /// durable writes), unless one was written in the last two seconds.
    async fn probe(&self) -> Result<(), String> {
        let _one = self.probe_lock.lock().await;
        if let Some((at, r)) = &self.memory().probe
            && at.elapsed() < PROBE_FRESH
        {
            return r.clone();
        }
        let write = self.engine.execute(Command::SaveState {
            key: "health.probe".into(),
            value: Utc::now().timestamp().to_string(),
        });
        let r = match tokio::time::timeout(PROBE_TIMEOUT, write).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("a write through the engine failed: {e}")),
            Err(_) => Err(format!(
                "a write through the engine took longer than {} s",
                PROBE_TIMEOUT.as_secs()
            )),
        };
        self.memory().probe = Some((Instant::now(), r.clone()));
        r
    }

    /// Whether the engine takes a durable write now (the watchdog's question); a write in the
    /// last two seconds answers for it.
    pub async fn engine_alive(&self) -> Result<(), String> {
        self.probe().await
    }

    /// Judges every part now (writing through the engine first), remembering since when each
    /// is in its state.
    pub async fn check(&self) -> Readiness {
        let probe = self.probe().await;
        let mut parts = vec![part(
            "engine",
            match &probe {
                Ok(()) => (PartState::Ok, String::new()),
                Err(e) => (PartState::Down, e.clone()),
            },
            "Nothing can be decided or written. The appliance exits and is restarted when the \
             engine dies; if writes keep failing, check the disk (free space, errors in the \
             kernel log).",
        )];
        parts.extend(self.stream_part());
        if let Some(h) = &self.health.host {
            parts.push(part(
                "host",
                h.degraded().map_or((PartState::Ok, String::new()), |why| {
                    (PartState::Degraded, why)
                }),
                "The auction goes on. Without a voice, install flite (apt-get install flite) or \
                 fix the character's [voice]; a model that fails or is slow is replaced by \
                 templates: check host.llm_url and its server.",
            ));
        }
        parts.extend(self.connection_parts());
        // A supervised task waiting to be restarted is down, whatever its part says.
        let records = self.sup.records();
        for p in &mut parts {
            if let Some(rec) = records.iter().find(|r| r.name == p.part) {
                p.restarts = rec.restarts();
                p.last_failure = rec.last_failure().map(|(_, w)| w).unwrap_or_default();
                if !rec.running() {
                    p.state = PartState::Down;
                    p.why = format!("its task failed ({}); restarting it", p.last_failure);
                }
            }
        }
        for rec in &records {
            if !rec.running() && !parts.iter().any(|p| p.part == rec.name) {
                let failure = rec.last_failure().map(|(_, w)| w).unwrap_or_default();
                let mut p = part(
                    &rec.name,
                    (
                        PartState::Down,
                        format!("its task failed ({failure}); restarting it"),
                    ),
                    "The appliance restarts it on its own; if it keeps failing, read the log.",
                );
                p.restarts = rec.restarts();
                p.last_failure = failure;
                parts.push(p);
            }
        }
        let now = Utc::now();
        let mut m = self.memory();
        for p in &mut parts {
            match m.since.get(&p.part) {
                Some((state, since)) if *state == p.state => p.since = *since,
                _ => {
                    p.since = now;
                    m.since.insert(p.part.clone(), (p.state, now));
                }
            }
            if p.state == PartState::Ok {
                p.action.clear();
            }
        }
        let readiness = Readiness::of(parts);
        m.latest = Some(readiness.clone());
        readiness
    }

    /// The connections' counters with each part's last judgement: the status answer.
    pub fn report(&self) -> HealthReport {
        let mut report = self.health.report();
        report.parts = self.latest().parts;
        report
    }

    /// The last judgement (empty before the first).
    pub fn latest(&self) -> Readiness {
        self.memory()
            .latest
            .clone()
            .unwrap_or_else(|| Readiness::of(Vec::new()))
    }

    fn stream_part(&self) -> Option<PartStatus> {
        let action = "The stream reconnects on its own. Check stream.url and the stream key, \
                      the box's uplink, and that the ingest accepts the stream; stop and start \
                      it on the Stream page if it does not recover.";
        let f = self.stream.figures()?;
        let now = Instant::now();
        let flowing = {
            let mut m = self.memory();
            let fresh = match m.frames {
                Some((n, _)) if n != f.frames => true,
                Some((_, at)) => now.duration_since(at) < FRAMES_STALL,
                None => true,
            };
            if !matches!(m.frames, Some((n, _)) if n == f.frames) {
                m.frames = Some((f.frames, now));
            }
            fresh
        };
        let judged = if self.stream.finished() {
            (
                PartState::Down,
                format!("the stream ended: {}", f.last_error),
            )
        } else if !flowing {
            (
                PartState::Down,
                format!("no frame encoded for {} s", FRAMES_STALL.as_secs()),
            )
        } else if let Some(why) = &f.standby {
            (
                PartState::Degraded,
                format!("the standby picture is on air: {why}"),
            )
        } else if self.stream.publishing() && !f.connected {
            let why = if f.last_error.is_empty() {
                "not connected to the ingest yet".to_string()
            } else {
                format!("not reaching the ingest: {}", f.last_error)
            };
            (PartState::Degraded, why)
        } else {
            (PartState::Ok, String::new())
        };
        Some(part("stream", judged, action))
    }

    fn connection_parts(&self) -> Vec<PartStatus> {
        let h = &self.health;
        let mut out = Vec::new();
        let down_after = |every: Duration| (every * 10).max(Duration::from_secs(600));
        for (name, stats, every) in &h.polls {
            out.push(part(
                &format!("x.{name}"),
                judge(&stats.beat.pulse(), *every, down_after(*every)),
                "Bids are not being read. Check the X credentials and the account's access on \
                 the Settings page, and X's status; reads resume on their own.",
            ));
        }
        if h.x_enabled {
            out.push(part(
                "x.tweets",
                judge(
                    &h.tweets.beat.pulse(),
                    Duration::from_secs(1),
                    Duration::from_secs(600),
                ),
                "Replies and announcements are waiting. Check the X credentials (write access) \
                 and the Tweets on the Outbox page.",
            ));
        }
        if let Some(c) = &h.chain {
            out.push(part(
                "chain.deposits",
                judge(&c.deposits.beat.pulse(), c.poll, down_after(c.poll)),
                "Deposits are not being credited. Check chain.rpc_urls (the providers answer, \
                 serve chain.chain_id) on the Settings page.",
            ));
            out.push(part(
                "chain.custody",
                judge(
                    &c.custody_beat.pulse(),
                    c.custody_every,
                    down_after(c.custody_every),
                ),
                "Token custody cannot be confirmed, so auctions of unconfirmed tokens do not \
                 start. Check the RPC providers.",
            ));
            out.push(part(
                "chain.settle",
                judge(
                    &c.settle.beat.pulse(),
                    Duration::from_secs(2),
                    Duration::from_secs(600),
                ),
                "Settlements and refunds are waiting. Check the providers and the custody \
                 wallet's ETH for gas; the Outbox page shows each transaction.",
            ));
            let mut escrow = judge(
                &c.escrow.beat.pulse(),
                c.reconcile_every,
                down_after(c.reconcile_every),
            );
            if let Some(r) = c.escrow.reading()
                && r.shortfall() > store::Wei::ZERO
                && escrow.0 == PartState::Ok
            {
                escrow = (
                    PartState::Degraded,
                    format!(
                        "the custody wallet holds {} but the ledger owes {}: {} short",
                        r.balance,
                        r.liability.owed(),
                        r.shortfall()
                    ),
                );
            }
            out.push(part(
                "chain.escrow",
                escrow,
                "The custody wallet must hold every bidder's escrow. Send ETH to it to cover the \
                 shortfall (and gas), then find out where it went: the Outbox page lists every \
                 payout, and a key used elsewhere would explain it.",
            ));
        }
        if let Some((b, every)) = &h.backups {
            out.push(part(
                "backups",
                judge(&b.beat.pulse(), *every, *every * 6),
                "Backups are not being written. Check the backup directory (backup.dir): free \
                 space and permissions.",
            ));
        }
        out
    }
}

fn part(name: &str, (state, why): (PartState, String), action: &str) -> PartStatus {
    PartStatus {
        part: name.to_string(),
        state,
        since: Utc::now(),
        why,
        action: action.to_string(),
        restarts: 0,
        last_failure: String::new(),
    }
}

/// Judges the parts every `every` until `stop`, logging each change and handing it to `changes`.
pub async fn watch(
    parts: Arc<Parts>,
    every: Duration,
    changes: tokio::sync::mpsc::Sender<Change>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // The states last announced: a part first seen ok is not news.
    let mut announced: HashMap<String, PartState> = HashMap::new();
    loop {
        let readiness = parts.check().await;
        let mut changed = Vec::new();
        for p in readiness.parts {
            let was = announced
                .insert(p.part.clone(), p.state)
                .unwrap_or(PartState::Ok);
            if was != p.state {
                changed.push(Change { now: p, was });
            }
        }
        for c in changed {
            let p = &c.now;
            match p.state {
                PartState::Ok => {
                    tracing::info!(part = %p.part, was = c.was.as_str(), "part recovered")
                }
                PartState::Degraded => {
                    tracing::warn!(part = %p.part, why = %p.why, "part degraded")
                }
                PartState::Down => tracing::error!(part = %p.part, why = %p.why, "part down"),
            }
            let _ = changes.try_send(c);
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}
