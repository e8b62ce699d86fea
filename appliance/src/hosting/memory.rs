//! What the host remembers of each viewer: bids and wins come from the store's records, first
//! seen from the user's row; the questions it answered are its own memory, kept in the store
//! under [`MEMORY_KEY`] and bounded to [`MEMORY_CAP`] viewers (the longest silent forgotten
//! first). A model sees it as facts about the leader and the asker, and every number in it is
//! a grounding fact.

use std::collections::BTreeMap;

use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{AuctionState, Reader, Timestamp, UserId, View};

use super::facts::Gathered;

/// The state key of the host's memory of questions.
pub const MEMORY_KEY: &str = "host.memory";
/// Viewers remembered at most.
pub const MEMORY_CAP: usize = 2000;

/// One viewer's questions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Asked {
    /// Questions answered.
    pub count: u32,
    /// What the last one was about.
    pub last_topic: String,
    /// When it was answered (UTC microseconds).
    pub last_at: i64,
}

/// The host's memory of questions, by X user id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    asked: BTreeMap<u64, Asked>,
}

impl Memory {
    /// The memory kept in the store (empty when there is none or it cannot be read).
    pub fn load(r: &Reader) -> Memory {
        r.state(MEMORY_KEY)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// What `user` asked before, if the host remembers.
    pub fn asked(&self, user: UserId) -> Option<&Asked> {
        self.asked.get(&user.0)
    }

    /// Viewers remembered.
    pub fn len(&self) -> usize {
        self.asked.len()
    }

    /// Whether the host remembers no one's questions.
    pub fn is_empty(&self) -> bool {
        self.asked.is_empty()
    }

    /// Remembers that `user` asked about `topic` at `at`; beyond [`MEMORY_CAP`] viewers, the
    /// one silent longest is forgotten.
    pub fn remember(&mut self, user: UserId, topic: &str, at: Timestamp) {
        let a = self.asked.entry(user.0).or_default();
        a.count = a.count.saturating_add(1);
        a.last_topic = topic.to_string();
        a.last_at = at.0;
        while self.asked.len() > MEMORY_CAP {
            let Some(oldest) = self
                .asked
                .iter()
                .min_by_key(|(id, a)| (a.last_at, **id))
                .map(|(id, _)| *id)
            else {
                break;
            };
            self.asked.remove(&oldest);
        }
    }
}

/// Adds what the host remembers of `user` to `g` under `key` (`leader`, `asker`): first seen,
/// accepted bids before this auction, auctions won, questions answered before.
pub fn recall(
    r: &Reader,
    memory: &Memory,
    user: UserId,
    key: &str,
    g: &mut Gathered,
) -> store::Result<()> {
    let Some(u) = r.user(user)? else {
        return Ok(());
    };
    let bids = r
        .bids_of_user(user)?
        .iter()
        .filter(|b| b.rejection.is_none() && b.auction.is_some_and(|a| a != g.auction))
        .count();
    let won = r
        .auctions()?
        .iter()
        .filter(|a| a.state == AuctionState::Completed && a.leader == Some(user))
        .count();
    let first = u
        .first_seen
        .to_datetime()
        .with_timezone(&New_York)
        .format("%Y-%m-%d")
        .to_string();
    let asked = memory.asked(user).cloned().unwrap_or_default();
    g.json[format!("{key}_memory")] = json!({
        "handle": format!("@{}", u.handle),
        "first_seen": first,
        "bids_in_earlier_auctions": bids,
        "auctions_won": won,
        "questions_answered_before": asked.count,
        "last_question_about": (asked.count > 0).then_some(asked.last_topic),
    });
    let numbers = &mut g.ground.numbers;
    numbers.extend(first.split('-').map(str::to_string));
    numbers.extend([bids.to_string(), won.to_string(), asked.count.to_string()]);
    g.ground.handles.push(u.handle);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_and_forgets_the_longest_silent() {
        let mut m = Memory::default();
        assert!(m.is_empty());
        for i in 0..(MEMORY_CAP as u64 + 10) {
            m.remember(UserId(i), "reserve", Timestamp(i as i64));
        }
        assert_eq!(m.len(), MEMORY_CAP);
        assert!(m.asked(UserId(0)).is_none(), "the first asker is forgotten");
        // Asking again keeps a viewer: the oldest *silent* one goes next.
        m.remember(UserId(10), "time left", Timestamp(1_000_000));
        m.remember(UserId(99_999), "price", Timestamp(1_000_001));
        assert_eq!(m.asked(UserId(10)).map(|a| a.count), Some(2));
        assert_eq!(
            m.asked(UserId(10)).map(|a| a.last_topic.as_str()),
            Some("time left")
        );
        assert!(m.asked(UserId(11)).is_none());
        let text = serde_json::to_string(&m).unwrap();
        assert!(
            text.len() < 256 * 1024,
            "fits one state value: {}",
            text.len()
        );
        assert_eq!(serde_json::from_str::<Memory>(&text).unwrap(), m);
    }
}
