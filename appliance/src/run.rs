//! `appliance run`: the main job. Opens the database, starts the engine, creates the first
//! campaign if there is none (the configured one, or the demo), starts the simulated bidders and
//! the control socket, and logs what the engine commits, until SIGINT/SIGTERM or `--duration`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use store::{Audit, Event, Store, View};
use tokio::sync::{broadcast, watch};

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::engine::{Command, Committed, Engine, EngineConfig, Reply};
use crate::sim::{self, SimStats};
use crate::{control, demo};

/// Runs until a stop signal, or for `duration` if given.
pub async fn run(config: Config, duration: Option<Duration>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let db_path = config.db_path();
    let store = Arc::new(
        Store::open(&db_path).with_context(|| format!("cannot open {}", db_path.display()))?,
    );
    let clock: SharedClock = Arc::new(SystemClock);
    let engine = Engine::start(
        store.clone(),
        clock.clone(),
        EngineConfig {
            max_batch: config.engine.max_batch,
            queue_capacity: config.engine.queue_capacity,
        },
    )?;
    let h = engine.handle();
    let (stop, stopped) = watch::channel(false);
    let logger = tokio::spawn(log_committed(h.subscribe(), store.clone(), stopped.clone()));

    if store.read()?.campaigns()?.is_empty() {
        let (spec, what) = match &config.campaign {
            Some(spec) => (spec.clone(), "configured"),
            None => (demo::live_spec(clock.now()), "demo"),
        };
        match h
            .execute(Command::CreateCampaign {
                spec: Box::new(spec),
                audit: Audit {
                    actor: "appliance".into(),
                    origin: "first start".into(),
                    reason: format!("{what} campaign"),
                },
            })
            .await
        {
            Ok(Reply::Campaign { id, auctions }) => {
                tracing::info!(campaign = %id, days = auctions.len(), "{what} campaign created");
            }
            Ok(other) => tracing::warn!(?other, "unexpected reply to campaign creation"),
            Err(e) => anyhow::bail!("cannot create the {what} campaign: {e}"),
        }
    }

    let mut sim_tasks = Vec::new();
    if config.simulation.enabled && config.simulation.bidders > 0 {
        let bidders = sim::enroll(&h, &store, &clock, &config.simulation).await?;
        sim_tasks = sim::spawn(
            bidders,
            h.clone(),
            store.clone(),
            clock.clone(),
            config.simulation.think_secs,
            Arc::new(SimStats::default()),
            stopped.clone(),
        );
    }

    let control = control::serve(
        config.socket_path(),
        h.clone(),
        store.clone(),
        stopped.clone(),
    )
    .await
    .with_context(|| {
        format!(
            "cannot open the control socket {}",
            config.socket_path().display()
        )
    })?;
    tracing::info!(data = %config.data_dir.display(), "appliance running");

    wait_for_stop(duration).await;
    tracing::info!("stopping");
    let _ = stop.send(true);
    for t in sim_tasks {
        let _ = t.await;
    }
    let _ = control.await;
    engine.shutdown().await;
    let _ = logger.await;
    drop(h);
    match Arc::try_unwrap(store) {
        Ok(store) => drop(store),
        Err(_) => tracing::warn!("the database is still referenced at exit"),
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn wait_for_stop(duration: Option<Duration>) {
    let timer = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = timer => {}
        () = term => tracing::info!("SIGTERM received"),
        r = tokio::signal::ctrl_c() => if r.is_ok() { tracing::info!("SIGINT received") },
    }
}

/// Logs what the engine committed: every event here is already durable.
async fn log_committed(
    mut events: broadcast::Receiver<Committed>,
    store: Arc<Store>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let batch = tokio::select! {
            r = events.recv() => match r {
                Ok(b) => b,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "event log lines skipped (logger fell behind)");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = stop.changed() => {
                // Drain what was committed before the stop.
                while let Ok(b) = events.try_recv() { log_batch(&b, &store); }
                return;
            }
        };
        log_batch(&batch, &store);
    }
}

fn handle_of(store: &Store, user: store::UserId) -> String {
    store
        .read()
        .ok()
        .and_then(|r| r.user(user).ok().flatten())
        .map_or_else(|| user.to_string(), |u| format!("@{}", u.handle))
}

fn log_batch(batch: &Committed, store: &Store) {
    for record in batch.iter() {
        match &record.event {
            Event::BidAccepted {
                bid,
                ends_at,
                extended,
            } => tracing::info!(
                bid = %bid.id,
                auction = bid.auction.map_or(0, |a| a.0),
                bidder = %handle_of(store, bid.bidder),
                amount = %bid.amount,
                ends_at = %ends_at,
                extended,
                seq = record.seq,
                "bid accepted"
            ),
            Event::BidRejected { bid } => tracing::info!(
                bid = %bid.id,
                bidder = %handle_of(store, bid.bidder),
                amount = %bid.amount,
                reason = bid.rejection.as_ref().map_or("", |r| r.code.as_str()),
                "bid rejected"
            ),
            Event::AuctionStarted { auction, .. } => {
                tracing::info!(auction = auction.0, "auction open")
            }
            Event::AuctionClosed { auction, .. } => {
                tracing::info!(auction = auction.0, "auction closed")
            }
            Event::AuctionSettled { auction, .. } => {
                let a = store
                    .read()
                    .ok()
                    .and_then(|r| r.auction(*auction).ok().flatten());
                match a.and_then(|a| a.leader.map(|l| (l, a.price))) {
                    Some((leader, price)) => {
                        tracing::info!(auction = auction.0, winner = %handle_of(store, leader), %price, "auction settled")
                    }
                    None => tracing::info!(auction = auction.0, "auction settled unsold"),
                }
            }
            Event::AuctionPaused { auction, audit, .. }
            | Event::AuctionResumed { auction, audit, .. }
            | Event::AuctionExtended { auction, audit, .. }
            | Event::AuctionCancelled { auction, audit, .. } => tracing::info!(
                auction = auction.0,
                action = record.event.kind(),
                actor = %audit.actor,
                origin = %audit.origin,
                reason = %audit.reason,
                "operator action"
            ),
            _ => tracing::debug!(
                seq = record.seq,
                kind = record.event.kind(),
                "event committed"
            ),
        }
    }
}
