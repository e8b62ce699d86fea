//! The Stream page's preview shows what is encoded: while the stream runs, its latest keyframe,
//! decoded (at the stream's resolution), not a fresh render of the scene (at the preview's).

mod common;

use std::time::{Duration, Instant};

use common::admin_page::WebAppliance;

/// A baseline JPEG's frame size, from its SOF0 segment.
fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    let at = jpeg.windows(2).position(|w| w == [0xFF, 0xC0])?;
    let h = u16::from_be_bytes([*jpeg.get(at + 5)?, *jpeg.get(at + 6)?]);
    let w = u16::from_be_bytes([*jpeg.get(at + 7)?, *jpeg.get(at + 8)?]);
    Some((w, h))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_is_the_encoded_stream_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let app = WebAppliance::start(
        dir.path(),
        "[simulation]\nthink_secs = 1",
        &[("SOTHEBAIS_STREAM__ENABLED", "true")],
    );
    let mut admin = app.client();
    assert_eq!(
        admin.login("admin", &app.admin_password, None).await.status,
        200
    );
    let start = Instant::now();
    let reply = loop {
        let r = admin.get("/api/v1/stream/preview").await;
        if r.status == 200
            && r.headers.get("x-preview").and_then(|v| v.to_str().ok()) == Some("encoded")
        {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the preview never showed the encoded stream: {} {:?}",
            r.status,
            r.headers.get("x-preview")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(&reply.body[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(
        jpeg_size(&reply.body),
        Some((1280, 720)),
        "the stream's own resolution (a fresh render would be 640x360)"
    );
    // Off air, the preview is a fresh render again.
    assert_eq!(
        admin
            .send("POST", "/api/v1/stream/stop", serde_json::json!({}))
            .await
            .status,
        200
    );
    let r = admin.get("/api/v1/stream/preview").await;
    assert_eq!(
        r.headers.get("x-preview").and_then(|v| v.to_str().ok()),
        Some("composed")
    );
    assert_eq!(jpeg_size(&r.body), Some((640, 360)));
}
