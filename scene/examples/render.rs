//! Renders the built-in scenes in each phase to PNG files: `cargo run -p scene --example render -- DIR`.
use std::sync::Arc;

#[path = "../tests/common.rs"]
mod common;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let mut c = scene::Compositor::new(
        scene::SceneSet::builtin(),
        1280,
        720,
        Arc::new(scene::NoAssets),
    )
    .unwrap();
    for (name, phase) in [
        ("pre", scene::Phase::Pre),
        ("live", scene::Phase::Live),
        ("post", scene::Phase::Sold),
    ] {
        let mut vm = common::live();
        vm.phase = phase;
        vm.winner = "@crypto_collector".into();
        if phase == scene::Phase::Pre {
            vm.starts_at_ms = Some(common::NOW + 3_723_000);
            vm.mood = scene::Mood::Happy;
            vm.caption =
                "Good evening! Tonight's lot is Genesis #15 by Ada Pixel. Bidding opens soon."
                    .into();
        }
        c.render(&vm, common::NOW);
        let frame = c.render(&vm, common::NOW + 10_000);
        frame.save_png(format!("{dir}/{name}.png")).unwrap();
    }
}
