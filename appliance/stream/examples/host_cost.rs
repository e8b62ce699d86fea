//! What the host adds to the frame loop: mixing its speech into a frame's audio, and redrawing
//! the talking face, against the same frames with a silent host.
//! `cargo run --release -p stream --example host_cost`

use std::sync::Arc;
use std::time::{Duration, Instant};

use scene::{Compositor, Mood, NoAssets, Phase, SceneSet, ViewModel};
use stream::speech::{RATE, Speaker, Utterance};

const FRAMES: usize = 900;

fn vm() -> ViewModel {
    ViewModel {
        phase: Phase::Live,
        campaign: "SothebAIs Genesis".into(),
        title: "Genesis #15".into(),
        artist: "Ada Pixel".into(),
        price: "2.35 ETH".into(),
        leader: "@crypto_collector".into(),
        reserve: "0.1 ETH".into(),
        min_next: "2.47 ETH".into(),
        host: "SothebAIs".into(),
        ends_at_ms: Some(1_000_000_000),
        day: 15,
        days: 30,
        mood: Mood::Excited,
        caption: "A new leader! @crypto_collector takes Genesis #15 to 2.35 ETH.".into(),
        ..ViewModel::default()
    }
}

/// Per frame: (compose, mix) in microseconds, talking or not.
fn run(talking: bool) -> (f64, f64) {
    let mut c = Compositor::new(SceneSet::builtin(), 1280, 720, Arc::new(NoAssets)).unwrap();
    let speaker = Speaker::default();
    let speech: Vec<i16> = (0..RATE as usize * 40)
        .map(|i| ((i as f32 * 0.05).sin() * 12_000.0 * ((i as f32 * 0.0004).sin().abs())) as i16)
        .collect();
    if talking {
        speaker.say(Utterance {
            text: vm().caption,
            samples: speech.into(),
            priority: 1,
            expires: Instant::now() + Duration::from_secs(60),
            cued: Instant::now(),
        });
    }
    let base = vm();
    let mut pcm = vec![0i16; (RATE as usize / 30) * 2];
    let (mut compose, mut mix) = (Duration::ZERO, Duration::ZERO);
    let mut mouth = 0;
    let mut caption = None;
    for n in 0..FRAMES {
        let now_ms = 1_000_000 + n as i64 * 33;
        let t = Instant::now();
        if talking {
            let mut v = base.clone();
            v.mouth = mouth;
            if let Some(words) = &caption {
                v.caption = String::clone(words);
            }
            c.render(&v, now_ms);
        } else {
            c.render(&base, now_ms);
        }
        compose += t.elapsed();
        pcm.fill(1000);
        let t = Instant::now();
        let o = speaker.mix(&mut pcm, 2, Instant::now());
        mix += t.elapsed();
        mouth = o.mouth;
        caption = o.caption;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / FRAMES as f64;
    (per(compose), per(mix))
}

fn main() {
    // Warm up, then measure each twice, alternating.
    run(false);
    let mut silent = Vec::new();
    let mut talking = Vec::new();
    for _ in 0..2 {
        silent.push(run(false));
        talking.push(run(true));
    }
    let avg =
        |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let (sc, sm) = (avg(&silent, |x| x.0), avg(&silent, |x| x.1));
    let (tc, tm) = (avg(&talking, |x| x.0), avg(&talking, |x| x.1));
    println!("silent host:  compose {sc:.0} µs/frame, mix {sm:.1} µs/frame");
    println!("talking host: compose {tc:.0} µs/frame, mix {tm:.1} µs/frame");
    println!(
        "added by the talking host: {:.0} µs/frame ({:.2} % of a 33.3 ms frame at 30 fps)",
        (tc + tm) - (sc + sm),
        ((tc + tm) - (sc + sm)) / 333.33
    );
}
