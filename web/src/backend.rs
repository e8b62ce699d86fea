//! The narrow interface the admin page has to the rest of the appliance: engine commands as JSON
//! (the same surface as the control socket), status, the stream's picture and switches, settings,
//! and recent log lines. The page knows the store (read-only snapshots) and this; never the X or
//! chain code.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

/// A boxed future, for an object-safe trait.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A refusal: a stable code and a sentence for the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, salvo::oapi::ToSchema)]
pub struct Refusal {
    /// Stable code (`invalid_state`, `not_found`, ...).
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl Refusal {
    /// A code and a message.
    pub fn new(code: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// What the appliance offers the admin page.
pub trait Backend: Send + Sync + 'static {
    /// Runs an engine command (`{"command": "pause", ...}`); its reply, or the refusal.
    fn execute(&self, command: Value) -> BoxFut<'_, Result<Value, Refusal>>;
    /// Engine counters, X/chain health and stream statistics, as the control socket's status.
    fn status(&self) -> Value;
    /// The head of the event log, updated after every commit.
    fn changes(&self) -> watch::Receiver<u64>;
    /// The latest composed frame as JPEG (a fresh render when the stream is off).
    fn frame_jpeg(&self) -> BoxFut<'_, Result<Vec<u8>, String>>;
    /// A render of the scene of `phase` (`pre`, `live`, `post`) with the current data, as PNG.
    fn scene_preview(&self, phase: String) -> BoxFut<'_, Result<Vec<u8>, String>>;
    /// The scene file in use (TOML).
    fn scenes(&self) -> String;
    /// Replaces the scenes (validated first); previews use them at once, the
    /// stream from its next start.
    fn set_scenes(&self, text: &str) -> Result<(), String>;
    /// Whether the stream is running.
    fn streaming(&self) -> bool;
    /// Starts or stops the stream.
    fn set_streaming(&self, on: bool) -> BoxFut<'_, Result<(), String>>;
    /// The settings, secrets shown only as set or not.
    fn settings(&self) -> Value;
    /// Saves changed settings (`{"section.key": value}`), applied at the next start; returns the
    /// settings as they will be.
    fn save_settings(&self, changes: &Value) -> Result<Value, String>;
    /// The last `n` log lines.
    fn log_lines(&self, n: usize) -> Vec<String>;
    /// Where pictures (artwork, avatars, backgrounds) live.
    fn assets_dir(&self) -> PathBuf;
}
