//! The chain (Shape, an OP-stack L2): wallet-link signatures, JSON-RPC with failover, escrow
//! deposits, token custody and settlement transactions.

pub mod link;
