//! The rate limits: one alert per key per window, and a cap per hour over all keys. What is held
//! back is not lost: the latest alert of each key goes out once its window has passed (so a part
//! that flapped and settled is reported in its final state), saying how many were held.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::Alert;

/// How often alerts may go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// At most one alert per key in this window.
    pub per_key: Duration,
    /// At most this many alerts in any hour (all keys).
    pub per_hour: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            per_key: Duration::from_secs(15 * 60),
            per_hour: 20,
        }
    }
}

#[derive(Debug)]
struct KeyState {
    last_sent: Instant,
    held: Option<Alert>,
    held_count: u32,
}

/// Applies [`Limits`].
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    keys: HashMap<String, KeyState>,
    sent: VecDeque<Instant>,
}

impl Limiter {
    /// A limiter with nothing sent yet.
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            keys: HashMap::new(),
            sent: VecDeque::new(),
        }
    }

    fn hour_full(&mut self, now: Instant) -> bool {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(3600))
        {
            self.sent.pop_front();
        }
        self.sent.len() >= self.limits.per_hour as usize
    }

    /// The alert to send now, or `None` when it is held back.
    pub fn admit(&mut self, alert: Alert, now: Instant) -> Option<Alert> {
        let full = self.hour_full(now);
        let window = self.limits.per_key;
        match self.keys.get_mut(&alert.key) {
            Some(k) if now.duration_since(k.last_sent) < window || full => {
                k.held = Some(alert);
                k.held_count += 1;
                None
            }
            None if full => {
                self.keys.insert(
                    alert.key.clone(),
                    KeyState {
                        // Never sent: due as soon as the hour has room.
                        last_sent: now.checked_sub(window).unwrap_or(now),
                        held: Some(alert),
                        held_count: 1,
                    },
                );
                None
            }
            _ => {
                self.keys.insert(
                    alert.key.clone(),
                    KeyState {
                        last_sent: now,
                        held: None,
                        held_count: 0,
                    },
                );
                self.sent.push_back(now);
                Some(alert)
            }
        }
    }

    /// Held alerts whose window has passed (the latest of each key, noting how many were held).
    pub fn due(&mut self, now: Instant) -> Vec<Alert> {
        let window = self.limits.per_key;
        let mut keys: Vec<String> = self
            .keys
            .iter()
            .filter(|(_, k)| k.held.is_some() && now.duration_since(k.last_sent) >= window)
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            if self.hour_full(now) {
                break;
            }
            let Some(k) = self.keys.get_mut(&key) else {
                continue;
            };
            let Some(mut alert) = k.held.take() else {
                continue;
            };
            if k.held_count > 1 {
                alert.text.push_str(&format!(
                    "\n\n({} alerts about this were held back by the rate limit; this is the latest.)",
                    k.held_count
                ));
            }
            k.held_count = 0;
            k.last_sent = now;
            self.sent.push_back(now);
            out.push(alert);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn alert(key: &str, title: &str) -> Alert {
        Alert {
            key: key.into(),
            level: Level::Warning,
            title: title.into(),
            text: String::new(),
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_flapping_key_sends_once_per_window_then_its_latest_state() {
        let mut l = Limiter::new(Limits {
            per_key: Duration::from_secs(60),
            per_hour: 100,
        });
        let t0 = Instant::now();
        assert!(l.admit(alert("part.stream", "down"), t0).is_some());
        for i in 1..30u64 {
            let title = if i % 2 == 0 { "down" } else { "recovered" };
            assert!(
                l.admit(alert("part.stream", title), t0 + Duration::from_secs(i))
                    .is_none()
            );
        }
        assert!(l.due(t0 + Duration::from_secs(59)).is_empty());
        let later = l.due(t0 + Duration::from_secs(60));
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].title, "recovered");
        assert!(later[0].text.contains("29 alerts"), "{}", later[0].text);
        assert!(l.due(t0 + Duration::from_secs(200)).is_empty(), "sent once");
        // Another key is not held back by the first.
        assert!(
            l.admit(alert("settlement", "failed"), t0 + Duration::from_secs(1))
                .is_some()
        );
    }

    #[test]
    fn the_hourly_cap_holds_every_key() {
        let mut l = Limiter::new(Limits {
            per_key: Duration::from_secs(1),
            per_hour: 3,
        });
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.admit(alert(&format!("k{i}"), "x"), t0).is_some());
        }
        assert!(l.admit(alert("k9", "x"), t0).is_none());
        assert!(l.due(t0 + Duration::from_secs(10)).is_empty(), "hour full");
        let after = l.due(t0 + Duration::from_secs(3600));
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].key, "k9");
    }
}
