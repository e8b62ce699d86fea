//! The host's speech in the program audio: a queue of lines to speak (one at a time, the most
//! urgent first, lines that went stale while waiting dropped), mixed over the bed, which is
//! ducked while the host speaks. The frame loop asks, each frame, for that frame's share of
//! speech; it gets back how loud the speech was (the avatar's mouth) and the words said so far
//! (the caption, in step with the voice).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Samples per second of the speech given to [`Speaker::say`] (the stream's rate).
pub const RATE: u32 = codec::AUDIO_SAMPLE_RATE;

/// Lines waiting at most; past this the least urgent, oldest one is dropped.
const MAX_QUEUED: usize = 8;
/// The bed's gain under speech (-12 dB).
const DUCKED: f32 = 0.25;
/// Samples the bed takes to duck (40 ms) and to come back (400 ms).
const ATTACK: f32 = RATE as f32 * 0.040;
const RELEASE: f32 = RATE as f32 * 0.400;
/// Speech's gain in the mix.
const SPEECH_GAIN: f32 = 0.9;
/// A pause between two lines, samples (300 ms).
const GAP: usize = RATE as usize * 3 / 10;
/// A line this urgent cuts short a less urgent one being spoken (a sale, a late bid).
pub const INTERRUPTS: u8 = 8;
/// Samples over which a line cut short fades out (20 ms).
const FADE: usize = RATE as usize / 50;
/// Latencies kept for the figures.
const KEEP_LATENCIES: usize = 1024;

/// A line to speak.
#[derive(Clone, Debug)]
pub struct Utterance {
    /// What is said (the caption).
    pub text: String,
    /// The speech, mono at [`RATE`].
    pub samples: Arc<[i16]>,
    /// Higher is more urgent: spoken before lower ones waiting.
    pub priority: u8,
    /// Not started by then: dropped (what it says is no longer true).
    pub expires: Instant,
    /// When what it reacts to happened (for the event-to-voice latency).
    pub cued: Instant,
}

/// What the frame loop draws from this frame's speech.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Voiceover {
    /// How open the mouth is, 0 (closed) to 255, from the speech's level in this frame.
    pub mouth: u8,
    /// The words said so far of the line being spoken; `None` while none is.
    pub caption: Option<String>,
}

/// Counters for `/metrics` and the figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpeechStats {
    /// Lines spoken (started).
    pub spoken: u64,
    /// Lines dropped: stale before their turn, or pushed out of a full queue.
    pub dropped: u64,
    /// Lines cut short by a more urgent one.
    pub cut: u64,
    /// Lines waiting.
    pub queued: usize,
    /// Whether the host is speaking now.
    pub speaking: bool,
    /// From the cue to the line's first sample in the program audio, milliseconds (latest
    /// [`KEEP_LATENCIES`]).
    pub latencies_ms: Vec<u32>,
}

struct Playing {
    u: Utterance,
    pos: usize,
    /// Where a fade-out began, when the line is being cut short.
    fade_from: Option<usize>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Utterance>,
    now: Option<Playing>,
    /// Silence still to pass before the next line.
    gap: usize,
    /// The bed's gain now.
    gain: Option<f32>,
    stats: SpeechStats,
}

/// The speech queue, shared by whoever makes lines and the frame loop that mixes them.
#[derive(Default)]
pub struct Speaker {
    state: Mutex<State>,
}

impl Speaker {
    /// Queues a line. A full queue drops its least urgent, oldest line (maybe this one).
    pub fn say(&self, u: Utterance) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if u.priority >= INTERRUPTS
            && let Some(p) = s.now.as_mut()
            && p.u.priority < u.priority
            && p.fade_from.is_none()
        {
            p.fade_from = Some(p.pos);
            s.stats.cut += 1;
        }
        s.queue.push_back(u);
        if s.queue.len() > MAX_QUEUED
            && let Some(i) = (0..s.queue.len()).min_by_key(|&i| (s.queue[i].priority, i))
        {
            s.queue.remove(i);
            s.stats.dropped += 1;
        }
    }

    /// Whether the host is speaking or has lines waiting.
    pub fn busy(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.now.is_some() || !s.queue.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> SpeechStats {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = s.stats.clone();
        stats.queued = s.queue.len();
        stats.speaking = s.now.is_some();
        stats
    }

    /// Mixes the next stretch of speech into `pcm` (interleaved 16-bit, `channels` per frame),
    /// ducking what is there under it. `now` decides which waiting lines went stale.
    pub fn mix(&self, pcm: &mut [i16], channels: usize, now: Instant) -> Voiceover {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let frames = pcm.len() / channels.max(1);
        let mut sum = 0.0f64;
        let mut spoken = 0usize;
        for f in 0..frames {
            if s.now.is_none() {
                if s.gap > 0 {
                    s.gap -= 1;
                } else {
                    start_next(&mut s, now);
                }
            }
            let voice = match s.now.as_mut() {
                Some(p) => {
                    let mut v = p.u.samples[p.pos];
                    let faded = p.fade_from.map(|from| p.pos - from);
                    if let Some(k) = faded {
                        v = (i32::from(v) * (FADE - k.min(FADE)) as i32 / FADE as i32) as i16;
                    }
                    p.pos += 1;
                    if p.pos == p.u.samples.len() || faded.is_some_and(|k| k + 1 >= FADE) {
                        let cut = faded.is_some();
                        s.now = None;
                        s.gap = if cut { 0 } else { GAP };
                    }
                    Some(v)
                }
                None => None,
            };
            // The bed's gain moves towards its target a little each sample.
            let target = if voice.is_some() || s.now.is_some() {
                DUCKED
            } else {
                1.0
            };
            let g = s.gain.get_or_insert(1.0);
            if *g > target {
                *g = (*g - (1.0 - DUCKED) / ATTACK).max(target);
            } else if *g < target {
                *g = (*g + (1.0 - DUCKED) / RELEASE).min(target);
            }
            let g = *g;
            let v = voice.map_or(0.0, |v| f32::from(v) * SPEECH_GAIN);
            if voice.is_some() {
                sum += f64::from(v) * f64::from(v);
                spoken += 1;
            }
            for c in 0..channels {
                let i = f * channels + c;
                let mixed = f32::from(pcm[i]) * g + v;
                pcm[i] = mixed.clamp(-32768.0, 32767.0) as i16;
            }
        }
        let mouth = if spoken == 0 {
            0
        } else {
            // Speech at -20 dBFS RMS opens the mouth fully.
            let rms = (sum / spoken as f64).sqrt() / 32768.0;
            ((rms / 0.1).min(1.0) * 255.0) as u8
        };
        let caption = s
            .now
            .as_ref()
            .map(|p| said_so_far(&p.u.text, p.pos, p.u.samples.len()));
        Voiceover { mouth, caption }
    }
}

/// Starts the most urgent line waiting that is still current.
fn start_next(s: &mut State, now: Instant) {
    let before = s.queue.len();
    s.queue.retain(|u| u.expires > now && !u.samples.is_empty());
    s.stats.dropped += (before - s.queue.len()) as u64;
    let Some(i) = (0..s.queue.len()).max_by_key(|&i| (s.queue[i].priority, std::cmp::Reverse(i)))
    else {
        return;
    };
    let Some(u) = s.queue.remove(i) else { return };
    let ms = now
        .saturating_duration_since(u.cued)
        .as_millis()
        .min(u128::from(u32::MAX)) as u32;
    let l = &mut s.stats.latencies_ms;
    if l.len() == KEEP_LATENCIES {
        l.remove(0);
    }
    l.push(ms);
    s.stats.spoken += 1;
    tracing::info!(latency_ms = ms, queued = s.queue.len(), line = %u.text, "the host's line is on air");
    s.now = Some(Playing {
        u,
        pos: 0,
        fade_from: None,
    });
}

/// The words of `text` said once `pos` of `len` samples are: words are shown as the voice
/// reaches them, by their share of the line's letters (speech runs at a near even pace).
fn said_so_far(text: &str, pos: usize, len: usize) -> String {
    let total: usize = text.split_whitespace().map(|w| w.chars().count() + 1).sum();
    if total == 0 || len == 0 {
        return String::new();
    }
    // A word shows as it begins, so the caption leads the voice slightly, never lags it.
    let reached = pos as f64 / len as f64 * total as f64;
    let mut out = String::new();
    let mut at = 0usize;
    for w in text.split_whitespace() {
        if at as f64 > reached {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
        at += w.chars().count() + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line(text: &str, secs: f32, priority: u8, cued: Instant) -> Utterance {
        let n = (RATE as f32 * secs) as usize;
        Utterance {
            text: text.into(),
            samples: (0..n)
                .map(|i| if i % 2 == 0 { 8_000 } else { -8_000 })
                .collect::<Vec<i16>>()
                .into(),
            priority,
            expires: cued + Duration::from_secs(10),
            cued,
        }
    }

    /// Mixes `secs` of a constant bed of 10,000 in 33 ms frames; returns each frame's result
    /// and the mixed audio.
    fn run(sp: &Speaker, secs: f32, at: Instant) -> (Vec<Voiceover>, Vec<i16>) {
        let per = (RATE / 30) as usize;
        let mut all = Vec::new();
        let mut out = Vec::new();
        for f in 0..(secs * 30.0) as usize {
            let mut pcm = vec![10_000i16; per * 2];
            out.push(sp.mix(&mut pcm, 2, at + Duration::from_millis(f as u64 * 33)));
            all.extend(pcm);
        }
        (out, all)
    }

    #[test]
    fn speech_ducks_the_bed_opens_the_mouth_and_captions_word_by_word() {
        let sp = Speaker::default();
        let t = Instant::now();
        sp.say(line("Sold to ada for two", 1.0, 1, t));
        let (frames, pcm) = run(&sp, 2.0, t);
        assert!(
            frames[..28].iter().all(|v| v.mouth > 200),
            "speech opens the mouth"
        );
        assert!(
            frames[35..]
                .iter()
                .all(|v| v.mouth == 0 && v.caption.is_none())
        );
        // Words appear as they are said, never removed, ending with the whole line.
        let captions: Vec<&str> = frames.iter().filter_map(|v| v.caption.as_deref()).collect();
        assert_eq!(captions[0], "Sold");
        assert!(captions.windows(2).all(|w| w[1].starts_with(w[0])));
        assert_eq!(*captions.last().unwrap(), "Sold to ada for two");
        // Under speech the bed is at a quarter (plus the speech); after, it comes back.
        let second = RATE as usize * 2;
        let mid = &pcm[second / 2..second / 2 + 2]; // 0.5 s in, stereo pair
        assert_eq!(mid[0], mid[1]);
        assert!([2_500 + 7_200, 2_500 - 7_200].contains(&mid[0]), "{mid:?}");
        assert_eq!(*pcm.last().unwrap(), 10_000, "the bed is back in full");
        let stats = sp.stats();
        assert_eq!((stats.spoken, stats.dropped, stats.speaking), (1, 0, false));
        assert_eq!(stats.latencies_ms, vec![0]);
    }

    #[test]
    fn one_line_at_a_time_the_urgent_first_the_stale_dropped() {
        let sp = Speaker::default();
        let t = Instant::now();
        sp.say(line("first", 0.5, 1, t));
        // The first line starts; the others arrive while it is spoken.
        let mut pcm = vec![0i16; 2 * 1600];
        assert_eq!(sp.mix(&mut pcm, 2, t).caption.as_deref(), Some("first"));
        sp.say(line("low", 0.5, 1, t));
        sp.say(line("urgent", 0.5, 5, t));
        let mut stale = line("stale", 0.5, 7, t);
        stale.expires = t + Duration::from_millis(100);
        sp.say(stale);
        let (frames, _) = run(&sp, 3.0, t);
        let mut order: Vec<String> = Vec::new();
        for v in &frames {
            if let Some(c) = &v.caption
                && order.last() != Some(c)
                && !order.last().is_some_and(|l| c.starts_with(l.as_str()))
            {
                order.push(c.clone());
            }
        }
        assert_eq!(order, ["first", "urgent", "low"]);
        let stats = sp.stats();
        assert_eq!((stats.spoken, stats.dropped), (3, 1));
        // The urgent line waited for the first (0.5 s + the pause): never over each other.
        assert!(stats.latencies_ms[1] >= 500, "{:?}", stats.latencies_ms);
    }

    #[test]
    fn a_sale_cuts_short_a_line_about_bids_with_a_fade() {
        let sp = Speaker::default();
        let t = Instant::now();
        sp.say(line("a long line about bids", 5.0, 5, t));
        let (frames, _) = run(&sp, 0.5, t);
        assert!(frames.iter().all(|v| v.caption.is_some()));
        sp.say(line("sold", 1.0, 9, t));
        let (frames, pcm) = run(&sp, 0.5, t);
        // Within a frame the old line fades out and the sale begins.
        assert_eq!(frames[1].caption.as_deref(), Some("sold"));
        // No click: the first samples after the cut were faded, not a jump to silence.
        let stats = sp.stats();
        assert_eq!((stats.cut, stats.spoken), (1, 2));
        assert!(pcm.iter().all(|s| s.unsigned_abs() < 20_000));
        // A line as urgent or less does not cut.
        sp.say(line("also sold", 1.0, 9, t));
        assert_eq!(sp.stats().cut, 1);
        assert!(sp.busy());
    }

    #[test]
    fn a_full_queue_drops_its_least_urgent_oldest_line() {
        let sp = Speaker::default();
        let t = Instant::now();
        for i in 0..MAX_QUEUED {
            sp.say(line(&format!("l{i}"), 0.1, 2, t));
        }
        sp.say(line("minor", 0.1, 1, t));
        assert_eq!(sp.stats().dropped, 1, "the newcomer was the least urgent");
        sp.say(line("major", 0.1, 3, t));
        let s = sp.stats();
        assert_eq!((s.dropped, s.queued), (2, MAX_QUEUED));
    }
}
