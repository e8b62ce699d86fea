//! What the host shows: its expression and its current line, with the auction and phase the
//! line was made for, so that a line expires with its phase ("Sold! …" never stays up under
//! the next lot's "UP NEXT").

use scene::{Mood, Phase};
use store::AuctionId;

/// The host's current line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostLine {
    /// The avatar's expression.
    pub mood: Mood,
    /// The caption.
    pub caption: String,
    /// The auction the line speaks of; `None`: the line holds for any.
    pub auction: Option<AuctionId>,
    /// The phase it was made in; shown only while the auction is in it.
    pub phase: Option<Phase>,
}

impl HostLine {
    /// Whether the line still holds for `auction` in `phase`.
    pub fn holds(&self, auction: AuctionId, phase: Phase) -> bool {
        !self.caption.is_empty()
            && self.auction.is_none_or(|a| a == auction)
            && self.phase.is_none_or(|p| p == phase)
    }
}
