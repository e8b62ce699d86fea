//! The verdict and the report: every invariant checked from what the run gathered, written as
//! Markdown with SVG charts beside it, and one line that says whether the appliance held.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;
use std::path::Path;

use domain::schedule::DayWindows;
use store::Timestamp;

use crate::checks::{self, Payment, Recording, Transfer};
use crate::crowd::Sent;
use crate::faults::Fault;
use crate::invariants::invariants;
use crate::oracle::Judgement;
use crate::svg;

/// One day's check, from a backup taken after its post-auction window.
#[derive(Clone, Debug)]
pub struct DayCheck {
    /// Campaign day.
    pub day: u32,
    /// The auction's result in words.
    pub result: String,
    /// `appliance check` on the backup.
    pub check_ok: bool,
    /// Every balance covers its commitments.
    pub covered: bool,
    /// What escrow owes bidders (wei).
    pub owed: u128,
    /// What custody holds on chain (wei).
    pub custody: u128,
    /// The oracle's disagreements so far.
    pub disagreements: usize,
    /// Crowd tweets not recorded so far (the latest may still be on their way).
    pub missing: usize,
    /// Crowd tweets judged so far.
    pub tweets: u64,
    /// Events in the log.
    pub events: u64,
    /// Size of the backup.
    pub bytes: u64,
}

/// One injected fault.
#[derive(Clone, Debug)]
pub struct FaultRecord {
    /// Which.
    pub fault: Fault,
    /// Simulated time it began.
    pub sim: Timestamp,
    /// Real seconds into the run.
    pub real_secs: f64,
    /// Real seconds from its end until every part that was ok before it was ok again.
    pub recovery_secs: Option<f64>,
    /// What was done.
    pub note: String,
}

/// One sample a second.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Real seconds into the run.
    pub real_secs: f64,
    /// Resident memory (KiB).
    pub rss_kib: u64,
    /// CPU time (clock ticks) of the current process.
    pub cpu_ticks: u64,
    /// Which start of the appliance.
    pub life: u32,
    /// Frames encoded (this process).
    pub frames: f64,
    /// Frames late.
    pub late_frames: f64,
    /// Frames dropped for the network.
    pub dropped_frames: f64,
    /// Whether the stream is connected.
    pub connected: f64,
    /// X spend (US dollars this month).
    pub x_spend_usd: f64,
}

/// Everything the run gathered.
pub struct Report {
    /// The arguments, for the record.
    pub args: String,
    /// Real seconds the run took.
    pub real_secs: f64,
    /// The campaign's days.
    pub days: Vec<DayWindows>,
    /// The oracle's findings.
    pub judgement: Judgement,
    /// Each day's check.
    pub day_checks: Vec<DayCheck>,
    /// The faults.
    pub faults: Vec<FaultRecord>,
    /// Samples.
    pub samples: Vec<Sample>,
    /// Operator actions and their answers.
    pub operator: Vec<String>,
    /// Exits nobody asked for.
    pub unexpected_exits: Vec<String>,
    /// Exits a fault explains (the engine ending on a failed write), each started again.
    pub fault_restarts: usize,
    /// Whether the final SIGTERM stopped it within its patience.
    pub stopped_cleanly: bool,
    /// `appliance check` at the end.
    pub check_ok: bool,
    /// Its output.
    pub check_out: String,
    /// Token transfers on chain.
    pub transfers: Vec<Transfer>,
    /// Custody address.
    pub custody: String,
    /// Crowd X id → wallet.
    pub crowd_addresses: HashMap<u64, String>,
    /// Treasury balance (wei).
    pub treasury: u128,
    /// Custody's balance at the end (wei).
    pub custody_left: u128,
    /// What escrow owes at the end (wei).
    pub owed: u128,
    /// Deposits the chain holds.
    pub chain_deposits: Vec<Payment>,
    /// Payments from custody to crowd wallets the chain holds (refunds).
    pub chain_refunds: Vec<Payment>,
    /// Deposits the store holds.
    pub store_deposits: Vec<store::Deposit>,
    /// Deposit ids the store reverted.
    pub reverted: BTreeSet<u64>,
    /// What the appliance posted on X.
    pub posted: Vec<xserver::Posted>,
    /// What the crowd sent.
    pub sent: Vec<Sent>,
    /// The ingest's recordings.
    pub recordings: Vec<Recording>,
    /// Ingest outages (real seconds into the run).
    pub ingest_down: Vec<(f64, f64)>,
    /// Requests the model answered.
    pub model_requests: u64,
    /// Clock speed.
    pub speed: f64,
    /// Why the disk-full fault could not run, if so.
    pub disk_note: Option<String>,
    /// The outbox held against what X received.
    pub outbox: checks::OutboxAccounts,
    /// Tweets the operator approved and rejected while approvals were on.
    pub reviewed: (usize, usize),
    /// Restarts the operator made (to apply a setting).
    pub operator_restarts: usize,
}

/// The verdict.
pub struct Verdict {
    /// Every invariant held.
    pub ok: bool,
    /// One line.
    pub line: String,
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// Checks the invariants, writes `report.md` and the charts into `dir`.
pub fn write(r: &Report, dir: &Path) -> anyhow::Result<Verdict> {
    let inv = invariants(r);
    let ok = inv.iter().all(|i| i.ok);
    let broken: Vec<&str> = inv.iter().filter(|i| !i.ok).map(|i| i.name).collect();
    let sold = r
        .judgement
        .days
        .iter()
        .filter(|d| d.oracle.is_some())
        .count();
    let line = if ok {
        format!(
            "VERDICT: held — {} day(s), {sold} sold, {} bids judged, {} fault(s) injected, every invariant held ({:.0} s)",
            r.days.len(),
            r.judgement.bids_judged,
            r.faults.len(),
            r.real_secs
        )
    } else {
        format!("VERDICT: BROKEN — {}", broken.join("; "))
    };
    let mut md = String::new();
    let _ = writeln!(md, "# Marathon report\n\n**{line}**\n");
    let _ = writeln!(
        md,
        "`marathon {}`: {} simulated day(s) in {:.0} s of real time.\n",
        r.args,
        r.days.len(),
        r.real_secs
    );
    let _ = writeln!(
        md,
        "## Invariants\n\n| | invariant | detail |\n|---|---|---|"
    );
    for i in &inv {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            if i.ok { "ok" } else { "**BROKEN**" },
            i.name,
            i.detail.replace('|', "\\|")
        );
    }
    let _ = writeln!(
        md,
        "\n## Days\n\nEach day's backup, taken after its post-auction window (tweets judged, disagreements and tweets not yet recorded count from the start).\n\n| day | result | bids accepted | check | events | backup | tweets judged | disagreements | not yet recorded |\n|---|---|---|---|---|---|---|---|---|"
    );
    for c in &r.day_checks {
        let accepted = r
            .judgement
            .days
            .iter()
            .find(|d| d.day == c.day)
            .map_or(0, |d| d.accepted);
        let _ = writeln!(
            md,
            "| {} | {} | {accepted} | {} | {} | {} KiB | {} | {} | {} |",
            c.day,
            c.result,
            if c.check_ok { "passed" } else { "FAILED" },
            c.events,
            c.bytes / 1024,
            c.tweets,
            c.disagreements,
            c.missing
        );
    }
    if !r.judgement.disagreements.is_empty() {
        let _ = writeln!(md, "\n### Disagreements with the oracle\n");
        for d in r.judgement.disagreements.iter().take(50) {
            let _ = writeln!(md, "- {d}");
        }
    }

    // Bids and rejections per day.
    let days: Vec<u32> = (1..=r.days.len() as u32).collect();
    let mut reasons: BTreeSet<String> = BTreeSet::new();
    for ((_, reason), _) in r.judgement.rejections.iter() {
        reasons.insert(reason.clone());
    }
    for ((_, reason), _) in r.judgement.invalid.iter() {
        reasons.insert(format!("invalid: {reason}"));
    }
    let mut series: Vec<(String, Vec<f64>)> = vec![(
        "accepted".into(),
        days.iter()
            .map(|d| r.judgement.accepted.get(d).copied().unwrap_or(0) as f64)
            .collect(),
    )];
    for reason in &reasons {
        let values = days
            .iter()
            .map(|d| {
                let key = match reason.strip_prefix("invalid: ") {
                    Some(inv) => r.judgement.invalid.get(&(*d, inv.to_string())),
                    None => r.judgement.rejections.get(&(*d, reason.clone())),
                };
                key.copied().unwrap_or(0) as f64
            })
            .collect();
        series.push((reason.clone(), values));
    }
    let between: u64 = r
        .judgement
        .rejections
        .iter()
        .filter(|((d, _), _)| *d == 0)
        .map(|(_, n)| n)
        .sum();
    std::fs::write(
        dir.join("bids.svg"),
        svg::bars(
            "Bids per day: accepted, refused by reason, invalid by reason",
            "day",
            "tweets",
            &days.iter().map(u32::to_string).collect::<Vec<_>>(),
            &series,
        ),
    )?;
    let _ = writeln!(
        md,
        "\n## Bids\n\n![bids per day](bids.svg)\n\n{between} bid(s) came between auctions (refused: no auction open). The crowd deleted {} tweet(s): {} read before the deletion (judged; a bid read stands), {} deleted before the appliance read them (not counted). {} refund(s) granted on `withdraw`.\n",
        r.judgement.deleted.0 + r.judgement.deleted.1,
        r.judgement.deleted.0,
        r.judgement.deleted.1,
        r.judgement.withdrawals.len()
    );
    let _ = writeln!(md, "| reason | tweets |\n|---|---|");
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for ((_, reason), n) in &r.judgement.rejections {
        *totals.entry(reason).or_default() += n;
    }
    for ((_, reason), n) in &r.judgement.invalid {
        *totals.entry(reason).or_default() += n;
    }
    for (reason, n) in totals {
        let _ = writeln!(md, "| {reason} | {n} |");
    }

    // Latencies.
    let mut decide: Vec<f64> = r
        .judgement
        .decision_lag_micros
        .iter()
        .map(|(_, l)| *l as f64 / r.speed / 1000.0)
        .collect();
    let decide_points: Vec<(f64, f64)> = r
        .judgement
        .decision_lag_micros
        .iter()
        .map(|(at, l)| {
            (
                (at.micros_since(r.days[0].pre_start) as f64) / 86_400e6,
                *l as f64 / r.speed / 1000.0,
            )
        })
        .collect();
    let sent: HashMap<u64, &Sent> = r.sent.iter().map(|s| (s.id, s)).collect();
    // Tweet → reply: the first answer to each crowd tweet. An outbid notice also replies to the
    // bid it overtook, maybe an hour later; that is news, not the answer, and is not counted.
    let mut answered: HashSet<u64> = HashSet::new();
    let reply_points: Vec<(f64, f64)> = r
        .posted
        .iter()
        .filter(|p| !p.text.contains("You were outbid"))
        .filter_map(|p| {
            let s = sent.get(&p.reply_to?)?;
            answered.insert(s.id).then(|| {
                (
                    (s.at.micros_since(r.days[0].pre_start) as f64) / 86_400e6,
                    p.at_ms as f64 - s.real_ms,
                )
            })
        })
        .collect();
    let mut reply: Vec<f64> = reply_points.iter().map(|p| p.1).collect();
    std::fs::write(
        dir.join("latency.svg"),
        svg::lines(
            "Tweet → decision and tweet → reply (real ms)",
            "campaign day",
            "ms",
            &[("decision", decide_points), ("reply", reply_points)],
            true,
        ),
    )?;
    let _ = writeln!(
        md,
        "\n## Latency\n\n![latency](latency.svg)\n\nTweet → decision (recorded by the engine): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} tweets. Tweet → reply on X: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} replies. (Real time; the campaign's clock ran x{}.)\n",
        percentile(&mut decide, 0.5),
        percentile(&mut decide, 0.99),
        percentile(&mut decide, 1.0),
        decide.len(),
        percentile(&mut reply, 0.5),
        percentile(&mut reply, 0.99),
        percentile(&mut reply, 1.0),
        reply.len(),
        r.speed
    );

    // Faults.
    let names: Vec<String> = r
        .faults
        .iter()
        .map(|f| f.fault.name().to_string())
        .collect();
    std::fs::write(
        dir.join("recovery.svg"),
        svg::bars(
            "Recovery after each fault (s, until every part is ok again)",
            "fault",
            "seconds",
            &names,
            &[(
                "recovery".into(),
                r.faults
                    .iter()
                    .map(|f| f.recovery_secs.unwrap_or(0.0))
                    .collect(),
            )],
        ),
    )?;
    let _ = writeln!(
        md,
        "\n## Faults\n\n![recovery](recovery.svg)\n\n| at (simulated) | real s | fault | what | recovered in |\n|---|---|---|---|---|"
    );
    for f in &r.faults {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {} | {} |",
            f.sim,
            f.real_secs,
            f.fault.name(),
            f.note,
            f.recovery_secs
                .map_or("—".to_string(), |s| format!("{s:.1} s"))
        );
    }
    if let Some(note) = &r.disk_note {
        let _ = writeln!(md, "\nThe disk-full fault did not run: {note}.");
    }
    let _ = writeln!(
        md,
        "\nThe model stand-in answered {} request(s).",
        r.model_requests
    );

    // The process.
    let mut rss = Vec::new();
    let mut cpu = Vec::new();
    let mut late = Vec::new();
    let mut dropped = Vec::new();
    let mut spend = Vec::new();
    let mut frames_total = 0.0;
    let mut prev: Option<&Sample> = None;
    let (mut late_total, mut dropped_total) = (0.0, 0.0);
    for s in &r.samples {
        if s.rss_kib > 0 {
            rss.push((s.real_secs, s.rss_kib as f64 / 1024.0));
        }
        if let Some(p) = prev {
            if p.life == s.life && s.cpu_ticks >= p.cpu_ticks && s.real_secs > p.real_secs {
                cpu.push((
                    s.real_secs,
                    (s.cpu_ticks - p.cpu_ticks) as f64 / (s.real_secs - p.real_secs),
                ));
            }
            if s.frames < p.frames {
                frames_total += p.frames;
                late_total += p.late_frames;
                dropped_total += p.dropped_frames;
            }
        }
        late.push((s.real_secs, late_total + s.late_frames));
        dropped.push((s.real_secs, dropped_total + s.dropped_frames));
        spend.push((s.real_secs, s.x_spend_usd));
        prev = Some(s);
    }
    if let Some(p) = prev {
        frames_total += p.frames;
        late_total += p.late_frames;
        dropped_total += p.dropped_frames;
    }
    std::fs::write(
        dir.join("memory.svg"),
        svg::lines(
            "Resident memory (MiB) and CPU (% of a core)",
            "real seconds",
            "MiB / %",
            &[("RSS MiB", rss.clone()), ("CPU %", cpu.clone())],
            false,
        ),
    )?;
    std::fs::write(
        dir.join("frames.svg"),
        svg::lines(
            "Frames late and dropped for the network (cumulative)",
            "real seconds",
            "frames",
            &[("late", late), ("dropped", dropped)],
            false,
        ),
    )?;
    let connected = r.samples.iter().filter(|s| s.connected >= 1.0).count() as f64
        / r.samples.len().max(1) as f64
        * 100.0;
    std::fs::write(
        dir.join("spend.svg"),
        svg::lines(
            "X spend this month (US dollars)",
            "real seconds",
            "USD",
            &[("spend", spend)],
            false,
        ),
    )?;
    let mut rss_values: Vec<f64> = rss.iter().map(|p| p.1).collect();
    let mut cpu_values: Vec<f64> = cpu.iter().map(|p| p.1).collect();
    let _ = writeln!(
        md,
        "\n## The process\n\n![memory](memory.svg)\n\n![frames](frames.svg)\n\n![spend](spend.svg)\n\nRSS p50 {:.0} MiB, max {:.0} MiB; CPU p50 {:.0} %, p99 {:.0} % of a core. {:.0} frames encoded, {:.0} late, {:.0} dropped for the network. The stream was connected to the ingest in {connected:.1} % of the samples. X spend at the end: ${:.2}.\n",
        percentile(&mut rss_values, 0.5),
        percentile(&mut rss_values, 1.0),
        percentile(&mut cpu_values, 0.5),
        percentile(&mut cpu_values, 0.99),
        frames_total,
        late_total,
        dropped_total,
        r.samples.last().map_or(0.0, |s| s.x_spend_usd)
    );
    let _ = writeln!(
        md,
        "## Recordings\n\n| file | seconds | strict decode |\n|---|---|---|"
    );
    for f in &r.recordings {
        let _ = writeln!(
            md,
            "| {} | {:.1} | {} |",
            f.name,
            f.duration,
            if f.errors.is_empty() {
                "clean".to_string()
            } else {
                f.errors.lines().next().unwrap_or_default().to_string()
            }
        );
    }
    let _ = writeln!(md, "\n## Operator actions\n");
    for o in &r.operator {
        let _ = writeln!(md, "- {o}");
    }
    std::fs::write(dir.join("report.md"), md)?;
    Ok(Verdict { ok, line })
}
