//! The crate layering the code map promises, read from `cargo tree` (each crate's normal
//! dependencies, features resolved as its build resolves them): the domain knows no network and no adapter; the admin page knows the
//! domain and the store, never X or the chain; adapters never know each other.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Runs cargo in the workspace; its standard output.
fn cargo(args: &[&str]) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(args)
        .args(["--locked", "--manifest-path", root])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("cargo prints UTF-8")
}

/// The host's target triple (the graph is resolved for the platform the appliance runs on).
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = Command::new("rustc")
            .arg("-vV")
            .output()
            .expect("rustc -vV runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .expect("rustc -vV names the host")
            .to_string()
    })
}

/// Every package `crate_name` links (normal dependencies, features resolved as a build of it
/// resolves them), by name: what `cargo tree -p crate_name -e normal` shows.
fn closure(crate_name: &str) -> BTreeSet<String> {
    let text = cargo(&[
        "tree",
        "-p",
        crate_name,
        "-e",
        "normal",
        "--prefix",
        "none",
        "-f",
        "{p}",
        "--target",
        host(),
    ]);
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The features `crate_name` asks of its direct dependency `dep`.
fn declared_features(crate_name: &str, dep: &str) -> Vec<String> {
    static METADATA: OnceLock<Value> = OnceLock::new();
    let metadata = METADATA.get_or_init(|| {
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"]))
            .expect("cargo metadata is JSON")
    });
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == crate_name)
        .flat_map(|p| p["dependencies"].as_array().unwrap().iter())
        .filter(|d| d["name"] == dep && d["kind"].is_null())
        .flat_map(|d| d["features"].as_array().unwrap().iter())
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[track_caller]
fn forbid(crate_name: &str, forbidden: &[&str]) {
    let links = closure(crate_name);
    let found: Vec<&&str> = forbidden.iter().filter(|f| links.contains(**f)).collect();
    assert!(
        found.is_empty(),
        "{crate_name} must not depend on {found:?} (directly or through another crate)"
    );
}

const ADAPTERS: &[&str] = &["x", "chain", "stream", "control", "alert", "egress"];
const NETWORK: &[&str] = &[
    "reqwest",
    "hyper",
    "hyper-util",
    "salvo",
    "rustls",
    "alloy-provider",
    "alloy-rpc-client",
    "alloy-transport",
    "alloy-transport-http",
    "tokio-postgres",
    "rml_rtmp",
];

#[test]
fn the_domain_knows_no_network_and_no_adapter() {
    forbid("domain", NETWORK);
    forbid("domain", ADAPTERS);
    forbid(
        "domain",
        &["web", "scene", "codec", "rtmp", "bench", "appliance"],
    );
    let tokio = declared_features("domain", "tokio");
    for networking in ["net", "full", "process", "fs", "io-util"] {
        assert!(
            !tokio.iter().any(|f| f == networking),
            "the domain asks tokio for {networking:?}; it may use only its channels and timers"
        );
    }
}

#[test]
fn the_admin_page_knows_the_domain_and_the_store_only() {
    let links = closure("web");
    assert!(links.contains("domain") && links.contains("store"));
    forbid("web", ADAPTERS);
    forbid(
        "web",
        &[
            "appliance",
            "bench",
            "reqwest",
            "alloy-consensus",
            "eth-keystore",
        ],
    );
}

#[test]
fn adapters_never_know_each_other() {
    for adapter in ["x", "chain", "stream", "control", "alert"] {
        let others: Vec<&str> = ["x", "chain", "stream", "control", "alert"]
            .into_iter()
            .filter(|a| *a != adapter)
            .collect();
        forbid(adapter, &others);
        forbid(adapter, &["web", "appliance", "bench"]);
    }
    for lower in ["store", "scene", "codec", "rtmp"] {
        forbid(lower, &["domain", "web", "appliance"]);
        forbid(lower, ADAPTERS);
    }
}

#[test]
fn the_check_sees_a_forbidden_dependency() {
    // The checks above would pass on an empty graph; this one fails unless they can see.
    assert!(closure("x").contains("reqwest"));
    assert!(closure("x").contains("domain"));
    assert!(closure("appliance").contains("chain"));
    assert!(
        declared_features("appliance", "tokio")
            .iter()
            .any(|f| f == "net")
    );
}
