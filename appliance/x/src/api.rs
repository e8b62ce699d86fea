//! The X API v2 endpoints the appliance uses, with their documented JSON shapes: reading
//! mentions and recent searches (`data`, `includes.users`, `meta.newest_id`/`next_token`),
//! reading the host's own timeline (to find a tweet a crash left unconfirmed), and posting.
//!
//! Every response is untrusted: bodies are size-limited and decoded into typed shapes, errors
//! are classified (rate limited, server trouble, refused) so callers know whether to retry, and
//! the `x-rate-limit-*` headers of every response are handed back for pacing.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::oauth::{self, UserCredentials};
use domain::secret::Secret;

/// Largest response body read.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Fields asked for on every tweet read.
pub const TWEET_FIELDS: &str =
    "created_at,author_id,conversation_id,referenced_tweets,edit_history_tweet_ids";
/// Fields asked for on every user read.
pub const USER_FIELDS: &str = "created_at,username";

/// How the appliance authenticates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// OAuth 1.0a user context of the host account: needed to post, and used to read when no
    /// bearer token is given.
    pub user: Option<UserCredentials>,
    /// An app-only bearer token for reading (its own, larger, rate limits).
    pub bearer: Secret,
}

/// What went wrong talking to X.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XError {
    /// 429: wait until `reset` (epoch seconds) if X said when.
    #[error("rate limited on {endpoint}")]
    RateLimited {
        /// The endpoint.
        endpoint: &'static str,
        /// When the window resets, as X said.
        reset: Option<i64>,
    },
    /// 5xx: X's trouble; retry later.
    #[error("X answered {status} on {endpoint}: {detail}")]
    Server {
        /// The endpoint.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// 4xx other than 429: the request itself is refused; retrying will not help.
    #[error("X refused {endpoint} ({status}): {detail}")]
    Refused {
        /// The endpoint.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// The network failed or timed out.
    #[error("cannot reach X ({endpoint}): {message}")]
    Transport {
        /// The endpoint.
        endpoint: &'static str,
        /// What failed.
        message: String,
    },
    /// The answer does not have the documented shape.
    #[error("X sent an unreadable answer on {endpoint}: {message}")]
    Decode {
        /// The endpoint.
        endpoint: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The configuration lacks what this call needs.
    #[error("no X credentials for {0}")]
    NoCredentials(&'static str),
}

impl XError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            XError::RateLimited { .. } | XError::Server { .. } | XError::Transport { .. }
        )
    }

    /// X refused a reply because the tweet it answers was deleted (or is hidden from the host):
    /// trying again cannot succeed.
    pub fn is_reply_target_gone(&self) -> bool {
        matches!(self, XError::Refused { status: 403, detail, .. }
            if detail.to_ascii_lowercase().contains("deleted or not visible"))
    }

    /// X refused a tweet because the account posted the same text before.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, XError::Refused { status: 403, detail, .. } if detail.to_ascii_lowercase().contains("duplicate"))
    }
}

/// The `x-rate-limit-*` headers of a response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateInfo {
    /// Requests allowed per window.
    pub limit: Option<u32>,
    /// Requests left in this window.
    pub remaining: Option<u32>,
    /// When the window resets (epoch seconds).
    pub reset: Option<i64>,
}

impl RateInfo {
    fn from_headers(h: &reqwest::header::HeaderMap) -> RateInfo {
        fn num<T: std::str::FromStr>(h: &reqwest::header::HeaderMap, name: &str) -> Option<T> {
            h.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        RateInfo {
            limit: num(h, "x-rate-limit-limit"),
            remaining: num(h, "x-rate-limit-remaining"),
            reset: num(h, "x-rate-limit-reset"),
        }
    }
}

/// A tweet as API v2 returns it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ApiTweet {
    /// Its id.
    pub id: String,
    /// Its text.
    pub text: String,
    /// Its author (with `expansions=author_id`).
    #[serde(default)]
    pub author_id: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
    /// The conversation it belongs to.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Tweets it retweets, quotes or replies to.
    #[serde(default)]
    pub referenced_tweets: Vec<ApiReference>,
    /// Every version of the tweet, oldest first (one id when never edited).
    #[serde(default)]
    pub edit_history_tweet_ids: Vec<String>,
}

impl ApiTweet {
    /// The tweet it replies to.
    pub fn in_reply_to(&self) -> Option<&str> {
        self.referenced_tweets
            .iter()
            .find(|r| r.kind == "replied_to")
            .map(|r| r.id.as_str())
    }

    /// A retweet (not a quote).
    pub fn is_retweet(&self) -> bool {
        self.referenced_tweets.iter().any(|r| r.kind == "retweeted")
    }

    /// A later version of an edited tweet.
    pub fn is_edit(&self) -> bool {
        self.edit_history_tweet_ids
            .first()
            .is_some_and(|first| *first != self.id)
    }
}

/// A reference from one tweet to another.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ApiReference {
    /// `retweeted`, `quoted` or `replied_to`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The other tweet.
    pub id: String,
}

/// A user as API v2 returns it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ApiUser {
    /// Its id.
    pub id: String,
    /// Its handle.
    pub username: String,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Expanded objects.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Includes {
    /// Authors.
    #[serde(default)]
    pub users: Vec<ApiUser>,
}

/// Paging and cursor data.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Meta {
    /// The newest id in this page.
    #[serde(default)]
    pub newest_id: Option<String>,
    /// The oldest id in this page.
    #[serde(default)]
    pub oldest_id: Option<String>,
    /// Tweets in this page.
    #[serde(default)]
    pub result_count: Option<u32>,
    /// The next (older) page.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// One page of tweets.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Page {
    /// The tweets, newest first (absent when there are none).
    #[serde(default)]
    pub data: Vec<ApiTweet>,
    /// Their authors.
    #[serde(default)]
    pub includes: Includes,
    /// Paging.
    #[serde(default)]
    pub meta: Meta,
}

#[derive(Deserialize)]
struct One<T> {
    data: T,
}

#[derive(Deserialize)]
struct Posted {
    id: String,
}

/// The problem shapes X answers errors with.
#[derive(Deserialize, Default)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<ProblemItem>,
}

#[derive(Deserialize)]
struct ProblemItem {
    #[serde(default)]
    message: Option<String>,
}

fn describe_problem(body: &[u8]) -> String {
    let p: Problem = serde_json::from_slice(body).unwrap_or_default();
    let mut parts: Vec<String> = [p.title, p.detail].into_iter().flatten().collect();
    parts.extend(p.errors.into_iter().filter_map(|e| e.message));
    if parts.is_empty() {
        String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
    } else {
        parts.join(": ").chars().take(400).collect()
    }
}

/// A filtered-stream rule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Rule {
    /// X's id for it.
    pub id: String,
    /// The query.
    pub value: String,
    /// Our label.
    #[serde(default)]
    pub tag: Option<String>,
}

#[derive(Deserialize)]
struct Rules {
    #[serde(default)]
    data: Vec<Rule>,
}

/// One message of the filtered stream: a tweet with its authors.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct StreamMessage {
    /// The tweet (absent in an error message).
    #[serde(default)]
    pub data: Option<ApiTweet>,
    /// Its authors.
    #[serde(default)]
    pub includes: Includes,
    /// What X reports instead (an operational disconnect, say).
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

/// The X API v2 client.
#[derive(Clone)]
pub struct XClient {
    http: reqwest::Client,
    streaming: reqwest::Client,
    base: String,
    creds: Credentials,
}

impl XClient {
    /// A client for `base` (`https://api.x.com`, or a test server).
    pub fn new(base: &str, creds: Credentials, timeout: Duration) -> Result<XClient, String> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!("x.base_url {base:?} is not an http(s) URL"));
        }
        Ok(XClient {
            http: egress::client(timeout)?,
            streaming: egress::streaming_client(timeout)?,
            base,
            creds,
        })
    }

    /// Whether the filtered stream can be read (it takes the app's bearer token).
    pub fn can_stream(&self) -> bool {
        !self.creds.bearer.is_empty()
    }

    fn bearer(&self, endpoint: &'static str) -> Result<String, XError> {
        if self.creds.bearer.is_empty() {
            return Err(XError::NoCredentials(endpoint));
        }
        Ok(format!("Bearer {}", self.creds.bearer.expose()))
    }

    /// `GET /2/tweets/search/stream/rules`: the app's filtered-stream rules.
    pub async fn stream_rules(&self) -> Result<Vec<Rule>, XError> {
        let endpoint = "tweets/search/stream/rules";
        let request = self
            .http
            .get(format!("{}/2/tweets/search/stream/rules", self.base))
            .header(reqwest::header::AUTHORIZATION, self.bearer(endpoint)?);
        let (rules, _): (Rules, RateInfo) = self.send(endpoint, request).await?;
        Ok(rules.data)
    }

    /// `POST /2/tweets/search/stream/rules`: adds `(value, tag)` rules, or deletes by id.
    pub async fn change_rules(
        &self,
        add: &[(String, String)],
        delete: &[String],
    ) -> Result<(), XError> {
        let endpoint = "tweets/search/stream/rules";
        let body = if delete.is_empty() {
            let add: Vec<serde_json::Value> = add
                .iter()
                .map(|(value, tag)| serde_json::json!({"value": value, "tag": tag}))
                .collect();
            serde_json::json!({ "add": add })
        } else {
            serde_json::json!({ "delete": { "ids": delete } })
        };
        let request = self
            .http
            .post(format!("{}/2/tweets/search/stream/rules", self.base))
            .header(reqwest::header::AUTHORIZATION, self.bearer(endpoint)?)
            .json(&body);
        let _: (serde_json::Value, RateInfo) = self.send(endpoint, request).await?;
        Ok(())
    }

    /// `GET /2/tweets/search/stream`: connects to the filtered stream with the same fields as
    /// the timelines; the answer's body is read line by line by the caller.
    pub async fn open_stream(&self) -> Result<reqwest::Response, XError> {
        let endpoint = "tweets/search/stream";
        let query = [
            ("expansions", "author_id"),
            ("tweet.fields", TWEET_FIELDS),
            ("user.fields", USER_FIELDS),
        ];
        let response = self
            .streaming
            .get(format!("{}/2/tweets/search/stream", self.base))
            .query(&query)
            .header(reqwest::header::AUTHORIZATION, self.bearer(endpoint)?)
            .send()
            .await
            .map_err(|e| XError::Transport {
                endpoint,
                message: e.without_url().to_string(),
            })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let rate = RateInfo::from_headers(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let detail = describe_problem(&body[..body.len().min(4096)]);
        Err(match status {
            429 => XError::RateLimited {
                endpoint,
                reset: rate.reset,
            },
            500..=599 => XError::Server {
                endpoint,
                status,
                detail,
            },
            _ => XError::Refused {
                endpoint,
                status,
                detail,
            },
        })
    }

    /// Whether tweets can be posted.
    pub fn can_post(&self) -> bool {
        self.creds.user.is_some()
    }

    fn authorize(
        &self,
        endpoint: &'static str,
        method: &str,
        url: &str,
        query: &[(&str, String)],
        reading: bool,
    ) -> Result<String, XError> {
        if reading && !self.creds.bearer.is_empty() {
            return Ok(format!("Bearer {}", self.creds.bearer.expose()));
        }
        let user = self
            .creds
            .user
            .as_ref()
            .ok_or(XError::NoCredentials(endpoint))?;
        let params: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(oauth::authorization(
            method,
            url,
            &params,
            user,
            &oauth::nonce(),
            timestamp,
        ))
    }

    async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<(T, RateInfo), XError> {
        let transport = |e: reqwest::Error| XError::Transport {
            endpoint,
            message: e.without_url().to_string(),
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let rate = RateInfo::from_headers(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(XError::Decode {
                    endpoint,
                    message: format!("the answer is larger than {MAX_BODY} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        match status {
            200..=299 => serde_json::from_slice(&body)
                .map(|v| (v, rate))
                .map_err(|e| XError::Decode {
                    endpoint,
                    message: e.to_string(),
                }),
            429 => Err(XError::RateLimited {
                endpoint,
                reset: rate.reset,
            }),
            500..=599 => Err(XError::Server {
                endpoint,
                status,
                detail: describe_problem(&body),
            }),
            _ => Err(XError::Refused {
                endpoint,
                status,
                detail: describe_problem(&body),
            }),
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(T, RateInfo), XError> {
        let url = format!("{}{path}", self.base);
        let auth = self.authorize(endpoint, "GET", &url, query, true)?;
        let request = self
            .http
            .get(&url)
            .query(query)
            .header(reqwest::header::AUTHORIZATION, auth);
        self.send(endpoint, request).await
    }

    /// The account the user credentials belong to (the host).
    pub async fn me(&self) -> Result<(ApiUser, RateInfo), XError> {
        let url = format!("{}/2/users/me", self.base);
        let query = [("user.fields", USER_FIELDS.to_string())];
        let auth = self.authorize("users/me", "GET", &url, &query, false)?;
        let request = self
            .http
            .get(&url)
            .query(&query)
            .header(reqwest::header::AUTHORIZATION, auth);
        let (one, rate): (One<ApiUser>, RateInfo) = self.send("users/me", request).await?;
        Ok((one.data, rate))
    }

    /// A user by handle.
    pub async fn user_by_username(&self, username: &str) -> Result<(ApiUser, RateInfo), XError> {
        let path = format!(
            "/2/users/by/username/{}",
            oauth::encode(username.trim_start_matches('@'))
        );
        let (one, rate): (One<ApiUser>, RateInfo) = self
            .get(
                "users/by/username",
                &path,
                &[("user.fields", USER_FIELDS.to_string())],
            )
            .await?;
        Ok((one.data, rate))
    }

    fn timeline_query(
        since_id: Option<&str>,
        start_time: Option<&str>,
        page: Option<&str>,
        page_param: &'static str,
    ) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("max_results", "100".to_string()),
            ("expansions", "author_id".to_string()),
            ("tweet.fields", TWEET_FIELDS.to_string()),
            ("user.fields", USER_FIELDS.to_string()),
        ];
        match since_id {
            Some(id) => q.push(("since_id", id.to_string())),
            None => {
                if let Some(t) = start_time {
                    q.push(("start_time", t.to_string()));
                }
            }
        }
        if let Some(p) = page {
            q.push((page_param, p.to_string()));
        }
        q
    }

    /// `GET /2/users/:id/mentions`: tweets mentioning the host, newest first.
    pub async fn mentions(
        &self,
        user_id: &str,
        since_id: Option<&str>,
        start_time: Option<&str>,
        page: Option<&str>,
    ) -> Result<(Page, RateInfo), XError> {
        let path = format!("/2/users/{}/mentions", oauth::encode(user_id));
        let q = Self::timeline_query(since_id, start_time, page, "pagination_token");
        self.get("users/mentions", &path, &q).await
    }

    /// `GET /2/tweets/search/recent`: the last seven days' tweets matching `query`.
    pub async fn search_recent(
        &self,
        query: &str,
        since_id: Option<&str>,
        start_time: Option<&str>,
        page: Option<&str>,
    ) -> Result<(Page, RateInfo), XError> {
        let mut q = Self::timeline_query(since_id, start_time, page, "next_token");
        q.push(("query", query.to_string()));
        self.get("tweets/search/recent", "/2/tweets/search/recent", &q)
            .await
    }

    /// `GET /2/users/:id/tweets`: the account's own recent tweets since `start_time`.
    pub async fn user_tweets(
        &self,
        user_id: &str,
        start_time: &str,
    ) -> Result<(Page, RateInfo), XError> {
        let path = format!("/2/users/{}/tweets", oauth::encode(user_id));
        let q = vec![
            ("max_results", "100".to_string()),
            ("start_time", start_time.to_string()),
            ("tweet.fields", TWEET_FIELDS.to_string()),
        ];
        self.get("users/tweets", &path, &q).await
    }

    /// `POST /2/tweets`: posts `text`, as a reply when `reply_to` is given. Returns its id.
    pub async fn post_tweet(
        &self,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<(String, RateInfo), XError> {
        let url = format!("{}/2/tweets", self.base);
        let auth = self.authorize("tweets", "POST", &url, &[], false)?;
        let mut body = serde_json::json!({ "text": text });
        if let Some(id) = reply_to {
            body["reply"] = serde_json::json!({ "in_reply_to_tweet_id": id });
        }
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .json(&body);
        let (one, rate): (One<Posted>, RateInfo) = self.send("tweets", request).await?;
        if one.data.id.is_empty() || !one.data.id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(XError::Decode {
                endpoint: "tweets",
                message: format!("{:?} is not a tweet id", one.data.id),
            });
        }
        Ok((one.data.id, rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shapes_decode() {
        let page: Page = serde_json::from_str(
            r#"{"data":[{"id":"1790000000000000002","text":"@SothebAIs bid 2 ETH",
                "author_id":"2244994945","created_at":"2026-11-22T14:05:00.000Z",
                "conversation_id":"1790000000000000001",
                "referenced_tweets":[{"type":"replied_to","id":"1790000000000000001"}],
                "edit_history_tweet_ids":["1790000000000000002"]}],
              "includes":{"users":[{"id":"2244994945","name":"X Dev","username":"XDevelopers",
                "created_at":"2013-12-14T04:35:55.000Z"}]},
              "meta":{"newest_id":"1790000000000000002","oldest_id":"1790000000000000002",
                "result_count":1,"next_token":"7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i"}}"#,
        )
        .unwrap();
        assert_eq!(page.data.len(), 1);
        assert_eq!(page.data[0].in_reply_to(), Some("1790000000000000001"));
        assert!(!page.data[0].is_retweet() && !page.data[0].is_edit());
        assert_eq!(page.includes.users[0].username, "XDevelopers");
        assert!(page.meta.next_token.is_some());
        // No results: X leaves out `data`.
        let empty: Page = serde_json::from_str(r#"{"meta":{"result_count":0}}"#).unwrap();
        assert!(empty.data.is_empty());
    }

    #[test]
    fn edits_and_retweets_are_recognised() {
        let t: ApiTweet = serde_json::from_str(
            r#"{"id":"3","text":"x","edit_history_tweet_ids":["1","3"],
                "referenced_tweets":[{"type":"retweeted","id":"9"}]}"#,
        )
        .unwrap();
        assert!(t.is_edit() && t.is_retweet());
    }

    #[test]
    fn problems_are_described_and_classified() {
        assert_eq!(
            describe_problem(br#"{"title":"Forbidden","detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","status":403}"#),
            "Forbidden: You are not allowed to create a Tweet with duplicate content."
        );
        let dup = XError::Refused {
            endpoint: "tweets",
            status: 403,
            detail: "Forbidden: You are not allowed to create a Tweet with duplicate content."
                .into(),
        };
        assert!(dup.is_duplicate() && !dup.is_transient() && !dup.is_reply_target_gone());
        let gone = XError::Refused {
            endpoint: "tweets",
            status: 403,
            detail: describe_problem(br#"{"title":"Forbidden","detail":"You attempted to reply to a Tweet that is deleted or not visible to you.","type":"about:blank","status":403}"#),
        };
        assert!(gone.is_reply_target_gone() && !gone.is_duplicate() && !gone.is_transient());
        assert!(
            XError::RateLimited {
                endpoint: "tweets",
                reset: None
            }
            .is_transient()
        );
        assert_eq!(describe_problem(b"<html>oops"), "<html>oops");
    }
}
