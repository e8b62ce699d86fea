//! The auction engine: the single writer of the store.
//!
//! Commands arrive on a bounded queue from any task. A dedicated thread takes whatever is queued
//! (up to `max_batch`), runs the schedule if something is due, handles each command in order
//! inside ONE write transaction, commits it durably, and only then answers each caller and
//! publishes the committed events. One fsync is shared by every command in the batch (group
//! commit); no caller hears "accepted" before its bid is on disk.

/// Inside a handler: the value of an `Ok`, or return the refusal (`Ok(Err(..))`: nothing written).
macro_rules! refuse {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

mod command;
mod handlers;
mod intake;
mod operator;
pub mod rules;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use store::{Event, EventRecord, Store, Timestamp};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use command::{
    BidReceipt, CampaignSpec, Command, CommandError, IncomingTweet, ItemSpec, Reply,
};
pub use handlers::{Core, MAX_RATE_WINDOW_SECS, Policy, next_deadline, valid_handle};
pub use operator::{ACCOUNTS_KEY, OperatorAction};

use crate::clock::SharedClock;

/// Events committed together, in log order, with the instant their transaction became durable.
#[derive(Debug)]
pub struct CommittedBatch {
    /// When the commit returned.
    pub at: std::time::Instant,
    /// The events.
    pub events: Vec<EventRecord>,
}

impl std::ops::Deref for CommittedBatch {
    type Target = [EventRecord];
    fn deref(&self) -> &[EventRecord] {
        &self.events
    }
}

/// A committed batch, shared with every subscriber.
pub type Committed = Arc<CommittedBatch>;

/// Engine tuning.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Most commands in one transaction.
    pub max_batch: usize,
    /// Commands that may wait in the queue before senders wait.
    pub queue_capacity: usize,
    /// What the engine is connected to.
    pub policy: Policy,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_batch: 512,
            queue_capacity: 8192,
            policy: Policy::default(),
        }
    }
}

struct Request {
    command: Command,
    reply: oneshot::Sender<Result<Reply, CommandError>>,
}

enum Envelope {
    Request(Request),
    Shutdown(oneshot::Sender<()>),
}

/// Counters, for benchmarks and the admin page.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Transactions committed.
    pub batches: AtomicU64,
    /// Commands answered.
    pub commands: AtomicU64,
    /// Events appended.
    pub events: AtomicU64,
    /// Transactions that failed.
    pub failures: AtomicU64,
}

/// A cheap, cloneable way to talk to the engine.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Envelope>,
    events: broadcast::Sender<Committed>,
    stats: Arc<EngineStats>,
    died: watch::Receiver<Option<String>>,
}

impl EngineHandle {
    /// Runs a command; returns once its effects are durable (or it was refused).
    pub async fn execute(&self, command: Command) -> Result<Reply, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Envelope::Request(Request { command, reply }))
            .await
            .map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Committed events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.events.subscribe()
    }

    /// The engine's counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Turns to `Some(why)` if the engine thread dies (a panic): nothing is written any more,
    /// so whoever runs the engine should stop and be restarted rather than limp on.
    pub fn died(&self) -> watch::Receiver<Option<String>> {
        self.died.clone()
    }
}

fn stopped() -> CommandError {
    CommandError::new("unavailable", "the engine has stopped")
}

/// The running engine.
pub struct Engine {
    handle: EngineHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread. It runs the schedule at once (catching up on anything missed
    /// while the appliance was down).
    pub fn start(
        store: Arc<Store>,
        clock: SharedClock,
        config: EngineConfig,
    ) -> std::io::Result<Engine> {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (events, _) = broadcast::channel(1024);
        let stats = Arc::new(EngineStats::default());
        let (died_tx, died) = watch::channel(None);
        let handle = EngineHandle {
            tx,
            events: events.clone(),
            stats: stats.clone(),
            died,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let writer = Writer {
            store,
            clock,
            core: Core::new(config.policy),
            events,
            stats,
            max_batch: config.max_batch.max(1),
            recent: RecentBatches::default(),
        };
        let thread = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| runtime.block_on(writer.run(rx)));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".into());
                    tracing::error!(reason = %why, "the engine thread died");
                    let _ = died_tx.send(Some(why));
                }
            })?;
        Ok(Engine {
            handle,
            thread: Some(thread),
        })
    }

    /// A handle for sending commands.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Finishes the commands already queued, then stops. Commands sent afterwards are refused.
    pub async fn shutdown(mut self) {
        let (ack, done) = oneshot::channel();
        if self.handle.tx.send(Envelope::Shutdown(ack)).await.is_ok() {
            let _ = done.await;
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Without an explicit shutdown the thread ends when every handle is gone.
        self.thread.take();
    }
}

/// The engine thread's state.
struct Writer {
    store: Arc<Store>,
    clock: SharedClock,
    core: Core,
    events: broadcast::Sender<Committed>,
    stats: Arc<EngineStats>,
    max_batch: usize,
    recent: RecentBatches,
}

/// Longest wait for more commands before committing a batch smaller than recent ones.
const LINGER: Duration = Duration::from_micros(300);
/// Poll interval while lingering.
const LINGER_STEP: Duration = Duration::from_micros(40);

/// Sizes of the last few batches: how many callers are typically waiting at once.
#[derive(Debug, Default)]
struct RecentBatches {
    sizes: [usize; 8],
    next: usize,
}

impl RecentBatches {
    fn record(&mut self, size: usize) {
        self.sizes[self.next] = size;
        self.next = (self.next + 1) % self.sizes.len();
    }

    /// The batch size worth waiting for: the largest of the recent ones.
    fn target(&self) -> usize {
        self.sizes.iter().copied().max().unwrap_or(1).max(1)
    }
}

/// The longest the engine sleeps without looking at the clock (clocks can jump).
const MAX_NAP: Duration = Duration::from_millis(250);
/// Retry delay after a transaction that failed as a whole.
const RETRY_AFTER_FAILURE_SECS: i64 = 1;

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Envelope>) {
        let mut deadline = Some(self.clock.now());
        loop {
            let due = deadline.is_some_and(|d| self.clock.now() >= d);
            let mut batch = Vec::new();
            let mut shutdown = None;
            if !due {
                let nap = deadline
                    .map(|d| self.clock.real_until(d).unwrap_or(Duration::from_millis(5)))
                    .unwrap_or(MAX_NAP)
                    .min(MAX_NAP);
                tokio::select! {
                    message = rx.recv() => match message {
                        Some(Envelope::Request(r)) => batch.push(r),
                        Some(Envelope::Shutdown(ack)) => shutdown = Some(ack),
                        None => break,
                    },
                    () = tokio::time::sleep(nap) => {}
                }
            }
            let linger_until = std::time::Instant::now() + LINGER;
            while shutdown.is_none() && batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(Envelope::Request(r)) => batch.push(r),
                    Ok(Envelope::Shutdown(ack)) => shutdown = Some(ack),
                    Err(_) => {
                        // Adaptive group commit: when recent transactions carried more commands than
                        // are queued now, the callers just answered are probably about to send their
                        // next one; wait a moment for them rather than pay a second commit.
                        if batch.is_empty()
                            || batch.len() >= self.recent.target()
                            || std::time::Instant::now() >= linger_until
                        {
                            break;
                        }
                        std::thread::sleep(LINGER_STEP);
                    }
                }
            }
            if !batch.is_empty() {
                self.recent.record(batch.len());
            }
            let due = deadline.is_some_and(|d| self.clock.now() >= d);
            if due || !batch.is_empty() {
                deadline = self.process(batch, due, deadline);
            }
            if let Some(ack) = shutdown {
                rx.close();
                while let Ok(envelope) = rx.try_recv() {
                    if let Envelope::Request(r) = envelope {
                        let _ = r.reply.send(Err(stopped()));
                    }
                }
                let _ = ack.send(());
                break;
            }
        }
    }

    /// Commits one batch; returns the next schedule deadline.
    fn process(
        &mut self,
        batch: Vec<Request>,
        mut tick: bool,
        deadline: Option<Timestamp>,
    ) -> Option<Timestamp> {
        let mut refused: Vec<Option<CommandError>> = vec![None; batch.len()];
        let mut tick_failed = false;
        loop {
            let mut failed_at = None;
            let Writer {
                store, clock, core, ..
            } = self;
            let result = store.write(|w| {
                let mut answers = Vec::with_capacity(batch.len());
                if tick {
                    core.tick(w, clock.now())?;
                }
                for (i, request) in batch.iter().enumerate() {
                    if refused[i].is_some() {
                        answers.push(None);
                        continue;
                    }
                    match core.handle(w, &request.command, clock.now()) {
                        Ok(answer) => answers.push(Some(answer)),
                        Err(e) => {
                            failed_at = Some(i);
                            return Err(e);
                        }
                    }
                }
                Ok(answers)
            });
            match result {
                Ok((answers, events)) => {
                    let committed_at = std::time::Instant::now();
                    let now = self.clock.now();
                    self.core.rate.commit(now, MAX_RATE_WINDOW_SECS);
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .commands
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    self.stats
                        .events
                        .fetch_add(events.len() as u64, Ordering::Relaxed);
                    let reschedule = tick || events.iter().any(|e| changes_schedule(&e.event));
                    for ((request, answer), refusal) in batch.into_iter().zip(answers).zip(refused)
                    {
                        let answer = match (answer, refusal) {
                            (Some(a), _) => a,
                            (None, Some(e)) => Err(e),
                            (None, None) => Err(CommandError::new("storage", "not processed")),
                        };
                        let _ = request.reply.send(answer);
                    }
                    if !events.is_empty() {
                        let _ = self.events.send(Arc::new(CommittedBatch {
                            at: committed_at,
                            events,
                        }));
                    }
                    if tick_failed {
                        return Some(now.plus_secs(RETRY_AFTER_FAILURE_SECS));
                    }
                    if !reschedule {
                        return deadline;
                    }
                    return match self
                        .store
                        .read()
                        .and_then(|r| next_deadline(&r, &self.core.policy, now))
                    {
                        Ok(next) => next,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot read the schedule; retrying shortly");
                            Some(now.plus_secs(RETRY_AFTER_FAILURE_SECS))
                        }
                    };
                }
                Err(e) => {
                    self.core.rate.rollback();
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    if e.needs_reopen() {
                        // redb takes no write after one failed part-way (a full disk) until the
                        // database is opened again: end the engine, so the process exits for the
                        // service manager to start it afresh (crash-only; the last commit holds).
                        for request in batch {
                            let _ = request.reply.send(Err(CommandError::new(
                                "storage",
                                format!("storage failure: {e}"),
                            )));
                        }
                        panic!("the database must be opened again after a failed write: {e}");
                    }
                    if let Some(i) = failed_at {
                        tracing::error!(error = %e, command = batch[i].command.name(), "command failed in storage; retrying the batch without it");
                        refused[i] = Some(CommandError::new(
                            "storage",
                            format!("storage failure: {e}"),
                        ));
                        continue;
                    }
                    if tick {
                        tracing::error!(error = %e, "the schedule could not run; retrying shortly, commands go on");
                        tick = false;
                        tick_failed = true;
                        continue;
                    }
                    tracing::error!(error = %e, "transaction failed; nothing in it was kept");
                    for request in batch {
                        let _ = request.reply.send(Err(CommandError::new(
                            "storage",
                            format!("storage failure: {e}"),
                        )));
                    }
                    return Some(self.clock.now().plus_secs(RETRY_AFTER_FAILURE_SECS));
                }
            }
        }
    }
}

/// Whether an event can move the schedule's next deadline.
fn changes_schedule(event: &Event) -> bool {
    match event {
        Event::BidAccepted { extended, .. } => *extended,
        Event::UserSeen { .. }
        | Event::WalletLinked { .. }
        | Event::DepositRecorded { .. }
        | Event::DepositCredited { .. }
        | Event::BidRejected { .. }
        | Event::TweetReceived { .. }
        | Event::DepositReverted { .. }
        | Event::BidVoided { .. }
        | Event::WithdrawalRequested { .. }
        | Event::OutboxReviewed { .. }
        | Event::TransactionReplaced { .. }
        | Event::AdminAction { .. } => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests;
