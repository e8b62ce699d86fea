//! Sessions (random tokens in HttpOnly, Secure, SameSite=Strict cookies, with idle and absolute
//! timeouts), their CSRF tokens, and login throttling per address and per account.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::accounts::{Role, random_bytes};

/// The session cookie's name.
pub const COOKIE: &str = "sothebais_session";

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Session {
    /// Account name.
    pub user: String,
    /// Role at login (changed when an admin changes it).
    pub role: Role,
    /// The token every state-changing request must carry in `X-CSRF-Token`.
    pub csrf: String,
    /// Where the login came from.
    pub origin: String,
    created: Instant,
    last_seen: Instant,
}

/// The sessions in memory (a restart logs everyone out).
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    max: Duration,
}

fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Compares secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// Sessions expiring after `idle` without use, or `max` after login.
    pub fn new(idle: Duration, max: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
            max,
        }
    }

    /// A new session; returns its token (the cookie's value) and the session.
    pub fn create(&self, user: &str, role: Role, origin: &str) -> (String, Session) {
        let token = random_token();
        let now = Instant::now();
        let session = Session {
            user: user.to_string(),
            role,
            csrf: hex::encode(random_bytes::<16>()),
            origin: origin.to_string(),
            created: now,
            last_seen: now,
        };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| !self.expired(s, now));
        map.insert(token_key(&token), session.clone());
        (token, session)
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last_seen) > self.idle || now.duration_since(s.created) > self.max
    }

    /// The live session of `token`, touched.
    pub fn get(&self, token: &str) -> Option<Session> {
        let key = token_key(token);
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let expired = map.get(&key).is_some_and(|s| self.expired(s, now));
        if expired {
            map.remove(&key);
            return None;
        }
        let s = map.get_mut(&key)?;
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends one session.
    pub fn remove(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token_key(token));
    }

    /// Ends every session of `user` (password changed, disabled, removed).
    pub fn remove_user(&self, user: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| s.user != user);
    }

    /// Applies a role change to `user`'s sessions.
    pub fn set_role(&self, user: &str, role: Role) {
        for s in self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values_mut()
        {
            if s.user == user {
                s.role = role;
            }
        }
    }

    /// Sessions alive.
    pub fn count(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Failed logins per key (`ip:…`, `user:…`): after `limit` failures within `window`, a key is
/// refused until the oldest of them is `window` old.
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    limit: usize,
    window: Duration,
}

impl Throttle {
    /// A throttle.
    pub fn new(limit: usize, window: Duration) -> Throttle {
        Throttle {
            failures: Mutex::new(HashMap::new()),
            limit: limit.max(1),
            window,
        }
    }

    /// How long the first blocked key stays blocked, if any is.
    pub fn blocked(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for key in keys {
            if let Some(q) = map.get_mut(key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.window)
                {
                    q.pop_front();
                }
                if q.len() >= self.limit {
                    let left = self.window.saturating_sub(now.duration_since(q[0]));
                    wait = Some(wait.map_or(left, |w: Duration| w.max(left)));
                }
            }
        }
        wait
    }

    /// Records a failure against every key.
    pub fn fail(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) <= self.window)
            });
        }
        for key in keys {
            let q = map.entry(key.clone()).or_default();
            q.push_back(now);
            while q.len() > self.limit {
                q.pop_front();
            }
        }
    }

    /// Forgets a key's failures (after a successful login).
    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Two-factor codes already accepted, per account: a code signs in once, however long it
/// stays valid (a code seen over someone's shoulder or in a proxy log cannot be replayed).
#[derive(Default)]
pub struct UsedCodes(Mutex<HashMap<String, VecDeque<(String, Instant)>>>);

/// How long an accepted code is remembered: longer than any code is valid (±1 step of 30 s).
const CODE_MEMORY: Duration = Duration::from_secs(120);

impl UsedCodes {
    /// Records `code` as used by `account`; false if it was used already.
    pub fn first_use(&self, account: &str, code: &str) -> bool {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let seen = map.entry(account.to_string()).or_default();
        while seen
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) > CODE_MEMORY)
        {
            seen.pop_front();
        }
        if seen.iter().any(|(c, _)| c == code) {
            return false;
        }
        seen.push_back((code.to_string(), now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::new(Duration::from_millis(50), Duration::from_secs(60));
        let (token, session) = s.create("ana", Role::Operator, "10.0.0.2");
        assert_eq!(session.csrf.len(), 32);
        assert!(s.get(&token).is_some());
        assert!(s.get("forged").is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.get(&token).is_none(), "idle timeout");
        let (token, _) = s.create("ana", Role::Operator, "x");
        s.remove_user("ana");
        assert!(s.get(&token).is_none());
        let absolute = Sessions::new(Duration::from_secs(60), Duration::from_millis(30));
        let (token, _) = absolute.create("bo", Role::Viewer, "x");
        std::thread::sleep(Duration::from_millis(50));
        assert!(absolute.get(&token).is_none(), "absolute timeout");
    }

    #[test]
    fn throttle_blocks_after_the_limit() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let keys = vec!["ip:1".to_string(), "user:ana".to_string()];
        for _ in 0..2 {
            t.fail(&keys);
        }
        assert!(t.blocked(&keys).is_none());
        t.fail(&keys);
        assert!(t.blocked(&keys).is_some());
        assert!(t.blocked(&["user:ana".to_string()]).is_some());
        t.clear("user:ana");
        assert!(t.blocked(&["user:ana".to_string()]).is_none());
        assert!(t.blocked(&["ip:1".to_string()]).is_some());
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }

    #[test]
    fn a_code_serves_once_per_account() {
        let used = UsedCodes::default();
        assert!(used.first_use("ana", "123456"));
        assert!(!used.first_use("ana", "123456"));
        assert!(
            used.first_use("bo", "123456"),
            "another account's code is its own"
        );
        assert!(used.first_use("ana", "654321"));
    }
}
