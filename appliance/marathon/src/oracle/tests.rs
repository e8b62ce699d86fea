//! The oracle's own rules for refunds and deleted tweets.

use super::*;
use crate::crowd::{Crowd, ETH};
use store::{Deposit, DepositId, UserId, Wei, Withdrawal, WithdrawalId};

fn record(seq: u64, event: Event) -> EventRecord {
    EventRecord {
        seq,
        at: Timestamp(seq as i64),
        prev_hash: [0; 32],
        hash: [0; 32],
        event,
    }
}

fn sent(id: u64, author: u64, text: &str, intent: Intent, deleted: bool) -> Sent {
    Sent {
        id,
        author,
        text: text.into(),
        at: Timestamp(0),
        real_ms: 0.0,
        intent,
        deleted,
    }
}

fn received(id: u64, author: u64, text: &str, kind: TweetKind) -> Event {
    Event::TweetReceived {
        tweet: store::TweetRecord {
            id: id.to_string(),
            author: UserId(author),
            text: text.into(),
            created_at: Timestamp(0),
            in_reply_to: None,
            kind,
            reason: None,
            message: String::new(),
            received_at: Timestamp(1),
        },
    }
}

fn refund(user: u64, amount: u128) -> Event {
    Event::WithdrawalRequested {
        withdrawal: Withdrawal {
            id: WithdrawalId(1),
            user: UserId(user),
            to: "0x00000000000000000000000000000000000000aa"
                .parse()
                .unwrap(),
            amount: Wei(amount),
            requested_at: Timestamp(1),
            requested_by: "tweet".into(),
        },
    }
}

/// A `withdraw` must refund exactly what is free, once; a second one finds nothing; a
/// deleted tweet never read is not missing, one read is judged.
#[test]
fn refunds_are_what_is_free_and_deleted_tweets_are_not_missing() {
    let crowd = Crowd::new(12, 7, Timestamp(0));
    let who = crowd.members[0].id;
    let deposit = Event::DepositRecorded {
        deposit: Deposit {
            id: DepositId(1),
            from: "0x00000000000000000000000000000000000000aa"
                .parse()
                .unwrap(),
            user: Some(UserId(who)),
            amount: Wei(3 * ETH),
            reference: "0x01".into(),
            at: Timestamp(0),
        },
    };
    let texts = [
        "@h withdraw",
        "@h withdraw",
        "@h who made this?",
        "@h bid 1 ETH",
    ];
    let sent_ok = vec![
        sent(1, who, texts[0], Intent::Withdraw, false),
        sent(2, who, texts[1], Intent::Withdraw, false),
        sent(3, who, texts[2], Intent::Question, true),
        sent(4, who, texts[3], Intent::Question, true),
    ];
    let events = vec![
        record(1, deposit.clone()),
        record(2, refund(who, 3 * ETH)),
        record(3, received(1, who, texts[0], TweetKind::Withdraw)),
        record(4, received(2, who, texts[1], TweetKind::Invalid)),
        record(5, received(4, who, texts[3], TweetKind::Question)),
    ];
    let j = judge(&events, &sent_ok, &crowd.members);
    assert!(j.disagreements.is_empty(), "{:?}", j.disagreements);
    assert!(j.missing.is_empty(), "{:?}", j.missing);
    assert_eq!(j.withdrawals, vec![(who, 3 * ETH)]);
    assert_eq!(j.deleted, (1, 1));

    // Refunding less than is free, or anything twice, is a disagreement.
    let short = vec![
        record(1, deposit.clone()),
        record(2, refund(who, 2 * ETH)),
        record(3, received(1, who, texts[0], TweetKind::Withdraw)),
    ];
    let j = judge(&short, &sent_ok[..1], &crowd.members);
    assert_eq!(j.disagreements.len(), 1, "{:?}", j.disagreements);
    let twice = vec![
        record(1, deposit),
        record(2, refund(who, 3 * ETH)),
        record(3, received(1, who, texts[0], TweetKind::Withdraw)),
        record(4, refund(who, 3 * ETH)),
        record(5, received(2, who, texts[1], TweetKind::Invalid)),
    ];
    let j = judge(&twice, &sent_ok[..2], &crowd.members);
    assert_eq!(j.disagreements.len(), 1, "{:?}", j.disagreements);
}
