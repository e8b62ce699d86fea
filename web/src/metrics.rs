//! `/metrics`: OpenMetrics text through `prometheus-client`, every name fixed here or in the
//! appliance's collector and listed in the README. The page counts what it sees in the event log
//! (events, bids, rejections by reason, tweets by kind, admin actions) and its sessions; the
//! process and the appliance's parts (engine, stream, X, chain) are read at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};
use store::{Event, EventRecord};

/// A rejection reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

/// What a tweet meant.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

/// The registry and the page's own metrics.
pub struct Metrics {
    registry: Registry,
    events: Counter,
    bids_accepted: Counter,
    bids_rejected: Family<Reason, Counter>,
    tweets: Family<Kind, Counter>,
    admin_actions: Counter,
    sessions: Gauge,
}

impl Metrics {
    /// The page's metrics, the process's, and `appliance`'s (read at each scrape).
    pub fn new(appliance: Box<dyn Collector>) -> Metrics {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Process));
        let ours = registry.sub_registry_with_prefix("sothebais");
        let events = Counter::default();
        let bids_accepted = Counter::default();
        let bids_rejected = Family::<Reason, Counter>::default();
        let tweets = Family::<Kind, Counter>::default();
        let admin_actions = Counter::default();
        let sessions = Gauge::default();
        ours.register(
            "events",
            "Events appended to the log since the appliance started",
            events.clone(),
        );
        ours.register(
            "bids_accepted",
            "Bids accepted since start",
            bids_accepted.clone(),
        );
        ours.register(
            "bids_rejected",
            "Bids refused since start, by reason code",
            bids_rejected.clone(),
        );
        ours.register(
            "tweets",
            "Tweets taken in since start, by what they meant (bid, link, withdraw, question, ...)",
            tweets.clone(),
        );
        ours.register(
            "admin_actions",
            "Administrative actions recorded since start (logins, users, settings, assets, ...)",
            admin_actions.clone(),
        );
        ours.register(
            "web_sessions",
            "Admin page sessions open now",
            sessions.clone(),
        );
        ours.register_collector(appliance);
        Metrics {
            registry,
            events,
            bids_accepted,
            bids_rejected,
            tweets,
            admin_actions,
            sessions,
        }
    }

    /// Counts committed events.
    pub fn count(&self, records: &[EventRecord]) {
        for r in records {
            self.events.inc();
            match &r.event {
                Event::BidAccepted { .. } => {
                    self.bids_accepted.inc();
                }
                Event::BidRejected { bid } => {
                    let reason = bid
                        .rejection
                        .as_ref()
                        .map_or("unknown", |r| r.code.as_str())
                        .to_string();
                    self.bids_rejected.get_or_create(&Reason { reason }).inc();
                }
                Event::TweetReceived { tweet } => {
                    let kind = tweet.kind.as_str().to_string();
                    self.tweets.get_or_create(&Kind { kind }).inc();
                }
                Event::AdminAction { .. } => {
                    self.admin_actions.inc();
                }
                _ => {}
            }
        }
    }

    /// Everything, as OpenMetrics text, with `sessions` open now.
    pub fn encode(&self, sessions: usize) -> Result<String, std::fmt::Error> {
        self.sessions
            .set(i64::try_from(sessions).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The process, read from `/proc` at each scrape, under the usual names.
#[derive(Debug)]
struct Process;

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(u) = crate::process::usage("self") else {
            return Ok(());
        };
        let cpu = ConstCounter::new(u.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "CPU time used by the appliance (user and system)",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let rss = ConstGauge::new(i64::try_from(u.rss_bytes).unwrap_or(i64::MAX));
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory",
            "Resident memory of the appliance",
            Some(&Unit::Bytes),
            rss.metric_type(),
        )?)?;
        let threads = ConstGauge::new(i64::try_from(u.threads).unwrap_or(i64::MAX));
        threads.encode(encoder.encode_descriptor(
            "process_threads",
            "Threads of the appliance",
            None,
            threads.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed;

    impl Collector for Fixed {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            let c = ConstCounter::new(7u64);
            c.encode(encoder.encode_descriptor("engine_commands", "help", None, c.metric_type())?)
        }
    }

    #[test]
    fn names_are_stable_and_prefixed() {
        let m = Metrics::new(Box::new(Fixed));
        let rejected = store::Bid {
            id: store::BidId(1),
            auction: None,
            bidder: store::UserId(5),
            amount: store::Wei(1),
            placed_at: store::Timestamp(0),
            source: store::BidSource::Simulated,
            rejection: Some(store::Rejection {
                code: "below_minimum".into(),
                message: "too low".into(),
            }),
        };
        let record = |seq, event| EventRecord {
            seq,
            at: store::Timestamp(0),
            hash: [0; 32],
            prev_hash: [0; 32],
            event,
        };
        m.count(&[
            record(1, Event::BidRejected { bid: rejected }),
            record(
                2,
                Event::AdminAction {
                    action: "login".into(),
                    detail: String::new(),
                    audit: store::Audit {
                        actor: "ana".into(),
                        origin: String::new(),
                        reason: String::new(),
                    },
                },
            ),
        ]);
        let text = m.encode(3).unwrap();
        for line in [
            "sothebais_events_total 2",
            "sothebais_admin_actions_total 1",
            "sothebais_bids_accepted_total 0",
            "sothebais_bids_rejected_total{reason=\"below_minimum\"} 1",
            "sothebais_web_sessions 3",
            "sothebais_engine_commands_total 7",
            "# TYPE process_resident_memory_bytes gauge",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
