//! `marathon`: a whole campaign in accelerated time against real peers, with faults injected on a
//! schedule, checked by an independent oracle; writes a Markdown report with SVG charts and exits
//! non-zero when an invariant is broken.
//!
//! ```sh
//! cargo build -p appliance && cargo run -p marathon -- --days 3 --speed 1440 --out target/marathon
//! ```
//!
//! A real-time soak: one day at `--speed 1` with a short auction, e.g. `--days 1 --speed 1
//! --lead-minutes 5 --auction-minutes 100 --post-minutes 10` (about two hours).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

mod checks;
mod clock;
mod crowd;
mod daily;
mod faults;
mod invariants;
mod operator;
mod oracle;
mod recovery;
mod report;
mod run;
mod setup;
mod svg;
mod world;

/// A whole campaign in accelerated time, with real peers and injected faults.
#[derive(Debug, Parser)]
#[command(name = "marathon", version)]
pub struct Args {
    /// Campaign days.
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// How many times faster than real time the campaign's clock runs (the stream runs in
    /// real time).
    #[arg(long, default_value_t = 1440.0)]
    pub speed: f64,
    /// Faults: `all`, `none`, names (kill, x, ingest, rpc, llm, reorg, clock, disk), `-name` to
    /// leave one out.
    #[arg(long, default_value = "all")]
    pub faults: String,
    /// Seed of the crowd and the schedule (0: from the clock).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the report, the logs and the recordings go (must not exist, or be empty).
    #[arg(long, default_value = "marathon-report")]
    pub out: PathBuf,
    /// Members of the crowd (at least 12).
    #[arg(long, default_value_t = 14)]
    pub bidders: usize,
    /// The appliance program (default: `appliance` beside this program).
    #[arg(long)]
    pub appliance: Option<PathBuf>,
    /// Stream resolution (`1280x720`, `854x480`, ...; the appliance's default when empty).
    #[arg(long, default_value = "")]
    pub resolution: String,
    /// Simulated minutes before the first auction opens.
    #[arg(long, default_value_t = 180)]
    pub lead_minutes: u32,
    /// Length of each day's auction, opening at 10:00 New York (a real-time soak shortens it).
    #[arg(long, default_value_t = 480)]
    pub auction_minutes: u32,
    /// Minutes after each auction until the day is checked (to 23:59 at most).
    #[arg(long, default_value_t = 359)]
    pub post_minutes: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run::run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("marathon: {e:#}");
            ExitCode::from(2)
        }
    }
}
