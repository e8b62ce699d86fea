//! Token custody: before an auction of a token starts (and while it runs), `ownerOf` must name
//! the custody wallet. Readings are handed to the engine, which starts an auction of a token only
//! once custody is confirmed and records changes, not repeats.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address as EthAddress, U256};
use store::{Address, AuctionState, CustodyCheck, Store, View};
use tokio::sync::watch;

use super::rpc::{Rpc, RpcError};
use domain::clock::SharedClock;
use domain::engine::{Command, EngineHandle};
use domain::report::Heartbeat;

/// How far ahead of its start an auction's token is checked.
const LOOKAHEAD_SECS: i64 = 24 * 3600;

/// Checks the custody of upcoming and running auctions' tokens.
#[derive(Clone)]
pub struct CustodyWatcher {
    /// The providers.
    pub rpc: Arc<Rpc>,
    /// The engine.
    pub engine: EngineHandle,
    /// The store.
    pub store: Arc<Store>,
    /// The appliance's clock.
    pub clock: SharedClock,
    /// The custody wallet.
    pub custody: EthAddress,
    /// Time between checks.
    pub every: Duration,
    /// When a check last succeeded.
    pub beat: Arc<Heartbeat>,
}

impl CustodyWatcher {
    /// Runs until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            match self.check_all().await {
                Ok(_) => self.beat.ok(),
                Err(e) => {
                    self.beat.failed(e.as_str());
                    tracing::warn!(error = %e, "custody check failed; retrying");
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

    /// Reads `ownerOf` for every auction that needs it and reports to the engine.
    pub async fn check_all(&self) -> Result<usize, String> {
        let now = self.clock.now();
        let due: Vec<(store::AuctionId, store::TokenRef)> = {
            let r = self.store.read().map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for a in r.auctions().map_err(|e| e.to_string())? {
                let relevant = match a.state {
                    AuctionState::Pending => {
                        a.starts_at.micros_since(now) < LOOKAHEAD_SECS * 1_000_000
                    }
                    AuctionState::Active | AuctionState::Paused => true,
                    _ => false,
                };
                if !relevant {
                    continue;
                }
                if let Some(token) = r
                    .item(a.item)
                    .map_err(|e| e.to_string())?
                    .and_then(|i| i.token)
                {
                    out.push((a.id, token));
                }
            }
            out
        };
        if due.is_empty() {
            return Ok(0);
        }
        let block = self.rpc.block_number().await.map_err(|e| e.to_string())?;
        let mut checked = 0;
        for (auction, token) in due {
            let contract = EthAddress::from(token.contract.0);
            let id = U256::from_str(&token.token_id)
                .map_err(|e| format!("token id {}: {e}", token.token_id))?;
            let (owner, in_custody, detail) = match self.rpc.owner_of(contract, id).await {
                Ok(owner) if owner == self.custody => (
                    owner,
                    true,
                    format!(
                        "token {} of {} is in the custody wallet",
                        token.token_id, contract
                    ),
                ),
                Ok(owner) => (
                    owner,
                    false,
                    format!(
                        "token {} of {} is owned by {owner}, not by the custody wallet {}",
                        token.token_id, contract, self.custody
                    ),
                ),
                Err(RpcError::Node { message, .. }) => (
                    EthAddress::ZERO,
                    false,
                    format!(
                        "ownerOf({}) on {} failed: {message} (no such token, or not an ERC-721)",
                        token.token_id, contract
                    ),
                ),
                Err(e) => return Err(e.to_string()),
            };
            let check = CustodyCheck {
                owner: Address(owner.0.0),
                in_custody,
                block,
                detail,
                checked_at: now,
            };
            if !in_custody {
                tracing::warn!(auction = %auction, detail = %check.detail, "token not in custody");
            }
            self.engine
                .execute(Command::RecordCustody { auction, check })
                .await
                .map_err(|e| e.to_string())?;
            checked += 1;
        }
        Ok(checked)
    }
}
