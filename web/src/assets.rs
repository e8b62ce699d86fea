//! Pictures the stream uses: artwork (named by items), backgrounds, overlays and the host's
//! expressions (`avatar-<mood>.png`). Uploads are the raw file as the body
//! (`POST /api/v1/assets?name=avatar-happy.png`): the name is checked (no paths, a picture
//! extension that matches the content), the size is bounded while reading, and the picture is
//! fully decoded under the scene's limits (side and pixel count) before it is written, so a
//! decompression bomb or a disguised file never lands in the folder.

use scene::check_asset_name as check_name;
use std::path::{Path, PathBuf};

use salvo::http::{HeaderValue, StatusCode};
use salvo::oapi::endpoint;
use salvo::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::{app, record, refuse, session};

/// An asset as listed.
#[derive(Debug, Serialize, salvo::oapi::ToSchema)]
pub struct AssetRow {
    /// File name.
    pub name: String,
    /// `avatar`, `background`, `overlay` or `artwork`.
    pub kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Last change (RFC 3339).
    pub modified: String,
}

/// What the name says the picture is for.
pub fn kind_of(name: &str) -> &'static str {
    if name.starts_with("avatar-") {
        "avatar"
    } else if name.starts_with("bg-") || name.starts_with("background") {
        "background"
    } else if name.starts_with("overlay-") {
        "overlay"
    } else {
        "artwork"
    }
}

/// Checks the content: a PNG or JPEG whose format matches the name, that decodes in full within
/// the limits. Its width and height.
pub fn check_picture(name: &str, bytes: &[u8]) -> Result<(u32, u32), String> {
    let format = scene::image::sniff(bytes).ok_or("the file is not a PNG or JPEG picture")?;
    let png = name.ends_with(".png");
    if png != matches!(format, scene::image::Format::Png) {
        return Err("the file's content does not match its extension".into());
    }
    let pixmap = scene::image::decode(bytes).map_err(|e| e.to_string())?;
    Ok((pixmap.width(), pixmap.height()))
}

fn path_of(dir: &Path, name: &str) -> Result<PathBuf, String> {
    check_name(name)?;
    Ok(dir.join(name))
}

/// Every asset.
#[endpoint(tags("assets"))]
pub async fn list(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let dir = app.backend.assets_dir();
    let mut rows = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() || check_name(&name).is_err() {
                continue;
            }
            let modified = meta
                .modified()
                .ok()
                .map(chrono::DateTime::<chrono::Utc>::from)
                .map_or_else(String::new, |t| t.to_rfc3339());
            rows.push(AssetRow {
                kind: kind_of(&name).into(),
                name,
                bytes: meta.len(),
                modified,
            });
        }
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    res.render(Json(rows));
}

/// One asset's picture.
#[endpoint(tags("assets"), parameters(("name" = String, Path, description = "asset file name")))]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let name = req.param::<String>("name").unwrap_or_default();
    let path = match path_of(&app.backend.assets_dir(), &name) {
        Ok(p) => p,
        Err(e) => return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e),
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let kind = if name.ends_with(".png") {
                "image/png"
            } else {
                "image/jpeg"
            };
            res.headers_mut()
                .insert("content-type", HeaderValue::from_static(kind));
            let _ = res.write_body(bytes);
        }
        Err(_) => refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no asset {name}"),
        ),
    }
}

/// Uploads a picture: the file is the body, `?name=` names it, `?replace=true` overwrites.
#[endpoint(tags("assets"))]
pub async fn upload(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let name = req.query::<String>("name").unwrap_or_default();
    let replace = req.query::<bool>("replace").unwrap_or(false);
    let dir = app.backend.assets_dir();
    let max = app.config.max_upload;
    let path = match path_of(&dir, &name) {
        Ok(p) => p,
        Err(e) => {
            // Read what the client is still sending, so it gets the answer rather than a reset.
            drain(req, max as u64 * 4).await;
            return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
        }
    };
    let too_large = format!("uploads are at most {} MiB", max >> 20);
    if req
        .header::<u64>("content-length")
        .is_some_and(|n| n > max as u64)
    {
        drain(req, max as u64 * 4).await;
        return refuse(res, StatusCode::PAYLOAD_TOO_LARGE, "too_large", too_large);
    }
    let bytes = match req.payload_with_max_size(max).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            drain(req, max as u64 * 4).await;
            return refuse(res, StatusCode::PAYLOAD_TOO_LARGE, "too_large", too_large);
        }
    };
    if path.exists() && !replace {
        return refuse(
            res,
            StatusCode::CONFLICT,
            "conflict",
            format!("{name} exists; replace it explicitly"),
        );
    }
    let checked = {
        let (name, bytes) = (name.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || check_picture(&name, &bytes)).await
    };
    let (width, height) = match checked {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return refuse(res, StatusCode::UNPROCESSABLE_ENTITY, "bad_picture", e),
        Err(e) => {
            return refuse(
                res,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            );
        }
    };
    let written = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".upload-{}", fastrand::u64(..)));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        return refuse(
            res,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
            format!("cannot save {name}: {e}"),
        );
    }
    if let Some(s) = session(depot) {
        record(
            &app,
            &s,
            req,
            "asset_uploaded",
            &format!("{name} ({width}x{height}, {} bytes)", bytes.len()),
        )
        .await;
    }
    res.status_code(StatusCode::CREATED);
    res.render(Json(json!({"name": name, "kind": kind_of(&name), "width": width, "height": height, "bytes": bytes.len()})));
}

/// Reads and drops up to `cap` bytes of a refused body, so the client, still sending, gets the
/// refusal rather than a broken connection; beyond `cap` the connection is closed.
async fn drain(req: &mut Request, cap: u64) {
    use futures_util::StreamExt as _;
    let mut body = req.take_body();
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.next().await {
        seen += frame.data_ref().map_or(0, |d| d.len() as u64);
        if seen > cap {
            break;
        }
    }
}

/// Deletes an asset.
#[endpoint(tags("assets"), parameters(("name" = String, Path, description = "asset file name")))]
pub async fn remove(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let name = req.param::<String>("name").unwrap_or_default();
    let path = match path_of(&app.backend.assets_dir(), &name) {
        Ok(p) => p,
        Err(e) => return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e),
    };
    if let Err(e) = std::fs::remove_file(&path) {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("cannot delete {name}: {e}"),
        );
    }
    if let Some(s) = session(depot) {
        record(&app, &s, req, "asset_deleted", &name).await;
    }
    res.render(Json(json!({"ok": true})));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_picture_files() {
        assert!(check_name("avatar-happy.png").is_ok());
        assert!(check_name("art_01.jpeg").is_ok());
        for bad in [
            "../x.png",
            "a/b.png",
            ".hidden.png",
            "x.svg",
            "X.PNG",
            "",
            "a..png",
            "a\\b.png",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(kind_of("avatar-happy.png"), "avatar");
        assert_eq!(kind_of("bg-night.jpg"), "background");
        assert!(check_picture("x.png", b"GIF89a").is_err());
    }
}
