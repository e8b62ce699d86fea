//! Operator commands on a data directory: `check`, `backup`, `restore`, `export bids`. All of
//! them read a consistent snapshot and work while the appliance runs.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use store::{BidId, BidSource, Store, View};

/// Opens a data directory's database for reading. A database left needing crash recovery is
/// recovered first (which needs no other appliance to be running).
pub fn open_for_reading(data: &Path) -> anyhow::Result<Store> {
    let path = data.join(store::DB_FILE);
    if !path.exists() {
        bail!(
            "no database in {} (expected {})",
            data.display(),
            path.display()
        );
    }
    match Store::open_read_only(&path) {
        Ok(s) => Ok(s),
        Err(store::Error::NeedsRecovery(_)) => {
            tracing::info!(db = %path.display(), "recovering after an unclean stop");
            drop(Store::open(&path).with_context(|| format!("cannot recover {}", path.display()))?);
            Ok(Store::open_read_only(&path)?)
        }
        Err(e) => Err(e).with_context(|| format!("cannot open {}", path.display())),
    }
}

#[derive(Serialize)]
struct CheckJson<'a> {
    ok: bool,
    events: u64,
    head: String,
    tables: Vec<(&'a str, u64)>,
    problems: &'a [String],
}

/// `appliance check`: returns whether everything holds.
pub fn check(data: &Path, json: bool, out: &mut dyn Write) -> anyhow::Result<bool> {
    let store = open_for_reading(data)?;
    let report = store::check::run(&store)?;
    let head = report.head.map_or_else(String::new, |h| {
        h.hash.iter().map(|b| format!("{b:02x}")).collect()
    });
    if json {
        let body = CheckJson {
            ok: report.ok(),
            events: report.events,
            head,
            tables: report.tables.clone(),
            problems: &report.problems,
        };
        writeln!(out, "{}", serde_json::to_string(&body)?)?;
    } else {
        writeln!(out, "events: {} (hash chain verified)", report.events)?;
        writeln!(
            out,
            "head:   {}",
            if head.is_empty() {
                "(empty log)"
            } else {
                &head
            }
        )?;
        for (table, rows) in &report.tables {
            writeln!(out, "  {table:<16} {rows:>10} rows")?;
        }
        if report.ok() {
            writeln!(
                out,
                "ok: the log replays to exactly the stored projections; escrow and auctions are consistent"
            )?;
        } else {
            writeln!(out, "FAILED: {} problem(s)", report.problems.len())?;
            for p in &report.problems {
                writeln!(out, "  - {p}")?;
            }
        }
    }
    Ok(report.ok())
}

/// `appliance backup`.
pub fn backup(data: &Path, to: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = open_for_reading(data)?;
    let report = store::backup::backup(&store, to)?;
    writeln!(
        out,
        "backup written to {}: {} rows, {} events, integrity check ok",
        report.path.display(),
        report.rows,
        report.check.events
    )?;
    Ok(())
}

/// `appliance restore`.
pub fn restore(from: &Path, data: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let report = store::backup::restore(from, &data.join(store::DB_FILE))?;
    writeln!(
        out,
        "restored {} into {}: {} events, integrity check ok",
        from.display(),
        data.display(),
        report.events
    )?;
    Ok(())
}

#[derive(Serialize)]
struct BidLine<'a> {
    id: u64,
    auction: Option<u64>,
    bidder: String,
    handle: &'a str,
    amount_wei: String,
    amount_eth: String,
    time: String,
    status: &'static str,
    reason: Option<&'a str>,
    message: Option<&'a str>,
    source: String,
}

/// `appliance export bids`: every bid as one JSON line, in id order. Returns how many.
pub fn export_bids(data: &Path, out: &mut dyn Write) -> anyhow::Result<u64> {
    let store = open_for_reading(data)?;
    let reader = store.read()?;
    let mut handles = std::collections::HashMap::new();
    for u in reader.users()? {
        handles.insert(u.id, u.handle);
    }
    let mut after = BidId(0);
    let mut count = 0;
    loop {
        let page = reader.bids_after(after, 4096)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for bid in &page {
            let line = BidLine {
                id: bid.id.0,
                auction: bid.auction.map(|a| a.0),
                bidder: bid.bidder.to_string(),
                handle: handles.get(&bid.bidder).map_or("", String::as_str),
                amount_wei: bid.amount.0.to_string(),
                amount_eth: bid.amount.eth_string(),
                time: bid.placed_at.rfc3339(),
                status: bid.status.as_str(),
                reason: bid.rejection.as_ref().map(|r| r.code.as_str()),
                message: bid.rejection.as_ref().map(|r| r.message.as_str()),
                source: match &bid.source {
                    BidSource::Tweet(id) => format!("tweet:{id}"),
                    BidSource::Operator(key) => format!("op:{key}"),
                    BidSource::Simulated => "simulated".into(),
                },
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
            count += 1;
        }
    }
    Ok(count)
}
