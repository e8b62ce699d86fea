//! Alerts reach their destinations as each expects them: a real SMTP server (aiosmtpd) over
//! STARTTLS with a certificate from a private CA, and a webhook receiver in the JSON, Slack,
//! Discord and ntfy formats. Plain-text SMTP and plain-HTTP webhooks off this machine are refused
//! by the configuration.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alert::{Alert, AlertStats, Alerter, Level, Limits};
use appliance::config::AlertsConfig;
use domain::secret::Secret;

struct Smtpd(Child);

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// aiosmtpd on `port`, STARTTLS required, storing mail in `maildir`.
fn smtpd(dir: &Path, port: u16, maildir: &Path) -> Smtpd {
    let child = Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--tlscert")
        .arg(dir.join("cert.pem"))
        .arg("--tlskey")
        .arg(dir.join("key.pem"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3-aiosmtpd is needed (.ci/test installs it)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Smtpd(child)
}

fn mails(maildir: &Path) -> Vec<String> {
    std::fs::read_dir(maildir.join("new"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_smtp_over_starttls_and_every_webhook_format() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    common::nginx::make_certificate(dir.path());
    let maildir = dir.path().join("mail");
    let port = common::admin_page::free_port();
    let _server = smtpd(dir.path(), port, &maildir);
    let (hook_port, hooks) = common::webhook::receiver();
    let hook = |format: &str, path: &str| {
        Secret::new(format!("{format}http://127.0.0.1:{hook_port}/{path}"))
    };
    let config = AlertsConfig {
        webhooks: vec![
            hook("", "json"),
            hook("slack+", "slack"),
            hook("discord+", "discord"),
            hook("ntfy+", "ntfy"),
        ],
        email_to: vec!["operator@example.com".into()],
        email_from: "SothebAIs <box@example.com>".into(),
        smtp_host: "localhost".into(),
        smtp_port: port,
        smtp_tls: "starttls".into(),
        smtp_ca_file: dir.path().join("ca.pem"),
        ..AlertsConfig::default()
    };
    let alerter = Alerter {
        sinks: config.sinks().unwrap(),
        limits: Limits::default(),
        source: "test-box".into(),
        stats: std::sync::Arc::new(AlertStats::default()),
    };
    let alert = Alert {
        key: "part.stream".into(),
        level: Level::Critical,
        title: "stream is down".into(),
        text: "no frame encoded for 5 s".into(),
        at: chrono::Utc::now(),
    };
    let client = egress::client(Duration::from_secs(10)).unwrap();
    alerter.deliver(&client, &alert).await;
    assert_eq!(
        alerter
            .stats
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "{}",
        alerter.stats.last_error.get()
    );

    let start = Instant::now();
    while mails(&maildir).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "no e-mail");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mail = &mails(&maildir)[0];
    assert!(
        mail.contains("Subject: [critical] stream is down (test-box)"),
        "{mail}"
    );
    assert!(
        mail.contains("To: operator@example.com") && mail.contains("no frame encoded"),
        "{mail}"
    );

    let hooks = hooks.lock().unwrap().clone();
    let by = |path: &str| {
        hooks
            .iter()
            .find(|h| h.path == path)
            .unwrap_or_else(|| panic!("no request to {path}: {hooks:?}"))
            .clone()
    };
    let json = by("/json").json();
    assert_eq!(json["key"], "part.stream");
    assert_eq!(json["level"], "critical");
    assert_eq!(json["source"], "test-box");
    let slack = by("/slack").json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("*stream is down* (test-box)"),
        "{slack}"
    );
    let discord = by("/discord").json();
    assert!(
        discord["content"]
            .as_str()
            .unwrap()
            .contains("**stream is down**"),
        "{discord}"
    );
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
    let ntfy = by("/ntfy");
    assert_eq!(ntfy.header("title"), Some("stream is down (test-box)"));
    assert_eq!(ntfy.header("priority"), Some("5"));
    assert_eq!(ntfy.body, b"no frame encoded for 5 s");
}

#[test]
fn unsafe_destinations_are_refused_naming_the_key() {
    let plain_smtp = AlertsConfig {
        email_to: vec!["a@example.com".into()],
        email_from: "b@example.com".into(),
        smtp_host: "smtp.example.com".into(),
        smtp_tls: "none".into(),
        ..AlertsConfig::default()
    };
    let e = plain_smtp.sinks().err().unwrap();
    assert!(e.starts_with("alerts.smtp_tls"), "{e}");
    let plain_hook = AlertsConfig {
        webhooks: vec![Secret::new("slack+http://hooks.example.com/T0/SECRET")],
        ..AlertsConfig::default()
    };
    let e = plain_hook.sinks().err().unwrap();
    assert!(
        e.starts_with("alerts.webhooks") && e.contains("plain HTTP") && !e.contains("SECRET"),
        "{e}"
    );
    let unknown = AlertsConfig {
        webhooks: vec![Secret::new("teams+https://example.com/x")],
        ..AlertsConfig::default()
    };
    assert!(
        unknown
            .sinks()
            .err()
            .unwrap()
            .contains("unknown webhook format")
    );
    let no_server = AlertsConfig {
        email_to: vec!["a@example.com".into()],
        ..AlertsConfig::default()
    };
    assert!(
        no_server
            .sinks()
            .err()
            .unwrap()
            .contains("alerts.smtp_host")
    );
}

/// The appliance itself reports each settled auction to the operator's webhook: the day, the
/// item, the winner and the price, once.
#[test]
fn each_settled_auction_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (port, hooks) = common::webhook::receiver();
    let (config, data) = common::demo_config(
        dir.path(),
        &format!("[alerts]\nwebhooks = [\"http://127.0.0.1:{port}/hook\"]"),
    );
    let app = common::Running::start(
        &config,
        &data,
        dir.path().join("appliance.log"),
        &[("SOTHEBAIS_STREAM__ENABLED", "false")],
    );
    app.wait_until(Duration::from_secs(60), "a leading bid", || {
        app.status()["live_auction"]["leader"].is_string()
            || app.status()["live_auction"]["leader"].is_number()
    });
    app.ctl()
        .execute_ok(serde_json::json!({"command": "force_settle", "auction": 1,
        "audit": {"actor": "test", "origin": "", "reason": "end the day"}}));
    let reports = || -> Vec<serde_json::Value> {
        hooks
            .lock()
            .unwrap()
            .iter()
            .map(|h| h.json())
            .filter(|h| h["key"] == "report.1")
            .collect()
    };
    app.wait_until(Duration::from_secs(60), "the day's report", || {
        !reports().is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    let r = reports();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["level"], "info");
    assert!(
        r[0]["title"].as_str().unwrap().starts_with("Day 1 of "),
        "{r:?}"
    );
    let text = r[0]["text"].as_str().unwrap();
    assert!(
        text.contains("Sold to @") && text.contains(" ETH") && text.contains("Bids accepted"),
        "{text}"
    );
}
