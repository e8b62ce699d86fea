//! A backup taken while the appliance is under load restores to a database that passes `check`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Ctl, Running, appliance, config_with_live_auction, open_rules};
use serde_json::json;

#[test]
fn backups_taken_under_load_restore_and_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_live_auction(dir.path(), open_rules());
    let data = dir.path().join("data");
    // Simulated bidders stay on, acting every second, on top of the bid flood below.
    let env = [
        ("SOTHEBAIS_SIMULATION__THINK_SECS", "1"),
        ("SOTHEBAIS_LOG__LEVEL", "warn"),
        // These tests are about the database; the picture has its own tests.
        ("SOTHEBAIS_STREAM__ENABLED", "false"),
    ];
    let app = Running::start(&config, &data, dir.path().join("appliance.log"), &env);
    let mut ctl = app.ctl();
    for id in 1..=4 {
        ctl.fund_bidder(id, 1_000_000);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let flood: Vec<_> = (0..3)
        .map(|_| {
            let (socket, stop, next) = (app.socket.clone(), stop.clone(), next.clone());
            std::thread::spawn(move || {
                let mut ctl = Ctl::connect(&socket).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let bid = json!({"command": "place_bid", "bidder": (n % 4 + 1).to_string(),
                        "amount": (1_000_000_000_000_000u128 + u128::from(n)).to_string(),
                        "source": {"operator": format!("flood{n}")}});
                    ctl.execute_ok(bid);
                }
            })
        })
        .collect();

    let mut last_events = 0;
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        let file = dir.path().join(format!("backup-{i}.redb"));
        let (ok, out, err) = appliance(&[
            "backup",
            "--data",
            data.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ]);
        assert!(ok, "backup {i}: {out}{err}");
        let restored = dir.path().join(format!("restored-{i}"));
        let (ok, out, err) = appliance(&[
            "restore",
            "--in",
            file.to_str().unwrap(),
            "--data",
            restored.to_str().unwrap(),
        ]);
        assert!(ok, "restore {i}: {out}{err}");
        let (ok, report, err) =
            appliance(&["check", "--data", restored.to_str().unwrap(), "--json"]);
        assert!(ok, "check of restored backup {i}: {report}{err}");
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        let events = report["events"].as_u64().unwrap();
        assert!(
            events > last_events,
            "backup {i} holds {events} events; the load should have added some"
        );
        last_events = events;
    }
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.join().unwrap();
    }
    assert!(
        next.load(Ordering::Relaxed) > 100,
        "the load was too light to mean anything"
    );
    assert!(app.terminate(Duration::from_secs(15)).success());
}
