//! The SothebAIs appliance's binary plumbing: the command line, the configuration, the wiring and
//! supervision of every task, the control socket's server side, the admin page's backend and the
//! operator commands. The auction itself is the [`domain`] crate; X, the chain and the stream are
//! adapters ([`x`], [`chain`], [`stream`]) that only this crate connects.

pub mod admin;
pub mod alerting;
pub mod backups;
pub mod cli;
pub mod config;
pub mod connect;
pub mod demo;
pub mod faults;
pub mod files;
pub mod health;
pub mod hosting;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod run;
pub mod service;
pub mod sim;
pub mod streaming;
pub mod supervisor;
pub mod updating;
pub mod verify;
pub mod warp;
