//! The picture is a bidder's instant answer: a refused bid shows on the ticker at once with its
//! short reason, for 30 seconds, and never takes the leader's highlight.

use std::sync::Arc;

use domain::clock::{Clock, ManualClock, SharedClock};
use domain::engine::{Command, Engine, EngineConfig};
use store::{Audit, BidSource, Store, Timestamp, UserId, Wei};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bid_shows_with_its_reason_for_thirty_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::in_memory().unwrap());
    let manual = Arc::new(ManualClock::new(
        Timestamp::parse_rfc3339("2026-11-30T19:00:00Z").unwrap(),
    ));
    let clock: SharedClock = manual.clone();
    let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default()).unwrap();
    let h = engine.handle();
    h.execute(Command::CreateCampaign {
        spec: Box::new(domain::demo::live_spec(clock.now())),
        audit: Audit {
            actor: "test".into(),
            origin: "test".into(),
            reason: "ticker".into(),
        },
    })
    .await
    .unwrap();
    h.execute(Command::Tick).await.unwrap();
    h.execute(Command::SeeUser {
        id: UserId(7),
        handle: "bob".into(),
        account_created: Timestamp::parse_rfc3339("2020-01-01T00:00:00Z").unwrap(),
        simulated: false,
    })
    .await
    .unwrap();
    // Bob has no linked wallet: the bid is refused.
    h.execute(Command::PlaceBid {
        bidder: UserId(7),
        amount: Wei(100_000_000_000_000_000),
        source: BidSource::Tweet("1790000000000000001".into()),
        auction: None,
    })
    .await
    .unwrap();
    let view = |at: Timestamp| {
        let r = store.read().unwrap();
        let mut art = stream::viewmodel::ArtworkFiles::new(dir.path().into());
        stream::viewmodel::build(&r, at, &stream::host::HostLine::default(), &mut art).unwrap()
    };
    let now = manual.now();
    let vm = view(now);
    assert_eq!(vm.ticker.len(), 1, "{:?}", vm.ticker);
    let line = &vm.ticker[0];
    assert_eq!(
        (line.who.as_str(), line.amount.as_str()),
        ("@bob", "0.1 ETH")
    );
    assert_eq!(line.refused, "no linked wallet");
    assert!(view(now.plus_secs(29)).ticker.len() == 1);
    assert!(
        view(now.plus_secs(31)).ticker.is_empty(),
        "a refusal leaves the ticker after 30 s"
    );
}
