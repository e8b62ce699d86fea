//! The integrity check behind `appliance check`: the hash chain holds, replaying the log from
//! empty reproduces every projection byte for byte, and the invariants hold (escrow never
//! over-committed, one consistent leader per auction, outbox rows caused by logged events).
//!
//! One invariant depends on the chain as well as on the appliance: a deposit credited after the
//! configured confirmations and then reverted by a deeper reorganisation can leave a bidder's
//! won or refunded amounts uncovered. The engine voids the bids it can; what was already paid out
//! is reported here as over-committed escrow, because it is: the operator has to act.

use redb::ReadableTable;

use crate::event::{self, Event};
use crate::record;
use crate::tables::{self, Head, View};
use crate::{Result, Store};

/// What the check found.
#[derive(Debug)]
pub struct Report {
    /// Events in the log.
    pub events: u64,
    /// The log's head.
    pub head: Option<Head>,
    /// Rows per table.
    pub tables: Vec<(&'static str, u64)>,
    /// Everything that does not hold; empty when all is well.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether everything holds.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

const REPLAY_BATCH: usize = 4096;
const DIFFS_PER_TABLE: usize = 5;

/// Checks a store (a consistent snapshot of it, if an appliance is writing it).
pub fn run(store: &Store) -> Result<Report> {
    let snapshot = store.read()?;
    let mut problems = Vec::new();

    // 1. The hash chain, while replaying into a fresh store.
    let replay = Store::in_memory()?;
    let mut expected_seq = 1u64;
    let mut prev_hash = [0u8; 32];
    let mut batch: Vec<(u64, Event)> = Vec::with_capacity(REPLAY_BATCH);
    let mut replay_broken = false;
    let flush = |batch: &mut Vec<(u64, Event)>,
                 problems: &mut Vec<String>,
                 broken: &mut bool|
     -> Result<()> {
        if *broken || batch.is_empty() {
            batch.clear();
            return Ok(());
        }
        let outcome = replay.write_unsynced(|w| {
            for (seq, event) in batch.iter() {
                if let Err(e) = w.replay(event) {
                    return Ok(Some(format!(
                        "event {seq} ({}) cannot be replayed: {e}",
                        event.kind()
                    )));
                }
            }
            Ok(None)
        })?;
        if let (Some(problem), _) = outcome {
            problems.push(problem);
            *broken = true;
        }
        batch.clear();
        Ok(())
    };
    for entry in snapshot.t.events.iter()? {
        let (k, v) = entry?;
        let seq = k.value();
        if seq != expected_seq {
            problems.push(format!(
                "event log skips from {} to {seq}",
                expected_seq - 1
            ));
        }
        expected_seq = seq + 1;
        let raw = match event::split(v.value()) {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(format!("event {seq} is unreadable: {e}"));
                replay_broken = true;
                continue;
            }
        };
        if raw.prev_hash != prev_hash {
            problems.push(format!(
                "event {seq} does not point at the hash of event {}",
                seq - 1
            ));
        }
        let computed = event::chain_hash(&raw.prev_hash, seq, raw.at, raw.payload);
        if computed != raw.hash {
            problems.push(format!(
                "event {seq} has been altered: its hash does not match its content"
            ));
        }
        prev_hash = raw.hash;
        match record::decode::<Event>(raw.payload) {
            Ok(event) => batch.push((seq, event)),
            Err(e) => {
                problems.push(format!("event {seq} does not decode: {e}"));
                replay_broken = true;
            }
        }
        if batch.len() >= REPLAY_BATCH {
            flush(&mut batch, &mut problems, &mut replay_broken)?;
        }
    }
    flush(&mut batch, &mut problems, &mut replay_broken)?;
    let events = expected_seq - 1;

    // 2. Projections equal the replay, byte for byte.
    if !replay_broken {
        let replayed = replay.read()?;
        for name in tables::projections() {
            let diff = tables::diff_projection(&snapshot.t, &replayed.t, name, DIFFS_PER_TABLE)?;
            for note in diff.differing {
                problems.push(format!("projection {name}: {note}"));
            }
        }
    } else {
        problems.push("projections were not compared: the log cannot be replayed".to_string());
    }

    // 3. Invariants on the stored projections.
    for (user, balance) in snapshot.balances()? {
        if !balance.is_covered() {
            problems.push(format!(
                "escrow over-committed for user {user}: leading {} + won {} + withdrawn {} > deposited {}",
                balance.leading, balance.won, balance.withdrawn, balance.deposited
            ));
        }
    }
    for auction in snapshot.auctions()? {
        let bids = snapshot.bids_of_auction(auction.id)?;
        // Accepted bids must rise strictly in the order they were taken, and the last one leads.
        let accepted: Vec<_> = bids.iter().filter(|b| b.accepted()).collect();
        if accepted.windows(2).any(|w| w[1].amount <= w[0].amount) {
            problems.push(format!(
                "auction {}: accepted bids do not rise strictly",
                auction.id
            ));
        }
        if auction.bids_accepted as usize != accepted.len()
            || auction.bids_rejected as usize != bids.len() - accepted.len()
        {
            problems.push(format!(
                "auction {}: bid counts disagree with its bids",
                auction.id
            ));
        }
        let mut voided = Vec::new();
        for b in &accepted {
            if snapshot.bid_voided(b.id)?.is_some() {
                voided.push(b.id);
            }
        }
        if !voided.is_empty() {
            // A voided lead hands the auction back to an earlier, still covered bid (or none).
            if let Some(id) = auction.leading_bid {
                match accepted.iter().find(|b| b.id == id) {
                    Some(b) if !voided.contains(&id) => {
                        if Some(b.bidder) != auction.leader || b.amount != auction.price {
                            problems.push(format!(
                                "auction {}: leader and price disagree with bid {id}",
                                auction.id
                            ));
                        }
                    }
                    _ => problems.push(format!(
                        "auction {}: bid {id} leads but is not one of its standing bids",
                        auction.id
                    )),
                }
            }
            continue;
        }
        match (auction.leading_bid, accepted.last()) {
            (None, None) => {}
            (Some(id), Some(last)) if last.id == id => {
                if Some(last.bidder) != auction.leader || last.amount != auction.price {
                    problems.push(format!(
                        "auction {}: leader and price disagree with bid {id}",
                        auction.id
                    ));
                }
            }
            (Some(id), _) => problems.push(format!(
                "auction {}: bid {id} leads but is not its last accepted bid",
                auction.id
            )),
            (None, Some(_)) => problems.push(format!(
                "auction {} has accepted bids but no leader",
                auction.id
            )),
        }
    }
    let head_seq = snapshot.head()?.map_or(0, |h| h.seq);
    let mut after = 0;
    loop {
        let rows = snapshot.outbox_after(after, 1024)?;
        let Some(last) = rows.last() else { break };
        after = last.id.0;
        for row in &rows {
            if row.event_seq == 0 || row.event_seq > head_seq {
                problems.push(format!(
                    "outbox row {} names event {}, which is not in the log",
                    row.id, row.event_seq
                ));
            }
        }
    }

    Ok(Report {
        events,
        head: snapshot.head()?,
        tables: snapshot.row_counts()?,
        problems,
    })
}
