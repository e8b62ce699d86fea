//! The view-model: everything the stream shows, as plain display data. The appliance fills it
//! from the auction's state; this crate knows nothing of auctions.

use std::sync::Arc;

/// Which part of the day the stream is in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Nothing scheduled.
    #[default]
    Idle,
    /// Before bidding opens.
    Pre,
    /// Bidding is open.
    Live,
    /// Bidding is paused by an operator.
    Paused,
    /// Bidding closed with a winner.
    Sold,
    /// Bidding closed without a sale.
    Unsold,
    /// The stream is on standby ("we'll be right back").
    Standby,
}

/// The host's expression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mood {
    /// Calm.
    #[default]
    Neutral,
    /// Delighted by a new bid.
    Excited,
    /// Considering.
    Thinking,
    /// Pleased.
    Happy,
    /// Taken aback (a sniper, an extension).
    Surprised,
}

/// One line of the bid ticker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TickerLine {
    /// The bidder, e.g. `@ada`.
    pub who: String,
    /// The amount, e.g. `2.5 ETH`.
    pub amount: String,
    /// Why the bid did not count, shortly (`below the minimum raise`); empty when it counted.
    pub refused: String,
}

/// An artwork image: encoded bytes and a key naming them (for the cache).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Artwork {
    /// Identifies the image; a new key means a new image.
    pub key: String,
    /// PNG or JPEG bytes; `None` draws generated art from the key.
    pub bytes: Option<Arc<Vec<u8>>>,
}

/// Everything the stream shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ViewModel {
    /// The phase (chooses the scene).
    pub phase: Phase,
    /// Campaign name.
    pub campaign: String,
    /// The item's title.
    pub title: String,
    /// Its artist.
    pub artist: String,
    /// Its artwork.
    pub artwork: Option<Artwork>,
    /// Current price, formatted (`2.5 ETH`).
    pub price: String,
    /// Leader, formatted (`@ada`, or `No bids yet`).
    pub leader: String,
    /// Reserve, formatted.
    pub reserve: String,
    /// The lowest next bid, formatted.
    pub min_next: String,
    /// The hosting handle without `@`.
    pub host: String,
    /// When bidding ends, Unix milliseconds.
    pub ends_at_ms: Option<i64>,
    /// When bidding starts, Unix milliseconds.
    pub starts_at_ms: Option<i64>,
    /// Time left while paused, milliseconds.
    pub paused_remaining_ms: Option<i64>,
    /// Times the end was extended.
    pub extensions: u32,
    /// Latest bids, newest first.
    pub ticker: Vec<TickerLine>,
    /// Day of the campaign, from 1.
    pub day: u32,
    /// Days in the campaign.
    pub days: u32,
    /// The winner, formatted (after a sale).
    pub winner: String,
    /// The host's mood.
    pub mood: Mood,
    /// What the host is saying.
    pub caption: String,
    /// How open the host's mouth is while it speaks, 0 (closed, the mood's mouth) to 255.
    pub mouth: u8,
}

/// Fields a label template may use.
pub const FIELDS: &[&str] = &[
    "campaign", "title", "artist", "price", "leader", "reserve", "min_next", "host", "day", "days",
    "winner", "caption",
];

impl ViewModel {
    fn field(&self, name: &str) -> String {
        match name {
            "campaign" => self.campaign.clone(),
            "title" => self.title.clone(),
            "artist" => self.artist.clone(),
            "price" => self.price.clone(),
            "leader" => self.leader.clone(),
            "reserve" => self.reserve.clone(),
            "min_next" => self.min_next.clone(),
            "host" => self.host.clone(),
            "day" => self.day.to_string(),
            "days" => self.days.to_string(),
            "winner" => self.winner.clone(),
            "caption" => self.caption.clone(),
            _ => String::new(),
        }
    }

    /// Fills a template's `{field}`s (unknown fields were refused when the scene was loaded).
    pub fn fill(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    out.push_str(&self.field(&after[..close]));
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_fields() {
        let vm = ViewModel {
            day: 15,
            days: 30,
            host: "SothebAIs".into(),
            min_next: "2.6 ETH".into(),
            ..ViewModel::default()
        };
        assert_eq!(vm.fill("Day {day} of {days}"), "Day 15 of 30");
        assert_eq!(vm.fill("@{host} bid {min_next}"), "@SothebAIs bid 2.6 ETH");
        assert_eq!(vm.fill("no fields"), "no fields");
    }
}
