//! Retry timing: exponential back-off with a cap and jitter, the one schedule every task that
//! talks to the outside (X, the chain's providers) waits by after a failure.

use std::time::Duration;

/// Doubling delays from `initial` up to `max`, each spread by ±`jitter` (a fraction) so that
/// tasks failing together do not retry together.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How far each delay may stray from the schedule, as a fraction (0.2: ±20 %).
    pub jitter: f64,
}

impl Backoff {
    /// Doubling from `initial` to `max`, ±20 %.
    pub const fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            jitter: 0.2,
        }
    }

    /// The scheduled delay before retry `n` (from 1), without jitter: `initial · 2^(n-1)`,
    /// at most `max`. Retry 0 waits nothing.
    pub fn base(&self, n: u32) -> Duration {
        if n == 0 {
            return Duration::ZERO;
        }
        self.initial
            .saturating_mul(1u32 << (n - 1).min(20))
            .min(self.max)
    }

    /// The delay before retry `n` (from 1), with jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let spread = self.jitter.clamp(0.0, 1.0);
        self.base(n)
            .mul_f64(1.0 - spread + 2.0 * spread * fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_within_the_jitter() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(b.base(0), Duration::ZERO);
        assert_eq!(b.base(1), Duration::from_secs(1));
        assert_eq!(b.base(4), Duration::from_secs(8));
        assert_eq!(b.base(9), Duration::from_secs(256));
        assert_eq!(b.base(10), Duration::from_secs(300));
        assert_eq!(b.base(u32::MAX), Duration::from_secs(300));
        for n in 1..40 {
            let d = b.delay(n).as_secs_f64();
            let base = b.base(n).as_secs_f64();
            assert!(
                d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                "{n}: {d} vs {base}"
            );
        }
        let exact = Backoff {
            jitter: 0.0,
            ..Backoff::new(Duration::from_millis(100), Duration::from_secs(1))
        };
        assert_eq!(exact.delay(3), Duration::from_millis(400));
    }
}
