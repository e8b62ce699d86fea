//! Shared fixtures for the scene tests.
#![allow(dead_code)]

use scene::{Mood, Phase, TickerLine, ViewModel};

/// 2026-11-22 19:30:00 UTC.
pub const NOW: i64 = 1_795_375_800_000;

/// A fixed mid-auction state.
pub fn live() -> ViewModel {
    ViewModel {
        phase: Phase::Live,
        campaign: "SothebAIs Genesis".into(),
        title: "Genesis #15".into(),
        artist: "Ada Pixel".into(),
        artwork: None,
        price: "2.35 ETH".into(),
        leader: "@crypto_collector".into(),
        reserve: "0.1 ETH".into(),
        min_next: "2.47 ETH".into(),
        host: "SothebAIs".into(),
        ends_at_ms: Some(NOW + 754_000),
        starts_at_ms: Some(NOW - 6_446_000),
        paused_remaining_ms: None,
        extensions: 0,
        ticker: vec![
            TickerLine {
                who: "@crypto_collector".into(),
                amount: "2.35 ETH".into(),
                refused: String::new(),
            },
            TickerLine {
                who: "@sim_sniper_3".into(),
                amount: "2.2 ETH".into(),
                refused: String::new(),
            },
            TickerLine {
                who: "@ada".into(),
                amount: "2.05 ETH".into(),
                refused: String::new(),
            },
        ],
        day: 15,
        days: 30,
        winner: String::new(),
        mood: Mood::Excited,
        caption:
            "A new leader! @crypto_collector takes Genesis #15 to 2.35 ETH. Who dares go higher?"
                .into(),
        mouth: 0,
    }
}
