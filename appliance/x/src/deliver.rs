//! Tweets out: the deliverer of the outbox's X rows (replies to bids, outbid notices,
//! announcements, reminders, results).
//!
//! Exactly once: before posting, a row is durably marked `Sending` with its final text; after
//! posting, `Sent` with the tweet's id. A row found `Sending` (a crash, a timeout) is first looked
//! for on the host's own timeline and only posted again if it is not there. Rows wait while an
//! operator's approval is required (`Held`), replies that went stale are skipped, and with no X
//! credentials or in dry-run mode the text is logged and the row skipped with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use store::{Channel, OutboxEntry, OutboxStatus, Store, View};
use tokio::sync::{broadcast, watch};

use domain::clock::SharedClock;
use domain::delivery;
use domain::engine::{Command, Committed, EngineHandle};
use domain::report::{Heartbeat, LastError};
use domain::words::{NotPosted, render, render_outbids, unlike};

use crate::api::{XClient, XError};
use crate::pace::{Budget, Pacer};
use crate::spend::{Level, Spend};

/// How long before a `Sending` row's attempt the host's timeline is searched for it.
const LOOKBACK_SECS: i64 = 300;
/// How long after an attempt the host's timeline may still not show the post (X's timelines lag
/// behind posts): until then "not on the timeline" is not taken for "not posted".
const TIMELINE_SETTLE_SECS: i64 = 60;
/// Least time between two looks at the timeline for the same row.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Counters for the status page.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Tweets posted.
    pub posted: AtomicU64,
    /// Rows skipped (stale, dry run, rejected).
    pub skipped: AtomicU64,
    /// Rows that failed for good.
    pub failed: AtomicU64,
    /// The last failure.
    pub last_error: LastError,
    /// When a round of work last succeeded, and whether the latest failed.
    pub beat: Heartbeat,
}

/// Delivers the X rows of the outbox.
#[derive(Clone)]
pub struct TweetDeliverer {
    /// The X client; `None` when X is not configured (rows are logged and skipped).
    pub api: Option<XClient>,
    /// Log instead of posting.
    pub dry_run: bool,
    /// The host's X id (to find its own tweets after a crash).
    pub host_id: Option<String>,
    /// The engine (status updates).
    pub engine: EngineHandle,
    /// The store (rows and the records they name).
    pub store: Arc<Store>,
    /// The appliance's clock.
    pub clock: SharedClock,
    /// The posting budget.
    pub budget: Budget,
    /// Counters.
    pub stats: Arc<DeliveryStats>,
    /// What posting costs, and the monthly budget.
    pub spend: Arc<Spend>,
}

/// Why a pass stopped early.
enum Pause {
    /// The posting budget needs a wait.
    Budget,
    /// The engine or the store failed; try again shortly.
    Trouble(String),
}

impl TweetDeliverer {
    /// Runs until `stop`, woken by every committed batch (new rows) and at least every second.
    pub async fn run(
        self,
        mut committed: broadcast::Receiver<Committed>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut pacer = Pacer::new(self.budget);
        let mut last_text: Option<String> = None;
        let mut floor = 0u64;
        let mut looked: HashMap<store::OutboxId, std::time::Instant> = HashMap::new();
        loop {
            if *stop.borrow() {
                return;
            }
            let result = self
                .pass(&mut floor, &mut pacer, &mut last_text, &mut looked)
                .await;
            if let Err(e) = self.spend.save(&self.engine).await {
                tracing::warn!(error = %e, "X spend not saved yet");
            }
            let wait = match result {
                Ok(()) => {
                    self.stats.beat.ok();
                    Duration::from_secs(1)
                }
                Err(Pause::Budget) => {
                    self.stats.beat.waiting();
                    pacer
                        .wait()
                        .clamp(Duration::from_millis(50), Duration::from_secs(1))
                }
                Err(Pause::Trouble(e)) => {
                    self.stats.beat.failed(e.as_str());
                    tracing::warn!(error = %e, "tweet delivery paused");
                    Duration::from_secs(2)
                }
            };
            tokio::select! {
                r = committed.recv() => {
                    if matches!(r, Err(broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Open X rows in order, from `floor` on; moves `floor` past rows that are finished.
    fn open_rows(&self, floor: &mut u64) -> Result<Vec<OutboxEntry>, String> {
        let reader = self.store.read().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut after = *floor;
        let mut all_done_so_far = true;
        loop {
            let rows = reader.outbox_after(after, 512).map_err(|e| e.to_string())?;
            let Some(last) = rows.last() else { break };
            after = last.id.0;
            for row in rows {
                let open = row.notice.channel() == Channel::X && row.status.is_open();
                if open && all_done_so_far {
                    *floor = row.id.0 - 1;
                    all_done_so_far = false;
                }
                if open
                    && matches!(
                        row.status,
                        OutboxStatus::Pending | OutboxStatus::Sending { .. }
                    )
                {
                    out.push(row);
                }
            }
        }
        if all_done_so_far {
            *floor = after;
        }
        Ok(out)
    }

    async fn pass(
        &self,
        floor: &mut u64,
        pacer: &mut Pacer,
        last_text: &mut Option<String>,
        looked: &mut HashMap<store::OutboxId, std::time::Instant>,
    ) -> Result<(), Pause> {
        let (sending, pending): (Vec<OutboxEntry>, Vec<OutboxEntry>) = self
            .open_rows(floor)
            .map_err(Pause::Trouble)?
            .into_iter()
            .partition(|r| matches!(r.status, OutboxStatus::Sending { .. }));
        // Unfinished posts first: each may already be on X.
        for row in &sending {
            if let OutboxStatus::Sending { text, .. } = &row.status {
                if looked
                    .get(&row.id)
                    .is_some_and(|t| t.elapsed() < LOOK_EVERY)
                {
                    continue;
                }
                looked.insert(row.id, std::time::Instant::now());
                self.resume(row, text, pacer, last_text).await?;
            }
        }
        let plan = {
            let reader = self
                .store
                .read()
                .map_err(|e| Pause::Trouble(e.to_string()))?;
            delivery::plan(
                &pending,
                delivery::subjects(&reader),
                |u| reader.quiet(u).unwrap_or(false),
                self.spend.level() == Level::Spent,
            )
        };
        let by_id: std::collections::HashMap<_, _> = pending.iter().map(|r| (r.id, r)).collect();
        for (id, why) in plan.drop {
            if let Some(row) = by_id.get(&id) {
                tracing::info!(row = %id, kind = row.notice.kind(), reason = %why, "tweet dropped");
                self.skip(row, why).await?;
            }
        }
        let mut done: std::collections::HashSet<store::OutboxId> = Default::default();
        for id in &plan.send {
            let Some(row) = by_id.get(id) else { continue };
            if done.contains(id) {
                continue;
            }
            if matches!(row.notice, store::Notice::Outbid { .. }) {
                // Several outbid notices of one auction share one post when they fit.
                let waiting: Vec<&OutboxEntry> = plan
                    .send
                    .iter()
                    .filter(|i| !done.contains(*i))
                    .filter_map(|i| by_id.get(i).copied())
                    .filter(|r| matches!(r.notice, store::Notice::Outbid { .. }))
                    .collect();
                let group = {
                    let reader = self
                        .store
                        .read()
                        .map_err(|e| Pause::Trouble(e.to_string()))?;
                    render_outbids(&reader, &waiting, self.clock.now())
                };
                if let Some((rendered, ids)) = group {
                    let rows: Vec<&OutboxEntry> =
                        ids.iter().filter_map(|i| by_id.get(i).copied()).collect();
                    self.deliver_group(&rows, rendered.text, pacer, last_text)
                        .await?;
                    done.extend(ids);
                    continue;
                }
            }
            self.deliver(row, pacer, last_text).await?;
            done.insert(*id);
        }
        looked.retain(|id, _| sending.iter().any(|r| r.id == *id));
        Ok(())
    }

    async fn set(
        &self,
        row: &OutboxEntry,
        status: OutboxStatus,
        attempted: bool,
    ) -> Result<(), Pause> {
        self.engine
            .execute(Command::UpdateOutbox {
                id: row.id,
                status,
                attempted,
            })
            .await
            .map(|_| ())
            .map_err(|e| Pause::Trouble(format!("outbox row {}: {e}", row.id)))
    }

    async fn deliver(
        &self,
        row: &OutboxEntry,
        pacer: &mut Pacer,
        last_text: &mut Option<String>,
    ) -> Result<(), Pause> {
        let now = self.clock.now();
        let rendered = {
            let reader = self
                .store
                .read()
                .map_err(|e| Pause::Trouble(e.to_string()))?;
            render(&reader, row, now)
        };
        let rendered = match rendered {
            Ok(r) => r,
            Err(NotPosted::Stale(why)) => return self.skip(row, why).await,
            Err(NotPosted::Broken(why)) => return self.give_up(row, why, false).await,
        };
        let text = unlike(rendered.text, last_text.as_deref(), now);
        let Some(api) = self.api.as_ref().filter(|_| !self.dry_run) else {
            let mode = self.not_posting();
            tracing::info!(row = %row.id, kind = row.notice.kind(), reply_to = rendered.reply_to.as_deref().unwrap_or(""), text = %text, "tweet not posted ({mode})");
            *last_text = Some(text.clone());
            return self.skip(row, format!("{mode}: {text}")).await;
        };
        if pacer.wait() > Duration::ZERO {
            return Err(Pause::Budget);
        }
        // The text is fixed and durable before it leaves: a crash from here on is resolved by
        // looking for exactly this text on the host's timeline.
        self.set(
            row,
            OutboxStatus::Sending {
                at: now,
                text: text.clone(),
            },
            false,
        )
        .await?;
        self.post(
            api,
            row,
            &text,
            rendered.reply_to.as_deref(),
            pacer,
            last_text,
        )
        .await
    }

    /// Why tweets are logged instead of posted (dry run, or no X).
    fn not_posting(&self) -> &'static str {
        if self.dry_run {
            "dry run"
        } else {
            "X not configured"
        }
    }

    /// Posts one tweet answering several rows (outbid notices named together): each row is
    /// `Sending` with the same text before it leaves and `Sent` with the same id after, so a
    /// crash is resolved row by row by finding that text on the timeline.
    async fn deliver_group(
        &self,
        rows: &[&OutboxEntry],
        text: String,
        pacer: &mut Pacer,
        last_text: &mut Option<String>,
    ) -> Result<(), Pause> {
        let now = self.clock.now();
        let text = unlike(text, last_text.as_deref(), now);
        let Some(api) = self.api.as_ref().filter(|_| !self.dry_run) else {
            let mode = self.not_posting();
            tracing::info!(rows = rows.len(), text = %text, "tweet not posted ({mode})");
            *last_text = Some(text.clone());
            for row in rows {
                self.skip(row, format!("{mode}: {text}")).await?;
            }
            return Ok(());
        };
        if pacer.wait() > Duration::ZERO {
            return Err(Pause::Budget);
        }
        for row in rows {
            self.set(
                row,
                OutboxStatus::Sending {
                    at: now,
                    text: text.clone(),
                },
                false,
            )
            .await?;
        }
        pacer.spend();
        let outcome = match api.post_tweet(&text, None).await {
            Ok((id, rate)) => {
                pacer.observe(&rate);
                pacer.succeeded();
                self.spend.posted(self.clock.now(), &text);
                *last_text = Some(text.clone());
                self.stats.posted.fetch_add(1, Ordering::Relaxed);
                tracing::info!(rows = rows.len(), tweet = %id, "one tweet for several outbid notices posted");
                Ok(id)
            }
            Err(e) if e.is_transient() => {
                // Each row stays `Sending`: the next pass looks for the text first.
                pacer.failed(&e);
                tracing::warn!(error = %e, "posting failed; will check and retry");
                return Err(Pause::Budget);
            }
            Err(e) if e.is_duplicate() => match self.find_posted(api, rows[0], &text).await {
                Ok(Some(id)) => Ok(id),
                _ => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        for row in rows {
            match &outcome {
                Ok(id) => {
                    self.set(
                        row,
                        OutboxStatus::Sent {
                            at: self.clock.now(),
                            external_id: id.clone(),
                        },
                        true,
                    )
                    .await?
                }
                Err(e) => self.give_up(row, e.clone(), true).await?,
            }
        }
        Ok(())
    }

    async fn post(
        &self,
        api: &XClient,
        row: &OutboxEntry,
        text: &str,
        reply_to: Option<&str>,
        pacer: &mut Pacer,
        last_text: &mut Option<String>,
    ) -> Result<(), Pause> {
        pacer.spend();
        match api.post_tweet(text, reply_to).await {
            Ok((id, rate)) => {
                pacer.observe(&rate);
                pacer.succeeded();
                self.spend.posted(self.clock.now(), text);
                *last_text = Some(text.to_string());
                self.stats.posted.fetch_add(1, Ordering::Relaxed);
                tracing::info!(row = %row.id, kind = row.notice.kind(), tweet = %id, "tweet posted");
                self.set(
                    row,
                    OutboxStatus::Sent {
                        at: self.clock.now(),
                        external_id: id,
                    },
                    true,
                )
                .await
            }
            Err(e) if e.is_duplicate() => {
                // Posted before (a crash between posting and recording it), or truly a repeat.
                let recent = matches!(&row.status, OutboxStatus::Sending { at, .. }
                    if self.clock.now().micros_since(*at) < TIMELINE_SETTLE_SECS * 1_000_000);
                match self.find_posted(api, row, text).await {
                    Ok(Some(id)) => self.sent(row, id).await,
                    // X says it has it; the timeline may not show it yet.
                    Ok(None) if recent => Ok(()),
                    _ => self.give_up(row, e.to_string(), true).await,
                }
            }
            Err(e) if e.is_transient() => {
                // It may or may not have been posted: the row stays `Sending`, and the next try
                // looks for it first.
                pacer.failed(&e);
                self.stats.beat.failed(format!("posting failed: {e}"));
                tracing::warn!(row = %row.id, error = %e, "posting failed; will check and retry");
                Err(Pause::Budget)
            }
            Err(e) if e.is_reply_target_gone() => {
                // The bidder deleted the tweet: what it did (a bid seen stands) is unchanged,
                // and no later try can answer it.
                tracing::info!(row = %row.id, kind = row.notice.kind(), "the tweet to answer was deleted; reply dropped");
                self.skip(row, format!("the tweet it answers was deleted: {e}"))
                    .await
            }
            Err(e) => {
                tracing::error!(row = %row.id, error = %e, "X refused a tweet");
                self.give_up(row, e.to_string(), true).await
            }
        }
    }

    /// A row left `Sending`: posted if it is on the host's timeline, else posted again.
    async fn resume(
        &self,
        row: &OutboxEntry,
        text: &str,
        pacer: &mut Pacer,
        last_text: &mut Option<String>,
    ) -> Result<(), Pause> {
        let Some(api) = self.api.as_ref().filter(|_| !self.dry_run) else {
            let why = "X is no longer configured (it may have been posted before the restart)";
            return self.skip(row, why.into()).await;
        };
        if pacer.wait() > Duration::ZERO {
            return Err(Pause::Budget);
        }
        match self.find_posted(api, row, text).await {
            Ok(Some(id)) => {
                *last_text = Some(text.to_string());
                self.sent(row, id).await
            }
            Ok(None)
                if matches!(&row.status, OutboxStatus::Sending { at, .. }
                    if self.clock.now().micros_since(*at) < TIMELINE_SETTLE_SECS * 1_000_000) =>
            {
                // Not on the timeline yet may only mean the timeline lags: look again shortly.
                tracing::debug!(row = %row.id, "not on the host's timeline yet; looking again");
                Ok(())
            }
            Ok(None) => {
                let reply_to = {
                    let reader = self
                        .store
                        .read()
                        .map_err(|e| Pause::Trouble(e.to_string()))?;
                    render(&reader, row, self.clock.now())
                        .ok()
                        .and_then(|r| r.reply_to)
                };
                self.post(api, row, text, reply_to.as_deref(), pacer, last_text)
                    .await
            }
            Err(e) => {
                pacer.failed(&e);
                Err(Pause::Trouble(format!(
                    "cannot check whether row {} was posted: {e}",
                    row.id
                )))
            }
        }
    }

    async fn sent(&self, row: &OutboxEntry, id: String) -> Result<(), Pause> {
        tracing::info!(row = %row.id, tweet = %id, "tweet found on the timeline; recorded as sent");
        self.stats.posted.fetch_add(1, Ordering::Relaxed);
        self.set(
            row,
            OutboxStatus::Sent {
                at: self.clock.now(),
                external_id: id,
            },
            false,
        )
        .await
    }

    /// Looks for `text` among the host's tweets since shortly before the row's attempt.
    async fn find_posted(
        &self,
        api: &XClient,
        row: &OutboxEntry,
        text: &str,
    ) -> Result<Option<String>, XError> {
        let Some(host) = &self.host_id else {
            return Err(XError::NoCredentials("the host's id"));
        };
        let since = match &row.status {
            OutboxStatus::Sending { at, .. } => *at,
            _ => self.clock.now(),
        }
        .plus_secs(-LOOKBACK_SECS)
        .max(row.created_at.plus_secs(-LOOKBACK_SECS));
        let start = since.to_datetime().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let (page, _) = api.user_tweets(host, &start).await?;
        self.spend.read(self.clock.now(), page.data.len() as u64);
        let wanted = text.trim();
        Ok(page
            .data
            .into_iter()
            .find(|t| {
                t.text
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
                    .trim()
                    == wanted
            })
            .map(|t| t.id))
    }

    /// Records a row as deliberately not delivered.
    async fn skip(&self, row: &OutboxEntry, reason: String) -> Result<(), Pause> {
        self.stats.skipped.fetch_add(1, Ordering::Relaxed);
        let at = self.clock.now();
        self.set(row, OutboxStatus::Skipped { at, reason }, false)
            .await
    }

    /// Records a row as failed for good (an operator may send it back).
    async fn give_up(
        &self,
        row: &OutboxEntry,
        error: String,
        attempted: bool,
    ) -> Result<(), Pause> {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        self.stats.last_error.set(error.as_str());
        let at = self.clock.now();
        self.set(row, OutboxStatus::Failed { at, error }, attempted)
            .await
    }
}
