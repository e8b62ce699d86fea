//! The dashboard, campaigns and auctions (with the operator's controls).

use super::*;

/// The controls of one auction: each asks for confirmation and a reason.
pub(super) fn controls(id: u64, state: &str) -> String {
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
pub(super) async fn dashboard(depot: &mut Depot, res: &mut Response) {
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

/// The campaign form's fields, filled from `spec`.
pub(super) fn campaign_fields(spec: &Value) -> String {
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
pub(super) async fn campaigns(depot: &mut Depot, res: &mut Response) {
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

pub(super) fn auction_rows(list: &[model::AuctionView]) -> Vec<Vec<String>> {
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
pub(super) async fn auctions(depot: &mut Depot, res: &mut Response) {
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

pub(super) fn bid_rows(bids: &[model::BidRow]) -> Vec<Vec<String>> {
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

/// One auction: its figures, controls, price chart and bids.
#[handler]
pub(super) async fn auction(req: &mut Request, depot: &mut Depot, res: &mut Response) {
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
