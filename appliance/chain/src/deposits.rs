//! Watching the escrow address for deposits, block by block.
//!
//! A plain ETH transfer to the escrow address is seen when its block is read, and recorded with
//! the engine (credited to the sender's linked wallet, or held when the wallet is not linked)
//! once the block has the configured confirmations. Blocks are followed by their parent hashes:
//! when the chain reorganises, unconfirmed blocks are simply read again, and a confirmed block
//! that is replaced (a reorganisation deeper than the confirmations) has its deposits reverted.
//!
//! With several providers, a block holding deposits is confirmed only when a quorum of them
//! report it by the same hash; until then its deposits are held (pending, not credited) and the
//! watcher reports the disagreement.
//!
//! Only top-level transfers are seen (a transfer made inside a contract call leaves no trace in
//! the block's transactions): bidders deposit from the wallet they linked, as the README says.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy_primitives::{Address as EthAddress, B256, U256};
use serde::{Deserialize, Serialize};
use store::{Address, Store, View, Wei};
use tokio::sync::watch;

use super::eth::Block;
use super::rpc::{Rpc, RpcError};
use domain::engine::{Command, EngineHandle};
use domain::report::{Heartbeat, LastError};
use domain::retry::Backoff;

/// Confirmed blocks whose hashes are kept to notice a deeper reorganisation.
const KEEP_CONFIRMED: usize = 256;
/// Most blocks read in one pass (catching up after downtime goes on in the next pass).
const MAX_BLOCKS_PER_PASS: u64 = 500;

/// A transfer into escrow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The transaction (the deposit's reference).
    pub tx: B256,
    /// The sender.
    pub from: EthAddress,
    /// Wei.
    pub amount: U256,
    /// The block.
    pub block: u64,
}

/// A confirmed block: its hash, and the deposits recorded from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Confirmed {
    number: u64,
    hash: B256,
    deposits: Vec<B256>,
}

/// What the watcher keeps in the store between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ScanState {
    /// The next block to confirm.
    next: u64,
    /// The last confirmed blocks, oldest first.
    confirmed: VecDeque<Confirmed>,
}

/// A block read but not yet confirmed.
#[derive(Clone, Debug)]
struct Unconfirmed {
    number: u64,
    hash: B256,
    deposits: Vec<Seen>,
}

/// What the watcher shows the status page.
#[derive(Debug, Default)]
pub struct DepositStats {
    /// The chain head last seen.
    pub head: AtomicU64,
    /// Blocks up to here are confirmed and recorded.
    pub confirmed_through: AtomicU64,
    /// Deposits seen but not yet confirmed.
    pub pending: Mutex<Vec<Seen>>,
    /// Deposits recorded.
    pub recorded: AtomicU64,
    /// Deposits reverted by reorganisations.
    pub reverted: AtomicU64,
    /// The last failure.
    pub last_error: LastError,
    /// When a round of work last succeeded, and whether the latest failed.
    pub beat: Heartbeat,
}

/// Follows the chain for deposits into `escrow`.
#[derive(Clone)]
pub struct DepositWatcher {
    /// The providers.
    pub rpc: Arc<Rpc>,
    /// The engine.
    pub engine: EngineHandle,
    /// The store (the scan state).
    pub store: Arc<Store>,
    /// The escrow address.
    pub escrow: EthAddress,
    /// Confirmations before a deposit is recorded (at least 1).
    pub confirmations: u64,
    /// First block to read on the very first start (`None`: the head at that moment).
    pub start_block: Option<u64>,
    /// Time between passes.
    pub poll: Duration,
    /// Providers that must report a deposit's block (by hash) before it is credited.
    pub quorum: usize,
    /// Counters.
    pub stats: Arc<DepositStats>,
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The providers failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The engine did not take a deposit.
    #[error("the engine could not record a deposit change: {0}")]
    Engine(String),
    /// The stored scan state is unreadable.
    #[error("{0}")]
    State(String),
    /// Too few providers agree on a deposit's block: it is held, not credited.
    #[error("{0}")]
    Disputed(String),
}

fn to_store(a: EthAddress) -> Address {
    Address(a.0.0)
}

impl DepositWatcher {
    fn state_key(&self) -> String {
        format!("chain.deposits.{}", to_store(self.escrow))
    }

    fn load(&self) -> Result<Option<ScanState>, WatchError> {
        let bytes = self
            .store
            .read()
            .and_then(|r| r.state(&self.state_key()))
            .map_err(|e| WatchError::State(e.to_string()))?;
        bytes
            .map(|b| {
                serde_json::from_slice(&b).map_err(|e| {
                    WatchError::State(format!("the deposit scan state is unreadable: {e}"))
                })
            })
            .transpose()
    }

    async fn save(&self, state: &ScanState) -> Result<(), WatchError> {
        self.engine
            .execute(Command::SaveState {
                key: self.state_key(),
                value: serde_json::to_string(state).unwrap_or_default(),
            })
            .await
            .map(|_| ())
            .map_err(|e| WatchError::Engine(e.to_string()))
    }

    /// Runs until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut state = None;
        let mut unconfirmed: VecDeque<Unconfirmed> = VecDeque::new();
        let mut failures = 0u32;
        loop {
            let result = async {
                if state.is_none() {
                    state = Some(self.initial_state().await?);
                }
                let s = state.as_mut().expect("set above");
                self.pass(s, &mut unconfirmed).await
            }
            .await;
            let wait = match result {
                Ok(()) => {
                    failures = 0;
                    self.stats.beat.ok();
                    self.poll
                }
                Err(e) => {
                    failures = (failures + 1).min(8);
                    self.stats.last_error.set(e.to_string());
                    self.stats.beat.failed(e.to_string());
                    tracing::warn!(error = %e, "deposit watch failed; retrying");
                    // The in-memory view may be stale after a failure: read it again.
                    unconfirmed.clear();
                    state = None;
                    Backoff::new(self.poll * 2, self.poll * 32).delay(failures)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    async fn initial_state(&self) -> Result<ScanState, WatchError> {
        if let Some(s) = self.load()? {
            return Ok(s);
        }
        let next = match self.start_block {
            Some(n) => n,
            None => self.rpc.block_number().await?,
        };
        let state = ScanState {
            next,
            confirmed: VecDeque::new(),
        };
        self.save(&state).await?;
        tracing::info!(from_block = next, escrow = %self.escrow, "watching escrow deposits");
        Ok(state)
    }

    /// One pass: notice deep reorganisations, read new blocks, record what got confirmed.
    async fn pass(
        &self,
        state: &mut ScanState,
        unconfirmed: &mut VecDeque<Unconfirmed>,
    ) -> Result<(), WatchError> {
        self.check_confirmed(state, unconfirmed).await?;
        let head = self.rpc.block_number().await?;
        self.stats.head.store(head, Ordering::Relaxed);
        let mut n = unconfirmed.back().map_or(state.next, |b| b.number + 1);
        let last = head.min(state.next + MAX_BLOCKS_PER_PASS);
        while n <= last {
            let Some(block) = self.rpc.block(n).await? else {
                break; // the node is behind its own head report; next pass
            };
            let parent = unconfirmed.back().map(|b| b.hash).or_else(|| {
                state
                    .confirmed
                    .back()
                    .filter(|c| c.number + 1 == n)
                    .map(|c| c.hash)
            });
            if let Some(expected) = parent
                && block.parent_hash != expected
            {
                // Reorganised: step back and read again.
                match unconfirmed.pop_back() {
                    Some(dropped) => {
                        tracing::info!(
                            block = dropped.number,
                            "unconfirmed block replaced; reading again"
                        );
                        n = dropped.number;
                        continue;
                    }
                    // The confirmed tip itself was replaced: handled by the next pass.
                    None => break,
                }
            }
            unconfirmed.push_back(self.unconfirmed(&block));
            n += 1;
        }
        // Confirm what is deep enough.
        let confirmed_through = (head + 1).saturating_sub(self.confirmations);
        let mut changed = false;
        while unconfirmed
            .front()
            .is_some_and(|b| b.number <= confirmed_through)
        {
            let b = unconfirmed.front().expect("checked");
            if !b.deposits.is_empty() && self.quorum > 1 {
                let (agree, said) = self.rpc.agreeing_on(b.number, b.hash).await;
                if agree < self.quorum {
                    if changed {
                        self.save(state).await?;
                    }
                    self.show_pending(unconfirmed);
                    return Err(WatchError::Disputed(format!(
                        "deposits in block {} held: {agree} of the {} providers report its hash {} \
                         and {} must ({})",
                        b.number,
                        self.rpc.providers(),
                        b.hash,
                        self.quorum,
                        said.join("; ")
                    )));
                }
            }
            let b = unconfirmed.pop_front().expect("checked");
            let mut recorded = Vec::new();
            for d in &b.deposits {
                self.record(d).await?;
                recorded.push(d.tx);
            }
            state.confirmed.push_back(Confirmed {
                number: b.number,
                hash: b.hash,
                deposits: recorded,
            });
            while state.confirmed.len() > KEEP_CONFIRMED {
                state.confirmed.pop_front();
            }
            state.next = b.number + 1;
            changed = true;
        }
        if changed {
            self.save(state).await?;
        }
        self.stats
            .confirmed_through
            .store(state.next.saturating_sub(1), Ordering::Relaxed);
        self.show_pending(unconfirmed);
        Ok(())
    }

    /// Deposits seen and not yet credited, for the status.
    fn show_pending(&self, unconfirmed: &VecDeque<Unconfirmed>) {
        *self.stats.pending.lock().unwrap_or_else(|p| p.into_inner()) = unconfirmed
            .iter()
            .flat_map(|b| b.deposits.clone())
            .collect();
    }

    fn unconfirmed(&self, block: &Block) -> Unconfirmed {
        let number = block.number.to::<u64>();
        let deposits = block
            .transactions
            .iter()
            .filter(|tx| {
                tx.to == Some(self.escrow) && tx.from != self.escrow && !tx.value.is_zero()
            })
            .map(|tx| Seen {
                tx: tx.hash,
                from: tx.from,
                amount: tx.value,
                block: number,
            })
            .collect();
        Unconfirmed {
            number,
            hash: block.hash,
            deposits,
        }
    }

    async fn record(&self, d: &Seen) -> Result<(), WatchError> {
        let amount: u128 = d
            .amount
            .try_into()
            .map_err(|_| WatchError::Engine(format!("deposit {} is too large", d.tx)))?;
        let reply = self
            .engine
            .execute(Command::RecordDeposit {
                from: to_store(d.from),
                amount: Wei(amount),
                reference: d.tx.to_string(),
            })
            .await
            .map_err(|e| WatchError::Engine(e.to_string()))?;
        if let domain::engine::Reply::Deposit {
            duplicate: false,
            credited,
            ..
        } = reply
        {
            self.stats.recorded.fetch_add(1, Ordering::Relaxed);
            tracing::info!(tx = %d.tx, from = %d.from, amount = %Wei(amount), block = d.block, credited, "deposit recorded");
        }
        Ok(())
    }

    /// Finds confirmed blocks that left the chain (a reorganisation deeper than the
    /// confirmations) and reverts their deposits.
    async fn check_confirmed(
        &self,
        state: &mut ScanState,
        unconfirmed: &mut VecDeque<Unconfirmed>,
    ) -> Result<(), WatchError> {
        let Some(tip) = state.confirmed.back() else {
            return Ok(());
        };
        if self.rpc.header(tip.number).await?.map(|h| h.hash) == Some(tip.hash) {
            return Ok(()); // its ancestors are fixed by its hash
        }
        // Walk back to the newest confirmed block still on the chain.
        let mut replaced = Vec::new();
        while let Some(c) = state.confirmed.back() {
            if self.rpc.header(c.number).await?.map(|h| h.hash) == Some(c.hash) {
                break;
            }
            replaced.push(state.confirmed.pop_back().expect("checked"));
        }
        let from = replaced.last().map_or(state.next, |c| c.number);
        tracing::warn!(
            from_block = from,
            blocks = replaced.len(),
            "confirmed blocks were replaced (deep reorganisation)"
        );
        for c in &replaced {
            for tx in &c.deposits {
                let result = self
                    .engine
                    .execute(Command::RevertDeposit {
                        reference: tx.to_string(),
                        reason: format!("block {} ({}) left the chain", c.number, c.hash),
                    })
                    .await;
                match result {
                    Ok(_) => {
                        self.stats.reverted.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(tx = %tx, block = c.number, "deposit reverted");
                    }
                    // Already reverted in an earlier attempt of this pass.
                    Err(e) if e.code == "not_found" => {}
                    Err(e) => return Err(WatchError::Engine(e.to_string())),
                }
            }
        }
        state.next = from;
        unconfirmed.clear();
        self.save(state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_state_round_trips() {
        let s = ScanState {
            next: 12,
            confirmed: [Confirmed {
                number: 11,
                hash: B256::repeat_byte(1),
                deposits: vec![B256::repeat_byte(2)],
            }]
            .into(),
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ScanState>(&text).unwrap(), s);
    }
}
