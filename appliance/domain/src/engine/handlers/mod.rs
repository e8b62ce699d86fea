//! How each command becomes events. Every handler validates completely before it appends
//! anything, so a refused command (`CommandError`) never leaves a partial write behind; storage
//! failures (`store::Error`) abort the whole transaction.

use store::{
    Address, Auction, AuctionId, AuctionState, Audit, Bid, BidId, BidSource, Campaign, CampaignId,
    Channel, Deposit, DepositId, Event, IdTable, Item, ItemId, Milestone, Notice, OutboxId,
    Timestamp, User, UserId, View, WalletLink, Wei, Writer,
};

use super::command::{BidReceipt, CampaignSpec, Command, CommandError, Reply, rejection};
use super::rules::{self, BidContext, RateLimiter};
use crate::schedule::{self, DayWindows};

mod bidders;
mod campaigns;
mod operator;
mod ticks;

pub use ticks::next_deadline;

/// The outcome of handling one command: a reply or a refusal. Storage errors are the outer
/// `store::Result`.
pub type Handled = Result<Reply, CommandError>;

/// Longest rate-limit window accepted, and so how long bid times are remembered.
pub const MAX_RATE_WINDOW_SECS: u32 = 3600;

/// How the engine's decisions depend on what the appliance is connected to. Every decision it
/// makes is an event, so changing these never changes what replaying the log yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// A chain connection settles sales (an auction with a winner stays PROCESSING until its token
    /// transfer and treasury payment are confirmed) and pays refunds.
    pub onchain: bool,
    /// An auction whose item is a token starts only once the custody wallet is seen to own it.
    pub require_custody: bool,
    /// Outgoing tweets wait in the outbox for an operator's approval.
    pub hold_tweets: bool,
    /// Announce the last this-many seconds of bidding (0: never).
    pub final_notice_secs: u32,
    /// Remind those who asked this many seconds before an auction opens.
    pub remind_lead_secs: u32,
    /// The host's handle when no campaign names one.
    pub host_handle: String,
    /// The escrow (custody) wallet bidders deposit to, when the chain is on.
    pub escrow: Option<store::Address>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            onchain: false,
            require_custody: false,
            hold_tweets: false,
            final_notice_secs: 600,
            remind_lead_secs: 900,
            host_handle: "SothebAIs".into(),
            escrow: None,
        }
    }
}

/// The engine's in-memory state between transactions.
#[derive(Debug, Default)]
pub struct Core {
    /// Recent bids per bidder.
    pub rate: RateLimiter,
    /// What the engine is connected to.
    pub policy: Policy,
    /// The auction last found taking bids. Only a hint: it is checked against the store on every
    /// use, and forgotten on every command that can change which auction is live.
    live_hint: Option<AuctionId>,
}

pub(super) fn check_audit(audit: &Audit) -> Result<(), CommandError> {
    if audit.actor.trim().is_empty() {
        return Err(CommandError::invalid("say who is acting (audit.actor)"));
    }
    if audit.reason.trim().is_empty() {
        return Err(CommandError::invalid(
            "give a reason (audit.reason); it goes to the audit log",
        ));
    }
    if audit.reason.len() > 500 || audit.actor.len() > 100 || audit.origin.len() > 200 {
        return Err(CommandError::invalid("audit fields are too long"));
    }
    Ok(())
}

/// X handles: 1-15 letters, digits or underscores.
pub fn valid_handle(handle: &str) -> bool {
    let h = handle.strip_prefix('@').unwrap_or(handle);
    (1..=15).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(super) fn current_auction(w: &Writer<'_>) -> store::Result<(Option<Auction>, Option<Auction>)> {
    let auctions = w.auctions()?;
    let live = auctions
        .iter()
        .filter(|a| matches!(a.state, AuctionState::Active | AuctionState::Paused))
        .max_by_key(|a| a.id)
        .cloned();
    let next = auctions
        .into_iter()
        .filter(|a| a.state == AuctionState::Pending)
        .min_by_key(|a| a.starts_at);
    Ok((live, next))
}

pub(super) fn must_auction(
    w: &Writer<'_>,
    id: AuctionId,
) -> store::Result<Result<Auction, CommandError>> {
    Ok(w.auction(id)?
        .ok_or_else(|| CommandError::not_found(format!("there is no auction {id}"))))
}

pub(super) fn require_state(a: &Auction, allowed: &[AuctionState]) -> Result<(), CommandError> {
    if allowed.contains(&a.state) {
        return Ok(());
    }
    let wanted: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    Err(CommandError::state(format!(
        "auction {} is {}, not {}",
        a.id,
        a.state.as_str(),
        wanted.join(" or ")
    )))
}

fn auction_reply(w: &Writer<'_>, id: AuctionId) -> store::Result<Handled> {
    let a = w
        .auction(id)?
        .ok_or_else(|| store::Error::Corrupt(format!("auction {id} vanished")))?;
    Ok(Ok(Reply::Auction {
        id,
        state: a.state,
        ends_at: a.ends_at,
    }))
}

impl Core {
    /// An engine core with the given policy.
    pub fn new(policy: Policy) -> Core {
        Core {
            policy,
            ..Core::default()
        }
    }

    /// Queues a side effect of event `seq`; tweets wait for approval when the policy says so.
    pub(super) fn notify(
        &self,
        w: &mut Writer<'_>,
        seq: u64,
        now: Timestamp,
        notice: Notice,
    ) -> store::Result<OutboxId> {
        let held = self.policy.hold_tweets && notice.channel() == Channel::X;
        w.enqueue(seq, now, notice, held)
    }

    /// Handles one command inside the engine's transaction.
    pub fn handle(
        &mut self,
        w: &mut Writer<'_>,
        cmd: &Command,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if !matches!(
            cmd,
            Command::PlaceBid { .. }
                | Command::SeeUser { .. }
                | Command::LinkWallet { .. }
                | Command::RecordDeposit { .. }
                | Command::IngestTweet { .. }
                | Command::UpdateOutbox { .. }
                | Command::ReplaceTransaction { .. }
                | Command::SaveState { .. }
                | Command::SwapState { .. }
                | Command::RecordAdminAction { .. }
        ) {
            self.live_hint = None;
        }
        match cmd {
            Command::CreateCampaign { spec, audit } => self.create_campaign(w, spec, audit, now),
            Command::EditCampaign {
                campaign,
                spec,
                audit,
            } => self.edit_campaign(w, *campaign, spec, audit, now),
            Command::SeeUser {
                id,
                handle,
                account_created,
                simulated,
            } => self.see_user(w, *id, handle, *account_created, *simulated, now),
            Command::LinkWallet {
                user,
                address,
                verified,
            } => self.link_wallet(w, *user, *address, *verified, now),
            Command::RecordDeposit {
                from,
                amount,
                reference,
            } => self.record_deposit(w, *from, *amount, reference, now),
            Command::PlaceBid {
                bidder,
                amount,
                source,
                auction,
            } => self.place_bid(w, *bidder, *amount, source, *auction, now),
            Command::Pause { auction, audit } => self.pause(w, *auction, audit, now),
            Command::Resume { auction, audit } => self.resume(w, *auction, audit, now),
            Command::Extend {
                auction,
                seconds,
                audit,
            } => self.extend(w, *auction, *seconds, audit, now),
            Command::Cancel { auction, audit } => self.cancel(w, *auction, audit, now),
            Command::ForceSettle { auction, audit } => self.force_settle(w, *auction, audit, now),
            Command::Override {
                auction,
                ends_at,
                reserve,
                reopen,
                audit,
            } => self.override_auction(w, *auction, *ends_at, *reserve, *reopen, audit, now),
            Command::Tick => Ok(Ok(Reply::Ticked {
                transitions: self.tick(w, now)?,
            })),
            Command::IngestTweet { tweet } => self.ingest_tweet(w, tweet, now),
            Command::RevertDeposit { reference, reason } => {
                self.revert_deposit(w, reference, reason, now)
            }
            Command::RecordCustody { auction, check } => {
                self.record_custody(w, *auction, check, now)
            }
            Command::Withdraw { user, audit } => {
                refuse!(check_audit(audit));
                let by = format!(
                    "operator {} ({}): {}",
                    audit.actor, audit.origin, audit.reason
                );
                let wd = refuse!(self.request_withdrawal(w, *user, by, now)?);
                Ok(Ok(Reply::Withdrawal {
                    id: wd.id,
                    amount: wd.amount,
                    to: wd.to,
                }))
            }
            Command::ConfirmSettlement { auction } => {
                let a = refuse!(must_auction(w, *auction)?);
                refuse!(require_state(&a, &[AuctionState::Processing]));
                self.settle(w, *auction, None, now)?;
                // The winner hears that the token has arrived, with the transfer's hash.
                if let Some(tx) = transfer_of(w, *auction)? {
                    let seq = w.head()?.map_or(0, |h| h.seq);
                    self.notify(
                        w,
                        seq,
                        now,
                        Notice::TokenDelivered {
                            auction: *auction,
                            tx,
                        },
                    )?;
                }
                auction_reply(w, *auction)
            }
            Command::UpdateOutbox {
                id,
                status,
                attempted,
            } => self.update_outbox(w, *id, status, *attempted),
            Command::ReplaceTransaction {
                id,
                replaced,
                nonce,
                tx_hash,
                raw,
                max_fee_per_gas,
            } => self.replace_transaction(
                w,
                *id,
                replaced,
                *nonce,
                tx_hash,
                raw,
                *max_fee_per_gas,
                now,
            ),
            Command::ReviewOutbox { id, approve, audit } => {
                self.review_outbox(w, *id, *approve, audit, now)
            }
            Command::RecordAdminAction {
                action,
                detail,
                audit,
            } => {
                if audit.actor.trim().is_empty()
                    || audit.actor.len() > 100
                    || audit.origin.len() > 200
                {
                    return Ok(Err(CommandError::invalid(
                        "say who is acting (audit.actor)",
                    )));
                }
                if action.is_empty()
                    || action.len() > 64
                    || detail.len() > 2000
                    || audit.reason.len() > 500
                {
                    return Ok(Err(CommandError::invalid(
                        "action, detail or reason too long",
                    )));
                }
                w.append(
                    now,
                    Event::AdminAction {
                        action: action.clone(),
                        detail: detail.clone(),
                        audit: audit.clone(),
                    },
                )?;
                Ok(Ok(Reply::Done))
            }
            Command::SaveState { key, value } => {
                refuse!(check_state(key, value));
                w.put_state(key, value.as_bytes())?;
                Ok(Ok(Reply::Done))
            }
            Command::HostPost {
                auction,
                milestone,
                text,
            } => {
                if !matches!(milestone, Milestone::Teaser | Milestone::HourBefore) {
                    return Ok(Err(CommandError::invalid(
                        "the host posts a teaser or the hour-before call",
                    )));
                }
                let Some(a) = w.auction(*auction)? else {
                    return Ok(Err(CommandError::not_found(format!(
                        "no auction {auction}"
                    ))));
                };
                if a.state != AuctionState::Pending {
                    return Ok(Err(CommandError::invalid(format!(
                        "auction {auction} is no longer to open"
                    ))));
                }
                if w.milestone(*auction, *milestone)? {
                    return Ok(Err(CommandError::conflict(format!(
                        "the {milestone:?} post of auction {auction} was made"
                    ))));
                }
                let text = text.trim();
                if text.is_empty() || text.chars().count() > 280 {
                    return Ok(Err(CommandError::invalid("a post is 1 to 280 characters")));
                }
                let seq = w.append(
                    now,
                    Event::HostPosted {
                        auction: *auction,
                        milestone: *milestone,
                        text: text.to_string(),
                    },
                )?;
                self.notify(
                    w,
                    seq,
                    now,
                    Notice::HostPost {
                        auction: *auction,
                        text: text.to_string(),
                    },
                )?;
                Ok(Ok(Reply::Done))
            }
            Command::AnswerQuestion { tweet, answer } => {
                let Some(t) = w.tweet(tweet)? else {
                    return Ok(Err(CommandError::not_found(format!("no tweet {tweet}"))));
                };
                if t.kind != store::TweetKind::Question {
                    return Ok(Err(CommandError::invalid(format!(
                        "tweet {tweet} is not a question"
                    ))));
                }
                if t.reason.is_some() {
                    return Ok(Err(CommandError::conflict(format!(
                        "tweet {tweet} is already answered"
                    ))));
                }
                let answer = answer.trim();
                if answer.is_empty() || answer.chars().count() > 500 {
                    return Ok(Err(CommandError::invalid(
                        "an answer is 1 to 500 characters",
                    )));
                }
                let seq = w.append(
                    now,
                    Event::QuestionAnswered {
                        tweet: tweet.clone(),
                        answer: answer.to_string(),
                    },
                )?;
                self.notify(
                    w,
                    seq,
                    now,
                    Notice::TweetReply {
                        tweet: tweet.clone(),
                    },
                )?;
                Ok(Ok(Reply::Done))
            }
            Command::SwapState {
                key,
                expected,
                value,
            } => {
                refuse!(check_state(key, value));
                let current = w.state(key)?;
                if current.as_deref() != expected.as_deref().map(str::as_bytes) {
                    return Ok(Err(CommandError::conflict(format!(
                        "{key} changed since it was read (another admin or the command line); read it again and retry"
                    ))));
                }
                w.put_state(key, value.as_bytes())?;
                Ok(Ok(Reply::Done))
            }
        }
    }
}

pub(super) fn receipt_of(w: &Writer<'_>, id: BidId, duplicate: bool) -> store::Result<BidReceipt> {
    let bid = w
        .bid(id)?
        .ok_or_else(|| store::Error::Corrupt(format!("bid {id} vanished")))?;
    let auction = match bid.auction {
        Some(a) => w.auction(a)?,
        None => None,
    };
    Ok(BidReceipt {
        bid: id,
        accepted: bid.accepted(),
        duplicate,
        auction: bid.auction,
        price: auction.as_ref().map_or(Wei::ZERO, |a| a.price),
        ends_at: auction.map(|a| a.ends_at),
        rejection: bid.rejection,
    })
}

/// A state key and value the store takes.
fn check_state(key: &str, value: &str) -> Result<(), CommandError> {
    if key.is_empty() || key.len() > 200 || value.len() > 256 * 1024 {
        return Err(CommandError::invalid(
            "state keys are 1-200 bytes and values at most 256 KiB",
        ));
    }
    Ok(())
}

/// The confirmed token transfer of an auction's sale, if it had one.
fn transfer_of(w: &Writer<'_>, auction: AuctionId) -> store::Result<Option<String>> {
    let mut after = 0;
    loop {
        let rows = w.outbox_after(after, 512)?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        after = last.id.0;
        for row in rows {
            if row.notice == (Notice::TransferNft { auction })
                && let store::OutboxStatus::Sent { external_id, .. } = row.status
            {
                return Ok(Some(external_id));
            }
        }
    }
}
