//! The stream page and the pictures it uses.

use super::*;

/// The stream: preview, switch, scene previews and the scene file.
#[handler]
pub(super) async fn stream(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let on = app.backend.streaming();
    let scenes = app.backend.scenes();
    page(depot, res, "Stream", |_, s| {
        let switch = if !can_operate(s) {
            String::new()
        } else if on {
            api_form(
                "/api/v1/stream/stop",
                "POST",
                "Stop streaming",
                Some("Stop the live stream?"),
                false,
                "",
            )
        } else {
            api_form(
                "/api/v1/stream/start",
                "POST",
                "Start streaming",
                Some("Go live now?"),
                false,
                "",
            )
        };
        let editor = if can_operate(s) {
            api_form(
                "/api/v1/stream/scenes",
                "PUT",
                "Check and save the scenes",
                Some("Save the scene layout? The stream uses it from its next start."),
                false,
                &format!(
                    r#"<textarea name="toml" rows="24" spellcheck="false" aria-label="scene file">{}</textarea>"#,
                    esc(&scenes)
                ),
            )
        } else {
            format!("<pre>{}</pre>", esc(&scenes))
        };
        Ok(format!(
            r#"<p>Streaming: <strong id="streaming">{}</strong></p>{switch}
<h2>Live preview</h2><img id="preview" class="preview" data-refresh="2000" src="/api/v1/stream/preview" alt="the composed frame">
<h2>Preview a scene before going live</h2><p>{} · {} · {}</p>
<h2>Scene layout</h2><p class="muted">Positions, sizes and order of every element (the file is checked before it is saved; previews above use it at once).</p>{editor}"#,
            if on { "on" } else { "off" },
            link("/api/v1/stream/scenes/pre/preview", "before the auction"),
            link("/api/v1/stream/scenes/live/preview", "during the auction"),
            link("/api/v1/stream/scenes/post/preview", "after the auction"),
        ))
    });
}

/// Pictures: list, upload, delete.
#[handler]
pub(super) async fn assets(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let dir = app.backend.assets_dir();
    let max = app.config.max_upload;
    page(depot, res, "Assets", |_, s| {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| scene::check_asset_name(n).is_ok())
            .collect();
        names.sort();
        let rows: Vec<Vec<String>> = names
            .iter()
            .map(|n| {
                let del = if can_operate(s) {
                    api_form(
                        &format!("/api/v1/assets/{n}"),
                        "DELETE",
                        "Delete",
                        Some(&format!("Delete {n}?")),
                        false,
                        "",
                    )
                } else {
                    String::new()
                };
                vec![
                    format!(
                        r#"<img class="thumb" src="/api/v1/assets/{0}" alt="{0}">"#,
                        esc(n)
                    ),
                    esc(n),
                    crate::assets::kind_of(n).into(),
                    del,
                ]
            })
            .collect();
        let upload = if can_operate(s) {
            format!(
                r#"<form class="upload" data-upload="/api/v1/assets"><input type="file" name="file" accept="image/png,image/jpeg" required aria-label="picture">
<input name="name" placeholder="name, e.g. avatar-happy.png" required pattern="[a-z0-9._-]+" aria-label="name"><label><input type="checkbox" name="replace"> replace</label><button>Upload</button></form>
<p class="muted">PNG or JPEG up to {} MiB and 8192 px a side. Names: <code>avatar-&lt;mood&gt;.png</code> (neutral, excited, thinking, happy, surprised), <code>bg-…</code>, <code>overlay-…</code>; anything else is artwork, named in a campaign's items.</p>"#,
                max >> 20
            )
        } else {
            String::new()
        };
        Ok(format!(
            "{upload}{}",
            table(&["", "Name", "Kind", ""], &rows)
        ))
    });
}
