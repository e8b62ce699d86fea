//! `appliance bench web`: the admin page under load. Runs the real appliance (demo campaign, no
//! stream, no simulated bidders), holds N server-sent-event clients on the dashboard, starts a
//! second process (`appliance bench web-load`) that requests `GET /api/v1/dashboard` as fast as
//! its connections allow, and places a bid every 200 ms over the control socket. Reports the API
//! latency (from the second process), how long each bid took to reach every event client (from
//! just before the bid was sent), and the appliance's CPU and memory from `/proc`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use store::{BidSource, UserId, Wei};

use control::{Client, Request};
use domain::engine::Command;

/// An HTTPS client that trusts only `cert_pem` and does not follow redirects.
pub fn pinned_client(cert_pem: &str, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    pinned_client_from(cert_pem, timeout, None)
}

/// [`pinned_client`], connecting from `local` (a loopback address other than 127.0.0.1 stands
/// for another machine on the LAN in tests).
pub fn pinned_client_from(
    cert_pem: &str,
    timeout: Duration,
    local: Option<std::net::IpAddr>,
) -> anyhow::Result<reqwest::Client> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.context("the certificate file")?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .local_address(local)
        .no_proxy()
        .build()?)
}

/// Signs in to the admin page at `base`: the session cookie (`name=value`) and the answer
/// (which carries the CSRF token).
pub async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<(String, serde_json::Value)> {
    let res = http
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await?;
    if !res.status().is_success() {
        anyhow::bail!("sign-in refused: {}", res.status());
    }
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sothebais_session="))
        .and_then(|v| v.split(';').next())
        .context("no session cookie")?
        .to_string();
    Ok((cookie, res.json().await?))
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `bench web-load`: `concurrency` connections requesting `url` for `secs`; prints one JSON line.
pub async fn load(
    url: &str,
    cookie: &str,
    cert: &Path,
    secs: f64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let pem = std::fs::read_to_string(cert).with_context(|| format!("{}", cert.display()))?;
    let client = pinned_client(&pem, Duration::from_secs(10))?;
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, cookie) = (client.clone(), url.to_string(), cookie.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < end {
                let t = Instant::now();
                match client.get(&url).header("cookie", &cookie).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(_) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    all.sort_by(f64::total_cmp);
    let out = json!({
        "requests": all.len(), "errors": errors, "per_sec": all.len() as f64 / secs,
        "p50_ms": pct(&all, 0.5), "p99_ms": pct(&all, 0.99), "max_ms": all.last().copied().unwrap_or(0.0),
    });
    println!("{out}");
    Ok(())
}

/// CPU seconds (user + system) and resident bytes of a process.
fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    web::process::usage(&pid.to_string()).map(|u| (u.cpu_seconds, u.rss_bytes))
}

/// What `appliance run` prints on the console at start: the admin page's address, and on first
/// start the admin's password.
pub fn admin_page_on_console(console: &str) -> (Option<String>, Option<String>) {
    let base = console
        .lines()
        .find_map(|l| l.strip_prefix("Admin page: "))
        .and_then(|l| l.split_whitespace().next())
        .map(|u| u.trim_end_matches('/').to_string());
    let password = console
        .lines()
        .skip_while(|l| !l.contains("with the password"))
        .map(str::trim)
        .find(|l| l.len() == 20 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_string);
    (base, password)
}

/// The id of the newest bid in a dashboard JSON text, without parsing all of it.
fn newest_bid(text: &str) -> Option<u64> {
    let at = text.find("\"last_bids\":[{\"id\":")? + "\"last_bids\":[{\"id\":".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Runs the benchmark; prints a report.
pub async fn run(
    secs: f64,
    clients: usize,
    concurrency: usize,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let config = dir.path().join("appliance.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[log]\nlevel = \"warn\"\n[stream]\nenabled = false\n[simulation]\nenabled = false\n[web]\nlisten = \"127.0.0.1:0\"\nredirect_listen = \"\"\n",
            data.display().to_string()
        ),
    )?;
    let exe = std::env::current_exe()?;
    let log_path = dir.path().join("appliance.log");
    let mut child = Process::new(&exe)
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()?;
    let result = measure(
        &exe,
        &child,
        &data,
        &log_path,
        secs,
        clients,
        concurrency,
        out,
    )
    .await;
    // SIGTERM for a clean stop.
    let _ = Process::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    exe: &Path,
    child: &std::process::Child,
    data: &Path,
    log_path: &Path,
    secs: f64,
    clients: usize,
    concurrency: usize,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    // The address and the first-start password, from the console.
    let started = Instant::now();
    let (base, password) = loop {
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        if let (Some(b), Some(p)) = admin_page_on_console(&log) {
            break (b, p);
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the appliance did not start its admin page:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cert: PathBuf = data.join("web/tls/cert.pem");
    let pem = std::fs::read_to_string(&cert)?;
    let http = pinned_client(&pem, Duration::from_secs(secs as u64 + 60))?;
    let (cookie, _) = sign_in(&http, &base, "admin", &password).await?;

    // The event clients: each notes when it first sees each bid.
    let seen: Arc<Mutex<HashMap<u64, Vec<Instant>>>> = Arc::default();
    let connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut sse = Vec::new();
    for _ in 0..clients {
        let (http, url, cookie, seen, connected) = (
            http.clone(),
            format!("{base}/api/v1/events"),
            cookie.clone(),
            seen.clone(),
            connected.clone(),
        );
        sse.push(tokio::spawn(async move {
            let Ok(mut res) = http.get(&url).header("cookie", &cookie).send().await else {
                return;
            };
            let mut buf = String::new();
            let mut last = None;
            let mut first = true;
            while let Ok(Some(chunk)) = res.chunk().await {
                let now = Instant::now();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    if first {
                        first = false;
                        connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Some(id) = newest_bid(&event)
                        && last != Some(id)
                    {
                        last = Some(id);
                        seen.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(id)
                            .or_default()
                            .push(now);
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while connected.load(std::sync::atomic::Ordering::Relaxed) < clients {
        if Instant::now() > deadline {
            bail!(
                "only {} of {clients} event clients connected",
                connected.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The API load, from a second process.
    let load = Process::new(exe)
        .args([
            "bench",
            "web-load",
            "--url",
            &format!("{base}/api/v1/dashboard"),
            "--cookie",
            &cookie,
            "--cert",
        ])
        .arg(&cert)
        .args([
            "--seconds",
            &secs.to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id();
    let (cpu0, _) = proc_usage(pid).context("cannot read the appliance's /proc entry")?;
    let t0 = Instant::now();
    let mut control = Client::connect(&data.join("control.sock"))
        .await
        .map_err(anyhow::Error::msg)?;
    let bidder = UserId(1000);
    control
        .request(&Request::Execute {
            command: Command::SeeUser {
                id: bidder,
                handle: "bench_bidder".into(),
                account_created: store::Timestamp::from_datetime(
                    chrono::Utc::now() - chrono::Duration::days(400),
                ),
                simulated: true,
            },
        })
        .await
        .map_err(anyhow::Error::msg)?
        .into_result()
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    let mut sent: Vec<(u64, Instant)> = Vec::new();
    let mut max_rss = 0;
    let mut amount: u128 = 200_000_000_000_000_000;
    let mut n = 0u64;
    while t0.elapsed().as_secs_f64() < secs {
        n += 1;
        amount += 10_000_000_000_000_000;
        let command = Command::PlaceBid {
            bidder,
            amount: Wei(amount),
            source: BidSource::Operator(format!("bench-web-{n}")),
            auction: None,
        };
        let t = Instant::now();
        let reply = control
            .request(&Request::Execute { command })
            .await
            .map_err(anyhow::Error::msg)?;
        if let Ok(v) = reply.into_result()
            && let Some(id) = v["receipt"]["bid"].as_u64().or_else(|| v["bid"].as_u64())
        {
            sent.push((id, t));
        }
        if let Some((_, rss)) = proc_usage(pid) {
            max_rss = max_rss.max(rss);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, rss_end) = proc_usage(pid).context("the appliance exited")?;
    let load = tokio::task::spawn_blocking(move || load.wait_with_output()).await??;
    let api: Value = serde_json::from_slice(&load.stdout).with_context(|| {
        format!(
            "the load process said: {}",
            String::from_utf8_lossy(&load.stdout)
        )
    })?;
    // Let the last deliveries land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in &sse {
        t.abort();
    }
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let mut lat = Vec::new();
    let mut missing = 0;
    for (id, t) in &sent {
        let times = seen.get(id).map_or(&[][..], Vec::as_slice);
        missing += clients.saturating_sub(times.len());
        lat.extend(
            times
                .iter()
                .map(|r| r.duration_since(*t).as_secs_f64() * 1000.0),
        );
    }
    lat.sort_by(f64::total_cmp);
    if sent.is_empty() {
        bail!("no bid was placed");
    }
    let num = |k: &str| api[k].as_f64().unwrap_or(f64::NAN);
    writeln!(
        out,
        "admin page under load: {clients} event clients, {concurrency} API connections from a second process, {elapsed:.1} s"
    )?;
    writeln!(
        out,
        "GET /api/v1/dashboard: {} requests ({:.0}/s), {} errors, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        api["requests"],
        num("per_sec"),
        api["errors"],
        num("p50_ms"),
        num("p99_ms"),
        num("max_ms")
    )?;
    writeln!(
        out,
        "bid -> event on every client: {} bids x {clients} clients, {} deliveries missing, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sent.len(),
        missing,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    )?;
    writeln!(
        out,
        "appliance: CPU {:.0}% of one core, RSS {:.0} MiB at the end (peak {:.0} MiB)",
        (cpu1 - cpu0) / elapsed * 100.0,
        rss_end as f64 / 1048576.0,
        max_rss.max(rss_end) as f64 / 1048576.0
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_newest_bid_and_ranks() {
        assert_eq!(
            newest_bid(r#"data: {"seq":3,"last_bids":[{"id":42,"x":1}]}"#),
            Some(42)
        );
        assert_eq!(newest_bid(r#"data: {"last_bids":[]}"#), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((pct(&v, 0.5), pct(&v, 0.99)), (50.0, 99.0));
        assert!(proc_usage(std::process::id()).unwrap().1 > 0);
    }
}
