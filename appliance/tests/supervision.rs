//! Crash-only supervision and honest health, on the real process: a task made to panic is
//! restarted and counted; a dead engine thread ends the process non-zero; `/readyz` is degraded
//! while the stream's ingest (nginx-rtmp) is down and ready once it is back, and the operator's
//! webhook hears of both, once each.

mod common;

use std::time::{Duration, Instant};

use common::Running;
use common::admin_page::WebAppliance;
use common::nginx::Nginx;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_is_restarted_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let app = WebAppliance::start(
        dir.path(),
        "[simulation]\nthink_secs = 1",
        &[("APPLIANCE_FAULT", "panic:log")],
    );
    let anon = app.client();
    let mut metrics = String::new();
    let start = Instant::now();
    while !metrics.contains("sothebais_task_restarts_total{task=\"log\"} 1") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no restart counted:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        metrics = anon.get("/metrics").await.text();
    }
    let log = std::fs::read_to_string(&app.running.log).unwrap();
    assert!(
        log.contains("task failed; restarting it") && log.contains("panicked: injected fault"),
        "{log}"
    );
    // The restarted task does its job: committed bids are logged again.
    app.running.wait_until(
        Duration::from_secs(60),
        "a bid logged after the restart",
        || {
            let log = std::fs::read_to_string(&app.running.log).unwrap_or_default();
            log.split("task failed; restarting it")
                .nth(1)
                .is_some_and(|after| after.contains("bid accepted"))
        },
    );
    // The System page shows the task and its restart.
    let mut admin = app.client();
    assert_eq!(
        admin.login("admin", &app.admin_password, None).await.status,
        200
    );
    let page = admin.get("/system").await.text();
    assert!(
        page.contains("<code>log</code>") && page.contains("injected fault"),
        "{page}"
    );
}

/// A frame loop that gives up (every encoder fails after 15 frames, so the loop's repairs run
/// out) is wound up and the stream started again, counted in /metrics; the new stream encodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_frame_loop_gives_up_is_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let app = WebAppliance::start(
        dir.path(),
        "[simulation]\nthink_secs = 1",
        &[
            ("APPLIANCE_FAULT", "encoders:15"),
            ("SOTHEBAIS_STREAM__ENABLED", "true"),
            ("SOTHEBAIS_STREAM__ON_AIR", "always"),
            ("SOTHEBAIS_STREAM__ENCODER", "openh264"),
        ],
    );
    let anon = app.client();
    let metric = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let start = Instant::now();
    let mut metrics = String::new();
    while metric(&metrics, "sothebais_stream_restarts_total") != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the stream was not started again:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        metrics = anon.get("/metrics").await.text();
    }
    let before = metric(&metrics, "sothebais_stream_frames_total");
    while metric(&metrics, "sothebais_stream_frames_total") < before + 60 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the new stream does not encode:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        metrics = anon.get("/metrics").await.text();
    }
    assert_eq!(
        metric(&metrics, "sothebais_stream_encoder_restarts_total"),
        0,
        "a fresh stream"
    );
    // The program audio is metered: the ambience bed is quiet, never silent, never clipping.
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    let peak = gauge("sothebais_stream_audio_peak_dbfs");
    assert!((-60.0..0.0).contains(&peak), "{peak} dBFS");
    let loudness = gauge("sothebais_stream_audio_loudness_lufs");
    assert!((-70.0..0.0).contains(&loudness), "{loudness} LUFS");
    let log = std::fs::read_to_string(&app.running.log).unwrap();
    assert!(
        log.contains("the stream's frame loop ended; starting it again")
            && log.contains("failed 6 times in a minute")
            && log.contains("the stream is running again"),
        "{log}"
    );
}

#[test]
fn a_dead_engine_thread_exits_the_process_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = common::demo_config(dir.path(), "");
    let log = dir.path().join("appliance.log");
    let mut app = Running::start(
        &config,
        &data,
        log.clone(),
        &[
            ("APPLIANCE_FAULT", "engine"),
            ("SOTHEBAIS_STREAM__ENABLED", "false"),
        ],
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = app.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still running after the engine died:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(70), "{text}");
    assert!(text.contains("the engine thread died"), "{text}");
    // The store is intact for the service manager's restart.
    common::assert_check(&data);
}

fn part<'a>(readiness: &'a Value, name: &str) -> &'a Value {
    readiness["parts"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["part"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_ingest_and_the_operator_hears_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut ingest = Nginx::start(dir.path());
    let url = format!("rtmp://127.0.0.1:{}/live/ready", ingest.rtmp_port);
    ingest.kill();
    let (hook_port, hooks) = common::webhook::receiver();
    let app = WebAppliance::start(
        dir.path(),
        &format!(
            "[alerts]\nwebhooks = [\"http://127.0.0.1:{hook_port}/hook\"]\nmin_interval_secs = 10\ndaily_report = false"
        ),
        &[
            ("SOTHEBAIS_STREAM__ENABLED", "true"),
            ("SOTHEBAIS_STREAM__URL", url.as_str()),
        ],
    );
    let anon = app.client();
    let readyz = async || {
        let r = anon.get("/readyz").await;
        (r.status, r.json())
    };
    // The ingest is down: degraded, saying so, while the engine is fine.
    let start = Instant::now();
    let (status, body) = loop {
        let (status, body) = readyz().await;
        if part(&body, "stream")["state"] == "degraded" {
            break (status, body);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the stream never showed degraded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["state"], "degraded", "{body}");
    assert_eq!(part(&body, "engine")["state"], "ok", "{body}");
    assert!(
        part(&body, "stream")["why"]
            .as_str()
            .unwrap()
            .contains("ingest"),
        "{body}"
    );
    // The operator hears of it (the watch looks every 5 s) before the ingest comes back.
    let stream_alerts = || -> Vec<Value> {
        hooks
            .lock()
            .unwrap()
            .iter()
            .map(|h| h.json())
            .filter(|h| h["key"] == "part.stream")
            .collect()
    };
    let heard = Instant::now();
    while stream_alerts().is_empty() {
        assert!(
            heard.elapsed() < Duration::from_secs(30),
            "no alert while degraded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The ingest comes back: ready.
    ingest.restart();
    let start = Instant::now();
    loop {
        let (status, body) = readyz().await;
        if status == 200 {
            assert_eq!(body["state"], "ok", "{body}");
            assert_eq!(part(&body, "stream")["state"], "ok", "{body}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never ready again: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The webhook heard "degraded" at once and, the window being 10 s, "recovered" when it
    // passed: one alert each, however many checks ran meanwhile.
    let start = Instant::now();
    while stream_alerts().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "alerts: {:?}",
            hooks.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let alerts = stream_alerts();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0]["level"], "warning", "{alerts:?}");
    assert!(
        alerts[0]["title"]
            .as_str()
            .unwrap()
            .contains("stream is degraded"),
        "{alerts:?}"
    );
    assert!(
        alerts[1]["title"].as_str().unwrap().contains("recovered"),
        "{alerts:?}"
    );
}
