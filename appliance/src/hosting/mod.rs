//! The AI host at work: it follows the auction's committed events (and the clock, for quiet
//! stretches and the final minutes), moves its mood, writes a line for each notable moment
//! (from the language model when one is configured, answered in time and true to the facts;
//! else from its templates), shows it on the stream, speaks it through its voice, and keeps
//! its mood and line in the store so that a restart resumes them.

pub mod facts;
pub mod memory;
mod posts;
mod questions;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::clock::SharedClock;
use domain::engine::{Command, Committed, EngineHandle};
use host::lines::{Lines, Moment};
use host::mood::{Cue, MoodState};
use host::{Character, ground};
use serde::{Deserialize, Serialize};
use store::{AuctionId, AuctionState, Event, Store, View};
use stream::host::HostLine;
use stream::speech::{Speaker, Utterance};
use tokio::sync::{broadcast, watch};

use crate::config::HostConfig;

/// The store key of the host's mood and line.
pub const STATE_KEY: &str = "host.state";
/// The store key of the character as edited on the admin page (TOML); it wins over
/// `host.character`.
pub const CHARACTER_KEY: &str = "host.character";

/// The character in force and its text: the one edited on the admin page, else
/// `host.character`'s file, else the demo's; checked.
pub fn load_character(config: &HostConfig, store: &Store) -> Result<(Character, String), String> {
    let edited = store
        .read()
        .map_err(|e| e.to_string())?
        .state(CHARACTER_KEY)
        .map_err(|e| e.to_string())?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let (text, source) = match edited {
        Some(t) => (t, "the character edited on the admin page".to_string()),
        None if config.character.as_os_str().is_empty() => (
            host::DEMO_CHARACTER.to_string(),
            "the demo character".into(),
        ),
        None => (
            std::fs::read_to_string(&config.character).map_err(|e| {
                format!(
                    "cannot read host.character {}: {e}",
                    config.character.display()
                )
            })?,
            format!("host.character {}", config.character.display()),
        ),
    };
    let c = Character::parse(&text)
        .and_then(|c| c.check().map(|()| c))
        .map_err(|e| format!("{source}: {e}"))?;
    Ok((c, text))
}
/// The final minutes begin this long before the end.
const FINAL_MINUTES_MICROS: i64 = 5 * 60 * 1_000_000;
/// The least time between two lines about bids (new leaders, a bidding war, the quiet).
const MIN_CHATTER_GAP: Duration = Duration::from_secs(6);
/// Template lines remembered so none repeats soon.
const REMEMBER: usize = 6;

/// The host's counters, for `/metrics`, the status and the figures.
#[derive(Debug, Default)]
pub struct HostStats {
    /// Lines written by the model and said.
    pub lines_model: AtomicU64,
    /// Lines from the templates.
    pub lines_template: AtomicU64,
    /// Model lines refused by the grounding check.
    pub rejected: AtomicU64,
    /// Model calls that failed (timeout, error, budget).
    pub model_errors: AtomicU64,
    /// Tokens the model used.
    pub model_tokens: AtomicU64,
    /// Lines the voice could not speak.
    pub voice_errors: AtomicU64,
    /// The voice in use, or why there is none.
    pub voice: Mutex<String>,
    /// The last problem (model or voice), for the status.
    pub last_problem: Mutex<String>,
    /// When it happened.
    pub problem_at: Mutex<Option<Instant>>,
}

/// A problem stays on the host's part this long.
const PROBLEM_SHOWN: Duration = Duration::from_secs(300);

impl HostStats {
    fn problem(&self, what: String) {
        *self.last_problem.lock().unwrap_or_else(|e| e.into_inner()) = what;
        *self.problem_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Why the host is degraded, if it is: no voice while it should speak, or a problem in the
    /// last five minutes.
    pub fn degraded(&self) -> Option<String> {
        let voice = self.voice.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(why) = voice.strip_prefix("none: ") {
            return Some(format!("the host cannot speak (captions only): {why}"));
        }
        let recent = self
            .problem_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < PROBLEM_SHOWN);
        recent.then(|| {
            self.last_problem
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        })
    }
}

/// What is kept in the store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Saved {
    mood: MoodState,
    caption: String,
    auction: Option<u64>,
    phase: Option<String>,
    /// Auctions whose final minutes were announced.
    finals: Vec<u64>,
    /// Auctions whose opening was announced (once, whether the event or a start found it).
    openings: Vec<u64>,
}

fn phase_name(p: scene::Phase) -> &'static str {
    match p {
        scene::Phase::Idle => "idle",
        scene::Phase::Pre => "pre",
        scene::Phase::Live => "live",
        scene::Phase::Paused => "paused",
        scene::Phase::Sold => "sold",
        scene::Phase::Unsold => "unsold",
        scene::Phase::Standby => "standby",
    }
}

fn phase_from(name: &str) -> Option<scene::Phase> {
    [
        scene::Phase::Idle,
        scene::Phase::Pre,
        scene::Phase::Live,
        scene::Phase::Paused,
        scene::Phase::Sold,
        scene::Phase::Unsold,
        scene::Phase::Standby,
    ]
    .into_iter()
    .find(|p| phase_name(*p) == name)
}

/// The face for an expression of the character file.
pub fn face(expression: &str) -> scene::Mood {
    match expression {
        "excited" => scene::Mood::Excited,
        "thinking" => scene::Mood::Thinking,
        "happy" => scene::Mood::Happy,
        "surprised" => scene::Mood::Surprised,
        _ => scene::Mood::Neutral,
    }
}

/// How urgent a moment's line is, and how long it stays worth saying.
fn urgency(m: Moment) -> (u8, Duration) {
    match m {
        Moment::Sold | Moment::Unsold => (9, Duration::from_secs(30)),
        Moment::Extension => (8, Duration::from_secs(10)),
        Moment::Paused | Moment::Resumed => (7, Duration::from_secs(15)),
        Moment::Opening | Moment::FinalMinutes => (6, Duration::from_secs(20)),
        Moment::NewLeader | Moment::BiddingWar => (5, Duration::from_secs(8)),
        Moment::Quiet => (2, Duration::from_secs(20)),
    }
}

/// The most notable moment in a committed batch, and its auction.
fn notable(events: &[store::EventRecord], r: &store::Reader) -> Option<(Moment, AuctionId)> {
    let rank = |e: &Event| -> Option<(u8, Moment, AuctionId)> {
        Some(match e {
            Event::AuctionSettled { auction, .. } => {
                let sold = r.auction(*auction).ok()??.leader.is_some();
                (
                    6,
                    if sold { Moment::Sold } else { Moment::Unsold },
                    *auction,
                )
            }
            Event::AuctionStarted { auction, .. } => (5, Moment::Opening, *auction),
            Event::BidAccepted {
                bid,
                extended: true,
                ..
            } => (4, Moment::Extension, bid.auction?),
            Event::BidAccepted { bid, .. } => (3, Moment::NewLeader, bid.auction?),
            Event::AuctionPaused { auction, .. } => (2, Moment::Paused, *auction),
            Event::AuctionResumed { auction, .. } => (2, Moment::Resumed, *auction),
            _ => return None,
        })
    };
    events
        .iter()
        .filter_map(|e| rank(&e.event).map(|(k, m, a)| (k, e.seq, m, a)))
        .max_by_key(|(k, seq, ..)| (*k, *seq))
        .map(|(_, _, m, a)| (m, a))
}

fn cue_of(m: Moment) -> Cue {
    match m {
        Moment::NewLeader | Moment::BiddingWar => Cue::NewLeader,
        Moment::Quiet => Cue::Quiet,
        Moment::FinalMinutes => Cue::FinalMinutes,
        Moment::Extension => Cue::Extension,
        Moment::Sold => Cue::Sold,
        Moment::Unsold => Cue::Unsold,
        Moment::Paused => Cue::Paused,
        Moment::Opening | Moment::Resumed => Cue::Resumed,
    }
}

/// The language model client `config` names; `None` when it names none.
fn model_of(config: &HostConfig) -> Result<Option<llm::Client>, String> {
    if config.llm_url.is_empty() {
        return Ok(None);
    }
    llm::Client::new(llm::Config {
        url: config.llm_url.clone(),
        model: config.llm_model.clone(),
        key: config.llm_key.clone(),
        timeout: Duration::from_millis(config.llm_timeout_ms),
        max_tokens: 120,
        tokens_per_hour: config.llm_tokens_per_hour,
        usd_per_million_tokens: config.llm_usd_per_million_tokens,
        usd_per_hour: config.llm_usd_per_hour,
    })
    .map(Some)
}

/// The voice of `character`, if the host speaks and the voice can run (else why not, in
/// `stats` and the log).
fn voice_of(config: &HostConfig, character: &Character, stats: &HostStats) -> Option<voice::Voice> {
    let set = |what: String| *stats.voice.lock().unwrap_or_else(|e| e.into_inner()) = what;
    if !config.speak {
        set("off (host.speak = false)".into());
        return None;
    }
    let v = &character.voice;
    match voice::Voice::new(&v.engine, &v.voice, v.speed).and_then(|voice| {
        voice.check()?;
        Ok(voice)
    }) {
        Ok(voice) => {
            set(voice.describe());
            Some(voice)
        }
        Err(e) => {
            tracing::error!(error = %e, "the host cannot speak; its lines show as captions only");
            set(format!("none: {e}"));
            stats.problem(format!("voice: {e}"));
            None
        }
    }
}

/// The host, with what it needs.
pub struct Director {
    config: HostConfig,
    character: Character,
    character_text: String,
    store: Arc<Store>,
    engine: EngineHandle,
    clock: SharedClock,
    model: Option<llm::Client>,
    voice: Option<voice::Voice>,
    speaker: Arc<Speaker>,
    out: Arc<watch::Sender<HostLine>>,
    stats: Arc<HostStats>,
    lines: Lines,
    saved: Saved,
    memory: memory::Memory,
    last_line: Instant,
    last_bid: Instant,
}

impl Director {
    /// A director for `config`'s character, model and voice; the line it shows goes to `out`,
    /// its speech to `speaker`. A character file that cannot be read or fails its check is an
    /// error; a voice that cannot run is reported (captions still show) but not fatal.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &HostConfig,
        store: Arc<Store>,
        engine: EngineHandle,
        clock: SharedClock,
        speaker: Arc<Speaker>,
        out: Arc<watch::Sender<HostLine>>,
        stats: Arc<HostStats>,
    ) -> anyhow::Result<Director> {
        let (character, character_text) =
            load_character(config, &store).map_err(anyhow::Error::msg)?;
        let model = model_of(config).map_err(anyhow::Error::msg)?;
        let voice = voice_of(config, &character, &stats);
        let saved: Saved = store
            .read()?
            .state(STATE_KEY)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let memory = memory::Memory::load(&store.read()?);
        Ok(Director {
            config: config.clone(),
            character,
            character_text,
            store,
            engine,
            clock,
            model,
            voice,
            speaker,
            out,
            stats,
            lines: Lines::new(REMEMBER),
            saved,
            memory,
            last_line: Instant::now()
                .checked_sub(MIN_CHATTER_GAP)
                .unwrap_or_else(Instant::now),
            last_bid: Instant::now(),
        })
    }

    /// The line resumed from the store.
    fn show_saved(&self) {
        let s = &self.saved;
        self.out.send_replace(HostLine {
            mood: face(self.character.expression(&s.mood.mood)),
            caption: s.caption.clone(),
            auction: s.auction.map(AuctionId),
            phase: s.phase.as_deref().and_then(phase_from),
        });
    }

    /// Follows the auction until `stop`.
    pub async fn run(
        mut self,
        mut events: broadcast::Receiver<Committed>,
        operator: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<String>>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut operator = operator.lock().await;
        match &self.voice {
            Some(v) => tracing::info!(voice = %v.describe(), "the host is on, with its voice"),
            None => tracing::info!("the host is on, without a voice (captions only)"),
        }
        self.show_saved();
        // A first start during an auction: the opening went by before the host was on.
        if self.saved.caption.is_empty() {
            let active = self.store.read().ok().and_then(|r| {
                r.auctions()
                    .ok()?
                    .into_iter()
                    .find(|a| a.state == AuctionState::Active)
            });
            if let Some(a) = active {
                self.speak(Moment::Opening, a.id, Instant::now()).await;
            }
        }
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            let mut batches = Vec::new();
            tokio::select! {
                r = events.recv() => match r {
                    Ok(b) => batches.push(b),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    // The edited character is looked for on the clock, not at every commit.
                    self.refresh_character();
                }
                Some(text) = operator.recv() => {
                    self.say_for_operator(text).await;
                    continue;
                }
                _ = stop.changed() => return,
            }
            while let Ok(b) = events.try_recv() {
                batches.push(b);
            }
            let moment = {
                let Ok(r) = self.store.read() else { continue };
                let mut best: Option<(Moment, AuctionId, Instant)> = None;
                for b in &batches {
                    if b.iter()
                        .any(|e| matches!(e.event, Event::BidAccepted { .. }))
                    {
                        self.last_bid = Instant::now();
                    }
                    if let Some((m, a)) = notable(b, &r) {
                        let better = best.is_none_or(|(bm, ..)| urgency(m).0 >= urgency(bm).0);
                        if better {
                            best = Some((m, a, b.at));
                        }
                    }
                }
                best.or_else(|| self.timed(&r))
            };
            if let Some((m, a, cued)) = moment {
                self.speak(m, a, cued).await;
            }
            for b in &batches {
                for q in questions::asked(b) {
                    self.answer(q, b.at).await;
                }
            }
            self.post_when_due().await;
        }
    }

    /// A moment that time alone brings: the final minutes, or a quiet stretch.
    fn timed(&mut self, r: &store::Reader) -> Option<(Moment, AuctionId, Instant)> {
        let now = self.clock.now();
        let auctions = r.auctions().ok()?;
        let a = auctions.iter().find(|a| a.state == AuctionState::Active)?;
        let left = a.ends_at.micros_since(now);
        if left > 0 && left <= FINAL_MINUTES_MICROS && !self.saved.finals.contains(&a.id.0) {
            self.saved.finals.push(a.id.0);
            let keep = self.saved.finals.len().saturating_sub(8);
            self.saved.finals.drain(..keep);
            return Some((Moment::FinalMinutes, a.id, Instant::now()));
        }
        let quiet = Duration::from_secs(self.config.quiet_secs);
        if self.last_bid.elapsed() >= quiet && self.last_line.elapsed() >= quiet {
            return Some((Moment::Quiet, a.id, Instant::now()));
        }
        None
    }

    /// Takes a character edited on the admin page since the last look, at once.
    fn refresh_character(&mut self) {
        let edited = self
            .store
            .read()
            .ok()
            .and_then(|r| r.state(CHARACTER_KEY).ok().flatten())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let Some(text) = edited.filter(|t| *t != self.character_text) else {
            return;
        };
        match Character::parse(&text).and_then(|c| c.check().map(|()| c)) {
            Ok(c) => {
                let voice_changed = c.voice != self.character.voice;
                self.character = c;
                self.character_text = text;
                if voice_changed {
                    self.voice = voice_of(&self.config, &self.character, &self.stats);
                }
                tracing::info!(name = %self.character.name, "the host's character changed");
            }
            Err(e) => {
                // Checked before it was saved; kept out all the same.
                self.character_text = text;
                tracing::error!(error = %e, "the edited character does not hold; the host keeps its last one");
            }
        }
    }

    /// Says the operator's line now, before any line waiting, about the auction on screen.
    async fn say_for_operator(&mut self, text: String) {
        let now = self.clock.now();
        let focus = self.store.read().ok().and_then(|r| {
            let auctions = r.auctions().ok()?;
            stream::viewmodel::focus(&auctions, now).map(|a| (a.id, stream::viewmodel::phase_of(a)))
        });
        let Some((auction, phase)) = focus else {
            tracing::warn!("no auction to speak of: the operator's line is not said");
            return;
        };
        tracing::info!(line = %text, "the host says the operator's line");
        let cued = Instant::now();
        self.say(
            text,
            auction,
            phase,
            u8::MAX,
            cued + Duration::from_secs(60),
            cued,
        )
        .await;
    }

    /// Writes, shows, keeps and speaks the line for `moment`.
    async fn speak(&mut self, mut moment: Moment, auction: AuctionId, cued: Instant) {
        if moment == Moment::Opening {
            if self.saved.openings.contains(&auction.0) {
                return;
            }
            self.saved.openings.push(auction.0);
            let keep = self.saved.openings.len().saturating_sub(8);
            self.saved.openings.drain(..keep);
        }
        let now = self.clock.now();
        let now_ms = now.0.div_euclid(1000);
        self.saved.mood.on(cue_of(moment), now_ms);
        let war = moment == Moment::NewLeader
            && self.saved.mood.mood == "tense"
            && self.saved.mood.leaders_ms.len() >= 3;
        if war {
            moment = Moment::BiddingWar;
        }
        // Bids can come several a second: the face follows each, the voice at most one every
        // few seconds and never while it is still speaking, so lines are heard whole and none
        // waits to become stale. A sale or a late bid cuts a bid line short instead.
        let (priority, _) = urgency(moment);
        if priority <= urgency(Moment::NewLeader).0
            && (self.last_line.elapsed() < MIN_CHATTER_GAP || self.speaker.busy())
        {
            let mood = face(self.character.expression(&self.saved.mood.mood));
            self.out
                .send_if_modified(|l| std::mem::replace(&mut l.mood, mood) != mood);
            return;
        }
        let gathered = {
            let Ok(r) = self.store.read() else { return };
            let Ok(Some(a)) = r.auction(auction) else {
                return;
            };
            let gathered = facts::gather(&r, &a, moment, now).and_then(|mut g| {
                if let Some(leader) = a.leader {
                    memory::recall(&r, &self.memory, leader, "leader", &mut g)?;
                }
                Ok(g)
            });
            match gathered {
                Ok(g) => g,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the facts for the host");
                    return;
                }
            }
        };
        let text = match self.model_line(&gathered).await {
            Some(line) => {
                self.stats.lines_model.fetch_add(1, Ordering::Relaxed);
                self.lines.said(&line);
                line
            }
            None => match self.lines.line(moment, &gathered.values) {
                Some(line) => {
                    self.stats.lines_template.fetch_add(1, Ordering::Relaxed);
                    line
                }
                None => return,
            },
        };
        tracing::info!(moment = ?moment, mood = %self.saved.mood.mood, line = %text, "the host speaks");
        let (priority, fresh) = urgency(moment);
        self.say(text, auction, gathered.phase, priority, cued + fresh, cued)
            .await;
    }

    /// Shows `text` as the host's line for `auction` in `phase`, keeps it (with the mood) in
    /// the store, and speaks it if it can, unless it is still waiting at `expires`.
    async fn say(
        &mut self,
        text: String,
        auction: AuctionId,
        phase: scene::Phase,
        priority: u8,
        expires: Instant,
        cued: Instant,
    ) {
        self.last_line = Instant::now();
        self.out.send_replace(HostLine {
            mood: face(self.character.expression(&self.saved.mood.mood)),
            caption: text.clone(),
            auction: Some(auction),
            phase: Some(phase),
        });
        self.saved.caption = text.clone();
        self.saved.auction = Some(auction.0);
        self.saved.phase = Some(phase_name(phase).into());
        if let Ok(value) = serde_json::to_string(&self.saved) {
            let saved = self
                .engine
                .execute(Command::SaveState {
                    key: STATE_KEY.into(),
                    value,
                })
                .await;
            if let Err(e) = saved {
                tracing::warn!(error = %e, "cannot keep the host's mood and line");
            }
        }
        if let Some(voice) = self.voice.clone() {
            let (speaker, stats) = (self.speaker.clone(), self.stats.clone());
            // Off the director's loop: the next moment need not wait for this one's voice.
            tokio::task::spawn_blocking(move || match voice.speak(&text) {
                Ok(samples) => speaker.say(Utterance {
                    text,
                    samples: samples.into(),
                    priority,
                    expires,
                    cued,
                }),
                Err(e) => {
                    stats.voice_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "the host's voice failed; the line shows as a caption");
                    stats.problem(format!("voice: {e}"));
                }
            });
        }
    }

    /// A line from the model, if one is configured, answers in time and holds to the facts.
    async fn model_line(&self, g: &facts::Gathered) -> Option<String> {
        self.model_line_with(&self.character.system_prompt(), g)
            .await
    }

    /// A line from the model told `system`, if it answers in time and holds to `g`'s facts.
    async fn model_line_with(&self, system: &str, g: &facts::Gathered) -> Option<String> {
        let model = self.model.as_ref()?;
        let answer = model.line(system, &g.json).await;
        if let Ok(line) = &answer {
            self.stats
                .model_tokens
                .fetch_add(line.tokens, Ordering::Relaxed);
        }
        match answer {
            Ok(line) => match ground::check(&line.text, &g.ground) {
                Ok(()) => Some(line.text),
                Err(v) => {
                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(line = %line.text, violation = ?v, "the model's line does not hold to the facts; a template speaks instead");
                    None
                }
            },
            Err(e) => {
                self.stats.model_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "no line from the model; a template speaks instead");
                self.stats.problem(format!("model: {e}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// A few lines the host would say now with the character in force, for the operator's preview:
/// from the model when one is configured (each checked against the facts, a refused one shown
/// with why), else from the templates.
pub async fn preview(
    config: &HostConfig,
    store: &Store,
    now: store::Timestamp,
) -> Result<Vec<String>, String> {
    let (character, _) = load_character(config, store)?;
    let moments = [Moment::Opening, Moment::NewLeader, Moment::FinalMinutes];
    let mut facts = Vec::new();
    {
        let r = store.read().map_err(|e| e.to_string())?;
        let auctions = r.auctions().map_err(|e| e.to_string())?;
        let a = stream::viewmodel::focus(&auctions, now)
            .ok_or("no auction to speak of: create a campaign first")?;
        for m in moments {
            facts.push((m, facts::gather(&r, a, m, now).map_err(|e| e.to_string())?));
        }
    }
    let model = model_of(config)?;
    let mut lines = Lines::new(REMEMBER);
    let mut out = Vec::new();
    for (m, g) in facts {
        let template = lines.line(m, &g.values).unwrap_or_default();
        let said = match &model {
            None => format!("{} (template): {template}", facts::moment_name(m)),
            Some(model) => match model.line(&character.system_prompt(), &g.json).await {
                Ok(l) => match ground::check(&l.text, &g.ground) {
                    Ok(()) => format!("{} (model): {}", facts::moment_name(m), l.text),
                    Err(v) => format!(
                        "{} (model's line refused, {v:?}; a template instead): {template}",
                        facts::moment_name(m)
                    ),
                },
                Err(e) => format!(
                    "{} (model: {e}; a template instead): {template}",
                    facts::moment_name(m)
                ),
            },
        };
        out.push(said);
    }
    Ok(out)
}
