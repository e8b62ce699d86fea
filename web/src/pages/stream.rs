//! The stream page and the pictures it uses.

use super::*;

/// The stream: preview, switch, scene previews and the scene file.
#[handler]
pub(super) async fn stream(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let on = app.backend.streaming();
    let standby = app.backend.standby();
    let scenes = app.backend.scenes();
    let status = app.backend.status();
    let level = |key: &str| status["stream"][key].as_f64();
    let (peak, loudness) = (level("audio_peak_dbfs"), level("audio_loudness_lufs"));
    let audio = audio_text(peak, level("audio_rms_dbfs"), loudness);
    page(depot, res, "Stream", |_, s| {
        let operate = can_operate(s);
        Ok(html! {
            p { "Streaming: " strong #streaming { (if on { "on" } else { "off" }) } }
            div.audio-meter data-audio="/api/v1/stream" {
                p { "Program audio: " span #audio-level { (audio) } }
                // Scales from -60 to 0: the bed sits near -30, speech near -14 LUFS, 0 clips.
                label { "Peak " meter #audio-peak min="-60" max="0" low="-40" high="-3" optimum="-12" value=(peak.unwrap_or(-60.0)) {} }
                label { " Loudness " meter #audio-loudness min="-60" max="0" low="-40" high="-9" optimum="-16" value=(loudness.unwrap_or(-60.0)) {} }
            }
            @if operate && on {
                (api_form("/api/v1/stream/stop", "POST", "Stop streaming", Some("Stop the live stream?"), false, html! {}))
            } @else if operate {
                (api_form("/api/v1/stream/start", "POST", "Start streaming", Some("Go live now?"), false, html! {}))
            }
            @if operate && standby {
                p.alert.warning { "On standby: viewers see \"we'll be right back\"." }
                (api_form("/api/v1/stream/standby/off", "POST", "Back on air", Some("Show the auction again?"), false, html! {}))
            } @else if operate {
                (api_form("/api/v1/stream/standby", "POST", "Emergency: standby picture", Some("Show \"we'll be right back\" instead of the auction? Bidding goes on."), false, html! {}))
            }
            h2 { "The host" }
            p {
                "Saying: " span #host-line { (status["stream"]["host"]["line"].as_str().unwrap_or("")) }
            }
            p.muted {
                "Voice: " (status["stream"]["host"]["voice"].as_str().unwrap_or("off"))
                " · lines spoken: " (status["stream"]["host"]["spoken"].as_u64().unwrap_or(0))
                @if let Some(p) = status["stream"]["host"]["last_problem"].as_str().filter(|p| !p.is_empty()) {
                    " · last problem: " (p)
                }
            }
            @if operate {
                (api_form(
                    "/api/v1/host/say",
                    "POST",
                    "Say this now",
                    None,
                    false,
                    html! { input name="text" placeholder="a line for the host to say on stream" required maxlength="280" aria-label="line to say"; },
                ))
                (api_form("/api/v1/host/voice-test", "POST", "Voice test", None, false, html! {}))
            }
            h2 { "The host's character" }
            @match app.backend.host_character() {
                Ok((text, prompt)) => {
                    p.muted { "Name, bio, style, topics, moods and voice (checked before it is saved; the host uses it at once)." }
                    @if operate {
                        (api_form(
                            "/api/v1/host/character",
                            "PUT",
                            "Check and save the character",
                            Some("Change the host's character now?"),
                            false,
                            html! { textarea name="toml" rows="16" spellcheck="false" aria-label="character file" { (text) } },
                        ))
                    } @else {
                        pre { (text) }
                    }
                    @if operate {
                        (api_form("/api/v1/host/preview", "POST", "Preview a few lines", None, false, html! {}))
                    }
                    details {
                        summary { "What a language model is told" }
                        pre #host-prompt { (prompt) }
                    }
                }
                Err(e) => p.alert.warning { "The character cannot be read: " (e) }
            }
            h2 { "Live preview" }
            img #preview .preview data-refresh="2000" src="/api/v1/stream/preview" alt="the composed frame";
            h2 { "Preview a scene before going live" }
            p {
                (link("/api/v1/stream/scenes/pre/preview", "before the auction")) " · "
                (link("/api/v1/stream/scenes/live/preview", "during the auction")) " · "
                (link("/api/v1/stream/scenes/post/preview", "after the auction")) " · "
                (link("/api/v1/stream/scenes/standby/preview", "standby"))
            }
            h2 { "Scene layout" }
            p.muted {
                "Positions, sizes and order of every element (the file is checked before it is saved; previews above use it at once)."
            }
            @if operate {
                (api_form(
                    "/api/v1/stream/scenes",
                    "PUT",
                    "Check and save the scenes",
                    Some("Save the scene layout? The stream uses it from its next start."),
                    false,
                    html! { textarea name="toml" rows="24" spellcheck="false" aria-label="scene file" { (scenes) } },
                ))
            } @else {
                pre { (scenes) }
            }
        })
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
        let operate = can_operate(s);
        let rows: Vec<Vec<Markup>> = names
            .iter()
            .map(|n| {
                vec![
                    html! { img.thumb src=(format!("/api/v1/assets/{n}")) alt=(n); },
                    cell(n),
                    cell(crate::assets::kind_of(n)),
                    html! {
                        @if operate {
                            (api_form(
                                &format!("/api/v1/assets/{n}"),
                                "DELETE",
                                "Delete",
                                Some(&format!("Delete {n}?")),
                                false,
                                html! {},
                            ))
                        }
                    },
                ]
            })
            .collect();
        Ok(html! {
            @if operate {
                form.upload data-upload="/api/v1/assets" {
                    input type="file" name="file" accept="image/png,image/jpeg" required aria-label="picture";
                    input name="name" placeholder="name, e.g. avatar-happy.png" required pattern="[a-z0-9._-]+" aria-label="name";
                    label { input type="checkbox" name="replace"; " replace" }
                    button { "Upload" }
                }
                p.muted {
                    "PNG or JPEG up to " (max >> 20) " MiB and 8192 px a side. Names: "
                    code { "avatar-<mood>.png" } " (neutral, excited, thinking, happy, surprised), "
                    code { "bg-…" } ", " code { "overlay-…" } "; anything else is artwork, named in a campaign's items."
                }
            }
            (table(&["", "Name", "Kind", ""], &rows))
        })
    });
}

/// The program audio's level in words, as the Stream page and its live meter show it.
fn audio_text(peak: Option<f64>, rms: Option<f64>, loudness: Option<f64>) -> String {
    match (peak, rms, loudness) {
        (Some(peak), Some(rms), Some(lufs)) => {
            format!("peak {peak:.1} dBFS, RMS {rms:.1} dBFS, loudness {lufs:.1} LUFS (last 3 s)")
        }
        _ => "not streaming".to_string(),
    }
}
