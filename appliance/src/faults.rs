//! Fault injection for the crash tests: `APPLIANCE_FAULT=engine` makes the engine thread panic
//! about three seconds after start; `APPLIANCE_FAULT=panic:<task>` makes the first run of that
//! supervised task panic; `APPLIANCE_FAULT=encoder:<frames>` makes the stream's first video
//! encoder fail after that many frames; `APPLIANCE_FAULT=encoders:<frames>` makes every encoder
//! of the first stream fail so, until its frame loop gives up. Refused next to X or the chain, so it can never touch a real auction.
//! (Not `SOTHEBAIS_…`: that prefix is the configuration's.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::clock::{Clock, SharedClock};
use store::Timestamp;

use crate::config::Config;
use crate::supervisor::Supervisor;

/// The environment variable that asks for a fault.
pub const VAR: &str = "APPLIANCE_FAULT";

/// The faults asked for.
#[derive(Debug, Default)]
pub struct Faults {
    engine: bool,
    panic_task: Option<String>,
    encoder_after: Option<u64>,
    every_encoder: bool,
}

impl Faults {
    /// Reads [`VAR`]; an unknown fault, or any fault next to X or the chain, is an error.
    pub fn from_env(config: &Config) -> anyhow::Result<Faults> {
        let Ok(spec) = std::env::var(VAR) else {
            return Ok(Faults::default());
        };
        let spec = spec.trim();
        if spec.is_empty() {
            return Ok(Faults::default());
        }
        if config.x.enabled || config.chain.enabled {
            anyhow::bail!(
                "{VAR} is set while x.enabled or chain.enabled is on: fault injection is for \
                 tests only; unset {VAR}"
            );
        }
        let faults = if spec == "engine" {
            Faults {
                engine: true,
                ..Faults::default()
            }
        } else if let Some(task) = spec.strip_prefix("panic:").filter(|t| !t.is_empty()) {
            Faults {
                panic_task: Some(task.to_string()),
                ..Faults::default()
            }
        } else if let Some(n) = spec
            .strip_prefix("encoder:")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Faults {
                encoder_after: Some(n),
                ..Faults::default()
            }
        } else if let Some(n) = spec
            .strip_prefix("encoders:")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Faults {
                encoder_after: Some(n),
                every_encoder: true,
                ..Faults::default()
            }
        } else {
            anyhow::bail!(
                "{VAR}={spec:?}: expected `engine`, `panic:<task>`, `encoder:<frames>` or \
                 `encoders:<frames>`"
            );
        };
        tracing::warn!(fault = spec, "fault injection is on ({VAR})");
        Ok(faults)
    }

    /// The engine's clock: `clock`, or one that panics three seconds from now.
    pub fn engine_clock(&self, clock: SharedClock) -> SharedClock {
        if self.engine {
            Arc::new(Failing {
                inner: clock,
                at: Instant::now() + Duration::from_secs(3),
            })
        } else {
            clock
        }
    }

    /// After how many frames the stream's first encoder fails, if asked, and whether every
    /// encoder of that stream does.
    pub fn encoder_after(&self) -> Option<(u64, bool)> {
        self.encoder_after.map(|n| (n, self.every_encoder))
    }

    /// Arms the task fault on `sup`.
    pub fn arm(&self, sup: &Supervisor) {
        if let Some(task) = &self.panic_task {
            sup.fail_first_run_of(task);
        }
    }
}

/// A clock that panics once its time is up (the engine reads the clock for every batch).
struct Failing {
    inner: SharedClock,
    at: Instant,
}

impl Clock for Failing {
    fn now(&self) -> Timestamp {
        assert!(
            Instant::now() < self.at,
            "injected fault: the engine's clock failed"
        );
        self.inner.now()
    }

    fn real_until(&self, t: Timestamp) -> Option<Duration> {
        self.inner.real_until(t)
    }
}
