//! Engine behaviour: the rules, the state machine, the audited operator actions, group commit.

use std::sync::Arc;

use proptest::prelude::*;
use store::{
    Address, AuctionId, AuctionRules, AuctionState, Audit, BidSource, BidStatus, Event, Store,
    Timestamp, UserId, View, Wei, WindowPlan,
};

use super::*;
use crate::clock::{Clock, ManualClock};

/// 2026-06-01 14:00 EDT, when day 1's auction opens under the default plan.
fn opening() -> Timestamp {
    Timestamp::parse_rfc3339("2026-06-01T14:00:00-04:00").unwrap()
}

fn eth(milli: u64) -> Wei {
    Wei(u128::from(milli) * 1_000_000_000_000_000)
}

fn audit(reason: &str) -> Audit {
    Audit {
        actor: "operator".into(),
        origin: "test".into(),
        reason: reason.into(),
    }
}

pub(crate) fn spec(days: u32, rules: AuctionRules) -> CampaignSpec {
    CampaignSpec {
        name: "Genesis".into(),
        start_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        days,
        timezone: "America/New_York".into(),
        windows: WindowPlan::default(),
        rules,
        host_handle: "SothebAIs".into(),
        items: (1..=days)
            .map(|n| ItemSpec {
                name: format!("Genesis #{n}"),
                artist: "Test".into(),
                image: String::new(),
                token: None,
            })
            .collect(),
    }
}

/// The engine's handlers on an in-memory store, with time under the test's control.
struct Bed {
    store: Store,
    core: Core,
    now: Timestamp,
}

impl Bed {
    fn new(rules: AuctionRules) -> Bed {
        Bed::with(spec(2, rules), Policy::default())
    }

    fn with(campaign: CampaignSpec, policy: Policy) -> Bed {
        let mut bed = Bed {
            store: Store::in_memory().unwrap(),
            core: Core::new(policy),
            now: opening().plus_secs(-3600),
        };
        bed.ok(Command::CreateCampaign {
            spec: Box::new(campaign),
            audit: audit("setup"),
        });
        bed
    }

    /// The whole outbox, in order.
    fn notices(&self) -> Vec<store::Notice> {
        self.store
            .read()
            .unwrap()
            .outbox_after(0, 10_000)
            .unwrap()
            .into_iter()
            .map(|o| o.notice)
            .collect()
    }

    /// The integrity check passes (replay equals the projections, invariants hold).
    fn assert_consistent(&self) {
        let report = store::check::run(&self.store).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
    }

    fn exec(&mut self, command: Command) -> Result<Reply, CommandError> {
        let now = self.now;
        let core = &mut self.core;
        let (reply, _) = self.store.write(|w| core.handle(w, &command, now)).unwrap();
        self.core.rate.commit(now, MAX_RATE_WINDOW_SECS);
        reply
    }

    fn ok(&mut self, command: Command) -> Reply {
        self.exec(command).expect("command refused")
    }

    fn tick(&mut self) {
        self.ok(Command::Tick);
    }

    fn at(&mut self, t: Timestamp) {
        self.now = t;
        self.tick();
    }

    fn bidder(&mut self, id: u64, deposit: Wei, age_days: i64) -> UserId {
        let user = UserId(id);
        self.ok(Command::SeeUser {
            id: user,
            handle: format!("bidder{id}"),
            account_created: self.now.plus_secs(-age_days * 86_400),
            simulated: false,
        });
        let address = Address([id as u8; 20]);
        self.ok(Command::LinkWallet {
            user,
            address,
            verified: true,
        });
        if deposit > Wei::ZERO {
            self.ok(Command::RecordDeposit {
                from: address,
                amount: deposit,
                reference: format!("0xdep{id}"),
            });
        }
        user
    }

    fn bid(&mut self, user: UserId, amount: Wei) -> BidReceipt {
        match self.ok(Command::PlaceBid {
            bidder: user,
            amount,
            source: BidSource::Simulated,
            auction: None,
        }) {
            Reply::Bid(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn auction(&self, id: u64) -> store::Auction {
        self.store
            .read()
            .unwrap()
            .auction(AuctionId(id))
            .unwrap()
            .unwrap()
    }

    fn code(receipt: &BidReceipt) -> &str {
        receipt
            .rejection
            .as_ref()
            .map_or("accepted", |r| r.code.as_str())
    }
}

fn open_rules() -> AuctionRules {
    AuctionRules {
        reserve: eth(100),
        min_increment: eth(10),
        min_increment_bps: 500,
        extension_secs: 300,
        rate_limit_bids: 0,
        rate_limit_window_secs: 60,
        min_account_age_days: 30,
    }
}

#[test]
fn auctions_follow_the_schedule_day_by_day() {
    let mut bed = Bed::new(open_rules());
    assert_eq!(bed.auction(1).state, AuctionState::Pending);
    bed.at(opening());
    assert_eq!(bed.auction(1).state, AuctionState::Active);
    assert_eq!(bed.auction(2).state, AuctionState::Pending);
    bed.at(opening().plus_secs(2 * 3600));
    assert_eq!(bed.auction(1).state, AuctionState::Completed);
    bed.at(opening().plus_secs(86_400));
    assert_eq!(bed.auction(2).state, AuctionState::Active);
}

#[test]
fn every_rejection_has_a_code_and_a_message() {
    let mut bed = Bed::new(AuctionRules {
        rate_limit_bids: 3,
        ..open_rules()
    });
    let rich = bed.bidder(1, eth(10_000), 365);
    let young = bed.bidder(2, eth(10_000), 3);
    let poor = bed.bidder(3, eth(150), 365);
    let no_wallet = UserId(4);
    bed.ok(Command::SeeUser {
        id: no_wallet,
        handle: "nowallet".into(),
        account_created: bed.now.plus_secs(-400 * 86_400),
        simulated: false,
    });

    let r = bed.bid(rich, eth(200));
    assert_eq!(Bed::code(&r), "no_auction", "before the auction opens");
    bed.at(opening());

    assert_eq!(Bed::code(&bed.bid(UserId(99), eth(200))), "unknown_bidder");
    assert_eq!(Bed::code(&bed.bid(young, eth(200))), "account_too_new");
    assert_eq!(Bed::code(&bed.bid(no_wallet, eth(200))), "no_wallet");
    assert_eq!(Bed::code(&bed.bid(rich, eth(99))), "below_reserve");
    assert_eq!(Bed::code(&bed.bid(rich, eth(1000))), "accepted");
    // 5 % of 1 ETH (0.05) beats the absolute 0.01 increment.
    let r = bed.bid(poor, eth(1040));
    assert_eq!(Bed::code(&r), "below_min_increment");
    assert!(r.rejection.unwrap().message.contains("1.05 ETH"));
    assert_eq!(Bed::code(&bed.bid(poor, eth(1050))), "insufficient_escrow");
    // The fourth bid from `rich` within a minute (one accepted + reserve miss + this is 3).
    assert_eq!(Bed::code(&bed.bid(rich, eth(1100))), "accepted");
    assert_eq!(Bed::code(&bed.bid(rich, eth(1200))), "rate_limited");

    bed.ok(Command::Pause {
        auction: AuctionId(1),
        audit: audit("check the stream"),
    });
    bed.now = bed.now.plus_secs(120);
    assert_eq!(Bed::code(&bed.bid(poor, eth(140))), "auction_paused");
    bed.ok(Command::Resume {
        auction: AuctionId(1),
        audit: audit("stream back"),
    });
    bed.at(opening().plus_secs(3 * 3600));
    let r = bed.bid(rich, eth(5000));
    assert_eq!(Bed::code(&r), "no_auction");
    let refused = bed.exec(Command::PlaceBid {
        bidder: rich,
        amount: eth(5000),
        source: BidSource::Simulated,
        auction: Some(AuctionId(1)),
    });
    assert_eq!(
        Bed::code(&match refused.unwrap() {
            Reply::Bid(r) => r,
            o => panic!("{o:?}"),
        }),
        "auction_closed"
    );
    let report = store::check::run(&bed.store).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
}

#[test]
fn a_leader_raising_their_own_bid_only_needs_the_difference() {
    let mut bed = Bed::new(open_rules());
    let a = bed.bidder(1, eth(1500), 365);
    bed.at(opening());
    assert!(bed.bid(a, eth(1000)).accepted);
    assert!(
        bed.bid(a, eth(1500)).accepted,
        "1.5 ETH of escrow covers a raise from 1 to 1.5"
    );
    let bal = bed.store.read().unwrap().balance(a).unwrap();
    assert_eq!((bal.leading, bal.available()), (eth(1500), Wei::ZERO));
    assert!(!bed.bid(a, eth(1600)).accepted);
}

/// The outbox rows about bids (announcements of the auction itself left out).
fn bid_notices(bed: &Bed) -> Vec<store::Notice> {
    bed.store
        .read()
        .unwrap()
        .outbox_after(0, 100)
        .unwrap()
        .into_iter()
        .map(|o| o.notice)
        .filter(|n| {
            matches!(
                n,
                store::Notice::BidAccepted { .. }
                    | store::Notice::BidRejected { .. }
                    | store::Notice::Outbid { .. }
            )
        })
        .collect()
}

#[test]
fn resubmitting_a_bid_returns_the_first_outcome_and_writes_nothing() {
    let mut bed = Bed::new(open_rules());
    let a = bed.bidder(1, eth(5000), 365);
    bed.at(opening());
    let place = |bed: &mut Bed| match bed.ok(Command::PlaceBid {
        bidder: a,
        amount: eth(1000),
        source: BidSource::Tweet("1790000000000000001".into()),
        auction: None,
    }) {
        Reply::Bid(r) => r,
        o => panic!("{o:?}"),
    };
    let first = place(&mut bed);
    let head = bed.store.read().unwrap().head().unwrap().unwrap().seq;
    let second = place(&mut bed);
    assert!(first.accepted && !first.duplicate);
    assert!(second.duplicate);
    assert_eq!(first.bid, second.bid);
    assert_eq!(bed.store.read().unwrap().head().unwrap().unwrap().seq, head);
    // A tweet bid leaves a reply in the outbox, in the same transaction as its event.
    let outbox = bid_notices(&bed);
    assert_eq!(outbox, vec![store::Notice::BidAccepted { bid: first.bid }]);
}

#[test]
fn outbid_tweets_notify_the_previous_leader() {
    let mut bed = Bed::new(open_rules());
    let a = bed.bidder(1, eth(5000), 365);
    let b = bed.bidder(2, eth(5000), 365);
    bed.at(opening());
    for (user, amount, tweet) in [(a, 1000, "1"), (b, 1100, "2")] {
        bed.ok(Command::PlaceBid {
            bidder: user,
            amount: eth(amount),
            source: BidSource::Tweet(tweet.into()),
            auction: None,
        });
    }
    assert_eq!(
        bid_notices(&bed),
        vec![
            store::Notice::BidAccepted {
                bid: store::BidId(1)
            },
            store::Notice::BidAccepted {
                bid: store::BidId(2)
            },
            store::Notice::Outbid {
                bid: store::BidId(1),
                by: store::BidId(2)
            },
        ]
    );
}

#[test]
fn a_late_bid_extends_the_end_like_the_nouns_auction_house() {
    let mut bed = Bed::new(open_rules());
    let a = bed.bidder(1, eth(5000), 365);
    let b = bed.bidder(2, eth(5000), 365);
    bed.at(opening());
    let end = bed.auction(1).ends_at;
    bed.now = end.plus_secs(-301);
    assert_eq!(
        bed.bid(a, eth(1000)).ends_at,
        Some(end),
        "301 s before the end: no extension"
    );
    bed.now = end.plus_secs(-60);
    let r = bed.bid(b, eth(1100));
    assert_eq!(r.ends_at, Some(bed.now.plus_secs(300)));
    assert_eq!(bed.auction(1).extensions, 1);
    // The original end passes; the auction is still open until the extended end.
    bed.at(end.plus_secs(10));
    assert_eq!(bed.auction(1).state, AuctionState::Active);
    bed.at(end.plus_secs(240));
    assert_eq!(bed.auction(1).state, AuctionState::Completed);
    assert_eq!(bed.auction(1).leader, Some(b));
}

#[test]
fn operator_actions_are_audited_and_keep_escrow_right() {
    let mut bed = Bed::new(open_rules());
    let a = bed.bidder(1, eth(5000), 365);
    bed.at(opening());
    bed.bid(a, eth(1000));
    let refused = bed
        .exec(Command::Pause {
            auction: AuctionId(1),
            audit: audit(""),
        })
        .unwrap_err();
    assert_eq!(refused.code, "invalid_request");

    // Pause keeps the time left; resume restores it.
    bed.now = opening().plus_secs(3600);
    bed.ok(Command::Pause {
        auction: AuctionId(1),
        audit: audit("glitch"),
    });
    bed.now = bed.now.plus_secs(5000);
    bed.ok(Command::Resume {
        auction: AuctionId(1),
        audit: audit("fixed"),
    });
    assert_eq!(bed.auction(1).ends_at, bed.now.plus_secs(3600));

    bed.ok(Command::Extend {
        auction: AuctionId(1),
        seconds: 600,
        audit: audit("late start"),
    });
    assert_eq!(bed.auction(1).ends_at, bed.now.plus_secs(4200));

    bed.ok(Command::Cancel {
        auction: AuctionId(1),
        audit: audit("wrong item"),
    });
    assert_eq!(bed.auction(1).state, AuctionState::Cancelled);
    let bal = bed.store.read().unwrap().balance(a).unwrap();
    assert_eq!(
        (bal.leading, bal.won),
        (Wei::ZERO, Wei::ZERO),
        "cancelling releases the leading bid"
    );
    let bid = bed
        .store
        .read()
        .unwrap()
        .bid(store::BidId(1))
        .unwrap()
        .unwrap();
    assert_eq!(bid.standing(Some(&bed.auction(1))), BidStatus::Void);

    // Day 2: force-settle ends it now with the current leader.
    bed.at(opening().plus_secs(86_400));
    bed.bid(a, eth(2000));
    bed.ok(Command::ForceSettle {
        auction: AuctionId(2),
        audit: audit("stream lost"),
    });
    let bal = bed.store.read().unwrap().balance(a).unwrap();
    assert_eq!((bal.leading, bal.won), (Wei::ZERO, eth(2000)));

    let audits: Vec<_> = bed
        .store
        .read()
        .unwrap()
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::AuctionPaused { audit, .. }
            | Event::AuctionResumed { audit, .. }
            | Event::AuctionExtended { audit, .. }
            | Event::AuctionCancelled { audit, .. } => Some(audit.reason),
            Event::AuctionClosed {
                audit: Some(audit), ..
            } => Some(audit.reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        audits,
        ["glitch", "fixed", "late start", "wrong item", "stream lost"]
    );
    assert!(store::check::run(&bed.store).unwrap().ok());
}

#[test]
fn overrides_are_checked() {
    let mut bed = Bed::new(open_rules());
    let a = bed.bidder(1, eth(5000), 365);
    let reply = bed.exec(Command::Override {
        auction: AuctionId(1),
        ends_at: None,
        reserve: Some(eth(500)),
        reopen: false,
        audit: audit("reserve agreed with the artist"),
    });
    assert!(reply.is_ok());
    bed.at(opening());
    assert_eq!(Bed::code(&bed.bid(a, eth(400))), "below_reserve");
    bed.bid(a, eth(500));
    let refused = bed
        .exec(Command::Override {
            auction: AuctionId(1),
            ends_at: None,
            reserve: Some(eth(100)),
            reopen: false,
            audit: audit("lower it"),
        })
        .unwrap_err();
    assert_eq!(refused.code, "invalid_state");
    let past = bed.exec(Command::Override {
        auction: AuctionId(1),
        ends_at: Some(bed.now.plus_secs(-1)),
        reserve: None,
        reopen: false,
        audit: audit("oops"),
    });
    assert_eq!(past.unwrap_err().code, "invalid_request");
    let later = bed.now.plus_secs(7200);
    bed.ok(Command::Override {
        auction: AuctionId(1),
        ends_at: Some(later),
        reserve: None,
        reopen: false,
        audit: audit("run it longer"),
    });
    assert_eq!(bed.auction(1).ends_at, later);
}

#[test]
fn campaigns_are_validated_and_edited_within_limits() {
    let mut bed = Bed::new(open_rules());
    let mut bad = spec(3, open_rules());
    bad.items.truncate(2);
    let e = bed
        .exec(Command::CreateCampaign {
            spec: Box::new(bad),
            audit: audit("x"),
        })
        .unwrap_err();
    assert!(e.message.contains("at least 3 items"), "{e}");
    let mut bad = spec(1, open_rules());
    bad.timezone = "Moon/Base".into();
    assert!(
        bed.exec(Command::CreateCampaign {
            spec: Box::new(bad),
            audit: audit("x")
        })
        .is_err()
    );
    // Overlapping another campaign's days.
    let e = bed
        .exec(Command::CreateCampaign {
            spec: Box::new(spec(1, open_rules())),
            audit: audit("x"),
        })
        .unwrap_err();
    assert_eq!(e.code, "conflict");

    // Before it starts, everything may change: move it a week later and make it 3 days.
    let mut moved = spec(3, open_rules());
    moved.start_date = chrono::NaiveDate::from_ymd_opt(2026, 6, 8).unwrap();
    match bed.ok(Command::EditCampaign {
        campaign: store::CampaignId(1),
        spec: Box::new(moved.clone()),
        audit: audit("later"),
    }) {
        Reply::Campaign { auctions, .. } => assert_eq!(auctions.len(), 3),
        o => panic!("{o:?}"),
    }
    let start = Timestamp::parse_rfc3339("2026-06-08T14:00:00-04:00").unwrap();
    assert_eq!(bed.auction(1).starts_at, start);
    bed.at(start);
    assert_eq!(bed.auction(1).state, AuctionState::Active);
    // Once started, the schedule is fixed, but days can be added or dropped at the end.
    let mut again = moved.clone();
    again.windows.auction_start = "15:00".parse().unwrap();
    assert_eq!(
        bed.exec(Command::EditCampaign {
            campaign: store::CampaignId(1),
            spec: Box::new(again),
            audit: audit("x")
        })
        .unwrap_err()
        .code,
        "invalid_state"
    );
    let mut shorter = moved;
    shorter.days = 2;
    match bed.ok(Command::EditCampaign {
        campaign: store::CampaignId(1),
        spec: Box::new(shorter),
        audit: audit("short"),
    }) {
        Reply::Campaign { auctions, .. } => assert_eq!(auctions.len(), 2),
        o => panic!("{o:?}"),
    }
    assert!(store::check::run(&bed.store).unwrap().ok());
}

#[test]
fn simulated_bidders_are_refused_when_the_campaign_is_on_chain() {
    let policy = Policy {
        onchain: true,
        ..Policy::default()
    };
    let mut bed = Bed::with(spec(2, open_rules()), policy);
    let head = |bed: &Bed| bed.store.read().unwrap().head().unwrap().map(|h| h.seq);
    let before = head(&bed);
    let e = bed
        .exec(Command::SeeUser {
            id: UserId(7),
            handle: "sim_eager_1".into(),
            account_created: bed.now.plus_secs(-400 * 86_400),
            simulated: true,
        })
        .unwrap_err();
    assert_eq!(e.code, "invalid_state", "{e:?}");
    let e = bed
        .exec(Command::PlaceBid {
            bidder: UserId(7),
            amount: eth(500),
            source: BidSource::Simulated,
            auction: None,
        })
        .unwrap_err();
    assert_eq!(e.code, "invalid_state");
    assert!(e.message.contains("on chain"), "{}", e.message);
    assert_eq!(head(&bed), before, "nothing was written");
}

/// A clock that panics once told to, standing for any bug in the engine thread.
struct BrokenClock {
    inner: ManualClock,
    broken: std::sync::atomic::AtomicBool,
}

impl Clock for BrokenClock {
    fn now(&self) -> Timestamp {
        assert!(
            !self.broken.load(std::sync::atomic::Ordering::Relaxed),
            "the clock broke"
        );
        self.inner.now()
    }

    fn real_until(&self, t: Timestamp) -> Option<std::time::Duration> {
        self.inner.real_until(t)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_engine_thread_is_reported_not_hidden() {
    let clock = Arc::new(BrokenClock {
        inner: ManualClock::new(opening()),
        broken: std::sync::atomic::AtomicBool::new(false),
    });
    let engine = Engine::start(
        Arc::new(Store::in_memory().unwrap()),
        clock.clone(),
        EngineConfig::default(),
    )
    .unwrap();
    let h = engine.handle();
    let mut died = h.died();
    assert!(died.borrow().is_none());
    h.execute(Command::Tick).await.unwrap();
    clock
        .broken
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = h.execute(Command::Tick).await;
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        died.wait_for(Option::is_some),
    )
    .await
    .expect("the death is reported")
    .unwrap();
    assert_eq!(died.borrow().as_deref(), Some("the clock broke"));
    assert_eq!(
        h.execute(Command::Tick).await.unwrap_err().code,
        "unavailable"
    );
}

#[test]
fn account_changes_are_compare_and_swap() {
    let mut bed = Bed::new(open_rules());
    let save = |expected: Option<&str>, value: &str| {
        OperatorAction::SaveAccounts {
            expected: expected.map(str::to_string),
            accounts: value.to_string(),
        }
        .into_command(audit("accounts"))
    };
    let stored = |bed: &Bed| {
        bed.store
            .read()
            .unwrap()
            .state(ACCOUNTS_KEY)
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    };
    // The first list is written only if there was none.
    bed.ok(save(None, r#"{"users":["ana"]}"#));
    assert_eq!(
        bed.exec(save(None, r#"{"users":["eve"]}"#))
            .unwrap_err()
            .code,
        "conflict"
    );
    // Two admins read the same list; the second to save is refused, the first change stays.
    let read = stored(&bed);
    bed.ok(save(read.as_deref(), r#"{"users":["ana","bo"]}"#));
    let late = bed
        .exec(save(read.as_deref(), r#"{"users":["ana","cy"]}"#))
        .unwrap_err();
    assert_eq!(late.code, "conflict");
    assert!(late.message.contains("read it again"), "{}", late.message);
    assert_eq!(stored(&bed).as_deref(), Some(r#"{"users":["ana","bo"]}"#));
    // Read again, the change goes through.
    let read = stored(&bed);
    bed.ok(save(read.as_deref(), r#"{"users":["ana","bo","cy"]}"#));
    assert_eq!(
        stored(&bed).as_deref(),
        Some(r#"{"users":["ana","bo","cy"]}"#)
    );
    bed.assert_consistent();
}

#[test]
fn deposits_from_unlinked_wallets_are_held_until_linked() {
    let mut bed = Bed::new(open_rules());
    let from = Address([42; 20]);
    let r = bed.ok(Command::RecordDeposit {
        from,
        amount: eth(700),
        reference: "0xabc:0".into(),
    });
    assert!(matches!(
        r,
        Reply::Deposit {
            credited: false,
            duplicate: false,
            ..
        }
    ));
    let again = bed.ok(Command::RecordDeposit {
        from,
        amount: eth(700),
        reference: "0xabc:0".into(),
    });
    assert!(matches!(
        again,
        Reply::Deposit {
            duplicate: true,
            ..
        }
    ));
    let clash = bed.exec(Command::RecordDeposit {
        from,
        amount: eth(1),
        reference: "0xabc:0".into(),
    });
    assert_eq!(clash.unwrap_err().code, "conflict");
    bed.ok(Command::SeeUser {
        id: UserId(5),
        handle: "late_linker".into(),
        account_created: Timestamp::from_secs(0),
        simulated: false,
    });
    match bed.ok(Command::LinkWallet {
        user: UserId(5),
        address: from,
        verified: true,
    }) {
        Reply::Wallet {
            credited_deposits, ..
        } => assert_eq!(credited_deposits, 1),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        bed.store
            .read()
            .unwrap()
            .balance(UserId(5))
            .unwrap()
            .deposited,
        eth(700)
    );
    assert!(store::check::run(&bed.store).unwrap().ok());
}

#[test]
fn missed_windows_are_caught_up_on_start() {
    let mut bed = Bed::new(open_rules());
    bed.at(opening().plus_secs(3 * 86_400));
    assert_eq!(bed.auction(1).state, AuctionState::Completed);
    assert_eq!(bed.auction(2).state, AuctionState::Completed);
    assert!(bed.auction(2).leader.is_none());
}

mod intake;
mod power_cut;
mod properties;
