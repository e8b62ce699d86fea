//! The one supervisor of the appliance's long-running tasks (crash-only): a task that panics, or
//! ends while the appliance is not stopping, is logged with its panic message, counted, and
//! started again after a back-off. Its restarts and last failure are on the System page, in the
//! status and in `/metrics` (`task_restarts_total{task}`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::retry::Backoff;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A run that lasted this long resets the back-off: the task had recovered.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// What the supervisor knows of one task.
#[derive(Debug)]
pub struct TaskRecord {
    /// The task's name (`x.mentions`, `chain.deposits`, `backups`, ...).
    pub name: String,
    restarts: AtomicU64,
    running: AtomicBool,
    last_failure: Mutex<Option<(DateTime<Utc>, String)>>,
}

impl TaskRecord {
    /// Times the task was started again after a failure.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Whether the task runs now (false while it waits to be restarted).
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// When the task last failed, and how.
    pub fn last_failure(&self) -> Option<(DateTime<Utc>, String)> {
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Runs tasks, restarts them, and keeps their records.
#[derive(Debug)]
pub struct Supervisor {
    stop: watch::Receiver<bool>,
    backoff: Backoff,
    records: Mutex<Vec<Arc<TaskRecord>>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// A task whose first run panics (fault injection for the crash tests).
    fail_first: Mutex<Option<String>>,
}

impl Supervisor {
    /// A supervisor whose tasks end for good once `stop` turns true; restarts wait 1 s
    /// doubling to 60 s.
    pub fn new(stop: watch::Receiver<bool>) -> Arc<Supervisor> {
        Supervisor::with_backoff(
            stop,
            Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
        )
    }

    /// A supervisor with its own restart back-off.
    pub fn with_backoff(stop: watch::Receiver<bool>, backoff: Backoff) -> Arc<Supervisor> {
        Arc::new(Supervisor {
            stop,
            backoff,
            records: Mutex::new(Vec::new()),
            handles: Mutex::new(Vec::new()),
            fail_first: Mutex::new(None),
        })
    }

    /// The stop signal tasks watch.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Makes the first run of task `name` panic (see [`crate::faults`]).
    pub fn fail_first_run_of(&self, name: &str) {
        *self.fail_first.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.to_string());
    }

    /// Runs the task `make` builds, under `name`, starting it again whenever it panics or ends
    /// before the stop. `make` is called once per run.
    pub fn spawn<F, Fut>(self: &Arc<Self>, name: impl Into<String>, mut make: F) -> Arc<TaskRecord>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let record = Arc::new(TaskRecord {
            name: name.into(),
            restarts: AtomicU64::new(0),
            running: AtomicBool::new(true),
            last_failure: Mutex::new(None),
        });
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record.clone());
        let me = self.clone();
        let rec = record.clone();
        let mut inject = self
            .fail_first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            == Some(rec.name.as_str());
        let handle = tokio::spawn(async move {
            let mut attempt = 0u32;
            let mut stop = me.stop.clone();
            loop {
                rec.running.store(true, Ordering::Relaxed);
                let began = Instant::now();
                let run: Pin<Box<dyn Future<Output = ()> + Send>> = if inject {
                    inject = false;
                    Box::pin(async { panic!("injected fault") })
                } else {
                    Box::pin(make())
                };
                let outcome = tokio::spawn(run).await;
                rec.running.store(false, Ordering::Relaxed);
                if me.stopping() {
                    if let Err(e) = outcome
                        && e.is_panic()
                    {
                        tracing::error!(task = %rec.name, panic = %panic_message(e), "task panicked while stopping");
                    }
                    return;
                }
                let why = match outcome {
                    Ok(()) => "ended on its own".to_string(),
                    Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e)),
                    Err(e) => format!("was cancelled: {e}"),
                };
                if began.elapsed() >= HEALTHY_RUN {
                    attempt = 0;
                }
                attempt = attempt.saturating_add(1);
                let wait = me.backoff.delay(attempt);
                rec.restarts.fetch_add(1, Ordering::Relaxed);
                *rec.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Utc::now(), why.clone()));
                tracing::error!(task = %rec.name, failure = %why, restart_in_ms = wait.as_millis() as u64, "task failed; restarting it");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        });
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
        record
    }

    /// Every task's record, in the order they were started.
    pub fn records(&self) -> Vec<Arc<TaskRecord>> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits for every task to end (after the stop signal).
    pub async fn join(&self) {
        loop {
            let batch: Vec<JoinHandle<()>> =
                std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()));
            if batch.is_empty() {
                return;
            }
            for h in batch {
                let _ = h.await;
            }
        }
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => {
            if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "a panic without a message".to_string()
            }
        }
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn quick(stop: watch::Receiver<bool>) -> Arc<Supervisor> {
        Supervisor::with_backoff(
            stop,
            Backoff {
                jitter: 0.0,
                ..Backoff::new(Duration::from_millis(10), Duration::from_millis(40))
            },
        )
    }

    #[tokio::test]
    async fn a_panicking_task_is_restarted_and_counted() {
        let (stop, rx) = watch::channel(false);
        let sup = quick(rx);
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let stop_rx = sup.stop_signal();
        let rec = sup.spawn("flaky", move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            let mut stop_rx = stop_rx.clone();
            async move {
                if n < 2 {
                    panic!("flaky run {n}");
                }
                let _ = stop_rx.wait_for(|s| *s).await;
            }
        });
        tokio::time::timeout(Duration::from_secs(10), async {
            while runs.load(Ordering::SeqCst) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("restarted twice");
        assert_eq!(rec.restarts(), 2);
        let (_, why) = rec.last_failure().expect("a failure");
        assert_eq!(why, "panicked: flaky run 1");
        assert!(rec.running());
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(10), sup.join())
            .await
            .expect("joined");
        assert_eq!(rec.restarts(), 2, "a stop is not a failure");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_task_that_ends_early_is_restarted() {
        let (stop, rx) = watch::channel(false);
        let sup = quick(rx);
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let rec = sup.spawn("quitter", move || {
            r.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        tokio::time::timeout(Duration::from_secs(10), async {
            while rec.restarts() < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("restarted");
        assert_eq!(rec.last_failure().expect("failure").1, "ended on its own");
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(10), sup.join())
            .await
            .expect("a task waiting to restart ends at the stop");
        assert_eq!(sup.records().len(), 1);
    }
}
