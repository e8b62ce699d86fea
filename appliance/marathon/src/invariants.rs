//! The invariants the marathon holds the appliance to, each judged from what the run gathered
//! (the oracle's findings, the chain, X, the outbox, the recordings, the samples).

use std::collections::{BTreeMap, BTreeSet};

use crate::checks::{self, Transfer};
use crate::crowd::eth_text;
use crate::faults::Fault;
use crate::report::Report;

/// One invariant, judged.
pub struct Invariant {
    /// What must hold.
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// The figures behind it.
    pub detail: String,
}

/// Every invariant, judged.
pub fn invariants(r: &Report) -> Vec<Invariant> {
    let j = &r.judgement;
    let mut out = Vec::new();
    out.push(Invariant {
        name: "every crowd tweet recorded exactly once, each bid judged as the oracle judges it",
        ok: j.disagreements.is_empty() && j.missing.is_empty(),
        detail: format!(
            "{} tweets and {} bids judged; {} disagreement(s){}; {} never recorded{}",
            j.tweets_judged,
            j.bids_judged,
            j.disagreements.len(),
            j.disagreements
                .first()
                .map(|d| format!(" (first: {d})"))
                .unwrap_or_default(),
            j.missing.len(),
            j.missing
                .first()
                .map(|m| format!(" (first: {m:?})"))
                .unwrap_or_default()
        ),
    });
    let mut wrong_days = Vec::new();
    let mut sales = 0u128;
    let mut token_problems = Vec::new();
    for d in &j.days {
        if d.oracle != d.appliance {
            wrong_days.push(format!(
                "day {}: oracle {:?}, appliance {:?}",
                d.day, d.oracle, d.appliance
            ));
        }
        let moves: Vec<&Transfer> = r
            .transfers
            .iter()
            .filter(|t| t.token == u64::from(d.day) && t.from != format!("0x{}", "0".repeat(40)))
            .collect();
        match d.oracle {
            Some((winner, price)) => {
                sales += price;
                let wallet = r.crowd_addresses.get(&winner).cloned().unwrap_or_default();
                if moves.len() != 1 || moves[0].to != wallet || moves[0].from != r.custody {
                    token_problems.push(format!(
                        "token {} moved {:?}, expected once from custody to {wallet}",
                        d.day,
                        moves.iter().map(|m| (&m.from, &m.to)).collect::<Vec<_>>()
                    ));
                }
            }
            None if !moves.is_empty() => {
                token_problems.push(format!("token {} of an unsold day moved", d.day));
            }
            None => {}
        }
    }
    out.push(Invariant {
        name: "each day's winner and price as the oracle finds them",
        ok: wrong_days.is_empty() && j.days.iter().all(|d| d.settled),
        detail: if wrong_days.is_empty() {
            format!("{} day(s) agree", j.days.len())
        } else {
            wrong_days.join("; ")
        },
    });
    out.push(Invariant {
        name: "each sold token transferred exactly once, to its winner",
        ok: token_problems.is_empty(),
        detail: if token_problems.is_empty() {
            format!("{} transfer(s) checked", r.transfers.len())
        } else {
            token_problems.join("; ")
        },
    });
    out.push(Invariant {
        name: "treasury = the sum of the sales",
        ok: r.treasury == sales,
        detail: format!(
            "treasury {} ETH, sales {} ETH",
            eth_text(r.treasury),
            eth_text(sales)
        ),
    });
    let uncovered: Vec<String> = r
        .day_checks
        .iter()
        .filter(|c| !c.covered || c.custody < c.owed)
        .map(|c| {
            format!(
                "day {}: owed {} ETH, custody {} ETH, balances covered: {}",
                c.day,
                eth_text(c.owed),
                eth_text(c.custody),
                c.covered
            )
        })
        .collect();
    out.push(Invariant {
        name: "escrow never over-committed (in the store, and on chain custody holds what it owes)",
        ok: uncovered.is_empty() && r.custody_left >= r.owed,
        detail: if uncovered.is_empty() {
            format!(
                "at the end custody holds {} ETH for {} ETH owed",
                eth_text(r.custody_left),
                eth_text(r.owed)
            )
        } else {
            uncovered.join("; ")
        },
    });
    // Deposits: every credit stands on a deposit the chain holds; every deposit from a crowd
    // wallet the chain holds is credited.
    let chain: BTreeSet<&str> = r.chain_deposits.iter().map(|d| d.hash.as_str()).collect();
    let credited: BTreeSet<String> = r
        .store_deposits
        .iter()
        .filter(|d| d.user.is_some() && !r.reverted.contains(&d.id.0))
        .map(|d| d.reference.to_lowercase())
        .collect();
    let phantom: Vec<&String> = credited
        .iter()
        .filter(|h| !chain.contains(h.as_str()))
        .collect();
    let crowd_wallets: BTreeSet<&String> = r.crowd_addresses.values().collect();
    let uncredited: Vec<&str> = r
        .chain_deposits
        .iter()
        .filter(|d| crowd_wallets.contains(&d.from) && !credited.contains(&d.hash))
        .map(|d| d.hash.as_str())
        .collect();
    out.push(Invariant {
        name: "every credit is a deposit on the chain as it ended (reorganised ones uncredited), every deposit credited",
        ok: phantom.is_empty() && uncredited.is_empty(),
        detail: format!(
            "{} deposit(s) on chain ({} ETH), {} credited, {} reverted; not on chain: {phantom:?}; not credited: {uncredited:?}",
            r.chain_deposits.len(),
            eth_text(r.chain_deposits.iter().map(|d| d.value).sum()),
            credited.len(),
            r.reverted.len()
        ),
    });
    // Refunds: each `withdraw` the oracle found right is paid once on chain, in full, to the
    // bidder's wallet, and nothing else leaves custody for a bidder.
    let mut asked: BTreeMap<&str, (usize, u128)> = BTreeMap::new();
    for (user, amount) in &j.withdrawals {
        let wallet = r.crowd_addresses.get(user).map_or("?", String::as_str);
        let e = asked.entry(wallet).or_default();
        e.0 += 1;
        e.1 += amount;
    }
    let mut paid: BTreeMap<&str, (usize, u128)> = BTreeMap::new();
    for p in &r.chain_refunds {
        let e = paid.entry(p.to.as_str()).or_default();
        e.0 += 1;
        e.1 += p.value;
    }
    out.push(Invariant {
        name: "each refund paid once on chain, in full, to the bidder's wallet",
        ok: asked == paid,
        detail: if asked == paid {
            format!(
                "{} refund(s), {} ETH",
                r.chain_refunds.len(),
                eth_text(r.chain_refunds.iter().map(|p| p.value).sum())
            )
        } else {
            format!("granted {asked:?}; paid on chain {paid:?}")
        },
    });
    let o = &r.outbox;
    out.push(Invariant {
        name: "what X received is what the outbox sent: nothing rejected or dropped posted, nothing left waiting for approval",
        ok: o.unaccounted.is_empty() && o.phantom.is_empty() && o.held == 0,
        detail: format!(
            "{} X row(s) sent, {} skipped ({} rejected by the operator, {} replies to deleted tweets), {} approved; {} still held; posts without a row: {:?}; rows whose post X lacks: {:?}",
            o.sent,
            o.skipped,
            o.rejected,
            o.target_deleted,
            r.reviewed.0,
            o.held,
            o.unaccounted,
            o.phantom
        ),
    });
    let twice = checks::posted_twice(&r.posted);
    let injected = checks::injected(&r.posted);
    out.push(Invariant {
        name: "no tweet posted twice, nothing an injection asked for said",
        ok: twice.is_empty() && injected.is_empty(),
        detail: format!(
            "{} posts; twice: {twice:?}; injected: {injected:?}",
            r.posted.len()
        ),
    });
    let failed_days: Vec<u32> = r
        .day_checks
        .iter()
        .filter(|c| !c.check_ok)
        .map(|c| c.day)
        .collect();
    out.push(Invariant {
        name: "`appliance check` passes every day and at the end",
        ok: r.check_ok && failed_days.is_empty(),
        detail: if r.check_ok && failed_days.is_empty() {
            format!(
                "{} daily backups and the final data checked",
                r.day_checks.len()
            )
        } else {
            format!(
                "failed on day(s) {failed_days:?}; at the end: {}",
                r.check_out.lines().last().unwrap_or_default()
            )
        },
    });
    let dirty: Vec<String> = r
        .recordings
        .iter()
        .filter(|f| !f.errors.is_empty())
        .map(|f| {
            format!(
                "{}: {}",
                f.name,
                f.errors.lines().next().unwrap_or_default()
            )
        })
        .collect();
    let restarts = r.faults.iter().filter(|f| f.fault == Fault::Kill).count()
        + r.unexpected_exits.len()
        + r.fault_restarts
        + r.operator_restarts;
    let allowed = 1 + r.ingest_down.len() + restarts;
    out.push(Invariant {
        name: "the recordings decode cleanly, broken only by injected outages and restarts",
        ok: dirty.is_empty() && !r.recordings.is_empty() && r.recordings.len() <= allowed,
        detail: format!(
            "{} recording(s), {:.0} s in all, at most {allowed} allowed ({} ingest outage(s), {restarts} restart(s)); errors: {dirty:?}",
            r.recordings.len(),
            r.recordings.iter().map(|f| f.duration).sum::<f64>(),
            r.ingest_down.len()
        ),
    });
    let samples: Vec<(f64, u64, u32)> = r
        .samples
        .iter()
        .filter(|s| s.rss_kib > 0)
        .map(|s| (s.real_secs, s.rss_kib, s.life))
        .collect();
    let trend = checks::memory_trend(&samples);
    out.push(Invariant {
        name: "memory shows no growth trend",
        ok: !trend.is_some_and(|t| t.1),
        detail: match trend {
            Some((slope, _)) => {
                format!(
                    "{slope:+.1} MiB/hour over the second half of the longest run (a trend only while still rising)"
                )
            }
            None => "too short to tell (a process must live 10 minutes)".into(),
        },
    });
    out.push(Invariant {
        name: "the appliance stopped only when told, and cleanly at the end",
        ok: r.unexpected_exits.is_empty() && r.stopped_cleanly,
        detail: format!(
            "{} unexpected exit(s){}; {} exit(s) on a full disk, started again; stopped by SIGTERM: {}",
            r.unexpected_exits.len(),
            r.unexpected_exits
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
            r.fault_restarts,
            r.stopped_cleanly
        ),
    });
    let unrecovered: Vec<String> = r
        .faults
        .iter()
        .filter(|f| {
            f.recovery_secs.is_none()
                && !f.note.starts_with("skipped")
                && !matches!(f.fault, Fault::Reorg)
        })
        .map(|f| format!("{} at {}", f.fault.name(), f.sim))
        .collect();
    out.push(Invariant {
        name: "every part back to ok after each fault",
        ok: unrecovered.is_empty(),
        detail: if unrecovered.is_empty() {
            format!("{} fault(s) injected", r.faults.len())
        } else {
            format!("not recovered: {}", unrecovered.join(", "))
        },
    });
    out
}
