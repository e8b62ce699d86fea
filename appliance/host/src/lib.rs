//! The AI host: its character (a TOML file the project owns, or one converted from ElizaOS),
//! checked before use.
//!
//! Knows nothing of the network, the engine or the stream: it reads, checks and converts the
//! character, the personality every line the host says is written in.

pub mod character;
pub mod eliza;

pub use character::{Character, DEMO_CHARACTER, MOODS};
