//! Which open tweets go out first, and which no longer need to: the order of the X outbox under
//! a posting limit.
//!
//! Rows go by priority (results and announcements, then outbid notices, refusals, acceptances,
//! reminders and answers), oldest first within a class. A bidder with several pending notices
//! about their bids hears only about where they stand now (an acceptance followed by an outbid
//! becomes the outbid alone; a refusal is dropped once a later bid of theirs counts or fails);
//! the others are dropped with the reason. When the monthly X budget is spent,
//! optional rows (acceptances, answers, reminders) are dropped too, while outbid notices,
//! announcements and results still go.

use std::collections::HashMap;

use store::{BidId, Notice, OutboxEntry, OutboxId, UserId, View};

/// How urgent a row is: lower goes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Results and winners, bidding open, the last minutes: everyone's news.
    Announcement,
    /// Someone lost the lead and can act on it.
    Outbid,
    /// A bid did not count, and why.
    Refusal,
    /// A bid counted.
    Acceptance,
    /// Reminders and answers to commands (links, withdrawals, questions).
    Answer,
}

impl Priority {
    /// A row's priority.
    pub fn of(notice: &Notice) -> Priority {
        match notice {
            Notice::AuctionResult { .. }
            | Notice::AuctionOpened { .. }
            | Notice::FinalMinutes { .. }
            | Notice::TokenDelivered { .. }
            | Notice::RunnerUp { .. } => Priority::Announcement,
            Notice::Outbid { .. } => Priority::Outbid,
            Notice::BidRejected { .. } => Priority::Refusal,
            Notice::BidAccepted { .. } => Priority::Acceptance,
            _ => Priority::Answer,
        }
    }

    /// Whether it may be dropped to save money once the monthly budget is spent.
    pub fn optional(self) -> bool {
        matches!(self, Priority::Acceptance | Priority::Answer)
    }

    /// Stable name, for logs and the Outbox page.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Announcement => "announcement",
            Priority::Outbid => "outbid",
            Priority::Refusal => "refusal",
            Priority::Acceptance => "acceptance",
            Priority::Answer => "answer",
        }
    }
}

/// What to do with the open rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Rows to post, in this order.
    pub send: Vec<OutboxId>,
    /// Rows that no longer need posting, with why.
    pub drop: Vec<(OutboxId, String)>,
}

/// The bid a notice tells its bidder about.
fn bid_of(notice: &Notice) -> Option<BidId> {
    match notice {
        Notice::BidAccepted { bid } | Notice::BidRejected { bid } | Notice::Outbid { bid, .. } => {
            Some(*bid)
        }
        _ => None,
    }
}

/// Whom a notice is for, from the store: the bidder of a bid notice, the depositor, the
/// runner-up, who asked for a reminder.
pub fn subjects(view: &impl View) -> impl Fn(&Notice) -> Option<UserId> + '_ {
    move |notice| match notice {
        Notice::RunnerUp { user, .. } | Notice::Reminder { user, .. } => Some(*user),
        Notice::DepositCredited { deposit } => view.deposit(*deposit).ok().flatten()?.user,
        other => {
            let bid = bid_of(other)?;
            view.bid(bid).ok().flatten().map(|b| b.bidder)
        }
    }
}

/// Notices a bidder who said `stop` does not get.
fn unasked(notice: &Notice) -> bool {
    matches!(
        notice,
        Notice::BidAccepted { .. }
            | Notice::Outbid { .. }
            | Notice::RunnerUp { .. }
            | Notice::DepositCredited { .. }
    )
}

/// Orders the pending X rows `rows` (any order) and drops those made obsolete; with
/// `budget_spent`, drops the optional ones too. `subject` names whom a notice is for; `quiet`
/// says whether a user turned their notices off (`stop`): they get no acceptance, outbid,
/// runner-up or deposit notice (refusals and answers are what they asked for; the winner still
/// hears that the token arrived).
pub fn plan(
    rows: &[OutboxEntry],
    subject: impl Fn(&Notice) -> Option<UserId>,
    quiet: impl Fn(UserId) -> bool,
    budget_spent: bool,
) -> Plan {
    let mut out = Plan::default();
    // Each bidder's latest bid notice, and latest that is not a refusal.
    let mut latest: HashMap<UserId, (&OutboxEntry, Option<&OutboxEntry>)> = HashMap::new();
    let mut about: Vec<(&OutboxEntry, Option<UserId>)> = Vec::with_capacity(rows.len());
    let unwanted =
        |row: &OutboxEntry, who: Option<UserId>| who.is_some_and(&quiet) && unasked(&row.notice);
    for row in rows {
        let who = subject(&row.notice);
        // Only bid notices make each other obsolete; one that will not go cannot.
        if let Some(w) = who.filter(|_| bid_of(&row.notice).is_some() && !unwanted(row, who)) {
            let refusal = matches!(row.notice, Notice::BidRejected { .. });
            let (any, standing) = latest.entry(w).or_insert((row, None));
            if row.id > any.id {
                *any = row;
            }
            if !refusal && standing.is_none_or(|s| row.id > s.id) {
                *standing = Some(row);
            }
        }
        about.push((row, who));
    }
    let mut keep: Vec<(Priority, OutboxId)> = Vec::with_capacity(rows.len());
    for (row, who) in about {
        let priority = Priority::of(&row.notice);
        // A later acceptance or outbid says where the bidder stands now, so it supersedes
        // everything before it; a later refusal supersedes only earlier refusals (being outbid
        // matters more than a failed attempt).
        let refusal = matches!(row.notice, Notice::BidRejected { .. });
        let newer = who
            .and_then(|w| latest.get(&w))
            .and_then(|(any, standing)| {
                if refusal { Some(*any) } else { *standing }.filter(|n| n.id > row.id)
            });
        if unwanted(row, who) {
            out.drop
                .push((row.id, "the bidder turned notices off (stop)".to_string()));
        } else if let Some(newer) = newer {
            out.drop.push((
                row.id,
                format!(
                    "superseded by row {} ({}): the bidder hears only their latest news",
                    newer.id,
                    newer.notice.kind()
                ),
            ));
        } else if budget_spent && priority.optional() {
            out.drop.push((
                row.id,
                format!(
                    "the monthly X budget is spent: {}s are not posted",
                    priority.name()
                ),
            ));
        } else {
            keep.push((priority, row.id));
        }
    }
    keep.sort();
    out.send = keep.into_iter().map(|(_, id)| id).collect();
    out.drop.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{AuctionId, OutboxStatus, Timestamp};

    fn row(id: u64, notice: Notice) -> OutboxEntry {
        OutboxEntry {
            id: OutboxId(id),
            event_seq: id,
            created_at: Timestamp(0),
            notice,
            status: OutboxStatus::Pending,
            attempts: 0,
        }
    }

    /// Bids `1..` made by these bidders, in order.
    fn by(bidders: &[u64]) -> impl Fn(&Notice) -> Option<UserId> + '_ {
        move |n| {
            let b = bid_of(n)?;
            let i = usize::try_from(b.0).ok()?.checked_sub(1)?;
            bidders.get(i).map(|u| UserId(*u))
        }
    }

    #[test]
    fn results_then_outbids_refusals_acceptances_answers_oldest_first() {
        let bidders = by(&[10, 11, 12, 13]);
        let rows = [
            row(1, Notice::BidAccepted { bid: BidId(1) }),
            row(2, Notice::TweetReply { tweet: "9".into() }),
            row(3, Notice::BidRejected { bid: BidId(2) }),
            row(
                4,
                Notice::Outbid {
                    bid: BidId(3),
                    by: BidId(4),
                },
            ),
            row(
                5,
                Notice::AuctionResult {
                    auction: AuctionId(1),
                },
            ),
            row(6, Notice::BidAccepted { bid: BidId(4) }),
        ];
        let p = plan(&rows, &bidders, |_| false, false);
        let ids: Vec<u64> = p.send.iter().map(|i| i.0).collect();
        assert_eq!(ids, [5, 4, 3, 1, 6, 2]);
        assert!(p.drop.is_empty());
        // The budget spent: acceptances and answers go unposted, with the reason.
        let p = plan(&rows, &bidders, |_| false, true);
        let ids: Vec<u64> = p.send.iter().map(|i| i.0).collect();
        assert_eq!(ids, [5, 4, 3]);
        let dropped: Vec<u64> = p.drop.iter().map(|(i, _)| i.0).collect();
        assert_eq!(dropped, [1, 2, 6]);
        assert!(p.drop[0].1.contains("budget"), "{:?}", p.drop);
    }

    #[test]
    fn a_bidder_who_said_stop_gets_only_what_they_asked_for() {
        let bidders = by(&[10, 10, 11]);
        let rows = [
            row(1, Notice::BidRejected { bid: BidId(1) }),
            row(2, Notice::TweetReply { tweet: "5".into() }),
            row(
                3,
                Notice::Outbid {
                    bid: BidId(2),
                    by: BidId(3),
                },
            ),
            row(4, Notice::BidAccepted { bid: BidId(3) }),
        ];
        let p = plan(&rows, &bidders, |u| u == UserId(10), false);
        let ids: Vec<u64> = p.send.iter().map(|i| i.0).collect();
        assert_eq!(
            ids,
            [1, 4, 2],
            "10's refusal and answer (asked for), 11's acceptance"
        );
        assert_eq!(p.drop.len(), 1, "10's outbid notice");
        assert!(p.drop[0].1.contains("stop"), "{:?}", p.drop);
    }

    #[test]
    fn a_bidder_hears_only_their_latest_news() {
        // Bidder 10: accepted (bid 1), then outbid by bidder 11 (bid 2), who is refused next
        // (bid 3) and then accepted again (bid 4). Bidder 12 is outbid (bid 5), then refused
        // (bid 6): both matter.
        let bidders = by(&[10, 11, 11, 11, 12, 12]);
        let rows = [
            row(1, Notice::BidAccepted { bid: BidId(1) }),
            row(2, Notice::BidAccepted { bid: BidId(2) }),
            row(
                3,
                Notice::Outbid {
                    bid: BidId(1),
                    by: BidId(2),
                },
            ),
            row(4, Notice::BidRejected { bid: BidId(3) }),
            row(5, Notice::BidAccepted { bid: BidId(4) }),
            row(
                6,
                Notice::AuctionOpened {
                    auction: AuctionId(2),
                },
            ),
            row(
                7,
                Notice::Outbid {
                    bid: BidId(5),
                    by: BidId(4),
                },
            ),
            row(8, Notice::BidRejected { bid: BidId(6) }),
        ];
        let p = plan(&rows, &bidders, |_| false, false);
        let ids: Vec<u64> = p.send.iter().map(|i| i.0).collect();
        assert_eq!(ids, [6, 3, 7, 8, 5], "where each bidder stands now");
        let dropped: Vec<(u64, &str)> = p.drop.iter().map(|(i, w)| (i.0, w.as_str())).collect();
        assert_eq!(dropped.len(), 3);
        assert_eq!(dropped[0].0, 1);
        assert!(dropped[0].1.contains("row 3 (outbid)"), "{dropped:?}");
        assert_eq!((dropped[1].0, dropped[2].0), (2, 4));
        assert!(dropped[2].1.contains("row 5 (bid_accepted)"), "{dropped:?}");
    }
}
