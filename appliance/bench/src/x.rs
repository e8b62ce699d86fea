//! X under load, `appliance bench x`: the appliance runs as a real process against the local X
//! server (`xserver`), reading through the filtered stream and posting under today's limit (100
//! posts per 15 minutes); a crowd of bidders tweets bids at a steady rate, then in a burst.
//!
//! Measured: tweet posted → bid decided (the engine's record of the tweet), bid tweet → the
//! first post naming its bidder (a reply, or an outbid post naming several), how long each
//! bidder waited to hear about their latest bid (and who never did within the run), outbid
//! notices against acceptances, and what X cost.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use control::{Client, Request, Response};
use domain::engine::Command;
use store::{AuctionRules, Store, View, Wei};
use xserver::XApi;

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Bidders in the crowd.
    pub bidders: usize,
    /// Minutes of steady bidding.
    pub minutes: f64,
    /// Bids per minute while steady.
    pub per_minute: u32,
    /// Bids in the burst minute after.
    pub burst: u32,
    /// Seconds to wait for replies after the last bid.
    pub drain_secs: u64,
}

const HOST_ID: u64 = 1000;
const HOST: &str = "SothebAIs";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A bidder's wallet key, from its number.
fn key(n: usize) -> k256::ecdsa::SigningKey {
    let mut bytes = [7u8; 32];
    bytes[24..].copy_from_slice(&(n as u64 + 1).to_be_bytes());
    k256::ecdsa::SigningKey::from_slice(&bytes).expect("a valid scalar")
}

fn config_text(data: &Path, api: &str, posts_per_15min: u32) -> anyhow::Result<String> {
    let now = store::Timestamp::from_datetime(chrono::Utc::now());
    let mut spec = domain::demo::live_spec(now);
    spec.rules = AuctionRules {
        reserve: Wei::parse("0.01").map_err(|e| anyhow::anyhow!("{e}"))?,
        min_increment: Wei::parse("0.001").map_err(|e| anyhow::anyhow!("{e}"))?,
        min_increment_bps: 0,
        extension_secs: 0,
        rate_limit_bids: 0,
        rate_limit_window_secs: 60,
        min_account_age_days: 0,
    };
    let mut campaign = toml::Table::new();
    campaign.insert("campaign".into(), toml::Value::try_from(&spec)?);
    Ok(format!(
        "data_dir = {:?}\n[log]\nlevel = \"warn\"\n[stream]\nenabled = false\n[simulation]\nenabled = false\n\
         [web]\nenabled = false\n[x]\nenabled = true\nbase_url = {api:?}\nintake = \"stream\"\n\
         timeout_secs = 5\nposts_per_15min = {posts_per_15min}\n\n{}",
        data.display().to_string(),
        toml::to_string(&campaign)?
    ))
}

fn start(exe: &Path, config: &Path, log: &Path) -> anyhow::Result<Child> {
    Ok(Process::new(exe)
        .args(["run", "--config"])
        .arg(config)
        .env("SOTHEBAIS_X__CONSUMER_KEY", xserver::CONSUMER_KEY)
        .env("SOTHEBAIS_X__CONSUMER_SECRET", xserver::CONSUMER_SECRET)
        .env("SOTHEBAIS_X__ACCESS_TOKEN", xserver::ACCESS_TOKEN)
        .env(
            "SOTHEBAIS_X__ACCESS_TOKEN_SECRET",
            xserver::ACCESS_TOKEN_SECRET,
        )
        .env("SOTHEBAIS_X__BEARER_TOKEN", "bench-bearer-token")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?)
}

fn stop(mut child: Child) -> anyhow::Result<()> {
    let _ = Process::new("kill").arg(child.id().to_string()).status();
    let status = child.wait()?;
    if !status.success() {
        bail!("the appliance stopped with {status}");
    }
    Ok(())
}

async fn connect(socket: &Path, log: &Path) -> anyhow::Result<Client> {
    let started = Instant::now();
    loop {
        if let Ok(c) = Client::connect(socket).await {
            return Ok(c);
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "the appliance did not start:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ask(c: &mut Client, request: &Request) -> anyhow::Result<serde_json::Value> {
    match c.request(request).await.map_err(anyhow::Error::msg)? {
        Response::Ok { reply, .. } => Ok(reply),
        Response::Err { error, .. } => bail!("{error}"),
    }
}

/// Waits until no X row is left to deliver.
async fn quiet_outbox(c: &mut Client, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let rows = ask(
            c,
            &Request::Outbox {
                open: true,
                limit: 10_000,
            },
        )
        .await?;
        if rows.as_array().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        if started.elapsed() > limit {
            bail!("the outbox did not empty: {rows}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut v: Vec<f64>) -> (usize, f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let max = v.last().copied().unwrap_or(f64::NAN);
    (v.len(), percentile(&v, 0.5), percentile(&v, 0.99), max)
}

/// What X use the stopped appliance has recorded in all.
fn usage_of(data: &Path) -> anyhow::Result<x::spend::Usage> {
    let store =
        Store::open_read_only(&data.join(store::DB_FILE)).context("reading the database")?;
    let r = store.read()?;
    Ok(r.state("x.usage.total")?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

/// One bid the crowd sent.
struct Sent {
    tweet: u64,
    bidder: usize,
    at_ms: u64,
}

/// Runs the benchmark and prints its report to `out`.
pub async fn run(opts: Options, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    if opts.bidders < 2 || opts.per_minute == 0 {
        bail!("the crowd needs at least 2 bidders and 1 bid a minute");
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let config = dir.path().join("appliance.toml");
    let log = dir.path().join("appliance.log");
    let exe = std::env::current_exe()?;
    let api = XApi::start(HOST, HOST_ID);
    for n in 0..opts.bidders {
        api.add_user(
            5000 + n as u64,
            &format!("b{n}"),
            "2020-01-01T00:00:00.000Z",
        );
    }

    // Set-up, posting without a limit: the crowd links its wallets and deposits.
    std::fs::write(&config, config_text(&data, &api.url, 100_000)?)?;
    let child = start(&exe, &config, &log)?;
    let mut ctl = connect(&data.join("control.sock"), &log).await?;
    let mut wallets = Vec::new();
    for n in 0..opts.bidders {
        let (text, wallet) = domain::link::link_tweet(HOST, &format!("b{n}"), &key(n));
        api.tweet(5000 + n as u64, &text, None);
        wallets.push(wallet);
    }
    let started = Instant::now();
    loop {
        let status = ask(&mut ctl, &Request::Status).await?;
        let linked = status["connections"]["x_polls"][0]["tweets"]
            .as_u64()
            .unwrap_or(0);
        if linked as usize >= opts.bidders {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the links were not all read: {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (n, wallet) in wallets.iter().enumerate() {
        ask(
            &mut ctl,
            &Request::Execute {
                command: Command::RecordDeposit {
                    from: *wallet,
                    amount: Wei::parse("1000").map_err(|e| anyhow::anyhow!("{e}"))?,
                    reference: format!("0xbench{n}"),
                },
            },
        )
        .await?;
    }
    quiet_outbox(&mut ctl, Duration::from_secs(300)).await?;
    drop(ctl);
    stop(child)?;
    let posted_before = api.posted().len();
    let usage_before = usage_of(&data)?;

    // The run, under X's posting limit.
    std::fs::write(&config, config_text(&data, &api.url, 0)?)?;
    let child = start(&exe, &config, &log)?;
    let _ctl = connect(&data.join("control.sock"), &log).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut sent: Vec<Sent> = Vec::new();
    let mut price = Wei::parse("1").map_err(|e| anyhow::anyhow!("{e}"))?;
    let step = Wei::parse("0.01").map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut last_bidder = usize::MAX;
    let mut bid = |api: &XApi, sent: &mut Vec<Sent>| {
        let mut who = fastrand::usize(..opts.bidders);
        if who == last_bidder {
            who = (who + 1) % opts.bidders;
        }
        last_bidder = who;
        price = price.checked_add(step).unwrap_or(price);
        let tweet = api.tweet(
            5000 + who as u64,
            &format!("@{HOST} bid {} ETH", price.eth_string()),
            None,
        );
        sent.push(Sent {
            tweet,
            bidder: who,
            at_ms: now_ms(),
        });
    };
    let steady = (opts.minutes * f64::from(opts.per_minute)).round() as usize;
    let gap = Duration::from_secs_f64(60.0 / f64::from(opts.per_minute));
    let t0 = Instant::now();
    for i in 0..steady {
        tokio::time::sleep_until((t0 + gap * i as u32).into()).await;
        bid(&api, &mut sent);
    }
    let steady_count = sent.len();
    if opts.burst > 0 {
        let gap = Duration::from_secs_f64(60.0 / f64::from(opts.burst));
        let t1 = Instant::now();
        for i in 0..opts.burst {
            tokio::time::sleep_until((t1 + gap * i).into()).await;
            bid(&api, &mut sent);
        }
    }
    let last_bid = Instant::now();
    tokio::time::sleep(Duration::from_secs(opts.drain_secs)).await;
    let run_secs = t0.elapsed().as_secs_f64();
    drop(_ctl);
    stop(child)?;

    // What the appliance recorded, and what X saw.
    let total = usage_of(&data)?;
    let store =
        Store::open_read_only(&data.join(store::DB_FILE)).context("reading the database")?;
    let r = store.read()?;
    let mut decided = Vec::new();
    for s in &sent {
        if let Some(t) = r.tweet(&s.tweet.to_string())? {
            let received_ms = (t.received_at.0 / 1000) as u64;
            decided.push(received_ms.saturating_sub(s.at_ms) as f64 / 1000.0);
        }
    }
    let posted = api.posted()[posted_before..].to_vec();
    // A bidder hears about a bid from the first post after it that names them (a reply to
    // them, or an outbid post naming several bidders).
    let names = |p: &xserver::Posted, who: usize| {
        let handle = format!("@b{who}");
        p.text
            .split_whitespace()
            .take_while(|w| w.starts_with('@'))
            .any(|w| w == handle)
    };
    let heard_after = |s: &Sent| {
        posted
            .iter()
            .find(|p| p.at_ms >= s.at_ms && names(p, s.bidder))
            .map(|p| p.at_ms.saturating_sub(s.at_ms) as f64 / 1000.0)
    };
    let replied: Vec<f64> = sent.iter().filter_map(heard_after).collect();
    // Each bidder's latest bid: how long until a post told them where they stand.
    let mut latest: HashMap<usize, &Sent> = HashMap::new();
    for s in &sent {
        latest.insert(s.bidder, s);
    }
    let mut heard = Vec::new();
    let mut never = 0;
    for s in latest.values() {
        match heard_after(s) {
            Some(secs) => heard.push(secs),
            None => never += 1,
        }
    }
    let outbid: Vec<&xserver::Posted> = posted
        .iter()
        .filter(|p| p.text.contains("You were outbid"))
        .collect();
    let accepted = posted
        .iter()
        .filter(|p| p.text.contains("Your bid of"))
        .count();
    let usage = x::spend::Usage {
        reads: total.reads.saturating_sub(usage_before.reads),
        posts: total.posts.saturating_sub(usage_before.posts),
        posts_with_url: total
            .posts_with_url
            .saturating_sub(usage_before.posts_with_url),
    };
    let cost = usage.cost(&x::spend::Prices::default());
    let skipped = control::outbox(&store, false, 10_000)?
        .iter()
        .filter(|row| matches!(&row.status, store::OutboxStatus::Skipped { reason, .. } if reason.contains("superseded")))
        .count();

    let line = |name: &str, (n, p50, p99, max): (usize, f64, f64, f64)| {
        format!("| {name} | {n} | {p50:.3} | {p99:.3} | {max:.3} |")
    };
    writeln!(
        out,
        "X under load: {} bidders, {steady_count} bids at {}/min over {:.1} min, then {} in one minute; \
         drained {} s after the last bid ({:.0} s in all). Filtered stream; posts paced at X's 100 per 15 min.\n",
        opts.bidders,
        opts.per_minute,
        opts.minutes,
        opts.burst,
        last_bid.elapsed().as_secs(),
        run_secs
    )?;
    writeln!(
        out,
        "| measure (seconds) | n | p50 | p99 | max |\n|---|---|---|---|---|"
    )?;
    writeln!(out, "{}", line("tweet → bid decided", summary(decided)))?;
    writeln!(
        out,
        "{}",
        line("bid tweet → a post naming its bidder", summary(replied))
    )?;
    writeln!(
        out,
        "{}",
        line("a bidder's latest bid → heard about it", summary(heard))
    )?;
    writeln!(
        out,
        "\nBidders who never heard about their latest bid within the run: {never} of {}.\n\
         Posts: {} ({} outbid notices, {accepted} acceptances); notices dropped as superseded: {skipped}.\n\
         X spend of the run (published prices): ${:.3} ({} posts read, {} posts created).",
        latest.len(),
        posted.len(),
        outbid.len(),
        cost as f64 / 1e6,
        usage.reads,
        usage.posts + usage.posts_with_url
    )?;
    Ok(())
}
