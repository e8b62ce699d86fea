//! `appliance run`: the main job. Opens the database, starts the engine, creates the first
//! campaign if there is none (the configured one, or the demo), starts the simulated bidders and
//! the control socket, and logs what the engine commits, until SIGINT/SIGTERM or `--duration`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use store::{Audit, Event, Store, View};
use tokio::sync::{broadcast, watch};

use crate::admin::Admin;
use crate::config::Config;
use crate::health::Parts;
use crate::sim::{self, SimStats};
use crate::streaming::StreamControl;
use crate::supervisor::Supervisor;
use domain::clock::{SharedClock, SystemClock};
use domain::engine::{Command, Committed, Engine, EngineConfig, Reply};

/// Runs until a stop signal, or for `duration` if given (of stream time when streaming, so a
/// 10 s run publishes exactly 10 s of video).
/// `config_file` is where the configuration came from (the admin page checks saved settings
/// against it).
pub async fn run(
    config: Config,
    duration: Option<Duration>,
    config_file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    crate::files::private_dir(&config.data_dir)?;
    let db_path = config.db_path();
    let store = Arc::new(
        Store::open(&db_path).with_context(|| format!("cannot open {}", db_path.display()))?,
    );
    let clock: SharedClock = match crate::warp::from_env(&config)? {
        Some(warped) => warped,
        None => Arc::new(SystemClock),
    };
    let faults = crate::faults::Faults::from_env(&config)?;
    let engine = Engine::start(
        store.clone(),
        faults.engine_clock(clock.clone()),
        EngineConfig {
            max_batch: config.engine.max_batch,
            queue_capacity: config.engine.queue_capacity,
            policy: config.policy(),
        },
    )?;
    let h = engine.handle();
    // Crash-only: with the engine thread gone nothing can be decided or written, so the process
    // exits non-zero for the service manager to start it afresh (the store is intact).
    let mut died = h.died();
    tokio::spawn(async move {
        if let Ok(why) = died.wait_for(Option::is_some).await {
            let why = why.clone().unwrap_or_default();
            tracing::error!(reason = %why, "the engine thread died; exiting so the service manager restarts the appliance");
            eprintln!("error: the engine thread died ({why}); exiting");
            std::process::exit(70);
        }
    });
    let (stop, stopped) = watch::channel(false);
    let sup = Supervisor::new(stopped.clone());
    faults.arm(&sup);
    {
        let (h, store, stopped) = (h.clone(), store.clone(), stopped.clone());
        sup.spawn("log", move || {
            log_committed(h.subscribe(), store.clone(), stopped.clone())
        });
    }

    let demo = config.simulation.demo_campaign || config.campaign.is_some();
    if demo && store.read()?.campaigns()?.is_empty() {
        let (spec, what) = match &config.campaign {
            Some(spec) => (spec.clone(), "configured"),
            None => (domain::demo::live_spec(clock.now()), "demo"),
        };
        match h
            .execute(Command::CreateCampaign {
                spec: Box::new(spec),
                audit: Audit {
                    actor: "appliance".into(),
                    origin: "first start".into(),
                    reason: format!("{what} campaign"),
                },
            })
            .await
        {
            Ok(Reply::Campaign { id, auctions }) => {
                tracing::info!(campaign = %id, days = auctions.len(), "{what} campaign created");
            }
            Ok(other) => tracing::warn!(?other, "unexpected reply to campaign creation"),
            Err(e) => anyhow::bail!("cannot create the {what} campaign: {e}"),
        }
    } else if store.read()?.campaigns()?.is_empty() {
        tracing::info!("no campaign yet: create one on the admin page");
    }

    if config.simulation.enabled && config.simulation.bidders > 0 {
        let bidders = sim::enroll(&h, &store, &clock, &config.simulation).await?;
        sim::spawn(
            bidders,
            h.clone(),
            store.clone(),
            clock.clone(),
            config.simulation.think_secs,
            Arc::new(SimStats::default()),
            &sup,
        );
    }

    let mut health = crate::connect::start(&config, &h, &store, &clock, &sup).await?;
    if config.backup.every_secs > 0 {
        let status = Arc::new(crate::backups::BackupStatus::default());
        health.backups = Some((
            status.clone(),
            Duration::from_secs(config.backup.every_secs),
        ));
        let (store, dir, backup, clock, stopped) = (
            store.clone(),
            config.backup_dir(),
            config.backup.clone(),
            clock.clone(),
            stopped.clone(),
        );
        sup.spawn("backups", move || {
            crate::backups::run(
                store.clone(),
                dir.clone(),
                backup.clone(),
                clock.clone(),
                status.clone(),
                stopped.clone(),
            )
        });
    }
    let host_stats = Arc::new(crate::hosting::HostStats::default());
    if config.host.enabled {
        health.host = Some(host_stats.clone());
    }
    let health = Arc::new(health);
    // The stream's view of the state: drawn by the stream, and by the admin page's previews.
    let assets = config.assets_dir();
    let first = stream::initial_snapshot(&store, &clock, assets.clone());
    let (snap_tx, snap_rx) = watch::channel(first);
    let snap_tx = Arc::new(snap_tx);
    // The host: its line and mood go to the view, its voice to the stream's audio.
    let (line_tx, line_rx) = watch::channel(stream::host::HostLine::default());
    let speaker = Arc::new(stream::speech::Speaker::default());
    let (say_tx, say_rx) = tokio::sync::mpsc::channel::<String>(4);
    let say_rx = Arc::new(tokio::sync::Mutex::new(say_rx));
    if config.host.enabled {
        let line_tx = Arc::new(line_tx);
        let events = h.clone();
        let (host, store, h, clock, speaker, stats) = (
            config.host.clone(),
            store.clone(),
            h.clone(),
            clock.clone(),
            speaker.clone(),
            host_stats.clone(),
        );
        let director = move || {
            crate::hosting::Director::new(
                &host,
                store.clone(),
                h.clone(),
                clock.clone(),
                speaker.clone(),
                line_tx.clone(),
                stats.clone(),
            )
        };
        // A character file or model setting that cannot work stops the start, named.
        director()?;
        let stopped = stopped.clone();
        sup.spawn("host", move || {
            let made = director();
            let (events, stopped, said) = (events.subscribe(), stopped.clone(), say_rx.clone());
            async move {
                match made {
                    Ok(d) => d.run(events, said, stopped).await,
                    Err(e) => tracing::error!(error = %e, "the host cannot start"),
                }
            }
        });
    }
    {
        let (h, store, clock, stopped) = (h.clone(), store.clone(), clock.clone(), stopped.clone());
        sup.spawn("stream.view", move || {
            stream::update_view(
                store.clone(),
                h.subscribe(),
                snap_tx.clone(),
                clock.clone(),
                assets.clone(),
                line_rx.clone(),
                stopped.clone(),
            )
        });
    }
    let stream = Arc::new(StreamControl::new(
        config.clone(),
        duration.map(|d| d.as_secs().max(1)),
        snap_rx.clone(),
        clock.clone(),
        speaker.clone(),
    ));
    let (changes_tx, changes) = tokio::sync::mpsc::channel(256);
    let settle = health.chain.as_ref().map(|c| c.settle.clone());
    let alerts = crate::alerting::start(&config, changes, &sup, &h, &store, settle)?;
    if let Some((frames, every)) = faults.encoder_after() {
        stream.inject_encoder_fault(frames, every);
    }
    let parts = Parts::new(
        h.clone(),
        health.clone(),
        stream.clone(),
        sup.clone(),
        Arc::new(alerts),
    );
    let control = control::serve(
        config.socket_path(),
        h.clone(),
        store.clone(),
        {
            let parts = parts.clone();
            Arc::new(move || parts.report())
        },
        stopped.clone(),
    )
    .await
    .with_context(|| {
        format!(
            "cannot open the control socket {}",
            config.socket_path().display()
        )
    })?;
    {
        let (parts, stopped) = (parts.clone(), stopped.clone());
        sup.spawn("health", move || {
            crate::health::watch(
                parts.clone(),
                Duration::from_secs(5),
                changes_tx.clone(),
                stopped.clone(),
            )
        });
    }
    if config.stream.enabled && duration.is_none() {
        let (stream, stopped) = (stream.clone(), stopped.clone());
        sup.spawn("stream.keeper", move || {
            crate::streaming::keep_alive(stream.clone(), stopped.clone())
        });
    }
    if config.stream.enabled {
        // A timed run (`--duration`) streams from the start, whatever the schedule.
        if config.stream.on_air == "always" || duration.is_some() {
            stream.start().await.map_err(anyhow::Error::msg)?;
        } else {
            let (stream, store, clock) = (stream.clone(), store.clone(), clock.clone());
            let (lead, tail) = (
                Duration::from_secs(config.stream.lead_mins * 60),
                Duration::from_secs(config.stream.tail_mins * 60),
            );
            let stopped = stopped.clone();
            sup.spawn("stream.schedule", move || {
                crate::streaming::follow_schedule(
                    stream.clone(),
                    store.clone(),
                    clock.clone(),
                    lead,
                    tail,
                    stopped.clone(),
                )
            });
        }
    }
    let web = if config.web.enabled {
        let admin = Admin::new(
            h.clone(),
            store.clone(),
            parts.clone(),
            config.clone(),
            config_file,
            stream.clone(),
            snap_rx,
        )
        .map_err(anyhow::Error::msg)?;
        let admin = if config.host.enabled {
            admin.with_host(say_tx)
        } else {
            admin
        };
        Some(start_web(&config, Arc::new(admin), store.clone(), stopped.clone()).await?)
    } else {
        None
    };
    tracing::info!(data = %config.data_dir.display(), "appliance running");
    if let Some(period) = crate::service::watchdog_period() {
        let (parts, stopped) = (parts.clone(), stopped.clone());
        tracing::info!(
            period_ms = period.as_millis() as u64,
            "the service manager's watchdog is on"
        );
        sup.spawn("watchdog", move || {
            crate::service::watchdog(parts.clone(), period, stopped.clone())
        });
    }
    tokio::spawn(crate::updating::gate(
        config.clone(),
        parts.clone(),
        stream.clone(),
        h.clone(),
        store.clone(),
    ));
    crate::service::ready(&match &web {
        Some(w) => format!("serving; admin page https://{}/", w.addr),
        None => "serving".to_string(),
    });

    let streams_for_duration = config.stream.enabled && duration.is_some();
    wait_for_stop(
        if streams_for_duration { None } else { duration },
        streams_for_duration.then_some(&*stream),
    )
    .await;
    tracing::info!("stopping");
    crate::service::stopping();
    let _ = stop.send(true);
    if let Some(web) = web {
        web.stop().await;
    }
    if stream.running()
        && let Err(e) = stream.stop().await
    {
        tracing::error!(error = %e, "the stream failed");
    }
    sup.join().await;
    let _ = control.await;
    engine.shutdown().await;
    drop(h);
    match Arc::try_unwrap(store) {
        Ok(store) => drop(store),
        Err(_) => tracing::warn!("the database is still referenced at exit"),
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Serves the admin page; prints the certificate's fingerprint and, on first start, the admin
/// password (once, on the console).
async fn start_web(
    config: &Config,
    admin: Arc<Admin>,
    store: Arc<Store>,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<web::Web> {
    let w = &config.web;
    let listen: std::net::SocketAddr = w.listen.parse().context("web.listen")?;
    let redirect_listen = if w.redirect_listen.is_empty() {
        None
    } else {
        Some(w.redirect_listen.parse().context("web.redirect_listen")?)
    };
    let mut cert_names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            cert_names.push(host.to_string());
            cert_names.push(format!("{host}.local"));
        }
    }
    if !listen.ip().is_unspecified() {
        cert_names.push(listen.ip().to_string());
    }
    cert_names.extend(w.cert_names.iter().cloned());
    cert_names.dedup();
    let web_config = web::WebConfig {
        listen,
        redirect_listen,
        dir: config.data_dir.join("web"),
        cert_names,
        session_idle: Duration::from_secs(w.session_idle_mins * 60),
        session_max: Duration::from_secs(w.session_max_hours * 3600),
        max_upload: usize::try_from(w.max_upload_mib << 20).unwrap_or(usize::MAX),
    };
    let (served, first) = web::start(web_config, admin, store, stopped)
        .await
        .with_context(|| format!("cannot serve the admin page on {listen}"))?;
    tracing::info!(
        addr = %served.addr,
        certificate = %served.cert_path.display(),
        fingerprint = %served.fingerprint,
        "admin page at https://{}/",
        served.addr
    );
    eprintln!(
        "Admin page: https://{}/  (certificate SHA-256 {})",
        served.addr, served.fingerprint
    );
    if let Some(first) = first {
        // Shown once, on the console only: it is never logged or stored in clear.
        eprintln!(
            "\nFirst start: the admin page's account is {:?} with the password\n\n    {}\n\nIt is shown only now. Change it on the Account page, or set another with\n`appliance admin set-password`.\n",
            first.user, first.password
        );
        tracing::warn!(user = %first.user, "admin account created; its one-time password was printed on the console");
    }
    Ok(served)
}

async fn wait_for_stop(duration: Option<Duration>, stream: Option<&StreamControl>) {
    let timer = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let stream_done = async {
        match stream {
            Some(s) => {
                while !s.finished() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tracing::info!("the stream reached its duration");
            }
            None => std::future::pending().await,
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = timer => {}
        () = stream_done => {}
        () = term => tracing::info!("SIGTERM received"),
        r = tokio::signal::ctrl_c() => if r.is_ok() { tracing::info!("SIGINT received") },
    }
}

/// Logs what the engine committed: every event here is already durable.
async fn log_committed(
    mut events: broadcast::Receiver<Committed>,
    store: Arc<Store>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let batch = tokio::select! {
            r = events.recv() => match r {
                Ok(b) => b,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "event log lines skipped (logger fell behind)");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = stop.changed() => {
                // Drain what was committed before the stop.
                while let Ok(b) = events.try_recv() { log_batch(&b, &store); }
                return;
            }
        };
        log_batch(&batch, &store);
    }
}

fn handle_of(store: &Store, user: store::UserId) -> String {
    store
        .read()
        .ok()
        .and_then(|r| r.user(user).ok().flatten())
        .map_or_else(|| user.to_string(), |u| format!("@{}", u.handle))
}

fn log_batch(batch: &Committed, store: &Store) {
    for record in batch.iter() {
        match &record.event {
            Event::BidAccepted {
                bid,
                ends_at,
                extended,
            } => tracing::info!(
                bid = %bid.id,
                auction = bid.auction.map_or(0, |a| a.0),
                bidder = %handle_of(store, bid.bidder),
                amount = %bid.amount,
                ends_at = %ends_at,
                extended,
                seq = record.seq,
                "bid accepted"
            ),
            Event::BidRejected { bid } => tracing::info!(
                bid = %bid.id,
                bidder = %handle_of(store, bid.bidder),
                amount = %bid.amount,
                reason = bid.rejection.as_ref().map_or("", |r| r.code.as_str()),
                "bid rejected"
            ),
            Event::AuctionStarted { auction, .. } => {
                tracing::info!(auction = auction.0, "auction open")
            }
            Event::AuctionClosed { auction, .. } => {
                tracing::info!(auction = auction.0, "auction closed")
            }
            Event::AuctionSettled { auction, .. } => {
                let a = store
                    .read()
                    .ok()
                    .and_then(|r| r.auction(*auction).ok().flatten());
                match a.and_then(|a| a.leader.map(|l| (l, a.price))) {
                    Some((leader, price)) => {
                        tracing::info!(auction = auction.0, winner = %handle_of(store, leader), %price, "auction settled")
                    }
                    None => tracing::info!(auction = auction.0, "auction settled unsold"),
                }
            }
            Event::AuctionPaused { auction, audit, .. }
            | Event::AuctionResumed { auction, audit, .. }
            | Event::AuctionExtended { auction, audit, .. }
            | Event::AuctionCancelled { auction, audit, .. } => tracing::info!(
                auction = auction.0,
                action = record.event.kind(),
                actor = %audit.actor,
                origin = %audit.origin,
                reason = %audit.reason,
                "operator action"
            ),
            _ => tracing::debug!(
                seq = record.seq,
                kind = record.event.kind(),
                "event committed"
            ),
        }
    }
}
