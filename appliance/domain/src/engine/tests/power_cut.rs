//! Durability at a power cut: the engine runs on a disk that keeps only what was synced (plus a
//! random part of what was written after the last sync, as a real disk's cache may), the power is
//! cut while bids pour in, and the database is opened again from what the disk kept. Every bid
//! the engine acknowledged is there, and the log checks out.

use std::io;
use std::sync::Mutex;

use super::*;

/// A disk whose writes reach the platter only at `sync_data`.
#[derive(Debug, Default)]
struct Disk {
    state: Mutex<DiskState>,
}

#[derive(Debug, Default)]
struct DiskState {
    /// What the machine sees (its page cache).
    cache: Vec<u8>,
    /// What survives a power cut.
    platter: Vec<u8>,
    /// Writes and resizes since the last sync, in order.
    unsynced: Vec<Unsynced>,
    /// After the cut: every write fails.
    dead: bool,
}

#[derive(Debug)]
enum Unsynced {
    Write(u64, Vec<u8>),
    Len(u64),
}

#[derive(Debug, Clone)]
struct Handle(Arc<Disk>);

fn resize(v: &mut Vec<u8>, len: u64) {
    v.resize(usize::try_from(len).expect("fits"), 0);
}

fn put(v: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let at = usize::try_from(offset).expect("fits");
    if v.len() < at + data.len() {
        v.resize(at + data.len(), 0);
    }
    v[at..at + data.len()].copy_from_slice(data);
}

impl Disk {
    fn from_image(image: Vec<u8>) -> Handle {
        Handle(Arc::new(Disk {
            state: Mutex::new(DiskState {
                cache: image.clone(),
                platter: image,
                unsynced: Vec::new(),
                dead: false,
            }),
        }))
    }

    /// Cuts the power: returns what the disk keeps, the platter with each unsynced write
    /// applied or lost at random (in order), and fails every later write.
    fn cut(&self, rng: &mut fastrand::Rng) -> (Vec<u8>, usize, usize) {
        let mut s = self.state.lock().unwrap();
        s.dead = true;
        let mut image = s.platter.clone();
        let (mut kept, mut lost) = (0, 0);
        for u in &s.unsynced {
            if rng.bool() {
                kept += 1;
                match u {
                    Unsynced::Write(offset, data) => put(&mut image, *offset, data),
                    Unsynced::Len(len) => resize(&mut image, *len),
                }
            } else {
                lost += 1;
            }
        }
        (image, kept, lost)
    }
}

fn dead() -> io::Error {
    io::Error::other("the power is off")
}

impl redb::StorageBackend for Handle {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.0.state.lock().unwrap().cache.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let s = self.0.state.lock().unwrap();
        let at = usize::try_from(offset).map_err(io::Error::other)?;
        let src = s
            .cache
            .get(at..at + out.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut s = self.0.state.lock().unwrap();
        if s.dead {
            return Err(dead());
        }
        resize(&mut s.cache, len);
        s.unsynced.push(Unsynced::Len(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut s = self.0.state.lock().unwrap();
        if s.dead {
            return Err(dead());
        }
        s.platter = s.cache.clone();
        s.unsynced.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut s = self.0.state.lock().unwrap();
        if s.dead {
            return Err(dead());
        }
        put(&mut s.cache, offset, data);
        s.unsynced.push(Unsynced::Write(offset, data.to_vec()));
        Ok(())
    }
}

/// One run: bids from `writers` tasks until the cut after `before_cut` acknowledgements.
async fn run_until_cut(seed: u64, writers: u64, before_cut: usize) {
    let disk = Handle(Arc::new(Disk::default()));
    let store = Arc::new(Store::with_backend(disk.clone()).unwrap());
    let clock = Arc::new(ManualClock::new(opening().plus_secs(-3600)));
    let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default()).unwrap();
    let h = engine.handle();
    h.execute(Command::CreateCampaign {
        spec: Box::new(spec(2, open_rules())),
        audit: audit("setup"),
    })
    .await
    .unwrap();
    for id in 1..=writers {
        let user = UserId(id);
        h.execute(Command::SeeUser {
            id: user,
            handle: format!("bidder{id}"),
            account_created: opening().plus_secs(-400 * 86_400),
            simulated: false,
        })
        .await
        .unwrap();
        let address = Address([id as u8; 20]);
        h.execute(Command::LinkWallet {
            user,
            address,
            verified: true,
        })
        .await
        .unwrap();
        h.execute(Command::RecordDeposit {
            from: address,
            amount: eth(1_000_000),
            reference: format!("0xdep{id}"),
        })
        .await
        .unwrap();
    }
    clock.set(opening());
    h.execute(Command::Tick).await.unwrap();

    let acked = Arc::new(Mutex::new(Vec::new()));
    let (cut_tx, cut_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for id in 1..=writers {
        let (h, acked, cut) = (h.clone(), acked.clone(), cut_rx.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0u64.. {
                if *cut.borrow() {
                    return;
                }
                let amount = eth(100 + (n * writers + id) * 20);
                match h
                    .execute(Command::PlaceBid {
                        bidder: UserId(id),
                        amount,
                        source: BidSource::Operator(format!("{id}-{n}")),
                        auction: None,
                    })
                    .await
                {
                    Ok(Reply::Bid(r)) => acked.lock().unwrap().push(r.bid),
                    Ok(other) => panic!("{other:?}"),
                    // Refused after the cut: never acknowledged.
                    Err(_) => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < before_cut {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let (image, kept, lost) = disk.0.cut(&mut rng);
    // What was acknowledged before the cut: the engine answers only after the sync.
    let promised: Vec<store::BidId> = acked.lock().unwrap().clone();
    let _ = cut_tx.send(true);
    for t in tasks {
        t.await.unwrap();
    }
    drop(h);
    engine.shutdown().await;

    let reopened = Store::with_backend(Disk::from_image(image)).unwrap_or_else(|e| {
        panic!("seed {seed}: the database does not open after the cut ({kept} unsynced writes kept, {lost} lost): {e}")
    });
    let r = reopened.read().unwrap();
    for id in &promised {
        assert!(
            r.bid(*id).unwrap().is_some(),
            "seed {seed}: acknowledged bid {id} lost ({kept} unsynced writes kept, {lost} lost)"
        );
    }
    drop(r);
    let report = store::check::run(&reopened).unwrap();
    assert!(report.ok(), "seed {seed}: {:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_loses_no_acknowledged_bid() {
    for seed in 0..12 {
        run_until_cut(seed, 4, 20 + (seed as usize) * 7).await;
    }
}

/// A write that fails part-way (a full disk) leaves redb refusing every later write until the
/// database is opened again: the engine ends, so the process exits and is started afresh,
/// rather than staying up unable to write once the disk has room again.
#[tokio::test]
async fn a_failed_write_ends_the_engine_for_a_restart() {
    let disk = Handle(Arc::new(Disk::default()));
    let store = Arc::new(Store::with_backend(disk.clone()).unwrap());
    let clock = Arc::new(ManualClock::new(opening().plus_secs(-3600)));
    let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default()).unwrap();
    let h = engine.handle();
    let see = |id: u64| Command::SeeUser {
        id: UserId(id),
        handle: format!("bidder{id}"),
        account_created: opening().plus_secs(-400 * 86_400),
        simulated: false,
    };
    h.execute(see(1)).await.unwrap();
    disk.0.state.lock().unwrap().dead = true;
    let full = h.execute(see(2)).await.unwrap_err();
    assert_eq!(full.code, "storage", "{full:?}");
    // The disk has room again; the database does not take writes until it is reopened.
    disk.0.state.lock().unwrap().dead = false;
    let _ = h.execute(see(3)).await;
    let mut died = h.died();
    let why = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        died.wait_for(Option::is_some),
    )
    .await
    .expect("the engine ends")
    .unwrap()
    .clone()
    .unwrap();
    assert!(why.contains("opened again"), "{why}");
    // What was committed before the failure is there when the database is opened again.
    let image = disk.0.state.lock().unwrap().platter.clone();
    let reopened = Store::with_backend(Disk::from_image(image)).unwrap();
    assert!(reopened.read().unwrap().user(UserId(1)).unwrap().is_some());
}
