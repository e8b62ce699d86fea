//! Properties over random sequences of bids, waits and operator actions, and group commit under
//! concurrent callers.

use super::*;

#[derive(Clone, Debug)]
enum Step {
    Bid { who: usize, milli: u64 },
    Wait { secs: i64 },
    Pause,
    Resume,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0usize..4, 50u64..4000).prop_map(|(who, milli)| Step::Bid { who, milli }),
        3 => (0i64..1200).prop_map(|secs| Step::Wait { secs }),
        1 => Just(Step::Pause),
        1 => Just(Step::Resume),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever happens: the price only rises, bids are accepted only while active, late bids
    /// extend as specified, escrow is never over-committed, the winner is the highest valid bid,
    /// and replaying the log reproduces the projections.
    #[test]
    fn auction_invariants_hold(steps in proptest::collection::vec(step(), 1..60), deposits in proptest::collection::vec(500u64..5000, 4)) {
        let mut bed = Bed::new(AuctionRules { rate_limit_bids: 4, ..open_rules() });
        let users: Vec<UserId> = deposits.iter().enumerate().map(|(i, d)| bed.bidder(i as u64 + 1, eth(*d), 365)).collect();
        bed.at(opening());
        let mut highest_accepted = Wei::ZERO;
        for s in steps {
            match s {
                Step::Wait { secs } => bed.at(bed.now.plus_secs(secs)),
                Step::Pause => { let _ = bed.exec(Command::Pause { auction: AuctionId(1), audit: audit("p") }); }
                Step::Resume => { let _ = bed.exec(Command::Resume { auction: AuctionId(1), audit: audit("r") }); }
                Step::Bid { who, milli } => {
                    let before = bed.auction(1);
                    let r = bed.bid(users[who], eth(milli));
                    let after = bed.auction(1);
                    if r.accepted {
                        prop_assert_eq!(before.state, AuctionState::Active);
                        prop_assert!(bed.now < before.ends_at);
                        prop_assert!(after.price > before.price);
                        prop_assert!(eth(milli) >= rules::minimum_bid(&before));
                        let window = 300 * 1_000_000;
                        if before.ends_at.micros_since(bed.now) < window {
                            prop_assert_eq!(after.ends_at, bed.now.plus_secs(300));
                        } else {
                            prop_assert_eq!(after.ends_at, before.ends_at);
                        }
                        highest_accepted = eth(milli);
                    } else {
                        prop_assert_eq!(after.price, before.price);
                        prop_assert_eq!(after.ends_at, before.ends_at);
                    }
                }
            }
            for (_, b) in bed.store.read().unwrap().balances().unwrap() {
                prop_assert!(b.is_covered());
            }
        }
        // Let it end (resuming if an operator left it paused).
        let _ = bed.exec(Command::Resume { auction: AuctionId(1), audit: audit("r") });
        bed.at(bed.now.plus_secs(86_400 / 2));
        let a = bed.auction(1);
        prop_assert_eq!(a.state, AuctionState::Completed);
        prop_assert_eq!(a.price, highest_accepted);
        if let Some(winner) = a.leader {
            prop_assert_eq!(bed.store.read().unwrap().balance(winner).unwrap().won, highest_accepted);
        }
        let report = store::check::run(&bed.store).unwrap();
        prop_assert!(report.ok(), "{:?}", report.problems);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_transactions_and_are_answered_after_commit() {
    let store = Arc::new(Store::in_memory().unwrap());
    let clock = Arc::new(ManualClock::new(opening().plus_secs(-60)));
    let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default()).unwrap();
    let h = engine.handle();
    let mut events = h.subscribe();
    h.execute(Command::CreateCampaign {
        spec: Box::new(spec(
            1,
            AuctionRules {
                rate_limit_bids: 0,
                ..open_rules()
            },
        )),
        audit: audit("setup"),
    })
    .await
    .unwrap();
    clock.set(opening());
    h.execute(Command::Tick).await.unwrap();
    for i in 0..64u64 {
        h.execute(Command::SeeUser {
            id: UserId(i),
            handle: format!("u{i}"),
            account_created: Timestamp::from_secs(0),
            simulated: false,
        })
        .await
        .unwrap();
        h.execute(Command::LinkWallet {
            user: UserId(i),
            address: Address([i as u8 + 1; 20]),
            verified: true,
        })
        .await
        .unwrap();
        h.execute(Command::RecordDeposit {
            from: Address([i as u8 + 1; 20]),
            amount: eth(1_000_000),
            reference: format!("d{i}"),
        })
        .await
        .unwrap();
    }
    let batches_before = h.stats().batches.load(std::sync::atomic::Ordering::Relaxed);
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                let mut accepted = 0;
                for k in 0..20u64 {
                    let amount = eth(1000 + (k * 64 + i) * 100);
                    if let Reply::Bid(r) = h
                        .execute(Command::PlaceBid {
                            bidder: UserId(i),
                            amount,
                            source: BidSource::Operator(format!("{i}-{k}")),
                            auction: None,
                        })
                        .await
                        .unwrap()
                    {
                        accepted += u32::from(r.accepted);
                    }
                }
                accepted
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    let batches = h.stats().batches.load(std::sync::atomic::Ordering::Relaxed) - batches_before;
    assert!(accepted > 0);
    assert!(
        batches < 64 * 20,
        "1280 commands took {batches} transactions: group commit did not happen"
    );
    // Every event the engine published is in the store.
    let mut seen = 0;
    while let Ok(batch) = events.try_recv() {
        for e in batch.iter() {
            assert!(store.read().unwrap().events_after(e.seq - 1, 1).unwrap()[0].hash == e.hash);
            seen += 1;
        }
    }
    assert!(seen > 1280);
    engine.shutdown().await;
    assert_eq!(
        h.execute(Command::Tick).await.unwrap_err().code,
        "unavailable"
    );
    assert!(store::check::run(&store).unwrap().ok());
    let _ = clock.now();
}
