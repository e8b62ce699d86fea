//! The appliance against a real EVM node (Hardhat, OP-stack, chain id 360): the whole cycle of
//! linked wallets, escrow deposits, tweeted bids, settlement on chain and refunds; deposits in
//! reorganised blocks; a dead first RPC provider; and a SIGKILL between signing a settlement
//! transaction and its receipt.

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::Running;
use common::chain::{ACCOUNTS, ETH, Hardhat, custody_keystore};
use common::xapi::XApi;
use serde_json::{Value, json};
use store::View;

/// One chain test at a time: each runs a node and an appliance, on a two-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

const HOST_ID: u64 = 1000;
const TREASURY: &str = "0x000000000000000000000000000000000000beef";

#[derive(Clone)]
struct Setup {
    config: std::path::PathBuf,
    env: Vec<(String, String)>,
    custody: String,
}

/// Configuration: a live auction of token 1 of `nft`, the chain behind a dead first provider,
/// and X at `api` when given.
fn setup(
    dir: &Path,
    hh: &Hardhat,
    nft: Option<&str>,
    api: Option<&XApi>,
    confirmations: u64,
) -> Setup {
    let path = common::config_with_live_auction(
        dir,
        store::AuctionRules {
            extension_secs: 0,
            ..common::open_rules()
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
            ("SOTHEBAIS_X__CONSUMER_KEY", "key"),
            ("SOTHEBAIS_X__CONSUMER_SECRET", "secret"),
            ("SOTHEBAIS_X__ACCESS_TOKEN", "1000-token"),
            ("SOTHEBAIS_X__ACCESS_TOKEN_SECRET", "token-secret"),
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

fn start(dir: &Path, s: &Setup, log: &str) -> Running {
    let env: Vec<(&str, &str)> = s
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Running::start(&s.config, &dir.join("data"), dir.join(log), &env)
}

fn chain_status(app: &Running) -> Value {
    app.status()["connections"]["chain"].clone()
}

fn end_auction_in(app: &Running, secs: i64) {
    let ends = (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
    app.ctl()
        .execute_ok(json!({"command": "override", "auction": 1, "ends_at": ends,
        "audit": {"actor": "test", "origin": "", "reason": "end the test auction"}}));
}

/// Alice (user 7) with her wallet linked, once the deposit watcher follows the chain.
fn alice_linked_and_watched(app: &Running, hh: &Hardhat) -> &'static str {
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
fn bob_leads_with_2_eth(app: &Running, hh: &Hardhat, custody: &str) {
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

fn link_tweet(handle: &str, key_hex: &str) -> String {
    let key = alloy_primitives::hex::decode(key_hex).unwrap();
    common::link_tweet(handle, &k256::ecdsa::SigningKey::from_slice(&key).unwrap()).0
}

#[test]
fn link_deposit_bid_win_and_receive_the_token() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let hh = Hardhat::start(&dir.path().join("hardhat.log"));
    hh.call("evm_setIntervalMining", json!([300]));
    let nft = hh.deploy_nft();
    let api = XApi::start("SothebAIs", HOST_ID);
    let (alice, bob, carol) = (2001u64, 2002u64, 2003u64);
    for (id, name) in [(alice, "alice"), (bob, "bob"), (carol, "carol")] {
        api.add_user(id, name, "2020-01-01T00:00:00.000Z");
    }
    let s = setup(dir.path(), &hh, Some(&nft), Some(&api), 3);
    hh.set_balance(&s.custody, 10 * ETH);
    let app = start(dir.path(), &s, "run.log");
    // Not in custody yet: the auction waits.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        app.status()["live_auction"].is_null(),
        "started without the token in custody"
    );
    hh.mint(&nft, &s.custody, 1);
    app.wait_until(
        Duration::from_secs(30),
        "the auction to open once in custody",
        || {
            api.posted()
                .iter()
                .any(|p| p.text.starts_with("Bidding is open"))
        },
    );

    // Wallets linked by signed tweets, then ETH sent to escrow from them.
    let links: Vec<u64> = [(alice, "alice", 1), (bob, "bob", 2), (carol, "carol", 3)]
        .iter()
        .map(|(id, name, account)| api.tweet(*id, &link_tweet(name, ACCOUNTS[*account].1), None))
        .collect();
    app.wait_until(Duration::from_secs(30), "link replies", || {
        links.iter().all(|t| !api.replies_to(*t).is_empty())
    });
    for t in &links {
        assert!(
            api.replies_to(*t)[0].contains("linked"),
            "{:?}",
            api.replies_to(*t)
        );
    }
    for (account, eth) in [(1, 3), (2, 5), (3, 1)] {
        hh.send(ACCOUNTS[account].0, &s.custody, eth * ETH, "0x");
    }
    app.wait_until(Duration::from_secs(30), "three confirmed deposits", || {
        chain_status(&app)["deposits_recorded"] == 3
    });

    let b1 = api.tweet(alice, "@SothebAIs bid 1 ETH", None);
    app.wait_until(Duration::from_secs(20), "alice's bid", || {
        !api.replies_to(b1).is_empty()
    });
    let b2 = api.tweet(bob, "@SothebAIs bid 2 ETH", None);
    app.wait_until(Duration::from_secs(20), "bob's bid", || {
        !api.replies_to(b2).is_empty()
    });
    let b3 = api.tweet(carol, "@SothebAIs bid 2.5 ETH", None);
    app.wait_until(Duration::from_secs(20), "carol's bid", || {
        !api.replies_to(b3).is_empty()
    });
    let b4 = api.tweet(alice, "@SothebAIs bid 2.5 ETH", None);
    app.wait_until(Duration::from_secs(20), "alice's raise", || {
        !api.replies_to(b4).is_empty()
    });
    let b5 = api.tweet(bob, "@SothebAIs bid 3 ETH", None);
    app.wait_until(Duration::from_secs(20), "bob's raise", || {
        !api.replies_to(b5).is_empty()
    });
    assert!(
        api.replies_to(b3)[0].contains("did not count"),
        "carol has 1 ETH in escrow"
    );
    assert!(api.replies_to(b4)[0].starts_with("@alice Your bid of 2.5 ETH"));

    // Alice, outbid, takes her unused escrow back.
    let alice_before = hh.balance(ACCOUNTS[1].0);
    let w = api.tweet(alice, "@SothebAIs withdraw", None);
    app.wait_until(Duration::from_secs(20), "the withdrawal reply", || {
        !api.replies_to(w).is_empty()
    });
    assert!(
        api.replies_to(w)[0].contains("Refunding 3 ETH"),
        "{:?}",
        api.replies_to(w)
    );
    app.wait_until(Duration::from_secs(30), "the refund on chain", || {
        hh.balance(ACCOUNTS[1].0) == alice_before + 3 * ETH
    });

    end_auction_in(&app, 2);
    app.wait_until(
        Duration::from_secs(60),
        "the token at the winner's wallet",
        || hh.owner_of(&nft, 1) == ACCOUNTS[2].0,
    );
    app.wait_until(Duration::from_secs(30), "the treasury paid", || {
        hh.balance(TREASURY) == 3 * ETH
    });
    app.wait_until(Duration::from_secs(30), "the result announced", || {
        api.posted().iter().any(|p| p.text.starts_with("SOLD:"))
    });
    let result = api
        .posted()
        .into_iter()
        .find(|p| p.text.starts_with("SOLD:"))
        .unwrap();
    assert!(result.text.contains("to @bob for 3 ETH"), "{}", result.text);

    // Everything said once: one reply per tweet answered, each notice once.
    let posted = api.posted();
    let mut texts: Vec<&str> = posted.iter().map(|p| p.text.as_str()).collect();
    texts.sort_unstable();
    let before = texts.len();
    texts.dedup();
    assert_eq!(texts.len(), before, "a text was posted twice: {posted:?}");
    for t in [b1, b2, b4, b5] {
        let accepted = api
            .replies_to(t)
            .iter()
            .filter(|r| r.contains("Your bid of"))
            .count();
        assert_eq!(accepted, 1, "{:?}", api.replies_to(t));
    }
    let chain = chain_status(&app);
    assert!(
        chain["rpc_failovers"].as_u64().unwrap() > 0,
        "the dead first provider was skipped: {chain}"
    );
    assert_eq!(
        hh.nonce(&s.custody),
        3,
        "refund, transfer, payment: {chain}"
    );
    assert!(app.terminate(Duration::from_secs(20)).success());

    // The result tweet's proof is the settlement event's hash in the log.
    let db = store::Store::open_read_only(&dir.path().join("data").join(store::DB_FILE)).unwrap();
    let r = db.read().unwrap();
    let (seq, hash) = result
        .text
        .split_once("Event log #")
        .and_then(|(_, rest)| rest.split_once(": "))
        .unwrap();
    let event = &r.events_after(seq.parse::<u64>().unwrap() - 1, 1).unwrap()[0];
    assert_eq!(alloy_primitives::hex::encode(event.hash), hash.trim());
    let transfer_tx = r
        .outbox_after(0, 1000)
        .unwrap()
        .into_iter()
        .find_map(|row| match (row.notice, row.status) {
            (store::Notice::TransferNft { .. }, store::OutboxStatus::Sent { external_id, .. }) => {
                Some(external_id)
            }
            _ => None,
        })
        .expect("the token transfer");
    drop(r);
    drop(db);
    common::assert_check(&dir.path().join("data"));
    the_log_verifies_against_its_anchor(dir.path(), &hh, &transfer_tx);
}

/// The export of the whole log matches the anchor the token transfer carried; an export with one
/// bid changed does not, whether the change is naive or every hash after it is recomputed.
fn the_log_verifies_against_its_anchor(dir: &Path, hh: &Hardhat, tx: &str) {
    let data = dir.join("data");
    let (ok, export, err) = common::appliance(&["export", "log", "--data", data.to_str().unwrap()]);
    assert!(ok, "{err}");
    let log = dir.join("log.jsonl");
    std::fs::write(&log, &export).unwrap();
    let verify = |file: &Path| {
        common::appliance(&[
            "verify",
            "--log",
            file.to_str().unwrap(),
            "--tx",
            tx,
            "--rpc",
            &hh.url,
        ])
    };
    let (ok, out, err) = verify(&log);
    assert!(ok, "{out}{err}");
    assert!(out.contains("MATCH: events #1 to #"), "{out}");
    assert!(out.contains("day 1"), "{out}");

    let mut lines: Vec<store::export::Line> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bid = lines
        .iter()
        .position(|l| matches!(l.event, store::Event::BidAccepted { .. }))
        .unwrap();
    let write = |lines: &[store::export::Line], name: &str| {
        let path = dir.join(name);
        let text: Vec<String> = lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap())
            .collect();
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
        path
    };
    // Naive: the readable amount changed.
    let mut naive = lines.clone();
    if let store::Event::BidAccepted { bid: b, .. } = &mut naive[bid].event {
        b.amount = store::Wei(b.amount.0 * 10);
    }
    let (ok, out, _) = verify(&write(&naive, "naive.jsonl"));
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("stops matching at event #{}", bid + 1)) && out.contains("NO MATCH"),
        "{out}"
    );
    // Thorough: the bytes changed and every hash after them recomputed.
    if let store::Event::BidAccepted { bid: b, .. } = &mut lines[bid].event {
        b.amount = store::Wei(b.amount.0 * 10);
    }
    let mut prev = [0u8; 32];
    for l in &mut lines {
        let payload = store::encode(&l.event);
        let hash = store::chain_hash(&prev, l.seq, store::Timestamp(l.at), &payload);
        l.prev_hash = alloy_primitives::hex::encode(prev);
        l.payload = alloy_primitives::hex::encode(&payload);
        l.hash = alloy_primitives::hex::encode(hash);
        prev = hash;
    }
    let (ok, out, _) = verify(&write(&lines, "rewritten.jsonl"));
    assert!(!ok, "{out}");
    assert!(
        out.contains("export: ") && out.contains("NO MATCH: the export's event #"),
        "{out}"
    );
}

#[test]
fn deposits_in_replaced_blocks_are_uncredited() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let hh = Hardhat::start(&dir.path().join("hardhat.log"));
    let s = setup(dir.path(), &hh, None, None, 2);
    hh.set_balance(&s.custody, ETH);
    let app = start(dir.path(), &s, "run.log");
    let alice = alice_linked_and_watched(&app, &hh);

    // A deposit confirmed (2 blocks), then its block replaced by a longer fork.
    let snapshot = hh.call("evm_snapshot", json!([]));
    hh.send(alice, &s.custody, ETH, "0x");
    hh.mine(2);
    app.wait_until(Duration::from_secs(30), "the deposit credited", || {
        chain_status(&app)["deposits_recorded"] == 1
    });
    assert_eq!(hh.call("evm_revert", json!([snapshot])), true);
    hh.send(ACCOUNTS[3].0, ACCOUNTS[2].0, 1, "0x");
    hh.mine(4);
    app.wait_until(Duration::from_secs(30), "the deposit reverted", || {
        chain_status(&app)["deposits_reverted"] == 1
    });

    // An unconfirmed deposit whose block is replaced is never credited.
    let snapshot = hh.call("evm_snapshot", json!([]));
    hh.send(alice, &s.custody, 2 * ETH, "0x");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hh.call("evm_revert", json!([snapshot])), true);
    hh.send(ACCOUNTS[3].0, ACCOUNTS[2].0, 2, "0x");
    hh.mine(4);
    // A deposit that stays.
    hh.send(alice, &s.custody, ETH / 2, "0x");
    hh.mine(3);
    app.wait_until(Duration::from_secs(30), "the lasting deposit", || {
        chain_status(&app)["deposits_recorded"] == 2
    });
    assert!(app.terminate(Duration::from_secs(20)).success());
    let db = store::Store::open_read_only(&dir.path().join("data").join(store::DB_FILE)).unwrap();
    let r = db.read().unwrap();
    let balance = r.balance(store::UserId(7)).unwrap();
    assert_eq!(
        balance.deposited,
        store::Wei(ETH / 2),
        "only the lasting deposit counts"
    );
    let deposits = r.deposits().unwrap();
    assert_eq!(deposits.len(), 2);
    assert!(r.deposit_reverted(deposits[0].id).unwrap().is_some());
    assert!(r.deposit_reverted(deposits[1].id).unwrap().is_none());
    drop(r);
    drop(db);
    common::assert_check(&dir.path().join("data"));
}

#[test]
fn a_settlement_signed_before_a_crash_happens_exactly_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let hh = Hardhat::start(&dir.path().join("hardhat.log"));
    let nft = hh.deploy_nft();
    let s = setup(dir.path(), &hh, Some(&nft), None, 1);
    hh.set_balance(&s.custody, 10 * ETH);
    hh.mint(&nft, &s.custody, 1);
    let bob = ACCOUNTS[2].0;
    let app = start(dir.path(), &s, "run1.log");
    bob_leads_with_2_eth(&app, &hh, &s.custody);

    // Nothing is mined from now on: the settlement transactions stay signed, without receipts.
    hh.call("evm_setAutomine", json!([false]));
    let nonce_before = hh.nonce(&s.custody);
    end_auction_in(&app, 1);
    let signed = |app: &Running| -> Vec<(String, String)> {
        app.outbox()
            .iter()
            .filter_map(|r| {
                let kind = r["notice"].as_object()?.keys().next()?.clone();
                let hash = r["status"]["signed"]["tx_hash"].as_str()?.to_string();
                Some((kind, hash))
            })
            .collect()
    };
    app.wait_until(
        Duration::from_secs(30),
        "both settlement transactions signed",
        || signed(&app).len() == 2,
    );
    let before_crash = signed(&app);
    app.kill();
    // The node forgets them too: only the stored bytes can bring them back.
    for (_, hash) in &before_crash {
        hh.call("hardhat_dropTransaction", json!([hash]));
        assert!(hh.call("eth_getTransactionByHash", json!([hash])).is_null());
    }
    let app = start(dir.path(), &s, "run2.log");
    app.wait_until(
        Duration::from_secs(30),
        "the same transactions broadcast again",
        || {
            before_crash
                .iter()
                .all(|(_, h)| !hh.call("eth_getTransactionByHash", json!([h])).is_null())
        },
    );
    assert_eq!(
        signed(&app),
        before_crash,
        "re-broadcast unchanged, not signed anew"
    );
    hh.call("evm_setAutomine", json!([true]));
    hh.mine(3);
    app.wait_until(Duration::from_secs(60), "the settlement confirmed", || {
        app.outbox()
            .iter()
            .all(|r| !r["status"]["signed"].is_object())
            && app.status()["live_auction"].is_null()
            && hh.owner_of(&nft, 1) == bob
    });
    hh.mine(2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        hh.nonce(&s.custody),
        nonce_before + 2,
        "exactly one transfer and one payment"
    );
    assert_eq!(hh.balance(TREASURY), 2 * ETH);
    let rows = app.outbox();
    for (kind, hash) in &before_crash {
        assert!(
            rows.iter().any(|r| r["notice"].get(kind).is_some()
                && r["status"]["sent"]["external_id"] == hash.as_str()),
            "{kind} {hash}: {rows:?}"
        );
    }
    assert!(app.terminate(Duration::from_secs(20)).success());
    common::assert_check(&dir.path().join("data"));
}

fn part(app: &Running, name: &str) -> Value {
    app.status()["connections"]["parts"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["part"] == name).cloned())
        .unwrap_or(Value::Null)
}

#[test]
fn costly_transactions_are_held_and_the_escrow_is_reconciled() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let hh = Hardhat::start(&dir.path().join("hardhat.log"));
    let nft = hh.deploy_nft();
    let mut s = setup(dir.path(), &hh, Some(&nft), None, 1);
    s.env
        .push(("SOTHEBAIS_CHAIN__RECONCILE_SECS".into(), "1".into()));
    hh.set_balance(&s.custody, 10 * ETH);
    hh.mint(&nft, &s.custody, 1);
    let bob = ACCOUNTS[2].0;
    // Fees above a cap of 1 wei per gas: nothing may be sent.
    let mut capped = s.clone();
    capped
        .env
        .push(("SOTHEBAIS_CHAIN__MAX_FEE_PER_GAS_WEI".into(), "1".into()));
    let app = start(dir.path(), &capped, "run1.log");
    bob_leads_with_2_eth(&app, &hh, &s.custody);
    let nonce_before = hh.nonce(&s.custody);
    end_auction_in(&app, 1);
    let held = |app: &Running| -> Vec<u64> {
        app.outbox()
            .iter()
            .filter(|r| r["status"] == "held")
            .filter_map(|r| r["id"].as_u64())
            .collect()
    };
    app.wait_until(Duration::from_secs(30), "both transactions held", || {
        held(&app).len() == 2
    });
    let chain = chain_status(&app);
    assert_eq!(chain["tx_held"], 2, "{chain}");
    assert!(
        chain["tx_last_error"]
            .as_str()
            .unwrap()
            .contains("chain.max_fee_per_gas_wei"),
        "{chain}"
    );
    assert_eq!(hh.nonce(&s.custody), nonce_before, "nothing was sent");

    // The wallet owes bob's 5 ETH: covered, then short when ETH leaves it behind the ledger's
    // back, then covered again.
    app.wait_until(Duration::from_secs(30), "the escrow covered", || {
        part(&app, "chain.escrow")["state"] == "ok"
            && chain_status(&app)["escrow"]["owed_wei"] == (5 * ETH).to_string()
    });
    hh.set_balance(&s.custody, 3 * ETH);
    app.wait_until(Duration::from_secs(30), "the shortfall seen", || {
        part(&app, "chain.escrow")["state"] == "degraded"
    });
    let p = part(&app, "chain.escrow");
    assert!(p["why"].as_str().unwrap().contains("2 ETH short"), "{p}");
    assert_eq!(
        chain_status(&app)["escrow"]["shortfall_wei"],
        (2 * ETH).to_string()
    );
    hh.set_balance(&s.custody, 10 * ETH);
    app.wait_until(Duration::from_secs(30), "the escrow covered again", || {
        part(&app, "chain.escrow")["state"] == "ok"
    });
    assert!(app.terminate(Duration::from_secs(20)).success());

    // Under the normal caps, the operator approves them and the sale settles.
    let app = start(dir.path(), &s, "run2.log");
    for id in held(&app) {
        app.ctl().execute_ok(
            json!({"command": "review_outbox", "id": id, "approve": true,
            "audit": {"actor": "test", "origin": "", "reason": "fees are fine now"}}),
        );
    }
    app.wait_until(Duration::from_secs(60), "the sale settled", || {
        app.status()["live_auction"].is_null()
            && hh.owner_of(&nft, 1) == bob
            && hh.balance(TREASURY) == 2 * ETH
    });
    app.wait_until(Duration::from_secs(30), "the payout counted", || {
        chain_status(&app)["escrow"]["owed_wei"] == (3 * ETH).to_string()
    });
    assert!(app.terminate(Duration::from_secs(20)).success());
    common::assert_check(&dir.path().join("data"));
}

#[test]
fn deposits_wait_for_a_quorum_of_providers() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let hh = Hardhat::start(&dir.path().join("hardhat.log"));
    // Another node with the same chain id and its own blocks: a provider that disagrees.
    let other = Hardhat::start(&dir.path().join("other.log"));
    let mut s = setup(dir.path(), &hh, None, None, 1);
    hh.set_balance(&s.custody, ETH);
    let urls = |second: &str| {
        (
            "SOTHEBAIS_CHAIN__RPC_URLS".to_string(),
            format!("[\"{}\", \"{second}\"]", hh.url),
        )
    };
    s.env.retain(|(k, _)| k != "SOTHEBAIS_CHAIN__RPC_URLS");
    s.env.push(("SOTHEBAIS_CHAIN__QUORUM".into(), "2".into()));
    let mut disputed = s.clone();
    disputed.env.push(urls(&other.url));
    let app = start(dir.path(), &disputed, "run1.log");
    let alice = alice_linked_and_watched(&app, &hh);
    hh.send(alice, &s.custody, ETH, "0x");
    hh.mine(3);
    app.wait_until(Duration::from_secs(30), "the deposit held", || {
        let p = part(&app, "chain.deposits");
        p["state"] == "degraded" && p["why"].as_str().unwrap_or("").contains("held")
    });
    let chain = chain_status(&app);
    assert_eq!(chain["deposits_recorded"], 0, "{chain}");
    assert_eq!(
        chain["pending_deposits"].as_array().map(Vec::len),
        Some(1),
        "{chain}"
    );
    let why = part(&app, "chain.deposits")["why"].clone();
    assert!(
        why.as_str().unwrap().contains("1 of the 2 providers"),
        "{why}"
    );
    assert!(app.terminate(Duration::from_secs(20)).success());

    // Two providers that agree (the same node twice): credited.
    let mut agreed = s.clone();
    agreed.env.push(urls(&format!("{}/", hh.url)));
    let app = start(dir.path(), &agreed, "run2.log");
    app.wait_until(Duration::from_secs(30), "the deposit credited", || {
        chain_status(&app)["deposits_recorded"] == 1
    });
    app.wait_until(Duration::from_secs(30), "deposits ok again", || {
        part(&app, "chain.deposits")["state"] == "ok"
    });
    assert!(app.terminate(Duration::from_secs(20)).success());
    common::assert_check(&dir.path().join("data"));
}

#[test]
fn a_stuck_underpriced_transaction_is_replaced_and_mined() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let hh = Hardhat::start(&dir.path().join("hardhat.log"));
    let nft = hh.deploy_nft();
    let mut s = setup(dir.path(), &hh, Some(&nft), None, 1);
    for (k, v) in [
        ("SOTHEBAIS_CHAIN__REPLACE_AFTER_BLOCKS", "2"),
        ("SOTHEBAIS_CHAIN__MAX_FEE_PER_GAS_WEI", "1000000000000"),
    ] {
        s.env.push((k.into(), v.into()));
    }
    hh.set_balance(&s.custody, 10 * ETH);
    hh.mint(&nft, &s.custody, 1);
    let bob = ACCOUNTS[2].0;
    let app = start(dir.path(), &s, "run.log");
    bob_leads_with_2_eth(&app, &hh, &s.custody);
    hh.call("evm_setAutomine", json!([false]));
    let nonce_before = hh.nonce(&s.custody);
    end_auction_in(&app, 1);
    let signed = |app: &Running| -> Vec<String> {
        app.outbox()
            .iter()
            .filter_map(|r| {
                r["status"]["signed"]["tx_hash"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    };
    app.wait_until(Duration::from_secs(30), "both transactions signed", || {
        signed(&app).len() == 2
    });
    let first = signed(&app);
    let offered = first
        .iter()
        .map(|h| {
            let tx = hh.call("eth_getTransactionByHash", json!([h]));
            u128::from_str_radix(
                tx["maxFeePerGas"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("0x"),
                16,
            )
            .unwrap()
        })
        .max()
        .unwrap();
    // Blocks whose base fee is above what they offer: they cannot be mined.
    let high = format!("{:#x}", offered * 4);
    let start = std::time::Instant::now();
    loop {
        hh.call("hardhat_setNextBlockBaseFeePerGas", json!([high]));
        hh.mine(1);
        let now = signed(&app);
        if now.len() == 2 && now.iter().all(|h| !first.contains(h)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never replaced: {:?}",
            app.outbox()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let replacements = signed(&app);
    hh.call("evm_setAutomine", json!([true]));
    hh.mine(3);
    app.wait_until(Duration::from_secs(60), "the sale settled", || {
        app.status()["live_auction"].is_null()
            && hh.owner_of(&nft, 1) == bob
            && hh.balance(TREASURY) == 2 * ETH
    });
    hh.mine(2);
    // Delivered by the replacements: each row is recorded as sent with its replacement's hash.
    app.wait_until(
        Duration::from_secs(30),
        "both rows sent by their replacements",
        || {
            let rows = app.outbox();
            replacements.iter().all(|h| {
                rows.iter()
                    .any(|r| r["status"]["sent"]["external_id"] == h.as_str())
            })
        },
    );
    assert_eq!(
        hh.nonce(&s.custody),
        nonce_before + 2,
        "one transfer and one payment, each once"
    );
    assert!(chain_status(&app)["tx_replaced"].as_u64().unwrap() >= 2);
    assert!(app.terminate(Duration::from_secs(20)).success());
    let db = store::Store::open_read_only(&dir.path().join("data").join(store::DB_FILE)).unwrap();
    let r = db.read().unwrap();
    let replaced: Vec<(String, String)> = r
        .events_after(0, 10_000)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            store::Event::TransactionReplaced { replaced, by, .. } => Some((replaced, by)),
            _ => None,
        })
        .collect();
    for h in &first {
        assert!(replaced.iter().any(|(old, _)| old == h), "{replaced:?}");
    }
    drop(r);
    drop(db);
    common::assert_check(&dir.path().join("data"));
}
