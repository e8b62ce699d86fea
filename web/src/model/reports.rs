//! The audit trail, the outbox, and the reports: daily auctions, the campaign, transactions, chart series.

use super::*;

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
