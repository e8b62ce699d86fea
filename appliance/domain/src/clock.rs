//! Time. Every part of the appliance asks a [`Clock`] for the time, never the system directly, so
//! the same code runs live, accelerated (demos, the marathon) and stepped (tests).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use store::Timestamp;

/// A source of UTC time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// How much real time passes before this clock reads `t` (zero if it already does), or
    /// `None` when the clock only moves when told to.
    fn real_until(&self, t: Timestamp) -> Option<Duration>;
}

/// A clock shared between tasks and threads.
pub type SharedClock = Arc<dyn Clock>;

/// The longest a sleeper waits before looking at the clock again (clocks can jump).
const MAX_NAP: Duration = Duration::from_millis(250);

/// Sleeps until `clock` reads `t` or later.
pub async fn sleep_until(clock: &dyn Clock, t: Timestamp) {
    loop {
        if clock.now() >= t {
            return;
        }
        let nap = clock
            .real_until(t)
            .unwrap_or(Duration::from_millis(5))
            .clamp(Duration::from_micros(100), MAX_NAP);
        tokio::time::sleep(nap).await;
    }
}

/// The real time of the system.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(chrono::Utc::now())
    }

    fn real_until(&self, t: Timestamp) -> Option<Duration> {
        Some(Duration::from_micros(
            t.micros_since(self.now()).max(0) as u64
        ))
    }
}

/// Simulated time running `speed` times faster than real time from a chosen start, able to
/// jump forward over idle stretches.
#[derive(Debug)]
pub struct SimClock {
    speed: f64,
    anchor: Mutex<(Timestamp, Instant)>,
}

impl SimClock {
    /// Starts at `start`, running `speed` times real time (`speed` > 0).
    pub fn new(start: Timestamp, speed: f64) -> SimClock {
        SimClock {
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            anchor: Mutex::new((start, Instant::now())),
        }
    }

    /// The speed factor.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Moves the clock forward to `t` at once (never backwards).
    pub fn jump_to(&self, t: Timestamp) {
        let mut anchor = self.anchor.lock().unwrap_or_else(|e| e.into_inner());
        let now = Self::read(self.speed, *anchor);
        if t > now {
            *anchor = (t, Instant::now());
        }
    }

    fn read(speed: f64, (at, real): (Timestamp, Instant)) -> Timestamp {
        let elapsed = real.elapsed().as_secs_f64() * 1e6 * speed;
        at.plus_micros(elapsed as i64)
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        Self::read(
            self.speed,
            *self.anchor.lock().unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn real_until(&self, t: Timestamp) -> Option<Duration> {
        let sim_micros = t.micros_since(self.now()).max(0) as f64;
        Some(Duration::from_secs_f64(sim_micros / 1e6 / self.speed))
    }
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// Stopped at `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: AtomicI64::new(start.0),
        }
    }

    /// Moves the clock by `secs` seconds.
    pub fn advance_secs(&self, secs: i64) {
        self.now
            .fetch_add(secs * Timestamp::MICROS_PER_SEC, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, t: Timestamp) {
        self.now.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.load(Ordering::SeqCst))
    }

    fn real_until(&self, _t: Timestamp) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_clock_runs_fast_and_jumps_forward_only() {
        let start = Timestamp::from_secs(1_000_000);
        let clock = SimClock::new(start, 10_000.0);
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = clock.now().micros_since(start);
        // 20 ms real is at least 200 s simulated.
        assert!(elapsed >= 200 * 1_000_000, "{elapsed}");
        let later = start.plus_secs(86_400);
        clock.jump_to(later);
        assert!(clock.now() >= later);
        clock.jump_to(start);
        assert!(clock.now() >= later, "a jump never goes backwards");
        let wait = clock.real_until(clock.now().plus_secs(100)).unwrap();
        assert!(wait <= Duration::from_millis(10), "{wait:?}");
    }

    #[tokio::test]
    async fn sleep_until_follows_a_manual_clock() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_secs(0)));
        let c = clock.clone();
        let sleeper = tokio::spawn(async move { sleep_until(&*c, Timestamp::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished());
        clock.advance_secs(10);
        tokio::time::timeout(Duration::from_secs(1), sleeper)
            .await
            .expect("the sleeper wakes once the clock is moved")
            .unwrap();
    }
}
