//! Local FLV recording of what is published: rolling files, each one playable on its own
//! (header, metadata and sequence headers first, timestamps from zero), the oldest removed
//! beyond a count.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;

use crate::queue::{Media, MediaQueue};
use crate::{RtmpError, StreamHeaders, StreamStats, flv};

/// Recording settings.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// Directory of the files.
    pub dir: PathBuf,
    /// Start a new file at the first keyframe after this many seconds.
    pub segment_secs: u64,
    /// Keep at most this many files (the oldest go first).
    pub keep: usize,
}

struct Segment {
    file: tokio::io::BufWriter<tokio::fs::File>,
    path: PathBuf,
    first_pts: u64,
}

fn file_name(n: u64) -> String {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    format!("sothebais-{now}-{n:04}.flv")
}

/// Records until the queue closes. Returns the files written.
pub async fn run(
    config: RecorderConfig,
    headers: Arc<StreamHeaders>,
    queue: Arc<MediaQueue>,
    stats: Arc<StreamStats>,
) -> Result<Vec<PathBuf>, RtmpError> {
    tokio::fs::create_dir_all(&config.dir)
        .await
        .map_err(|e| RtmpError::Io(format!("cannot create {}: {e}", config.dir.display())))?;
    let mut written = Vec::new();
    let mut segment: Option<Segment> = None;
    let mut count = 0u64;
    while let Some(media) = queue.pop().await {
        let pts = media.pts_ms();
        let rotate = match (&segment, &media) {
            (None, Media::Video { keyframe: true, .. }) => true,
            (Some(s), Media::Video { keyframe: true, .. }) => {
                pts.saturating_sub(s.first_pts) >= config.segment_secs * 1000
            }
            _ => false,
        };
        if rotate {
            if let Some(s) = segment.take() {
                finish(s).await?;
            }
            count += 1;
            let path = config.dir.join(file_name(count));
            segment = Some(start(&path, &headers, pts).await?);
            written.push(path.clone());
            stats.recordings.fetch_add(1, Ordering::Relaxed);
            prune(&config.dir, config.keep).await;
            tracing::info!(file = %path.display(), "recording");
        }
        let Some(s) = segment.as_mut() else { continue };
        let ts = pts.saturating_sub(s.first_pts) as u32;
        let tag = match &media {
            Media::Video { keyframe, avcc, .. } => {
                flv::file_tag(flv::tag::VIDEO, ts, &flv::video_frame(*keyframe, avcc))
            }
            Media::Audio { aac, .. } => flv::file_tag(flv::tag::AUDIO, ts, &flv::audio_frame(aac)),
        };
        s.file
            .write_all(&tag)
            .await
            .map_err(|e| RtmpError::Io(format!("cannot write {}: {e}", s.path.display())))?;
    }
    if let Some(s) = segment.take() {
        finish(s).await?;
    }
    Ok(written)
}

async fn start(path: &Path, headers: &StreamHeaders, first_pts: u64) -> Result<Segment, RtmpError> {
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| RtmpError::Io(format!("cannot create {}: {e}", path.display())))?;
    let mut file = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut head = flv::file_header().to_vec();
    head.extend(flv::file_tag(
        flv::tag::SCRIPT,
        0,
        &flv::metadata(&headers.info, crate::ENCODER),
    ));
    head.extend(flv::file_tag(
        flv::tag::VIDEO,
        0,
        &flv::video_sequence_header(&headers.avc_record),
    ));
    head.extend(flv::file_tag(
        flv::tag::AUDIO,
        0,
        &flv::audio_sequence_header(&headers.asc),
    ));
    file.write_all(&head)
        .await
        .map_err(|e| RtmpError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(Segment {
        file,
        path: path.to_path_buf(),
        first_pts,
    })
}

async fn finish(mut s: Segment) -> Result<(), RtmpError> {
    s.file
        .flush()
        .await
        .map_err(|e| RtmpError::Io(format!("cannot write {}: {e}", s.path.display())))?;
    s.file.get_ref().sync_all().await.ok();
    Ok(())
}

/// Removes the oldest recordings beyond `keep`.
async fn prune(dir: &Path, keep: usize) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    let mut files = Vec::new();
    while let Ok(Some(e)) = entries.next_entry().await {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("sothebais-") && name.ends_with(".flv") {
            files.push(e.path());
        }
    }
    files.sort();
    let excess = files.len().saturating_sub(keep.max(1));
    for old in files.into_iter().take(excess) {
        if let Err(e) = tokio::fs::remove_file(&old).await {
            tracing::warn!(file = %old.display(), error = %e, "cannot remove an old recording");
        }
    }
}
