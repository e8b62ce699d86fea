//! A local X API v2 server, written from X's public documentation: the stand-in for X in the
//! tests and in `appliance bench x`, since X cannot be reached here.
//!
//! It follows X's documented shapes: `data` / `includes.users` / `meta` (`newest_id`,
//! `oldest_id`, `result_count`, `next_token`), `since_id` and `start_time`, newest-first pages of
//! `max_results`, problem JSON errors, the `x-rate-limit-limit/-remaining/-reset` headers on every
//! answer and 429s when a window's budget is spent, OAuth 1.0a or bearer `Authorization` headers
//! (anything else is a 401), and 403 for a tweet whose text repeats the account's previous one.
//! Every OAuth 1.0a request's HMAC-SHA1 signature is verified as RFC 5849 says (method, base URL,
//! the decoded query and `oauth_*` parameters, re-encoded and sorted) with the test's secrets; a
//! wrong one is a 401. The host's own timeline may lag behind its posts, as X's does.
//! Posted tweets are recorded for the test to inspect.
//!
//! The filtered stream: rules (`GET`/`POST /2/tweets/search/stream/rules`, app-only bearer
//! token), and `GET /2/tweets/search/stream`, a long-lived answer of one JSON message per line
//! (`data`, `includes`, `matching_rules`) and `\r\n` keep-alives; one connection at a time (a
//! new one replaces the old). The test can drop the connection, stall it (nothing at all is
//! sent, keep-alives included) or make connecting fail (429, 503).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

mod oauth;
mod stream;

/// A tweet the server knows.
#[derive(Clone, Debug)]
pub struct MockTweet {
    /// Its id.
    pub id: u64,
    /// Its author's id.
    pub author_id: u64,
    /// Its text (as X stores it: `&`, `<`, `>` escaped).
    pub text: String,
    /// RFC 3339, milliseconds.
    pub created_at: String,
    /// `(type, id)` of the tweets it replies to, quotes or retweets.
    pub references: Vec<(String, u64)>,
    /// Every version's id, oldest first.
    pub edit_history: Vec<u64>,
}

/// A tweet posted through the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    /// Its id.
    pub id: u64,
    /// Its text.
    pub text: String,
    /// The tweet it replies to.
    pub reply_to: Option<u64>,
    /// When it was posted (milliseconds since the epoch).
    pub at_ms: u64,
}

#[derive(Clone, Debug)]
struct User {
    id: u64,
    username: String,
    created_at: String,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    limit: u32,
    used: u32,
    reset: u64,
}

#[derive(Default)]
struct State {
    users: Vec<User>,
    tweets: Vec<MockTweet>,
    posted: Vec<Posted>,
    next_id: u64,
    limits: HashMap<&'static str, u32>,
    windows: HashMap<&'static str, Window>,
    failures: HashMap<&'static str, Vec<u16>>,
    requests: HashMap<&'static str, u32>,
    post_delay: Duration,
    host: u64,
    paused: bool,
    rules: Vec<(u64, String, String)>,
    streams: Vec<(u64, tokio::sync::mpsc::Sender<Bytes>)>,
    stalled: bool,
    timeline_lag: Duration,
    clock: Option<Clock>,
}

/// Where the server's tweets get their `created_at`: the wall clock unless told otherwise.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

pub use oauth::{ACCESS_TOKEN, ACCESS_TOKEN_SECRET, CONSUMER_KEY, CONSUMER_SECRET, verify_oauth};

type Body = BoxBody<Bytes, Infallible>;

/// Whether `text` matches a query the way the server's search does.
fn matches_query(query: &str, t: &MockTweet) -> bool {
    query
        .split_whitespace()
        .map(str::to_lowercase)
        .all(|term| match term.as_str() {
            "-is:retweet" => !t.references.iter().any(|r| r.0 == "retweeted"),
            other => t.text.to_lowercase().contains(other),
        })
}

/// Records a new tweet (never edited) and streams it.
fn add_tweet(s: &mut State, id: u64, author: u64, text: String, reply_to: Option<u64>) {
    let created_at = tweet_time(s);
    push_tweet(
        s,
        MockTweet {
            id,
            author_id: author,
            text,
            created_at,
            references: reply_to
                .map(|r| vec![("replied_to".to_string(), r)])
                .unwrap_or_default(),
            edit_history: vec![id],
        },
    );
}

/// Records a tweet and sends it to the stream's connection.
fn push_tweet(s: &mut State, t: MockTweet) {
    stream::send(s, &t);
    s.tweets.push(t);
}

fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn rfc3339_now() -> String {
    rfc3339(chrono::Utc::now())
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A new tweet's `created_at`, by the server's clock.
fn tweet_time(s: &State) -> String {
    s.clock
        .as_ref()
        .map_or_else(rfc3339_now, |clock| rfc3339(clock()))
}

/// The running server.
pub struct XApi {
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    state: Arc<Mutex<State>>,
    _thread: std::thread::JoinHandle<()>,
}

impl XApi {
    /// Starts a server whose host account is `host` (id `host_id`).
    pub fn start(host: &str, host_id: u64) -> XApi {
        let state = Arc::new(Mutex::new(State {
            next_id: 1_790_000_000_000_000_000,
            host: host_id,
            ..State::default()
        }));
        state.lock().unwrap().users.push(User {
            id: host_id,
            username: host.to_string(),
            created_at: "2020-01-01T00:00:00.000Z".into(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr: SocketAddr = listener.local_addr().unwrap();
                tx.send(addr).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = shared.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(handle(state, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        let addr = rx.recv().unwrap();
        XApi {
            url: format!("http://{addr}"),
            state,
            _thread: thread,
        }
    }

    /// An account (created `created_at`, RFC 3339).
    pub fn add_user(&self, id: u64, username: &str, created_at: &str) {
        self.state.lock().unwrap().users.push(User {
            id,
            username: username.into(),
            created_at: created_at.into(),
        });
    }

    /// `author` tweets `text` (replying to `reply_to`); returns its id.
    pub fn tweet(&self, author: u64, text: &str, reply_to: Option<u64>) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        add_tweet(&mut s, id, author, text.into(), reply_to);
        id
    }

    /// Stamps new tweets with `clock`'s time rather than the wall clock's (the marathon's
    /// accelerated world, where X and the appliance share one simulated time). Rate-limit
    /// windows stay on the wall clock, as the client's pacing is.
    pub fn use_clock(&self, clock: Clock) {
        self.state.lock().unwrap().clock = Some(clock);
    }

    /// Ends the filtered stream's connection (the client sees the answer end).
    pub fn drop_stream(&self) {
        self.state.lock().unwrap().streams.clear();
    }

    /// While stalled, the stream's connection stays open but nothing at all is sent on it.
    pub fn stall_stream(&self, stalled: bool) {
        let mut s = self.state.lock().unwrap();
        s.stalled = stalled;
        if !stalled {
            // The stalled connection is one the client gave up on.
            s.streams.clear();
        }
    }

    /// The filtered-stream rules: `(value, tag)`.
    pub fn rules(&self) -> Vec<(String, String)> {
        self.state
            .lock()
            .unwrap()
            .rules
            .iter()
            .map(|(_, v, t)| (v.clone(), t.clone()))
            .collect()
    }

    /// A rule some other tool left on the app.
    pub fn add_rule(&self, value: &str, tag: &str) {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.rules.push((id, value.into(), tag.into()));
    }

    /// `author` edits tweet `original`: a new version with a new id.
    pub fn edit(&self, original: u64, text: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        let old = s.tweets.iter().find(|t| t.id == original).unwrap().clone();
        let created_at = tweet_time(&s);
        s.next_id += 1;
        let id = s.next_id;
        let mut history = old.edit_history.clone();
        history.push(id);
        push_tweet(
            &mut s,
            MockTweet {
                id,
                text: text.into(),
                created_at,
                edit_history: history,
                ..old
            },
        );
        id
    }

    /// The author deletes tweet `id`: it leaves search, timelines and lookups (the filtered
    /// stream sends nothing for a deletion), and replies to it are refused as X refuses them.
    /// Whether it was there.
    pub fn delete(&self, id: u64) -> bool {
        let mut s = self.state.lock().unwrap();
        let before = s.tweets.len();
        s.tweets.retain(|t| t.id != id);
        s.tweets.len() < before
    }

    /// Tweets posted through the API, in order.
    pub fn posted(&self) -> Vec<Posted> {
        self.state.lock().unwrap().posted.clone()
    }

    /// The texts posted in reply to `tweet`.
    pub fn replies_to(&self, tweet: u64) -> Vec<String> {
        self.posted()
            .into_iter()
            .filter(|p| p.reply_to == Some(tweet))
            .map(|p| p.text)
            .collect()
    }

    /// Requests served per endpoint.
    pub fn requests(&self, endpoint: &str) -> u32 {
        self.state
            .lock()
            .unwrap()
            .requests
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// The rate budget of an endpoint per 15-minute window.
    pub fn set_limit(&self, endpoint: &'static str, limit: u32) {
        let mut s = self.state.lock().unwrap();
        s.limits.insert(endpoint, limit);
        s.windows.remove(endpoint);
    }

    /// The next requests to `endpoint` fail with these statuses, in order.
    pub fn fail_next(&self, endpoint: &'static str, statuses: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .failures
            .entry(endpoint)
            .or_default()
            .extend_from_slice(statuses);
    }

    /// While paused, requests wait (as for a slow X); tweets can pile up meanwhile.
    pub fn pause(&self, paused: bool) {
        self.state.lock().unwrap().paused = paused;
    }

    /// The host's own timeline shows its posts only `lag` after they were made.
    pub fn lag_timeline(&self, lag: Duration) {
        self.state.lock().unwrap().timeline_lag = lag;
    }

    /// Posting records the tweet at once but answers only after `delay`.
    pub fn delay_posts(&self, delay: Duration) {
        self.state.lock().unwrap().post_delay = delay;
    }
}

fn json_response(status: StatusCode, body: Value, rate: Option<&Window>) -> Response<Body> {
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8");
    if let Some(w) = rate {
        r = r
            .header("x-rate-limit-limit", w.limit.to_string())
            .header(
                "x-rate-limit-remaining",
                w.limit.saturating_sub(w.used).to_string(),
            )
            .header("x-rate-limit-reset", w.reset.to_string());
    }
    r.body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap()
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Value {
    json!({"title": title, "detail": detail, "type": "about:blank", "status": status.as_u16()})
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    oauth::query_pairs(query.unwrap_or(""))
        .into_iter()
        .collect()
}

fn tweet_json(t: &MockTweet) -> Value {
    let mut v = json!({
        "id": t.id.to_string(),
        "text": t.text,
        "author_id": t.author_id.to_string(),
        "created_at": t.created_at,
        "conversation_id": t.references.first().map_or(t.id, |r| r.1).to_string(),
        "edit_history_tweet_ids": t.edit_history.iter().map(u64::to_string).collect::<Vec<_>>(),
    });
    if !t.references.is_empty() {
        v["referenced_tweets"] = t
            .references
            .iter()
            .map(|(kind, id)| json!({"type": kind, "id": id.to_string()}))
            .collect();
    }
    v
}

/// One newest-first page of `matching`, as X shapes it.
fn page(
    s: &mut State,
    mut matching: Vec<MockTweet>,
    q: &HashMap<String, String>,
    token_param: &str,
) -> Value {
    if let Some(since) = q.get("since_id").and_then(|v| v.parse::<u64>().ok()) {
        matching.retain(|t| t.id > since);
    }
    if let Some(start) = q.get("start_time") {
        matching.retain(|t| t.created_at.as_str() >= start.as_str());
    }
    matching.sort_by_key(|t| std::cmp::Reverse(t.id));
    let max = q
        .get("max_results")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(5, 100);
    let offset = q
        .get(token_param)
        .and_then(|t| t.strip_prefix("page-"))
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let chunk: Vec<&MockTweet> = matching.iter().skip(offset).take(max).collect();
    if offset > 0 {
        *s.requests.entry("mentions_pages").or_default() += 1;
    }
    let mut meta = json!({"result_count": chunk.len()});
    if let (Some(first), Some(last)) = (chunk.first(), chunk.last()) {
        meta["newest_id"] = json!(first.id.to_string());
        meta["oldest_id"] = json!(last.id.to_string());
    }
    if offset + chunk.len() < matching.len() {
        meta["next_token"] = json!(format!("page-{}", offset + chunk.len()));
    }
    let mut body = json!({"meta": meta});
    if !chunk.is_empty() {
        body["data"] = chunk.iter().map(|t| tweet_json(t)).collect();
        let mut authors: Vec<u64> = chunk.iter().map(|t| t.author_id).collect();
        authors.sort_unstable();
        authors.dedup();
        body["includes"] = json!({"users": authors.iter().filter_map(|a| s.users.iter().find(|u| u.id == *a)).map(|u| json!({
            "id": u.id.to_string(), "name": u.username, "username": u.username, "created_at": u.created_at
        })).collect::<Vec<_>>()});
    }
    body
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let q = query_map(req.uri().query());
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let endpoint: &'static str = match (method.as_str(), path.as_str()) {
        ("POST", "/2/tweets") => "tweets",
        ("GET", "/2/tweets/search/stream") => "stream",
        ("GET", "/2/tweets/search/stream/rules") => "rules",
        ("POST", "/2/tweets/search/stream/rules") => "rules_change",
        ("GET", "/2/tweets/search/recent") => "search",
        ("GET", "/2/users/me") => "me",
        ("GET", p) if p.starts_with("/2/users/by/username/") => "by_username",
        ("GET", p) if p.ends_with("/mentions") => "mentions",
        ("GET", p) if p.ends_with("/tweets") => "user_tweets",
        _ => {
            return json_response(
                StatusCode::NOT_FOUND,
                problem(StatusCode::NOT_FOUND, "Not Found", "no such endpoint"),
                None,
            );
        }
    };
    let signed = auth.starts_with("OAuth ") && {
        let url = format!("http://{host}{path}");
        match verify_oauth(method.as_str(), &url, &raw_query, &auth) {
            Ok(()) => true,
            Err(why) => {
                eprintln!("X stand-in: 401 for {method} {path}: {why}");
                false
            }
        }
    };
    let bearer = auth.starts_with("Bearer ") && auth.len() > 7;
    let app_only = matches!(endpoint, "stream" | "rules" | "rules_change");
    let allowed = if app_only {
        bearer
    } else {
        signed || (bearer && method == "GET" && endpoint != "me")
    };
    if !allowed {
        return json_response(
            StatusCode::UNAUTHORIZED,
            problem(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized"),
            None,
        );
    }
    let delay = {
        let mut s = state.lock().unwrap();
        *s.requests.entry(endpoint).or_default() += 1;
        let limit = s.limits.get(endpoint).copied().unwrap_or(10_000);
        let window = s.windows.entry(endpoint).or_insert(Window {
            limit,
            used: 0,
            reset: now_epoch() + 900,
        });
        if now_epoch() >= window.reset {
            window.used = 0;
            window.reset = now_epoch() + 900;
        }
        window.used += 1;
        let over = window.used > window.limit;
        let injected = s
            .failures
            .get_mut(endpoint)
            .and_then(|f| (!f.is_empty()).then(|| f.remove(0)));
        let w = s.windows.get(endpoint).copied();
        if over || injected == Some(429) {
            return json_response(
                StatusCode::TOO_MANY_REQUESTS,
                problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too Many Requests",
                    "Too Many Requests",
                ),
                w.as_ref(),
            );
        }
        if let Some(code) = injected {
            let status = StatusCode::from_u16(code).unwrap();
            return json_response(
                status,
                problem(status, "Service Unavailable", "Service Unavailable"),
                w.as_ref(),
            );
        }
        s.post_delay
    };
    if endpoint == "stream" {
        return stream::connect(state);
    }
    let (status, answer, rate) = respond(&state, endpoint, &path, &q, &body);
    if endpoint == "tweets" && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    json_response(status, answer, rate.as_ref())
}

fn respond(
    state: &Mutex<State>,
    endpoint: &str,
    path: &str,
    q: &HashMap<String, String>,
    body: &[u8],
) -> (StatusCode, Value, Option<Window>) {
    let mut s = state.lock().unwrap();
    let rate = s.windows.get(endpoint).copied();
    let host = s.host;
    let (status, answer) = match endpoint {
        "me" => {
            let u = s.users.iter().find(|u| u.id == host).unwrap();
            (
                StatusCode::OK,
                json!({"data": {"id": u.id.to_string(), "name": u.username, "username": u.username, "created_at": u.created_at}}),
            )
        }
        "by_username" => {
            let name = path.rsplit('/').next().unwrap_or("");
            match s
                .users
                .iter()
                .find(|u| u.username.eq_ignore_ascii_case(name))
            {
                Some(u) => (
                    StatusCode::OK,
                    json!({"data": {"id": u.id.to_string(), "name": u.username, "username": u.username, "created_at": u.created_at}}),
                ),
                None => (
                    StatusCode::OK,
                    json!({"errors": [{"detail": format!("Could not find user with username: [{name}].")}]}),
                ),
            }
        }
        "mentions" => {
            let id: u64 = path
                .split('/')
                .nth(3)
                .and_then(|i| i.parse().ok())
                .unwrap_or(0);
            let name = s
                .users
                .iter()
                .find(|u| u.id == id)
                .map(|u| format!("@{}", u.username.to_lowercase()))
                .unwrap_or_default();
            let matching = s
                .tweets
                .iter()
                .filter(|t| t.author_id != id && t.text.to_lowercase().contains(&name))
                .cloned()
                .collect();
            (
                StatusCode::OK,
                page(&mut s, matching, q, "pagination_token"),
            )
        }
        "search" => {
            let query = q.get("query").cloned().unwrap_or_default();
            let matching = s
                .tweets
                .iter()
                .filter(|t| matches_query(&query, t))
                .cloned()
                .collect();
            (StatusCode::OK, page(&mut s, matching, q, "next_token"))
        }
        "rules" => {
            let data: Vec<Value> = s
                .rules
                .iter()
                .map(|(id, value, tag)| json!({"id": id.to_string(), "value": value, "tag": tag}))
                .collect();
            let mut body = json!({"meta": {"sent": rfc3339_now(), "result_count": data.len()}});
            if !data.is_empty() {
                body["data"] = json!(data);
            }
            (StatusCode::OK, body)
        }
        "rules_change" => {
            let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let mut created = Vec::new();
            for rule in parsed["add"].as_array().into_iter().flatten() {
                s.next_id += 1;
                let id = s.next_id;
                let value = rule["value"].as_str().unwrap_or("").to_string();
                let tag = rule["tag"].as_str().unwrap_or("").to_string();
                created.push(json!({"id": id.to_string(), "value": value, "tag": tag}));
                s.rules.push((id, value, tag));
            }
            let deleted: Vec<u64> = parsed["delete"]["ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i.as_str()?.parse().ok())
                .collect();
            let before = s.rules.len();
            s.rules.retain(|(id, _, _)| !deleted.contains(id));
            let summary = json!({"created": created.len(), "not_created": 0,
                "deleted": before - s.rules.len(), "not_deleted": 0});
            (
                StatusCode::OK,
                json!({"data": created, "meta": {"sent": rfc3339_now(), "summary": summary}}),
            )
        }
        "user_tweets" => {
            let id: u64 = path
                .split('/')
                .nth(3)
                .and_then(|i| i.parse().ok())
                .unwrap_or(0);
            let shown_before = (chrono::Utc::now()
                - chrono::Duration::from_std(s.timeline_lag).unwrap())
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
            let matching = s
                .tweets
                .iter()
                .filter(|t| t.author_id == id && t.created_at <= shown_before)
                .cloned()
                .collect();
            (
                StatusCode::OK,
                page(&mut s, matching, q, "pagination_token"),
            )
        }
        "tweets" => {
            let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let text = parsed["text"].as_str().unwrap_or("").to_string();
            let reply_to = parsed["reply"]["in_reply_to_tweet_id"]
                .as_str()
                .and_then(|r| r.parse::<u64>().ok());
            let previous = s.posted.last().map(|p| p.text.clone());
            if text.is_empty() || text.chars().count() > 280 {
                (
                    StatusCode::BAD_REQUEST,
                    problem(
                        StatusCode::BAD_REQUEST,
                        "Invalid Request",
                        "text must be 1-280 characters",
                    ),
                )
            } else if previous.as_deref() == Some(text.as_str()) {
                (
                    StatusCode::FORBIDDEN,
                    problem(
                        StatusCode::FORBIDDEN,
                        "Forbidden",
                        "You are not allowed to create a Tweet with duplicate content.",
                    ),
                )
            } else if reply_to.is_some_and(|r| !s.tweets.iter().any(|t| t.id == r)) {
                // X's answer for a reply to a tweet deleted (or never there).
                (
                    StatusCode::FORBIDDEN,
                    problem(
                        StatusCode::FORBIDDEN,
                        "Forbidden",
                        "You attempted to reply to a Tweet that is deleted or not visible to you.",
                    ),
                )
            } else {
                s.next_id += 1;
                let id = s.next_id;
                s.posted.push(Posted {
                    id,
                    text: text.clone(),
                    reply_to,
                    at_ms: SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64),
                });
                let stored = text
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                add_tweet(&mut s, id, host, stored, reply_to);
                (
                    StatusCode::CREATED,
                    json!({"data": {"id": id.to_string(), "text": text, "edit_history_tweet_ids": [id.to_string()]}}),
                )
            }
        }
        _ => unreachable!(),
    };
    (status, answer, rate)
}
