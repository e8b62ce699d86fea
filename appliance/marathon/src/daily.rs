//! Each simulated day's check, from a backup taken after its post-auction window:
//! `appliance check`, escrow covered in the store and on chain, the oracle on the log so far.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use peers::hardhat::Hardhat;
use serde_json::json;
use store::{AuctionState, View};

use crate::checks;
use crate::crowd::{self, Crowd};
use crate::oracle;
use crate::report::DayCheck;
use crate::world::Appliance;

/// A backup of day `day`'s end, checked: `appliance check`, escrow covered in the store and
/// on chain, the oracle on the log so far.
pub fn check_day(
    app: &Appliance,
    program: &Path,
    out: &Path,
    day: u32,
    crowd: &Crowd,
    hh: &Hardhat,
    custody: &str,
) -> anyhow::Result<DayCheck> {
    let dir = out.join(format!("days/day-{day:02}"));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(store::DB_FILE);
    let mut tries = 0;
    while let Err(e) = app.request(&json!({"op": "backup", "path": file})) {
        tries += 1;
        if tries > 20 {
            bail!("no backup of day {day}: {e:#}");
        }
        let _ = std::fs::remove_file(&file);
        std::thread::sleep(Duration::from_millis(250));
    }
    let (check_ok, _) = checks::store_check(program, &dir);
    let store = store::Store::open_read_only(&file)?;
    let r = store.read()?;
    let events = all_events(&r)?;
    let judgement = oracle::judge(&events, &crowd.sent, &crowd.members);
    let balances = r.balances()?;
    let covered = balances.iter().all(|(_, b)| b.is_covered());
    let owed = owed(&balances);
    let auction = r.auctions()?.into_iter().find(|a| a.day == day);
    let result = match &auction {
        Some(a) if a.state == AuctionState::Completed => match a.leader {
            Some(l) => format!(
                "sold to @{} for {} ETH",
                crowd.member(l.0).map_or("?", |m| m.handle.as_str()),
                crowd::eth_text(a.price.0)
            ),
            None => "unsold".into(),
        },
        Some(a) => a.state.as_str().to_string(),
        None => "no auction".into(),
    };
    let sent_by_day = judgement.tweets_judged;
    Ok(DayCheck {
        day,
        result,
        check_ok,
        covered,
        owed,
        custody: hh.balance(custody),
        disagreements: judgement.disagreements.len(),
        missing: judgement.missing.len(),
        tweets: sent_by_day,
        events: events.len() as u64,
        bytes: std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0),
    })
}

/// What escrow owes its bidders: deposits less refunds and sales.
pub fn owed(balances: &[(store::UserId, store::Balance)]) -> u128 {
    balances
        .iter()
        .map(|(_, b)| {
            b.deposited
                .0
                .saturating_sub(b.withdrawn.0)
                .saturating_sub(b.won.0)
        })
        .sum()
}

/// The whole event log, in order.
pub fn all_events(r: &store::Reader) -> anyhow::Result<Vec<store::EventRecord>> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let batch = r.events_after(after, 5000)?;
        let Some(last) = batch.last() else {
            return Ok(events);
        };
        after = last.seq;
        events.extend(batch);
    }
}
