//! The outbox: side effects decided in the same transaction as the event that caused them, and
//! delivered afterwards by whoever owns the channel (X replies, chain transactions).
//!
//! A row is written with its event, so a crash can never lose a side effect or invent one; the
//! deliverer records the external id when it is done, so a restart never repeats one.

use serde::{Deserialize, Serialize};

use crate::model::{AuctionId, BidId, DepositId, OutboxId, UserId, WithdrawalId};
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
    // New variants go at the end: stored rows are decoded by variant position.
    /// Announce that bidding is open.
    AuctionOpened {
        /// The auction.
        auction: AuctionId,
    },
    /// Announce the last minutes of bidding.
    FinalMinutes {
        /// The auction.
        auction: AuctionId,
    },
    /// Remind someone who asked that an auction opens soon.
    Reminder {
        /// The auction.
        auction: AuctionId,
        /// Who asked.
        user: UserId,
        /// The tweet that asked.
        tweet: String,
    },
    /// Answer a tweet that was not a bid (a link, a withdrawal, a reminder request, or a command
    /// that could not be read), from its recorded outcome.
    TweetReply {
        /// The tweet.
        tweet: String,
    },
    /// Transfer the sold token from the custody wallet to the winner's wallet.
    TransferNft {
        /// The auction.
        auction: AuctionId,
    },
    /// Pay the winning amount from escrow to the treasury.
    PayTreasury {
        /// The auction.
        auction: AuctionId,
    },
    /// Refund a withdrawal from escrow to the bidder's wallet.
    Refund {
        /// The withdrawal.
        withdrawal: WithdrawalId,
    },
    /// Tell a bidder their deposit is credited.
    DepositCredited {
        /// The deposit.
        deposit: DepositId,
    },
    /// Tell the winner the token is in their wallet, with the transfer's hash.
    TokenDelivered {
        /// The auction.
        auction: AuctionId,
        /// The transfer transaction (`0x…`).
        tx: String,
    },
    /// Tell the runner-up the final price.
    RunnerUp {
        /// The auction.
        auction: AuctionId,
        /// The runner-up.
        user: UserId,
        /// Their best bid.
        bid: BidId,
    },
    /// A post the host wrote before an auction (a teaser, the hour-before call).
    HostPost {
        /// The auction it announces.
        auction: AuctionId,
        /// The text (checked against the facts by the host, at most 280 characters).
        text: String,
    },
}

/// Who delivers a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// A tweet.
    X,
    /// A chain transaction.
    Chain,
}

impl Notice {
    /// Who delivers it.
    pub fn channel(&self) -> Channel {
        match self {
            Notice::TransferNft { .. } | Notice::PayTreasury { .. } | Notice::Refund { .. } => {
                Channel::Chain
            }
            _ => Channel::X,
        }
    }

    /// Stable snake_case name.
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::BidAccepted { .. } => "bid_accepted",
            Notice::BidRejected { .. } => "bid_rejected",
            Notice::Outbid { .. } => "outbid",
            Notice::AuctionResult { .. } => "auction_result",
            Notice::AuctionOpened { .. } => "auction_opened",
            Notice::FinalMinutes { .. } => "final_minutes",
            Notice::Reminder { .. } => "reminder",
            Notice::TweetReply { .. } => "tweet_reply",
            Notice::TransferNft { .. } => "transfer_nft",
            Notice::PayTreasury { .. } => "pay_treasury",
            Notice::Refund { .. } => "refund",
            Notice::DepositCredited { .. } => "deposit_credited",
            Notice::TokenDelivered { .. } => "token_delivered",
            Notice::RunnerUp { .. } => "runner_up",
            Notice::HostPost { .. } => "host_post",
        }
    }

    /// The auction it settles, for chain notices that belong to a settlement.
    pub fn settles(&self) -> Option<AuctionId> {
        match self {
            Notice::TransferNft { auction } | Notice::PayTreasury { auction } => Some(*auction),
            _ => None,
        }
    }
}

/// Where a row stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting to be delivered.
    Pending,
    /// Waiting for an operator's approval.
    Held,
    /// Delivered; `external_id` is the tweet id or transaction hash (confirmed).
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
    // New variants go at the end: stored rows are decoded by variant position.
    /// A tweet is being posted with exactly this text. After a crash the deliverer looks for it
    /// on the account's timeline before posting it again, so it is never posted twice.
    Sending {
        /// When the attempt began.
        at: Timestamp,
        /// The text, fixed once rendered.
        text: String,
    },
    /// A chain transaction is signed and stored; it is broadcast (again, unchanged, after a
    /// restart) until its receipt has the configured confirmations.
    Signed {
        /// When it was signed.
        at: Timestamp,
        /// Its nonce.
        nonce: u64,
        /// Its hash (`0x...`).
        tx_hash: String,
        /// The signed transaction, as broadcast.
        raw: Vec<u8>,
    },
}

impl OutboxStatus {
    /// Whether the row still needs delivering.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            Self::Pending
                | Self::Held
                | Self::Failed { .. }
                | Self::Sending { .. }
                | Self::Signed { .. }
        )
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
