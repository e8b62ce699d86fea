//! Configuration: one TOML file (every key is documented, with its default, in
//! `appliance/appliance.toml`, which `appliance config` prints), then environment overrides.
//!
//! An environment variable `SOTHEBAIS_<KEY>` overrides a top-level key and
//! `SOTHEBAIS_<SECTION>__<KEY>` a key in a section, e.g. `SOTHEBAIS_DATA_DIR=/var/lib/sothebais`
//! or `SOTHEBAIS_LOG__FORMAT=json`. Values are read as TOML (`64`, `true`, `"text"`) and as plain
//! text when they are not valid TOML. Unknown keys, in the file or the environment, are errors.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use domain::engine::CampaignSpec;

mod adapters;
mod sections;

pub use sections::*;

/// The documented default configuration file.
pub const DOCUMENTED: &str = include_str!("../../appliance.toml");

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "SOTHEBAIS_";

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database and generated files live.
    pub data_dir: PathBuf,
    /// Logging.
    pub log: LogConfig,
    /// The auction engine.
    pub engine: EngineSection,
    /// The local control socket.
    pub control: ControlConfig,
    /// Scheduled backups.
    pub backup: BackupConfig,
    /// Simulated bidders.
    pub simulation: SimulationConfig,
    /// The live stream.
    pub stream: StreamConfig,
    /// X (Twitter).
    pub x: XConfig,
    /// Announcements and reminders.
    pub notify: NotifyConfig,
    /// The chain (escrow, custody, settlement).
    pub chain: ChainConfig,
    /// The campaign to create on first start (when the database has none).
    pub campaign: Option<CampaignSpec>,
    /// The LAN admin page.
    pub web: WebSection,
    /// Alerts to the operator.
    pub alerts: AlertsConfig,
    /// The AI host.
    pub host: HostConfig,
    /// Self-update from signed releases.
    pub update: UpdateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            log: LogConfig::default(),
            engine: EngineSection::default(),
            control: ControlConfig::default(),
            backup: BackupConfig::default(),
            simulation: SimulationConfig::default(),
            stream: StreamConfig::default(),
            x: XConfig::default(),
            notify: NotifyConfig::default(),
            chain: ChainConfig::default(),
            campaign: None,
            web: WebSection::default(),
            alerts: AlertsConfig::default(),
            host: HostConfig::default(),
            update: UpdateConfig::default(),
        }
    }
}

impl Config {
    /// Reads `file` (if given) and applies the environment overrides in `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, String> {
        Config::load_layers(file, None, env)
    }

    /// Reads `file`, then the saved settings in `overlay` (a table of sections), then `env`.
    pub fn load_layers(
        file: Option<&Path>,
        overlay: Option<&toml::Table>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, String> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the configuration {}: {e}", path.display())
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?
            }
            None => toml::Table::new(),
        };
        let saved_passphrase = overlay
            .and_then(|o| o.get("chain"))
            .and_then(|c| c.get("keystore_passphrase"))
            .is_some();
        if saved_passphrase {
            return Err(format!(
                "chain.keystore_passphrase is in the data directory's {SETTINGS_FILE}, which backups \
                 and copies of the data carry; remove it there and give it in \
                 SOTHEBAIS_CHAIN__KEYSTORE_PASSPHRASE or chain.keystore_passphrase_file outside the \
                 data directory"
            ));
        }
        for (section, values) in overlay.into_iter().flatten() {
            match values {
                toml::Value::Table(values) => {
                    for (key, value) in values {
                        set_path(&mut table, &[section.clone(), key.clone()], value.clone())
                            .map_err(|e| format!("saved setting {section}.{key}: {e}"))?;
                    }
                }
                other => {
                    set_path(&mut table, std::slice::from_ref(section), other.clone())
                        .map_err(|e| format!("saved setting {section}: {e}"))?;
                }
            }
        }
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
            if keys.iter().any(String::is_empty) {
                return Err(format!("{name}: empty key in the variable name"));
            }
            set_path(&mut table, &keys, parse_env_value(&value))
                .map_err(|e| format!("{name}: {e}"))?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| format!("invalid configuration: {}", e.message()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads `file` and the process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Config, String> {
        Config::load(file, std::env::vars())
    }

    /// Reads `file`, the settings saved from the admin page in `<data_dir>/settings.toml`, and
    /// the process environment; `data` (the command line's) overrides the data directory.
    pub fn from_env_and_saved(file: Option<&Path>, data: Option<&Path>) -> Result<Config, String> {
        let mut first = Config::from_env(file)?;
        if let Some(d) = data {
            first.data_dir = d.to_path_buf();
        }
        let saved = read_saved(&first.data_dir)?;
        let mut config = match &saved {
            Some(t) => Config::load_layers(file, Some(t), std::env::vars())?,
            None => first,
        };
        if let Some(d) = data {
            config.data_dir = d.to_path_buf();
        }
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.data_dir.as_os_str().is_empty() {
            return Err("data_dir must not be empty".into());
        }
        if !(1..=65_536).contains(&self.engine.max_batch) {
            return Err("engine.max_batch must be 1 to 65536".into());
        }
        if !(1..=1_048_576).contains(&self.engine.queue_capacity) {
            return Err("engine.queue_capacity must be 1 to 1048576".into());
        }
        if self.simulation.bidders > 1000 {
            return Err("simulation.bidders is at most 1000".into());
        }
        self.refuse_simulation_when_live()?;
        self.alerts.sinks()?;
        if self.backup.every_secs != 0 && (self.backup.every_secs < 2 || self.backup.keep == 0) {
            return Err(
                "backup.every_secs is 0 (off) or at least 2, and backup.keep at least 1".into(),
            );
        }
        if self.stream.enabled {
            self.stream_settings(None)?;
        }
        if self.x.enabled {
            self.x.credentials()?;
            self.x.plan()?;
            self.x.streams()?;
            if !(5..=300).contains(&self.x.stall_secs) {
                return Err("x.stall_secs must be 5 to 300".into());
            }
            if !(1..=600).contains(&self.x.timeout_secs) {
                return Err("x.timeout_secs must be 1 to 600".into());
            }
        }
        if self.notify.final_minutes > 24 * 60 || self.notify.remind_minutes > 7 * 24 * 60 {
            return Err(
                "notify.final_minutes is at most 1440 and notify.remind_minutes at most 10080"
                    .into(),
            );
        }
        self.chain.validate()?;
        self.web.validate()?;
        self.host.validate()?;
        self.update.validate()?;
        self.refuse_passphrase_in_data_dir()?;
        Ok(())
    }

    /// Simulated bidders would bid with invented escrow against real bidders, and could win a
    /// real token: never next to X or the chain.
    fn refuse_simulation_when_live(&self) -> Result<(), String> {
        if !self.simulation.enabled || self.simulation.bidders == 0 {
            return Ok(());
        }
        let live: Vec<&str> = [
            ("x.enabled", self.x.enabled),
            ("chain.enabled", self.chain.enabled),
        ]
        .into_iter()
        .filter_map(|(key, on)| on.then_some(key))
        .collect();
        if live.is_empty() {
            return Ok(());
        }
        Err(format!(
            "simulation.enabled = true cannot run with {} = true: simulated bidders would bid \
             against real bidders with invented escrow and could win a real token; set \
             simulation.enabled = false (SOTHEBAIS_SIMULATION__ENABLED=false) to go live",
            live.join(" = true and ")
        ))
    }

    /// The data directory is copied by backups and moved between boxes: the keystore's
    /// passphrase must not live there.
    fn refuse_passphrase_in_data_dir(&self) -> Result<(), String> {
        let file = &self.chain.keystore_passphrase_file;
        if file.as_os_str().is_empty() {
            return Ok(());
        }
        let (Ok(file), Ok(data)) = (
            std::path::absolute(file),
            std::path::absolute(&self.data_dir),
        ) else {
            return Err("chain.keystore_passphrase_file or data_dir is not a usable path".into());
        };
        if file.starts_with(&data) {
            return Err(format!(
                "chain.keystore_passphrase_file {} is inside data_dir {}, which backups copy; keep \
                 the passphrase outside the data directory",
                file.display(),
                data.display()
            ));
        }
        Ok(())
    }

    /// Where scheduled backups go.
    pub fn backup_dir(&self) -> PathBuf {
        if self.backup.dir.as_os_str().is_empty() {
            self.data_dir.join("backups")
        } else {
            self.backup.dir.clone()
        }
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(store::DB_FILE)
    }

    /// What the engine's decisions depend on.
    pub fn policy(&self) -> domain::engine::Policy {
        domain::engine::Policy {
            onchain: self.chain.enabled,
            require_custody: self.chain.enabled,
            hold_tweets: self.x.approve_tweets,
            final_notice_secs: self.notify.final_minutes * 60,
            remind_lead_secs: self.notify.remind_minutes * 60,
            host_handle: self.campaign.as_ref().map_or_else(
                || domain::demo::DEMO_HOST.to_string(),
                |c| c.host_handle.clone(),
            ),
            escrow: self
                .chain
                .enabled
                .then(|| self.chain.keystore_address())
                .flatten(),
        }
    }

    /// The control socket.
    pub fn socket_path(&self) -> PathBuf {
        if self.control.socket.as_os_str().is_empty() {
            self.data_dir.join("control.sock")
        } else {
            self.control.socket.clone()
        }
    }
}

fn parse_env_value(text: &str) -> toml::Value {
    match format!("v = {text}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(text.to_string())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

/// The settings saved from the admin page, if any.
pub fn read_saved(data_dir: &Path) -> Result<Option<toml::Table>, String> {
    let path = data_dir.join(SETTINGS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map(Some)
            .map_err(|e| format!("{} is not valid TOML: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("no key")?;
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("{key} is not a section"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests;
