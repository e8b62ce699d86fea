//! Log setup: human-readable lines by default, JSON objects with `--log-json` or
//! `log.format = "json"`. Logs go to stderr; command output (reports, exports) goes to stdout.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
pub fn init(format: LogFormat, level: &str) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG {v:?}: {e}"))?
        }
        _ => EnvFilter::try_new(level).map_err(|e| format!("log.level {level:?}: {e}"))?,
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| Tee);
    let result = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}

/// Lines kept for the admin page's System view.
const KEEP: usize = 1000;

static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The last `n` log lines, oldest first, without terminal colours.
pub fn recent(n: usize) -> Vec<String> {
    let lines = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    lines
        .iter()
        .skip(lines.len().saturating_sub(n))
        .cloned()
        .collect()
}

/// Text without ANSI colour sequences.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // ESC [ ... final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes to stderr and keeps a copy of each line.
struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = std::io::stderr().write(buf)?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut lines = RECENT.lock().unwrap_or_else(|e| e.into_inner());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if lines.len() == KEEP {
                lines.pop_front();
            }
            lines.push_back(plain(line));
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_without_colours() {
        assert_eq!(
            plain("\x1b[2m2026\x1b[0m \x1b[32m INFO\x1b[0m ok"),
            "2026  INFO ok"
        );
        let mut t = Tee;
        t.write_all(b"first line\nsecond line\n").unwrap();
        let last = recent(2);
        assert_eq!(
            last,
            vec!["first line".to_string(), "second line".to_string()]
        );
    }
}
