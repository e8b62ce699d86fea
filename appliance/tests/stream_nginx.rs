//! The live stream against a real ingest: Debian's nginx with the RTMP module, validated with
//! ffprobe and a strict ffmpeg decode; over rtmps:// through nginx's TLS stream proxy; and
//! across an ingest that dies and comes back.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::nginx::{Nginx, decode_errors, probe};

/// Runs `appliance run` publishing to `url` for `seconds` of stream, with extra arguments.
fn publish(data: &Path, url: &str, seconds: u64, extra: &[&str]) -> std::process::Child {
    Command::new(common::binary())
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

fn wait(mut child: std::process::Child, log: &Path) {
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "appliance failed ({status}):\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn assert_is_the_stream(file: &Path, expected_secs: f64) {
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

/// A TCP proxy to `upstream` that forwards client-to-server bytes at most `bytes_per_sec`.
/// Its receive buffer is small, as a real bottleneck's queue is, so the sender feels the pace.
fn slow_proxy(upstream: u16, bytes_per_sec: usize) -> u16 {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(4).unwrap();
    let listener: std::net::TcpListener = socket.into();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 2048];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs_f64(n as f64 / bytes_per_sec as f64));
                }
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
            });
        }
    });
    port
}

#[test]
fn a_slow_network_costs_whole_gops_not_a_broken_picture() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = Nginx::start(dir.path());
    // About a tenth of what the stream needs.
    let proxy = slow_proxy(ingest.rtmp_port, 5_000);
    let data = dir.path().join("data");
    let url = format!("rtmp://127.0.0.1:{proxy}/live/slow");
    let started = Instant::now();
    wait(publish(&data, &url, 20, &[]), &data.with_extension("log"));
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    let stopped = log
        .lines()
        .find(|l| l.contains("stream stopped"))
        .expect("a final stream line");
    let dropped_gops: u64 = stopped
        .split("network_dropped_gops=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let field = |name: &str| -> u64 {
        stopped
            .split(&format!("{name}="))
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    assert!(dropped_gops > 0, "{stopped}");
    // The network cost hundreds of frames; the frame loop, which never waits on it, lost at
    // most a few (start-up of a debug build on a busy machine).
    assert!(field("network_dropped_frames") > 100, "{stopped}");
    assert!(
        field("late_frames") < 15,
        "the frame loop waited on the network: {stopped}"
    );
    // Whole GOPs went missing, so what did arrive decodes without a single error.
    let recordings = ingest.recordings();
    assert_eq!(recordings.len(), 1);
    let errors = decode_errors(&recordings[0]);
    assert!(errors.is_empty(), "{errors}");
    assert!(started.elapsed() < Duration::from_secs(60));
}
