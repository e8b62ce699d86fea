//! The chain (Shape, an OP-stack L2): wallet-link signatures, JSON-RPC with failover, escrow
//! deposits followed block by block, token custody, and the settlement and refund transactions.

pub mod custody;
pub mod deposits;
pub mod eth;
pub mod link;
pub mod rpc;
pub mod settle;
