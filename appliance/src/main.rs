//! The `appliance` binary: parses the command line and hands over to the library.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use appliance::cli::{
    AdminAction, BenchWhat, Cli, Cmd, CtlAction, ExportWhat, HostAction, ReleaseAction,
    UpdateAction,
};
use appliance::config::{Config, LogFormat};
use appliance::{config, demo, logging, ops, run};
use clap::Parser;
use control::{Client, Request};
use domain::engine::Command;
use domain::schedule;
use store::{AuctionId, Audit, BidSource, UserId, Wei};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logs(format: LogFormat, level: &str, json_flag: bool) -> anyhow::Result<()> {
    let format = if json_flag { LogFormat::Json } else { format };
    logging::init(format, level).map_err(anyhow::Error::msg)
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Cmd::Run {
            config,
            data,
            duration,
            stream_url,
            record,
            encoder,
            resolution,
            ca_file,
            insecure_skip_verify,
            no_stream,
            listen,
            no_web,
        } => {
            let mut cfg = Config::from_env_and_saved(config.as_deref(), data.as_deref())
                .map_err(anyhow::Error::msg)?;
            if let Some(addr) = listen {
                cfg.web.listen = addr;
            }
            if no_web {
                cfg.web.enabled = false;
            }
            cfg.web.validate().map_err(anyhow::Error::msg)?;
            let st = &mut cfg.stream;
            if let Some(url) = stream_url {
                st.url = url;
            }
            if let Some(dir) = record {
                st.record = "on".into();
                st.record_dir = dir;
            }
            if let Some(e) = encoder {
                st.encoder = e;
            }
            if let Some(r) = resolution {
                st.resolution = r;
            }
            if let Some(ca) = ca_file {
                st.ca_file = ca;
            }
            st.insecure_skip_verify |= insecure_skip_verify;
            if no_stream {
                st.enabled = false;
            }
            if cfg.stream.enabled {
                cfg.stream_settings(None).map_err(anyhow::Error::msg)?;
            }
            init_logs(cfg.log.format, &cfg.log.level, cli.log_json)?;
            runtime()?.block_on(run::run(cfg, duration.map(Duration::from_secs), config))?;
        }
        Cmd::Preview {
            out,
            data,
            config,
            resolution,
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let mut cfg = Config::from_env(config.as_deref()).map_err(anyhow::Error::msg)?;
            cfg.data_dir = data;
            cfg.stream.resolution = resolution;
            let snapshot = ops::snapshot(&cfg.data_dir, &ops::default_socket(&cfg.data_dir))?;
            let settings = cfg.stream_settings(None).map_err(anyhow::Error::msg)?;
            stream::preview(snapshot.store(), settings, &out)?;
            writeln!(stdout, "preview written to {}", out.display())?;
        }
        Cmd::Demo {
            days,
            speed,
            data,
            bidders,
            seed,
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let args = demo::DemoArgs {
                days,
                speed,
                data,
                bidders,
                seed,
            };
            drop(stdout);
            let mut out = std::io::stdout();
            let (_, ok) = runtime()?.block_on(demo::run(args, &mut out))?;
            if !ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        Cmd::Plan {
            start,
            days,
            tz,
            pre_auction,
            auction_start,
            auction_end,
            post_auction,
        } => {
            let zone = schedule::parse_zone(&tz)?;
            let t = |s: &str| s.parse::<store::TimeOfDay>().map_err(anyhow::Error::msg);
            let plan = store::WindowPlan {
                pre_auction_start: t(&pre_auction)?,
                auction_start: t(&auction_start)?,
                auction_end: t(&auction_end)?,
                post_auction_end: t(&post_auction)?,
            };
            if !(1..=366).contains(&days) {
                bail!("--days must be 1 to 366");
            }
            for d in schedule::plan_days(start, days, &plan, zone)? {
                let l = |x| schedule::local_rfc3339(x, zone);
                writeln!(
                    stdout,
                    "day {:>3}  {}  pre-auction {}  auction {} to {}  post-auction until {}",
                    d.day,
                    d.date,
                    l(d.pre_start),
                    l(d.starts_at),
                    l(d.ends_at),
                    l(d.post_end)
                )?;
            }
        }
        Cmd::Check { data, socket, json } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let socket = socket.unwrap_or_else(|| ops::default_socket(&data));
            if !ops::check(&data, &socket, json, &mut stdout)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Cmd::Backup { data, socket, out } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let socket = socket.unwrap_or_else(|| ops::default_socket(&data));
            ops::backup(&data, &socket, &out, &mut stdout)?;
        }
        Cmd::Restore { input, data } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            ops::restore(&input, &data, &mut stdout)?;
        }
        Cmd::Export {
            what: ExportWhat::Log { data, socket },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let socket = socket.unwrap_or_else(|| ops::default_socket(&data));
            let snapshot = ops::snapshot(&data, &socket)?;
            let mut out = std::io::BufWriter::new(stdout);
            store::export::export(snapshot.store(), &mut out)?;
            out.flush()?;
        }
        Cmd::Verify { log, tx, rpc } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            if !runtime.block_on(appliance::verify::run(&log, &tx, &rpc, &mut stdout))? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Cmd::Export {
            what: ExportWhat::Bids { data, socket },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let socket = socket.unwrap_or_else(|| ops::default_socket(&data));
            let mut out = std::io::BufWriter::new(stdout);
            ops::export_bids(&data, &socket, &mut out)?;
            out.flush()?;
        }
        Cmd::Bench {
            what:
                BenchWhat::Web {
                    seconds,
                    clients,
                    concurrency,
                },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            if !(1.0..=3600.0).contains(&seconds)
                || !(1..=10_000).contains(&clients)
                || !(1..=1024).contains(&concurrency)
            {
                bail!("--seconds is 1 to 3600, --clients 1 to 10000, --concurrency 1 to 1024");
            }
            runtime()?.block_on(bench::web::run(seconds, clients, concurrency, &mut stdout))?;
        }
        Cmd::Bench {
            what:
                BenchWhat::WebLoad {
                    url,
                    cookie,
                    cert,
                    seconds,
                    concurrency,
                },
        } => {
            runtime()?.block_on(bench::web::load(&url, &cookie, &cert, seconds, concurrency))?;
        }
        Cmd::Bench {
            what:
                BenchWhat::Stream {
                    resolution,
                    seconds,
                    encoder,
                    compare_ffmpeg,
                },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let encoder = encoder.parse().map_err(anyhow::Error::msg)?;
            bench::stream::stream(&resolution, seconds, encoder, compare_ffmpeg, &mut stdout)?;
        }
        Cmd::Bench {
            what:
                BenchWhat::Quality {
                    resolution,
                    seconds,
                    kbps,
                    encoder,
                },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let encoder = encoder.parse().map_err(anyhow::Error::msg)?;
            bench::quality::quality(&resolution, seconds, kbps, encoder, &mut stdout)?;
        }
        Cmd::Bench {
            what:
                BenchWhat::X {
                    bidders,
                    minutes,
                    per_minute,
                    burst,
                    drain_secs,
                },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let options = bench::x::Options {
                bidders,
                minutes,
                per_minute,
                burst,
                drain_secs,
            };
            runtime()?.block_on(bench::x::run(options, &mut stdout))?;
        }
        Cmd::Bench {
            what: BenchWhat::Latency { seconds },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let report = runtime()?.block_on(bench::stream::latency(seconds))?;
            writeln!(stdout, "{report}")?;
        }
        Cmd::Bench {
            what:
                BenchWhat::Bids {
                    seconds,
                    dir,
                    submitters,
                    json,
                },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            if !(0.1..=3600.0).contains(&seconds) {
                bail!("--seconds must be 0.1 to 3600");
            }
            let tmp = tempfile::Builder::new()
                .prefix("sothebais-bench-")
                .tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
            writeln!(
                stdout,
                "durable bids on {} ({} s per level)",
                tmp.path().display(),
                seconds
            )?;
            let rt = runtime()?;
            let mut results = Vec::new();
            for n in submitters {
                if !(1..=10_000).contains(&n) {
                    bail!("submitters must be 1 to 10000");
                }
                let r = rt.block_on(bench::bids::bench_bids(
                    tmp.path(),
                    n,
                    Duration::from_secs_f64(seconds),
                ))?;
                if json {
                    writeln!(stdout, "{}", serde_json::to_string(&r)?)?;
                }
                results.push(r);
            }
            if !json {
                bench::bids::print_table(&results, &mut stdout)?;
            }
        }
        Cmd::Admin {
            action:
                AdminAction::SetPassword {
                    user,
                    data,
                    config,
                    password_stdin,
                    reset_totp,
                },
        } => {
            init_logs(LogFormat::Human, "warn", cli.log_json)?;
            let cfg = Config::from_env_and_saved(config.as_deref(), Some(&data))
                .map_err(anyhow::Error::msg)?;
            let (password, made) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (web::accounts::random_password(), true)
            };
            runtime()?.block_on(ops::set_admin_password(&cfg, &user, &password, reset_totp))?;
            if made {
                writeln!(
                    stdout,
                    "The password of {user:?} is now:\n\n    {password}\n"
                )?;
            } else {
                writeln!(stdout, "The password of {user:?} is set.")?;
            }
        }
        Cmd::Ctl {
            data,
            socket,
            action,
        } => {
            let path = socket.unwrap_or_else(|| data.join("control.sock"));
            let request = ctl_request(action)?;
            let response = runtime()?.block_on(async {
                let mut client = Client::connect(&path).await.map_err(anyhow::Error::msg)?;
                client.request(&request).await.map_err(anyhow::Error::msg)
            })?;
            match response.into_result() {
                Ok(reply) => writeln!(stdout, "{}", serde_json::to_string_pretty(&reply)?)?,
                Err(e) => {
                    writeln!(std::io::stderr(), "refused ({}): {}", e.code, e.message)?;
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Cmd::Encoders { config } => {
            let cfg = Config::from_env(config.as_deref()).map_err(anyhow::Error::msg)?;
            let libraries = codec::NvencLibraries {
                encode: cfg.stream.nvenc_library.clone(),
                cuda: cfg.stream.cuda_library.clone(),
            };
            let nvenc = codec::probe_nvenc(&libraries);
            match &nvenc {
                Ok(gpu) => writeln!(stdout, "nvenc:    available on {gpu}")?,
                Err(why) => writeln!(stdout, "nvenc:    {why}")?,
            }
            let settings = codec::VideoSettings::hd720();
            match codec::OpenH264Encoder::new(&settings) {
                Ok(_) => writeln!(stdout, "openh264: available")?,
                Err(e) => writeln!(stdout, "openh264: unavailable: {e}")?,
            }
            writeln!(
                stdout,
                "auto uses: {}",
                if nvenc.is_ok() { "nvenc" } else { "openh264" }
            )?;
        }
        Cmd::Config => {
            stdout.write_all(config::DOCUMENTED.as_bytes())?;
        }
        Cmd::Update { config, action } => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let cfg = Config::from_env(config.as_deref()).map_err(anyhow::Error::msg)?;
            use appliance::updating;
            match action {
                UpdateAction::Status => updating::status(&cfg, &mut stdout)?,
                UpdateAction::Check => {
                    updating::check(&cfg, &mut stdout)?;
                }
                UpdateAction::Apply { force } => {
                    updating::apply(&cfg, force, &mut stdout)?;
                }
                UpdateAction::Rollback => updating::rollback(&cfg, &mut stdout)?,
            }
        }
        Cmd::Flash { image, device, yes } => {
            if !yes {
                write!(
                    stdout,
                    "Everything on {} will be replaced by {}. Type yes to go on: ",
                    device.display(),
                    image.display()
                )?;
                stdout.flush()?;
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if answer.trim() != "yes" {
                    writeln!(stdout, "Nothing written.")?;
                    return Ok(ExitCode::FAILURE);
                }
            }
            let mut stderr = std::io::stderr();
            let f = provisioning::flash::flash(&image, &device, |d, a, p| {
                let _ = write!(stderr, "{}", provisioning::flash::bar(d, a, p));
            })?;
            writeln!(
                stdout,
                "\nWritten and verified: {} MB to {} ({:.0} MB/s), SHA-256 {}",
                f.bytes / 1_000_000,
                device.display(),
                f.write_mb_s,
                f.sha256
            )?;
        }
        Cmd::Release { action } => match action {
            ReleaseAction::Key { out } => {
                if out.exists() {
                    bail!("{} exists; not overwritten", out.display());
                }
                let (pair, public) = provisioning::update::generate_key()?;
                appliance::files::write_private(&out, &pair)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                writeln!(stdout, "{public}")?;
            }
            ReleaseAction::Sign { key, input, output } => {
                provisioning::update::sign(&input, &output, &key)?;
                writeln!(stdout, "signed: {}", output.display())?;
            }
        },
        Cmd::ParseTweet { text, author, host } => {
            let outcome = domain::grammar::explain(&text, &host, author.as_deref());
            writeln!(stdout, "{}", serde_json::to_string(&outcome)?)?;
        }
        Cmd::Host { action } => match action {
            HostAction::Check { file } => {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let c = host::Character::parse(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                writeln!(
                    stdout,
                    "{}: {} is a valid character ({} example lines, {} moods, voice {} / {})",
                    file.display(),
                    c.name,
                    c.examples.len(),
                    c.moods.len(),
                    c.voice.engine,
                    c.voice.voice
                )?;
            }
            HostAction::Import { file, out } => {
                let json = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let imported = host::eliza::import(&json)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                let text = imported.character.to_toml();
                match out {
                    Some(path) => {
                        let mut f = std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&path)
                            .with_context(|| format!("cannot create {}", path.display()))?;
                        f.write_all(text.as_bytes())?;
                    }
                    None => write!(stdout, "{text}")?,
                }
                for line in &imported.not_carried {
                    eprintln!("not carried over: {line}");
                }
            }
            HostAction::Demo => write!(stdout, "{}", host::DEMO_CHARACTER)?,
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn audit(actor: Option<String>, reason: String) -> Audit {
    Audit {
        actor: actor
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "operator".into()),
        origin: String::new(),
        reason,
    }
}

fn ctl_request(action: CtlAction) -> anyhow::Result<Request> {
    let command = match action {
        CtlAction::Status => return Ok(Request::Status),
        CtlAction::Outbox { open, limit } => return Ok(Request::Outbox { open, limit }),
        CtlAction::Bid {
            bidder,
            amount,
            key,
        } => Command::PlaceBid {
            bidder: UserId(bidder),
            amount: Wei::parse(&amount).with_context(|| format!("--amount {amount:?}"))?,
            source: BidSource::Operator(key),
            auction: None,
        },
        CtlAction::Pause(a) => Command::Pause {
            auction: AuctionId(a.auction),
            audit: audit(a.actor, a.reason),
        },
        CtlAction::Resume(a) => Command::Resume {
            auction: AuctionId(a.auction),
            audit: audit(a.actor, a.reason),
        },
        CtlAction::Cancel(a) => Command::Cancel {
            auction: AuctionId(a.auction),
            audit: audit(a.actor, a.reason),
        },
        CtlAction::Settle(a) => Command::ForceSettle {
            auction: AuctionId(a.auction),
            audit: audit(a.actor, a.reason),
        },
        CtlAction::Extend { target, seconds } => Command::Extend {
            auction: AuctionId(target.auction),
            seconds,
            audit: audit(target.actor, target.reason),
        },
        CtlAction::Approve(o) => Command::ReviewOutbox {
            id: store::OutboxId(o.id),
            approve: true,
            audit: audit(o.actor, o.reason),
        },
        CtlAction::Reject(o) => Command::ReviewOutbox {
            id: store::OutboxId(o.id),
            approve: false,
            audit: audit(o.actor, o.reason),
        },
        CtlAction::Refund {
            user,
            reason,
            actor,
        } => Command::Withdraw {
            user: UserId(user),
            audit: audit(actor, reason),
        },
        CtlAction::Send { json } => serde_json::from_str(&json).context("not a valid command")?,
    };
    Ok(Request::Execute { command })
}
