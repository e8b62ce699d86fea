//! An artwork replaced on disk reaches the composed picture without a restart: the view updater
//! notices the file changed (looked at once a second) and the compositor draws the new picture.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::clock::{SharedClock, SystemClock};
use domain::engine::{Command, Engine, EngineConfig};
use scene::{Compositor, DirAssets, SceneSet};
use store::{Audit, Store};
use tokio::sync::watch;

/// A 64x64 picture of one colour, as PNG.
fn png(r: u8, g: u8, b: u8) -> Vec<u8> {
    let mut p = tiny_skia::Pixmap::new(64, 64).unwrap();
    p.fill(tiny_skia::Color::from_rgba8(r, g, b, 255));
    p.encode_png().unwrap()
}

/// Pixels of the frame that are nearly pure `channel` (0 red, 2 blue).
fn count(frame: &tiny_skia::Pixmap, channel: usize) -> usize {
    frame
        .data()
        .chunks_exact(4)
        .filter(|px| px[channel] > 200 && (0..3).all(|c| c == channel || px[c] < 40))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_artwork_reaches_the_picture_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("art.png"), png(255, 0, 0)).unwrap();
    let store = Arc::new(Store::in_memory().unwrap());
    let clock: SharedClock = Arc::new(SystemClock);
    let engine = Engine::start(store.clone(), clock.clone(), EngineConfig::default()).unwrap();
    let h = engine.handle();
    let mut spec = domain::demo::live_spec(clock.now());
    for item in &mut spec.items {
        item.image = "art.png".into();
    }
    h.execute(Command::CreateCampaign {
        spec: Box::new(spec),
        audit: Audit {
            actor: "test".into(),
            origin: "test".into(),
            reason: "live assets".into(),
        },
    })
    .await
    .unwrap();
    let first = stream::initial_snapshot(&store, &clock, dir.path().into());
    let (tx, mut rx) = watch::channel(first);
    let (stop, stopped) = watch::channel(false);
    let updater = tokio::spawn(stream::update_view(
        store.clone(),
        h.subscribe(),
        Arc::new(tx),
        clock.clone(),
        dir.path().into(),
        watch::channel(stream::host::HostLine::default()).1,
        stopped,
    ));
    let mut compositor = Compositor::new(
        SceneSet::builtin(),
        640,
        360,
        Arc::new(DirAssets(dir.path().into())),
    )
    .unwrap();
    let mut render = |vm: &scene::ViewModel| compositor.render(vm, clock.now().0 / 1000).clone();

    // The red artwork shows.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut frame = render(&rx.borrow_and_update().vm);
    while count(&frame, 0) < 500 {
        assert!(Instant::now() < deadline, "the red artwork never showed");
        let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
        frame = render(&rx.borrow_and_update().vm);
    }
    // Replaced by a blue one while the stream runs.
    std::fs::write(dir.path().join("art.png"), png(0, 0, 255)).unwrap();
    let replaced = Instant::now();
    let deadline = replaced + Duration::from_secs(20);
    while count(&frame, 2) < 500 {
        assert!(
            Instant::now() < deadline,
            "the replaced artwork never showed"
        );
        let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
        frame = render(&rx.borrow_and_update().vm);
    }
    eprintln!(
        "replaced artwork drawn {:?} after the file changed",
        replaced.elapsed()
    );
    assert!(count(&frame, 0) < 100, "the old picture is gone");
    stop.send(true).unwrap();
    updater.await.unwrap();
    engine.shutdown().await;
}
