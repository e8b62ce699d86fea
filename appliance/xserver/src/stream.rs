//! The filtered stream: one long-lived answer per app (a new connection replaces the old), a
//! JSON message per line for each new tweet matching a rule, `\r\n` keep-alives every 500 ms;
//! nothing at all while the test stalls it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::{Body, MockTweet, State, matches_query, tweet_json};

/// A long-lived answer fed through a channel.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// Opens a stream connection, replacing any other, with its keep-alives.
pub(crate) fn connect(state: Arc<Mutex<State>>) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1024);
    let connection = {
        let mut s = state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        // One connection per app: the new one replaces the old.
        s.streams.clear();
        s.streams.push((id, tx));
        id
    };
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let s = shared.lock().unwrap();
            let Some((_, tx)) = s.streams.iter().find(|(id, _)| *id == connection) else {
                return;
            };
            if !s.stalled && tx.try_send(Bytes::from_static(b"\r\n")).is_err() && tx.is_closed() {
                return;
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json; charset=utf-8")
        .body(ChannelBody(rx).boxed())
        .unwrap()
}

/// Sends a new tweet to the stream's connection, as X would, unless stalled or paused.
pub(crate) fn send(s: &mut State, t: &MockTweet) {
    if s.stalled || s.paused || s.streams.is_empty() {
        return;
    }
    let matching: Vec<Value> = s
        .rules
        .iter()
        .filter(|(_, value, _)| matches_query(value, t))
        .map(|(id, _, tag)| json!({"id": id.to_string(), "tag": tag}))
        .collect();
    if matching.is_empty() {
        return;
    }
    let mut message = json!({"data": tweet_json(t), "matching_rules": matching});
    if let Some(u) = s.users.iter().find(|u| u.id == t.author_id) {
        message["includes"] = json!({"users": [{"id": u.id.to_string(), "name": u.username,
            "username": u.username, "created_at": u.created_at}]});
    }
    let line = Bytes::from(format!("{message}\r\n"));
    s.streams
        .retain(|(_, tx)| tx.try_send(line.clone()).is_ok());
}
