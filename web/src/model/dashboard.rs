//! The dashboard: the auction now, the campaign day, the last bids and tweets, and alerts.

use super::*;

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
    /// What X cost today, this month and this campaign, and the monthly budget (null when X is
    /// not connected).
    #[salvo(schema(value_type = Object))]
    pub x_spend: Value,
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
    // Every part that is down or degraded, with why and since when.
    for p in status["connections"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let level = match p["state"].as_str() {
            Some("down") => "error",
            Some("degraded") => "warning",
            _ => continue,
        };
        add(
            level,
            format!(
                "{} is {}: {} (since {})",
                p["part"].as_str().unwrap_or("?"),
                p["state"].as_str().unwrap_or("?"),
                p["why"].as_str().unwrap_or(""),
                p["since"].as_str().unwrap_or("?")
            ),
        );
    }
    let stream = &status["stream"];
    if let Some(why) = stream["standby"].as_str() {
        add(
            "warning",
            format!("The stream shows the standby picture: {why}"),
        );
    }
    if stream["encoder_restarts"].as_u64().unwrap_or(0) > 0 {
        add(
            "warning",
            format!(
                "The video encoder failed and was replaced {} time(s) (last: {})",
                stream["encoder_restarts"],
                stream["encoder_error"].as_str().unwrap_or("")
            ),
        );
    }
    if let (Some(rung), Some(top)) = (stream["rung"].as_str(), stream["top_rung"].as_str())
        && !rung.is_empty()
        && rung != top
    {
        add(
            "warning",
            format!(
                "The uplink is slow: streaming at {rung} instead of {top} ({})",
                stream["last_step"].as_str().unwrap_or("")
            ),
        );
    }
    if stream["insecure_tls"] == true {
        add(
            "warning",
            "The stream's RTMPS certificate is not checked (stream.insecure_skip_verify): anyone \
             between the box and the ingest could take or alter the stream"
                .into(),
        );
    }
    let spend = &status["connections"]["tweets"]["spend"];
    match spend["level"].as_str() {
        Some("warning") => add(
            "warning",
            format!(
                "80 % of this month's X budget is spent (${} of ${})",
                spend["month_usd"], spend["budget_usd"]
            ),
        ),
        Some("spent") => add(
            "error",
            format!(
                "This month's X budget is spent (${} of ${}): acceptances, answers and reminders \
                 are no longer posted; outbid notices, announcements and results still are",
                spend["month_usd"], spend["budget_usd"]
            ),
        ),
        _ => {}
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
    let backups = &c["backups"];
    if backups["failures"].as_u64().unwrap_or(0) > 0
        && !backups["last_error"].as_str().unwrap_or("").is_empty()
    {
        add(
            "error",
            format!(
                "A scheduled backup failed: {} (last good: {})",
                backups["last_error"].as_str().unwrap_or(""),
                backups["last_good_at"].as_str().unwrap_or("none yet")
            ),
        );
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
        x_spend: status["connections"]["tweets"]["spend"].clone(),
        alerts: alerts(status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchecked_rtmps_certificate_and_a_failed_backup_are_alerts() {
        let quiet =
            alerts(&serde_json::json!({"stream": {"running": false, "insecure_tls": false}}));
        assert!(quiet.is_empty(), "{quiet:?}");
        let loud = alerts(&serde_json::json!({"stream": {"running": true, "insecure_tls": true}}));
        assert_eq!(loud.len(), 1);
        assert_eq!(loud[0].level, "warning");
        assert!(
            loud[0].message.contains("insecure_skip_verify"),
            "{}",
            loud[0].message
        );
        let failed = alerts(&serde_json::json!({"connections": {"backups": {
            "failures": 1, "last_error": "disk full", "last_good_at": null}}}));
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].level, "error");
        assert!(failed[0].message.contains("disk full") && failed[0].message.contains("none yet"));
    }

    #[test]
    fn a_spent_x_budget_is_an_error_and_most_of_it_a_warning() {
        let at = |level: &str| {
            alerts(&serde_json::json!({"connections": {"tweets": {"spend": {
                "level": level, "month_usd": 85.5, "budget_usd": 100.0}}}}))
        };
        assert!(at("fine").is_empty());
        let w = at("warning");
        assert_eq!((w.len(), w[0].level.as_str()), (1, "warning"));
        assert!(w[0].message.contains("$85.5 of $100"), "{}", w[0].message);
        let e = at("spent");
        assert_eq!((e.len(), e[0].level.as_str()), (1, "error"));
    }

    #[test]
    fn a_stream_below_the_top_of_its_ladder_is_a_warning() {
        let top = alerts(&serde_json::json!({"stream": {
            "running": true, "rung": "720p@4500", "top_rung": "720p@4500"}}));
        assert!(top.is_empty(), "{top:?}");
        let slow = alerts(&serde_json::json!({"stream": {
            "running": true, "rung": "720p@2000", "top_rung": "720p@4500",
            "last_step": "720p@4500 → 720p@2000: 700 ms of stream waiting to be sent"}}));
        assert_eq!(slow.len(), 1);
        assert!(
            slow[0].message.contains("720p@2000 instead of 720p@4500"),
            "{}",
            slow[0].message
        );
    }
}
