//! The stream: its state, preview, switch and scenes.

use super::*;

/// Whether the stream runs, and its health.
#[endpoint(tags("stream"))]
pub(super) async fn stream_status(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    res.render(Json(
        json!({"streaming": app.backend.streaming(), "stats": app.backend.status()["stream"]}),
    ));
}

/// The composed frame now, as JPEG.
#[endpoint(tags("stream"))]
pub(super) async fn stream_preview(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.backend.frame_jpeg().await {
        Ok(preview) => {
            res.headers_mut()
                .insert("content-type", HeaderValue::from_static("image/jpeg"));
            res.headers_mut()
                .insert("x-preview", HeaderValue::from_static(preview.source));
            let jpeg = preview.jpeg;
            res.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            let _ = res.write_body(jpeg);
        }
        Err(e) => refuse(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    }
}

/// The scene file (TOML).
#[endpoint(tags("stream"))]
pub(super) async fn scenes(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    res.render(Json(json!({"toml": app.backend.scenes()})));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct ScenesBody {
    /// The whole scene file (TOML).
    toml: String,
}

/// Replaces the scenes after checking them.
#[endpoint(tags("stream"))]
pub(super) async fn save_scenes(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let b: ScenesBody = match body(req).await {
        Ok(b) => b,
        Err(e) => return fail(res, e),
    };
    if let Err(e) = app.backend.set_scenes(&b.toml) {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    let s = who(depot);
    record(
        &app,
        &s,
        req,
        "scenes_saved",
        &format!("{} bytes", b.toml.len()),
    )
    .await;
    res.render(Json(json!({"ok": true})));
}

/// A render of the `pre`, `live`, `post` or `standby` scene with the data now, as PNG.
#[endpoint(tags("stream"), parameters(("phase" = String, Path, description = "pre, live, post or standby")))]
pub(super) async fn scene_preview(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let phase = req.param::<String>("phase").unwrap_or_default();
    if !matches!(phase.as_str(), "pre" | "live" | "post") {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the scene is pre, live or post",
        );
    }
    match app.backend.scene_preview(phase).await {
        Ok(png) => {
            res.headers_mut()
                .insert("content-type", HeaderValue::from_static("image/png"));
            res.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            let _ = res.write_body(png);
        }
        Err(e) => refuse(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    }
}

pub(super) async fn switch_stream(
    on: bool,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) {
    let app = app(depot);
    let s = who(depot);
    if let Err(e) = app.backend.set_streaming(on).await {
        return refuse(res, StatusCode::CONFLICT, "invalid_state", e);
    }
    record(
        &app,
        &s,
        req,
        if on {
            "stream_started"
        } else {
            "stream_stopped"
        },
        "",
    )
    .await;
    res.render(Json(json!({"streaming": app.backend.streaming()})));
}

/// Puts the standby picture on air: the stream goes on, showing "we'll be right back".
#[endpoint(tags("stream"))]
pub(super) async fn standby_on(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    switch_standby(true, req, depot, res).await;
}

/// Takes the standby picture off: the auction is back on air.
#[endpoint(tags("stream"))]
pub(super) async fn standby_off(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    switch_standby(false, req, depot, res).await;
}

async fn switch_standby(on: bool, req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    app.backend.set_standby(on);
    record(
        &app,
        &s,
        req,
        if on { "standby_on" } else { "standby_off" },
        "",
    )
    .await;
    res.render(Json(json!({"standby": app.backend.standby()})));
}

/// Starts streaming.
#[endpoint(tags("stream"))]
pub(super) async fn stream_start(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    switch_stream(true, req, depot, res).await;
}

/// Stops streaming.
#[endpoint(tags("stream"))]
pub(super) async fn stream_stop(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    switch_stream(false, req, depot, res).await;
}

/// What the operator gives the host to say.
#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct SayBody {
    /// The line, 1 to 280 characters.
    text: String,
}

/// The host says this now, on stream: spoken, shown as its caption, ahead of any line waiting.
#[endpoint(tags("stream"))]
pub(super) async fn host_say(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let b: SayBody = match body(req).await {
        Ok(b) => b,
        Err(e) => return fail(res, e),
    };
    let text: String = b
        .text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string();
    if text.is_empty() || text.chars().count() > 280 {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a line is 1 to 280 characters",
        );
    }
    say(&app, &text, "host_say", req, depot, res).await;
}

/// The host says a test line, to check its voice on the stream.
#[endpoint(tags("stream"))]
pub(super) async fn host_voice_test(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    say(
        &app,
        "This is your host, testing my voice. One, two, three.",
        "host_voice_test",
        req,
        depot,
        res,
    )
    .await;
}

async fn say(
    app: &crate::App,
    text: &str,
    action: &str,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) {
    if let Err(e) = app.backend.host_say(text) {
        return refuse(res, StatusCode::CONFLICT, "invalid_state", e);
    }
    let s = who(depot);
    record(app, &s, req, action, text).await;
    res.render(Json(json!({"ok": true, "said": text})));
}

/// A few lines the host would say now with its character, for the operator.
#[endpoint(tags("stream"))]
pub(super) async fn host_preview(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.backend.host_preview().await {
        Ok(lines) => res.render(Json(json!({"lines": lines}))),
        Err(e) => refuse(res, StatusCode::CONFLICT, "invalid_state", e),
    }
}

/// The host's character file.
#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct CharacterBody {
    /// The whole character (TOML).
    toml: String,
}

/// Replaces the host's character: checked (every problem named), in force at once, audited.
#[endpoint(tags("stream"))]
pub(super) async fn save_character(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let b: CharacterBody = match body(req).await {
        Ok(b) => b,
        Err(e) => return fail(res, e),
    };
    let size = b.toml.len();
    if let Err(e) = app.backend.set_host_character(b.toml).await {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    let s = who(depot);
    record(
        &app,
        &s,
        req,
        "host_character_saved",
        &format!("{size} bytes"),
    )
    .await;
    let prompt = app
        .backend
        .host_character()
        .map(|(_, p)| p)
        .unwrap_or_default();
    res.render(Json(json!({"ok": true, "system_prompt": prompt})));
}
