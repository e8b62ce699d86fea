//! What the host may speak of at a moment, read from the store: the values the templates fill
//! in, the same values as JSON for a language model, and the grounding facts every line is
//! checked against. Amounts are written as the picture writes them (`2.5`, in ETH), so the
//! voice, the caption and the price on screen agree.

use std::collections::BTreeMap;

use chrono_tz::America::New_York;
use host::ground::Facts;
use host::lines::Moment;
use scene::Phase;
use serde_json::{Value, json};
use store::{Auction, AuctionId, AuctionState, Reader, Timestamp, View};

/// Bids of the auction named in the facts (the newest first).
const RECENT_BIDS: usize = 5;

/// The facts at one moment.
#[derive(Clone, Debug)]
pub struct Gathered {
    /// The auction spoken of.
    pub auction: AuctionId,
    /// Its phase on the picture.
    pub phase: Phase,
    /// Template slots (`lot`, `artist`, `leader`, `price`, `min_next`, `reserve`, `left`).
    pub values: BTreeMap<&'static str, String>,
    /// What a model is given.
    pub json: Value,
    /// What a line is checked against.
    pub ground: Facts,
}

/// The moment's name in the model's facts.
pub fn moment_name(m: Moment) -> &'static str {
    match m {
        Moment::Opening => "bidding opened",
        Moment::NewLeader => "a new leader",
        Moment::BiddingWar => "a bidding war: the lead changed hands three times within a minute",
        Moment::Quiet => "no bid for a while",
        Moment::FinalMinutes => "the final minutes began",
        Moment::Extension => "a late bid extended the auction",
        Moment::Sold => "sold",
        Moment::Unsold => "unsold: the reserve was not met",
        Moment::Paused => "bidding paused by the operator",
        Moment::Resumed => "bidding resumed",
    }
}

/// Time left, as said aloud: "4 minutes", "35 seconds".
pub fn said_duration(micros: i64) -> String {
    let secs = (micros.max(0) + 999_999) / 1_000_000;
    match secs {
        0..=1 => "1 second".into(),
        2..=119 => format!("{secs} seconds"),
        _ if secs < 2 * 3600 => format!("{} minutes", secs / 60),
        _ => format!("{} hours", secs / 3600),
    }
}

/// The numbers in a text (for the grounding facts): `4 minutes` → `4`.
fn numbers_in(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|n| n.trim_matches('.'))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// Reads the facts about `auction` at `now`.
pub fn gather(r: &Reader, a: &Auction, moment: Moment, now: Timestamp) -> store::Result<Gathered> {
    let item = r.item(a.item)?;
    let (lot, artist) = item.map_or_else(
        || ("tonight's lot".to_string(), String::new()),
        |i| (i.name, i.artist),
    );
    let campaign = r.campaign(a.campaign)?;
    let handle =
        |u: store::UserId| -> store::Result<Option<String>> { Ok(r.user(u)?.map(|u| u.handle)) };
    let leader = match a.leader {
        Some(u) => handle(u)?,
        None => None,
    };
    let price = a.price.eth_string();
    let min_next = domain::engine::rules::minimum_bid(a).eth_string();
    let reserve = a.rules.reserve.eth_string();
    let left_micros = match a.paused_remaining_micros {
        Some(m) => m,
        None => a.ends_at.micros_since(now),
    };
    let left = said_duration(left_micros);
    let ends_et = a.ends_at.to_datetime().with_timezone(&New_York);
    let ends_utc = a.ends_at.to_datetime();
    let mut recent = Vec::new();
    let mut handles: Vec<String> = leader.iter().cloned().collect();
    for bid in r.recent_bids_of_auction(a.id, RECENT_BIDS * 2)? {
        if bid.rejection.is_some() {
            continue;
        }
        let who = handle(bid.bidder)?.unwrap_or_default();
        recent.push(json!({"handle": format!("@{who}"), "amount_eth": bid.amount.eth_string()}));
        handles.push(who);
        if recent.len() == RECENT_BIDS {
            break;
        }
    }
    // The host's memory, from what the store holds: whether the leader bid in an earlier
    // auction or won one, and who won the day before.
    let mut lots = vec![lot.clone()];
    let (mut returning, mut wins) = (false, 0u32);
    if let Some(u) = a.leader {
        returning = r
            .bids_of_user(u)?
            .iter()
            .any(|b| b.rejection.is_none() && b.auction.is_some_and(|x| x != a.id));
    }
    let mut last = None;
    for other in r.auctions()? {
        if other.campaign != a.campaign || other.id == a.id {
            continue;
        }
        if other.state == AuctionState::Completed
            && other.leader.is_some()
            && other.leader == a.leader
        {
            wins += 1;
        }
        if other.day + 1 == a.day
            && other.state == AuctionState::Completed
            && let (Some(w), Some(i)) = (other.leader, r.item(other.item)?)
            && let Some(h) = handle(w)?
        {
            last = Some((h, i.name));
        }
    }
    let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
    if let Some(l) = leader.as_ref().filter(|_| returning) {
        values.insert("returning", l.clone());
    }
    if let Some(l) = leader.as_ref().filter(|_| wins > 0) {
        values.insert("champion", l.clone());
    }
    if let Some((h, l)) = &last {
        values.insert("last_winner", h.clone());
        values.insert("last_lot", l.clone());
        handles.push(h.clone());
        lots.push(l.clone());
    }
    values.insert("lot", lot.clone());
    if !artist.is_empty() {
        values.insert("artist", artist.clone());
    }
    if let Some(l) = &leader {
        values.insert("leader", l.clone());
    }
    // The price is a bid's: before the first, there is none to name.
    let bid = a.leading_bid.is_some();
    if bid {
        values.insert("price", price.clone());
    }
    values.insert("min_next", min_next.clone());
    values.insert("reserve", reserve.clone());
    values.insert("left", left.clone());
    let (day, days) = (a.day, campaign.as_ref().map_or(a.day, |c| c.days));
    values.insert("day", day.to_string());
    values.insert("days", days.to_string());
    if let Some(c) = &campaign {
        values.insert("campaign", c.name.clone());
    }
    let opens_et = a.starts_at.to_datetime().with_timezone(&New_York);
    if a.state == AuctionState::Pending {
        values.insert("opens", opens_et.format("%H:%M").to_string());
    }
    let json = json!({
        "moment": moment_name(moment),
        "campaign": campaign.as_ref().map(|c| c.name.clone()),
        "day": day,
        "days": days,
        "lot": lot,
        "artist": artist,
        "current_price_eth": bid.then(|| price.clone()),
        "leader": leader.as_ref().map(|l| format!("@{l}")),
        "minimum_next_bid_eth": min_next,
        "reserve_eth": reserve,
        "time_left": left,
        "ends_at": format!("{} ET", ends_et.format("%H:%M")),
        "opens_at": format!("{} ET", opens_et.format("%H:%M")),
        "bids_so_far": a.bids_accepted,
        "extensions": a.extensions,
        "recent_bids": recent,
        "leader_bid_here_before": returning,
        "leader_wins_before": wins,
        "last_winner": last.as_ref().map(|(h, l)| json!({"handle": format!("@{h}"), "lot": l})),
        "how_to_bid": "tweet @host bid <amount> ETH, after linking a wallet and depositing ETH to escrow",
    });
    let mut numbers = vec![
        price,
        min_next,
        reserve,
        day.to_string(),
        days.to_string(),
        a.bids_accepted.to_string(),
        a.extensions.to_string(),
    ];
    numbers.extend(numbers_in(&left));
    numbers.extend(numbers_in(&lot));
    numbers.extend(
        recent
            .iter()
            .filter_map(|b| b["amount_eth"].as_str().map(String::from)),
    );
    // The amounts in ETH: the only numbers a line may say as ETH.
    // (Before the first bid there is no price to say.)
    let mut amounts = numbers[usize::from(!bid)..3].to_vec();
    amounts.extend(
        recent
            .iter()
            .filter_map(|b| b["amount_eth"].as_str().map(String::from)),
    );
    let mut catalogue = Vec::new();
    for other in r.auctions()? {
        if other.campaign == a.campaign
            && let Some(i) = r.item(other.item)?
        {
            catalogue.push(i.name);
        }
    }
    handles.sort();
    handles.dedup();
    Ok(Gathered {
        auction: a.id,
        phase: stream::viewmodel::phase_of(a),
        values,
        json,
        ground: Facts {
            numbers,
            amounts,
            handles,
            times: vec![
                ends_et.format("%H:%M").to_string(),
                ends_utc.format("%H:%M").to_string(),
                opens_et.format("%H:%M").to_string(),
            ],
            lots,
            catalogue,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_said_as_people_say_them() {
        assert_eq!(said_duration(0), "1 second");
        assert_eq!(said_duration(35_000_000), "35 seconds");
        assert_eq!(said_duration(299_500_000), "5 minutes");
        assert_eq!(said_duration(3 * 3600 * 1_000_000), "3 hours");
        assert_eq!(
            numbers_in("4 minutes, 2.5 ETH.").collect::<Vec<_>>(),
            ["4", "2.5"]
        );
    }
}
