//! The local control socket: JSON lines over a Unix socket in the data directory, readable and
//! writable only by the appliance's user. `appliance ctl` speaks it; so can scripts.
//!
//! Each request is one JSON object on one line; each gets one JSON line back, in order:
//!
//! ```text
//! {"op":"status"}
//! {"op":"execute","command":{"command":"pause","auction":3,"audit":{"actor":"ana","origin":"","reason":"stream glitch"}}}
//! -> {"ok":true,"reply":{...}}  or  {"ok":false,"error":{"code":"invalid_state","message":"..."}}
//! ```
//!
//! The origin of manual actions is stamped by the server (`control socket`), never taken from
//! the client.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use store::{AuctionState, Store, View};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use domain::engine::{Command, CommandError, EngineHandle, Reply};

/// Longest accepted request line.
const MAX_LINE: usize = 256 * 1024;

/// A request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Request {
    /// The appliance's state at a glance.
    Status,
    /// An engine command.
    Execute {
        /// The command.
        command: Command,
    },
    /// Writes a checked backup of the database to `path` (absolute; must not exist).
    Backup {
        /// Where.
        path: PathBuf,
    },
    /// Outbox rows (tweets and chain transactions), newest last.
    Outbox {
        /// Only rows still to be delivered (pending, held, sending, signed, failed).
        #[serde(default)]
        open: bool,
        /// At most this many (the newest).
        #[serde(default = "default_outbox_limit")]
        limit: usize,
    },
}

fn default_outbox_limit() -> usize {
    100
}

/// Outbox rows for the operator, newest last (at most `limit`).
pub fn outbox(store: &Store, open: bool, limit: usize) -> store::Result<Vec<store::OutboxEntry>> {
    let r = store.read()?;
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let page = r.outbox_after(after, 1024)?;
        let Some(last) = page.last() else { break };
        after = last.id.0;
        rows.extend(page.into_iter().filter(|row| !open || row.status.is_open()));
    }
    let skip = rows.len().saturating_sub(limit.clamp(1, 10_000));
    Ok(rows.split_off(skip))
}

/// What a backup over the socket wrote.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupDone {
    /// The file.
    pub path: PathBuf,
    /// Rows copied.
    pub rows: u64,
    /// Events in it.
    pub events: u64,
}

/// The appliance's state at a glance.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// Events in the log.
    pub events: u64,
    /// The log's head hash (hex).
    pub head: String,
    /// The auction taking bids, if any.
    pub live_auction: Option<store::Auction>,
    /// Commands the engine has answered since start.
    pub commands: u64,
    /// Transactions it has committed since start.
    pub batches: u64,
    /// X and the chain, when the running appliance answers.
    #[serde(default)]
    pub connections: Option<HealthReport>,
    /// Deposits from wallets not linked to any bidder: held, not credited, until the wallet is
    /// linked.
    #[serde(default)]
    pub held_deposits: Vec<store::Deposit>,
}

/// What the appliance's connections (X, the chain) report, as the status shows it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HealthReport {
    /// Per X source: polls, tweets taken in, errors, last error.
    pub x_polls: Vec<serde_json::Value>,
    /// Tweets posted, skipped, failed.
    pub tweets: serde_json::Value,
    /// The chain: head, confirmed, pending deposits, transactions.
    pub chain: Option<serde_json::Value>,
    /// Scheduled backups: the last good one, failures.
    #[serde(default)]
    pub backups: Option<serde_json::Value>,
    /// Each part of the appliance: ok, degraded or down, since when, why.
    #[serde(default)]
    pub parts: Vec<domain::report::PartStatus>,
}

/// Reads the connections' report when the status is asked for.
pub type Connections = Arc<dyn Fn() -> HealthReport + Send + Sync>;

/// A response.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Response {
    /// Success.
    Ok {
        /// Always true.
        ok: bool,
        /// The engine's reply, or the status.
        reply: serde_json::Value,
    },
    /// Failure.
    Err {
        /// Always false.
        ok: bool,
        /// What went wrong.
        error: CommandError,
    },
}

impl Response {
    fn ok(reply: serde_json::Value) -> Response {
        Response::Ok { ok: true, reply }
    }

    fn err(error: CommandError) -> Response {
        Response::Err { ok: false, error }
    }

    /// The reply, or the error.
    pub fn into_result(self) -> Result<serde_json::Value, CommandError> {
        match self {
            Response::Ok { reply, .. } => Ok(reply),
            Response::Err { error, .. } => Err(error),
        }
    }
}

/// The status, read from a snapshot.
pub fn status(
    store: &Store,
    engine: Option<&EngineHandle>,
    connections: Option<&Connections>,
) -> store::Result<Status> {
    let r = store.read()?;
    let head = r.head()?;
    let live_auction = r
        .auctions()?
        .into_iter()
        .find(|a| matches!(a.state, AuctionState::Active | AuctionState::Paused));
    let stat = |f: fn(&domain::engine::EngineStats) -> u64| engine.map_or(0, |e| f(e.stats()));
    Ok(Status {
        events: head.map_or(0, |h| h.seq),
        head: head.map_or_else(String::new, |h| hex::encode(h.hash)),
        live_auction,
        commands: stat(|s| s.commands.load(std::sync::atomic::Ordering::Relaxed)),
        batches: stat(|s| s.batches.load(std::sync::atomic::Ordering::Relaxed)),
        connections: connections.map(|report| report()),
        held_deposits: r
            .deposits()?
            .into_iter()
            .filter(|d| d.user.is_none())
            .filter(|d| r.deposit_reverted(d.id).is_ok_and(|why| why.is_none()))
            .collect(),
    })
}

/// Binds the socket (replacing a stale one) and serves until `stop` turns true.
pub async fn serve(
    path: PathBuf,
    engine: EngineHandle,
    store: Arc<Store>,
    health: Connections,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is served by another running appliance", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!(socket = %path.display(), "control socket ready");
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(connection(stream, engine.clone(), store.clone(), health.clone()));
                    }
                    Err(e) => tracing::warn!(error = %e, "control socket accept failed"),
                },
                _ = stop.changed() => break,
            }
        }
        let _ = std::fs::remove_file(&path);
    }))
}

async fn connection(
    stream: UnixStream,
    engine: EngineHandle,
    store: Arc<Store>,
    health: Connections,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let n = match (&mut lines)
            .take(MAX_LINE as u64 + 1)
            .read_line(&mut line)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "control connection read failed");
                return;
            }
        };
        if n == 0 {
            return;
        }
        if line.len() > MAX_LINE {
            let r = Response::err(CommandError::invalid("request line too long"));
            let _ = send(&mut write, &r).await;
            return;
        }
        let response = answer(line.trim(), &engine, &store, &health).await;
        if send(&mut write, &response).await.is_err() {
            return;
        }
    }
}

async fn send(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    response: &Response,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(response).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

async fn answer(
    line: &str,
    engine: &EngineHandle,
    store: &Arc<Store>,
    health: &Connections,
) -> Response {
    let request: Request = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => return Response::err(CommandError::invalid(format!("not a valid request: {e}"))),
    };
    match request {
        Request::Status => match status(store, Some(engine), Some(health)) {
            Ok(s) => Response::ok(serde_json::to_value(s).unwrap_or_default()),
            Err(e) => Response::err(CommandError::new("storage", e.to_string())),
        },
        Request::Outbox { open, limit } => match outbox(store, open, limit) {
            Ok(rows) => Response::ok(serde_json::to_value(rows).unwrap_or_default()),
            Err(e) => Response::err(CommandError::new("storage", e.to_string())),
        },
        Request::Backup { path } => {
            if !path.is_absolute() {
                return Response::err(CommandError::invalid("the backup path must be absolute"));
            }
            let store = store.clone();
            let done = tokio::task::spawn_blocking(move || {
                store::backup::backup(&store, &path).map(|r| BackupDone {
                    path: r.path,
                    rows: r.rows,
                    events: r.check.events,
                })
            })
            .await;
            match done {
                Ok(Ok(done)) => Response::ok(serde_json::to_value(done).unwrap_or_default()),
                Ok(Err(e)) => Response::err(CommandError::new("backup_failed", e.to_string())),
                Err(e) => Response::err(CommandError::new("backup_failed", e.to_string())),
            }
        }
        Request::Execute { mut command } => {
            if let Some(audit) = command.audit_mut() {
                audit.origin = "control socket".into();
            }
            match engine.execute(command).await {
                Ok(reply) => Response::ok(reply_json(&reply)),
                Err(e) => Response::err(e),
            }
        }
    }
}

fn reply_json(reply: &Reply) -> serde_json::Value {
    serde_json::to_value(reply).unwrap_or_default()
}

/// A client of the control socket.
pub struct Client {
    lines: BufReader<tokio::net::unix::OwnedReadHalf>,
    write: tokio::net::unix::OwnedWriteHalf,
}

impl Client {
    /// Connects; the error says what to check when no appliance is running.
    pub async fn connect(path: &Path) -> Result<Client, String> {
        let stream = UnixStream::connect(path).await.map_err(|e| {
            format!(
                "cannot reach the appliance at {}: {e} (is `appliance run` running with this data dir?)",
                path.display()
            )
        })?;
        let (read, write) = stream.into_split();
        Ok(Client {
            lines: BufReader::new(read),
            write,
        })
    }

    /// Sends one request and reads its response.
    pub async fn request(&mut self, request: &Request) -> Result<Response, String> {
        let mut bytes = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        self.write
            .write_all(&bytes)
            .await
            .map_err(|e| format!("control socket write failed: {e}"))?;
        let mut line = String::new();
        let n = self
            .lines
            .read_line(&mut line)
            .await
            .map_err(|e| format!("control socket read failed: {e}"))?;
        if n == 0 {
            return Err("the appliance closed the control connection".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("unreadable response {line:?}: {e}"))
    }
}
