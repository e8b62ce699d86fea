//! The host's mood, driven by what happens in the auction, with hysteresis: a stronger cue
//! changes the mood at once; a cue as strong or weaker waits until the mood has held a while,
//! so the face does not flicker with every bid. The state is plain data, kept in the store so
//! a restart resumes the mood instead of resetting it.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cue {
    /// A new bidder leads.
    NewLeader,
    /// No bid for a while.
    Quiet,
    /// The last minutes began.
    FinalMinutes,
    /// A late bid extended the end.
    Extension,
    /// The item sold.
    Sold,
    /// The item went unsold.
    Unsold,
    /// Bidding was paused by the operator.
    Paused,
    /// A part of the appliance is down (the stream is on standby, X unreachable).
    Outage,
    /// Bidding resumed, or the outage ended.
    Resumed,
}

/// How long a mood holds before a cue no stronger may change it, milliseconds.
pub const HOLD_MS: i64 = 20_000;
/// New leaders within this window make a bidding war, milliseconds.
const WAR_WINDOW_MS: i64 = 60_000;
/// New leaders within the window that make a bidding war.
const WAR_LEADERS: usize = 3;

/// The mood a cue calls for, and how strongly.
fn target(cue: Cue) -> (&'static str, u8) {
    match cue {
        Cue::Quiet => ("thinking", 1),
        Cue::NewLeader => ("excited", 2),
        Cue::FinalMinutes => ("tense", 3),
        Cue::Extension => ("surprised", 3),
        Cue::Sold => ("happy", 4),
        Cue::Unsold => ("sad", 4),
        Cue::Paused | Cue::Outage => ("apologetic", 5),
        // Back to the baseline, at once, from which any cue moves it.
        Cue::Resumed => ("calm", 0),
    }
}

/// The mood and what it needs to remember.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoodState {
    /// The mood now (one of [`crate::MOODS`]).
    pub mood: String,
    /// How strongly it was called for.
    pub strength: u8,
    /// Since when (milliseconds since the epoch).
    pub since_ms: i64,
    /// When the latest new leaders came (for a bidding war).
    pub leaders_ms: Vec<i64>,
}

impl Default for MoodState {
    fn default() -> Self {
        MoodState {
            mood: "calm".into(),
            strength: 0,
            since_ms: 0,
            leaders_ms: Vec::new(),
        }
    }
}

impl MoodState {
    /// Takes a cue at `now_ms`; returns the new mood when it changed.
    pub fn on(&mut self, cue: Cue, now_ms: i64) -> Option<&str> {
        let (mut mood, mut strength) = target(cue);
        if cue == Cue::NewLeader {
            self.leaders_ms.retain(|t| now_ms - *t < WAR_WINDOW_MS);
            self.leaders_ms.push(now_ms);
            if self.leaders_ms.len() >= WAR_LEADERS {
                (mood, strength) = ("tense", 3);
            }
        }
        let held = now_ms - self.since_ms >= HOLD_MS;
        let forced = cue == Cue::Resumed;
        if mood == self.mood || (!forced && strength <= self.strength && !held) {
            return None;
        }
        self.mood = mood.to_string();
        self.strength = strength;
        self.since_ms = now_ms;
        Some(&self.mood)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stronger_cues_change_at_once_and_weaker_ones_wait() {
        let mut m = MoodState::default();
        assert_eq!(m.on(Cue::NewLeader, 0), Some("excited"));
        // Quiet is weaker: it waits until excitement has held 20 s.
        assert_eq!(m.on(Cue::Quiet, 5_000), None);
        assert_eq!(m.on(Cue::Quiet, 25_000), Some("thinking"));
        // The last minutes are stronger than thinking: at once.
        assert_eq!(m.on(Cue::FinalMinutes, 26_000), Some("tense"));
        // A pause outranks everything but the resumption.
        assert_eq!(m.on(Cue::Paused, 27_000), Some("apologetic"));
        assert_eq!(m.on(Cue::NewLeader, 28_000), None);
        assert_eq!(m.on(Cue::Resumed, 29_000), Some("calm"));
        assert_eq!(
            m.on(Cue::Sold, 30_000),
            Some("happy"),
            "calm is the baseline"
        );
        assert_eq!(m.on(Cue::Quiet, 31_000), None);
    }

    #[test]
    fn three_new_leaders_within_a_minute_are_a_bidding_war() {
        let mut m = MoodState::default();
        assert_eq!(m.on(Cue::NewLeader, 0), Some("excited"));
        assert_eq!(m.on(Cue::NewLeader, 10_000), None);
        assert_eq!(m.on(Cue::NewLeader, 20_000), Some("tense"));
        // The war cools: two minutes later a single new leader is excitement again.
        assert_eq!(m.on(Cue::NewLeader, 150_000), Some("excited"));
        // The state survives a restart as data.
        let saved = serde_json::to_string(&m).unwrap();
        let back: MoodState = serde_json::from_str(&saved).unwrap();
        assert_eq!(back, m);
        assert!(crate::MOODS.contains(&back.mood.as_str()));
    }
}
