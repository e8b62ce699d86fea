//! Crash safety with real processes: bids are driven into a running appliance over its control
//! socket, the process is SIGKILLed at random moments, restarted, and every acknowledged bid
//! must be in the database exactly once, with the log replaying to the stored state.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Ctl, Running, appliance, config_with_live_auction, open_rules};
use serde_json::{Value, json};

const ROUNDS: usize = 24;
const DRIVERS: u64 = 4;
const BIDDERS: u64 = 8;

/// Bids acknowledged by the appliance: idempotency key -> (bid id, accepted).
type Acked = Arc<Mutex<HashMap<String, (u64, bool)>>>;

fn bid_command(n: u64) -> Value {
    json!({
        "command": "place_bid",
        "bidder": (n % BIDDERS + 1).to_string(),
        // Strictly rising amounts, so most bids lead; the rest are refused, which is durable too.
        "amount": (1_000_000_000_000_000u128 + u128::from(n)).to_string(),
        "source": {"operator": format!("k{n}")},
    })
}

fn drive(
    socket: std::path::PathBuf,
    next: Arc<AtomicU64>,
    acked: Acked,
    stop: Arc<AtomicBool>,
) -> u64 {
    let Ok(mut ctl) = Ctl::connect(&socket) else {
        return 0;
    };
    let mut count = 0;
    while !stop.load(Ordering::Relaxed) {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let Ok(response) = ctl.request(&json!({"op": "execute", "command": bid_command(n)})) else {
            break; // the process died with this bid in flight: its fate is unknown, and allowed either way
        };
        assert_eq!(response["ok"], true, "{response}");
        let reply = &response["reply"];
        let id = reply["bid"].as_u64().expect("bid id");
        acked
            .lock()
            .unwrap()
            .insert(format!("k{n}"), (id, reply["accepted"] == true));
        count += 1;
    }
    count
}

#[test]
fn acknowledged_bids_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_live_auction(dir.path(), open_rules());
    let data = dir.path().join("data");
    let log = dir.path().join("appliance.log");
    let env = [
        ("SOTHEBAIS_SIMULATION__ENABLED", "false"),
        ("SOTHEBAIS_LOG__LEVEL", "warn"),
        // These tests are about the database; the picture has its own tests.
        ("SOTHEBAIS_STREAM__ENABLED", "false"),
    ];

    let app = Running::start(&config, &data, log.clone(), &env);
    let mut ctl = app.ctl();
    for id in 1..=BIDDERS {
        ctl.fund_bidder(id, 1_000_000);
    }
    drop(ctl);
    app.kill();

    let acked: Acked = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    let mut rng = fastrand::Rng::with_seed(0x5EED);
    let mut kills_with_traffic = 0;
    for _ in 0..ROUNDS {
        let app = Running::start(&config, &data, log.clone(), &env);
        let stop = Arc::new(AtomicBool::new(false));
        let drivers: Vec<_> = (0..DRIVERS)
            .map(|_| {
                let (socket, next, acked, stop) = (
                    app.socket.clone(),
                    next.clone(),
                    acked.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || drive(socket, next, acked, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.u64(30..400)));
        app.kill();
        stop.store(true, Ordering::Relaxed);
        let sent: u64 = drivers.into_iter().map(|d| d.join().unwrap()).sum();
        if sent > 0 {
            kills_with_traffic += 1;
        }
    }
    assert!(
        kills_with_traffic >= 20,
        "only {kills_with_traffic} kills hit a process under load"
    );
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too few bids were acknowledged ({}) to mean anything",
        acked.len()
    );
    eprintln!(
        "{} bids acknowledged across {ROUNDS} SIGKILLs ({kills_with_traffic} under load)",
        acked.len()
    );

    // A clean restart: resubmitting acknowledged bids returns the recorded outcome, not a new bid.
    let app = Running::start(&config, &data, log.clone(), &env);
    let mut ctl = app.ctl();
    let mut keys: Vec<_> = acked.keys().cloned().collect();
    keys.sort();
    for key in keys.iter().step_by(keys.len() / 40 + 1) {
        let n: u64 = key[1..].parse().unwrap();
        let reply = ctl.execute_ok(bid_command(n));
        assert_eq!(reply["duplicate"], true, "{key}: {reply}");
        assert_eq!(reply["bid"].as_u64(), Some(acked[key].0), "{key}");
    }
    drop(ctl);
    let status = app.terminate(Duration::from_secs(15));
    assert!(
        status.success(),
        "SIGTERM must stop the appliance cleanly: {status}"
    );

    // Every acknowledged bid is stored exactly once, with the id and outcome it was acknowledged with.
    let (ok, export, err) = appliance(&["export", "bids", "--data", data.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut by_source: HashMap<String, Vec<(u64, String)>> = HashMap::new();
    for line in export.lines() {
        let bid: Value = serde_json::from_str(line).unwrap();
        by_source
            .entry(bid["source"].as_str().unwrap().to_string())
            .or_default()
            .push((
                bid["id"].as_u64().unwrap(),
                bid["status"].as_str().unwrap().to_string(),
            ));
    }
    for (source, bids) in &by_source {
        assert_eq!(bids.len(), 1, "{source} is stored {} times", bids.len());
    }
    for (key, (id, accepted)) in &acked {
        let stored = by_source.get(&format!("op:{key}")).unwrap_or_else(|| {
            panic!("acknowledged bid {key} (id {id}) is missing after the crashes")
        });
        assert_eq!(stored[0].0, *id, "{key}");
        assert_eq!(stored[0].1 != "rejected", *accepted, "{key}");
    }

    let (ok, report, err) = appliance(&["check", "--data", data.to_str().unwrap()]);
    assert!(ok, "check failed after {ROUNDS} crashes:\n{report}\n{err}");
}
