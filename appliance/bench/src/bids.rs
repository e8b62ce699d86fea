//! `appliance bench bids`: durable bid throughput and acknowledgement latency.
//!
//! Each run uses a fresh database file in the given directory (on the disk being measured: a
//! tmpfs directory would measure memory, not durability), a live auction, and `submitters`
//! concurrent bidders each sending its next bid as soon as the previous one is acknowledged.
//! Every bid is acknowledged only after its transaction is on disk; the count in the database
//! is checked against the count acknowledged.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use store::{
    Address, AuctionRules, Audit, BidSource, IdTable, Store, Timestamp, UserId, View, Wei,
};

use domain::clock::{SharedClock, SystemClock};
use domain::demo;
use domain::engine::{Command, Engine, EngineConfig, Reply};

/// One measured configuration.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// What was measured.
    pub store: String,
    /// Concurrent submitters.
    pub submitters: usize,
    /// Bids acknowledged (accepted or refused, all durable).
    pub bids: u64,
    /// Of which accepted.
    pub accepted: u64,
    /// Seconds measured.
    pub seconds: f64,
    /// Acknowledged bids per second.
    pub per_sec: f64,
    /// Median acknowledgement latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// Worst, microseconds.
    pub max_us: u64,
    /// Commands per durable transaction, on average.
    pub per_commit: f64,
}

/// Summarises latencies (microseconds).
pub fn summarize(
    store: &str,
    submitters: usize,
    mut latencies: Vec<u64>,
    accepted: u64,
    elapsed: Duration,
    commits: u64,
) -> BenchResult {
    latencies.sort_unstable();
    let pick = |q: f64| -> u64 {
        if latencies.is_empty() {
            0
        } else {
            latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
        }
    };
    let bids = latencies.len() as u64;
    BenchResult {
        store: store.to_string(),
        submitters,
        bids,
        accepted,
        seconds: elapsed.as_secs_f64(),
        per_sec: bids as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_us: pick(0.50),
        p99_us: pick(0.99),
        max_us: latencies.last().copied().unwrap_or(0),
        per_commit: if commits == 0 {
            0.0
        } else {
            bids as f64 / commits as f64
        },
    }
}

/// What one submitter measured: its latencies (microseconds) and how many bids were accepted.
pub type Measured<E> = Result<(Vec<u64>, u64), E>;

/// Waits for submitter tasks; returns every latency and the number of accepted bids.
pub async fn gather<E>(
    tasks: Vec<tokio::task::JoinHandle<Measured<E>>>,
) -> anyhow::Result<(Vec<u64>, u64)>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for t in tasks {
        let (l, a) = t.await??;
        latencies.extend(l);
        accepted += a;
    }
    Ok((latencies, accepted))
}

/// Rules that let every higher bid through, so the benchmark measures the store and the engine
/// rather than refusals (refusals are durable too, and counted).
pub fn bench_rules() -> AuctionRules {
    AuctionRules {
        reserve: Wei(1),
        min_increment: Wei(1),
        min_increment_bps: 0,
        extension_secs: 0,
        rate_limit_bids: 0,
        rate_limit_window_secs: 60,
        min_account_age_days: 0,
    }
}

/// Measures `submitters` concurrent bidders for `duration` on a fresh database in `dir`.
pub async fn bench_bids(
    dir: &Path,
    submitters: usize,
    duration: Duration,
) -> anyhow::Result<BenchResult> {
    let path = dir.join(format!("bench-bids-{submitters}.redb"));
    let _ = std::fs::remove_file(&path);
    let store =
        Arc::new(Store::open(&path).with_context(|| format!("cannot create {}", path.display()))?);
    let clock: SharedClock = Arc::new(SystemClock);
    let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default())?;
    let h = engine.handle();
    let mut spec = demo::live_spec(clock.now());
    spec.rules = bench_rules();
    let audit = Audit {
        actor: "bench".into(),
        origin: "bench".into(),
        reason: "benchmark".into(),
    };
    h.execute(Command::CreateCampaign {
        spec: Box::new(spec),
        audit,
    })
    .await?;
    for i in 0..submitters as u64 {
        let address = Address([
            (i % 251) as u8 + 1,
            (i / 251) as u8,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
        ]);
        h.execute(Command::SeeUser {
            id: UserId(i + 1),
            handle: format!("bench{i}"),
            account_created: Timestamp::from_secs(0),
            simulated: true,
        })
        .await?;
        h.execute(Command::LinkWallet {
            user: UserId(i + 1),
            address,
            verified: true,
        })
        .await?;
        h.execute(Command::RecordDeposit {
            from: address,
            amount: Wei::from_eth(1_000_000_000),
            reference: format!("bench-{i}"),
        })
        .await?;
    }
    let counter = Arc::new(AtomicU64::new(0));
    let batches_before = h.stats().batches.load(Ordering::Relaxed);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..submitters as u64)
        .map(|i| {
            let (h, counter) = (h.clone(), counter.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let mut accepted = 0u64;
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let command = Command::PlaceBid {
                        bidder: UserId(i + 1),
                        amount: Wei(1_000_000_000_000_000 + u128::from(n)),
                        // Tweet ids are rising snowflakes; so are these keys.
                        source: BidSource::Tweet(format!(
                            "{:019}",
                            1_800_000_000_000_000_000u64 + n
                        )),
                        auction: None,
                    };
                    let t = Instant::now();
                    let reply = h.execute(command).await?;
                    latencies.push(t.elapsed().as_micros() as u64);
                    if let Reply::Bid(r) = reply {
                        accepted += u64::from(r.accepted);
                    }
                }
                Ok::<_, domain::engine::CommandError>((latencies, accepted))
            })
        })
        .collect();
    let (latencies, accepted) = gather(tasks).await?;
    let elapsed = start.elapsed();
    let commits = h.stats().batches.load(Ordering::Relaxed) - batches_before;
    engine.shutdown().await;
    let stored = store.read()?.last_id(IdTable::Bids)?;
    if stored != latencies.len() as u64 {
        bail!(
            "{} bids were acknowledged but {stored} are in the database",
            latencies.len()
        );
    }
    drop(store);
    let _ = std::fs::remove_file(&path);
    Ok(summarize(
        "redb (appliance engine)",
        submitters,
        latencies,
        accepted,
        elapsed,
        commits,
    ))
}

/// Prints results as a table.
pub fn print_table(results: &[BenchResult], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<26} {:>10} {:>9} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10}",
        "store",
        "submitters",
        "bids",
        "accepted",
        "bids/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "per commit"
    )?;
    for r in results {
        writeln!(
            out,
            "{:<26} {:>10} {:>9} {:>10} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>10.1}",
            r.store,
            r.submitters,
            r.bids,
            r.accepted,
            r.per_sec,
            r.p50_us as f64 / 1000.0,
            r.p99_us as f64 / 1000.0,
            r.max_us as f64 / 1000.0,
            r.per_commit
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let r = summarize("x", 1, (1..=100).collect(), 100, Duration::from_secs(1), 10);
        assert_eq!((r.p50_us, r.p99_us, r.max_us), (50, 99, 100));
        assert_eq!(r.per_commit, 10.0);
        assert_eq!(r.per_sec, 100.0);
    }
}
