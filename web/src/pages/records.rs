//! Bidders, search, reports, the outbox and the audit trail.

use super::campaign::bid_rows;
use super::*;

/// Every bidder.
#[handler]
pub(super) async fn bidders(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Bidders", |r, _| {
        let rows: Vec<Vec<Markup>> = model::bidders(r)?
            .iter()
            .map(|b| {
                vec![
                    link(&format!("/bidders/{}", b.id), &format!("@{}", b.handle)),
                    cell(b.wallet.as_deref().unwrap_or("—")),
                    cell(if b.verified { "yes" } else { "no" }),
                    cell(&b.deposited_eth),
                    cell(&b.leading_eth),
                    cell(&b.won_eth),
                    cell(&b.available_eth),
                    cell(if b.simulated { "simulated" } else { "" }),
                ]
            })
            .collect();
        Ok(table(
            &[
                "Handle",
                "Wallet",
                "Verified",
                "Deposited",
                "Leading",
                "Won",
                "Available",
                "",
            ],
            &rows,
        ))
    });
}

/// One bidder: wallet, deposits, bids, refunds.
#[handler]
pub(super) async fn bidder(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let id = req
        .param::<String>("id")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    page(depot, res, "Bidder", |r, s| {
        let Some(d) = model::bidder_detail(r, id)? else {
            return Ok(html! { p.error { "No such bidder." } });
        };
        let b = &d.bidder;
        let refund = can_operate(s).then(|| {
            api_form(
                &format!("/api/v1/bidders/{id}/refund"),
                "POST",
                "Refund what is available",
                Some(&format!("Refund {} ETH to @{}?", b.available_eth, b.handle)),
                true,
                html! {},
            )
        });
        let deposits: Vec<Vec<Markup>> = d
            .deposits
            .iter()
            .map(|x| serde_json::to_value(x).unwrap_or_default())
            .map(|v| {
                vec![
                    cell(v["amount_eth"].as_str().unwrap_or("")),
                    cell(v["reference"].as_str().unwrap_or("")),
                    cell(v["at"].as_str().unwrap_or("")),
                ]
            })
            .collect();
        let withdrawals: Vec<Vec<Markup>> = d
            .withdrawals
            .iter()
            .map(|w| {
                vec![
                    cell(&w.amount_eth),
                    cell(&w.to),
                    cell(&w.at),
                    cell(&w.requested_by),
                ]
            })
            .collect();
        Ok(html! {
            h2 { "@" (b.handle) }
            p {
                "Wallet: " (b.wallet.as_deref().unwrap_or("none"))
                " (" (if b.verified { "verified" } else { "unverified" }) ")"
                " · Deposited " (b.deposited_eth) " ETH · Leading " (b.leading_eth)
                " ETH · Won " (b.won_eth) " ETH · Available " (b.available_eth) " ETH"
            }
            @if let Some(refund) = refund { (refund) }
            h2 { "Deposits" }
            (table(&["ETH", "Reference", "At"], &deposits))
            h2 { "Bids" }
            (table(BID_HEADERS, &bid_rows(&d.bids)))
            h2 { "Refunds" }
            (table(&["ETH", "To", "At", "By"], &withdrawals))
        })
    });
}

/// Full-text search.
#[handler]
pub(super) async fn search(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let q = req.query::<String>("q").unwrap_or_default();
    let hits = if q.trim().is_empty() {
        Ok(Vec::new())
    } else {
        let (index, q) = (app.search.clone(), q.clone());
        tokio::task::spawn_blocking(move || index.search(&q, 100))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
    };
    page(depot, res, "Search", |_, _| {
        Ok(html! {
            form method="get" action="/search" {
                input name="q" value=(q) placeholder="words, \"a phrase\", kind:tweet" aria-label="query" autofocus;
                button { "Search" }
            }
            @match &hits {
                Ok(_) if q.trim().is_empty() => {}
                Ok(hits) => (table(
                    &["Kind", "What", "Text", "When", "Event"],
                    &hits
                        .iter()
                        .map(|h| vec![cell(&h.kind), cell(&h.title), cell(&h.body), cell(h.at.rfc3339()), cell(h.seq)])
                        .collect::<Vec<_>>(),
                )),
                Err(e) => p.error { (e) },
            }
        })
    });
}

/// Reports with CSV links and charts.
#[handler]
pub(super) async fn reports(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Reports", |r, _| {
        let c = serde_json::to_value(model::campaign_report(r)?).unwrap_or_default();
        let totals: Vec<Vec<Markup>> = c
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                vec![
                    cell(k.replace('_', " ")),
                    cell(v.to_string().trim_matches('"')),
                ]
            })
            .collect();
        let daily: Vec<Vec<Markup>> = model::daily(r)?
            .iter()
            .map(|d| {
                vec![
                    cell(d.day),
                    cell(&d.starts_at),
                    cell(&d.item),
                    cell(&d.state),
                    cell(d.winner.as_deref().unwrap_or("—")),
                    cell(&d.price_eth),
                    cell(d.bids_accepted),
                    cell(d.bids_rejected),
                    cell(d.bidders),
                    cell(d.extensions),
                ]
            })
            .collect();
        let tx: Vec<Vec<Markup>> = model::transactions(r)?
            .iter()
            .map(|t| {
                vec![
                    cell(&t.at),
                    cell(&t.kind),
                    cell(&t.party),
                    cell(&t.amount_eth),
                    cell(&t.reference),
                    cell(&t.state),
                ]
            })
            .collect();
        Ok(html! {
            h2 { "Campaign performance" }
            (table(&["Figure", "Value"], &totals))
            p { (link("/api/v1/reports/campaign?format=csv", "CSV")) }
            h2 { "Bids per hour" }
            (charts::bids_svg(r)?)
            h2 { "Daily auctions" }
            p { (link("/api/v1/reports/daily?format=csv", "CSV")) }
            (table(
                &[
                    "Day",
                    "Opens",
                    "Item",
                    "State",
                    "Winner",
                    "Price (ETH)",
                    "Accepted",
                    "Refused",
                    "Bidders",
                    "Extensions",
                ],
                &daily,
            ))
            h2 { "Financial transactions" }
            p { (link("/api/v1/reports/transactions?format=csv", "CSV")) }
            (table(&["At", "Kind", "Party", "ETH", "Reference", "State"], &tx))
        })
    });
}

/// The outbox, with approvals.
#[handler]
pub(super) async fn outbox(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Outbox", |r, s| {
        let rows: Vec<Vec<Markup>> = model::outbox(r, false, 300)?
            .iter()
            .map(|o| {
                let reviewable = can_operate(s) && matches!(o.status.as_str(), "held" | "failed");
                let retry = if o.status == "held" {
                    "Approve"
                } else {
                    "Retry"
                };
                let actions = html! {
                    @if reviewable {
                        (api_form(
                            &format!("/api/v1/outbox/{}/approve", o.id),
                            "POST",
                            retry,
                            Some("Send it?"),
                            true,
                            html! {},
                        ))
                        (api_form(
                            &format!("/api/v1/outbox/{}/reject", o.id),
                            "POST",
                            "Reject",
                            Some("Skip it for good?"),
                            true,
                            html! {},
                        ))
                    }
                };
                vec![
                    cell(o.id),
                    cell(&o.channel),
                    cell(&o.kind),
                    cell(&o.status),
                    cell(&o.detail),
                    cell(&o.created_at),
                    cell(o.attempts),
                    actions,
                ]
            })
            .collect();
        Ok(table(
            &[
                "#", "Channel", "Kind", "Status", "Detail", "Created", "Tries", "",
            ],
            &rows,
        ))
    });
}

/// The audit trail.
#[handler]
pub(super) async fn audit(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Audit log", |r, _| {
        let rows: Vec<Vec<Markup>> = model::audit(r, 500, 200_000)?
            .iter()
            .map(|a| {
                vec![
                    cell(a.seq),
                    cell(&a.at),
                    cell(&a.action),
                    cell(&a.actor),
                    cell(&a.origin),
                    cell(&a.reason),
                    cell(&a.detail),
                ]
            })
            .collect();
        Ok(html! {
            div #audit { (table(&["#", "When", "What", "Who", "From", "Why", "Detail"], &rows)) }
        })
    });
}
