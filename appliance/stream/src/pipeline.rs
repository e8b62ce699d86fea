//! The frame loop: on its own thread (never a tokio worker), paced by absolute deadlines at
//! exactly the configured rate. Each frame: take the latest view-model, compose, convert, encode,
//! hand the access unit to the outputs, then make the audio up to the frame's end. A frame that
//! cannot start on time is dropped and counted; audio is never dropped, so the timeline stays
//! whole. Timestamps come from frame and sample counts, never from clocks.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use codec::{
    AUDIO_CHANNELS, AUDIO_SAMPLE_RATE, AacEncoder, AudioBed, AvcConfig, Yuv420, open_video_encoder,
};
use rtmp::{Media, MediaQueue, StreamHeaders, StreamInfo};
use scene::{Compositor, DirAssets, ViewModel};
use tokio::sync::watch;

use super::StreamSettings;
use crate::abr::{self, Uplink};
use crate::encoders::{
    FailAfter, next_choice, take_rung, video_without_inband, with_parameter_sets,
};
use crate::meter::Meter;
use domain::clock::SharedClock;

/// The state the stream shows: a view-model, the event it includes up to, and when that event
/// was committed (for the commit-to-frame latency).
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// What to draw.
    pub vm: Arc<ViewModel>,
    /// The last event included.
    pub seq: u64,
    /// When that event was received from the engine (right after its commit).
    pub at: Instant,
    /// When the view was last confirmed current (the view updater does so every second).
    pub fresh: Instant,
}

/// A view not confirmed current for this long is stale: the stream goes on standby.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// Counters of the frame loop.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Frames encoded.
    pub frames: AtomicU64,
    /// Frames dropped because the loop was late.
    pub late_frames: AtomicU64,
    /// Microseconds spent composing, in all.
    pub compose_us: AtomicU64,
    /// Microseconds spent converting to I420, in all.
    pub convert_us: AtomicU64,
    /// Microseconds spent encoding video, in all.
    pub encode_us: AtomicU64,
    /// Video bytes produced.
    pub video_bytes: AtomicU64,
    /// The encoder in use.
    pub encoder: Mutex<String>,
    /// Encoders replaced after failing mid-stream.
    pub encoder_restarts: AtomicU64,
    /// The last encoder failure.
    pub encoder_error: Mutex<String>,
    /// The rung of the bitrate ladder in use ("720p@4500").
    pub rung: Mutex<String>,
    /// Video bit rate asked of the encoder now, kbit/s.
    pub bitrate_kbps: AtomicU64,
    /// Steps down the ladder (the uplink fell behind).
    pub steps_down: AtomicU64,
    /// Steps up the ladder (the uplink kept up).
    pub steps_up: AtomicU64,
    /// The last step, with its reason.
    pub last_step: Mutex<String>,
    /// Program audio: the peak of the last 3 s, in hundredths of a dB below full scale
    /// (`-1200` is -12 dBFS; -12000 for silence).
    pub audio_peak_cdb: AtomicI64,
    /// Program audio: the RMS level of the last 3 s, in hundredths of a dBFS.
    pub audio_rms_cdb: AtomicI64,
    /// Program audio: EBU R128 short-term loudness (3 s), in hundredths of a LUFS.
    pub audio_loudness_cdb: AtomicI64,
    /// Whether the standby picture is on air, and why.
    pub standby: Mutex<Option<String>>,
    /// The latest keyframe sent out, with the parameter sets that decode it: the operator's
    /// preview shows it decoded, so it is what viewers get.
    pub last_keyframe: Mutex<Option<(AvcConfig, Bytes)>>,
    /// Commit-to-encoded-frame latencies, microseconds (the latest 4096).
    pub latencies: Mutex<Vec<u32>>,
}

impl PipelineStats {
    fn latency(&self, us: u32) {
        let mut l = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() >= 4096 {
            l.remove(0);
        }
        l.push(us);
    }
}

/// The outputs the loop feeds, started once the encoder has produced the parameter sets.
pub trait Outputs: Send {
    /// Starts the outputs; returns the queues to push into.
    fn start(&mut self, headers: StreamHeaders) -> Vec<Arc<MediaQueue>>;

    /// How the publisher is doing, once it is started; `None` when there is none.
    fn uplink(&self) -> Option<Uplink>;
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// What the loop does about frame `n`, `period` apart from `start`.
#[derive(Debug, PartialEq, Eq)]
enum Pace {
    /// Early: sleep this long, then make it.
    Wait(Duration),
    /// Within its period: make it now.
    Go,
    /// Late by more than a period: this many frames' times have passed; drop them.
    Skip(u64),
}

/// Absolute deadlines: frame `n` is due at `start + n · period`, whatever earlier frames took.
fn pace(start: Instant, period: Duration, n: u64, now: Instant) -> Pace {
    let due = start + period.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
    if now < due {
        Pace::Wait(due - now)
    } else if now > due + period {
        Pace::Skip(((now - due).as_nanos() / period.as_nanos().max(1)) as u64)
    } else {
        Pace::Go
    }
}

/// Frame `n`'s presentation time, from its count.
fn video_pts_ms(n: u64, fps: u64) -> u64 {
    n * 1000 / fps
}

/// Audio samples (per channel) the stream holds once frame `n` is made: up to that frame's end.
fn audio_samples_through(n: u64, fps: u64) -> u64 {
    (n + 1) * u64::from(AUDIO_SAMPLE_RATE) / fps
}

/// Encoder replacements allowed in a minute; one more ends the stream (something is badly wrong).
const MAX_RESTARTS_PER_MINUTE: usize = 5;

/// Runs the loop until `stop` turns true or `settings.frames` frames were made.
pub fn run(
    settings: StreamSettings,
    snapshots: watch::Receiver<Snapshot>,
    clock: SharedClock,
    mut outputs: Box<dyn Outputs>,
    want_keyframe: Arc<AtomicBool>,
    stats: Arc<PipelineStats>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let mut current = settings.video.clone();
    let v = &settings.video;
    let mut compositor = Compositor::new(
        settings.scenes.clone(),
        v.width,
        v.height,
        Arc::new(DirAssets(settings.assets_dir.clone())),
    )
    .map_err(|e| e.to_string())?;
    let (mut encoder, fallback) =
        open_video_encoder(settings.encoder, v).map_err(|e| e.to_string())?;
    if let Some(left) = settings.fail_encoder_after {
        encoder = Box::new(FailAfter {
            inner: encoder,
            left,
        });
    }
    let mut nvenc_failures = 0u32;
    let mut restarts: Vec<Instant> = Vec::new();
    // The parameter sets the outputs announced, and whether keyframes must carry the current
    // encoder's own (it was replaced by one with other parameters).
    let mut announced: Option<AvcConfig> = None;
    let mut inband = false;
    if let Some(why) = fallback {
        tracing::info!(reason = %why, "NVENC not used; encoding with openh264");
    }
    tracing::info!(
        encoder = encoder.name(),
        width = v.width,
        height = v.height,
        fps = v.fps,
        kbps = v.bitrate_kbps,
        "video encoder ready"
    );
    *stats.encoder.lock().unwrap_or_else(|e| e.into_inner()) = encoder.name().to_string();
    let mut ladder = settings
        .adaptive
        .clone()
        .map(|(ladder, tuning)| abr::Controller::new(ladder, tuning));
    let show_rung = |video: &codec::VideoSettings| {
        *stats.rung.lock().unwrap_or_else(|e| e.into_inner()) =
            format!("{}p@{}", video.height, video.bitrate_kbps);
        stats
            .bitrate_kbps
            .store(u64::from(video.bitrate_kbps), Ordering::Relaxed);
    };
    show_rung(&current);
    let mut aac = AacEncoder::new(settings.audio_kbps * 1000).map_err(|e| e.to_string())?;
    let mut bed = AudioBed::new(settings.audio);
    let mut picture = Yuv420::new(v.width, v.height).map_err(|e| e.to_string())?;
    let mut pcm = Vec::new();
    let mut meter = Meter::default();
    // The host's voice in the last frame's audio: this frame's mouth and caption.
    let mut voiceover = crate::speech::Voiceover::default();
    let fps = u64::from(v.fps);
    let period = Duration::from_nanos(1_000_000_000 / fps);
    let mut queues: Vec<Arc<MediaQueue>> = Vec::new();
    let mut started = false;
    let mut shown_seq = 0;
    let mut samples: u64 = 0;
    let mut n: u64 = 0;
    // Warm up (lay out the scene, rasterize its glyphs) before the clock starts.
    compositor.render(&snapshots.borrow().vm, clock.now().0.div_euclid(1000));
    let start = Instant::now();
    let result = loop {
        if stop.load(Ordering::Relaxed) || settings.frames.is_some_and(|f| n >= f) {
            break Ok(());
        }
        match pace(start, period, n, Instant::now()) {
            Pace::Wait(d) => std::thread::sleep(d),
            Pace::Go => {}
            Pace::Skip(behind) => {
                let behind = settings
                    .frames
                    .map_or(behind, |f| behind.min(f.saturating_sub(n + 1)));
                stats.late_frames.fetch_add(behind, Ordering::Relaxed);
                n += behind;
            }
        }
        if let (Some(c), Some(uplink)) = (ladder.as_mut(), outputs.uplink())
            && let Some(step) = c.observe(start.elapsed(), uplink)
        {
            let choice = next_choice(settings.encoder, nvenc_failures);
            match take_rung(
                step.to,
                &mut current,
                choice,
                &mut encoder,
                &mut compositor,
                &mut picture,
                &settings,
            ) {
                Ok(()) => {
                    let counter = if step.down() {
                        &stats.steps_down
                    } else {
                        &stats.steps_up
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(from = %step.from, to = %step.to, reason = %step.why, "{}", if step.down() { "bitrate stepped down" } else { "bitrate stepped up" });
                    *stats.last_step.lock().unwrap_or_else(|e| e.into_inner()) =
                        format!("{} → {}: {}", step.from, step.to, step.why);
                    *stats.encoder.lock().unwrap_or_else(|e| e.into_inner()) =
                        encoder.name().to_string();
                    show_rung(&current);
                }
                Err(e) => {
                    tracing::error!(to = %step.to, error = %e, "cannot change the bitrate; staying at {}", step.from);
                }
            }
        }
        let snap = snapshots.borrow().clone();
        let t0 = Instant::now();
        let why = if settings.standby.load(Ordering::Relaxed) {
            Some("the operator put the stream on standby".to_string())
        } else if snap.fresh.elapsed() > STALE_AFTER {
            Some(format!(
                "the auction's data is {} s old",
                snap.fresh.elapsed().as_secs()
            ))
        } else {
            None
        };
        {
            let mut on_air = stats.standby.lock().unwrap_or_else(|p| p.into_inner());
            if on_air.is_some() != why.is_some() {
                match &why {
                    Some(w) => tracing::warn!(reason = %w, "standby picture on air"),
                    None => tracing::info!("standby over; the auction is back on air"),
                }
            }
            *on_air = why.clone();
        }
        let speaking = voiceover.mouth > 0 || voiceover.caption.is_some();
        let frame = if why.is_some() || speaking {
            let mut vm = (*snap.vm).clone();
            if why.is_some() {
                vm.phase = scene::Phase::Standby;
            }
            vm.mouth = voiceover.mouth;
            if let Some(words) = &voiceover.caption {
                vm.caption.clone_from(words);
            }
            compositor.render(&vm, clock.now().0.div_euclid(1000))
        } else {
            compositor.render(&snap.vm, clock.now().0.div_euclid(1000))
        };
        let t1 = Instant::now();
        if let Err(e) = picture.fill_from_rgba(frame.data(), current.width * 4) {
            break Err(e.to_string());
        }
        let t2 = Instant::now();
        let pts_ms = video_pts_ms(n, fps);
        let force = want_keyframe.swap(false, Ordering::Relaxed);
        let encoded = match encoder.encode(&picture, pts_ms, force) {
            Ok(e) => e,
            Err(e) => {
                // Crash-only for the encoder: a new one takes over at this very frame.
                let failed = encoder.name();
                if failed == "nvenc" {
                    nvenc_failures += 1;
                }
                let now = Instant::now();
                restarts.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
                restarts.push(now);
                *stats
                    .encoder_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = format!("{failed}: {e}");
                if restarts.len() > MAX_RESTARTS_PER_MINUTE {
                    break Err(format!(
                        "the video encoder failed {} times in a minute; last: {e}",
                        restarts.len()
                    ));
                }
                let choice = next_choice(settings.encoder, nvenc_failures);
                tracing::error!(encoder = failed, error = %e, next = ?choice, "the video encoder failed; a new one takes over");
                let replacement = match open_video_encoder(choice, &current) {
                    Ok((enc, _)) => match settings.fail_encoder_after {
                        Some(left) if settings.fail_every_encoder => {
                            Box::new(FailAfter { inner: enc, left })
                        }
                        _ => enc,
                    },
                    Err(e2) => {
                        break Err(format!(
                            "the video encoder failed ({e}) and no other opens: {e2}"
                        ));
                    }
                };
                encoder = replacement;
                stats.encoder_restarts.fetch_add(1, Ordering::Relaxed);
                *stats.encoder.lock().unwrap_or_else(|p| p.into_inner()) =
                    encoder.name().to_string();
                match encoder.encode(&picture, pts_ms, true) {
                    Ok(e) => e,
                    Err(e) => break Err(format!("the replacement encoder failed at once: {e}")),
                }
            }
        };
        let t3 = Instant::now();
        stats.compose_us.fetch_add(us(t1 - t0), Ordering::Relaxed);
        stats.convert_us.fetch_add(us(t2 - t1), Ordering::Relaxed);
        stats.encode_us.fetch_add(us(t3 - t2), Ordering::Relaxed);
        stats.frames.fetch_add(1, Ordering::Relaxed);
        if let Some(video) = encoded {
            if !started && let Some(config) = encoder.config() {
                queues = outputs.start(StreamHeaders {
                    info: StreamInfo {
                        width: current.width,
                        height: current.height,
                        fps: current.fps,
                        video_kbps: current.bitrate_kbps,
                        audio_kbps: settings.audio_kbps,
                        audio_sample_rate: AUDIO_SAMPLE_RATE,
                        audio_channels: AUDIO_CHANNELS,
                    },
                    avc_record: config.decoder_configuration_record(),
                    asc: aac.audio_specific_config().to_vec(),
                });
                announced = Some(config.clone());
                started = true;
            }
            if let (Some(first), Some(now)) = (&announced, encoder.config())
                && first != now
                && !inband
            {
                tracing::warn!(
                    encoder = encoder.name(),
                    "the new encoder's parameters differ; keyframes carry them from now on"
                );
                inband = true;
            }
            let avcc = match encoder.config() {
                Some(config) if inband && video.keyframe => {
                    with_parameter_sets(config, &video.avcc)
                }
                _ => video.avcc,
            };
            stats
                .video_bytes
                .fetch_add(avcc.len() as u64, Ordering::Relaxed);
            let avcc = Bytes::from(avcc);
            if video.keyframe
                && let Some(config) = encoder.config()
            {
                *stats
                    .last_keyframe
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) =
                    Some((config.clone(), video_without_inband(&avcc, inband, config)));
            }
            let media = Media::Video {
                pts_ms: video.pts_ms,
                keyframe: video.keyframe,
                avcc,
            };
            for q in &queues {
                q.push(media.clone());
            }
            if snap.seq > shown_seq {
                if shown_seq > 0 {
                    stats.latency(
                        us(t3.saturating_duration_since(snap.at)).min(u64::from(u32::MAX)) as u32,
                    );
                }
                shown_seq = snap.seq;
            }
        }
        // Audio up to the end of this frame.
        let target = audio_samples_through(n, fps);
        pcm.resize(((target - samples) * u64::from(AUDIO_CHANNELS)) as usize, 0);
        bed.fill(&mut pcm);
        voiceover = settings
            .speaker
            .mix(&mut pcm, AUDIO_CHANNELS as usize, Instant::now());
        let level = meter.push(&pcm);
        stats
            .audio_peak_cdb
            .store((level.peak * 100.0).round() as i64, Ordering::Relaxed);
        stats
            .audio_rms_cdb
            .store((level.rms * 100.0).round() as i64, Ordering::Relaxed);
        stats
            .audio_loudness_cdb
            .store((level.loudness * 100.0).round() as i64, Ordering::Relaxed);
        samples = target;
        match aac.push(&pcm) {
            Ok(frames) => {
                for a in frames {
                    let media = Media::Audio {
                        pts_ms: a.pts_ms,
                        aac: Bytes::from(a.data),
                    };
                    for q in &queues {
                        q.push(media.clone());
                    }
                }
            }
            Err(e) => break Err(e.to_string()),
        }
        n += 1;
    };
    for q in &queues {
        q.close();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_due_at_absolute_deadlines() {
        let start = Instant::now();
        let period = Duration::from_nanos(1_000_000_000 / 30);
        assert_eq!(pace(start, period, 0, start), Pace::Go);
        // Frame 3 asked for at frame 1's time waits two periods.
        assert_eq!(
            pace(start, period, 3, start + period),
            Pace::Wait(period * 2)
        );
        // Up to a period late is still made.
        assert_eq!(
            pace(start, period, 2, start + period * 2 + period / 2),
            Pace::Go
        );
        assert_eq!(pace(start, period, 2, start + period * 3), Pace::Go);
        // More than a period late: the frames whose time has passed are dropped.
        assert_eq!(
            pace(start, period, 2, start + period * 5 + period / 2),
            Pace::Skip(3)
        );
        assert_eq!(
            pace(start, period, 0, start + period * 300),
            Pace::Skip(300)
        );
    }

    #[test]
    fn timestamps_come_from_counts() {
        let pts: Vec<u64> = (0..4).map(|n| video_pts_ms(n, 30)).collect();
        assert_eq!(pts, [0, 33, 66, 100]);
        assert_eq!(video_pts_ms(30 * 3600, 30), 3_600_000);
        // One second of frames carries exactly one second of audio, at every rate.
        for fps in [24, 25, 30, 60] {
            assert_eq!(
                audio_samples_through(fps - 1, fps),
                u64::from(AUDIO_SAMPLE_RATE)
            );
            assert_eq!(
                audio_samples_through(fps * 3600 - 1, fps),
                3600 * u64::from(AUDIO_SAMPLE_RATE)
            );
        }
        // Audio never runs backwards from one frame to the next.
        assert!((0..1000).all(|n| audio_samples_through(n + 1, 30) > audio_samples_through(n, 30)));
    }
}
