//! Auctions and their bids, one auction in detail, and campaigns as their forms show them.

use super::*;

/// An auction at a glance.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuctionView {
    /// Id.
    pub id: u64,
    /// Campaign.
    pub campaign: u64,
    /// Day of the campaign.
    pub day: u32,
    /// `pending`, `active`, `paused`, `processing`, `completed`, `cancelled`.
    pub state: String,
    /// Item name.
    pub item: String,
    /// Artist line.
    pub artist: String,
    /// Price in ETH.
    pub price_eth: String,
    /// Price in wei.
    pub price_wei: String,
    /// Reserve in ETH.
    pub reserve_eth: String,
    /// Leader's handle.
    pub leader: Option<String>,
    /// Bidding opens (RFC 3339).
    pub starts_at: String,
    /// Bidding ends (RFC 3339, after extensions).
    pub ends_at: String,
    /// Accepted bids.
    pub bids_accepted: u32,
    /// Refused bids.
    pub bids_rejected: u32,
    /// Extensions so far.
    pub extensions: u32,
}

/// An auction as the API shows it.
pub fn auction_view(r: &Reader, a: &Auction) -> Result<AuctionView> {
    let item = s(r.item(a.item))?;
    Ok(AuctionView {
        id: a.id.0,
        campaign: a.campaign.0,
        day: a.day,
        state: a.state.as_str().to_string(),
        item: item.as_ref().map_or_else(String::new, |i| i.name.clone()),
        artist: item.map_or_else(String::new, |i| i.artist),
        price_eth: eth(a.price),
        price_wei: a.price.0.to_string(),
        reserve_eth: eth(a.rules.reserve),
        leader: a.leader.map(|l| handle(r, l)).transpose()?,
        starts_at: a.starts_at.rfc3339(),
        ends_at: a.ends_at.rfc3339(),
        bids_accepted: a.bids_accepted,
        bids_rejected: a.bids_rejected,
        extensions: a.extensions,
    })
}

/// Every auction, in schedule order.
pub fn auctions(r: &Reader) -> Result<Vec<AuctionView>> {
    s(r.auctions())?
        .iter()
        .map(|a| auction_view(r, a))
        .collect()
}

/// The auction that matters now: the live one, else the next, else the last.
pub fn current_auction(r: &Reader) -> Result<Option<Auction>> {
    let all = s(r.auctions())?;
    let live = all
        .iter()
        .find(|a| matches!(a.state, AuctionState::Active | AuctionState::Paused));
    let next = all
        .iter()
        .filter(|a| a.state == AuctionState::Pending)
        .min_by_key(|a| a.starts_at);
    let last = all
        .iter()
        .filter(|a| a.state.is_final() || a.state == AuctionState::Processing)
        .max_by_key(|a| a.ends_at);
    Ok(live.or(next).or(last).cloned())
}

/// A bid.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BidRow {
    /// Id.
    pub id: u64,
    /// Auction.
    pub auction: Option<u64>,
    /// Bidder's X id.
    pub bidder: String,
    /// Bidder's handle.
    pub handle: String,
    /// Amount in ETH.
    pub amount_eth: String,
    /// Amount in wei.
    pub amount_wei: String,
    /// When (RFC 3339).
    pub at: String,
    /// `leading`, `outbid`, `won`, `rejected`, `void`.
    pub status: String,
    /// Why it was refused or voided.
    pub reason: Option<String>,
    /// Where it came from (`tweet:…`, `operator:…`, `simulated`).
    pub source: String,
}

/// A bid as the API shows it.
pub fn bid_row(r: &Reader, bid: &Bid) -> Result<BidRow> {
    let auction = match bid.auction {
        Some(a) => s(r.auction(a))?,
        None => None,
    };
    let voided = s(r.bid_voided(bid.id))?;
    let status = if voided.is_some() {
        "void".to_string()
    } else {
        bid.standing(auction.as_ref()).as_str().to_string()
    };
    Ok(BidRow {
        id: bid.id.0,
        auction: bid.auction.map(|a| a.0),
        bidder: bid.bidder.to_string(),
        handle: handle(r, bid.bidder)?,
        amount_eth: eth(bid.amount),
        amount_wei: bid.amount.0.to_string(),
        at: bid.placed_at.rfc3339(),
        status,
        reason: voided.or_else(|| {
            bid.rejection
                .as_ref()
                .map(|x| format!("{}: {}", x.code, x.message))
        }),
        source: bid.source.key().unwrap_or_else(|| "simulated".into()),
    })
}

/// An auction with its bids.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuctionDetail {
    /// The auction.
    pub auction: AuctionView,
    /// Its bids, in order.
    pub bids: Vec<BidRow>,
}

/// One auction and its bids.
pub fn auction_detail(r: &Reader, id: u64) -> Result<Option<AuctionDetail>> {
    let Some(a) = s(r.auction(store::AuctionId(id)))? else {
        return Ok(None);
    };
    let bids = s(r.bids_of_auction(a.id))?
        .iter()
        .map(|b| bid_row(r, b))
        .collect::<Result<_>>()?;
    Ok(Some(AuctionDetail {
        auction: auction_view(r, &a)?,
        bids,
    }))
}

/// A campaign as the edit form shows it: the spec the engine takes, plus its id.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignView {
    /// Id.
    pub id: u64,
    /// The campaign as `create_campaign` takes it (items in order).
    #[salvo(schema(value_type = Object))]
    pub spec: Value,
    /// Its auctions' states, by day.
    pub days: Vec<String>,
}

/// Every campaign.
pub fn campaigns(r: &Reader) -> Result<Vec<CampaignView>> {
    let auctions = s(r.auctions())?;
    let mut out = Vec::new();
    for c in s(r.campaigns())? {
        let mut items = Vec::new();
        for id in &c.items {
            if let Some(i) = s(r.item(*id))? {
                items.push(serde_json::json!({
                    "name": i.name, "artist": i.artist, "image": i.image, "token": i.token,
                }));
            }
        }
        let spec = serde_json::json!({
            "name": c.name,
            "start_date": c.start_date,
            "days": c.days,
            "timezone": c.timezone,
            "windows": c.windows,
            "rules": c.rules,
            "host_handle": c.host_handle,
            "items": items,
        });
        let mut days: Vec<(u32, String)> = auctions
            .iter()
            .filter(|a| a.campaign == c.id)
            .map(|a| (a.day, a.state.as_str().to_string()))
            .collect();
        days.sort();
        out.push(CampaignView {
            id: c.id.0,
            spec,
            days: days.into_iter().map(|(_, s)| s).collect(),
        });
    }
    Ok(out)
}
