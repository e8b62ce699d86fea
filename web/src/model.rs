//! What the pages and the JSON API show, built from one store snapshot (and the status): the same
//! structures serve both, so the page and the API cannot disagree.

use salvo::oapi::ToSchema;
use serde::Serialize;
use serde_json::Value;
use store::{
    Auction, AuctionState, Bid, Channel, Deposit, Event, Notice, OutboxEntry, OutboxStatus, Reader,
    Timestamp, UserId, View, Wei,
};

/// Store errors as text (the API turns them into 500s).
pub type Result<T> = std::result::Result<T, String>;

fn s<T>(r: store::Result<T>) -> Result<T> {
    r.map_err(|e| e.to_string())
}

fn handle(r: &Reader, user: UserId) -> Result<String> {
    Ok(s(r.user(user))?.map_or_else(|| user.to_string(), |u| u.handle))
}

/// An amount for people: ETH, exact.
fn eth(w: Wei) -> String {
    w.eth_string()
}

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

/// A tweet taken in.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TweetRow {
    /// X id.
    pub id: String,
    /// Author's handle.
    pub handle: String,
    /// Text.
    pub text: String,
    /// What it meant.
    pub kind: String,
    /// Why it was refused or ignored.
    pub reason: Option<String>,
    /// When it was taken in (RFC 3339).
    pub at: String,
}

/// The newest `limit` tweets and the newest events, scanning at most `scan` events back.
fn recent_tweets(r: &Reader, limit: usize, scan: usize) -> Result<Vec<TweetRow>> {
    let head = s(r.head())?.map_or(0, |h| h.seq);
    let mut out = Vec::new();
    for e in s(r.events_before(head + 1, scan))? {
        if let Event::TweetReceived { tweet } = &e.event {
            out.push(TweetRow {
                id: tweet.id.clone(),
                handle: handle(r, tweet.author)?,
                text: tweet.text.clone(),
                kind: tweet.kind.as_str().to_string(),
                reason: tweet.reason.clone(),
                at: tweet.received_at.rfc3339(),
            });
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Something the operator should look at.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Alert {
    /// `error` or `warning`.
    pub level: String,
    /// What.
    pub message: String,
}

/// The campaign around the current auction.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignDay {
    /// Campaign name.
    pub name: String,
    /// Today's day number.
    pub day: u32,
    /// Days in all.
    pub days: u32,
}

/// The dashboard, as the page first shows it and as every live update carries it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Dashboard {
    /// The event log's head when this was built.
    pub seq: u64,
    /// When this was built (ms since the epoch).
    pub built_at_ms: i64,
    /// The auction that matters now.
    pub auction: Option<AuctionView>,
    /// The campaign day.
    pub campaign: Option<CampaignDay>,
    /// Its latest bids, newest first.
    pub last_bids: Vec<BidRow>,
    /// The latest tweets, newest first.
    pub last_tweets: Vec<TweetRow>,
    /// Stream health (fps, bit rate, drops, reconnects, encoder), as the stream reports it.
    #[salvo(schema(value_type = Object))]
    pub stream: Value,
    /// The host's mood and last line.
    #[salvo(schema(value_type = Object))]
    pub host: Value,
    /// What needs attention.
    pub alerts: Vec<Alert>,
}

/// What the status says needs attention.
pub fn alerts(status: &Value) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut add = |level: &str, message: String| {
        out.push(Alert {
            level: level.into(),
            message,
        })
    };
    let stream = &status["stream"];
    if stream["running"] == true && stream["publishing"] == true && stream["connected"] == false {
        add(
            "error",
            format!(
                "The stream is not reaching the ingest: {}",
                stream["last_error"].as_str().unwrap_or("disconnected")
            ),
        );
    }
    let c = &status["connections"];
    if let Some(chain) = c["chain"].as_object() {
        let last = chain["rpc_last_error"].as_str().unwrap_or("");
        if !last.is_empty() {
            add("warning", format!("An RPC provider is failing: {last}"));
        }
        if chain["tx_failed"].as_u64().unwrap_or(0) > 0 {
            add(
                "error",
                format!(
                    "A chain transaction failed: {}",
                    chain["tx_last_error"].as_str().unwrap_or("")
                ),
            );
        }
    }
    for poll in c["x_polls"].as_array().into_iter().flatten() {
        let last = poll["last_error"].as_str().unwrap_or("");
        if last.contains("rate limited") {
            add(
                "warning",
                format!(
                    "X is rate-limiting the {} reads",
                    poll["source"].as_str().unwrap_or("")
                ),
            );
        } else if !last.is_empty() && poll["errors"].as_u64().unwrap_or(0) > 0 {
            add("warning", format!("Reading X failed: {last}"));
        }
    }
    if c["tweets"]["failed"].as_u64().unwrap_or(0) > 0 {
        add(
            "warning",
            format!(
                "A tweet could not be posted: {}",
                c["tweets"]["last_error"].as_str().unwrap_or("")
            ),
        );
    }
    out
}

/// Builds the dashboard.
pub fn dashboard(r: &Reader, status: &Value, now_ms: i64) -> Result<Dashboard> {
    let current = current_auction(r)?;
    let mut last_bids = Vec::new();
    let mut campaign = None;
    if let Some(a) = &current {
        for b in s(r.recent_bids_of_auction(a.id, 10))? {
            last_bids.push(bid_row(r, &b)?);
        }
        if let Some(c) = s(r.campaign(a.campaign))? {
            campaign = Some(CampaignDay {
                name: c.name,
                day: a.day,
                days: c.days,
            });
        }
    }
    Ok(Dashboard {
        seq: s(r.head())?.map_or(0, |h| h.seq),
        built_at_ms: now_ms,
        auction: current.as_ref().map(|a| auction_view(r, a)).transpose()?,
        campaign,
        last_bids,
        last_tweets: recent_tweets(r, 10, 2000)?,
        stream: status["stream"].clone(),
        host: status["stream"]["host"].clone(),
        alerts: alerts(status),
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

/// A bidder with their escrow.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BidderRow {
    /// X id.
    pub id: String,
    /// Handle.
    pub handle: String,
    /// X account created (RFC 3339).
    pub account_created: String,
    /// Simulated bidder.
    pub simulated: bool,
    /// Linked wallet.
    pub wallet: Option<String>,
    /// Whether the link was proven by signature.
    pub verified: bool,
    /// Credited deposits, ETH.
    pub deposited_eth: String,
    /// Committed to leading bids, ETH.
    pub leading_eth: String,
    /// Won, ETH.
    pub won_eth: String,
    /// Refunded, ETH.
    pub withdrawn_eth: String,
    /// Free to bid, ETH.
    pub available_eth: String,
}

fn bidder_row(r: &Reader, u: &store::User) -> Result<BidderRow> {
    let w = s(r.wallet(u.id))?;
    let b = s(r.balance(u.id))?;
    Ok(BidderRow {
        id: u.id.to_string(),
        handle: u.handle.clone(),
        account_created: u.account_created.rfc3339(),
        simulated: u.simulated,
        wallet: w.as_ref().map(|w| w.address.to_string()),
        verified: w.is_some_and(|w| w.verified),
        deposited_eth: eth(b.deposited),
        leading_eth: eth(b.leading),
        won_eth: eth(b.won),
        withdrawn_eth: eth(b.withdrawn),
        available_eth: eth(b.available()),
    })
}

/// Every bidder.
pub fn bidders(r: &Reader) -> Result<Vec<BidderRow>> {
    s(r.users())?.iter().map(|u| bidder_row(r, u)).collect()
}

/// A deposit.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DepositRow {
    /// Id.
    pub id: u64,
    /// Sending wallet.
    pub from: String,
    /// Bidder it is credited to.
    pub handle: Option<String>,
    /// ETH.
    pub amount_eth: String,
    /// Chain reference.
    pub reference: String,
    /// When recorded (RFC 3339).
    pub at: String,
    /// `credited`, `held` (wallet not linked) or `reverted`.
    pub state: String,
}

fn deposit_row(r: &Reader, d: &Deposit) -> Result<DepositRow> {
    let state = if s(r.deposit_reverted(d.id))?.is_some() {
        "reverted"
    } else if d.user.is_some() {
        "credited"
    } else {
        "held"
    };
    Ok(DepositRow {
        id: d.id.0,
        from: d.from.to_string(),
        handle: d.user.map(|u| handle(r, u)).transpose()?,
        amount_eth: eth(d.amount),
        reference: d.reference.clone(),
        at: d.at.rfc3339(),
        state: state.into(),
    })
}

/// A refund.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WithdrawalRow {
    /// Id.
    pub id: u64,
    /// Bidder.
    pub handle: String,
    /// Wallet paid.
    pub to: String,
    /// ETH.
    pub amount_eth: String,
    /// When requested (RFC 3339).
    pub at: String,
    /// Who asked.
    pub requested_by: String,
}

/// A bidder with everything they did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BidderDetail {
    /// The bidder.
    pub bidder: BidderRow,
    /// Their bids.
    pub bids: Vec<BidRow>,
    /// Their deposits.
    pub deposits: Vec<DepositRow>,
    /// Their refunds.
    pub withdrawals: Vec<WithdrawalRow>,
}

/// One bidder.
pub fn bidder_detail(r: &Reader, id: u64) -> Result<Option<BidderDetail>> {
    let Some(u) = s(r.user(UserId(id)))? else {
        return Ok(None);
    };
    let bids = s(r.bids_of_user(u.id))?
        .iter()
        .map(|b| bid_row(r, b))
        .collect::<Result<_>>()?;
    let deposits = s(r.deposits())?
        .iter()
        .filter(|d| d.user == Some(u.id))
        .map(|d| deposit_row(r, d))
        .collect::<Result<_>>()?;
    let withdrawals = s(r.withdrawals())?
        .iter()
        .filter(|w| w.user == u.id)
        .map(|w| WithdrawalRow {
            id: w.id.0,
            handle: u.handle.clone(),
            to: w.to.to_string(),
            amount_eth: eth(w.amount),
            at: w.requested_at.rfc3339(),
            requested_by: w.requested_by.clone(),
        })
        .collect();
    Ok(Some(BidderDetail {
        bidder: bidder_row(r, &u)?,
        bids,
        deposits,
        withdrawals,
    }))
}

/// An audited action.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditRow {
    /// Event number.
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// What.
    pub action: String,
    /// Who.
    pub actor: String,
    /// From where.
    pub origin: String,
    /// Why.
    pub reason: String,
    /// Details.
    pub detail: String,
}

/// The newest `limit` audited actions, scanning at most `scan` events back.
pub fn audit(r: &Reader, limit: usize, scan: usize) -> Result<Vec<AuditRow>> {
    let head = s(r.head())?.map_or(0, |h| h.seq);
    let mut out = Vec::new();
    for e in s(r.events_before(head + 1, scan))? {
        let Some(a) = e.event.audit() else { continue };
        let (action, detail) = match &e.event {
            Event::AdminAction { action, detail, .. } => (action.clone(), detail.clone()),
            other => (
                other.kind().to_string(),
                other
                    .auction()
                    .map_or_else(String::new, |a| format!("auction {a}")),
            ),
        };
        out.push(AuditRow {
            seq: e.seq,
            at: e.at.rfc3339(),
            action,
            actor: a.actor.clone(),
            origin: a.origin.clone(),
            reason: a.reason.clone(),
            detail,
        });
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// An outbox row.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OutboxRow {
    /// Id.
    pub id: u64,
    /// `x` or `chain`.
    pub channel: String,
    /// What (`bid_accepted`, `transfer_nft`, ...).
    pub kind: String,
    /// `pending`, `held`, `sending`, `signed`, `sent`, `failed`, `skipped`.
    pub status: String,
    /// The text, the transaction, the error or the reason.
    pub detail: String,
    /// When queued (RFC 3339).
    pub created_at: String,
    /// Attempts.
    pub attempts: u32,
}

fn outbox_row(row: &OutboxEntry) -> OutboxRow {
    let (status, detail) = match &row.status {
        OutboxStatus::Pending => ("pending", String::new()),
        OutboxStatus::Held => ("held", "waiting for approval".into()),
        OutboxStatus::Sending { text, .. } => ("sending", text.clone()),
        OutboxStatus::Signed { tx_hash, nonce, .. } => {
            ("signed", format!("{tx_hash} (nonce {nonce})"))
        }
        OutboxStatus::Sent { external_id, .. } => ("sent", external_id.clone()),
        OutboxStatus::Failed { error, .. } => ("failed", error.clone()),
        OutboxStatus::Skipped { reason, .. } => ("skipped", reason.clone()),
    };
    OutboxRow {
        id: row.id.0,
        channel: match row.notice.channel() {
            Channel::X => "x".into(),
            Channel::Chain => "chain".into(),
        },
        kind: row.notice.kind().into(),
        status: status.into(),
        detail,
        created_at: row.created_at.rfc3339(),
        attempts: row.attempts,
    }
}

/// Outbox rows, newest first (`open`: only those still to deliver).
pub fn outbox(r: &Reader, open: bool, limit: usize) -> Result<Vec<OutboxRow>> {
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let page = s(r.outbox_after(after, 1024))?;
        let Some(last) = page.last() else { break };
        after = last.id.0;
        rows.extend(
            page.iter()
                .filter(|x| !open || x.status.is_open())
                .map(outbox_row),
        );
    }
    rows.reverse();
    rows.truncate(limit);
    Ok(rows)
}

/// One day of the campaign, for the daily report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DailyRow {
    /// Day.
    pub day: u32,
    /// Date bidding opened (RFC 3339).
    pub starts_at: String,
    /// Item.
    pub item: String,
    /// Final state.
    pub state: String,
    /// Winner.
    pub winner: Option<String>,
    /// Price, ETH.
    pub price_eth: String,
    /// Accepted bids.
    pub bids_accepted: u32,
    /// Refused bids.
    pub bids_rejected: u32,
    /// Distinct bidders.
    pub bidders: usize,
    /// Extensions.
    pub extensions: u32,
}

/// One row per auction.
pub fn daily(r: &Reader) -> Result<Vec<DailyRow>> {
    let mut out = Vec::new();
    for a in s(r.auctions())? {
        let view = auction_view(r, &a)?;
        let mut bidders: Vec<UserId> = s(r.bids_of_auction(a.id))?
            .iter()
            .map(|b| b.bidder)
            .collect();
        bidders.sort();
        bidders.dedup();
        out.push(DailyRow {
            day: a.day,
            starts_at: view.starts_at,
            item: view.item,
            state: view.state,
            winner: if a.state == AuctionState::Completed {
                view.leader
            } else {
                None
            },
            price_eth: view.price_eth,
            bids_accepted: a.bids_accepted,
            bids_rejected: a.bids_rejected,
            bidders: bidders.len(),
            extensions: a.extensions,
        });
    }
    Ok(out)
}

/// The campaign's performance.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignReport {
    /// Auctions.
    pub auctions: usize,
    /// Sold.
    pub sold: usize,
    /// Unsold or cancelled.
    pub unsold: usize,
    /// Still to run or running.
    pub open: usize,
    /// Total sales, ETH.
    pub sales_eth: String,
    /// Average sale, ETH.
    pub average_sale_eth: String,
    /// Accepted bids.
    pub bids_accepted: u64,
    /// Refused bids.
    pub bids_rejected: u64,
    /// Accounts seen.
    pub accounts: usize,
    /// Credited deposits, ETH.
    pub deposits_eth: String,
}

/// Totals.
pub fn campaign_report(r: &Reader) -> Result<CampaignReport> {
    let auctions = s(r.auctions())?;
    let sold: Vec<&Auction> = auctions
        .iter()
        .filter(|a| a.state == AuctionState::Completed && a.leader.is_some())
        .collect();
    let total = sold
        .iter()
        .fold(Wei::ZERO, |t, a| t.checked_add(a.price).unwrap_or(t));
    let deposits = s(r.deposits())?
        .iter()
        .filter(|d| d.user.is_some())
        .filter(|d| r.deposit_reverted(d.id).is_ok_and(|x| x.is_none()))
        .fold(Wei::ZERO, |t, d| t.checked_add(d.amount).unwrap_or(t));
    let open = auctions.iter().filter(|a| !a.state.is_final()).count();
    Ok(CampaignReport {
        auctions: auctions.len(),
        sold: sold.len(),
        unsold: auctions.iter().filter(|a| a.state.is_final()).count() - sold.len(),
        open,
        sales_eth: eth(total),
        average_sale_eth: eth(Wei(total.0.checked_div(sold.len() as u128).unwrap_or(0))),
        bids_accepted: auctions.iter().map(|a| u64::from(a.bids_accepted)).sum(),
        bids_rejected: auctions.iter().map(|a| u64::from(a.bids_rejected)).sum(),
        accounts: s(r.users())?.len(),
        deposits_eth: eth(deposits),
    })
}

/// Money moving: a deposit, a refund, a payment to the treasury.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TransactionRow {
    /// When (RFC 3339).
    pub at: String,
    /// `deposit`, `refund`, `treasury_payment`, `token_transfer`.
    pub kind: String,
    /// Who.
    pub party: String,
    /// ETH (empty for a token transfer).
    pub amount_eth: String,
    /// Chain reference or where it stands.
    pub reference: String,
    /// `credited`, `held`, `reverted`, `pending`, `signed`, `sent`, `failed`, ...
    pub state: String,
}

/// Every money movement, oldest first.
pub fn transactions(r: &Reader) -> Result<Vec<TransactionRow>> {
    let mut out = Vec::new();
    for d in s(r.deposits())? {
        let row = deposit_row(r, &d)?;
        out.push(TransactionRow {
            at: row.at,
            kind: "deposit".into(),
            party: row.handle.unwrap_or(row.from),
            amount_eth: row.amount_eth,
            reference: row.reference,
            state: row.state,
        });
    }
    let mut after = 0;
    loop {
        let page = s(r.outbox_after(after, 1024))?;
        let Some(last) = page.last() else { break };
        after = last.id.0;
        for row in page.iter().filter(|x| x.notice.channel() == Channel::Chain) {
            let shown = outbox_row(row);
            let (kind, party, amount) = match &row.notice {
                Notice::Refund { withdrawal } => match s(r.withdrawal(*withdrawal))? {
                    Some(w) => ("refund", handle(r, w.user)?, eth(w.amount)),
                    None => continue,
                },
                Notice::PayTreasury { auction } => match s(r.auction(*auction))? {
                    Some(a) => (
                        "treasury_payment",
                        format!("auction {}", a.id),
                        eth(a.price),
                    ),
                    None => continue,
                },
                Notice::TransferNft { auction } => match s(r.auction(*auction))? {
                    Some(a) => (
                        "token_transfer",
                        a.leader
                            .map(|l| handle(r, l))
                            .transpose()?
                            .unwrap_or_default(),
                        String::new(),
                    ),
                    None => continue,
                },
                _ => continue,
            };
            out.push(TransactionRow {
                at: shown.created_at,
                kind: kind.into(),
                party,
                amount_eth: amount,
                reference: shown.detail,
                state: shown.status,
            });
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(out)
}

/// Accepted bids of an auction as (time, amount in ETH as f64) for the price chart.
pub fn price_series(r: &Reader, auction: u64) -> Result<Vec<(Timestamp, f64)>> {
    Ok(s(r.bids_of_auction(store::AuctionId(auction)))?
        .iter()
        .filter(|b| b.accepted())
        .map(|b| (b.placed_at, b.amount.0 as f64 / 1e18))
        .collect())
}

/// Bids (accepted and refused) per hour since the campaign's first bid.
pub fn bids_per_hour(r: &Reader) -> Result<Vec<(i64, u32)>> {
    let mut counts: std::collections::BTreeMap<i64, u32> = std::collections::BTreeMap::new();
    let mut after = store::BidId(0);
    loop {
        let page = s(r.bids_after(after, 4096))?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for b in &page {
            *counts
                .entry(b.placed_at.secs().div_euclid(3600))
                .or_default() += 1;
        }
    }
    Ok(counts.into_iter().collect())
}
