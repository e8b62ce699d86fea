//! Chain transactions out: the deliverer of the outbox's chain rows (token transfers to winners,
//! payments to the treasury, refunds).
//!
//! A transaction is built, signed and stored with the engine (`Signed`: nonce, hash, raw bytes)
//! before it is broadcast, then broadcast again, unchanged, until its receipt has the configured
//! confirmations (or, not mined after `replace_after_blocks`, replaced by the same transaction
//! with a higher fee, recorded as an event); a restart re-broadcasts the stored bytes, so a crash at any point leads to
//! exactly one transaction. Nonces are allocated in order from the larger of the chain's pending
//! count and the stored ones. When every transaction of a sale is confirmed, the engine settles
//! the auction.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address as EthAddress, B256, U256};
use store::{
    AuctionId, AuctionState, Channel, Milestone, Notice, OutboxEntry, OutboxStatus, Store, View,
};
use tokio::sync::{broadcast, watch};

use super::eth::{Signer, safe_transfer_from, transaction};
use super::rpc::{Rpc, RpcError};
use domain::clock::SharedClock;
use domain::engine::{Command, Committed, EngineHandle};
use domain::report::{Heartbeat, LastError};

/// Re-broadcast a signed transaction that has no receipt this often.
const REBROADCAST: Duration = Duration::from_secs(15);
/// Gas estimate headroom, percent.
const GAS_MARGIN_PCT: u64 = 20;

/// Counters for the status page.
#[derive(Debug, Default)]
pub struct SettleStats {
    /// Transactions signed.
    pub signed: AtomicU64,
    /// Transactions confirmed.
    pub confirmed: AtomicU64,
    /// Transactions that failed (reverted, or could not be built).
    pub failed: AtomicU64,
    /// The last failure.
    pub last_error: LastError,
    /// Transactions held for the operator because they would cost more than the caps allow.
    pub held: AtomicU64,
    /// Transactions replaced with a higher fee after not being mined in time.
    pub replaced: AtomicU64,
    /// When a round of work last succeeded, and whether the latest failed.
    pub beat: Heartbeat,
}

/// What one transaction may cost at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Gas (the estimate with its headroom).
    pub max_gas: u64,
    /// Fee per gas, wei.
    pub max_fee_per_gas: u128,
}

/// Delivers the chain rows of the outbox.
#[derive(Clone)]
pub struct ChainDeliverer {
    /// The providers.
    pub rpc: Arc<Rpc>,
    /// The engine.
    pub engine: EngineHandle,
    /// The store.
    pub store: Arc<Store>,
    /// The custody key (escrow and tokens).
    pub signer: Arc<Signer>,
    /// The chain's id.
    pub chain_id: u64,
    /// Where winning amounts go.
    pub treasury: EthAddress,
    /// Confirmations before a transaction counts as done.
    pub confirmations: u64,
    /// The appliance's clock.
    pub clock: SharedClock,
    /// Counters.
    pub stats: Arc<SettleStats>,
    /// The most a transaction may cost.
    pub caps: Caps,
    /// A transaction not mined this many blocks after it was first seen unmined is replaced by
    /// the same one offering a higher fee (0: never).
    pub replace_after_blocks: u64,
    /// How much higher, percent (nodes want at least 10).
    pub fee_bump_pct: u64,
}

/// Signed transactions on their way, as this run has seen them.
#[derive(Debug, Default)]
struct InFlight {
    /// When each row's transaction was last broadcast.
    broadcast_at: HashMap<u64, Instant>,
    /// The head when this run first saw each row's current transaction unmined.
    since_block: HashMap<u64, u64>,
}

/// What a row asks for on chain.
struct Call {
    to: EthAddress,
    value: U256,
    data: Vec<u8>,
}

enum Outcome {
    /// Nothing more to do now.
    Waiting,
    /// The row changed state.
    Progress,
}

impl ChainDeliverer {
    /// Runs until `stop`, woken by committed batches and every two seconds.
    pub async fn run(
        self,
        mut committed: broadcast::Receiver<Committed>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut next_nonce: Option<u64> = None;
        let mut flight = InFlight::default();
        let mut floor = 0u64;
        loop {
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.pass(&mut floor, &mut next_nonce, &mut flight).await {
                self.note_error(&e);
                self.stats.beat.failed(e.as_str());
                tracing::warn!(error = %e, "chain delivery paused");
                // The pending count is read again: a failed step may have left it unknown.
                next_nonce = None;
            } else {
                self.stats.beat.ok();
            }
            tokio::select! {
                r = committed.recv() => {
                    if matches!(r, Err(broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    fn note_error(&self, e: &str) {
        self.stats.last_error.set(e);
    }

    /// Sales handed to the chain and not yet settled.
    fn unsettled(&self) -> Result<Vec<AuctionId>, String> {
        let r = self.store.read().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for a in r.auctions().map_err(|e| e.to_string())? {
            if a.state == AuctionState::Processing
                && r.milestone(a.id, Milestone::SettlementQueued)
                    .map_err(|e| e.to_string())?
            {
                out.push(a.id);
            }
        }
        Ok(out)
    }

    /// The chain rows from `floor` on, and `floor` moved past the rows that need nothing more
    /// (finished, and not part of a sale still being settled), so passes read only the tail.
    fn rows(&self, floor: &mut u64, unsettled: &[AuctionId]) -> Result<Vec<OutboxEntry>, String> {
        let r = self.store.read().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut after = *floor;
        let mut done_so_far = true;
        loop {
            let rows = r.outbox_after(after, 1024).map_err(|e| e.to_string())?;
            let Some(last) = rows.last() else { break };
            after = last.id.0;
            for row in rows {
                if row.notice.channel() != Channel::Chain {
                    continue;
                }
                let needed = row.status.is_open()
                    || row.notice.settles().is_some_and(|a| unsettled.contains(&a));
                if needed && done_so_far {
                    *floor = row.id.0 - 1;
                    done_so_far = false;
                }
                out.push(row);
            }
        }
        if done_so_far {
            *floor = after;
        }
        Ok(out)
    }

    async fn pass(
        &self,
        floor: &mut u64,
        next_nonce: &mut Option<u64>,
        flight: &mut InFlight,
    ) -> Result<(), String> {
        let rows = self.rows(floor, &self.unsettled()?)?;
        for row in rows.iter() {
            if let OutboxStatus::Signed {
                tx_hash,
                raw,
                nonce,
                ..
            } = &row.status
            {
                self.follow(row, tx_hash, raw, *nonce, flight).await?;
            }
        }
        for row in rows.iter().filter(|r| r.status == OutboxStatus::Pending) {
            let nonce = match next_nonce {
                Some(n) => *n,
                None => {
                    let chain = self
                        .rpc
                        .pending_nonce(self.signer.address())
                        .await
                        .map_err(|e| e.to_string())?;
                    let stored = rows
                        .iter()
                        .filter_map(|r| match &r.status {
                            OutboxStatus::Signed { nonce, .. } => Some(nonce + 1),
                            _ => None,
                        })
                        .max()
                        .unwrap_or(0);
                    *next_nonce = Some(chain.max(stored));
                    chain.max(stored)
                }
            };
            if let Outcome::Progress = self.sign_and_send(row, nonce, flight).await? {
                *next_nonce = Some(nonce + 1);
            }
        }
        self.settle_finished(floor).await
    }

    /// Builds what a row asks for, or says why it cannot be done.
    fn call_of(&self, row: &OutboxEntry) -> Result<Call, String> {
        let r = self.store.read().map_err(|e| e.to_string())?;
        let auction = |id: AuctionId| {
            r.auction(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("auction {id} is missing"))
        };
        let winner_wallet = |a: &store::Auction| -> Result<EthAddress, String> {
            let winner = a
                .leader
                .ok_or_else(|| format!("auction {} has no winner", a.id))?;
            let link = r
                .wallet(winner)
                .map_err(|e| e.to_string())?
                .filter(|l| l.verified)
                .ok_or_else(|| format!("the winner of auction {} has no verified wallet", a.id))?;
            Ok(EthAddress::from(link.address.0))
        };
        match &row.notice {
            Notice::TransferNft { auction: id } => {
                let a = auction(*id)?;
                let token = r
                    .item(a.item)
                    .map_err(|e| e.to_string())?
                    .and_then(|i| i.token)
                    .ok_or_else(|| format!("the item of auction {id} is not a token"))?;
                let token_id = U256::from_str(&token.token_id)
                    .map_err(|e| format!("token id {}: {e}", token.token_id))?;
                // The log's head goes with the token: the whole record, sealed with the sale.
                let head = r
                    .head()
                    .map_err(|e| e.to_string())?
                    .ok_or("the event log is empty")?;
                Ok(Call {
                    to: EthAddress::from(token.contract.0),
                    value: U256::ZERO,
                    data: safe_transfer_from(
                        self.signer.address(),
                        winner_wallet(&a)?,
                        token_id,
                        store::export::anchor(head.seq, &head.hash),
                    ),
                })
            }
            Notice::PayTreasury { auction: id } => {
                let a = auction(*id)?;
                Ok(Call {
                    to: self.treasury,
                    value: U256::from(a.price.0),
                    data: Vec::new(),
                })
            }
            Notice::Refund { withdrawal } => {
                let w = r
                    .withdrawal(*withdrawal)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("withdrawal {withdrawal} is missing"))?;
                Ok(Call {
                    to: EthAddress::from(w.to.0),
                    value: U256::from(w.amount.0),
                    data: Vec::new(),
                })
            }
            other => Err(format!("{} is not a chain transaction", other.kind())),
        }
    }

    async fn set(
        &self,
        row: &OutboxEntry,
        status: OutboxStatus,
        attempted: bool,
    ) -> Result<(), String> {
        self.engine
            .execute(Command::UpdateOutbox {
                id: row.id,
                status,
                attempted,
            })
            .await
            .map(|_| ())
            .map_err(|e| format!("outbox row {}: {e}", row.id))
    }

    async fn fail(&self, row: &OutboxEntry, error: String) -> Result<Outcome, String> {
        tracing::error!(row = %row.id, kind = row.notice.kind(), error = %error, "chain transaction failed");
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        self.note_error(&error);
        self.set(
            row,
            OutboxStatus::Failed {
                at: self.clock.now(),
                error,
            },
            true,
        )
        .await?;
        Ok(Outcome::Progress)
    }

    async fn sign_and_send(
        &self,
        row: &OutboxEntry,
        nonce: u64,
        flight: &mut InFlight,
    ) -> Result<Outcome, String> {
        let call = match self.call_of(row) {
            Ok(c) => c,
            Err(why) => {
                self.fail(row, why).await?;
                return Ok(Outcome::Waiting);
            }
        };
        let from = self.signer.address();
        let gas = match self
            .rpc
            .estimate_gas(from, call.to, call.value, &call.data)
            .await
        {
            Ok(g) => g,
            Err(RpcError::Node { message, .. }) => {
                self.fail(row, format!("the transaction would fail: {message}"))
                    .await?;
                return Ok(Outcome::Waiting);
            }
            Err(e) => return Err(e.to_string()),
        };
        let gas_limit = gas + gas * GAS_MARGIN_PCT / 100;
        let base = self.rpc.base_fee().await.map_err(|e| e.to_string())?;
        let priority = self.rpc.priority_fee().await.unwrap_or(1_000_000);
        let max_fee = base.saturating_mul(2).saturating_add(priority);
        if let Some(why) = self.over_caps(gas_limit, max_fee) {
            return self.hold(row, why).await;
        }
        let tx = transaction(
            self.chain_id,
            nonce,
            call.to,
            call.value,
            call.data,
            gas_limit,
            max_fee,
            priority.min(max_fee),
        );
        let signed = self.signer.sign(tx)?;
        // Durable before it leaves: after a crash the same bytes are broadcast again.
        self.set(
            row,
            OutboxStatus::Signed {
                at: self.clock.now(),
                nonce,
                tx_hash: signed.hash.to_string(),
                raw: signed.raw.clone(),
            },
            true,
        )
        .await?;
        self.stats.signed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(row = %row.id, kind = row.notice.kind(), tx = %signed.hash, nonce, "chain transaction signed");
        self.broadcast(row, &signed.raw, flight).await;
        Ok(Outcome::Progress)
    }

    /// Why a transaction needing `gas_limit` at `max_fee` per gas may not be sent, if so.
    fn over_caps(&self, gas_limit: u64, max_fee: u128) -> Option<String> {
        if gas_limit > self.caps.max_gas {
            return Some(format!(
                "it needs {gas_limit} gas, over chain.max_gas ({})",
                self.caps.max_gas
            ));
        }
        if max_fee > self.caps.max_fee_per_gas {
            return Some(format!(
                "it would offer {max_fee} wei per gas, over chain.max_fee_per_gas_wei ({}); the \
                 network's fees are high",
                self.caps.max_fee_per_gas
            ));
        }
        None
    }

    /// Holds a row for the operator (nothing is signed or sent); approving it on the Outbox
    /// page tries again under the caps then in force.
    async fn hold(&self, row: &OutboxEntry, why: String) -> Result<Outcome, String> {
        let line = format!("transaction held: {why}");
        tracing::error!(row = %row.id, kind = row.notice.kind(), reason = %why, "chain transaction held: over the caps");
        self.stats.held.fetch_add(1, Ordering::Relaxed);
        self.note_error(&line);
        self.set(row, OutboxStatus::Held, true).await?;
        Ok(Outcome::Waiting)
    }

    /// Broadcasts signed bytes; `true` when the node says their nonce is already used.
    async fn broadcast(&self, row: &OutboxEntry, raw: &[u8], flight: &mut InFlight) -> bool {
        flight.broadcast_at.insert(row.id.0, Instant::now());
        let Err(e) = self.rpc.send_raw(raw).await else {
            return false;
        };
        let message = e.node_message().unwrap_or("").to_ascii_lowercase();
        if message.contains("nonce too low") || message.contains("nonce has already been used") {
            return true;
        }
        let known = message.contains("already known")
            || message.contains("known transaction")
            || message.contains("already imported");
        if !known {
            self.note_error(&e.to_string());
            tracing::warn!(row = %row.id, error = %e, "broadcast failed; will retry");
        }
        false
    }

    async fn follow(
        &self,
        row: &OutboxEntry,
        tx_hash: &str,
        raw: &[u8],
        nonce: u64,
        flight: &mut InFlight,
    ) -> Result<(), String> {
        let hash = B256::from_str(tx_hash).map_err(|e| format!("stored hash {tx_hash}: {e}"))?;
        let receipt = self.rpc.receipt(hash).await.map_err(|e| e.to_string())?;
        let Some(receipt) = receipt else {
            if self.replace_after_blocks > 0 {
                let head = self.rpc.block_number().await.map_err(|e| e.to_string())?;
                let since = *flight.since_block.entry(row.id.0).or_insert(head);
                if head >= since + self.replace_after_blocks {
                    return self.replace(row, hash, raw, nonce, head, flight).await;
                }
            }
            let due = flight
                .broadcast_at
                .get(&row.id.0)
                .is_none_or(|t| t.elapsed() >= REBROADCAST);
            if due {
                tracing::debug!(row = %row.id, tx = %hash, nonce, "broadcasting (again)");
                if self.broadcast(row, raw, flight).await {
                    // Its nonce is taken: either it was just mined (look once more) or another
                    // transaction from this key used it, and this one can never be mined.
                    if self
                        .rpc
                        .receipt(hash)
                        .await
                        .map_err(|e| e.to_string())?
                        .is_none()
                        && !self.mined_earlier(row).await?
                    {
                        self.fail(
                            row,
                            format!("nonce {nonce} was used by another transaction; {hash} can never be mined"),
                        )
                        .await?;
                    }
                }
            }
            return Ok(());
        };
        let head = self.rpc.block_number().await.map_err(|e| e.to_string())?;
        let mined = receipt.block_number.to::<u64>();
        if head + 1 < mined + self.confirmations {
            return Ok(());
        }
        flight.broadcast_at.remove(&row.id.0);
        flight.since_block.remove(&row.id.0);
        if receipt.status.to::<u64>() == 1 {
            self.stats.confirmed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(row = %row.id, kind = row.notice.kind(), tx = %hash, block = mined, "chain transaction confirmed");
            self.set(
                row,
                OutboxStatus::Sent {
                    at: self.clock.now(),
                    external_id: tx_hash.to_string(),
                },
                false,
            )
            .await
        } else {
            self.fail(row, format!("transaction {hash} reverted in block {mined}"))
                .await
                .map(|_| ())
        }
    }

    /// Replaces the row's transaction `hash`, not mined in time, by the same one (same nonce,
    /// recipient, value and data) offering `fee_bump_pct` more, or the network's going rate if
    /// higher; recorded with the engine before it is broadcast. Over the caps it is left as it
    /// is, with an alert, and tried again after as many blocks.
    async fn replace(
        &self,
        row: &OutboxEntry,
        hash: B256,
        raw: &[u8],
        nonce: u64,
        head: u64,
        flight: &mut InFlight,
    ) -> Result<(), String> {
        use alloy_eips::eip2718::Decodable2718;
        let envelope = alloy_consensus::TxEnvelope::decode_2718(&mut &raw[..])
            .map_err(|e| format!("the stored transaction {hash} does not decode: {e}"))?;
        let alloy_consensus::TxEnvelope::Eip1559(signed) = envelope else {
            return Err(format!("the stored transaction {hash} is not EIP-1559"));
        };
        let mut tx = signed.tx().clone();
        let pct = u128::from(self.fee_bump_pct);
        let bump = |v: u128| v.saturating_mul(100 + pct) / 100 + 1;
        let base = self.rpc.base_fee().await.map_err(|e| e.to_string())?;
        let going = self.rpc.priority_fee().await.unwrap_or(1_000_000);
        let priority = bump(tx.max_priority_fee_per_gas).max(going);
        let max_fee = bump(tx.max_fee_per_gas).max(base.saturating_mul(2).saturating_add(priority));
        flight.since_block.insert(row.id.0, head);
        if let Some(why) = self.over_caps(tx.gas_limit, max_fee) {
            let line = format!(
                "transaction {hash} (nonce {nonce}) is not mined after {} blocks, and a higher fee \
                 would be over the caps: {why}",
                self.replace_after_blocks
            );
            tracing::error!(row = %row.id, "{line}");
            self.stats.held.fetch_add(1, Ordering::Relaxed);
            self.note_error(&line);
            return Ok(());
        }
        tx.max_fee_per_gas = max_fee;
        tx.max_priority_fee_per_gas = priority.min(max_fee);
        let replacement = self.signer.sign(tx)?;
        self.engine
            .execute(Command::ReplaceTransaction {
                id: row.id,
                replaced: hash.to_string(),
                nonce,
                tx_hash: replacement.hash.to_string(),
                raw: replacement.raw.clone(),
                max_fee_per_gas: store::Wei(max_fee),
            })
            .await
            .map_err(|e| format!("outbox row {}: {e}", row.id))?;
        self.stats.replaced.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(row = %row.id, nonce, replaced = %hash, by = %replacement.hash, max_fee_per_gas = max_fee, "chain transaction not mined in time; replaced with a higher fee");
        self.broadcast(row, &replacement.raw, flight).await;
        Ok(())
    }

    /// Whether a transaction this row replaced was mined after all (its nonce is taken and the
    /// current one has no receipt): the row is then delivered by that one.
    async fn mined_earlier(&self, row: &OutboxEntry) -> Result<bool, String> {
        let earlier: Vec<String> = {
            let r = self.store.read().map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            let mut before = u64::MAX;
            loop {
                let page = r.events_before(before, 4096).map_err(|e| e.to_string())?;
                let Some(last) = page.last() else { break };
                before = last.seq;
                for e in page {
                    if let store::Event::TransactionReplaced {
                        outbox, replaced, ..
                    } = e.event
                        && outbox == row.id
                    {
                        out.push(replaced);
                    }
                }
            }
            out
        };
        for h in earlier {
            let Ok(hash) = B256::from_str(&h) else {
                continue;
            };
            if let Some(receipt) = self.rpc.receipt(hash).await.map_err(|e| e.to_string())? {
                if receipt.status.to::<u64>() != 1 {
                    self.fail(
                        row,
                        format!(
                            "transaction {hash} reverted in block {}",
                            receipt.block_number
                        ),
                    )
                    .await?;
                    return Ok(true);
                }
                let head = self.rpc.block_number().await.map_err(|e| e.to_string())?;
                if head + 1 < receipt.block_number.to::<u64>() + self.confirmations {
                    return Ok(true); // mined; confirmed in a later pass
                }
                tracing::info!(row = %row.id, tx = %hash, "an earlier transaction of this row was mined; recorded as sent");
                self.stats.confirmed.fetch_add(1, Ordering::Relaxed);
                self.set(
                    row,
                    OutboxStatus::Sent {
                        at: self.clock.now(),
                        external_id: h,
                    },
                    false,
                )
                .await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Settles every auction whose chain rows are all confirmed.
    async fn settle_finished(&self, floor: &mut u64) -> Result<(), String> {
        let unsettled = self.unsettled()?;
        if unsettled.is_empty() {
            return Ok(());
        }
        let rows = self.rows(floor, &unsettled)?;
        for auction in unsettled {
            let mine: Vec<&OutboxEntry> = rows
                .iter()
                .filter(|r| r.notice.settles() == Some(auction))
                .collect();
            let done = !mine.is_empty()
                && mine
                    .iter()
                    .all(|r| matches!(r.status, OutboxStatus::Sent { .. }));
            if !done {
                continue;
            }
            match self
                .engine
                .execute(Command::ConfirmSettlement { auction })
                .await
            {
                Ok(_) => tracing::info!(auction = %auction, "sale settled on chain"),
                Err(e) if e.code == "invalid_state" => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }
}
