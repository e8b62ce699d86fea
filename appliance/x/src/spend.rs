//! What X costs: X sells its API by use (every post read and every post created has a price),
//! so every priced read and write is counted, per UTC day, per month and in all (the campaign
//! this data directory holds), kept in the store across restarts, and held against the monthly
//! budget: at 80 % the operator is warned; at 100 % optional posts stop.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use store::{Store, Timestamp, View};

use domain::engine::{Command, EngineHandle};

/// Prices in millionths of a US dollar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prices {
    /// One post read (each tweet an answer returns).
    pub read: u64,
    /// One post created.
    pub post: u64,
    /// One post created that carries a URL.
    pub post_with_url: u64,
}

impl Default for Prices {
    /// X's published pay-per-use prices (2026): $0.005 a post read, $0.015 a post, $0.200 a
    /// post with a URL.
    fn default() -> Self {
        Prices {
            read: 5_000,
            post: 15_000,
            post_with_url: 200_000,
        }
    }
}

/// Counts of priced requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Posts read.
    pub reads: u64,
    /// Posts created without a URL.
    pub posts: u64,
    /// Posts created with a URL.
    pub posts_with_url: u64,
}

impl Usage {
    /// What it cost, in millionths of a dollar.
    pub fn cost(&self, p: &Prices) -> u64 {
        self.reads * p.read + self.posts * p.post + self.posts_with_url * p.post_with_url
    }

    fn add(&mut self, other: Usage) {
        self.reads += other.reads;
        self.posts += other.posts;
        self.posts_with_url += other.posts_with_url;
    }
}

/// Where the spend stands against the monthly budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Under 80 % (or no budget).
    Fine,
    /// 80 % or more: the operator is warned.
    Warning,
    /// All of it: optional posts stop.
    Spent,
}

/// The spend figures for the status, the dashboard and `/metrics` (millionths of a dollar).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Today (UTC).
    pub today: u64,
    /// This calendar month (UTC).
    pub month: u64,
    /// Since this data directory's first start.
    pub campaign: u64,
    /// The monthly budget; 0: none.
    pub budget: u64,
    /// This month's counts.
    pub month_usage: Usage,
}

#[derive(Debug, Default)]
struct Books {
    day: String,
    month: String,
    today: Usage,
    this_month: Usage,
    total: Usage,
    /// Counted since the last save.
    unsaved: bool,
    warned_for: String,
}

/// The spend meter.
#[derive(Debug)]
pub struct Spend {
    prices: Prices,
    budget: u64,
    books: Mutex<Books>,
}

/// Whether a tweet's text carries a URL as X counts one (it links `http://…`, `www.…` and bare
/// domains such as `example.com`).
pub fn has_url(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"' | '\'' | '<' | '>'))
        .any(|word| {
            let w = word.trim_end_matches(['.', ',', '!', '?', ':', ';']);
            if w.contains("://") || w.to_ascii_lowercase().starts_with("www.") {
                return true;
            }
            // A bare domain: letters before a dot and a top-level domain of 2-6 letters after.
            let host = w.split('/').next().unwrap_or("");
            let mut labels = host.rsplit('.');
            let (Some(tld), Some(name)) = (labels.next(), labels.next()) else {
                return false;
            };
            (2..=6).contains(&tld.len())
                && tld.chars().all(|c| c.is_ascii_alphabetic())
                && name.chars().any(|c| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '@')
                && !name.starts_with('@')
        })
}

fn day_of(t: Timestamp) -> String {
    t.to_datetime().format("%Y-%m-%d").to_string()
}

fn month_of(t: Timestamp) -> String {
    t.to_datetime().format("%Y-%m").to_string()
}

const TOTAL_KEY: &str = "x.usage.total";

fn day_key(day: &str) -> String {
    format!("x.usage.day.{day}")
}

fn month_key(month: &str) -> String {
    format!("x.usage.month.{month}")
}

impl Spend {
    /// A meter with these prices and monthly budget (millionths of a dollar; 0: none), its
    /// books read from the store as of `now`.
    pub fn load(
        store: &Store,
        prices: Prices,
        budget: u64,
        now: Timestamp,
    ) -> store::Result<Spend> {
        let r = store.read()?;
        let get = |key: &str| -> store::Result<Usage> {
            Ok(r.state(key)?
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default())
        };
        let (day, month) = (day_of(now), month_of(now));
        let books = Books {
            today: get(&day_key(&day))?,
            this_month: get(&month_key(&month))?,
            total: get(TOTAL_KEY)?,
            day,
            month,
            unsaved: false,
            warned_for: String::new(),
        };
        Ok(Spend {
            prices,
            budget,
            books: Mutex::new(books),
        })
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, now: Timestamp, usage: Usage) {
        let mut b = self.books();
        let (day, month) = (day_of(now), month_of(now));
        if b.day != day {
            b.day = day;
            b.today = Usage::default();
        }
        if b.month != month {
            b.month = month;
            b.this_month = Usage::default();
        }
        b.today.add(usage);
        b.this_month.add(usage);
        b.total.add(usage);
        b.unsaved = true;
        let spent = b.this_month.cost(&self.prices);
        if self.budget > 0 && spent * 100 >= self.budget * 80 && b.warned_for != b.month {
            b.warned_for = b.month.clone();
            tracing::warn!(
                spent_usd = format!("{:.2}", spent as f64 / 1e6),
                budget_usd = format!("{:.2}", self.budget as f64 / 1e6),
                "80 % of this month's X budget is spent; at 100 % acceptances and answers stop"
            );
        }
    }

    /// `n` posts read.
    pub fn read(&self, now: Timestamp, n: u64) {
        if n > 0 {
            self.count(
                now,
                Usage {
                    reads: n,
                    ..Usage::default()
                },
            );
        }
    }

    /// A post created with `text`.
    pub fn posted(&self, now: Timestamp, text: &str) {
        let usage = if has_url(text) {
            Usage {
                posts_with_url: 1,
                ..Usage::default()
            }
        } else {
            Usage {
                posts: 1,
                ..Usage::default()
            }
        };
        self.count(now, usage);
    }

    /// Where this month's spend stands.
    pub fn level(&self) -> Level {
        if self.budget == 0 {
            return Level::Fine;
        }
        let spent = self.books().this_month.cost(&self.prices);
        if spent >= self.budget {
            Level::Spent
        } else if spent * 100 >= self.budget * 80 {
            Level::Warning
        } else {
            Level::Fine
        }
    }

    /// The figures now.
    pub fn figures(&self) -> Figures {
        let b = self.books();
        Figures {
            today: b.today.cost(&self.prices),
            month: b.this_month.cost(&self.prices),
            campaign: b.total.cost(&self.prices),
            budget: self.budget,
            month_usage: b.this_month,
        }
    }

    /// Saves what was counted since the last save (through the engine, durably).
    pub async fn save(&self, engine: &EngineHandle) -> Result<(), String> {
        let writes = {
            let mut b = self.books();
            if !b.unsaved {
                return Ok(());
            }
            b.unsaved = false;
            let json = |u: &Usage| serde_json::to_string(u).unwrap_or_default();
            [
                (day_key(&b.day), json(&b.today)),
                (month_key(&b.month), json(&b.this_month)),
                (TOTAL_KEY.to_string(), json(&b.total)),
            ]
        };
        for (key, value) in writes {
            if let Err(e) = engine.execute(Command::SaveState { key, value }).await {
                self.books().unsaved = true;
                return Err(format!("cannot save the X spend: {e}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_found_as_x_links_them() {
        for yes in [
            "see https://example.com/x",
            "www.example.org",
            "go to sothebais.xyz now",
            "docs at example.com/help.",
        ] {
            assert!(has_url(yes), "{yes}");
        }
        for no in [
            "@alice Your bid of 2.5 ETH on Genesis #15 leads with 4 min left.",
            "SOLD: Genesis #15 to @bob for 1.25 ETH. Event log #42: 0xabc",
            "Reply bid 2.6 ETH or more (e.g. now).",
            "@bob.eth is not a link",
        ] {
            assert!(!has_url(no), "{no}");
        }
    }

    #[test]
    fn spend_is_counted_by_day_and_month_and_held_against_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let t0 = Timestamp::parse_rfc3339("2026-11-30T23:59:00Z").unwrap();
        // A budget of $1: 200 reads are $1.00.
        let s = Spend::load(&store, Prices::default(), 1_000_000, t0).unwrap();
        s.read(t0, 100);
        s.posted(t0, "@alice outbid");
        assert_eq!(s.figures().today, 100 * 5_000 + 15_000);
        assert_eq!(s.level(), Level::Fine);
        s.read(t0, 57);
        assert_eq!(s.level(), Level::Warning, "{:?}", s.figures());
        // A new day and month start from nothing; the campaign keeps counting.
        let t1 = t0.plus_secs(120);
        s.posted(t1, "see example.com");
        let f = s.figures();
        assert_eq!((f.today, f.month), (200_000, 200_000));
        assert_eq!(f.campaign, 157 * 5_000 + 15_000 + 200_000);
        assert_eq!(s.level(), Level::Fine);
        s.read(t1, 160);
        assert_eq!(s.level(), Level::Spent);
    }
}
