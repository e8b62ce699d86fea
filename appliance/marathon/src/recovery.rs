//! How long each fault took to recover from: the parts of the appliance it touches (as the
//! status reports them) back to ok, or, for the model, the model asked again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::Value;

use crate::faults::Fault;
use crate::report::FaultRecord;
use crate::world::Model;

/// Watching one fault's recovery.
pub struct Watch {
    /// The fault's record.
    pub index: usize,
    since: Instant,
    /// Parts watched (by prefix; `""` is every part that was ok before).
    parts: Vec<String>,
    /// For the model: its request count when it came back.
    model_from: Option<u64>,
    seen_bad: bool,
}

impl Watch {
    /// The parts, among those ok before the faults began, whose names start with `prefixes`.
    pub fn parts(
        index: usize,
        since: Instant,
        healthy: &BTreeSet<String>,
        prefixes: &[&str],
    ) -> Watch {
        Watch {
            index,
            since,
            parts: healthy
                .iter()
                .filter(|p| prefixes.iter().any(|x| p.starts_with(x)))
                .cloned()
                .collect(),
            model_from: None,
            seen_bad: false,
        }
    }

    /// Seconds to recovery, once recovered: the watched parts ok again (after one of them was
    /// seen not ok, or 10 s without that: 0), or the model asked again and answering.
    pub fn done(&mut self, states: &BTreeMap<String, String>, model_requests: u64) -> Option<f64> {
        let elapsed = self.since.elapsed().as_secs_f64();
        if let Some(from) = self.model_from {
            return (model_requests > from).then_some(elapsed);
        }
        let bad = self
            .parts
            .iter()
            .any(|p| states.get(p).is_some_and(|s| s != "ok"));
        self.seen_bad |= bad;
        match (bad, self.seen_bad) {
            (false, true) => Some(elapsed),
            (false, false) if elapsed > 10.0 => Some(0.0),
            _ => None,
        }
    }
}

/// Starts watching the latest `fault`'s recovery, from now (its end).
pub fn watch(
    recovering: &mut Vec<Watch>,
    records: &[FaultRecord],
    fault: Fault,
    healthy: &BTreeSet<String>,
    model: &Model,
) {
    let Some(i) = records.iter().rposition(|r| r.fault == fault) else {
        return;
    };
    let now = Instant::now();
    let w = match fault {
        Fault::Ingest => Watch::parts(i, now, healthy, &["stream"]),
        Fault::Rpc => Watch::parts(i, now, healthy, &["chain."]),
        Fault::Disk => Watch::parts(i, now, healthy, &["engine"]),
        Fault::Clock => Watch::parts(i, now, healthy, &["engine", "stream"]),
        Fault::Llm => Watch {
            model_from: Some(model.requests.load(std::sync::atomic::Ordering::SeqCst)),
            ..Watch::parts(i, now, healthy, &[])
        },
        _ => Watch::parts(i, now, healthy, &[""]),
    };
    recovering.push(w);
}

/// Each part's state in a status answer.
pub fn part_states(status: &Value) -> BTreeMap<String, String> {
    status["connections"]["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| {
                    Some((
                        p["part"].as_str()?.to_string(),
                        p["state"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}
