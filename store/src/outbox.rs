//! The outbox: side effects decided in the same transaction as the event that caused them, and
//! delivered afterwards by whoever owns the channel (X replies, chain transactions).
//!
//! A row is written with its event, so a crash can never lose a side effect or invent one; the
//! deliverer records the external id when it is done, so a restart never repeats one.

use serde::{Deserialize, Serialize};

use crate::model::{AuctionId, BidId, OutboxId};
use crate::time::Timestamp;

/// What should be said or done. Structured, not rendered: the deliverer renders text at send
/// time from the records it names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// Tell a bidder their bid leads.
    BidAccepted {
        /// The bid.
        bid: BidId,
    },
    /// Tell a bidder why their bid was refused.
    BidRejected {
        /// The bid.
        bid: BidId,
    },
    /// Tell the previous leader they were outbid.
    Outbid {
        /// Their bid.
        bid: BidId,
        /// The bid that overtook it.
        by: BidId,
    },
    /// Announce the winner (or that the item went unsold).
    AuctionResult {
        /// The auction.
        auction: AuctionId,
    },
}

/// Where a row stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting to be delivered.
    Pending,
    /// Waiting for an operator's approval.
    Held,
    /// Delivered; `external_id` is the tweet id or transaction hash.
    Sent {
        /// When.
        at: Timestamp,
        /// The id the other side gave it.
        external_id: String,
    },
    /// Not delivered, with the reason (the deliverer may retry).
    Failed {
        /// When it last failed.
        at: Timestamp,
        /// Why.
        error: String,
    },
    /// Deliberately not delivered (dry run, no channel configured, rejected by an operator).
    Skipped {
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
    },
}

impl OutboxStatus {
    /// Whether the row still needs delivering.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Pending | Self::Held | Self::Failed { .. })
    }
}

/// One row of the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Its id (in creation order).
    pub id: OutboxId,
    /// The event that caused it.
    pub event_seq: u64,
    /// When it was written.
    pub created_at: Timestamp,
    /// What to do.
    pub notice: Notice,
    /// Where it stands.
    pub status: OutboxStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
}
