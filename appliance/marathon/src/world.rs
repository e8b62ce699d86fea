//! What the appliance talks to in the marathon, and the appliance itself as a real process: the
//! RPC providers (TCP proxies in front of Hardhat that a fault can take down), the model (an
//! OpenAI-compatible stand-in that a fault can make fail or slow), and `appliance run`, started
//! again after every kill as the service manager would.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::crowd::ETH;
use peers::hardhat::Hardhat;

/// A TCP proxy on a loopback port to `target`; while down, it refuses new connections and cuts
/// the open ones (a provider that vanished).
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    down: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
}

impl Proxy {
    /// Starts forwarding to `target` (`host:port`).
    pub async fn start(target: String) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let (d, g) = (down.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown().await;
                    continue;
                }
                let (target, g, born) = (target.clone(), g.clone(), g.load(Ordering::SeqCst));
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let cut = async {
                        while g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        () = cut => {}
                    }
                });
            }
        });
        Ok(Proxy {
            url,
            down,
            generation,
        })
    }

    /// Takes the provider down (every open connection cut) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// How the model stand-in answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelMode {
    /// Answers at once.
    Up = 0,
    /// 503 to everything.
    Down = 1,
    /// Answers after 10 s (past any sensible timeout).
    Slow = 2,
}

/// The host's model: an OpenAI-compatible `POST /v1/chat/completions` that answers with lines
/// that carry no figures (so the grounding check passes them), counting what it was asked.
pub struct Model {
    /// Its base URL.
    pub url: String,
    mode: Arc<AtomicU8>,
    /// Requests answered.
    pub requests: Arc<AtomicU64>,
}

const LINES: [&str; 6] = [
    "What a piece to be bidding on today.",
    "The room is warming up; keep those bids coming.",
    "Every bid counts, and every bid is on the record.",
    "A beautiful work, and a lively crowd.",
    "Stay with us; the auction is far from over.",
    "Thank you all for being here with us.",
];

impl Model {
    /// Starts the stand-in on a free loopback port.
    pub async fn start() -> anyhow::Result<Model> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let mode = Arc::new(AtomicU8::new(ModelMode::Up as u8));
        let requests = Arc::new(AtomicU64::new(0));
        let (m, n) = (mode.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (m, n) = (m.clone(), n.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (m, n) = (m.clone(), n.clone());
                            async move {
                                let _ = req.into_body().collect().await;
                                let count = n.fetch_add(1, Ordering::SeqCst);
                                let (status, body) = match m.load(Ordering::SeqCst) {
                                    1 => (503, json!({"error": {"message": "overloaded"}})),
                                    mode => {
                                        if mode == 2 {
                                            tokio::time::sleep(Duration::from_secs(10)).await;
                                        }
                                        let line = LINES[(count as usize) % LINES.len()];
                                        (200, completion(line))
                                    }
                                };
                                Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(body.to_string())))
                                        .unwrap_or_default(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Model {
            url,
            mode,
            requests,
        })
    }

    /// Sets how it answers.
    pub fn set(&self, mode: ModelMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

fn completion(line: &str) -> Value {
    json!({
        "id": "chatcmpl-marathon", "object": "chat.completion", "created": 0, "model": "stand-in",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": line}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 200, "completion_tokens": 12, "total_tokens": 212}
    })
}

/// `appliance run`, as a process the marathon kills and starts again.
pub struct Appliance {
    program: PathBuf,
    config: PathBuf,
    /// The data directory.
    pub data: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Starts so far.
    pub starts: u32,
}

impl Appliance {
    /// An appliance not started yet.
    pub fn new(
        program: PathBuf,
        config: PathBuf,
        data: PathBuf,
        log: PathBuf,
        env: Vec<(String, String)>,
    ) -> Appliance {
        Appliance {
            program,
            config,
            data,
            log,
            env,
            child: None,
            starts: 0,
        }
    }

    /// The process id, while running.
    pub fn pid(&mut self) -> Option<u32> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(None) => Some(child.id()),
            _ => None,
        }
    }

    /// The exit status, if it stopped by itself.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Starts it; returns once its control socket answers (or an error with the log's end).
    pub fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut cmd = Command::new(&self.program);
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(
            cmd.spawn()
                .with_context(|| format!("cannot start {}", self.program.display()))?,
        );
        self.starts += 1;
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "the appliance exited at start ({status}); its log ends:\n{}",
                    self.log_tail(30)
                );
            }
            if self.request(&json!({"op": "status"})).is_ok() {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!(
                    "the appliance did not answer on its control socket within 60 s; its log ends:\n{}",
                    self.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; waits up to `patience`, then SIGKILL. Returns whether it stopped by itself.
    pub fn terminate(&mut self, patience: Duration) -> bool {
        let Some(pid) = self.pid() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < patience {
            if self.exited().is_some() {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    /// One control-socket request; the reply, or the error it answered.
    pub fn request(&self, request: &Value) -> anyhow::Result<Value> {
        let stream = UnixStream::connect(self.data.join("control.sock"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut writer = stream.try_clone()?;
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        writer.write_all(&line)?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer)?;
        let v: Value = serde_json::from_str(&answer).context("a control answer")?;
        if v["ok"] == true {
            Ok(v["reply"].clone())
        } else {
            bail!("the appliance refused {request}: {}", v["error"])
        }
    }

    /// Resident memory (KiB) and CPU time (clock ticks) of the running process.
    pub fn usage(&mut self) -> Option<(u64, u64)> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some((rss, ticks))
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The admin page: one signed-in session (the operator) and anonymous scrapes of `/metrics`.
pub struct Admin {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Admin {
    /// Signs in as `user`.
    pub async fn sign_in(
        base: &str,
        cert_pem: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<Admin> {
        let http = bench::web::pinned_client_from(cert_pem, Duration::from_secs(20), None)?;
        let (cookie, body) = bench::web::sign_in(&http, base, user, password).await?;
        let csrf = body["csrf"].as_str().context("no CSRF token")?.to_string();
        Ok(Admin {
            base: base.to_string(),
            http,
            cookie,
            csrf,
        })
    }

    /// An operator action: `POST path` with `body`; the status and answer.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `PUT path` with `body` (settings).
    pub async fn put(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// `GET path` (a listing).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let v = res.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    /// `POST path` with a raw body of `kind`.
    pub async fn post_bytes(
        &self,
        path: &str,
        body: Vec<u8>,
        kind: &str,
    ) -> anyhow::Result<(u16, Value)> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", kind)
            .body(body)
            .send()
            .await?;
        let status = res.status().as_u16();
        let v = res.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    /// Uploads a picture as `name`.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> anyhow::Result<(u16, Value)> {
        self.post_bytes(
            &format!("/api/v1/assets?name={name}&replace=true"),
            bytes,
            "image/png",
        )
        .await
    }

    /// `/metrics`, as anyone on the LAN reads it.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let res = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?;
        Ok(res.text().await?)
    }
}

/// A metric's value (the first series of that name), or 0.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A small filesystem for the data (tmpfs, `size_mib`) at `dir`, so a fault can fill it; an
/// error says why not (it needs root).
pub fn small_disk(dir: &Path, size_mib: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=0700")])
        .arg("marathon-data")
        .arg(dir)
        .output()
        .context("cannot run mount")?;
    if !out.status.success() {
        bail!(
            "cannot mount a {size_mib} MiB tmpfs at {} ({}): the disk-full fault needs root",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Unmounts what [`small_disk`] mounted.
pub fn unmount(dir: &Path) {
    let _ = Command::new("umount").arg(dir).status();
}

/// Fills the filesystem holding `dir` with one file until it has no space left; returns the
/// file (remove it to free the space).
pub fn fill_disk(dir: &Path) -> anyhow::Result<PathBuf> {
    let file = dir.join("marathon-filler");
    let mut f = std::fs::File::create(&file)?;
    let chunk = vec![0u8; 1 << 20];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let _ = f.sync_all();
    Ok(file)
}

/// Sends `amount` from `from` (a crowd wallet, impersonated on the node) to `to`.
pub fn deposit(hh: &Hardhat, from: &str, to: &str, amount: u128) -> String {
    hh.call("hardhat_impersonateAccount", json!([from]));
    hh.set_balance(from, 1000 * ETH);
    hh.send(from, to, amount, "0x")
}

/// A deposit mined, then its block replaced by a longer fork without it; returns its hash.
pub fn reorg(hh: &Hardhat, from: &str, to: &str, amount: u128) -> anyhow::Result<String> {
    let snapshot = hh.call("evm_snapshot", json!([]));
    let hash = deposit(hh, from, to, amount);
    hh.mine(1);
    std::thread::sleep(Duration::from_millis(1500));
    let reverted = hh.call("evm_revert", json!([snapshot]));
    if reverted != json!(true) {
        bail!("evm_revert answered {reverted}");
    }
    hh.mine(4);
    Ok(hash)
}

/// A 16×16 PNG (a picture the admin page accepts).
pub fn tiny_png() -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 16, 16);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        if let Ok(mut w) = enc.write_header() {
            let pixels: Vec<u8> = (0..16 * 16 * 3).map(|i| (i * 7 % 256) as u8).collect();
            let _ = w.write_image_data(&pixels);
        }
    }
    bytes
}

/// The service manager's part: starts the appliance, again each second while it fails to
/// start (a disk still full), for up to a minute.
pub fn restart(app: &mut Appliance) -> anyhow::Result<()> {
    let mut tries = 0;
    loop {
        match app.start() {
            Ok(()) => return Ok(()),
            Err(e) if tries >= 60 => return Err(e),
            Err(_) => {
                tries += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}
