//! From the auction's state to the scene's view-model: which auction to show, and every string
//! and instant the stream displays.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use scene::{Artwork, Phase, TickerLine, ViewModel};
use store::{Auction, AuctionState, Reader, Timestamp, View, Wei};

use super::host::HostLine;
use domain::engine::rules;

/// Bids shown in the ticker.
const TICKER_ROWS: usize = 6;

/// Reads artwork files from the asset directory, each again only when its file changed (looked
/// at once a second), so an uploaded or replaced picture reaches the stream without a restart.
pub struct ArtworkFiles {
    source: scene::DirAssets,
    cache: HashMap<String, CachedArt>,
}

struct CachedArt {
    stamp: Option<u64>,
    checked: std::time::Instant,
    bytes: Option<Arc<Vec<u8>>>,
}

impl ArtworkFiles {
    /// Artwork under `dir`.
    pub fn new(dir: PathBuf) -> ArtworkFiles {
        ArtworkFiles {
            source: scene::DirAssets(dir),
            cache: HashMap::new(),
        }
    }

    /// The artwork `name` and a stamp that changes with its file.
    fn get(&mut self, name: &str) -> (Option<Arc<Vec<u8>>>, u64) {
        use scene::AssetSource;
        if name.is_empty() {
            return (None, 0);
        }
        let now = std::time::Instant::now();
        if let Some(c) = self.cache.get_mut(name) {
            if now.duration_since(c.checked) < scene::ASSET_REFRESH {
                return (c.bytes.clone(), c.stamp.unwrap_or(0));
            }
            c.checked = now;
            if self.source.stamp(name) == c.stamp {
                return (c.bytes.clone(), c.stamp.unwrap_or(0));
            }
        }
        let stamp = self.source.stamp(name);
        let bytes = self.source.load(name).map(Arc::new);
        if bytes.is_none() {
            tracing::warn!(artwork = name, dir = %self.source.0.display(), "artwork file missing or unreadable; drawing generated art");
        }
        self.cache.insert(
            name.to_string(),
            CachedArt {
                stamp,
                checked: now,
                bytes: bytes.clone(),
            },
        );
        (bytes, stamp.unwrap_or(0))
    }
}

fn eth(w: Wei) -> String {
    format!("{} ETH", w.eth_string())
}

/// The auction the stream is about at `now`: the live one; else one whose pre-auction window
/// has begun; else one still in its post-auction window; else the next one.
pub fn focus(auctions: &[Auction], now: Timestamp) -> Option<&Auction> {
    auctions
        .iter()
        .find(|a| {
            matches!(
                a.state,
                AuctionState::Active | AuctionState::Paused | AuctionState::Processing
            )
        })
        .or_else(|| {
            auctions
                .iter()
                .filter(|a| a.state == AuctionState::Pending && a.pre_start <= now)
                .min_by_key(|a| a.starts_at)
        })
        .or_else(|| {
            auctions
                .iter()
                .filter(|a| a.state.is_final() && a.post_end > now)
                .max_by_key(|a| a.finished_at)
        })
        .or_else(|| {
            auctions
                .iter()
                .filter(|a| a.state == AuctionState::Pending)
                .min_by_key(|a| a.starts_at)
        })
}

/// How long a refused bid stays on the ticker.
const REFUSAL_SHOWN_SECS: i64 = 30;

/// A refusal's reason in a few words, for the picture.
pub fn short_reason(code: &str) -> String {
    match code {
        "below_min_increment" => "below the minimum raise",
        "below_reserve" => "below the reserve",
        "insufficient_escrow" => "not enough escrow",
        "no_wallet" => "no linked wallet",
        "account_too_new" => "account too new",
        "rate_limited" => "too many bids",
        "auction_closed" => "bidding has closed",
        "auction_not_started" => "not open yet",
        "auction_paused" => "bidding is paused",
        "auction_cancelled" => "auction cancelled",
        "no_auction" => "no auction open",
        other => return other.replace('_', " "),
    }
    .to_string()
}

/// The phase the picture shows for an auction.
pub fn phase_of(a: &Auction) -> Phase {
    match a.state {
        AuctionState::Pending => Phase::Pre,
        AuctionState::Active | AuctionState::Processing => Phase::Live,
        AuctionState::Paused => Phase::Paused,
        AuctionState::Completed if a.leader.is_some() => Phase::Sold,
        AuctionState::Completed | AuctionState::Cancelled => Phase::Unsold,
    }
}

/// Builds the view-model of the state in `r` at `now`.
pub fn build(
    r: &Reader,
    now: Timestamp,
    host: &HostLine,
    art: &mut ArtworkFiles,
) -> store::Result<ViewModel> {
    let auctions = r.auctions()?;
    let Some(a) = focus(&auctions, now) else {
        return Ok(ViewModel {
            phase: Phase::Idle,
            campaign: "SothebAIs".into(),
            title: "No auction scheduled".into(),
            caption: "No auction is scheduled right now. See you soon!".into(),
            mood: host.mood,
            ..ViewModel::default()
        });
    };
    let campaign = r.campaign(a.campaign)?;
    let item = r.item(a.item)?;
    let handle = |u: store::UserId| -> store::Result<String> {
        Ok(r.user(u)?
            .map_or_else(|| u.to_string(), |u| format!("@{}", u.handle)))
    };
    let leader = match a.leader {
        Some(u) => handle(u)?,
        None => "No bids yet".into(),
    };
    let phase = phase_of(a);
    let mut ticker = Vec::with_capacity(TICKER_ROWS);
    for bid in r.recent_bids_of_auction(a.id, TICKER_ROWS * 4)? {
        // Refusals show for a while, with why: the picture is the bidder's instant answer.
        let refused = match &bid.rejection {
            None => String::new(),
            Some(_) if now.micros_since(bid.placed_at) > REFUSAL_SHOWN_SECS * 1_000_000 => continue,
            Some(r) => short_reason(&r.code),
        };
        let amount = match bid.source {
            store::BidSource::Proxy(_) => format!("{} proxy", eth(bid.amount)),
            _ => eth(bid.amount),
        };
        ticker.push(TickerLine {
            who: handle(bid.bidder)?,
            amount,
            refused,
        });
        if ticker.len() == TICKER_ROWS {
            break;
        }
    }
    let (title, artist, image) = item.map_or_else(
        || ("Untitled".to_string(), String::new(), String::new()),
        |i| (i.name, i.artist, i.image),
    );
    let ms = |t: Timestamp| t.0.div_euclid(1000);
    let caption = if !host.holds(a.id, phase) {
        match phase {
            Phase::Pre | Phase::Idle => {
                format!("Good evening! Up next: {title}. Bidding opens soon.")
            }
            _ => format!("Welcome! {title} is on the block."),
        }
    } else {
        host.caption.clone()
    };
    Ok(ViewModel {
        phase,
        campaign: campaign
            .as_ref()
            .map_or_else(String::new, |c| c.name.clone()),
        artwork: Some({
            let (bytes, stamp) = art.get(&image);
            Artwork {
                key: format!("item-{}-{image}-{stamp:x}", a.item),
                bytes,
            }
        }),
        title,
        artist,
        price: if a.leading_bid.is_some() {
            eth(a.price)
        } else {
            eth(a.rules.reserve)
        },
        leader,
        reserve: eth(a.rules.reserve),
        min_next: eth(rules::minimum_bid(a)),
        host: campaign
            .as_ref()
            .map_or_else(|| "SothebAIs".into(), |c| c.host_handle.clone()),
        ends_at_ms: Some(ms(a.ends_at)),
        starts_at_ms: Some(ms(a.starts_at)),
        paused_remaining_ms: a.paused_remaining_micros.map(|m| m / 1000),
        extensions: a.extensions,
        ticker,
        day: a.day,
        days: campaign.map_or(a.day, |c| c.days),
        winner: match (phase, a.leader) {
            (Phase::Sold, Some(u)) => handle(u)?,
            _ => String::new(),
        },
        mood: host.mood,
        caption,
        mouth: 0,
    })
}
