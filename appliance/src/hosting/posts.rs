//! The host's posts on X before each auction: a teaser the morning of its day (09:00 ET, or three
//! hours before it opens when that is earlier) and a call an hour before it opens. Written by the
//! model in the character's tweet style when one is configured (and checked against the facts),
//! else from templates; posted once through the outbox (`HostPost`: a `host_posted` event and the
//! auction's milestone, so a restart never posts twice).

use std::sync::atomic::Ordering;

use chrono::TimeZone;
use chrono_tz::America::New_York;
use domain::engine::Command;
use host::lines::{self, Moment, Post};
use store::{Auction, AuctionState, Milestone, Timestamp, View};

use super::Director;

/// How long before the opening the hour-before call goes out, seconds.
const HOUR_BEFORE_SECS: i64 = 3600;

/// When the teaser of an auction opening at `starts_at` is due: 09:00 ET on its day, or three
/// hours before it opens when that is earlier.
fn teaser_at(starts_at: Timestamp) -> Timestamp {
    let start = starts_at.to_datetime().with_timezone(&New_York);
    let morning = start
        .date_naive()
        .and_hms_opt(9, 0, 0)
        .and_then(|t| New_York.from_local_datetime(&t).earliest())
        .map_or(starts_at, |t| {
            Timestamp::from_datetime(t.with_timezone(&chrono::Utc))
        });
    morning.min(starts_at.plus_secs(-3 * 3600))
}

/// The post due now for a pending auction, if any.
fn due(r: &store::Reader, now: Timestamp) -> Option<(Auction, Milestone)> {
    let auctions = r.auctions().ok()?;
    for a in auctions
        .into_iter()
        .filter(|a| a.state == AuctionState::Pending)
    {
        if now >= a.starts_at {
            continue;
        }
        let hour_before = a.starts_at.plus_secs(-HOUR_BEFORE_SECS);
        let posted = |m| r.milestone(a.id, m).unwrap_or(true);
        if now >= hour_before {
            if !posted(Milestone::HourBefore) {
                return Some((a, Milestone::HourBefore));
            }
        } else if now >= teaser_at(a.starts_at) && !posted(Milestone::Teaser) {
            return Some((a, Milestone::Teaser));
        }
    }
    None
}

impl Director {
    /// Posts the host's teaser or hour-before call when one is due.
    pub(super) async fn post_when_due(&mut self) {
        let now = self.clock.now();
        let (a, milestone, mut g) = {
            let Ok(r) = self.store.read() else { return };
            let Some((a, milestone)) = due(&r, now) else {
                return;
            };
            match super::facts::gather(&r, &a, Moment::Opening, now) {
                Ok(g) => (a, milestone, g),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the facts for the host's post");
                    return;
                }
            }
        };
        let kind = if milestone == Milestone::Teaser {
            Post::Teaser
        } else {
            Post::HourBefore
        };
        g.json["moment"] = match kind {
            Post::Teaser => "the morning teaser: today's lot, when it opens, how to take part",
            Post::HourBefore => "one hour before bidding opens",
        }
        .into();
        let text = match self
            .model_line_with(&self.character.post_prompt(), &g)
            .await
            .filter(|t| t.chars().count() <= 280)
        {
            Some(t) => {
                self.stats.lines_model.fetch_add(1, Ordering::Relaxed);
                t
            }
            None => match lines::post(kind, &g.values) {
                Some(t) => {
                    self.stats.lines_template.fetch_add(1, Ordering::Relaxed);
                    t
                }
                None => return,
            },
        };
        match self
            .engine
            .execute(Command::HostPost {
                auction: a.id,
                milestone,
                text: text.clone(),
            })
            .await
        {
            Ok(_) => tracing::info!(auction = %a.id, post = ?kind, text = %text, "the host posts"),
            Err(e) => {
                tracing::warn!(auction = %a.id, post = ?kind, error = %e, "the host's post is not made")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_teaser_is_the_morning_of_the_day_or_three_hours_ahead() {
        let at = |s: &str| {
            Timestamp::from_datetime(chrono::DateTime::parse_from_rfc3339(s).unwrap().into())
        };
        // Opening at 14:00 ET: the teaser at 09:00 ET.
        assert_eq!(
            teaser_at(at("2026-12-05T19:00:00Z")),
            at("2026-12-05T14:00:00Z")
        );
        // Opening at 10:00 ET: three hours ahead, 07:00 ET.
        assert_eq!(
            teaser_at(at("2026-12-05T15:00:00Z")),
            at("2026-12-05T12:00:00Z")
        );
        // In summer (EDT) too: 14:00 EDT opens, 09:00 EDT teases.
        assert_eq!(
            teaser_at(at("2026-07-05T18:00:00Z")),
            at("2026-07-05T13:00:00Z")
        );
    }
}
