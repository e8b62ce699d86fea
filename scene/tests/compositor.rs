//! The compositor: the default scene's look (golden image), redraws limited to what changed,
//! text that never leaves its box, cached pictures, and cross-fades between scenes.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{NOW, live};
use scene::{Bounds, Compositor, NoAssets, Phase, SceneSet, TRANSITION_MS};
use tiny_skia::Pixmap;

fn compositor() -> Compositor {
    Compositor::new(SceneSet::builtin(), 1280, 720, Arc::new(NoAssets)).unwrap()
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares with a stored image; `UPDATE_GOLDEN=1` rewrites it.
fn assert_matches_golden(frame: &Pixmap, name: &str) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        frame.save_png(&path).unwrap();
    }
    let expected = Pixmap::load_png(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        (frame.width(), frame.height()),
        (expected.width(), expected.height())
    );
    let (mut off, mut worst) = (0usize, 0u8);
    for (a, b) in frame.data().iter().zip(expected.data()) {
        let d = a.abs_diff(*b);
        worst = worst.max(d);
        if d > 8 {
            off += 1;
        }
    }
    let share = off as f64 / frame.data().len() as f64;
    if share > 0.002 {
        let actual = std::env::temp_dir().join(format!("actual-{name}"));
        frame.save_png(&actual).unwrap();
        panic!(
            "{name}: {:.3} % of channels differ by more than 8 (worst {worst}); this frame is at {}",
            share * 100.0,
            actual.display()
        );
    }
}

#[test]
fn the_default_scene_looks_as_designed() {
    let mut c = compositor();
    let frame = c.render(&live(), NOW).clone();
    assert_matches_golden(&frame, "live-720p.png");
    let mut sold = live();
    sold.phase = Phase::Sold;
    sold.winner = "@crypto_collector".into();
    c.render(&sold, NOW);
    let frame = c.render(&sold, NOW + TRANSITION_MS + 1).clone();
    assert_matches_golden(&frame, "sold-720p.png");
}

fn outside_unchanged(before: &Pixmap, after: &Pixmap, allowed: &[Bounds]) -> bool {
    let w = before.width() as i32;
    before
        .data()
        .chunks_exact(4)
        .zip(after.data().chunks_exact(4))
        .enumerate()
        .all(|(i, (a, b))| {
            let (x, y) = (i as i32 % w, i as i32 / w);
            a == b
                || allowed
                    .iter()
                    .any(|r| x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h)
        })
}

#[test]
fn a_countdown_tick_redraws_only_the_countdown() {
    let mut c = compositor();
    let vm = live();
    let first = c.render(&vm, NOW).clone();
    assert!(c.last_redraw().full);
    // 1.6 s later: the countdown's seconds changed; the LIVE badge's pulse is back in phase.
    let second = c.render(&vm, NOW + 1600).clone();
    let redraw = c.last_redraw().clone();
    assert_eq!(redraw.layers.len(), 1, "{:?}", redraw.layers);
    assert!(
        redraw.layers[0].ends_with(":countdown"),
        "{:?}",
        redraw.layers
    );
    assert!(!redraw.full);
    assert_eq!(redraw.dirty.len(), 1);
    let area = redraw.dirty[0].area();
    assert!(
        area < 1280 * 720 / 20,
        "the countdown's rectangle is small: {:?}",
        redraw.dirty
    );
    assert_ne!(first.data(), second.data(), "the countdown did change");
    assert!(
        outside_unchanged(&first, &second, &redraw.dirty),
        "pixels outside the countdown changed"
    );
    // The artwork was generated once and never again.
    assert_eq!(c.picture_decodes(), 0);
    // Nothing changed at all: nothing is redrawn.
    c.render(&vm, NOW + 1600);
    assert!(c.last_redraw().layers.is_empty() && c.last_redraw().dirty.is_empty());
}

#[test]
fn the_last_minute_looks_different_and_extensions_show() {
    let mut c = compositor();
    let mut vm = live();
    vm.ends_at_ms = Some(NOW + 120_000);
    let calm = c.render(&vm, NOW).clone();
    vm.ends_at_ms = Some(NOW + 50_000);
    vm.extensions = 2;
    let urgent = c.render(&vm, NOW).clone();
    let changed = c.last_redraw().clone();
    assert!(
        changed.layers.iter().all(|l| l.ends_with(":countdown")),
        "{:?}",
        changed.layers
    );
    // The urgent colour (#ff4d5e) appears in the countdown's rectangle.
    let r = changed.dirty[0];
    let reddish = |p: &Pixmap| {
        (r.y..r.y + r.h)
            .flat_map(|y| (r.x..r.x + r.w).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let px = p.pixel(x as u32, y as u32).unwrap();
                px.red() > 200 && px.green() < 120 && px.blue() < 130
            })
            .count()
    };
    assert_eq!(reddish(&calm), 0);
    assert!(reddish(&urgent) > 50);
}

#[test]
fn long_handles_and_prices_stay_in_their_boxes() {
    let mut c = compositor();
    let before = c.render(&live(), NOW).clone();
    let mut vm = live();
    vm.leader = "@an_extraordinarily_long_handle_that_would_never_fit_anywhere_at_all".into();
    vm.price = "340282366920938463463.374607431768211455 ETH".into();
    let after = c.render(&vm, NOW).clone();
    let redraw = c.last_redraw();
    assert_eq!(redraw.layers.len(), 2, "{:?}", redraw.layers);
    assert!(outside_unchanged(&before, &after, &redraw.dirty));
}

#[test]
fn a_phase_change_cross_fades_then_settles() {
    let mut c = compositor();
    let vm = live();
    let live_frame = c.render(&vm, NOW).clone();
    let mut sold = live();
    sold.phase = Phase::Sold;
    sold.winner = "@crypto_collector".into();
    let start = c.render(&sold, NOW + 100).clone();
    assert!(c.last_redraw().full);
    let middle = c.render(&sold, NOW + 100 + TRANSITION_MS / 2).clone();
    let end = c.render(&sold, NOW + 100 + TRANSITION_MS).clone();
    assert!(c.last_redraw().full, "the last fade frame is whole");
    let settled = c.render(&sold, NOW + 100 + TRANSITION_MS + 40).clone();
    assert!(!c.last_redraw().full);
    // Half way, a pixel lies between the live and the sold frame.
    let diff = |a: &Pixmap, b: &Pixmap| {
        a.data()
            .iter()
            .zip(b.data())
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum::<u64>()
    };
    assert_eq!(
        diff(&start, &live_frame),
        0,
        "the fade starts from the live frame"
    );
    assert!(diff(&middle, &live_frame) > 0 && diff(&middle, &end) > 0);
    assert_eq!(diff(&settled, &end), 0);
}

#[test]
fn output_scales_to_1080p() {
    let mut c = Compositor::new(SceneSet::builtin(), 1920, 1080, Arc::new(NoAssets)).unwrap();
    let frame = c.render(&live(), NOW);
    assert_eq!((frame.width(), frame.height()), (1920, 1080));
    assert!(
        frame.pixels().iter().all(|p| p.alpha() == 255),
        "frames are opaque"
    );
}

#[test]
fn the_host_talks_blinks_and_sways_in_its_own_box_only() {
    let mut c = compositor();
    let vm = live();
    let silent = c.render(&vm, NOW).clone();
    // Speaking: only the avatar's layer is redrawn, and it looks different.
    let mut talking = vm.clone();
    talking.mouth = 220;
    let open = c.render(&talking, NOW).clone();
    let redraw = c.last_redraw().clone();
    assert_eq!(redraw.layers.len(), 1, "{:?}", redraw.layers);
    assert!(redraw.layers[0].ends_with(":avatar"), "{:?}", redraw.layers);
    assert_ne!(silent.data(), open.data(), "the mouth opens");
    assert!(outside_unchanged(&silent, &open, &redraw.dirty));
    // Louder is wider: the mouth has steps, each a different picture.
    let mut softer = vm.clone();
    softer.mouth = 60;
    let half = c.render(&softer, NOW).clone();
    assert_ne!(half.data(), open.data());
    assert_ne!(half.data(), silent.data());
    // Silent again: the same picture as before it spoke.
    assert_eq!(c.render(&vm, NOW).data(), silent.data());
    // A blink (NOW is 2.4 s into the 4.2 s blink cycle) and a sway change only the avatar.
    let blink = c.render(&vm, NOW + 1_800).clone();
    assert!(
        c.last_redraw()
            .layers
            .iter()
            .any(|l| l.ends_with(":avatar"))
    );
    assert_ne!(blink.data(), silent.data());
    let swayed = c.render(&vm, NOW + 800).clone();
    assert!(
        c.last_redraw()
            .layers
            .iter()
            .any(|l| l.ends_with(":avatar"))
    );
    assert_ne!(swayed.data(), silent.data());
}
