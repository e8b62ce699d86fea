//! Handlers for what arrives from outside the auction itself: tweets (read with the tweet
//! grammar and acted on), chain facts (reverted deposits, token custody), refunds, and the
//! delivery state of the outbox.

use store::{
    AuctionId, AuctionState, Audit, BidId, BidSource, CustodyCheck, Event, IdTable, Milestone,
    Notice, OutboxId, OutboxStatus, Timestamp, TweetKind, TweetRecord, UserId, View, Withdrawal,
    WithdrawalId, Writer,
};

use super::command::{CommandError, IncomingTweet, Reply};
use super::handlers::{Core, Handled, check_audit, current_auction};
use crate::grammar::{self, Parsed};
use crate::link::{self, checksummed};

/// Longest tweet text taken in (X allows 25,000 characters for long posts).
const MAX_TWEET_BYTES: usize = 100_000;

fn describe_time(t: Timestamp) -> String {
    t.to_datetime().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The grammar in one reply (`help`).
fn help(host: &str) -> String {
    format!(
        "Reply @{host} with: bid 1.5 ETH · bid max 5 ETH (I bid for you up to it) · link <0x \
         address> <0x signature> · my bids · balance · withdraw · remind me · stop / start. Bids \
         are in ETH, backed by escrow."
    )
}

/// What a tweet came to, as recorded and told to its author.
struct Outcome {
    kind: TweetKind,
    reason: Option<String>,
    message: String,
}

impl Outcome {
    /// The command the tweet carried was refused: the tweet is invalid, for that reason.
    fn refuse(&mut self, e: CommandError) {
        self.kind = TweetKind::Invalid;
        self.reason = Some(e.code);
        self.message = e.message;
    }
}

impl Core {
    /// The host handle tweets are read against: the campaign of the live or next auction, else
    /// the newest campaign, else the configured one.
    fn host_handle(&mut self, w: &Writer<'_>) -> store::Result<String> {
        let (live, next) = current_auction(w)?;
        if let Some(a) = live.or(next)
            && let Some(c) = w.campaign(a.campaign)?
        {
            return Ok(c.host_handle);
        }
        Ok(w.campaigns()?.last().map_or_else(
            || self.policy.host_handle.clone(),
            |c| c.host_handle.clone(),
        ))
    }

    pub(super) fn ingest_tweet(
        &mut self,
        w: &mut Writer<'_>,
        t: &IncomingTweet,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if t.id.is_empty() || t.id.len() > 24 || !t.id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Err(CommandError::invalid(format!(
                "{:?} is not a tweet id",
                t.id.chars().take(40).collect::<String>()
            ))));
        }
        if t.text.len() > MAX_TWEET_BYTES {
            return Ok(Err(CommandError::invalid("the tweet text is too long")));
        }
        if let Some(seen) = w.tweet(&t.id)? {
            let bid =
                match w.bid_by_source(&BidSource::Tweet(t.id.clone()).key().unwrap_or_default())? {
                    Some(id) => Some(super::handlers::receipt_of(w, id, true)?),
                    None => None,
                };
            return Ok(Ok(Reply::Tweet {
                kind: seen.kind,
                reason: seen.reason,
                duplicate: true,
                bid,
            }));
        }
        refuse!(self.see_user(w, t.author, &t.handle, t.author_created, false, now)?);
        let host = self.host_handle(w)?;
        let mut parsed = if t.handle.eq_ignore_ascii_case(&host) {
            Parsed {
                kind: TweetKind::Ignored,
                reason: Some("own_tweet"),
                message: "The host's own tweet.".into(),
                ..grammar::parse("", &host)
            }
        } else if t.retweet {
            Parsed {
                kind: TweetKind::Ignored,
                reason: Some("retweet"),
                message: "A retweet is not a command.".into(),
                ..grammar::parse("", &host)
            }
        } else {
            grammar::parse(&t.text, &host)
        };
        let is_command = matches!(
            parsed.kind,
            TweetKind::Bid
                | TweetKind::Ceiling
                | TweetKind::Link
                | TweetKind::Withdraw
                | TweetKind::Remind
                | TweetKind::Invalid
        );
        if t.edited && is_command {
            parsed.kind = TweetKind::Invalid;
            parsed.reason = Some("edited");
            parsed.message =
                "Edited tweets do not count (the original stands); post a new tweet instead."
                    .into();
        }
        let mut out = Outcome {
            kind: parsed.kind,
            reason: parsed.reason.map(str::to_string),
            message: parsed.message.clone(),
        };
        let mut bid = None;
        let mut reply = matches!(
            out.kind,
            TweetKind::Link
                | TweetKind::Withdraw
                | TweetKind::Remind
                | TweetKind::Invalid
                | TweetKind::MyBids
                | TweetKind::Balance
                | TweetKind::Help
                | TweetKind::Stop
                | TweetKind::Start
                | TweetKind::Ceiling
        ) && parsed.mentions_host;
        match parsed.kind {
            TweetKind::Bid => {
                let amount = parsed.amount.unwrap_or_default();
                match self.place_bid(
                    w,
                    t.author,
                    amount,
                    &BidSource::Tweet(t.id.clone()),
                    None,
                    now,
                )? {
                    Ok(Reply::Bid(receipt)) => {
                        if let Some(r) = &receipt.rejection {
                            out.reason = Some(r.code.clone());
                            out.message = r.message.clone();
                        } else {
                            out.message = format!("Bid of {} ETH leads.", amount.eth_string());
                        }
                        bid = Some(receipt);
                    }
                    Ok(other) => {
                        return Err(store::Error::Corrupt(format!(
                            "a bid was answered with {other:?}"
                        )));
                    }
                    Err(e) => {
                        out.refuse(e);
                        reply = true;
                    }
                }
            }
            TweetKind::Link => {
                let (Some(address), Some(signature)) = (parsed.address, &parsed.signature) else {
                    return Err(store::Error::Corrupt(
                        "a parsed link lacks its parts".into(),
                    ));
                };
                match link::verify(
                    &t.handle,
                    &address,
                    parsed.address_text.as_deref(),
                    signature,
                    &host,
                ) {
                    Err(e) => out.refuse(CommandError::new(e.code(), e.to_string())),
                    Ok(()) => match self.link_wallet(w, t.author, address, true, now)? {
                        Ok(Reply::Wallet {
                            credited_deposits, ..
                        }) => {
                            out.message = format!(
                                "Wallet {} linked.{}",
                                checksummed(&address),
                                if credited_deposits > 0 {
                                    format!(" {credited_deposits} earlier deposit(s) credited.")
                                } else {
                                    String::new()
                                }
                            );
                        }
                        Ok(other) => {
                            return Err(store::Error::Corrupt(format!(
                                "a link was answered with {other:?}"
                            )));
                        }
                        Err(e) if e.code == "conflict" => out.refuse(CommandError::new(
                            "wallet_taken",
                            "That wallet is already linked to another account.",
                        )),
                        Err(e) => out.refuse(e),
                    },
                }
            }
            TweetKind::Withdraw => {
                match self.request_withdrawal(w, t.author, format!("tweet {}", t.id), now)? {
                    Ok(wd) => {
                        out.message = format!(
                            "Refunding {} ETH to {}.",
                            wd.amount.eth_string(),
                            checksummed(&wd.to)
                        );
                    }
                    Err(e) => out.refuse(e),
                }
            }
            TweetKind::Remind => match self.remember_reminder(w, t.author, &t.id, now)? {
                Ok(text) => out.message = text,
                Err(e) => out.refuse(e),
            },
            TweetKind::Ceiling => {
                let max = parsed.amount.unwrap_or_default();
                match self.set_ceiling(w, t.author, max, &t.id, now)? {
                    Ok(a) if a.leader == Some(t.author) => {
                        out.message = format!(
                            "Your ceiling of {} ETH is set (never shown): you lead at {} ETH, and \
                             I raise for you only as others bid.",
                            max.eth_string(),
                            a.price.eth_string()
                        );
                    }
                    Ok(a) => {
                        out.message = format!(
                            "Your ceiling of {} ETH is set, but an earlier or higher one leads at {} ETH.",
                            max.eth_string(),
                            a.price.eth_string()
                        );
                    }
                    Err(r) => out.refuse(CommandError::new(&r.code, r.message)),
                }
            }
            TweetKind::MyBids => out.message = self.describe_bids(w, t.author)?,
            TweetKind::Balance => out.message = self.describe_balance(w, t.author)?,
            TweetKind::Help => out.message = help(&host),
            TweetKind::Stop | TweetKind::Start => {
                let on = parsed.kind == TweetKind::Start;
                if w.quiet(t.author)? == on {
                    w.append(
                        now,
                        Event::NoticesSet {
                            user: t.author,
                            on,
                            tweet: t.id.clone(),
                        },
                    )?;
                }
                out.message = if on {
                    "Notices are on: you will hear when you lead, are outbid and win.".into()
                } else {
                    "Notices are off: you get only what you ask for, and the result of an \
                     auction you lead. Tweet start to turn them on."
                        .into()
                };
            }
            _ => {}
        }
        let record = TweetRecord {
            id: t.id.clone(),
            author: t.author,
            text: t.text.clone(),
            created_at: t.created_at,
            in_reply_to: t.in_reply_to.clone(),
            kind: out.kind,
            reason: out.reason.clone(),
            message: out.message,
            received_at: now,
        };
        let seq = w.append(now, Event::TweetReceived { tweet: record })?;
        if reply {
            self.notify(
                w,
                seq,
                now,
                Notice::TweetReply {
                    tweet: t.id.clone(),
                },
            )?;
        }
        Ok(Ok(Reply::Tweet {
            kind: out.kind,
            reason: out.reason,
            duplicate: false,
            bid,
        }))
    }

    /// `my bids`: the author's latest bids in the current campaign, with where each stands.
    fn describe_bids(&mut self, w: &Writer<'_>, user: UserId) -> store::Result<String> {
        let (live, next) = current_auction(w)?;
        let campaign = live.or(next).map(|a| a.campaign);
        let mut lines = Vec::new();
        let mut bids = w.bids_of_user(user)?;
        bids.sort_by_key(|b| std::cmp::Reverse(b.id));
        for bid in bids {
            let Some(auction) = bid.auction.map(|a| w.auction(a)).transpose()?.flatten() else {
                continue;
            };
            if campaign.is_some_and(|c| c != auction.campaign) {
                continue;
            }
            let name = w.item(auction.item)?.map_or_else(String::new, |i| i.name);
            let standing = match bid.standing(Some(&auction)) {
                store::BidStatus::Rejected => "refused",
                other => other.as_str(),
            };
            lines.push(format!("{name} {} ETH {standing}", bid.amount.eth_string()));
            if lines.len() == 4 {
                break;
            }
        }
        Ok(if lines.is_empty() {
            "You have no bids in this campaign yet: reply bid <amount> ETH while an auction is open."
                .into()
        } else {
            format!("Your latest bids: {}.", lines.join("; "))
        })
    }

    /// `balance`: what escrow holds for the author, and how to add or take it back.
    fn describe_balance(&mut self, w: &Writer<'_>, user: UserId) -> store::Result<String> {
        let b = w.balance(user)?;
        let credited = b
            .deposited
            .saturating_sub(b.withdrawn)
            .saturating_sub(b.won);
        let wallet = w.wallet(user)?.filter(|l| l.verified);
        let deposit = match (&wallet, &self.policy.escrow) {
            (None, _) => " Link a wallet first: link <0x address> <0x signature>.".to_string(),
            (Some(_), Some(escrow)) => format!(
                " Deposit from your linked wallet to {}; it counts once confirmed.",
                checksummed(escrow)
            ),
            (Some(_), None) => String::new(),
        };
        let back = if b.available() > store::Wei::ZERO && self.policy.onchain {
            " Tweet withdraw to get the free part back."
        } else {
            ""
        };
        Ok(format!(
            "Escrow: {} ETH credited, {} ETH backs your leading bid, {} ETH free.{deposit}{back}",
            credited.eth_string(),
            b.leading.eth_string(),
            b.available().eth_string()
        ))
    }

    /// Registers a reminder for the next auction to open.
    fn remember_reminder(
        &mut self,
        w: &mut Writer<'_>,
        user: UserId,
        tweet: &str,
        now: Timestamp,
    ) -> store::Result<Result<String, CommandError>> {
        let (_, next) = current_auction(w)?;
        let Some(next) = next else {
            return Ok(Err(CommandError::new(
                "no_next_auction",
                "No further auction is scheduled.",
            )));
        };
        let name = w.item(next.item)?.map_or_else(String::new, |i| i.name);
        let when = describe_time(next.starts_at);
        if w.milestone(next.id, Milestone::RemindersSent)? {
            return Ok(Ok(format!("{name} opens at {when}.")));
        }
        if w.reminders(next.id)?.iter().any(|(u, _)| *u == user) {
            return Ok(Ok(format!(
                "You are already on the list for {name} ({when})."
            )));
        }
        w.append(
            now,
            Event::ReminderRequested {
                auction: next.id,
                user,
                tweet: tweet.to_string(),
            },
        )?;
        Ok(Ok(format!(
            "I will remind you before {name} opens at {when}."
        )))
    }

    /// Refunds everything a bidder has available to their linked wallet.
    pub(super) fn request_withdrawal(
        &mut self,
        w: &mut Writer<'_>,
        user: UserId,
        requested_by: String,
        now: Timestamp,
    ) -> store::Result<Result<Withdrawal, CommandError>> {
        if !self.policy.onchain {
            return Ok(Err(CommandError::new(
                "unavailable",
                "Refunds are paid on chain, and the appliance has no chain connection.",
            )));
        }
        let Some(link) = w.wallet(user)?.filter(|l| l.verified) else {
            return Ok(Err(CommandError::new(
                "no_wallet",
                "Link a wallet first; refunds go to your linked wallet.",
            )));
        };
        let balance = w.balance(user)?;
        let amount = balance.available();
        if amount == store::Wei::ZERO {
            let why = if balance.leading > store::Wei::ZERO {
                "Nothing to refund: your escrow backs your leading bid."
            } else {
                "Nothing to refund: no unused deposit."
            };
            return Ok(Err(CommandError::new("nothing_to_withdraw", why)));
        }
        let withdrawal = Withdrawal {
            id: WithdrawalId(w.last_id(IdTable::Withdrawals)? + 1),
            user,
            to: link.address,
            amount,
            requested_at: now,
            requested_by,
        };
        let seq = w.append(
            now,
            Event::WithdrawalRequested {
                withdrawal: withdrawal.clone(),
            },
        )?;
        self.notify(
            w,
            seq,
            now,
            Notice::Refund {
                withdrawal: withdrawal.id,
            },
        )?;
        Ok(Ok(withdrawal))
    }

    /// Voids a deposit whose block left the chain; if that leaves its owner's leading bid
    /// unbacked, the bid is voided and the best earlier bid that is still covered leads again.
    pub(super) fn revert_deposit(
        &mut self,
        w: &mut Writer<'_>,
        reference: &str,
        reason: &str,
        now: Timestamp,
    ) -> store::Result<Handled> {
        let Some(deposit) = w.deposit_by_reference(reference)? else {
            return Ok(Err(CommandError::not_found(format!(
                "no standing deposit has reference {reference}"
            ))));
        };
        w.append(
            now,
            Event::DepositReverted {
                deposit: deposit.id,
                reason: reason.chars().take(300).collect(),
            },
        )?;
        let mut voided_bid = None;
        if let Some(user) = deposit.user
            && !w.balance(user)?.is_covered()
        {
            for a in w.auctions()? {
                if !matches!(a.state, AuctionState::Active | AuctionState::Paused)
                    || a.leader != Some(user)
                {
                    continue;
                }
                let Some(lead) = a.leading_bid else { continue };
                let restored = best_covered_bid(w, a.id, user, lead)?;
                w.append(
                    now,
                    Event::BidVoided {
                        bid: lead,
                        auction: a.id,
                        reason: format!("its deposit was reverted: {reason}"),
                        restored,
                    },
                )?;
                voided_bid = Some(lead);
            }
            let balance = w.balance(user)?;
            if !balance.is_covered() {
                tracing::error!(
                    user = %user,
                    deposited = %balance.deposited,
                    won = %balance.won,
                    withdrawn = %balance.withdrawn,
                    "escrow shortfall: a deposit was reverted after it had been spent; the operator must act"
                );
            }
        }
        Ok(Ok(Reply::Reverted {
            deposit: deposit.id,
            voided_bid,
        }))
    }

    pub(super) fn record_custody(
        &mut self,
        w: &mut Writer<'_>,
        auction: AuctionId,
        check: &CustodyCheck,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if w.auction(auction)?.is_none() {
            return Ok(Err(CommandError::not_found(format!(
                "there is no auction {auction}"
            ))));
        }
        if check.detail.len() > 500 {
            return Ok(Err(CommandError::invalid("the custody detail is too long")));
        }
        let unchanged = w
            .custody(auction)?
            .is_some_and(|c| c.owner == check.owner && c.in_custody == check.in_custody);
        if !unchanged {
            w.append(
                now,
                Event::CustodyChecked {
                    auction,
                    check: check.clone(),
                },
            )?;
        }
        Ok(Ok(Reply::Done))
    }

    pub(super) fn update_outbox(
        &mut self,
        w: &mut Writer<'_>,
        id: OutboxId,
        status: &OutboxStatus,
        attempted: bool,
    ) -> store::Result<Handled> {
        let Some(row) = w.outbox_row(id)? else {
            return Ok(Err(CommandError::not_found(format!(
                "there is no outbox row {id}"
            ))));
        };
        // A deliverer may hold a row it will not send (over the chain's cost caps) for the
        // operator; only an operator sends a row back to pending (review).
        let holding = *status == OutboxStatus::Held && row.status == OutboxStatus::Pending;
        if *status == OutboxStatus::Pending || (*status == OutboxStatus::Held && !holding) {
            return Ok(Err(CommandError::invalid(
                "deliverers report progress; only an operator sends a row back (review)",
            )));
        }
        if row.status == *status {
            return Ok(Ok(Reply::Done));
        }
        if !row.status.is_open() {
            return Ok(Err(CommandError::conflict(format!(
                "outbox row {id} is already finished"
            ))));
        }
        if row.status == OutboxStatus::Held {
            return Ok(Err(CommandError::state(format!(
                "outbox row {id} waits for an operator's approval"
            ))));
        }
        w.set_outbox_status(id, status.clone(), attempted)?;
        Ok(Ok(Reply::Done))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn replace_transaction(
        &mut self,
        w: &mut Writer<'_>,
        id: OutboxId,
        replaced: &str,
        nonce: u64,
        tx_hash: &str,
        raw: &[u8],
        max_fee_per_gas: store::Wei,
        now: Timestamp,
    ) -> store::Result<Handled> {
        let Some(row) = w.outbox_row(id)? else {
            return Ok(Err(CommandError::not_found(format!(
                "there is no outbox row {id}"
            ))));
        };
        let OutboxStatus::Signed {
            nonce: signed_nonce,
            tx_hash: current,
            ..
        } = &row.status
        else {
            return Ok(Err(CommandError::state(format!(
                "outbox row {id} holds no signed transaction to replace"
            ))));
        };
        if current == tx_hash {
            return Ok(Ok(Reply::Done));
        }
        if current != replaced || *signed_nonce != nonce {
            return Ok(Err(CommandError::conflict(format!(
                "outbox row {id} now holds {current} (nonce {signed_nonce}), not {replaced} (nonce {nonce})"
            ))));
        }
        if raw.is_empty() || !tx_hash.starts_with("0x") {
            return Ok(Err(CommandError::invalid(
                "a replacement needs its signed bytes and its 0x hash",
            )));
        }
        w.append(
            now,
            Event::TransactionReplaced {
                outbox: id,
                nonce,
                replaced: replaced.to_string(),
                by: tx_hash.to_string(),
                max_fee_per_gas,
            },
        )?;
        w.set_outbox_status(
            id,
            OutboxStatus::Signed {
                at: now,
                nonce,
                tx_hash: tx_hash.to_string(),
                raw: raw.to_vec(),
            },
            true,
        )?;
        Ok(Ok(Reply::Done))
    }

    pub(super) fn review_outbox(
        &mut self,
        w: &mut Writer<'_>,
        id: OutboxId,
        approve: bool,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let Some(row) = w.outbox_row(id)? else {
            return Ok(Err(CommandError::not_found(format!(
                "there is no outbox row {id}"
            ))));
        };
        if !matches!(row.status, OutboxStatus::Held | OutboxStatus::Failed { .. }) {
            return Ok(Err(CommandError::state(format!(
                "outbox row {id} is neither held nor failed"
            ))));
        }
        w.append(
            now,
            Event::OutboxReviewed {
                outbox: id,
                approved: approve,
                audit: audit.clone(),
            },
        )?;
        let status = if approve {
            OutboxStatus::Pending
        } else {
            OutboxStatus::Skipped {
                at: now,
                reason: format!("rejected by {}: {}", audit.actor, audit.reason),
            }
        };
        w.set_outbox_status(id, status, false)?;
        Ok(Ok(Reply::Done))
    }
}

/// The newest accepted bid on `auction`, other than `lead` and not by `user`, whose bidder can
/// still cover it.
fn best_covered_bid(
    w: &Writer<'_>,
    auction: AuctionId,
    user: UserId,
    lead: BidId,
) -> store::Result<Option<BidId>> {
    for bid in w.bids_of_auction(auction)?.into_iter().rev() {
        if !bid.accepted() || bid.id == lead || bid.bidder == user {
            continue;
        }
        if w.bid_voided(bid.id)?.is_some() {
            continue;
        }
        if w.balance(bid.bidder)?.available() >= bid.amount {
            return Ok(Some(bid.id));
        }
    }
    Ok(None)
}
