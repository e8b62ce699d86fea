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
use domain::secret::Secret;

/// The documented default configuration file.
pub const DOCUMENTED: &str = include_str!("../appliance.toml");

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            log: LogConfig::default(),
            engine: EngineSection::default(),
            control: ControlConfig::default(),
            simulation: SimulationConfig::default(),
            stream: StreamConfig::default(),
            x: XConfig::default(),
            notify: NotifyConfig::default(),
            chain: ChainConfig::default(),
            campaign: None,
            web: WebSection::default(),
        }
    }
}

/// X (Twitter): reading tweets and posting replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XConfig {
    /// Read tweets from X and post replies.
    pub enabled: bool,
    /// The API's base URL.
    pub base_url: String,
    /// Access tier: `free`, `basic`, `pro` or `pay_per_use`.
    pub tier: String,
    /// Mentions reads allowed per 15 minutes, when the plan differs from the tier's (0: tier's).
    pub mentions_per_15min: u32,
    /// Searches allowed per 15 minutes (0: tier's).
    pub search_per_15min: u32,
    /// Posts allowed per 15 minutes (0: tier's).
    pub posts_per_15min: u32,
    /// A recent-search query read besides the mentions; empty: mentions only.
    pub search: String,
    /// The host account's X user id; empty: looked up.
    #[serde(deserialize_with = "domain::secret::text")]
    pub host_user_id: String,
    /// OAuth 1.0a consumer (API) key.
    pub consumer_key: Secret,
    /// OAuth 1.0a consumer (API) key secret.
    pub consumer_secret: Secret,
    /// OAuth 1.0a access token of the host account.
    pub access_token: Secret,
    /// OAuth 1.0a access token secret of the host account.
    pub access_token_secret: Secret,
    /// App-only bearer token for reading.
    pub bearer_token: Secret,
    /// Log tweets instead of posting them.
    pub dry_run: bool,
    /// Hold outgoing tweets until an operator approves them.
    pub approve_tweets: bool,
    /// Request timeout, seconds.
    pub timeout_secs: u64,
}

impl Default for XConfig {
    fn default() -> Self {
        XConfig {
            enabled: false,
            base_url: "https://api.x.com".into(),
            tier: "basic".into(),
            mentions_per_15min: 0,
            search_per_15min: 0,
            posts_per_15min: 0,
            search: String::new(),
            host_user_id: String::new(),
            consumer_key: Secret::default(),
            consumer_secret: Secret::default(),
            access_token: Secret::default(),
            access_token_secret: Secret::default(),
            bearer_token: Secret::default(),
            dry_run: false,
            approve_tweets: false,
            timeout_secs: 15,
        }
    }
}

impl XConfig {
    /// The rate plan: the tier's, with any per-endpoint overrides.
    pub fn plan(&self) -> Result<x::pace::Plan, String> {
        let mut plan = x::pace::Plan::for_tier(&self.tier)?;
        let quarter = std::time::Duration::from_secs(15 * 60);
        let set = |b: &mut x::pace::Budget, n: u32| {
            if n > 0 {
                *b = x::pace::Budget {
                    requests: n,
                    window: quarter,
                };
            }
        };
        set(&mut plan.mentions, self.mentions_per_15min);
        set(&mut plan.search, self.search_per_15min);
        set(&mut plan.posts, self.posts_per_15min);
        Ok(plan)
    }

    /// The credentials, checked for completeness.
    pub fn credentials(&self) -> Result<x::api::Credentials, String> {
        let parts = [
            &self.consumer_key,
            &self.consumer_secret,
            &self.access_token,
            &self.access_token_secret,
        ];
        let set = parts.iter().filter(|p| !p.is_empty()).count();
        let user = match set {
            4 => Some(x::oauth::UserCredentials {
                consumer_key: self.consumer_key.clone(),
                consumer_secret: self.consumer_secret.clone(),
                access_token: self.access_token.clone(),
                access_token_secret: self.access_token_secret.clone(),
            }),
            0 => None,
            _ => {
                return Err(
                    "x: give all four of consumer_key, consumer_secret, access_token and access_token_secret (or none)"
                        .into(),
                );
            }
        };
        if user.is_none() && self.bearer_token.is_empty() {
            return Err("x.enabled needs credentials: the four OAuth 1.0a user keys (to post) and/or a bearer_token (to read only)".into());
        }
        Ok(x::api::Credentials {
            user,
            bearer: self.bearer_token.clone(),
        })
    }
}

/// Announcements and reminders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Announce the last this-many minutes of each auction (0: never).
    pub final_minutes: u32,
    /// Remind those who asked this many minutes before an auction opens.
    pub remind_minutes: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            final_minutes: 10,
            remind_minutes: 15,
        }
    }
}

/// The chain: escrow deposits, token custody, settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// Watch escrow, check custody and settle sales on chain.
    pub enabled: bool,
    /// JSON-RPC providers, tried in order.
    pub rpc_urls: Vec<Secret>,
    /// The chain's id (Shape 360, Shape Sepolia 11011).
    pub chain_id: u64,
    /// Confirmations before a deposit is credited or a transaction counts as done.
    pub confirmations: u64,
    /// Seconds between looks at the chain.
    pub poll_secs: u64,
    /// Request timeout, seconds.
    pub timeout_secs: u64,
    /// The custody wallet's keystore (standard JSON keystore).
    pub keystore: PathBuf,
    /// A file holding the keystore's passphrase.
    pub keystore_passphrase_file: PathBuf,
    /// The keystore's passphrase (prefer the environment or the file).
    pub keystore_passphrase: Secret,
    /// Where winning amounts are paid.
    pub treasury: String,
    /// First block watched on the very first start (0: the head then).
    pub start_block: u64,
    /// Seconds between custody checks.
    pub custody_check_secs: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            enabled: false,
            rpc_urls: Vec::new(),
            chain_id: 360,
            confirmations: 12,
            poll_secs: 2,
            timeout_secs: 10,
            keystore: PathBuf::new(),
            keystore_passphrase_file: PathBuf::new(),
            keystore_passphrase: Secret::default(),
            treasury: String::new(),
            start_block: 0,
            custody_check_secs: 60,
        }
    }
}

impl ChainConfig {
    /// The treasury address.
    pub fn treasury_address(&self) -> Result<store::Address, String> {
        let a: store::Address = self
            .treasury
            .trim()
            .parse()
            .map_err(|e| format!("chain.treasury: {e}"))?;
        if a == store::Address::default() {
            return Err("chain.treasury must not be the zero address".into());
        }
        Ok(a)
    }

    /// The keystore passphrase, from the file when one is named, else the setting.
    pub fn passphrase(&self) -> Result<Secret, String> {
        if self.keystore_passphrase_file.as_os_str().is_empty() {
            if self.keystore_passphrase.is_empty() {
                return Err("give the keystore passphrase in chain.keystore_passphrase_file or SOTHEBAIS_CHAIN__KEYSTORE_PASSPHRASE".into());
            }
            return Ok(self.keystore_passphrase.clone());
        }
        let text = std::fs::read_to_string(&self.keystore_passphrase_file).map_err(|e| {
            format!(
                "cannot read chain.keystore_passphrase_file {}: {e}",
                self.keystore_passphrase_file.display()
            )
        })?;
        Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
    }

    fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.rpc_urls.is_empty() {
            return Err("chain.enabled needs chain.rpc_urls".into());
        }
        if self.keystore.as_os_str().is_empty() {
            return Err("chain.enabled needs chain.keystore (the custody wallet)".into());
        }
        self.treasury_address()?;
        if !(1..=1000).contains(&self.confirmations) {
            return Err("chain.confirmations must be 1 to 1000".into());
        }
        if !(1..=3600).contains(&self.poll_secs) || !(1..=600).contains(&self.timeout_secs) {
            return Err("chain.poll_secs is 1-3600 and chain.timeout_secs 1-600".into());
        }
        if !(1..=86_400).contains(&self.custody_check_secs) {
            return Err("chain.custody_check_secs must be 1 to 86400".into());
        }
        Ok(())
    }
}

/// The live stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Whether to compose and encode the stream at all.
    pub enabled: bool,
    /// Where to publish (`rtmp://host/app/key` or `rtmps://...`); empty: nowhere. Secret.
    pub url: String,
    /// `720p` or `1080p`.
    pub resolution: String,
    /// Frames per second.
    pub fps: u32,
    /// Video bit rate, kbit/s (2,000-8,000).
    pub bitrate_kbps: u32,
    /// `auto` (NVENC if present), `nvenc` or `openh264`.
    pub encoder: String,
    /// `ambience` or `silence`.
    pub audio: String,
    /// Local FLV recording: `auto` (on when there is no URL), `on` or `off`.
    pub record: String,
    /// Recording directory; empty means `<data_dir>/recordings`.
    pub record_dir: PathBuf,
    /// A new recording file every this many seconds.
    pub segment_secs: u64,
    /// Recording files kept (the oldest are removed).
    pub keep_recordings: usize,
    /// Extra CA certificates (PEM) trusted for rtmps://.
    pub ca_file: PathBuf,
    /// Accept any TLS certificate (tests against a self-signed ingest only).
    pub insecure_skip_verify: bool,
    /// Scene file; empty means the built-in scenes.
    pub scenes: PathBuf,
    /// Pictures: artwork, avatar moods, backgrounds; empty means `<data_dir>/assets`.
    pub assets_dir: PathBuf,
    /// The NVENC library.
    pub nvenc_library: PathBuf,
    /// The CUDA driver library.
    pub cuda_library: PathBuf,
}

impl Default for StreamConfig {
    fn default() -> Self {
        let nv = codec::NvencLibraries::default();
        StreamConfig {
            enabled: true,
            url: String::new(),
            resolution: "720p".into(),
            fps: 30,
            bitrate_kbps: 4500,
            encoder: "auto".into(),
            audio: "ambience".into(),
            record: "auto".into(),
            record_dir: PathBuf::new(),
            segment_secs: 900,
            keep_recordings: 96,
            ca_file: PathBuf::new(),
            insecure_skip_verify: false,
            scenes: PathBuf::new(),
            assets_dir: PathBuf::new(),
            nvenc_library: nv.encode,
            cuda_library: nv.cuda,
        }
    }
}

impl Config {
    /// The asset directory.
    pub fn assets_dir(&self) -> PathBuf {
        if self.stream.assets_dir.as_os_str().is_empty() {
            self.data_dir.join("assets")
        } else {
            self.stream.assets_dir.clone()
        }
    }

    /// The scenes: the configured file, or the built-in ones.
    pub fn scenes(&self) -> Result<scene::SceneSet, String> {
        if self.stream.scenes.as_os_str().is_empty() {
            return Ok(scene::SceneSet::builtin());
        }
        let path = &self.stream.scenes;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the scene file {}: {e}", path.display()))?;
        scene::SceneSet::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Everything the stream needs; `duration_secs` limits it to that much stream time.
    pub fn stream_settings(
        &self,
        duration_secs: Option<u64>,
    ) -> Result<stream::StreamSettings, String> {
        let s = &self.stream;
        let (width, height) = match s.resolution.as_str() {
            "720p" => (1280, 720),
            "1080p" => (1920, 1080),
            other => return Err(format!("stream.resolution {other:?}: use 720p or 1080p")),
        };
        let video = codec::VideoSettings {
            width,
            height,
            fps: s.fps,
            bitrate_kbps: s.bitrate_kbps,
            keyframe_secs: 2,
            threads: 2,
            nvenc: codec::NvencLibraries {
                encode: s.nvenc_library.clone(),
                cuda: s.cuda_library.clone(),
            },
        };
        video.validate().map_err(|e| format!("stream: {e}"))?;
        let encoder: codec::EncoderChoice = s
            .encoder
            .parse()
            .map_err(|e| format!("stream.encoder: {e}"))?;
        let audio: codec::AudioBedKind =
            s.audio.parse().map_err(|e| format!("stream.audio: {e}"))?;
        let publish = if s.url.is_empty() {
            None
        } else {
            let target = rtmp::Target::parse(&s.url).map_err(|e| e.to_string())?;
            Some(rtmp::PublisherConfig {
                target,
                tls: rtmp::TlsOptions {
                    ca_file: (!s.ca_file.as_os_str().is_empty()).then(|| s.ca_file.clone()),
                    insecure_skip_verify: s.insecure_skip_verify,
                },
                backoff: rtmp::Backoff::default(),
                timeout: std::time::Duration::from_secs(10),
            })
        };
        let record = match s.record.as_str() {
            "on" => true,
            "off" => false,
            "auto" => publish.is_none(),
            other => return Err(format!("stream.record {other:?}: use auto, on or off")),
        };
        let record = record.then(|| rtmp::RecorderConfig {
            dir: if s.record_dir.as_os_str().is_empty() {
                self.data_dir.join("recordings")
            } else {
                s.record_dir.clone()
            },
            segment_secs: s.segment_secs.max(10),
            keep: s.keep_recordings.max(1),
        });
        Ok(stream::StreamSettings {
            frames: duration_secs.map(|d| d * u64::from(s.fps)),
            video,
            encoder,
            audio,
            audio_kbps: 128,
            scenes: self.scenes()?,
            assets_dir: self.assets_dir(),
            publish,
            record,
        })
    }
}

/// Log output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,appliance::sim=debug`. `RUST_LOG` wins if set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// Engine tuning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    /// Most commands committed in one durable transaction.
    pub max_batch: usize,
    /// Commands that may wait before senders are slowed down.
    pub queue_capacity: usize,
}

impl Default for EngineSection {
    fn default() -> Self {
        let d = domain::engine::EngineConfig::default();
        EngineSection {
            max_batch: d.max_batch,
            queue_capacity: d.queue_capacity,
        }
    }
}

/// The LAN admin page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// Whether `appliance run` serves it.
    pub enabled: bool,
    /// HTTPS address.
    pub listen: String,
    /// Plain-HTTP address that only redirects to HTTPS; empty: none.
    pub redirect_listen: String,
    /// Extra names and addresses for the certificate (the host name, `localhost`, 127.0.0.1
    /// and ::1 are always in it).
    pub cert_names: Vec<String>,
    /// Minutes a session lives unused.
    pub session_idle_mins: u64,
    /// Hours a session lives at most.
    pub session_max_hours: u64,
    /// Largest upload, in MiB.
    pub max_upload_mib: u64,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            enabled: true,
            listen: "0.0.0.0:8443".into(),
            redirect_listen: "0.0.0.0:8080".into(),
            cert_names: Vec::new(),
            session_idle_mins: 30,
            session_max_hours: 12,
            max_upload_mib: 16,
        }
    }
}

impl WebSection {
    /// Checks the addresses and limits.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| format!("web.listen {:?}: {e}", self.listen))?;
        if !self.redirect_listen.is_empty() {
            self.redirect_listen
                .parse::<std::net::SocketAddr>()
                .map_err(|e| format!("web.redirect_listen {:?}: {e}", self.redirect_listen))?;
        }
        if !(1..=24 * 60).contains(&self.session_idle_mins)
            || !(1..=24 * 7).contains(&self.session_max_hours)
        {
            return Err(
                "web.session_idle_mins is 1 to 1440 and web.session_max_hours 1 to 168".into(),
            );
        }
        if !(1..=256).contains(&self.max_upload_mib) {
            return Err("web.max_upload_mib is 1 to 256".into());
        }
        Ok(())
    }
}

/// Settings that are secrets: the page and the API only say whether they are set.
pub const SECRET_KEYS: &[&str] = &[
    "stream.url",
    "x.consumer_key",
    "x.consumer_secret",
    "x.access_token",
    "x.access_token_secret",
    "x.bearer_token",
    "chain.rpc_urls",
    "chain.keystore_passphrase",
];

/// The file in the data directory that holds settings saved from the admin page. It is read
/// after the configuration file and before the environment, so the environment still wins.
pub const SETTINGS_FILE: &str = "settings.toml";

/// The control socket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Socket path; empty means `<data_dir>/control.sock`.
    pub socket: PathBuf,
}

/// The built-in simulated bidders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulationConfig {
    /// Whether simulated bidders take part.
    pub enabled: bool,
    /// How many.
    pub bidders: u32,
    /// Seed for their behaviour; 0 picks one at random.
    pub seed: u64,
    /// Mean seconds between a bidder's actions; 0 scales with the auction (its length / 120).
    pub think_secs: u32,
    /// With no campaign configured, an empty database starts with the demo campaign.
    pub demo_campaign: bool,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            enabled: true,
            bidders: 10,
            seed: 0,
            think_secs: 0,
            demo_campaign: true,
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
        if self.stream.enabled {
            self.stream_settings(None)?;
        }
        if self.x.enabled {
            self.x.credentials()?;
            self.x.plan()?;
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
        Ok(())
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
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_documented_file_is_exactly_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("appliance.toml");
        std::fs::write(&path, DOCUMENTED).unwrap();
        assert_eq!(Config::load(Some(&path), []).unwrap(), Config::default());
    }

    #[test]
    fn every_default_key_is_documented() {
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
            if let toml::Value::Table(t) = v {
                for (k, v) in t {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    keys(&path, v, out);
                    out.push(path);
                }
            }
        }
        let mut all = Vec::new();
        keys("", &defaults, &mut all);
        for key in all {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(
                DOCUMENTED
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{leaf} ="))
                        || l.trim_start().starts_with(&format!("[{key}]"))),
                "{key} is not in appliance.toml"
            );
        }
    }

    #[test]
    fn environment_overrides_apply_with_types() {
        let c = Config::load(
            None,
            env(&[
                ("SOTHEBAIS_DATA_DIR", "/var/lib/sothebais"),
                ("SOTHEBAIS_LOG__FORMAT", "json"),
                ("SOTHEBAIS_ENGINE__MAX_BATCH", "64"),
                ("SOTHEBAIS_SIMULATION__ENABLED", "false"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/sothebais"));
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.engine.max_batch, 64);
        assert!(!c.simulation.enabled);
    }

    #[test]
    fn unknown_or_bad_keys_are_clear_errors() {
        let e = Config::load(None, env(&[("SOTHEBAIS_ENGINE__MAX_BATHC", "3")])).unwrap_err();
        assert!(e.contains("max_bathc"), "{e}");
        let e = Config::load(None, env(&[("SOTHEBAIS_ENGINE__MAX_BATCH", "0")])).unwrap_err();
        assert!(e.contains("max_batch"), "{e}");
        let e = Config::load(None, env(&[("SOTHEBAIS_LOG__FORMAT", "xml")])).unwrap_err();
        assert!(e.contains("xml") || e.contains("variant"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "data_dir = [").unwrap();
        assert!(
            Config::load(Some(&path), [])
                .unwrap_err()
                .contains("not valid TOML")
        );
    }

    #[test]
    fn a_campaign_can_be_configured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"
[campaign]
name = "Genesis"
start_date = "2026-12-01"
days = 2
timezone = "America/New_York"
host_handle = "SothebAIs"
items = [{ name = "Genesis #1" }, { name = "Genesis #2", artist = "Ada" }]
[campaign.windows]
pre_auction_start = "00:00"
auction_start = "15:00"
auction_end = "17:00"
post_auction_end = "23:59"
[campaign.rules]
reserve = "250000000000000000"
"#,
        )
        .unwrap();
        let c = Config::load(Some(&path), []).unwrap();
        let spec = c.campaign.unwrap();
        assert_eq!(spec.windows.auction_start.to_string(), "15:00");
        assert_eq!(spec.rules.reserve, store::Wei(250_000_000_000_000_000));
        assert_eq!(
            spec.rules.extension_secs, 300,
            "unset rules keep their defaults"
        );
        assert_eq!(spec.items[1].artist, "Ada");
    }
}
