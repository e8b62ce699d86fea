//! The live stream: the auction's state, as a view-model, through the frame loop to the
//! publisher (RTMP/RTMPS) and the local recorder.
//!
//! ```text
//! engine events ─► view updater (tokio) ─watch─► frame loop (own thread) ─queues─► publisher, recorder (tokio)
//! ```
//! The engine never waits on the stream: the view updater only reads snapshots, and the frame
//! loop only reads the latest view-model.

pub mod abr;
mod encoders;
pub mod host;
mod meter;
pub mod onair;
mod pipeline;
pub mod speech;
pub mod viewmodel;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use codec::{AudioBedKind, EncoderChoice, VideoSettings};
use rtmp::{MediaQueue, PublisherConfig, RecorderConfig, StreamHeaders, StreamStats};
use scene::SceneSet;
use store::Store;
use tokio::sync::{broadcast, watch};

pub use pipeline::{PipelineStats, STALE_AFTER, Snapshot};

use domain::clock::SharedClock;
use domain::engine::Committed;

/// Everything the stream needs, resolved from the configuration.
#[derive(Clone)]
pub struct StreamSettings {
    /// Picture and encoder settings.
    pub video: VideoSettings,
    /// Which H.264 encoder.
    pub encoder: EncoderChoice,
    /// The audio bed.
    pub audio: AudioBedKind,
    /// Audio bit rate, kbit/s.
    pub audio_kbps: u32,
    /// The scenes.
    pub scenes: SceneSet,
    /// Pictures (artwork, avatar, backgrounds).
    pub assets_dir: PathBuf,
    /// Where to publish, if anywhere.
    pub publish: Option<PublisherConfig>,
    /// Local recording, if on.
    pub record: Option<RecorderConfig>,
    /// Stop after this many frames (`--duration`).
    pub frames: Option<u64>,
    /// Fault injection for the crash tests: the first encoder fails after this many frames.
    pub fail_encoder_after: Option<u64>,
    /// With `fail_encoder_after`: every encoder opened fails likewise, so the frame loop gives
    /// up (the test of a stream restarted after its loop ended).
    pub fail_every_encoder: bool,
    /// While true, the standby picture is on air (the operator's switch).
    pub standby: Arc<AtomicBool>,
    /// Adaptive bitrate for the publisher: the ladder (its top is `video`'s size and rate) and
    /// when to move on it. `None`: the configured rate whatever the uplink does.
    pub adaptive: Option<(abr::Ladder, abr::Tuning)>,
    /// The host's voice: lines queued here are mixed into the program audio.
    pub speaker: Arc<speech::Speaker>,
}

/// Seconds of media the publisher's queue holds before dropping GOPs.
const PUBLISH_QUEUE_MS: u64 = 4000;
/// Seconds of media the recorder's queue holds.
const RECORD_QUEUE_MS: u64 = 20_000;

/// The running stream.
pub struct Stream {
    thread: std::thread::JoinHandle<Result<(), String>>,
    tasks: Tasks,
    stop: Arc<AtomicBool>,
    stop_outputs: watch::Sender<bool>,
    /// Frame-loop counters.
    pub pipeline: Arc<PipelineStats>,
    /// Output counters.
    pub output: Arc<StreamStats>,
    queues: Arc<std::sync::Mutex<Vec<Arc<MediaQueue>>>>,
}

type Tasks = Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>;

struct TaskOutputs {
    runtime: tokio::runtime::Handle,
    publish: Option<PublisherConfig>,
    record: Option<RecorderConfig>,
    stats: Arc<StreamStats>,
    want_keyframe: Arc<AtomicBool>,
    stop: watch::Receiver<bool>,
    tasks: Tasks,
    queues: Arc<std::sync::Mutex<Vec<Arc<MediaQueue>>>>,
    publish_queue: Option<Arc<MediaQueue>>,
}

impl pipeline::Outputs for TaskOutputs {
    fn start(&mut self, headers: StreamHeaders) -> Vec<Arc<MediaQueue>> {
        let headers = Arc::new(headers);
        let mut queues = Vec::new();
        if let Some(config) = self.publish.take() {
            let queue = Arc::new(MediaQueue::new(PUBLISH_QUEUE_MS));
            let want = self.want_keyframe.clone();
            let task = self.runtime.spawn(rtmp::publish(
                config,
                headers.clone(),
                queue.clone(),
                self.stats.clone(),
                Arc::new(move || want.store(true, Ordering::Relaxed)),
                self.stop.clone(),
            ));
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
            self.publish_queue = Some(queue.clone());
            queues.push(queue);
        }
        if let Some(config) = self.record.take() {
            let queue = Arc::new(MediaQueue::new(RECORD_QUEUE_MS));
            let (headers, q, stats) = (headers.clone(), queue.clone(), self.stats.clone());
            let task = self.runtime.spawn(async move {
                if let Err(e) = rtmp::record(config, headers, q, stats.clone()).await {
                    stats.set_error(&e.to_string());
                    tracing::error!(error = %e, "recording stopped");
                }
            });
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
            queues.push(queue);
        }
        *self.queues.lock().unwrap_or_else(|e| e.into_inner()) = queues.clone();
        queues
    }

    fn uplink(&self) -> Option<abr::Uplink> {
        let q = self.publish_queue.as_ref()?;
        Some(abr::Uplink {
            connected: self.stats.connected.load(Ordering::Relaxed),
            queued_ms: q.depth().1,
            queued_bytes: q.bytes(),
            bytes_sent: self.stats.bytes_sent.load(Ordering::Relaxed),
        })
    }
}

impl Stream {
    /// Starts the frame loop and, once the encoder is ready, the outputs.
    pub fn start(
        settings: StreamSettings,
        snapshots: watch::Receiver<Snapshot>,
        clock: SharedClock,
        runtime: tokio::runtime::Handle,
    ) -> std::io::Result<Stream> {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_outputs, stop_rx) = watch::channel(false);
        let pipeline_stats = Arc::new(PipelineStats::default());
        let output = Arc::new(StreamStats::default());
        let want_keyframe = Arc::new(AtomicBool::new(false));
        let tasks: Tasks = Arc::default();
        let queues = Arc::new(std::sync::Mutex::new(Vec::new()));
        let outputs = TaskOutputs {
            runtime,
            publish: settings.publish.clone(),
            record: settings.record.clone(),
            stats: output.clone(),
            want_keyframe: want_keyframe.clone(),
            stop: stop_rx,
            tasks: tasks.clone(),
            queues: queues.clone(),
            publish_queue: None,
        };
        let (s, c, st, stop2) = (settings, clock, pipeline_stats.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("frames".into())
            .spawn(move || {
                pipeline::run(s, snapshots, c, Box::new(outputs), want_keyframe, st, stop2)
            })?;
        Ok(Stream {
            thread,
            tasks,
            stop,
            stop_outputs,
            pipeline: pipeline_stats,
            output,
            queues,
        })
    }

    /// Whether the frame loop has ended (its frame budget spent, or an error).
    pub fn finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// The queues' depths: frames waiting and the time they span (ms).
    pub fn queue_depth(&self) -> Vec<(usize, u64)> {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|q| q.depth())
            .collect()
    }

    /// Frames dropped on the way out (whole GOPs), all queues together.
    pub fn network_drops(&self) -> rtmp::Dropped {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|q| q.dropped())
            .fold(rtmp::Dropped::default(), |a, d| rtmp::Dropped {
                frames: a.frames + d.frames,
                gops: a.gops + d.gops,
            })
    }

    /// Stops the frame loop, lets the outputs send what is queued, and waits for them.
    pub async fn stop(self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread;
        let result = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|_| "the frame loop panicked".to_string())?;
        // The loop closed the queues; give the outputs a moment to drain, then stop them.
        let queues = self.queues.clone();
        let drained = async {
            loop {
                let busy = queues
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .any(|q| q.depth().0 > 0);
                if !busy {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drained).await;
        let _ = self.stop_outputs.send(true);
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        result
    }
}

/// Rebuilds the view-model after every committed batch (coalescing bursts), and every second
/// for what time alone changes (the pre-auction window opening).
pub async fn update_view(
    store: Arc<Store>,
    mut events: broadcast::Receiver<Committed>,
    snapshots: Arc<watch::Sender<Snapshot>>,
    clock: SharedClock,
    assets_dir: PathBuf,
    mut host: watch::Receiver<host::HostLine>,
    mut stop: watch::Receiver<bool>,
) {
    let mut art = viewmodel::ArtworkFiles::new(assets_dir);
    let mut host_open = true;
    let mut seq = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let mut batches = Vec::new();
        tokio::select! {
            r = events.recv() => match r {
                Ok(b) => batches.push(b),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {}
            r = host.changed(), if host_open => if r.is_err() {
                // No director any more (the host is off): the view goes on with its last line.
                host_open = false;
            },
            _ = stop.changed() => return,
        }
        while let Ok(b) = events.try_recv() {
            batches.push(b);
        }
        // The oldest commit shown by this view: the worst case for the latency measure.
        let at = batches
            .iter()
            .map(|b| b.at)
            .min()
            .unwrap_or_else(Instant::now);
        let reader = match store.read() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the state for the stream");
                continue;
            }
        };
        for b in &batches {
            if let Some(last) = b.last() {
                seq = seq.max(last.seq);
            }
        }
        let line = host.borrow_and_update().clone();
        match viewmodel::build(&reader, clock.now(), &line, &mut art) {
            Ok(vm) => {
                let changed = snapshots.borrow().vm.as_ref() != &vm;
                if changed || !batches.is_empty() {
                    snapshots.send_replace(Snapshot {
                        vm: Arc::new(vm),
                        seq,
                        at,
                        fresh: Instant::now(),
                    });
                } else {
                    // Still current: say so without waking anyone.
                    snapshots.send_if_modified(|s| {
                        s.fresh = Instant::now();
                        false
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot build the stream's view"),
        }
    }
}

/// The first snapshot, before any event.
pub fn initial_snapshot(store: &Store, clock: &SharedClock, assets_dir: PathBuf) -> Snapshot {
    let mut art = viewmodel::ArtworkFiles::new(assets_dir);
    let vm = store
        .read()
        .and_then(|r| viewmodel::build(&r, clock.now(), &host::HostLine::default(), &mut art))
        .unwrap_or_default();
    Snapshot {
        vm: Arc::new(vm),
        seq: 0,
        at: Instant::now(),
        fresh: Instant::now(),
    }
}

/// Renders the scene for the state in `store` now, once, to a PNG.
pub fn preview(
    store: &Store,
    settings: StreamSettings,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let clock = domain::clock::SystemClock;
    let now = domain::clock::Clock::now(&clock);
    let reader = store.read()?;
    let mut art = viewmodel::ArtworkFiles::new(settings.assets_dir.clone());
    let vm = viewmodel::build(&reader, now, &host::HostLine::default(), &mut art)?;
    let mut compositor = scene::Compositor::new(
        settings.scenes,
        settings.video.width,
        settings.video.height,
        Arc::new(scene::DirAssets(settings.assets_dir)),
    )?;
    let frame = compositor.render(&vm, now.0.div_euclid(1000));
    frame
        .save_png(out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    Ok(())
}
