//! The simulated time the marathon, the X stand-in and the appliance share: one clock file
//! (`appliance::warp`), read by the appliance four times a second and by the marathon at once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appliance::warp::{Warp, wall_ms};
use store::Timestamp;

/// The shared clock.
#[derive(Clone)]
pub struct SimTime {
    file: PathBuf,
    warp: Arc<Mutex<Warp>>,
}

impl SimTime {
    /// A clock reading `start` now and running `speed` times real time, written to `file`.
    pub fn start(file: &Path, start: Timestamp, speed: f64) -> anyhow::Result<SimTime> {
        let warp = Warp {
            sim0_ms: start.0 / 1000,
            real0_ms: wall_ms() as i64,
            speed,
        };
        let clock = SimTime {
            file: file.to_path_buf(),
            warp: Arc::new(Mutex::new(warp)),
        };
        clock.write(&warp)?;
        Ok(clock)
    }

    fn write(&self, warp: &Warp) -> anyhow::Result<()> {
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, warp.line())?;
        std::fs::rename(&tmp, &self.file)?;
        Ok(())
    }

    /// The clock file (for `APPLIANCE_CLOCK`).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The speed factor.
    pub fn speed(&self) -> f64 {
        self.lock().speed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Warp> {
        self.warp.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The simulated now.
    pub fn now(&self) -> Timestamp {
        self.lock().at(wall_ms())
    }

    /// Moves the clock by `delta_secs` of simulated time at once (a jump of the wall clock).
    pub fn jump(&self, delta_secs: i64) -> anyhow::Result<()> {
        let mut warp = self.lock();
        *warp = warp.jumped(wall_ms() as i64, delta_secs * 1000);
        self.write(&warp)
    }

    /// The real time `sim_secs` of simulated time take.
    pub fn real(&self, sim_secs: f64) -> Duration {
        Duration::from_secs_f64((sim_secs / self.speed()).max(0.0))
    }
}
