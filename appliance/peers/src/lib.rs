//! The real peers the tests and the marathon run against: a Hardhat node (the EVM chain) and
//! nginx with its RTMP module (the ingest), with ffprobe/ffmpeg checks of what the ingest recorded.
//! They are test peers: a peer that cannot start panics with its own log.

pub mod hardhat;
pub mod nginx;
