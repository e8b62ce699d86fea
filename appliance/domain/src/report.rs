//! What a long-running task reports about itself: its last failure and its heartbeat, and the
//! state of each part of the appliance (ok, degraded, down) as the status, `/readyz`, the admin
//! page and the alerts show it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The last failure a task met (empty: none yet).
#[derive(Debug, Default)]
pub struct LastError(Mutex<String>);

impl LastError {
    /// Records a failure.
    pub fn set(&self, error: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = error.into();
    }

    /// The last failure recorded.
    pub fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A task's heartbeat: when its work last succeeded, and whether its latest attempt failed.
/// Tasks call [`Heartbeat::ok`] after each successful round (a poll, a block scanned, a pass
/// over the outbox) and [`Heartbeat::failed`] after a failed one.
#[derive(Debug)]
pub struct Heartbeat(Mutex<Beat>);

#[derive(Debug)]
struct Beat {
    created: Instant,
    last_ok: Option<(Instant, DateTime<Utc>)>,
    failing: Option<(Instant, DateTime<Utc>, String)>,
}

impl Default for Heartbeat {
    fn default() -> Heartbeat {
        Heartbeat(Mutex::new(Beat {
            created: Instant::now(),
            last_ok: None,
            failing: None,
        }))
    }
}

/// A heartbeat read at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Pulse {
    /// Time since the heartbeat was made (the task's age).
    pub age: Duration,
    /// Time since the last success, and when it was.
    pub since_ok: Option<(Duration, DateTime<Utc>)>,
    /// Since when the task has been failing, for how long, and the latest failure.
    pub failing: Option<(Duration, DateTime<Utc>, String)>,
}

impl Heartbeat {
    fn lock(&self) -> std::sync::MutexGuard<'_, Beat> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A round of work succeeded: the task is alive and reaches what it talks to.
    pub fn ok(&self) {
        let mut b = self.lock();
        b.last_ok = Some((Instant::now(), Utc::now()));
        b.failing = None;
    }

    /// The task is alive and waiting on purpose (a rate limit, nothing to do): counts as a
    /// success unless its latest attempt failed.
    pub fn waiting(&self) {
        let mut b = self.lock();
        if b.failing.is_none() {
            b.last_ok = Some((Instant::now(), Utc::now()));
        }
    }

    /// A round of work failed with `why`; failing since the first failure after a success.
    pub fn failed(&self, why: impl Into<String>) {
        let mut b = self.lock();
        let why = why.into();
        match &mut b.failing {
            Some((_, _, last)) => *last = why,
            None => b.failing = Some((Instant::now(), Utc::now(), why)),
        }
    }

    /// Reads the heartbeat now.
    pub fn pulse(&self) -> Pulse {
        let b = self.lock();
        let now = Instant::now();
        Pulse {
            age: now.duration_since(b.created),
            since_ok: b.last_ok.map(|(i, at)| (now.duration_since(i), at)),
            failing: b
                .failing
                .as_ref()
                .map(|(i, at, why)| (now.duration_since(*i), *at, why.clone())),
        }
    }
}

/// How a part of the appliance is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartState {
    /// Working.
    Ok,
    /// Working with trouble (retrying, late, short of something): look at it soon.
    Degraded,
    /// Not working: something the appliance needs is not happening.
    Down,
}

impl PartState {
    /// `ok`, `degraded` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartState::Ok => "ok",
            PartState::Degraded => "degraded",
            PartState::Down => "down",
        }
    }
}

/// One part's state, why, and what the operator can do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartStatus {
    /// The part (`engine`, `stream`, `x.mentions`, `chain.deposits`, ...).
    pub part: String,
    /// Its state.
    pub state: PartState,
    /// Since when it has been in this state.
    pub since: DateTime<Utc>,
    /// Why (empty when ok).
    #[serde(default)]
    pub why: String,
    /// What to do (empty when ok).
    #[serde(default)]
    pub action: String,
    /// Times its task was restarted after ending or panicking.
    #[serde(default)]
    pub restarts: u64,
    /// The task's last failure (a panic's message, or an unexpected end), if any.
    #[serde(default)]
    pub last_failure: String,
}

/// A state change of one part, for the log and the alerts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The part as it is now.
    pub now: PartStatus,
    /// Its state before.
    pub was: PartState,
}

/// The appliance's readiness: the worst state of its parts, and each part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ok` only when every part is ok.
    pub state: PartState,
    /// Each part.
    pub parts: Vec<PartStatus>,
}

impl Readiness {
    /// The worst of `parts`.
    pub fn of(parts: Vec<PartStatus>) -> Readiness {
        let state = parts.iter().map(|p| p.state).max().unwrap_or(PartState::Ok);
        Readiness { state, parts }
    }
}

/// A task's round of work judged against how often it should succeed: ok while it succeeded
/// within `every × 3` (and is not failing now), degraded while it fails or is late, down when
/// nothing succeeded for `down_after` (or ever, once that long has passed since it started).
pub fn judge(pulse: &Pulse, every: Duration, down_after: Duration) -> (PartState, String) {
    let late = every.saturating_mul(3);
    let quiet = pulse.since_ok.map_or(pulse.age, |(d, _)| d);
    let failing = pulse.failing.as_ref().map(|(_, _, why)| why.as_str());
    if quiet >= down_after {
        let why = match (pulse.since_ok, failing) {
            (None, Some(why)) => format!("never succeeded since start: {why}"),
            (None, None) => "no round of work finished since start".to_string(),
            (Some(_), Some(why)) => format!("nothing succeeded for {}: {why}", secs(quiet)),
            (Some(_), None) => format!("no round of work finished for {}", secs(quiet)),
        };
        return (PartState::Down, why);
    }
    if let Some(why) = failing {
        return (PartState::Degraded, format!("retrying: {why}"));
    }
    if quiet >= late && pulse.since_ok.is_some() {
        return (
            PartState::Degraded,
            format!("late: last success {} ago", secs(quiet)),
        );
    }
    if pulse.since_ok.is_none() && quiet >= late {
        return (PartState::Degraded, "starting: no success yet".to_string());
    }
    (PartState::Ok, String::new())
}

/// A duration as the page says it: `45 s`, `12 min`, `3 h`.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else {
        format!("{} h", s / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulse(age: u64, ok: Option<u64>, failing: Option<&str>) -> Pulse {
        Pulse {
            age: Duration::from_secs(age),
            since_ok: ok.map(|s| (Duration::from_secs(s), Utc::now())),
            failing: failing.map(|w| (Duration::from_secs(1), Utc::now(), w.to_string())),
        }
    }

    #[test]
    fn a_task_is_judged_by_its_last_success() {
        let (every, down) = (Duration::from_secs(10), Duration::from_secs(300));
        assert_eq!(judge(&pulse(5, None, None), every, down).0, PartState::Ok);
        assert_eq!(
            judge(&pulse(100, Some(5), None), every, down).0,
            PartState::Ok
        );
        let (s, why) = judge(&pulse(100, Some(5), Some("timeout")), every, down);
        assert_eq!(
            (s, why.as_str()),
            (PartState::Degraded, "retrying: timeout")
        );
        let (s, why) = judge(&pulse(100, Some(45), None), every, down);
        assert_eq!(s, PartState::Degraded);
        assert!(why.starts_with("late"), "{why}");
        let (s, why) = judge(&pulse(400, None, Some("401")), every, down);
        assert_eq!(s, PartState::Down);
        assert!(
            why.contains("never succeeded") && why.contains("401"),
            "{why}"
        );
        let (s, why) = judge(&pulse(4000, Some(600), None), every, down);
        assert_eq!(s, PartState::Down);
        assert!(why.contains("10 min"), "{why}");
    }

    #[test]
    fn a_heartbeat_remembers_when_failing_began() {
        let h = Heartbeat::default();
        assert!(h.pulse().since_ok.is_none());
        h.failed("one");
        let first = h.pulse().failing.expect("failing").1;
        h.failed("two");
        let p = h.pulse();
        let (_, at, why) = p.failing.expect("failing");
        assert_eq!((at, why.as_str()), (first, "two"));
        h.ok();
        let p = h.pulse();
        assert!(p.failing.is_none() && p.since_ok.is_some());
    }

    #[test]
    fn readiness_is_the_worst_part() {
        let part = |state| PartStatus {
            part: "p".into(),
            state,
            since: Utc::now(),
            why: String::new(),
            action: String::new(),
            restarts: 0,
            last_failure: String::new(),
        };
        assert_eq!(Readiness::of(vec![]).state, PartState::Ok);
        let r = Readiness::of(vec![part(PartState::Ok), part(PartState::Degraded)]);
        assert_eq!(r.state, PartState::Degraded);
        let r = Readiness::of(vec![part(PartState::Down), part(PartState::Degraded)]);
        assert_eq!(r.state, PartState::Down);
    }
}
