//! The appliance as the marathon sets it up: the campaign (one lot a day, each a token in
//! custody), its configuration against the local peers, the environment that carries the
//! secrets and the shared clock, and the operator's account.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use appliance::config::Config;
use store::{AuctionRules, TimeOfDay, WindowPlan};

use crate::Args;
use crate::crowd::{HOST, HOST_ID};

/// The campaign's time zone.
pub const ZONE: &str = "America/New_York";

/// Where the appliance's peers are, and what it signs with.
pub struct Peers<'a> {
    /// Its data directory.
    pub data: &'a Path,
    /// The admin page's port.
    pub web_port: u16,
    /// The ingest's URL.
    pub rtmp: String,
    /// The X stand-in.
    pub x: &'a str,
    /// The model stand-in.
    pub model: &'a str,
    /// The custody keystore.
    pub keystore: PathBuf,
    /// The file with its passphrase.
    pub passphrase: PathBuf,
    /// Where the sales go.
    pub treasury: &'a str,
}

/// Each day: the pre-auction window from midnight, the auction from 10:00 for
/// `--auction-minutes`, the post-auction window for `--post-minutes` (to 23:59 at most).
pub fn windows(args: &Args) -> anyhow::Result<WindowPlan> {
    const OPENS: u32 = 10 * 60;
    const LAST: u32 = 23 * 60 + 59;
    let at =
        |minute: u32| TimeOfDay::new((minute / 60) as u8, (minute % 60) as u8).context("a time");
    if args.auction_minutes == 0 || OPENS + args.auction_minutes >= LAST {
        bail!("--auction-minutes must be 1 to {}", LAST - OPENS - 1);
    }
    if args.lead_minutes == 0 || args.lead_minutes > OPENS {
        bail!("--lead-minutes must be 1 to {OPENS}");
    }
    let closes = OPENS + args.auction_minutes;
    Ok(WindowPlan {
        pre_auction_start: at(0)?,
        auction_start: at(OPENS)?,
        auction_end: at(closes)?,
        post_auction_end: at((closes + args.post_minutes.max(1)).min(LAST))?,
    })
}

/// The campaign: `--days` lots from `today`, lot `d` being token `d` of `contract`.
pub fn campaign(
    args: &Args,
    today: chrono::NaiveDate,
    windows: WindowPlan,
    contract: store::Address,
) -> domain::engine::CampaignSpec {
    domain::engine::CampaignSpec {
        name: "Marathon".into(),
        start_date: today,
        days: args.days,
        timezone: ZONE.into(),
        windows,
        rules: AuctionRules::default(),
        host_handle: HOST.into(),
        items: (1..=args.days)
            .map(|d| domain::engine::ItemSpec {
                name: format!("Marathon #{d}"),
                artist: "Ada Pixel".into(),
                image: String::new(),
                token: Some(store::TokenRef {
                    contract,
                    token_id: d.to_string(),
                }),
            })
            .collect(),
    }
}

/// The configuration: X, the chain, the ingest and the model all on this machine (the shared
/// clock refuses anything else), the stream always on, no simulated bidders, no backups of
/// its own (the marathon takes one a day).
pub fn config(args: &Args, peers: Peers<'_>, campaign: domain::engine::CampaignSpec) -> Config {
    let mut config = Config {
        data_dir: peers.data.to_path_buf(),
        campaign: Some(campaign),
        ..Config::default()
    };
    config.simulation.enabled = false;
    config.simulation.demo_campaign = false;
    config.stream.enabled = true;
    config.stream.url = peers.rtmp;
    config.stream.on_air = "always".into();
    if !args.resolution.is_empty() {
        config.stream.resolution = args.resolution.clone();
    }
    config.x.enabled = true;
    config.x.base_url = peers.x.to_string();
    config.x.tier = "pro".into();
    config.x.intake = "stream".into();
    config.x.host_user_id = HOST_ID.to_string();
    config.x.mentions_per_15min = 9000;
    config.x.posts_per_15min = 9000;
    config.x.timeout_secs = 2;
    config.chain.enabled = true;
    config.chain.chain_id = 360;
    config.chain.confirmations = 3;
    config.chain.poll_secs = 1;
    config.chain.timeout_secs = 2;
    config.chain.keystore = peers.keystore;
    config.chain.keystore_passphrase_file = peers.passphrase;
    config.chain.treasury = peers.treasury.into();
    config.chain.custody_check_secs = 1;
    config.chain.quorum = 1;
    config.web.enabled = true;
    config.web.listen = format!("127.0.0.1:{}", peers.web_port);
    config.web.redirect_listen = String::new();
    config.host.enabled = true;
    config.host.llm_url = peers.model.to_string();
    config.host.llm_model = "stand-in".into();
    config.host.llm_timeout_ms = 1500;
    config.backup.every_secs = 0;
    config
}

/// The environment: the shared clock, the RPC providers and the X credentials (as the README
/// recommends for secrets).
pub fn environment(clock: &Path, rpc: [&str; 2]) -> Vec<(String, String)> {
    vec![
        ("APPLIANCE_CLOCK".to_string(), clock.display().to_string()),
        (
            "SOTHEBAIS_CHAIN__RPC_URLS".to_string(),
            format!("[\"{}\", \"{}\"]", rpc[0], rpc[1]),
        ),
        (
            "SOTHEBAIS_X__CONSUMER_KEY".into(),
            xserver::CONSUMER_KEY.into(),
        ),
        (
            "SOTHEBAIS_X__CONSUMER_SECRET".into(),
            xserver::CONSUMER_SECRET.into(),
        ),
        (
            "SOTHEBAIS_X__ACCESS_TOKEN".into(),
            xserver::ACCESS_TOKEN.into(),
        ),
        (
            "SOTHEBAIS_X__ACCESS_TOKEN_SECRET".into(),
            xserver::ACCESS_TOKEN_SECRET.into(),
        ),
        (
            "SOTHEBAIS_X__BEARER_TOKEN".into(),
            "marathon-bearer-token".into(),
        ),
        ("SOTHEBAIS_LOG__LEVEL".into(), "info".into()),
    ]
}

/// Makes the operator's account (an admin) before the first start.
pub fn set_password(
    program: &Path,
    data: &Path,
    config: &Path,
    env: &[(String, String)],
    password: &str,
) -> anyhow::Result<()> {
    let mut set = std::process::Command::new(program)
        .args([
            "admin",
            "set-password",
            "--user",
            "operator",
            "--password-stdin",
            "--data",
        ])
        .arg(data)
        .arg("--config")
        .arg(config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    {
        use std::io::Write;
        let mut stdin = set.stdin.take().context("stdin")?;
        writeln!(stdin, "{password}")?;
    }
    if !set.wait()?.success() {
        bail!("appliance admin set-password failed");
    }
    Ok(())
}
