//! What the pages and the JSON API show, built from one store snapshot (and the status): the same
//! structures serve both, so the page and the API cannot disagree.

use salvo::oapi::ToSchema;
use serde::Serialize;
use serde_json::Value;
use store::{
    Auction, AuctionState, Bid, Channel, Deposit, Event, Notice, OutboxEntry, OutboxStatus, Reader,
    Timestamp, UserId, View, Wei,
};

mod auctions;
mod bidders;
mod dashboard;
mod reports;

pub use auctions::*;
pub use bidders::*;
pub use dashboard::*;
pub use reports::*;

/// Store errors as text (the API turns them into 500s).
pub type Result<T> = std::result::Result<T, String>;

fn s<T>(r: store::Result<T>) -> Result<T> {
    r.map_err(|e| e.to_string())
}

fn handle(r: &Reader, user: UserId) -> Result<String> {
    Ok(s(r.user(user))?.map_or_else(|| user.to_string(), |u| u.handle))
}

/// An amount for people: ETH, exact.
fn eth(w: Wei) -> String {
    w.eth_string()
}
