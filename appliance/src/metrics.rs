//! The appliance's metrics for `/metrics`, read from each part's counters at every scrape under
//! fixed names (listed in the README): the engine, the stream, X and the chain. The admin page
//! adds its own (events, bids, sessions, the process) around them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::engine::EngineHandle;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use tokio::sync::watch;

use crate::health::Parts;
use crate::streaming::StreamControl;

/// Reads the appliance's parts when `/metrics` is scraped.
pub struct ApplianceMetrics {
    /// The engine's counters.
    pub engine: EngineHandle,
    /// The head of the event log.
    pub head: watch::Receiver<u64>,
    /// Each part's state, the tasks, X and the chain.
    pub parts: Arc<Parts>,
    /// The stream.
    pub stream: Arc<StreamControl>,
}

impl std::fmt::Debug for ApplianceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApplianceMetrics")
    }
}

type Out = Result<(), std::fmt::Error>;

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<Unit>, v: u64) -> Out {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, unit.as_ref(), c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Out {
    let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// A counter with one label, one value per label value.
fn counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: &[(&str, u64)],
) -> Out {
    let mut family: MetricEncoder = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        let labels = [(label, *value)];
        ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for ApplianceMetrics {
    fn encode(&self, mut e: DescriptorEncoder) -> Out {
        let stats = self.engine.stats();
        counter(
            &mut e,
            "engine_commands",
            "Commands the engine has answered since start",
            None,
            load(&stats.commands),
        )?;
        counter(
            &mut e,
            "engine_transactions",
            "Write transactions the engine has committed since start (group commit)",
            None,
            load(&stats.batches),
        )?;
        gauge(
            &mut e,
            "event_log_head",
            "Sequence number of the newest event in the log",
            *self.head.borrow(),
        )?;

        let s = self.stream.figures();
        gauge(
            &mut e,
            "stream_running",
            "1 while the stream runs",
            u64::from(s.is_some()),
        )?;
        counter(
            &mut e,
            "stream_restarts",
            "Streams started again after their frame loop ended by itself",
            None,
            self.stream.restarts(),
        )?;
        let s = s.unwrap_or_default();
        gauge(
            &mut e,
            "stream_connected",
            "1 while the publisher is connected to the ingest",
            u64::from(s.connected),
        )?;
        counter(
            &mut e,
            "stream_frames",
            "Video frames encoded",
            None,
            s.frames,
        )?;
        counter(
            &mut e,
            "stream_late_frames",
            "Frames dropped because the frame loop was late",
            None,
            s.late_frames,
        )?;
        counter(
            &mut e,
            "stream_network_dropped_frames",
            "Frames dropped because the uplink could not keep up (whole GOPs)",
            None,
            s.network_dropped_frames,
        )?;
        counter(
            &mut e,
            "stream_encoder_restarts",
            "Video encoders replaced after failing mid-stream",
            None,
            s.encoder_restarts,
        )?;
        for (name, help, v) in [
            (
                "stream_audio_peak_dbfs",
                "Program audio's peak over the last 3 s, dBFS (-120: silence)",
                s.audio_peak_dbfs,
            ),
            (
                "stream_audio_rms_dbfs",
                "Program audio's RMS level over the last 3 s, dBFS",
                s.audio_rms_dbfs,
            ),
            (
                "stream_audio_loudness_lufs",
                "Program audio's EBU R128 short-term loudness (3 s), LUFS (-120: silence)",
                s.audio_loudness_lufs,
            ),
        ] {
            let g = ConstGauge::new(v);
            g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        gauge(
            &mut e,
            "stream_target_bitrate_kbps",
            "Video bit rate asked of the encoder now (the adaptive ladder's rung), kbit/s",
            s.target_kbps,
        )?;
        let mut family: MetricEncoder = e.encode_descriptor(
            "stream_bitrate_steps",
            "Steps on the adaptive bitrate ladder",
            None,
            MetricType::Counter,
        )?;
        for (direction, n) in [("down", s.steps_down), ("up", s.steps_up)] {
            ConstCounter::new(n).encode(family.encode_family(&[("direction", direction)])?)?;
        }
        counter(
            &mut e,
            "stream_reconnects",
            "Reconnections to the ingest",
            None,
            s.reconnects,
        )?;
        counter(
            &mut e,
            "stream_sent",
            "Bytes written to the ingest",
            Some(Unit::Bytes),
            s.bytes_sent,
        )?;

        let speech = self.stream.speech();
        counter(
            &mut e,
            "host_spoken_lines",
            "Lines the host began to speak on the stream",
            None,
            speech.spoken,
        )?;
        counter(
            &mut e,
            "host_dropped_lines",
            "Lines the host did not speak: stale before their turn, or pushed out of a full queue",
            None,
            speech.dropped,
        )?;
        gauge(
            &mut e,
            "host_speaking",
            "1 while the host speaks",
            u64::from(speech.speaking),
        )?;
        if let Some(h) = &self.parts.health().host {
            let mut family: MetricEncoder = e.encode_descriptor(
                "host_lines",
                "Lines the host said, by who wrote them (the model, or a template)",
                None,
                MetricType::Counter,
            )?;
            for (source, n) in [("model", &h.lines_model), ("template", &h.lines_template)] {
                ConstCounter::new(load(n)).encode(family.encode_family(&[("source", source)])?)?;
            }
            counter(
                &mut e,
                "host_model_rejected_lines",
                "Lines from the model refused because a number, handle, time or lot was not in the facts",
                None,
                load(&h.rejected),
            )?;
            counter(
                &mut e,
                "host_model_errors",
                "Model calls that gave no line (timeout, error, budget)",
                None,
                load(&h.model_errors),
            )?;
            counter(
                &mut e,
                "host_model_tokens",
                "Tokens the model used (prompts and answers; estimated when a server reports none)",
                None,
                load(&h.model_tokens),
            )?;
            counter(
                &mut e,
                "host_voice_errors",
                "Lines the voice could not speak",
                None,
                load(&h.voice_errors),
            )?;
        }
        let latest = self.parts.latest();
        let mut family: MetricEncoder = e.encode_descriptor(
            "part_state",
            "Each part's state at the last check: 0 ok, 1 degraded, 2 down",
            None,
            MetricType::Gauge,
        )?;
        for p in &latest.parts {
            let labels = [("part", p.part.as_str())];
            ConstGauge::new(p.state as i64).encode(family.encode_family(&labels)?)?;
        }
        let records = self.parts.supervisor().records();
        let restarts: Vec<(&str, u64)> = records
            .iter()
            .map(|r| (r.name.as_str(), r.restarts()))
            .collect();
        counters(
            &mut e,
            "task_restarts",
            "Restarts of each supervised task after it panicked or ended early",
            "task",
            &restarts,
        )?;

        let h = self.parts.health();
        let polls: Vec<(&str, &Arc<x::poll::PollStats>)> =
            h.polls.iter().map(|(n, s, _)| (*n, s)).collect();
        let per_source = |f: fn(&x::poll::PollStats) -> u64| -> Vec<(&str, u64)> {
            polls.iter().map(|(n, s)| (*n, f(s))).collect()
        };
        counters(
            &mut e,
            "x_polls",
            "Polls of X that completed, by source",
            "source",
            &per_source(|s| load(&s.polls)),
        )?;
        counters(
            &mut e,
            "x_tweets_read",
            "Tweets read from X and handed to the engine (first time), by source",
            "source",
            &per_source(|s| load(&s.tweets)),
        )?;
        counters(
            &mut e,
            "x_poll_errors",
            "Polls of X that failed, by source",
            "source",
            &per_source(|s| load(&s.errors)),
        )?;
        let t = &h.tweets;
        counters(
            &mut e,
            "x_posts",
            "Outbox tweets by outcome: posted, skipped (stale, dry run, rejected) or failed",
            "outcome",
            &[
                ("posted", load(&t.posted)),
                ("skipped", load(&t.skipped)),
                ("failed", load(&t.failed)),
            ],
        )?;
        if let Some(spend) = &h.spend {
            let f = spend.figures();
            let mut family: MetricEncoder = e.encode_descriptor(
                "x_spend_micro_usd",
                "What the X API cost, millionths of a dollar: today (UTC), this month, this campaign",
                None,
                MetricType::Gauge,
            )?;
            for (period, v) in [
                ("today", f.today),
                ("month", f.month),
                ("campaign", f.campaign),
            ] {
                ConstGauge::new(v as i64).encode(family.encode_family(&[("period", period)])?)?;
            }
            gauge(
                &mut e,
                "x_monthly_budget_micro_usd",
                "The monthly X budget, millionths of a dollar (0: none)",
                f.budget,
            )?;
        }

        if let Some(c) = &h.chain {
            let (d, s, rpc) = (&c.deposits, &c.settle, &c.rpc);
            gauge(
                &mut e,
                "chain_head_block",
                "The chain head last seen",
                load(&d.head),
            )?;
            gauge(
                &mut e,
                "chain_confirmed_block",
                "Blocks up to this one are confirmed and their deposits recorded",
                load(&d.confirmed_through),
            )?;
            let pending = d.pending.lock().unwrap_or_else(|p| p.into_inner()).len();
            gauge(
                &mut e,
                "chain_pending_deposits",
                "Deposits seen and not yet confirmed",
                pending as u64,
            )?;
            counters(
                &mut e,
                "chain_deposits",
                "Escrow deposits recorded, and reverted by reorganisations",
                "outcome",
                &[
                    ("recorded", load(&d.recorded)),
                    ("reverted", load(&d.reverted)),
                ],
            )?;
            counter(
                &mut e,
                "chain_rpc_failovers",
                "Moves to another RPC provider after a failure",
                None,
                load(&rpc.stats.failovers),
            )?;
            counters(
                &mut e,
                "chain_transactions",
                "Settlement and refund transactions by outcome: signed, confirmed or failed",
                "outcome",
                &[
                    ("signed", load(&s.signed)),
                    ("confirmed", load(&s.confirmed)),
                    ("failed", load(&s.failed)),
                ],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::clock::SystemClock;
    use domain::engine::{Engine, EngineConfig};

    fn clock_now() -> store::Timestamp {
        store::Timestamp::from_datetime(chrono::Utc::now())
    }

    /// Every name the README's metrics table lists is served, under that name, when the chain
    /// and X are connected; the table and the code cannot drift apart.
    #[tokio::test]
    async fn the_readme_lists_exactly_what_is_served() {
        let store = Arc::new(store::Store::in_memory().unwrap());
        let clock: domain::clock::SharedClock = Arc::new(SystemClock);
        let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default()).unwrap();
        let rpc = chain::rpc::Rpc::new(
            &["https://rpc.example".to_string()],
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        let health = crate::health::Health {
            polls: vec![(
                "mentions",
                Arc::default(),
                std::time::Duration::from_secs(10),
            )],
            chain: Some(crate::health::ChainHealth {
                deposits: Arc::default(),
                settle: Arc::default(),
                rpc: Arc::new(rpc),
                custody: String::new(),
                custody_beat: Arc::default(),
                poll: std::time::Duration::from_secs(2),
                custody_every: std::time::Duration::from_secs(60),
                escrow: Arc::default(),
                reconcile_every: std::time::Duration::from_secs(60),
            }),
            host: Some(Arc::default()),
            ..crate::health::Health::default()
        };
        let first = stream::initial_snapshot(&store, &clock, std::env::temp_dir());
        let (_snapshots, snapshot_rx) = watch::channel(first);
        let stream = Arc::new(StreamControl::new(
            crate::config::Config::default(),
            None,
            snapshot_rx,
            clock,
            Arc::default(),
        ));
        let (_stop, stopped) = watch::channel(false);
        let sup = crate::supervisor::Supervisor::new(stopped);
        sup.spawn("log", std::future::pending::<()>);
        let health = Arc::new(health);
        let alerts = crate::alerting::start(
            &crate::config::Config::default(),
            tokio::sync::mpsc::channel(1).1,
            &sup,
            &engine.handle(),
            &store,
            None,
        )
        .unwrap();
        let parts = Parts::new(
            engine.handle(),
            health,
            stream.clone(),
            sup,
            Arc::new(alerts),
        );
        parts.check().await;
        let collector = ApplianceMetrics {
            engine: engine.handle(),
            head: watch::channel(0).1,
            parts,
            stream,
        };
        let metrics = web::metrics::Metrics::new(Box::new(collector));
        // Labelled series appear with their first value: a refused bid and a tweet.
        let mut committed = engine.handle().subscribe();
        let now = clock_now();
        engine
            .handle()
            .execute(domain::engine::Command::IngestTweet {
                tweet: Box::new(domain::engine::IncomingTweet {
                    id: "1".into(),
                    author: store::UserId(7),
                    handle: "ana".into(),
                    author_created: now.plus_secs(-400 * 86_400),
                    text: "@SothebAIs bid 1 ETH".into(),
                    created_at: now,
                    in_reply_to: None,
                    retweet: false,
                    edited: false,
                }),
            })
            .await
            .unwrap();
        while let Ok(Ok(batch)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), committed.recv()).await
        {
            metrics.count(&batch);
        }
        let text = metrics.encode(0).unwrap();
        let readme = include_str!("../../README.md");
        let table = readme
            .split("`/metrics` is OpenMetrics")
            .nth(1)
            .expect("the README's metrics table");
        let mut listed = 0;
        for line in table
            .lines()
            .skip_while(|l| !l.starts_with("| metric"))
            .skip(2)
        {
            if !line.starts_with('|') {
                break;
            }
            let first_cell = line.split('|').nth(1).unwrap();
            for name in first_cell.split('`').skip(1).step_by(2) {
                let name = name.split('{').next().unwrap();
                listed += 1;
                // A labelled family with no samples yet is served as its declaration.
                let family = name.trim_end_matches("_total");
                let served = text.lines().any(|l| {
                    l.starts_with(&format!("{name} "))
                        || l.starts_with(&format!("{name}{{"))
                        || l.starts_with(&format!("# TYPE {family} "))
                });
                assert!(
                    served,
                    "the README lists {name}, which /metrics does not serve:\n{text}"
                );
            }
        }
        assert!(listed > 20, "only {listed} names read from the README");
        engine.shutdown().await;
    }
}
