//! Polling X for tweets to the host: the mentions timeline and, when configured, a recent search
//! (the campaign's hashtag). Each source keeps a cursor (`since_id`) in the store, saved only
//! after every tweet up to it has been taken in by the engine, which records every tweet id: after
//! a restart no tweet is missed, and none is acted on twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use store::{Store, Timestamp, UserId, View};
use tokio::sync::watch;

use super::api::{ApiTweet, ApiUser, Page, RateInfo, XClient, XError};
use super::pace::{Budget, Pacer};
use super::spend::Spend;
use domain::clock::SharedClock;
use domain::engine::{Command, CommandError, EngineHandle, IncomingTweet, Reply};
use domain::report::{Heartbeat, LastError};

/// Most pages read in one poll (100 tweets each). X keeps 800 mentions; a busy search beyond
/// this many new tweets since the last poll loses its oldest ones, and says so in the log.
const MAX_PAGES: usize = 20;

/// Where tweets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The host account's mentions.
    Mentions {
        /// The host's X user id.
        user_id: String,
    },
    /// A recent search (`#SothebAIs -is:retweet`).
    Search {
        /// The query.
        query: String,
    },
}

impl Source {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Mentions { .. } => "mentions",
            Source::Search { .. } => "search",
        }
    }

    /// The store key of its cursor.
    pub fn cursor_key(&self) -> String {
        match self {
            Source::Mentions { user_id } => format!("x.cursor.mentions.{user_id}"),
            Source::Search { query } => format!("x.cursor.search.{query}"),
        }
    }
}

/// Where a source has read up to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The newest tweet taken in.
    pub since_id: Option<String>,
    /// Before any tweet was seen: read from this time (the appliance's first start).
    pub start_time: Option<String>,
}

/// Counters for the status page.
#[derive(Debug, Default)]
pub struct PollStats {
    /// Polls that completed.
    pub polls: AtomicU64,
    /// Tweets handed to the engine (first time).
    pub tweets: AtomicU64,
    /// Polls that failed.
    pub errors: AtomicU64,
    /// The last failure.
    pub last_error: LastError,
    /// When a round of work last succeeded, and whether the latest failed.
    pub beat: Heartbeat,
}

/// Why a poll did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// X failed.
    #[error(transparent)]
    X(#[from] XError),
    /// The engine refused or could not store a tweet; the cursor stays where it was.
    #[error("the engine could not take a tweet in: {0}")]
    Engine(CommandError),
}

/// X's tweet ids grow with time; compared as numbers.
fn id_number(id: &str) -> Option<u64> {
    (!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
}

fn parse_time(text: Option<&str>) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(text?).ok()
}

/// Turns one API tweet into what the engine takes, or says why it cannot.
pub fn incoming(
    tweet: &ApiTweet,
    users: &HashMap<String, ApiUser>,
    now: Timestamp,
) -> Result<IncomingTweet, String> {
    id_number(&tweet.id).ok_or_else(|| format!("tweet id {:?} is not a number", tweet.id))?;
    let author_id = tweet
        .author_id
        .as_deref()
        .ok_or("the tweet has no author_id")?;
    let author = id_number(author_id).ok_or("the author id is not a number")?;
    let user = users
        .get(author_id)
        .ok_or_else(|| format!("author {author_id} is not in includes.users"))?;
    Ok(IncomingTweet {
        id: tweet.id.clone(),
        author: UserId(author),
        handle: user.username.clone(),
        // Unknown age counts as brand new: such an account cannot bid until X tells us more.
        author_created: parse_time(user.created_at.as_deref()).unwrap_or(now),
        text: tweet.text.clone(),
        created_at: parse_time(tweet.created_at.as_deref()).unwrap_or(now),
        in_reply_to: tweet.in_reply_to().map(str::to_string),
        retweet: tweet.is_retweet(),
        edited: tweet.is_edit(),
    })
}

/// Hands one API tweet to the engine. `Ok(true)` when it was new to the engine; a tweet that
/// cannot be read, or that the engine refuses as malformed, is logged and skipped (`Ok(false)`);
/// an engine that cannot take it in is an error (the caller must not move past it).
pub async fn ingest(
    engine: &EngineHandle,
    tweet: &ApiTweet,
    users: &HashMap<String, ApiUser>,
    now: Timestamp,
) -> Result<bool, CommandError> {
    let t = match incoming(tweet, users, now) {
        Ok(t) => t,
        Err(why) => {
            tracing::warn!(tweet = %tweet.id, why, "tweet skipped");
            return Ok(false);
        }
    };
    match engine
        .execute(Command::IngestTweet { tweet: Box::new(t) })
        .await
    {
        Ok(Reply::Tweet { duplicate, .. }) => Ok(!duplicate),
        Ok(other) => {
            tracing::warn!(?other, "unexpected answer to a tweet");
            Ok(false)
        }
        // X sent something the engine cannot take (a malformed id, say): skip it.
        Err(e) if e.code == "invalid_request" => {
            tracing::warn!(tweet = %tweet.id, error = %e, "tweet refused by the engine; skipped");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Polls one source until `stop`.
#[derive(Clone)]
pub struct Poller {
    /// The API client.
    pub api: XClient,
    /// The engine.
    pub engine: EngineHandle,
    /// The store (cursors).
    pub store: Arc<Store>,
    /// The appliance's clock.
    pub clock: SharedClock,
    /// What to poll.
    pub source: Source,
    /// Its rate budget.
    pub budget: Budget,
    /// Counters.
    pub stats: Arc<PollStats>,
    /// What reading costs.
    pub spend: Arc<Spend>,
}

impl Poller {
    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut pacer = Pacer::new(self.budget);
        let mut cursor = match self.load_cursor().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(source = self.source.name(), error = %e, "cannot set up the X cursor; not polling");
                return;
            }
        };
        tracing::info!(
            source = self.source.name(),
            every_secs = pacer.interval().as_secs(),
            since_id = cursor.since_id.as_deref().unwrap_or(""),
            "polling X"
        );
        loop {
            tokio::select! {
                () = tokio::time::sleep(pacer.wait()) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            match self.poll_once(&mut cursor, &mut pacer).await {
                Ok(taken) => {
                    pacer.succeeded();
                    self.stats.polls.fetch_add(1, Ordering::Relaxed);
                    self.stats.beat.ok();
                    if taken > 0 {
                        tracing::debug!(
                            source = self.source.name(),
                            tweets = taken,
                            "tweets taken in"
                        );
                    }
                }
                Err(e) => {
                    match &e {
                        PollError::X(x) => pacer.failed(x),
                        PollError::Engine(_) => pacer.back_off(),
                    }
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    self.stats.last_error.set(e.to_string());
                    self.stats.beat.failed(e.to_string());
                    tracing::warn!(source = self.source.name(), error = %e, retry_in_secs = pacer.wait().as_secs(), "polling X failed");
                }
            }
        }
    }

    /// Reads everything after this source's cursor once (the gap of a filtered stream).
    /// Returns how many tweets were new to the engine.
    pub async fn backfill(&self) -> Result<usize, PollError> {
        let mut cursor = self.load_cursor().await.map_err(|e| {
            PollError::Engine(CommandError {
                code: "storage".into(),
                message: e,
            })
        })?;
        let mut pacer = Pacer::new(self.budget);
        self.poll_once(&mut cursor, &mut pacer).await
    }

    /// Moves the cursor up to `id` (every tweet up to it has been taken in another way).
    pub async fn advance_to(&self, id: &str) -> Result<(), String> {
        let Some(n) = id_number(id) else {
            return Ok(());
        };
        let cursor = self.load_cursor().await?;
        if cursor
            .since_id
            .as_deref()
            .and_then(id_number)
            .is_some_and(|c| c >= n)
        {
            return Ok(());
        }
        self.save_cursor(&Cursor {
            since_id: Some(n.to_string()),
            start_time: None,
        })
        .await
        .map_err(|e| e.to_string())
    }

    async fn load_cursor(&self) -> Result<Cursor, String> {
        let key = self.source.cursor_key();
        let stored = self
            .store
            .read()
            .and_then(|r| r.state(&key))
            .map_err(|e| e.to_string())?;
        if let Some(bytes) = stored {
            return serde_json::from_slice(&bytes)
                .map_err(|e| format!("the stored cursor {key} is unreadable: {e}"));
        }
        // First start: take tweets from now on (a minute of slack for clock skew), and keep that
        // point so a restart before the first tweet still starts from it.
        let start = chrono::Utc::now() - chrono::Duration::seconds(60);
        let cursor = Cursor {
            since_id: None,
            start_time: Some(start.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        };
        self.save_cursor(&cursor).await.map_err(|e| e.to_string())?;
        Ok(cursor)
    }

    async fn save_cursor(&self, cursor: &Cursor) -> Result<(), CommandError> {
        let value = serde_json::to_string(cursor).unwrap_or_default();
        self.engine
            .execute(Command::SaveState {
                key: self.source.cursor_key(),
                value,
            })
            .await
            .map(|_| ())
    }

    async fn fetch(&self, cursor: &Cursor, page: Option<&str>) -> Result<(Page, RateInfo), XError> {
        let since = cursor.since_id.as_deref();
        let start = cursor.start_time.as_deref();
        match &self.source {
            Source::Mentions { user_id } => self.api.mentions(user_id, since, start, page).await,
            Source::Search { query } => self.api.search_recent(query, since, start, page).await,
        }
    }

    /// Reads every new tweet, hands them to the engine oldest first, then moves the cursor.
    /// Returns how many were new to the engine.
    pub async fn poll_once(
        &self,
        cursor: &mut Cursor,
        pacer: &mut Pacer,
    ) -> Result<usize, PollError> {
        let mut tweets: Vec<ApiTweet> = Vec::new();
        let mut users: HashMap<String, ApiUser> = HashMap::new();
        let mut page: Option<String> = None;
        for n in 0.. {
            pacer.spend();
            let (p, rate) = self.fetch(cursor, page.as_deref()).await?;
            pacer.observe(&rate);
            self.spend.read(self.clock.now(), p.data.len() as u64);
            let more = !p.data.is_empty();
            users.extend(p.includes.users.into_iter().map(|u| (u.id.clone(), u)));
            tweets.extend(p.data);
            match p.meta.next_token {
                Some(token) if more && n + 1 < MAX_PAGES => page = Some(token),
                Some(_) if more => {
                    tracing::warn!(
                        source = self.source.name(),
                        pages = MAX_PAGES,
                        "more new tweets than one poll reads; the oldest are skipped"
                    );
                    break;
                }
                _ => break,
            }
        }
        tweets.sort_by_key(|t| id_number(&t.id).unwrap_or(0));
        tweets.dedup_by(|a, b| a.id == b.id);
        let now = self.clock.now();
        let mut newest = cursor.since_id.as_deref().and_then(id_number);
        let mut taken = 0;
        for tweet in &tweets {
            if let Some(n) = id_number(&tweet.id) {
                newest = Some(newest.map_or(n, |m| m.max(n)));
            }
            if ingest(&self.engine, tweet, &users, now)
                .await
                .map_err(PollError::Engine)?
            {
                taken += 1;
                self.stats.tweets.fetch_add(1, Ordering::Relaxed);
            }
        }
        let advanced = newest.map(|n| n.to_string());
        if advanced != cursor.since_id {
            let next = Cursor {
                since_id: advanced,
                start_time: None,
            };
            self.save_cursor(&next).await.map_err(PollError::Engine)?;
            *cursor = next;
        }
        Ok(taken)
    }
}

/// The host's X id from the credentials (or the handle), for the mentions timeline.
pub async fn host_user_id(api: &XClient, handle: &str) -> Result<String, XError> {
    let user = if api.can_post() {
        api.me().await?.0
    } else {
        api.user_by_username(handle).await?.0
    };
    if !user
        .username
        .eq_ignore_ascii_case(handle.trim_start_matches('@'))
    {
        tracing::warn!(
            credentials_for = %user.username,
            campaign_host = %handle,
            "the X credentials belong to another account than the campaign's host"
        );
    }
    Ok(user.id)
}

/// Waits between retries of start-up calls.
pub const STARTUP_RETRY: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tweets_become_engine_input_or_a_reason() {
        let users: HashMap<String, ApiUser> = [(
            "42".to_string(),
            ApiUser {
                id: "42".into(),
                username: "alice".into(),
                created_at: Some("2020-01-01T00:00:00.000Z".into()),
            },
        )]
        .into();
        let now = Timestamp::parse_rfc3339("2026-11-22T12:00:00Z").unwrap();
        let tweet: ApiTweet = serde_json::from_str(
            r#"{"id":"100","text":"@SothebAIs bid 1 ETH","author_id":"42",
                "created_at":"2026-11-22T11:59:00.000Z","edit_history_tweet_ids":["100"]}"#,
        )
        .unwrap();
        let t = incoming(&tweet, &users, now).unwrap();
        assert_eq!((t.author, t.handle.as_str()), (UserId(42), "alice"));
        assert_eq!(t.author_created.rfc3339(), "2020-01-01T00:00:00Z");
        assert!(!t.edited && !t.retweet);
        let orphan = ApiTweet {
            author_id: Some("43".into()),
            ..tweet.clone()
        };
        assert!(incoming(&orphan, &users, now).is_err());
        let bad_id = ApiTweet {
            id: "12a".into(),
            ..tweet
        };
        assert!(incoming(&bad_id, &users, now).is_err());
        assert_eq!(id_number("18446744073709551615"), Some(u64::MAX));
        assert_eq!(id_number("18446744073709551616"), None);
    }
}
