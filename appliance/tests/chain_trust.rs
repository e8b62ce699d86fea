//! Trust in the chain, on Hardhat: transactions over the cost caps held and the escrow
//! reconciled with the custody wallet; deposits waiting for a quorum of providers; a stuck
//! transaction replaced with a higher fee.

mod common;

use std::time::Duration;

use common::Running;
use common::chain::{ACCOUNTS, ETH, Hardhat};
use common::chain_run::{
    SERIAL, TREASURY, alice_linked_and_watched, bob_leads_with_2_eth, chain_status, end_auction_in,
    part, setup, start,
};
use serde_json::json;
use store::View;

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
