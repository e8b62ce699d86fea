//! Starting the appliance's connections to the outside: X (polling for tweets, posting the
//! outbox's tweets) and the chain (deposits, custody, settlement). Each runs as its own tasks
//! that retry on their own; what they report is gathered in [`Health`] for the status answer.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use store::{Store, View};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::health::Health;
use chain::custody::CustodyWatcher;
use chain::deposits::{DepositStats, DepositWatcher};
use chain::eth::Signer;
use chain::rpc::Rpc;
use chain::settle::{ChainDeliverer, SettleStats};
use domain::clock::SharedClock;
use domain::engine::EngineHandle;
use x::api::XClient;
use x::deliver::{DeliveryStats, TweetDeliverer};
use x::pace::Plan;
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

/// Starts X and chain tasks as configured. Fails only on what retrying cannot fix (bad
/// credentials format, a keystore that does not unlock).
pub async fn start(
    config: &Config,
    engine: &EngineHandle,
    store: &Arc<Store>,
    clock: &SharedClock,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<(Health, Vec<JoinHandle<()>>)> {
    let mut health = Health::default();
    let mut tasks = Vec::new();

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
    health.polls = sources.clone();
    let x = XStart {
        api,
        configured_host_id: config.x.host_user_id.trim().to_string(),
        handle: host_handle(store, config),
        search: config.x.search.trim().to_string(),
        dry_run: config.x.dry_run,
        plan,
        sources,
        tweets: health.tweets.clone(),
    };
    tasks.push(tokio::spawn(x.run(
        engine.clone(),
        store.clone(),
        clock.clone(),
        stop.clone(),
    )));

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
        let urls: Vec<String> = c.rpc_urls.iter().map(|u| u.expose().to_string()).collect();
        let rpc = Arc::new(
            Rpc::new(&urls, Duration::from_secs(c.timeout_secs)).map_err(anyhow::Error::msg)?,
        );
        let treasury = c.treasury_address().map_err(anyhow::Error::msg)?;
        let deposits = Arc::new(DepositStats::default());
        let settle = Arc::new(SettleStats::default());
        health.deposits = Some(deposits.clone());
        health.settle = Some(settle.clone());
        health.rpc = Some(rpc.clone());
        health.custody = Some(signer.address().to_string());
        tracing::info!(custody_wallet = %signer.address(), providers = ?rpc, "chain connection configured");
        let start_block = (c.start_block > 0).then_some(c.start_block);
        let chain = ChainStart {
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
        };
        tasks.push(tokio::spawn(chain.run(
            engine.clone(),
            store.clone(),
            clock.clone(),
            stop.clone(),
        )));
    }
    Ok((health, tasks))
}

/// Waits `d` unless stopped first; `false` when stopped.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

struct XStart {
    api: Option<XClient>,
    configured_host_id: String,
    handle: String,
    search: String,
    dry_run: bool,
    plan: Plan,
    sources: Vec<(&'static str, Arc<PollStats>)>,
    tweets: Arc<DeliveryStats>,
}

impl XStart {
    async fn run(
        self,
        engine: EngineHandle,
        store: Arc<Store>,
        clock: SharedClock,
        mut stop: watch::Receiver<bool>,
    ) {
        let committed = engine.subscribe();
        let mut host_id = None;
        if let Some(api) = &self.api {
            host_id = if self.configured_host_id.is_empty() {
                loop {
                    match poll::host_user_id(api, &self.handle).await {
                        Ok(id) => break Some(id),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot look up the host's X account yet");
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
        let mut tasks = Vec::new();
        if let (Some(api), Some(id)) = (&self.api, &host_id) {
            tracing::info!(host = %self.handle, host_id = %id, dry_run = self.dry_run, "connected to X");
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
                    engine: engine.clone(),
                    store: store.clone(),
                    clock: clock.clone(),
                    source,
                    budget,
                    stats: stats.clone(),
                };
                tasks.push(tokio::spawn(poller.run(stop.clone())));
            }
        }
        let deliverer = TweetDeliverer {
            api: self.api,
            dry_run: self.dry_run,
            host_id,
            engine,
            store,
            clock,
            budget: self.plan.posts,
            stats: self.tweets,
        };
        deliverer.run(committed, stop).await;
        for t in tasks {
            let _ = t.await;
        }
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
}

impl ChainStart {
    async fn run(
        self,
        engine: EngineHandle,
        store: Arc<Store>,
        clock: SharedClock,
        mut stop: watch::Receiver<bool>,
    ) {
        let committed = engine.subscribe();
        loop {
            match self.rpc.verify_chain(self.chain_id).await {
                Ok(()) => break,
                Err(e) if e.contains("serves chain") => {
                    tracing::error!(error = %e, "chain connection refused: fix chain.rpc_urls or chain.chain_id");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the chain is not reachable yet");
                    if !pause(Duration::from_secs(5), &mut stop).await {
                        return;
                    }
                }
            }
        }
        tracing::info!(chain_id = self.chain_id, provider = %self.rpc.current_provider(), "connected to the chain");
        let escrow = self.signer.address();
        let deposits = DepositWatcher {
            rpc: self.rpc.clone(),
            engine: engine.clone(),
            store: store.clone(),
            escrow,
            confirmations: self.confirmations,
            start_block: self.start_block,
            poll: self.poll,
            stats: self.deposits,
        };
        let custody = CustodyWatcher {
            rpc: self.rpc.clone(),
            engine: engine.clone(),
            store: store.clone(),
            clock: clock.clone(),
            custody: escrow,
            every: self.custody_every,
        };
        let deliverer = ChainDeliverer {
            rpc: self.rpc,
            engine,
            store,
            signer: self.signer,
            chain_id: self.chain_id,
            treasury: self.treasury,
            confirmations: self.confirmations,
            clock,
            stats: self.settle,
        };
        let a = tokio::spawn(deposits.run(stop.clone()));
        let b = tokio::spawn(custody.run(stop.clone()));
        deliverer.run(committed, stop).await;
        let _ = a.await;
        let _ = b.await;
    }
}
