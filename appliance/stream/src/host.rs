//! What the host says and how it looks, from what just happened. Lines are short, name the
//! people and amounts involved, and never repeat the previous one word for word.

use scene::Mood;
use store::{Event, EventRecord, Reader, View};

/// The host's current line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostLine {
    /// The avatar's expression.
    pub mood: Mood,
    /// The caption.
    pub caption: String,
}

fn handle(r: &Reader, user: store::UserId) -> String {
    r.user(user)
        .ok()
        .flatten()
        .map_or_else(|| "a bidder".into(), |u| format!("@{}", u.handle))
}

fn title(r: &Reader, auction: store::AuctionId) -> (String, String) {
    let a = r.auction(auction).ok().flatten();
    let item = a.and_then(|a| r.item(a.item).ok().flatten());
    item.map_or_else(
        || ("tonight's lot".into(), String::new()),
        |i| (i.name, i.artist),
    )
}

/// The line for the most notable event in a committed batch, if any.
pub fn react(events: &[EventRecord], r: &Reader, previous: &HostLine) -> Option<HostLine> {
    let rank = |e: &Event| match e {
        Event::AuctionSettled { .. } | Event::AuctionCancelled { .. } => 6,
        Event::AuctionStarted { .. } => 5,
        Event::BidAccepted { extended: true, .. } => 4,
        Event::BidAccepted { .. } => 3,
        Event::AuctionPaused { .. }
        | Event::AuctionResumed { .. }
        | Event::AuctionExtended { .. } => 2,
        _ => 0,
    };
    let event = &events
        .iter()
        .filter(|e| rank(&e.event) > 0)
        .max_by_key(|e| (rank(&e.event), e.seq))?
        .event;
    let line = match event {
        Event::BidAccepted {
            bid,
            ends_at,
            extended,
        } => {
            let who = handle(r, bid.bidder);
            let (item, _) = bid
                .auction
                .map_or_else(|| ("the lot".into(), String::new()), |a| title(r, a));
            if *extended {
                let left = ends_at.micros_since(bid.placed_at).max(0) / 1_000_000;
                HostLine {
                    mood: Mood::Surprised,
                    caption: format!(
                        "A late bid from {who}: {}! The clock is extended, {left} seconds to answer.",
                        bid.amount
                    ),
                }
            } else {
                HostLine {
                    mood: Mood::Excited,
                    caption: format!(
                        "A new leader! {who} takes {item} to {}. Who dares go higher?",
                        bid.amount
                    ),
                }
            }
        }
        Event::AuctionStarted { auction, .. } => {
            let (item, artist) = title(r, *auction);
            let reserve = r
                .auction(*auction)
                .ok()
                .flatten()
                .map(|a| a.rules.reserve)
                .unwrap_or_default();
            let by = if artist.is_empty() {
                String::new()
            } else {
                format!(" by {artist}")
            };
            HostLine {
                mood: Mood::Happy,
                caption: format!("Bidding is open on {item}{by}! The reserve is {reserve}."),
            }
        }
        Event::AuctionSettled { auction, .. } => {
            let a = r.auction(*auction).ok().flatten();
            let (item, _) = title(r, *auction);
            match a.and_then(|a| a.leader.map(|l| (l, a.price))) {
                Some((leader, price)) => HostLine {
                    mood: Mood::Happy,
                    caption: format!(
                        "Sold! {item} goes to {} for {price}. Congratulations!",
                        handle(r, leader)
                    ),
                },
                None => HostLine {
                    mood: Mood::Thinking,
                    caption: format!(
                        "No sale for {item} today; the reserve was not met. Same time tomorrow!"
                    ),
                },
            }
        }
        Event::AuctionCancelled { auction, .. } => {
            let (item, _) = title(r, *auction);
            HostLine {
                mood: Mood::Thinking,
                caption: format!(
                    "The auction of {item} has been called off. Bids on it are released."
                ),
            }
        }
        Event::AuctionPaused { .. } => HostLine {
            mood: Mood::Thinking,
            caption: "A short pause; bidding will resume in a moment, with the time that was left."
                .into(),
        },
        Event::AuctionResumed { .. } => HostLine {
            mood: Mood::Happy,
            caption: "And we are back! Bidding resumes.".into(),
        },
        Event::AuctionExtended { ends_at, .. } => HostLine {
            mood: Mood::Surprised,
            caption: format!(
                "The auction has been extended; it now ends at {} UTC.",
                ends_at.to_datetime().format("%H:%M")
            ),
        },
        _ => return None,
    };
    (line != *previous).then_some(line)
}
