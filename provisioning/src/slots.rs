//! The two binary slots: `ROOT/a/appliance` and `ROOT/b/appliance`, each with its `VERSION`,
//! and `ROOT/current`, a symbolic link to the active one that the service runs. An update is
//! installed into the inactive slot and made active by replacing the link in one rename (a
//! crash leaves the old link or the new one, never neither). Until the new version proves
//! healthy, `ROOT/pending` says where it came from; `ROOT/bad` lists versions that failed (never
//! offered again) and `ROOT/history` every switch, one tab-separated line each. The files are
//! plain text so that `slot-guard`, a shell script the service manager runs before each start,
//! can roll back a version that never got as far as judging itself.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

/// The program's name inside a slot.
pub const PROGRAM: &str = "appliance";

/// One of the two slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// `a`.
    A,
    /// `b`.
    B,
}

impl Slot {
    /// Its directory name.
    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    fn parse(name: &str) -> Option<Slot> {
        match name.trim().trim_end_matches('/') {
            "a" => Some(Slot::A),
            "b" => Some(Slot::B),
            _ => None,
        }
    }
}

/// An update waiting to prove itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The new version.
    pub version: String,
    /// The version it replaced.
    pub from_version: String,
    /// The slot it replaced (where a rollback goes).
    pub from: Slot,
    /// When it was switched to (RFC 3339, UTC).
    pub at: String,
}

/// One line of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// `installed`, `confirmed` or `rolled-back`.
    pub event: String,
    /// The version concerned.
    pub version: String,
    /// Details in words.
    pub detail: String,
}

/// The slots under one root.
#[derive(Clone, Debug)]
pub struct Slots {
    root: PathBuf,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes `bytes` to `path` through a temporary file and a rename, synced.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

impl Slots {
    /// The slots under `root`, which must hold the `current` link.
    pub fn open(root: &Path) -> Result<Slots> {
        let s = Slots {
            root: root.to_path_buf(),
        };
        s.active()?;
        Ok(s)
    }

    /// Sets up `root` with `binary` as version `version` in slot `a`, active (the image build
    /// does this once). Refused when `root` already holds slots.
    pub fn init(root: &Path, binary: &Path, version: &str) -> Result<Slots> {
        if root.join("current").symlink_metadata().is_ok() {
            bail!("{} already holds slots", root.display());
        }
        fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let s = Slots {
            root: root.to_path_buf(),
        };
        s.install_file(Slot::A, binary, version)?;
        fs::create_dir_all(s.dir(Slot::B))?;
        s.point_at(Slot::A)?;
        s.log("installed", version, "first installation, slot a")?;
        Ok(s)
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, slot: Slot) -> PathBuf {
        self.root.join(slot.name())
    }

    /// The slot `current` points at.
    pub fn active(&self) -> Result<Slot> {
        let link = self.root.join("current");
        let target = fs::read_link(&link)
            .with_context(|| format!("{} is not a slot link", link.display()))?;
        Slot::parse(&target.to_string_lossy()).ok_or_else(|| {
            anyhow!(
                "{} points at {}, not a or b",
                link.display(),
                target.display()
            )
        })
    }

    /// The version installed in `slot`, if any.
    pub fn version(&self, slot: Slot) -> Option<String> {
        fs::read_to_string(self.dir(slot).join("VERSION"))
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Copies `binary` into `slot` as version `version` (executable, synced; the slot's old
    /// program replaced in one rename).
    pub fn install_file(&self, slot: Slot, binary: &Path, version: &str) -> Result<()> {
        if !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            bail!("{version:?} is not a version");
        }
        let dir = self.dir(slot);
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join(format!("{PROGRAM}.new"));
        fs::copy(binary, &tmp).with_context(|| {
            format!("cannot copy {} into slot {}", binary.display(), slot.name())
        })?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, dir.join(PROGRAM))?;
        write_atomic(&dir.join("VERSION"), format!("{version}\n").as_bytes())
    }

    /// Points `current` at `slot` in one rename.
    fn point_at(&self, slot: Slot) -> Result<()> {
        let tmp = self.root.join("current.new");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(slot.name(), &tmp)
            .with_context(|| format!("cannot make {}", tmp.display()))?;
        fs::rename(&tmp, self.root.join("current")).with_context(|| {
            format!(
                "cannot switch {} to slot {}",
                self.root.display(),
                slot.name()
            )
        })?;
        sync_dir(&self.root)
    }

    /// Makes the inactive slot, holding `version`, the active one, remembering where it came
    /// from until it is confirmed or rolled back.
    pub fn switch(&self, version: &str) -> Result<Pending> {
        if self.pending().is_some() {
            bail!("an update is already waiting to prove itself; confirm or roll it back first");
        }
        let from = self.active()?;
        let to = from.other();
        if self.version(to).as_deref() != Some(version) {
            bail!("slot {} does not hold {version}", to.name());
        }
        let pending = Pending {
            version: version.to_string(),
            from_version: self.version(from).unwrap_or_default(),
            from,
            at: now(),
        };
        let text = format!(
            "version={}\nfrom_version={}\nfrom={}\nat={}\n",
            pending.version,
            pending.from_version,
            from.name(),
            pending.at
        );
        // The marker first: a crash between the two leaves a marker for the old slot, which
        // the next start confirms away (the active slot is not the pending one).
        write_atomic(&self.root.join("pending"), text.as_bytes())?;
        let _ = fs::remove_file(self.root.join("pending.started"));
        self.point_at(to)?;
        self.log(
            "installed",
            version,
            &format!(
                "from {} (slot {}), waiting to prove healthy",
                pending.from_version,
                from.name()
            ),
        )?;
        Ok(pending)
    }

    /// The update waiting to prove itself, if the active slot is the one it installed.
    pub fn pending(&self) -> Option<Pending> {
        let text = fs::read_to_string(self.root.join("pending")).ok()?;
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .map(|v| v.trim().to_string())
        };
        let from = Slot::parse(&field("from")?)?;
        let p = Pending {
            version: field("version")?,
            from_version: field("from_version").unwrap_or_default(),
            from,
            at: field("at").unwrap_or_default(),
        };
        (self.active().ok() == Some(from.other())).then_some(p)
    }

    /// The new version proved healthy: it stays.
    pub fn confirm(&self, detail: &str) -> Result<Option<Pending>> {
        let p = self.pending();
        let _ = fs::remove_file(self.root.join("pending.started"));
        match fs::remove_file(self.root.join("pending")) {
            Ok(()) => sync_dir(&self.root)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(p) = &p {
            self.log("confirmed", &p.version, detail)?;
        }
        Ok(p)
    }

    /// Goes back to the other slot: the pending update's (marked bad, never offered again),
    /// or, with none pending, the previous version (by the operator's choice).
    pub fn rollback(&self, why: &str) -> Result<(String, String)> {
        let active = self.active()?;
        let to = active.other();
        let Some(back) = self.version(to) else {
            bail!("slot {} holds no version to go back to", to.name());
        };
        let leaving = self.version(active).unwrap_or_default();
        if let Some(p) = self.pending() {
            let mut bad = fs::read_to_string(self.root.join("bad")).unwrap_or_default();
            bad.push_str(&p.version);
            bad.push('\n');
            write_atomic(&self.root.join("bad"), bad.as_bytes())?;
        }
        self.point_at(to)?;
        let _ = fs::remove_file(self.root.join("pending.started"));
        let _ = fs::remove_file(self.root.join("pending"));
        sync_dir(&self.root)?;
        self.log("rolled-back", &leaving, &format!("back to {back}: {why}"))?;
        Ok((leaving, back))
    }

    /// Versions that failed to prove healthy.
    pub fn bad(&self) -> Vec<String> {
        fs::read_to_string(self.root.join("bad"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Every switch, oldest first.
    pub fn history(&self) -> Vec<Entry> {
        fs::read_to_string(self.root.join("history"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(4, '\t');
                Some(Entry {
                    at: f.next()?.to_string(),
                    event: f.next()?.to_string(),
                    version: f.next()?.to_string(),
                    detail: f.next().unwrap_or("").to_string(),
                })
            })
            .collect()
    }

    fn log(&self, event: &str, version: &str, detail: &str) -> Result<()> {
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("history"))?;
        writeln!(
            f,
            "{}\t{}\t{}\t{}",
            now(),
            clean(event),
            clean(version),
            clean(detail)
        )?;
        f.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_is_pending_until_confirmed_and_a_rollback_marks_it_bad() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("slots");
        let bin = tmp.path().join("bin");
        fs::write(&bin, b"#!/bin/sh\necho one\n").unwrap();
        let s = Slots::init(&root, &bin, "0.1.0").unwrap();
        assert!(Slots::init(&root, &bin, "0.1.0").is_err(), "once");
        assert_eq!(s.active().unwrap(), Slot::A);
        assert_eq!(s.version(Slot::A).as_deref(), Some("0.1.0"));
        assert!(s.pending().is_none());

        s.install_file(Slot::B, &bin, "0.2.0").unwrap();
        assert!(s.switch("0.3.0").is_err(), "slot b holds 0.2.0");
        let p = s.switch("0.2.0").unwrap();
        assert_eq!((p.from, p.from_version.as_str()), (Slot::A, "0.1.0"));
        assert_eq!(s.active().unwrap(), Slot::B);
        assert_eq!(s.pending(), Some(p.clone()));
        assert!(s.switch("0.2.0").is_err(), "one at a time");
        // Through the link, the new program runs.
        let out = std::process::Command::new(root.join("current").join(PROGRAM))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"one\n");

        let (left, back) = s.rollback("not healthy within 60 s").unwrap();
        assert_eq!((left.as_str(), back.as_str()), ("0.2.0", "0.1.0"));
        assert_eq!(s.active().unwrap(), Slot::A);
        assert_eq!(s.bad(), ["0.2.0"]);
        assert!(s.pending().is_none());

        // A good one is confirmed and stays.
        s.install_file(Slot::B, &bin, "0.2.1").unwrap();
        s.switch("0.2.1").unwrap();
        assert_eq!(
            s.confirm("healthy after 4 s").unwrap().map(|p| p.version),
            Some("0.2.1".into())
        );
        assert!(s.pending().is_none());
        assert_eq!(s.confirm("again").unwrap(), None);
        // The operator may still go back to the previous version (not marked bad).
        s.rollback("operator's choice").unwrap();
        assert_eq!(s.active().unwrap(), Slot::A);
        assert_eq!(s.bad(), ["0.2.0"]);
        let events: Vec<String> = s
            .history()
            .into_iter()
            .map(|e| format!("{} {}", e.event, e.version))
            .collect();
        assert_eq!(
            events,
            [
                "installed 0.1.0",
                "installed 0.2.0",
                "rolled-back 0.2.0",
                "installed 0.2.1",
                "confirmed 0.2.1",
                "rolled-back 0.2.1"
            ]
        );
        assert!(s.install_file(Slot::B, &bin, "../x").is_err());
    }
}
