//! The marathon's clock: `APPLIANCE_CLOCK=FILE` runs the appliance on accelerated time that
//! survives restarts and can jump. FILE holds one line, `SIM0_MS REAL0_MS SPEED`: the clock reads
//! `SIM0 + (wall time - REAL0) × SPEED`, from the system's wall time, so a restarted process picks
//! up where the killed one was, and rewriting FILE makes the clock jump (it is read again four
//! times a second). Refused unless every peer the appliance talks to is on this machine, so it can
//! never run a real auction on invented time.
//! (Not `SOTHEBAIS_…`: that prefix is the configuration's.)

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use domain::clock::{Clock, SharedClock};
use store::Timestamp;

use crate::config::Config;

/// The environment variable naming the clock file.
pub const VAR: &str = "APPLIANCE_CLOCK";

/// What the clock file says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warp {
    /// Simulated milliseconds since the epoch at `real0_ms`.
    pub sim0_ms: i64,
    /// Wall-clock milliseconds since the epoch the line is anchored at.
    pub real0_ms: i64,
    /// How many times faster than real time the clock runs.
    pub speed: f64,
}

impl Warp {
    /// Parses `SIM0_MS REAL0_MS SPEED`.
    pub fn parse(text: &str) -> anyhow::Result<Warp> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [sim0, real0, speed] = parts[..] else {
            bail!("a clock file holds `SIM0_MS REAL0_MS SPEED`, not {text:?}");
        };
        let warp = Warp {
            sim0_ms: sim0.parse().context("SIM0_MS is not an integer")?,
            real0_ms: real0.parse().context("REAL0_MS is not an integer")?,
            speed: speed.parse().context("SPEED is not a number")?,
        };
        if !(warp.speed.is_finite() && (1.0..=1_000_000.0).contains(&warp.speed)) {
            bail!("SPEED must be 1 to 1000000, not {}", warp.speed);
        }
        Ok(warp)
    }

    /// The line a clock file holds.
    pub fn line(&self) -> String {
        format!("{} {} {}\n", self.sim0_ms, self.real0_ms, self.speed)
    }

    /// The simulated time at wall-clock `real_ms`.
    pub fn at(&self, real_ms: f64) -> Timestamp {
        let sim_ms = self.sim0_ms as f64 + (real_ms - self.real0_ms as f64) * self.speed;
        Timestamp((sim_ms * 1000.0) as i64)
    }

    /// The same clock re-anchored at wall-clock `real_ms`, reading `delta_ms` more (a jump).
    pub fn jumped(&self, real_ms: i64, delta_ms: i64) -> Warp {
        let now = self.at(real_ms as f64).0 / 1000;
        Warp {
            sim0_ms: now + delta_ms,
            real0_ms: real_ms,
            speed: self.speed,
        }
    }
}

/// Wall-clock milliseconds since the epoch, with a fraction.
pub fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// A clock that follows a clock file.
#[derive(Debug)]
pub struct WarpClock {
    warp: Arc<RwLock<Warp>>,
}

impl WarpClock {
    /// Reads `file` now, then again four times a second on a thread of its own (a file that
    /// cannot be read or parsed keeps the last good reading, with a warning).
    pub fn follow(file: &Path) -> anyhow::Result<WarpClock> {
        let read = |file: &Path| -> anyhow::Result<Warp> {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the clock file {}", file.display()))?;
            Warp::parse(&text)
        };
        let warp = Arc::new(RwLock::new(read(file)?));
        let (shared, file) = (Arc::downgrade(&warp), file.to_path_buf());
        std::thread::Builder::new()
            .name("warp-clock".into())
            .spawn(move || {
                let mut warned = false;
                loop {
                    std::thread::sleep(Duration::from_millis(250));
                    let Some(warp) = shared.upgrade() else { return };
                    match read(&file) {
                        Ok(w) => {
                            *warp.write().unwrap_or_else(|e| e.into_inner()) = w;
                            warned = false;
                        }
                        Err(e) if !warned => {
                            tracing::warn!(error = %format!("{e:#}"), "the clock file is unreadable; keeping the last reading");
                            warned = true;
                        }
                        Err(_) => {}
                    }
                }
            })?;
        Ok(WarpClock { warp })
    }

    fn warp(&self) -> Warp {
        *self.warp.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for WarpClock {
    fn now(&self) -> Timestamp {
        self.warp().at(wall_ms())
    }

    fn real_until(&self, t: Timestamp) -> Option<Duration> {
        let warp = self.warp();
        let sim_micros = t.micros_since(warp.at(wall_ms())).max(0) as f64;
        Some(Duration::from_secs_f64(sim_micros / 1e6 / warp.speed))
    }
}

/// Whether `url`'s host is this machine (`127.0.0.0/8`, `::1` or `localhost`).
pub fn is_loopback_url(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The clock `appliance run` uses: the system's, or the clock file's when [`VAR`] names one and
/// every peer is on this machine.
pub fn from_env(config: &Config) -> anyhow::Result<Option<SharedClock>> {
    let Some(file) = std::env::var_os(VAR).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let remote = remote_peers(config);
    if !remote.is_empty() {
        bail!(
            "{VAR} is set while {} reach beyond this machine: an accelerated clock is for the \
             marathon's local peers only; unset {VAR}",
            remote.join(", ")
        );
    }
    let clock = WarpClock::follow(&PathBuf::from(file))?;
    tracing::warn!(now = %clock.now(), speed = clock.warp().speed, "running on the marathon's accelerated clock");
    Ok(Some(Arc::new(clock)))
}

/// The configuration keys whose peers are not on this machine.
fn remote_peers(config: &Config) -> Vec<String> {
    let mut remote = Vec::new();
    if config.x.enabled && !is_loopback_url(&config.x.base_url) {
        remote.push("x.base_url".to_string());
    }
    if config.chain.enabled
        && config
            .chain
            .rpc_urls
            .iter()
            .any(|u| !is_loopback_url(u.expose()))
    {
        remote.push("chain.rpc_urls".to_string());
    }
    if config.stream.enabled
        && !config.stream.url.is_empty()
        && !is_loopback_url(&config.stream.url)
    {
        remote.push("stream.url".to_string());
    }
    if config.host.enabled
        && !config.host.llm_url.is_empty()
        && !is_loopback_url(&config.host.llm_url)
    {
        remote.push("host.llm_url".to_string());
    }
    remote
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_file_is_read_and_jumps() {
        let w = Warp::parse("1000000 500 60\n").unwrap();
        assert_eq!(w.at(500.0), Timestamp(1_000_000_000));
        assert_eq!(w.at(1500.0), Timestamp(1_060_000_000));
        let j = w.jumped(1500, -30_000);
        assert_eq!(j.at(1500.0), Timestamp(1_030_000_000));
        assert_eq!(Warp::parse(&j.line()).unwrap(), j);
        for bad in ["", "1 2", "a 2 3", "1 2 0", "1 2 inf", "1 2 3 4"] {
            assert!(Warp::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_local_peers_allow_an_accelerated_clock() {
        for url in [
            "http://127.0.0.1:8545",
            "https://localhost/x",
            "rtmp://[::1]:1935/live",
            "http://user@127.0.0.2:1/",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://api.x.com",
            "http://127.0.0.1.example.com/",
            "rtmp://va.pscp.tv:80/x",
            "127.0.0.1:80",
            "",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
        let mut config = Config::default();
        config.x.enabled = true;
        config.chain.enabled = true;
        config.chain.rpc_urls = vec![
            domain::secret::Secret::new("http://127.0.0.1:8545"),
            domain::secret::Secret::new("https://mainnet.shape.network"),
        ];
        assert_eq!(remote_peers(&config), ["x.base_url", "chain.rpc_urls"]);
        config.x.base_url = "http://127.0.0.1:9".into();
        config.chain.rpc_urls.pop();
        assert!(remote_peers(&config).is_empty());
    }
}
