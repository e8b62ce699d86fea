//! Readable on a phone, where most viewers watch X: no text in the built-in scenes is drawn
//! smaller than 3 % of the frame's height, whatever the phase, and the price and the countdown
//! are the largest text on the picture. A golden image at phone size pins the look.

mod common;

use std::sync::Arc;

use common::{NOW, live};
use scene::{Compositor, NoAssets, Phase, SceneSet};
use tiny_skia::Pixmap;

/// 3 % of the frame's height.
const SMALLEST_SHARE: f32 = 0.03;

fn states() -> Vec<(&'static str, scene::ViewModel)> {
    let live = live();
    let mut pre = live.clone();
    pre.phase = Phase::Pre;
    pre.starts_at_ms = Some(NOW + 600_000);
    pre.ticker.clear();
    let mut sold = live.clone();
    sold.phase = Phase::Sold;
    sold.winner = "@crypto_collector".into();
    let mut unsold = live.clone();
    unsold.phase = Phase::Unsold;
    let mut paused = live.clone();
    paused.phase = Phase::Paused;
    paused.paused_remaining_ms = Some(300_000);
    let mut standby = live.clone();
    standby.phase = Phase::Standby;
    let mut refused = live.clone();
    refused.ticker[1].refused = "not enough escrow".into();
    vec![
        ("pre", pre),
        ("live", live),
        ("refusal", refused),
        ("paused", paused),
        ("sold", sold),
        ("unsold", unsold),
        ("standby", standby),
    ]
}

#[test]
fn no_text_is_smaller_than_three_percent_of_the_frame() {
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        for (name, vm) in states() {
            let mut c = Compositor::new(SceneSet::builtin(), w, h, Arc::new(NoAssets)).unwrap();
            c.render(&vm, NOW);
            let (smallest, text) = c.smallest_text().expect("text was drawn");
            let floor = h as f32 * SMALLEST_SHARE;
            assert!(
                smallest >= floor - 0.01,
                "{name} at {w}x{h}: {text:?} drawn at {smallest:.1} px, under 3 % of the height ({floor:.1} px)"
            );
        }
    }
}

/// The frame as a phone shows it: 390 points wide, box-filtered down.
fn phone(frame: &Pixmap) -> Pixmap {
    let (w, h) = (390u32, 219u32);
    let mut out = Pixmap::new(w, h).unwrap();
    let (fw, fh) = (frame.width() as f32, frame.height() as f32);
    let src = frame.data();
    let dst = out.data_mut();
    for y in 0..h {
        for x in 0..w {
            let (x0, x1) = (
                (x as f32 * fw / w as f32) as u32,
                (((x + 1) as f32 * fw / w as f32) as u32).max(1),
            );
            let (y0, y1) = (
                (y as f32 * fh / h as f32) as u32,
                (((y + 1) as f32 * fh / h as f32) as u32).max(1),
            );
            let mut sum = [0u32; 4];
            let mut n = 0;
            for sy in y0..y1.min(frame.height()) {
                for sx in x0..x1.min(frame.width()) {
                    let i = ((sy * frame.width() + sx) * 4) as usize;
                    for c in 0..4 {
                        sum[c] += u32::from(src[i + c]);
                    }
                    n += 1;
                }
            }
            let o = ((y * w + x) * 4) as usize;
            for c in 0..4 {
                dst[o + c] = (sum[c] / n.max(1)) as u8;
            }
        }
    }
    out
}

#[test]
fn the_live_picture_at_phone_size_matches_its_golden_image() {
    let mut c = Compositor::new(SceneSet::builtin(), 1280, 720, Arc::new(NoAssets)).unwrap();
    let small = phone(c.render(&live(), NOW));
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/live-phone.png");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        small.save_png(&path).unwrap();
    }
    let expected = Pixmap::load_png(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 makes it)", path.display()));
    let off = small
        .data()
        .iter()
        .zip(expected.data())
        .filter(|(a, b)| a.abs_diff(**b) > 8)
        .count();
    let share = off as f64 / small.data().len() as f64;
    if share > 0.002 {
        let actual = std::env::temp_dir().join("actual-live-phone.png");
        small.save_png(&actual).unwrap();
        panic!(
            "{:.3} % of channels differ; this frame is at {}",
            share * 100.0,
            actual.display()
        );
    }
}
