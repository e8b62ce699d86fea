//! Escrow reconciliation: the custody wallet's balance on chain against what the ledger says it
//! must hold. The wallet owes every recorded deposit (credited or held, not reverted), less what
//! has left it:
//! confirmed treasury payments and refunds, and those signed and possibly mined already. Gas is
//! paid from the operator's own top-up, so a wallet that spent escrow on gas shows as short.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use alloy_primitives::Address as EthAddress;
use domain::report::Heartbeat;
use store::{Notice, OutboxStatus, Store, View, Wei};
use tokio::sync::watch;

use super::rpc::Rpc;

/// What the ledger says the custody wallet must hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Liability {
    /// Every deposit recorded (credited to a bidder or held for an unlinked wallet).
    pub deposits: Wei,
    /// Treasury payments and refunds confirmed on chain.
    pub paid_out: Wei,
    /// Treasury payments and refunds signed, not yet confirmed (they may be mined already).
    pub in_flight: Wei,
}

impl Liability {
    /// The least the wallet must hold: deposits less everything that may have left.
    pub fn owed(&self) -> Wei {
        self.deposits
            .saturating_sub(self.paid_out)
            .saturating_sub(self.in_flight)
    }
}

/// Reads the ledger's liability from the store.
pub fn liability(store: &Store) -> store::Result<Liability> {
    let r = store.read()?;
    let mut l = Liability::default();
    for d in r.deposits()? {
        // A deposit whose block was replaced never reached the wallet.
        if r.deposit_reverted(d.id)?.is_some() {
            continue;
        }
        l.deposits = l.deposits.checked_add(d.amount).unwrap_or(Wei(u128::MAX));
    }
    let mut after = 0;
    loop {
        let rows = r.outbox_after(after, 1024)?;
        let Some(last) = rows.last() else { break };
        after = last.id.0;
        for row in rows {
            let value = match &row.notice {
                Notice::PayTreasury { auction } => r.auction(*auction)?.map(|a| a.price),
                Notice::Refund { withdrawal } => r.withdrawal(*withdrawal)?.map(|w| w.amount),
                _ => None,
            };
            let Some(value) = value else { continue };
            let slot = match row.status {
                OutboxStatus::Sent { .. } => &mut l.paid_out,
                OutboxStatus::Signed { .. } => &mut l.in_flight,
                _ => continue,
            };
            *slot = slot.checked_add(value).unwrap_or(Wei(u128::MAX));
        }
    }
    Ok(l)
}

/// The last reconciliation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// The wallet's balance on chain.
    pub balance: Wei,
    /// What the ledger says it must hold.
    pub liability: Liability,
}

impl Reading {
    /// How much the wallet is short of what it owes (zero when covered).
    pub fn shortfall(&self) -> Wei {
        self.liability.owed().saturating_sub(self.balance)
    }
}

/// What the reconciler reports.
#[derive(Debug, Default)]
pub struct EscrowStats {
    /// The last reading.
    pub last: Mutex<Option<Reading>>,
    /// When a reading last succeeded.
    pub beat: Heartbeat,
}

impl EscrowStats {
    /// The last reading, if any.
    pub fn reading(&self) -> Option<Reading> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Compares the custody wallet with the ledger every `every`.
#[derive(Clone)]
pub struct Reconciler {
    /// The providers.
    pub rpc: Arc<Rpc>,
    /// The store.
    pub store: Arc<Store>,
    /// The custody wallet.
    pub custody: EthAddress,
    /// Time between readings.
    pub every: Duration,
    /// What it found.
    pub stats: Arc<EscrowStats>,
}

impl Reconciler {
    /// One reading.
    pub async fn read(&self) -> Result<Reading, String> {
        let balance = self
            .rpc
            .balance(self.custody)
            .await
            .map_err(|e| format!("cannot read the custody wallet's balance: {e}"))?;
        let balance = Wei(u128::try_from(balance).unwrap_or(u128::MAX));
        let liability = liability(&self.store).map_err(|e| e.to_string())?;
        Ok(Reading { balance, liability })
    }

    /// Runs until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut short = false;
        loop {
            match self.read().await {
                Ok(reading) => {
                    let shortfall = reading.shortfall();
                    if shortfall > Wei::ZERO && !short {
                        tracing::error!(balance = %reading.balance, owed = %reading.liability.owed(), %shortfall, "the custody wallet holds less than the ledger's escrow");
                    } else if shortfall == Wei::ZERO && short {
                        tracing::info!(balance = %reading.balance, owed = %reading.liability.owed(), "the custody wallet covers the escrow again");
                    }
                    short = shortfall > Wei::ZERO;
                    *self.stats.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(reading);
                    self.stats.beat.ok();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "escrow reconciliation failed; retrying");
                    self.stats.beat.failed(e);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wallet_owes_deposits_less_what_left() {
        let l = Liability {
            deposits: Wei(10),
            paid_out: Wei(3),
            in_flight: Wei(2),
        };
        assert_eq!(l.owed(), Wei(5));
        let covered = Reading {
            balance: Wei(5),
            liability: l,
        };
        assert_eq!(covered.shortfall(), Wei::ZERO);
        let short = Reading {
            balance: Wei(4),
            liability: l,
        };
        assert_eq!(short.shortfall(), Wei(1));
        assert_eq!(
            liability(&Store::in_memory().unwrap()).unwrap().owed(),
            Wei::ZERO
        );
    }
}
