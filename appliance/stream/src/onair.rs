//! When the stream is on air: from `lead` before each auction opens (the "starting soon" scene)
//! until `tail` after its result, or all the time. The schedule only acts when its answer
//! changes, so the operator's own start or stop holds until the next boundary.

use std::time::Duration;

use store::{Auction, AuctionState, Timestamp};

/// Whether the stream should be on air at `now`, for these auctions.
pub fn on_air(auctions: &[Auction], now: Timestamp, lead: Duration, tail: Duration) -> bool {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    auctions.iter().any(|a| {
        if a.state == AuctionState::Cancelled && a.started_at.is_none() {
            return false;
        }
        let start = a.starts_at.plus_secs(-secs(lead));
        // The result: when it closed, or its (possibly extended) end while it runs.
        let result = a.closed_at.unwrap_or(a.ends_at);
        let end = result.plus_secs(secs(tail));
        start <= now && now < end
    })
}

/// Turns the schedule's answers into actions: start or stop only when the answer changes (and
/// once at the first answer).
#[derive(Debug, Default)]
pub struct Edges {
    last: Option<bool>,
}

impl Edges {
    /// What to do now that the schedule says `wanted`: `Some(true)` start, `Some(false)` stop,
    /// `None` leave it as it is (the operator may have changed it by hand).
    pub fn step(&mut self, wanted: bool) -> Option<bool> {
        if self.last == Some(wanted) {
            return None;
        }
        self.last = Some(wanted);
        Some(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{AuctionId, AuctionRules, CampaignId, ItemId, Wei};

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn auction(starts: &str, ends: &str, state: AuctionState, closed: Option<&str>) -> Auction {
        Auction {
            id: AuctionId(1),
            campaign: CampaignId(1),
            day: 1,
            item: ItemId(1),
            pre_start: t(starts).plus_secs(-3600),
            starts_at: t(starts),
            scheduled_end: t(ends),
            ends_at: t(ends),
            post_end: t(ends).plus_secs(3600),
            state,
            rules: AuctionRules::default(),
            leading_bid: None,
            leader: None,
            price: Wei::ZERO,
            bids_accepted: 0,
            bids_rejected: 0,
            extensions: 0,
            paused_remaining_micros: None,
            started_at: None,
            closed_at: closed.map(t),
            finished_at: None,
        }
    }

    #[test]
    fn on_air_from_a_quarter_before_to_a_quarter_after() {
        // The requirements' example: a 14:00-16:00 auction is on air 13:45-16:15.
        let a = [auction(
            "2026-06-01T14:00:00-04:00",
            "2026-06-01T16:00:00-04:00",
            AuctionState::Pending,
            None,
        )];
        let q = Duration::from_secs(15 * 60);
        let at = |s: &str| on_air(&a, t(s), q, q);
        assert!(!at("2026-06-01T13:44:59-04:00"));
        assert!(at("2026-06-01T13:45:00-04:00"));
        assert!(at("2026-06-01T16:14:59-04:00"));
        assert!(!at("2026-06-01T16:15:00-04:00"));
        // Extended by late bids: the tail follows the real end.
        let mut extended = a.clone();
        extended[0].ends_at = t("2026-06-01T16:10:00-04:00");
        assert!(on_air(&extended, t("2026-06-01T16:20:00-04:00"), q, q));
        // Closed: the tail follows the result.
        let closed = [auction(
            "2026-06-01T14:00:00-04:00",
            "2026-06-01T16:00:00-04:00",
            AuctionState::Completed,
            Some("2026-06-01T16:00:03-04:00"),
        )];
        assert!(on_air(&closed, t("2026-06-01T16:15:02-04:00"), q, q));
        assert!(!on_air(&closed, t("2026-06-01T16:15:04-04:00"), q, q));
        // Called off before it opened: never on air.
        let off = [auction(
            "2026-06-01T14:00:00-04:00",
            "2026-06-01T16:00:00-04:00",
            AuctionState::Cancelled,
            None,
        )];
        assert!(!on_air(&off, t("2026-06-01T14:30:00-04:00"), q, q));
    }

    #[test]
    fn the_schedule_acts_on_changes_only() {
        let mut e = Edges::default();
        assert_eq!(e.step(false), Some(false));
        assert_eq!(e.step(false), None, "the operator's start stays");
        assert_eq!(e.step(true), Some(true));
        assert_eq!(e.step(true), None, "the operator's stop stays");
        assert_eq!(e.step(false), Some(false));
    }
}
