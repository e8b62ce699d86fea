//! Proxy ceilings as eBay runs them: each ceiling bids for its owner, the least it takes to
//! lead, until none can; compared raise by raise with what the appliance made.

use super::*;

impl Oracle {
    /// eBay's proxy rule: the next raise a ceiling makes, if any.
    pub(super) fn next_raise(&self, id: u64) -> Option<(u64, u128)> {
        let a = &self.auctions[&id];
        let min_next = a.minimum();
        let beats =
            |x: &Ceiling, y: &Ceiling| x.max > y.max || (x.max == y.max && x.order < y.order);
        let mut challenger: Option<&Ceiling> = None;
        for c in a
            .ceilings
            .iter()
            .filter(|c| Some(c.user) != a.leader && c.max >= min_next)
        {
            if challenger.is_none_or(|best| beats(c, best)) {
                challenger = Some(c);
            }
        }
        let challenger = challenger?;
        let own = a
            .leader
            .and_then(|l| a.ceilings.iter().find(|c| c.user == l));
        match own {
            Some(own) if beats(own, challenger) => {
                let target = if own.max == challenger.max {
                    own.max
                } else {
                    own.max.min(a.raise_over(challenger.max))
                };
                (target > a.price).then_some((own.user, target))
            }
            _ => {
                let floor = own.map_or(min_next, |o| a.raise_over(o.max).max(min_next));
                Some((challenger.user, challenger.max.min(floor)))
            }
        }
    }

    /// Lets the ceilings bid until none can; returns the raises and withdrawals made.
    pub(super) fn resolve(&mut self, id: u64, now: Timestamp) -> Vec<(u64, u128)> {
        let mut made = Vec::new();
        for _ in 0..1000 {
            if self.auctions[&id].state != State::Active {
                break;
            }
            let Some((user, amount)) = self.next_raise(id) else {
                break;
            };
            match self.evaluate(id, user, amount, 0, now) {
                Verdict::Accept { ends_at } => {
                    self.take_lead(id, user, amount, ends_at);
                    made.push((user, amount));
                }
                Verdict::Reject(_) => {
                    let a = self.auctions.get_mut(&id).expect("a known auction");
                    a.ceilings.retain(|c| c.user != user);
                    made.push((user, 0));
                }
            }
        }
        made
    }

    pub(super) fn ceiling(
        &mut self,
        t: &store::TweetRecord,
        user: u64,
        max: u128,
        now: Timestamp,
        pending: &[Recorded],
        withdrawn: &[u64],
    ) {
        self.j.bids_judged += 1;
        let Some(id) = self.live() else {
            self.reject("no_auction");
            if t.reason.as_deref() != Some("no_auction") {
                self.disagree(format!(
                    "ceiling {} with no auction open: {:?}",
                    t.id, t.reason
                ));
            }
            return;
        };
        let window = self.auctions[&id].rules.rate_window_secs;
        let recent = self.recent(user, now, window);
        self.attempts.entry(user).or_default().push(now);
        let verdict = self.evaluate(id, user, max, recent, now);
        match (&verdict, t.reason.as_deref()) {
            (Verdict::Accept { .. }, None) => {
                let a = self.auctions.get_mut(&id).expect("a known auction");
                let order = a.ceilings.iter().map(|c| c.order).max().unwrap_or(0) + 1;
                a.ceilings.retain(|c| c.user != user);
                a.ceilings.push(Ceiling { user, max, order });
                let made = self.resolve(id, now);
                self.compare_proxies(id, &t.id, &made, pending, withdrawn);
            }
            (Verdict::Reject(code), Some(r)) if *code == r => self.reject(code),
            _ => {
                let day = self.auctions[&id].day;
                self.disagree(format!(
                    "day {day}: ceiling {} ({max} wei): oracle {verdict:?}, appliance {:?}",
                    t.id, t.reason
                ));
                self.adopt(pending);
            }
        }
    }

    /// Compares the raises the ceilings made with the appliance's.
    pub(super) fn compare_proxies(
        &mut self,
        id: u64,
        tweet: &str,
        made: &[(u64, u128)],
        pending: &[Recorded],
        withdrawn: &[u64],
    ) {
        self.j.bids_judged += made.len() as u64;
        let mut theirs: Vec<(u64, u128)> = pending
            .iter()
            .filter(|p| matches!(p.source, BidSource::Proxy(_)) && p.rejection.is_none())
            .map(|p| (p.user, p.amount))
            .collect();
        theirs.extend(withdrawn.iter().map(|u| (*u, 0)));
        let mut ours = made.to_vec();
        ours.sort_unstable();
        theirs.sort_unstable();
        if ours != theirs {
            let day = self.auctions[&id].day;
            self.disagree(format!(
                "day {day}: after tweet {tweet} the ceilings raised {ours:?} (oracle), {theirs:?} (appliance)"
            ));
            self.adopt(pending);
        }
    }
}
