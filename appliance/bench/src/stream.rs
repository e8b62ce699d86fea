//! `appliance bench stream` and `appliance bench latency`.

use std::io::Write;
use std::path::Path;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use codec::{EncoderChoice, VideoSettings, Yuv420, open_video_encoder};
use scene::{Compositor, Mood, NoAssets, Phase, SceneSet, TickerLine, ViewModel};
use store::{Address, Audit, BidSource, Store, Timestamp, UserId, Wei};
use tokio::sync::watch;

use domain::clock::{SharedClock, SystemClock};
use domain::engine::{Command, Engine, EngineConfig};

fn size(resolution: &str) -> anyhow::Result<(u32, u32)> {
    match resolution {
        "720p" => Ok((1280, 720)),
        "1080p" => Ok((1920, 1080)),
        other => bail!("--resolution {other:?}: use 720p or 1080p"),
    }
}

/// A busy mid-auction view, as the stream shows it.
fn busy_view(now_ms: i64) -> ViewModel {
    ViewModel {
        phase: Phase::Live,
        campaign: "SothebAIs Genesis".into(),
        title: "Genesis #15".into(),
        artist: "Ada Pixel".into(),
        price: "1 ETH".into(),
        leader: "@first_bidder".into(),
        reserve: "0.1 ETH".into(),
        min_next: "1.05 ETH".into(),
        host: "SothebAIs".into(),
        ends_at_ms: Some(now_ms + 3_600_000),
        starts_at_ms: Some(now_ms - 3_600_000),
        day: 15,
        days: 30,
        mood: Mood::Excited,
        caption: "Bids are flying tonight!".into(),
        ..ViewModel::default()
    }
}

fn stats(mut v: Vec<u64>) -> (f64, f64) {
    v.sort_unstable();
    let avg = v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    let p99 = v
        .get((v.len() * 99 / 100).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0);
    (avg / 1000.0, p99 as f64 / 1000.0)
}

/// Runs compose + convert + encode as fast as possible on a scene whose countdown ticks, whose
/// LIVE badge pulses and where a bid lands every 15 frames (price, leader, ticker and caption
/// change). With `compare_ffmpeg`, times libx264 on the same frames.
pub fn stream(
    resolution: &str,
    seconds: f64,
    choice: EncoderChoice,
    compare_ffmpeg: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (width, height) = size(resolution)?;
    if !(1.0..=600.0).contains(&seconds) {
        bail!("--seconds must be 1 to 600");
    }
    let settings = VideoSettings {
        width,
        height,
        ..VideoSettings::hd720()
    };
    let mut compositor = Compositor::new(SceneSet::builtin(), width, height, Arc::new(NoAssets))?;
    let (mut encoder, _) = open_video_encoder(choice, &settings)?;
    let mut picture = Yuv420::new(width, height)?;
    let dir = tempfile::Builder::new()
        .prefix("sothebais-bench-stream-")
        .tempdir()?;
    let raw_path = dir.path().join("frames.yuv");
    let mut raw = compare_ffmpeg
        .then(|| std::fs::File::create(&raw_path))
        .transpose()?
        .map(std::io::BufWriter::new);
    let raw_frames = 300u64;
    let base = 1_795_375_800_000i64;
    let mut vm = busy_view(base);
    let (mut compose, mut convert, mut encode) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0usize;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        let now_ms = base + (n as i64) * 1000 / 30;
        if n.is_multiple_of(15) {
            let k = n / 15;
            let price = format!("{}.{:02} ETH", 1 + k / 20, (k * 5) % 100);
            vm.ticker.insert(
                0,
                TickerLine {
                    who: format!("@bidder_{}", k % 7),
                    amount: price.clone(),
                    refused: String::new(),
                },
            );
            vm.ticker.truncate(6);
            vm.leader = format!("@bidder_{}", k % 7);
            vm.price = price;
            vm.caption = format!("Bid number {k}! Who goes higher?");
        }
        let t0 = Instant::now();
        let frame = compositor.render(&vm, now_ms);
        let t1 = Instant::now();
        picture.fill_from_rgba(frame.data(), width * 4)?;
        let t2 = Instant::now();
        if let Some(v) = encoder.encode(&picture, n * 1000 / 30, false)? {
            bytes += v.avcc.len();
        }
        let t3 = Instant::now();
        compose.push((t1 - t0).as_micros() as u64);
        convert.push((t2 - t1).as_micros() as u64);
        encode.push((t3 - t2).as_micros() as u64);
        if let Some(w) = raw.as_mut()
            && n < raw_frames
        {
            w.write_all(&picture.y)?;
            w.write_all(&picture.u)?;
            w.write_all(&picture.v)?;
        }
        n += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Writing the comparison frames is not part of the work measured.
    let measured: f64 = compose.iter().chain(&convert).chain(&encode).sum::<u64>() as f64 / 1e6;
    let (c_avg, c_p99) = stats(compose);
    let (v_avg, v_p99) = stats(convert);
    let (e_avg, e_p99) = stats(encode.clone());
    let fps = n as f64 / measured.max(1e-9);
    writeln!(
        out,
        "stream {width}x{height}, encoder {}, {n} frames in {elapsed:.1} s",
        encoder.name()
    )?;
    writeln!(out, "  compose  avg {c_avg:6.2} ms  p99 {c_p99:6.2} ms")?;
    writeln!(out, "  convert  avg {v_avg:6.2} ms  p99 {v_p99:6.2} ms")?;
    writeln!(out, "  encode   avg {e_avg:6.2} ms  p99 {e_p99:6.2} ms")?;
    writeln!(
        out,
        "  pipeline {fps:7.1} fps ({:.1}x real time at 30 fps), {:.0} kbit/s",
        fps / 30.0,
        bytes as f64 * 8.0 / (n as f64 / 30.0) / 1000.0
    )?;
    let encode_fps = n as f64 / (encode.iter().sum::<u64>() as f64 / 1e6).max(1e-9);
    writeln!(out, "  encode only {encode_fps:7.1} fps")?;
    if let Some(mut w) = raw {
        w.flush()?;
        drop(w);
        let frames = n.min(raw_frames);
        let ffmpeg = time_libx264(&raw_path, width, height, frames)?;
        writeln!(
            out,
            "ffmpeg libx264 veryfast/zerolatency, 4500 kbit/s, same {frames} frames: {ffmpeg:.1} fps; ours/libx264: pipeline {:.2}x, encode only {:.2}x",
            fps / ffmpeg,
            encode_fps / ffmpeg
        )?;
    }
    Ok(())
}

fn time_libx264(raw: &Path, width: u32, height: u32, frames: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let output = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error"])
        .args(crate::quality::raw_frames(width, height, raw))
        .args(crate::quality::libx264(4500))
        .args(["-f", "null", "-"])
        .output()
        .context("ffmpeg is needed for --compare-ffmpeg")?;
    if !output.status.success() {
        bail!("ffmpeg failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(frames as f64 / started.elapsed().as_secs_f64())
}

/// Runs the engine and a paced 720p30 stream (no outputs), bids every 150 ms, and reports the
/// time from each bid's commit to the first encoded frame that shows it.
pub async fn latency(seconds: f64) -> anyhow::Result<String> {
    if !(2.0..=600.0).contains(&seconds) {
        bail!("--seconds must be 2 to 600");
    }
    let store = Arc::new(Store::in_memory()?);
    let clock: SharedClock = Arc::new(SystemClock);
    let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default())?;
    let h = engine.handle();
    let mut spec = domain::demo::live_spec(clock.now());
    spec.rules = crate::bids::bench_rules();
    let audit = Audit {
        actor: "bench".into(),
        origin: "bench".into(),
        reason: "latency benchmark".into(),
    };
    h.execute(Command::CreateCampaign {
        spec: Box::new(spec),
        audit,
    })
    .await?;
    let bidder = UserId(1);
    let address = Address([9; 20]);
    h.execute(Command::SeeUser {
        id: bidder,
        handle: "latency".into(),
        account_created: Timestamp::from_secs(0),
        simulated: true,
    })
    .await?;
    h.execute(Command::LinkWallet {
        user: bidder,
        address,
        verified: true,
    })
    .await?;
    h.execute(Command::RecordDeposit {
        from: address,
        amount: Wei::from_eth(1_000_000),
        reference: "bench".into(),
    })
    .await?;

    let dir = tempfile::tempdir()?;
    let first = stream::initial_snapshot(&store, &clock, dir.path().into());
    let (tx, rx) = watch::channel(first);
    let (stop, stopped) = watch::channel(false);
    let updater = tokio::spawn(stream::update_view(
        store.clone(),
        h.subscribe(),
        std::sync::Arc::new(tx),
        clock.clone(),
        dir.path().into(),
        // The host's line does not change here: the bench measures the view and the frames.
        watch::channel(stream::host::HostLine::default()).1,
        stopped,
    ));
    let settings = stream::StreamSettings {
        fail_encoder_after: None,
        fail_every_encoder: false,
        adaptive: None,
        speaker: Default::default(),
        standby: Default::default(),
        video: VideoSettings::hd720(),
        encoder: EncoderChoice::OpenH264,
        audio: codec::AudioBedKind::Silence,
        audio_kbps: 128,
        scenes: SceneSet::builtin(),
        assets_dir: dir.path().into(),
        publish: None,
        record: None,
        frames: Some((seconds * 30.0) as u64),
    };
    let stream = stream::Stream::start(
        settings,
        rx,
        clock.clone(),
        tokio::runtime::Handle::current(),
    )?;
    let mut n = 0u128;
    while !stream.finished() {
        n += 1;
        let amount = Wei(1_000_000_000_000_000_000 + n * 1_000_000_000_000_000);
        h.execute(Command::PlaceBid {
            bidder,
            amount,
            source: BidSource::Operator(format!("l{n}")),
            auction: None,
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let pipeline = stream.pipeline.clone();
    stream.stop().await.map_err(anyhow::Error::msg)?;
    let _ = stop.send(true);
    let _ = updater.await;
    engine.shutdown().await;
    let mut l = pipeline
        .latencies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if l.is_empty() {
        bail!("no latency was measured");
    }
    l.sort_unstable();
    let pick = |q: f64| {
        f64::from(l[((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1]) / 1000.0
    };
    let late = pipeline
        .late_frames
        .load(std::sync::atomic::Ordering::Relaxed);
    Ok(format!(
        "bid commit -> first encoded frame showing it, 720p30 openh264, {} bids: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; late frames {late}",
        l.len(),
        pick(0.5),
        pick(0.99),
        pick(1.0)
    ))
}
