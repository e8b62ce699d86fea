//! The appliance's benchmarks, run by `appliance bench …`: durable bids ([`bids`]), the stream's
//! stages and a bid's way to an encoded frame ([`stream`]), picture quality per bit against
//! libx264 ([`quality`]), the admin page under load ([`web`]), and X under load ([`x`]). Kept out of the product's crates; the binary only dispatches to them.

pub mod bids;
pub mod quality;
pub mod stream;
pub mod web;
pub mod x;
