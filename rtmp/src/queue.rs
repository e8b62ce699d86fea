//! The queue between the frame loop and a consumer (the network, a file). Pushing never blocks:
//! when the consumer falls behind by more than the queue's span, whole GOPs are dropped from
//! the old end (a decoder can only start at a keyframe, so dropping less would only corrupt the
//! picture) and counted.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

/// One encoded media frame on its way out.
#[derive(Clone, Debug, PartialEq)]
pub enum Media {
    /// An H.264 access unit (AVCC NAL units).
    Video {
        /// Milliseconds from the stream's start.
        pts_ms: u64,
        /// Whether a decoder can start here.
        keyframe: bool,
        /// The NAL units.
        avcc: Bytes,
    },
    /// A raw AAC frame.
    Audio {
        /// Milliseconds from the stream's start.
        pts_ms: u64,
        /// The frame.
        aac: Bytes,
    },
}

impl Media {
    /// Its timestamp.
    pub fn pts_ms(&self) -> u64 {
        match self {
            Media::Video { pts_ms, .. } | Media::Audio { pts_ms, .. } => *pts_ms,
        }
    }

    fn is_keyframe(&self) -> bool {
        matches!(self, Media::Video { keyframe: true, .. })
    }

    fn is_video(&self) -> bool {
        matches!(self, Media::Video { .. })
    }

    fn len(&self) -> u64 {
        match self {
            Media::Video { avcc, .. } => avcc.len() as u64,
            Media::Audio { aac, .. } => aac.len() as u64,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Media>,
    bytes: u64,
    wait_keyframe: bool,
    closed: bool,
    dropped_frames: u64,
    dropped_gops: u64,
}

/// A bounded, never-blocking media queue.
#[derive(Debug)]
pub struct MediaQueue {
    state: Mutex<State>,
    notify: Notify,
    span_ms: u64,
}

/// Counters of what the queue dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Video frames dropped.
    pub frames: u64,
    /// Of those, whole GOPs dropped.
    pub gops: u64,
}

impl MediaQueue {
    /// A queue holding at most `span_ms` of media.
    pub fn new(span_ms: u64) -> MediaQueue {
        MediaQueue {
            state: Mutex::new(State {
                wait_keyframe: true,
                ..State::default()
            }),
            notify: Notify::new(),
            span_ms,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a frame; drops old GOPs if the queue now spans more than its limit.
    pub fn push(&self, media: Media) {
        let mut s = self.lock();
        if s.closed {
            return;
        }
        if s.wait_keyframe {
            if !media.is_keyframe() {
                if media.is_video() {
                    s.dropped_frames += 1;
                }
                return;
            }
            s.wait_keyframe = false;
        }
        s.bytes += media.len();
        s.items.push_back(media);
        while let (Some(first), Some(last)) = (s.items.front(), s.items.back())
            && last.pts_ms().saturating_sub(first.pts_ms()) > self.span_ms
        {
            // The oldest GOP ends where the next keyframe begins.
            let next_gop = s
                .items
                .iter()
                .skip(1)
                .position(Media::is_keyframe)
                .map(|i| i + 1);
            let cut = next_gop.unwrap_or(s.items.len());
            let frames = s.items.iter().take(cut).filter(|m| m.is_video()).count() as u64;
            let bytes: u64 = s.items.drain(..cut).map(|m| m.len()).sum();
            s.bytes -= bytes;
            s.dropped_frames += frames;
            s.dropped_gops += 1;
            if next_gop.is_none() {
                s.wait_keyframe = true;
            }
        }
        drop(s);
        self.notify.notify_one();
    }

    /// The next frame; `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<Media> {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.lock();
                if let Some(m) = s.items.pop_front() {
                    s.bytes -= m.len();
                    return Some(m);
                }
                if s.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// For a fresh connection: drops everything before the newest queued keyframe. Returns
    /// true when there is none (the caller should ask the encoder for one).
    pub fn restart_at_keyframe(&self) -> bool {
        let mut s = self.lock();
        match s.items.iter().rposition(Media::is_keyframe) {
            Some(k) => {
                let frames = s.items.iter().take(k).filter(|m| m.is_video()).count() as u64;
                let bytes: u64 = s.items.drain(..k).map(|m| m.len()).sum();
                s.bytes -= bytes;
                s.dropped_frames += frames;
                false
            }
            None => {
                let frames = s.items.iter().filter(|m| m.is_video()).count() as u64;
                s.items.clear();
                s.bytes = 0;
                s.dropped_frames += frames;
                s.wait_keyframe = true;
                true
            }
        }
    }

    /// No more frames will come; `pop` returns what is left, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Frames waiting and the time they span, in milliseconds.
    pub fn depth(&self) -> (usize, u64) {
        let s = self.lock();
        let span = match (s.items.front(), s.items.back()) {
            (Some(a), Some(b)) => b.pts_ms().saturating_sub(a.pts_ms()),
            _ => 0,
        };
        (s.items.len(), span)
    }

    /// Bytes of media waiting.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// What has been dropped so far.
    pub fn dropped(&self) -> Dropped {
        let s = self.lock();
        Dropped {
            frames: s.dropped_frames,
            gops: s.dropped_gops,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(pts_ms: u64, keyframe: bool) -> Media {
        Media::Video {
            pts_ms,
            keyframe,
            avcc: Bytes::from_static(b"x"),
        }
    }

    fn audio(pts_ms: u64) -> Media {
        Media::Audio {
            pts_ms,
            aac: Bytes::from_static(b"a"),
        }
    }

    /// 30 fps, a keyframe every `gop` frames, with audio between frames.
    fn feed(q: &MediaQueue, frames: u64, gop: u64) {
        for n in 0..frames {
            let pts = n * 1000 / 30;
            q.push(video(pts, n % gop == 0));
            q.push(audio(pts + 10));
        }
    }

    #[tokio::test]
    async fn delivers_in_order_when_the_consumer_keeps_up() {
        let q = MediaQueue::new(3000);
        feed(&q, 10, 60);
        q.close();
        let mut last = 0;
        let mut n = 0;
        while let Some(m) = q.pop().await {
            assert!(m.pts_ms() >= last);
            last = m.pts_ms();
            n += 1;
        }
        assert_eq!(n, 20);
        assert_eq!(q.dropped(), Dropped::default());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn drops_whole_gops_from_the_old_end_and_starts_at_a_keyframe() {
        let q = MediaQueue::new(3000);
        feed(&q, 300, 60); // 10 s into a queue of 3 s
        let (len, span) = q.depth();
        assert!(span <= 3000, "{span}");
        assert!(len > 0);
        let d = q.dropped();
        assert!(d.gops >= 3, "{d:?}");
        assert_eq!(q.bytes(), len as u64, "one byte per frame in this feed");
        assert_eq!(d.frames % 60, 0, "only whole GOPs go: {d:?}");
        let s = q.lock();
        assert!(
            s.items.front().unwrap().is_keyframe(),
            "the queue always starts at a keyframe"
        );
    }

    #[test]
    fn a_restart_skips_to_the_newest_keyframe_or_asks_for_one() {
        let q = MediaQueue::new(10_000);
        feed(&q, 90, 60);
        assert!(!q.restart_at_keyframe());
        assert_eq!(q.lock().items.front().unwrap().pts_ms(), 2000);
        let q = MediaQueue::new(10_000);
        q.push(video(0, true));
        q.push(video(33, false));
        q.lock().items.pop_front();
        assert!(
            q.restart_at_keyframe(),
            "no keyframe queued: ask the encoder for one"
        );
        q.push(video(66, false));
        q.push(audio(70));
        assert_eq!(q.depth().0, 0, "nothing is queued until the next keyframe");
        q.push(video(100, true));
        assert_eq!(q.depth().0, 1);
    }
}
