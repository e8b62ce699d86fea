//! Store guarantees: projections follow events, replay is byte-exact, tampering is detected,
//! backups are consistent under concurrent writes, restores refuse to overwrite.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::ReadableTable;
use store::*;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_790_000_000 + secs)
}

fn audit() -> Audit {
    Audit {
        actor: "test".into(),
        origin: "test".into(),
        reason: "test".into(),
    }
}

fn campaign_events() -> Event {
    let campaign = Campaign {
        id: CampaignId(1),
        name: "Genesis".into(),
        start_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
        days: 1,
        timezone: "America/New_York".into(),
        windows: WindowPlan::default(),
        rules: AuctionRules::default(),
        host_handle: "SothebAIs".into(),
        items: vec![ItemId(1)],
        created_at: t(0),
    };
    let item = Item {
        id: ItemId(1),
        campaign: CampaignId(1),
        name: "Genesis #1".into(),
        artist: "A".into(),
        image: String::new(),
        token: None,
    };
    let auction = Auction {
        id: AuctionId(1),
        campaign: CampaignId(1),
        day: 1,
        item: ItemId(1),
        pre_start: t(0),
        starts_at: t(100),
        scheduled_end: t(1000),
        ends_at: t(1000),
        post_end: t(2000),
        state: AuctionState::Pending,
        rules: AuctionRules::default(),
        leading_bid: None,
        leader: None,
        price: Wei::ZERO,
        bids_accepted: 0,
        bids_rejected: 0,
        extensions: 0,
        paused_remaining_micros: None,
        started_at: None,
        closed_at: None,
        finished_at: None,
    };
    Event::CampaignCreated {
        campaign,
        items: vec![item],
        auctions: vec![auction],
        audit: audit(),
    }
}

fn user(id: u64) -> Event {
    Event::UserSeen {
        user: User {
            id: UserId(id),
            handle: format!("bidder{id}"),
            account_created: t(-100 * 86_400),
            first_seen: t(0),
            simulated: false,
        },
    }
}

fn deposit(id: u64, user: u64, eth: u64) -> Event {
    Event::DepositRecorded {
        deposit: Deposit {
            id: DepositId(id),
            from: Address([user as u8; 20]),
            user: Some(UserId(user)),
            amount: Wei::from_eth(eth),
            reference: format!("0xdeposit{id}"),
            at: t(10),
        },
    }
}

fn accepted(id: u64, user: u64, eth: u64) -> Event {
    Event::BidAccepted {
        bid: Bid {
            id: BidId(id),
            auction: Some(AuctionId(1)),
            bidder: UserId(user),
            amount: Wei::from_eth(eth),
            placed_at: t(200 + id as i64),
            source: BidSource::Operator(format!("k{id}")),
            rejection: None,
        },
        ends_at: t(1000),
        extended: false,
    }
}

/// A small but complete history: a campaign, two bidders, a bidding war, settlement.
fn history() -> Vec<Event> {
    vec![
        campaign_events(),
        user(7),
        user(8),
        deposit(1, 7, 10),
        deposit(2, 8, 10),
        Event::AuctionStarted {
            auction: AuctionId(1),
            at: t(100),
        },
        accepted(1, 7, 1),
        accepted(2, 8, 2),
        accepted(3, 7, 3),
        Event::AuctionClosed {
            auction: AuctionId(1),
            at: t(1000),
            audit: None,
        },
        Event::AuctionSettled {
            auction: AuctionId(1),
            at: t(1001),
            audit: None,
        },
    ]
}

fn fill(store: &Store, events: Vec<Event>) {
    store
        .write(|w| {
            for (i, e) in events.into_iter().enumerate() {
                w.append(t(i as i64), e)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn projections_follow_the_events() {
    let store = Store::in_memory().unwrap();
    fill(&store, history());
    let r = store.read().unwrap();
    let a = r.auction(AuctionId(1)).unwrap().unwrap();
    assert_eq!(a.state, AuctionState::Completed);
    assert_eq!(a.price, Wei::from_eth(3));
    assert_eq!(a.leader, Some(UserId(7)));
    let standing = |id| r.bid(BidId(id)).unwrap().unwrap().standing(Some(&a));
    assert_eq!(standing(1), BidStatus::Outbid);
    assert_eq!(standing(2), BidStatus::Outbid);
    assert_eq!(standing(3), BidStatus::Won);
    let winner = r.balance(UserId(7)).unwrap();
    assert_eq!((winner.leading, winner.won), (Wei::ZERO, Wei::from_eth(3)));
    assert_eq!(r.balance(UserId(8)).unwrap().leading, Wei::ZERO);
    assert_eq!(r.user_by_handle("@Bidder8").unwrap().unwrap().id, UserId(8));
    assert_eq!(r.bid_by_source("op:k2").unwrap(), Some(BidId(2)));
    assert_eq!(r.bids_of_user(UserId(7)).unwrap().len(), 2);
    assert_eq!(r.head().unwrap().unwrap().seq, 11);
    let report = check::run(&store).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.events, 11);
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let store = Store::in_memory().unwrap();
    fill(&store, vec![campaign_events()]);
    let err = store.write(|w| {
        w.append(t(1), user(7))?;
        // A bid on an auction that does not exist cannot be applied.
        let mut bad = accepted(1, 7, 1);
        if let Event::BidAccepted { bid, .. } = &mut bad {
            bid.auction = Some(AuctionId(99));
        }
        w.append(t(2), bad)
    });
    assert!(err.is_err());
    let r = store.read().unwrap();
    assert_eq!(r.head().unwrap().unwrap().seq, 1);
    assert!(r.user(UserId(7)).unwrap().is_none());
}

fn tamper(path: &std::path::Path, table: &str, key: u64, f: impl FnOnce(&mut Vec<u8>)) {
    let db = redb::Database::open(path).unwrap();
    let def: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new(table);
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(def).unwrap();
        let mut bytes = t.get(key).unwrap().unwrap().value().to_vec();
        f(&mut bytes);
        t.insert(key, bytes.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn check_detects_an_altered_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    fill(&Store::open(&path).unwrap(), history());
    // Change the amount of bid 2 inside event 8 without fixing the hash.
    tamper(&path, "events", 8, |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
    });
    let report = check::run(&Store::open_read_only(&path).unwrap()).unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("event 8 has been altered")),
        "{:?}",
        report.problems
    );
}

#[test]
fn check_detects_a_projection_that_disagrees_with_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    fill(&Store::open(&path).unwrap(), history());
    // Give user 8 an extra credited deposit that no event explains.
    tamper(&path, "balances", 8, |bytes| {
        let mut balance: Balance = postcard::from_bytes(&bytes[1..]).unwrap();
        balance.deposited = Wei::from_eth(1000);
        let mut out = vec![1u8];
        out.extend(postcard::to_stdvec(&balance).unwrap());
        *bytes = out;
    });
    let report = check::run(&Store::open_read_only(&path).unwrap()).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("projection balances: 8")),
        "{:?}",
        report.problems
    );
}

#[test]
fn check_detects_over_committed_escrow_even_when_the_log_says_so() {
    let store = Store::in_memory().unwrap();
    let mut events = history();
    // A bid beyond the deposit, as a buggy engine might have logged it.
    events.truncate(8);
    events.push(accepted(3, 7, 50));
    fill(&store, events);
    let report = check::run(&store).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("escrow over-committed for user 7")),
        "{:?}",
        report.problems
    );
}

#[test]
fn backup_under_concurrent_writes_is_consistent_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let store = Arc::new(Store::open(&path).unwrap());
    fill(
        &store,
        vec![campaign_events(), user(7), deposit(1, 7, 1_000_000)],
    );
    fill(
        &store,
        vec![Event::AuctionStarted {
            auction: AuctionId(1),
            at: t(100),
        }],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 1u64;
            while !stop.load(Ordering::Relaxed) {
                fill(&store, vec![accepted(n, 7, n)]);
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let out = dir.path().join("backup.redb");
    let report = backup::backup(&store, &out).unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(report.check.ok(), "{:?}", report.check.problems);
    assert!(report.check.events > 4 && report.check.events < written + 4);
    assert!(
        backup::backup(&store, &out).is_err(),
        "an existing backup is never overwritten"
    );

    let restored = dir.path().join("restored").join(DB_FILE);
    let check = backup::restore(&out, &restored).unwrap();
    assert!(check.ok());
    let again = check::run(&Store::open_read_only(&restored).unwrap()).unwrap();
    assert!(again.ok(), "{:?}", again.problems);
    assert_eq!(again.events, report.check.events);
    let refused = backup::restore(&out, &restored).unwrap_err();
    assert!(
        refused.to_string().contains("already holds a database"),
        "{refused}"
    );
}

#[test]
fn one_process_owns_the_file_and_reads_snapshots_while_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let writer = Store::open(&path).unwrap();
    fill(&writer, vec![campaign_events()]);
    let snapshot = writer.read().unwrap();
    fill(&writer, vec![user(7)]);
    assert_eq!(
        snapshot.head().unwrap().unwrap().seq,
        1,
        "a snapshot does not see later commits"
    );
    assert_eq!(writer.read().unwrap().head().unwrap().unwrap().seq, 2);
    assert!(matches!(Store::open(&path), Err(Error::InUse(_))));
    assert!(matches!(Store::open_read_only(&path), Err(Error::InUse(_))));
    drop(snapshot);
    drop(writer);
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.read().unwrap().head().unwrap().unwrap().seq, 2);
    assert!(matches!(reader.write(|_| Ok(())), Err(Error::ReadOnly)));
}

#[test]
fn database_and_backup_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appliance.redb");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let store = Store::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    fill(&store, history());
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600, "reopening tightens what was loosened");
    let out = dir.path().join("copy.redb");
    backup::backup(&store, &out).unwrap();
    assert_eq!(mode(&out), 0o600);
}
