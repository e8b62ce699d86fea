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

struct ValidSpec {
    days: Vec<DayWindows>,
    host_handle: String,
}

fn validate_spec(spec: &CampaignSpec) -> Result<ValidSpec, CommandError> {
    let name = spec.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(CommandError::invalid(
            "the campaign needs a name of 1 to 100 characters",
        ));
    }
    if !(1..=366).contains(&spec.days) {
        return Err(CommandError::invalid("a campaign runs for 1 to 366 days"));
    }
    if spec.items.len() < spec.days as usize {
        return Err(CommandError::invalid(format!(
            "{} days need at least {} items; {} given",
            spec.days,
            spec.days,
            spec.items.len()
        )));
    }
    for (i, item) in spec.items.iter().enumerate() {
        if item.name.trim().is_empty() || item.name.len() > 100 {
            return Err(CommandError::invalid(format!(
                "item {} needs a name of 1 to 100 characters",
                i + 1
            )));
        }
        if item.artist.len() > 100 || item.image.len() > 200 {
            return Err(CommandError::invalid(format!(
                "item {}: artist or image name too long",
                i + 1
            )));
        }
        if let Some(token) = &item.token {
            let id = &token.token_id;
            if id.is_empty() || id.len() > 78 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CommandError::invalid(format!(
                    "item {}: token id must be a decimal number",
                    i + 1
                )));
            }
        }
    }
    if !valid_handle(&spec.host_handle) {
        return Err(CommandError::invalid(
            "the host handle must be an X handle (1-15 letters, digits or _)",
        ));
    }
    let r = &spec.rules;
    if r.min_increment_bps > 10_000 {
        return Err(CommandError::invalid(
            "min_increment_bps is at most 10000 (100 %)",
        ));
    }
    if r.extension_secs > 3600 {
        return Err(CommandError::invalid("extension_secs is at most 3600"));
    }
    if r.rate_limit_bids > 0 && !(1..=MAX_RATE_WINDOW_SECS).contains(&r.rate_limit_window_secs) {
        return Err(CommandError::invalid(format!(
            "rate_limit_window_secs must be 1 to {MAX_RATE_WINDOW_SECS}"
        )));
    }
    if r.min_account_age_days > 3650 {
        return Err(CommandError::invalid(
            "min_account_age_days is at most 3650",
        ));
    }
    let tz =
        schedule::parse_zone(&spec.timezone).map_err(|e| CommandError::invalid(e.to_string()))?;
    let days = schedule::plan_days(spec.start_date, spec.days, &spec.windows, tz)
        .map_err(|e| CommandError::invalid(e.to_string()))?;
    Ok(ValidSpec {
        days,
        host_handle: spec.host_handle.trim_start_matches('@').to_string(),
    })
}

/// Refuses auctions whose windows overlap another campaign's live or pending auctions.
fn check_overlap(
    w: &Writer<'_>,
    campaign: CampaignId,
    days: &[DayWindows],
) -> store::Result<Result<(), CommandError>> {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(Ok(()));
    };
    for other in w.auctions()? {
        if other.campaign == campaign || other.state.is_final() {
            continue;
        }
        if other.pre_start < last.post_end && first.pre_start < other.post_end {
            let clash = days
                .iter()
                .find(|d| other.pre_start < d.post_end && d.pre_start < other.post_end);
            if let Some(day) = clash {
                return Ok(Err(CommandError::conflict(format!(
                    "day {} ({}) overlaps day {} of campaign {}; one stream runs one auction at a time",
                    day.day, day.date, other.day, other.campaign
                ))));
            }
        }
    }
    Ok(Ok(()))
}

fn new_auction(
    id: AuctionId,
    campaign: CampaignId,
    item: ItemId,
    d: &DayWindows,
    spec: &CampaignSpec,
) -> Auction {
    Auction {
        id,
        campaign,
        day: d.day,
        item,
        pre_start: d.pre_start,
        starts_at: d.starts_at,
        scheduled_end: d.ends_at,
        ends_at: d.ends_at,
        post_end: d.post_end,
        state: AuctionState::Pending,
        rules: spec.rules.clone(),
        leading_bid: None,
        leader: None,
        price: Wei::ZERO,
        bids_accepted: 0,
        bids_rejected: 0,
        extensions: 0,
        paused_remaining_micros: None,
        started_at: None,
        closed_at: None,
        finished_at: None,
    }
}

fn campaign_from(
    id: CampaignId,
    spec: &CampaignSpec,
    host_handle: String,
    items: Vec<ItemId>,
    created_at: Timestamp,
) -> Campaign {
    Campaign {
        id,
        name: spec.name.trim().to_string(),
        start_date: spec.start_date,
        days: spec.days,
        timezone: spec.timezone.trim().to_string(),
        windows: spec.windows,
        rules: spec.rules.clone(),
        host_handle,
        items,
        created_at,
    }
}

fn item_from(id: ItemId, campaign: CampaignId, spec: &super::command::ItemSpec) -> Item {
    Item {
        id,
        campaign,
        name: spec.name.trim().to_string(),
        artist: spec.artist.trim().to_string(),
        image: spec.image.trim().to_string(),
        token: spec.token.clone(),
    }
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
                | Command::SaveState { .. }
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
                auction_reply(w, *auction)
            }
            Command::UpdateOutbox {
                id,
                status,
                attempted,
            } => self.update_outbox(w, *id, status, *attempted),
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
                if key.is_empty() || key.len() > 200 || value.len() > 256 * 1024 {
                    return Ok(Err(CommandError::invalid(
                        "state keys are 1-200 bytes and values at most 256 KiB",
                    )));
                }
                w.put_state(key, value.as_bytes())?;
                Ok(Ok(Reply::Done))
            }
        }
    }

    fn create_campaign(
        &mut self,
        w: &mut Writer<'_>,
        spec: &CampaignSpec,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if audit.actor.trim().is_empty() {
            return Ok(Err(CommandError::invalid(
                "say who is acting (audit.actor)",
            )));
        }
        let valid = refuse!(validate_spec(spec));
        let id = CampaignId(w.last_id(IdTable::Campaigns)? + 1);
        refuse!(check_overlap(w, id, &valid.days)?);
        let first_item = w.last_id(IdTable::Items)? + 1;
        let first_auction = w.last_id(IdTable::Auctions)? + 1;
        let items: Vec<Item> = spec
            .items
            .iter()
            .enumerate()
            .map(|(i, s)| item_from(ItemId(first_item + i as u64), id, s))
            .collect();
        let auctions: Vec<Auction> = valid
            .days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                new_auction(
                    AuctionId(first_auction + i as u64),
                    id,
                    items[i].id,
                    d,
                    spec,
                )
            })
            .collect();
        let ids = auctions.iter().map(|a| a.id).collect();
        let campaign = campaign_from(
            id,
            spec,
            valid.host_handle,
            items.iter().map(|i| i.id).collect(),
            now,
        );
        w.append(
            now,
            Event::CampaignCreated {
                campaign,
                items,
                auctions,
                audit: audit.clone(),
            },
        )?;
        Ok(Ok(Reply::Campaign { id, auctions: ids }))
    }

    fn edit_campaign(
        &mut self,
        w: &mut Writer<'_>,
        id: CampaignId,
        spec: &CampaignSpec,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let Some(old) = w.campaign(id)? else {
            return Ok(Err(CommandError::not_found(format!(
                "there is no campaign {id}"
            ))));
        };
        let valid = refuse!(validate_spec(spec));
        let mut existing: Vec<Auction> = w
            .auctions()?
            .into_iter()
            .filter(|a| a.campaign == id)
            .collect();
        existing.sort_by_key(|a| a.day);
        let started_days = existing
            .iter()
            .filter(|a| a.state != AuctionState::Pending)
            .map(|a| a.day)
            .max()
            .unwrap_or(0);
        let schedule_changed = old.start_date != spec.start_date
            || old.timezone != spec.timezone.trim()
            || old.windows != spec.windows;
        if started_days > 0 && schedule_changed {
            return Ok(Err(CommandError::state(
                "the start date, time zone and windows cannot change once the first auction has started",
            )));
        }
        if spec.days < started_days {
            return Ok(Err(CommandError::state(format!(
                "day {started_days} has already started; the campaign cannot be shorter than that"
            ))));
        }
        refuse!(check_overlap(w, id, &valid.days)?);

        // Items by position: started days keep theirs unchanged.
        let mut next_item = w.last_id(IdTable::Items)? + 1;
        let mut item_ids = Vec::with_capacity(spec.items.len());
        let mut changed_items = Vec::new();
        for (pos, item_spec) in spec.items.iter().enumerate() {
            let day = pos as u32 + 1;
            match old.items.get(pos).copied() {
                Some(item_id) => {
                    let current = w.item(item_id)?.ok_or_else(|| {
                        store::Error::Corrupt(format!("campaign {id} names missing item {item_id}"))
                    })?;
                    let wanted = item_from(item_id, id, item_spec);
                    if wanted != current {
                        if day <= started_days {
                            return Ok(Err(CommandError::state(format!(
                                "the item of day {day} is already being auctioned and cannot change"
                            ))));
                        }
                        changed_items.push(wanted);
                    }
                    item_ids.push(item_id);
                }
                None => {
                    let item = item_from(ItemId(next_item), id, item_spec);
                    next_item += 1;
                    item_ids.push(item.id);
                    changed_items.push(item);
                }
            }
        }

        let mut next_auction = w.last_id(IdTable::Auctions)? + 1;
        let mut auctions = Vec::new();
        for d in &valid.days {
            let item = item_ids[(d.day - 1) as usize];
            match existing.iter().find(|a| a.day == d.day) {
                Some(a) if a.state != AuctionState::Pending => {}
                Some(a) => {
                    let updated = new_auction(a.id, id, item, d, spec);
                    if &updated != a {
                        auctions.push(updated);
                    }
                }
                None => {
                    auctions.push(new_auction(AuctionId(next_auction), id, item, d, spec));
                    next_auction += 1;
                }
            }
        }
        let removed: Vec<AuctionId> = existing
            .iter()
            .filter(|a| a.day > spec.days)
            .map(|a| a.id)
            .collect();
        let campaign = campaign_from(id, spec, valid.host_handle, item_ids, old.created_at);
        w.append(
            now,
            Event::CampaignEdited {
                campaign,
                items: changed_items,
                auctions,
                removed,
                audit: audit.clone(),
            },
        )?;
        let mut ids: Vec<(u32, AuctionId)> = w
            .auctions()?
            .into_iter()
            .filter(|a| a.campaign == id)
            .map(|a| (a.day, a.id))
            .collect();
        ids.sort();
        Ok(Ok(Reply::Campaign {
            id,
            auctions: ids.into_iter().map(|(_, a)| a).collect(),
        }))
    }

    pub(super) fn see_user(
        &mut self,
        w: &mut Writer<'_>,
        id: UserId,
        handle: &str,
        account_created: Timestamp,
        simulated: bool,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if !valid_handle(handle) {
            return Ok(Err(CommandError::invalid(format!(
                "{handle:?} is not an X handle"
            ))));
        }
        let handle = handle.trim_start_matches('@').to_string();
        let existing = w.user(id)?;
        if let Some(u) = &existing
            && u.handle == handle
            && u.account_created == account_created
            && u.simulated == simulated
        {
            return Ok(Ok(Reply::User { id }));
        }
        let user = User {
            id,
            handle,
            account_created,
            first_seen: existing.map_or(now, |u| u.first_seen),
            simulated,
        };
        w.append(now, Event::UserSeen { user })?;
        Ok(Ok(Reply::User { id }))
    }

    pub(super) fn link_wallet(
        &mut self,
        w: &mut Writer<'_>,
        user: UserId,
        address: Address,
        verified: bool,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if w.user(user)?.is_none() {
            return Ok(Err(CommandError::not_found(format!(
                "there is no user {user}"
            ))));
        }
        if address == Address::default() {
            return Ok(Err(CommandError::invalid(
                "the zero address cannot be linked",
            )));
        }
        if let Some(owner) = w.wallet_owner(&address)?
            && owner != user
        {
            return Ok(Err(CommandError::conflict(format!(
                "{address} is already linked to another account"
            ))));
        }
        let unchanged = w
            .wallet(user)?
            .is_some_and(|l| l.address == address && l.verified == verified);
        if !unchanged {
            let link = WalletLink {
                user,
                address,
                verified,
                linked_at: now,
            };
            w.append(now, Event::WalletLinked { link })?;
        }
        let mut credited = 0;
        if verified {
            for d in w.deposits()? {
                if d.from == address && d.user.is_none() {
                    w.append(
                        now,
                        Event::DepositCredited {
                            deposit: d.id,
                            user,
                        },
                    )?;
                    credited += 1;
                }
            }
        }
        Ok(Ok(Reply::Wallet {
            user,
            address,
            credited_deposits: credited,
        }))
    }

    fn record_deposit(
        &mut self,
        w: &mut Writer<'_>,
        from: Address,
        amount: Wei,
        reference: &str,
        now: Timestamp,
    ) -> store::Result<Handled> {
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > 200 {
            return Ok(Err(CommandError::invalid(
                "a deposit needs its chain reference (1-200 characters)",
            )));
        }
        if amount == Wei::ZERO {
            return Ok(Err(CommandError::invalid(
                "a deposit of zero is no deposit",
            )));
        }
        if let Some(d) = w.deposit_by_reference(reference)? {
            if d.from != from || d.amount != amount {
                return Ok(Err(CommandError::conflict(format!(
                    "deposit {reference} was recorded with a different sender or amount"
                ))));
            }
            return Ok(Ok(Reply::Deposit {
                id: d.id,
                credited: d.user.is_some(),
                duplicate: true,
            }));
        }
        let user = match w.wallet_owner(&from)? {
            Some(u) if w.wallet(u)?.is_some_and(|l| l.verified) => Some(u),
            _ => None,
        };
        let id = DepositId(w.last_id(IdTable::Deposits)? + 1);
        let deposit = Deposit {
            id,
            from,
            user,
            amount,
            reference: reference.to_string(),
            at: now,
        };
        w.append(now, Event::DepositRecorded { deposit })?;
        Ok(Ok(Reply::Deposit {
            id,
            credited: user.is_some(),
            duplicate: false,
        }))
    }

    pub(super) fn place_bid(
        &mut self,
        w: &mut Writer<'_>,
        bidder: UserId,
        amount: Wei,
        source: &BidSource,
        auction: Option<AuctionId>,
        now: Timestamp,
    ) -> store::Result<Handled> {
        let key = source.key();
        if let Some(key) = &key {
            if key.len() > 200 {
                return Ok(Err(CommandError::invalid(
                    "the bid's source reference is too long",
                )));
            }
            if let Some(id) = w.bid_by_source(key)? {
                return Ok(Ok(Reply::Bid(receipt_of(w, id, true)?)));
            }
        }
        let target = match auction {
            Some(id) => Some(refuse!(must_auction(w, id)?)),
            None => self.live_auction(w)?,
        };
        let id = BidId(w.last_id(IdTable::Bids)? + 1);
        let mut bid = Bid {
            id,
            auction: target.as_ref().map(|a| a.id),
            bidder,
            amount,
            placed_at: now,
            source: source.clone(),
            rejection: None,
        };
        let tweet = matches!(source, BidSource::Tweet(_));
        let Some(auction) = target else {
            let (_, next) = current_auction(w)?;
            let when = next.map_or(String::new(), |n| {
                format!(" The next opens at {}.", n.starts_at.rfc3339())
            });
            bid.rejection = Some(rejection(
                "no_auction",
                format!("No auction is taking bids right now.{when}"),
            ));
            let receipt = BidReceipt {
                bid: id,
                accepted: false,
                duplicate: false,
                auction: None,
                price: Wei::ZERO,
                ends_at: None,
                rejection: bid.rejection.clone(),
            };
            let seq = w.append(now, Event::BidRejected { bid })?;
            if tweet {
                self.notify(w, seq, now, Notice::BidRejected { bid: id })?;
            }
            self.rate.stage(bidder, now);
            return Ok(Ok(Reply::Bid(receipt)));
        };
        let user = w.user(bidder)?;
        let wallet = w.wallet(bidder)?;
        let balance = w.balance(bidder)?;
        let ctx = BidContext {
            auction: &auction,
            bidder,
            user: user.as_ref(),
            wallet: wallet.as_ref(),
            balance: &balance,
            recent_bids: self
                .rate
                .count(bidder, now, auction.rules.rate_limit_window_secs),
            now,
            amount,
        };
        let mut receipt = BidReceipt {
            bid: id,
            accepted: false,
            duplicate: false,
            auction: Some(auction.id),
            price: auction.price,
            ends_at: Some(auction.ends_at),
            rejection: None,
        };
        match rules::evaluate(&ctx) {
            Ok(acceptance) => {
                receipt.accepted = true;
                receipt.price = amount;
                receipt.ends_at = Some(acceptance.ends_at);
                let previous = auction.leading_bid;
                let seq = w.append(
                    now,
                    Event::BidAccepted {
                        bid,
                        ends_at: acceptance.ends_at,
                        extended: acceptance.extended,
                    },
                )?;
                if tweet {
                    self.notify(w, seq, now, Notice::BidAccepted { bid: id })?;
                }
                if let Some(prev) = previous
                    && let Some(prev_bid) = w.bid(prev)?
                    && prev_bid.bidder != bidder
                    && matches!(prev_bid.source, BidSource::Tweet(_))
                {
                    self.notify(w, seq, now, Notice::Outbid { bid: prev, by: id })?;
                }
            }
            Err(reason) => {
                receipt.rejection = Some(reason.clone());
                bid.rejection = Some(reason);
                let seq = w.append(now, Event::BidRejected { bid })?;
                if tweet {
                    self.notify(w, seq, now, Notice::BidRejected { bid: id })?;
                }
            }
        }
        self.rate.stage(bidder, now);
        Ok(Ok(Reply::Bid(receipt)))
    }

    /// The auction taking bids (or paused), if any.
    fn live_auction(&mut self, w: &Writer<'_>) -> store::Result<Option<Auction>> {
        if let Some(id) = self.live_hint
            && let Some(a) = w.auction(id)?
            && matches!(a.state, AuctionState::Active | AuctionState::Paused)
        {
            return Ok(Some(a));
        }
        let (live, _) = current_auction(w)?;
        self.live_hint = live.as_ref().map(|a| a.id);
        Ok(live)
    }

    /// An audited operator action on one auction: the reason is required, `decide` sees the
    /// auction and returns the events to append or why the action is refused.
    fn operator_action(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
        decide: impl FnOnce(&Auction) -> Result<Vec<Event>, CommandError>,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let a = refuse!(must_auction(w, id)?);
        for event in refuse!(decide(&a)) {
            w.append(now, event)?;
        }
        auction_reply(w, id)
    }

    fn pause(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        self.operator_action(w, id, audit, now, |a| {
            require_state(a, &[AuctionState::Active])?;
            Ok(vec![Event::AuctionPaused {
                auction: id,
                remaining_micros: a.ends_at.micros_since(now).max(0),
                audit: audit.clone(),
            }])
        })
    }

    fn resume(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        self.operator_action(w, id, audit, now, |a| {
            require_state(a, &[AuctionState::Paused])?;
            // Bidders get at least the anti-sniping window after a resume.
            let floor = i64::from(a.rules.extension_secs) * 1_000_000;
            let remaining = a.paused_remaining_micros.unwrap_or(0).max(floor);
            Ok(vec![Event::AuctionResumed {
                auction: id,
                ends_at: now.plus_micros(remaining),
                audit: audit.clone(),
            }])
        })
    }

    fn extend(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        seconds: u32,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        self.operator_action(w, id, audit, now, |a| {
            if !(1..=86_400).contains(&seconds) {
                return Err(CommandError::invalid("extend by 1 to 86400 seconds"));
            }
            require_state(a, &[AuctionState::Active])?;
            Ok(vec![Event::AuctionExtended {
                auction: id,
                ends_at: a.ends_at.max(now).plus_secs(i64::from(seconds)),
                audit: audit.clone(),
            }])
        })
    }

    fn cancel(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        self.operator_action(w, id, audit, now, |a| {
            if a.state.is_final() {
                return Err(CommandError::state(format!(
                    "auction {id} is already {}",
                    a.state.as_str()
                )));
            }
            Ok(vec![Event::AuctionCancelled {
                auction: id,
                at: now,
                audit: audit.clone(),
            }])
        })
    }

    fn force_settle(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let a = refuse!(must_auction(w, id)?);
        match a.state {
            // Ends bidding now; a sale then settles as any other (on chain when connected).
            AuctionState::Active | AuctionState::Paused => {
                self.close(w, &a, Some(audit.clone()), now)?
            }
            // The operator has handled the sale: record it as settled.
            AuctionState::Processing => self.settle(w, id, Some(audit.clone()), now)?,
            other => {
                return Ok(Err(CommandError::state(format!(
                    "auction {id} is {}; only a started auction can be settled (cancel a pending one)",
                    other.as_str()
                ))));
            }
        }
        auction_reply(w, id)
    }

    /// Closes bidding. A sale on chain is handed to the chain deliverer (token transfer and
    /// treasury payment) and completes when they are confirmed; otherwise it settles at once.
    fn close(
        &mut self,
        w: &mut Writer<'_>,
        a: &Auction,
        audit: Option<Audit>,
        now: Timestamp,
    ) -> store::Result<()> {
        w.append(
            now,
            Event::AuctionClosed {
                auction: a.id,
                at: now,
                audit: audit.clone(),
            },
        )?;
        if self.policy.onchain && a.leader.is_some() {
            let seq = w.append(
                now,
                Event::MilestoneReached {
                    auction: a.id,
                    milestone: Milestone::SettlementQueued,
                },
            )?;
            let has_token = w.item(a.item)?.is_some_and(|i| i.token.is_some());
            if has_token {
                self.notify(w, seq, now, Notice::TransferNft { auction: a.id })?;
            }
            self.notify(w, seq, now, Notice::PayTreasury { auction: a.id })?;
            Ok(())
        } else {
            self.settle(w, a.id, audit, now)
        }
    }

    /// Records the sale (or that the item went unsold) and announces the result.
    pub(super) fn settle(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: Option<Audit>,
        now: Timestamp,
    ) -> store::Result<()> {
        let seq = w.append(
            now,
            Event::AuctionSettled {
                auction: id,
                at: now,
                audit,
            },
        )?;
        self.notify(w, seq, now, Notice::AuctionResult { auction: id })?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn override_auction(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        ends_at: Option<Timestamp>,
        reserve: Option<Wei>,
        reopen: bool,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let a = refuse!(must_auction(w, id)?);
        if ends_at.is_none() && reserve.is_none() && !reopen {
            return Ok(Err(CommandError::invalid(
                "an override changes ends_at, reserve or reopens bidding",
            )));
        }
        if a.state.is_final() {
            return Ok(Err(CommandError::state(format!(
                "auction {id} is {} and cannot change",
                a.state.as_str()
            ))));
        }
        if reopen && a.state != AuctionState::Processing {
            return Ok(Err(CommandError::state(format!(
                "auction {id} is {}; only a closed, unsettled auction reopens",
                a.state.as_str()
            ))));
        }
        if reopen && let (Some(live), _) = current_auction(w)? {
            return Ok(Err(CommandError::state(format!(
                "auction {} is taking bids; only one auction can be live at a time",
                live.id
            ))));
        }
        if a.state == AuctionState::Processing && !reopen && ends_at.is_some() {
            return Ok(Err(CommandError::state(
                "bidding has closed; set reopen to move the end",
            )));
        }
        if let Some(end) = ends_at {
            if end <= now {
                return Ok(Err(CommandError::invalid(
                    "the new end must be in the future",
                )));
            }
            if a.state == AuctionState::Paused {
                return Ok(Err(CommandError::state(
                    "the auction is paused; resume it, then move its end",
                )));
            }
            if a.state == AuctionState::Pending && end <= a.starts_at {
                return Ok(Err(CommandError::invalid(
                    "the new end must be after the auction's start",
                )));
            }
        } else if reopen {
            return Ok(Err(CommandError::invalid(
                "reopening needs a new end (ends_at)",
            )));
        }
        if reserve.is_some() && a.bids_accepted > 0 {
            return Ok(Err(CommandError::state(
                "the reserve cannot change once a bid has been accepted",
            )));
        }
        w.append(
            now,
            Event::AuctionOverridden {
                auction: id,
                ends_at,
                reserve,
                reopened: reopen,
                audit: audit.clone(),
            },
        )?;
        auction_reply(w, id)
    }

    /// Makes the transitions the schedule calls for at `now`. Returns how many were made.
    pub fn tick(&mut self, w: &mut Writer<'_>, now: Timestamp) -> store::Result<u32> {
        let mut transitions = 0;
        let auctions = w.auctions()?;
        // Close what has ended first, so the next day's auction can start in the same tick.
        for a in &auctions {
            if a.state == AuctionState::Active && now >= a.ends_at {
                self.close(w, a, None, now)?;
                transitions += 1;
            } else if a.state == AuctionState::Processing
                && !w.milestone(a.id, Milestone::SettlementQueued)?
            {
                self.settle(w, a.id, None, now)?;
                transitions += 1;
            }
        }
        let mut live = w
            .auctions()?
            .iter()
            .any(|a| matches!(a.state, AuctionState::Active | AuctionState::Paused));
        let mut pending: Vec<&Auction> = auctions
            .iter()
            .filter(|a| a.state == AuctionState::Pending && now >= a.starts_at)
            .collect();
        pending.sort_by_key(|a| (a.starts_at, a.id));
        for a in pending {
            if live {
                break;
            }
            if let Some(why) = custody_block(w, &self.policy, a)? {
                if now >= a.ends_at {
                    // Its whole window passed without the token in custody: no sale today.
                    w.append(
                        now,
                        Event::AuctionCancelled {
                            auction: a.id,
                            at: now,
                            audit: Audit {
                                actor: "appliance".into(),
                                origin: "schedule".into(),
                                reason: format!("the item was never in custody: {why}"),
                            },
                        },
                    )?;
                    transitions += 1;
                }
                continue;
            }
            let seq = w.append(
                now,
                Event::AuctionStarted {
                    auction: a.id,
                    at: now,
                },
            )?;
            transitions += 1;
            if now >= a.ends_at {
                // The whole window passed while the appliance was down: it opens and closes unsold.
                self.close(w, a, None, now)?;
                transitions += 1;
            } else {
                self.notify(w, seq, now, Notice::AuctionOpened { auction: a.id })?;
                live = true;
            }
        }
        transitions += self.announce(w, now)?;
        Ok(transitions)
    }

    /// Once-per-auction announcements that are due: the last minutes of bidding, and reminders
    /// before an auction opens.
    fn announce(&mut self, w: &mut Writer<'_>, now: Timestamp) -> store::Result<u32> {
        let mut made = 0;
        for a in w.auctions()? {
            match a.state {
                AuctionState::Active => {
                    if let Some(at) = final_notice_at(w, &self.policy, &a)?
                        && now >= at
                        && now < a.ends_at
                    {
                        let seq = w.append(
                            now,
                            Event::MilestoneReached {
                                auction: a.id,
                                milestone: Milestone::FinalMinutes,
                            },
                        )?;
                        self.notify(w, seq, now, Notice::FinalMinutes { auction: a.id })?;
                        made += 1;
                    }
                }
                AuctionState::Pending => {
                    if let Some(at) = reminders_at(w, &self.policy, &a)?
                        && now >= at
                    {
                        let asked = w.reminders(a.id)?;
                        let seq = w.append(
                            now,
                            Event::MilestoneReached {
                                auction: a.id,
                                milestone: Milestone::RemindersSent,
                            },
                        )?;
                        for (user, tweet) in asked {
                            self.notify(
                                w,
                                seq,
                                now,
                                Notice::Reminder {
                                    auction: a.id,
                                    user,
                                    tweet,
                                },
                            )?;
                        }
                        made += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(made)
    }
}

/// Why an auction cannot start yet for want of custody of its token, if it cannot.
pub(super) fn custody_block(
    view: &impl View,
    policy: &Policy,
    a: &Auction,
) -> store::Result<Option<String>> {
    if !policy.require_custody {
        return Ok(None);
    }
    let Some(token) = view.item(a.item)?.and_then(|i| i.token) else {
        return Ok(None);
    };
    Ok(match view.custody(a.id)? {
        Some(c) if c.in_custody => None,
        Some(c) => Some(c.detail),
        None => Some(format!(
            "the custody wallet has not yet been seen to own token {} of {}",
            token.token_id, token.contract
        )),
    })
}

/// When the last minutes of an active auction are to be announced, unless they were.
fn final_notice_at(
    view: &impl View,
    policy: &Policy,
    a: &Auction,
) -> store::Result<Option<Timestamp>> {
    if policy.final_notice_secs == 0 || view.milestone(a.id, Milestone::FinalMinutes)? {
        return Ok(None);
    }
    Ok(Some(
        a.ends_at.plus_secs(-i64::from(policy.final_notice_secs)),
    ))
}

/// When those who asked are to be reminded of a pending auction, if anyone asked.
fn reminders_at(
    view: &impl View,
    policy: &Policy,
    a: &Auction,
) -> store::Result<Option<Timestamp>> {
    if view.milestone(a.id, Milestone::RemindersSent)? || view.reminders(a.id)?.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        a.starts_at.plus_secs(-i64::from(policy.remind_lead_secs)),
    ))
}

/// The next instant at which the schedule has something to do.
pub fn next_deadline(
    view: &impl View,
    policy: &Policy,
    now: Timestamp,
) -> store::Result<Option<Timestamp>> {
    let mut next: Option<Timestamp> = None;
    let mut consider = |t: Option<Timestamp>| {
        if let Some(t) = t {
            next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
        }
    };
    for a in view.auctions()? {
        match a.state {
            AuctionState::Pending => {
                let blocked = now >= a.starts_at && custody_block(view, policy, &a)?.is_some();
                // A start blocked on custody is retried when custody is recorded (an event that
                // reschedules); until then only the end of its window (to call it off) is due.
                consider(Some(if blocked { a.ends_at } else { a.starts_at }));
                consider(reminders_at(view, policy, &a)?);
            }
            AuctionState::Active => {
                consider(Some(a.ends_at));
                consider(final_notice_at(view, policy, &a)?.filter(|t| *t < a.ends_at));
            }
            AuctionState::Processing if !view.milestone(a.id, Milestone::SettlementQueued)? => {
                consider(Some(now));
            }
            _ => {}
        }
    }
    Ok(next)
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
