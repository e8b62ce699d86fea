//! The records the appliance keeps: campaigns, items, auctions, bids, users, wallets, deposits,
//! balances. Plain data; the rules that change them live in the engine, and the only way they
//! change in the store is by applying an [`Event`](crate::Event).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{TimeOfDay, Timestamp};
use crate::wei::Wei;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// A campaign: a run of daily auctions.
    CampaignId
);
id_type!(
    /// An item (artwork) offered in a campaign.
    ItemId
);
id_type!(
    /// One day's auction.
    AuctionId
);
id_type!(
    /// A bid, accepted or not.
    BidId
);
id_type!(
    /// A deposit seen on chain.
    DepositId
);
id_type!(
    /// A row of the outbox.
    OutboxId
);
id_type!(
    /// A refund of unused escrow to a bidder's wallet.
    WithdrawalId
);

/// The key a handle is indexed under: without `@`, lower case.
pub fn handle_key(handle: &str) -> String {
    handle.trim().trim_start_matches('@').to_ascii_lowercase()
}

/// An X (Twitter) user id. X ids exceed 2^53, so JSON carries them as strings, as X does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&self.0)
        } else {
            serializer.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map(UserId).map_err(|_| {
                serde::de::Error::custom(format!(
                    "expected a user id as a decimal string, got {text:?}"
                ))
            })
        } else {
            u64::deserialize(deserializer).map(UserId)
        }
    }
}

/// A 20-byte Ethereum address. Written as `0x` + 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 20]);

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl FromStr for Address {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_part = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or_else(|| format!("an address starts with 0x, got {s:?}"))?;
        if hex_part.len() != 40 {
            return Err(format!(
                "an address has 40 hex digits, got {}",
                hex_part.len()
            ));
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(hex_part, &mut bytes)
            .map_err(|_| format!("an address is hexadecimal, got {s:?}"))?;
        Ok(Address(bytes))
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            String::deserialize(deserializer)?
                .parse()
                .map_err(serde::de::Error::custom)
        } else {
            <[u8; 20]>::deserialize(deserializer).map(Address)
        }
    }
}

/// The daily plan of windows, as wall-clock times in the campaign's time zone.
///
/// Each boundary is the first occurrence of its time at or after the one before it, so a plan
/// may cross midnight (an auction 22:00-00:30). The whole plan spans less than a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowPlan {
    /// Start of the pre-auction window (announcements).
    pub pre_auction_start: TimeOfDay,
    /// Start of bidding.
    pub auction_start: TimeOfDay,
    /// Scheduled end of bidding (before any anti-sniping extension).
    pub auction_end: TimeOfDay,
    /// End of the post-auction window (settlement, announcements).
    pub post_auction_end: TimeOfDay,
}

impl Default for WindowPlan {
    /// The product's plan: 00:00 pre-auction, 14:00-16:00 auction, post-auction until 23:59.
    fn default() -> Self {
        let t = |h, m| TimeOfDay::new(h, m).unwrap_or_else(|| unreachable!());
        WindowPlan {
            pre_auction_start: t(0, 0),
            auction_start: t(14, 0),
            auction_end: t(16, 0),
            post_auction_end: t(23, 59),
        }
    }
}

/// The rules one auction is run under. Copied into each auction when it is scheduled, so an edit
/// of the campaign never changes an auction already under way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuctionRules {
    /// The lowest acceptable first bid.
    pub reserve: Wei,
    /// The smallest raise over the current price, in wei.
    pub min_increment: Wei,
    /// The smallest raise as basis points of the current price; the larger of the two applies.
    pub min_increment_bps: u32,
    /// Anti-sniping: a bid in the last this-many seconds moves the end to now plus this.
    pub extension_secs: u32,
    /// Most bids one bidder may place per window (0: no limit).
    pub rate_limit_bids: u32,
    /// The rate limit's window, in seconds.
    pub rate_limit_window_secs: u32,
    /// Youngest X account that may bid, in days.
    pub min_account_age_days: u32,
}

impl Default for AuctionRules {
    fn default() -> Self {
        AuctionRules {
            reserve: Wei(100_000_000_000_000_000),      // 0.1 ETH
            min_increment: Wei(10_000_000_000_000_000), // 0.01 ETH
            min_increment_bps: 500,                     // 5 %
            extension_secs: 300,
            rate_limit_bids: 5,
            rate_limit_window_secs: 60,
            min_account_age_days: 30,
        }
    }
}

/// A campaign: one item a day for `days` days from `start_date`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// Display name ("Genesis").
    pub name: String,
    /// The first day, as a date in `timezone`.
    pub start_date: chrono::NaiveDate,
    /// How many daily auctions.
    pub days: u32,
    /// IANA time zone the windows are defined in.
    pub timezone: String,
    /// The daily windows.
    pub windows: WindowPlan,
    /// Rules for auctions scheduled from now on.
    pub rules: AuctionRules,
    /// The X handle hosting the campaign, without `@`.
    pub host_handle: String,
    /// Items in auction order; item `n` is sold on day `n + 1`.
    pub items: Vec<ItemId>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An ERC-721 token: contract and token id (decimal text of a uint256).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRef {
    /// The ERC-721 contract.
    pub contract: Address,
    /// The token id, decimal.
    pub token_id: String,
}

/// An artwork offered in a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its id.
    pub id: ItemId,
    /// The campaign it belongs to.
    pub campaign: CampaignId,
    /// Display name ("Genesis #1").
    pub name: String,
    /// Artist or collection line.
    pub artist: String,
    /// Artwork image: an asset name in the data dir, or empty for the generated placeholder.
    pub image: String,
    /// The token sold, when it is on chain.
    pub token: Option<TokenRef>,
}

/// Where an auction is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuctionState {
    /// Scheduled, not started.
    Pending,
    /// Taking bids.
    Active,
    /// Stopped by an operator; the remaining time is kept.
    Paused,
    /// Bidding closed; settlement under way.
    Processing,
    /// Settled (sold or unsold).
    Completed,
    /// Called off; no sale.
    Cancelled,
}

impl AuctionState {
    /// Completed or cancelled: nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One day's auction of one item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auction {
    /// Its id.
    pub id: AuctionId,
    /// The campaign.
    pub campaign: CampaignId,
    /// Day of the campaign, from 1.
    pub day: u32,
    /// The item sold.
    pub item: ItemId,
    /// Start of the pre-auction window.
    pub pre_start: Timestamp,
    /// Scheduled start of bidding.
    pub starts_at: Timestamp,
    /// Scheduled end of bidding.
    pub scheduled_end: Timestamp,
    /// Current end of bidding, after extensions (meaningless while paused).
    pub ends_at: Timestamp,
    /// End of the post-auction window.
    pub post_end: Timestamp,
    /// Its state.
    pub state: AuctionState,
    /// The rules it runs under.
    pub rules: AuctionRules,
    /// The leading (or, once closed, winning) bid.
    pub leading_bid: Option<BidId>,
    /// Its bidder.
    pub leader: Option<UserId>,
    /// Current price: the leading bid's amount, zero before any bid.
    pub price: Wei,
    /// Bids accepted so far.
    pub bids_accepted: u32,
    /// Bids refused so far.
    pub bids_rejected: u32,
    /// Times the end was moved later (anti-sniping or operator).
    pub extensions: u32,
    /// Time left when paused, in microseconds.
    pub paused_remaining_micros: Option<i64>,
    /// When bidding actually started.
    pub started_at: Option<Timestamp>,
    /// When bidding closed.
    pub closed_at: Option<Timestamp>,
    /// When it was settled or cancelled.
    pub finished_at: Option<Timestamp>,
}

/// Where a bid came from; also the key that makes a resubmission idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BidSource {
    /// A tweet, by id. Replies go to it.
    Tweet(String),
    /// The built-in simulated bidders.
    Simulated,
    /// An operator or client, with its own idempotency key.
    Operator(String),
    // New variants go at the end: stored records are decoded by variant position.
    /// The engine, for a bidder's ceiling (proxy bidding), set by this tweet (replies go to it).
    Proxy(String),
}

impl BidSource {
    /// The idempotency key, when the source has one.
    pub fn key(&self) -> Option<String> {
        match self {
            BidSource::Tweet(id) => Some(format!("tweet:{id}")),
            BidSource::Operator(key) => Some(format!("op:{key}")),
            BidSource::Simulated | BidSource::Proxy(_) => None,
        }
    }
}

/// A bidder's ceiling on an auction (proxy bidding): the engine bids for them the least needed
/// to lead, up to `max`. Never shown to anyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceiling {
    /// The bidder.
    pub user: UserId,
    /// The most they will pay.
    pub max: Wei,
    /// When it was set, as a count: an earlier ceiling wins a tie.
    pub order: u64,
    /// The tweet that set it.
    pub tweet: String,
}

/// A bid's standing, derived from the bid and its auction (see [`Bid::standing`]); never
/// stored, so it cannot disagree with the auction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BidStatus {
    /// The highest bid of a live auction.
    Leading,
    /// Overtaken by a higher bid.
    Outbid,
    /// Won its auction.
    Won,
    /// Refused; see the reason.
    Rejected,
    /// Its auction was cancelled.
    Void,
}

impl BidStatus {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leading => "leading",
            Self::Outbid => "outbid",
            Self::Won => "won",
            Self::Rejected => "rejected",
            Self::Void => "void",
        }
    }
}

/// Why a bid was refused: a stable code and the message the bidder is told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Stable code, e.g. `below_min_increment`.
    pub code: String,
    /// A sentence for the bidder.
    pub message: String,
}

/// A bid as received, with its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    /// Its id.
    pub id: BidId,
    /// The auction it was for (none if no auction was taking bids).
    pub auction: Option<AuctionId>,
    /// The bidder.
    pub bidder: UserId,
    /// The amount offered.
    pub amount: Wei,
    /// When the engine took it.
    pub placed_at: Timestamp,
    /// Where it came from.
    pub source: BidSource,
    /// Why it was refused; `None` means it was accepted (it led when placed).
    pub rejection: Option<Rejection>,
}

impl Bid {
    /// Whether the engine accepted it.
    pub fn accepted(&self) -> bool {
        self.rejection.is_none()
    }

    /// Its standing now, given its auction.
    pub fn standing(&self, auction: Option<&Auction>) -> BidStatus {
        if !self.accepted() {
            return BidStatus::Rejected;
        }
        match auction {
            Some(a) if a.leading_bid == Some(self.id) => match a.state {
                AuctionState::Completed => BidStatus::Won,
                AuctionState::Cancelled => BidStatus::Void,
                _ => BidStatus::Leading,
            },
            _ => BidStatus::Outbid,
        }
    }
}

/// A bidder known from X.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// X user id.
    pub id: UserId,
    /// X handle without `@`.
    pub handle: String,
    /// When the X account was created (for the minimum account age).
    pub account_created: Timestamp,
    /// When the appliance first saw it.
    pub first_seen: Timestamp,
    /// One of the built-in simulated bidders.
    pub simulated: bool,
}

/// A user's wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletLink {
    /// The user.
    pub user: UserId,
    /// The wallet.
    pub address: Address,
    /// Whether ownership was proven (signature checked).
    pub verified: bool,
    /// When linked.
    pub linked_at: Timestamp,
}

/// ETH received in escrow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    /// Its id.
    pub id: DepositId,
    /// The sending wallet.
    pub from: Address,
    /// The user it is credited to; none while the wallet is not linked (held, not credited).
    pub user: Option<UserId>,
    /// The amount.
    pub amount: Wei,
    /// The chain reference (`txhash` or `txhash:index`), unique.
    pub reference: String,
    /// When it was recorded.
    pub at: Timestamp,
}

/// A user's escrow position. Invariant: `leading + won <= deposited - withdrawn`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Credited deposits.
    pub deposited: Wei,
    /// Refunded to the user.
    pub withdrawn: Wei,
    /// Committed to bids that currently lead.
    pub leading: Wei,
    /// Won in auctions.
    pub won: Wei,
}

impl Balance {
    /// What is free to commit to a new bid.
    pub fn available(&self) -> Wei {
        self.deposited
            .saturating_sub(self.withdrawn)
            .saturating_sub(self.leading)
            .saturating_sub(self.won)
    }

    /// The escrow invariant.
    pub fn is_covered(&self) -> bool {
        self.leading
            .checked_add(self.won)
            .and_then(|c| c.checked_add(self.withdrawn))
            .is_some_and(|c| c <= self.deposited)
    }
}

/// What a tweet meant to the appliance. Stable names; see the tweet grammar in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TweetKind {
    /// `bid <amount> [ETH]`.
    Bid,
    /// `link <address> <signature>`.
    Link,
    /// `withdraw`: refund what escrow holds and no bid needs.
    Withdraw,
    /// `remind me`: a reply before the next auction opens.
    Remind,
    /// A question for the host.
    Question,
    /// Nothing to act on (chatter, retweets, the host's own tweets).
    Ignored,
    /// Meant as a command but unreadable; the reason says why.
    Invalid,
    // New variants go at the end: stored records are decoded by variant position.
    /// `my bids`: the author's bids in this campaign.
    MyBids,
    /// `balance`: the author's escrow.
    Balance,
    /// `help`: the grammar in one reply.
    Help,
    /// `stop`: no more notices unless asked for (and the result of an auction the author leads).
    Stop,
    /// `start`: notices again.
    Start,
    /// `bid max <amount>`: a ceiling for proxy bidding.
    Ceiling,
}

impl TweetKind {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bid => "bid",
            Self::Link => "link",
            Self::Withdraw => "withdraw",
            Self::Remind => "remind",
            Self::Question => "question",
            Self::Ignored => "ignored",
            Self::Invalid => "invalid",
            Self::MyBids => "my_bids",
            Self::Balance => "balance",
            Self::Help => "help",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Ceiling => "ceiling",
        }
    }
}

/// A tweet the appliance took in, with what it made of it. Every tweet id is recorded once, so a
/// tweet seen again (after a restart, or by both mentions and search) is never acted on twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TweetRecord {
    /// X's tweet id (decimal text).
    pub id: String,
    /// Its author.
    pub author: UserId,
    /// Its text as X gave it.
    pub text: String,
    /// When X says it was posted.
    pub created_at: Timestamp,
    /// The tweet it replies to, if any.
    pub in_reply_to: Option<String>,
    /// What it meant.
    pub kind: TweetKind,
    /// Why it was ignored or refused: a stable code (`multiple_amounts`, `bad_signature`, ...).
    pub reason: Option<String>,
    /// A sentence for the author.
    pub message: String,
    /// When the appliance took it in.
    pub received_at: Timestamp,
}

/// A refund of a bidder's unused escrow to their linked wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// Its id.
    pub id: WithdrawalId,
    /// The bidder.
    pub user: UserId,
    /// Their wallet at the time of the request.
    pub to: Address,
    /// Everything they had available.
    pub amount: Wei,
    /// When it was requested.
    pub requested_at: Timestamp,
    /// The tweet that asked for it, or the operator's audit line.
    pub requested_by: String,
}

/// Whether the custody wallet holds an auction's token, as last read from the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyCheck {
    /// `ownerOf(token)` as read.
    pub owner: Address,
    /// Whether that is the custody wallet.
    pub in_custody: bool,
    /// The block it was read at.
    pub block: u64,
    /// A sentence for the operator.
    pub detail: String,
    /// When it was read.
    pub checked_at: Timestamp,
}

/// Once-per-auction moments that cause announcements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// The last minutes of bidding were announced.
    FinalMinutes,
    /// Those who asked were reminded that it opens soon.
    RemindersSent,
    /// Its sale was handed to the chain (token transfer, treasury payment); it completes when
    /// they are confirmed.
    SettlementQueued,
    /// The host's teaser for it was posted (the morning of its day).
    Teaser,
    /// The host's call an hour before it opens was posted.
    HourBefore,
}

impl Milestone {
    /// Its key in the milestones table.
    pub fn key(self) -> u64 {
        match self {
            Self::FinalMinutes => 1,
            Self::RemindersSent => 2,
            Self::SettlementQueued => 3,
            Self::Teaser => 4,
            Self::HourBefore => 5,
        }
    }
}

/// Who did an operator action, and why. Every manual action carries one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// The operator (account name, `ctl`, ...).
    pub actor: String,
    /// Where from (IP address, `local socket`, ...).
    pub origin: String,
    /// The reason given.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_text_round_trips_and_refuses_junk() {
        let a: Address = "0x00000000000000000000000000000000DeaDBeef"
            .parse()
            .unwrap();
        assert_eq!(a.to_string(), "0x00000000000000000000000000000000deadbeef");
        for bad in [
            "deadbeef",
            "0x1234",
            "0xZZ00000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[test]
    fn balance_invariant() {
        let b = Balance {
            deposited: Wei(10),
            withdrawn: Wei(2),
            leading: Wei(5),
            won: Wei(3),
        };
        assert!(b.is_covered());
        assert_eq!(b.available(), Wei(0));
        let over = Balance { won: Wei(4), ..b };
        assert!(!over.is_covered());
    }

    #[test]
    fn user_ids_are_strings_in_json() {
        let id = UserId(1_600_000_000_000_000_123);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"1600000000000000123\""
        );
    }
}
