//! The live stream against a real ingest: Debian's nginx with the RTMP module, validated with
//! ffprobe and a strict ffmpeg decode; over rtmps:// through nginx's TLS stream proxy; and
//! across an ingest that dies and comes back. The throttled uplinks are in `stream_uplink.rs`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::nginx::{Nginx, assert_is_the_stream, decode_errors, probe, publish, wait};

#[test]
fn publishes_ten_seconds_over_rtmp() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = Nginx::start(dir.path());
    let data = dir.path().join("data");
    let url = format!("rtmp://127.0.0.1:{}/live/plain", ingest.rtmp_port);
    wait(publish(&data, &url, 10, &[]), &data.with_extension("log"));
    let recordings = ingest.recordings();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert_is_the_stream(&recordings[0], 10.0);
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(
        !log.contains("/live/plain"),
        "the stream key must never be logged"
    );
    assert!(log.contains("first video frame sent to the ingest"));
}

/// An encoder that fails mid-stream is replaced at that frame: the ingest gets one unbroken
/// recording of the whole duration that decodes cleanly, and the failure is counted.
#[test]
fn a_failing_encoder_is_replaced_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = Nginx::start(dir.path());
    let data = dir.path().join("data");
    let url = format!("rtmp://127.0.0.1:{}/live/heal", ingest.rtmp_port);
    let child = Command::new(common::binary())
        .args(["run", "--data"])
        .arg(&data)
        .args(["--stream-url", &url, "--duration", "6", "--no-web"])
        .args(["--encoder", "openh264"])
        .env("APPLIANCE_FAULT", "encoder:75")
        .env("SOTHEBAIS_LOG__LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.with_extension("log")).unwrap())
        .spawn()
        .unwrap();
    wait(child, &data.with_extension("log"));
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(
        log.contains("the video encoder failed; a new one takes over")
            && log.contains("injected fault"),
        "{log}"
    );
    let recordings = ingest.recordings();
    assert_eq!(
        recordings.len(),
        1,
        "one publish, never interrupted: {recordings:?}"
    );
    assert_is_the_stream(&recordings[0], 6.0);
}

#[test]
fn publishes_over_rtmps_with_a_trusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = Nginx::start(dir.path());
    let data = dir.path().join("data");
    let url = format!("rtmps://localhost:{}/live/secret-key", ingest.tls_port);
    let ca = ingest.certificate();
    wait(
        publish(&data, &url, 6, &["--ca-file", ca.to_str().unwrap()]),
        &data.with_extension("log"),
    );
    let recordings = ingest.recordings();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert_is_the_stream(&recordings[0], 6.0);

    // Without trusting the certificate, TLS is refused, and the log says why (without the key).
    let untrusted = dir.path().join("untrusted");
    let child = publish(&untrusted, &url, 3, &[]);
    wait(child, &untrusted.with_extension("log"));
    let log = std::fs::read_to_string(untrusted.with_extension("log")).unwrap();
    assert!(
        log.contains("TLS") && log.contains("UnknownIssuer"),
        "{log}"
    );
    assert!(!log.contains("secret-key"));
    assert_eq!(
        ingest.recordings().len(),
        1,
        "nothing was published without trust"
    );
}

#[test]
fn reconnects_within_two_seconds_of_the_ingest_coming_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut ingest = Nginx::start(dir.path());
    let data = dir.path().join("data");
    let url = format!("rtmp://127.0.0.1:{}/live/reconnect", ingest.rtmp_port);
    let child = publish(&data, &url, 16, &[]);
    // Let it publish, then take the ingest away mid-stream.
    let start = Instant::now();
    while ingest.recordings().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "never started publishing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(4));
    ingest.kill();
    std::thread::sleep(Duration::from_millis(2500));
    let back = ingest.restart();
    // Publishing again: nginx opens a new recording when a publisher starts.
    while ingest.recordings().len() < 2 {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "never reconnected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let delay = back.elapsed();
    wait(child, &data.with_extension("log"));
    eprintln!("publishing again {delay:?} after the ingest came back");
    assert!(
        delay <= Duration::from_secs(2),
        "publishing again {delay:?} after the ingest came back"
    );
    let recordings = ingest.recordings();
    assert_eq!(recordings.len(), 2, "{recordings:?}");
    let errors = decode_errors(&recordings[1]);
    assert!(
        errors.is_empty(),
        "the recording after the reconnect: {errors}"
    );
    let p = probe(&recordings[1]);
    assert_eq!(p.video, "h264,1280,720,30/1");
    assert!(p.duration > 3.0, "{p:?}");
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(log.contains("publishing interrupted"), "{log}");
}
