//! The RTMP ingest (the `peers` crate's nginx) and the appliance publishing to it.

use std::path::Path;
use std::process::{Command, Stdio};

pub use peers::nginx::*;

/// Runs `appliance run` publishing to `url` for `seconds` of stream, with extra arguments.
pub fn publish(data: &Path, url: &str, seconds: u64, extra: &[&str]) -> std::process::Child {
    Command::new(super::binary())
        .args(["run", "--data"])
        .arg(data)
        .args([
            "--stream-url",
            url,
            "--duration",
            &seconds.to_string(),
            "--no-web",
        ])
        .args(extra)
        .env("SOTHEBAIS_LOG__LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.with_extension("log")).unwrap())
        .spawn()
        .unwrap()
}

pub fn wait(mut child: std::process::Child, log: &Path) {
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "appliance failed ({status}):\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

pub fn assert_is_the_stream(file: &Path, expected_secs: f64) {
    let p = probe(file);
    assert_eq!(p.video, "h264,1280,720,30/1", "{}", file.display());
    assert_eq!(p.audio, "aac,48000,2", "{}", file.display());
    assert!(
        (p.duration - expected_secs).abs() <= 0.3,
        "{}: {:.3} s, expected {expected_secs} ± 0.3",
        file.display(),
        p.duration
    );
    let errors = decode_errors(file);
    assert!(errors.is_empty(), "{}: {errors}", file.display());
}
