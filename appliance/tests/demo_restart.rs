//! The zero-configuration demo on its own data: started, stopped with SIGINT, started again,
//! killed with SIGKILL, started again. Each time it carries on with the same simulated bidders
//! (no second enrolment, no conflicting deposits), keeps bidding, and the log checks out.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Running, appliance, assert_check};

/// Every bid so far, as `appliance export bids` lists them (works while the appliance runs).
fn bids(data: &Path) -> usize {
    let (ok, out, err) = appliance(&["export", "bids", "--data", data.to_str().unwrap()]);
    assert!(ok, "export failed: {err}");
    out.lines().filter(|l| !l.trim().is_empty()).count()
}

fn start(config: &Path, data: &Path, log: &Path) -> Running {
    Running::start(
        config,
        data,
        log.to_path_buf(),
        &[("SOTHEBAIS_STREAM__ENABLED", "false")],
    )
}

/// Waits until the demo has placed more than `than` bids.
fn keeps_bidding(app: &Running, data: &Path, than: usize) -> usize {
    let mut now = 0;
    app.wait_until(Duration::from_secs(60), "more simulated bids", || {
        now = bids(data);
        now > than
    });
    now
}

#[test]
fn the_demo_restarts_on_its_own_data() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = common::demo_config(dir.path(), "[backup]\nevery_secs = 2");
    let log = dir.path().join("appliance.log");

    let app = start(&config, &data, &log);
    let first = keeps_bidding(&app, &data, 0);

    // A clean stop (Ctrl-C), then the same command again.
    let pid = app.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut app = app;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = app.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "SIGINT exit: {status}");
    drop(app);
    let app = start(&config, &data, &log);
    let second = keeps_bidding(&app, &data, first);

    // A crash, then the same command again.
    app.kill();
    let app = start(&config, &data, &log);
    keeps_bidding(&app, &data, second);
    // Scheduled backups run beside it and say so in the status.
    let mut last_good = String::new();
    app.wait_until(Duration::from_secs(30), "a scheduled backup", || {
        let status = app.status();
        last_good = status["connections"]["backups"]["last_good"]
            .as_str()
            .unwrap_or("")
            .to_string();
        !last_good.is_empty()
    });
    assert!(app.terminate(Duration::from_secs(30)).success());
    let backup = store::Store::open_read_only(Path::new(&last_good)).unwrap();
    assert!(
        store::check::run(&backup).unwrap().ok(),
        "the backup checks out"
    );
    assert!(last_good.starts_with(data.join("backups").to_str().unwrap()));

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("different sender or amount"),
        "the bidders were enrolled again:\n{text}"
    );
    assert_check(&data);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory is private");
    assert_eq!(
        mode(&data.join("appliance.redb")),
        0o600,
        "the database is private"
    );
    let db = store::Store::open(&data.join("appliance.redb")).unwrap();
    let r = db.read().unwrap();
    use store::View as _;
    let users = r.users().unwrap();
    assert_eq!(
        users.len(),
        10,
        "one user per simulated bidder, enrolled once"
    );
    assert!(users.iter().all(|u| u.simulated));
    assert_eq!(r.deposits().unwrap().len(), 10, "one deposit per bidder");
    assert_eq!(
        r.campaigns().unwrap().len(),
        1,
        "the demo campaign is made once"
    );
}
