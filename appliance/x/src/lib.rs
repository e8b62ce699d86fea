//! The X (Twitter) adapter: the API v2 client with OAuth 1.0a signing, pacing within the rate
//! limits, polling for the tweets that bid, link wallets and ask questions, and the deliverer of
//! the outbox's tweets. What a tweet means is the domain's [`domain::grammar`].

pub mod api;
pub mod deliver;
pub mod oauth;
pub mod pace;
pub mod poll;
pub mod spend;
pub mod stream;
