//! What the admin page ([`web`]) may reach in the running appliance: the engine (typed operator
//! actions only), the status, the metrics, the stream (switch, preview, scenes), the settings
//! saved for the next start, and the recent log.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use store::{Audit, Store, View};
use tokio::sync::watch;
use web::{Backend, BoxFut};

use crate::config::{self, Config, SECRET_KEYS};
use crate::health::Parts;
use crate::streaming::StreamControl;
use domain::clock::SharedClock;
use domain::engine::{CommandError, EngineHandle, OperatorAction, Reply};
use stream::Snapshot;

/// The appliance as the admin page sees it.
pub struct Admin {
    engine: EngineHandle,
    parts: Arc<Parts>,
    config: Config,
    config_file: Option<PathBuf>,
    stream: Arc<StreamControl>,
    snapshots: watch::Receiver<Snapshot>,
    head: watch::Receiver<u64>,
    scenes_text: Mutex<String>,
    preview: Mutex<Option<scene::Compositor>>,
    /// Lines the operator gives the host to say now.
    host_say: Option<tokio::sync::mpsc::Sender<String>>,
    store: Arc<Store>,
}

impl Admin {
    /// Lets the operator make the host speak, through `say`.
    pub fn with_host(mut self, say: tokio::sync::mpsc::Sender<String>) -> Admin {
        self.host_say = Some(say);
        self
    }

    /// Wires the page to the running parts. Follows the engine's commits for `changes`.
    pub fn new(
        engine: EngineHandle,
        store: Arc<Store>,
        parts: Arc<Parts>,
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
            parts,
            config,
            config_file,
            stream,
            snapshots,
            head,
            scenes_text: Mutex::new(scenes_text),
            preview: Mutex::new(None),
            host_say: None,
            store,
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
        // Never kept in the data directory, so not offered here.
        .filter(|(key, _)| key != "chain.keystore_passphrase")
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

/// RGBA pixels as a JPEG.
fn jpeg(rgba: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64 * 1024);
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(
            rgba,
            u16::try_from(width).map_err(|e| e.to_string())?,
            u16::try_from(height).map_err(|e| e.to_string())?,
            jpeg_encoder::ColorType::Rgba,
        )
        .map_err(|e| format!("cannot encode the preview: {e}"))?;
    Ok(out)
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
            parts: self.parts.clone(),
            stream: self.stream.clone(),
        })
    }

    fn status(&self) -> Value {
        let stats = self.engine.stats();
        let mut stream = self.stream.stats();
        let vm = self.snapshots.borrow().vm.clone();
        let speech = self.stream.speech();
        stream["host"] = json!({
            "mood": format!("{:?}", vm.mood).to_lowercase(),
            "line": vm.caption,
            "speaking": speech.speaking,
            "spoken": speech.spoken,
            "dropped": speech.dropped,
        });
        if let Some(h) = &self.parts.health().host {
            stream["host"]["voice"] = json!(*h.voice.lock().unwrap_or_else(|e| e.into_inner()));
            stream["host"]["last_problem"] =
                json!(*h.last_problem.lock().unwrap_or_else(|e| e.into_inner()));
            stream["host"]["lines_model"] = json!(h.lines_model.load(Ordering::Relaxed));
            stream["host"]["lines_template"] = json!(h.lines_template.load(Ordering::Relaxed));
            stream["host"]["model_rejected"] = json!(h.rejected.load(Ordering::Relaxed));
        }
        let connections = self.parts.report();
        let tasks: Vec<Value> = self
            .parts
            .supervisor()
            .records()
            .iter()
            .map(|t| {
                let failure = t.last_failure();
                json!({
                    "task": t.name,
                    "running": t.running(),
                    "restarts": t.restarts(),
                    "last_failure": failure.as_ref().map(|(_, w)| w.clone()),
                    "last_failure_at": failure.map(|(at, _)| at.to_rfc3339()),
                })
            })
            .collect();
        let alerts = self.parts.alerts();
        let a = &alerts.stats;
        json!({
            "engine": {
                "events": *self.head.borrow(),
                "commands": stats.commands.load(Ordering::Relaxed),
                "batches": stats.batches.load(Ordering::Relaxed),
            },
            "connections": connections,
            "stream": stream,
            "tasks": tasks,
            "alerts": {
                "destinations": alerts.destinations,
                "sent": a.sent.load(Ordering::Relaxed),
                "suppressed": a.suppressed.load(Ordering::Relaxed),
                "failed": a.failed.load(Ordering::Relaxed),
                "last_error": a.last_error.get(),
            },
        })
    }

    fn readiness(&self) -> BoxFut<'_, domain::report::Readiness> {
        Box::pin(async move { self.parts.check().await })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    fn frame_jpeg(&self) -> BoxFut<'_, Result<web::Preview, String>> {
        Box::pin(async move {
            if let Some((config, keyframe)) = self.stream.last_keyframe() {
                let jpeg = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
                    let picture = codec::decode::decode_keyframe(&config, &keyframe)
                        .map_err(|e| format!("the stream's last keyframe does not decode: {e}"))?;
                    let rgba = picture.to_rgba().map_err(|e| e.to_string())?;
                    jpeg(&rgba, picture.width(), picture.height())
                })
                .await
                .map_err(|e| e.to_string())??;
                return Ok(web::Preview {
                    jpeg,
                    source: "encoded",
                });
            }
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
            let jpeg = tokio::task::spawn_blocking(move || jpeg(&rgba, width, height))
                .await
                .map_err(|e| e.to_string())??;
            Ok(web::Preview {
                jpeg,
                source: "composed",
            })
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
                "standby" => scene::Phase::Standby,
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

    fn set_standby(&self, on: bool) {
        self.stream.set_standby(on);
    }

    fn standby(&self) -> bool {
        self.stream.standby()
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
            if key == "chain.keystore_passphrase" {
                return Err("the keystore passphrase is never kept in the data directory (backups copy it): give it in SOTHEBAIS_CHAIN__KEYSTORE_PASSPHRASE or chain.keystore_passphrase_file".into());
            }
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

    fn host_character(&self) -> Result<(String, String), String> {
        let (c, text) = crate::hosting::load_character(&self.config.host, &self.store)?;
        Ok((text, c.system_prompt()))
    }

    fn host_preview(&self) -> BoxFut<'_, Result<Vec<String>, String>> {
        Box::pin(async move {
            let now = self.stream.clock().now();
            crate::hosting::preview(&self.config.host, &self.store, now).await
        })
    }

    fn set_host_character(&self, text: String) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async move {
            if text.len() > 64 * 1024 {
                return Err("a character file is at most 64 KiB".into());
            }
            host::Character::parse(&text).and_then(|c| c.check())?;
            self.engine
                .execute(domain::engine::Command::SaveState {
                    key: crate::hosting::CHARACTER_KEY.into(),
                    value: text,
                })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn update(&self, action: web::backend::UpdateAction) -> BoxFut<'_, Result<String, String>> {
        use web::backend::UpdateAction as A;
        let config = self.config.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let done = match action {
                    A::Status => crate::updating::status(&config, &mut out),
                    A::Check => crate::updating::check(&config, &mut out).map(|_| ()),
                    A::Apply { force } => {
                        crate::updating::apply(&config, force, &mut out).map(|_| ())
                    }
                    A::Rollback => crate::updating::rollback(&config, &mut out),
                };
                let text = String::from_utf8_lossy(&out).trim().to_string();
                done.map(|()| text).map_err(|e| format!("{e:#}"))
            })
            .await
            .map_err(|e| format!("the update task failed: {e}"))?
        })
    }

    fn host_say(&self, text: &str) -> Result<(), String> {
        let Some(say) = &self.host_say else {
            return Err("the host is off (host.enabled = false)".into());
        };
        say.try_send(text.to_string()).map_err(|e| match e {
            tokio::sync::mpsc::error::TrySendError::Full(_) => {
                "the host has lines waiting; try again in a moment".to_string()
            }
            tokio::sync::mpsc::error::TrySendError::Closed(_) => "the host is not running".into(),
        })
    }
}

impl Admin {
    fn clock(&self) -> SharedClock {
        self.stream.clock()
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
