//! The auction rules, as pure functions of the records involved: no storage, no clock.

use std::collections::{HashMap, VecDeque};

use store::{
    Auction, AuctionRules, AuctionState, Balance, Ceiling, Rejection, Timestamp, User, UserId,
    WalletLink, Wei,
};

use super::command::rejection;

/// Everything a bid is judged on.
#[derive(Clone, Copy, Debug)]
pub struct BidContext<'a> {
    /// The auction bid on.
    pub auction: &'a Auction,
    /// The bidder.
    pub bidder: UserId,
    /// The bidder's record, if known.
    pub user: Option<&'a User>,
    /// The bidder's wallet, if linked.
    pub wallet: Option<&'a WalletLink>,
    /// The bidder's escrow.
    pub balance: &'a Balance,
    /// Bids by this bidder within the rate-limit window, before this one.
    pub recent_bids: u32,
    /// When the bid is taken.
    pub now: Timestamp,
    /// The amount offered.
    pub amount: Wei,
}

/// An accepted bid's effect on the auction's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The auction's end after the bid.
    pub ends_at: Timestamp,
    /// Whether the bid moved it (anti-sniping).
    pub extended: bool,
}

/// The lowest amount the next bid may offer.
pub fn minimum_bid(auction: &Auction) -> Wei {
    if auction.leading_bid.is_none() {
        return auction.rules.reserve.max(Wei(1));
    }
    raise_over(&auction.rules, auction.price)
}

/// The least that beats `amount`: it plus the minimum raise at that price.
pub fn raise_over(rules: &AuctionRules, amount: Wei) -> Wei {
    let step = rules
        .min_increment
        .max(amount.bps_ceil(rules.min_increment_bps))
        .max(Wei(1));
    amount.checked_add(step).unwrap_or(Wei(u128::MAX))
}

/// Whether ceiling `a` beats ceiling `b`: higher, or as high and set earlier.
fn stronger(a: &Ceiling, b: &Ceiling) -> bool {
    a.max > b.max || (a.max == b.max && a.order < b.order)
}

/// Proxy bidding, as eBay's: the next bid the engine makes for a ceiling, if any, as
/// `(bidder, amount)`. The strongest ceiling other than the leader's that could still bid takes
/// the lead with the least that beats the leader's ceiling (or the price), up to its own; if the
/// leader's own ceiling is stronger, it answers with the least that beats the challenger's.
/// Applied until it returns `None`, the strongest ceiling leads at the second-strongest plus the
/// minimum raise, never above its own.
pub fn next_raise(auction: &Auction, ceilings: &[Ceiling]) -> Option<(UserId, Wei)> {
    let min_next = minimum_bid(auction);
    let challenger = ceilings
        .iter()
        .filter(|c| Some(c.user) != auction.leader && c.max >= min_next)
        .reduce(|best, c| if stronger(c, best) { c } else { best })?;
    let own = auction
        .leader
        .and_then(|l| ceilings.iter().find(|c| c.user == l));
    match own {
        Some(own) if stronger(own, challenger) => {
            let target = if own.max == challenger.max {
                own.max
            } else {
                own.max.min(raise_over(&auction.rules, challenger.max))
            };
            (target > auction.price).then_some((own.user, target))
        }
        _ => {
            let floor = own.map_or(min_next, |o| {
                raise_over(&auction.rules, o.max).max(min_next)
            });
            Some((challenger.user, challenger.max.min(floor)))
        }
    }
}

fn describe_wait(now: Timestamp, at: Timestamp) -> String {
    let secs = at.micros_since(now).max(0) / 1_000_000;
    match secs {
        s if s < 120 => format!("in {s} s"),
        s if s < 2 * 3600 => format!("in {} min", s / 60),
        s => format!("in {} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Judges a bid: where it leaves the auction's end if it leads, or why it is refused.
///
/// The checks run in the order a bidder can act on them: can this auction take bids at all, is
/// this bidder allowed to bid, is the amount enough, is it covered by escrow.
pub fn evaluate(ctx: &BidContext<'_>) -> Result<Acceptance, Rejection> {
    let a = ctx.auction;
    match a.state {
        AuctionState::Active => {}
        AuctionState::Pending => {
            return Err(rejection(
                "auction_not_started",
                format!(
                    "Bidding has not opened yet; it opens {}.",
                    describe_wait(ctx.now, a.starts_at)
                ),
            ));
        }
        AuctionState::Paused => {
            return Err(rejection(
                "auction_paused",
                "Bidding is paused for a moment; please bid again when it resumes.",
            ));
        }
        AuctionState::Processing | AuctionState::Completed => {
            return Err(rejection(
                "auction_closed",
                "Bidding on this item has closed.",
            ));
        }
        AuctionState::Cancelled => {
            return Err(rejection(
                "auction_cancelled",
                "This auction was cancelled.",
            ));
        }
    }
    if ctx.now >= a.ends_at {
        return Err(rejection(
            "auction_closed",
            "Bidding on this item has closed.",
        ));
    }
    let Some(user) = ctx.user else {
        return Err(rejection(
            "unknown_bidder",
            "We have not seen this account yet; mention the host to register.",
        ));
    };
    let rules = &a.rules;
    if rules.rate_limit_bids > 0 && ctx.recent_bids >= rules.rate_limit_bids {
        return Err(rejection(
            "rate_limited",
            format!(
                "Too many bids: at most {} every {} s. Please wait a moment.",
                rules.rate_limit_bids, rules.rate_limit_window_secs
            ),
        ));
    }
    let min_age_micros = i64::from(rules.min_account_age_days) * 86_400 * 1_000_000;
    if ctx.now.micros_since(user.account_created) < min_age_micros {
        return Err(rejection(
            "account_too_new",
            format!(
                "Accounts must be at least {} days old to bid.",
                rules.min_account_age_days
            ),
        ));
    }
    match ctx.wallet {
        Some(w) if w.verified => {}
        Some(_) => {
            return Err(rejection(
                "wallet_unverified",
                "Your wallet link is not verified yet; send the signed link tweet.",
            ));
        }
        None => {
            return Err(rejection(
                "no_wallet",
                "Link a wallet first: tweet `link <address> <signature>` to the host.",
            ));
        }
    }
    let minimum = minimum_bid(a);
    if ctx.amount < minimum {
        let (code, what) = if a.leading_bid.is_none() {
            ("below_reserve", "the reserve")
        } else {
            (
                "below_min_increment",
                "the current price plus the minimum raise",
            )
        };
        return Err(rejection(
            code,
            format!(
                "{} is below {what}; the lowest acceptable bid is {minimum}.",
                ctx.amount
            ),
        ));
    }
    // A leader raising their own bid only needs to cover the difference.
    let already_committed = if a.leader == Some(ctx.bidder) {
        a.price
    } else {
        Wei::ZERO
    };
    let needed = ctx.amount.saturating_sub(already_committed);
    let available = ctx.balance.available();
    if needed > available {
        return Err(rejection(
            "insufficient_escrow",
            format!(
                "Your escrow has {available} free, and this bid needs {needed}. Deposit more to bid higher."
            ),
        ));
    }
    let window = i64::from(rules.extension_secs) * 1_000_000;
    let extended = a.ends_at.micros_since(ctx.now) < window;
    Ok(Acceptance {
        ends_at: if extended {
            ctx.now.plus_micros(window)
        } else {
            a.ends_at
        },
        extended,
    })
}

/// Per-bidder rate limiting over a sliding window, with changes staged until the transaction
/// that caused them commits.
#[derive(Debug, Default)]
pub struct RateLimiter {
    committed: HashMap<UserId, VecDeque<Timestamp>>,
    staged: HashMap<UserId, Vec<Timestamp>>,
}

impl RateLimiter {
    /// Bids by `user` in the `window_secs` before `now`, committed and staged.
    pub fn count(&self, user: UserId, now: Timestamp, window_secs: u32) -> u32 {
        let since = now.plus_secs(-i64::from(window_secs));
        let committed = self
            .committed
            .get(&user)
            .map_or(0, |q| q.iter().filter(|t| **t > since).count());
        let staged = self
            .staged
            .get(&user)
            .map_or(0, |v| v.iter().filter(|t| **t > since).count());
        (committed + staged) as u32
    }

    /// Stages a bid by `user` at `at`.
    pub fn stage(&mut self, user: UserId, at: Timestamp) {
        self.staged.entry(user).or_default().push(at);
    }

    /// Keeps the staged bids; forgets any older than `keep_secs`.
    pub fn commit(&mut self, now: Timestamp, keep_secs: u32) {
        for (user, times) in self.staged.drain() {
            self.committed.entry(user).or_default().extend(times);
        }
        let since = now.plus_secs(-i64::from(keep_secs));
        self.committed.retain(|_, q| {
            while q.front().is_some_and(|t| *t <= since) {
                q.pop_front();
            }
            !q.is_empty()
        });
    }

    /// Drops the staged bids (their transaction failed).
    pub fn rollback(&mut self) {
        self.staged.clear();
    }
}
