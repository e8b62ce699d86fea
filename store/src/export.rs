//! The event log as anyone may be given it, and its verification; and the anchor a settlement
//! carries on chain so the whole record is sealed with the sale.
//!
//! An export is JSON lines, one per event: `seq`, `at` (microseconds since the epoch), `prev_hash`,
//! `hash`, `payload` (the stored bytes, hex) and, for people, `kind` and `event` (the decoded
//! event). Verifying recomputes every hash from `prev_hash | seq | at | payload`, checks each
//! line's `prev_hash` is the hash before it and that `event` is what `payload` says; the first
//! line that fails is where the export stops matching what the appliance wrote.
//!
//! The anchor is `SBAI` followed by the head's sequence number (8 bytes, big-endian) and hash
//! (32 bytes): 44 bytes passed as `safeTransferFrom`'s `data` with the winner's token.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::event::{self, Event, Hash, chain_hash};
use crate::{Result, Store, Timestamp, View};

/// The anchor's first bytes.
pub const ANCHOR_MAGIC: &[u8; 4] = b"SBAI";

/// The bytes a settlement carries: the log's head at `seq` with `hash`.
pub fn anchor(seq: u64, hash: &Hash) -> Vec<u8> {
    let mut out = Vec::with_capacity(44);
    out.extend_from_slice(ANCHOR_MAGIC);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(hash);
    out
}

/// Reads an anchor back (`None` if `data` is not one).
pub fn parse_anchor(data: &[u8]) -> Option<(u64, Hash)> {
    if data.len() != 44 || &data[..4] != ANCHOR_MAGIC {
        return None;
    }
    let seq = u64::from_be_bytes(data[4..12].try_into().ok()?);
    let hash: Hash = data[12..44].try_into().ok()?;
    Some((seq, hash))
}

/// One exported event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Position in the log.
    pub seq: u64,
    /// When it was appended, microseconds since the epoch (UTC).
    pub at: i64,
    /// The previous event's hash (hex).
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
    /// The stored payload (hex): what the hash covers.
    pub payload: String,
    /// The event's kind, for people.
    pub kind: String,
    /// The event, for people (must be what `payload` decodes to).
    pub event: Event,
}

/// Writes the whole log to `out` as JSON lines; returns the number of events.
pub fn export(store: &Store, out: &mut dyn Write) -> Result<u64> {
    let r = store.read()?;
    let mut after = 0;
    let mut n = 0;
    loop {
        let batch = r.stored_events_after(after, 1024)?;
        let Some((last, _)) = batch.last() else { break };
        after = *last;
        for (seq, bytes) in batch {
            let raw = event::split(&bytes).map_err(|source| crate::Error::Decode {
                table: "events",
                key: seq.to_string(),
                source,
            })?;
            let rec = event::open(seq, &bytes).map_err(|source| crate::Error::Decode {
                table: "events",
                key: seq.to_string(),
                source,
            })?;
            let line = Line {
                seq,
                at: raw.at.0,
                prev_hash: hex::encode(raw.prev_hash),
                hash: hex::encode(raw.hash),
                payload: hex::encode(raw.payload),
                kind: rec.event.kind().to_string(),
                event: rec.event,
            };
            let text = serde_json::to_string(&line).map_err(|e| {
                crate::Error::io("cannot write the export", std::io::Error::other(e))
            })?;
            writeln!(out, "{text}").map_err(|e| crate::Error::io("cannot write the export", e))?;
            n += 1;
        }
    }
    Ok(n)
}

/// What verifying an export found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// Events read that match their hashes and their neighbours, in order from 1.
    pub good: Vec<(u64, Hash, Timestamp, Event)>,
    /// The first line that does not match, and why.
    pub broken: Option<(u64, String)>,
}

impl Verified {
    /// The recomputed hash of event `seq`, if the export holds it intact.
    pub fn hash_at(&self, seq: u64) -> Option<Hash> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.good.get(i).map(|(_, h, _, _)| *h)
    }
}

fn unhex32(s: &str) -> Option<Hash> {
    hex::decode(s).ok()?.try_into().ok()
}

/// Recomputes the hash chain of an export; stops at the first line that does not match.
pub fn verify(input: &mut dyn BufRead) -> Verified {
    let mut v = Verified::default();
    let mut prev: Hash = [0; 32];
    let mut expected_seq = 1u64;
    let mut text = String::new();
    let mut line_no = 0u64;
    loop {
        text.clear();
        match input.read_line(&mut text) {
            Ok(0) => return v,
            Ok(_) => {}
            Err(e) => {
                v.broken = Some((expected_seq, format!("the export cannot be read: {e}")));
                return v;
            }
        }
        line_no += 1;
        if text.trim().is_empty() {
            continue;
        }
        let fail = |why: String| Some((expected_seq, why));
        let line: Line = match serde_json::from_str(text.trim()) {
            Ok(l) => l,
            Err(e) => {
                v.broken = fail(format!("line {line_no} is not an exported event: {e}"));
                return v;
            }
        };
        if line.seq != expected_seq {
            v.broken = fail(format!(
                "line {line_no} holds event #{} where #{expected_seq} should be (an event was removed, added or moved)",
                line.seq
            ));
            return v;
        }
        let (Some(prev_hash), Some(hash), Ok(payload)) = (
            unhex32(&line.prev_hash),
            unhex32(&line.hash),
            hex::decode(&line.payload),
        ) else {
            v.broken = fail(format!("event #{} has malformed hex", line.seq));
            return v;
        };
        if prev_hash != prev {
            v.broken = fail(format!(
                "event #{} does not follow event #{}: its previous hash differs",
                line.seq,
                line.seq - 1
            ));
            return v;
        }
        let at = Timestamp(line.at);
        let computed = chain_hash(&prev, line.seq, at, &payload);
        if computed != hash {
            v.broken = fail(format!(
                "event #{} ({}) was altered: its content does not give its hash",
                line.seq, line.kind
            ));
            return v;
        }
        let decoded: Event = match crate::decode(&payload) {
            Ok(e) => e,
            Err(e) => {
                v.broken = fail(format!("event #{} does not decode: {e}", line.seq));
                return v;
            }
        };
        if decoded != line.event {
            v.broken = fail(format!(
                "event #{} ({}) was altered: its readable form differs from its hashed bytes",
                line.seq, line.kind
            ));
            return v;
        }
        v.good.push((line.seq, computed, at, decoded));
        prev = computed;
        expected_seq += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_round_trip_and_reject_other_data() {
        let h = [7u8; 32];
        let a = anchor(42, &h);
        assert_eq!(a.len(), 44);
        assert_eq!(parse_anchor(&a), Some((42, h)));
        assert_eq!(parse_anchor(&a[..43]), None);
        assert_eq!(parse_anchor(b""), None);
        let mut other = a.clone();
        other[0] = b'X';
        assert_eq!(parse_anchor(&other), None);
    }
}
