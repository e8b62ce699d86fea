//! Simulated bidders, so the appliance has life with no credentials at all.
//!
//! Each bidder has a persona: eager bidders raise early and often; snipers wait for the last
//! minutes (and so trigger the anti-sniping extension); warriors answer every outbid at once,
//! two of them make a bidding war; underfunded bidders offer more than their escrow; malformed
//! bidders write amounts no one can read; newcomers have accounts too young to bid. They go
//! through the same engine commands as bids from X, on whatever clock the appliance runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use store::{Address, Auction, AuctionState, BidSource, Store, Timestamp, UserId, View, Wei};
use tokio::sync::watch;

use crate::config::SimulationConfig;
use domain::clock::{self, SharedClock};
use domain::engine::{Command, CommandError, EngineHandle, Reply, rules};

/// How a simulated bidder behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persona {
    /// Bids early and often, up to its valuation.
    Eager,
    /// Bids only in the last minutes.
    Sniper,
    /// Answers every outbid quickly with the minimum raise.
    Warrior,
    /// Offers more than its escrow holds.
    Underfunded,
    /// Writes amounts that do not parse.
    Malformed,
    /// Has an X account younger than the minimum age.
    Newcomer,
}

impl Persona {
    /// Short name, used in handles.
    pub fn name(self) -> &'static str {
        match self {
            Persona::Eager => "eager",
            Persona::Sniper => "sniper",
            Persona::Warrior => "warrior",
            Persona::Underfunded => "broke",
            Persona::Malformed => "typo",
            Persona::Newcomer => "newbie",
        }
    }
}

/// The mix, cycled over the configured number of bidders.
const MIX: [Persona; 10] = [
    Persona::Eager,
    Persona::Warrior,
    Persona::Sniper,
    Persona::Warrior,
    Persona::Eager,
    Persona::Underfunded,
    Persona::Sniper,
    Persona::Malformed,
    Persona::Newcomer,
    Persona::Eager,
];

/// Simulated users get ids above any X id (X ids are signed 64-bit).
pub const SIM_ID_BASE: u64 = 18_000_000_000_000_000_000;

/// Amounts the malformed bidders write.
const GARBLED: [&str; 9] = [
    "1.2.3 ETH",
    "٣ ETH",
    "5 USD",
    "1e18",
    "1,5",
    "0.0000000000000000001 ETH",
    "lots",
    "-2 ETH",
    "２ ETH",
];

/// One simulated bidder.
#[derive(Clone, Debug)]
pub struct SimBidder {
    /// Its user id.
    pub user: UserId,
    /// Its handle.
    pub handle: String,
    /// Its behaviour.
    pub persona: Persona,
    /// The most it will pay.
    pub valuation: Wei,
    seed: u64,
}

/// What the simulated bidders have done.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Bids sent to the engine.
    pub submitted: AtomicU64,
    /// Of which accepted.
    pub accepted: AtomicU64,
    /// Amounts that did not parse (never reach the engine, as a malformed tweet would not).
    pub malformed: AtomicU64,
}

fn milli(m: u64) -> Wei {
    Wei(u128::from(m) * 1_000_000_000_000_000)
}

/// Registers the bidders (users, verified wallets, deposits). Safe to repeat on every start.
pub async fn enroll(
    engine: &EngineHandle,
    store: &Store,
    clock: &SharedClock,
    config: &SimulationConfig,
) -> Result<Vec<SimBidder>, CommandError> {
    let seed = enrolment_seed(engine, store, config).await?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::with_capacity(config.bidders as usize);
    for i in 0..config.bidders {
        let persona = MIX[i as usize % MIX.len()];
        let user = UserId(SIM_ID_BASE + u64::from(i));
        let handle = format!("sim_{}_{}", persona.name(), i + 1);
        let (deposit, valuation) = match persona {
            Persona::Eager => {
                let v = rng.u64(3_000..9_000);
                (v + 2_000, v)
            }
            Persona::Sniper => {
                let v = rng.u64(4_000..12_000);
                (v + 1_000, v)
            }
            Persona::Warrior => {
                let v = rng.u64(2_500..7_000);
                (v, v)
            }
            Persona::Underfunded => (50, 10_000),
            Persona::Malformed => (2_000, 2_000),
            Persona::Newcomer => (5_000, 5_000),
        };
        let known = store
            .read()
            .map_err(storage)?
            .user(user)
            .map_err(storage)?
            .is_some();
        if !known {
            let age_days = if persona == Persona::Newcomer { 5 } else { 400 };
            engine
                .execute(Command::SeeUser {
                    id: user,
                    handle: handle.clone(),
                    account_created: clock.now().plus_secs(-age_days * 86_400),
                    simulated: true,
                })
                .await?;
        }
        let mut address = [0x5A; 20];
        address[12..20].copy_from_slice(&user.0.to_be_bytes());
        engine
            .execute(Command::LinkWallet {
                user,
                address: Address(address),
                verified: true,
            })
            .await?;
        engine
            .execute(Command::RecordDeposit {
                from: Address(address),
                amount: milli(deposit),
                reference: format!("sim-deposit-{}", user.0),
            })
            .await?;
        out.push(SimBidder {
            user,
            handle,
            persona,
            valuation: milli(valuation),
            seed: seed ^ (u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        });
    }
    tracing::info!(bidders = out.len(), seed, "simulated bidders enrolled");
    Ok(out)
}

/// The state key of the seed the bidders were first enrolled with.
const SEED_KEY: &str = "simulation.seed";

/// The seed of the bidders' deposits and valuations: the one they were first enrolled with (kept
/// in the store), so that a restart on the same data finds the same bidders with the same
/// deposits instead of enrolling different ones.
async fn enrolment_seed(
    engine: &EngineHandle,
    store: &Store,
    config: &SimulationConfig,
) -> Result<u64, CommandError> {
    let stored = store
        .read()
        .map_err(storage)?
        .state(SEED_KEY)
        .map_err(storage)?;
    if let Some(bytes) = stored {
        let seed = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or_else(|| {
                CommandError::new("storage", "the stored simulation seed is unreadable")
            })?;
        if config.seed != 0 && config.seed != seed {
            tracing::warn!(
                configured = config.seed,
                enrolled = seed,
                "simulation.seed differs from the one the bidders were enrolled with; keeping theirs"
            );
        }
        return Ok(seed);
    }
    let seed = if config.seed == 0 {
        fastrand::u64(..)
    } else {
        config.seed
    };
    engine
        .execute(Command::SwapState {
            key: SEED_KEY.into(),
            expected: None,
            value: seed.to_string(),
        })
        .await?;
    Ok(seed)
}

fn storage(e: store::Error) -> CommandError {
    CommandError::new("storage", e.to_string())
}

/// Starts every bidder as a supervised task; they stop with the supervisor's stop signal.
pub fn spawn(
    bidders: Vec<SimBidder>,
    engine: EngineHandle,
    store: Arc<Store>,
    clock: SharedClock,
    think_secs: u32,
    stats: Arc<SimStats>,
    sup: &Arc<crate::supervisor::Supervisor>,
) {
    for b in bidders {
        let ctx = Ctx {
            engine: engine.clone(),
            store: store.clone(),
            clock: clock.clone(),
            think_secs,
            stats: stats.clone(),
        };
        let stop = sup.stop_signal();
        sup.spawn(format!("sim.{}", b.handle), move || {
            run_bidder(b.clone(), ctx.clone(), stop.clone())
        });
    }
}

#[derive(Clone)]
struct Ctx {
    engine: EngineHandle,
    store: Arc<Store>,
    clock: SharedClock,
    think_secs: u32,
    stats: Arc<SimStats>,
}

struct Glance {
    live: Option<Auction>,
    next_start: Option<Timestamp>,
}

fn look(store: &Store) -> store::Result<Glance> {
    let auctions = store.read()?.auctions()?;
    let live = auctions
        .iter()
        .find(|a| a.state == AuctionState::Active)
        .cloned();
    let next_start = auctions
        .iter()
        .filter(|a| a.state == AuctionState::Pending)
        .map(|a| a.starts_at)
        .min();
    Ok(Glance { live, next_start })
}

/// Exponentially distributed delay with the given mean, in microseconds.
fn exp_delay(rng: &mut fastrand::Rng, mean_micros: i64) -> i64 {
    let u = rng.f64().max(1e-9);
    ((-u.ln()) * mean_micros as f64) as i64
}

fn round_up_milli(w: Wei) -> Wei {
    let step = 1_000_000_000_000_000u128;
    Wei(w.0.div_ceil(step).saturating_mul(step))
}

async fn run_bidder(b: SimBidder, ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let mut rng = fastrand::Rng::with_seed(b.seed);
    loop {
        if *stop.borrow() {
            break;
        }
        let now = ctx.clock.now();
        let view = match look(&ctx.store) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "simulated bidder cannot read the auction");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let wake = match &view.live {
            None => match view.next_start {
                Some(start) => start.plus_micros(exp_delay(&mut rng, 20_000_000)),
                None => now.plus_secs(60),
            },
            Some(a) => now.plus_micros(delay_for(&b, a, now, ctx.think_secs, &mut rng)),
        };
        tokio::select! {
            () = clock::sleep_until(&*ctx.clock, wake) => {}
            _ = stop.changed() => break,
        }
        let Ok(view) = look(&ctx.store) else { continue };
        let Some(a) = view.live else { continue };
        match act(&b, &a, &ctx, &mut rng).await {
            Outcome::Done => {}
            Outcome::Stop => break,
            Outcome::Wait(secs) => {
                // Told to slow down: wait out the rate-limit window, as a person would.
                let until = ctx.clock.now().plus_secs(i64::from(secs));
                tokio::select! {
                    () = clock::sleep_until(&*ctx.clock, until) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
}

fn mean_think(a: &Auction, think_secs: u32) -> i64 {
    if think_secs > 0 {
        i64::from(think_secs) * 1_000_000
    } else {
        (a.scheduled_end.micros_since(a.starts_at) / 120).max(5_000_000)
    }
}

fn delay_for(
    b: &SimBidder,
    a: &Auction,
    now: Timestamp,
    think_secs: u32,
    rng: &mut fastrand::Rng,
) -> i64 {
    let think = mean_think(a, think_secs);
    let leading = a.leader == Some(b.user);
    match b.persona {
        Persona::Eager => exp_delay(rng, if leading { think * 2 } else { think }),
        Persona::Warrior => exp_delay(rng, if leading { think } else { think / 8 }),
        Persona::Sniper => {
            let window = i64::from(a.rules.extension_secs.clamp(30, 120)) * 1_000_000;
            let remaining = a.ends_at.micros_since(now);
            if remaining > window {
                remaining - (window as f64 * (0.2 + 0.7 * rng.f64())) as i64
            } else {
                exp_delay(rng, window / 6)
            }
        }
        Persona::Underfunded | Persona::Malformed => exp_delay(rng, think * 3),
        Persona::Newcomer => exp_delay(rng, think * 5),
    }
}

/// What a bidder does after acting.
enum Outcome {
    Done,
    Wait(u32),
    Stop,
}

/// One action against the live auction.
async fn act(b: &SimBidder, a: &Auction, ctx: &Ctx, rng: &mut fastrand::Rng) -> Outcome {
    let minimum = round_up_milli(rules::minimum_bid(a));
    let leading = a.leader == Some(b.user);
    let amount = match b.persona {
        Persona::Eager | Persona::Warrior | Persona::Sniper => {
            if leading {
                return Outcome::Done;
            }
            let extra = match b.persona {
                Persona::Eager => milli(rng.u64(0..=3) * 10),
                Persona::Sniper => milli(rng.u64(0..=2) * 5),
                _ => Wei::ZERO,
            };
            let amount = minimum.checked_add(extra).unwrap_or(minimum);
            if amount > b.valuation {
                return Outcome::Done; // priced out: this bidder drops out of this auction
            }
            amount
        }
        Persona::Underfunded | Persona::Newcomer => minimum,
        Persona::Malformed => {
            let text = if rng.u8(0..4) == 0 {
                format!("{} ETH", minimum.eth_string())
            } else {
                GARBLED[rng.usize(0..GARBLED.len())].to_string()
            };
            match Wei::parse(&text) {
                Ok(w) => w,
                Err(e) => {
                    ctx.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(bidder = %b.handle, text, reason = %e, "malformed bid ignored");
                    return Outcome::Done;
                }
            }
        }
    };
    ctx.stats.submitted.fetch_add(1, Ordering::Relaxed);
    match ctx
        .engine
        .execute(Command::PlaceBid {
            bidder: b.user,
            amount,
            source: BidSource::Simulated,
            auction: Some(a.id),
        })
        .await
    {
        Ok(Reply::Bid(r)) => {
            if r.accepted {
                ctx.stats.accepted.fetch_add(1, Ordering::Relaxed);
            }
            match r.rejection {
                Some(x) if x.code == "rate_limited" => {
                    Outcome::Wait(a.rules.rate_limit_window_secs)
                }
                _ => Outcome::Done,
            }
        }
        Ok(_) => Outcome::Done,
        Err(e) if e.code == "unavailable" => Outcome::Stop,
        Err(e) => {
            tracing::warn!(bidder = %b.handle, error = %e, "simulated bid failed");
            Outcome::Done
        }
    }
}
