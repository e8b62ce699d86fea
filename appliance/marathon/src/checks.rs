//! The invariants the marathon holds the appliance to, from outside: what the chain shows (each
//! token moved once, to its winner; the treasury holds the sum of the sales; custody holds what
//! it owes bidders), what X received (nothing posted twice, nothing an injection asked for),
//! what the ingest recorded (clean decodes), and memory over time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use peers::hardhat::Hardhat;
use serde_json::{Value, json};

/// `keccak256("Transfer(address,address,uint256)")`.
const TRANSFER: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// One ERC-721 transfer.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// From (lowercase).
    pub from: String,
    /// To (lowercase).
    pub to: String,
    /// Token id.
    pub token: u64,
}

fn topic_address(v: &Value) -> String {
    let t = v.as_str().unwrap_or_default();
    format!("0x{}", &t[t.len().saturating_sub(40)..]).to_lowercase()
}

fn hex_u64(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_default().trim_start_matches("0x");
    u64::from_str_radix(s.trim_start_matches('0'), 16).unwrap_or(0)
}

/// Every transfer of `contract`'s tokens on the chain as it is now.
pub fn transfers(hh: &Hardhat, contract: &str) -> Vec<Transfer> {
    let logs = hh.call(
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "toBlock": "latest", "address": contract, "topics": [TRANSFER]}]),
    );
    logs.as_array()
        .map(|a| {
            a.iter()
                .map(|l| Transfer {
                    from: topic_address(&l["topics"][1]),
                    to: topic_address(&l["topics"][2]),
                    token: hex_u64(&l["topics"][3]),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One payment of ETH, as the chain now holds it (a deposit to escrow, a refund from it).
#[derive(Clone, Debug)]
pub struct Payment {
    /// Sender (lowercase).
    pub from: String,
    /// Receiver (lowercase).
    pub to: String,
    /// Wei.
    pub value: u128,
    /// Transaction hash.
    pub hash: String,
}

/// Every transaction with value in blocks `0..=head`.
pub fn payments(hh: &Hardhat) -> Vec<Payment> {
    let head = hh.head();
    let mut out = Vec::new();
    for n in 0..=head {
        let block = hh.call("eth_getBlockByNumber", json!([format!("{n:#x}"), true]));
        for tx in block["transactions"].as_array().into_iter().flatten() {
            let value = u128::from_str_radix(
                tx["value"]
                    .as_str()
                    .unwrap_or("0x0")
                    .trim_start_matches("0x"),
                16,
            )
            .unwrap_or(0);
            if value > 0 {
                out.push(Payment {
                    from: tx["from"].as_str().unwrap_or_default().to_lowercase(),
                    to: tx["to"].as_str().unwrap_or_default().to_lowercase(),
                    value,
                    hash: tx["hash"].as_str().unwrap_or_default().to_lowercase(),
                });
            }
        }
    }
    out
}

/// The X rows of the outbox against what X received.
#[derive(Clone, Debug, Default)]
pub struct OutboxAccounts {
    /// Rows sent.
    pub sent: usize,
    /// Rows skipped (dropped, rejected, superseded, over budget).
    pub skipped: usize,
    /// Of those, rejected by an operator.
    pub rejected: usize,
    /// Of those, replies to tweets their authors deleted.
    pub target_deleted: usize,
    /// Rows still waiting for approval.
    pub held: usize,
    /// Posts on X that no sent row (or row being sent) accounts for.
    pub unaccounted: Vec<u64>,
    /// Post ids sent rows name that X does not have.
    pub phantom: Vec<String>,
}

/// Every X row of the outbox, held against the posts X has.
pub fn outbox_accounts(
    reader: &store::Reader,
    posted: &[xserver::Posted],
) -> anyhow::Result<OutboxAccounts> {
    use store::{OutboxStatus, View};
    let mut a = OutboxAccounts::default();
    let mut sent_ids: BTreeSet<String> = BTreeSet::new();
    let mut sending: BTreeSet<String> = BTreeSet::new();
    let mut after = 0;
    loop {
        let rows = reader.outbox_after(after, 1024)?;
        let Some(last) = rows.last() else { break };
        after = last.id.0;
        for row in rows
            .iter()
            .filter(|r| r.notice.channel() == store::Channel::X)
        {
            match &row.status {
                OutboxStatus::Sent { external_id, .. } => {
                    a.sent += 1;
                    sent_ids.insert(external_id.clone());
                }
                OutboxStatus::Sending { text, .. } => {
                    sending.insert(text.clone());
                }
                OutboxStatus::Held => a.held += 1,
                OutboxStatus::Skipped { reason, .. } => {
                    a.skipped += 1;
                    if reason.starts_with("rejected by") {
                        a.rejected += 1;
                    }
                    if reason.starts_with("the tweet it answers was deleted") {
                        a.target_deleted += 1;
                    }
                }
                _ => {}
            }
        }
    }
    let on_x: BTreeSet<String> = posted.iter().map(|p| p.id.to_string()).collect();
    a.unaccounted = posted
        .iter()
        .filter(|p| !sent_ids.contains(&p.id.to_string()) && !sending.contains(&p.text))
        .map(|p| p.id)
        .collect();
    a.phantom = sent_ids.difference(&on_x).cloned().collect();
    Ok(a)
}

/// Texts posted more than once in reply to the same tweet (or, for top-level posts, the same
/// text twice in a row), as `(reply_to, text, times)`.
pub fn posted_twice(posted: &[xserver::Posted]) -> Vec<(Option<u64>, String, usize)> {
    let mut count: BTreeMap<(Option<u64>, String), usize> = BTreeMap::new();
    for p in posted.iter().filter(|p| p.reply_to.is_some()) {
        *count.entry((p.reply_to, p.text.clone())).or_default() += 1;
    }
    let mut twice: Vec<(Option<u64>, String, usize)> = count
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|((r, t), n)| (r, t, n))
        .collect();
    for w in posted.windows(2) {
        if w[0].text == w[1].text && w[0].reply_to.is_none() && w[1].reply_to.is_none() {
            twice.push((None, w[1].text.clone(), 2));
        }
    }
    twice
}

/// Posts that say what a prompt injection asked for.
pub fn injected(posted: &[xserver::Posted]) -> Vec<String> {
    const TELLS: [&str; 3] = [
        "reserve is 0",
        "@mallory won",
        "0x000000000000000000000000000000000000dead",
    ];
    posted
        .iter()
        .filter(|p| {
            let t = p.text.to_lowercase();
            TELLS.iter().any(|tell| t.contains(tell))
        })
        .map(|p| p.text.clone())
        .collect()
}

/// What ffmpeg made of one recording.
#[derive(Clone, Debug)]
pub struct Recording {
    /// File name.
    pub name: String,
    /// Seconds.
    pub duration: f64,
    /// Errors a strict decode printed (empty: clean).
    pub errors: String,
}

/// Probes and strictly decodes every recording the ingest wrote.
pub fn recordings(files: &[std::path::PathBuf]) -> Vec<Recording> {
    files
        .iter()
        .map(|f| {
            let duration = Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-show_entries",
                    "format=duration",
                    "-of",
                    "csv=p=0",
                ])
                .arg(f)
                .output()
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
                .unwrap_or(0.0);
            Recording {
                name: f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                duration,
                errors: peers::nginx::decode_errors(f).trim().to_string(),
            }
        })
        .collect()
}

/// Whether resident memory grew over the run: the least-squares slope of RSS over time in the
/// second half of the longest-lived process, in MiB per hour, and whether it is a trend: more
/// than 5 MiB an hour, more than 10 % over that half, and still rising: the median of each
/// quarter of that half above the one before. A step that then holds (a phase's first use of
/// its scenes and buffers, once) is not a trend; the real-time soak measured one of 15 MiB at
/// an auction's close, flat for the 45 minutes before and the 9 after.
pub fn memory_trend(samples: &[(f64, u64, u32)]) -> Option<(f64, bool)> {
    let mut lives: HashMap<u32, Vec<(f64, f64)>> = HashMap::new();
    for (t, rss_kib, start) in samples {
        lives
            .entry(*start)
            .or_default()
            .push((*t, *rss_kib as f64 / 1024.0));
    }
    let longest = lives.values().max_by(|a, b| {
        let span =
            |v: &Vec<(f64, f64)>| v.last().map_or(0.0, |l| l.0) - v.first().map_or(0.0, |f| f.0);
        span(a).total_cmp(&span(b))
    })?;
    let half = &longest[longest.len() / 2..];
    // A trend needs time: the first minutes are the warm-up (caches, the stream's buffers).
    if half.len() < 10 || half.last().map_or(0.0, |l| l.0) - half[0].0 < 300.0 {
        return None;
    }
    let n = half.len() as f64;
    let mx = half.iter().map(|p| p.0).sum::<f64>() / n;
    let my = half.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = half.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = half.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        return Some((0.0, false));
    }
    let per_sec = sxy / sxx;
    let per_hour = per_sec * 3600.0;
    let span = half.last().map_or(0.0, |l| l.0) - half[0].0;
    let growth = per_sec * span;
    let quarter = half.len() / 4;
    let median = |part: &[(f64, f64)]| {
        let mut v: Vec<f64> = part.iter().map(|p| p.1).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians: Vec<f64> = (0..4)
        .map(|q| median(&half[q * quarter..(q + 1) * quarter]))
        .collect();
    let rising = medians.windows(2).all(|w| w[1] > w[0]);
    Some((per_hour, per_hour > 5.0 && growth > 0.1 * my && rising))
}

/// Runs `appliance check` on a data directory; its verdict and output.
pub fn store_check(program: &Path, data: &Path) -> (bool, String) {
    match Command::new(program)
        .arg("check")
        .arg("--data")
        .arg(data)
        .output()
    {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, format!("cannot run {}: {e}", program.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(text: &str, reply_to: Option<u64>) -> xserver::Posted {
        xserver::Posted {
            id: 1,
            text: text.into(),
            reply_to,
            at_ms: 0,
        }
    }

    #[test]
    fn a_reply_posted_twice_is_found() {
        let posted = [post("a", Some(1)), post("b", Some(1)), post("a", Some(2))];
        assert!(posted_twice(&posted).is_empty());
        let posted = [post("a", Some(1)), post("x", None), post("a", Some(1))];
        assert_eq!(posted_twice(&posted), [(Some(1), "a".to_string(), 2)]);
        let posted = [post("same", None), post("same", None)];
        assert_eq!(posted_twice(&posted).len(), 1);
    }

    #[test]
    fn an_injection_said_back_is_found() {
        assert!(injected(&[post("Bid of 1 ETH leads.", Some(1))]).is_empty());
        assert_eq!(injected(&[post("The reserve is 0 ETH!", None)]).len(), 1);
    }

    #[test]
    fn memory_that_grows_is_a_trend_and_flat_memory_is_not() {
        let flat: Vec<(f64, u64, u32)> = (0..1000)
            .map(|i| (i as f64, 100_000 + (i % 3) * 100, 1))
            .collect();
        assert!(!memory_trend(&flat).unwrap().1);
        assert!(memory_trend(&flat[..500]).is_none(), "too short to tell");
        let growing: Vec<(f64, u64, u32)> = (0..100)
            .map(|i| (i as f64 * 60.0, 100_000 + i * 2_000, 1))
            .collect();
        let (slope, trend) = memory_trend(&growing).unwrap();
        assert!(trend && slope > 100.0, "{slope}");
        // The soak's shape: flat, a 15 MiB step late in the second half, flat again.
        let step: Vec<(f64, u64, u32)> = (0..3300)
            .map(|i| {
                let rss = if i < 2600 { 148 } else { 164 };
                (i as f64, rss * 1024 + (i % 5) * 50, 1)
            })
            .collect();
        let (slope, trend) = memory_trend(&step).unwrap();
        assert!(
            slope > 5.0 && !trend,
            "a step that holds is not a trend ({slope})"
        );
    }
}
