//! The appliance's one database: a redb file holding the hash-chained event log, the projections
//! it implies, and the outbox.
//!
//! Assumptions about the world: an `fsync` that returns means the bytes are on the disk; the
//! process may die at any instruction (SIGKILL, power loss). Guarantees kept under them:
//!
//! - A [`Store::write`] that returns `Ok` is durable: its events, projection changes and outbox
//!   rows are all on disk, or (if it fails or the process dies first) none of them are.
//! - Projections change only by applying events ([`Writer::append`]), so replaying the log from
//!   empty reproduces them byte for byte; [`check::run`] verifies exactly that, plus the hash
//!   chain and the escrow invariant.
//! - One process owns the file (redb's exclusive-writer mode, whose one-phase commit needs one
//!   fsync instead of two); a second open fails with [`Error::InUse`]. Readers inside the owning
//!   process get consistent snapshots with [`Store::read`] while it writes; other processes ask
//!   it for a [`backup`] snapshot.

pub mod backup;
pub mod check;
mod event;
pub mod export;
mod model;
mod outbox;
mod projection;
#[macro_use]
mod record;
pub mod search;
mod tables;
mod time;
mod wei;

use std::path::{Path, PathBuf};

use redb::{ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable};

pub use event::{Event, EventRecord, Hash, chain_hash};
pub use model::*;
pub use outbox::{Channel, Notice, OutboxEntry, OutboxStatus};
pub use record::{DecodeError, Record, decode, encode};
pub use tables::{Head, IdTable, Reader, View};
pub use time::{TimeOfDay, Timestamp};
pub use wei::{Wei, WeiParseError};

// Every record the store keeps, with its name for error messages.
record! {
    crate::model::Campaign => "campaign",
    crate::model::Item => "item",
    crate::model::Auction => "auction",
    crate::model::Bid => "bid",
    crate::model::User => "user",
    crate::model::WalletLink => "wallet link",
    crate::model::Deposit => "deposit",
    crate::model::Balance => "balance",
    crate::event::Event => "event",
    crate::outbox::OutboxEntry => "outbox entry",
    crate::model::TweetRecord => "tweet",
    crate::model::CustodyCheck => "custody check",
    crate::model::Withdrawal => "withdrawal",
    crate::model::Ceiling => "ceiling",
}

use tables::WriteTables;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// redb reported a failure (I/O, corruption it detected, ...).
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    /// A table could not be opened.
    #[error("cannot open table {table}: {source}")]
    Table {
        /// The table.
        table: &'static str,
        /// What redb said.
        source: redb::TableError,
    },
    /// Another process holds the database.
    #[error("{0} is held by a running appliance")]
    InUse(PathBuf),
    /// The database needs crash recovery, which only a writer can do.
    #[error(
        "{0} needs crash recovery; start the appliance (or run `appliance check`) with no other appliance running"
    )]
    NeedsRecovery(PathBuf),
    /// A stored record does not decode.
    #[error("{table} record {key}: {source}")]
    Decode {
        /// The table.
        table: &'static str,
        /// The record's key.
        key: String,
        /// Why it does not decode.
        source: DecodeError,
    },
    /// The stored data contradicts itself.
    #[error("inconsistent data: {0}")]
    Corrupt(String),
    /// A write was attempted on a read-only handle.
    #[error("this store was opened read-only")]
    ReadOnly,
    /// The search index failed.
    #[error("search index: {0}")]
    Search(String),
    /// File system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the database refuses every further write until it is opened again: redb after a
    /// write that failed part-way (a full disk, an I/O error). Only a restart recovers.
    pub fn needs_reopen(&self) -> bool {
        matches!(
            self,
            Error::Db(redb::Error::PreviousIo)
                | Error::Table {
                    source: redb::TableError::Storage(redb::StorageError::PreviousIo),
                    ..
                }
        )
    }
}

impl Error {
    fn table(table: &'static str, source: redb::TableError) -> Error {
        Error::Table { table, source }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error { Error::Db(e.into()) }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError
);

/// Result with the store's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file name of the database inside a data directory.
pub const DB_FILE: &str = "appliance.redb";

/// Layout signature: every record kind with its version. When it differs from the one stored,
/// the projections are rewritten in the current layouts at open.
fn layout_signature() -> String {
    fn kv<R: Record>() -> String {
        format!("{}={}", R::KIND, R::VERSION)
    }
    [
        kv::<Campaign>(),
        kv::<Item>(),
        kv::<Auction>(),
        kv::<Bid>(),
        kv::<User>(),
        kv::<WalletLink>(),
        kv::<Deposit>(),
        kv::<Balance>(),
        kv::<Event>(),
        kv::<OutboxEntry>(),
        kv::<TweetRecord>(),
        kv::<CustodyCheck>(),
        kv::<Withdrawal>(),
    ]
    .join(",")
}

enum Db {
    Writer(Database),
    Reader(ReadOnlyDatabase),
}

/// An open database.
pub struct Store {
    db: Db,
    path: Option<PathBuf>,
}

/// Makes a database file readable and writable by its owner only (0600): it holds bidders'
/// handles, wallets and tweets and the admin accounts.
pub(crate) fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("cannot make {} private (0600)", path.display()), e))
}

impl Store {
    /// Opens (creating if needed) the database file for writing. Recovers from a crash if needed
    /// and brings stored projections to the current record layouts.
    pub fn open(path: &Path) -> Result<Store> {
        let db = redb::Builder::new()
            .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::InUse(path.to_path_buf()),
                other => other.into(),
            })?;
        private_file(path)?;
        let store = Store {
            db: Db::Writer(db),
            path: Some(path.to_path_buf()),
        };
        store.prepare()?;
        Ok(store)
    }

    /// Opens an existing database for reading only (fails with [`Error::InUse`] while an
    /// appliance holds it).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(Error::io(
                format!("cannot open {}", path.display()),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        let db = redb::Builder::new()
            .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
            .open_read_only(path)
            .map_err(|e| match e {
                redb::DatabaseError::RepairAborted => Error::NeedsRecovery(path.to_path_buf()),
                redb::DatabaseError::DatabaseAlreadyOpen => Error::InUse(path.to_path_buf()),
                other => other.into(),
            })?;
        Ok(Store {
            db: Db::Reader(db),
            path: Some(path.to_path_buf()),
        })
    }

    /// A database on a storage backend of the caller's: the durability tests use a disk that
    /// loses what was not synced at a simulated power cut. Recovers and prepares as [`open`].
    ///
    /// [`open`]: Store::open
    pub fn with_backend(backend: impl redb::StorageBackend) -> Result<Store> {
        let db = redb::Builder::new()
            .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
            .create_with_backend(backend)?;
        let store = Store {
            db: Db::Writer(db),
            path: None,
        };
        store.prepare()?;
        Ok(store)
    }

    /// A database in memory, for tests, benchmarks and replays.
    pub fn in_memory() -> Result<Store> {
        let db = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new())?;
        let store = Store {
            db: Db::Writer(db),
            path: None,
        };
        store.prepare()?;
        Ok(store)
    }

    /// The database file, unless in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Creates missing tables and migrates outdated layouts (writers only).
    fn prepare(&self) -> Result<()> {
        let Db::Writer(db) = &self.db else {
            return Ok(());
        };
        let txn = db.begin_write()?;
        {
            let mut t = WriteTables::open(&txn)?;
            let signature = layout_signature();
            let stored = t
                .meta
                .get("layout")?
                .map(|v| String::from_utf8_lossy(v.value()).into_owned());
            if stored.as_deref() != Some(signature.as_str()) {
                if stored.is_some() {
                    migrate(&mut t)?;
                }
                t.meta.insert("layout", signature.as_bytes())?;
            }
            if t.meta.get("created_at")?.is_none() {
                let now = Timestamp::from_datetime(chrono::Utc::now());
                t.meta.insert("created_at", now.rfc3339().as_bytes())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// A consistent snapshot for reading.
    pub fn read(&self) -> Result<Reader> {
        let txn = match &self.db {
            Db::Writer(db) => db.begin_read()?,
            Db::Reader(db) => db.begin_read()?,
        };
        Reader::new(&txn)
    }

    /// Runs `f` in one write transaction and commits it durably. Returns `f`'s value and the
    /// events it appended. If `f` fails, nothing it did is kept.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<(T, Vec<EventRecord>)> {
        self.write_with(redb::Durability::Immediate, f)
    }

    /// Like [`Store::write`] without waiting for the disk (bulk loads whose result is checked
    /// afterwards; never for acknowledged commands). Only on databases no other process shares.
    pub fn write_unsynced<T>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<(T, Vec<EventRecord>)> {
        self.write_with(redb::Durability::None, f)
    }

    fn write_with<T>(
        &self,
        durability: redb::Durability,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<(T, Vec<EventRecord>)> {
        let Db::Writer(db) = &self.db else {
            return Err(Error::ReadOnly);
        };
        let mut txn = db.begin_write()?;
        txn.set_durability(durability)?;
        let result = {
            let t = WriteTables::open(&txn)?;
            let head = head_of(&t)?;
            let mut writer = Writer {
                t,
                next_seq: head.map_or(1, |h| h.seq + 1),
                head_hash: head.map_or([0; 32], |h| h.hash),
                appended: Vec::new(),
            };
            f(&mut writer).map(|value| (value, writer.appended))
        };
        match result {
            Ok(out) => {
                txn.commit()?;
                Ok(out)
            }
            Err(e) => {
                txn.abort()?;
                Err(e)
            }
        }
    }
}

fn head_of(t: &WriteTables<'_>) -> Result<Option<Head>> {
    match t.events.last()? {
        Some((k, v)) => {
            let raw = event::split(v.value()).map_err(|source| Error::Decode {
                table: "events",
                key: k.value().to_string(),
                source,
            })?;
            Ok(Some(Head {
                seq: k.value(),
                hash: raw.hash,
            }))
        }
        None => Ok(None),
    }
}

fn migrate(t: &mut WriteTables<'_>) -> Result<()> {
    use projection::migrate_table;
    migrate_table::<_, Campaign>(&mut t.campaigns, "campaigns")?;
    migrate_table::<_, Item>(&mut t.items, "items")?;
    migrate_table::<_, Auction>(&mut t.auctions, "auctions")?;
    migrate_table::<_, Bid>(&mut t.bids, "bids")?;
    migrate_table::<_, User>(&mut t.users, "users")?;
    migrate_table::<_, WalletLink>(&mut t.wallets, "wallets")?;
    migrate_table::<_, Deposit>(&mut t.deposits, "deposits")?;
    migrate_table::<_, Balance>(&mut t.balances, "balances")?;
    migrate_table::<_, OutboxEntry>(&mut t.outbox, "outbox")?;
    migrate_table::<_, CustodyCheck>(&mut t.custody, "custody")?;
    migrate_table::<_, Withdrawal>(&mut t.withdrawals, "withdrawals")?;
    migrate_table::<_, TweetRecord>(&mut t.tweets, "tweets")?;
    Ok(())
}

/// The inside of a write transaction. Reads see everything written so far in it.
pub struct Writer<'t> {
    pub(crate) t: WriteTables<'t>,
    next_seq: u64,
    head_hash: Hash,
    appended: Vec<EventRecord>,
}

impl Writer<'_> {
    /// Appends an event to the log and applies it to the projections. Returns its position.
    pub fn append(&mut self, at: Timestamp, event: Event) -> Result<u64> {
        let seq = self.next_seq;
        projection::apply(&mut self.t, &event)?;
        let (bytes, hash) = event::seal(&self.head_hash, seq, at, &event);
        self.t.events.insert(seq, bytes.as_slice())?;
        self.appended.push(EventRecord {
            seq,
            at,
            prev_hash: self.head_hash,
            hash,
            event,
        });
        self.head_hash = hash;
        self.next_seq = seq + 1;
        Ok(seq)
    }

    /// The position the next appended event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Queues a side effect caused by event `event_seq` (appended in this transaction).
    pub fn enqueue(
        &mut self,
        event_seq: u64,
        at: Timestamp,
        notice: Notice,
        held: bool,
    ) -> Result<OutboxId> {
        let id = tables::last_key(&self.t.outbox)? + 1;
        let entry = OutboxEntry {
            id: OutboxId(id),
            event_seq,
            created_at: at,
            notice,
            status: if held {
                OutboxStatus::Held
            } else {
                OutboxStatus::Pending
            },
            attempts: 0,
        };
        self.t
            .outbox
            .insert(id, record::encode(&entry).as_slice())?;
        Ok(OutboxId(id))
    }

    /// Records the delivery state of an outbox row.
    pub fn set_outbox_status(
        &mut self,
        id: OutboxId,
        status: OutboxStatus,
        attempted: bool,
    ) -> Result<()> {
        let mut entry: OutboxEntry = tables::get_record(&self.t.outbox, "outbox", id.0)?
            .ok_or_else(|| Error::Corrupt(format!("outbox row {id} does not exist")))?;
        entry.status = status;
        if attempted {
            entry.attempts += 1;
        }
        self.t
            .outbox
            .insert(id.0, record::encode(&entry).as_slice())?;
        Ok(())
    }

    /// Stores operational state beside the log (a polling cursor): not an event, not a
    /// projection, but committed atomically with whatever else this transaction writes.
    pub fn put_state(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.t.state.insert(key, value)?;
        Ok(())
    }

    /// Applies an event to the projections without logging it (replays only).
    pub(crate) fn replay(&mut self, event: &Event) -> Result<()> {
        projection::apply(&mut self.t, event)
    }

    /// Writes a metadata entry.
    pub(crate) fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.t.meta.insert(key, value.as_bytes())?;
        Ok(())
    }
}

impl Store {
    /// Reads a metadata entry.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        let reader = self.read()?;
        Ok(reader
            .t
            .meta
            .get(key)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }
}
