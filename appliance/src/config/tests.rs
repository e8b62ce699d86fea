//! The configuration: defaults, documentation, overrides and errors.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_documented_file_is_exactly_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appliance.toml");
    std::fs::write(&path, DOCUMENTED).unwrap();
    assert_eq!(Config::load(Some(&path), []).unwrap(), Config::default());
}

#[test]
fn every_default_key_is_documented() {
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                keys(&path, v, out);
                out.push(path);
            }
        }
    }
    let mut all = Vec::new();
    keys("", &defaults, &mut all);
    for key in all {
        let leaf = key.rsplit('.').next().unwrap();
        assert!(
            DOCUMENTED
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{leaf} ="))
                    || l.trim_start().starts_with(&format!("[{key}]"))),
            "{key} is not in appliance.toml"
        );
    }
}

#[test]
fn environment_overrides_apply_with_types() {
    let c = Config::load(
        None,
        env(&[
            ("SOTHEBAIS_DATA_DIR", "/var/lib/sothebais"),
            ("SOTHEBAIS_LOG__FORMAT", "json"),
            ("SOTHEBAIS_ENGINE__MAX_BATCH", "64"),
            ("SOTHEBAIS_SIMULATION__ENABLED", "false"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/sothebais"));
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.engine.max_batch, 64);
    assert!(!c.simulation.enabled);
}

#[test]
fn unknown_or_bad_keys_are_clear_errors() {
    let e = Config::load(None, env(&[("SOTHEBAIS_ENGINE__MAX_BATHC", "3")])).unwrap_err();
    assert!(e.contains("max_bathc"), "{e}");
    let e = Config::load(None, env(&[("SOTHEBAIS_ENGINE__MAX_BATCH", "0")])).unwrap_err();
    assert!(e.contains("max_batch"), "{e}");
    let e = Config::load(None, env(&[("SOTHEBAIS_LOG__FORMAT", "xml")])).unwrap_err();
    assert!(e.contains("xml") || e.contains("variant"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "data_dir = [").unwrap();
    assert!(
        Config::load(Some(&path), [])
            .unwrap_err()
            .contains("not valid TOML")
    );
}

#[test]
fn simulated_bidders_are_refused_next_to_x_or_the_chain() {
    for (key, named) in [
        ("SOTHEBAIS_X__ENABLED", "x.enabled"),
        ("SOTHEBAIS_CHAIN__ENABLED", "chain.enabled"),
    ] {
        let e = Config::load(None, env(&[(key, "true")])).unwrap_err();
        assert!(
            e.contains("simulation.enabled") && e.contains(named) && e.contains("real token"),
            "{e}"
        );
        // Turned off, the simulation is no longer what stops the start.
        let e = Config::load(
            None,
            env(&[(key, "true"), ("SOTHEBAIS_SIMULATION__ENABLED", "false")]),
        )
        .unwrap_err();
        assert!(!e.contains("simulation.enabled"), "{e}");
    }
    let both = Config::load(
        None,
        env(&[
            ("SOTHEBAIS_X__ENABLED", "true"),
            ("SOTHEBAIS_CHAIN__ENABLED", "true"),
        ]),
    )
    .unwrap_err();
    assert!(
        both.contains("x.enabled = true and chain.enabled = true"),
        "{both}"
    );
    // No bidders, nothing simulated: allowed as far as this rule goes.
    let e = Config::load(
        None,
        env(&[
            ("SOTHEBAIS_X__ENABLED", "true"),
            ("SOTHEBAIS_SIMULATION__BIDDERS", "0"),
        ]),
    )
    .unwrap_err();
    assert!(!e.contains("simulation.enabled"), "{e}");
    // The demo stays as it is.
    assert!(Config::load(None, env(&[])).is_ok());
}

#[test]
fn the_keystore_passphrase_never_lives_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let inside = data.join("passphrase");
    let e = Config::load(
        None,
        env(&[
            ("SOTHEBAIS_DATA_DIR", data.to_str().unwrap()),
            (
                "SOTHEBAIS_CHAIN__KEYSTORE_PASSPHRASE_FILE",
                inside.to_str().unwrap(),
            ),
        ]),
    )
    .unwrap_err();
    assert!(
        e.contains("chain.keystore_passphrase_file") && e.contains("inside data_dir"),
        "{e}"
    );
    let outside = dir.path().join("passphrase");
    Config::load(
        None,
        env(&[
            ("SOTHEBAIS_DATA_DIR", data.to_str().unwrap()),
            (
                "SOTHEBAIS_CHAIN__KEYSTORE_PASSPHRASE_FILE",
                outside.to_str().unwrap(),
            ),
        ]),
    )
    .unwrap();
    // Saved from the admin page into the data directory's settings: refused at the next start.
    let saved: toml::Table = "[chain]\nkeystore_passphrase = \"hunter2\"\n"
        .parse()
        .unwrap();
    let e = Config::load_layers(None, Some(&saved), []).unwrap_err();
    assert!(
        e.contains("chain.keystore_passphrase") && !e.contains("hunter2"),
        "{e}"
    );
}

#[test]
fn a_campaign_can_be_configured() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        r#"
[campaign]
name = "Genesis"
start_date = "2026-12-01"
days = 2
timezone = "America/New_York"
host_handle = "SothebAIs"
items = [{ name = "Genesis #1" }, { name = "Genesis #2", artist = "Ada" }]
[campaign.windows]
pre_auction_start = "00:00"
auction_start = "15:00"
auction_end = "17:00"
post_auction_end = "23:59"
[campaign.rules]
reserve = "250000000000000000"
"#,
    )
    .unwrap();
    let c = Config::load(Some(&path), []).unwrap();
    let spec = c.campaign.unwrap();
    assert_eq!(spec.windows.auction_start.to_string(), "15:00");
    assert_eq!(spec.rules.reserve, store::Wei(250_000_000_000_000_000));
    assert_eq!(
        spec.rules.extension_secs, 300,
        "unset rules keep their defaults"
    );
    assert_eq!(spec.items[1].artist, "Ada");
}

#[test]
fn the_bitrate_ladder_is_checked_at_start() {
    let c = Config::load(None, []).unwrap();
    let ladder = c.stream_settings(None).unwrap().adaptive.unwrap().0;
    assert_eq!(
        ladder.rungs()[0].kbps,
        4500,
        "the top is the configured rate"
    );
    let off = Config::load(None, env(&[("SOTHEBAIS_STREAM__ADAPTIVE", "false")])).unwrap();
    assert!(off.stream_settings(None).unwrap().adaptive.is_none());
    let dir = tempfile::tempdir().unwrap();
    for (text, named) in [
        ("[stream]\nladder = [\"720p@3000\"]", "stream.ladder"),
        (
            "[stream]\nladder = [\"720p@4500\", \"720p@9000\"]",
            "stream.ladder",
        ),
        ("[stream]\nprobe_secs = 0", "stream.probe_secs"),
        ("[stream]\nbitrate_kbps = 900", "stream.bitrate_kbps"),
    ] {
        let path = dir.path().join("a.toml");
        std::fs::write(&path, text).unwrap();
        let e = Config::load(Some(&path), []).unwrap_err();
        assert!(e.contains(named), "{text}: {e}");
    }
    let path = dir.path().join("ok.toml");
    std::fs::write(
        &path,
        "[stream]\nresolution = \"1080p\"\nbitrate_kbps = 6000\nladder = [\"1080p@6000\", \"720p@2500\", \"720p@1000\"]",
    )
    .unwrap();
    let c = Config::load(Some(&path), []).unwrap();
    let rungs: Vec<String> = c
        .stream_settings(None)
        .unwrap()
        .adaptive
        .unwrap()
        .0
        .rungs()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(rungs, ["1080p@6000", "720p@2500", "720p@1000"]);
}
