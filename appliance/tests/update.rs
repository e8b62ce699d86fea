//! Self-update end to end, with the service manager played by the test (the slot guard before
//! each start, the program behind the `current` link): releases listed by a local HTTP server
//! in GitHub's REST shape (python3's http.server, serving files) or a directory, signed with a
//! key made by `appliance release key` and `appliance release sign`.
//! - a good update is installed, switched to, proves healthy, and is recorded in the event log;
//! - a tampered or unsigned release file is refused, nothing changes;
//! - a new version that is not healthy in time rolls itself back and the old one serves again;
//! - a new version that cannot even run is rolled back by the slot guard at its next start;
//! - an update offered while an auction is open waits (unless forced).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Running;
use provisioning::slots::{Slot, Slots};
use provisioning::update::asset_name;
use store::{Event, View};

/// A release under construction: key, files, and the list.
struct Releases {
    dir: PathBuf,
    key: PathBuf,
    public: String,
    list: Vec<serde_json::Value>,
}

fn appliance(args: &[&str]) -> (bool, String) {
    let out = Command::new(common::binary()).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

impl Releases {
    fn new(root: &Path) -> Releases {
        let dir = root.join("releases");
        std::fs::create_dir_all(&dir).unwrap();
        let key = root.join("release.key");
        let (ok, out) = appliance(&["release", "key", "--out", key.to_str().unwrap()]);
        assert!(ok, "{out}");
        let public = out.trim().to_string();
        assert_eq!(public.len(), 64, "{public}");
        Releases {
            dir,
            key,
            public,
            list: Vec::new(),
        }
    }

    /// Adds `version` with `program` inside, signed (or not).
    fn add(&mut self, version: &str, program: &Path, signed: bool) -> PathBuf {
        let stage = self.dir.join(format!("stage-{version}"));
        std::fs::create_dir_all(&stage).unwrap();
        std::fs::copy(program, stage.join("appliance")).unwrap();
        std::fs::write(stage.join("NOTES.md"), format!("# {version}\n")).unwrap();
        let unsigned = self.dir.join(format!("unsigned-{version}.tar.gz"));
        let ok = Command::new("tar")
            .arg("-czf")
            .arg(&unsigned)
            .arg("-C")
            .arg(&stage)
            .args(["appliance", "NOTES.md"])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let name = asset_name(version);
        let file = self.dir.join(&name);
        if signed {
            let (ok, out) = appliance(&[
                "release",
                "sign",
                "--key",
                self.key.to_str().unwrap(),
                unsigned.to_str().unwrap(),
                file.to_str().unwrap(),
            ]);
            assert!(ok, "{out}");
        } else {
            std::fs::copy(&unsigned, &file).unwrap();
        }
        self.list.insert(
            0,
            serde_json::json!({
                "tag_name": format!("v{version}"),
                "name": version,
                "body": format!("What is new in {version}."),
                "draft": false,
                "prerelease": false,
                "published_at": "2026-12-01T12:00:00Z",
                "assets": [{"name": name, "url": format!("URL/{name}"), "browser_download_url": format!("URL/{name}")}],
            }),
        );
        self.write_list("");
        file
    }

    /// Writes the list as a directory source's `releases.json` and as the HTTP server's
    /// `repos/o/r/releases` (asset URLs under `base`).
    fn write_list(&self, base: &str) {
        let text = serde_json::to_string(&self.list).unwrap();
        std::fs::write(
            self.dir.join("releases.json"),
            text.replace("URL/", &format!("{}/", self.dir.display())),
        )
        .unwrap();
        let api = self.dir.join("repos/o/r");
        std::fs::create_dir_all(&api).unwrap();
        std::fs::write(
            api.join("releases"),
            text.replace("URL/", &format!("{base}/")),
        )
        .unwrap();
    }
}

/// python3's http.server on the releases directory.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        common::wait_until(Duration::from_secs(20), "the release server", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A box: slots holding the test's binary as 0.1.0, data, and a configuration.
struct Box_ {
    root: PathBuf,
    slots: PathBuf,
    data: PathBuf,
    config: PathBuf,
}

impl Box_ {
    fn new(root: &Path, url: &str, public: &str, extra: &str) -> Box_ {
        let slots = root.join("slots");
        Slots::init(&slots, Path::new(common::binary()), "0.1.0").unwrap();
        let data = root.join("data");
        let config = root.join("appliance.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {data:?}\n[simulation]\nthink_secs = 1\n{extra}\n[update]\nurl = {url:?}\nrepo = \"o/r\"\npublic_keys = [{public:?}]\nslots = {slots:?}\nhealth_secs = 10\nrestart = \"\"\n",
            ),
        )
        .unwrap();
        Box_ {
            root: root.to_path_buf(),
            slots,
            data,
            config,
        }
    }

    fn update(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["update", "--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        appliance(&all)
    }

    /// What the service manager does before a start.
    fn guard(&self) -> String {
        let out = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../provisioning/slot-guard"
        ))
        .arg(&self.slots)
        .output()
        .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn program(&self) -> PathBuf {
        self.slots.join("current/appliance")
    }

    fn start(&self) -> Running {
        Running::start_program(
            &self.program(),
            &self.config,
            &self.data,
            self.root.join("appliance.log"),
            &[],
        )
    }

    fn slots(&self) -> Slots {
        Slots::open(&self.slots).unwrap()
    }

    /// Starts the (old) version again after a rollback, as the service manager would, until it
    /// has recorded the rollback in the event log; the update actions recorded.
    fn restart_after_rollback(&self) -> Vec<String> {
        let app = self.start();
        app.wait_until(Duration::from_secs(30), "the history in the log", || {
            log_of(self).contains("update history recorded in the event log event=rolled-back")
        });
        let _ = app.terminate(Duration::from_secs(30));
        self.recorded()
    }

    /// The update actions in the event log (the appliance stopped).
    fn recorded(&self) -> Vec<String> {
        let store = store::Store::open(&self.data.join(store::DB_FILE)).unwrap();
        let r = store.read().unwrap();
        r.events_after(0, 100_000)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.event {
                Event::AdminAction { action, detail, .. } if action.starts_with("update") => {
                    Some(format!("{action}: {detail}"))
                }
                _ => None,
            })
            .collect()
    }
}

fn log_of(b: &Box_) -> String {
    std::fs::read_to_string(b.root.join("appliance.log")).unwrap_or_default()
}

#[test]
fn a_good_update_is_applied_proves_healthy_and_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rel = Releases::new(tmp.path());
    rel.add("0.2.0", Path::new(common::binary()), true);
    let server = Server::start(&rel.dir);
    rel.write_list(&server.base);
    let b = Box_::new(
        tmp.path(),
        &server.base,
        &rel.public,
        "[stream]\nenabled = false",
    );
    let (ok, out) = b.update(&["check"]);
    assert!(
        ok && out.contains("available: 0.2.0") && out.contains("What is new in 0.2.0"),
        "{out}"
    );
    let (ok, out) = b.update(&["apply"]);
    assert!(ok, "{out}");
    assert!(out.contains("0.2.0 is in slot b"), "{out}");
    let s = b.slots();
    assert_eq!(s.active().unwrap(), Slot::B);
    assert_eq!(s.pending().map(|p| p.version), Some("0.2.0".into()));

    b.guard();
    let app = b.start();
    common::wait_until(
        Duration::from_secs(60),
        "the update to be confirmed",
        || b.slots().pending().is_none(),
    );
    let status = app.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let (ok, out) = b.update(&["status"]);
    assert!(ok && out.contains("running: 0.2.0 (slot b)"), "{out}");
    assert!(out.contains("confirmed"), "{out}");
    let recorded = b.recorded();
    assert!(
        recorded
            .iter()
            .any(|l| l.starts_with("update installed: 0.2.0"))
            && recorded
                .iter()
                .any(|l| l.starts_with("update confirmed: 0.2.0")),
        "{recorded:#?}"
    );
    // Nothing newer: up to date.
    let (ok, out) = b.update(&["apply"]);
    assert!(ok && out.contains("up to date: 0.2.0"), "{out}");
    assert!(log_of(&b).contains("the update is confirmed"));
}

#[test]
fn a_tampered_or_unsigned_release_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rel = Releases::new(tmp.path());
    let file = rel.add("0.2.0", Path::new(common::binary()), true);
    let dir = rel.dir.to_str().unwrap().to_string();
    // Signed by another key: refused.
    let other = Releases::new(&tmp.path().join("other"));
    let b2 = Box_::new(&tmp.path().join("box2"), &dir, &other.public, "");
    let (ok, out) = b2.update(&["apply"]);
    assert!(!ok && out.contains("not signed by a trusted key"), "{out}");
    assert_eq!(b2.slots().active().unwrap(), Slot::A);
    // One byte changed in the middle of the signed file.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();
    let b = Box_::new(tmp.path(), &dir, &rel.public, "[stream]\nenabled = false");
    let (ok, out) = b.update(&["apply"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("is not signed by a trusted key, refused"),
        "{out}"
    );
    let s = b.slots();
    assert_eq!(s.active().unwrap(), Slot::A);
    assert!(
        s.pending().is_none() && s.version(Slot::B).is_none(),
        "nothing installed"
    );

    // Unsigned: refused too.
    rel.add("0.2.1", Path::new(common::binary()), false);
    let (ok, out) = b.update(&["apply"]);
    assert!(!ok && out.contains("not signed by a trusted key"), "{out}");
    assert_eq!(b.slots().active().unwrap(), Slot::A);
}

#[test]
fn an_update_that_is_not_healthy_in_time_is_rolled_back_and_the_old_version_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rel = Releases::new(tmp.path());
    rel.add("0.3.0", Path::new(common::binary()), true);
    let dir = rel.dir.to_str().unwrap().to_string();
    // The stream publishes to an ingest that is not there: never healthy.
    let b = Box_::new(
        tmp.path(),
        &dir,
        &rel.public,
        "[stream]\nenabled = true\nurl = \"rtmp://127.0.0.1:9/live/key\"\non_air = \"always\"\nrecord = \"off\"",
    );
    let (ok, out) = b.update(&["apply"]);
    assert!(ok, "{out}");
    b.guard();
    let mut app = b.start();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = app.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no rollback:\n{}",
            log_of(&b)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(75), "{}", log_of(&b));
    assert!(
        log_of(&b).contains("the update is rolled back"),
        "{}",
        log_of(&b)
    );
    let s = b.slots();
    assert_eq!(s.active().unwrap(), Slot::A);
    assert_eq!(s.bad(), ["0.3.0"]);
    // The service manager starts it again: the old version serves, and records what happened.
    assert_eq!(b.guard(), "", "nothing left for the guard");
    let recorded = b.restart_after_rollback();
    assert!(
        recorded
            .iter()
            .any(|l| l.starts_with("update rolled-back: 0.3.0")
                && l.contains("not healthy within 10 s")),
        "{recorded:#?}"
    );
    // And it is not offered again.
    let (ok, out) = b.update(&["check"]);
    assert!(ok && out.contains("up to date"), "{out}");
}

#[test]
fn a_new_version_that_cannot_run_is_rolled_back_by_the_slot_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rel = Releases::new(tmp.path());
    // Answers its trial run, then fails at every start.
    let script = tmp.path().join("broken");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '#!/bin/sh\\n[ \"$1\" = --version ] && echo appliance 0.4.0 && exit 0\\nexit 1\\n' > {} && chmod +x {}",
            script.display(),
            script.display()
        ))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    rel.add("0.4.0", &script, true);
    let dir = rel.dir.to_str().unwrap().to_string();
    let b = Box_::new(tmp.path(), &dir, &rel.public, "[stream]\nenabled = false");
    let (ok, out) = b.update(&["apply"]);
    assert!(ok && out.contains("appliance 0.4.0"), "{out}");
    // First start: it fails.
    assert_eq!(b.guard(), "");
    let status = Command::new(b.program()).arg("run").status().unwrap();
    assert!(!status.success());
    // Second start: the guard goes back first.
    let said = b.guard();
    assert!(
        said.contains("0.4.0 did not prove healthy; back to 0.1.0"),
        "{said}"
    );
    let s = b.slots();
    assert_eq!(
        (s.active().unwrap(), s.bad()),
        (Slot::A, vec!["0.4.0".to_string()])
    );
    let recorded = b.restart_after_rollback();
    assert!(
        recorded
            .iter()
            .any(|l| l.starts_with("update rolled-back: 0.4.0") && l.contains("slot guard")),
        "{recorded:#?}"
    );
}

#[test]
fn an_update_waits_while_an_auction_is_open_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rel = Releases::new(tmp.path());
    rel.add("0.2.0", Path::new(common::binary()), true);
    let dir = rel.dir.to_str().unwrap().to_string();
    // The demo campaign opens an auction at once.
    let b = Box_::new(tmp.path(), &dir, &rel.public, "[stream]\nenabled = false");
    b.guard();
    let app = b.start();
    app.wait_until(Duration::from_secs(30), "the demo auction to open", || {
        !app.status()["live_auction"].is_null()
    });
    let (ok, out) = b.update(&["apply"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("updates wait for the post-auction window"),
        "{out}"
    );
    assert_eq!(b.slots().active().unwrap(), Slot::A);
    let (ok, out) = b.update(&["apply", "--force"]);
    assert!(ok && out.contains("0.2.0 is in slot b"), "{out}");
    let _ = app.terminate(Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_shows_checks_and_applies_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rel = Releases::new(tmp.path());
    rel.add("0.2.0", Path::new(common::binary()), true);
    let slots = tmp.path().join("slots");
    Slots::init(&slots, Path::new(common::binary()), "0.1.0").unwrap();
    let extra = format!(
        "[update]\nurl = {:?}\npublic_keys = [{:?}]\nslots = {slots:?}\nrestart = \"\"\n",
        rel.dir.display().to_string(),
        rel.public
    );
    let app = common::admin_page::WebAppliance::start(tmp.path(), &extra, &[]);
    let mut api = app.client();
    assert_eq!(
        api.login("admin", &app.admin_password, None).await.status,
        200
    );
    // Each answer: its status, and what it says.
    let says = |r: &common::admin_page::Reply, status: u16, what: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        assert!(r.text().contains(what), "{what}: {}", r.text());
    };
    let none = serde_json::json!({});
    says(
        &api.get("/api/v1/update").await,
        200,
        "running: 0.1.0 (slot a)",
    );
    says(
        &api.send("POST", "/api/v1/update/check", none.clone()).await,
        200,
        "available: 0.2.0",
    );
    // The demo auction is open: it waits, unless forced.
    says(
        &api.send("POST", "/api/v1/update/apply", none).await,
        409,
        "post-auction window",
    );
    let force = serde_json::json!({"force": true});
    says(
        &api.send("POST", "/api/v1/update/apply", force).await,
        200,
        "0.2.0 is in slot b",
    );
    assert_eq!(Slots::open(&slots).unwrap().active().unwrap(), Slot::B);
    let page = api.get("/system").await.text();
    assert!(
        page.contains("Software updates") && page.contains("pending: 0.2.0"),
        "{page}"
    );
    let _ = app.running.terminate(Duration::from_secs(30));
}
