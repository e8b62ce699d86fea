//! Operator commands on a data directory: `check`, `backup`, `restore`, `export bids`.
//!
//! They work whether the appliance is running or not: when it is, the database file is held
//! by it, so they ask it over the control socket for a checked snapshot and read that.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use store::{BidId, BidSource, Store, View};

use control::{BackupDone, Client, Request};

/// Where the data directory's control socket is, unless given.
pub fn default_socket(data: &Path) -> PathBuf {
    data.join("control.sock")
}

/// Opens a data directory's database for reading, when no appliance holds it. A database left
/// needing crash recovery is recovered first.
pub fn open_for_reading(data: &Path) -> anyhow::Result<Result<Store, store::Error>> {
    let path = data.join(store::DB_FILE);
    if !path.exists() {
        bail!(
            "no database in {} (expected {})",
            data.display(),
            path.display()
        );
    }
    match Store::open_read_only(&path) {
        Err(store::Error::NeedsRecovery(_)) => {
            tracing::info!(db = %path.display(), "recovering after an unclean stop");
            drop(Store::open(&path).with_context(|| format!("cannot recover {}", path.display()))?);
            Ok(Store::open_read_only(&path))
        }
        other => Ok(other),
    }
}

/// A consistent view of a data directory: the file itself, or a snapshot the running appliance
/// made (removed when dropped).
pub struct Snapshot {
    store: Option<Store>,
    copy: Option<PathBuf>,
}

impl Snapshot {
    /// The store to read.
    pub fn store(&self) -> &Store {
        self.store
            .as_ref()
            .unwrap_or_else(|| unreachable!("a snapshot always holds a store"))
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.store.take();
        if let Some(copy) = &self.copy {
            let _ = std::fs::remove_file(copy);
        }
    }
}

/// Asks the appliance serving `socket` to back up to `path` (absolute).
pub fn backup_over_socket(socket: &Path, path: &Path) -> anyhow::Result<BackupDone> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reply = runtime.block_on(async {
        let mut client = Client::connect(socket).await.map_err(anyhow::Error::msg)?;
        client
            .request(&Request::Backup {
                path: path.to_path_buf(),
            })
            .await
            .map_err(anyhow::Error::msg)
    })?;
    match reply.into_result() {
        Ok(v) => Ok(serde_json::from_value(v)?),
        Err(e) => bail!("the appliance could not write the backup: {}", e.message),
    }
}

/// A consistent view of `data`, whether or not an appliance is running on it.
pub fn snapshot(data: &Path, socket: &Path) -> anyhow::Result<Snapshot> {
    match open_for_reading(data)? {
        Ok(store) => Ok(Snapshot {
            store: Some(store),
            copy: None,
        }),
        Err(store::Error::InUse(_)) => {
            let dir = std::path::absolute(data.join("snapshots"))?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let copy = dir.join(format!("snapshot-{}-{nanos}.redb", std::process::id()));
            backup_over_socket(socket, &copy)
                .context("the appliance is running; asking it for a snapshot")?;
            let store = Store::open_read_only(&copy)?;
            Ok(Snapshot {
                store: Some(store),
                copy: Some(copy),
            })
        }
        Err(e) => Err(e).with_context(|| format!("cannot open the database in {}", data.display())),
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
pub fn check(data: &Path, socket: &Path, json: bool, out: &mut dyn Write) -> anyhow::Result<bool> {
    let snapshot = snapshot(data, socket)?;
    let report = store::check::run(snapshot.store())?;
    let head = report
        .head
        .map_or_else(String::new, |h| hex::encode(h.hash));
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
pub fn backup(data: &Path, socket: &Path, to: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let (path, rows, events) = match open_for_reading(data)? {
        Ok(store) => {
            let r = store::backup::backup(&store, to)?;
            (r.path, r.rows, r.check.events)
        }
        Err(store::Error::InUse(_)) => {
            let r = backup_over_socket(socket, &std::path::absolute(to)?)?;
            (r.path, r.rows, r.events)
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot open the database in {}", data.display()));
        }
    };
    writeln!(
        out,
        "backup written to {}: {rows} rows, {events} events, integrity check ok",
        path.display()
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
pub fn export_bids(data: &Path, socket: &Path, out: &mut dyn Write) -> anyhow::Result<u64> {
    let snapshot = snapshot(data, socket)?;
    let reader = snapshot.store().read()?;
    let mut handles = std::collections::HashMap::new();
    for u in reader.users()? {
        handles.insert(u.id, u.handle);
    }
    let auctions: std::collections::HashMap<_, _> =
        reader.auctions()?.into_iter().map(|a| (a.id, a)).collect();
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
                status: bid
                    .standing(bid.auction.and_then(|a| auctions.get(&a)))
                    .as_str(),
                reason: bid.rejection.as_ref().map(|r| r.code.as_str()),
                message: bid.rejection.as_ref().map(|r| r.message.as_str()),
                source: match &bid.source {
                    BidSource::Tweet(id) => format!("tweet:{id}"),
                    BidSource::Operator(key) => format!("op:{key}"),
                    BidSource::Simulated => "simulated".into(),
                    BidSource::Proxy(id) => format!("proxy:{id}"),
                },
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
            count += 1;
        }
    }
    Ok(count)
}

/// Sets the password of an admin page account (made an admin if new), enables it and, with
/// `reset_totp`, turns its two-factor sign-in off. Goes through the running appliance's control
/// socket when there is one (the page reads accounts from the store, so it applies at once),
/// else writes the database directly.
pub async fn set_admin_password(
    config: &crate::config::Config,
    user: &str,
    password: &str,
    reset_totp: bool,
) -> anyhow::Result<()> {
    use control::{Client, Request};
    use domain::engine::{Command, Engine, EngineConfig};
    web::accounts::check_name(user).map_err(anyhow::Error::msg)?;
    let socket = config.socket_path();
    // A box's first boot makes the admin account before the appliance ever ran: the database
    // is created empty, as the appliance's own first start would.
    let db = config.db_path();
    if !db.exists() && Client::connect(&socket).await.is_err() {
        crate::files::private_dir(&config.data_dir)?;
        drop(Store::open(&db).with_context(|| format!("cannot create {}", db.display()))?);
    }
    // The change is a compare-and-swap on the stored accounts: if the admin page changed them
    // between our read and our write, read them again and redo the change.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (data, sock) = (config.data_dir.clone(), socket.clone());
        let mut list = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let snapshot = snapshot(&data, &sock)?;
            let list = web::accounts::AccountList::read(&snapshot.store().read()?)
                .map_err(anyhow::Error::msg)?;
            Ok(list)
        })
        .await??;
        let role = list.get(user).map_or(web::Role::Admin, |a| a.role);
        list.set_password(user, password, role)
            .map_err(anyhow::Error::msg)?;
        if let Some(a) = list.get_mut(user) {
            a.disabled = false;
            if reset_totp {
                a.totp = None;
                a.totp_pending = None;
            }
        }
        let command = Command::SwapState {
            key: web::accounts::STATE_KEY.into(),
            expected: list.revision.clone(),
            value: list.to_json(),
        };
        let result = if let Ok(mut client) = Client::connect(&socket).await {
            client
                .request(&Request::Execute { command })
                .await
                .map_err(anyhow::Error::msg)?
                .into_result()
                .map(drop)
        } else {
            let store = std::sync::Arc::new(Store::open(&config.db_path())?);
            let clock: domain::clock::SharedClock = std::sync::Arc::new(domain::clock::SystemClock);
            let engine = Engine::start(
                store,
                clock,
                EngineConfig {
                    policy: config.policy(),
                    ..EngineConfig::default()
                },
            )?;
            let result = engine.handle().execute(command).await.map(drop);
            engine.shutdown().await;
            result
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) if e.code == "conflict" && attempts < 5 => continue,
            Err(e) => anyhow::bail!("refused ({}): {}", e.code, e.message),
        }
    }
}
