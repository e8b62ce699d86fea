//! The configuration turned into what each part takes: the X rate plan and credentials, the
//! chain's treasury and keystore passphrase, the stream's settings and scenes.

use std::path::PathBuf;

use domain::secret::Secret;

use super::{AlertsConfig, ChainConfig, Config, XConfig};

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

    /// Whether tweets come through the filtered stream (else by polling).
    pub fn streams(&self) -> Result<bool, String> {
        match self.intake.as_str() {
            "poll" => Ok(false),
            "auto" => Ok(!self.bearer_token.is_empty()),
            "stream" if self.bearer_token.is_empty() => Err(
                "x.intake = \"stream\" needs x.bearer_token (X's filtered stream takes the app's \
                 bearer token); set it, or x.intake = \"poll\""
                    .into(),
            ),
            "stream" => Ok(true),
            other => Err(format!("x.intake {other:?}: use auto, stream or poll")),
        }
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

impl ChainConfig {
    /// The custody wallet's address as its keystore states it (the public `address` field of a
    /// standard JSON keystore; read without the passphrase); `None` when it cannot be read.
    /// The address of the unlocked key is checked against it at start.
    pub fn keystore_address(&self) -> Option<store::Address> {
        let text = std::fs::read_to_string(&self.keystore).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let hex = json["address"].as_str()?;
        let hex = hex.strip_prefix("0x").unwrap_or(hex);
        format!("0x{hex}").parse().ok()
    }

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

    pub(super) fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.rpc_urls.is_empty() {
            return Err("chain.enabled needs chain.rpc_urls".into());
        }
        for url in &self.rpc_urls {
            egress::check_url("chain.rpc_urls", url.expose())?;
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
        if !(1..=86_400).contains(&self.reconcile_secs) {
            return Err("chain.reconcile_secs must be 1 to 86400".into());
        }
        if !(10..=500).contains(&self.fee_bump_pct) {
            return Err("chain.fee_bump_pct must be 10 to 500".into());
        }
        if self.quorum == 0 {
            return Err("chain.quorum must be at least 1".into());
        }
        if !(21_000..=30_000_000).contains(&self.max_gas) || self.max_fee_per_gas_wei == 0 {
            return Err(
                "chain.max_gas is 21000 to 30000000 and chain.max_fee_per_gas_wei above 0".into(),
            );
        }
        Ok(())
    }
}

impl AlertsConfig {
    /// The destinations configured, checked: webhooks over https (http only to this machine),
    /// e-mail only with a server, a sender and TLS.
    pub fn sinks(&self) -> Result<Vec<alert::Sink>, String> {
        let mut out = Vec::new();
        for hook in &self.webhooks {
            let text = hook.expose().trim();
            let (format, url) = match text.split_once('+') {
                Some((f, rest)) if !f.contains(':') => (f.parse::<alert::Format>()?, rest),
                _ => (alert::Format::Json, text),
            };
            egress::check_url("alerts.webhooks", url)?;
            let url = url.parse().map_err(|e| {
                format!(
                    "alerts.webhooks: {} is not a URL: {e}",
                    egress::host_of(url)
                )
            })?;
            out.push(alert::Sink::Webhook(alert::Webhook { url, format }));
        }
        if !self.email_to.is_empty() {
            if self.smtp_host.trim().is_empty() || self.email_from.trim().is_empty() {
                return Err("alerts.email_to needs alerts.smtp_host and alerts.email_from".into());
            }
            let tls = match self.smtp_tls.as_str() {
                "starttls" => alert::SmtpTls::StartTls,
                "tls" => alert::SmtpTls::Implicit,
                other => {
                    return Err(format!(
                        "alerts.smtp_tls {other:?}: expected starttls or tls (plain text is not offered)"
                    ));
                }
            };
            let extra_roots_pem = if self.smtp_ca_file.as_os_str().is_empty() {
                None
            } else {
                Some(std::fs::read(&self.smtp_ca_file).map_err(|e| {
                    format!(
                        "cannot read alerts.smtp_ca_file {}: {e}",
                        self.smtp_ca_file.display()
                    )
                })?)
            };
            let smtp = alert::Smtp {
                host: self.smtp_host.trim().to_string(),
                port: self.smtp_port,
                tls,
                credentials: (!self.smtp_user.is_empty()).then(|| {
                    (
                        self.smtp_user.clone(),
                        self.smtp_password.expose().to_string(),
                    )
                }),
                from: self.email_from.trim().to_string(),
                to: self.email_to.clone(),
                extra_roots_pem,
            };
            // The addresses are checked now, not at the first alert.
            smtp.message(
                &alert::Alert {
                    key: "check".into(),
                    level: alert::Level::Info,
                    title: "check".into(),
                    text: String::new(),
                    at: chrono::Utc::now(),
                },
                "check",
            )?;
            out.push(alert::Sink::Email(smtp));
        }
        if !(10..=86_400).contains(&self.min_interval_secs)
            || !(1..=3600).contains(&self.max_per_hour)
        {
            return Err(
                "alerts.min_interval_secs is 10 to 86400 and alerts.max_per_hour 1 to 3600".into(),
            );
        }
        Ok(out)
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
        if !matches!(s.on_air.as_str(), "schedule" | "always") {
            return Err(format!(
                "stream.on_air {:?}: use schedule or always",
                s.on_air
            ));
        }
        if s.lead_mins > 24 * 60 || s.tail_mins > 24 * 60 {
            return Err("stream.lead_mins and stream.tail_mins are at most 1440".into());
        }
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
        if !(2000..=8000).contains(&s.bitrate_kbps) {
            return Err(format!(
                "stream.bitrate_kbps {} is outside 2,000-8,000",
                s.bitrate_kbps
            ));
        }
        if !(2..=600).contains(&s.probe_secs) {
            return Err(format!(
                "stream.probe_secs {} is outside 2-600",
                s.probe_secs
            ));
        }
        let top = stream::abr::Rung {
            width,
            height,
            kbps: s.bitrate_kbps,
        };
        let ladder = if s.ladder.is_empty() {
            stream::abr::Ladder::derived(top)
        } else {
            stream::abr::Ladder::parse(&s.ladder, top).map_err(|e| format!("stream.ladder: {e}"))?
        };
        let tuning = stream::abr::Tuning {
            probe: std::time::Duration::from_secs(s.probe_secs),
            max_probe: std::time::Duration::from_secs(s.probe_secs * 8),
            ..stream::abr::Tuning::default()
        };
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
            fail_encoder_after: None,
            fail_every_encoder: false,
            standby: Default::default(),
            adaptive: s.adaptive.then_some((ladder, tuning)),
            speaker: Default::default(),
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
