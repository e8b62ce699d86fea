//! The auction domain: time, the campaign schedule, the single-writer engine and its rules, the
//! tweet grammar, wallet-link proofs and the words of every notification. No network, no HTTP,
//! no RPC: adapters feed it commands and deliver what it decides.
//!
//! Data comes in as [`engine::Command`]s (from X, the chain, the admin page, the control socket,
//! the simulated bidders), goes through the [`engine`] into the store, and leaves as committed
//! events and outbox rows that the adapters deliver.

pub mod clock;
pub mod delivery;
pub mod demo;
pub mod engine;
pub mod grammar;
pub mod link;
pub mod report;
pub mod retry;
pub mod schedule;
pub mod secret;
pub mod words;
