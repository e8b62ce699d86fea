//! The host heard on the published stream: its own test binary, so that the CPU its voice and
//! the extra stream take do not run beside the timing-sensitive uplink tests of
//! `stream_nginx.rs`.

mod common;

use std::path::Path;
use std::process::Command;

use common::nginx::{Nginx, assert_is_the_stream, publish, wait};

/// A stretch of a recording, seconds from its start.
type Stretch = (f64, f64);

/// Stretches of `file`'s audio louder than `threshold_db` (ffmpeg's silencedetect), as
/// (start, end) seconds, and the stretches at or below it.
fn loud_and_quiet(file: &Path, threshold_db: i32, total: f64) -> (Vec<Stretch>, Vec<Stretch>) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(file)
        .args([
            "-vn",
            "-af",
            &format!("silencedetect=noise={threshold_db}dB:d=0.4"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let value = |l: &str, key: &str| -> Option<f64> {
        l.split(key).nth(1)?.split_whitespace().next()?.parse().ok()
    };
    let mut quiet = Vec::new();
    let mut start = None;
    for l in log.lines() {
        if let Some(s) = value(l, "silence_start: ") {
            start = Some(s);
        }
        if let Some(e) = value(l, "silence_end: ") {
            quiet.push((start.take().unwrap_or(0.0), e));
        }
    }
    if let Some(s) = start {
        quiet.push((s, total));
    }
    let mut loud = Vec::new();
    let mut at = 0.0;
    for (s, e) in &quiet {
        if s - at > 0.05 {
            loud.push((at, *s));
        }
        at = *e;
    }
    if total - at > 0.05 {
        loud.push((at, total));
    }
    (loud, quiet)
}

/// The peak level of `file`'s audio from `start` for `secs`, dBFS.
fn peak_db(file: &Path, start: f64, secs: f64) -> f64 {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostats",
            "-ss",
            &start.to_string(),
            "-t",
            &secs.to_string(),
            "-i",
        ])
        .arg(file)
        .args(["-vn", "-af", "astats", "-f", "null", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split("Peak level dB: ").nth(1))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .next_back()
        .unwrap_or(f64::NEG_INFINITY)
}

/// The host speaks on the published stream: its opening line, and a remark on the quiet ten
/// seconds later. The recording at the ingest holds speech exactly where the log says a line
/// went on air, and only the ambience bed (ducked under speech, never gone) elsewhere.
#[test]
fn the_host_is_heard_on_the_published_stream() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = Nginx::start(dir.path());
    let data = dir.path().join("data");
    let config = dir.path().join("appliance.toml");
    std::fs::write(
        &config,
        "[simulation]\nbidders = 0\n[host]\nquiet_secs = 10\n[stream]\naudio = \"ambience\"\n",
    )
    .unwrap();
    let url = format!("rtmp://127.0.0.1:{}/live/host", ingest.rtmp_port);
    let cfg = config.to_string_lossy().to_string();
    wait(
        publish(&data, &url, 16, &["--config", &cfg]),
        &data.with_extension("log"),
    );
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    let on_air: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("the host's line is on air"))
        .collect();
    assert_eq!(on_air.len(), 2, "the opening and the quiet:\n{log}");
    assert!(
        on_air[0].contains("Bidding is open")
            || on_air[0].contains("on the block")
            || on_air[0].contains("gavel is up"),
        "{}",
        on_air[0]
    );
    let recordings = ingest.recordings();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let file = &recordings[0];
    assert_is_the_stream(file, 16.0);
    // The bed peaks near -30 dBFS; speech is far louder.
    let (loud, quiet) = loud_and_quiet(file, -24, 16.0);
    assert_eq!(loud.len(), 2, "two lines spoken: {loud:?}");
    assert!(loud[0].0 < 3.0, "the opening at the start: {loud:?}");
    // The remark is due ten seconds after the opening and spoken once synthesized, which a
    // loaded machine slows by a second or more (12.0 s measured under a second workload).
    let gap = loud[1].0 - loud[0].0;
    assert!(
        (8.0..=14.0).contains(&gap),
        "the quiet remark ten seconds after the opening: {loud:?}"
    );
    for (s, e) in &loud {
        assert!((1.0..6.0).contains(&(e - s)), "a spoken line: {loud:?}");
        assert!(peak_db(file, *s, e - s) > -12.0, "speech is loud: {s}..{e}");
    }
    // Between the lines, the bed and nothing else: not silence, not speech.
    let (s, e) = quiet
        .iter()
        .copied()
        .find(|(s, e)| e - s > 4.0)
        .expect("a stretch without speech");
    let bed = peak_db(file, s + 0.5, e - s - 1.0);
    assert!(
        (-40.0..=-24.0).contains(&bed),
        "only the bed between lines: {bed} dBFS"
    );
}
