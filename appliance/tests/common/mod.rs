//! Helpers for tests that run the real `appliance` binary.

#![allow(dead_code, unused_imports)]

pub mod admin_page;
pub mod chain;
pub mod chain_run;
pub mod nginx;
pub mod webhook;
pub mod xapi;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use appliance::config::Config;
use serde_json::{Value, json};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_appliance")
}

/// Runs `appliance ARGS`, returning (success, stdout, stderr).
pub fn appliance(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary())
        .args(args)
        .output()
        .expect("run appliance");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `appliance check` passes on `data`.
pub fn assert_check(data: &Path) {
    let (ok, out, err) = appliance(&["check", "--data", data.to_str().unwrap()]);
    assert!(ok, "appliance check failed:\n{out}{err}");
}

/// Writes a configuration whose campaign has an auction open now, under permissive rules.
pub fn config_with_live_auction(dir: &Path, rules: store::AuctionRules) -> PathBuf {
    let now = store::Timestamp::from_datetime(chrono::Utc::now());
    let mut spec = domain::demo::live_spec(now);
    spec.rules = rules;
    let config = Config {
        data_dir: dir.join("data"),
        campaign: Some(spec),
        ..Config::default()
    };
    let path = dir.join("appliance.toml");
    std::fs::write(&path, toml::to_string(&config).expect("config as TOML")).expect("write config");
    path
}

/// A link tweet as a wallet would sign it: `@SothebAIs link <address> <personal_sign of the
/// canonical message>`. Returns the tweet and the wallet.
pub fn link_tweet(handle: &str, key: &k256::ecdsa::SigningKey) -> (String, store::Address) {
    domain::link::link_tweet("SothebAIs", handle, key)
}

/// A configuration for the demo in `dir` (simulated bidders acting every second), with `extra`
/// appended; returns the configuration file and the data directory.
pub fn demo_config(dir: &Path, extra: &str) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    let config = dir.join("appliance.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[simulation]\nthink_secs = 1\n{extra}\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    (config, data)
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rules under which any higher bid leads: the tests measure durability, not the rules.
pub fn open_rules() -> store::AuctionRules {
    store::AuctionRules {
        reserve: store::Wei(1),
        min_increment: store::Wei(1),
        min_increment_bps: 0,
        extension_secs: 0,
        rate_limit_bids: 0,
        rate_limit_window_secs: 60,
        min_account_age_days: 0,
    }
}

/// A running appliance process.
pub struct Running {
    pub child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Running {
    /// Starts `appliance run --config CONFIG` with extra environment, and waits for its socket.
    pub fn start(config: &Path, data: &Path, log: PathBuf, env: &[(&str, &str)]) -> Running {
        Running::start_program(Path::new(binary()), config, data, log, env)
    }

    /// As [`Running::start`], with another copy of the program (an update slot's).
    pub fn start_program(
        program: &Path,
        config: &Path,
        data: &Path,
        log: PathBuf,
        env: &[(&str, &str)],
    ) -> Running {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut cmd = Command::new(program);
        cmd.args(["run", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            // Tests that want the admin page ask for it (and for a free port).
            .env("SOTHEBAIS_WEB__ENABLED", "false");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start appliance");
        let mut running = Running {
            child,
            socket: data.join("control.sock"),
            log,
        };
        running.wait_ready();
        running
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "appliance exited early ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "appliance did not open its control socket:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Waits until `check` holds; on timeout panics with the end of the appliance's log.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            if start.elapsed() > timeout {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; the appliance's log ends:\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The status answer.
    pub fn status(&self) -> Value {
        let r = self
            .ctl()
            .request(&json!({"op": "status"}))
            .expect("status");
        assert_eq!(r["ok"], true, "{r}");
        r["reply"].clone()
    }

    /// Every outbox row, oldest first.
    pub fn outbox(&self) -> Vec<Value> {
        let r = self
            .ctl()
            .request(&json!({"op": "outbox", "limit": 10_000}))
            .expect("outbox");
        assert_eq!(r["ok"], true, "{r}");
        r["reply"].as_array().expect("rows").clone()
    }

    /// A control connection.
    pub fn ctl(&self) -> Ctl {
        Ctl::connect(&self.socket).expect("connect control socket")
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then the exit status (or a panic after `patience`).
    pub fn terminate(mut self, patience: Duration) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if start.elapsed() > patience {
                let _ = self.child.kill();
                panic!("appliance did not stop within {patience:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    /// A test that fails midway must not leave its appliance running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A blocking control-socket client.
pub struct Ctl {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Ctl {
    pub fn connect(path: &Path) -> std::io::Result<Ctl> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Ctl {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends one request; returns the whole response object.
    pub fn request(&mut self, request: &Value) -> std::io::Result<Value> {
        let mut line = serde_json::to_vec(request).expect("json");
        line.push(b'\n');
        self.writer.write_all(&line)?;
        let mut response = String::new();
        if self.reader.read_line(&mut response)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        serde_json::from_str(&response)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Executes a command that must succeed; returns its reply.
    pub fn execute_ok(&mut self, command: Value) -> Value {
        let r = self
            .request(&json!({"op": "execute", "command": command}))
            .expect("request");
        assert_eq!(r["ok"], true, "command refused: {r}");
        r["reply"].clone()
    }

    /// Registers an X account with a verified wallet.
    pub fn register(&mut self, id: u64, handle: &str, address: &str) {
        self.execute_ok(
            json!({"command": "see_user", "id": id.to_string(), "handle": handle,
            "account_created": "2020-01-01T00:00:00Z"}),
        );
        self.execute_ok(json!({"command": "link_wallet", "user": id.to_string(), "address": address, "verified": true}));
    }

    /// Registers a bidder with a verified wallet and a large deposit.
    pub fn fund_bidder(&mut self, id: u64, eth: u64) {
        let address = format!("0x{:040x}", id + 0xabc000);
        self.register(id, &format!("bidder{id}"), &address);
        self.execute_ok(json!({"command": "record_deposit", "from": address,
            "amount": format!("{eth} ETH"), "reference": format!("funding-{id}")}));
    }
}
