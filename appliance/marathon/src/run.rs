//! One marathon: the peers up, the appliance configured and started, then the campaign run on
//! the shared clock with the crowd tweeting, the operator acting and the faults coming; each
//! simulated day checked from a backup; at the end the oracle, the invariants and the report.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use appliance::warp::wall_ms;
use peers::hardhat::{Hardhat, custody_keystore};
use peers::nginx::{Nginx, free_port};
use serde_json::{Value, json};
use store::{AuctionState, Timestamp, View};

use crate::Args;
use crate::checks;
use crate::clock::SimTime;
use crate::crowd::{self, Crowd, ETH, HOST, HOST_ID, Live};
use crate::daily::{all_events, check_day, owed};
use crate::faults::{self, Fault};
use crate::operator::{Login, Op, answer, operate, review, sign_in};
use crate::oracle;
use crate::recovery::{Watch, part_states, watch};
use crate::report::{self, DayCheck, FaultRecord, Report, Sample};
use crate::setup;
use crate::world::{
    Admin, Appliance, Model, ModelMode, Proxy, deposit, fill_disk, metric, reorg, restart,
    small_disk, tiny_png, unmount,
};

/// The treasury: a fresh address that receives the sales.
const TREASURY: &str = "0x00000000000000000000000000000000007ea5e7";

/// The data's small disk, unmounted when the run ends however it ends (declared before the
/// appliance, so dropped after it).
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        unmount(&self.0);
    }
}

/// Something to do at a real instant (the second half of a fault, an operator's resume).
enum Later {
    IngestUp,
    RpcUp,
    ModelSlow,
    ModelUp,
    DiskFree(PathBuf),
    ClockBack,
    Resume(u64),
}

struct Scheduled {
    at_sim: Timestamp,
    what: Planned,
}

enum Planned {
    Fault(Fault),
    Pause,
    Extend,
    Upload,
    Override,
    /// Tweets wait for the operator's approval (a setting, applied by a restart) or no more.
    Approvals(bool),
}

/// Runs the marathon; `Ok(true)` when every invariant held.
pub fn run(args: &Args) -> anyhow::Result<bool> {
    if args.days == 0 || args.days > 366 {
        bail!("--days must be 1 to 366");
    }
    if !(args.speed.is_finite() && (1.0..=100_000.0).contains(&args.speed)) {
        bail!("--speed must be 1 to 100000");
    }
    let enabled = faults::parse(&args.faults).map_err(anyhow::Error::msg)?;
    let seed = if args.seed == 0 {
        wall_ms() as u64
    } else {
        args.seed
    };
    let program = match &args.appliance {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory for this program")?
            .join("appliance"),
    };
    if !program.exists() {
        bail!(
            "no appliance program at {} (build it: cargo build -p appliance, or give --appliance)",
            program.display()
        );
    }
    let out = std::path::absolute(&args.out)?;
    if out.exists() && std::fs::read_dir(&out)?.next().is_some() {
        bail!("{} is not empty; give another --out", out.display());
    }
    std::fs::create_dir_all(&out)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    println!(
        "marathon: {} day(s) at x{}, faults: {}, seed {seed}, report in {}",
        args.days,
        args.speed,
        if enabled.is_empty() {
            "none".to_string()
        } else {
            enabled
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(",")
        },
        out.display()
    );

    // The chain: a node, the NFT minted to custody, custody funded for gas.
    let hh = Hardhat::start(&out.join("hardhat.log"));
    let nft = hh.deploy_nft();
    let keys = out.join("keys");
    std::fs::create_dir_all(&keys)?;
    let (keystore, passphrase, custody) = custody_keystore(&keys, 0x42);
    for day in 1..=u64::from(args.days) {
        hh.mint(&nft, &custody, day);
    }
    hh.set_balance(&custody, 50 * ETH);
    let rpc_target = hh.url.trim_start_matches("http://").to_string();
    let providers = [
        rt.block_on(Proxy::start(rpc_target.clone()))?,
        rt.block_on(Proxy::start(rpc_target))?,
    ];

    // The ingest, X, the model.
    let mut nginx = Nginx::start(&out);
    let x = xserver::XApi::start(HOST, HOST_ID);
    let model = rt.block_on(Model::start())?;

    // The campaign: days from today (New York), bidding 10:00-18:00; the clock starts three
    // hours before the first auction.
    let tz: chrono_tz::Tz = setup::ZONE.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let windows = setup::windows(args)?;
    let days = domain::schedule::plan_days(today, args.days, &windows, tz)?;
    let sim_start = days[0]
        .starts_at
        .plus_secs(-60 * i64::from(args.lead_minutes));
    let clock = SimTime::start(&out.join("clock"), sim_start, args.speed)?;
    {
        let c = clock.clone();
        x.use_clock(std::sync::Arc::new(move || c.now().to_datetime()));
    }
    let mut crowd = Crowd::new(args.bidders, seed, sim_start);
    crowd.register(&x);

    // The data on a small disk of its own when this machine lets us mount one.
    let disk = out.join("disk");
    let (disk_note, _mounted) = match small_disk(&disk, 512) {
        Ok(()) => (None, Some(Mounted(disk.clone()))),
        Err(e) => (Some(format!("{e:#}")), None),
    };
    let data = disk.join("data");
    let web_port = free_port();
    let config_path = out.join("appliance.toml");
    let contract: store::Address = nft.parse().map_err(anyhow::Error::msg)?;
    let config = setup::config(
        args,
        setup::Peers {
            data: &data,
            web_port,
            rtmp: format!("rtmp://127.0.0.1:{}/live/marathon", nginx.rtmp_port),
            x: &x.url,
            model: &model.url,
            keystore,
            passphrase,
            treasury: TREASURY,
        },
        setup::campaign(args, today, windows, contract),
    );
    std::fs::write(&config_path, toml::to_string(&config)?)?;
    let env = setup::environment(
        clock.file(),
        [providers[0].url.as_str(), providers[1].url.as_str()],
    );
    // The operator's account, made before the first start.
    let password = format!("marathon-{seed:x}-operator");
    setup::set_password(&program, &data, &config_path, &env, &password)?;
    let mut app = Appliance::new(
        program.clone(),
        config_path,
        data.clone(),
        out.join("appliance.log"),
        env,
    );
    restart(&mut app)?;
    let base = format!("https://127.0.0.1:{web_port}");
    let mut admin = sign_in(&rt, &base, &data, &password)?;
    let login = Login {
        base: base.clone(),
        data: data.clone(),
        password: password.clone(),
    };

    // Wallets linked by signed tweets, then escrow deposits from them.
    crowd.link_wallets(&x, clock.now());
    let mut deposits_sent: Vec<(String, u128, String)> = Vec::new();
    for (address, amount) in crowd.depositors() {
        let hash = deposit(&hh, &address, &custody, amount);
        deposits_sent.push((address, amount, hash));
    }

    // What happens when: each day's faults and operator actions, at simulated instants.
    let plan = faults::schedule(&enabled, args.days);
    let mut scheduled: Vec<Scheduled> = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let span = d.ends_at.micros_since(d.starts_at);
        let n = plan[i].len() as i64;
        for (k, f) in plan[i].iter().enumerate() {
            scheduled.push(Scheduled {
                at_sim: d
                    .starts_at
                    .plus_micros(span * (k as i64 + 1) / (n + 1) - span / (4 * (n + 1))),
                what: Planned::Fault(*f),
            });
        }
        // The operator's day: one action in turn, or every one in a run of one or two days.
        let all = args.days < 3;
        let actions = [
            (1, Planned::Pause, 0.15),
            (0, Planned::Upload, 0.3),
            (2, Planned::Extend, 0.45),
            (0, Planned::Override, 0.6),
            (2, Planned::Approvals(true), 0.5),
            (2, Planned::Approvals(false), 0.7),
        ];
        for (turn, what, share) in actions {
            if all || d.day % 3 == turn {
                scheduled.push(Scheduled {
                    at_sim: d.starts_at.plus_micros((span as f64 * share) as i64),
                    what,
                });
            }
        }
    }
    scheduled.sort_by_key(|s| s.at_sim);
    scheduled.reverse();

    let mut later: Vec<(Instant, Later)> = Vec::new();
    let mut records: Vec<FaultRecord> = Vec::new();
    let mut recovering: Vec<Watch> = Vec::new();
    let mut disk_window: Option<Instant> = None;
    let mut fault_restarts = 0usize;
    let mut all_checked: Option<Instant> = None;
    // After a restart the session is gone: sign in again, once a second until it works (the
    // appliance may be down again meanwhile).
    let mut admin_due = false;
    let mut last_sign_in = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut day_checks: Vec<DayCheck> = Vec::new();
    let mut ingest_down: Vec<(f64, f64)> = Vec::new();
    let mut operator_log: Vec<String> = Vec::new();
    let mut unexpected_exits: Vec<String> = Vec::new();
    let mut healthy: BTreeSet<String> = BTreeSet::new();
    let mut live: Option<Live> = None;
    let mut last_status = Instant::now() - Duration::from_secs(1);
    let mut x_reading = false;
    let mut last_sample = Instant::now() - Duration::from_secs(1);
    let mut last_block = Instant::now();
    let mut checked_days = 0u32;
    // Each day, once its auction is over, one bidder takes their free escrow back (and
    // deposits again when the day is checked, for the next auction).
    let mut withdrawal_days = 0u32;
    let mut withdrew: Vec<(u32, usize)> = Vec::new();
    let mut last_leader: Option<u64> = None;
    // While tweets wait for approval, the operator reviews the queue every few seconds:
    // approves most, rejects one in seven.
    let mut reviewing: Option<Instant> = None;
    let mut approvals_on = false;
    let mut operator_restarts = 0usize;
    let mut reviewed = (0usize, 0usize);
    let withdrawers: Vec<usize> = crowd
        .members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.links && m.persona != crowd::Persona::Underfunded)
        .map(|(i, _)| i)
        .collect();
    let mut reorg_member = 0usize;
    let last = *days.last().context("no days")?;
    let finish_by = Instant::now()
        + clock.real(last.post_end.micros_since(clock.now()) as f64 / 1e6)
        + Duration::from_secs(600);

    loop {
        let now = clock.now();
        // The service manager: an appliance that stopped by itself is counted and started again.
        if let Some(status) = app.exited() {
            let during_disk_fault = disk_window.is_some_and(|until| Instant::now() < until);
            if during_disk_fault {
                fault_restarts += 1;
                if let Some(r) = records.iter_mut().rev().find(|r| r.fault == Fault::Disk) {
                    r.note.push_str(&format!(
                        "; the appliance exited ({status}) and was started again"
                    ));
                }
            } else {
                unexpected_exits.push(format!("{status} at {now}; log: {}", app.log_tail(5)));
            }
            restart(&mut app)?;
            admin_due = true;
        }
        if admin_due && last_sign_in.elapsed() >= Duration::from_secs(1) {
            last_sign_in = Instant::now();
            let cert = std::fs::read_to_string(data.join("web/tls/cert.pem")).unwrap_or_default();
            if let Ok(a) = rt.block_on(Admin::sign_in(&base, &cert, "operator", &password)) {
                admin = a;
                admin_due = false;
            }
        }
        if last_status.elapsed() >= Duration::from_millis(50) {
            last_status = Instant::now();
            if let Ok(status) = app.request(&json!({"op": "status"})) {
                live = Live::from_status(&status);
                let states = part_states(&status);
                x_reading = states
                    .iter()
                    .filter(|(p, _)| p.starts_with("x."))
                    .all(|(_, s)| s == "ok");
                if healthy.is_empty() && started.elapsed() > Duration::from_secs(20) {
                    healthy = states
                        .iter()
                        .filter(|(_, s)| s.as_str() == "ok")
                        .map(|(p, _)| p.clone())
                        .collect();
                }
                let requests = model.requests.load(std::sync::atomic::Ordering::SeqCst);
                recovering.retain_mut(|w| match w.done(&states, requests) {
                    Some(secs) => {
                        records[w.index].recovery_secs = Some(secs);
                        false
                    }
                    None => true,
                });
            }
        }
        crowd.step(&x, now, live.as_ref());
        if let Some(l) = &live {
            last_leader = l.leader;
        }
        while withdrawal_days < args.days {
            let d = &days[withdrawal_days as usize];
            let after = d
                .ends_at
                .plus_micros(d.post_end.micros_since(d.ends_at) / 3);
            if now < after || live.is_some() {
                break;
            }
            withdrawal_days += 1;
            let pick = withdrawers
                .iter()
                .cycle()
                .skip(withdrawal_days as usize)
                .take(withdrawers.len())
                .find(|i| Some(crowd.members[**i].id) != last_leader)
                .copied();
            if let Some(i) = pick {
                let id = crowd.withdraw(&x, i, now);
                println!(
                    "  {now}  {} tweets withdraw ({id})",
                    crowd.members[i].handle
                );
                withdrew.push((withdrawal_days, i));
            }
        }

        if last_block.elapsed() >= Duration::from_millis(400) {
            last_block = Instant::now();
            hh.mine(1);
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            last_sample = Instant::now();
            let metrics = rt.block_on(admin.metrics()).unwrap_or_default();
            let (rss_kib, cpu_ticks) = app.usage().unwrap_or((0, 0));
            samples.push(Sample {
                real_secs: started.elapsed().as_secs_f64(),
                rss_kib,
                cpu_ticks,
                life: app.starts,
                frames: metric(&metrics, "sothebais_stream_frames_total"),
                late_frames: metric(&metrics, "sothebais_stream_late_frames_total"),
                dropped_frames: metric(&metrics, "sothebais_stream_network_dropped_frames_total"),
                connected: metric(&metrics, "sothebais_stream_connected"),
                x_spend_usd: metric(&metrics, "sothebais_x_spend_micro_usd") / 1e6,
            });
        }

        if reviewing.is_some_and(|t| t.elapsed() >= Duration::from_secs(2)) {
            reviewing = Some(Instant::now());
            let held = review(
                &rt,
                &mut admin,
                &login,
                &mut reviewed,
                &mut operator_log,
                now,
            );
            // Once approvals are off again, reviewing goes on until nothing waits.
            if held == 0 && !approvals_on {
                reviewing = None;
            }
        }

        // Second halves.
        let due: Vec<Later> = {
            let (due, keep): (Vec<_>, Vec<_>) =
                later.drain(..).partition(|(at, _)| *at <= Instant::now());
            later = keep;
            due.into_iter().map(|(_, l)| l).collect()
        };
        for l in due {
            match l {
                Later::IngestUp => {
                    nginx.restart();
                    if let Some(last) = ingest_down.last_mut() {
                        last.1 = started.elapsed().as_secs_f64();
                    }
                    watch(&mut recovering, &records, Fault::Ingest, &healthy, &model);
                }
                Later::RpcUp => {
                    providers[0].set_down(false);
                    watch(&mut recovering, &records, Fault::Rpc, &healthy, &model);
                }
                Later::ModelSlow => model.set(ModelMode::Slow),
                Later::ModelUp => {
                    model.set(ModelMode::Up);
                    watch(&mut recovering, &records, Fault::Llm, &healthy, &model);
                }
                Later::DiskFree(file) => {
                    let _ = std::fs::remove_file(&file);
                    watch(&mut recovering, &records, Fault::Disk, &healthy, &model);
                }
                Later::ClockBack => {
                    clock.jump(-300)?;
                    watch(&mut recovering, &records, Fault::Clock, &healthy, &model);
                }
                Later::Resume(id) => {
                    let r = operate(
                        &rt,
                        &mut admin,
                        &login,
                        Op::Post(
                            format!("/api/v1/auctions/{id}/resume"),
                            json!({"reason": "marathon: back"}),
                        ),
                    );
                    operator_log.push(format!("{now}: resume auction {id}: {}", answer(&r)));
                }
            }
        }

        // What is due now.
        while scheduled.last().is_some_and(|s| s.at_sim <= now) {
            let Some(s) = scheduled.pop() else { break };
            match s.what {
                Planned::Fault(f) => {
                    let index = records.len();
                    let mut record = FaultRecord {
                        fault: f,
                        sim: now,
                        real_secs: started.elapsed().as_secs_f64(),
                        recovery_secs: None,
                        note: String::new(),
                    };
                    match f {
                        Fault::Kill => {
                            let t = Instant::now();
                            app.kill();
                            restart(&mut app)?;
                            admin_due = true;
                            record.note = format!(
                                "control socket back in {:.2} s",
                                t.elapsed().as_secs_f64()
                            );
                            recovering.push(Watch::parts(index, t, &healthy, &[""]));
                        }
                        Fault::Ingest => {
                            nginx.kill();
                            ingest_down.push((started.elapsed().as_secs_f64(), f64::MAX));
                            later.push((Instant::now() + Duration::from_secs(4), Later::IngestUp));
                            record.note = "nginx killed for 4 s".into();
                        }
                        Fault::X => {
                            x.fail_next("stream", &[429, 503, 503, 429]);
                            x.fail_next("mentions", &[503, 429, 503]);
                            x.fail_next("search", &[503, 429]);
                            x.fail_next("tweets", &[503, 503, 429]);
                            x.drop_stream();
                            record.note =
                                "stream dropped; 429/503 on connect, mentions, search and posts"
                                    .into();
                            recovering.push(Watch::parts(index, Instant::now(), &healthy, &["x."]));
                        }
                        Fault::Rpc => {
                            providers[0].set_down(true);
                            later.push((Instant::now() + Duration::from_secs(4), Later::RpcUp));
                            record.note = "the first RPC provider down for 4 s".into();
                        }
                        Fault::Llm => {
                            model.set(ModelMode::Down);
                            later.push((Instant::now() + Duration::from_secs(3), Later::ModelSlow));
                            later.push((Instant::now() + Duration::from_secs(6), Later::ModelUp));
                            record.note = "the model 503 for 3 s, then 10 s slow for 3 s".into();
                        }
                        Fault::Reorg => {
                            let members: Vec<String> =
                                crowd.depositors().into_iter().map(|d| d.0).collect();
                            let who = members[reorg_member % members.len()].clone();
                            reorg_member += 1;
                            let hash = reorg(&hh, &who, &custody, ETH / 2)?;
                            record.note = format!(
                                "a 0.5 ETH deposit from {who} ({hash}) replaced by a longer fork, then sent again"
                            );
                            let again = deposit(&hh, &who, &custody, ETH / 2);
                            deposits_sent.push((who, ETH / 2, again));
                        }
                        Fault::Disk => match &disk_note {
                            Some(why) => record.note = format!("skipped: {why}"),
                            None => match fill_disk(&data) {
                                Ok(file) => {
                                    disk_window = Some(Instant::now() + Duration::from_secs(20));
                                    later.push((
                                        Instant::now() + Duration::from_secs(3),
                                        Later::DiskFree(file),
                                    ));
                                    record.note = "the data disk full for 3 s".into();
                                }
                                Err(e) => record.note = format!("could not fill the disk: {e:#}"),
                            },
                        },
                        Fault::Clock => {
                            clock.jump(900)?;
                            later.push((Instant::now() + Duration::from_secs(3), Later::ClockBack));
                            record.note = "the clock 15 min forward, 3 s later 5 min back".into();
                        }
                    }
                    println!("  {now}  fault {}: {}", f.name(), record.note);
                    records.push(record);
                }
                Planned::Pause | Planned::Extend | Planned::Override => {
                    if let Some(l) = &live {
                        let (verb, body, what) = auction_action(&s.what, l);
                        let r = operate(
                            &rt,
                            &mut admin,
                            &login,
                            Op::Post(format!("/api/v1/auctions/{}/{verb}", l.id), body),
                        );
                        operator_log.push(format!("{now}: {what}: {}", answer(&r)));
                        if matches!(s.what, Planned::Pause) {
                            later.push((
                                Instant::now() + Duration::from_secs(2),
                                Later::Resume(l.id),
                            ));
                        }
                    }
                }
                Planned::Approvals(on) => {
                    let r = operate(
                        &rt,
                        &mut admin,
                        &login,
                        Op::Put("/api/v1/settings".into(), json!({"x.approve_tweets": on})),
                    );
                    // Settings apply at the next start: the operator restarts the service.
                    let stopped = app.terminate(Duration::from_secs(20));
                    restart(&mut app)?;
                    admin_due = true;
                    operator_restarts += 1;
                    approvals_on = on;
                    reviewing = Some(Instant::now());
                    operator_log.push(format!(
                        "{now}: approvals {}: {}; restarted (stopped cleanly: {stopped})",
                        if on { "on" } else { "off" },
                        answer(&r)
                    ));
                }
                Planned::Upload => {
                    let good = operate(
                        &rt,
                        &mut admin,
                        &login,
                        Op::Upload("marathon.png", tiny_png()),
                    );
                    let bad = operate(
                        &rt,
                        &mut admin,
                        &login,
                        Op::Upload("broken.png", b"not a picture".to_vec()),
                    );
                    operator_log.push(format!(
                        "{now}: upload marathon.png: {}; upload of a broken picture: {}",
                        answer(&good),
                        answer(&bad)
                    ));
                }
            }
        }

        // Each simulated day, once its post-auction window is over: a backup, checked.
        // (An auction extended past its day's end is checked once it is over.)
        while checked_days < args.days
            && now >= days[checked_days as usize].post_end
            && live.is_none()
        {
            checked_days += 1;
            let check = check_day(&app, &program, &out, checked_days, &crowd, &hh, &custody)?;
            println!(
                "  day {:>2}: {}; check {}; {} disagreement(s); escrow owed {} ETH, custody holds {} ETH",
                check.day,
                check.result,
                if check.check_ok { "passed" } else { "FAILED" },
                check.disagreements,
                crowd::eth_text(check.owed),
                crowd::eth_text(check.custody)
            );
            day_checks.push(check);
            // (After the last day there is no auction to deposit for.)
            let next_auction = checked_days < args.days;
            for (_, i) in withdrew
                .iter()
                .filter(|(d, _)| next_auction && *d == checked_days)
            {
                let (address, amount) =
                    (crowd.members[*i].address.clone(), crowd.members[*i].deposit);
                let hash = deposit(&hh, &address, &custody, amount);
                deposits_sent.push((address, amount, hash));
            }
        }
        if checked_days >= args.days && later.is_empty() {
            // The last faults get up to three minutes to recover before the end, and X must be
            // read again (after a 429 X makes the client wait), so every tweet is taken in.
            let since = *all_checked.get_or_insert_with(Instant::now);
            if (recovering.is_empty() && x_reading) || since.elapsed() > Duration::from_secs(180) {
                break;
            }
        }
        if Instant::now() > finish_by {
            bail!(
                "the campaign did not finish in time; the appliance's log ends:\n{}",
                app.log_tail(20)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    // The end: a clean stop, then everything checked.
    let stopped_cleanly = app.terminate(Duration::from_secs(20));
    let (check_ok, check_out) = checks::store_check(&program, &data);
    let store = store::Store::open_read_only(&data.join(store::DB_FILE))?;
    let reader = store.read()?;
    let events = all_events(&reader)?;
    let mut judgement = oracle::judge(&events, &crowd.sent, &crowd.members);
    let auctions = reader.auctions()?;
    for d in &mut judgement.days {
        if let Some(a) = auctions.iter().find(|a| a.id.0 == d.auction) {
            d.appliance = (a.state == AuctionState::Completed)
                .then_some(a.leader.map(|l| (l.0, a.price.0)))
                .flatten();
        }
    }
    let transfers = checks::transfers(&hh, &nft);
    let payments = checks::payments(&hh);
    let custody_lc = custody.to_lowercase();
    let wallets: BTreeSet<&String> = crowd.members.iter().map(|m| &m.address).collect();
    let chain_deposits: Vec<checks::Payment> = payments
        .iter()
        .filter(|p| p.to == custody_lc)
        .cloned()
        .collect();
    let chain_refunds: Vec<checks::Payment> = payments
        .iter()
        .filter(|p| p.from == custody_lc && wallets.contains(&p.to))
        .cloned()
        .collect();
    let treasury = hh.balance(TREASURY);
    let custody_left = hh.balance(&custody);
    let posted = x.posted();
    let recordings = checks::recordings(&nginx.recordings());
    drop(nginx);
    let balances = reader.balances()?;
    let owed = owed(&balances);
    let credited: Vec<store::Deposit> = reader.deposits()?;
    let reverted: BTreeSet<u64> = credited
        .iter()
        .filter(|d| reader.deposit_reverted(d.id).ok().flatten().is_some())
        .map(|d| d.id.0)
        .collect();
    let outbox = checks::outbox_accounts(&reader, &posted)?;
    drop(reader);
    drop(store);

    let report = Report {
        args: format!(
            "--days {} --speed {} --faults {} --seed {seed} --bidders {} --lead-minutes {} \
             --auction-minutes {} --post-minutes {}",
            args.days,
            args.speed,
            args.faults,
            args.bidders,
            args.lead_minutes,
            args.auction_minutes,
            args.post_minutes
        ),
        real_secs: started.elapsed().as_secs_f64(),
        days,
        judgement,
        day_checks,
        faults: records,
        samples,
        operator: operator_log,
        unexpected_exits,
        fault_restarts,
        stopped_cleanly,
        check_ok,
        check_out,
        transfers,
        custody: custody.clone(),
        crowd_addresses: crowd
            .members
            .iter()
            .map(|m| (m.id, m.address.clone()))
            .collect(),
        treasury,
        custody_left,
        owed,
        chain_deposits,
        chain_refunds,
        store_deposits: credited,
        reverted,
        posted,
        sent: crowd.sent.clone(),
        recordings,
        ingest_down,
        model_requests: model.requests.load(std::sync::atomic::Ordering::SeqCst),
        speed: args.speed,
        disk_note,
        outbox,
        reviewed,
        operator_restarts,
    };
    let verdict = report::write(&report, &out)?;
    println!("{}", verdict.line);
    println!("report: {}", out.join("report.md").display());
    Ok(verdict.ok)
}

/// The operator's request on the live auction: the path's verb, the body, and in words.
fn auction_action(what: &Planned, l: &Live) -> (&'static str, Value, String) {
    match what {
        Planned::Pause => (
            "pause",
            json!({"reason": "marathon: a glitch on stream"}),
            format!("pause auction {}", l.id),
        ),
        Planned::Extend => (
            "extend",
            json!({"seconds": 600, "reason": "marathon: more time"}),
            format!("extend auction {} by 600 s", l.id),
        ),
        _ => {
            let ends_at = l.ends_at.plus_secs(300);
            (
                "override",
                json!({
                    "ends_at": ends_at.rfc3339(),
                    "reason": "marathon: the stream glitched; five more minutes"
                }),
                format!("override auction {}'s end to {ends_at}", l.id),
            )
        }
    }
}
