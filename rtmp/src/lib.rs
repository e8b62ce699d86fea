//! The stream's way out: an RTMP/RTMPS publishing client (rml_rtmp on tokio, TLS by rustls)
//! that reconnects by itself, and a local FLV recorder of the same media.
//!
//! Takes encoded media through a [`MediaQueue`] that the frame loop pushes into without ever
//! waiting; knows nothing of auctions, scenes or encoders.

pub mod flv;
mod publisher;
mod queue;
mod recorder;
mod target;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};

pub use flv::StreamInfo;
pub use publisher::{Backoff, PublisherConfig, run as publish};
pub use queue::{Dropped, Media, MediaQueue};
pub use recorder::{RecorderConfig, run as record};
pub use target::{Target, TlsOptions};

/// The encoder name written into metadata.
pub const ENCODER: &str = "SothebAIs appliance";

/// Errors on the way out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RtmpError {
    /// A malformed publishing URL.
    #[error("stream URL: {0}")]
    Url(String),
    /// TCP connection failed.
    #[error("cannot connect to {0}")]
    Connect(String),
    /// TLS failed (certificate, handshake, CA file).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server broke the RTMP protocol or timed out.
    #[error("RTMP: {0}")]
    Protocol(String),
    /// The server refused to connect or publish (wrong application or key?).
    #[error("the ingest refused: {0}")]
    Rejected(String),
    /// Reading or writing failed.
    #[error("I/O: {0}")]
    Io(String),
}

/// What a decoder needs before the first frame, and the stream's shape.
#[derive(Clone, Debug)]
pub struct StreamHeaders {
    /// Shape, for metadata.
    pub info: StreamInfo,
    /// The AVCDecoderConfigurationRecord.
    pub avc_record: Vec<u8>,
    /// The AAC AudioSpecificConfig.
    pub asc: Vec<u8>,
}

/// Counters of the way out, for logs and the admin page.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Whether the publisher is connected and publishing.
    pub connected: AtomicBool,
    /// Reconnections after the first connection.
    pub reconnects: AtomicU64,
    /// Bytes written to the ingest.
    pub bytes_sent: AtomicU64,
    /// Video frames written to the ingest.
    pub frames_sent: AtomicU64,
    /// Recording files started.
    pub recordings: AtomicU64,
    last_error: Mutex<String>,
}

impl StreamStats {
    /// Records the latest error.
    pub fn set_error(&self, error: &str) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error.to_string();
    }

    /// The latest error, empty if none.
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
