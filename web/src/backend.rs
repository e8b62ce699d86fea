//! The narrow interface the admin page has to the rest of the appliance: typed operator actions
//! (never arbitrary engine commands: no deposit, wallet link or tweet can be sent from here),
//! status, the stream's picture and switches, settings, and recent log lines. The page knows the
//! store (read-only snapshots), the domain's types and this; never the X or chain code.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use domain::engine::{CommandError, OperatorAction, Reply};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::Audit;
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

impl From<CommandError> for Refusal {
    fn from(e: CommandError) -> Refusal {
        Refusal {
            code: e.code,
            message: e.message,
        }
    }
}

/// The preview picture and where it came from.
#[derive(Debug)]
pub struct Preview {
    /// JPEG bytes.
    pub jpeg: Vec<u8>,
    /// `encoded` (the stream's latest keyframe, decoded) or `composed` (a fresh render).
    pub source: &'static str,
}

/// What the appliance offers the admin page.
pub trait Backend: Send + Sync + 'static {
    /// Carries out an operator's action as an engine command carrying `audit`; the engine's
    /// reply once it is durable, or its refusal.
    fn act(&self, action: OperatorAction, audit: Audit) -> BoxFut<'_, Result<Reply, CommandError>>;
    /// The appliance's metrics (engine, stream, X, chain), read at each scrape of `/metrics`
    /// under the names the README lists.
    fn metrics(&self) -> Box<dyn prometheus_client::collector::Collector>;
    /// Engine counters, X/chain health and stream statistics, as the control socket's status,
    /// with each part's state (`connections.parts`), the supervised tasks and the alerts.
    fn status(&self) -> Value;
    /// Each part judged now (the engine proven by a write): what `/readyz` answers.
    fn readiness(&self) -> BoxFut<'_, domain::report::Readiness>;
    /// The head of the event log, updated after every commit.
    fn changes(&self) -> watch::Receiver<u64>;
    /// The operator's preview as JPEG: while the stream runs, its latest keyframe decoded (what
    /// viewers get, so a broken encoder shows); otherwise a fresh render of the scene.
    fn frame_jpeg(&self) -> BoxFut<'_, Result<Preview, String>>;
    /// A render of the scene of `phase` (`pre`, `live`, `post`, `standby`) with the current data, as PNG.
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
    /// Puts the standby picture ("we'll be right back") on air, or takes it off.
    fn set_standby(&self, on: bool);
    /// Whether the operator has the stream on standby.
    fn standby(&self) -> bool;
    /// The settings, secrets shown only as set or not.
    fn settings(&self) -> Value;
    /// Saves changed settings (`{"section.key": value}`), applied at the next start; returns the
    /// settings as they will be.
    fn save_settings(&self, changes: &Value) -> Result<Value, String>;
    /// The last `n` log lines.
    fn log_lines(&self, n: usize) -> Vec<String>;
    /// Where pictures (artwork, avatars, backgrounds) live.
    fn assets_dir(&self) -> PathBuf;
    /// Makes the host say `text` now (on stream, spoken, before any waiting line).
    fn host_say(&self, text: &str) -> Result<(), String>;
    /// The host's character in force (TOML), and what a model is told from it.
    fn host_character(&self) -> Result<(String, String), String>;
    /// A few lines the host would say now with its character (the model's, checked, or the
    /// templates'), for the operator's preview.
    fn host_preview(&self) -> BoxFut<'_, Result<Vec<String>, String>>;
    /// Replaces the host's character (checked first; every problem named), in force at once.
    fn set_host_character(&self, text: String) -> BoxFut<'_, Result<(), String>>;
    /// Self-update: `status` (the slots and their history), `check` (a newer release and its
    /// notes), `apply` (install and switch; `force` even while an auction is open), `rollback`;
    /// the report in words.
    fn update(&self, action: UpdateAction) -> BoxFut<'_, Result<String, String>>;
}

/// What the operator asks of self-update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateAction {
    /// The slots, a pending update, bad versions, the history.
    Status,
    /// Whether a newer release is offered.
    Check,
    /// Install the newest release and switch to it.
    Apply {
        /// Even while an auction is open.
        force: bool,
    },
    /// Back to the other slot's version.
    Rollback,
}
