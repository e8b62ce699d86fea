//! The campaign calendar: each day's windows, defined as wall-clock times in the campaign's time
//! zone and resolved to UTC instants with chrono-tz.
//!
//! Local times that do not exist (the spring-forward gap, e.g. 02:30 on 2026-03-08 in New York)
//! are moved forward by the length of the gap (02:30 becomes 03:30 EDT), as a wall clock that
//! was not yet set forward would read. Local times that happen twice (the fall-back hour, e.g.
//! 01:30 on 2026-11-01) take the first occurrence. Either way, every boundary is an exact UTC
//! instant and the windows of a day and of successive days never overlap.

use chrono::{Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use store::{Timestamp, WindowPlan};

/// Why a schedule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not an IANA zone name.
    #[error("unknown time zone {0:?}; use an IANA name such as America/New_York")]
    UnknownZone(String),
    /// The plan's windows are inconsistent.
    #[error("invalid window plan: {0}")]
    Plan(String),
    /// Out of the calendar's range.
    #[error("the campaign runs past the end of the calendar")]
    OutOfRange,
}

/// Looks up an IANA time zone.
pub fn parse_zone(name: &str) -> Result<Tz, ScheduleError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownZone(name.to_string()))
}

/// One day's windows as UTC instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayWindows {
    /// Day of the campaign, from 1.
    pub day: u32,
    /// The local date the day is named after (the date of its pre-auction start).
    pub date: NaiveDate,
    /// Pre-auction start.
    pub pre_start: Timestamp,
    /// Bidding opens.
    pub starts_at: Timestamp,
    /// Bidding closes (before extensions).
    pub ends_at: Timestamp,
    /// Post-auction end.
    pub post_end: Timestamp,
}

/// Minutes from the pre-auction start to each later boundary, as naive wall-clock offsets.
fn offsets(plan: &WindowPlan) -> Result<[i64; 4], ScheduleError> {
    let m = |t: store::TimeOfDay| i64::from(t.minutes());
    let wrap = |from: i64, to: i64| (to - from).rem_euclid(24 * 60);
    let start = wrap(m(plan.pre_auction_start), m(plan.auction_start));
    let auction = wrap(m(plan.auction_start), m(plan.auction_end));
    if auction == 0 {
        return Err(ScheduleError::Plan(
            "the auction window is empty (auction_start equals auction_end)".into(),
        ));
    }
    let end = start + auction;
    let post = end + wrap(m(plan.auction_end), m(plan.post_auction_end));
    if post > 24 * 60 {
        return Err(ScheduleError::Plan(format!(
            "the windows span {}h{:02}, more than a day (pre-auction {} .. post-auction {})",
            post / 60,
            post % 60,
            plan.pre_auction_start,
            plan.post_auction_end
        )));
    }
    Ok([0, start, end, post])
}

/// Checks that a plan is usable.
pub fn validate_plan(plan: &WindowPlan) -> Result<(), ScheduleError> {
    offsets(plan).map(|_| ())
}

/// Resolves a wall-clock time in `tz` to a UTC instant (see the module docs for gaps and folds).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Result<Timestamp, ScheduleError> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(Timestamp::from_datetime(t.with_timezone(&Utc))),
        LocalResult::Ambiguous(first, _) => Ok(Timestamp::from_datetime(first.with_timezone(&Utc))),
        LocalResult::None => {
            // Walk back to the last minute that exists before the gap, then forward by the same
            // wall-clock distance in real time. Gaps last at most a day (Samoa, 2011).
            for back in 1..=(26 * 60) {
                let probe = local - chrono::Duration::minutes(back);
                let before = match tz.from_local_datetime(&probe) {
                    LocalResult::Single(t) => t,
                    LocalResult::Ambiguous(_, last) => last,
                    LocalResult::None => continue,
                };
                let instant = before.with_timezone(&Utc) + chrono::Duration::minutes(back);
                return Ok(Timestamp::from_datetime(instant));
            }
            Err(ScheduleError::OutOfRange)
        }
    }
}

/// The windows of `days` days starting at `start` (day 1).
pub fn plan_days(
    start: NaiveDate,
    days: u32,
    plan: &WindowPlan,
    tz: Tz,
) -> Result<Vec<DayWindows>, ScheduleError> {
    let [_, start_off, end_off, post_off] = offsets(plan)?;
    let mut out: Vec<DayWindows> = Vec::with_capacity(days as usize);
    for n in 0..days {
        let date = start
            .checked_add_days(Days::new(u64::from(n)))
            .ok_or(ScheduleError::OutOfRange)?;
        let pre_local = date.and_time(plan.pre_auction_start.to_naive());
        let at = |off: i64| resolve_local(tz, pre_local + chrono::Duration::minutes(off));
        let day = DayWindows {
            day: n + 1,
            date,
            pre_start: at(0)?,
            starts_at: at(start_off)?,
            ends_at: at(end_off)?,
            post_end: at(post_off)?,
        };
        let ordered = day.pre_start <= day.starts_at
            && day.starts_at < day.ends_at
            && day.ends_at <= day.post_end
            && out.last().is_none_or(|prev| prev.post_end <= day.pre_start);
        if !ordered {
            return Err(ScheduleError::Plan(format!(
                "on {date} the windows collapse or overlap across a clock change; move them away from the change"
            )));
        }
        out.push(day);
    }
    Ok(out)
}

/// An instant as RFC 3339 in the campaign's zone, with its offset.
pub fn local_rfc3339(t: Timestamp, tz: Tz) -> String {
    t.to_datetime()
        .with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Today's date in `tz` at instant `now`.
pub fn local_date(now: Timestamp, tz: Tz) -> NaiveDate {
    now.to_datetime().with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::TimeOfDay;

    fn ny() -> Tz {
        parse_zone("America/New_York").unwrap()
    }

    fn plan(pre: &str, start: &str, end: &str, post: &str) -> WindowPlan {
        WindowPlan {
            pre_auction_start: pre.parse().unwrap(),
            auction_start: start.parse().unwrap(),
            auction_end: end.parse().unwrap(),
            post_auction_end: post.parse().unwrap(),
        }
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(days: &[DayWindows], i: usize) -> [String; 4] {
        let w = days[i];
        [w.pre_start, w.starts_at, w.ends_at, w.post_end].map(|t| t.rfc3339())
    }

    #[test]
    fn default_plan_across_the_2026_spring_forward() {
        // DST starts Sunday 2026-03-08 at 02:00 EST -> 03:00 EDT.
        let days = plan_days(d(2026, 3, 7), 3, &WindowPlan::default(), ny()).unwrap();
        assert_eq!(
            utc(&days, 0),
            [
                "2026-03-07T05:00:00Z",
                "2026-03-07T19:00:00Z",
                "2026-03-07T21:00:00Z",
                "2026-03-08T04:59:00Z"
            ]
        );
        // The change day: midnight is still EST, the auction is in EDT.
        assert_eq!(
            utc(&days, 1),
            [
                "2026-03-08T05:00:00Z",
                "2026-03-08T18:00:00Z",
                "2026-03-08T20:00:00Z",
                "2026-03-09T03:59:00Z"
            ]
        );
        assert_eq!(
            utc(&days, 2),
            [
                "2026-03-09T04:00:00Z",
                "2026-03-09T18:00:00Z",
                "2026-03-09T20:00:00Z",
                "2026-03-10T03:59:00Z"
            ]
        );
        assert_eq!(
            local_rfc3339(days[1].starts_at, ny()),
            "2026-03-08T14:00:00-04:00"
        );
        assert_eq!(
            local_rfc3339(days[1].pre_start, ny()),
            "2026-03-08T00:00:00-05:00"
        );
    }

    #[test]
    fn default_plan_across_the_2026_fall_back() {
        // DST ends Sunday 2026-11-01 at 02:00 EDT -> 01:00 EST; that day has 25 hours.
        let days = plan_days(d(2026, 10, 31), 3, &WindowPlan::default(), ny()).unwrap();
        assert_eq!(
            utc(&days, 0),
            [
                "2026-10-31T04:00:00Z",
                "2026-10-31T18:00:00Z",
                "2026-10-31T20:00:00Z",
                "2026-11-01T03:59:00Z"
            ]
        );
        assert_eq!(
            utc(&days, 1),
            [
                "2026-11-01T04:00:00Z",
                "2026-11-01T19:00:00Z",
                "2026-11-01T21:00:00Z",
                "2026-11-02T04:59:00Z"
            ]
        );
        assert_eq!(
            utc(&days, 2),
            [
                "2026-11-02T05:00:00Z",
                "2026-11-02T19:00:00Z",
                "2026-11-02T21:00:00Z",
                "2026-11-03T04:59:00Z"
            ]
        );
        assert_eq!(
            days[1].post_end.micros_since(days[1].pre_start),
            (24 * 3600 + 59 * 60) * 1_000_000
        );
    }

    #[test]
    fn the_hour_that_does_not_exist_moves_forward() {
        // An auction 02:30-03:30 on the spring-forward day: 02:30 does not exist.
        let days = plan_days(
            d(2026, 3, 8),
            1,
            &plan("00:00", "02:30", "04:00", "23:00"),
            ny(),
        )
        .unwrap();
        assert_eq!(days[0].starts_at.rfc3339(), "2026-03-08T07:30:00Z"); // 03:30 EDT
        assert_eq!(
            local_rfc3339(days[0].starts_at, ny()),
            "2026-03-08T03:30:00-04:00"
        );
        assert_eq!(days[0].ends_at.rfc3339(), "2026-03-08T08:00:00Z"); // 04:00 EDT
    }

    #[test]
    fn the_hour_that_happens_twice_takes_its_first_occurrence() {
        // 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST) on 2026-11-01.
        let days = plan_days(
            d(2026, 11, 1),
            1,
            &plan("00:00", "01:30", "03:00", "23:00"),
            ny(),
        )
        .unwrap();
        assert_eq!(days[0].starts_at.rfc3339(), "2026-11-01T05:30:00Z");
        assert_eq!(days[0].ends_at.rfc3339(), "2026-11-01T08:00:00Z"); // 03:00 EST
        // The auction lasts 2h30 of real time for a 1h30 wall-clock span.
        assert_eq!(
            days[0].ends_at.micros_since(days[0].starts_at),
            150 * 60 * 1_000_000
        );
    }

    #[test]
    fn windows_may_cross_midnight() {
        let days = plan_days(
            d(2026, 6, 1),
            2,
            &plan("12:00", "22:00", "00:30", "02:00"),
            ny(),
        )
        .unwrap();
        assert_eq!(
            local_rfc3339(days[0].ends_at, ny()),
            "2026-06-02T00:30:00-04:00"
        );
        assert_eq!(
            local_rfc3339(days[1].starts_at, ny()),
            "2026-06-02T22:00:00-04:00"
        );
    }

    #[test]
    fn any_iana_zone_works() {
        let tokyo = parse_zone("Asia/Tokyo").unwrap();
        let days = plan_days(d(2026, 1, 1), 1, &WindowPlan::default(), tokyo).unwrap();
        assert_eq!(days[0].starts_at.rfc3339(), "2026-01-01T05:00:00Z");
        assert!(matches!(
            parse_zone("Mars/Olympus"),
            Err(ScheduleError::UnknownZone(_))
        ));
    }

    #[test]
    fn bad_plans_are_refused_with_a_reason() {
        let empty = plan("00:00", "14:00", "14:00", "23:00");
        assert!(
            validate_plan(&empty)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        let too_long = plan("10:00", "14:00", "16:00", "11:00");
        assert!(
            validate_plan(&too_long)
                .unwrap_err()
                .to_string()
                .contains("more than a day")
        );
        assert!(validate_plan(&WindowPlan::default()).is_ok());
        let _ = TimeOfDay::new(0, 0);
    }
}
