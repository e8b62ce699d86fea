//! The server-rendered pages. Each reads one store snapshot through [`crate::model`] (the same
//! structures the API returns) and renders plain HTML; forms are sent by the page script to the
//! JSON API, so the page can do nothing the API does not allow.

use salvo::prelude::*;
use serde_json::Value;
use store::Reader;

use crate::html::{api_form, bare, error_page, esc, layout, table};
use crate::session::Session;
use crate::{Guard, Role, app, charts, model, session};

/// Every page behind its role.
pub fn router() -> Router {
    Router::new()
        .push(
            Router::new()
                .hoop(Guard::page(Role::Viewer))
                .get(dashboard)
                .push(Router::with_path("stream").get(stream))
                .push(Router::with_path("campaigns").get(campaigns))
                .push(Router::with_path("auctions").get(auctions))
                .push(Router::with_path("auctions/{id}").get(auction))
                .push(Router::with_path("bidders").get(bidders))
                .push(Router::with_path("bidders/{id}").get(bidder))
                .push(Router::with_path("search").get(search))
                .push(Router::with_path("reports").get(reports))
                .push(Router::with_path("assets").get(assets))
                .push(Router::with_path("outbox").get(outbox))
                .push(Router::with_path("audit").get(audit))
                .push(Router::with_path("account").get(account))
                .push(Router::with_path("system").get(system)),
        )
        .push(
            Router::new()
                .hoop(Guard::page(Role::Admin))
                .push(Router::with_path("settings").get(settings))
                .push(Router::with_path("users").get(users)),
        )
}

fn who(depot: &Depot) -> Session {
    session(depot).unwrap_or_else(|| unreachable!("the guard sets the session"))
}

/// Renders `f(snapshot)` in the frame, or the error.
fn page(
    depot: &Depot,
    res: &mut Response,
    title: &str,
    f: impl FnOnce(&Reader, &Session) -> model::Result<String>,
) {
    let app = app(depot);
    let s = who(depot);
    let body = app
        .store
        .read()
        .map_err(|e| e.to_string())
        .and_then(|r| f(&r, &s));
    match body {
        Ok(body) => res.render(Text::Html(layout(&s, title, &body))),
        Err(e) => {
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            res.render(Text::Html(error_page(
                &s,
                title,
                &format!("The database could not be read: {e}"),
            )));
        }
    }
}

fn link(href: &str, text: &str) -> String {
    format!(r#"<a href="{}">{}</a>"#, esc(href), esc(text))
}

fn can_operate(s: &Session) -> bool {
    s.role >= Role::Operator
}

/// The controls of one auction: each asks for confirmation and a reason.
fn controls(id: u64, state: &str) -> String {
    let api = |a: &str| format!("/api/v1/auctions/{id}/{a}");
    let mut out = String::from(r#"<div class="controls">"#);
    match state {
        "active" => out.push_str(&api_form(
            &api("pause"),
            "POST",
            "Pause",
            Some(&format!("Pause auction {id}?")),
            true,
            "",
        )),
        "paused" => out.push_str(&api_form(
            &api("resume"),
            "POST",
            "Resume",
            Some(&format!("Resume auction {id}?")),
            true,
            "",
        )),
        _ => {}
    }
    if matches!(state, "active" | "paused") {
        out.push_str(&api_form(
            &api("extend"),
            "POST",
            "Extend",
            Some(&format!("Extend auction {id}?")),
            true,
            r#"<input name="seconds" data-type="number" type="number" min="1" max="86400" value="300" aria-label="seconds">"#,
        ));
        out.push_str(&api_form(
            &api("settle"),
            "POST",
            "Force settle",
            Some(&format!(
                "End auction {id} now and settle it with the leader?"
            )),
            true,
            "",
        ));
    }
    if matches!(state, "pending" | "active" | "paused") {
        out.push_str(&api_form(
            &api("cancel"),
            "POST",
            "Cancel",
            Some(&format!(
                "Cancel auction {id}? The leading bid is released."
            )),
            true,
            "",
        ));
    }
    out.push_str(&api_form(
        &api("override"),
        "POST",
        "Override",
        Some(&format!("Apply this manual correction to auction {id}?")),
        true,
        r#"<input name="ends_at" placeholder="new end, RFC 3339" aria-label="new end"><input name="reserve_wei" placeholder="new reserve (wei)" aria-label="new reserve"><label><input type="checkbox" name="reopen" data-type="bool"> reopen</label>"#,
    ));
    out.push_str("</div>");
    out
}

/// The dashboard: filled and kept live by the script from `/api/v1/events`.
#[handler]
async fn dashboard(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Dashboard", |r, s| {
        let current = model::current_auction(r)?;
        let ctl = match (&current, can_operate(s)) {
            (Some(a), true) => controls(a.id.0, a.state.as_str()),
            _ => String::new(),
        };
        Ok(format!(
            r#"<div id="live" data-live="/api/v1/events">
<section id="alerts" aria-live="polite"></section>
<section class="cards">
<div class="card"><h2>Auction</h2><div id="auction" class="muted">No auction is running.</div></div>
<div class="card"><h2>Campaign</h2><div id="campaign" class="muted">—</div></div>
<div class="card"><h2>Stream</h2><div id="stream" class="muted">—</div></div>
<div class="card"><h2>Host</h2><div id="host" class="muted">—</div></div>
</section>
{ctl}
<h2>Last bids</h2><div id="last-bids"><p class="muted">Loading…</p></div>
<h2>Last tweets</h2><div id="last-tweets"><p class="muted">Loading…</p></div>
<p class="muted">Updated <span id="updated">—</span></p></div>"#
        ))
    });
}

/// The stream: preview, switch, scene previews and the scene file.
#[handler]
async fn stream(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let on = app.backend.streaming();
    let scenes = app.backend.scenes();
    page(depot, res, "Stream", |_, s| {
        let switch = if !can_operate(s) {
            String::new()
        } else if on {
            api_form(
                "/api/v1/stream/stop",
                "POST",
                "Stop streaming",
                Some("Stop the live stream?"),
                false,
                "",
            )
        } else {
            api_form(
                "/api/v1/stream/start",
                "POST",
                "Start streaming",
                Some("Go live now?"),
                false,
                "",
            )
        };
        let editor = if can_operate(s) {
            api_form(
                "/api/v1/stream/scenes",
                "PUT",
                "Check and save the scenes",
                Some("Save the scene layout? The stream uses it from its next start."),
                false,
                &format!(
                    r#"<textarea name="toml" rows="24" spellcheck="false" aria-label="scene file">{}</textarea>"#,
                    esc(&scenes)
                ),
            )
        } else {
            format!("<pre>{}</pre>", esc(&scenes))
        };
        Ok(format!(
            r#"<p>Streaming: <strong id="streaming">{}</strong></p>{switch}
<h2>Live preview</h2><img id="preview" class="preview" data-refresh="2000" src="/api/v1/stream/preview" alt="the composed frame">
<h2>Preview a scene before going live</h2><p>{} · {} · {}</p>
<h2>Scene layout</h2><p class="muted">Positions, sizes and order of every element (the file is checked before it is saved; previews above use it at once).</p>{editor}"#,
            if on { "on" } else { "off" },
            link("/api/v1/stream/scenes/pre/preview", "before the auction"),
            link("/api/v1/stream/scenes/live/preview", "during the auction"),
            link("/api/v1/stream/scenes/post/preview", "after the auction"),
        ))
    });
}

/// The campaign form's fields, filled from `spec`.
fn campaign_fields(spec: &Value) -> String {
    let v = |p: &str| {
        let mut cur = spec;
        for k in p.split('.') {
            cur = &cur[k];
        }
        match cur {
            Value::String(s) => esc(s),
            Value::Null => String::new(),
            other => esc(&other.to_string()),
        }
    };
    let items: Vec<String> = spec["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let token = match (
                i["token"]["contract"].as_str(),
                i["token"]["token_id"].as_str(),
            ) {
                (Some(c), Some(t)) => format!(" | {c}:{t}"),
                _ => String::new(),
            };
            format!(
                "{} | {} | {}{token}",
                i["name"].as_str().unwrap_or(""),
                i["artist"].as_str().unwrap_or(""),
                i["image"].as_str().unwrap_or("")
            )
        })
        .collect();
    format!(
        r#"<fieldset><legend>Campaign</legend>
<label>Name <input name="spec.name" required value="{name}"></label>
<label>First day <input name="spec.start_date" type="date" required value="{start}"></label>
<label>Days <input name="spec.days" data-type="number" type="number" min="1" max="366" required value="{days}"></label>
<label>Time zone <input name="spec.timezone" required value="{tz}"></label>
<label>Host handle <input name="spec.host_handle" required value="{host}"></label></fieldset>
<fieldset><legend>Daily windows (local time)</legend>
<label>Pre-show <input name="spec.windows.pre_auction_start" type="time" value="{w0}"></label>
<label>Bidding opens <input name="spec.windows.auction_start" type="time" value="{w1}"></label>
<label>Bidding ends <input name="spec.windows.auction_end" type="time" value="{w2}"></label>
<label>Post-show ends <input name="spec.windows.post_auction_end" type="time" value="{w3}"></label></fieldset>
<fieldset><legend>Rules (amounts in wei)</legend>
<label>Reserve <input name="spec.rules.reserve" value="{reserve}"></label>
<label>Minimum increment <input name="spec.rules.min_increment" value="{inc}"></label>
<label>Increment (basis points) <input name="spec.rules.min_increment_bps" data-type="number" type="number" min="0" value="{bps}"></label>
<label>Extension (s) <input name="spec.rules.extension_secs" data-type="number" type="number" min="0" value="{ext}"></label>
<label>Bids per window <input name="spec.rules.rate_limit_bids" data-type="number" type="number" min="0" value="{rl}"></label>
<label>Window (s) <input name="spec.rules.rate_limit_window_secs" data-type="number" type="number" min="1" value="{rlw}"></label>
<label>Minimum account age (days) <input name="spec.rules.min_account_age_days" data-type="number" type="number" min="0" value="{age}"></label></fieldset>
<fieldset><legend>Items, in auction order: one per line, "name | artist | artwork asset | NFT contract:token id"</legend>
<textarea name="spec.items" data-type="items" rows="8" required>{items}</textarea></fieldset>"#,
        name = v("name"),
        start = v("start_date"),
        days = v("days"),
        tz = v("timezone"),
        host = v("host_handle"),
        w0 = v("windows.pre_auction_start"),
        w1 = v("windows.auction_start"),
        w2 = v("windows.auction_end"),
        w3 = v("windows.post_auction_end"),
        reserve = v("rules.reserve"),
        inc = v("rules.min_increment"),
        bps = v("rules.min_increment_bps"),
        ext = v("rules.extension_secs"),
        rl = v("rules.rate_limit_bids"),
        rlw = v("rules.rate_limit_window_secs"),
        age = v("rules.min_account_age_days"),
        items = esc(&items.join("\n")),
    )
}

/// Campaigns: each with its edit form, and a form for a new one.
#[handler]
async fn campaigns(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Campaigns", |r, s| {
        let list = model::campaigns(r)?;
        let mut out = String::new();
        for c in &list {
            out.push_str(&format!(
                "<section><h2>{} (#{})</h2><p>Days: {}</p>",
                esc(c.spec["name"].as_str().unwrap_or("")),
                c.id,
                esc(&c.days.join(", "))
            ));
            if can_operate(s) {
                out.push_str(&format!("<details><summary>Edit</summary>{}</details>", api_form(
                    &format!("/api/v1/campaigns/{}", c.id),
                    "PUT",
                    "Save campaign",
                    Some("Save these changes? The schedule can change only before the first auction opens."),
                    false,
                    &campaign_fields(&c.spec),
                )));
            }
            out.push_str("</section>");
        }
        if list.is_empty() {
            out.push_str(r#"<p class="muted">No campaign yet.</p>"#);
        }
        if can_operate(s) {
            let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
            let template = serde_json::json!({
                "name": "", "start_date": tomorrow.to_string(), "days": 30,
                "timezone": "America/New_York", "host_handle": "",
                "windows": {"pre_auction_start": "00:00", "auction_start": "14:00", "auction_end": "16:00", "post_auction_end": "23:59"},
                "rules": {"reserve": "100000000000000000", "min_increment": "10000000000000000", "min_increment_bps": 500,
                          "extension_secs": 300, "rate_limit_bids": 5, "rate_limit_window_secs": 60, "min_account_age_days": 30},
                "items": [],
            });
            out.push_str(&format!(
                r#"<section id="new-campaign"><h2>New campaign</h2>{}</section>"#,
                api_form(
                    "/api/v1/campaigns",
                    "POST",
                    "Create campaign",
                    Some("Create this campaign and schedule its auctions?"),
                    false,
                    &campaign_fields(&template)
                )
            ));
        }
        Ok(out)
    });
}

fn auction_rows(list: &[model::AuctionView]) -> Vec<Vec<String>> {
    list.iter()
        .map(|a| {
            vec![
                link(&format!("/auctions/{}", a.id), &a.id.to_string()),
                a.day.to_string(),
                esc(&a.item),
                format!(r#"<span class="state {0}">{0}</span>"#, esc(&a.state)),
                esc(&a.price_eth),
                esc(a.leader.as_deref().unwrap_or("—")),
                esc(&a.starts_at),
                esc(&a.ends_at),
                a.bids_accepted.to_string(),
            ]
        })
        .collect()
}

/// Every auction.
#[handler]
async fn auctions(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Auctions", |r, _| {
        Ok(table(
            &[
                "#",
                "Day",
                "Item",
                "State",
                "Price (ETH)",
                "Leader",
                "Opens",
                "Ends",
                "Bids",
            ],
            &auction_rows(&model::auctions(r)?),
        ))
    });
}

fn bid_rows(bids: &[model::BidRow]) -> Vec<Vec<String>> {
    bids.iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                link(&format!("/bidders/{}", b.bidder), &format!("@{}", b.handle)),
                esc(&b.amount_eth),
                esc(&b.status),
                esc(b.reason.as_deref().unwrap_or("")),
                esc(&b.at),
                esc(&b.source),
            ]
        })
        .collect()
}

const BID_HEADERS: &[&str] = &["#", "Bidder", "ETH", "Status", "Reason", "At", "Source"];

/// One auction: its figures, controls, price chart and bids.
#[handler]
async fn auction(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let id = req
        .param::<String>("id")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    page(depot, res, &format!("Auction {id}"), |r, s| {
        let Some(d) = model::auction_detail(r, id)? else {
            return Ok(r#"<p class="error">No such auction.</p>"#.into());
        };
        let ctl = if can_operate(s) {
            controls(id, &d.auction.state)
        } else {
            String::new()
        };
        Ok(format!(
            "{}{ctl}<h2>Price over time</h2>{}<h2>Bids</h2>{}",
            table(
                &[
                    "#",
                    "Day",
                    "Item",
                    "State",
                    "Price (ETH)",
                    "Leader",
                    "Opens",
                    "Ends",
                    "Bids"
                ],
                &auction_rows(std::slice::from_ref(&d.auction))
            ),
            charts::price_svg(r, id)?,
            table(BID_HEADERS, &bid_rows(&d.bids)),
        ))
    });
}

/// Every bidder.
#[handler]
async fn bidders(depot: &mut Depot, res: &mut Response) {
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
async fn bidder(req: &mut Request, depot: &mut Depot, res: &mut Response) {
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
async fn search(req: &mut Request, depot: &mut Depot, res: &mut Response) {
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
async fn reports(depot: &mut Depot, res: &mut Response) {
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

/// Pictures: list, upload, delete.
#[handler]
async fn assets(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let dir = app.backend.assets_dir();
    let max = app.config.max_upload;
    page(depot, res, "Assets", |_, s| {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| crate::assets::check_name(n).is_ok())
            .collect();
        names.sort();
        let rows: Vec<Vec<String>> = names
            .iter()
            .map(|n| {
                let del = if can_operate(s) {
                    api_form(
                        &format!("/api/v1/assets/{n}"),
                        "DELETE",
                        "Delete",
                        Some(&format!("Delete {n}?")),
                        false,
                        "",
                    )
                } else {
                    String::new()
                };
                vec![
                    format!(
                        r#"<img class="thumb" src="/api/v1/assets/{0}" alt="{0}">"#,
                        esc(n)
                    ),
                    esc(n),
                    crate::assets::kind_of(n).into(),
                    del,
                ]
            })
            .collect();
        let upload = if can_operate(s) {
            format!(
                r#"<form class="upload" data-upload="/api/v1/assets"><input type="file" name="file" accept="image/png,image/jpeg" required aria-label="picture">
<input name="name" placeholder="name, e.g. avatar-happy.png" required pattern="[a-z0-9._-]+" aria-label="name"><label><input type="checkbox" name="replace"> replace</label><button>Upload</button></form>
<p class="muted">PNG or JPEG up to {} MiB and 8192 px a side. Names: <code>avatar-&lt;mood&gt;.png</code> (neutral, excited, thinking, happy, surprised), <code>bg-…</code>, <code>overlay-…</code>; anything else is artwork, named in a campaign's items.</p>"#,
                max >> 20
            )
        } else {
            String::new()
        };
        Ok(format!(
            "{upload}{}",
            table(&["", "Name", "Kind", ""], &rows)
        ))
    });
}

/// The outbox, with approvals.
#[handler]
async fn outbox(depot: &mut Depot, res: &mut Response) {
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
async fn audit(depot: &mut Depot, res: &mut Response) {
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

/// One's own account: password and two-factor.
#[handler]
async fn account(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let totp = app.has_totp(&s.user);
    page(depot, res, "Account", |_, _| {
        let two_factor = if totp {
            format!(
                "<p>Two-factor sign-in is <strong>on</strong>.</p>{}",
                api_form(
                    "/api/v1/me/totp/disable",
                    "POST",
                    "Turn two-factor off",
                    Some("Turn two-factor sign-in off?"),
                    false,
                    r#"<input name="code" inputmode="numeric" autocomplete="one-time-code" placeholder="current code" required aria-label="code">"#
                )
            )
        } else {
            format!(
                r#"<p>Two-factor sign-in is <strong>off</strong>.</p><button id="totp-setup">Set up two-factor</button><div id="totp-enrol" hidden><p>Scan this with an authenticator app, then enter the code it shows.</p><div id="totp-qr"></div><p class="muted">Or enter the key: <code id="totp-secret"></code></p>{}</div>"#,
                api_form(
                    "/api/v1/me/totp/enable",
                    "POST",
                    "Turn two-factor on",
                    None,
                    false,
                    r#"<input name="code" inputmode="numeric" autocomplete="one-time-code" placeholder="6-digit code" required aria-label="code">"#
                )
            )
        };
        Ok(format!(
            "<h2>Password</h2>{}<h2>Two-factor sign-in</h2>{two_factor}",
            api_form(
                "/api/v1/me/password",
                "POST",
                "Change password",
                None,
                false,
                r#"<input type="password" name="current" placeholder="current password" autocomplete="current-password" required aria-label="current password"><input type="password" name="new" placeholder="new password (12+)" autocomplete="new-password" minlength="12" required aria-label="new password">"#
            )
        ))
    });
}

/// Health of each part, resource use, recent log lines.
#[handler]
async fn system(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let status = app.backend.status();
    let log = app.backend.log_lines(200);
    let process = crate::live::process_stats();
    let sessions = app.sessions.count();
    page(depot, res, "System", |_, _| {
        let alerts = model::alerts(&status);
        let alert_html: String = alerts
            .iter()
            .map(|a| {
                format!(
                    r#"<p class="alert {}">{}</p>"#,
                    esc(&a.level),
                    esc(&a.message)
                )
            })
            .collect();
        Ok(format!(
            r#"{alert_html}<h2>Resources</h2><p>CPU time {:.1} s · memory {} MiB · threads {} · admin sessions {sessions}</p>
<p><a href="/metrics">Prometheus metrics</a> · <a href="/api/v1/openapi.json">API description</a></p>
<h2>Health of each part</h2><pre>{}</pre><h2>Recent log</h2><pre class="log">{}</pre>"#,
            process["cpu_seconds"].as_f64().unwrap_or(0.0),
            process["rss_bytes"].as_u64().unwrap_or(0) >> 20,
            process["threads"],
            esc(&serde_json::to_string_pretty(&status).unwrap_or_default()),
            esc(&log.join("\n")),
        ))
    });
}

/// Settings (admin): secrets are write-only.
#[handler]
async fn settings(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let current = app.backend.settings();
    page(depot, res, "Settings", |_, _| {
        let mut fields = String::new();
        for s in current["settings"].as_array().into_iter().flatten() {
            let key = s["key"].as_str().unwrap_or("");
            let input = if s["secret"] == true {
                format!(
                    r#"<input type="password" name="{k}" data-changed-only autocomplete="off" placeholder="{}">"#,
                    if s["set"] == true {
                        "set (type to replace)"
                    } else {
                        "not set"
                    },
                    k = esc(key)
                )
            } else {
                let (value, ty) = match &s["value"] {
                    Value::String(v) => (v.clone(), ""),
                    Value::Bool(b) => (b.to_string(), "bool"),
                    Value::Number(n) => (n.to_string(), "number"),
                    other => (other.to_string(), "json"),
                };
                format!(
                    r#"<input name="{k}" data-changed-only data-type="{ty}" value="{v}" data-initial="{v}">"#,
                    k = esc(key),
                    v = esc(&value)
                )
            };
            fields.push_str(&format!(
                r#"<label class="setting"><code>{}</code> {input}</label>"#,
                esc(key)
            ));
        }
        Ok(format!(
            r#"<p class="muted">Changes are saved to <code>{}</code> and apply at the next start.</p>{}"#,
            esc(current["file"].as_str().unwrap_or("")),
            api_form(
                "/api/v1/settings",
                "PUT",
                "Save settings",
                Some("Save these settings?"),
                false,
                &fields
            )
        ))
    });
}

/// Users (admin).
#[handler]
async fn users(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let list = app.account_list();
    page(depot, res, "Users", |_, _| {
        let rows: Vec<Vec<String>> = list
            .users
            .iter()
            .map(|u| {
                let api = format!("/api/v1/users/{}", u.name);
                vec![
                    esc(&u.name),
                    u.role.as_str().into(),
                    if u.totp.is_some() { "on".into() } else { "off".into() },
                    if u.disabled { "disabled".into() } else { "active".into() },
                    format!(
                        "{}{}{}{}",
                        api_form(&api, "PUT", "Set role", Some(&format!("Change the role of {}?", u.name)), false, r#"<select name="role" aria-label="role"><option>viewer</option><option>operator</option><option>admin</option></select>"#),
                        api_form(&api, "PUT", if u.disabled { "Enable" } else { "Disable" }, Some("Change this account?"), false, &format!(r#"<input type="hidden" name="disabled" data-type="bool" value="{}">"#, !u.disabled)),
                        api_form(&api, "PUT", "Reset password", Some("Make a new password for this account?"), false, r#"<input type="hidden" name="reset_password" data-type="bool" value="true">"#),
                        api_form(&api, "DELETE", "Delete", Some(&format!("Delete {}?", u.name)), false, ""),
                    ),
                ]
            })
            .collect();
        Ok(format!(
            "{}<h2>New account</h2>{}",
            table(&["Name", "Role", "Two-factor", "State", ""], &rows),
            api_form(
                "/api/v1/users",
                "POST",
                "Create",
                None,
                false,
                r#"<input name="name" placeholder="name" required aria-label="name"><select name="role" aria-label="role"><option>viewer</option><option>operator</option><option>admin</option></select>"#
            ),
        ))
    });
}

/// The login page.
#[handler]
pub async fn login(res: &mut Response) {
    res.render(Text::Html(bare(
        "Log in",
        r#"<form id="login"><label>Name <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<label id="totp-row" hidden>Two-factor code <input name="totp" inputmode="numeric" autocomplete="one-time-code"></label>
<button>Log in</button></form>"#,
    )));
}
