//! What the admin page ([`web`]) may reach in the running appliance: the engine (typed operator
//! actions only), the status, the stream (switch, preview, scenes),
//! the settings saved for the next start, and the recent log. Also the stream switch itself
//! ([`StreamControl`]), which `run` uses at start and stop.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use store::{Audit, Store, View};
use tokio::sync::watch;
use web::{Backend, BoxFut};

use crate::config::{self, Config, SECRET_KEYS};
use crate::health::Health;
use domain::clock::SharedClock;
use domain::engine::{CommandError, EngineHandle, OperatorAction, Reply};
use stream::{PipelineStats, Snapshot, Stream};

/// A running stream and the task that logs its health.
struct Active {
    stream: Stream,
    log_stop: watch::Sender<bool>,
    log_task: tokio::task::JoinHandle<()>,
}

/// Frame and byte counts at the last rate sample.
#[derive(Default)]
struct Rates {
    at: Option<Instant>,
    frames: u64,
    bytes: u64,
    fps: f64,
    kbps: f64,
}

/// Starts and stops the stream while the appliance runs.
pub struct StreamControl {
    config: Config,
    duration_secs: Option<u64>,
    snapshots: watch::Receiver<Snapshot>,
    clock: SharedClock,
    active: Mutex<Option<Active>>,
    switching: tokio::sync::Mutex<()>,
    rates: Mutex<Rates>,
}

impl StreamControl {
    /// A stream made from `config`'s settings, drawing `snapshots`; `duration_secs` limits
    /// each run to that much stream time.
    pub fn new(
        config: Config,
        duration_secs: Option<u64>,
        snapshots: watch::Receiver<Snapshot>,
        clock: SharedClock,
    ) -> StreamControl {
        StreamControl {
            config,
            duration_secs,
            snapshots,
            clock,
            active: Mutex::new(None),
            switching: tokio::sync::Mutex::new(()),
            rates: Mutex::new(Rates::default()),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a stream runs.
    pub fn running(&self) -> bool {
        self.active().is_some()
    }

    /// Whether the running stream reached its duration (or failed).
    pub fn finished(&self) -> bool {
        self.active().as_ref().is_some_and(|a| a.stream.finished())
    }

    /// Starts streaming (an error when it already runs or cannot start).
    pub async fn start(&self) -> Result<(), String> {
        let _one = self.switching.lock().await;
        if self.running() {
            return Err("the stream is already running".into());
        }
        let settings = self.config.stream_settings(self.duration_secs)?;
        if let Some(p) = &settings.publish {
            tracing::info!(target = %p.target, "publishing the stream");
        }
        if let Some(r) = &settings.record {
            tracing::info!(dir = %r.dir.display(), "recording the stream");
        }
        let stream = Stream::start(
            settings,
            self.snapshots.clone(),
            self.clock.clone(),
            tokio::runtime::Handle::current(),
        )
        .map_err(|e| format!("cannot start the stream: {e}"))?;
        let (log_stop, stop_rx) = watch::channel(false);
        let log_task = tokio::spawn(crate::run::log_stream(
            stream.pipeline.clone(),
            stream.output.clone(),
            Instant::now(),
            stop_rx,
        ));
        *self.rates.lock().unwrap_or_else(|e| e.into_inner()) = Rates::default();
        *self.active() = Some(Active {
            stream,
            log_stop,
            log_task,
        });
        Ok(())
    }

    /// Stops streaming, letting queued media out (an error when it was not running, or when
    /// the stream had failed).
    pub async fn stop(&self) -> Result<(), String> {
        let _one = self.switching.lock().await;
        let Some(a) = self.active().take() else {
            return Err("the stream is not running".into());
        };
        let (late, drops) = (
            a.stream.pipeline.late_frames.load(Ordering::Relaxed),
            a.stream.network_drops(),
        );
        let result = a.stream.stop().await;
        let _ = a.log_stop.send(true);
        let _ = a.log_task.await;
        tracing::info!(
            late_frames = late,
            network_dropped_frames = drops.frames,
            network_dropped_gops = drops.gops,
            "stream stopped"
        );
        result
    }

    /// The stream's counters, while it runs.
    pub fn figures(&self) -> Option<StreamFigures> {
        let active = self.active();
        let a = active.as_ref()?;
        let (p, o): (&PipelineStats, &rtmp::StreamStats) = (&a.stream.pipeline, &a.stream.output);
        Some(StreamFigures {
            connected: o.connected.load(Ordering::Relaxed),
            frames: p.frames.load(Ordering::Relaxed),
            late_frames: p.late_frames.load(Ordering::Relaxed),
            network_dropped_frames: a.stream.network_drops().frames,
            reconnects: o.reconnects.load(Ordering::Relaxed),
            bytes_sent: o.bytes_sent.load(Ordering::Relaxed),
        })
    }

    /// The stream's health for the status: running, connection, rates, drops, encoder.
    pub fn stats(&self) -> Value {
        let active = self.active();
        let Some(a) = active.as_ref() else {
            return json!({"running": false});
        };
        let (p, o): (&PipelineStats, &rtmp::StreamStats) = (&a.stream.pipeline, &a.stream.output);
        let frames = p.frames.load(Ordering::Relaxed);
        let bytes = o.bytes_sent.load(Ordering::Relaxed);
        let mut r = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match r.at {
            Some(at) if now.duration_since(at).as_secs_f64() >= 1.0 => {
                let secs = now.duration_since(at).as_secs_f64();
                r.fps = (frames - r.frames) as f64 / secs;
                r.kbps = (bytes - r.bytes) as f64 * 8.0 / secs / 1000.0;
                (r.at, r.frames, r.bytes) = (Some(now), frames, bytes);
            }
            Some(_) => {}
            None => (r.at, r.frames, r.bytes) = (Some(now), frames, bytes),
        }
        let drops = a.stream.network_drops();
        json!({
            "running": true,
            "publishing": !self.config.stream.url.is_empty(),
            "connected": o.connected.load(Ordering::Relaxed),
            "fps": (r.fps * 10.0).round() / 10.0,
            "bitrate_kbps": r.kbps.round(),
            "frames": frames,
            "late_frames": p.late_frames.load(Ordering::Relaxed),
            "dropped_frames": drops.frames,
            "reconnects": o.reconnects.load(Ordering::Relaxed),
            "encoder": p.encoder.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "last_error": o.last_error(),
        })
    }
}

/// A running stream's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamFigures {
    /// The publisher is connected to the ingest.
    pub connected: bool,
    /// Video frames encoded.
    pub frames: u64,
    /// Frames dropped because the frame loop was late.
    pub late_frames: u64,
    /// Frames dropped because the uplink could not keep up.
    pub network_dropped_frames: u64,
    /// Reconnections to the ingest.
    pub reconnects: u64,
    /// Bytes written to the ingest.
    pub bytes_sent: u64,
}

/// The appliance as the admin page sees it.
pub struct Admin {
    engine: EngineHandle,
    health: Arc<Health>,
    config: Config,
    config_file: Option<PathBuf>,
    stream: Arc<StreamControl>,
    snapshots: watch::Receiver<Snapshot>,
    head: watch::Receiver<u64>,
    scenes_text: Mutex<String>,
    preview: Mutex<Option<scene::Compositor>>,
}

impl Admin {
    /// Wires the page to the running parts. Follows the engine's commits for `changes`.
    pub fn new(
        engine: EngineHandle,
        store: Arc<Store>,
        health: Arc<Health>,
        config: Config,
        config_file: Option<PathBuf>,
        stream: Arc<StreamControl>,
        snapshots: watch::Receiver<Snapshot>,
    ) -> Result<Admin, String> {
        let head_now = store
            .read()
            .ok()
            .and_then(|r| r.head().ok().flatten())
            .map_or(0, |h| h.seq);
        let (tx, head) = watch::channel(head_now);
        let mut commits = engine.subscribe();
        tokio::spawn(async move {
            loop {
                match commits.recv().await {
                    Ok(batch) => {
                        if let Some(last) = batch.last() {
                            tx.send_replace(last.seq);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Missed batches only matter for their position; the next one carries it.
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let scenes_text = if config.stream.scenes.as_os_str().is_empty() {
            scene::DEFAULT_SCENES.to_string()
        } else {
            std::fs::read_to_string(&config.stream.scenes).map_err(|e| {
                format!(
                    "cannot read the scene file {}: {e}",
                    config.stream.scenes.display()
                )
            })?
        };
        Ok(Admin {
            engine,
            health,
            config,
            config_file,
            stream,
            snapshots,
            head,
            scenes_text: Mutex::new(scenes_text),
            preview: Mutex::new(None),
        })
    }

    fn scene_set(&self) -> Result<scene::SceneSet, String> {
        let text = self
            .scenes_text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        scene::SceneSet::parse(&text).map_err(|e| e.to_string())
    }

    /// The configuration as the next start will read it.
    fn next_config(&self) -> Result<Config, String> {
        Config::from_env_and_saved(self.config_file.as_deref(), Some(&self.config.data_dir))
    }

    fn settings_file(&self) -> PathBuf {
        self.config.data_dir.join(config::SETTINGS_FILE)
    }
}

/// Every setting as `section.key` → value (`campaign` and `data_dir` are not settings here).
fn flatten(config: &Config) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Ok(Value::Object(top)) = serde_json::to_value(config) {
        for (section, v) in top {
            if let Value::Object(keys) = v
                && section != "campaign"
            {
                for (k, v) in keys {
                    out.push((format!("{section}.{k}"), v));
                }
            }
        }
    }
    out
}

fn settings_json(config: &Config, file: &std::path::Path) -> Value {
    let rows: Vec<Value> = flatten(config)
        .into_iter()
        .map(|(key, value)| {
            if SECRET_KEYS.contains(&key.as_str()) {
                let set = match &value {
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => false,
                };
                json!({"key": key, "secret": true, "set": set})
            } else {
                json!({"key": key, "secret": false, "value": value})
            }
        })
        .collect();
    json!({"file": file.display().to_string(), "settings": rows})
}

/// A submitted value as TOML, shaped like the setting's current value.
fn to_toml(key: &str, current: &Value, given: &Value) -> Result<toml::Value, String> {
    let bad = || format!("{key}: {given} is not a valid value");
    Ok(match (current, given) {
        (Value::Bool(_), Value::Bool(b)) => toml::Value::Boolean(*b),
        (Value::Bool(_), Value::String(s)) => {
            toml::Value::Boolean(s.trim().parse().map_err(|_| bad())?)
        }
        (Value::Number(_), Value::Number(n)) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().ok_or_else(bad)?),
        },
        (Value::Number(n), Value::String(s)) => {
            if n.is_f64() {
                toml::Value::Float(s.trim().parse().map_err(|_| bad())?)
            } else {
                toml::Value::Integer(s.trim().parse().map_err(|_| bad())?)
            }
        }
        (Value::Array(_), Value::Array(items)) => toml::Value::Array(
            items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(|s| toml::Value::String(s.to_string()))
                        .ok_or_else(bad)
                })
                .collect::<Result<_, _>>()?,
        ),
        (Value::Array(_), Value::String(s)) => toml::Value::Array(
            s.split([',', '\n'])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(|x| toml::Value::String(x.to_string()))
                .collect(),
        ),
        (Value::String(_), Value::String(s)) => toml::Value::String(s.clone()),
        _ => return Err(bad()),
    })
}

/// Renders `vm` now: RGBA bytes, width, height.
fn render_now(
    compositor: &mut scene::Compositor,
    vm: &scene::ViewModel,
    clock: &SharedClock,
) -> (Vec<u8>, u32, u32) {
    let frame = compositor.render(vm, clock.now().0.div_euclid(1000));
    (frame.data().to_vec(), frame.width(), frame.height())
}

impl Backend for Admin {
    fn act(&self, action: OperatorAction, audit: Audit) -> BoxFut<'_, Result<Reply, CommandError>> {
        Box::pin(async move {
            tracing::debug!(action = action.name(), actor = %audit.actor, "operator action");
            self.engine.execute(action.into_command(audit)).await
        })
    }

    fn metrics(&self) -> Box<dyn prometheus_client::collector::Collector> {
        Box::new(crate::metrics::ApplianceMetrics {
            engine: self.engine.clone(),
            head: self.head.clone(),
            health: self.health.clone(),
            stream: self.stream.clone(),
        })
    }

    fn status(&self) -> Value {
        let stats = self.engine.stats();
        let mut stream = self.stream.stats();
        let vm = self.snapshots.borrow().vm.clone();
        stream["host"] = json!({
            "mood": format!("{:?}", vm.mood).to_lowercase(),
            "line": vm.caption,
        });
        json!({
            "engine": {
                "events": *self.head.borrow(),
                "commands": stats.commands.load(Ordering::Relaxed),
                "batches": stats.batches.load(Ordering::Relaxed),
            },
            "connections": self.health.report(),
            "stream": stream,
        })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    fn frame_jpeg(&self) -> BoxFut<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let vm = self.snapshots.borrow().vm.clone();
            let frame = {
                let mut slot = self.preview.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    *slot = Some(
                        scene::Compositor::new(
                            self.scene_set()?,
                            640,
                            360,
                            Arc::new(scene::DirAssets(self.config.assets_dir())),
                        )
                        .map_err(|e| e.to_string())?,
                    );
                }
                let Some(c) = slot.as_mut() else {
                    return Err("no preview compositor".into());
                };
                render_now(c, &vm, &self.clock())
            };
            let (rgba, width, height) = frame;
            tokio::task::spawn_blocking(move || {
                let mut out = Vec::with_capacity(64 * 1024);
                jpeg_encoder::Encoder::new(&mut out, 80)
                    .encode(
                        &rgba,
                        width as u16,
                        height as u16,
                        jpeg_encoder::ColorType::Rgba,
                    )
                    .map_err(|e| format!("cannot encode the preview: {e}"))?;
                Ok(out)
            })
            .await
            .map_err(|e| e.to_string())?
        })
    }

    fn scene_preview(&self, phase: String) -> BoxFut<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let mut vm = (*self.snapshots.borrow().vm).clone();
            vm.phase = match phase.as_str() {
                "pre" => scene::Phase::Pre,
                "live" => scene::Phase::Live,
                "post" if vm.winner.is_empty() => scene::Phase::Unsold,
                "post" => scene::Phase::Sold,
                other => return Err(format!("no scene {other:?}")),
            };
            let set = self.scene_set()?;
            let (assets, clock) = (self.config.assets_dir(), self.clock());
            tokio::task::spawn_blocking(move || {
                let mut c =
                    scene::Compositor::new(set, 1280, 720, Arc::new(scene::DirAssets(assets)))
                        .map_err(|e| e.to_string())?;
                c.render(&vm, clock.now().0.div_euclid(1000))
                    .encode_png()
                    .map_err(|e| format!("cannot encode the preview: {e}"))
            })
            .await
            .map_err(|e| e.to_string())?
        })
    }

    fn scenes(&self) -> String {
        self.scenes_text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_scenes(&self, text: &str) -> Result<(), String> {
        scene::SceneSet::parse(text).map_err(|e| e.to_string())?;
        let path = if self.config.stream.scenes.as_os_str().is_empty() {
            self.config.data_dir.join("scenes.toml")
        } else {
            self.config.stream.scenes.clone()
        };
        write_atomically(&path, text.as_bytes(), 0o644)?;
        if self.config.stream.scenes.as_os_str().is_empty() {
            self.save_settings(&json!({"stream.scenes": path.display().to_string()}))?;
        }
        *self.scenes_text.lock().unwrap_or_else(|e| e.into_inner()) = text.to_string();
        *self.preview.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    fn streaming(&self) -> bool {
        self.stream.running()
    }

    fn set_streaming(&self, on: bool) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async move {
            if on {
                self.stream.start().await
            } else {
                self.stream.stop().await
            }
        })
    }

    fn settings(&self) -> Value {
        match self.next_config() {
            Ok(next) => settings_json(&next, &self.settings_file()),
            Err(e) => {
                let mut v = settings_json(&self.config, &self.settings_file());
                v["error"] = json!(e);
                v
            }
        }
    }

    fn save_settings(&self, changes: &Value) -> Result<Value, String> {
        let Some(changes) = changes.as_object() else {
            return Err("send {\"section.key\": value}".into());
        };
        let current: std::collections::BTreeMap<String, Value> =
            flatten(&self.config).into_iter().collect();
        let mut saved = config::read_saved(&self.config.data_dir)?.unwrap_or_default();
        for (key, given) in changes {
            let Some(now) = current.get(key) else {
                return Err(format!("{key} is not a setting"));
            };
            let secret = SECRET_KEYS.contains(&key.as_str());
            // Write-only secrets: an empty field means "keep what is set".
            if secret && (given.as_str() == Some("") || given.is_null()) {
                continue;
            }
            let shape = if secret && key == "chain.rpc_urls" {
                &json!([])
            } else if secret {
                &json!("")
            } else {
                now
            };
            let value = to_toml(key, shape, given)?;
            let Some((section, name)) = key.split_once('.') else {
                return Err(format!("{key} is not a setting"));
            };
            let table = saved
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(table) = table else {
                return Err(format!("the saved settings' {section} is not a section"));
            };
            table.insert(name.to_string(), value);
        }
        // Refuse what the next start would refuse.
        let next =
            Config::load_layers(self.config_file.as_deref(), Some(&saved), std::env::vars())?;
        let text =
            toml::to_string(&saved).map_err(|e| format!("cannot write the settings: {e}"))?;
        write_atomically(&self.settings_file(), text.as_bytes(), 0o600)?;
        Ok(settings_json(&next, &self.settings_file()))
    }

    fn log_lines(&self, n: usize) -> Vec<String> {
        crate::logging::recent(n)
    }

    fn assets_dir(&self) -> PathBuf {
        self.config.assets_dir()
    }
}

impl Admin {
    fn clock(&self) -> SharedClock {
        self.stream.clock.clone()
    }
}

/// Writes `path` through a temporary file and a rename, with `mode` permissions.
fn write_atomically(path: &std::path::Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().ok_or("no folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", fastrand::u64(..)));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_hide_secrets_and_keep_types() {
        let mut c = Config::default();
        c.x.bearer_token = domain::secret::Secret::new("hunter2");
        let v = settings_json(&c, std::path::Path::new("/x"));
        let text = v.to_string();
        assert!(!text.contains("hunter2"));
        let row = |k: &str| {
            v["settings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["key"] == k)
                .unwrap()
                .clone()
        };
        assert_eq!(row("x.bearer_token")["set"], true);
        assert!(row("x.bearer_token").get("value").is_none());
        assert_eq!(row("stream.url")["secret"], true);
        assert_eq!(row("engine.max_batch")["value"], 512);
        assert_eq!(
            to_toml("a", &json!(1), &json!("64")).unwrap(),
            toml::Value::Integer(64)
        );
        assert_eq!(
            to_toml("a", &json!(true), &json!("false")).unwrap(),
            toml::Value::Boolean(false)
        );
        assert!(to_toml("a", &json!(1), &json!("x")).is_err());
        assert_eq!(
            to_toml("a", &json!([]), &json!("a, b")).unwrap(),
            toml::Value::Array(vec![
                toml::Value::String("a".into()),
                toml::Value::String("b".into())
            ])
        );
    }
}
