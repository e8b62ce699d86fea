//! Applying events to the projections. This is the only code that writes projection tables, and
//! it reads nothing but the projections and the event: replaying the log from empty therefore
//! yields the same bytes.

use redb::ReadableTable;

use crate::event::Event;
use crate::model::{
    Auction, AuctionId, Balance, Bid, Deposit, Milestone, TweetKind, TweetRecord, UserId,
    handle_key,
};
use crate::record::{self, Record};
use crate::tables::{WriteTables, decode_at, get_record, id_bytes, id_from_bytes};
use crate::wei::Wei;
use crate::{Error, Result};

fn put<R: Record>(t: &mut redb::Table<'_, u64, &'static [u8]>, id: u64, record: &R) -> Result<()> {
    t.insert(id, record::encode(record).as_slice())?;
    Ok(())
}

fn must<R: Record>(
    t: &redb::Table<'_, u64, &'static [u8]>,
    table: &'static str,
    id: u64,
) -> Result<R> {
    get_record(t, table, id)?.ok_or_else(|| {
        Error::Corrupt(format!(
            "event refers to {table} {id}, which does not exist"
        ))
    })
}

fn update_auction(
    t: &mut WriteTables<'_>,
    id: AuctionId,
    f: impl FnOnce(&mut Auction),
) -> Result<()> {
    let mut auction: Auction = must(&t.auctions, "auctions", id.0)?;
    f(&mut auction);
    put(&mut t.auctions, id.0, &auction)
}

/// Which part of a balance an event moves.
#[derive(Clone, Copy)]
enum Part {
    Deposited,
    Withdrawn,
    Leading,
    Won,
}

fn adjust(t: &mut WriteTables<'_>, user: UserId, part: Part, add: Wei, sub: Wei) -> Result<()> {
    let mut balance: Balance = get_record(&t.balances, "balances", user.0)?.unwrap_or_default();
    let field = match part {
        Part::Deposited => &mut balance.deposited,
        Part::Withdrawn => &mut balance.withdrawn,
        Part::Leading => &mut balance.leading,
        Part::Won => &mut balance.won,
    };
    *field = field
        .checked_add(add)
        .and_then(|v| v.checked_sub(sub))
        .ok_or_else(|| Error::Corrupt(format!("balance of user {user} would leave its range")))?;
    put(&mut t.balances, user.0, &balance)
}

fn index_bid(t: &mut WriteTables<'_>, bid: &Bid) -> Result<()> {
    put(&mut t.bids, bid.id.0, bid)?;
    if let Some(auction) = bid.auction {
        t.bids_by_auction
            .insert((auction.0, bid.id.0), [].as_slice())?;
    }
    t.bids_by_user
        .insert((bid.bidder.0, bid.id.0), [].as_slice())?;
    if let Some(key) = bid.source.key() {
        t.bid_sources
            .insert(key.as_str(), id_bytes(bid.id.0).as_slice())?;
    }
    Ok(())
}

/// Applies one event to the projections.
pub(crate) fn apply(t: &mut WriteTables<'_>, event: &Event) -> Result<()> {
    match event {
        Event::CampaignCreated {
            campaign,
            items,
            auctions,
            ..
        }
        | Event::CampaignEdited {
            campaign,
            items,
            auctions,
            ..
        } => {
            put(&mut t.campaigns, campaign.id.0, campaign)?;
            for item in items {
                put(&mut t.items, item.id.0, item)?;
            }
            for auction in auctions {
                put(&mut t.auctions, auction.id.0, auction)?;
            }
            if let Event::CampaignEdited { removed, .. } = event {
                for id in removed {
                    t.auctions.remove(id.0)?;
                }
            }
        }
        Event::UserSeen { user } => {
            if let Some(old) = get_record::<crate::model::User>(&t.users, "users", user.id.0)? {
                let old_key = handle_key(&old.handle);
                let owner = match t.handles.get(old_key.as_str())? {
                    Some(v) => Some(id_from_bytes("handles", v.value())?),
                    None => None,
                };
                if owner == Some(user.id.0) {
                    t.handles.remove(old_key.as_str())?;
                }
            }
            t.handles.insert(
                handle_key(&user.handle).as_str(),
                id_bytes(user.id.0).as_slice(),
            )?;
            put(&mut t.users, user.id.0, user)?;
        }
        Event::WalletLinked { link } => {
            if let Some(old) =
                get_record::<crate::model::WalletLink>(&t.wallets, "wallets", link.user.0)?
            {
                t.wallet_owners.remove(old.address.0.as_slice())?;
            }
            t.wallet_owners
                .insert(link.address.0.as_slice(), id_bytes(link.user.0).as_slice())?;
            put(&mut t.wallets, link.user.0, link)?;
        }
        Event::DepositRecorded { deposit } => {
            put(&mut t.deposits, deposit.id.0, deposit)?;
            t.deposit_refs.insert(
                deposit.reference.as_str(),
                id_bytes(deposit.id.0).as_slice(),
            )?;
            if let Some(user) = deposit.user {
                adjust(t, user, Part::Deposited, deposit.amount, Wei::ZERO)?;
            }
        }
        Event::DepositCredited { deposit, user } => {
            let mut d: crate::model::Deposit = must(&t.deposits, "deposits", deposit.0)?;
            if d.user.is_some() {
                return Err(Error::Corrupt(format!(
                    "deposit {deposit} is credited twice"
                )));
            }
            d.user = Some(*user);
            put(&mut t.deposits, deposit.0, &d)?;
            adjust(t, *user, Part::Deposited, d.amount, Wei::ZERO)?;
        }
        Event::BidAccepted {
            bid,
            ends_at,
            extended,
        } => {
            let auction_id = bid
                .auction
                .ok_or_else(|| Error::Corrupt(format!("accepted bid {} has no auction", bid.id)))?;
            let mut a: Auction = must(&t.auctions, "auctions", auction_id.0)?;
            if let Some(prev) = a.leading_bid {
                let prev: Bid = must(&t.bids, "bids", prev.0)?;
                adjust(t, prev.bidder, Part::Leading, Wei::ZERO, prev.amount)?;
            }
            index_bid(t, bid)?;
            adjust(t, bid.bidder, Part::Leading, bid.amount, Wei::ZERO)?;
            a.leading_bid = Some(bid.id);
            a.leader = Some(bid.bidder);
            a.price = bid.amount;
            a.bids_accepted += 1;
            a.ends_at = *ends_at;
            if *extended {
                a.extensions += 1;
            }
            put(&mut t.auctions, auction_id.0, &a)?;
        }
        Event::BidRejected { bid } => {
            index_bid(t, bid)?;
            if let Some(auction) = bid.auction {
                update_auction(t, auction, |a| a.bids_rejected += 1)?;
            }
        }
        Event::AuctionStarted { auction, at } => update_auction(t, *auction, |a| {
            a.state = crate::model::AuctionState::Active;
            a.started_at = Some(*at);
        })?,
        Event::AuctionPaused {
            auction,
            remaining_micros,
            ..
        } => update_auction(t, *auction, |a| {
            a.state = crate::model::AuctionState::Paused;
            a.paused_remaining_micros = Some(*remaining_micros);
        })?,
        Event::AuctionResumed {
            auction, ends_at, ..
        } => update_auction(t, *auction, |a| {
            a.state = crate::model::AuctionState::Active;
            a.ends_at = *ends_at;
            a.paused_remaining_micros = None;
        })?,
        Event::AuctionExtended {
            auction, ends_at, ..
        } => update_auction(t, *auction, |a| {
            a.ends_at = *ends_at;
            a.extensions += 1;
        })?,
        Event::AuctionClosed { auction, at, .. } => update_auction(t, *auction, |a| {
            a.state = crate::model::AuctionState::Processing;
            a.closed_at = Some(*at);
        })?,
        Event::AuctionSettled { auction, at, .. } => {
            let a: Auction = must(&t.auctions, "auctions", auction.0)?;
            if let Some(leader) = a.leader {
                adjust(t, leader, Part::Leading, Wei::ZERO, a.price)?;
                adjust(t, leader, Part::Won, a.price, Wei::ZERO)?;
            }
            update_auction(t, *auction, |a| {
                a.state = crate::model::AuctionState::Completed;
                a.finished_at = Some(*at);
            })?;
        }
        Event::AuctionCancelled { auction, at, .. } => {
            let a: Auction = must(&t.auctions, "auctions", auction.0)?;
            if let Some(leader) = a.leader {
                adjust(t, leader, Part::Leading, Wei::ZERO, a.price)?;
            }
            update_auction(t, *auction, |a| {
                a.state = crate::model::AuctionState::Cancelled;
                a.finished_at = Some(*at);
            })?;
        }
        Event::AuctionOverridden {
            auction,
            ends_at,
            reserve,
            reopened,
            ..
        } => update_auction(t, *auction, |a| {
            if let Some(end) = ends_at {
                a.ends_at = *end;
            }
            if let Some(reserve) = reserve {
                a.rules.reserve = *reserve;
            }
            if *reopened {
                a.state = crate::model::AuctionState::Active;
                a.closed_at = None;
            }
        })?,
        Event::TweetReceived { tweet } => {
            t.tweets
                .insert(tweet.id.as_str(), record::encode(tweet).as_slice())?;
        }
        Event::QuestionAnswered { tweet, answer } => {
            let mut record = t
                .tweets
                .get(tweet.as_str())?
                .map(|v| decode_at::<TweetRecord>("tweets", tweet, v.value()))
                .transpose()?
                .ok_or_else(|| {
                    Error::Corrupt(format!("answer to tweet {tweet}, which is not recorded"))
                })?;
            if record.kind != TweetKind::Question || record.reason.is_some() {
                return Err(Error::Corrupt(format!(
                    "tweet {tweet} is not an unanswered question"
                )));
            }
            record.message.clone_from(answer);
            record.reason = Some("answered".into());
            t.tweets
                .insert(tweet.as_str(), record::encode(&record).as_slice())?;
        }
        Event::DepositReverted { deposit, reason } => {
            let d: Deposit = must(&t.deposits, "deposits", deposit.0)?;
            if t.reverted_deposits.get(deposit.0)?.is_some() {
                return Err(Error::Corrupt(format!(
                    "deposit {deposit} is reverted twice"
                )));
            }
            if let Some(user) = d.user {
                adjust(t, user, Part::Deposited, Wei::ZERO, d.amount)?;
            }
            // The same transaction may land again in another block: its reference is free again.
            let owner = match t.deposit_refs.get(d.reference.as_str())? {
                Some(v) => Some(id_from_bytes("deposit_refs", v.value())?),
                None => None,
            };
            if owner == Some(deposit.0) {
                t.deposit_refs.remove(d.reference.as_str())?;
            }
            t.reverted_deposits.insert(deposit.0, reason.as_bytes())?;
        }
        Event::BidVoided {
            bid,
            auction,
            reason,
            restored,
        } => {
            let voided: Bid = must(&t.bids, "bids", bid.0)?;
            let mut a: Auction = must(&t.auctions, "auctions", auction.0)?;
            if a.leading_bid != Some(*bid) {
                return Err(Error::Corrupt(format!(
                    "bid {bid} is voided but does not lead auction {auction}"
                )));
            }
            adjust(t, voided.bidder, Part::Leading, Wei::ZERO, voided.amount)?;
            t.voided_bids.insert(bid.0, reason.as_bytes())?;
            match restored {
                Some(r) => {
                    let back: Bid = must(&t.bids, "bids", r.0)?;
                    adjust(t, back.bidder, Part::Leading, back.amount, Wei::ZERO)?;
                    a.leading_bid = Some(*r);
                    a.leader = Some(back.bidder);
                    a.price = back.amount;
                }
                None => {
                    a.leading_bid = None;
                    a.leader = None;
                    a.price = Wei::ZERO;
                }
            }
            put(&mut t.auctions, auction.0, &a)?;
        }
        Event::CustodyChecked { auction, check } => put(&mut t.custody, auction.0, check)?,
        Event::WithdrawalRequested { withdrawal } => {
            put(&mut t.withdrawals, withdrawal.id.0, withdrawal)?;
            adjust(
                t,
                withdrawal.user,
                Part::Withdrawn,
                withdrawal.amount,
                Wei::ZERO,
            )?;
        }
        Event::ReminderRequested {
            auction,
            user,
            tweet,
        } => {
            t.reminders.insert((auction.0, user.0), tweet.as_bytes())?;
        }
        Event::CeilingSet { auction, ceiling } => {
            let key = (auction.0, ceiling.user.0);
            if ceiling.max == Wei::ZERO {
                t.ceilings.remove(key)?;
            } else {
                t.ceilings.insert(key, record::encode(ceiling).as_slice())?;
            }
        }
        Event::NoticesSet { user, on, .. } => {
            if *on {
                t.quiet.remove(user.0)?;
            } else {
                t.quiet.insert(user.0, [].as_slice())?;
            }
        }
        Event::HostPosted {
            auction, milestone, ..
        } => {
            if t.milestones.get((auction.0, milestone.key()))?.is_some() {
                return Err(Error::Corrupt(format!(
                    "auction {auction}: the host's {milestone:?} post twice"
                )));
            }
            t.milestones
                .insert((auction.0, milestone.key()), [].as_slice())?;
        }
        Event::MilestoneReached { auction, milestone } => {
            t.milestones
                .insert((auction.0, milestone.key()), [].as_slice())?;
            if *milestone == Milestone::RemindersSent {
                let asked: Vec<u64> = t
                    .reminders
                    .range((auction.0, 0)..=(auction.0, u64::MAX))?
                    .map(|e| e.map(|(k, _)| k.value().1))
                    .collect::<std::result::Result<_, _>>()?;
                for user in asked {
                    t.reminders.remove((auction.0, user))?;
                }
            }
        }
        // The outbox is not a projection: the row itself is updated by the engine beside this.
        Event::OutboxReviewed { .. }
        | Event::AdminAction { .. }
        | Event::TransactionReplaced { .. } => {}
    }
    Ok(())
}

/// Re-encodes every record of one projection table that is stored in an older layout.
pub(crate) fn migrate_table<K, R>(
    t: &mut redb::Table<'_, K, &'static [u8]>,
    table: &'static str,
) -> Result<u64>
where
    K: redb::Key + 'static,
    for<'a> K::SelfType<'a>: std::fmt::Display,
    R: Record,
{
    let mut outdated = Vec::new();
    for entry in t.iter()? {
        let (k, v) = entry?;
        if record::is_outdated::<R>(v.value()) {
            let value: R = decode_at(table, k.value(), v.value())?;
            outdated.push((
                K::as_bytes(&k.value()).as_ref().to_vec(),
                record::encode(&value),
            ));
        }
    }
    for (key, bytes) in &outdated {
        t.insert(K::from_bytes(key), bytes.as_slice())?;
    }
    Ok(outdated.len() as u64)
}
