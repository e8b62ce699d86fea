//! The appliance on a Hardhat node for the chain tests: configuration (a live auction, the chain
//! behind a dead first provider, X when given), start, status, and the bidders' usual set-up.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::Running;
use super::chain::{ACCOUNTS, ETH, Hardhat, custody_keystore};
use super::xapi::XApi;

/// One chain test at a time: each runs a node and an appliance, on a two-core machine.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub const TREASURY: &str = "0x000000000000000000000000000000000000beef";

#[derive(Clone)]
pub struct Setup {
    pub config: std::path::PathBuf,
    pub env: Vec<(String, String)>,
    pub custody: String,
}

/// Configuration: a live auction of token 1 of `nft`, the chain behind a dead first provider,
/// and X at `api` when given.
pub fn setup(
    dir: &Path,
    hh: &Hardhat,
    nft: Option<&str>,
    api: Option<&XApi>,
    confirmations: u64,
) -> Setup {
    let path = super::config_with_live_auction(
        dir,
        store::AuctionRules {
            extension_secs: 0,
            ..super::open_rules()
        },
    );
    let mut config: appliance::config::Config =
        toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config.stream.enabled = false;
    config.simulation.enabled = false;
    if let (Some(nft), Some(campaign)) = (nft, config.campaign.as_mut()) {
        campaign.items[0].token = Some(store::TokenRef {
            contract: nft.parse().unwrap(),
            token_id: "1".into(),
        });
    }
    let (keystore, passphrase, custody) = custody_keystore(dir, 0x42);
    config.chain.enabled = true;
    config.chain.chain_id = 360;
    config.chain.confirmations = confirmations;
    config.chain.poll_secs = 1;
    config.chain.timeout_secs = 2;
    config.chain.keystore = keystore;
    config.chain.keystore_passphrase_file = passphrase;
    config.chain.treasury = TREASURY.into();
    config.chain.custody_check_secs = 1;
    // The dead first provider stands for failover; the quorum test asks for agreement itself.
    config.chain.quorum = 1;
    config.notify.final_minutes = 0;
    let mut env = vec![(
        "SOTHEBAIS_CHAIN__RPC_URLS".to_string(),
        format!("[\"http://127.0.0.1:1\", \"{}\"]", hh.url),
    )];
    if let Some(api) = api {
        config.x.enabled = true;
        config.x.base_url = api.url.clone();
        config.x.tier = "pro".into();
        config.x.mentions_per_15min = 9000;
        config.x.posts_per_15min = 9000;
        config.x.timeout_secs = 2;
        for (k, v) in [
            ("SOTHEBAIS_X__CONSUMER_KEY", super::xapi::CONSUMER_KEY),
            ("SOTHEBAIS_X__CONSUMER_SECRET", super::xapi::CONSUMER_SECRET),
            ("SOTHEBAIS_X__ACCESS_TOKEN", super::xapi::ACCESS_TOKEN),
            (
                "SOTHEBAIS_X__ACCESS_TOKEN_SECRET",
                super::xapi::ACCESS_TOKEN_SECRET,
            ),
        ] {
            env.push((k.into(), v.into()));
        }
    }
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    Setup {
        config: path,
        env,
        custody,
    }
}

pub fn start(dir: &Path, s: &Setup, log: &str) -> Running {
    let env: Vec<(&str, &str)> = s
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Running::start(&s.config, &dir.join("data"), dir.join(log), &env)
}

pub fn chain_status(app: &Running) -> Value {
    app.status()["connections"]["chain"].clone()
}

pub fn end_auction_in(app: &Running, secs: i64) {
    let ends = (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
    app.ctl()
        .execute_ok(json!({"command": "override", "auction": 1, "ends_at": ends,
        "audit": {"actor": "test", "origin": "", "reason": "end the test auction"}}));
}

/// Alice (user 7) with her wallet linked, once the deposit watcher follows the chain.
pub fn alice_linked_and_watched(app: &Running, hh: &Hardhat) -> &'static str {
    let alice = ACCOUNTS[1].0;
    {
        let mut ctl = app.ctl();
        ctl.execute_ok(json!({"command": "see_user", "id": "7", "handle": "alice",
            "account_created": "2020-01-01T00:00:00Z"}));
        ctl.execute_ok(
            json!({"command": "link_wallet", "user": "7", "address": alice, "verified": true}),
        );
    }
    hh.mine(1);
    app.wait_until(Duration::from_secs(30), "the watcher", || {
        chain_status(app)["head"].as_u64().unwrap_or(0) > 0
    });
    alice
}

/// Bob (user 8) links his wallet, deposits 5 ETH and leads the open auction with 2 ETH.
pub fn bob_leads_with_2_eth(app: &Running, hh: &Hardhat, custody: &str) {
    let bob = ACCOUNTS[2].0;
    {
        let mut ctl = app.ctl();
        ctl.execute_ok(json!({"command": "see_user", "id": "8", "handle": "bob",
            "account_created": "2020-01-01T00:00:00Z"}));
        ctl.execute_ok(
            json!({"command": "link_wallet", "user": "8", "address": bob, "verified": true}),
        );
    }
    hh.send(bob, custody, 5 * ETH, "0x");
    hh.mine(2);
    app.wait_until(
        Duration::from_secs(30),
        "the deposit and the open auction",
        || chain_status(app)["deposits_recorded"] == 1 && !app.status()["live_auction"].is_null(),
    );
    let r = app
        .ctl()
        .execute_ok(json!({"command": "place_bid", "bidder": "8",
        "amount": "2 ETH", "source": {"operator": "phone-1"}}));
    assert_eq!(r["accepted"], true, "{r}");
}

/// A part's state in the status (null if absent).
pub fn part(app: &Running, name: &str) -> Value {
    app.status()["connections"]["parts"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["part"] == name).cloned())
        .unwrap_or(Value::Null)
}
