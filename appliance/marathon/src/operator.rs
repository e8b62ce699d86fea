//! The operator at the admin API: requests that survive a restart (signing in again), and the
//! review of tweets waiting for approval.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};
use store::Timestamp;

use crate::world::Admin;

/// What signing in takes.
pub struct Login {
    /// The admin page (`https://127.0.0.1:PORT`).
    pub base: String,
    /// The data directory (its TLS certificate is pinned).
    pub data: PathBuf,
    /// The operator's password.
    pub password: String,
}

/// An answer in a few words, for the operator's log.
pub fn answer(r: &anyhow::Result<(u16, Value)>) -> String {
    match r {
        Ok((status, v)) => format!(
            "{status} {}",
            v.get("error")
                .or(v.get("code"))
                .map(|e| e.to_string())
                .unwrap_or_default()
        ),
        Err(e) => format!("failed: {e:#}"),
    }
}

/// One look at the queue as the operator: each tweet waiting for approval approved, or
/// rejected (one row in seven, by id); returns how many waited (1 when the queue could not be
/// read, so that reviewing goes on).
pub fn review(
    rt: &tokio::runtime::Runtime,
    admin: &mut Admin,
    login: &Login,
    reviewed: &mut (usize, usize),
    log: &mut Vec<String>,
    now: Timestamp,
) -> usize {
    let listing = operate(
        rt,
        admin,
        login,
        Op::Get("/api/v1/outbox?open=true&limit=2000".into()),
    );
    let rows = match listing {
        Ok((200, Value::Array(rows))) => rows,
        other => {
            log.push(format!("{now}: the outbox listing: {}", answer(&other)));
            return 1;
        }
    };
    let held: Vec<u64> = rows
        .iter()
        .filter(|r| r["status"] == "held")
        .filter_map(|r| r["id"].as_u64())
        .collect();
    for id in &held {
        let approve = id % 7 != 0;
        let verb = if approve { "approve" } else { "reject" };
        let r = operate(
            rt,
            admin,
            login,
            Op::Post(
                format!("/api/v1/outbox/{id}/{verb}"),
                json!({"reason": "marathon: reviewed"}),
            ),
        );
        match r {
            Ok((200, _)) if approve => reviewed.0 += 1,
            Ok((200, _)) => reviewed.1 += 1,
            other => log.push(format!("{now}: {verb} outbox row {id}: {}", answer(&other))),
        }
    }
    held.len()
}

/// What the operator asks the admin API.
pub enum Op {
    /// `GET path`.
    Get(String),
    /// `PUT path` with a body.
    Put(String, Value),
    /// `POST path` with a body.
    Post(String, Value),
    /// An upload of a picture.
    Upload(&'static str, Vec<u8>),
}

/// Asks as the operator; a session lost to a restart (401, or no answer while the appliance
/// starts again) is signed in again and the request made once more, as a person would.
pub fn operate(
    rt: &tokio::runtime::Runtime,
    admin: &mut Admin,
    login: &Login,
    op: Op,
) -> anyhow::Result<(u16, Value)> {
    let call = |a: &Admin| match &op {
        Op::Get(path) => rt.block_on(a.get(path)),
        Op::Put(path, body) => rt.block_on(a.put(path, body.clone())),
        Op::Post(path, body) => rt.block_on(a.post(path, body.clone())),
        Op::Upload(name, bytes) => rt.block_on(a.upload(name, bytes.clone())),
    };
    let first = call(admin);
    if !matches!(first, Ok((401, _)) | Err(_)) {
        return first;
    }
    *admin = sign_in(rt, &login.base, &login.data, &login.password)?;
    call(admin)
}

/// Signs the operator in (retrying while the admin page starts).
pub fn sign_in(
    rt: &tokio::runtime::Runtime,
    base: &str,
    data: &Path,
    password: &str,
) -> anyhow::Result<Admin> {
    let start = Instant::now();
    loop {
        let cert = std::fs::read_to_string(data.join("web/tls/cert.pem")).unwrap_or_default();
        if !cert.is_empty()
            && let Ok(a) = rt.block_on(Admin::sign_in(base, &cert, "operator", password))
        {
            return Ok(a);
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("cannot sign in to the admin page at {base}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
