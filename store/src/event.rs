//! The event log: what happened, in order, hash-chained.
//!
//! Events are facts decided by the engine, carrying everything needed to update the projections
//! without consulting any rule or clock, so replaying the log from empty reproduces the
//! projections exactly. Each stored event is laid out as
//! `prev_hash (32) | hash (32) | at (i64 LE) | payload`, where the payload is the versioned
//! record encoding of [`Event`] and
//! `hash = SHA-256(prev_hash | seq (u64 LE) | at (i64 LE) | payload)`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{
    Address, Auction, AuctionId, Audit, Bid, BidId, Campaign, Ceiling, CustodyCheck, Deposit,
    DepositId, Item, Milestone, OutboxId, TweetRecord, User, UserId, WalletLink, Withdrawal,
};
use crate::record::{self, DecodeError};
use crate::time::Timestamp;
use crate::wei::Wei;

/// A 32-byte SHA-256 digest.
pub type Hash = [u8; 32];

/// Something that happened. See the module docs for the guarantee events keep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A campaign with its items and scheduled auctions.
    CampaignCreated {
        /// The campaign.
        campaign: Campaign,
        /// Its items.
        items: Vec<Item>,
        /// One auction per day.
        auctions: Vec<Auction>,
        /// Who created it.
        audit: Audit,
    },
    /// A campaign changed; pending auctions rescheduled or removed.
    CampaignEdited {
        /// The campaign as it now is.
        campaign: Campaign,
        /// New or changed items.
        items: Vec<Item>,
        /// Pending auctions as they now are.
        auctions: Vec<Auction>,
        /// Pending auctions that no longer exist (fewer days).
        removed: Vec<AuctionId>,
        /// Who changed it.
        audit: Audit,
    },
    /// A user seen for the first time, or with a new handle.
    UserSeen {
        /// The user.
        user: User,
    },
    /// A wallet linked to a user (replacing any earlier link).
    WalletLinked {
        /// The link.
        link: WalletLink,
    },
    /// ETH arrived in escrow (credited when `deposit.user` is set).
    DepositRecorded {
        /// The deposit.
        deposit: Deposit,
    },
    /// A held deposit (from a wallet linked after it arrived) is credited to its user.
    DepositCredited {
        /// The deposit.
        deposit: DepositId,
        /// The user now owning the wallet it came from.
        user: UserId,
    },
    /// A bid became the leading bid.
    BidAccepted {
        /// The bid (accepted: no rejection).
        bid: Bid,
        /// The auction's end after this bid.
        ends_at: Timestamp,
        /// Whether this bid moved the end (anti-sniping).
        extended: bool,
    },
    /// A bid was refused.
    BidRejected {
        /// The bid, with its rejection.
        bid: Bid,
    },
    /// Bidding opened.
    AuctionStarted {
        /// The auction.
        auction: AuctionId,
        /// When.
        at: Timestamp,
    },
    /// An operator paused bidding.
    AuctionPaused {
        /// The auction.
        auction: AuctionId,
        /// Time that was left, in microseconds.
        remaining_micros: i64,
        /// Who and why.
        audit: Audit,
    },
    /// An operator resumed bidding.
    AuctionResumed {
        /// The auction.
        auction: AuctionId,
        /// The new end.
        ends_at: Timestamp,
        /// Who and why.
        audit: Audit,
    },
    /// An operator moved the end later.
    AuctionExtended {
        /// The auction.
        auction: AuctionId,
        /// The new end.
        ends_at: Timestamp,
        /// Who and why.
        audit: Audit,
    },
    /// Bidding closed; the leading bid, if any, wins.
    AuctionClosed {
        /// The auction.
        auction: AuctionId,
        /// When.
        at: Timestamp,
        /// Set when an operator forced it.
        audit: Option<Audit>,
    },
    /// The sale is settled (the winner's commitment becomes a purchase).
    AuctionSettled {
        /// The auction.
        auction: AuctionId,
        /// When.
        at: Timestamp,
        /// Set when an operator forced it.
        audit: Option<Audit>,
    },
    /// Called off; the leading bid is released.
    AuctionCancelled {
        /// The auction.
        auction: AuctionId,
        /// When.
        at: Timestamp,
        /// Who and why.
        audit: Audit,
    },
    /// An operator's manual override of an auction's schedule or reserve.
    AuctionOverridden {
        /// The auction.
        auction: AuctionId,
        /// New end of bidding, if changed.
        ends_at: Option<Timestamp>,
        /// New reserve, if changed.
        reserve: Option<Wei>,
        /// Bidding reopened after it had closed.
        reopened: bool,
        /// Who and why.
        audit: Audit,
    },
    // New variants go at the end: stored events are decoded by variant position.
    /// A tweet was taken in (whatever it meant; commands it carried are their own events).
    TweetReceived {
        /// The tweet and its outcome.
        tweet: TweetRecord,
    },
    /// The block that carried a deposit is no longer on the chain (a reorganisation): the deposit
    /// is void, and uncredited if it had been credited.
    DepositReverted {
        /// The deposit.
        deposit: DepositId,
        /// What happened, for the operator.
        reason: String,
    },
    /// A leading bid lost its backing (its deposit was reverted); the best earlier bid that is
    /// still covered leads again, or none.
    BidVoided {
        /// The bid.
        bid: BidId,
        /// Its auction.
        auction: AuctionId,
        /// Why.
        reason: String,
        /// The bid that leads instead.
        restored: Option<BidId>,
    },
    /// The custody wallet's ownership of an auction's token was read from the chain.
    CustodyChecked {
        /// The auction.
        auction: AuctionId,
        /// What was read.
        check: CustodyCheck,
    },
    /// A bidder's unused escrow is being refunded to their wallet.
    WithdrawalRequested {
        /// The refund.
        withdrawal: Withdrawal,
    },
    /// Someone asked to be reminded before an auction opens.
    ReminderRequested {
        /// The auction.
        auction: AuctionId,
        /// Who.
        user: UserId,
        /// The tweet that asked (replied to).
        tweet: String,
    },
    /// A once-per-auction moment passed (its announcement is in the outbox).
    MilestoneReached {
        /// The auction.
        auction: AuctionId,
        /// Which.
        milestone: Milestone,
    },
    /// An operator approved, rejected or retried an outbox row.
    OutboxReviewed {
        /// The row.
        outbox: OutboxId,
        /// Approved (or sent back to be retried) rather than rejected.
        approved: bool,
        /// Who and why.
        audit: Audit,
    },
    /// An administrative action outside the auction (a login, a user, a setting, an asset, the
    /// stream), kept in the log for the audit trail.
    AdminAction {
        /// What was done (`login`, `user_created`, `settings_saved`, ...).
        action: String,
        /// Details (never a secret).
        detail: String,
        /// Who, from where, and why.
        audit: Audit,
    },
    /// A chain transaction that was not mined in time was replaced by the same transaction
    /// (same nonce, same effect) offering a higher fee.
    TransactionReplaced {
        /// The outbox row it delivers.
        outbox: OutboxId,
        /// The nonce both share.
        nonce: u64,
        /// The transaction replaced (`0x…`).
        replaced: String,
        /// The replacement (`0x…`).
        by: String,
        /// The replacement's highest fee per gas.
        max_fee_per_gas: Wei,
    },
    /// A bidder turned their notices off (`stop`) or on again (`start`).
    NoticesSet {
        /// Who.
        user: UserId,
        /// Whether they get notices.
        on: bool,
        /// The tweet that asked.
        tweet: String,
    },
    /// A bidder set (or raised) their ceiling on an auction; a ceiling of zero withdraws it
    /// (escrow no longer covers it).
    CeilingSet {
        /// The auction.
        auction: AuctionId,
        /// The ceiling.
        ceiling: Ceiling,
    },
    /// The host answered a viewer's question; the answer is the question tweet's reply.
    QuestionAnswered {
        /// The question tweet.
        tweet: String,
        /// The answer, as checked against the facts.
        answer: String,
    },
    /// The host posted before an auction (its teaser, or the hour-before call).
    HostPosted {
        /// The auction.
        auction: AuctionId,
        /// Which post (`Teaser` or `HourBefore`).
        milestone: Milestone,
        /// What it says.
        text: String,
    },
}

impl Event {
    /// Stable snake_case name of the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::CampaignCreated { .. } => "campaign_created",
            Event::CampaignEdited { .. } => "campaign_edited",
            Event::UserSeen { .. } => "user_seen",
            Event::WalletLinked { .. } => "wallet_linked",
            Event::DepositRecorded { .. } => "deposit_recorded",
            Event::DepositCredited { .. } => "deposit_credited",
            Event::BidAccepted { .. } => "bid_accepted",
            Event::BidRejected { .. } => "bid_rejected",
            Event::AuctionStarted { .. } => "auction_started",
            Event::AuctionPaused { .. } => "auction_paused",
            Event::AuctionResumed { .. } => "auction_resumed",
            Event::AuctionExtended { .. } => "auction_extended",
            Event::AuctionClosed { .. } => "auction_closed",
            Event::AuctionSettled { .. } => "auction_settled",
            Event::AuctionCancelled { .. } => "auction_cancelled",
            Event::AuctionOverridden { .. } => "auction_overridden",
            Event::TweetReceived { .. } => "tweet_received",
            Event::DepositReverted { .. } => "deposit_reverted",
            Event::BidVoided { .. } => "bid_voided",
            Event::CustodyChecked { .. } => "custody_checked",
            Event::WithdrawalRequested { .. } => "withdrawal_requested",
            Event::ReminderRequested { .. } => "reminder_requested",
            Event::MilestoneReached { .. } => "milestone_reached",
            Event::OutboxReviewed { .. } => "outbox_reviewed",
            Event::TransactionReplaced { .. } => "transaction_replaced",
            Event::NoticesSet { .. } => "notices_set",
            Event::CeilingSet { .. } => "ceiling_set",
            Event::QuestionAnswered { .. } => "question_answered",
            Event::HostPosted { .. } => "host_posted",
            Event::AdminAction { .. } => "admin_action",
        }
    }

    /// The auction this event is about, if any.
    pub fn auction(&self) -> Option<AuctionId> {
        match self {
            Event::BidAccepted { bid, .. } | Event::BidRejected { bid } => bid.auction,
            Event::AuctionStarted { auction, .. }
            | Event::AuctionPaused { auction, .. }
            | Event::AuctionResumed { auction, .. }
            | Event::AuctionExtended { auction, .. }
            | Event::AuctionClosed { auction, .. }
            | Event::AuctionSettled { auction, .. }
            | Event::AuctionCancelled { auction, .. }
            | Event::AuctionOverridden { auction, .. }
            | Event::BidVoided { auction, .. }
            | Event::CustodyChecked { auction, .. }
            | Event::ReminderRequested { auction, .. }
            | Event::CeilingSet { auction, .. }
            | Event::MilestoneReached { auction, .. } => Some(*auction),
            _ => None,
        }
    }

    /// The user this event is about, if any.
    pub fn user(&self) -> Option<UserId> {
        match self {
            Event::BidAccepted { bid, .. } | Event::BidRejected { bid } => Some(bid.bidder),
            Event::UserSeen { user } => Some(user.id),
            Event::WalletLinked { link } => Some(link.user),
            Event::DepositRecorded { deposit } => deposit.user,
            Event::DepositCredited { user, .. } => Some(*user),
            Event::TweetReceived { tweet } => Some(tweet.author),
            Event::WithdrawalRequested { withdrawal } => Some(withdrawal.user),
            Event::ReminderRequested { user, .. } | Event::NoticesSet { user, .. } => Some(*user),
            Event::CeilingSet { ceiling, .. } => Some(ceiling.user),
            _ => None,
        }
    }

    /// Who did it and why, for the operator actions the audit trail lists.
    pub fn audit(&self) -> Option<&Audit> {
        match self {
            Event::CampaignCreated { audit, .. }
            | Event::CampaignEdited { audit, .. }
            | Event::AuctionPaused { audit, .. }
            | Event::AuctionResumed { audit, .. }
            | Event::AuctionExtended { audit, .. }
            | Event::AuctionCancelled { audit, .. }
            | Event::AuctionOverridden { audit, .. }
            | Event::OutboxReviewed { audit, .. }
            | Event::AdminAction { audit, .. } => Some(audit),
            Event::AuctionClosed { audit, .. } | Event::AuctionSettled { audit, .. } => {
                audit.as_ref()
            }
            _ => None,
        }
    }

    /// The wallet this event is about, if any.
    pub fn address(&self) -> Option<Address> {
        match self {
            Event::WalletLinked { link } => Some(link.address),
            Event::DepositRecorded { deposit } => Some(deposit.from),
            Event::WithdrawalRequested { withdrawal } => Some(withdrawal.to),
            _ => None,
        }
    }
}

/// An event as stored: its place in the chain and its time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it was appended.
    pub at: Timestamp,
    /// Hash of the previous event (zeros for the first).
    #[serde(with = "hex_hash")]
    pub prev_hash: Hash,
    /// Hash of this event.
    #[serde(with = "hex_hash")]
    pub hash: Hash,
    /// What happened.
    pub event: Event,
}

const HEADER: usize = 32 + 32 + 8;

/// Computes an event's hash from its neighbours and encoded payload.
pub fn chain_hash(prev: &Hash, seq: u64, at: Timestamp, payload: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_le_bytes());
    h.update(at.0.to_le_bytes());
    h.update(payload);
    h.finalize().into()
}

/// Lays out a new event for storage; returns the stored bytes and the event's hash.
pub(crate) fn seal(prev: &Hash, seq: u64, at: Timestamp, event: &Event) -> (Vec<u8>, Hash) {
    let payload = record::encode(event);
    let hash = chain_hash(prev, seq, at, &payload);
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(prev);
    out.extend_from_slice(&hash);
    out.extend_from_slice(&at.0.to_le_bytes());
    out.extend_from_slice(&payload);
    (out, hash)
}

/// The stored parts of an event, before the payload is decoded.
pub(crate) struct RawEvent<'a> {
    pub prev_hash: Hash,
    pub hash: Hash,
    pub at: Timestamp,
    pub payload: &'a [u8],
}

pub(crate) fn split(bytes: &[u8]) -> Result<RawEvent<'_>, DecodeError> {
    if bytes.len() <= HEADER {
        return Err(DecodeError::Empty("event"));
    }
    let mut prev_hash = [0u8; 32];
    let mut hash = [0u8; 32];
    let mut at = [0u8; 8];
    prev_hash.copy_from_slice(&bytes[..32]);
    hash.copy_from_slice(&bytes[32..64]);
    at.copy_from_slice(&bytes[64..72]);
    Ok(RawEvent {
        prev_hash,
        hash,
        at: Timestamp(i64::from_le_bytes(at)),
        payload: &bytes[HEADER..],
    })
}

/// Decodes a stored event.
pub(crate) fn open(seq: u64, bytes: &[u8]) -> Result<EventRecord, DecodeError> {
    let raw = split(bytes)?;
    Ok(EventRecord {
        seq,
        at: raw.at,
        prev_hash: raw.prev_hash,
        hash: raw.hash,
        event: record::decode(raw.payload)?,
    })
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hash: &super::Hash, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(hash))
        } else {
            serde::Serialize::serialize(hash, s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<super::Hash, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
            Ok(out)
        } else {
            <[u8; 32]>::deserialize(d)
        }
    }
}
