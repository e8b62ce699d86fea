//! The dashboard, campaigns and auctions (with the operator's controls).

use super::*;

const AUCTION_HEADERS: &[&str] = &[
    "#",
    "Day",
    "Item",
    "State",
    "Price (ETH)",
    "Leader",
    "Opens",
    "Ends",
    "Bids",
];

/// The controls of one auction: each asks for confirmation and a reason.
pub(super) fn controls(id: u64, state: &str) -> Markup {
    let api = |a: &str| format!("/api/v1/auctions/{id}/{a}");
    let running = matches!(state, "active" | "paused");
    html! {
        div.controls {
            @if state == "active" {
                (api_form(&api("pause"), "POST", "Pause", Some(&format!("Pause auction {id}?")), true, html! {}))
            }
            @if state == "paused" {
                (api_form(&api("resume"), "POST", "Resume", Some(&format!("Resume auction {id}?")), true, html! {}))
            }
            @if running {
                (api_form(&api("extend"), "POST", "Extend", Some(&format!("Extend auction {id}?")), true, html! {
                    input name="seconds" data-type="number" type="number" min="1" max="86400" value="300" aria-label="seconds";
                }))
                (api_form(
                    &api("settle"),
                    "POST",
                    "Force settle",
                    Some(&format!("End auction {id} now and settle it with the leader?")),
                    true,
                    html! {},
                ))
            }
            @if running || state == "pending" {
                (api_form(
                    &api("cancel"),
                    "POST",
                    "Cancel",
                    Some(&format!("Cancel auction {id}? The leading bid is released.")),
                    true,
                    html! {},
                ))
            }
            (api_form(
                &api("override"),
                "POST",
                "Override",
                Some(&format!("Apply this manual correction to auction {id}?")),
                true,
                html! {
                    input name="ends_at" placeholder="new end, RFC 3339" aria-label="new end";
                    input name="reserve_wei" placeholder="new reserve (wei)" aria-label="new reserve";
                    label { input type="checkbox" name="reopen" data-type="bool"; " reopen" }
                },
            ))
        }
    }
}

/// The dashboard: filled and kept live by the script from `/api/v1/events`.
#[handler]
pub(super) async fn dashboard(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Dashboard", |r, s| {
        let current = model::current_auction(r)?;
        let ctl = match (&current, can_operate(s)) {
            (Some(a), true) => Some(controls(a.id.0, a.state.as_str())),
            _ => None,
        };
        Ok(html! {
            div #live data-live="/api/v1/events" {
                section #alerts aria-live="polite" {}
                section.cards {
                    div.card { h2 { "Auction" } div #auction .muted { "No auction is running." } }
                    div.card { h2 { "Campaign" } div #campaign .muted { "—" } }
                    div.card { h2 { "Stream" } div #stream .muted { "—" } }
                    div.card { h2 { "Host" } div #host .muted { "—" } }
                    div.card { h2 { "X spend" } div #x-spend .muted { "—" } }
                }
                @if let Some(ctl) = ctl { (ctl) }
                h2 { "Last bids" }
                div #last-bids { p.muted { "Loading…" } }
                h2 { "Last tweets" }
                div #last-tweets { p.muted { "Loading…" } }
                p.muted { "Updated " span #updated { "—" } }
            }
        })
    });
}

/// The campaign form's fields, filled from `spec`.
pub(super) fn campaign_fields(spec: &Value) -> Markup {
    let v = |p: &str| {
        let mut cur = spec;
        for k in p.split('.') {
            cur = &cur[k];
        }
        match cur {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
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
    let number = |label: &str, name: &str, min: u32| {
        html! {
            label {
                (label) " "
                input name=(format!("spec.{name}")) data-type="number" type="number" min=(min) value=(v(name));
            }
        }
    };
    let time = |label: &str, name: &str| {
        html! { label { (label) " " input name=(format!("spec.{name}")) type="time" value=(v(name)); } }
    };
    html! {
        fieldset {
            legend { "Campaign" }
            label { "Name " input name="spec.name" required value=(v("name")); }
            label { "First day " input name="spec.start_date" type="date" required value=(v("start_date")); }
            label {
                "Days "
                input name="spec.days" data-type="number" type="number" min="1" max="366" required value=(v("days"));
            }
            label { "Time zone " input name="spec.timezone" required value=(v("timezone")); }
            label { "Host handle " input name="spec.host_handle" required value=(v("host_handle")); }
        }
        fieldset {
            legend { "Daily windows (local time)" }
            (time("Pre-show", "windows.pre_auction_start"))
            (time("Bidding opens", "windows.auction_start"))
            (time("Bidding ends", "windows.auction_end"))
            (time("Post-show ends", "windows.post_auction_end"))
        }
        fieldset {
            legend { "Rules (amounts in wei)" }
            label { "Reserve " input name="spec.rules.reserve" value=(v("rules.reserve")); }
            label { "Minimum increment " input name="spec.rules.min_increment" value=(v("rules.min_increment")); }
            (number("Increment (basis points)", "rules.min_increment_bps", 0))
            (number("Extension (s)", "rules.extension_secs", 0))
            (number("Bids per window", "rules.rate_limit_bids", 0))
            (number("Window (s)", "rules.rate_limit_window_secs", 1))
            (number("Minimum account age (days)", "rules.min_account_age_days", 0))
        }
        fieldset {
            legend { "Items, in auction order: one per line, \"name | artist | artwork asset | NFT contract:token id\"" }
            textarea name="spec.items" data-type="items" rows="8" required { (items.join("\n")) }
        }
    }
}

/// Campaigns: each with its edit form, and a form for a new one.
#[handler]
pub(super) async fn campaigns(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Campaigns", |r, s| {
        let list = model::campaigns(r)?;
        let template = can_operate(s).then(|| {
            let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
            serde_json::json!({
                "name": "", "start_date": tomorrow.to_string(), "days": 30,
                "timezone": "America/New_York", "host_handle": "",
                "windows": {"pre_auction_start": "00:00", "auction_start": "14:00", "auction_end": "16:00", "post_auction_end": "23:59"},
                "rules": {"reserve": "100000000000000000", "min_increment": "10000000000000000", "min_increment_bps": 500,
                          "extension_secs": 300, "rate_limit_bids": 5, "rate_limit_window_secs": 60, "min_account_age_days": 30},
                "items": [],
            })
        });
        Ok(html! {
            @for c in &list {
                section {
                    h2 { (c.spec["name"].as_str().unwrap_or("")) " (#" (c.id) ")" }
                    p { "Days: " (c.days.join(", ")) }
                    @if can_operate(s) {
                        details {
                            summary { "Edit" }
                            (api_form(
                                &format!("/api/v1/campaigns/{}", c.id),
                                "PUT",
                                "Save campaign",
                                Some("Save these changes? The schedule can change only before the first auction opens."),
                                false,
                                campaign_fields(&c.spec),
                            ))
                        }
                    }
                }
            }
            @if list.is_empty() {
                p.muted { "No campaign yet." }
            }
            @if let Some(template) = &template {
                section #new-campaign {
                    h2 { "New campaign" }
                    (api_form(
                        "/api/v1/campaigns",
                        "POST",
                        "Create campaign",
                        Some("Create this campaign and schedule its auctions?"),
                        false,
                        campaign_fields(template),
                    ))
                }
            }
        })
    });
}

pub(super) fn auction_rows(list: &[model::AuctionView]) -> Vec<Vec<Markup>> {
    list.iter()
        .map(|a| {
            vec![
                link(&format!("/auctions/{}", a.id), &a.id.to_string()),
                html! { (a.day) },
                html! { (a.item) },
                html! { span class=(format!("state {}", a.state)) { (a.state) } },
                html! { (a.price_eth) },
                html! { (a.leader.as_deref().unwrap_or("—")) },
                html! { (a.starts_at) },
                html! { (a.ends_at) },
                html! { (a.bids_accepted) },
            ]
        })
        .collect()
}

/// Every auction.
#[handler]
pub(super) async fn auctions(depot: &mut Depot, res: &mut Response) {
    page(depot, res, "Auctions", |r, _| {
        Ok(table(AUCTION_HEADERS, &auction_rows(&model::auctions(r)?)))
    });
}

pub(super) fn bid_rows(bids: &[model::BidRow]) -> Vec<Vec<Markup>> {
    bids.iter()
        .map(|b| {
            vec![
                html! { (b.id) },
                link(&format!("/bidders/{}", b.bidder), &format!("@{}", b.handle)),
                html! { (b.amount_eth) },
                html! { (b.status) },
                html! { (b.reason.as_deref().unwrap_or("")) },
                html! { (b.at) },
                html! { (b.source) },
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
            return Ok(html! { p.error { "No such auction." } });
        };
        Ok(html! {
            (table(AUCTION_HEADERS, &auction_rows(std::slice::from_ref(&d.auction))))
            @if can_operate(s) { (controls(id, &d.auction.state)) }
            h2 { "Price over time" }
            (charts::price_svg(r, id)?)
            h2 { "Bids" }
            (table(BID_HEADERS, &bid_rows(&d.bids)))
        })
    });
}
