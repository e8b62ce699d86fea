//! The local X API v2 server lives in its own crate (`xserver`), shared with `appliance bench x`.

pub use xserver::*;
