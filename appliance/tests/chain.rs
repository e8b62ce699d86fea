//! The appliance against a real EVM node (Hardhat, OP-stack, chain id 360): the whole cycle of
//! linked wallets, escrow deposits, tweeted bids, settlement on chain and refunds, and the sale's
//! log anchor checked by `appliance verify`; deposits in reorganised blocks; a dead first RPC
//! provider; and a SIGKILL between signing a settlement transaction and its receipt.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Running;
use common::chain::{ACCOUNTS, ETH, Hardhat};
use common::chain_run::{
    SERIAL, TREASURY, alice_linked_and_watched, bob_leads_with_2_eth, chain_status, end_auction_in,
    setup, start,
};
use common::xapi::XApi;
use serde_json::json;
use store::View;

const HOST_ID: u64 = 1000;

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
