//! The standby picture: on air when the view of the auction goes stale (nothing confirmed it
//! current for ten seconds) and when the operator asks, off again when neither holds.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use codec::{EncoderChoice, VideoSettings};
use domain::clock::{SharedClock, SystemClock};
use scene::SceneSet;
use tokio::sync::watch;

fn standby_reason(stream: &stream::Stream) -> Option<String> {
    stream
        .pipeline
        .standby
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

async fn wait_for(stream: &stream::Stream, what: &str, want: impl Fn(Option<String>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !want(standby_reason(stream)) {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_data_and_the_operator_put_the_stream_on_standby() {
    let dir = tempfile::tempdir().unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let fresh = stream::Snapshot {
        vm: Arc::new(scene::ViewModel::default()),
        seq: 0,
        at: Instant::now(),
        fresh: Instant::now(),
    };
    let (tx, rx) = watch::channel(fresh);
    let standby = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let settings = stream::StreamSettings {
        video: VideoSettings {
            width: 320,
            height: 180,
            ..VideoSettings::hd720()
        },
        encoder: EncoderChoice::OpenH264,
        audio: codec::AudioBedKind::Silence,
        audio_kbps: 64,
        scenes: SceneSet::builtin(),
        assets_dir: dir.path().into(),
        publish: None,
        record: None,
        frames: None,
        fail_encoder_after: None,
        fail_every_encoder: false,
        adaptive: None,
        speaker: Default::default(),
        standby: standby.clone(),
    };
    let s = stream::Stream::start(settings, rx, clock, tokio::runtime::Handle::current()).unwrap();
    // Current data: the auction is on air.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(standby_reason(&s), None);
    // The operator's switch.
    standby.store(true, Ordering::Relaxed);
    wait_for(&s, "standby by the operator", |r| {
        r.is_some_and(|w| w.contains("operator"))
    })
    .await;
    standby.store(false, Ordering::Relaxed);
    wait_for(&s, "back on air", |r| r.is_none()).await;
    // Data nobody confirmed for longer than the limit.
    tx.send_modify(|snap| {
        snap.fresh = Instant::now() - stream::STALE_AFTER - Duration::from_secs(1)
    });
    wait_for(&s, "standby for stale data", |r| {
        r.is_some_and(|w| w.contains("data is"))
    })
    .await;
    tx.send_modify(|snap| snap.fresh = Instant::now());
    wait_for(&s, "back on air with fresh data", |r| r.is_none()).await;
    assert!(s.pipeline.frames.load(Ordering::Relaxed) > 0);
    s.stop().await.unwrap();
}

#[test]
fn the_standby_scene_is_its_own_picture() {
    let mut c =
        scene::Compositor::new(SceneSet::builtin(), 640, 360, Arc::new(scene::NoAssets)).unwrap();
    let vm = scene::ViewModel {
        phase: scene::Phase::Standby,
        ..scene::ViewModel::default()
    };
    c.render(&vm, 0);
    let layers = &c.last_redraw().layers;
    assert!(
        layers.iter().all(|l| l.starts_with("standby")) && !layers.is_empty(),
        "{layers:?}"
    );
}
