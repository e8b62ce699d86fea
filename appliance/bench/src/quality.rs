//! `appliance bench quality`: the picture quality we deliver per bit. A scripted auction (the
//! countdown before it opens, the transition to bidding, a bid every third of a second with the
//! ticker and price changing, the transition to SOLD) is rendered once; the same frames are
//! encoded by our encoder and by ffmpeg's libx264 (veryfast) at the same bit rate; each output is
//! compared with the source frames by ffmpeg's PSNR and SSIM filters, and the bit rate each
//! actually spent is measured from its size.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail};
use codec::{EncoderChoice, VideoSettings, Yuv420, open_video_encoder};
use scene::{Compositor, NoAssets, Phase, SceneSet, TickerLine, ViewModel};

/// What one encoder achieved.
#[derive(Debug, Clone, Copy)]
pub struct Score {
    /// kbit/s actually spent.
    pub kbps: f64,
    /// Mean PSNR over all planes, dB.
    pub psnr: f64,
    /// SSIM over all planes (0-1).
    pub ssim: f64,
}

/// The scripted scenario's view at frame `n` of `total` (30 fps), `now_ms` its clock.
fn scenario(n: u64, total: u64, t0_ms: i64) -> (ViewModel, i64) {
    let now_ms = t0_ms + (n * 1000 / 30) as i64;
    let opens = t0_ms + (total / 5 * 1000 / 30) as i64;
    let bids = n.saturating_sub(total / 5) / 10;
    let phase = if n < total / 5 {
        Phase::Pre
    } else if n < total * 4 / 5 {
        Phase::Live
    } else {
        Phase::Sold
    };
    let price = |b: u64| format!("{}.{:02} ETH", 1 + b / 100, b % 100);
    let ticker = (0..bids.min(6))
        .map(|i| TickerLine {
            who: format!("@bidder_{}", (bids - i) % 7),
            amount: price(bids - i),
            refused: String::new(),
        })
        .collect();
    let vm = ViewModel {
        phase,
        campaign: "SothebAIs Genesis".into(),
        title: "Genesis #15".into(),
        artist: "Ada Pixel".into(),
        price: price(bids),
        leader: format!("@bidder_{}", bids % 7),
        winner: format!("@bidder_{}", bids % 7),
        reserve: "0.1 ETH".into(),
        min_next: price(bids + 5),
        host: "SothebAIs".into(),
        starts_at_ms: Some(opens),
        ends_at_ms: Some(t0_ms + 3_600_000),
        day: 15,
        days: 30,
        caption: format!("{} bids and counting!", bids),
        ticker,
        artwork: Some(scene::Artwork {
            key: "genesis-15".into(),
            bytes: None,
        }),
        ..ViewModel::default()
    };
    (vm, now_ms)
}

/// ffmpeg's input options for our raw I420 frames (`w`x`h`, 30 fps) in `raw`.
pub(crate) fn raw_frames(w: u32, h: u32, raw: &Path) -> Vec<String> {
    [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        &format!("{w}x{h}"),
        "-r",
        "30",
        "-i",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([raw.display().to_string()])
    .collect()
}

/// ffmpeg's output options for libx264 as the benchmarks run it: veryfast, zerolatency, `kbps`
/// as target, ceiling and buffer, a keyframe every 2 s at 30 fps.
pub(crate) fn libx264(kbps: u32) -> Vec<String> {
    let rate = format!("{kbps}k");
    [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-b:v",
        &rate,
        "-maxrate",
        &rate,
        "-bufsize",
        &rate,
        "-g",
        "60",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

fn ffmpeg(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats"])
        .args(args)
        .output()
        .context("ffmpeg is needed for bench quality")?;
    if !out.status.success() {
        bail!("ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

/// PSNR and SSIM of `encoded` (Annex B H.264) against the raw source frames.
fn compare(encoded: &Path, raw: &Path, w: u32, h: u32, seconds: f64) -> anyhow::Result<Score> {
    // A raw H.264 stream may carry no frame rate (openh264 writes none): both are read at 30.
    let encoded = encoded.display().to_string();
    let mut args = vec!["-r", "30", "-i", &encoded];
    let source = raw_frames(w, h, raw);
    args.extend(source.iter().map(String::as_str));
    args.extend([
        "-lavfi",
        "[0:v]split=2[a][b];[1:v]split=2[c][d];[a][c]psnr;[b][d]ssim",
        "-f",
        "null",
        "-",
    ]);
    let log = ffmpeg(&args)?;
    let field = |line_has: &str, key: &str| -> Option<f64> {
        let line = log.lines().find(|l| l.contains(line_has))?;
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    let psnr = field("PSNR y:", "average:").context("no PSNR in ffmpeg's output")?;
    let ssim = field("SSIM Y:", "All:").context("no SSIM in ffmpeg's output")?;
    let bytes = std::fs::metadata(encoded)?.len();
    Ok(Score {
        kbps: bytes as f64 * 8.0 / seconds / 1000.0,
        psnr,
        ssim,
    })
}

/// Renders the scenario, encodes it with ours at `kbps` and with libx264 at `kbps` and at what
/// ours spent; reports the scores and returns ours and libx264's at the same spend.
pub fn quality(
    resolution: &str,
    seconds: f64,
    kbps: u32,
    encoder: EncoderChoice,
    out: &mut dyn Write,
) -> anyhow::Result<(Score, Score)> {
    let (w, h) = match resolution {
        "720p" => (1280, 720),
        "1080p" => (1920, 1080),
        other => bail!("--resolution {other:?}: use 720p or 1080p"),
    };
    let total = (seconds * 30.0).round().max(30.0) as u64;
    let dir = tempfile::tempdir()?;
    let raw_path = dir.path().join("source.yuv");
    let ours_path = dir.path().join("ours.h264");
    let x264_path = dir.path().join("x264.h264");
    let mut raw = std::io::BufWriter::new(std::fs::File::create(&raw_path)?);
    let mut ours = std::io::BufWriter::new(std::fs::File::create(&ours_path)?);
    let settings = VideoSettings {
        width: w,
        height: h,
        bitrate_kbps: kbps,
        ..VideoSettings::hd720()
    };
    let (mut enc, _) = open_video_encoder(encoder, &settings)?;
    let mut compositor = Compositor::new(SceneSet::builtin(), w, h, Arc::new(NoAssets))?;
    let mut picture = Yuv420::new(w, h)?;
    let t0_ms = 1_780_000_000_000;
    let mut header_written = false;
    for n in 0..total {
        let (vm, now_ms) = scenario(n, total, t0_ms);
        let frame = compositor.render(&vm, now_ms);
        picture.fill_from_rgba(frame.data(), w * 4)?;
        raw.write_all(&picture.y)?;
        raw.write_all(&picture.u)?;
        raw.write_all(&picture.v)?;
        if let Some(au) = enc.encode(&picture, n * 1000 / 30, n == 0)? {
            if !header_written && let Some(config) = enc.config() {
                for nal in [&config.sps, &config.pps] {
                    ours.write_all(&[0, 0, 0, 1])?;
                    ours.write_all(nal)?;
                }
                header_written = true;
            }
            ours.write_all(&codec::decode::avcc_to_annex_b(&au.avcc)?)?;
        }
    }
    raw.flush()?;
    ours.flush()?;
    drop((raw, ours));
    let secs = total as f64 / 30.0;
    let a = compare(&ours_path, &raw_path, w, h, secs)?;
    let b = x264(&raw_path, &x264_path, w, h, kbps)?;
    let b = compare(&b, &raw_path, w, h, secs)?;
    // Work-equal: libx264 asked for what ours actually spent.
    let spent = (a.kbps.round() as u32).max(50);
    let c = x264(&raw_path, &dir.path().join("x264-equal.h264"), w, h, spent)?;
    let c = compare(&c, &raw_path, w, h, secs)?;
    writeln!(
        out,
        "{resolution}, {total} frames of a scripted auction, asked for {kbps} kbit/s:"
    )?;
    let line = |out: &mut dyn Write, who: &str, s: &Score| {
        writeln!(
            out,
            "  {who}: spent {:.0} kbit/s, PSNR {:.2} dB, SSIM {:.4}",
            s.kbps, s.psnr, s.ssim
        )
    };
    line(out, &format!("ours ({})", enc.name()), &a)?;
    line(out, &format!("libx264 veryfast at {kbps} kbit/s"), &b)?;
    line(
        out,
        &format!("libx264 veryfast at {spent} kbit/s (what ours spent)"),
        &c,
    )?;
    writeln!(
        out,
        "  ours vs libx264 at the same spend: bits {:.2}x, PSNR {:+.2} dB, SSIM {:+.4}",
        a.kbps / c.kbps.max(1e-9),
        a.psnr - c.psnr,
        a.ssim - c.ssim
    )?;
    Ok((a, c))
}

/// Encodes the raw frames with libx264 (veryfast, zerolatency, CBR-like) at `kbps`.
fn x264(
    raw_path: &Path,
    out: &Path,
    w: u32,
    h: u32,
    kbps: u32,
) -> anyhow::Result<std::path::PathBuf> {
    let source = raw_frames(w, h, raw_path);
    let x264 = libx264(kbps);
    let mut args = vec!["-loglevel", "error"];
    args.extend(source.iter().map(String::as_str));
    args.extend(x264.iter().map(String::as_str));
    args.extend(["-f", "h264"]);
    let target = out.display().to_string();
    args.push(&target);
    ffmpeg(&args)?;
    Ok(out.to_path_buf())
}
