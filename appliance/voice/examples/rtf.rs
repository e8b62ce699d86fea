//! The voice's real-time factor: seconds spent speaking a line over the seconds of speech it
//! gives, for typical host lines. `cargo run --release -p voice --example rtf [-- ENGINE VOICE]`
//! (default: builtin slt; `piper /path/voice.onnx` for Piper).

use std::time::Instant;

const LINES: &[&str] = &[
    "Bidding is open on Genesis #12! The reserve is 0.1 ETH.",
    "@crypto_collector takes the lead at 2.35 ETH!",
    "A bidding war! @ada holds Genesis #12 at 2.6 ETH… for now.",
    "Final minutes for Genesis #12! 3.1 ETH leads, @ada on top.",
    "Sold! Genesis #12 goes to @ada for 3.2 ETH.",
    "@alice asked about the reserve. The reserve for Genesis #12 is 0.1 ETH.",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine = args.first().map_or("builtin", String::as_str);
    let name = args.get(1).map_or("slt", String::as_str);
    let voice = match voice::Voice::new(engine, name, 1.0) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let (mut spent, mut audio) = (0.0f64, 0.0f64);
    let mut first = Vec::new();
    for round in 0..5 {
        for line in LINES {
            let t = Instant::now();
            let samples = match voice.speak(line) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            };
            let took = t.elapsed().as_secs_f64();
            if round > 0 {
                spent += took;
                audio += samples.len() as f64 / f64::from(voice::RATE);
                first.push(took * 1000.0);
            }
        }
    }
    first.sort_by(f64::total_cmp);
    let p = |q: f64| first[((first.len() as f64 * q) as usize).min(first.len() - 1)];
    println!(
        "{}: {} lines, {:.1} s of speech in {:.2} s: real-time factor {:.3}; per line p50 {:.0} ms, p99 {:.0} ms",
        voice.describe(),
        first.len(),
        audio,
        spent,
        spent / audio,
        p(0.5),
        p(0.99)
    );
}
