//! The RTMP/RTMPS publishing client: one task that connects, publishes from the media queue and,
//! on any failure, reconnects with exponential backoff and jitter, starting again from a
//! keyframe with timestamps that keep rising.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::queue::{Media, MediaQueue};
use crate::target::{Target, TlsOptions, client_config};
use crate::{RtmpError, StreamHeaders, StreamStats, flv};

/// Reconnection timing.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay (the ingest is retried at least this often).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        }
    }
}

impl Backoff {
    /// The delay before attempt `n` (from 1): doubling, capped, with ±20 % jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max);
        let jitter = 0.8 + 0.4 * fastrand::f64();
        base.mul_f64(jitter)
    }
}

/// The publisher's settings.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// Where to publish.
    pub target: Target,
    /// How to trust an rtmps:// server.
    pub tls: TlsOptions,
    /// Reconnection timing.
    pub backoff: Backoff,
    /// Longest wait for a connection, handshake or the server's answers.
    pub timeout: Duration,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A session that stayed up this long resets the backoff.
const HEALTHY: Duration = Duration::from_secs(10);

/// Publishes until `stop` turns true. `want_keyframe` asks the encoder for a keyframe (after a
/// reconnect, so the ingest need not wait for the next scheduled one).
pub async fn run(
    config: PublisherConfig,
    headers: Arc<StreamHeaders>,
    queue: Arc<MediaQueue>,
    stats: Arc<StreamStats>,
    want_keyframe: Arc<dyn Fn() + Send + Sync>,
    mut stop: watch::Receiver<bool>,
) {
    let mut attempt = 0u32;
    let mut ever_connected = false;
    while !*stop.borrow() {
        let started = Instant::now();
        let result = session(
            &config,
            &headers,
            &queue,
            &stats,
            &*want_keyframe,
            &mut stop,
            &mut ever_connected,
        )
        .await;
        stats.connected.store(false, Ordering::Relaxed);
        match result {
            Ok(()) => break,
            Err(e) => {
                if started.elapsed() > HEALTHY {
                    attempt = 0;
                }
                attempt += 1;
                let delay = config.backoff.delay(attempt);
                stats.set_error(&e.to_string());
                tracing::warn!(target = %config.target, error = %e, retry_in_ms = delay.as_millis() as u64, "publishing interrupted");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
}

/// Bytes the kernel may hold unsent (Linux doubles it). Enough for the bandwidth-delay product
/// of 4.5 Mbit/s at about 400 ms round trip, and small enough that a slow
/// network pushes back on the media queue, which drops whole GOPs, instead of hiding seconds
/// of delay in socket buffers.
const SEND_BUFFER: u32 = 128 * 1024;

async fn open_tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the host name resolves to no address",
    );
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_send_buffer_size(SEND_BUFFER)?;
        match socket.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn connect(config: &PublisherConfig) -> Result<Box<dyn Io>, RtmpError> {
    let t = &config.target;
    let tcp = tokio::time::timeout(config.timeout, open_tcp(&t.host, t.port))
        .await
        .map_err(|_| RtmpError::Connect(format!("{t}: no connection within {:?}", config.timeout)))?
        .map_err(|e| RtmpError::Connect(format!("{t}: {e}")))?;
    tcp.set_nodelay(true).ok();
    if !t.tls {
        return Ok(Box::new(tcp));
    }
    let connector = tokio_rustls::TlsConnector::from(client_config(&config.tls)?);
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(t.host.clone())
        .map_err(|e| RtmpError::Tls(format!("{}: {e}", t.host)))?;
    let tls = tokio::time::timeout(config.timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| RtmpError::Tls(format!("{t}: no TLS handshake within {:?}", config.timeout)))?
        .map_err(|e| RtmpError::Tls(format!("{t}: {e}")))?;
    Ok(Box::new(tls))
}

/// Bytes written (and counted) at a time.
const WRITE_PIECE: usize = 16 * 1024;

struct Link {
    io: Box<dyn Io>,
    session: ClientSession,
    buf: Vec<u8>,
    stats: Arc<StreamStats>,
}

impl Link {
    async fn send(
        &mut self,
        results: Vec<ClientSessionResult>,
    ) -> Result<Vec<ClientSessionEvent>, RtmpError> {
        let mut events = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(packet) => {
                    // In pieces, counted as each goes: a keyframe can take seconds on a slow
                    // uplink, and adaptive bitrate measures the uplink by this count.
                    for piece in packet.bytes.chunks(WRITE_PIECE) {
                        self.io
                            .write_all(piece)
                            .await
                            .map_err(|e| RtmpError::Io(e.to_string()))?;
                        self.stats
                            .bytes_sent
                            .fetch_add(piece.len() as u64, Ordering::Relaxed);
                    }
                }
                ClientSessionResult::RaisedEvent(e) => events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    async fn send_one(
        &mut self,
        result: Result<ClientSessionResult, rml_rtmp::sessions::ClientSessionError>,
    ) -> Result<(), RtmpError> {
        let r = result.map_err(|e| RtmpError::Protocol(e.to_string()))?;
        self.send(vec![r]).await.map(|_| ())
    }

    /// Reads from the server until `want` is raised, answering whatever needs answering.
    async fn wait_for(
        &mut self,
        timeout: Duration,
        want: fn(&ClientSessionEvent) -> Option<Result<(), String>>,
    ) -> Result<(), RtmpError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let n = tokio::time::timeout_at(deadline, self.io.read(&mut self.buf))
                .await
                .map_err(|_| RtmpError::Protocol("the server did not answer in time".into()))?
                .map_err(|e| RtmpError::Io(e.to_string()))?;
            if n == 0 {
                return Err(RtmpError::Io("the server closed the connection".into()));
            }
            let results = self
                .session
                .handle_input(&self.buf[..n])
                .map_err(|e| RtmpError::Protocol(e.to_string()))?;
            for event in self.send(results).await? {
                if let Some(outcome) = want(&event) {
                    return outcome.map_err(RtmpError::Rejected);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    config: &PublisherConfig,
    headers: &StreamHeaders,
    queue: &MediaQueue,
    stats: &Arc<StreamStats>,
    want_keyframe: &(dyn Fn() + Send + Sync),
    stop: &mut watch::Receiver<bool>,
    ever_connected: &mut bool,
) -> Result<(), RtmpError> {
    let mut io = connect(config).await?;
    // The RTMP handshake.
    let mut hs = Handshake::new(PeerType::Client);
    let p0p1 = hs
        .generate_outbound_p0_and_p1()
        .map_err(|e| RtmpError::Protocol(e.to_string()))?;
    io.write_all(&p0p1)
        .await
        .map_err(|e| RtmpError::Io(e.to_string()))?;
    let mut buf = vec![0u8; 64 * 1024];
    let leftover = loop {
        let n = tokio::time::timeout(config.timeout, io.read(&mut buf))
            .await
            .map_err(|_| RtmpError::Protocol("no RTMP handshake from the server".into()))?
            .map_err(|e| RtmpError::Io(e.to_string()))?;
        if n == 0 {
            return Err(RtmpError::Io(
                "the server closed the connection during the handshake".into(),
            ));
        }
        match hs
            .process_bytes(&buf[..n])
            .map_err(|e| RtmpError::Protocol(e.to_string()))?
        {
            HandshakeProcessResult::InProgress { response_bytes } => {
                io.write_all(&response_bytes)
                    .await
                    .map_err(|e| RtmpError::Io(e.to_string()))?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                io.write_all(&response_bytes)
                    .await
                    .map_err(|e| RtmpError::Io(e.to_string()))?;
                break remaining_bytes;
            }
        }
    };
    let mut session_config = ClientSessionConfig::new();
    session_config.tc_url = Some(config.target.tc_url());
    session_config.flash_version = "FMLE/3.0 (compatible; SothebAIs)".into();
    let (session, initial) =
        ClientSession::new(session_config).map_err(|e| RtmpError::Protocol(e.to_string()))?;
    let mut link = Link {
        io,
        session,
        buf,
        stats: stats.clone(),
    };
    link.send(initial).await?;
    if !leftover.is_empty() {
        let results = link
            .session
            .handle_input(&leftover)
            .map_err(|e| RtmpError::Protocol(e.to_string()))?;
        link.send(results).await?;
    }
    let connect = link.session.request_connection(config.target.app.clone());
    link.send_one(connect).await?;
    link.wait_for(config.timeout, |e| match e {
        ClientSessionEvent::ConnectionRequestAccepted => Some(Ok(())),
        ClientSessionEvent::ConnectionRequestRejected { description } => {
            Some(Err(format!("connect refused: {description}")))
        }
        _ => None,
    })
    .await?;
    let publish = link
        .session
        .request_publishing(config.target.key.clone(), PublishRequestType::Live);
    link.send_one(publish).await?;
    link.wait_for(config.timeout, |e| match e {
        ClientSessionEvent::PublishRequestAccepted => Some(Ok(())),
        _ => None,
    })
    .await?;

    let info = &headers.info;
    let metadata = StreamMetadata {
        video_width: Some(info.width),
        video_height: Some(info.height),
        video_codec_id: Some(7),
        video_frame_rate: Some(info.fps as f32),
        video_bitrate_kbps: Some(info.video_kbps),
        audio_codec_id: Some(10),
        audio_bitrate_kbps: Some(info.audio_kbps),
        audio_sample_rate: Some(info.audio_sample_rate),
        audio_channels: Some(info.audio_channels),
        audio_is_stereo: Some(info.audio_channels == 2),
        encoder: Some(crate::ENCODER.to_string()),
    };
    let m = link.session.publish_metadata(&metadata);
    link.send_one(m).await?;
    if queue.restart_at_keyframe() {
        want_keyframe();
    }
    let mut headers_sent = false;
    stats.connected.store(true, Ordering::Relaxed);
    if *ever_connected {
        stats.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    *ever_connected = true;
    tracing::info!(target = %config.target, "publishing");

    loop {
        tokio::select! {
            media = queue.pop() => {
                let Some(media) = media else {
                    let done = link.session.stop_publishing().map_err(|e| RtmpError::Protocol(e.to_string()))?;
                    link.send(done).await?;
                    return Ok(());
                };
                let ts = RtmpTimestamp::new(media.pts_ms() as u32);
                if !headers_sent {
                    // Sequence headers go at the first frame's time, so timestamps only rise.
                    let v = link.session.publish_video_data(Bytes::from(flv::video_sequence_header(&headers.avc_record)), ts, false);
                    link.send_one(v).await?;
                    let a = link.session.publish_audio_data(Bytes::from(flv::audio_sequence_header(&headers.asc)), ts, false);
                    link.send_one(a).await?;
                    headers_sent = true;
                }
                let result = match &media {
                    Media::Video { keyframe, avcc, .. } => {
                        stats.frames_sent.fetch_add(1, Ordering::Relaxed);
                        link.session.publish_video_data(Bytes::from(flv::video_frame(*keyframe, avcc)), ts, false)
                    }
                    Media::Audio { aac, .. } => link.session.publish_audio_data(Bytes::from(flv::audio_frame(aac)), ts, false),
                };
                link.send_one(result).await?;
            }
            read = link.io.read(&mut link.buf) => {
                let n = read.map_err(|e| RtmpError::Io(e.to_string()))?;
                if n == 0 {
                    return Err(RtmpError::Io("the server closed the connection".into()));
                }
                let results = link.session.handle_input(&link.buf[..n]).map_err(|e| RtmpError::Protocol(e.to_string()))?;
                link.send(results).await?;
            }
            _ = stop.changed() => {
                if let Ok(done) = link.session.stop_publishing() {
                    let _ = link.send(done).await;
                }
                let _ = link.io.shutdown().await;
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter() {
        let b = Backoff::default();
        for n in 1..20 {
            let d = b.delay(n).as_secs_f64();
            let base = (0.1 * 2f64.powi(n as i32 - 1)).min(1.0);
            assert!(
                d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                "attempt {n}: {d}"
            );
        }
    }
}
