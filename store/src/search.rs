//! Full-text search (tantivy) over what the appliance took in and decided: tweets, bids and every
//! event. The index lives beside the database (`DATA/search/`) and is derived from the event log
//! alone: it records the last event it holds, catches up from the log at start, and can be deleted
//! and rebuilt at any time.

use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{FAST, Field, INDEXED, STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, doc};

use crate::event::{Event, EventRecord};
use crate::tables::View;
use crate::time::Timestamp;
use crate::{Error, Result, Store};

/// Memory the index writer may use before it flushes.
const WRITER_BUDGET: usize = 20_000_000;
/// Events indexed per commit while catching up.
const CATCH_UP_BATCH: usize = 2048;

fn search_error(e: impl std::fmt::Display) -> Error {
    Error::Search(e.to_string())
}

#[derive(Clone, Copy)]
struct Fields {
    kind: Field,
    key: Field,
    title: Field,
    body: Field,
    at: Field,
    seq: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        kind: b.add_text_field("kind", STRING | STORED),
        key: b.add_text_field("key", STRING | STORED),
        title: b.add_text_field("title", TEXT | STORED),
        body: b.add_text_field("body", TEXT | STORED),
        at: b.add_i64_field("at", INDEXED | STORED | FAST),
        seq: b.add_u64_field("seq", INDEXED | STORED | FAST),
    };
    (b.build(), fields)
}

/// One search result.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Hit {
    /// `tweet`, `bid` or `event`.
    pub kind: String,
    /// What it is (`tweet:179…`, `bid:42`, `event:1234`).
    pub key: String,
    /// A one-line title.
    pub title: String,
    /// The text that matched.
    pub body: String,
    /// When it happened.
    pub at: Timestamp,
    /// The event that recorded it.
    pub seq: u64,
    /// Relevance.
    pub score: f32,
}

/// The search index.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

impl SearchIndex {
    /// Opens (creating if needed) the index in `dir`.
    pub fn open(dir: &Path) -> Result<SearchIndex> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(search_error)?;
        let index = Index::open_or_create(directory, schema).map_err(search_error)?;
        SearchIndex::with(index, fields)
    }

    /// An index in memory (tests).
    pub fn in_memory() -> Result<SearchIndex> {
        let (schema, fields) = schema();
        SearchIndex::with(Index::create_in_ram(schema), fields)
    }

    fn with(index: Index, fields: Fields) -> Result<SearchIndex> {
        let writer = index
            .writer_with_num_threads(1, WRITER_BUDGET)
            .map_err(search_error)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(search_error)?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// The last event the index holds (0: none).
    pub fn indexed_through(&self) -> Result<u64> {
        let metas = self.index.load_metas().map_err(search_error)?;
        Ok(metas
            .payload
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0))
    }

    fn document(&self, view: &impl View, record: &EventRecord) -> Result<Vec<TantivyDocument>> {
        let f = self.fields;
        let handle = |user| -> Result<String> {
            Ok(view
                .user(user)?
                .map_or_else(|| user.to_string(), |u| format!("@{}", u.handle)))
        };
        let mut docs = Vec::new();
        let base = |kind: &str, key: String, title: String, body: String| {
            doc!(
                f.kind => kind,
                f.key => key,
                f.title => title,
                f.body => body,
                f.at => record.at.0,
                f.seq => record.seq,
            )
        };
        match &record.event {
            Event::TweetReceived { tweet } => docs.push(base(
                "tweet",
                format!("tweet:{}", tweet.id),
                format!("{} ({})", handle(tweet.author)?, tweet.kind.as_str()),
                format!("{} — {}", tweet.text, tweet.message),
            )),
            Event::BidAccepted { bid, .. } | Event::BidRejected { bid } => {
                let outcome = bid.rejection.as_ref().map_or_else(
                    || "accepted".to_string(),
                    |r| format!("{}: {}", r.code, r.message),
                );
                docs.push(base(
                    "bid",
                    format!("bid:{}", bid.id),
                    format!(
                        "{} bid {} ETH on auction {}",
                        handle(bid.bidder)?,
                        bid.amount.eth_string(),
                        bid.auction
                            .map_or_else(|| "-".to_string(), |a| a.to_string())
                    ),
                    outcome,
                ));
            }
            _ => {}
        }
        let body = serde_json::to_string(&record.event).unwrap_or_default();
        docs.push(base(
            "event",
            format!("event:{}", record.seq),
            format!("#{} {}", record.seq, record.event.kind()),
            body,
        ));
        Ok(docs)
    }

    /// Adds committed events (in log order) and commits, recording the last one.
    pub fn add(&self, view: &impl View, records: &[EventRecord]) -> Result<()> {
        let Some(last) = records.last() else {
            return Ok(());
        };
        let through = self.indexed_through()?;
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for record in records.iter().filter(|r| r.seq > through) {
            for d in self.document(view, record)? {
                writer.add_document(d).map_err(search_error)?;
            }
        }
        let mut commit = writer.prepare_commit().map_err(search_error)?;
        commit.set_payload(&last.seq.max(through).to_string());
        commit.commit().map_err(search_error)?;
        drop(writer);
        self.reader.reload().map_err(search_error)
    }

    /// Indexes every event of the log the index does not hold yet. Returns how many.
    pub fn catch_up(&self, store: &Store) -> Result<u64> {
        let mut added = 0;
        loop {
            let reader = store.read()?;
            let after = self.indexed_through()?;
            let batch = reader.events_after(after, CATCH_UP_BATCH)?;
            if batch.is_empty() {
                return Ok(added);
            }
            added += batch.len() as u64;
            self.add(&reader, &batch)?;
        }
    }

    /// The best `limit` matches of `query` (words, `"phrases"`, `title:bid`, `kind:tweet`...).
    /// A query that does not parse is read leniently rather than refused.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>> {
        let f = self.fields;
        let parser = QueryParser::for_index(&self.index, vec![f.title, f.body, f.kind, f.key]);
        let (q, _errors) = parser.parse_query_lenient(query);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &q,
                &TopDocs::with_limit(limit.clamp(1, 500)).order_by_score(),
            )
            .map_err(search_error)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let d: TantivyDocument = searcher.doc(address).map_err(search_error)?;
            let text = |field| {
                d.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            hits.push(Hit {
                kind: text(f.kind),
                key: text(f.key),
                title: text(f.title),
                body: text(f.body).chars().take(400).collect(),
                at: Timestamp(d.get_first(f.at).and_then(|v| v.as_i64()).unwrap_or(0)),
                seq: d.get_first(f.seq).and_then(|v| v.as_u64()).unwrap_or(0),
                score,
            });
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TweetKind, TweetRecord, User, UserId};

    fn seed(store: &Store, text: &str, id: &str) {
        let at = Timestamp(1_800_000_000_000_000);
        store
            .write(|w| {
                w.append(
                    at,
                    Event::UserSeen {
                        user: User {
                            id: UserId(7),
                            handle: "alice".into(),
                            account_created: at,
                            first_seen: at,
                            simulated: false,
                        },
                    },
                )?;
                w.append(
                    at,
                    Event::TweetReceived {
                        tweet: TweetRecord {
                            id: id.into(),
                            author: UserId(7),
                            text: text.into(),
                            created_at: at,
                            in_reply_to: None,
                            kind: TweetKind::Question,
                            reason: None,
                            message: "A question for the host.".into(),
                            received_at: at,
                        },
                    },
                )
            })
            .unwrap();
    }

    #[test]
    fn tweets_and_events_are_found_and_indexed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::in_memory().unwrap();
        seed(&store, "Who painted the lighthouse?", "101");
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.catch_up(&store).unwrap(), 2);
        assert_eq!(index.catch_up(&store).unwrap(), 0, "nothing twice");
        let hits = index.search("lighthouse", 10).unwrap();
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert!(
            hits.iter()
                .any(|h| h.key == "tweet:101" && h.title.starts_with("@alice"))
        );
        assert!(index.search("kind:tweet", 10).unwrap().len() == 1);
        // Reopened, it knows where it stopped; bad syntax is read leniently.
        drop(index);
        seed(&store, "Is the reserve 1 ETH?", "102");
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.indexed_through().unwrap(), 2);
        assert_eq!(index.catch_up(&store).unwrap(), 2);
        assert!(!index.search("reserve", 10).unwrap().is_empty());
        assert!(index.search("title:(( AND", 10).is_ok());
    }
}
