//! The command line as an operator uses it.

mod common;

use common::appliance;

#[test]
fn plan_prints_exact_windows_across_both_2026_dst_changes() {
    let (ok, out, err) = appliance(&["plan", "--start", "2026-03-08", "--days", "1"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "day   1  2026-03-08  pre-auction 2026-03-08T00:00:00-05:00  auction 2026-03-08T14:00:00-04:00 to 2026-03-08T16:00:00-04:00  post-auction until 2026-03-08T23:59:00-04:00"
    );
    let (ok, out, _) = appliance(&[
        "plan",
        "--start",
        "2026-10-31",
        "--days",
        "3",
        "--auction-start",
        "01:30",
        "--auction-end",
        "03:00",
        "--pre-auction",
        "00:00",
        "--post-auction",
        "23:00",
    ]);
    assert!(ok);
    let day2 = out.lines().nth(1).unwrap();
    assert!(
        day2.contains("auction 2026-11-01T01:30:00-04:00 to 2026-11-01T03:00:00-05:00"),
        "{day2}"
    );
    let (ok, _, err) = appliance(&[
        "plan",
        "--start",
        "2026-03-08",
        "--days",
        "1",
        "--tz",
        "Nowhere/Land",
    ]);
    assert!(!ok && err.contains("unknown time zone"), "{err}");
}

#[test]
fn demo_runs_a_campaign_and_checks_it() {
    let (ok, out, err) = appliance(&["demo", "--days", "2", "--speed", "20000", "--seed", "3"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l.starts_with("Day   1 ")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("Day   2 ")), "{out}");
    assert!(out.contains("Integrity check: ok"), "{out}");
}

#[test]
fn check_fails_on_a_tampered_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let (ok, out, err) = appliance(&[
        "demo",
        "--days",
        "1",
        "--speed",
        "20000",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let (ok, out, _) = appliance(&["check", "--data", data.to_str().unwrap()]);
    assert!(ok, "{out}");
    {
        use redb::ReadableTable;
        let db = redb::Database::open(data.join(store::DB_FILE)).unwrap();
        let def: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("auctions");
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(def).unwrap();
            let mut v = t.get(1).unwrap().unwrap().value().to_vec();
            let last = v.len() - 1;
            v[last] ^= 0x01;
            t.insert(1, v.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let (ok, out, _) = appliance(&["check", "--data", data.to_str().unwrap()]);
    assert!(!ok, "check must fail:\n{out}");
    assert!(out.contains("projection auctions"), "{out}");
}

#[test]
fn restore_refuses_a_data_dir_that_holds_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert!(
        appliance(&[
            "demo",
            "--days",
            "1",
            "--speed",
            "20000",
            "--data",
            data.to_str().unwrap()
        ])
        .0
    );
    let backup = dir.path().join("b.redb");
    let (ok, out, err) = appliance(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let (ok, _, err) = appliance(&[
        "restore",
        "--in",
        backup.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("restore only into an empty data directory"),
        "{err}"
    );
    let (ok, _, err) = appliance(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("already exists"), "{err}");
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = appliance(&["ctl", "--data", dir.path().to_str().unwrap(), "status"]);
    assert!(!ok && err.contains("is `appliance run` running"), "{err}");
    let (ok, _, err) = appliance(&["export", "bids", "--data", dir.path().to_str().unwrap()]);
    assert!(!ok && err.contains("no database in"), "{err}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "data_dir = \"x\"\n[engine]\nmax_bath = 3\n").unwrap();
    let (ok, _, err) = appliance(&["run", "--config", bad.to_str().unwrap(), "--duration", "1"]);
    assert!(!ok && err.contains("max_bath"), "{err}");
}

#[test]
fn the_printed_configuration_is_the_default() {
    let (ok, out, _) = appliance(&["config"]);
    assert!(ok);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.toml");
    std::fs::write(&path, out).unwrap();
    let parsed = appliance::config::Config::load(Some(&path), []).unwrap();
    assert_eq!(parsed, appliance::config::Config::default());
}

#[test]
fn bench_bids_reports_every_level() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = appliance(&[
        "bench",
        "bids",
        "--seconds",
        "0.3",
        "--submitters",
        "1,4",
        "--json",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert!(
            r["bids"].as_u64().unwrap() > 0
                && r["p99_us"].as_u64().unwrap() >= r["p50_us"].as_u64().unwrap()
        );
    }
}

/// The host's character from the command line: the demo's checks; a broken file names every
/// problem; an ElizaOS character converts into a file that checks, with what was left behind.
#[test]
fn host_characters_are_checked_and_converted() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, demo, err) = appliance(&["host", "demo"]);
    assert!(ok, "{err}");
    let file = dir.path().join("host.toml");
    std::fs::write(&file, &demo).unwrap();
    let (ok, out, err) = appliance(&["host", "check", file.to_str().unwrap()]);
    assert!(ok && out.contains("is a valid character"), "{out}{err}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "name = \"\"\nbio = []\n[voice]\nspeed = 9.0\n").unwrap();
    let (ok, _, err) = appliance(&["host", "check", broken.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("name is empty") && err.contains("bio needs") && err.contains("voice.speed"),
        "{err}"
    );

    let eliza = dir.path().join("eliza.json");
    std::fs::write(
        &eliza,
        r#"{"name": "Gavel", "bio": "Sells art.", "plugins": ["x"], "system": "Be an auctioneer.",
            "postExamples": ["Bidding opens soon."], "style": {"all": ["short"]}}"#,
    )
    .unwrap();
    let converted = dir.path().join("gavel.toml");
    let (ok, _, err) = appliance(&[
        "host",
        "import",
        eliza.to_str().unwrap(),
        "--out",
        converted.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("not carried over: plugins") && err.contains("not carried over: system"),
        "{err}"
    );
    let (ok, out, err) = appliance(&["host", "check", converted.to_str().unwrap()]);
    assert!(
        ok && out.contains("Gavel is a valid character"),
        "{out}{err}"
    );
    // An existing file is not replaced.
    let (ok, _, err) = appliance(&[
        "host",
        "import",
        eliza.to_str().unwrap(),
        "--out",
        converted.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("cannot create"), "{err}");
}
