//! Scheduled backups while the appliance runs: every `backup.every_secs` a snapshot of the
//! database is written and checked (`store::backup`), kept under the backup directory (0700) with
//! two retentions: the newest `keep`, and the first of each UTC day for `keep_daily` days. What
//! happened (the last good backup, failures) is in the status, the System page and the alerts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::clock::SharedClock;
use domain::report::{Heartbeat, LastError};
use serde_json::{Value, json};
use store::{Store, Timestamp};
use tokio::sync::watch;

use crate::config::BackupConfig;

/// Regular backups are `appliance-<UTC time>.redb`; daily ones `daily-<UTC date>.redb`.
const REGULAR: &str = "appliance-";
const DAILY: &str = "daily-";

/// What the backup task reports.
#[derive(Debug, Default)]
pub struct BackupStatus {
    /// The newest backup that passed its check, and when it was taken.
    last_good: Mutex<Option<(PathBuf, Timestamp)>>,
    /// Backups written and checked since start.
    pub taken: AtomicU64,
    /// Backups that failed since start.
    pub failures: AtomicU64,
    /// The last failure.
    pub last_error: LastError,
    /// When a backup last succeeded.
    pub beat: Heartbeat,
}

impl BackupStatus {
    /// For the status answer.
    pub fn report(&self) -> Value {
        let last = self
            .last_good
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        json!({
            "last_good": last.as_ref().map(|(p, _)| p.display().to_string()),
            "last_good_at": last.map(|(_, at)| at.rfc3339()),
            "taken": self.taken.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
            "last_error": self.last_error.get(),
        })
    }
}

/// Takes a backup every `config.every_secs` until `stop`.
pub async fn run(
    store: Arc<Store>,
    dir: PathBuf,
    config: BackupConfig,
    clock: SharedClock,
    status: Arc<BackupStatus>,
    mut stop: watch::Receiver<bool>,
) {
    let every = Duration::from_secs(config.every_secs.max(1));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let (store, dir, config, now) = (store.clone(), dir.clone(), config.clone(), clock.now());
        let done = tokio::task::spawn_blocking(move || take(&store, &dir, &config, now)).await;
        match done.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(path) => {
                status.taken.fetch_add(1, Ordering::Relaxed);
                status.beat.ok();
                tracing::info!(backup = %path.display(), "backup written and checked");
                *status.last_good.lock().unwrap_or_else(|p| p.into_inner()) = Some((path, now));
            }
            Err(e) => {
                status.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "scheduled backup failed");
                status.beat.failed(e.as_str());
                status.last_error.set(e);
            }
        }
    }
}

/// Writes and checks one backup taken `now`, makes it the day's daily one if there is none yet,
/// and prunes what the retentions no longer keep.
fn take(
    store: &Store,
    dir: &Path,
    config: &BackupConfig,
    now: Timestamp,
) -> Result<PathBuf, String> {
    crate::files::private_dir(dir).map_err(|e| format!("{e:#}"))?;
    let t = now.to_datetime();
    let path = dir.join(format!("{REGULAR}{}.redb", t.format("%Y%m%dT%H%M%S%.3fZ")));
    store::backup::backup(store, &path).map_err(|e| format!("backup {}: {e}", path.display()))?;
    let daily = dir.join(format!("{DAILY}{}.redb", t.format("%Y%m%d")));
    if !daily.exists() {
        std::fs::copy(&path, &daily)
            .map_err(|e| format!("cannot keep {} as the day's backup: {e}", path.display()))?;
    }
    prune(dir, REGULAR, config.keep)?;
    prune(dir, DAILY, config.keep_daily)?;
    Ok(path)
}

/// Removes all but the newest `keep` backups named `prefix…` (the names sort by time).
fn prune(dir: &Path, prefix: &str, keep: usize) -> Result<(), String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".redb"))
        .collect();
    names.sort();
    let surplus = names.len().saturating_sub(keep);
    for old in &names[..surplus] {
        std::fs::remove_file(dir.join(old)).map_err(|e| format!("cannot remove {old}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_checked_kept_daily_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("appliance.redb")).unwrap();
        let out = dir.path().join("backups");
        let config = BackupConfig {
            every_secs: 2,
            dir: out.clone(),
            keep: 3,
            keep_daily: 2,
        };
        // Five backups over three days.
        let day = 86_400;
        let base = Timestamp::from_secs(1_790_000_000);
        for (i, at) in [0, 10, day, day + 10, 2 * day].into_iter().enumerate() {
            let path = take(&store, &out, &config, base.plus_secs(at)).unwrap();
            assert!(path.exists(), "backup {i}");
            assert!(
                store::check::run(&Store::open_read_only(&path).unwrap())
                    .unwrap()
                    .ok()
            );
        }
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let regular = names.iter().filter(|n| n.starts_with(REGULAR)).count();
        let daily: Vec<&String> = names.iter().filter(|n| n.starts_with(DAILY)).collect();
        assert_eq!(regular, 3, "{names:?}");
        assert_eq!(daily.len(), 2, "{names:?}");
        assert!(daily[1] > daily[0]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A backup that cannot be written is an error, not a silent skip.
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, b"x").unwrap();
        assert!(take(&store, &blocked, &config, base).is_err());
    }
}
