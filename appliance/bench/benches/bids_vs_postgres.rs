//! Durable bids: the appliance's engine on redb against the storage the original design used,
//! PostgreSQL, measured in the same run on the same disk.
//!
//! The PostgreSQL side does the same work per bid, in one transaction with
//! `synchronous_commit = on`: the idempotency lookup, the live auction (locked, as the engine is
//! the single writer), the bidder, their wallet and escrow, the same rules function, the bid and
//! its idempotency key, both escrow rows, the auction, a hash-chained event with the same
//! encoding, and the two outbox rows (reply, outbid notice).
//!
//! Run it with `appliance/bench/benches/bids-vs-postgres.sh`, which starts a throwaway PostgreSQL cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bench::bids::{BenchResult, bench_bids, bench_rules, gather, print_table, summarize};
use domain::engine::rules::{self, BidContext};
use store::{
    Auction, AuctionId, AuctionState, Balance, Bid, BidId, BidSource, CampaignId, Event, ItemId,
    Timestamp, User, UserId, WalletLink, Wei,
};
use tokio_postgres::{Client, NoTls, Statement};

/// A submitter's failure, as an error type `gather` can carry.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
struct PgError(#[from] anyhow::Error);

const SCHEMA: &str = "
DROP TABLE IF EXISTS auctions, users, wallets, balances, bids, bid_sources, events, outbox;
CREATE TABLE auctions (id BIGINT PRIMARY KEY, state TEXT NOT NULL, starts_at BIGINT NOT NULL, ends_at BIGINT NOT NULL,
  price NUMERIC(78,0) NOT NULL, leader BIGINT, leading_bid BIGINT, bids_accepted INT NOT NULL, bids_rejected INT NOT NULL,
  extensions INT NOT NULL);
CREATE TABLE users (id BIGINT PRIMARY KEY, handle TEXT NOT NULL, account_created BIGINT NOT NULL);
CREATE TABLE wallets (user_id BIGINT PRIMARY KEY, address BYTEA NOT NULL UNIQUE, verified BOOLEAN NOT NULL);
CREATE TABLE balances (user_id BIGINT PRIMARY KEY, deposited NUMERIC(78,0) NOT NULL, withdrawn NUMERIC(78,0) NOT NULL,
  committed NUMERIC(78,0) NOT NULL, won NUMERIC(78,0) NOT NULL);
CREATE TABLE bids (id BIGSERIAL PRIMARY KEY, auction BIGINT, bidder BIGINT NOT NULL, amount NUMERIC(78,0) NOT NULL,
  placed_at BIGINT NOT NULL, source TEXT NOT NULL, rejection TEXT);
CREATE INDEX bids_by_auction ON bids (auction, id);
CREATE INDEX bids_by_user ON bids (bidder, id);
CREATE TABLE bid_sources (key TEXT PRIMARY KEY, bid BIGINT NOT NULL);
CREATE TABLE events (seq BIGINT PRIMARY KEY, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL, at BIGINT NOT NULL, payload BYTEA NOT NULL);
CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, event_seq BIGINT NOT NULL, notice TEXT NOT NULL, status TEXT NOT NULL);
";

fn wei(text: &str) -> anyhow::Result<Wei> {
    Ok(Wei(text
        .parse()
        .with_context(|| format!("numeric {text:?}"))?))
}

async fn connect(conninfo: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(conninfo, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection: {e}");
        }
    });
    Ok(client)
}

async fn setup(conninfo: &str, submitters: usize) -> anyhow::Result<()> {
    let c = connect(conninfo).await?;
    c.batch_execute(SCHEMA).await?;
    let now = Timestamp::from_datetime(chrono::Utc::now());
    c.execute(
        "INSERT INTO auctions VALUES (1, 'active', $1, $2, 0, NULL, NULL, 0, 0, 0)",
        &[&now.plus_secs(-60).0, &now.plus_secs(3600).0],
    )
    .await?;
    for i in 1..=submitters as i64 {
        c.execute(
            "INSERT INTO users VALUES ($1, $2, 0)",
            &[&i, &format!("bench{i}")],
        )
        .await?;
        c.execute(
            "INSERT INTO wallets VALUES ($1, $2, true)",
            &[&i, &i.to_be_bytes().to_vec()],
        )
        .await?;
        c.execute(
            "INSERT INTO balances VALUES ($1, $2::text::numeric, 0, 0, 0)",
            &[&i, &Wei::from_eth(1_000_000_000).0.to_string()],
        )
        .await?;
    }
    c.execute(
        "INSERT INTO events VALUES (0, $1, $1, 0, '')",
        &[&vec![0u8; 32]],
    )
    .await?;
    Ok(())
}

/// Statements prepared once per connection.
struct Prepared {
    source: Statement,
    auction: Statement,
    user: Statement,
    wallet: Statement,
    balance: Statement,
    head: Statement,
    next_id: Statement,
    insert_bid: Statement,
    insert_source: Statement,
    release: Statement,
    commit_escrow: Statement,
    lead: Statement,
    reject: Statement,
    insert_event: Statement,
    insert_outbox: Statement,
}

impl Prepared {
    async fn new(c: &Client) -> anyhow::Result<Prepared> {
        Ok(Prepared {
            source: c.prepare("SELECT bid FROM bid_sources WHERE key = $1").await?,
            auction: c
                .prepare(
                    "SELECT id, starts_at, ends_at, price::text, leader, leading_bid, bids_accepted, bids_rejected, extensions
                     FROM auctions WHERE state = 'active' ORDER BY id DESC LIMIT 1 FOR UPDATE",
                )
                .await?,
            user: c.prepare("SELECT handle, account_created FROM users WHERE id = $1").await?,
            wallet: c.prepare("SELECT address, verified FROM wallets WHERE user_id = $1").await?,
            balance: c
                .prepare("SELECT deposited::text, withdrawn::text, committed::text, won::text FROM balances WHERE user_id = $1")
                .await?,
            head: c.prepare("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").await?,
            next_id: c.prepare("SELECT nextval('bids_id_seq')").await?,
            insert_bid: c
                .prepare(
                    "INSERT INTO bids (id, auction, bidder, amount, placed_at, source, rejection)
                     VALUES ($1, $2, $3, $4::text::numeric, $5, $6, $7)",
                )
                .await?,
            insert_source: c.prepare("INSERT INTO bid_sources VALUES ($1, $2)").await?,
            release: c
                .prepare("UPDATE balances SET committed = committed - $2::text::numeric WHERE user_id = $1")
                .await?,
            commit_escrow: c
                .prepare("UPDATE balances SET committed = committed + $2::text::numeric WHERE user_id = $1")
                .await?,
            lead: c
                .prepare(
                    "UPDATE auctions SET price = $2::text::numeric, leader = $3, leading_bid = $4,
                     bids_accepted = bids_accepted + 1, ends_at = $5 WHERE id = $1",
                )
                .await?,
            reject: c.prepare("UPDATE auctions SET bids_rejected = bids_rejected + 1 WHERE id = $1").await?,
            insert_event: c.prepare("INSERT INTO events VALUES ($1, $2, $3, $4, $5)").await?,
            insert_outbox: c
                .prepare("INSERT INTO outbox (event_seq, notice, status) VALUES ($1, $2, 'pending')")
                .await?,
        })
    }
}

/// One bid, as the engine handles it, in one PostgreSQL transaction: the reads pipelined in one
/// round trip (the auction row locked, as the engine is the single writer), the rules, then all
/// writes pipelined in a second, then the durable commit.
async fn place_bid(
    c: &mut Client,
    p: &Prepared,
    bidder: i64,
    amount: Wei,
    source: &str,
    rules_: &store::AuctionRules,
) -> anyhow::Result<bool> {
    let tx = c.transaction().await?;
    let key = format!("tweet:{source}");
    let (known, a, u, w, b, head, id) = tokio::join!(
        async { tx.query_opt(&p.source, &[&key]).await },
        async { tx.query_one(&p.auction, &[]).await },
        async { tx.query_opt(&p.user, &[&bidder]).await },
        async { tx.query_opt(&p.wallet, &[&bidder]).await },
        async { tx.query_one(&p.balance, &[&bidder]).await },
        async { tx.query_one(&p.head, &[]).await },
        async { tx.query_one(&p.next_id, &[]).await },
    );
    if known?.is_some() {
        tx.commit().await?;
        return Ok(false);
    }
    let (a, b, head) = (a?, b?, head?);
    let id: i64 = id?.get(0);
    let auction = Auction {
        id: AuctionId(a.get::<_, i64>(0) as u64),
        campaign: CampaignId(1),
        day: 1,
        item: ItemId(1),
        pre_start: Timestamp(a.get(1)),
        starts_at: Timestamp(a.get(1)),
        scheduled_end: Timestamp(a.get(2)),
        ends_at: Timestamp(a.get(2)),
        post_end: Timestamp(a.get(2)),
        state: AuctionState::Active,
        rules: rules_.clone(),
        leading_bid: a.get::<_, Option<i64>>(5).map(|b| BidId(b as u64)),
        leader: a.get::<_, Option<i64>>(4).map(|u| UserId(u as u64)),
        price: wei(a.get(3))?,
        bids_accepted: a.get::<_, i32>(6) as u32,
        bids_rejected: a.get::<_, i32>(7) as u32,
        extensions: a.get::<_, i32>(8) as u32,
        paused_remaining_micros: None,
        started_at: None,
        closed_at: None,
        finished_at: None,
    };
    let user = u?.map(|u| User {
        id: UserId(bidder as u64),
        handle: u.get(0),
        account_created: Timestamp(u.get(1)),
        first_seen: Timestamp(0),
        simulated: false,
    });
    let wallet = w?.map(|w| WalletLink {
        user: UserId(bidder as u64),
        address: store::Address::default(),
        verified: w.get(1),
        linked_at: Timestamp(0),
    });
    let balance = Balance {
        deposited: wei(b.get(0))?,
        withdrawn: wei(b.get(1))?,
        leading: wei(b.get(2))?,
        won: wei(b.get(3))?,
    };
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let ctx = BidContext {
        auction: &auction,
        bidder: UserId(bidder as u64),
        user: user.as_ref(),
        wallet: wallet.as_ref(),
        balance: &balance,
        recent_bids: 0,
        now,
        amount,
    };
    let outcome = rules::evaluate(&ctx);
    let rejection = outcome.as_ref().err().map(|r| r.code.clone());
    let bid = Bid {
        id: BidId(id as u64),
        auction: Some(auction.id),
        bidder: UserId(bidder as u64),
        amount,
        placed_at: now,
        source: BidSource::Tweet(source.to_string()),
        rejection: outcome.as_ref().err().cloned(),
    };
    let accepted = outcome.is_ok();
    let auction_id = auction.id.0 as i64;
    let (amount_text, price_text) = (amount.0.to_string(), auction.price.0.to_string());
    let prev_leader = auction.leader.map(|l| l.0 as i64);
    let event = match outcome {
        Ok(acceptance) => Event::BidAccepted {
            bid,
            ends_at: acceptance.ends_at,
            extended: acceptance.extended,
        },
        Err(_) => Event::BidRejected { bid },
    };
    let ends_at = match &event {
        Event::BidAccepted { ends_at, .. } => ends_at.0,
        _ => auction.ends_at.0,
    };
    let (seq, prev_hash): (i64, Vec<u8>) = (head.get::<_, i64>(0) + 1, head.get(1));
    let mut prev = [0u8; 32];
    prev.copy_from_slice(&prev_hash);
    let payload = store::encode(&event);
    let hash = store::chain_hash(&prev, seq as u64, now, &payload).to_vec();
    let outbid = accepted && prev_leader.is_some();
    let (r1, r2, r3, r4, r5, r6, r7, r8) = tokio::join!(
        async {
            tx.execute(
                &p.insert_bid,
                &[
                    &id,
                    &auction_id,
                    &bidder,
                    &amount_text,
                    &now.0,
                    &key,
                    &rejection,
                ],
            )
            .await
        },
        async { tx.execute(&p.insert_source, &[&key, &id]).await },
        async {
            match (accepted, prev_leader) {
                (true, Some(prev)) => tx.execute(&p.release, &[&prev, &price_text]).await,
                _ => Ok(0),
            }
        },
        async {
            if accepted {
                tx.execute(&p.commit_escrow, &[&bidder, &amount_text]).await
            } else {
                Ok(0)
            }
        },
        async {
            if accepted {
                tx.execute(
                    &p.lead,
                    &[&auction_id, &amount_text, &bidder, &id, &ends_at],
                )
                .await
            } else {
                tx.execute(&p.reject, &[&auction_id]).await
            }
        },
        async {
            tx.execute(
                &p.insert_event,
                &[&seq, &prev_hash, &hash, &now.0, &payload],
            )
            .await
        },
        async {
            tx.execute(
                &p.insert_outbox,
                &[
                    &seq,
                    &if accepted {
                        "bid_accepted"
                    } else {
                        "bid_rejected"
                    },
                ],
            )
            .await
        },
        async {
            if outbid {
                tx.execute(&p.insert_outbox, &[&seq, &"outbid"]).await
            } else {
                Ok(0)
            }
        },
    );
    for r in [r1, r2, r3, r4, r5, r6, r7, r8] {
        r?;
    }
    tx.commit().await?;
    Ok(accepted)
}

async fn bench_postgres(
    conninfo: &str,
    submitters: usize,
    duration: Duration,
) -> anyhow::Result<BenchResult> {
    setup(conninfo, submitters).await?;
    let mut clients = Vec::with_capacity(submitters);
    for _ in 0..submitters {
        let client = connect(conninfo).await?;
        let prepared = Prepared::new(&client).await?;
        clients.push((client, prepared));
    }
    let counter = Arc::new(AtomicU64::new(0));
    let rules = bench_rules();
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (mut client, prepared))| {
            let (counter, rules) = (counter.clone(), rules.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let mut accepted = 0u64;
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let amount = Wei(1_000_000_000_000_000 + u128::from(n));
                    let source = format!("{:019}", 1_800_000_000_000_000_000u64 + n);
                    let t = Instant::now();
                    let ok = place_bid(
                        &mut client,
                        &prepared,
                        i as i64 + 1,
                        amount,
                        &source,
                        &rules,
                    )
                    .await?;
                    latencies.push(t.elapsed().as_micros() as u64);
                    accepted += u64::from(ok);
                }
                Ok::<_, PgError>((latencies, accepted))
            })
        })
        .collect();
    let (latencies, accepted) = gather(tasks).await?;
    let elapsed = start.elapsed();
    let commits = latencies.len() as u64;
    Ok(summarize(
        "PostgreSQL 15 (1 txn/bid)",
        submitters,
        latencies,
        accepted,
        elapsed,
        commits,
    ))
}

fn main() -> anyhow::Result<()> {
    let mut conninfo = None;
    let mut dir = std::env::temp_dir();
    let mut seconds = 5.0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pg" => conninfo = args.next(),
            "--dir" => dir = args.next().map(Into::into).unwrap_or(dir),
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seconds),
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    let Some(conninfo) = conninfo else {
        bail!(
            "give --pg 'host=... user=... dbname=...' (appliance/bench/benches/bids-vs-postgres.sh does)"
        );
    };
    let duration = Duration::from_secs_f64(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let scratch = tempfile::Builder::new()
        .prefix("sothebais-bench-")
        .tempdir_in(&dir)?;
    let mut rows = Vec::new();
    for submitters in [1usize, 16, 256] {
        let ours = runtime.block_on(bench_bids(scratch.path(), submitters, duration))?;
        let theirs = runtime.block_on(bench_postgres(&conninfo, submitters, duration))?;
        rows.push((ours, theirs));
    }
    let flat: Vec<BenchResult> = rows
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    print_table(&flat, &mut std::io::stdout())?;
    println!();
    for (ours, theirs) in &rows {
        println!(
            "{:>3} submitters: redb/PostgreSQL throughput {:.1}x, p99 {:.2} ms vs {:.2} ms ({:.1}x lower)",
            ours.submitters,
            ours.per_sec / theirs.per_sec.max(1e-9),
            ours.p99_us as f64 / 1000.0,
            theirs.p99_us as f64 / 1000.0,
            theirs.p99_us as f64 / (ours.p99_us as f64).max(1.0)
        );
    }
    Ok(())
}
