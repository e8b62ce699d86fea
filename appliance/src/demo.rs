//! The embedded demo: a campaign that needs no credentials, and `appliance demo`, which runs one
//! on an accelerated clock and reports each day.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use store::{AuctionState, Audit, Event, Store, Timestamp, View};
use tokio::sync::watch;

use crate::config::SimulationConfig;
use crate::sim::{self, SimStats};
use domain::clock::{SharedClock, SimClock};
use domain::demo::{DEMO_ZONE, daily_spec};
use domain::engine::{Command, Engine, EngineConfig};
use domain::schedule::{self, DayWindows};

/// What `appliance demo` takes.
#[derive(Clone, Debug)]
pub struct DemoArgs {
    /// Days to run.
    pub days: u32,
    /// Clock speed factor.
    pub speed: f64,
    /// Data directory (a fresh temporary one if none).
    pub data: Option<PathBuf>,
    /// Simulated bidders.
    pub bidders: u32,
    /// Seed (0: random).
    pub seed: u64,
}

/// One finished day.
#[derive(Clone, Debug)]
pub struct DayResult {
    /// Day number.
    pub day: u32,
    /// Final state.
    pub state: AuctionState,
    /// Winner's handle.
    pub winner: Option<String>,
    /// Final price.
    pub price: store::Wei,
    /// Bids accepted.
    pub accepted: u32,
    /// Bids refused by the engine.
    pub rejected: u32,
}

/// Runs the demo, writing one line per day to `out`. Returns the days and whether the
/// integrity check passed at the end.
pub async fn run(
    args: DemoArgs,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<(Vec<DayResult>, bool)> {
    if args.days == 0 || args.days > 366 {
        bail!("--days must be 1 to 366");
    }
    if !(args.speed.is_finite() && args.speed >= 1.0 && args.speed <= 1_000_000.0) {
        bail!("--speed must be 1 to 1000000");
    }
    let tmp;
    let dir = match &args.data {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("sothebais-demo-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join(store::DB_FILE);
    if db.exists() {
        bail!(
            "{} already holds a database; the demo needs a fresh data dir",
            dir.display()
        );
    }
    let store = Arc::new(Store::open(&db)?);
    let tz = schedule::parse_zone(DEMO_ZONE)?;
    let today = schedule::local_date(Timestamp::from_datetime(chrono::Utc::now()), tz);
    let spec = daily_spec(today, args.days);
    let days: Vec<DayWindows> = schedule::plan_days(today, args.days, &spec.windows, tz)?;
    let sim_clock = Arc::new(SimClock::new(days[0].starts_at.plus_secs(-600), args.speed));
    let clock: SharedClock = sim_clock.clone();
    let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default())?;
    let h = engine.handle();
    let mut events = h.subscribe();
    h.execute(Command::CreateCampaign {
        spec: Box::new(spec),
        audit: Audit {
            actor: "demo".into(),
            origin: "appliance demo".into(),
            reason: "demo campaign".into(),
        },
    })
    .await?;
    writeln!(
        out,
        "Demo: {} day(s) from {today} ({DEMO_ZONE}), {} simulated bidders, clock x{}, data in {}",
        args.days,
        args.bidders,
        args.speed,
        if args.data.is_some() {
            dir.display().to_string()
        } else {
            "a temporary directory (removed at exit)".into()
        }
    )?;
    let sim_config = SimulationConfig {
        enabled: true,
        bidders: args.bidders,
        seed: args.seed,
        think_secs: 0,
        demo_campaign: false,
    };
    let bidders = sim::enroll(&h, &store, &clock, &sim_config).await?;
    let stats = Arc::new(SimStats::default());
    let (stop, stopped) = watch::channel(false);
    let sup = crate::supervisor::Supervisor::new(stopped);
    sim::spawn(
        bidders,
        h.clone(),
        store.clone(),
        clock.clone(),
        0,
        stats.clone(),
        &sup,
    );

    // A day lasts at most a real day divided by the speed; allow that twice over, plus slack.
    let patience = Duration::from_secs_f64(2.0 * 86_400.0 / args.speed + 30.0);
    let mut reported = BTreeSet::new();
    let mut results = Vec::new();
    let mut malformed_before = 0;
    while results.len() < args.days as usize {
        match tokio::time::timeout(patience, events.recv()).await {
            Err(_) => bail!("no progress for {patience:?}; the demo is stuck"),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                bail!("the engine stopped")
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Ok(batch)) => {
                if !batch.iter().any(|e| {
                    matches!(
                        e.event,
                        Event::AuctionSettled { .. } | Event::AuctionCancelled { .. }
                    )
                }) {
                    continue;
                }
            }
        }
        let r = store.read()?;
        let mut finished: Vec<_> = r
            .auctions()?
            .into_iter()
            .filter(|a| a.state.is_final() && !reported.contains(&a.id))
            .collect();
        finished.sort_by_key(|a| a.day);
        for a in finished {
            reported.insert(a.id);
            let item = r.item(a.item)?.map(|i| i.name).unwrap_or_default();
            let winner = match a.leader {
                Some(u) if a.state == AuctionState::Completed => r.user(u)?.map(|u| u.handle),
                _ => None,
            };
            let malformed = stats.malformed.load(Ordering::Relaxed);
            let outcome = match &winner {
                Some(h) => format!("sold to @{h} for {}", a.price),
                None if a.state == AuctionState::Cancelled => "cancelled".to_string(),
                None => format!("unsold (reserve {})", a.rules.reserve),
            };
            writeln!(
                out,
                "Day {:>3}  {}  {:<12} {:<44} bids: {} accepted, {} rejected, {} malformed{}",
                a.day,
                days[(a.day - 1) as usize].date,
                item,
                outcome,
                a.bids_accepted,
                a.bids_rejected,
                malformed - malformed_before,
                if a.extensions > 0 {
                    format!(", {} extension(s)", a.extensions)
                } else {
                    String::new()
                }
            )?;
            malformed_before = malformed;
            results.push(DayResult {
                day: a.day,
                state: a.state,
                winner,
                price: a.price,
                accepted: a.bids_accepted,
                rejected: a.bids_rejected,
            });
            // Skip the idle hours until ten minutes before the next auction opens.
            if let Some(next) = days.get(a.day as usize) {
                sim_clock.jump_to(next.starts_at.plus_secs(-600));
            }
        }
    }
    let _ = stop.send(true);
    sup.join().await;
    engine.shutdown().await;
    let report = store::check::run(&store)?;
    writeln!(
        out,
        "Integrity check: {} ({} events, head {})",
        if report.ok() { "ok" } else { "FAILED" },
        report.events,
        report
            .head
            .map_or_else(String::new, |h| hex::encode(h.hash))
    )?;
    for p in &report.problems {
        writeln!(out, "  problem: {p}")?;
    }
    Ok((results, report.ok()))
}
