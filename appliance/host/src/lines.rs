//! What the host says when no model does (none configured, too slow, failed, or its line did
//! not hold to the facts): lines from templates, several per moment, filled only with the facts'
//! own values, never the same as one of the last few lines said.

use std::collections::{BTreeMap, VecDeque};

/// The moments the host speaks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Moment {
    /// Bidding opened.
    Opening,
    /// A new bidder leads.
    NewLeader,
    /// Three new leaders within a minute.
    BiddingWar,
    /// No bid for a while.
    Quiet,
    /// The last minutes began.
    FinalMinutes,
    /// A late bid extended the end.
    Extension,
    /// Sold.
    Sold,
    /// Unsold.
    Unsold,
    /// Paused by the operator.
    Paused,
    /// Bidding resumed.
    Resumed,
}

/// The built-in templates; `{slot}`s are filled from the facts.
fn templates(moment: Moment) -> &'static [&'static str] {
    match moment {
        Moment::Opening => &[
            "Last night @{last_winner} took {last_lot}. Tonight: {lot}, reserve {reserve} ETH.",
            "Bidding is open on {lot}! The reserve is {reserve} ETH.",
            "{lot} by {artist} is on the block. Who opens at {reserve} ETH?",
            "The gavel is up: {lot}, reserve {reserve} ETH. The floor is yours.",
        ],
        Moment::NewLeader => &[
            "Welcome back, @{returning}! {price} ETH leads.",
            "@{champion} has won here before, and leads again at {price} ETH.",
            "@{leader} takes the lead at {price} ETH!",
            "{price} ETH from @{leader}. Who goes higher?",
            "@{leader} leads with {price} ETH. The next bid is {min_next} ETH.",
            "New leader: @{leader}, {price} ETH for {lot}.",
        ],
        Moment::BiddingWar => &[
            "A bidding war! @{leader} holds {lot} at {price} ETH… for now.",
            "The room is on fire: {price} ETH, @{leader} leads.",
            "Back and forth we go. @{leader} at {price} ETH; {min_next} ETH takes it.",
        ],
        Moment::Quiet => &[
            "Quiet in the room… {lot} stands at {price} ETH.",
            "Still {price} ETH for {lot}. Anyone?",
            "A calm moment. {min_next} ETH would lead.",
            "The floor is open: {lot}, reserve {reserve} ETH.",
            "Who will open? {min_next} ETH takes {lot} for now.",
        ],
        Moment::FinalMinutes => &[
            "Final minutes for {lot}! {price} ETH leads, @{leader} on top.",
            "{left} left. @{leader} leads at {price} ETH.",
            "The clock is running down: {left} left on {lot}.",
        ],
        Moment::Extension => &[
            "A late bid! The end moves: {left} left.",
            "Extended! @{leader} at {price} ETH, and {left} on the clock.",
        ],
        Moment::Sold => &[
            "Sold! {lot} goes to @{leader} for {price} ETH.",
            "Going once, going twice… sold to @{leader} at {price} ETH!",
        ],
        Moment::Unsold => &[
            "{lot} goes unsold tonight: the reserve was not met.",
            "No sale for {lot} this time. Thank you all for watching.",
        ],
        Moment::Paused => &[
            "A short pause, everyone. Bidding resumes shortly.",
            "We are holding the gavel for a moment. Stay with us.",
        ],
        Moment::Resumed => &[
            "We are back! {lot} stands at {price} ETH.",
            "Bidding resumes on {lot}.",
        ],
    }
}

/// The host's posts on X before an auction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Post {
    /// The morning of the auction's day.
    Teaser,
    /// An hour before it opens.
    HourBefore,
}

/// A post's text from the facts (`lot`, `artist`, `reserve`, `opens`), the first template whose
/// facts are all given.
pub fn post(kind: Post, facts: &BTreeMap<&str, String>) -> Option<String> {
    let templates: &[&str] = match kind {
        Post::Teaser => &[
            "Today at {opens} ET: {lot} by {artist}, reserve {reserve} ETH. Link a wallet and deposit now to bid.",
            "Today at {opens} ET: {lot}, reserve {reserve} ETH. Link a wallet and deposit now to bid.",
        ],
        Post::HourBefore => &[
            "One hour to go: {lot} by {artist} opens at {opens} ET. Reply bid <amount> ETH once it opens.",
            "One hour to go: {lot} opens at {opens} ET. Reply bid <amount> ETH once it opens.",
        ],
    };
    templates.iter().find_map(|t| fill(t, facts))
}

/// Fills `{slot}`s from `facts`; `None` when one is missing.
fn fill(template: &str, facts: &BTreeMap<&str, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        let value = facts.get(&rest[open + 1..close])?;
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The templates' memory: the last lines said, so none repeats soon.
#[derive(Clone, Debug)]
pub struct Lines {
    recent: VecDeque<String>,
    keep: usize,
    turn: usize,
}

impl Lines {
    /// Remembers the last `keep` lines.
    pub fn new(keep: usize) -> Lines {
        Lines {
            recent: VecDeque::with_capacity(keep),
            keep: keep.max(1),
            turn: 0,
        }
    }

    /// Notes a line the host said (from any source), so templates avoid it.
    pub fn said(&mut self, line: &str) {
        if self.recent.len() == self.keep {
            self.recent.pop_front();
        }
        self.recent.push_back(line.to_string());
    }

    /// A line for `moment` from the facts (`lot`, `artist`, `leader`, `price`, `min_next`,
    /// `reserve`, `left`; the host's memory: `returning` and `champion`, the leader when they
    /// bid in an earlier auction or won one, and `last_winner` with `last_lot`): one not among the last lines said if any can be, taking turns
    /// through the templates; `None` when no template's facts are all given.
    pub fn line(&mut self, moment: Moment, facts: &BTreeMap<&str, String>) -> Option<String> {
        let all = templates(moment);
        let filled: Vec<String> = (0..all.len())
            .map(|i| all[(self.turn + i) % all.len()])
            .filter_map(|t| fill(t, facts))
            .collect();
        self.turn = self.turn.wrapping_add(1);
        let line = filled
            .iter()
            .find(|l| !self.recent.contains(l))
            .or_else(|| {
                // All were said lately: the one said longest ago.
                filled
                    .iter()
                    .min_by_key(|l| self.recent.iter().position(|r| r == *l))
            })?
            .clone();
        self.said(&line);
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{facts, grounded};
    use crate::ground::check;

    const ALL: [Moment; 10] = [
        Moment::Opening,
        Moment::NewLeader,
        Moment::BiddingWar,
        Moment::Quiet,
        Moment::FinalMinutes,
        Moment::Extension,
        Moment::Sold,
        Moment::Unsold,
        Moment::Paused,
        Moment::Resumed,
    ];

    #[test]
    fn posts_hold_to_the_facts() {
        let mut f = facts();
        f.insert("opens", "14:00".into());
        let mut g = grounded();
        g.times.push("14:00".into());
        for kind in [Post::Teaser, Post::HourBefore] {
            let p = post(kind, &f).unwrap();
            assert_eq!(check(&p, &g), Ok(()), "{p}");
            assert!(p.chars().count() <= 280);
        }
        f.remove("artist");
        assert!(!post(Post::HourBefore, &f).unwrap().contains(" by "));
        f.remove("opens");
        assert_eq!(post(Post::Teaser, &f), None, "no time, no teaser");
    }

    #[test]
    fn no_line_repeats_while_another_template_can_speak() {
        let mut lines = Lines::new(3);
        let said: Vec<String> = (0..9)
            .map(|_| lines.line(Moment::NewLeader, &facts()).unwrap())
            .collect();
        for w in said.windows(3) {
            assert!(w[0] != w[1] && w[1] != w[2] && w[0] != w[2], "{said:#?}");
        }
        // Two templates, a memory of three: it still answers, with the oldest.
        let mut lines = Lines::new(3);
        let a = lines.line(Moment::Sold, &facts()).unwrap();
        let b = lines.line(Moment::Sold, &facts()).unwrap();
        assert_ne!(a, b);
        assert_eq!(lines.line(Moment::Sold, &facts()).unwrap(), a);
    }

    #[test]
    fn template_lines_hold_to_the_facts_they_were_filled_from() {
        let f = facts();
        let grounded = grounded();
        let mut lines = Lines::new(1);
        for moment in ALL {
            for _ in 0..templates(moment).len() {
                let line = lines.line(moment, &f).unwrap();
                assert_eq!(check(&line, &grounded), Ok(()), "{line}");
            }
        }
        // A missing fact leaves out the templates that need it (a first-time bidder is not
        // welcomed back); none left: nothing to say.
        let mut first_timer = f.clone();
        first_timer.remove("returning");
        first_timer.remove("champion");
        for _ in 0..10 {
            let l = Lines::new(2).line(Moment::NewLeader, &first_timer).unwrap();
            assert!(!l.contains("back") && !l.contains("before"), "{l}");
        }
        let mut no_leader = f.clone();
        no_leader.remove("leader");
        assert!(Lines::new(2).line(Moment::Sold, &no_leader).is_none());
        assert!(Lines::new(2).line(Moment::Unsold, &no_leader).is_some());
    }
}
