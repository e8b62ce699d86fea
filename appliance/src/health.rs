//! What the appliance's tasks report about themselves, gathered for the status answer (and the
//! admin page): counters and the last failure of each connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use control::HealthReport;

use chain::deposits::DepositStats;
use chain::rpc::Rpc;
use chain::settle::SettleStats;
use x::deliver::DeliveryStats;
use x::poll::PollStats;

/// What the connections report.
#[derive(Default)]
pub struct Health {
    /// X pollers, by source.
    pub polls: Vec<(&'static str, Arc<PollStats>)>,
    /// The tweet deliverer.
    pub tweets: Arc<DeliveryStats>,
    /// The deposit watcher.
    pub deposits: Option<Arc<DepositStats>>,
    /// The chain deliverer.
    pub settle: Option<Arc<SettleStats>>,
    /// The RPC providers.
    pub rpc: Option<Arc<Rpc>>,
    /// The custody (escrow) wallet.
    pub custody: Option<String>,
    /// Scheduled backups, when they are on.
    pub backups: Option<Arc<crate::backups::BackupStatus>>,
}

impl Health {
    /// A snapshot of the counters.
    pub fn report(&self) -> HealthReport {
        let x_polls = self
            .polls
            .iter()
            .map(|(name, s)| {
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
        });
        let chain = match (&self.deposits, &self.settle, &self.rpc) {
            (Some(d), Some(s), Some(rpc)) => {
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
                Some(serde_json::json!({
                    "custody_wallet": self.custody,
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
                }))
            }
            _ => None,
        };
        HealthReport {
            x_polls,
            tweets,
            chain,
            backups: self.backups.as_ref().map(|b| b.report()),
        }
    }
}
