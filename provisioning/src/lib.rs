//! The box's life outside the auction: signed releases, the two binary slots and their atomic
//! switch, the update's health gate and rollback.
//!
//! - [`slots`]: `a` and `b`, the `current` link, the pending marker, bad versions, history.
//! - [`flash`]: writing the disk image to a disk, refusing the system's or a mounted one.
//! - [`update`]: listing releases (GitHub's REST shape, a LAN mirror or a directory), choosing
//!   one, checking its ed25519 signature, a trial run, installing it into the inactive slot.
//!
//! The appliance decides *when* (never while an auction is open unless forced) and judges the
//! new version's health; `slot-guard` (beside this crate) rolls back a version that never got
//! that far.

pub mod flash;
pub mod slots;
pub mod update;
