//! What a long-running task reports about itself: its last failure, shown on the status and the
//! admin page.

use std::sync::Mutex;

/// The last failure a task met (empty: none yet).
#[derive(Debug, Default)]
pub struct LastError(Mutex<String>);

impl LastError {
    /// Records a failure.
    pub fn set(&self, error: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = error.into();
    }

    /// The last failure recorded.
    pub fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
