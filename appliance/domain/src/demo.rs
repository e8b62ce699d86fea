//! The embedded demo campaign: its host, its items and its daily plans, needing no credentials.

use chrono::NaiveDate;
use store::{AuctionRules, TimeOfDay, Timestamp, WindowPlan};

use crate::engine::{CampaignSpec, ItemSpec};
use crate::schedule;

/// The demo's host handle.
pub const DEMO_HOST: &str = "SothebAIs";
/// The demo's time zone.
pub const DEMO_ZONE: &str = "America/New_York";

const ARTISTS: [&str; 6] = [
    "Ada Pixel",
    "Mona Vector",
    "Hokusai Bot",
    "Frida Shader",
    "Basquiat.exe",
    "Klimt Kernel",
];

/// `n` generated items ("Genesis #1" ...).
pub fn demo_items(n: u32) -> Vec<ItemSpec> {
    (1..=n)
        .map(|i| ItemSpec {
            name: format!("Genesis #{i}"),
            artist: ARTISTS[(i as usize - 1) % ARTISTS.len()].to_string(),
            image: String::new(),
            token: None,
        })
        .collect()
}

fn spec(start_date: NaiveDate, days: u32, windows: WindowPlan) -> CampaignSpec {
    CampaignSpec {
        name: "SothebAIs Genesis (demo)".into(),
        start_date,
        days,
        timezone: DEMO_ZONE.into(),
        windows,
        rules: AuctionRules::default(),
        host_handle: DEMO_HOST.into(),
        items: demo_items(days),
    }
}

/// A 30-day campaign on the product's default daily plan, starting `start_date`.
pub fn daily_spec(start_date: NaiveDate, days: u32) -> CampaignSpec {
    spec(start_date, days, WindowPlan::default())
}

/// A 30-day demo campaign whose first auction is open at `now` for an hour, and then daily at
/// the same time: what `appliance run` creates when nothing is configured.
pub fn live_spec(now: Timestamp) -> CampaignSpec {
    let tz = schedule::parse_zone(DEMO_ZONE).unwrap_or(chrono_tz::America::New_York);
    let local = now.to_datetime().with_timezone(&tz).naive_local();
    let minute = |t: chrono::NaiveDateTime| TimeOfDay::from_naive(t.time());
    let hour = chrono::Duration::hours(1);
    let windows = WindowPlan {
        pre_auction_start: minute(local - hour),
        auction_start: minute(local),
        auction_end: minute(local + hour),
        post_auction_end: minute(local - hour - chrono::Duration::minutes(1)),
    };
    let start_date = (local - hour).date();
    let candidate = spec(start_date, 30, windows);
    // Around a clock change the hour-long window may not resolve as planned; fall back to the
    // product's default plan, starting today.
    match schedule::plan_days(start_date, 30, &windows, tz) {
        Ok(days) if days[0].starts_at <= now && now < days[0].ends_at => candidate,
        _ => daily_spec(schedule::local_date(now, tz), 30),
    }
}
