//! The stream switch: the live stream started and stopped while the appliance runs (by `run` at
//! start and stop, and from the admin page), its counters for the status and `/metrics`, and its
//! health in the log every 10 s.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::clock::SharedClock;
use serde_json::{Value, json};
use stream::{PipelineStats, Snapshot, Stream};
use tokio::sync::watch;

use crate::config::Config;

/// A running stream and the task that logs its health.
struct Active {
    stream: Stream,
    log_stop: watch::Sender<bool>,
    log_task: tokio::task::JoinHandle<()>,
}

/// Frame and byte counts at the last rate sample.
#[derive(Default)]
struct Rates {
    at: Option<Instant>,
    frames: u64,
    bytes: u64,
    fps: f64,
    kbps: f64,
}

/// Starts and stops the stream while the appliance runs.
pub struct StreamControl {
    config: Config,
    duration_secs: Option<u64>,
    snapshots: watch::Receiver<Snapshot>,
    clock: SharedClock,
    active: Mutex<Option<Active>>,
    switching: tokio::sync::Mutex<()>,
    rates: Mutex<Rates>,
    /// Fault injection: the next stream's first encoder (or every one) fails after this many
    /// frames.
    encoder_fault: Mutex<Option<(u64, bool)>>,
    /// Streams started again after their frame loop ended by itself.
    restarts: std::sync::atomic::AtomicU64,
    /// Whether someone (the operator, the schedule, `run`) wants the stream on: a stream that
    /// ended by itself is started again only while this holds.
    wanted: std::sync::atomic::AtomicBool,
    /// The operator's standby switch, shared with every stream started.
    standby: Arc<std::sync::atomic::AtomicBool>,
    /// The host's voice, mixed into every stream started.
    speaker: Arc<stream::speech::Speaker>,
}

impl StreamControl {
    /// The clock the stream draws time from.
    pub fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// A stream made from `config`'s settings, drawing `snapshots`; `duration_secs` limits
    /// each run to that much stream time.
    pub fn new(
        config: Config,
        duration_secs: Option<u64>,
        snapshots: watch::Receiver<Snapshot>,
        clock: SharedClock,
        speaker: Arc<stream::speech::Speaker>,
    ) -> StreamControl {
        StreamControl {
            config,
            duration_secs,
            snapshots,
            clock,
            active: Mutex::new(None),
            switching: tokio::sync::Mutex::new(()),
            rates: Mutex::new(Rates::default()),
            encoder_fault: Mutex::new(None),
            restarts: Default::default(),
            wanted: Default::default(),
            standby: Arc::default(),
            speaker,
        }
    }

    /// The host's speech: lines spoken, dropped, waiting, and their latencies.
    pub fn speech(&self) -> stream::speech::SpeechStats {
        self.speaker.stats()
    }

    /// Puts the standby picture on air (or takes it off), now and for streams started later.
    pub fn set_standby(&self, on: bool) {
        self.standby.store(on, Ordering::Relaxed);
        tracing::info!(on, "standby switch");
    }

    /// Whether the operator has the stream on standby.
    pub fn standby(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
    }

    /// Makes the next stream's first encoder (or, with `every`, each of its encoders) fail
    /// after `frames` frames (the crash tests).
    pub fn inject_encoder_fault(&self, frames: u64, every: bool) {
        *self.encoder_fault.lock().unwrap_or_else(|e| e.into_inner()) = Some((frames, every));
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a stream runs.
    pub fn running(&self) -> bool {
        self.active().is_some()
    }

    /// Whether the stream goes to an ingest (else it is only recorded).
    pub fn publishing(&self) -> bool {
        !self.config.stream.url.is_empty()
    }

    /// Whether the running stream reached its duration (or failed).
    pub fn finished(&self) -> bool {
        self.active().as_ref().is_some_and(|a| a.stream.finished())
    }

    /// Starts streaming (an error when it already runs or cannot start).
    pub async fn start(&self) -> Result<(), String> {
        let _one = self.switching.lock().await;
        self.wanted.store(true, Ordering::Relaxed);
        if self.running() {
            return Err("the stream is already running".into());
        }
        let mut settings = self.config.stream_settings(self.duration_secs)?;
        settings.standby = self.standby.clone();
        settings.speaker = self.speaker.clone();
        if let Some((frames, every)) = self
            .encoder_fault
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            settings.fail_encoder_after = Some(frames);
            settings.fail_every_encoder = every;
        }
        if let Some(p) = &settings.publish {
            tracing::info!(target = %p.target, "publishing the stream");
            if self.insecure_tls() {
                tracing::warn!(
                    target = %p.target,
                    "stream.insecure_skip_verify is on: the ingest's certificate is not checked, so \
                     anyone between the box and the ingest could take or alter the stream"
                );
            }
        }
        if let Some(r) = &settings.record {
            tracing::info!(dir = %r.dir.display(), "recording the stream");
        }
        let stream = Stream::start(
            settings,
            self.snapshots.clone(),
            self.clock.clone(),
            tokio::runtime::Handle::current(),
        )
        .map_err(|e| format!("cannot start the stream: {e}"))?;
        let (log_stop, stop_rx) = watch::channel(false);
        let log_task = tokio::spawn(log_stream(
            stream.pipeline.clone(),
            stream.output.clone(),
            Instant::now(),
            stop_rx,
        ));
        *self.rates.lock().unwrap_or_else(|e| e.into_inner()) = Rates::default();
        *self.active() = Some(Active {
            stream,
            log_stop,
            log_task,
        });
        Ok(())
    }

    /// Stops streaming, letting queued media out (an error when it was not running, or when
    /// the stream had failed).
    pub async fn stop(&self) -> Result<(), String> {
        let _one = self.switching.lock().await;
        self.wanted.store(false, Ordering::Relaxed);
        let Some(a) = self.active().take() else {
            return Err("the stream is not running".into());
        };
        Self::wind_up(a).await
    }

    /// Winds up a stream whose frame loop ended by itself, returning why it ended; `None` when
    /// no stream ended so.
    async fn reap(&self) -> Option<String> {
        let _one = self.switching.lock().await;
        if !self.finished() {
            return None;
        }
        let a = self.active().take()?;
        Some(match Self::wind_up(a).await {
            Ok(()) => "it reached its end".into(),
            Err(e) => e,
        })
    }

    async fn wind_up(a: Active) -> Result<(), String> {
        let p = &a.stream.pipeline;
        let (late, drops, down, up) = (
            p.late_frames.load(Ordering::Relaxed),
            a.stream.network_drops(),
            p.steps_down.load(Ordering::Relaxed),
            p.steps_up.load(Ordering::Relaxed),
        );
        let result = a.stream.stop().await;
        let _ = a.log_stop.send(true);
        let _ = a.log_task.await;
        tracing::info!(
            late_frames = late,
            network_dropped_frames = drops.frames,
            network_dropped_gops = drops.gops,
            bitrate_steps_down = down,
            bitrate_steps_up = up,
            "stream stopped"
        );
        result
    }

    /// The stream's counters, while it runs.
    pub fn figures(&self) -> Option<StreamFigures> {
        let active = self.active();
        let a = active.as_ref()?;
        let (p, o): (&PipelineStats, &rtmp::StreamStats) = (&a.stream.pipeline, &a.stream.output);
        Some(StreamFigures {
            encoder: p.encoder.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            last_error: o.last_error(),
            connected: o.connected.load(Ordering::Relaxed),
            frames: p.frames.load(Ordering::Relaxed),
            late_frames: p.late_frames.load(Ordering::Relaxed),
            network_dropped_frames: a.stream.network_drops().frames,
            reconnects: o.reconnects.load(Ordering::Relaxed),
            bytes_sent: o.bytes_sent.load(Ordering::Relaxed),
            encoder_restarts: p.encoder_restarts.load(Ordering::Relaxed),
            audio_peak_dbfs: p.audio_peak_cdb.load(Ordering::Relaxed) as f64 / 100.0,
            audio_rms_dbfs: p.audio_rms_cdb.load(Ordering::Relaxed) as f64 / 100.0,
            audio_loudness_lufs: p.audio_loudness_cdb.load(Ordering::Relaxed) as f64 / 100.0,
            rung: p.rung.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            target_kbps: p.bitrate_kbps.load(Ordering::Relaxed),
            steps_down: p.steps_down.load(Ordering::Relaxed),
            steps_up: p.steps_up.load(Ordering::Relaxed),
            last_step: p
                .last_step
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            standby: p.standby.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            encoder_error: p
                .encoder_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        })
    }

    /// The running stream's latest keyframe and the parameter sets that decode it.
    pub fn last_keyframe(&self) -> Option<(codec::AvcConfig, bytes::Bytes)> {
        let active = self.active();
        let a = active.as_ref()?;
        a.stream
            .pipeline
            .last_keyframe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Streams started again after their frame loop ended by itself.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Whether the stream goes out over RTMPS without checking the ingest's certificate.
    fn insecure_tls(&self) -> bool {
        let s = &self.config.stream;
        s.insecure_skip_verify && s.url.starts_with("rtmps://")
    }

    /// The stream's health for the status: running, connection, rates, drops, encoder.
    pub fn stats(&self) -> Value {
        let Some(f) = self.figures() else {
            return json!({"running": false, "insecure_tls": self.insecure_tls()});
        };
        let mut r = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match r.at {
            Some(at) if now.duration_since(at).as_secs_f64() >= 1.0 => {
                let secs = now.duration_since(at).as_secs_f64();
                r.fps = (f.frames - r.frames) as f64 / secs;
                r.kbps = (f.bytes_sent - r.bytes) as f64 * 8.0 / secs / 1000.0;
                (r.at, r.frames, r.bytes) = (Some(now), f.frames, f.bytes_sent);
            }
            Some(_) => {}
            None => (r.at, r.frames, r.bytes) = (Some(now), f.frames, f.bytes_sent),
        }
        json!({
            "running": true,
            "publishing": !self.config.stream.url.is_empty(),
            "connected": f.connected,
            "fps": (r.fps * 10.0).round() / 10.0,
            "bitrate_kbps": r.kbps.round(),
            "frames": f.frames,
            "late_frames": f.late_frames,
            "dropped_frames": f.network_dropped_frames,
            "reconnects": f.reconnects,
            "encoder": f.encoder,
            "encoder_restarts": f.encoder_restarts,
            "restarts": self.restarts(),
            "audio_peak_dbfs": f.audio_peak_dbfs,
            "audio_rms_dbfs": f.audio_rms_dbfs,
            "audio_loudness_lufs": f.audio_loudness_lufs,
            "rung": f.rung,
            "top_rung": format!("{}@{}", self.config.stream.resolution, self.config.stream.bitrate_kbps),
            "target_kbps": f.target_kbps,
            "steps_down": f.steps_down,
            "steps_up": f.steps_up,
            "last_step": f.last_step,
            "standby": f.standby,
            "encoder_error": f.encoder_error,
            "last_error": f.last_error,
            "insecure_tls": self.insecure_tls(),
        })
    }
}

/// A running stream's counters.
#[derive(Clone, Debug, Default)]
pub struct StreamFigures {
    /// The encoder in use.
    pub encoder: String,
    /// The publisher's last error.
    pub last_error: String,
    /// The publisher is connected to the ingest.
    pub connected: bool,
    /// Video frames encoded.
    pub frames: u64,
    /// Frames dropped because the frame loop was late.
    pub late_frames: u64,
    /// Frames dropped because the uplink could not keep up.
    pub network_dropped_frames: u64,
    /// Reconnections to the ingest.
    pub reconnects: u64,
    /// Bytes written to the ingest.
    pub bytes_sent: u64,
    /// Encoders replaced after failing mid-stream.
    pub encoder_restarts: u64,
    /// Program audio over the last 3 s: peak, dBFS.
    pub audio_peak_dbfs: f64,
    /// Program audio over the last 3 s: RMS level, dBFS.
    pub audio_rms_dbfs: f64,
    /// Program audio over the last 3 s: EBU R128 short-term loudness, LUFS.
    pub audio_loudness_lufs: f64,
    /// The ladder's rung in use ("720p@3000").
    pub rung: String,
    /// The video bit rate asked of the encoder, kbit/s.
    pub target_kbps: u64,
    /// Steps down the ladder (the uplink fell behind).
    pub steps_down: u64,
    /// Steps back up.
    pub steps_up: u64,
    /// The last step and its reason.
    pub last_step: String,
    /// Why the standby picture is on air, if it is.
    pub standby: Option<String>,
    /// The last encoder failure.
    pub encoder_error: String,
}

/// Starts and stops the stream as the on-air schedule says, acting only when its answer changes
/// (so the operator's own start or stop holds until the next boundary).
pub async fn follow_schedule(
    stream: Arc<StreamControl>,
    store: Arc<store::Store>,
    clock: SharedClock,
    lead: Duration,
    tail: Duration,
    mut stop: watch::Receiver<bool>,
) {
    use store::View;
    let mut edges = stream::onair::Edges::default();
    loop {
        let auctions = store.read().and_then(|r| r.auctions());
        match auctions {
            Ok(auctions) => {
                let wanted = stream::onair::on_air(&auctions, clock.now(), lead, tail);
                match edges.step(wanted) {
                    Some(true) if !stream.running() => {
                        tracing::info!("on-air schedule: going live");
                        if let Err(e) = stream.start().await {
                            tracing::error!(error = %e, "the on-air schedule could not start the stream");
                        }
                    }
                    Some(false) if stream.running() => {
                        tracing::info!("on-air schedule: off air until the next auction");
                        if let Err(e) = stream.stop().await {
                            tracing::error!(error = %e, "the stream failed");
                        }
                    }
                    _ => {}
                }
            }
            Err(e) => tracing::warn!(error = %e, "the on-air schedule cannot read the auctions"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Logs the stream's health every 10 s, and once when the first media reaches the ingest.
async fn log_stream(
    p: Arc<PipelineStats>,
    o: Arc<rtmp::StreamStats>,
    started: Instant,
    mut stop: watch::Receiver<bool>,
) {
    let mut first_logged = false;
    let mut last = (Instant::now(), 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    let mut every = 0u32;
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            _ = stop.changed() => return,
        }
        if !first_logged && o.frames_sent.load(Ordering::Relaxed) > 0 {
            first_logged = true;
            tracing::info!(
                after_ms = started.elapsed().as_millis() as u64,
                "first video frame sent to the ingest"
            );
        }
        every += 1;
        if !every.is_multiple_of(200) {
            continue;
        }
        let now = Instant::now();
        let frames = p.frames.load(Ordering::Relaxed);
        let compose = p.compose_us.load(Ordering::Relaxed);
        let convert = p.convert_us.load(Ordering::Relaxed);
        let encode = p.encode_us.load(Ordering::Relaxed);
        let sent = o.bytes_sent.load(Ordering::Relaxed);
        let secs = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let df = (frames - last.1).max(1) as f64;
        let mut lat = p
            .latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        lat.sort_unstable();
        let pct = |q: f64| {
            lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)))
                .map_or(0.0, |v| f64::from(*v) / 1000.0)
        };
        tracing::info!(
            fps = format!("{:.1}", (frames - last.1) as f64 / secs),
            compose_ms = format!("{:.2}", (compose - last.2) as f64 / df / 1000.0),
            convert_ms = format!("{:.2}", (convert - last.3) as f64 / df / 1000.0),
            encode_ms = format!("{:.2}", (encode - last.4) as f64 / df / 1000.0),
            sent_kbps = format!("{:.0}", (sent - last.5) as f64 * 8.0 / secs / 1000.0),
            late_frames = p.late_frames.load(Ordering::Relaxed),
            connected = o.connected.load(Ordering::Relaxed),
            reconnects = o.reconnects.load(Ordering::Relaxed),
            encoder = %p.encoder.lock().unwrap_or_else(|e| e.into_inner()),
            bid_to_frame_p50_ms = format!("{:.1}", pct(0.5)),
            bid_to_frame_p99_ms = format!("{:.1}", pct(0.99)),
            rss_mib = web::process::usage("self").map_or(0, |u| u.rss_bytes >> 20),
            last_error = %o.last_error(),
            "stream"
        );
        last = (now, frames, compose, convert, encode, sent);
    }
}

/// The wait before a stream whose frame loop ended by itself is started again, first.
const RESTART_FIRST: Duration = Duration::from_secs(2);
/// At most.
const RESTART_MAX: Duration = Duration::from_secs(60);
/// A stream that ran this long resets the wait.
const RESTART_HEALTHY: Duration = Duration::from_secs(300);

/// Crash-only for the stream as a whole: a frame loop that ended by itself (encoders failing
/// past repair, a picture that cannot be made) is wound up and started again, while someone
/// wants the stream on; 2 s after the first failure, doubling to a minute, reset after five
/// healthy minutes. Not for timed runs (`--duration`), whose stream ends the run.
pub async fn keep_alive(stream: Arc<StreamControl>, mut stop: watch::Receiver<bool>) {
    let mut wait = RESTART_FIRST;
    let mut since = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        if since.elapsed() > RESTART_HEALTHY {
            wait = RESTART_FIRST;
        }
        let Some(why) = stream.reap().await else {
            continue;
        };
        tracing::error!(reason = %why, retry_in_s = wait.as_secs(), "the stream's frame loop ended; starting it again");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = (wait * 2).min(RESTART_MAX);
        if !stream.wanted.load(Ordering::Relaxed) {
            tracing::info!("the stream was switched off meanwhile; not starting it again");
            continue;
        }
        match stream.start().await {
            Ok(()) => {
                stream.restarts.fetch_add(1, Ordering::Relaxed);
                since = Instant::now();
                tracing::info!("the stream is running again");
            }
            Err(e) => tracing::error!(error = %e, "the stream could not start again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::clock::ManualClock;
    use domain::engine::{Command, Engine, EngineConfig};

    /// The on-air schedule on a clock the test moves: off before the lead, live from a quarter
    /// before the auction opens, off a quarter after it ends; a stop by hand inside the window
    /// holds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_schedule_starts_and_stops_the_stream_at_the_planned_times() {
        let dir = tempfile::tempdir().unwrap();
        let opens = store::Timestamp::parse_rfc3339("2026-06-01T14:00:00-04:00").unwrap();
        let manual = Arc::new(ManualClock::new(opens.plus_secs(-20 * 60)));
        let clock: SharedClock = manual.clone();
        let store = Arc::new(store::Store::in_memory().unwrap());
        let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default()).unwrap();
        engine
            .handle()
            .execute(Command::CreateCampaign {
                spec: Box::new(domain::demo::live_spec(opens)),
                audit: store::Audit {
                    actor: "test".into(),
                    origin: "test".into(),
                    reason: "schedule".into(),
                },
            })
            .await
            .unwrap();
        let ends = {
            use store::View;
            let r = store.read().unwrap();
            let a = r.auctions().unwrap();
            assert_eq!(a[0].starts_at, opens, "the demo's first auction opens then");
            a[0].ends_at
        };
        let mut config = Config {
            data_dir: dir.path().into(),
            ..Config::default()
        };
        config.stream.record = "off".into();
        let first = stream::initial_snapshot(&store, &clock, dir.path().into());
        let (_tx, rx) = watch::channel(first);
        let control = Arc::new(StreamControl::new(
            config,
            None,
            rx,
            clock.clone(),
            Arc::default(),
        ));
        let (stop, stopped) = watch::channel(false);
        let quarter = Duration::from_secs(15 * 60);
        let task = tokio::spawn(follow_schedule(
            control.clone(),
            store.clone(),
            clock.clone(),
            quarter,
            quarter,
            stopped,
        ));
        let settle = || tokio::time::sleep(Duration::from_millis(2500));
        let wait_running = |want: bool| {
            let control = control.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(20);
                while control.running() != want {
                    assert!(Instant::now() < deadline, "running should be {want}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        // 13:40: before the lead.
        settle().await;
        assert!(!control.running());
        // 13:45: live, the "starting soon" picture.
        manual.set(opens.plus_secs(-15 * 60));
        wait_running(true).await;
        // Stopped by hand inside the window: the schedule does not fight it.
        control.stop().await.unwrap();
        settle().await;
        assert!(!control.running(), "the operator's stop holds");
        // Started by hand again, it runs until a quarter after the result.
        control.start().await.unwrap();
        manual.set(ends.plus_secs(1));
        engine.handle().execute(Command::Tick).await.unwrap();
        let result = {
            use store::View;
            store.read().unwrap().auctions().unwrap()[0]
                .closed_at
                .expect("closed at its end")
        };
        manual.set(result.plus_secs(15 * 60 - 1));
        settle().await;
        assert!(control.running());
        manual.set(result.plus_secs(15 * 60));
        wait_running(false).await;
        let _ = stop.send(true);
        task.await.unwrap();
        assert!(clock.now() > opens);
        engine.shutdown().await;
    }
}
