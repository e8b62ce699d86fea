//! Staying within X's rate limits: each endpoint gets a budget (requests per window, from the
//! access tier), requests are spread evenly across the window, the `x-rate-limit-*` headers of
//! every answer tighten the pace when X says fewer requests remain, and failures back off
//! exponentially with jitter (a 429 waits for the window's reset).

use domain::retry::Backoff;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::api::{RateInfo, XError};

/// Requests allowed per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// How many.
    pub requests: u32,
    /// Per how long.
    pub window: Duration,
}

const FIFTEEN_MIN: Duration = Duration::from_secs(15 * 60);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The budgets of the endpoints the appliance uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// `GET /2/users/:id/mentions`.
    pub mentions: Budget,
    /// `GET /2/tweets/search/recent`.
    pub search: Budget,
    /// `POST /2/tweets`.
    pub posts: Budget,
}

impl Plan {
    /// X's published limits of an access plan: `pay_per_use`, or a 2023 tier (`free`,
    /// `basic`, `pro`).
    pub fn for_tier(tier: &str) -> Result<Plan, String> {
        let b = |requests, window| Budget { requests, window };
        match tier {
            "free" => Ok(Plan {
                mentions: b(1, FIFTEEN_MIN),
                search: b(1, FIFTEEN_MIN),
                posts: b(17, DAY),
            }),
            "basic" => Ok(Plan {
                mentions: b(10, FIFTEEN_MIN),
                search: b(60, FIFTEEN_MIN),
                posts: b(100, DAY),
            }),
            "pro" => Ok(Plan {
                mentions: b(300, FIFTEEN_MIN),
                search: b(300, FIFTEEN_MIN),
                posts: b(100, FIFTEEN_MIN),
            }),
            // Per endpoint since 2026: posts 100 per 15 min per user (and 10,000 a day per app,
            // which 100 per 15 min stays under), mentions 300 per 15 min per user, recent
            // search 450 per 15 min per app.
            "pay_per_use" => Ok(Plan {
                mentions: b(300, FIFTEEN_MIN),
                search: b(450, FIFTEEN_MIN),
                posts: b(100, FIFTEEN_MIN),
            }),
            other => Err(format!(
                "x.tier {other:?}: use pay_per_use, free, basic or pro"
            )),
        }
    }
}

/// Share of a budget the appliance plans to use: the rest is headroom for paging, retries and
/// the clock skew between the box and X.
const USE_SHARE: f64 = 0.9;
/// Waits after repeated failures that are not X's rate limit: 1 s, 2 s, ... up to 5 min, ±20 %.
const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));

/// Paces one endpoint.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Instant,
    failures: u32,
}

impl Pacer {
    /// A pacer for `budget`; the first request may go at once.
    pub fn new(budget: Budget) -> Pacer {
        let per = budget.window.as_secs_f64() / (f64::from(budget.requests.max(1)) * USE_SHARE);
        Pacer {
            interval: Duration::from_secs_f64(per),
            next: Instant::now(),
            failures: 0,
        }
    }

    /// The even spacing between requests.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long to wait before the next request.
    pub fn wait(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// A request is being made now: the next one waits a full interval (spread, not burst).
    pub fn spend(&mut self) {
        self.next = self.next.max(Instant::now()) + self.interval;
    }

    /// What X said about the window after an answer.
    pub fn observe(&mut self, rate: &RateInfo) {
        let Some(reset) = rate.reset.and_then(instant_of_epoch) else {
            return;
        };
        match rate.remaining {
            Some(0) => self.next = self.next.max(reset + Duration::from_secs(1)),
            Some(left) => {
                // Spread what is left over what is left of the window.
                let spread = reset.saturating_duration_since(Instant::now()) / left;
                self.next = self.next.max(Instant::now() + spread);
            }
            None => {}
        }
    }

    /// The request succeeded: forget earlier failures.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// The request failed: wait for the window's reset after a 429, else back off
    /// exponentially (1 s, 2 s, ... 5 min) with ±20 % jitter.
    pub fn failed(&mut self, error: &XError) {
        if let XError::RateLimited { reset, .. } = error {
            let until = reset
                .and_then(instant_of_epoch)
                .unwrap_or_else(|| Instant::now() + FIFTEEN_MIN);
            self.next = self.next.max(until + Duration::from_secs(1));
            return;
        }
        self.back_off();
    }

    /// Something failed that is not X's rate limit: wait 1 s, 2 s, ... up to 5 min, ±20 %.
    pub fn back_off(&mut self) {
        self.failures = self.failures.saturating_add(1);
        self.next = self.next.max(Instant::now() + BACKOFF.delay(self.failures));
    }
}

/// The `Instant` of an epoch-seconds time (now, if it is past).
fn instant_of_epoch(epoch: i64) -> Option<Instant> {
    let now_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let ahead = (epoch as f64 - now_epoch).clamp(0.0, 24.0 * 3600.0);
    Some(Instant::now() + Duration::from_secs_f64(ahead))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_in(secs: u64) -> i64 {
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + secs) as i64
    }

    #[test]
    fn tiers_spread_requests_across_the_window() {
        let basic = Plan::for_tier("basic").unwrap();
        let p = Pacer::new(basic.mentions);
        // 10 per 15 min at 90 %: one every 100 s.
        assert_eq!(p.interval().as_secs(), 100);
        assert!(Plan::for_tier("platinum").is_err());
        let mut p = Pacer::new(Plan::for_tier("pro").unwrap().search);
        assert_eq!(p.wait(), Duration::ZERO);
        p.spend();
        assert!(p.wait() > Duration::from_secs(3));
    }

    #[test]
    fn headers_and_429s_hold_requests_until_the_reset() {
        let mut p = Pacer::new(Plan::for_tier("pro").unwrap().search);
        p.observe(&RateInfo {
            limit: Some(300),
            remaining: Some(0),
            reset: Some(epoch_in(120)),
        });
        assert!(p.wait() > Duration::from_secs(115), "{:?}", p.wait());
        let mut p = Pacer::new(Plan::for_tier("pro").unwrap().search);
        p.failed(&XError::RateLimited {
            endpoint: "x",
            reset: Some(epoch_in(60)),
        });
        assert!(p.wait() > Duration::from_secs(55));
        // Few requests left: spread them over the rest of the window.
        let mut p = Pacer::new(Plan::for_tier("pro").unwrap().search);
        p.observe(&RateInfo {
            limit: Some(300),
            remaining: Some(2),
            reset: Some(epoch_in(100)),
        });
        assert!(p.wait() > Duration::from_secs(45));
    }

    #[test]
    fn failures_back_off_exponentially_and_success_resets() {
        let mut p = Pacer::new(Plan::for_tier("pro").unwrap().search);
        let err = XError::Server {
            endpoint: "x",
            status: 503,
            detail: String::new(),
        };
        let mut waits = Vec::new();
        for _ in 0..12 {
            p.next = Instant::now();
            p.failed(&err);
            waits.push(BACKOFF.base(p.failures));
            let wait = p.wait().as_secs_f64();
            let base = waits.last().unwrap().as_secs_f64();
            assert!(
                wait <= base * 1.2 + 0.01 && wait >= base * 0.8 - 0.01,
                "{wait} vs {base}"
            );
        }
        assert_eq!(waits[0], Duration::from_secs(1));
        assert_eq!(waits[3], Duration::from_secs(8));
        assert_eq!(*waits.last().unwrap(), Duration::from_secs(300));
        p.succeeded();
        assert_eq!(p.failures, 0);
    }
}
