//! The independent oracle. From what the crowd sent (each tweet's text and author, each
//! account's age and wallet) and when each input reached the appliance (the log's order and
//! times — arrival is a fact of the network, not a decision), it judges every bid again with its
//! own small implementation of the published rules (README, "Bidding on X": the auction open and
//! not paused, the end not passed, at most N bids a window, the account old enough, a linked
//! wallet, at least the reserve or the price plus the larger of the fixed and the percentage
//! raise, escrow covering what the bid adds, the end moved to now + the extension for a bid in
//! its last minutes, and proxy ceilings as eBay's), and compares each verdict, each auction's
//! end, leader and price with what the appliance recorded. It shares no code with the engine.
//!
//! Deposits, settlements and operator actions are inputs: the oracle takes them from the log and
//! the checks hold them against the chain and the marathon's own record.

use std::collections::{BTreeMap, HashMap, HashSet};

use store::{BidSource, Event, EventRecord, Timestamp, TweetKind};

use crate::crowd::{Intent, Member, Sent};

/// The rules one auction runs under (a copy, read from the campaign the marathon created).
#[derive(Clone, Debug)]
struct Rules {
    reserve: u128,
    min_raise: u128,
    raise_bps: u128,
    extension_secs: i64,
    rate_bids: u32,
    rate_window_secs: i64,
    min_age_days: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pending,
    Active,
    Paused,
    Closed,
    Settled,
    Cancelled,
}

#[derive(Clone, Debug)]
struct Ceiling {
    user: u64,
    max: u128,
    order: u64,
}

#[derive(Clone, Debug)]
struct Auction {
    day: u32,
    starts_at: Timestamp,
    ends_at: Timestamp,
    state: State,
    rules: Rules,
    leader: Option<u64>,
    price: u128,
    ceilings: Vec<Ceiling>,
    remaining: i64,
    accepted: u32,
}

impl Auction {
    fn minimum(&self) -> u128 {
        match self.leader {
            None => self.rules.reserve.max(1),
            Some(_) => self.raise_over(self.price),
        }
    }

    fn raise_over(&self, amount: u128) -> u128 {
        let pct = (amount * self.rules.raise_bps).div_ceil(10_000);
        amount.saturating_add(self.rules.min_raise.max(pct).max(1))
    }
}

/// What the oracle expects of one bid.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Accept { ends_at: Timestamp },
    Reject(&'static str),
}

/// One bid as the appliance recorded it.
#[derive(Clone, Debug)]
struct Recorded {
    user: u64,
    amount: u128,
    source: BidSource,
    rejection: Option<String>,
    ends_at: Option<Timestamp>,
}

/// One auction's result, both ways.
#[derive(Clone, Debug)]
pub struct DayResult {
    /// Campaign day.
    pub day: u32,
    /// Auction id.
    pub auction: u64,
    /// The oracle's winner (X id) and price, once settled.
    pub oracle: Option<(u64, u128)>,
    /// The appliance's.
    pub appliance: Option<(u64, u128)>,
    /// Whether the auction was settled in the log.
    pub settled: bool,
    /// Bids accepted (oracle).
    pub accepted: u32,
}

/// What the oracle found.
#[derive(Debug, Default)]
pub struct Judgement {
    /// Each auction's result.
    pub days: Vec<DayResult>,
    /// Crowd tweets judged.
    pub tweets_judged: u64,
    /// Bids (tweets and proxies) judged.
    pub bids_judged: u64,
    /// Disagreements with the appliance, in words.
    pub disagreements: Vec<String>,
    /// Rejections per day by reason (the oracle's verdicts; day 0: between auctions).
    pub rejections: BTreeMap<(u32, String), u64>,
    /// Accepted bids per day.
    pub accepted: BTreeMap<u32, u64>,
    /// Invalid tweets per day by reason, as the appliance recorded them.
    pub invalid: BTreeMap<(u32, String), u64>,
    /// Per crowd tweet: simulated time sent and time the appliance decided (microseconds).
    pub decision_lag_micros: Vec<(Timestamp, i64)>,
    /// Crowd tweets the appliance never recorded (id, intent); deleted ones are not missing.
    pub missing: Vec<(u64, String)>,
    /// Deleted crowd tweets: (read before the deletion and judged, never read).
    pub deleted: (u64, u64),
    /// Refunds the appliance granted, each the amount the oracle found free: (X id, wei).
    pub withdrawals: Vec<(u64, u128)>,
}

/// Replays the log against the crowd's record. `events` in log order.
pub fn judge(events: &[EventRecord], sent: &[Sent], members: &[Member]) -> Judgement {
    let mut o = Oracle {
        sent: sent.iter().map(|s| (s.id.to_string(), s.clone())).collect(),
        members: members.iter().map(|m| (m.id, m.clone())).collect(),
        ..Oracle::default()
    };
    for e in events {
        o.apply(e);
    }
    o.finish()
}

#[derive(Default)]
struct Oracle {
    sent: HashMap<String, Sent>,
    members: HashMap<u64, Member>,
    auctions: BTreeMap<u64, Auction>,
    linked: HashMap<u64, String>,
    deposits: HashMap<u64, (u128, Option<u64>)>,
    deposited: HashMap<u64, u128>,
    won: HashMap<u64, u128>,
    attempts: HashMap<u64, Vec<Timestamp>>,
    pending: Vec<Recorded>,
    withdrawn: Vec<u64>,
    refunded: HashMap<u64, u128>,
    refund: Option<(u64, u128)>,
    seen: HashSet<String>,
    j: Judgement,
}

impl Oracle {
    fn disagree(&mut self, what: String) {
        if self.j.disagreements.len() < 200 {
            self.j.disagreements.push(what);
        }
    }

    fn live(&self) -> Option<u64> {
        self.auctions
            .iter()
            .filter(|(_, a)| matches!(a.state, State::Active | State::Paused))
            .map(|(id, _)| *id)
            .next_back()
    }

    fn day_now(&self) -> u32 {
        self.live().map_or(0, |id| self.auctions[&id].day)
    }

    fn leading(&self, user: u64) -> u128 {
        self.auctions
            .values()
            .filter(|a| {
                a.leader == Some(user) && !matches!(a.state, State::Settled | State::Cancelled)
            })
            .map(|a| a.price)
            .sum()
    }

    fn available(&self, user: u64) -> u128 {
        self.deposited
            .get(&user)
            .copied()
            .unwrap_or(0)
            .saturating_sub(self.leading(user))
            .saturating_sub(self.won.get(&user).copied().unwrap_or(0))
            .saturating_sub(self.refunded.get(&user).copied().unwrap_or(0))
    }

    fn recent(&self, user: u64, now: Timestamp, window_secs: i64) -> u32 {
        let since = now.plus_secs(-window_secs);
        self.attempts
            .get(&user)
            .map_or(0, |v| v.iter().filter(|t| **t > since).count() as u32)
    }

    /// The published rules, in the order a bidder can act on them.
    fn evaluate(&self, id: u64, user: u64, amount: u128, recent: u32, now: Timestamp) -> Verdict {
        let a = &self.auctions[&id];
        if a.state == State::Paused {
            return Verdict::Reject("auction_paused");
        }
        if now >= a.ends_at {
            return Verdict::Reject("auction_closed");
        }
        if a.rules.rate_bids > 0 && recent >= a.rules.rate_bids {
            return Verdict::Reject("rate_limited");
        }
        let created = self
            .members
            .get(&user)
            .map_or(Timestamp(0), |m| m.account_created);
        if now.micros_since(created) < a.rules.min_age_days * 86_400_000_000 {
            return Verdict::Reject("account_too_new");
        }
        if !self.linked.contains_key(&user) {
            return Verdict::Reject("no_wallet");
        }
        if amount < a.minimum() {
            return Verdict::Reject(if a.leader.is_none() {
                "below_reserve"
            } else {
                "below_min_increment"
            });
        }
        let own = if a.leader == Some(user) { a.price } else { 0 };
        if amount.saturating_sub(own) > self.available(user) {
            return Verdict::Reject("insufficient_escrow");
        }
        let window = a.rules.extension_secs * 1_000_000;
        if a.ends_at.micros_since(now) < window {
            Verdict::Accept {
                ends_at: now.plus_micros(window),
            }
        } else {
            Verdict::Accept { ends_at: a.ends_at }
        }
    }

    fn take_lead(&mut self, id: u64, user: u64, amount: u128, ends_at: Timestamp) {
        let a = self.auctions.get_mut(&id).expect("a known auction");
        a.leader = Some(user);
        a.price = amount;
        a.ends_at = ends_at;
        a.accepted += 1;
        *self.j.accepted.entry(a.day).or_default() += 1;
    }

    fn apply(&mut self, e: &EventRecord) {
        match &e.event {
            Event::CampaignCreated { auctions, .. } | Event::CampaignEdited { auctions, .. } => {
                for a in auctions {
                    let r = &a.rules;
                    self.auctions.entry(a.id.0).or_insert(Auction {
                        day: a.day,
                        starts_at: a.starts_at,
                        ends_at: a.ends_at,
                        state: State::Pending,
                        rules: Rules {
                            reserve: r.reserve.0,
                            min_raise: r.min_increment.0,
                            raise_bps: u128::from(r.min_increment_bps),
                            extension_secs: i64::from(r.extension_secs),
                            rate_bids: r.rate_limit_bids,
                            rate_window_secs: i64::from(r.rate_limit_window_secs),
                            min_age_days: i64::from(r.min_account_age_days),
                        },
                        leader: None,
                        price: 0,
                        ceilings: Vec::new(),
                        remaining: 0,
                        accepted: 0,
                    });
                }
            }
            Event::UserSeen { user } => {
                if let Some(m) = self.members.get(&user.id.0)
                    && m.account_created.secs() != user.account_created.secs()
                {
                    let what = format!(
                        "@{}'s account was made {}, recorded as {}",
                        m.handle, m.account_created, user.account_created
                    );
                    self.disagree(what);
                }
            }
            Event::WalletLinked { link } => {
                let user = link.user.0;
                let address = link.address.to_string();
                match self.members.get(&user) {
                    Some(m) if m.address == address && link.verified => {
                        self.linked.insert(user, address);
                    }
                    Some(m) => {
                        let what = format!(
                            "@{} was linked to {address} (verified: {}), not its wallet {}",
                            m.handle, link.verified, m.address
                        );
                        self.disagree(what);
                    }
                    None => {
                        self.disagree(format!("user {user}, not of the crowd, linked {address}"))
                    }
                }
            }
            Event::DepositRecorded { deposit } => {
                let user = deposit.user.map(|u| u.0);
                self.deposits.insert(deposit.id.0, (deposit.amount.0, user));
                // From a wallet already linked: credited as it is recorded.
                if let Some(user) = user {
                    *self.deposited.entry(user).or_default() += deposit.amount.0;
                }
            }
            Event::DepositCredited { deposit, user } => {
                let amount = self.deposits.get(&deposit.0).map_or(0, |d| d.0);
                if let Some(d) = self.deposits.get_mut(&deposit.0) {
                    d.1 = Some(user.0);
                }
                *self.deposited.entry(user.0).or_default() += amount;
            }
            Event::DepositReverted { deposit, .. } => {
                if let Some((amount, Some(user))) = self.deposits.get(&deposit.0).copied() {
                    let d = self.deposited.entry(user).or_default();
                    *d = d.saturating_sub(amount);
                }
            }
            Event::AuctionStarted { auction, at } => {
                let mut early = None;
                if let Some(a) = self.auctions.get_mut(&auction.0) {
                    if *at < a.starts_at {
                        early = Some(format!(
                            "day {} opened at {at}, before its start {}",
                            a.day, a.starts_at
                        ));
                    }
                    a.state = State::Active;
                }
                if let Some(what) = early {
                    self.disagree(what);
                }
            }
            Event::AuctionPaused {
                auction,
                remaining_micros,
                ..
            } => {
                if let Some(a) = self.auctions.get_mut(&auction.0) {
                    a.remaining = a.ends_at.micros_since(e.at).max(0);
                    a.state = State::Paused;
                    if a.remaining != *remaining_micros {
                        let what = format!(
                            "day {} paused with {} µs left; the oracle counts {}",
                            a.day, remaining_micros, a.remaining
                        );
                        a.remaining = *remaining_micros;
                        self.disagree(what);
                    }
                }
            }
            Event::AuctionResumed {
                auction, ends_at, ..
            } => {
                if let Some(a) = self.auctions.get_mut(&auction.0) {
                    let expected = e.at.plus_micros(a.remaining);
                    a.state = State::Active;
                    a.ends_at = *ends_at;
                    if expected != *ends_at {
                        let what = format!(
                            "day {} resumed to end {ends_at}; the oracle: {expected}",
                            a.day
                        );
                        self.disagree(what);
                    }
                }
            }
            Event::AuctionExtended {
                auction, ends_at, ..
            } => {
                if let Some(a) = self.auctions.get_mut(&auction.0) {
                    a.ends_at = *ends_at;
                }
            }
            Event::AuctionOverridden {
                auction,
                ends_at,
                reserve,
                reopened,
                ..
            } => {
                if let Some(a) = self.auctions.get_mut(&auction.0) {
                    if let Some(t) = ends_at {
                        a.ends_at = *t;
                    }
                    if let Some(r) = reserve {
                        a.rules.reserve = r.0;
                    }
                    if *reopened {
                        a.state = State::Active;
                    }
                }
            }
            Event::AuctionClosed { auction, at, .. } => {
                if let Some(a) = self.auctions.get_mut(&auction.0) {
                    a.state = State::Closed;
                    if *at < a.ends_at {
                        let what =
                            format!("day {} closed at {at}, before its end {}", a.day, a.ends_at);
                        self.disagree(what);
                    }
                }
            }
            Event::AuctionSettled { auction, .. } => {
                if let Some(a) = self.auctions.get_mut(&auction.0) {
                    a.state = State::Settled;
                    if let Some(l) = a.leader {
                        *self.won.entry(l).or_default() += a.price;
                    }
                }
            }
            Event::AuctionCancelled { auction, .. } => {
                if let Some(a) = self.auctions.get_mut(&auction.0) {
                    a.state = State::Cancelled;
                }
            }
            Event::BidAccepted { bid, ends_at, .. } => self.pending.push(Recorded {
                user: bid.bidder.0,
                amount: bid.amount.0,
                source: bid.source.clone(),
                rejection: None,
                ends_at: Some(*ends_at),
            }),
            Event::BidRejected { bid } => self.pending.push(Recorded {
                user: bid.bidder.0,
                amount: bid.amount.0,
                source: bid.source.clone(),
                rejection: bid.rejection.as_ref().map(|r| r.code.clone()),
                ends_at: None,
            }),
            Event::CeilingSet { ceiling, .. } if ceiling.max.0 == 0 => {
                self.withdrawn.push(ceiling.user.0);
            }
            Event::WithdrawalRequested { withdrawal } => {
                let (user, amount) = (withdrawal.user.0, withdrawal.amount.0);
                match self.refund {
                    None => self.refund = Some((user, amount)),
                    Some(_) => self.disagree(format!("two refunds for one request ({user})")),
                }
            }
            Event::TweetReceived { tweet } => self.tweet(tweet),
            _ => {}
        }
    }

    fn tweet(&mut self, t: &store::TweetRecord) {
        let pending = std::mem::take(&mut self.pending);
        let withdrawn = std::mem::take(&mut self.withdrawn);
        let refund = self.refund.take();
        let Some(s) = self.sent.get(&t.id).cloned() else {
            if !pending.is_empty() || refund.is_some() {
                self.disagree(format!(
                    "tweet {} (not the crowd's) came with bids or a refund",
                    t.id
                ));
            }
            return;
        };
        let free = self.judge_refund(&s, refund);
        if !self.seen.insert(t.id.clone()) {
            self.disagree(format!("tweet {} was recorded twice", t.id));
            return;
        }
        self.j.tweets_judged += 1;
        self.j
            .decision_lag_micros
            .push((s.at, t.received_at.micros_since(s.at)));
        if t.text != s.text {
            self.disagree(format!(
                "tweet {} recorded as {:?}, sent as {:?}",
                t.id, t.text, s.text
            ));
        }
        let day = self.day_now();
        if t.kind == TweetKind::Invalid && !matches!(s.intent, Intent::Ceiling(_)) {
            *self
                .j
                .invalid
                .entry((day, t.reason.clone().unwrap_or_default()))
                .or_default() += 1;
        }
        let expect_kind = |k: TweetKind| k;
        let expected = match &s.intent {
            Intent::Link => Some(expect_kind(TweetKind::Link)),
            Intent::Bid(_) => Some(TweetKind::Bid),
            Intent::Ceiling(_) => Some(TweetKind::Ceiling),
            Intent::Malformed | Intent::Edit => Some(TweetKind::Invalid),
            Intent::MyBids => Some(TweetKind::MyBids),
            Intent::Balance => Some(TweetKind::Balance),
            // With nothing free the request is refused (`nothing_to_withdraw`).
            Intent::Withdraw if free == Some(0) => Some(TweetKind::Invalid),
            Intent::Withdraw => Some(TweetKind::Withdraw),
            Intent::Question | Intent::Injection => None,
        };
        // A refused ceiling is recorded as invalid, with the refusal's reason.
        let refused_ceiling =
            matches!(s.intent, Intent::Ceiling(_)) && t.kind == TweetKind::Invalid;
        match expected {
            Some(k) if k != t.kind && !refused_ceiling => {
                self.disagree(format!(
                    "tweet {} ({:?}) recorded as {:?} ({:?})",
                    t.id, s.text, t.kind, t.reason
                ));
            }
            None if matches!(t.kind, TweetKind::Bid | TweetKind::Ceiling) => {
                self.disagree(format!("a question was taken as a bid: {:?}", s.text));
            }
            _ => {}
        }
        if s.intent == Intent::Edit && t.reason.as_deref() != Some("edited") {
            self.disagree(format!(
                "the edit {} was not refused as edited ({:?})",
                t.id, t.reason
            ));
        }
        let now = t.received_at;
        match (&s.intent, t.kind) {
            (Intent::Bid(amount), TweetKind::Bid) => {
                self.bid(&t.id, s.author, *amount, now, &pending, &withdrawn)
            }
            (Intent::Ceiling(max), TweetKind::Ceiling | TweetKind::Invalid) => {
                self.ceiling(t, s.author, *max, now, &pending, &withdrawn)
            }
            _ => {
                if !pending.is_empty() {
                    self.disagree(format!("tweet {} ({:?}) made bids", t.id, s.text));
                }
            }
        }
    }

    fn reject(&mut self, code: &str) {
        let day = self.day_now();
        *self
            .j
            .rejections
            .entry((day, code.to_string()))
            .or_default() += 1;
    }

    fn bid(
        &mut self,
        tweet: &str,
        user: u64,
        amount: u128,
        now: Timestamp,
        pending: &[Recorded],
        withdrawn: &[u64],
    ) {
        self.j.bids_judged += 1;
        let own: Vec<&Recorded> = pending
            .iter()
            .filter(|p| p.source == BidSource::Tweet(tweet.to_string()))
            .collect();
        let [recorded] = own[..] else {
            self.disagree(format!("bid tweet {tweet} has {} bid records", own.len()));
            return;
        };
        if recorded.amount != amount || recorded.user != user {
            self.disagree(format!(
                "bid tweet {tweet} recorded as {} by {}",
                recorded.amount, recorded.user
            ));
        }
        let Some(id) = self.live() else {
            self.attempts.entry(user).or_default().push(now);
            self.reject("no_auction");
            if recorded.rejection.as_deref() != Some("no_auction") {
                self.disagree(format!(
                    "bid tweet {tweet} with no auction open was {:?}",
                    recorded.rejection
                ));
                self.adopt(pending);
            }
            return;
        };
        let window = self.auctions[&id].rules.rate_window_secs;
        let recent = self.recent(user, now, window);
        let verdict = self.evaluate(id, user, amount, recent, now);
        self.attempts.entry(user).or_default().push(now);
        let agrees = match (&verdict, &recorded.rejection) {
            (Verdict::Accept { ends_at }, None) => recorded.ends_at == Some(*ends_at),
            (Verdict::Reject(code), Some(r)) => code == r,
            _ => false,
        };
        if !agrees {
            let day = self.auctions[&id].day;
            self.disagree(format!(
                "day {day}: bid tweet {tweet} ({amount} wei at {now}): oracle {verdict:?}, appliance {:?} (ends {:?})",
                recorded.rejection, recorded.ends_at
            ));
            self.adopt(pending);
            return;
        }
        match verdict {
            Verdict::Accept { ends_at } => {
                self.take_lead(id, user, amount, ends_at);
                let made = self.resolve(id, now);
                self.compare_proxies(id, tweet, &made, pending, withdrawn);
            }
            Verdict::Reject(code) => self.reject(code),
        }
    }

    /// After a disagreement: takes the appliance's outcome so one difference does not cascade.
    fn adopt(&mut self, pending: &[Recorded]) {
        let Some(id) = self.live() else {
            return;
        };
        for p in pending {
            if p.rejection.is_none()
                && let Some(ends_at) = p.ends_at
            {
                let a = self.auctions.get_mut(&id).expect("a known auction");
                a.leader = Some(p.user);
                a.price = p.amount;
                a.ends_at = ends_at;
            }
        }
    }

    /// A `withdraw` refunds exactly what is free (deposits less what leads, was won or was
    /// refunded before); nothing when nothing is. Returns what was free, for a `withdraw`.
    fn judge_refund(&mut self, s: &Sent, refund: Option<(u64, u128)>) -> Option<u128> {
        if s.intent != Intent::Withdraw {
            if let Some((user, amount)) = refund {
                self.disagree(format!(
                    "tweet {} ({:?}) refunded {amount} wei to {user}",
                    s.id, s.text
                ));
            }
            return None;
        }
        let free = self.available(s.author);
        match refund {
            Some((user, amount)) if user == s.author && amount == free => {
                *self.refunded.entry(user).or_default() += amount;
                self.j.withdrawals.push((user, amount));
            }
            None if free == 0 => {}
            other => self.disagree(format!(
                "withdraw {} by {}: the appliance refunded {other:?}, the oracle finds {free} wei free",
                s.id, s.author
            )),
        }
        Some(free)
    }

    fn finish(mut self) -> Judgement {
        let recorded: HashSet<&String> = self.seen.iter().collect();
        let deleted: Vec<&Sent> = self.sent.values().filter(|s| s.deleted).collect();
        let read = deleted
            .iter()
            .filter(|s| recorded.contains(&s.id.to_string()))
            .count() as u64;
        self.j.deleted = (read, deleted.len() as u64 - read);
        // A tweet deleted before the appliance read it was never there to read.
        let mut missing: Vec<(u64, String)> = self
            .sent
            .values()
            .filter(|s| !recorded.contains(&s.id.to_string()) && !s.deleted)
            .map(|s| (s.id, format!("{:?}", s.intent)))
            .collect();
        missing.sort();
        self.j.missing = missing;
        self.j.days = self
            .auctions
            .iter()
            .map(|(id, a)| DayResult {
                day: a.day,
                auction: *id,
                oracle: (a.state == State::Settled)
                    .then_some(a.leader.map(|l| (l, a.price)))
                    .flatten(),
                appliance: None,
                settled: a.state == State::Settled,
                accepted: a.accepted,
            })
            .collect();
        self.j
    }
}

mod proxies;

#[cfg(test)]
mod tests;
