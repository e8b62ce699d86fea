//! The appliance against the local X API v2 server: wallets linked by signed tweets, bids by
//! tweet, replies and outbid notices posted once each (across a crash in the middle of a post),
//! rate limits and server errors honoured, cursors that survive a restart.

mod common;

use std::time::Duration;

use common::xapi::{self, XApi};
use common::{Running, wait_until};
use k256::ecdsa::SigningKey;
use serde_json::{Value, json};

const HOST_ID: u64 = 1000;
const ALICE: u64 = 2001;
const BOB: u64 = 2002;
const NEWBIE: u64 = 2003;

/// A link tweet by the wallet of key `seed`.
fn link_tweet(handle: &str, seed: u8) -> (String, store::Address) {
    common::link_tweet(handle, &SigningKey::from_slice(&[seed; 32]).unwrap())
}

fn rules() -> store::AuctionRules {
    store::AuctionRules {
        min_account_age_days: 30,
        extension_secs: 0,
        ..common::open_rules()
    }
}

/// A configuration talking to `api`, with a live auction, no stream and no simulated bidders.
fn setup(dir: &std::path::Path, api: &XApi, approve: bool) -> std::path::PathBuf {
    setup_with(dir, api, |c| c.x.approve_tweets = approve)
}

/// As [`setup`], with `change` applied last.
fn setup_with(
    dir: &std::path::Path,
    api: &XApi,
    change: impl FnOnce(&mut appliance::config::Config),
) -> std::path::PathBuf {
    let path = common::config_with_live_auction(dir, rules());
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config: appliance::config::Config = toml::from_str(&text).unwrap();
    config.stream.enabled = false;
    config.simulation.enabled = false;
    config.x.enabled = true;
    config.x.base_url = api.url.clone();
    config.x.tier = "pro".into();
    config.x.mentions_per_15min = 9000;
    config.x.search_per_15min = 9000;
    config.x.posts_per_15min = 9000;
    config.x.search = "#SothebAIs -is:retweet".into();
    config.x.timeout_secs = 2;
    change(&mut config);
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path
}

/// The credentials come from the environment, as the README recommends.
const ENV: &[(&str, &str)] = &[
    ("SOTHEBAIS_X__CONSUMER_KEY", xapi::CONSUMER_KEY),
    ("SOTHEBAIS_X__CONSUMER_SECRET", xapi::CONSUMER_SECRET),
    ("SOTHEBAIS_X__ACCESS_TOKEN", xapi::ACCESS_TOKEN),
    (
        "SOTHEBAIS_X__ACCESS_TOKEN_SECRET",
        xapi::ACCESS_TOKEN_SECRET,
    ),
];

fn start(dir: &std::path::Path, config: &std::path::Path, name: &str) -> Running {
    Running::start(config, &dir.join("data"), dir.join(name), ENV)
}

#[test]
fn tweets_bid_link_and_get_one_reply_each() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    api.add_user(ALICE, "alice", "2020-01-01T00:00:00.000Z");
    api.add_user(BOB, "bob", "2021-06-01T00:00:00.000Z");
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string();
    api.add_user(NEWBIE, "newbie", &yesterday);
    let config = setup(dir.path(), &api, false);
    let app = start(dir.path(), &config, "run1.log");

    // The opening announcement is posted (the auction opened at start).
    wait_until(Duration::from_secs(20), "the opening announcement", || {
        api.posted()
            .iter()
            .any(|p| p.text.starts_with("Bidding is open"))
    });

    // Wallets are linked by signed tweets; deposits come from the chain in production (here the
    // ledger takes them from the operator).
    let (alice_link, alice_wallet) = link_tweet("alice", 1);
    let (bob_link, bob_wallet) = link_tweet("bob", 2);
    let l1 = api.tweet(ALICE, &alice_link, None);
    let l2 = api.tweet(BOB, &bob_link, None);
    wait_until(Duration::from_secs(20), "link replies", || {
        !api.replies_to(l1).is_empty() && !api.replies_to(l2).is_empty()
    });
    assert!(
        api.replies_to(l1)[0].contains("linked"),
        "{:?}",
        api.replies_to(l1)
    );
    {
        let mut ctl = app.ctl();
        for (wallet, reference) in [(alice_wallet, "a"), (bob_wallet, "b")] {
            ctl.execute_ok(
                json!({"command": "record_deposit", "from": wallet.to_string(),
                "amount": "5 ETH", "reference": format!("0xfund{reference}")}),
            );
        }
    }

    let b1 = api.tweet(ALICE, "@SothebAIs bid 1 ETH", None);
    wait_until(Duration::from_secs(20), "a reply to alice's bid", || {
        !api.replies_to(b1).is_empty()
    });
    let b2 = api.tweet(BOB, "@SothebAIs bid 1.5 ETH #SothebAIs", None);
    let b3 = api.tweet(NEWBIE, "@SothebAIs bid 9 ETH", None);
    let b4 = api.tweet(ALICE, "@SothebAIs bid １ ETH", None);
    let q = api.tweet(BOB, "@SothebAIs who painted this?", None);
    let edited = api.edit(b1, "@SothebAIs bid 7 ETH");
    wait_until(Duration::from_secs(20), "replies to every bid", || {
        [b2, b3, b4, edited]
            .iter()
            .all(|t| !api.replies_to(*t).is_empty())
            && api.replies_to(b1).len() >= 2
    });
    let alice = api.replies_to(b1);
    assert!(
        alice[0].starts_with("@alice Your bid of 1 ETH"),
        "{alice:?}"
    );
    assert!(
        alice
            .iter()
            .any(|t| t.starts_with("@alice You were outbid") && t.contains("1.5 ETH leads")),
        "the previous leader hears of the new bid: {alice:?}"
    );
    assert!(api.replies_to(b2)[0].starts_with("@bob Your bid of 1.5 ETH"));
    assert!(
        api.replies_to(b3)[0].contains("at least 30 days old"),
        "{:?}",
        api.replies_to(b3)
    );
    assert!(
        api.replies_to(b4)[0].contains("not a plain 0-9 digit"),
        "{:?}",
        api.replies_to(b4)
    );
    assert!(api.replies_to(edited)[0].contains("Edited tweets do not count"));
    // The host answers the question, once, from the facts (the artist).
    wait_until(Duration::from_secs(20), "the host's answer", || {
        !api.replies_to(q).is_empty()
    });
    let answer = api.replies_to(q);
    assert!(
        answer.len() == 1 && answer[0].starts_with("@bob ") && answer[0].contains(" is by "),
        "{answer:?}"
    );

    // Everything the appliance said: within 280 characters, never the same text twice in a row,
    // and one reply per outbox row.
    std::thread::sleep(Duration::from_secs(2));
    let posted = api.posted();
    for p in &posted {
        assert!(p.text.chars().count() <= 280, "{}", p.text);
    }
    for pair in posted.windows(2) {
        assert_ne!(pair[0].text, pair[1].text);
    }
    let rows = app.outbox();
    let sent: Vec<&Value> = rows
        .iter()
        .filter(|r| r["status"]["sent"].is_object())
        .collect();
    assert_eq!(
        sent.len(),
        posted.len(),
        "one post per delivered row: {rows:?}"
    );
    let mut ids: Vec<&str> = sent
        .iter()
        .map(|r| r["status"]["sent"]["external_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), posted.len());

    // A restart reads from the stored cursors: nothing is taken in or answered again.
    let before = api.posted().len();
    let status = app.terminate(Duration::from_secs(20));
    assert!(status.success());
    let app = start(dir.path(), &config, "run2.log");
    let late = api.tweet(BOB, "@SothebAIs bid 2 ETH", None);
    wait_until(Duration::from_secs(20), "the new bid's reply", || {
        !api.replies_to(late).is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    let after = api.posted();
    // The new bid's reply, alice's outbid notice... and nothing repeated.
    let repeated: Vec<_> = after[before..]
        .iter()
        .filter(|p| ![Some(late), Some(b1)].contains(&p.reply_to))
        .collect();
    assert!(repeated.is_empty(), "repeated after restart: {repeated:?}");
    let status = app.status();
    let polls = &status["connections"]["x_polls"];
    assert_eq!(polls.as_array().unwrap().len(), 2, "{status}");
    drop(app);
    common::assert_check(&dir.path().join("data"));
}

/// A bid's reply reaches X, but X answers only after 30 s and the appliance is killed meanwhile
/// (the host's timeline showing posts `lag` late, the first lookups after the restart answered
/// `503`s); the restarted appliance records the row as sent, having posted it exactly once.
fn crash_in_the_middle_of_a_post(lag: Duration, lookups_failing: &[u16]) {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    api.add_user(ALICE, "alice", "2020-01-01T00:00:00.000Z");
    let config = setup(dir.path(), &api, false);
    let app = start(dir.path(), &config, "run1.log");
    wait_until(Duration::from_secs(20), "the opening announcement", || {
        !api.posted().is_empty()
    });
    api.lag_timeline(lag);
    api.delay_posts(Duration::from_secs(30));
    let bid = api.tweet(ALICE, "@SothebAIs bid 1 ETH", None);
    wait_until(Duration::from_secs(20), "the reply reaching X", || {
        !api.replies_to(bid).is_empty()
    });
    app.kill();
    api.delay_posts(Duration::ZERO);
    api.fail_next("user_tweets", lookups_failing);
    let app = start(dir.path(), &config, "run2.log");
    wait_until(Duration::from_secs(40), "the row recorded as sent", || {
        app.outbox()
            .iter()
            .any(|r| r["notice"]["bid_rejected"].is_object() && r["status"]["sent"].is_object())
    });
    assert_eq!(api.replies_to(bid).len(), 1, "posted exactly once");
    assert!(
        api.requests("user_tweets") >= 2,
        "looked for it on the timeline"
    );
}

#[test]
fn a_post_cut_short_by_a_crash_is_found_not_repeated() {
    // Server trouble on the first tries after the restart: retried with back-off.
    crash_in_the_middle_of_a_post(Duration::ZERO, &[503]);
}

/// The host's timeline shows posts 8 s late: the restarted appliance does not take "not on the
/// timeline yet" for "not posted".
#[test]
fn a_lagging_timeline_does_not_lead_to_a_second_post() {
    crash_in_the_middle_of_a_post(Duration::from_secs(8), &[]);
}

#[test]
fn rate_limits_and_server_errors_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    api.add_user(ALICE, "alice", "2020-01-01T00:00:00.000Z");
    let config = setup(dir.path(), &api, false);
    api.fail_next("mentions", &[503, 502]);
    api.fail_next("tweets", &[503]);
    let app = start(dir.path(), &config, "run.log");
    let t = api.tweet(ALICE, "@SothebAIs bid 1 ETH", None);
    wait_until(
        Duration::from_secs(30),
        "a reply despite 5xx answers",
        || !api.replies_to(t).is_empty(),
    );
    assert_eq!(api.replies_to(t).len(), 1);
    // The headers say the search window's budget is nearly spent: what is left is spread over
    // the rest of the window, never exceeded.
    let searches = api.requests("search");
    api.set_limit("search", 2);
    wait_until(Duration::from_secs(10), "another search", || {
        api.requests("search") > searches
    });
    // A 429 on the mentions: no more reads until the reset the answer names.
    api.fail_next("mentions", &[429]);
    let seen = api.requests("mentions");
    wait_until(Duration::from_secs(10), "the 429", || {
        api.requests("mentions") > seen
    });
    std::thread::sleep(Duration::from_secs(1));
    let (m, s) = (api.requests("mentions"), api.requests("search"));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        (api.requests("mentions"), api.requests("search")),
        (m, s),
        "no requests until the windows reset"
    );
    assert!(s <= searches + 2, "the window's budget was exceeded");
    let status = app.ctl().request(&json!({"op": "status"})).unwrap();
    let polls = status["reply"]["connections"]["x_polls"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        polls.iter().any(|p| p["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("rate limited")),
        "{polls:?}"
    );
}

#[test]
fn held_tweets_wait_for_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    let config = setup(dir.path(), &api, true);
    let app = start(dir.path(), &config, "run.log");
    let held = || {
        app.outbox()
            .into_iter()
            .filter(|r| r["status"] == "held")
            .collect::<Vec<_>>()
    };
    wait_until(Duration::from_secs(20), "a held announcement", || {
        !held().is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(api.posted().is_empty(), "nothing leaves before approval");
    let id = held()[0]["id"].as_u64().unwrap();
    let (ok, out, err) = common::appliance(&[
        "ctl",
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "approve",
        &id.to_string(),
        "--reason",
        "checked the text",
    ]);
    assert!(ok, "{out}{err}");
    wait_until(Duration::from_secs(20), "the approved tweet", || {
        api.posted().len() == 1
    });
}

#[test]
fn a_burst_of_tweets_is_read_across_pages_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    api.add_user(ALICE, "alice", "2020-01-01T00:00:00.000Z");
    let config = setup(dir.path(), &api, false);
    let app = start(dir.path(), &config, "run.log");
    wait_until(Duration::from_secs(20), "the first poll", || {
        api.requests("mentions") > 0
    });
    // More than two pages arrive between two polls.
    api.pause(true);
    for n in 0..250 {
        api.tweet(ALICE, &format!("@SothebAIs question {n}?"), None);
    }
    api.pause(false);
    let taken = || {
        app.status()["connections"]["x_polls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["tweets"].as_u64().unwrap())
            .sum::<u64>()
    };
    app.wait_until(Duration::from_secs(60), "all 250 tweets", || taken() >= 250);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(taken(), 250, "each taken in once");
    assert!(api.requests("mentions_pages") >= 2, "read page by page");
}

/// Links each `(id, handle, key seed)` bidder's wallet by tweet and credits it 10 ETH.
fn link_and_fund(app: &Running, api: &XApi, bidders: &[(u64, &str, u8)]) {
    let mut wallets = Vec::new();
    for (id, handle, seed) in bidders {
        api.add_user(*id, handle, "2020-01-01T00:00:00.000Z");
        let (text, wallet) = link_tweet(handle, *seed);
        api.tweet(*id, &text, None);
        wallets.push(wallet);
    }
    wait_until(Duration::from_secs(30), "the links taken in", || {
        app.outbox()
            .iter()
            .filter(|r| r["notice"]["tweet_reply"].is_object())
            .count()
            >= bidders.len()
    });
    let mut ctl = app.ctl();
    for (n, wallet) in wallets.iter().enumerate() {
        ctl.execute_ok(
            json!({"command": "record_deposit", "from": wallet.to_string(),
            "amount": "10 ETH", "reference": format!("0xfund{n}")}),
        );
    }
    // Each deposit is answered ("credited"); let those go before the test goes on.
    wait_until(Duration::from_secs(60), "the deposit notices out", || {
        let rows = app.outbox();
        let credited: Vec<_> = rows
            .iter()
            .filter(|r| r["notice"]["deposit_credited"].is_object())
            .collect();
        credited.len() == bidders.len() && credited.iter().all(|r| r["status"] != "pending")
    });
}

/// The outbox rows skipped with a reason containing `why`.
fn skipped(app: &Running, why: &str) -> Vec<Value> {
    app.outbox()
        .into_iter()
        .filter(|r| {
            r["status"]["skipped"]["reason"]
                .as_str()
                .is_some_and(|w| w.contains(why))
        })
        .collect()
}

/// Five bids in a burst, one post every 2 s: each bidder hears where they stand at the end
/// (alice and carol outbid, named together in one post, bob leading), outbid notices before
/// the acceptance, and the notices the later bids made obsolete are dropped with their reason
/// instead of posted.
#[test]
fn a_burst_of_bids_gets_one_current_reply_per_bidder_outbids_first() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    let config = setup_with(dir.path(), &api, |c| c.x.posts_per_15min = 500);
    let app = start(dir.path(), &config, "run.log");
    link_and_fund(
        &app,
        &api,
        &[(ALICE, "alice", 1), (BOB, "bob", 2), (3001, "carol", 3)],
    );
    wait_until(Duration::from_secs(60), "the link replies out", || {
        api.posted().len() >= 4
    });
    let before = api.posted().len();
    api.pause(true);
    let bids = [
        (ALICE, "1"),
        (BOB, "1.5"),
        (3001, "2"),
        (ALICE, "2.5"),
        (BOB, "3"),
    ];
    let tweets: Vec<u64> = bids
        .iter()
        .map(|(who, eth)| api.tweet(*who, &format!("@SothebAIs bid {eth} ETH"), None))
        .collect();
    api.pause(false);
    wait_until(Duration::from_secs(60), "bob's reply", || {
        !api.replies_to(tweets[4]).is_empty()
    });
    std::thread::sleep(Duration::from_secs(4));
    let posted: Vec<String> = api.posted()[before..]
        .iter()
        .map(|p| p.text.clone())
        .collect();
    // The last post naming each bidder (one outbid post names several).
    let names = |t: &str, who: &str| {
        t.split_whitespace()
            .take_while(|w| w.starts_with('@'))
            .any(|w| w == format!("@{who}"))
    };
    let last_to = |who: &str| {
        posted
            .iter()
            .rev()
            .find(|t| names(t, who))
            .cloned()
            .unwrap_or_default()
    };
    for who in ["alice", "carol"] {
        assert!(last_to(who).contains("You were outbid"), "{posted:#?}");
    }
    assert!(
        last_to("bob").starts_with("@bob Your bid of 3 ETH"),
        "{posted:#?}"
    );
    let bob_final = posted
        .iter()
        .position(|t| t.starts_with("@bob Your bid of 3 ETH"))
        .unwrap();
    assert!(
        posted[..bob_final].iter().any(|t| names(t, "alice")
            && t.contains("You were outbid")
            && t.contains("3 ETH leads")),
        "the outbid notice goes before the acceptance: {posted:#?}"
    );
    assert!(
        posted.len() < bids.len() * 2 - 1,
        "nine notices were made; the obsolete ones are not posted: {posted:#?}"
    );
    let dropped = skipped(&app, "superseded by row");
    assert!(dropped.len() >= 3, "{dropped:#?}");
}

/// A bidder deletes a bid after the appliance read it but before its reply went out: the bid
/// stands (the published rule), X refuses the reply as it refuses replies to deleted tweets,
/// and the row is dropped with that reason rather than left failed or retried; the next
/// bidder's reply goes out as usual.
#[test]
fn a_bid_deleted_before_its_reply_stands_and_the_reply_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    let config = setup(dir.path(), &api, false);
    let app = start(dir.path(), &config, "run.log");
    link_and_fund(&app, &api, &[(ALICE, "alice", 1), (BOB, "bob", 2)]);
    // The first try to post fails, so the reply waits (and is looked for before it is tried
    // again).
    api.fail_next("tweets", &[503]);
    let bid = api.tweet(ALICE, "@SothebAIs bid 1 ETH", None);
    wait_until(Duration::from_secs(30), "the bid taken in", || {
        app.status()["live_auction"]["leader"]
            .as_str()
            .and_then(|l| l.parse::<u64>().ok())
            == Some(ALICE)
    });
    assert!(api.delete(bid));
    wait_until(Duration::from_secs(120), "the reply dropped", || {
        !skipped(&app, "the tweet it answers was deleted").is_empty()
    });
    assert!(api.replies_to(bid).is_empty(), "{:?}", api.replies_to(bid));
    let live = &app.status()["live_auction"];
    assert_eq!(live["price"], "1000000000000000000", "{live}");
    assert_eq!(
        live["leader"],
        ALICE.to_string(),
        "the deleted bid stands: {live}"
    );
    assert!(
        app.outbox().iter().all(|r| r["status"]["failed"].is_null()),
        "nothing is left failed"
    );
    let next = api.tweet(BOB, "@SothebAIs bid 2 ETH", None);
    wait_until(Duration::from_secs(30), "bob's reply", || {
        !api.replies_to(next).is_empty()
    });
    assert!(
        api.replies_to(next)[0].contains("2 ETH"),
        "{:?}",
        api.replies_to(next)
    );
}

/// A post costs $1 and the month's budget is $1: once the opening announcement is out, answers
/// and acceptances are dropped with the reason, while the outbid notice still goes.
#[test]
fn a_spent_budget_stops_optional_posts_but_not_outbid_notices() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    let config = setup_with(dir.path(), &api, |c| {
        c.x.price_post_micro_usd = 1_000_000;
        c.x.price_read_micro_usd = 0;
        c.x.monthly_budget_usd = 1;
    });
    let app = start(dir.path(), &config, "run.log");
    wait_until(Duration::from_secs(20), "the opening announcement", || {
        !api.posted().is_empty()
    });
    link_and_fund(&app, &api, &[(ALICE, "alice", 1), (BOB, "bob", 2)]);
    let a = api.tweet(ALICE, "@SothebAIs bid 1 ETH", None);
    wait_until(Duration::from_secs(20), "alice's bid decided", || {
        !skipped(&app, "budget is spent: acceptances").is_empty()
    });
    let b = api.tweet(BOB, "@SothebAIs bid 2 ETH", None);
    wait_until(Duration::from_secs(20), "alice's outbid notice", || {
        !api.replies_to(a).is_empty()
    });
    assert!(api.replies_to(a)[0].starts_with("@alice You were outbid"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(api.replies_to(b).is_empty(), "bob's acceptance is optional");
    assert!(
        skipped(&app, "budget is spent: answers").len() >= 2,
        "the link replies: {:#?}",
        app.outbox()
    );
    let spend = &app.status()["connections"]["tweets"]["spend"];
    assert_eq!(spend["level"], "spent", "{spend}");
    assert_eq!(spend["month_usd"], 2.0, "two posts at $1: {spend}");
}

/// Tweets come through the filtered stream (rules set, another tool's rule left alone); a
/// dropped connection, a stalled one and a 503 on reconnecting each leave a gap that is read back
/// through the timelines: every tweet gets exactly one reply.
#[test]
fn the_filtered_stream_reads_in_real_time_and_reads_every_gap_back() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    api.add_rule("from:someone", "their.rule");
    let config = setup_with(dir.path(), &api, |c| {
        c.x.intake = "stream".into();
        c.x.stall_secs = 5;
    });
    let mut env = ENV.to_vec();
    env.push(("SOTHEBAIS_X__BEARER_TOKEN", "test-bearer-token"));
    let app = Running::start(
        &config,
        &dir.path().join("data"),
        dir.path().join("run.log"),
        &env,
    );
    wait_until(Duration::from_secs(20), "the rules", || {
        api.rules().len() == 3
    });
    let rules = api.rules();
    assert!(
        rules.contains(&("@SothebAIs".into(), "sothebais.mentions".into())),
        "{rules:?}"
    );
    assert!(rules.contains(&("#SothebAIs -is:retweet".into(), "sothebais.search".into())));
    assert!(rules.contains(&("from:someone".into(), "their.rule".into())));
    link_and_fund(&app, &api, &[(ALICE, "alice", 1)]);
    let replied = |t: u64| api.replies_to(t).len() == 1;
    let live = api.tweet(ALICE, "@SothebAIs bid 1 ETH", None);
    wait_until(
        Duration::from_secs(20),
        "the reply to a streamed bid",
        || replied(live),
    );
    let reads_before_gaps = api.requests("mentions");

    // The connection drops; a bid made meanwhile is read back after the reconnect.
    api.drop_stream();
    let dropped = api.tweet(ALICE, "@SothebAIs bid 1.1 ETH", None);
    wait_until(
        Duration::from_secs(30),
        "the bid from the dropped gap",
        || replied(dropped),
    );
    // The connection stalls (no keep-alive): after 5 s silence it is replaced.
    api.stall_stream(true);
    let stalled = api.tweet(ALICE, "@SothebAIs bid 1.2 ETH #SothebAIs", None);
    wait_until(Duration::from_secs(30), "the bid from the stall", || {
        replied(stalled)
    });
    api.stall_stream(false);
    // Reconnecting fails once with a 503 (5 s wait, as X asks).
    api.fail_next("stream", &[503]);
    api.drop_stream();
    let refused = api.tweet(ALICE, "@SothebAIs bid 1.3 ETH", None);
    wait_until(Duration::from_secs(40), "the bid after the 503", || {
        replied(refused)
    });
    let after = api.tweet(ALICE, "@SothebAIs bid 1.4 ETH", None);
    wait_until(Duration::from_secs(20), "a streamed bid again", || {
        replied(after)
    });

    std::thread::sleep(Duration::from_secs(2));
    for t in [live, dropped, stalled, refused, after] {
        assert_eq!(api.replies_to(t).len(), 1, "one reply to {t}");
    }
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap();
    assert!(log.contains("no data or keep-alive for 5 s"), "{log}");
    assert!(log.contains("503"), "{log}");
    // The timelines are read only to fill gaps, not polled.
    let connections = app.status()["connections"]["x_polls"][0]["polls"]
        .as_u64()
        .unwrap();
    assert!(connections >= 4, "{connections}");
    assert!(
        u64::from(api.requests("mentions") - reads_before_gaps) <= connections + 2,
        "{} mentions reads for {connections} connections",
        api.requests("mentions")
    );

    // A 429 on reconnecting asks for a minute's wait: the timelines bridge it, so a bid made
    // meanwhile is read within seconds, not after the minute.
    api.fail_next("stream", &[429]);
    api.drop_stream();
    let limited = api.tweet(ALICE, "@SothebAIs bid 1.5 ETH", None);
    wait_until(
        Duration::from_secs(30),
        "the bid while the stream waits out a 429",
        || replied(limited),
    );
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap();
    assert!(log.contains("read while the stream waits"), "{log}");
}

/// The stand-in checks signatures as RFC 5849 defines them: the appliance's signer on a query
/// with `#`, spaces and a paging token passes; a changed query, method or nonce, or a stale
/// timestamp, does not.
#[test]
fn oauth_signatures_are_verified_not_just_present() {
    // Our signer, verified independently, on what the search sends.
    let creds = x::oauth::UserCredentials {
        consumer_key: domain::secret::Secret::new(xapi::CONSUMER_KEY),
        consumer_secret: domain::secret::Secret::new(xapi::CONSUMER_SECRET),
        access_token: domain::secret::Secret::new(xapi::ACCESS_TOKEN),
        access_token_secret: domain::secret::Secret::new(xapi::ACCESS_TOKEN_SECRET),
    };
    let url = "http://127.0.0.1:1234/2/tweets/search/recent";
    let params = [
        ("query", "#SothebAIs -is:retweet"),
        ("next_token", "b26v89c19zqg8o3fpz2lr"),
        ("max_results", "100"),
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = x::oauth::authorization(
        "GET",
        url,
        &params,
        &creds,
        "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        now,
    );
    let query = "query=%23SothebAIs+-is%3Aretweet&next_token=b26v89c19zqg8o3fpz2lr&max_results=100";
    assert_eq!(xapi::verify_oauth("GET", url, query, &header), Ok(()));
    let changed = "query=%23SothebAIs&next_token=b26v89c19zqg8o3fpz2lr&max_results=100";
    assert!(xapi::verify_oauth("GET", url, changed, &header).is_err());
    assert!(xapi::verify_oauth("POST", url, query, &header).is_err());
    let stale = x::oauth::authorization("GET", url, &params, &creds, "n", now - 3600);
    assert!(
        xapi::verify_oauth("GET", url, query, &stale)
            .unwrap_err()
            .contains("timestamp")
    );
    // Over HTTP: a tampered request is refused with a 401.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let api = XApi::start("SothebAIs", HOST_ID);
    let url = format!("{}/2/users/me", api.url);
    let good = x::oauth::authorization("GET", &url, &[], &creds, "abc", now);
    let bad = good.replace("oauth_nonce=\"abc\"", "oauth_nonce=\"abd\"");
    let status = |auth: &str| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            reqwest::Client::new()
                .get(&url)
                .header("authorization", auth)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(status(&good), 200);
    assert_eq!(status(&bad), 401);
}

/// Bidders help themselves by tweet: `my bids`, `balance` and `help` are answered with their
/// state; after `stop` alice hears no outbid notice, after `start` she does again.
#[test]
fn bidders_ask_for_their_bids_balance_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let api = XApi::start("SothebAIs", HOST_ID);
    let config = setup(dir.path(), &api, false);
    let app = start(dir.path(), &config, "run.log");
    link_and_fund(&app, &api, &[(ALICE, "alice", 1), (BOB, "bob", 2)]);
    let reply = |t: u64| {
        wait_until(Duration::from_secs(20), "a reply", || {
            !api.replies_to(t).is_empty()
        });
        api.replies_to(t)[0].clone()
    };
    let bid = api.tweet(ALICE, "@SothebAIs bid 1.5 ETH", None);
    reply(bid);
    let mine = reply(api.tweet(ALICE, "@SothebAIs my bids", None));
    assert!(
        mine.starts_with("@alice Your latest bids: ") && mine.contains("1.5 ETH leading"),
        "{mine}"
    );
    let balance = reply(api.tweet(ALICE, "@SothebAIs balance", None));
    assert!(
        balance.contains("10 ETH credited, 1.5 ETH backs your leading bid, 8.5 ETH free"),
        "{balance}"
    );
    let help = reply(api.tweet(BOB, "@SothebAIs help", None));
    assert!(
        help.contains("bid 1.5 ETH") && help.contains("stop / start"),
        "{help}"
    );
    let stop = reply(api.tweet(ALICE, "@SothebAIs stop", None));
    assert!(stop.contains("Notices are off"), "{stop}");
    // Bob outbids her: no notice for alice.
    let b = api.tweet(BOB, "@SothebAIs bid 2 ETH", None);
    reply(b);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(api.replies_to(bid).len(), 1, "no outbid notice after stop");
    assert!(!skipped(&app, "turned notices off").is_empty());
    // Notices on again: the next outbid reaches her.
    reply(api.tweet(ALICE, "@SothebAIs start", None));
    let again = api.tweet(ALICE, "@SothebAIs bid 2.5 ETH", None);
    reply(again);
    reply(api.tweet(BOB, "@SothebAIs bid 3 ETH", None));
    wait_until(Duration::from_secs(20), "the outbid notice", || {
        api.replies_to(again)
            .iter()
            .any(|t| t.starts_with("@alice You were outbid"))
    });
}
