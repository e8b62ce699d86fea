//! The live stream over a throttled uplink to a real nginx-rtmp: whole GOPs dropped, never a
//! broken picture; adaptive bitrate against the fixed rate, measured in the same run. Its own
//! test binary: these measure timing, so they do not share the two cores with the other stream
//! tests.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::nginx::{Nginx, decode_errors, frozen_secs, publish, wait};

/// One at a time: each encodes real time on a two-core machine, and the second compares frames
/// dropped with and without adaptation, which a neighbour's encoder would skew.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A TCP proxy to `upstream` that forwards client-to-server bytes at most `bytes_per_sec`.
/// Its receive buffer is small, as a real bottleneck's queue is, so the sender feels the pace.
fn slow_proxy(upstream: u16, bytes_per_sec: usize) -> u16 {
    throttled_proxy(upstream, Arc::new(AtomicUsize::new(bytes_per_sec)))
}

/// As [`slow_proxy`], at a rate the test may change while it runs.
fn throttled_proxy(upstream: u16, bytes_per_sec: Arc<AtomicUsize>) -> u16 {
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
            let rate = bytes_per_sec.clone();
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 2048];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    let rate = rate.load(Ordering::Relaxed).max(1);
                    std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
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
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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

/// A number from the final "stream stopped" log line.
fn stopped_field(log: &str, name: &str) -> u64 {
    let stopped = log
        .lines()
        .find(|l| l.contains("stream stopped"))
        .expect("a final stream line");
    stopped
        .split(&format!("{name}="))
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {stopped}"))
}

/// A scene that spends the whole 4,500 kbit/s (a background of fine noise: the demo's own scene
/// needs only ~370 kbit/s), scene file and picture written to `dir`; returns the scene file.
fn costly_scene(dir: &Path) -> std::path::PathBuf {
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("nullsrc=s=1280x720,geq=random(1)*255:128+random(2)*60:128")
        .args(["-frames:v", "1", "-y"])
        .arg(assets.join("noise.png"))
        .status()
        .expect("ffmpeg is needed");
    assert!(made.success());
    let scenes = dir.join("scenes.toml");
    std::fs::write(
        &scenes,
        // The layout this test was measured with (before the phone layout): what it checks is
        // the bitrate ladder against an uplink, not the layout. The phone layout over this
        // noise costs more; see the README's adaptive-bitrate figures.
        include_str!("fixtures/scenes-before-phone-layout.toml").replacen(
            "[theme]\n",
            "[theme]\nbackground_image = \"noise.png\"\n",
            1,
        ),
    )
    .unwrap();
    scenes
}

/// An uplink of 1,200 kbit/s for 16 s, then unthrottled, under a stream that spends 4,500. Without
/// adaptive bitrate (the baseline, measured in the same run) the publisher's queue drops
/// whole GOPs; with it, the stream steps down the ladder first and loses fewer frames and
/// fewer seconds of picture, then steps back up once the uplink keeps up.
#[test]
fn a_slow_uplink_steps_the_bitrate_down_instead_of_dropping_gops_then_back_up() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let ingest = Nginx::start(dir.path());
    let scenes = costly_scene(dir.path());
    let mut figures = Vec::new();
    for adaptive in [false, true] {
        let rate = Arc::new(AtomicUsize::new(1_200_000 / 8));
        let proxy = throttled_proxy(ingest.rtmp_port, rate.clone());
        let name = if adaptive { "adaptive" } else { "fixed" };
        let data = dir.path().join(name);
        let url = format!("rtmp://127.0.0.1:{proxy}/live/{name}");
        let log_path = data.with_extension("log");
        let child = Command::new(common::binary())
            .args(["run", "--data"])
            .arg(&data)
            .args(["--stream-url", &url, "--duration", "30", "--no-web"])
            .args(["--encoder", "openh264"])
            .env("SOTHEBAIS_STREAM__ADAPTIVE", adaptive.to_string())
            .env("SOTHEBAIS_STREAM__PROBE_SECS", "4")
            .env("SOTHEBAIS_STREAM__SCENES", &scenes)
            .env("SOTHEBAIS_STREAM__ASSETS_DIR", dir.path().join("assets"))
            .env("SOTHEBAIS_LOG__LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        // Throttled until the stream has run about 16 s.
        common::wait_until(Duration::from_secs(60), "the first frame out", || {
            std::fs::read_to_string(&log_path)
                .unwrap_or_default()
                .contains("first video frame sent to the ingest")
        });
        std::thread::sleep(Duration::from_secs(16));
        rate.store(100_000_000, Ordering::Relaxed);
        wait(child, &log_path);
        let log = std::fs::read_to_string(&log_path).unwrap();
        let recording = ingest
            .recordings()
            .into_iter()
            .find(|r| r.to_string_lossy().contains(name))
            .expect("a recording of this run");
        let errors = decode_errors(&recording);
        assert!(errors.is_empty(), "{name}: {errors}");
        let dropped = stopped_field(&log, "network_dropped_frames");
        let frozen = frozen_secs(&recording);
        let (down, up) = (
            stopped_field(&log, "bitrate_steps_down"),
            stopped_field(&log, "bitrate_steps_up"),
        );
        eprintln!(
            "{name}: {dropped} frames dropped, {frozen:.1} s frozen, {down} steps down, {up} up"
        );
        eprintln!(
            "{}",
            log.lines()
                .filter(|l| l.contains("bitrate stepped"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        figures.push((dropped, frozen, down, up, log));
    }
    let (fixed, adaptive) = (&figures[0], &figures[1]);
    assert!(
        fixed.0 > 100,
        "the baseline must be throttled: {} frames dropped",
        fixed.0
    );
    assert_eq!((fixed.2, fixed.3), (0, 0), "adaptive off never moves");
    assert!(
        adaptive.0 * 4 < fixed.0,
        "adaptive dropped {} frames, fixed {}",
        adaptive.0,
        fixed.0
    );
    assert!(
        adaptive.1 * 2.0 < fixed.1,
        "adaptive froze {:.1} s, fixed {:.1} s",
        adaptive.1,
        fixed.1
    );
    assert!(adaptive.2 >= 1, "{}", adaptive.4);
    assert!(
        adaptive.3 >= 1,
        "the uplink recovered; the stream must step back up:\n{}",
        adaptive.4
    );
    assert!(
        adaptive.4.contains("bitrate stepped down") && adaptive.4.contains("bitrate stepped up")
    );
}
