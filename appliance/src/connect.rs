//! Starting the appliance's connections to the outside: X (polling for tweets, posting the
//! outbox's tweets) and the chain (deposits, custody, settlement). Each runs as its own tasks
//! that retry on their own, under the supervisor; what they report is gathered in [`Health`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use store::{Store, View};
use tokio::sync::watch;

use crate::config::Config;
use crate::health::{ChainHealth, Health};
use crate::supervisor::Supervisor;
use chain::custody::CustodyWatcher;
use chain::deposits::{DepositStats, DepositWatcher};
use chain::eth::Signer;
use chain::reconcile::{EscrowStats, Reconciler};
use chain::rpc::Rpc;
use chain::settle::{Caps, ChainDeliverer, SettleStats};
use domain::clock::SharedClock;
use domain::engine::EngineHandle;
use domain::report::Heartbeat;
use x::api::XClient;
use x::deliver::{DeliveryStats, TweetDeliverer};
use x::pace::{Pacer, Plan};
use x::poll::{self, PollStats, Poller, Source};

/// The host handle tweets are addressed to: the newest campaign's.
fn host_handle(store: &Store, config: &Config) -> String {
    store
        .read()
        .ok()
        .and_then(|r| r.campaigns().ok())
        .and_then(|c| c.last().map(|c| c.host_handle.clone()))
        .unwrap_or_else(|| config.policy().host_handle)
}

/// Starts X and chain tasks as configured, each under the supervisor. Fails only on what
/// retrying cannot fix (bad credentials format, a keystore that does not unlock).
pub async fn start(
    config: &Config,
    engine: &EngineHandle,
    store: &Arc<Store>,
    clock: &SharedClock,
    sup: &Arc<Supervisor>,
) -> anyhow::Result<Health> {
    let mut health = Health::default();

    // X.
    let plan = config.x.plan().map_err(anyhow::Error::msg)?;
    let api = if config.x.enabled {
        let creds = config.x.credentials().map_err(anyhow::Error::msg)?;
        Some(
            XClient::new(
                &config.x.base_url,
                creds,
                Duration::from_secs(config.x.timeout_secs),
            )
            .map_err(anyhow::Error::msg)?,
        )
    } else {
        None
    };
    let mut sources = Vec::new();
    if api.is_some() {
        sources.push(("mentions", Arc::new(PollStats::default())));
        if !config.x.search.trim().is_empty() {
            sources.push(("search", Arc::new(PollStats::default())));
        }
    }
    let stream = (api.is_some() && config.x.streams().map_err(anyhow::Error::msg)?).then(|| {
        (
            Arc::new(PollStats::default()),
            Duration::from_secs(config.x.stall_secs),
        )
    });
    health.polls = match &stream {
        // The timelines only read the stream's gaps back; the stream is what to watch.
        Some((stats, stall)) => vec![("stream", stats.clone(), *stall)],
        None => sources
            .iter()
            .map(|(name, stats)| {
                let budget = if *name == "mentions" {
                    plan.mentions
                } else {
                    plan.search
                };
                (*name, stats.clone(), Pacer::new(budget).interval())
            })
            .collect(),
    };
    health.x_enabled = api.is_some();
    let xc = &config.x;
    let spend = Arc::new(
        x::spend::Spend::load(
            store,
            x::spend::Prices {
                read: xc.price_read_micro_usd,
                post: xc.price_post_micro_usd,
                post_with_url: xc.price_post_url_micro_usd,
            },
            xc.monthly_budget_usd.saturating_mul(1_000_000),
            clock.now(),
        )
        .context("reading the X spend")?,
    );
    if health.x_enabled {
        health.spend = Some(spend.clone());
    }
    let x = Arc::new(XStart {
        api,
        configured_host_id: config.x.host_user_id.trim().to_string(),
        handle: host_handle(store, config),
        search: config.x.search.trim().to_string(),
        dry_run: config.x.dry_run,
        plan,
        sources,
        stream,
        tweets: health.tweets.clone(),
        spend,
        engine: engine.clone(),
        store: store.clone(),
        clock: clock.clone(),
    });
    let s = sup.clone();
    sup.spawn("x", move || x.clone().run(s.clone()));

    // The chain.
    if config.chain.enabled {
        let c = &config.chain;
        let passphrase = c.passphrase().map_err(anyhow::Error::msg)?;
        let path = c.keystore.clone();
        let signer = tokio::task::spawn_blocking(move || Signer::from_keystore(&path, &passphrase))
            .await
            .context("keystore task")?
            .map_err(anyhow::Error::msg)?;
        let signer = Arc::new(signer);
        if let Some(stated) = c.keystore_address()
            && stated.0 != signer.address().0
        {
            anyhow::bail!(
                "chain.keystore states the address {stated} but its key is {}: the keystore file \
                 is inconsistent",
                signer.address()
            );
        }
        let urls: Vec<String> = c.rpc_urls.iter().map(|u| u.expose().to_string()).collect();
        let rpc = Arc::new(
            Rpc::new(&urls, Duration::from_secs(c.timeout_secs)).map_err(anyhow::Error::msg)?,
        );
        let treasury = c.treasury_address().map_err(anyhow::Error::msg)?;
        let deposits = Arc::new(DepositStats::default());
        let settle = Arc::new(SettleStats::default());
        let custody_beat = Arc::new(Heartbeat::default());
        let escrow = Arc::new(EscrowStats::default());
        health.chain = Some(ChainHealth {
            escrow: escrow.clone(),
            reconcile_every: Duration::from_secs(c.reconcile_secs),
            deposits: deposits.clone(),
            settle: settle.clone(),
            rpc: rpc.clone(),
            custody: signer.address().to_string(),
            custody_beat: custody_beat.clone(),
            poll: Duration::from_secs(c.poll_secs),
            custody_every: Duration::from_secs(c.custody_check_secs),
        });
        let quorum = c.quorum.min(rpc.providers());
        if quorum < 2 {
            tracing::warn!(
                "one RPC provider's word credits deposits: configure two or more in chain.rpc_urls \
                 (chain.quorum of them must agree)"
            );
        } else if quorum < c.quorum {
            tracing::warn!(
                quorum,
                configured = c.quorum,
                "chain.quorum is larger than the providers configured; all must agree"
            );
        }
        tracing::info!(custody_wallet = %signer.address(), providers = ?rpc, quorum, "chain connection configured");
        let start_block = (c.start_block > 0).then_some(c.start_block);
        let chain = Arc::new(ChainStart {
            rpc,
            signer,
            chain_id: c.chain_id,
            confirmations: c.confirmations,
            poll: Duration::from_secs(c.poll_secs),
            custody_every: Duration::from_secs(c.custody_check_secs),
            treasury: alloy_primitives::Address::from(treasury.0),
            start_block,
            deposits,
            settle,
            custody_beat,
            escrow,
            reconcile_every: Duration::from_secs(c.reconcile_secs),
            caps: Caps {
                max_gas: c.max_gas,
                max_fee_per_gas: u128::from(c.max_fee_per_gas_wei),
            },
            quorum,
            replace_after_blocks: c.replace_after_blocks,
            fee_bump_pct: c.fee_bump_pct,
            engine: engine.clone(),
            store: store.clone(),
            clock: clock.clone(),
        });
        let s = sup.clone();
        sup.spawn("chain", move || chain.clone().run(s.clone()));
    }
    Ok(health)
}

/// Waits `d` unless stopped first; `false` when stopped.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

/// Waits for the stop: what a task that only starts others does once it has.
async fn until_stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

struct XStart {
    api: Option<XClient>,
    configured_host_id: String,
    handle: String,
    search: String,
    dry_run: bool,
    plan: Plan,
    sources: Vec<(&'static str, Arc<PollStats>)>,
    /// Read through the filtered stream (its counters, the stall time), else by polling.
    stream: Option<(Arc<PollStats>, Duration)>,
    tweets: Arc<DeliveryStats>,
    spend: Arc<x::spend::Spend>,
    engine: EngineHandle,
    store: Arc<Store>,
    clock: SharedClock,
}

impl XStart {
    /// Finds the host's X account, then starts the pollers and the tweet deliverer under the
    /// supervisor and waits for the stop.
    async fn run(self: Arc<Self>, sup: Arc<Supervisor>) {
        let mut stop = sup.stop_signal();
        let mut host_id = None;
        if let Some(api) = &self.api {
            host_id = if self.configured_host_id.is_empty() {
                loop {
                    match poll::host_user_id(api, &self.handle).await {
                        Ok(id) => break Some(id),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot look up the host's X account yet");
                            for (_, stats) in &self.sources {
                                stats
                                    .beat
                                    .failed(format!("cannot look up the host's X account: {e}"));
                            }
                            if !pause(poll::STARTUP_RETRY, &mut stop).await {
                                return;
                            }
                        }
                    }
                }
            } else {
                Some(self.configured_host_id.clone())
            };
        }
        if let (Some(api), Some(id)) = (&self.api, &host_id) {
            tracing::info!(host = %self.handle, host_id = %id, dry_run = self.dry_run, streaming = self.stream.is_some(), "connected to X");
            let mut pollers = Vec::new();
            for (name, stats) in &self.sources {
                let (source, budget) = match *name {
                    "mentions" => (
                        Source::Mentions {
                            user_id: id.clone(),
                        },
                        self.plan.mentions,
                    ),
                    _ => (
                        Source::Search {
                            query: self.search.clone(),
                        },
                        self.plan.search,
                    ),
                };
                let poller = Poller {
                    api: api.clone(),
                    engine: self.engine.clone(),
                    store: self.store.clone(),
                    clock: self.clock.clone(),
                    source,
                    budget,
                    stats: stats.clone(),
                    spend: self.spend.clone(),
                };
                pollers.push((*name, poller));
            }
            match &self.stream {
                Some((stats, stall)) => {
                    let mut rules = vec![(
                        format!("@{}", self.handle.trim_start_matches('@')),
                        "sothebais.mentions".to_string(),
                    )];
                    if !self.search.is_empty() {
                        rules.push((self.search.clone(), "sothebais.search".to_string()));
                    }
                    let intake = Arc::new(x::stream::StreamIntake {
                        api: api.clone(),
                        engine: self.engine.clone(),
                        clock: self.clock.clone(),
                        rules,
                        backfill: pollers.into_iter().map(|(_, p)| p).collect(),
                        stall: *stall,
                        stats: stats.clone(),
                        spend: self.spend.clone(),
                    });
                    let stop = stop.clone();
                    sup.spawn("x.stream", move || intake.clone().run(stop.clone()));
                }
                None => {
                    for (name, poller) in pollers {
                        let stop = stop.clone();
                        sup.spawn(format!("x.{name}"), move || {
                            poller.clone().run(stop.clone())
                        });
                    }
                }
            }
        }
        let deliverer = TweetDeliverer {
            api: self.api.clone(),
            dry_run: self.dry_run,
            host_id,
            engine: self.engine.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            budget: self.plan.posts,
            stats: self.tweets.clone(),
            spend: self.spend.clone(),
        };
        let engine = self.engine.clone();
        let s = stop.clone();
        sup.spawn("x.tweets", move || {
            deliverer.clone().run(engine.subscribe(), s.clone())
        });
        until_stopped(stop).await;
    }
}

struct ChainStart {
    rpc: Arc<Rpc>,
    signer: Arc<Signer>,
    chain_id: u64,
    confirmations: u64,
    poll: Duration,
    custody_every: Duration,
    treasury: alloy_primitives::Address,
    start_block: Option<u64>,
    deposits: Arc<DepositStats>,
    settle: Arc<SettleStats>,
    custody_beat: Arc<Heartbeat>,
    escrow: Arc<EscrowStats>,
    reconcile_every: Duration,
    caps: Caps,
    quorum: usize,
    replace_after_blocks: u64,
    fee_bump_pct: u64,
    engine: EngineHandle,
    store: Arc<Store>,
    clock: SharedClock,
}

impl ChainStart {
    /// Checks the providers serve the configured chain, then starts the deposit watcher, the
    /// custody checks and the chain deliverer under the supervisor and waits for the stop.
    async fn run(self: Arc<Self>, sup: Arc<Supervisor>) {
        let mut stop = sup.stop_signal();
        loop {
            match self.rpc.verify_chain(self.chain_id).await {
                Ok(()) => break,
                Err(e) => {
                    let wrong = e.contains("serves chain");
                    if wrong {
                        tracing::error!(error = %e, "chain connection refused: fix chain.rpc_urls or chain.chain_id");
                    } else {
                        tracing::warn!(error = %e, "the chain is not reachable yet");
                    }
                    self.deposits.beat.failed(format!("cannot connect: {e}"));
                    let wait = if wrong { 60 } else { 5 };
                    if !pause(Duration::from_secs(wait), &mut stop).await {
                        return;
                    }
                }
            }
        }
        tracing::info!(chain_id = self.chain_id, provider = %self.rpc.current_provider(), "connected to the chain");
        let escrow = self.signer.address();
        let deposits = DepositWatcher {
            rpc: self.rpc.clone(),
            engine: self.engine.clone(),
            store: self.store.clone(),
            escrow,
            confirmations: self.confirmations,
            start_block: self.start_block,
            poll: self.poll,
            quorum: self.quorum,
            stats: self.deposits.clone(),
        };
        let custody = CustodyWatcher {
            rpc: self.rpc.clone(),
            engine: self.engine.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            custody: escrow,
            every: self.custody_every,
            beat: self.custody_beat.clone(),
        };
        let deliverer = ChainDeliverer {
            rpc: self.rpc.clone(),
            engine: self.engine.clone(),
            store: self.store.clone(),
            signer: self.signer.clone(),
            chain_id: self.chain_id,
            treasury: self.treasury,
            confirmations: self.confirmations,
            clock: self.clock.clone(),
            stats: self.settle.clone(),
            caps: self.caps,
            replace_after_blocks: self.replace_after_blocks,
            fee_bump_pct: self.fee_bump_pct,
        };
        let reconciler = Reconciler {
            rpc: self.rpc.clone(),
            store: self.store.clone(),
            custody: escrow,
            every: self.reconcile_every,
            stats: self.escrow.clone(),
        };
        let s = stop.clone();
        sup.spawn("chain.escrow", move || reconciler.clone().run(s.clone()));
        let s = stop.clone();
        sup.spawn("chain.deposits", move || deposits.clone().run(s.clone()));
        let s = stop.clone();
        sup.spawn("chain.custody", move || custody.clone().run(s.clone()));
        let (s, engine) = (stop.clone(), self.engine.clone());
        sup.spawn("chain.settle", move || {
            deliverer.clone().run(engine.subscribe(), s.clone())
        });
        until_stopped(stop).await;
    }
}
