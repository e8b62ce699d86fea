//! The real EVM chain of the chain tests lives in the `peers` crate, shared with the marathon.

pub use peers::hardhat::*;
