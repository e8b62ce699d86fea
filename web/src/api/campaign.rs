//! The campaign: the dashboard, auctions and their operator actions, campaigns, bidders, search, reports, the outbox and the audit trail.

use super::*;

/// The dashboard (the live events carry the same object).
#[endpoint(tags("dashboard"))]
pub(super) async fn dashboard(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.live.current(&app) {
        Ok(d) => {
            res.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            let _ = res.write_body(d.to_vec());
        }
        Err(e) => fail(res, Refusal::new("storage", e)),
    }
}

/// Every auction.
#[endpoint(tags("auctions"))]
pub(super) async fn auctions(depot: &mut Depot, res: &mut Response) {
    read(depot, res, model::auctions);
}

/// One auction with its bids.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
pub(super) async fn auction(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    read_one(req, depot, res, "auction", model::auction_detail);
}

/// Stops bidding, keeping the time left.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
pub(super) async fn pause(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reason_only(
        |id| OperatorAction::Pause {
            auction: AuctionId(id),
        },
        req,
        depot,
        res,
    )
    .await;
}

/// Restarts bidding.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
pub(super) async fn resume(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reason_only(
        |id| OperatorAction::Resume {
            auction: AuctionId(id),
        },
        req,
        depot,
        res,
    )
    .await;
}

/// Calls the auction off.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
pub(super) async fn cancel(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reason_only(
        |id| OperatorAction::Cancel {
            auction: AuctionId(id),
        },
        req,
        depot,
        res,
    )
    .await;
}

/// Ends the auction now and settles it with the leader.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
pub(super) async fn settle(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reason_only(
        |id| OperatorAction::ForceSettle {
            auction: AuctionId(id),
        },
        req,
        depot,
        res,
    )
    .await;
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct Extend {
    /// Seconds to add (1 to 86,400).
    seconds: u32,
    /// Why.
    reason: String,
}

/// Moves the end later.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
pub(super) async fn extend(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reasoned(req, depot, res, |id, e: Extend| {
        Ok(OperatorAction::Extend {
            auction: AuctionId(id),
            seconds: e.seconds,
        })
    })
    .await;
}

impl Reasoned for Extend {
    fn reason(&self) -> &str {
        &self.reason
    }
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct Override {
    /// New end of bidding (RFC 3339).
    #[serde(default)]
    ends_at: Option<String>,
    /// New reserve, in wei (only before the first bid).
    #[serde(default)]
    reserve_wei: Option<String>,
    /// Reopen a closed auction (needs `ends_at`).
    #[serde(default)]
    reopen: bool,
    /// Why.
    reason: String,
}

/// An audited manual correction.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
pub(super) async fn override_auction(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reasoned(req, depot, res, |id, o: Override| {
        let blank = |v: Option<String>| v.map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
        Ok(OperatorAction::Override {
            auction: AuctionId(id),
            ends_at: blank(o.ends_at).map(|t| typed("ends_at", t)).transpose()?,
            reserve: blank(o.reserve_wei)
                .map(|w| typed("reserve_wei", w))
                .transpose()?,
            reopen: o.reopen,
        })
    })
    .await;
}

impl Reasoned for Override {
    fn reason(&self) -> &str {
        &self.reason
    }
}

/// Every campaign, as its edit form shows it.
#[endpoint(tags("campaigns"))]
pub(super) async fn campaigns(depot: &mut Depot, res: &mut Response) {
    read(depot, res, model::campaigns);
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct CampaignBody {
    /// The campaign (name, start_date, days, timezone, windows, rules, host_handle, items).
    #[salvo(schema(value_type = Object))]
    spec: Value,
    /// Why.
    #[serde(default)]
    reason: String,
}

/// Creates a campaign and schedules its auctions.
#[endpoint(tags("campaigns"))]
pub(super) async fn create_campaign(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let c: CampaignBody = match body(req).await {
        Ok(c) => c,
        Err(e) => return fail(res, e),
    };
    let s = who(depot);
    let reason = if c.reason.trim().is_empty() {
        "new campaign"
    } else {
        c.reason.trim()
    };
    let spec = match campaign_spec(c.spec) {
        Ok(spec) => spec,
        Err(e) => return fail(res, e),
    };
    let audit = audit(&s, req, reason);
    act(depot, res, OperatorAction::CreateCampaign { spec }, audit).await;
}

/// Changes a campaign (its schedule only before its first auction opens).
#[endpoint(tags("campaigns"), parameters(("id" = u64, Path, description = "campaign id")))]
pub(super) async fn edit_campaign(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Some(id) = id_param(req, res) else { return };
    let c: CampaignBody = match body(req).await {
        Ok(c) => c,
        Err(e) => return fail(res, e),
    };
    let s = who(depot);
    let reason = if c.reason.trim().is_empty() {
        "campaign edited"
    } else {
        c.reason.trim()
    };
    let spec = match campaign_spec(c.spec) {
        Ok(spec) => spec,
        Err(e) => return fail(res, e),
    };
    let action = OperatorAction::EditCampaign {
        campaign: CampaignId(id),
        spec,
    };
    let audit = audit(&s, req, reason);
    act(depot, res, action, audit).await;
}

/// Every bidder with their escrow.
#[endpoint(tags("bidders"))]
pub(super) async fn bidders(depot: &mut Depot, res: &mut Response) {
    read(depot, res, model::bidders);
}

/// One bidder: wallet, deposits, bids, refunds.
#[endpoint(tags("bidders"), parameters(("id" = u64, Path, description = "bidder's X id")))]
pub(super) async fn bidder(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    read_one(req, depot, res, "bidder", model::bidder_detail);
}

/// Refunds everything the bidder has available.
#[endpoint(tags("bidders"), parameters(("id" = u64, Path, description = "bidder's X id")))]
pub(super) async fn refund(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reason_only(
        |id| OperatorAction::Refund { user: UserId(id) },
        req,
        depot,
        res,
    )
    .await;
}

/// Full-text search over tweets, bids and events (`q`, `limit` up to 200).
#[endpoint(tags("search"))]
pub(super) async fn search(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let q = req.query::<String>("q").unwrap_or_default();
    let limit = req.query::<usize>("limit").unwrap_or(50).clamp(1, 200);
    if q.trim().is_empty() || q.len() > 500 {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "give a query (up to 500 characters)",
        );
    }
    let index = app.search.clone();
    match tokio::task::spawn_blocking(move || index.search(&q, limit)).await {
        Ok(Ok(hits)) => res.render(Json(hits)),
        Ok(Err(e)) => refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            e.to_string(),
        ),
        Err(e) => refuse(
            res,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        ),
    }
}

/// One row per auction day (`?format=csv` for a spreadsheet).
#[endpoint(tags("reports"))]
pub(super) async fn report_daily(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    table(req, depot, res, "daily", model::daily);
}

/// The campaign's totals.
#[endpoint(tags("reports"))]
pub(super) async fn report_campaign(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    table(req, depot, res, "campaign", |r| {
        model::campaign_report(r).map(|c| vec![c])
    });
}

/// Every movement of money: deposits, refunds, sales (`?format=csv`).
#[endpoint(tags("reports"))]
pub(super) async fn report_transactions(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    table(req, depot, res, "transactions", model::transactions);
}

/// Outbox rows (tweets and chain transactions), newest first; `?open=true` for undelivered.
#[endpoint(tags("outbox"))]
pub(super) async fn outbox(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let open = req.query::<bool>("open").unwrap_or(false);
    let limit = req.query::<usize>("limit").unwrap_or(200).clamp(1, 2000);
    read(depot, res, |r| model::outbox(r, open, limit));
}

pub(super) async fn review(accept: bool, req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let action = |id| OperatorAction::ReviewOutbox {
        id: OutboxId(id),
        approve: accept,
    };
    reason_only(action, req, depot, res).await;
}

/// Approves a held tweet (or retries a failed row).
#[endpoint(tags("outbox"), parameters(("id" = u64, Path, description = "outbox row")))]
pub(super) async fn approve(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    review(true, req, depot, res).await;
}

/// Rejects a held tweet.
#[endpoint(tags("outbox"), parameters(("id" = u64, Path, description = "outbox row")))]
pub(super) async fn reject(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    review(false, req, depot, res).await;
}

/// The audit trail, newest first.
#[endpoint(tags("audit"))]
pub(super) async fn audit_log(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let limit = req.query::<usize>("limit").unwrap_or(200).clamp(1, 2000);
    read(depot, res, |r| model::audit(r, limit, 200_000));
}
