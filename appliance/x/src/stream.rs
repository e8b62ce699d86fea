//! Tweets in real time: X's filtered stream (`GET /2/tweets/search/stream`), with the rules
//! for the host's mentions and the campaign's search managed here.
//!
//! X's reconnect policy is followed: network errors and stalls (no data or keep-alive for
//! `stall`) back off linearly from 250 ms to 16 s, HTTP errors exponentially from 5 s to 320 s,
//! a 429 exponentially from a minute; a wait of 10 s or more is bridged by reading the polling
//! sources every 5 s. After every (re)connection the gap is read back through the
//! polling sources from their cursors, so no tweet is missed; the engine records every tweet id,
//! so none is acted on twice. While the connection holds, every tweet it brings moves those
//! cursors up to it, so the next backfill reads only what the gap held.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::api::{ApiUser, StreamMessage, XClient, XError};
use super::poll::{PollStats, Poller, ingest};
use super::spend::Spend;
use domain::clock::SharedClock;
use domain::engine::EngineHandle;

/// Why a connection ended, as X's reconnect policy tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    /// The network failed, or nothing came for the stall time.
    Network,
    /// X answered an HTTP error.
    Http,
    /// X answered 429.
    RateLimited,
}

/// The waits of X's reconnect policy.
#[derive(Debug, Default)]
pub struct Reconnect {
    network: u32,
    http: u32,
    limited: u32,
}

impl Reconnect {
    /// The wait before the next attempt after `gap`.
    pub fn after(&mut self, gap: Gap) -> Duration {
        match gap {
            Gap::Network => {
                self.network += 1;
                (Duration::from_millis(250) * self.network).min(Duration::from_secs(16))
            }
            Gap::Http => {
                self.http += 1;
                (Duration::from_secs(5) * (1 << (self.http - 1).min(6)))
                    .min(Duration::from_secs(320))
            }
            Gap::RateLimited => {
                self.limited += 1;
                Duration::from_secs(60) * (1 << (self.limited - 1).min(4))
            }
        }
    }

    /// A connection was made: the next gap starts from the shortest wait again.
    pub fn connected(&mut self) {
        *self = Reconnect::default();
    }
}

fn gap_of(e: &XError) -> Gap {
    match e {
        XError::RateLimited { .. } => Gap::RateLimited,
        XError::Transport { .. } => Gap::Network,
        _ => Gap::Http,
    }
}

/// Reconnect waits at least this long are bridged by reading the polling sources.
const BRIDGE_AFTER: Duration = Duration::from_secs(10);
/// How often the polling sources are read while the stream waits.
const BRIDGE_EVERY: Duration = Duration::from_secs(5);

/// The tag of the rules the appliance manages.
const TAG_PREFIX: &str = "sothebais.";

/// Longest line read from the stream.
const MAX_LINE: usize = 1024 * 1024;

/// Reads the filtered stream until `stop`.
pub struct StreamIntake {
    /// The API client (with the app's bearer token).
    pub api: XClient,
    /// The engine.
    pub engine: EngineHandle,
    /// The appliance's clock.
    pub clock: SharedClock,
    /// The rules wanted: `(value, tag)`, tags starting with `sothebais.`.
    pub rules: Vec<(String, String)>,
    /// The polling sources, which read each gap back from their cursors.
    pub backfill: Vec<Poller>,
    /// Silence after which the connection counts as stalled.
    pub stall: Duration,
    /// Counters: `polls` counts connections, `errors` gaps.
    pub stats: Arc<PollStats>,
    /// What reading costs.
    pub spend: Arc<Spend>,
}

impl StreamIntake {
    /// Sets the rules, then connects, backfills and reads, reconnecting as X asks.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut reconnect = Reconnect::default();
        let mut rules_set = false;
        loop {
            if *stop.borrow() {
                return;
            }
            let result = async {
                if !rules_set {
                    self.set_rules().await?;
                    rules_set = true;
                }
                let response = self.api.open_stream().await?;
                Ok::<_, XError>(response)
            }
            .await;
            let (gap, why) = match result {
                Ok(response) => {
                    reconnect.connected();
                    self.stats.polls.fetch_add(1, Ordering::Relaxed);
                    self.stats.beat.ok();
                    tracing::info!("reading X's filtered stream");
                    match self.read(response, &mut stop).await {
                        None => return,
                        Some(why) => (Gap::Network, why),
                    }
                }
                Err(e) => (gap_of(&e), e.to_string()),
            };
            let wait = reconnect.after(gap);
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            self.stats.last_error.set(why.as_str());
            self.stats.beat.failed(why.as_str());
            tracing::warn!(reason = %why, retry_in_ms = wait.as_millis() as u64, "X's filtered stream interrupted");
            if self.wait_out(wait, &mut stop).await {
                return;
            }
        }
    }

    /// Waits `wait` before reconnecting; `true` when told to stop. A long wait (X asks for a
    /// minute or more after a 429) is bridged: the polling sources are read every
    /// [`BRIDGE_EVERY`] meanwhile, so bids keep coming in rather than arriving minutes late, after
    /// the auction they were meant for has closed.
    async fn wait_out(&self, wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
        let until = tokio::time::Instant::now() + wait;
        let bridge = wait >= BRIDGE_AFTER;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            let nap = if bridge { left.min(BRIDGE_EVERY) } else { left };
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                _ = stop.changed() => return true,
            }
            if !bridge || tokio::time::Instant::now() >= until {
                continue;
            }
            for source in &self.backfill {
                match source.backfill().await {
                    Ok(n) if n > 0 => tracing::info!(
                        source = source.source.name(),
                        tweets = n,
                        "read while the stream waits"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "cannot read while the stream waits"),
                }
            }
        }
    }

    /// Makes the app's `sothebais.*` rules exactly the wanted ones (other rules are left).
    async fn set_rules(&self) -> Result<(), XError> {
        let current = self.api.stream_rules().await?;
        let ours: Vec<_> = current
            .iter()
            .filter(|r| r.tag.as_deref().is_some_and(|t| t.starts_with(TAG_PREFIX)))
            .collect();
        let stale: Vec<String> = ours
            .iter()
            .filter(|r| {
                !self
                    .rules
                    .iter()
                    .any(|(v, t)| *v == r.value && Some(t.as_str()) == r.tag.as_deref())
            })
            .map(|r| r.id.clone())
            .collect();
        let missing: Vec<(String, String)> = self
            .rules
            .iter()
            .filter(|(v, t)| {
                !ours
                    .iter()
                    .any(|r| r.value == *v && r.tag.as_deref() == Some(t.as_str()))
            })
            .cloned()
            .collect();
        if !stale.is_empty() {
            self.api.change_rules(&[], &stale).await?;
        }
        if !missing.is_empty() {
            self.api.change_rules(&missing, &[]).await?;
        }
        tracing::info!(rules = ?self.rules, removed = stale.len(), added = missing.len(), "filtered-stream rules set");
        Ok(())
    }

    /// Backfills the gap, then reads the connection until it ends (`Some(why)`) or `stop`
    /// (`None`).
    async fn read(
        &self,
        mut response: reqwest::Response,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<String> {
        for source in &self.backfill {
            match source.backfill().await {
                Ok(n) if n > 0 => {
                    tracing::info!(source = source.source.name(), tweets = n, "gap read back")
                }
                Ok(_) => {}
                Err(e) => return Some(format!("cannot read the gap back: {e}")),
            }
        }
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = tokio::time::timeout(self.stall, response.chunk()) => c,
                _ = stop.changed() => return None,
            };
            let bytes = match chunk {
                Err(_) => {
                    return Some(format!(
                        "no data or keep-alive for {} s",
                        self.stall.as_secs()
                    ));
                }
                Ok(Err(e)) => return Some(format!("the stream broke: {}", e.without_url())),
                Ok(Ok(None)) => return Some("X closed the stream".into()),
                Ok(Ok(Some(b))) => b,
            };
            self.stats.beat.ok();
            buf.extend_from_slice(&bytes);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue; // keep-alive
                }
                if let Some(why) = self.take(line).await {
                    return Some(why);
                }
            }
            if buf.len() > MAX_LINE {
                return Some(format!("a stream message longer than {MAX_LINE} bytes"));
            }
        }
    }

    /// Takes one message in; `Some(why)` when the connection must end.
    async fn take(&self, line: &[u8]) -> Option<String> {
        let message: StreamMessage = match serde_json::from_slice(line) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable message on the filtered stream; skipped");
                return None;
            }
        };
        let Some(tweet) = message.data else {
            if message.errors.is_empty() {
                return None;
            }
            return Some(format!(
                "X reported on the stream: {}",
                serde_json::Value::from(message.errors)
            ));
        };
        let now = self.clock.now();
        self.spend.read(now, 1);
        let users: HashMap<String, ApiUser> = message
            .includes
            .users
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        match ingest(&self.engine, &tweet, &users, now).await {
            Ok(true) => {
                self.stats.tweets.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(e) => return Some(format!("the engine could not take a tweet in: {e}")),
        }
        // Everything up to this tweet came through this connection (the gap before it was read
        // back): the next backfill starts here.
        for source in &self.backfill {
            if let Err(e) = source.advance_to(&tweet.id).await {
                return Some(format!("cannot save the X cursor: {e}"));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_wait_as_x_documents() {
        let mut r = Reconnect::default();
        let ms = |d: Duration| d.as_millis() as u64;
        let net: Vec<u64> = (0..70).map(|_| ms(r.after(Gap::Network))).collect();
        assert_eq!(&net[..4], [250, 500, 750, 1000]);
        assert_eq!(net[63], 16_000);
        assert_eq!(net[69], 16_000, "capped at 16 s");
        r.connected();
        let http: Vec<u64> = (0..9).map(|_| ms(r.after(Gap::Http)) / 1000).collect();
        assert_eq!(http, [5, 10, 20, 40, 80, 160, 320, 320, 320]);
        let limited: Vec<u64> = (0..3)
            .map(|_| ms(r.after(Gap::RateLimited)) / 1000)
            .collect();
        assert_eq!(limited, [60, 120, 240]);
        r.connected();
        assert_eq!(
            ms(r.after(Gap::Network)),
            250,
            "a connection resets the waits"
        );
        assert_eq!(
            gap_of(&XError::RateLimited {
                endpoint: "s",
                reset: None
            }),
            Gap::RateLimited
        );
    }
}
