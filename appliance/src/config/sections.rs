//! The sections of the configuration file, as plain data with their defaults and checks.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use domain::secret::Secret;

/// X (Twitter): reading tweets and posting replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XConfig {
    /// Read tweets from X and post replies.
    pub enabled: bool,
    /// The API's base URL.
    pub base_url: String,
    /// Access plan: `pay_per_use` (X's API since 2026), or a 2023 tier: `free`, `basic`, `pro`.
    pub tier: String,
    /// Mentions reads allowed per 15 minutes, when the plan differs from the tier's (0: tier's).
    pub mentions_per_15min: u32,
    /// Searches allowed per 15 minutes (0: tier's).
    pub search_per_15min: u32,
    /// Posts allowed per 15 minutes (0: tier's).
    pub posts_per_15min: u32,
    /// A recent-search query read besides the mentions; empty: mentions only.
    pub search: String,
    /// How tweets are read: `stream` (X's filtered stream, in real time; needs `bearer_token`),
    /// `poll` (the mentions timeline and the search, paced), or `auto` (the stream when a
    /// bearer token is set).
    pub intake: String,
    /// Seconds without data or keep-alive after which the filtered stream counts as stalled.
    pub stall_secs: u64,
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
    /// Price of one post read, millionths of a dollar.
    pub price_read_micro_usd: u64,
    /// Price of one post created.
    pub price_post_micro_usd: u64,
    /// Price of one post created with a URL.
    pub price_post_url_micro_usd: u64,
    /// This month's X budget in dollars: warned at 80 %, optional posts stop at 100 %; 0: none.
    pub monthly_budget_usd: u64,
}

impl Default for XConfig {
    fn default() -> Self {
        XConfig {
            enabled: false,
            base_url: "https://api.x.com".into(),
            tier: "pay_per_use".into(),
            mentions_per_15min: 0,
            search_per_15min: 0,
            posts_per_15min: 0,
            search: String::new(),
            intake: "auto".into(),
            stall_secs: 20,
            host_user_id: String::new(),
            consumer_key: Secret::default(),
            consumer_secret: Secret::default(),
            access_token: Secret::default(),
            access_token_secret: Secret::default(),
            bearer_token: Secret::default(),
            dry_run: false,
            approve_tweets: false,
            timeout_secs: 15,
            price_read_micro_usd: 5_000,
            price_post_micro_usd: 15_000,
            price_post_url_micro_usd: 200_000,
            monthly_budget_usd: 0,
        }
    }
}

/// Alerts to the operator: webhooks and e-mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Webhook URLs, each optionally prefixed by its format: `slack+https://…`,
    /// `discord+https://…`, `ntfy+https://ntfy.sh/topic`, or plain `https://…` for JSON.
    pub webhooks: Vec<Secret>,
    /// E-mail recipients; empty sends no e-mail.
    pub email_to: Vec<String>,
    /// The sender address.
    pub email_from: String,
    /// The SMTP server.
    pub smtp_host: String,
    /// Its port: 587 for STARTTLS, 465 for implicit TLS.
    pub smtp_port: u16,
    /// `starttls` or `tls` (implicit); plain text is not offered.
    pub smtp_tls: String,
    /// SMTP user name (empty: no authentication).
    pub smtp_user: String,
    /// SMTP password.
    pub smtp_password: Secret,
    /// A PEM file of extra root certificates, for a server with a private CA.
    pub smtp_ca_file: PathBuf,
    /// At most one alert about the same thing in this many seconds.
    pub min_interval_secs: u64,
    /// At most this many alerts per hour.
    pub max_per_hour: u32,
    /// Send a report of each auction when it is settled.
    pub daily_report: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhooks: Vec::new(),
            email_to: Vec::new(),
            email_from: String::new(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_tls: "starttls".into(),
            smtp_user: String::new(),
            smtp_password: Secret::default(),
            smtp_ca_file: PathBuf::new(),
            min_interval_secs: 900,
            max_per_hour: 20,
            daily_report: true,
        }
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
    /// Seconds between comparisons of the custody wallet's balance with the ledger's escrow.
    pub reconcile_secs: u64,
    /// The most gas one transaction may use; one that needs more is held for the operator.
    pub max_gas: u64,
    /// The highest fee per gas (wei) a transaction may offer; above it, it is held.
    pub max_fee_per_gas_wei: u64,
    /// Providers that must agree on a deposit's block before it is credited (at most the
    /// number of providers configured).
    pub quorum: usize,
    /// A transaction not mined this many blocks after it was broadcast is replaced by the same
    /// one with a higher fee (0: never).
    pub replace_after_blocks: u64,
    /// How much higher the replacement's fees are, percent (at least 10).
    pub fee_bump_pct: u64,
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
            reconcile_secs: 60,
            max_gas: 1_000_000,
            max_fee_per_gas_wei: 10_000_000_000,
            quorum: 2,
            replace_after_blocks: 30,
            fee_bump_pct: 25,
        }
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
    /// Video bit rate, kbit/s (2,000-8,000): the top of the ladder.
    pub bitrate_kbps: u32,
    /// Adaptive bitrate: step down the ladder when the uplink cannot keep up, back up when it
    /// can. Off: the configured rate always (a slow uplink then costs whole GOPs).
    pub adaptive: bool,
    /// The ladder, top first, e.g. `["1080p@6000", "1080p@4000", "720p@2500", "720p@1200"]`;
    /// the top is `resolution@bitrate_kbps`. Empty: two thirds per step down to ~400 kbit/s,
    /// 1080p moving to 720p from the third rung.
    pub ladder: Vec<String>,
    /// Seconds the uplink must keep up before a step back up is tried (doubling, up to eight
    /// times, after a try that failed).
    pub probe_secs: u64,
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
    /// `schedule`: on air from `lead_mins` before each auction opens until `tail_mins` after
    /// its result; `always`: all the time. The operator can start or stop it by hand either way.
    pub on_air: String,
    /// Minutes on air before an auction opens (the "starting soon" picture).
    pub lead_mins: u64,
    /// Minutes on air after an auction's result.
    pub tail_mins: u64,
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
            adaptive: true,
            ladder: Vec::new(),
            probe_secs: 20,
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
            on_air: "schedule".into(),
            lead_mins: 15,
            tail_mins: 15,
        }
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
    "alerts.webhooks",
    "alerts.smtp_password",
    "host.llm_key",
];

/// The file in the data directory that holds settings saved from the admin page. It is read
/// after the configuration file and before the environment, so the environment still wins.
pub const SETTINGS_FILE: &str = "settings.toml";

/// Scheduled backups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Seconds between backups; 0 turns them off.
    pub every_secs: u64,
    /// Where they go; empty means `<data_dir>/backups`.
    pub dir: PathBuf,
    /// Regular backups kept.
    pub keep: usize,
    /// Daily backups kept (the first backup of each UTC day).
    pub keep_daily: usize,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            every_secs: 3600,
            dir: PathBuf::new(),
            keep: 24,
            keep_daily: 30,
        }
    }
}

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

/// The AI host: its character, its voice and the model that writes its lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Whether the host reacts to the auction (mood, lines, voice).
    pub enabled: bool,
    /// The character file (TOML); empty: the demo's character.
    pub character: PathBuf,
    /// Whether the host's lines are spoken on the stream (else captions only).
    pub speak: bool,
    /// The language model's base URL (OpenAI-compatible chat completions); empty: the
    /// built-in templates write every line.
    pub llm_url: String,
    /// The model's name.
    pub llm_model: String,
    /// The model's API key; empty for a local server without one.
    pub llm_key: Secret,
    /// The longest a model may take for a line, milliseconds; past it a template speaks.
    pub llm_timeout_ms: u64,
    /// Tokens the model may use per hour (prompts and answers); 0: no limit.
    pub llm_tokens_per_hour: u64,
    /// What the model's provider charges, US dollars per million tokens; 0: free (a model on
    /// the box).
    pub llm_usd_per_million_tokens: f64,
    /// US dollars the model may cost per hour (with the price above); 0: no limit.
    pub llm_usd_per_hour: f64,
    /// Seconds without a bid after which the host remarks on the quiet.
    pub quiet_secs: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            enabled: true,
            character: PathBuf::new(),
            speak: true,
            llm_url: String::new(),
            llm_model: String::new(),
            llm_key: Secret::default(),
            llm_timeout_ms: 2000,
            llm_tokens_per_hour: 50_000,
            llm_usd_per_million_tokens: 0.0,
            llm_usd_per_hour: 0.0,
            quiet_secs: 90,
        }
    }
}

impl HostConfig {
    /// Checks the values that have limits.
    pub fn validate(&self) -> Result<(), String> {
        if !(100..=30_000).contains(&self.llm_timeout_ms) {
            return Err("host.llm_timeout_ms must be 100 to 30000".into());
        }
        if !(10..=3600).contains(&self.quiet_secs) {
            return Err("host.quiet_secs must be 10 to 3600".into());
        }
        for (key, v) in [
            (
                "host.llm_usd_per_million_tokens",
                self.llm_usd_per_million_tokens,
            ),
            ("host.llm_usd_per_hour", self.llm_usd_per_hour),
        ] {
            if !(v.is_finite() && (0.0..=10_000.0).contains(&v)) {
                return Err(format!("{key} must be 0 to 10000 (US dollars)"));
            }
        }
        if self.llm_usd_per_hour > 0.0 && self.llm_usd_per_million_tokens == 0.0 {
            return Err(
                "host.llm_usd_per_hour needs host.llm_usd_per_million_tokens (the price) to count spend"
                    .into(),
            );
        }
        if !self.llm_url.is_empty() {
            if !(self.llm_url.starts_with("http://") || self.llm_url.starts_with("https://")) {
                return Err(format!(
                    "host.llm_url {:?} must start with http:// or https://",
                    self.llm_url
                ));
            }
            if self.llm_model.is_empty() {
                return Err("host.llm_model must name the model when host.llm_url is set".into());
            }
        }
        Ok(())
    }
}

/// Self-update from signed releases (`appliance update`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateConfig {
    /// Where releases are listed: the base of GitHub's REST API (or a mirror's on the LAN), or a
    /// directory holding `releases.json` (GitHub's shape) and the release files.
    pub url: String,
    /// The GitHub repository, `owner/name`.
    pub repo: String,
    /// The ed25519 public keys (64 hex digits each) a release file must be signed by.
    pub public_keys: Vec<String>,
    /// The binary slots (`a`, `b`, the `current` link the service runs).
    pub slots: PathBuf,
    /// Seconds a new version has to prove healthy before it is rolled back.
    pub health_secs: u64,
    /// Run after a new version is switched to, to restart the service into it; empty: none
    /// (whoever runs the appliance restarts it).
    pub restart: String,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            url: "https://api.github.com".into(),
            repo: String::new(),
            public_keys: Vec::new(),
            slots: PathBuf::from("/opt/sothebais/slots"),
            health_secs: 60,
            restart: "systemctl restart sothebais.service".into(),
        }
    }
}

impl UpdateConfig {
    /// Checks the values that have limits.
    pub fn validate(&self) -> Result<(), String> {
        if !(10..=600).contains(&self.health_secs) {
            return Err("update.health_secs must be 10 to 600".into());
        }
        Ok(())
    }
}
