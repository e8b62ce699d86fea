//! Backups and restores.
//!
//! A backup is a new redb file holding a consistent snapshot of every table, taken from a read
//! transaction (so the appliance keeps running and writing). It is checked with [`check::run`]
//! before it is given its final name: a backup file that exists has passed the check.
//! A restore only goes into a data directory with no database, and only from a file that passes
//! the check.

use std::fs;
use std::path::{Path, PathBuf};

use crate::check::{self, Report};
use crate::tables::{self, WriteTables};
use crate::{Error, Result, Store, Timestamp};

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Rows copied, all tables together.
    pub rows: u64,
    /// The check of the backup.
    pub check: Report,
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("cannot sync {}", parent.display()), e))
}

/// Writes a consistent snapshot of `store` to `out`, which must not exist yet.
pub fn backup(store: &Store, out: &Path) -> Result<BackupReport> {
    if out.exists() {
        return Err(Error::io(
            format!("{} already exists; choose a new name", out.display()),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let tmp = partial_path(out);
    let _ = fs::remove_file(&tmp);
    let snapshot = store.read()?;
    let rows = {
        let db = redb::Database::create(&tmp)?;
        crate::private_file(&tmp)?;
        let txn = db.begin_write()?;
        let rows = {
            let mut t = WriteTables::open(&txn)?;
            let rows = tables::copy_all(&snapshot.t, &mut t)?;
            let now = Timestamp::from_datetime(chrono::Utc::now());
            t.meta.insert("backup_taken_at", now.rfc3339().as_bytes())?;
            rows
        };
        txn.commit()?;
        rows
    };
    drop(snapshot);
    let report = {
        let copy = Store::open_read_only(&tmp)?;
        check::run(&copy)?
    };
    if !report.ok() {
        let _ = fs::remove_file(&tmp);
        return Err(Error::Corrupt(format!(
            "the backup does not pass the integrity check: {}",
            report.problems.join("; ")
        )));
    }
    fs::rename(&tmp, out)
        .map_err(|e| Error::io(format!("cannot name the backup {}", out.display()), e))?;
    sync_parent(out)?;
    Ok(BackupReport {
        path: out.to_path_buf(),
        rows,
        check: report,
    })
}

/// Restores `backup` as the database file `target`, which must not exist.
pub fn restore(backup: &Path, target: &Path) -> Result<Report> {
    if target.exists() {
        return Err(Error::io(
            format!(
                "{} already holds a database; restore only into an empty data directory",
                target.display()
            ),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let report = {
        let source = Store::open_read_only(backup)?;
        check::run(&source)?
    };
    if !report.ok() {
        return Err(Error::Corrupt(format!(
            "{} does not pass the integrity check: {}",
            backup.display(),
            report.problems.join("; ")
        )));
    }
    if let Some(dir) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    let tmp = partial_path(target);
    fs::copy(backup, &tmp)
        .map_err(|e| Error::io(format!("cannot copy {}", backup.display()), e))?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("cannot sync {}", tmp.display()), e))?;
    fs::rename(&tmp, target)
        .map_err(|e| Error::io(format!("cannot create {}", target.display()), e))?;
    sync_parent(target)?;
    let store = Store::open(target)?;
    let now = Timestamp::from_datetime(chrono::Utc::now());
    store.write(|w| {
        w.set_meta("restored_at", &now.rfc3339())?;
        w.set_meta("restored_from", &backup.display().to_string())
    })?;
    Ok(report)
}
