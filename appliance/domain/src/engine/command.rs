//! What can be asked of the engine, and what it answers. Commands are plain data (JSON on the
//! control socket and, later, the admin API); every refusal carries a stable code and a sentence.

use serde::{Deserialize, Serialize};
use store::{
    Address, AuctionId, AuctionRules, AuctionState, Audit, BidId, BidSource, CampaignId,
    CustodyCheck, DepositId, OutboxId, OutboxStatus, Rejection, Timestamp, TokenRef, TweetKind,
    UserId, Wei, WindowPlan, WithdrawalId,
};

/// A campaign as an operator describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// Display name.
    pub name: String,
    /// The first day (a date in `timezone`).
    pub start_date: chrono::NaiveDate,
    /// Number of daily auctions.
    pub days: u32,
    /// IANA time zone of the windows.
    pub timezone: String,
    /// Daily windows.
    #[serde(default)]
    pub windows: WindowPlan,
    /// Auction rules.
    #[serde(default)]
    pub rules: AuctionRules,
    /// The hosting X handle, without `@`.
    pub host_handle: String,
    /// Items in auction order; at least `days` of them.
    pub items: Vec<ItemSpec>,
}

/// An item as an operator describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// Display name.
    pub name: String,
    /// Artist or collection line.
    #[serde(default)]
    pub artist: String,
    /// Artwork asset name (empty: generated placeholder).
    #[serde(default)]
    pub image: String,
    /// The on-chain token, if any.
    #[serde(default)]
    pub token: Option<TokenRef>,
}

/// A request to the engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// Creates a campaign and schedules its auctions.
    CreateCampaign {
        /// The campaign.
        spec: Box<CampaignSpec>,
        /// Who.
        audit: Audit,
    },
    /// Changes a campaign; the schedule may change only before its first auction starts.
    EditCampaign {
        /// Which.
        campaign: CampaignId,
        /// The campaign as it should be.
        spec: Box<CampaignSpec>,
        /// Who.
        audit: Audit,
    },
    /// Records an X user (first sight, or a changed handle).
    SeeUser {
        /// X user id.
        id: UserId,
        /// Handle without `@`.
        handle: String,
        /// X account creation time.
        account_created: Timestamp,
        /// One of the simulated bidders.
        #[serde(default)]
        simulated: bool,
    },
    /// Links a wallet to a user. `verified` says the ownership signature was checked.
    LinkWallet {
        /// The user.
        user: UserId,
        /// The wallet.
        address: Address,
        /// Whether ownership was proven.
        verified: bool,
    },
    /// Records ETH received in escrow (only after the configured confirmations).
    RecordDeposit {
        /// The sending wallet.
        from: Address,
        /// The amount.
        amount: Wei,
        /// Unique chain reference (`txhash:index`).
        reference: String,
    },
    /// A bid.
    PlaceBid {
        /// The bidder.
        bidder: UserId,
        /// The amount.
        amount: Wei,
        /// Where it came from (and its idempotency key).
        source: BidSource,
        /// The auction; `None` means whichever is taking bids.
        #[serde(default)]
        auction: Option<AuctionId>,
    },
    /// Stops bidding, keeping the time left.
    Pause {
        /// Which.
        auction: AuctionId,
        /// Who and why.
        audit: Audit,
    },
    /// Restarts bidding with the time that was left (at least the extension window).
    Resume {
        /// Which.
        auction: AuctionId,
        /// Who and why.
        audit: Audit,
    },
    /// Moves the end of a running auction later.
    Extend {
        /// Which.
        auction: AuctionId,
        /// By how many seconds.
        seconds: u32,
        /// Who and why.
        audit: Audit,
    },
    /// Calls an auction off; the leading bid is released.
    Cancel {
        /// Which.
        auction: AuctionId,
        /// Who and why.
        audit: Audit,
    },
    /// Ends an auction now and settles it with the current leader.
    ForceSettle {
        /// Which.
        auction: AuctionId,
        /// Who and why.
        audit: Audit,
    },
    /// An audited manual correction: a new end, a new reserve, or reopening a closed auction.
    Override {
        /// Which.
        auction: AuctionId,
        /// New end of bidding.
        #[serde(default)]
        ends_at: Option<Timestamp>,
        /// New reserve (only before the first accepted bid).
        #[serde(default)]
        reserve: Option<Wei>,
        /// Reopen bidding after it closed (needs `ends_at`).
        #[serde(default)]
        reopen: bool,
        /// Who and why.
        audit: Audit,
    },
    /// Runs the schedule now (transitions that are due).
    Tick,
    /// A tweet from X: recorded once by id, read with the tweet grammar, and acted on (a bid, a
    /// wallet link, a withdrawal, a reminder), with replies queued in the outbox.
    IngestTweet {
        /// The tweet and its author.
        tweet: Box<IncomingTweet>,
    },
    /// The block that carried a deposit was replaced: the deposit is void.
    RevertDeposit {
        /// The deposit's chain reference.
        reference: String,
        /// What happened.
        reason: String,
    },
    /// What the chain says about the custody of an auction's token.
    RecordCustody {
        /// The auction.
        auction: AuctionId,
        /// The reading.
        check: CustodyCheck,
    },
    /// Refunds everything a bidder has available (an operator's decision).
    Withdraw {
        /// The bidder.
        user: UserId,
        /// Who and why.
        audit: Audit,
    },
    /// A closed auction's chain settlement (token transfer and treasury payment) is confirmed.
    ConfirmSettlement {
        /// The auction.
        auction: AuctionId,
    },
    /// Records how the delivery of an outbox row stands (from the X or chain deliverer).
    UpdateOutbox {
        /// The row.
        id: OutboxId,
        /// Where it stands now.
        status: OutboxStatus,
        /// Whether this was a delivery attempt.
        #[serde(default)]
        attempted: bool,
    },
    /// An operator approves (it is posted) or rejects (it is skipped) a held tweet, or sends a
    /// failed row back to be tried again.
    ReviewOutbox {
        /// The row.
        id: OutboxId,
        /// Approve or retry (`true`), or reject (`false`).
        approve: bool,
        /// Who and why.
        audit: Audit,
    },
    /// Records an administrative action (a login, a user, a setting, an asset) in the audit trail.
    RecordAdminAction {
        /// What was done.
        action: String,
        /// Details (never a secret).
        detail: String,
        /// Who, from where, why.
        audit: Audit,
    },
    /// Saves operational state (a polling cursor) in the same durable way as everything else.
    SaveState {
        /// Its key.
        key: String,
        /// Its value (JSON text).
        value: String,
    },
    /// Records that the chain deliverer replaced a signed transaction that was not mined in time
    /// by the same one (same nonce) offering a higher fee; the row follows the replacement.
    ReplaceTransaction {
        /// The row.
        id: OutboxId,
        /// The transaction replaced: the row's current hash.
        replaced: String,
        /// The nonce both share.
        nonce: u64,
        /// The replacement's hash.
        tx_hash: String,
        /// The replacement, signed, as broadcast.
        raw: Vec<u8>,
        /// Its highest fee per gas.
        max_fee_per_gas: Wei,
    },
    /// Replaces a state value only if it is still `expected` (`None`: only if there is none);
    /// otherwise refuses with `conflict` and writes nothing.
    SwapState {
        /// Its key.
        key: String,
        /// The value the change was made from.
        expected: Option<String>,
        /// The new value (JSON text).
        value: String,
    },
    /// The host's answer to a viewer's question: recorded and replied on X through the outbox
    /// (once per question; a question already answered is refused).
    AnswerQuestion {
        /// The question tweet.
        tweet: String,
        /// The answer (checked against the facts by the host).
        answer: String,
    },
    /// A post the host wrote before an auction: recorded and posted through the outbox, once
    /// per auction and kind (a second is refused).
    HostPost {
        /// The auction it announces (still to open).
        auction: AuctionId,
        /// `Teaser` or `HourBefore`.
        milestone: store::Milestone,
        /// What it says (checked against the facts by the host).
        text: String,
    },
}

/// A tweet as the X client hands it to the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingTweet {
    /// X's tweet id.
    pub id: String,
    /// The author's X id.
    pub author: UserId,
    /// The author's handle.
    pub handle: String,
    /// When the author's account was created.
    pub author_created: Timestamp,
    /// The text.
    pub text: String,
    /// When it was posted.
    pub created_at: Timestamp,
    /// The tweet it replies to.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// It is a retweet.
    #[serde(default)]
    pub retweet: bool,
    /// It is an edit of an earlier tweet (its edit history names others).
    #[serde(default)]
    pub edited: bool,
}

impl Command {
    /// Stable name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateCampaign { .. } => "create_campaign",
            Command::EditCampaign { .. } => "edit_campaign",
            Command::SeeUser { .. } => "see_user",
            Command::LinkWallet { .. } => "link_wallet",
            Command::RecordDeposit { .. } => "record_deposit",
            Command::PlaceBid { .. } => "place_bid",
            Command::Pause { .. } => "pause",
            Command::Resume { .. } => "resume",
            Command::Extend { .. } => "extend",
            Command::Cancel { .. } => "cancel",
            Command::ForceSettle { .. } => "force_settle",
            Command::Override { .. } => "override",
            Command::Tick => "tick",
            Command::IngestTweet { .. } => "ingest_tweet",
            Command::RevertDeposit { .. } => "revert_deposit",
            Command::RecordCustody { .. } => "record_custody",
            Command::Withdraw { .. } => "withdraw",
            Command::ConfirmSettlement { .. } => "confirm_settlement",
            Command::UpdateOutbox { .. } => "update_outbox",
            Command::ReplaceTransaction { .. } => "replace_transaction",
            Command::ReviewOutbox { .. } => "review_outbox",
            Command::SaveState { .. } => "save_state",
            Command::SwapState { .. } => "swap_state",
            Command::RecordAdminAction { .. } => "record_admin_action",
            Command::AnswerQuestion { .. } => "answer_question",
            Command::HostPost { .. } => "host_post",
        }
    }

    /// The audit record of a manual action, for the transport to stamp with its origin.
    pub fn audit_mut(&mut self) -> Option<&mut Audit> {
        match self {
            Command::CreateCampaign { audit, .. }
            | Command::EditCampaign { audit, .. }
            | Command::Pause { audit, .. }
            | Command::Resume { audit, .. }
            | Command::Extend { audit, .. }
            | Command::Cancel { audit, .. }
            | Command::ForceSettle { audit, .. }
            | Command::Override { audit, .. }
            | Command::Withdraw { audit, .. }
            | Command::ReviewOutbox { audit, .. }
            | Command::RecordAdminAction { audit, .. } => Some(audit),
            _ => None,
        }
    }
}

/// The outcome of a bid, accepted or not. Only sent once the bid is durable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidReceipt {
    /// The bid's id.
    pub bid: BidId,
    /// Whether it now leads.
    pub accepted: bool,
    /// Whether this was a resubmission of a bid already recorded (nothing new was written).
    pub duplicate: bool,
    /// The auction it was for.
    pub auction: Option<AuctionId>,
    /// The auction's price after the bid.
    pub price: Wei,
    /// The auction's end after the bid.
    pub ends_at: Option<Timestamp>,
    /// Why it was refused.
    pub rejection: Option<Rejection>,
}

/// What a command produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reply")]
pub enum Reply {
    /// A campaign was created or changed.
    Campaign {
        /// Its id.
        id: CampaignId,
        /// Its auctions, in day order.
        auctions: Vec<AuctionId>,
    },
    /// A user is known.
    User {
        /// Its id.
        id: UserId,
    },
    /// A wallet is linked.
    Wallet {
        /// The user.
        user: UserId,
        /// The wallet.
        address: Address,
        /// Held deposits from it that are now credited.
        credited_deposits: u32,
    },
    /// A deposit is recorded.
    Deposit {
        /// Its id.
        id: DepositId,
        /// Whether it is credited to a user.
        credited: bool,
        /// Whether it had been recorded before.
        duplicate: bool,
    },
    /// A bid's outcome.
    Bid(BidReceipt),
    /// An auction's new standing.
    Auction {
        /// Its id.
        id: AuctionId,
        /// Its state.
        state: AuctionState,
        /// Its end.
        ends_at: Timestamp,
    },
    /// The schedule ran.
    Ticked {
        /// Transitions made.
        transitions: u32,
    },
    /// A tweet was taken in.
    Tweet {
        /// What it meant.
        kind: TweetKind,
        /// Why it was refused or ignored.
        reason: Option<String>,
        /// Whether it had been taken in before (nothing new was done).
        duplicate: bool,
        /// The bid it placed.
        bid: Option<BidReceipt>,
    },
    /// A deposit was reverted.
    Reverted {
        /// The deposit.
        deposit: DepositId,
        /// A leading bid voided because it lost its backing.
        voided_bid: Option<BidId>,
    },
    /// A refund is on its way.
    Withdrawal {
        /// Its id.
        id: WithdrawalId,
        /// The amount.
        amount: Wei,
        /// The wallet.
        to: Address,
    },
    /// Done; nothing to report.
    Done,
}

/// A command that could not be carried out. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// Stable code: `invalid_request`, `not_found`, `invalid_state`, `conflict`, `storage`,
    /// `unavailable`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl CommandError {
    /// A malformed or impossible request.
    pub fn invalid(message: impl Into<String>) -> CommandError {
        Self::new("invalid_request", message)
    }

    /// Something named does not exist.
    pub fn not_found(message: impl Into<String>) -> CommandError {
        Self::new("not_found", message)
    }

    /// Not possible in the current state.
    pub fn state(message: impl Into<String>) -> CommandError {
        Self::new("invalid_state", message)
    }

    /// Clashes with something that exists.
    pub fn conflict(message: impl Into<String>) -> CommandError {
        Self::new("conflict", message)
    }

    /// A code and a message.
    pub fn new(code: &str, message: impl Into<String>) -> CommandError {
        CommandError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// Builds a rejection from its code and message.
pub(crate) fn rejection(code: &str, message: impl Into<String>) -> Rejection {
    Rejection {
        code: code.to_string(),
        message: message.into(),
    }
}
