//! X (Twitter): the tweet grammar, the API v2 client with OAuth 1.0a signing, pacing within the
//! rate limits, and polling for the tweets that bid, link wallets and ask questions.

pub mod api;
pub mod grammar;
pub mod oauth;
pub mod pace;
pub mod poll;
