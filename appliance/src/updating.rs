//! Self-update at work: `appliance update check | apply | rollback | status` on the command
//! line, and, in a running appliance, the new version's health gate (it must prove healthy
//! within `update.health_secs`, or it rolls itself back and exits for the service manager to
//! start the previous one) and the record of every switch in the event log.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use domain::engine::{Command, EngineHandle};
use provisioning::slots::Slots;
use provisioning::update::{self, Source};
use store::{Audit, Store, View};

use crate::config::Config;
use crate::health::Parts;
use crate::streaming::StreamControl;

/// This binary's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The state key counting the history lines already in the event log.
const SEEN_KEY: &str = "update.history_seen";

fn source(config: &Config) -> Source {
    Source {
        url: config.update.url.clone(),
        repo: config.update.repo.clone(),
    }
}

fn slots(config: &Config) -> Result<Slots> {
    Slots::open(&config.update.slots).map_err(|e| {
        anyhow!(
            "{e:#}: this appliance does not run from update slots (the box's image sets them up \
             at {}; set update.slots elsewhere)",
            config.update.slots.display()
        )
    })
}

/// The auction open now, according to the running appliance (none when it does not run).
fn open_auction(config: &Config) -> Result<Option<String>> {
    let path = config.socket_path();
    if !path.exists() {
        return Ok(None);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = rt.block_on(async {
        let mut c = control::Client::connect(&path).await?;
        c.request(&control::Request::Status).await
    });
    let Ok(status) = status else {
        // A socket nobody answers: the appliance is not running.
        return Ok(None);
    };
    let status = status
        .into_result()
        .map_err(|e| anyhow!("the running appliance refused its status: {}", e.message))?;
    Ok(status["live_auction"].as_object().map(|a| {
        format!(
            "auction #{} is {} until {}",
            a.get("id").and_then(|v| v.as_u64()).unwrap_or(0),
            a.get("state").and_then(|v| v.as_str()).unwrap_or("open"),
            a.get("ends_at")
                .and_then(|v| v.as_str())
                .unwrap_or("its end")
        )
    }))
}

fn restart(config: &Config, out: &mut impl Write) -> Result<()> {
    let cmd = config.update.restart.trim();
    if cmd.is_empty() {
        writeln!(
            out,
            "Restart the appliance to run it (update.restart is empty)."
        )?;
        return Ok(());
    }
    let status = std::process::Command::new("sh")
        .args(["-c", cmd])
        .status()
        .with_context(|| format!("cannot run update.restart ({cmd})"))?;
    if !status.success() {
        bail!("update.restart ({cmd}) failed: {status}");
    }
    writeln!(out, "Restarted ({cmd}).")?;
    Ok(())
}

/// `appliance update status`.
pub fn status(config: &Config, out: &mut impl Write) -> Result<()> {
    let s = slots(config)?;
    let active = s.active()?;
    writeln!(
        out,
        "running: {} (slot {}); other slot: {}",
        s.version(active).unwrap_or_else(|| VERSION.into()),
        active.name(),
        s.version(active.other()).unwrap_or_else(|| "empty".into())
    )?;
    if let Some(p) = s.pending() {
        writeln!(
            out,
            "pending: {} (from {}, since {}), not yet proved healthy",
            p.version, p.from_version, p.at
        )?;
    }
    let bad = s.bad();
    if !bad.is_empty() {
        writeln!(out, "bad (never offered again): {}", bad.join(", "))?;
    }
    for e in s.history().iter().rev().take(10) {
        writeln!(out, "{}  {:<11} {}  {}", e.at, e.event, e.version, e.detail)?;
    }
    Ok(())
}

/// `appliance update check`: whether a newer release is offered. True when one is.
pub fn check(config: &Config, out: &mut impl Write) -> Result<bool> {
    let bad = Slots::open(&config.update.slots)
        .map(|s| s.bad())
        .unwrap_or_default();
    let offers = update::list(&source(config))?;
    match update::newest(&offers, VERSION, &bad) {
        Some(o) => {
            writeln!(
                out,
                "available: {} (published {}; running {VERSION})\n\n{}",
                o.version, o.published, o.notes
            )?;
            Ok(true)
        }
        None => {
            writeln!(out, "up to date: {VERSION}")?;
            Ok(false)
        }
    }
}

/// `appliance update apply`: installs the newest release into the other slot and switches to
/// it, unless an auction is open (`force` overrides). True when it switched.
pub fn apply(config: &Config, force: bool, out: &mut impl Write) -> Result<bool> {
    let s = slots(config)?;
    if let Some(p) = s.pending() {
        bail!(
            "{} is still proving itself (since {}); wait for it, or `appliance update rollback`",
            p.version,
            p.at
        );
    }
    if let Some(open) = open_auction(config)?
        && !force
    {
        bail!(
            "{open}: updates wait for the post-auction window (or `appliance update apply --force`)"
        );
    }
    let keys = update::public_keys(&config.update.public_keys)?;
    let running = s.version(s.active()?).unwrap_or_else(|| VERSION.into());
    let offers = update::list(&source(config))?;
    let Some(offer) = update::newest(&offers, &running, &s.bad()) else {
        writeln!(out, "up to date: {running}")?;
        return Ok(false);
    };
    writeln!(out, "installing {} …", offer.version)?;
    let installed = update::install(&s, &offer, &keys)?;
    s.switch(&installed.version)?;
    writeln!(
        out,
        "{} is in slot {} ({}) and active; it must prove healthy within {} s or the previous \
         version comes back.",
        installed.version,
        installed.slot.name(),
        installed.says,
        config.update.health_secs
    )?;
    restart(config, out)?;
    Ok(true)
}

/// `appliance update rollback`: back to the other slot's version.
pub fn rollback(config: &Config, out: &mut impl Write) -> Result<()> {
    let s = slots(config)?;
    let (left, back) = s.rollback("the operator's choice")?;
    writeln!(out, "rolled back from {left} to {back}")?;
    restart(config, out)
}

/// Records the slots' history lines not yet in the event log, as admin actions.
async fn record_history(slots: &Slots, engine: &EngineHandle, store: &Store) {
    let seen: usize = store
        .read()
        .ok()
        .and_then(|r| r.state(SEEN_KEY).ok().flatten())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let history = slots.history();
    for (i, e) in history.iter().enumerate().skip(seen) {
        let recorded = engine
            .execute(Command::RecordAdminAction {
                action: format!("update {}", e.event),
                detail: format!("{} at {}: {}", e.version, e.at, e.detail),
                audit: Audit {
                    actor: "appliance".into(),
                    origin: "self-update".into(),
                    reason: "the update slots' history".into(),
                },
            })
            .await;
        let kept = engine
            .execute(Command::SaveState {
                key: SEEN_KEY.into(),
                value: (i + 1).to_string(),
            })
            .await;
        if let Err(e) = recorded.map(|_| ()).and(kept.map(|_| ())) {
            tracing::warn!(error = %e, "cannot record the update history in the event log");
            return;
        }
        tracing::info!(event = %e.event, version = %e.version, detail = %e.detail, "update history recorded in the event log");
    }
}

/// Why the appliance is not healthy yet (none when it is): the engine takes writes, and a
/// running stream encodes frames (and is connected when it publishes).
async fn unhealthy(parts: &Parts, stream: &StreamControl, publishes: bool) -> Option<String> {
    if let Err(e) = parts.engine_alive().await {
        return Some(format!("engine: {e}"));
    }
    if stream.running() {
        // (A running stream without figures yet has encoded nothing: not healthy.)
        let Some(f) = stream.figures() else {
            return Some("the stream reports nothing yet".into());
        };
        if f.frames == 0 {
            return Some("the stream has encoded no frame".into());
        }
        if publishes && !f.connected {
            return Some(format!("the stream is not published: {}", f.last_error));
        }
    }
    None
}

/// In a running appliance: records the slots' history, and if this version is an update still
/// to prove itself, judges it for `update.health_secs`: confirmed once healthy, else rolled
/// back and the process exits (75) for the service manager to start the previous version.
pub async fn gate(
    config: Config,
    parts: Arc<Parts>,
    stream: Arc<StreamControl>,
    engine: EngineHandle,
    store: Arc<Store>,
) {
    let Ok(slots) = Slots::open(&config.update.slots) else {
        return;
    };
    record_history(&slots, &engine, &store).await;
    let Some(pending) = slots.pending() else {
        return;
    };
    let limit = Duration::from_secs(config.update.health_secs);
    tracing::info!(version = %pending.version, from = %pending.from_version, limit_s = limit.as_secs(), "a new version: proving it healthy");
    let start = Instant::now();
    let publishes = !config.stream.url.is_empty();
    let mut why = String::from("not judged");
    while start.elapsed() < limit {
        match unhealthy(&parts, &stream, publishes).await {
            None => {
                let detail = format!(
                    "healthy after {} s (engine writes; stream {})",
                    start.elapsed().as_secs(),
                    if stream.running() { "encoding" } else { "off" }
                );
                match slots.confirm(&detail) {
                    Ok(_) => {
                        tracing::info!(version = %pending.version, %detail, "the update is confirmed")
                    }
                    Err(e) => tracing::error!(error = %e, "cannot confirm the update"),
                }
                record_history(&slots, &engine, &store).await;
                return;
            }
            Some(w) => why = w,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let why = format!("not healthy within {} s: {why}", limit.as_secs());
    match slots.rollback(&why) {
        Ok((left, back)) => {
            record_history(&slots, &engine, &store).await;
            tracing::error!(version = %left, back = %back, reason = %why, "the update is rolled back; exiting for the previous version to start");
            eprintln!("error: {left} {why}; rolled back to {back}, exiting");
            std::process::exit(75);
        }
        Err(e) => tracing::error!(error = %e, "cannot roll the update back"),
    }
}
