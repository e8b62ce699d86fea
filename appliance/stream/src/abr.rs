//! Adaptive bitrate: when the uplink cannot carry the stream, step down a ladder of bit rates
//! (and resolutions) before the publisher's queue has to drop whole GOPs; step back up when it
//! recovers, probing less often after a probe that failed.
//!
//! The signal is the publisher's queue: media waiting to be written to the ingest, in
//! milliseconds of stream time, and the bytes the publisher has written. Pure logic on times
//! the caller passes in, so it is tested against a clock the test moves.

use std::time::Duration;

/// One step of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rung {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Video bit rate, kbit/s.
    pub kbps: u32,
}

impl std::fmt::Display for Rung {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}p@{}", self.height, self.kbps)
    }
}

/// The resolutions a rung may have.
fn resolution(name: &str) -> Option<(u32, u32)> {
    match name {
        "720p" => Some((1280, 720)),
        "1080p" => Some((1920, 1080)),
        _ => None,
    }
}

/// The lowest rung a derived ladder goes down to, kbit/s.
const DERIVED_FLOOR_KBPS: u32 = 350;

/// Bit rates, top first: where the stream starts and the steps it may take down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ladder(Vec<Rung>);

impl Ladder {
    /// From the configuration: rungs like `"1080p@6000"`, top first, bit rates falling. The top
    /// rung must be `top` (the configured resolution and bit rate).
    pub fn parse(items: &[String], top: Rung) -> Result<Ladder, String> {
        let mut rungs: Vec<Rung> = Vec::with_capacity(items.len());
        for item in items {
            let (res, kbps) = item
                .split_once('@')
                .ok_or_else(|| format!("{item:?}: write a rung as 720p@2500"))?;
            let (width, height) = resolution(res.trim())
                .ok_or_else(|| format!("{item:?}: the resolution is 720p or 1080p"))?;
            let kbps: u32 = kbps
                .trim()
                .parse()
                .map_err(|_| format!("{item:?}: the bit rate is a whole number of kbit/s"))?;
            if !(codec::MIN_KBPS..=codec::MAX_KBPS).contains(&kbps) {
                return Err(format!(
                    "{item:?}: the bit rate is {}-{} kbit/s",
                    codec::MIN_KBPS,
                    codec::MAX_KBPS
                ));
            }
            if let Some(above) = rungs.last().copied()
                && (kbps >= above.kbps || height > above.height)
            {
                return Err(format!(
                    "{item:?} comes after {above}: each rung has a lower bit rate and no larger picture"
                ));
            }
            rungs.push(Rung {
                width,
                height,
                kbps,
            });
        }
        match rungs.first() {
            None => Err("the ladder has no rung".into()),
            Some(first) if *first != top => Err(format!(
                "the ladder starts at {first}; it must start at the configured {top}"
            )),
            Some(_) => Ok(Ladder(rungs)),
        }
    }

    /// The default ladder under `top`: two thirds at each step down to about 400 kbit/s (our
    /// scenes are mostly still graphics: at 720p openh264 spends ~1,100 kbit/s of a 4,500
    /// target, so only the lower rungs change what goes out);
    /// a 1080p stream moves to 720p once below two thirds of its rate (fewer pixels look
    /// better than starved ones).
    pub fn derived(top: Rung) -> Ladder {
        let mut rungs = vec![top];
        let mut kbps = top.kbps;
        loop {
            kbps = kbps * 2 / 3;
            if kbps < DERIVED_FLOOR_KBPS.max(codec::MIN_KBPS) {
                break;
            }
            let (width, height) = if top.height > 720 && rungs.len() >= 2 {
                (1280, 720)
            } else {
                (top.width, top.height)
            };
            rungs.push(Rung {
                width,
                height,
                kbps,
            });
        }
        Ladder(rungs)
    }

    /// The rungs, top first.
    pub fn rungs(&self) -> &[Rung] {
        &self.0
    }
}

/// What the publisher reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uplink {
    /// Connected and publishing.
    pub connected: bool,
    /// Stream time waiting in its queue, ms.
    pub queued_ms: u64,
    /// Bytes waiting in its queue.
    pub queued_bytes: u64,
    /// Bytes written to the ingest so far.
    pub bytes_sent: u64,
}

/// When to move.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Queued media above which the uplink is falling behind (the queue drops GOPs at 4 s).
    pub high_ms: u64,
    /// Queued media under which the uplink is keeping up.
    pub low_ms: u64,
    /// Least time between two steps down (the queue needs a moment to show the effect).
    pub hold: Duration,
    /// Time keeping up before a step up is tried.
    pub probe: Duration,
    /// The longest wait between probes after failed ones.
    pub max_probe: Duration,
    /// A step down this soon after a step up means the probe failed.
    pub probe_failed_within: Duration,
    /// The share of the measured throughput a rung may take, percent.
    pub headroom_pct: u64,
    /// Audio and container overhead on top of a rung's video rate, kbit/s.
    pub overhead_kbps: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            high_ms: 600,
            low_ms: 300,
            hold: Duration::from_secs(2),
            probe: Duration::from_secs(20),
            max_probe: Duration::from_secs(160),
            probe_failed_within: Duration::from_secs(30),
            headroom_pct: 90,
            overhead_kbps: 140,
        }
    }
}

/// A move the controller decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The rung left.
    pub from: Rung,
    /// The rung taken.
    pub to: Rung,
    /// Why, for the log and the Stream page.
    pub why: String,
}

impl Step {
    /// Whether it lowers the rate.
    pub fn down(&self) -> bool {
        self.to.kbps < self.from.kbps
    }
}

/// How often the throughput and the queue's trend are sampled.
const SAMPLE: Duration = Duration::from_millis(500);

/// The controller: feed it [`Uplink`] reports with the time since the stream started.
#[derive(Debug)]
pub struct Controller {
    ladder: Ladder,
    tuning: Tuning,
    rung: usize,
    last_change: Duration,
    last_up: Option<Duration>,
    calm_since: Option<Duration>,
    probe: Duration,
    /// The last sample: time, bytes sent, queued ms, queued bytes.
    sample: Option<(Duration, u64, u64, u64)>,
    /// Whether the queue's bytes grew (or held) over the last sample period. (Its span in
    /// stream time goes on growing for a while after a step down, while the link drains the
    /// frames made at the higher rate.)
    growing: bool,
    /// Measured throughput while the queue was backed up, kbit/s (the link's capacity).
    capacity_kbps: Option<u64>,
}

impl Controller {
    /// Starts at the ladder's top.
    pub fn new(ladder: Ladder, tuning: Tuning) -> Controller {
        Controller {
            probe: tuning.probe,
            ladder,
            tuning,
            rung: 0,
            last_change: Duration::ZERO,
            last_up: None,
            calm_since: None,
            sample: None,
            growing: false,
            capacity_kbps: None,
        }
    }

    /// The rung in use.
    pub fn rung(&self) -> Rung {
        self.ladder.0[self.rung]
    }

    /// The wait before the next probe up.
    pub fn probe_wait(&self) -> Duration {
        self.probe
    }

    /// Takes a report at `now` (since the stream started); returns the step to take, if any.
    pub fn observe(&mut self, now: Duration, up: Uplink) -> Option<Step> {
        if !up.connected {
            // Nothing is being sent: the queue says nothing about the link. Wait for it.
            self.calm_since = None;
            self.sample = None;
            self.growing = false;
            return None;
        }
        self.measure(now, up);
        if up.queued_ms > self.tuning.high_ms {
            self.calm_since = None;
            let due = now.saturating_sub(self.last_change) >= self.tuning.hold;
            // A queue that drains is already recovering from the last step.
            if due && self.growing && self.rung + 1 < self.ladder.0.len() {
                return Some(self.step_down(now, up.queued_ms));
            }
            return None;
        }
        if up.queued_ms >= self.tuning.low_ms {
            self.calm_since = None;
            return None;
        }
        let calm = *self.calm_since.get_or_insert(now);
        if self
            .last_up
            .is_some_and(|t| now.saturating_sub(t) >= 300 * SAMPLE)
        {
            // Five minutes up there: probes were worth it; back to the base wait.
            self.probe = self.tuning.probe;
            self.last_up = None;
        }
        if self.rung > 0
            && now.saturating_sub(calm) >= self.probe
            && now.saturating_sub(self.last_change) >= self.probe
        {
            let from = self.rung();
            self.rung -= 1;
            self.last_change = now;
            self.last_up = Some(now);
            self.calm_since = None;
            return Some(Step {
                from,
                to: self.rung(),
                why: format!(
                    "the uplink kept up for {} s",
                    now.saturating_sub(calm).as_secs()
                ),
            });
        }
        None
    }

    fn measure(&mut self, now: Duration, up: Uplink) {
        let Some((t, bytes, queued, queued_bytes)) = self.sample else {
            self.sample = Some((now, up.bytes_sent, up.queued_ms, up.queued_bytes));
            return;
        };
        let dt = now.saturating_sub(t);
        if dt < SAMPLE {
            return;
        }
        self.growing = up.queued_bytes >= queued_bytes;
        // Only a backed-up queue measures the link: otherwise the rate is the stream's own.
        // Nothing at all sent is no measure either (one large write still under way).
        let sent = up.bytes_sent.saturating_sub(bytes);
        if up.queued_ms > self.tuning.low_ms && queued > self.tuning.low_ms && sent > 0 {
            let kbps = sent * 8 / dt.as_millis().max(1) as u64;
            self.capacity_kbps = Some(match self.capacity_kbps {
                Some(c) => (c + kbps) / 2,
                None => kbps,
            });
        }
        self.sample = Some((now, up.bytes_sent, up.queued_ms, up.queued_bytes));
    }

    fn step_down(&mut self, now: Duration, queued_ms: u64) -> Step {
        let from = self.rung();
        let mut to = self.rung + 1;
        if let Some(capacity) = self.capacity_kbps {
            let usable = capacity * self.tuning.headroom_pct / 100;
            // The highest rung that fits, at least one step down.
            while to + 1 < self.ladder.0.len()
                && u64::from(self.ladder.0[to].kbps) + self.tuning.overhead_kbps > usable
            {
                to += 1;
            }
        }
        if self
            .last_up
            .is_some_and(|t| now.saturating_sub(t) < self.tuning.probe_failed_within)
        {
            self.probe = (self.probe * 2).min(self.tuning.max_probe);
        }
        self.last_up = None;
        self.rung = to;
        self.last_change = now;
        let measured = self
            .capacity_kbps
            .map(|c| format!(", the link carries about {c} kbit/s"))
            .unwrap_or_default();
        Step {
            from,
            to: self.rung(),
            why: format!("{queued_ms} ms of stream waiting to be sent{measured}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top720() -> Rung {
        Rung {
            width: 1280,
            height: 720,
            kbps: 4500,
        }
    }

    #[test]
    fn derived_ladders_fall_by_thirds_and_move_1080p_to_720p() {
        let l = Ladder::derived(top720());
        let kbps: Vec<u32> = l.rungs().iter().map(|r| r.kbps).collect();
        assert_eq!(kbps, [4500, 3000, 2000, 1333, 888, 592, 394]);
        assert!(l.rungs().iter().all(|r| r.height == 720));
        let l = Ladder::derived(Rung {
            width: 1920,
            height: 1080,
            kbps: 6000,
        });
        let shown: Vec<String> = l.rungs().iter().map(Rung::to_string).collect();
        assert_eq!(
            shown,
            [
                "1080p@6000",
                "1080p@4000",
                "720p@2666",
                "720p@1777",
                "720p@1184",
                "720p@789",
                "720p@526",
                "720p@350"
            ]
        );
    }

    #[test]
    fn a_configured_ladder_is_checked() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let l = Ladder::parse(&s(&["720p@4500", "720p@2000", "720p@800"]), top720()).unwrap();
        assert_eq!(l.rungs().len(), 3);
        for (bad, says) in [
            (vec!["720p@3000"], "must start at the configured 720p@4500"),
            (vec!["720p@4500", "720p@5000"], "lower bit rate"),
            (vec!["720p@4500", "1080p@3000"], "no larger picture"),
            (vec!["720p@4500", "480p@1000"], "720p or 1080p"),
            (vec!["720p@4500", "720p@fast"], "whole number"),
            (vec!["720p@4500", "720p@50"], "200-20000"),
            (vec!["720p"], "720p@2500"),
            (vec![], "no rung"),
        ] {
            let e = Ladder::parse(&s(&bad), top720()).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    /// A link of `capacity` kbit/s carrying the stream's rung (plus 130 kbit/s of audio), 100 ms
    /// at a time: the queue holds what the link could not carry yet, as media time.
    struct Link {
        capacity_kbps: u64,
        /// (media ms, kbit) per 100 ms of stream, oldest first.
        queue: std::collections::VecDeque<(f64, f64)>,
        sent_bytes: u64,
        t: Duration,
        /// The most stream time ever queued.
        worst_ms: u64,
    }

    impl Link {
        fn new(capacity_kbps: u64) -> Link {
            Link {
                capacity_kbps,
                queue: Default::default(),
                sent_bytes: 0,
                t: Duration::ZERO,
                worst_ms: 0,
            }
        }

        fn queued_ms(&self) -> u64 {
            self.queue.iter().map(|(ms, _)| ms).sum::<f64>() as u64
        }

        fn run(&mut self, c: &mut Controller, secs: u64) -> Vec<Step> {
            let mut steps = Vec::new();
            for _ in 0..secs * 10 {
                self.t += Duration::from_millis(100);
                self.queue
                    .push_back((100.0, (f64::from(c.rung().kbps) + 130.0) / 10.0));
                let mut budget = self.capacity_kbps as f64 / 10.0;
                while budget > 0.0
                    && let Some((ms, kbit)) = self.queue.front_mut()
                {
                    let sent = kbit.min(budget);
                    budget -= sent;
                    self.sent_bytes += (sent * 125.0) as u64;
                    *ms *= 1.0 - sent / *kbit;
                    *kbit -= sent;
                    if *kbit <= 1e-9 {
                        self.queue.pop_front();
                    }
                }
                self.worst_ms = self.worst_ms.max(self.queued_ms());
                let up = Uplink {
                    connected: true,
                    queued_ms: self.queued_ms(),
                    queued_bytes: (self.queue.iter().map(|(_, kbit)| kbit).sum::<f64>() * 125.0)
                        as u64,
                    bytes_sent: self.sent_bytes,
                };
                if let Some(s) = c.observe(self.t, up) {
                    steps.push(s);
                }
            }
            steps
        }
    }

    #[test]
    fn a_slow_link_steps_down_to_what_it_carries_and_a_recovered_one_steps_back_up() {
        let mut c = Controller::new(Ladder::derived(top720()), Tuning::default());
        let mut link = Link::new(1600);
        let steps = link.run(&mut c, 30);
        assert!(
            !steps.is_empty() && steps.iter().all(Step::down),
            "{steps:?}"
        );
        assert!(
            c.rung().kbps + 130 <= 1600,
            "settled on {} for a 1,600 kbit/s link",
            c.rung()
        );
        assert!(
            steps.len() <= 3,
            "the measured throughput picks the rung in few steps: {steps:?}"
        );
        // The queue drained and stays short.
        link.run(&mut c, 5);
        assert!(link.queued_ms() < 300, "{} ms queued", link.queued_ms());
        // The link recovers: the controller probes up, one rung per probe, to the top.
        link.capacity_kbps = 10_000;
        let steps = link.run(&mut c, 200);
        assert!(steps.iter().all(|s| !s.down()), "{steps:?}");
        assert_eq!(c.rung(), top720());
    }

    #[test]
    fn a_failed_probe_doubles_the_wait_before_the_next() {
        let mut c = Controller::new(Ladder::derived(top720()), Tuning::default());
        let mut link = Link::new(2300);
        link.run(&mut c, 40);
        let settled = c.rung();
        assert_eq!(settled.kbps, 2000, "{settled}");
        // Keeping up at 2,000: after 20 s it tries 3,000, which the link cannot carry, and
        // comes back down; the next try waits 40 s, then 80 s.
        let steps = link.run(&mut c, 200);
        let ups: Vec<_> = steps.iter().filter(|s| !s.down()).collect();
        assert!((2..=4).contains(&ups.len()), "probes back off: {steps:?}");
        assert!(
            (Duration::from_secs(80)..=Duration::from_secs(160)).contains(&c.probe_wait()),
            "{:?}",
            c.probe_wait()
        );
        assert!(c.rung().kbps <= 2000);
    }

    #[test]
    fn a_disconnected_uplink_moves_nothing() {
        let mut c = Controller::new(Ladder::derived(top720()), Tuning::default());
        for s in 0..60 {
            let up = Uplink {
                connected: false,
                queued_ms: 4000,
                queued_bytes: 2_000_000,
                bytes_sent: 0,
            };
            assert_eq!(c.observe(Duration::from_secs(s), up), None);
        }
        assert_eq!(c.rung(), top720());
    }
}
