//! The chain adapter (Shape, an OP-stack L2): JSON-RPC with failover, escrow deposits followed
//! block by block, token custody, and the settlement and refund transactions. Wallet-link proofs
//! are the domain's [`domain::link`].

pub mod custody;
pub mod deposits;
pub mod eth;
pub mod reconcile;
pub mod rpc;
pub mod settle;
