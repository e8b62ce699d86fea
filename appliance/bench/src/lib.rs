//! The appliance's benchmarks, run by `appliance bench …`: durable bids ([`bids`]), the stream's
//! stages and a bid's way to an encoded frame ([`stream`]), picture quality per bit against
//! libx264 ([`quality`]), and the admin page under load
//! ([`web`]). Kept out of the product's crates; the binary only dispatches to them.

pub mod bids;
pub mod quality;
pub mod stream;
pub mod web;
