//! Table definitions and the typed read surface shared by read and write transactions.
//!
//! Every value is a byte slice: a versioned record for record tables, an 8-byte big-endian id for
//! index tables, empty for set-like indexes. Keys are `u64` ids, `(u64, u64)` pairs for
//! secondary indexes, or text/bytes for lookups.

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, Table, WriteTransaction};

use crate::event::{self, EventRecord, Hash};
use crate::model::{
    Address, Auction, AuctionId, Balance, Bid, BidId, Campaign, CampaignId, Ceiling, CustodyCheck,
    Deposit, DepositId, Item, ItemId, Milestone, TweetRecord, User, UserId, WalletLink, Withdrawal,
    WithdrawalId,
};
use crate::outbox::OutboxEntry as Row;
use crate::record::{self, Record};
use crate::{Error, Result};

macro_rules! define_tables {
    ($( $field:ident : $key:ty = $name:literal, $role:ident; )*) => {
        /// Table definitions by name.
        #[allow(non_upper_case_globals)]
        pub(crate) mod defs {
            $(pub(crate) const $field: redb::TableDefinition<'static, $key, &'static [u8]> =
                redb::TableDefinition::new($name);)*
        }

        /// Every table, opened in a read transaction.
        pub(crate) struct ReadTables {
            $(pub(crate) $field: ReadOnlyTable<$key, &'static [u8]>,)*
        }

        /// Every table, opened in a write transaction.
        pub(crate) struct WriteTables<'t> {
            $(pub(crate) $field: Table<'t, $key, &'static [u8]>,)*
        }

        impl ReadTables {
            pub(crate) fn open(txn: &ReadTransaction) -> Result<Self> {
                Ok(ReadTables { $($field: txn.open_table(defs::$field).map_err(|e| Error::table($name, e))?,)* })
            }
        }

        impl<'t> WriteTables<'t> {
            pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self> {
                Ok(WriteTables { $($field: txn.open_table(defs::$field).map_err(|e| Error::table($name, e))?,)* })
            }
        }

        /// Every table's name, and whether it is a projection of the event log.
        const ALL: &[(&str, bool)] = &[$(($name, define_tables!(@is_projection $role)),)*];

        /// Compares one projection table of two stores; returns the differing keys (at most `limit`).
        pub(crate) fn diff_projection(a: &ReadTables, b: &ReadTables, name: &str, limit: usize) -> Result<TableDiff> {
            match name {
                $($name => diff_tables(&a.$field, &b.$field, limit),)*
                other => Err(Error::Corrupt(format!("no table named {other}"))),
            }
        }

        /// Copies every table from a snapshot into a write transaction.
        pub(crate) fn copy_all(src: &ReadTables, dst: &mut WriteTables<'_>) -> Result<u64> {
            let mut rows = 0;
            $(
                for entry in src.$field.iter()? {
                    let (k, v) = entry?;
                    dst.$field.insert(k.value(), v.value())?;
                    rows += 1;
                }
            )*
            Ok(rows)
        }

        /// Row counts of every table.
        pub(crate) fn row_counts(t: &ReadTables) -> Result<Vec<(&'static str, u64)>> {
            use redb::ReadableTableMetadata;
            Ok(vec![$(($name, t.$field.len()?),)*])
        }
    };
    (@is_projection projection) => { true };
    (@is_projection log) => { false };
}

define_tables! {
    meta: &'static str = "meta", log;
    events: u64 = "events", log;
    outbox: u64 = "outbox", log;
    campaigns: u64 = "campaigns", projection;
    items: u64 = "items", projection;
    auctions: u64 = "auctions", projection;
    bids: u64 = "bids", projection;
    bids_by_auction: (u64, u64) = "bids_by_auction", projection;
    bids_by_user: (u64, u64) = "bids_by_user", projection;
    bid_sources: &'static str = "bid_sources", projection;
    users: u64 = "users", projection;
    handles: &'static str = "handles", projection;
    wallets: u64 = "wallets", projection;
    wallet_owners: &'static [u8] = "wallet_owners", projection;
    deposits: u64 = "deposits", projection;
    deposit_refs: &'static str = "deposit_refs", projection;
    balances: u64 = "balances", projection;
    tweets: &'static str = "tweets", projection;
    reverted_deposits: u64 = "reverted_deposits", projection;
    voided_bids: u64 = "voided_bids", projection;
    custody: u64 = "custody", projection;
    withdrawals: u64 = "withdrawals", projection;
    reminders: (u64, u64) = "reminders", projection;
    milestones: (u64, u64) = "milestones", projection;
    quiet: u64 = "quiet", projection;
    ceilings: (u64, u64) = "ceilings", projection;
    state: &'static str = "state", log;
}

/// Names of the tables that are projections of the event log.
pub(crate) fn projections() -> impl Iterator<Item = &'static str> {
    ALL.iter().filter(|(_, p)| *p).map(|(name, _)| *name)
}

/// How two copies of a table differ.
#[derive(Debug, Default)]
pub(crate) struct TableDiff {
    pub rows_a: u64,
    pub rows_b: u64,
    pub differing: Vec<String>,
}

fn diff_tables<K, T>(a: &T, b: &T, limit: usize) -> Result<TableDiff>
where
    K: redb::Key + 'static,
    for<'x> K::SelfType<'x>: std::fmt::Debug,
    T: ReadableTable<K, &'static [u8]>,
{
    let mut diff = TableDiff::default();
    let mut ia = a.iter()?;
    let mut ib = b.iter()?;
    let mut ea = ia.next().transpose()?;
    let mut eb = ib.next().transpose()?;
    loop {
        let note = match (&ea, &eb) {
            (None, None) => break,
            (Some((ka, va)), Some((kb, vb))) => {
                let (ka_bytes, kb_bytes) = (
                    K::as_bytes(&ka.value()).as_ref().to_vec(),
                    K::as_bytes(&kb.value()).as_ref().to_vec(),
                );
                match K::compare(&ka_bytes, &kb_bytes) {
                    std::cmp::Ordering::Equal => {
                        let note = (va.value() != vb.value())
                            .then(|| format!("{:?}: stored value differs from replay", ka.value()));
                        diff.rows_a += 1;
                        diff.rows_b += 1;
                        ea = ia.next().transpose()?;
                        eb = ib.next().transpose()?;
                        note
                    }
                    std::cmp::Ordering::Less => {
                        let note = Some(format!(
                            "{:?}: stored but not produced by replay",
                            ka.value()
                        ));
                        diff.rows_a += 1;
                        ea = ia.next().transpose()?;
                        note
                    }
                    std::cmp::Ordering::Greater => {
                        let note = Some(format!(
                            "{:?}: produced by replay but not stored",
                            kb.value()
                        ));
                        diff.rows_b += 1;
                        eb = ib.next().transpose()?;
                        note
                    }
                }
            }
            (Some((ka, _)), None) => {
                let note = Some(format!(
                    "{:?}: stored but not produced by replay",
                    ka.value()
                ));
                diff.rows_a += 1;
                ea = ia.next().transpose()?;
                note
            }
            (None, Some((kb, _))) => {
                let note = Some(format!(
                    "{:?}: produced by replay but not stored",
                    kb.value()
                ));
                diff.rows_b += 1;
                eb = ib.next().transpose()?;
                note
            }
        };
        if let Some(note) = note
            && diff.differing.len() < limit
        {
            diff.differing.push(note);
        }
    }
    Ok(diff)
}

/// The head of the event log: the last event's position and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Position of the last event.
    pub seq: u64,
    /// Its hash.
    pub hash: Hash,
}

pub(crate) fn id_bytes(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub(crate) fn id_from_bytes(table: &'static str, bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| {
        Error::Corrupt(format!(
            "{table}: index value is {} bytes, not 8",
            bytes.len()
        ))
    })?;
    Ok(u64::from_be_bytes(arr))
}

pub(crate) fn decode_at<R: Record>(
    table: &'static str,
    key: impl std::fmt::Display,
    bytes: &[u8],
) -> Result<R> {
    record::decode(bytes).map_err(|source| Error::Decode {
        table,
        key: key.to_string(),
        source,
    })
}

pub(crate) fn get_record<R: Record>(
    t: &impl ReadableTable<u64, &'static [u8]>,
    table: &'static str,
    id: u64,
) -> Result<Option<R>> {
    match t.get(id)? {
        Some(v) => decode_at(table, id, v.value()).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn all_records<R: Record>(
    t: &impl ReadableTable<u64, &'static [u8]>,
    table: &'static str,
) -> Result<Vec<R>> {
    let mut out = Vec::new();
    for entry in t.iter()? {
        let (k, v) = entry?;
        out.push(decode_at(table, k.value(), v.value())?);
    }
    Ok(out)
}

pub(crate) fn last_key(t: &impl ReadableTable<u64, &'static [u8]>) -> Result<u64> {
    Ok(t.last()?.map_or(0, |(k, _)| k.value()))
}

fn ids_in(t: &impl ReadableTable<(u64, u64), &'static [u8]>, owner: u64) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in t.range((owner, 0)..=(owner, u64::MAX))? {
        out.push(entry?.0.value().1);
    }
    Ok(out)
}

/// The typed read surface of the store, the same inside and outside a write transaction.
pub trait View {
    /// A campaign.
    fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>>;
    /// All campaigns, by id.
    fn campaigns(&self) -> Result<Vec<Campaign>>;
    /// An item.
    fn item(&self, id: ItemId) -> Result<Option<Item>>;
    /// An auction.
    fn auction(&self, id: AuctionId) -> Result<Option<Auction>>;
    /// All auctions, by id (= schedule order within a campaign).
    fn auctions(&self) -> Result<Vec<Auction>>;
    /// A bid.
    fn bid(&self, id: BidId) -> Result<Option<Bid>>;
    /// The bid recorded under an idempotency key.
    fn bid_by_source(&self, key: &str) -> Result<Option<BidId>>;
    /// Bids on one auction, in order.
    fn bids_of_auction(&self, auction: AuctionId) -> Result<Vec<Bid>>;
    /// The last `n` bids on one auction, newest first.
    fn recent_bids_of_auction(&self, auction: AuctionId, n: usize) -> Result<Vec<Bid>>;
    /// Bids by one user, in order.
    fn bids_of_user(&self, user: UserId) -> Result<Vec<Bid>>;
    /// Up to `limit` bids with ids greater than `after`, in order.
    fn bids_after(&self, after: BidId, limit: usize) -> Result<Vec<Bid>>;
    /// A user.
    fn user(&self, id: UserId) -> Result<Option<User>>;
    /// A user by handle (case-insensitive, without `@`).
    fn user_by_handle(&self, handle: &str) -> Result<Option<User>>;
    /// All users.
    fn users(&self) -> Result<Vec<User>>;
    /// A user's linked wallet.
    fn wallet(&self, user: UserId) -> Result<Option<WalletLink>>;
    /// The user a wallet is linked to.
    fn wallet_owner(&self, address: &Address) -> Result<Option<UserId>>;
    /// A deposit by its chain reference.
    fn deposit_by_reference(&self, reference: &str) -> Result<Option<Deposit>>;
    /// All deposits.
    fn deposits(&self) -> Result<Vec<Deposit>>;
    /// A user's escrow position (zero if none).
    fn balance(&self, user: UserId) -> Result<Balance>;
    /// All escrow positions.
    fn balances(&self) -> Result<Vec<(UserId, Balance)>>;
    /// The head of the event log.
    fn head(&self) -> Result<Option<Head>>;
    /// Up to `limit` events after position `after`.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<EventRecord>>;
    /// Up to `limit` events after position `after`, as stored (header and payload bytes), for
    /// an export that must hash exactly what was hashed.
    fn stored_events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>>;
    /// Up to `limit` events before position `before`, newest first.
    fn events_before(&self, before: u64, limit: usize) -> Result<Vec<EventRecord>>;
    /// Up to `limit` outbox rows after id `after`.
    fn outbox_after(&self, after: u64, limit: usize) -> Result<Vec<Row>>;
    /// The highest id in use in a record table (0 if empty).
    fn last_id(&self, table: IdTable) -> Result<u64>;
    /// One outbox row.
    fn outbox_row(&self, id: crate::model::OutboxId) -> Result<Option<Row>>;
    /// A deposit.
    fn deposit(&self, id: DepositId) -> Result<Option<Deposit>>;
    /// Why a deposit was reverted, if it was.
    fn deposit_reverted(&self, id: DepositId) -> Result<Option<String>>;
    /// Why an accepted bid was voided, if it was.
    fn bid_voided(&self, id: BidId) -> Result<Option<String>>;
    /// A tweet taken in, by X's id.
    fn tweet(&self, id: &str) -> Result<Option<TweetRecord>>;
    /// The last custody reading of an auction's token.
    fn custody(&self, auction: AuctionId) -> Result<Option<CustodyCheck>>;
    /// A withdrawal.
    fn withdrawal(&self, id: WithdrawalId) -> Result<Option<Withdrawal>>;
    /// All withdrawals, by id.
    fn withdrawals(&self) -> Result<Vec<Withdrawal>>;
    /// Who asked to be reminded of an auction, with the tweet that asked.
    fn reminders(&self, auction: AuctionId) -> Result<Vec<(UserId, String)>>;
    /// Whether an auction passed a milestone.
    fn milestone(&self, auction: AuctionId, milestone: Milestone) -> Result<bool>;
    /// Operational state kept beside the log (polling cursors), by key.
    fn state(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Whether a user turned their notices off (`stop`).
    fn quiet(&self, user: UserId) -> Result<bool>;
    /// The ceilings set on an auction (proxy bidding), by user.
    fn ceilings(&self, auction: AuctionId) -> Result<Vec<Ceiling>>;
}

/// Record tables whose ids the engine allocates.
#[derive(Clone, Copy, Debug)]
pub enum IdTable {
    /// Campaign ids.
    Campaigns,
    /// Item ids.
    Items,
    /// Auction ids.
    Auctions,
    /// Bid ids.
    Bids,
    /// Deposit ids.
    Deposits,
    /// Withdrawal ids.
    Withdrawals,
}

macro_rules! impl_view {
    ($ty:ty) => {
        impl View for $ty {
            fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>> {
                get_record(&self.t.campaigns, "campaigns", id.0)
            }
            fn campaigns(&self) -> Result<Vec<Campaign>> {
                all_records(&self.t.campaigns, "campaigns")
            }
            fn item(&self, id: ItemId) -> Result<Option<Item>> {
                get_record(&self.t.items, "items", id.0)
            }
            fn auction(&self, id: AuctionId) -> Result<Option<Auction>> {
                get_record(&self.t.auctions, "auctions", id.0)
            }
            fn auctions(&self) -> Result<Vec<Auction>> {
                all_records(&self.t.auctions, "auctions")
            }
            fn bid(&self, id: BidId) -> Result<Option<Bid>> {
                get_record(&self.t.bids, "bids", id.0)
            }
            fn bid_by_source(&self, key: &str) -> Result<Option<BidId>> {
                match self.t.bid_sources.get(key)? {
                    Some(v) => Ok(Some(BidId(id_from_bytes("bid_sources", v.value())?))),
                    None => Ok(None),
                }
            }
            fn bids_of_auction(&self, auction: AuctionId) -> Result<Vec<Bid>> {
                let mut out = Vec::new();
                for id in ids_in(&self.t.bids_by_auction, auction.0)? {
                    let bid = get_record(&self.t.bids, "bids", id)?.ok_or_else(|| {
                        Error::Corrupt(format!("bids_by_auction names missing bid {id}"))
                    })?;
                    out.push(bid);
                }
                Ok(out)
            }
            fn recent_bids_of_auction(&self, auction: AuctionId, n: usize) -> Result<Vec<Bid>> {
                let mut out = Vec::with_capacity(n);
                for entry in self
                    .t
                    .bids_by_auction
                    .range((auction.0, 0)..=(auction.0, u64::MAX))?
                    .rev()
                    .take(n)
                {
                    let id = entry?.0.value().1;
                    let bid = get_record(&self.t.bids, "bids", id)?.ok_or_else(|| {
                        Error::Corrupt(format!("bids_by_auction names missing bid {id}"))
                    })?;
                    out.push(bid);
                }
                Ok(out)
            }
            fn bids_of_user(&self, user: UserId) -> Result<Vec<Bid>> {
                let mut out = Vec::new();
                for id in ids_in(&self.t.bids_by_user, user.0)? {
                    let bid = get_record(&self.t.bids, "bids", id)?.ok_or_else(|| {
                        Error::Corrupt(format!("bids_by_user names missing bid {id}"))
                    })?;
                    out.push(bid);
                }
                Ok(out)
            }
            fn bids_after(&self, after: BidId, limit: usize) -> Result<Vec<Bid>> {
                let mut out = Vec::new();
                let Some(start) = after.0.checked_add(1) else {
                    return Ok(out);
                };
                for entry in self.t.bids.range(start..)?.take(limit) {
                    let (k, v) = entry?;
                    out.push(decode_at("bids", k.value(), v.value())?);
                }
                Ok(out)
            }
            fn user(&self, id: UserId) -> Result<Option<User>> {
                get_record(&self.t.users, "users", id.0)
            }
            fn user_by_handle(&self, handle: &str) -> Result<Option<User>> {
                let key = crate::model::handle_key(handle);
                match self.t.handles.get(key.as_str())? {
                    Some(v) => {
                        get_record(&self.t.users, "users", id_from_bytes("handles", v.value())?)
                    }
                    None => Ok(None),
                }
            }
            fn users(&self) -> Result<Vec<User>> {
                all_records(&self.t.users, "users")
            }
            fn wallet(&self, user: UserId) -> Result<Option<WalletLink>> {
                get_record(&self.t.wallets, "wallets", user.0)
            }
            fn wallet_owner(&self, address: &Address) -> Result<Option<UserId>> {
                match self.t.wallet_owners.get(address.0.as_slice())? {
                    Some(v) => Ok(Some(UserId(id_from_bytes("wallet_owners", v.value())?))),
                    None => Ok(None),
                }
            }
            fn deposit_by_reference(&self, reference: &str) -> Result<Option<Deposit>> {
                match self.t.deposit_refs.get(reference)? {
                    Some(v) => get_record(
                        &self.t.deposits,
                        "deposits",
                        id_from_bytes("deposit_refs", v.value())?,
                    ),
                    None => Ok(None),
                }
            }
            fn deposits(&self) -> Result<Vec<Deposit>> {
                all_records(&self.t.deposits, "deposits")
            }
            fn balance(&self, user: UserId) -> Result<Balance> {
                Ok(get_record(&self.t.balances, "balances", user.0)?.unwrap_or_default())
            }
            fn balances(&self) -> Result<Vec<(UserId, Balance)>> {
                let mut out = Vec::new();
                for entry in self.t.balances.iter()? {
                    let (k, v) = entry?;
                    out.push((
                        UserId(k.value()),
                        decode_at("balances", k.value(), v.value())?,
                    ));
                }
                Ok(out)
            }
            fn head(&self) -> Result<Option<Head>> {
                match self.t.events.last()? {
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
            fn events_after(&self, after: u64, limit: usize) -> Result<Vec<EventRecord>> {
                let mut out = Vec::new();
                let Some(start) = after.checked_add(1) else {
                    return Ok(out);
                };
                for entry in self.t.events.range(start..)?.take(limit) {
                    let (k, v) = entry?;
                    out.push(event::open(k.value(), v.value()).map_err(|source| {
                        Error::Decode {
                            table: "events",
                            key: k.value().to_string(),
                            source,
                        }
                    })?);
                }
                Ok(out)
            }
            fn stored_events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
                let mut out = Vec::new();
                let Some(start) = after.checked_add(1) else {
                    return Ok(out);
                };
                for entry in self.t.events.range(start..)?.take(limit) {
                    let (k, v) = entry?;
                    out.push((k.value(), v.value().to_vec()));
                }
                Ok(out)
            }
            fn events_before(&self, before: u64, limit: usize) -> Result<Vec<EventRecord>> {
                let mut out = Vec::new();
                for entry in self.t.events.range(..before)?.rev().take(limit) {
                    let (k, v) = entry?;
                    out.push(event::open(k.value(), v.value()).map_err(|source| {
                        Error::Decode {
                            table: "events",
                            key: k.value().to_string(),
                            source,
                        }
                    })?);
                }
                Ok(out)
            }
            fn outbox_after(&self, after: u64, limit: usize) -> Result<Vec<Row>> {
                let mut out = Vec::new();
                let Some(start) = after.checked_add(1) else {
                    return Ok(out);
                };
                for entry in self.t.outbox.range(start..)?.take(limit) {
                    let (k, v) = entry?;
                    out.push(decode_at("outbox", k.value(), v.value())?);
                }
                Ok(out)
            }
            fn last_id(&self, table: IdTable) -> Result<u64> {
                match table {
                    IdTable::Campaigns => last_key(&self.t.campaigns),
                    IdTable::Items => last_key(&self.t.items),
                    IdTable::Auctions => last_key(&self.t.auctions),
                    IdTable::Bids => last_key(&self.t.bids),
                    IdTable::Deposits => last_key(&self.t.deposits),
                    IdTable::Withdrawals => last_key(&self.t.withdrawals),
                }
            }
            fn outbox_row(&self, id: crate::model::OutboxId) -> Result<Option<Row>> {
                get_record(&self.t.outbox, "outbox", id.0)
            }
            fn deposit(&self, id: DepositId) -> Result<Option<Deposit>> {
                get_record(&self.t.deposits, "deposits", id.0)
            }
            fn deposit_reverted(&self, id: DepositId) -> Result<Option<String>> {
                Ok(self
                    .t
                    .reverted_deposits
                    .get(id.0)?
                    .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
            }
            fn bid_voided(&self, id: BidId) -> Result<Option<String>> {
                Ok(self
                    .t
                    .voided_bids
                    .get(id.0)?
                    .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
            }
            fn tweet(&self, id: &str) -> Result<Option<TweetRecord>> {
                match self.t.tweets.get(id)? {
                    Some(v) => decode_at("tweets", id, v.value()).map(Some),
                    None => Ok(None),
                }
            }
            fn custody(&self, auction: AuctionId) -> Result<Option<CustodyCheck>> {
                get_record(&self.t.custody, "custody", auction.0)
            }
            fn withdrawal(&self, id: WithdrawalId) -> Result<Option<Withdrawal>> {
                get_record(&self.t.withdrawals, "withdrawals", id.0)
            }
            fn withdrawals(&self) -> Result<Vec<Withdrawal>> {
                all_records(&self.t.withdrawals, "withdrawals")
            }
            fn reminders(&self, auction: AuctionId) -> Result<Vec<(UserId, String)>> {
                let mut out = Vec::new();
                for entry in self
                    .t
                    .reminders
                    .range((auction.0, 0)..=(auction.0, u64::MAX))?
                {
                    let (k, v) = entry?;
                    out.push((
                        UserId(k.value().1),
                        String::from_utf8_lossy(v.value()).into_owned(),
                    ));
                }
                Ok(out)
            }
            fn milestone(&self, auction: AuctionId, milestone: Milestone) -> Result<bool> {
                Ok(self
                    .t
                    .milestones
                    .get((auction.0, milestone.key()))?
                    .is_some())
            }
            fn state(&self, key: &str) -> Result<Option<Vec<u8>>> {
                Ok(self.t.state.get(key)?.map(|v| v.value().to_vec()))
            }
            fn quiet(&self, user: UserId) -> Result<bool> {
                Ok(self.t.quiet.get(user.0)?.is_some())
            }
            fn ceilings(&self, auction: AuctionId) -> Result<Vec<Ceiling>> {
                let mut out = Vec::new();
                for entry in self
                    .t
                    .ceilings
                    .range((auction.0, 0)..=(auction.0, u64::MAX))?
                {
                    let (k, v) = entry?;
                    out.push(decode_at(
                        "ceilings",
                        format!("{:?}", k.value()),
                        v.value(),
                    )?);
                }
                Ok(out)
            }
        }
    };
}

/// A consistent snapshot of the store, for reading.
pub struct Reader {
    pub(crate) t: ReadTables,
}

impl_view!(Reader);
impl_view!(crate::Writer<'_>);

impl Reader {
    pub(crate) fn new(txn: &ReadTransaction) -> Result<Reader> {
        Ok(Reader {
            t: ReadTables::open(txn)?,
        })
    }

    /// Row counts of every table, for reports.
    pub fn row_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        row_counts(&self.t)
    }
}
