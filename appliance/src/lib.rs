//! The SothebAIs appliance: the auction domain and the wiring of every task.
//!
//! Data comes in as commands (from X, the admin page, the control socket, the simulated
//! bidders), goes through the single-writer [`engine`] into the store, and leaves as committed
//! events (to the stream, the admin page, the logs) and outbox rows (replies, chain transactions).

pub mod admin;
pub mod bench;
pub mod bench_web;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connect;
pub mod control;
pub mod demo;
pub mod engine;
pub mod health;
pub mod http;
pub mod logging;
pub mod notify;
pub mod ops;
pub mod run;
pub mod schedule;
pub mod secret;
pub mod sim;
pub mod stream;
pub mod x;
