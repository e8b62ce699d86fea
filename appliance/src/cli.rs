//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The SothebAIs appliance: daily NFT auctions hosted live on X.
#[derive(Debug, Parser)]
#[command(name = "appliance", version, about, propagate_version = true)]
pub struct Cli {
    /// Log JSON objects instead of readable lines.
    #[arg(long, global = true)]
    pub log_json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the appliance (with no configuration: a demo campaign with simulated bidders).
    Run {
        /// Configuration file (see `appliance config`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides the configuration's data_dir).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Stop cleanly after this many seconds (of stream time when streaming).
        #[arg(long)]
        duration: Option<u64>,
        /// Publish to this URL (rtmp:// or rtmps://); overrides stream.url.
        #[arg(long)]
        stream_url: Option<String>,
        /// Record the stream into this directory.
        #[arg(long)]
        record: Option<PathBuf>,
        /// H.264 encoder: auto, nvenc or openh264.
        #[arg(long)]
        encoder: Option<String>,
        /// 720p or 1080p.
        #[arg(long)]
        resolution: Option<String>,
        /// Trust this CA file (PEM) for rtmps://.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Accept any TLS certificate (tests against a self-signed ingest only).
        #[arg(long)]
        insecure_skip_verify: bool,
        /// Run without composing or encoding a stream.
        #[arg(long)]
        no_stream: bool,
        /// Serve the admin page (HTTPS) on this address; overrides web.listen.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Do not serve the admin page.
        #[arg(long)]
        no_web: bool,
    },
    /// Render the current scene once to a PNG.
    Preview {
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Configuration file (scenes, assets).
        #[arg(long)]
        config: Option<PathBuf>,
        /// 720p or 1080p.
        #[arg(long, default_value = "720p")]
        resolution: String,
    },
    /// Run an N-day demo campaign on an accelerated clock and report each day.
    Demo {
        /// Days to run.
        #[arg(long, default_value_t = 3)]
        days: u32,
        /// Clock speed factor (10000: a two-hour auction in under a second).
        #[arg(long, default_value_t = 10_000.0)]
        speed: f64,
        /// Data directory (a fresh temporary one if omitted).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Simulated bidders.
        #[arg(long, default_value_t = 10)]
        bidders: u32,
        /// Seed for the bidders (0: random).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Print each day's windows as RFC 3339 with offsets.
    Plan {
        /// First day (YYYY-MM-DD, in the time zone).
        #[arg(long)]
        start: chrono::NaiveDate,
        /// Number of days.
        #[arg(long)]
        days: u32,
        /// IANA time zone.
        #[arg(long, default_value = "America/New_York")]
        tz: String,
        /// Start of the pre-auction window (HH:MM).
        #[arg(long, default_value = "00:00")]
        pre_auction: String,
        /// Start of bidding (HH:MM).
        #[arg(long, default_value = "14:00")]
        auction_start: String,
        /// Scheduled end of bidding (HH:MM).
        #[arg(long, default_value = "16:00")]
        auction_end: String,
        /// End of the post-auction window (HH:MM).
        #[arg(long, default_value = "23:59")]
        post_auction: String,
    },
    /// Verify the hash chain, replay the log and compare with the stored state; exit 0 only if all holds.
    Check {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Control socket of a running appliance (default: <data>/control.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent, checked snapshot of the database (while the appliance runs, too).
    Backup {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Control socket of a running appliance (default: <data>/control.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Backup file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into an empty data directory.
    Restore {
        /// Backup file.
        #[arg(long = "in")]
        input: PathBuf,
        /// Data directory (must hold no database).
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Export records as JSON lines.
    Export {
        /// What to export.
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Checks an exported event log against the anchor a settlement carried on chain: recomputes
    /// the hash chain, reads the token transfer, and says whether the record it seals matches
    /// (exit 0) or where the export stops matching (exit 1).
    Verify {
        /// The export (`appliance export log`).
        #[arg(long)]
        log: PathBuf,
        /// The settlement's token transfer transaction.
        #[arg(long)]
        tx: String,
        /// A JSON-RPC provider of the chain (https, or http to this machine).
        #[arg(long, default_value = "https://mainnet.shape.network")]
        rpc: String,
    },
    /// The AI host's character file: check one, or convert one from ElizaOS.
    Host {
        /// What to do.
        #[command(subcommand)]
        action: HostAction,
    },
    /// Benchmarks.
    Bench {
        /// Which.
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Manage the admin page's accounts (works whether or not the appliance runs).
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Talk to a running appliance through its control socket.
    Ctl {
        /// Data directory of the running appliance.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Socket path (default: <data>/control.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// The action.
        #[command(subcommand)]
        action: CtlAction,
    },
    /// Tell which H.264 encoder the stream would use here, and why NVENC is not used if not.
    Encoders {
        /// Configuration file (library paths).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Self-update from signed releases: what is offered, install it, go back, the history.
    Update {
        /// Configuration file (`[update]`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// What to do.
        #[command(subcommand)]
        action: UpdateAction,
    },
    /// Write the box's disk image to a disk (refuses a mounted disk or the system's), read it
    /// back and verify it.
    Flash {
        /// The disk image.
        #[arg(long)]
        image: PathBuf,
        /// The whole disk (`/dev/sdX`), or a file (a virtual machine's disk).
        #[arg(long)]
        device: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Make releases: a signing key, a signed release file.
    Release {
        /// What to do.
        #[command(subcommand)]
        action: ReleaseAction,
    },
    /// Print the documented default configuration.
    Config,
    /// Show what a tweet means to the appliance, as one JSON object (kind: bid, ceiling (`bid
    /// max 5 ETH`, proxy bidding), link, withdraw, remind, my_bids, balance, help, stop, start,
    /// question, ignored or invalid; amount in wei; reason): why a tweet did or did not count.
    ParseTweet {
        /// The tweet's text.
        text: String,
        /// The author's handle: a link tweet's signature is then checked too.
        #[arg(long)]
        author: Option<String>,
        /// The host handle the tweet is addressed to.
        #[arg(long, default_value = "SothebAIs")]
        host: String,
    },
}

/// Export targets.
#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// The whole event log with its stored bytes and hashes, for `appliance verify` (anyone
    /// given it can check it against the chain).
    Log {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Control socket of a running appliance (default: <data>/control.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Every bid: id, auction, bidder, amount in wei (string), time, status, reason.
    Bids {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Control socket of a running appliance (default: <data>/control.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

/// Admin page accounts.
#[derive(Debug, Subcommand)]
pub enum HostAction {
    /// Check a character file (TOML); every problem is named.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Convert an ElizaOS character (JSON) into a character file, saying what could not be
    /// carried over.
    Import {
        /// The ElizaOS character.
        file: PathBuf,
        /// Write here instead of standard output (an existing file is not replaced).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the demo's character file.
    Demo,
}

/// Account management.
#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Sets an account's password (creating the account as an admin if it does not exist) and
    /// enables it; prints a new random password unless `--password-stdin` is given.
    SetPassword {
        /// The account.
        #[arg(long, default_value = "admin")]
        user: String,
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Also turn the account's two-factor sign-in off (a lost phone).
        #[arg(long)]
        reset_totp: bool,
    },
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Compose + convert + encode throughput on a scene with moving parts; fps and ms per stage.
    Stream {
        /// 720p or 1080p.
        #[arg(long, default_value = "720p")]
        resolution: String,
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// H.264 encoder: auto, nvenc or openh264.
        #[arg(long, default_value = "openh264")]
        encoder: String,
        /// Also time ffmpeg/libx264 (veryfast, zerolatency) on the same frames.
        #[arg(long)]
        compare_ffmpeg: bool,
    },
    /// Picture quality per bit: PSNR and SSIM of our encoder and of libx264 (veryfast) at the
    /// same bit rate on the same scripted auction, and the bit rate each spent (needs ffmpeg).
    Quality {
        /// 720p or 1080p.
        #[arg(long, default_value = "720p")]
        resolution: String,
        /// Seconds of video.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// The bit rate asked of both, kbit/s.
        #[arg(long, default_value_t = 4500)]
        kbps: u32,
        /// H.264 encoder: auto, nvenc or openh264.
        #[arg(long, default_value = "openh264")]
        encoder: String,
    },
    /// Time from a bid's commit to the first encoded frame showing it, on a paced 720p30 stream.
    Latency {
        /// Seconds to run.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
    },
    /// X under load against the local X server: a crowd bidding by tweet through the filtered
    /// stream, replies under X's posting limit; decision and reply latencies, X spend.
    X {
        /// Bidders in the crowd.
        #[arg(long, default_value_t = 100)]
        bidders: usize,
        /// Minutes of steady bidding.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// Bids per minute while steady.
        #[arg(long, default_value_t = 10)]
        per_minute: u32,
        /// Bids in one burst minute after.
        #[arg(long, default_value_t = 60)]
        burst: u32,
        /// Seconds to wait for replies after the last bid.
        #[arg(long, default_value_t = 120)]
        drain_secs: u64,
    },
    /// The admin page under load: event clients, API latency from a second process, bid-to-event
    /// delivery, the appliance's CPU and memory.
    Web {
        /// Seconds to measure.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Server-sent-event clients on the dashboard.
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// Connections requesting the dashboard API.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// The load generator `bench web` runs in a second process: requests `--url` for `--seconds`
    /// and prints one JSON line of latencies.
    WebLoad {
        /// The URL.
        #[arg(long)]
        url: String,
        /// The session cookie (`name=value`).
        #[arg(long)]
        cookie: String,
        /// The certificate to trust (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Connections.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Durable bid throughput and p50/p99 acknowledgement latency at 1, 16 and 256 submitters.
    Bids {
        /// Seconds per concurrency level.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Directory for the benchmark databases (on the disk to measure).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Concurrency levels.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 256])]
        submitters: Vec<usize>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Operator actions over the control socket.
#[derive(Debug, Subcommand)]
pub enum CtlAction {
    /// The appliance's state at a glance.
    Status,
    /// Place a bid (as an operator, e.g. a bid taken by phone).
    Bid {
        /// Bidder's X user id.
        #[arg(long)]
        bidder: u64,
        /// Amount, e.g. "2.5 ETH".
        #[arg(long)]
        amount: String,
        /// Idempotency key (a resubmission with the same key is not a second bid).
        #[arg(long)]
        key: String,
    },
    /// Pause bidding.
    Pause(AuctionAction),
    /// Resume bidding.
    Resume(AuctionAction),
    /// Cancel an auction.
    Cancel(AuctionAction),
    /// End an auction now and settle it.
    Settle(AuctionAction),
    /// Move the end later.
    Extend {
        /// The action's target and reason.
        #[command(flatten)]
        target: AuctionAction,
        /// Seconds to add.
        #[arg(long)]
        seconds: u32,
    },
    /// Outbox rows: tweets and chain transactions, with where each stands.
    Outbox {
        /// Only rows still to be delivered.
        #[arg(long)]
        open: bool,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Approve a held tweet, or send a failed tweet or transaction back to be tried again.
    Approve(OutboxAction),
    /// Reject a held tweet (it is never posted) or give up on a failed row.
    Reject(OutboxAction),
    /// Refund everything a bidder has available to their linked wallet.
    Refund {
        /// Bidder's X user id.
        #[arg(long)]
        user: u64,
        /// Why (goes to the audit log).
        #[arg(long)]
        reason: String,
        /// Who (defaults to $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Send any engine command as JSON (see ARCHITECTURE.md).
    Send {
        /// The command, e.g. '{"command":"tick"}'.
        json: String,
    },
}

/// An operator decision on one outbox row.
#[derive(Debug, clap::Args)]
pub struct OutboxAction {
    /// Outbox row id.
    pub id: u64,
    /// Why (goes to the audit log).
    #[arg(long)]
    pub reason: String,
    /// Who (defaults to $USER).
    #[arg(long)]
    pub actor: Option<String>,
}

/// An operator action on one auction.
#[derive(Debug, clap::Args)]
pub struct AuctionAction {
    /// Auction id.
    #[arg(long)]
    pub auction: u64,
    /// Why (goes to the audit log).
    #[arg(long)]
    pub reason: String,
    /// Who (defaults to $USER).
    #[arg(long)]
    pub actor: Option<String>,
}

/// `appliance update …`.
#[derive(Debug, Subcommand)]
pub enum UpdateAction {
    /// Whether a newer release is offered (exit status 0 either way; its notes are printed).
    Check,
    /// Install the newest release into the other slot and switch to it; it must prove healthy
    /// within `update.health_secs` or the previous version comes back. Refused while an auction
    /// is open, unless forced.
    Apply {
        /// Apply even while an auction is open.
        #[arg(long)]
        force: bool,
    },
    /// Go back to the version in the other slot.
    Rollback,
    /// The running version, the other slot, a pending update, bad versions, the history.
    Status,
}

/// `appliance release …`.
#[derive(Debug, Subcommand)]
pub enum ReleaseAction {
    /// Make a signing key: the key pair to FILE (keep it secret, off the box), the public key
    /// (for `update.public_keys`) on standard output.
    Key {
        /// Where the key pair goes (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a release file (.tar.gz): OUTPUT is the signed copy, its name the signing context
    /// (`appliance-<version>-<arch>-linux.tar.gz`).
    Sign {
        /// The key pair.
        #[arg(long)]
        key: PathBuf,
        /// The unsigned .tar.gz.
        input: PathBuf,
        /// The signed file.
        output: PathBuf,
    },
}
