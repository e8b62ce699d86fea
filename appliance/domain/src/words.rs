//! The words of every tweet the appliance posts, rendered at send time from the records an
//! outbox row names. Every text fits X's 280-character limit as X counts it (most scripts count
//! one, CJK and emoji count two): names are shortened first, never amounts or handles.

use chrono_tz::Tz;
use store::{Auction, BidSource, Campaign, Event, Item, Notice, OutboxEntry, Timestamp, View};

use crate::engine::rules::minimum_bid;
use crate::schedule::parse_zone;

/// X's limit, in its weighted units of one hundredth.
const MAX_WEIGHT: usize = 280 * 100;

/// Length as X counts it (twitter-text v3): code points in the Latin, general punctuation and
/// similar ranges weigh 1, everything else (CJK, emoji, ...) 2.
pub fn weighted_len(text: &str) -> usize {
    text.chars()
        .map(|c| {
            let cp = c as u32;
            let light = cp <= 4351
                || (8192..=8205).contains(&cp)
                || (8208..=8223).contains(&cp)
                || (8242..=8247).contains(&cp);
            if light { 100 } else { 200 }
        })
        .sum::<usize>()
        / 100
}

/// Cuts `text` to at most `max` weighted characters, ending with `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if weighted_len(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        let mut candidate = out.clone();
        candidate.push(c);
        candidate.push('…');
        if weighted_len(&candidate) > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// A tweet ready to post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// Its text (within the limit).
    pub text: String,
    /// The tweet it answers.
    pub reply_to: Option<String>,
}

/// Why a row will not be posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotPosted {
    /// It no longer matters (the auction moved on, the reply is old news).
    Stale(String),
    /// The records it names are missing or inconsistent.
    Broken(String),
}

/// How long a reply to a bidder stays worth posting.
const REPLY_FRESH_SECS: i64 = 30 * 60;

struct Ctx<'a, V: View> {
    view: &'a V,
    now: Timestamp,
}

impl<V: View> Ctx<'_, V> {
    fn auction(&self, id: store::AuctionId) -> Result<Auction, NotPosted> {
        self.view
            .auction(id)
            .ok()
            .flatten()
            .ok_or_else(|| NotPosted::Broken(format!("auction {id} is missing")))
    }

    fn item(&self, a: &Auction) -> Result<Item, NotPosted> {
        self.view
            .item(a.item)
            .ok()
            .flatten()
            .ok_or_else(|| NotPosted::Broken(format!("item {} is missing", a.item)))
    }

    fn campaign(&self, a: &Auction) -> Result<Campaign, NotPosted> {
        self.view
            .campaign(a.campaign)
            .ok()
            .flatten()
            .ok_or_else(|| NotPosted::Broken(format!("campaign {} is missing", a.campaign)))
    }

    fn handle(&self, user: store::UserId) -> Result<String, NotPosted> {
        self.view
            .user(user)
            .ok()
            .flatten()
            .map(|u| u.handle)
            .ok_or_else(|| NotPosted::Broken(format!("user {user} is missing")))
    }

    fn bid(&self, id: store::BidId) -> Result<store::Bid, NotPosted> {
        self.view
            .bid(id)
            .ok()
            .flatten()
            .ok_or_else(|| NotPosted::Broken(format!("bid {id} is missing")))
    }

    fn fresh(&self, row: &OutboxEntry) -> Result<(), NotPosted> {
        if self.now.micros_since(row.created_at) > REPLY_FRESH_SECS * 1_000_000 {
            return Err(NotPosted::Stale(
                "a reply more than 30 minutes old is no longer useful".into(),
            ));
        }
        Ok(())
    }
}

fn zone(c: &Campaign) -> Tz {
    parse_zone(&c.timezone).unwrap_or(chrono_tz::America::New_York)
}

/// `16:00 EST`, in the campaign's zone.
fn clock_time(t: Timestamp, tz: Tz) -> String {
    t.to_datetime()
        .with_timezone(&tz)
        .format("%H:%M %Z")
        .to_string()
}

/// `1 h 12 min`, `4 min`, `40 s`.
fn time_left(now: Timestamp, end: Timestamp) -> String {
    let secs = end.micros_since(now).max(0) / 1_000_000;
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Fills `template` (`{name}` stands for the item's name) so it fits, shortening only the name.
fn fit(template: &str, name: &str) -> String {
    let fixed = weighted_len(&template.replace("{name}", ""));
    let room = (MAX_WEIGHT / 100).saturating_sub(fixed);
    let text = template.replace("{name}", &shorten(name, room.max(8)));
    shorten(&text, MAX_WEIGHT / 100)
}

fn tweet_of(source: &BidSource) -> Option<String> {
    match source {
        BidSource::Tweet(id) | BidSource::Proxy(id) => Some(id.clone()),
        _ => None,
    }
}

/// Renders an outbox row as a tweet, or says why it will not be posted.
pub fn render(view: &impl View, row: &OutboxEntry, now: Timestamp) -> Result<Rendered, NotPosted> {
    let cx = Ctx { view, now };
    match &row.notice {
        Notice::BidAccepted { bid } => {
            cx.fresh(row)?;
            let bid = cx.bid(*bid)?;
            let a = cx.auction(bid.auction.ok_or_else(|| {
                NotPosted::Broken(format!("accepted bid {} has no auction", bid.id))
            })?)?;
            let item = cx.item(&a)?;
            let who = cx.handle(bid.bidder)?;
            let standing = if a.leading_bid == Some(bid.id) {
                format!("leads with {} left", time_left(now, a.ends_at))
            } else {
                format!("was accepted; {} ETH leads now", a.price.eth_string())
            };
            Ok(Rendered {
                text: fit(
                    &format!(
                        "@{who} Your bid of {} ETH on {{name}} {standing}.",
                        bid.amount.eth_string()
                    ),
                    &item.name,
                ),
                reply_to: tweet_of(&bid.source),
            })
        }
        Notice::BidRejected { bid } => {
            cx.fresh(row)?;
            let bid = cx.bid(*bid)?;
            let who = cx.handle(bid.bidder)?;
            let why = bid
                .rejection
                .as_ref()
                .map_or("it was refused.", |r| r.message.as_str());
            Ok(Rendered {
                text: shorten(
                    &format!(
                        "@{who} Your bid of {} ETH did not count: {why}",
                        bid.amount.eth_string()
                    ),
                    MAX_WEIGHT / 100,
                ),
                reply_to: tweet_of(&bid.source),
            })
        }
        Notice::Outbid { bid, by } => {
            cx.fresh(row)?;
            let mine = cx.bid(*bid)?;
            let theirs = cx.bid(*by)?;
            let a = cx.auction(
                theirs
                    .auction
                    .ok_or_else(|| NotPosted::Broken(format!("bid {by} has no auction")))?,
            )?;
            if !matches!(a.state, store::AuctionState::Active) {
                return Err(NotPosted::Stale("bidding has closed".into()));
            }
            let item = cx.item(&a)?;
            let who = cx.handle(mine.bidder)?;
            Ok(Rendered {
                text: fit(
                    &format!(
                        "@{who} You were outbid on {{name}}: {} ETH leads. Reply bid {} ETH or more to lead again ({} left).",
                        a.price.eth_string(),
                        minimum_bid(&a).eth_string(),
                        time_left(now, a.ends_at)
                    ),
                    &item.name,
                ),
                reply_to: tweet_of(&mine.source),
            })
        }
        Notice::AuctionResult { auction } => {
            let a = cx.auction(*auction)?;
            let item = cx.item(&a)?;
            let event = view
                .events_after(row.event_seq.saturating_sub(1), 1)
                .ok()
                .and_then(|v| v.into_iter().next())
                .filter(|e| matches!(e.event, Event::AuctionSettled { .. }))
                .ok_or_else(|| {
                    NotPosted::Broken(format!(
                        "event {} is not the settlement of auction {auction}",
                        row.event_seq
                    ))
                })?;
            let proof = format!(
                "Event log #{}: {}",
                event.seq,
                alloy_primitives::hex::encode(event.hash)
            );
            let text = match a.leader {
                Some(winner) => fit(
                    &format!(
                        "SOLD: {{name}} to @{} for {} ETH. {proof}",
                        cx.handle(winner)?,
                        a.price.eth_string()
                    ),
                    &item.name,
                ),
                None => fit(
                    &format!("{{name}} went unsold: no bid met the reserve. {proof}"),
                    &item.name,
                ),
            };
            Ok(Rendered {
                text,
                reply_to: None,
            })
        }
        Notice::AuctionOpened { auction } => {
            let a = cx.auction(*auction)?;
            if a.state != store::AuctionState::Active {
                return Err(NotPosted::Stale("the auction is no longer open".into()));
            }
            let item = cx.item(&a)?;
            let c = cx.campaign(&a)?;
            let by = if item.artist.is_empty() {
                String::new()
            } else {
                format!(" by {}", shorten(&item.artist, 40))
            };
            Ok(Rendered {
                text: fit(
                    &format!(
                        "Bidding is open: {{name}}{by}. Reserve {} ETH, until {}. Reply @{} bid <amount> ETH.",
                        a.rules.reserve.eth_string(),
                        clock_time(a.ends_at, zone(&c)),
                        c.host_handle
                    ),
                    &item.name,
                ),
                reply_to: None,
            })
        }
        Notice::FinalMinutes { auction } => {
            let a = cx.auction(*auction)?;
            if a.state != store::AuctionState::Active || now >= a.ends_at {
                return Err(NotPosted::Stale("bidding has closed".into()));
            }
            let item = cx.item(&a)?;
            let c = cx.campaign(&a)?;
            let standing = match a.leader {
                Some(l) => format!("{} ETH leads (@{})", a.price.eth_string(), cx.handle(l)?),
                None => format!("no bid yet, reserve {} ETH", a.rules.reserve.eth_string()),
            };
            Ok(Rendered {
                text: fit(
                    &format!(
                        "Last {} for {{name}}: {standing}. Ends {}; a bid in the last {} min extends it.",
                        time_left(now, a.ends_at),
                        clock_time(a.ends_at, zone(&c)),
                        a.rules.extension_secs / 60
                    ),
                    &item.name,
                ),
                reply_to: None,
            })
        }
        Notice::Reminder {
            auction,
            user,
            tweet,
        } => {
            let a = cx.auction(*auction)?;
            if a.state != store::AuctionState::Pending && a.state != store::AuctionState::Active {
                return Err(NotPosted::Stale("the auction is over".into()));
            }
            let item = cx.item(&a)?;
            let c = cx.campaign(&a)?;
            let who = cx.handle(*user)?;
            let when = if a.state == store::AuctionState::Active {
                "is open now".to_string()
            } else {
                format!("opens at {}", clock_time(a.starts_at, zone(&c)))
            };
            Ok(Rendered {
                text: fit(&format!("@{who} As promised: {{name}} {when}."), &item.name),
                reply_to: Some(tweet.clone()),
            })
        }
        Notice::HostPost { auction, text } => {
            cx.fresh(row)?;
            let a = cx.auction(*auction)?;
            if a.state != store::AuctionState::Pending {
                return Err(NotPosted::Stale("the auction has opened".into()));
            }
            Ok(Rendered {
                text: shorten(text, MAX_WEIGHT / 100),
                reply_to: None,
            })
        }
        Notice::TweetReply { tweet } => {
            cx.fresh(row)?;
            let t = view
                .tweet(tweet)
                .ok()
                .flatten()
                .ok_or_else(|| NotPosted::Broken(format!("tweet {tweet} is not recorded")))?;
            let who = cx.handle(t.author)?;
            Ok(Rendered {
                text: shorten(&format!("@{who} {}", t.message), MAX_WEIGHT / 100),
                reply_to: Some(t.id),
            })
        }
        Notice::DepositCredited { deposit } => {
            cx.fresh(row)?;
            let d = view
                .deposit(*deposit)
                .ok()
                .flatten()
                .ok_or_else(|| NotPosted::Broken(format!("deposit {deposit} is missing")))?;
            let user = d
                .user
                .ok_or_else(|| NotPosted::Broken(format!("deposit {deposit} is not credited")))?;
            let free = view
                .balance(user)
                .map_err(|e| NotPosted::Broken(e.to_string()))?
                .available();
            Ok(Rendered {
                text: format!(
                    "@{} Your deposit of {} ETH is credited: {} ETH free to bid.",
                    cx.handle(user)?,
                    d.amount.eth_string(),
                    free.eth_string()
                ),
                reply_to: None,
            })
        }
        Notice::TokenDelivered { auction, tx } => {
            let a = cx.auction(*auction)?;
            let item = cx.item(&a)?;
            let winner = a
                .leader
                .ok_or_else(|| NotPosted::Broken(format!("auction {auction} has no winner")))?;
            Ok(Rendered {
                text: fit(
                    &format!(
                        "@{} {{name}} is in your wallet. Transfer: {tx}",
                        cx.handle(winner)?
                    ),
                    &item.name,
                ),
                reply_to: None,
            })
        }
        Notice::RunnerUp { auction, user, bid } => {
            let a = cx.auction(*auction)?;
            let item = cx.item(&a)?;
            let winner = a
                .leader
                .ok_or_else(|| NotPosted::Broken(format!("auction {auction} has no winner")))?;
            let best = cx.bid(*bid)?;
            Ok(Rendered {
                text: fit(
                    &format!(
                        "@{} {{name}} sold for {} ETH to @{}; your best bid was {} ETH. Thank you for bidding!",
                        cx.handle(*user)?,
                        a.price.eth_string(),
                        cx.handle(winner)?,
                        best.amount.eth_string()
                    ),
                    &item.name,
                ),
                reply_to: tweet_of(&best.source),
            })
        }
        Notice::TransferNft { .. } | Notice::PayTreasury { .. } | Notice::Refund { .. } => Err(
            NotPosted::Broken("a chain transaction is not a tweet".into()),
        ),
    }
}

/// One tweet for several outbid notices of the same auction, when more than one is pending:
/// `@a @b @c You were outbid on …` names every bidder it has room for (X notifies each), so one
/// post under the posting limit tells them all. Returns the tweet and the rows it answers (at
/// least two, in the order given), or `None` when fewer than two can share one.
pub fn render_outbids(
    view: &impl View,
    rows: &[&OutboxEntry],
    now: Timestamp,
) -> Option<(Rendered, Vec<store::OutboxId>)> {
    let cx = Ctx { view, now };
    let mut auction: Option<Auction> = None;
    let mut named: Vec<(store::OutboxId, String)> = Vec::new();
    for row in rows {
        let Notice::Outbid { bid, by } = &row.notice else {
            continue;
        };
        if cx.fresh(row).is_err() {
            continue;
        }
        let (Ok(mine), Ok(theirs)) = (cx.bid(*bid), cx.bid(*by)) else {
            continue;
        };
        let Some(a) = theirs.auction.and_then(|id| cx.auction(id).ok()) else {
            continue;
        };
        if a.state != store::AuctionState::Active || auction.as_ref().is_some_and(|x| x.id != a.id)
        {
            continue;
        }
        let Ok(who) = cx.handle(mine.bidder) else {
            continue;
        };
        if !named.iter().any(|(_, h)| *h == who) {
            named.push((row.id, who));
        }
        auction.get_or_insert(a);
    }
    let a = auction?;
    let item = cx.item(&a).ok()?;
    let body = format!(
        "You were outbid on {}: {} ETH leads. Reply bid {} ETH or more to lead again ({} left).",
        shorten(&item.name, 40),
        a.price.eth_string(),
        minimum_bid(&a).eth_string(),
        time_left(now, a.ends_at)
    );
    let room = (MAX_WEIGHT / 100).saturating_sub(weighted_len(&body));
    let mut mentions = String::new();
    let mut ids = Vec::new();
    for (id, who) in named {
        let next = format!("@{who} ");
        if weighted_len(&mentions) + weighted_len(&next) > room {
            break;
        }
        mentions.push_str(&next);
        ids.push(id);
    }
    (ids.len() >= 2).then(|| {
        (
            Rendered {
                text: format!("{mentions}{body}"),
                reply_to: None,
            },
            ids,
        )
    })
}

/// Makes `text` differ from the previous tweet (X refuses the same text twice in a row).
pub fn unlike(text: String, previous: Option<&str>, now: Timestamp) -> String {
    if previous != Some(text.as_str()) {
        return text;
    }
    let stamp = format!(" ({})", now.to_datetime().format("%H:%M:%S UTC"));
    let room = (MAX_WEIGHT / 100).saturating_sub(weighted_len(&stamp));
    format!("{}{stamp}", shorten(&text, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_x() {
        assert_eq!(weighted_len("hello"), 5);
        assert_eq!(weighted_len("日本"), 4);
        assert_eq!(weighted_len("🎨"), 2);
        let long = "日".repeat(200);
        let cut = shorten(&long, 280);
        assert!(weighted_len(&cut) <= 280);
        assert!(cut.ends_with('…'));
        assert_eq!(shorten("short", 280), "short");
    }

    #[test]
    fn long_names_are_cut_not_amounts() {
        let text = fit(
            "SOLD: {name} to @alice for 1.25 ETH. Event log #9: 00ff",
            &"Very Long Title ".repeat(40),
        );
        assert!(weighted_len(&text) <= 280, "{}", weighted_len(&text));
        assert!(text.contains("to @alice for 1.25 ETH. Event log #9: 00ff"));
    }

    #[test]
    fn a_repeat_is_made_different() {
        let now = Timestamp::parse_rfc3339("2026-11-22T14:00:05Z").unwrap();
        assert_eq!(unlike("a".into(), Some("b"), now), "a");
        assert_eq!(unlike("a".into(), Some("a"), now), "a (14:00:05 UTC)");
        let full = "x".repeat(280);
        let changed = unlike(full.clone(), Some(&full), now);
        assert_ne!(changed, full);
        assert!(weighted_len(&changed) <= 280);
    }
}
