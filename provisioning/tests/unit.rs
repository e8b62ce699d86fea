//! The service unit as systemd reads it: `systemd-analyze verify` finds no unknown key or bad
//! value (the programs it names stand in a temporary directory for /opt/sothebais), and
//! `systemd-analyze security` rates its exposure OK or better.

use std::path::Path;
use std::process::Command;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/sothebais.service");

#[test]
fn systemd_reads_the_unit_without_complaint_and_rates_it_ok() {
    let tmp = tempfile::tempdir().unwrap();
    let opt = tmp.path().join("opt");
    std::fs::create_dir_all(opt.join("slots/a")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("slot-guard"),
        opt.join("slot-guard"),
    )
    .unwrap();
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '#!/bin/sh\\n' > {0}/slots/a/appliance && chmod +x {0}/slots/a/appliance && ln -s a {0}/slots/current",
            opt.display()
        ))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let text = std::fs::read_to_string(UNIT).unwrap();
    let unit = tmp.path().join("sothebais.service");
    std::fs::write(&unit, text.replace("/opt/sothebais", opt.to_str().unwrap())).unwrap();

    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian's systemd package; the test command installs it)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let level: f64 = report
        .lines()
        .find_map(|l| l.split("sothebais.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(level <= 4.0, "exposure {level}:\n{report}");
}
