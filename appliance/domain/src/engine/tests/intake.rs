//! Tweets, withdrawals, chain facts, announcements and on-chain settlement through the engine.

use k256::ecdsa::SigningKey;
use store::{CustodyCheck, Milestone, Notice, OutboxId, OutboxStatus, TokenRef, TweetKind, View};

use super::*;

fn on_chain() -> Policy {
    Policy {
        onchain: true,
        require_custody: true,
        ..Policy::default()
    }
}

fn tokens(days: u32) -> CampaignSpec {
    let mut s = spec(days, open_rules());
    for (i, item) in s.items.iter_mut().enumerate() {
        item.token = Some(TokenRef {
            contract: Address([0xcc; 20]),
            token_id: (i + 1).to_string(),
        });
    }
    s
}

fn key(seed: u8) -> (SigningKey, Address) {
    let key = SigningKey::from_slice(&[seed; 32]).unwrap();
    let a = alloy_primitives::Address::from_private_key(&key);
    (key, Address(a.0.0))
}

fn personal_sign(key: &SigningKey, message: &str) -> String {
    let bytes = crate::link::tests::personal_sign(key, message);
    format!("0x{}", alloy_primitives::hex::encode(bytes))
}

impl Bed {
    fn tweet(&mut self, id: u64, author: u64, handle: &str, text: &str) -> Reply {
        self.ok(Command::IngestTweet {
            tweet: Box::new(IncomingTweet {
                id: id.to_string(),
                author: UserId(author),
                handle: handle.into(),
                author_created: self.now.plus_secs(-400 * 86_400),
                text: text.into(),
                created_at: self.now,
                in_reply_to: None,
                retweet: false,
                edited: false,
            }),
        })
    }

    fn kind(reply: &Reply) -> (TweetKind, Option<String>, bool) {
        match reply {
            Reply::Tweet {
                kind,
                reason,
                duplicate,
                ..
            } => (*kind, reason.clone(), *duplicate),
            other => panic!("{other:?}"),
        }
    }

    /// Links `author`'s wallet by a signed tweet, and deposits `amount` from it.
    fn linked(&mut self, author: u64, handle: &str, seed: u8, amount: Wei) -> Address {
        let (k, address) = key(seed);
        let message = crate::link::link_message(handle, &address, "SothebAIs");
        let text = format!(
            "@SothebAIs link {} {}",
            crate::link::checksummed(&address),
            personal_sign(&k, &message)
        );
        let r = self.tweet(1000 + author, author, handle, &text);
        assert_eq!(Bed::kind(&r).0, TweetKind::Link, "{r:?}");
        self.ok(Command::RecordDeposit {
            from: address,
            amount,
            reference: format!("0xdeposit{author}"),
        });
        address
    }
}

#[test]
fn tweets_link_bid_and_are_taken_once() {
    let mut bed = Bed::new(open_rules());
    bed.linked(7, "alice", 7, eth(3000));
    bed.at(opening());
    let r = bed.tweet(1, 7, "alice", "@SothebAIs bid 1.5 ETH");
    assert_eq!(Bed::kind(&r), (TweetKind::Bid, None, false));
    let head = bed.store.read().unwrap().head().unwrap().unwrap().seq;
    let again = bed.tweet(1, 7, "alice", "@SothebAIs bid 1.5 ETH");
    assert_eq!(Bed::kind(&again), (TweetKind::Bid, None, true));
    assert_eq!(
        bed.store.read().unwrap().head().unwrap().unwrap().seq,
        head,
        "a tweet seen again writes nothing"
    );
    assert_eq!(bed.auction(1).price, eth(1500));

    // A look-alike digit: invalid, recorded, answered.
    let r = bed.tweet(2, 7, "alice", "@SothebAIs bid ２ ETH");
    assert_eq!(Bed::kind(&r).1.as_deref(), Some("lookalike_digits"));
    // An edit of a bid never counts.
    let r = bed.ok(Command::IngestTweet {
        tweet: Box::new(IncomingTweet {
            id: "3".into(),
            author: UserId(7),
            handle: "alice".into(),
            author_created: bed.now.plus_secs(-400 * 86_400),
            text: "@SothebAIs bid 9 ETH".into(),
            created_at: bed.now,
            in_reply_to: None,
            retweet: false,
            edited: true,
        }),
    });
    assert_eq!(Bed::kind(&r).1.as_deref(), Some("edited"));
    assert_eq!(bed.auction(1).price, eth(1500));
    // The host's own tweets and chatter are recorded, never answered.
    let r = bed.tweet(4, 1, "SothebAIs", "@SothebAIs bid 1 ETH");
    assert_eq!(Bed::kind(&r).1.as_deref(), Some("own_tweet"));
    let r = bed.tweet(5, 8, "bob", "@SothebAIs how old is this piece?");
    assert_eq!(Bed::kind(&r).0, TweetKind::Question);

    let replies: Vec<_> = bed
        .notices()
        .into_iter()
        .filter(|n| matches!(n, Notice::TweetReply { .. } | Notice::BidAccepted { .. }))
        .collect();
    assert_eq!(
        replies,
        vec![
            Notice::TweetReply {
                tweet: "1007".into()
            },
            Notice::BidAccepted {
                bid: store::BidId(1)
            },
            Notice::TweetReply { tweet: "2".into() },
            Notice::TweetReply { tweet: "3".into() },
        ]
    );
    let r = bed.store.read().unwrap();
    assert_eq!(r.tweet("5").unwrap().unwrap().kind, TweetKind::Question);
    assert!(r.wallet(UserId(7)).unwrap().unwrap().verified);
    drop(r);
    bed.assert_consistent();
}

#[test]
fn a_link_signed_by_another_key_or_for_another_account_is_refused() {
    let mut bed = Bed::new(open_rules());
    let (_, address) = key(7);
    let (other, _) = key(8);
    let message = crate::link::link_message("alice", &address, "SothebAIs");
    let forged = format!(
        "@SothebAIs link {address} {}",
        personal_sign(&other, &message)
    );
    let r = bed.tweet(1, 7, "alice", &forged);
    assert_eq!(Bed::kind(&r).1.as_deref(), Some("wrong_signer"));
    assert!(
        bed.store
            .read()
            .unwrap()
            .wallet(UserId(7))
            .unwrap()
            .is_none()
    );
    // Bob replays alice's valid link tweet.
    let (k, address) = key(7);
    let valid = format!("@SothebAIs link {address} {}", personal_sign(&k, &message));
    let r = bed.tweet(2, 9, "bob", &valid);
    assert_eq!(Bed::kind(&r).1.as_deref(), Some("wrong_signer"));
    let r = bed.tweet(3, 7, "alice", &valid);
    assert_eq!(Bed::kind(&r).0, TweetKind::Link);
    bed.assert_consistent();
}

#[test]
fn withdrawals_refund_only_what_no_bid_needs() {
    let mut bed = Bed::with(spec(2, open_rules()), on_chain());
    bed.linked(7, "alice", 7, eth(5000));
    bed.at(opening());
    bed.tweet(1, 7, "alice", "@SothebAIs bid 1 ETH");
    let r = bed.tweet(2, 7, "alice", "@SothebAIs withdraw");
    assert_eq!(Bed::kind(&r).0, TweetKind::Withdraw);
    let w = bed.store.read().unwrap().withdrawals().unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].amount, eth(4000), "the leading bid's 1 ETH stays");
    assert!(bed.notices().contains(&Notice::Refund {
        withdrawal: w[0].id
    }));
    let r = bed.tweet(3, 7, "alice", "@SothebAIs withdraw");
    assert_eq!(Bed::kind(&r).1.as_deref(), Some("nothing_to_withdraw"));
    let balance = bed.store.read().unwrap().balance(UserId(7)).unwrap();
    assert_eq!(
        (balance.withdrawn, balance.available()),
        (eth(4000), Wei::ZERO)
    );
    // Without a chain connection there is nobody to pay a refund: refused.
    let mut off = Bed::new(open_rules());
    off.linked(7, "alice", 7, eth(5000));
    let r = off.tweet(2, 7, "alice", "@SothebAIs withdraw");
    assert_eq!(Bed::kind(&r).1.as_deref(), Some("unavailable"));
    bed.assert_consistent();
}

#[test]
fn a_reverted_deposit_voids_the_lead_it_backed() {
    let mut bed = Bed::new(open_rules());
    let a = bed.bidder(1, eth(5000), 365);
    let b = bed.bidder(2, eth(5000), 365);
    bed.at(opening());
    assert!(bed.bid(a, eth(1000)).accepted);
    assert!(bed.bid(b, eth(2000)).accepted);
    match bed.ok(Command::RevertDeposit {
        reference: "0xdep2".into(),
        reason: "block 12 left the chain".into(),
    }) {
        Reply::Reverted { voided_bid, .. } => assert_eq!(voided_bid, Some(store::BidId(2))),
        other => panic!("{other:?}"),
    }
    let auction = bed.auction(1);
    assert_eq!((auction.leader, auction.price), (Some(a), eth(1000)));
    let r = bed.store.read().unwrap();
    assert_eq!(r.balance(b).unwrap(), store::Balance::default());
    assert_eq!(r.balance(a).unwrap().leading, eth(1000));
    assert!(r.bid_voided(store::BidId(2)).unwrap().is_some());
    assert!(r.deposit_by_reference("0xdep2").unwrap().is_none());
    drop(r);
    // The same transfer mined again in another block is a new deposit.
    bed.ok(Command::RecordDeposit {
        from: Address([2; 20]),
        amount: eth(5000),
        reference: "0xdep2".into(),
    });
    assert_eq!(
        bed.store.read().unwrap().balance(b).unwrap().deposited,
        eth(5000)
    );
    assert_eq!(
        bed.exec(Command::RevertDeposit {
            reference: "0xnothing".into(),
            reason: "x".into()
        })
        .unwrap_err()
        .code,
        "not_found"
    );
    bed.assert_consistent();
}

#[test]
fn a_token_auction_starts_only_in_custody() {
    let mut bed = Bed::with(tokens(2), on_chain());
    bed.at(opening());
    assert_eq!(
        bed.auction(1).state,
        AuctionState::Pending,
        "not in custody yet"
    );
    let deadline = next_deadline(&bed.store.read().unwrap(), &bed.core.policy, bed.now)
        .unwrap()
        .unwrap();
    assert_eq!(
        deadline,
        bed.auction(1).ends_at,
        "no busy retry while blocked"
    );
    let check = |ok: bool| CustodyCheck {
        owner: Address([if ok { 0xaa } else { 0xbb }; 20]),
        in_custody: ok,
        block: 10,
        detail: "read".into(),
        checked_at: opening(),
    };
    bed.ok(Command::RecordCustody {
        auction: AuctionId(1),
        check: check(false),
    });
    bed.tick();
    assert_eq!(bed.auction(1).state, AuctionState::Pending);
    bed.ok(Command::RecordCustody {
        auction: AuctionId(1),
        check: check(true),
    });
    bed.tick();
    assert_eq!(bed.auction(1).state, AuctionState::Active);
    // Repeated identical readings write nothing.
    let head = bed.store.read().unwrap().head().unwrap().unwrap().seq;
    bed.ok(Command::RecordCustody {
        auction: AuctionId(1),
        check: check(true),
    });
    assert_eq!(bed.store.read().unwrap().head().unwrap().unwrap().seq, head);
    // Day 2 never gets its token: called off when its window ends.
    bed.at(opening().plus_secs(86_400 + 2 * 3600));
    assert_eq!(bed.auction(2).state, AuctionState::Cancelled);
    bed.assert_consistent();
}

#[test]
fn a_sale_on_chain_completes_when_its_transactions_are_confirmed() {
    let mut bed = Bed::with(tokens(1), on_chain());
    bed.ok(Command::RecordCustody {
        auction: AuctionId(1),
        check: CustodyCheck {
            owner: Address([0xaa; 20]),
            in_custody: true,
            block: 1,
            detail: "ok".into(),
            checked_at: opening(),
        },
    });
    bed.linked(7, "alice", 7, eth(3000));
    bed.linked(8, "bob", 8, eth(3000));
    bed.at(opening());
    bed.tweet(3, 8, "bob", "@SothebAIs bid 1.5 ETH");
    bed.tweet(1, 7, "alice", "@SothebAIs bid 2 ETH");
    bed.at(opening().plus_secs(2 * 3600));
    assert_eq!(bed.auction(1).state, AuctionState::Processing);
    let r = bed.store.read().unwrap();
    assert!(
        r.milestone(AuctionId(1), Milestone::SettlementQueued)
            .unwrap()
    );
    drop(r);
    let chain: Vec<_> = bed
        .notices()
        .into_iter()
        .filter(|n| n.channel() == store::Channel::Chain)
        .collect();
    assert_eq!(
        chain,
        vec![
            Notice::TransferNft {
                auction: AuctionId(1)
            },
            Notice::PayTreasury {
                auction: AuctionId(1)
            }
        ]
    );
    // A transaction over the cost caps is held by the deliverer, waits for the operator, and
    // goes back to pending only by review; a signed one cannot be held.
    let rows = bed.store.read().unwrap().outbox_after(0, 100).unwrap();
    let transfer = rows
        .iter()
        .find(|r| matches!(r.notice, Notice::TransferNft { .. }))
        .unwrap()
        .id;
    let pay = rows
        .iter()
        .find(|r| matches!(r.notice, Notice::PayTreasury { .. }))
        .unwrap()
        .id;
    let held = |id| Command::UpdateOutbox {
        id,
        status: OutboxStatus::Held,
        attempted: true,
    };
    bed.ok(held(transfer));
    bed.ok(Command::ReviewOutbox {
        id: transfer,
        approve: true,
        audit: audit("fees fell"),
    });
    bed.ok(Command::UpdateOutbox {
        id: pay,
        status: OutboxStatus::Signed {
            at: bed.now,
            nonce: 0,
            tx_hash: "0x01".into(),
            raw: vec![1],
        },
        attempted: true,
    });
    assert_eq!(bed.exec(held(pay)).unwrap_err().code, "invalid_request");
    // Ticks do not settle it behind the chain's back.
    bed.at(opening().plus_secs(3 * 3600));
    assert_eq!(bed.auction(1).state, AuctionState::Processing);
    assert_eq!(
        next_deadline(&bed.store.read().unwrap(), &bed.core.policy, bed.now).unwrap(),
        None
    );
    bed.ok(Command::UpdateOutbox {
        id: transfer,
        status: OutboxStatus::Sent {
            at: bed.now,
            external_id: "0xfeed".into(),
        },
        attempted: true,
    });
    bed.ok(Command::ConfirmSettlement {
        auction: AuctionId(1),
    });
    assert_eq!(bed.auction(1).state, AuctionState::Completed);
    let notices = bed.notices();
    assert!(notices.contains(&Notice::AuctionResult {
        auction: AuctionId(1)
    }));
    // The winner hears the token arrived (with the transfer), the runner-up the price.
    assert!(
        notices.contains(&Notice::TokenDelivered {
            auction: AuctionId(1),
            tx: "0xfeed".into()
        }),
        "{notices:?}"
    );
    assert!(notices.iter().any(|n| matches!(
        n,
        Notice::RunnerUp {
            auction: AuctionId(1),
            user: UserId(8),
            ..
        }
    )));
    let balance = bed.store.read().unwrap().balance(UserId(7)).unwrap();
    assert_eq!((balance.won, balance.leading), (eth(2000), Wei::ZERO));
    assert_eq!(
        bed.exec(Command::ConfirmSettlement {
            auction: AuctionId(1)
        })
        .unwrap_err()
        .code,
        "invalid_state"
    );
    bed.assert_consistent();
}

#[test]
fn announcements_and_reminders_happen_once() {
    let mut bed = Bed::new(open_rules());
    bed.linked(7, "alice", 7, eth(3000));
    // Asked before day 1: reminded 15 minutes before it opens.
    bed.tweet(1, 7, "alice", "@SothebAIs remind me");
    let again = bed.tweet(2, 7, "alice", "@SothebAIs remind me");
    assert_eq!(Bed::kind(&again).0, TweetKind::Remind);
    let due = next_deadline(&bed.store.read().unwrap(), &bed.core.policy, bed.now)
        .unwrap()
        .unwrap();
    assert_eq!(due, opening().plus_secs(-900));
    bed.at(due);
    bed.at(due.plus_secs(60));
    bed.at(opening());
    // The last 10 minutes are announced once, even when a late bid extends the end.
    bed.at(opening().plus_secs(2 * 3600 - 600));
    bed.tweet(3, 7, "alice", "@SothebAIs bid 1 ETH");
    bed.at(opening().plus_secs(2 * 3600 - 60));
    bed.tweet(4, 7, "alice", "@SothebAIs bid 2 ETH");
    bed.at(opening().plus_secs(2 * 3600 + 100));
    let n = bed.notices();
    let count = |f: &dyn Fn(&Notice) -> bool| n.iter().filter(|x| f(x)).count();
    assert_eq!(count(&|x| matches!(x, Notice::Reminder { .. })), 1);
    assert_eq!(count(&|x| matches!(x, Notice::FinalMinutes { .. })), 1);
    assert_eq!(count(&|x| matches!(x, Notice::AuctionOpened { .. })), 1);
    assert!(n.contains(&Notice::Reminder {
        auction: AuctionId(1),
        user: UserId(7),
        tweet: "1".into()
    }));
    assert!(
        bed.store
            .read()
            .unwrap()
            .reminders(AuctionId(1))
            .unwrap()
            .is_empty()
    );
    bed.assert_consistent();
}

#[test]
fn outbox_rows_move_forward_only_and_held_tweets_wait_for_an_operator() {
    let mut bed = Bed::with(
        spec(1, open_rules()),
        Policy {
            hold_tweets: true,
            ..Policy::default()
        },
    );
    bed.at(opening());
    let row = bed.store.read().unwrap().outbox_after(0, 1).unwrap()[0].clone();
    assert_eq!(row.status, OutboxStatus::Held);
    let sending = OutboxStatus::Sending {
        at: bed.now,
        text: "hello".into(),
    };
    let update = |status: OutboxStatus| Command::UpdateOutbox {
        id: row.id,
        status,
        attempted: false,
    };
    assert_eq!(
        bed.exec(update(sending.clone())).unwrap_err().code,
        "invalid_state"
    );
    bed.ok(Command::ReviewOutbox {
        id: row.id,
        approve: true,
        audit: audit("looks right"),
    });
    bed.ok(update(sending));
    bed.ok(update(OutboxStatus::Sent {
        at: bed.now,
        external_id: "123".into(),
    }));
    assert_eq!(
        bed.exec(update(OutboxStatus::Failed {
            at: bed.now,
            error: "x".into()
        }))
        .unwrap_err()
        .code,
        "conflict"
    );
    assert_eq!(
        bed.exec(update(OutboxStatus::Pending)).unwrap_err().code,
        "invalid_request"
    );
    assert_eq!(
        bed.exec(Command::UpdateOutbox {
            id: OutboxId(999),
            status: OutboxStatus::Skipped {
                at: bed.now,
                reason: "x".into()
            },
            attempted: false
        })
        .unwrap_err()
        .code,
        "not_found"
    );
    bed.assert_consistent();
}

/// The outbox's tweets as they would be posted now.
fn rendered(bed: &Bed) -> Vec<String> {
    let r = bed.store.read().unwrap();
    r.outbox_after(0, 1000)
        .unwrap()
        .iter()
        .filter_map(|row| crate::words::render(&r, row, bed.now).ok())
        .map(|t| t.text)
        .collect()
}

#[test]
fn ceilings_bid_for_their_bidders_as_ebay_proxies_do() {
    let mut bed = Bed::new(open_rules());
    bed.linked(7, "alice", 7, eth(9000));
    bed.linked(8, "bob", 8, eth(9000));
    bed.linked(9, "carol", 9, eth(9000));
    bed.at(opening());
    // Alice's ceiling: she leads at the reserve, not at her ceiling.
    let r = bed.tweet(1, 7, "alice", "@SothebAIs bid max 5 ETH");
    assert_eq!(Bed::kind(&r).0, TweetKind::Ceiling);
    let a = bed.auction(1);
    assert_eq!((a.leader, a.price), (Some(UserId(7)), eth(100)));
    // Bob bids 2 ETH by hand: alice's ceiling answers at once with 2 ETH plus the raise (5 %).
    bed.tweet(2, 8, "bob", "@SothebAIs bid 2 ETH");
    let a = bed.auction(1);
    assert_eq!((a.leader, a.price), (Some(UserId(7)), eth(2100)));
    // Bob's ceiling of 3 ETH: alice's answers with 3 ETH plus the raise.
    bed.tweet(3, 8, "bob", "@SothebAIs bid max 3 ETH");
    let a = bed.auction(1);
    assert_eq!((a.leader, a.price), (Some(UserId(7)), eth(3150)));
    // Carol's ceiling ties alice's: the earlier one wins, at the full ceiling.
    bed.tweet(4, 9, "carol", "@SothebAIs bid max 5 ETH");
    let a = bed.auction(1);
    assert_eq!((a.leader, a.price), (Some(UserId(7)), eth(5000)));
    // Carol goes higher: she leads at alice's ceiling plus the raise.
    bed.tweet(5, 9, "carol", "@SothebAIs bid max 6 ETH");
    let a = bed.auction(1);
    assert_eq!((a.leader, a.price), (Some(UserId(9)), eth(5250)));
    // A ceiling escrow cannot cover is refused.
    let r = bed.tweet(6, 8, "bob", "@SothebAIs bid max 90 ETH");
    assert_eq!(Bed::kind(&r).1.as_deref(), Some("insufficient_escrow"));
    // Every raise is a bid on record, made for its bidder, shown as a proxy bid.
    let r = bed.store.read().unwrap();
    let proxies = r
        .bids_of_auction(AuctionId(1))
        .unwrap()
        .into_iter()
        .filter(|b| matches!(b.source, BidSource::Proxy(_)))
        .count();
    assert!(proxies >= 4, "{proxies}");
    drop(r);
    // No tweet reveals a leading ceiling: carol's 6 ETH appears only in her own reply.
    let texts = rendered(&bed);
    let revealing: Vec<&String> = texts
        .iter()
        .filter(|t| t.contains("6 ETH") && !t.starts_with("@carol Your ceiling"))
        .collect();
    assert!(revealing.is_empty(), "{revealing:?}");
    // Alice hears she was outbid (her ceiling is spent), in reply to the tweet that set it.
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("@alice You were outbid")),
        "{texts:#?}"
    );
    bed.assert_consistent();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Ceilings set in any order (ties, raises, repeats): the strongest ceiling leads (highest,
    /// the earlier of equals), at the second-strongest plus the minimum raise or its own ceiling
    /// (or the second's, when a tie decided it), never above its own; with one ceiling, at the
    /// reserve. Escrow is never over-committed and the log replays.
    #[test]
    fn the_strongest_ceiling_leads_at_the_second_plus_a_raise(
        steps in proptest::collection::vec((0usize..4, 1u64..=12), 1..12)
    ) {
        let mut bed = Bed::new(open_rules());
        let names = ["alice", "bob", "carol", "dan"];
        for (i, name) in names.iter().enumerate() {
            bed.linked(i as u64 + 1, name, i as u8 + 1, eth(20_000));
        }
        bed.at(opening());
        for (n, (who, half_eth)) in steps.into_iter().enumerate() {
            let text = format!("@SothebAIs bid max {} ETH", Wei(u128::from(half_eth) * 500_000_000_000_000_000).eth_string());
            bed.tweet(100 + n as u64, who as u64 + 1, names[who], &text);
            for (_, b) in bed.store.read().unwrap().balances().unwrap() {
                prop_assert!(b.is_covered());
            }
        }
        let a = bed.auction(1);
        let ceilings = bed.store.read().unwrap().ceilings(AuctionId(1)).unwrap();
        if ceilings.is_empty() {
            prop_assert_eq!(a.leader, None);
            return Ok(());
        }
        let stronger = |x: &store::Ceiling, y: &store::Ceiling| x.max > y.max || (x.max == y.max && x.order < y.order);
        let top = ceilings.iter().reduce(|b, c| if stronger(c, b) { c } else { b }).unwrap();
        prop_assert_eq!(a.leader, Some(top.user), "{:?}", ceilings);
        let second = ceilings.iter().filter(|c| c.user != top.user).reduce(|b, c| if stronger(c, b) { c } else { b });
        match second {
            // The second plus a raise, capped by the top; or exactly the second's ceiling when
            // a tie decided it (the earlier ceiling, since raised, keeps its lead at that price:
            // raising your own ceiling never raises your price).
            Some(s) => {
                let raised = top.max.min(rules::raise_over(&a.rules, s.max));
                prop_assert!(a.price == raised || a.price == s.max, "{:?}: {:?}", a.price, ceilings);
            }
            None => prop_assert_eq!(a.price, a.rules.reserve),
        }
        prop_assert!(a.price <= top.max);
        let report = store::check::run(&bed.store).unwrap();
        prop_assert!(report.ok(), "{:?}", report.problems);
    }
}
