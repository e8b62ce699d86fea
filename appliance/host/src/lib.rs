//! The AI host: its character (a TOML file the project owns, or one converted from ElizaOS),
//! checked before use, and the check that keeps what it says to the facts.
//!
//! Knows nothing of the network, the engine or the stream: it reads, checks and converts the
//! character, and judges a line against the facts it was given.

pub mod answers;
pub mod character;
pub mod eliza;
#[cfg(test)]
mod fixture;
pub mod ground;
pub mod lines;
pub mod mood;

pub use character::{Character, DEMO_CHARACTER, MOODS};
