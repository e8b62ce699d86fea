//! Bidders, search, reports, the outbox and the audit trail.

use super::campaign::bid_rows;
use super::*;

/// Every bidder.
#[handler]
pub(super) async fn bidders(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Bidders", |r, _| {
        let rows: Vec<Vec<String>> = model::bidders(r)?
            .iter()
            .map(|b| {
                vec![
                    link(&format!("/bidders/{}", b.id), &format!("@{}", b.handle)),
                    esc(b.wallet.as_deref().unwrap_or("—")),
                    if b.verified {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    esc(&b.deposited_eth),
                    esc(&b.leading_eth),
                    esc(&b.won_eth),
                    esc(&b.available_eth),
                    if b.simulated {
                        "simulated".into()
                    } else {
                        String::new()
                    },
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
            return Ok(r#"<p class="error">No such bidder.</p>"#.into());
        };
        let b = &d.bidder;
        let refund = if can_operate(s) {
            api_form(
                &format!("/api/v1/bidders/{id}/refund"),
                "POST",
                "Refund what is available",
                Some(&format!("Refund {} ETH to @{}?", b.available_eth, b.handle)),
                true,
                "",
            )
        } else {
            String::new()
        };
        let deposits: Vec<Vec<String>> = d
            .deposits
            .iter()
            .map(|x| serde_json::to_value(x).unwrap_or_default())
            .map(|v| {
                vec![
                    esc(v["amount_eth"].as_str().unwrap_or("")),
                    esc(v["reference"].as_str().unwrap_or("")),
                    esc(v["at"].as_str().unwrap_or("")),
                ]
            })
            .collect();
        let withdrawals: Vec<Vec<String>> = d
            .withdrawals
            .iter()
            .map(|w| {
                vec![
                    esc(&w.amount_eth),
                    esc(&w.to),
                    esc(&w.at),
                    esc(&w.requested_by),
                ]
            })
            .collect();
        Ok(format!(
            "<h2>@{}</h2><p>Wallet: {} ({}) · Deposited {} ETH · Leading {} ETH · Won {} ETH · Available {} ETH</p>{refund}<h2>Deposits</h2>{}<h2>Bids</h2>{}<h2>Refunds</h2>{}",
            esc(&b.handle),
            esc(b.wallet.as_deref().unwrap_or("none")),
            if b.verified { "verified" } else { "unverified" },
            esc(&b.deposited_eth),
            esc(&b.leading_eth),
            esc(&b.won_eth),
            esc(&b.available_eth),
            table(&["ETH", "Reference", "At"], &deposits),
            table(BID_HEADERS, &bid_rows(&d.bids)),
            table(&["ETH", "To", "At", "By"], &withdrawals),
        ))
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
        let form = format!(
            r#"<form method="get" action="/search"><input name="q" value="{}" placeholder="words, &quot;a phrase&quot;, kind:tweet" aria-label="query" autofocus><button>Search</button></form>"#,
            esc(&q)
        );
        let results = match hits {
            Ok(hits) if q.trim().is_empty() => {
                let _ = hits;
                String::new()
            }
            Ok(hits) => table(
                &["Kind", "What", "Text", "When", "Event"],
                &hits
                    .iter()
                    .map(|h| {
                        vec![
                            esc(&h.kind),
                            esc(&h.title),
                            esc(&h.body),
                            esc(&h.at.rfc3339()),
                            h.seq.to_string(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            ),
            Err(e) => format!(r#"<p class="error">{}</p>"#, esc(&e)),
        };
        Ok(format!("{form}{results}"))
    });
}

/// Reports with CSV links and charts.
#[handler]
pub(super) async fn reports(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Reports", |r, _| {
        let c = serde_json::to_value(model::campaign_report(r)?).unwrap_or_default();
        let totals: Vec<Vec<String>> = c
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                vec![
                    esc(&k.replace('_', " ")),
                    esc(v.to_string().trim_matches('"')),
                ]
            })
            .collect();
        let daily: Vec<Vec<String>> = model::daily(r)?
            .iter()
            .map(|d| {
                vec![
                    d.day.to_string(),
                    esc(&d.starts_at),
                    esc(&d.item),
                    esc(&d.state),
                    esc(d.winner.as_deref().unwrap_or("—")),
                    esc(&d.price_eth),
                    d.bids_accepted.to_string(),
                    d.bids_rejected.to_string(),
                    d.bidders.to_string(),
                    d.extensions.to_string(),
                ]
            })
            .collect();
        let tx: Vec<Vec<String>> = model::transactions(r)?
            .iter()
            .map(|t| {
                vec![
                    esc(&t.at),
                    esc(&t.kind),
                    esc(&t.party),
                    esc(&t.amount_eth),
                    esc(&t.reference),
                    esc(&t.state),
                ]
            })
            .collect();
        Ok(format!(
            r#"<h2>Campaign performance</h2>{}<p>{}</p>
<h2>Bids per hour</h2>{}
<h2>Daily auctions</h2><p>{}</p>{}
<h2>Financial transactions</h2><p>{}</p>{}"#,
            table(&["Figure", "Value"], &totals),
            link("/api/v1/reports/campaign?format=csv", "CSV"),
            charts::bids_svg(r)?,
            link("/api/v1/reports/daily?format=csv", "CSV"),
            table(
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
                    "Extensions"
                ],
                &daily
            ),
            link("/api/v1/reports/transactions?format=csv", "CSV"),
            table(&["At", "Kind", "Party", "ETH", "Reference", "State"], &tx),
        ))
    });
}

/// The outbox, with approvals.
#[handler]
pub(super) async fn outbox(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Outbox", |r, s| {
        let rows: Vec<Vec<String>> = model::outbox(r, false, 300)?
            .iter()
            .map(|o| {
                let actions = if can_operate(s) && matches!(o.status.as_str(), "held" | "failed") {
                    format!(
                        "{}{}",
                        api_form(
                            &format!("/api/v1/outbox/{}/approve", o.id),
                            "POST",
                            if o.status == "held" {
                                "Approve"
                            } else {
                                "Retry"
                            },
                            Some("Send it?"),
                            true,
                            ""
                        ),
                        api_form(
                            &format!("/api/v1/outbox/{}/reject", o.id),
                            "POST",
                            "Reject",
                            Some("Skip it for good?"),
                            true,
                            ""
                        )
                    )
                } else {
                    String::new()
                };
                vec![
                    o.id.to_string(),
                    esc(&o.channel),
                    esc(&o.kind),
                    esc(&o.status),
                    esc(&o.detail),
                    esc(&o.created_at),
                    o.attempts.to_string(),
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
        let rows: Vec<Vec<String>> = model::audit(r, 500, 200_000)?
            .iter()
            .map(|a| {
                vec![
                    a.seq.to_string(),
                    esc(&a.at),
                    esc(&a.action),
                    esc(&a.actor),
                    esc(&a.origin),
                    esc(&a.reason),
                    esc(&a.detail),
                ]
            })
            .collect();
        Ok(format!(
            r#"<div id="audit">{}</div>"#,
            table(
                &["#", "When", "What", "Who", "From", "Why", "Detail"],
                &rows
            )
        ))
    });
}
