//! Widgets: for each, a content key (a hash of exactly what it shows at this moment) and a way
//! to draw itself into its own transparent layer. The compositor redraws a layer only when its
//! key changes, so a ticking countdown never redraws the artwork.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

use crate::assets::Assets;
use crate::blend::Rgba;
use crate::model::{Align, CountdownTo, Theme, Widget};
use crate::text::{Fonts, Weight};
use crate::view::{Mood, Phase, ViewModel};

/// What a widget sees while drawing.
pub struct Ctx<'a> {
    /// The view-model.
    pub vm: &'a ViewModel,
    /// Now, Unix milliseconds.
    pub now_ms: i64,
    /// Colours.
    pub theme: &'a Theme,
    /// Output pixels per canvas pixel.
    pub scale: f32,
}

fn hash(value: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// `H:MM:SS` or `MM:SS`.
pub fn clock_text(ms: i64) -> String {
    let total = (ms.max(0) + 999) / 1000;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// What a countdown shows: text, whether urgent, whether it is in the "on" half of a blink.
fn countdown_state(to: CountdownTo, ctx: &Ctx<'_>) -> (String, bool, bool) {
    let vm = ctx.vm;
    match to {
        CountdownTo::End => match vm.phase {
            Phase::Live => {
                let left = vm.ends_at_ms.map_or(0, |e| e - ctx.now_ms);
                let urgent = left < 60_000;
                let blink = urgent && left < 10_000 && (ctx.now_ms / 500) % 2 == 0;
                (clock_text(left), urgent, blink)
            }
            Phase::Paused => ("PAUSED".into(), false, false),
            Phase::Sold | Phase::Unsold => ("CLOSED".into(), false, false),
            Phase::Pre | Phase::Idle | Phase::Standby => ("--:--".into(), false, false),
        },
        CountdownTo::Start => match (vm.phase, vm.starts_at_ms) {
            (Phase::Pre, Some(start)) if start > ctx.now_ms => {
                (clock_text(start - ctx.now_ms), false, false)
            }
            (Phase::Pre, Some(_)) => ("Starting…".into(), true, false),
            _ => (String::new(), false, false),
        },
    }
}

/// The widget's content key at this moment.
pub fn key(widget: &Widget, ctx: &Ctx<'_>) -> u64 {
    let vm = ctx.vm;
    match widget {
        Widget::Panel { .. } => 0,
        Widget::Artwork => hash((&vm.artwork, &vm.title)),
        Widget::Label { text, .. } => hash(vm.fill(text)),
        Widget::Countdown { to, .. } => {
            let (text, urgent, blink) = countdown_state(*to, ctx);
            let ext = if *to == CountdownTo::End && vm.phase == Phase::Live {
                vm.extensions
            } else {
                0
            };
            hash((text, urgent, blink, ext))
        }
        Widget::Ticker { rows, .. } => {
            hash(vm.ticker.iter().take(*rows as usize).collect::<Vec<_>>())
        }
        Widget::Progress => hash((vm.day, vm.days)),
        Widget::SoldBanner => hash((vm.phase, &vm.winner, &vm.price)),
        Widget::Avatar => hash((vm.mood, mouth_step(vm.mouth), idle(ctx.now_ms))),
        Widget::LiveBadge => match vm.phase {
            // A slow pulse in 16 steps: the stream's one continuously moving element.
            Phase::Live => hash((1u8, pulse_step(ctx.now_ms))),
            Phase::Paused => hash(2u8),
            _ => hash(3u8),
        },
        Widget::Image { asset } => hash(asset),
    }
}

/// The name of a mood in asset file names.
pub fn mood_name(mood: Mood) -> &'static str {
    match mood {
        Mood::Neutral => "neutral",
        Mood::Excited => "excited",
        Mood::Thinking => "thinking",
        Mood::Happy => "happy",
        Mood::Surprised => "surprised",
    }
}

/// The mouth's opening in four steps (0: closed, the mood's own mouth).
fn mouth_step(mouth: u8) -> u8 {
    match mouth {
        0..=15 => 0,
        16..=95 => 1,
        96..=175 => 2,
        _ => 3,
    }
}

/// The host's idle motion at `now_ms`: whether its eyes are shut in a blink (150 ms every
/// 4.2 s) and a slow breathing sway in 8 steps over 3.2 s (-4..=4).
fn idle(now_ms: i64) -> (bool, i8) {
    let blink = now_ms.rem_euclid(4200) < 150;
    let phase = now_ms.rem_euclid(3200) as f32 / 3200.0;
    let sway = ((phase * std::f32::consts::TAU).sin() * 4.0).round() as i8;
    (blink, sway)
}

fn pulse_step(now_ms: i64) -> i64 {
    (now_ms.rem_euclid(1600)) * 16 / 1600
}

fn paint(color: Rgba) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(color.skia());
    p.anti_alias = true;
    p
}

fn rounded(x: f32, y: f32, w: f32, h: f32, r: f32) -> Option<tiny_skia::Path> {
    let r = r.min(w / 2.0).min(h / 2.0).max(0.0);
    if r == 0.0 {
        return Some(PathBuilder::from_rect(Rect::from_xywh(x, y, w, h)?));
    }
    let mut pb = PathBuilder::new();
    pb.move_to(x + r, y);
    pb.line_to(x + w - r, y);
    pb.quad_to(x + w, y, x + w, y + r);
    pb.line_to(x + w, y + h - r);
    pb.quad_to(x + w, y + h, x + w - r, y + h);
    pb.line_to(x + r, y + h);
    pb.quad_to(x, y + h, x, y + h - r);
    pb.line_to(x, y + r);
    pb.quad_to(x, y, x + r, y);
    pb.close();
    pb.finish()
}

fn fill(target: &mut Pixmap, path: Option<tiny_skia::Path>, color: Rgba) {
    if let Some(path) = path {
        target.fill_path(
            &path,
            &paint(color),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
}

/// Draws one line of text fitted into (x, y, w, h).
#[allow(clippy::too_many_arguments)]
fn line(
    fonts: &mut Fonts,
    target: &mut Pixmap,
    text: &str,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    max_px: f32,
    weight: Weight,
    color: Rgba,
    align: Align,
) {
    if text.is_empty() || w <= 1.0 || h <= 1.0 {
        return;
    }
    let fitted = fonts.fit(text, w, h, max_px, (max_px * 0.45).max(8.0), weight);
    let ascent = fonts.ascent(fitted.px, weight);
    let baseline = y + (h - fitted.px * 1.2) / 2.0 + ascent;
    let left = match align {
        Align::Left => x,
        Align::Center => x + (w - fitted.width) / 2.0,
        Align::Right => x + w - fitted.width,
    };
    fonts.draw(
        target,
        &fitted.text,
        (left, baseline),
        fitted.px,
        weight,
        color,
    );
}

/// Draws a widget into its layer (cleared by the caller).
pub fn draw(
    widget: &Widget,
    ctx: &Ctx<'_>,
    fonts: &mut Fonts,
    assets: &mut Assets,
    target: &mut Pixmap,
) {
    let (w, h) = (target.width() as f32, target.height() as f32);
    let s = ctx.scale;
    let theme = ctx.theme;
    let vm = ctx.vm;
    match widget {
        Widget::Panel { color, radius } => fill(
            target,
            rounded(0.0, 0.0, w, h, radius * s),
            color.resolve(theme),
        ),
        Widget::Artwork => {
            let key = vm
                .artwork
                .as_ref()
                .map_or_else(|| vm.title.clone(), |a| a.key.clone());
            let bytes = vm.artwork.as_ref().and_then(|a| a.bytes.clone());
            if let Some(img) = assets.artwork(
                &key,
                bytes.as_deref().map(Vec::as_slice),
                target.width(),
                target.height(),
            ) {
                target.draw_pixmap(
                    0,
                    0,
                    img.as_ref(),
                    &tiny_skia::PixmapPaint::default(),
                    Transform::identity(),
                    None,
                );
            }
        }
        Widget::Label {
            text,
            size,
            bold,
            color,
            align,
            lines,
        } => {
            let text = vm.fill(text);
            let weight = if *bold { Weight::Bold } else { Weight::Regular };
            let color = color.resolve(theme);
            if *lines <= 1 {
                line(
                    fonts,
                    target,
                    &text,
                    0.0,
                    0.0,
                    w,
                    h,
                    size * s,
                    weight,
                    color,
                    *align,
                );
            } else {
                let (px, wrapped) = fonts.wrap(
                    &text,
                    w,
                    h,
                    *lines as usize,
                    (size * s, (size * s * 0.5).max(8.0)),
                    weight,
                );
                let lh = px * 1.25;
                let top = (h - lh * wrapped.len() as f32) / 2.0;
                for (i, l) in wrapped.iter().enumerate() {
                    line(
                        fonts,
                        target,
                        l,
                        0.0,
                        top + lh * i as f32,
                        w,
                        lh,
                        px,
                        weight,
                        color,
                        *align,
                    );
                }
            }
        }
        Widget::Countdown { size, to } => {
            let (text, urgent, blink) = countdown_state(*to, ctx);
            let color = if urgent { theme.urgent } else { theme.text };
            let ext_h = if *to == CountdownTo::End && vm.extensions > 0 && vm.phase == Phase::Live {
                h * 0.28
            } else {
                0.0
            };
            if blink {
                fill(
                    target,
                    rounded(0.0, 0.0, w, h - ext_h, 10.0 * s),
                    theme.urgent.fade(0.18),
                );
            }
            line(
                fonts,
                target,
                &text,
                0.0,
                0.0,
                w,
                h - ext_h,
                size * s,
                Weight::Bold,
                color,
                Align::Left,
            );
            if ext_h > 0.0 {
                let label = if vm.extensions == 1 {
                    "EXTENDED +1".to_string()
                } else {
                    format!("EXTENDED +{}", vm.extensions)
                };
                line(
                    fonts,
                    target,
                    &label,
                    0.0,
                    h - ext_h,
                    w,
                    ext_h,
                    16.0 * s,
                    Weight::Bold,
                    theme.accent,
                    Align::Left,
                );
            }
        }
        Widget::Ticker { rows, size } => {
            let row_h = h / *rows as f32;
            if vm.ticker.is_empty() {
                line(
                    fonts,
                    target,
                    "No bids yet — be the first",
                    0.0,
                    0.0,
                    w,
                    row_h,
                    size * s,
                    Weight::Regular,
                    theme.muted,
                    Align::Left,
                );
            }
            // The newest bid that counted leads: it stands out.
            let leader = vm.ticker.iter().position(|t| t.refused.is_empty());
            for (i, t) in vm.ticker.iter().take(*rows as usize).enumerate() {
                let y = row_h * i as f32;
                if !t.refused.is_empty() {
                    // The instant confirmation of a refused bid: who, what, and why.
                    line(
                        fonts,
                        target,
                        &format!("{} {}: {}", t.who, t.amount, t.refused),
                        0.0,
                        y,
                        w,
                        row_h,
                        size * s * 0.85,
                        Weight::Regular,
                        theme.urgent,
                        Align::Left,
                    );
                    continue;
                }
                let (who_color, amount_color) = if Some(i) == leader {
                    (theme.text, theme.accent)
                } else {
                    (theme.muted, theme.muted)
                };
                line(
                    fonts,
                    target,
                    &t.who,
                    0.0,
                    y,
                    w * 0.6,
                    row_h,
                    size * s,
                    Weight::Regular,
                    who_color,
                    Align::Left,
                );
                line(
                    fonts,
                    target,
                    &t.amount,
                    w * 0.62,
                    y,
                    w * 0.38,
                    row_h,
                    size * s,
                    Weight::Bold,
                    amount_color,
                    Align::Right,
                );
            }
        }
        Widget::Progress => {
            let text = format!("DAY {} OF {}", vm.day, vm.days.max(vm.day));
            line(
                fonts,
                target,
                &text,
                0.0,
                0.0,
                w,
                h * 0.6,
                22.0 * s,
                Weight::Bold,
                theme.muted,
                Align::Left,
            );
            let bar_y = h * 0.72;
            let bar_h = (h * 0.18).max(3.0);
            fill(
                target,
                rounded(0.0, bar_y, w, bar_h, bar_h / 2.0),
                theme.panel.fade(2.0),
            );
            let frac = if vm.days == 0 {
                0.0
            } else {
                (vm.day as f32 / vm.days as f32).clamp(0.0, 1.0)
            };
            fill(
                target,
                rounded(0.0, bar_y, (w * frac).max(bar_h), bar_h, bar_h / 2.0),
                theme.accent,
            );
        }
        Widget::SoldBanner => {
            let (title, detail) = match vm.phase {
                Phase::Sold => ("SOLD", format!("to {} for {}", vm.winner, vm.price)),
                Phase::Unsold => ("UNSOLD", "the reserve was not met".to_string()),
                _ => return,
            };
            let band_h = h * 0.9;
            let top = (h - band_h) / 2.0;
            fill(
                target,
                rounded(0.0, top, w, band_h, 14.0 * s),
                Rgba {
                    a: 225,
                    ..theme.background_top
                },
            );
            let color = if vm.phase == Phase::Sold {
                theme.accent
            } else {
                theme.muted
            };
            if let Some(frame) = rounded(
                2.0 * s,
                top + 2.0 * s,
                w - 4.0 * s,
                band_h - 4.0 * s,
                12.0 * s,
            ) {
                let stroke = Stroke {
                    width: 3.0 * s,
                    ..Stroke::default()
                };
                target.stroke_path(&frame, &paint(color), &stroke, Transform::identity(), None);
            }
            line(
                fonts,
                target,
                title,
                0.0,
                top + band_h * 0.08,
                w,
                band_h * 0.55,
                96.0 * s,
                Weight::Bold,
                color,
                Align::Center,
            );
            line(
                fonts,
                target,
                &detail,
                w * 0.05,
                top + band_h * 0.62,
                w * 0.9,
                band_h * 0.3,
                30.0 * s,
                Weight::Regular,
                theme.text,
                Align::Center,
            );
        }
        Widget::Avatar => {
            // An uploaded picture for this mood (`avatar-excited.png`, ...) wins over the drawn
            // face; while the host speaks, `avatar-<mood>-talking.png` (or `avatar-talking.png`)
            // when there is one. Both sway gently.
            let (blink, sway) = idle(ctx.now_ms);
            let bob = sway as f32 * h * 0.004;
            let mood = mood_name(vm.mood);
            let talking = mouth_step(vm.mouth) > 0;
            let (tw, th) = (target.width(), target.height());
            let name = [
                talking.then(|| format!("avatar-{mood}-talking.png")),
                talking.then(|| "avatar-talking.png".to_string()),
                Some(format!("avatar-{mood}.png")),
            ]
            .into_iter()
            .flatten()
            .find(|name| assets.optional(name, tw, th).is_some());
            match name.and_then(|name| assets.optional(&name, tw, th)) {
                Some(img) => target.draw_pixmap(
                    0,
                    bob.round() as i32,
                    img.as_ref(),
                    &tiny_skia::PixmapPaint::default(),
                    Transform::identity(),
                    None,
                ),
                None => avatar(
                    target,
                    vm.mood,
                    theme,
                    Face {
                        mouth: mouth_step(vm.mouth),
                        blink,
                        bob,
                    },
                ),
            }
        }
        Widget::LiveBadge => {
            let (label, dot) = match vm.phase {
                Phase::Live => (
                    "LIVE",
                    Some(
                        0.35 + 0.65
                            * (std::f32::consts::PI * pulse_step(ctx.now_ms) as f32 / 16.0).sin(),
                    ),
                ),
                Phase::Paused => ("PAUSED", None),
                _ => return,
            };
            fill(
                target,
                rounded(0.0, 0.0, w, h, h / 2.0),
                Rgba {
                    a: 200,
                    ..theme.background_top
                },
            );
            let r = h * 0.22;
            if let Some(alpha) = dot {
                fill(
                    target,
                    PathBuilder::from_circle(h * 0.5, h * 0.5, r),
                    theme.urgent.fade(alpha),
                );
            }
            line(
                fonts,
                target,
                label,
                h * 0.9,
                0.0,
                w - h,
                h,
                h * 0.55,
                Weight::Bold,
                theme.text,
                Align::Left,
            );
        }
        Widget::Image { asset } => {
            if let Some(img) = assets.named(asset, target.width(), target.height()) {
                target.draw_pixmap(
                    0,
                    0,
                    img.as_ref(),
                    &tiny_skia::PixmapPaint::default(),
                    Transform::identity(),
                    None,
                );
            }
        }
    }
}

/// The face's motion this frame.
struct Face {
    /// The mouth's opening while speaking, 0-3 (0: the mood's own mouth).
    mouth: u8,
    /// Eyes shut.
    blink: bool,
    /// Vertical sway, pixels.
    bob: f32,
}

/// The host: a round face whose eyes, brows and mouth follow its mood, with a bow tie; it
/// blinks, sways, and its mouth opens with its voice.
fn avatar(target: &mut Pixmap, mood: Mood, theme: &Theme, face: Face) {
    let (w, h) = (target.width() as f32, target.height() as f32);
    let d = w.min(h) * 0.92;
    let (cx, cy, r) = (w / 2.0, h / 2.0 - d * 0.04 + face.bob, d / 2.0 * 0.86);
    fill(
        target,
        PathBuilder::from_circle(cx, cy, r),
        Rgba::rgb(0xf2, 0xc9, 0x9a),
    );
    let ink = Rgba::rgb(0x2a, 0x1f, 0x2e);
    let stroke = |width: f32| Stroke {
        width,
        line_cap: tiny_skia::LineCap::Round,
        ..Stroke::default()
    };
    let eye_y = cy - r * 0.18;
    let eye_dx = r * 0.36;
    let white_r = r * if mood == Mood::Surprised { 0.19 } else { 0.16 };
    let pupil_r = r * if mood == Mood::Surprised { 0.07 } else { 0.085 };
    // Thinking: the eyes glance up and aside.
    let (look_x, look_y) = if mood == Mood::Thinking {
        (r * 0.05, -r * 0.05)
    } else {
        (0.0, 0.0)
    };
    for side in [-1.0f32, 1.0] {
        if face.blink {
            let mut lid = PathBuilder::new();
            lid.move_to(cx + side * eye_dx - white_r, eye_y);
            lid.line_to(cx + side * eye_dx + white_r, eye_y);
            if let Some(p) = lid.finish() {
                target.stroke_path(
                    &p,
                    &paint(ink),
                    &stroke(r * 0.05),
                    Transform::identity(),
                    None,
                );
            }
        } else {
            fill(
                target,
                PathBuilder::from_circle(cx + side * eye_dx, eye_y, white_r),
                Rgba::rgb(0xff, 0xfb, 0xf2),
            );
            fill(
                target,
                PathBuilder::from_circle(cx + side * eye_dx + look_x, eye_y + look_y, pupil_r),
                ink,
            );
        }
        // Brows: raised when surprised or excited, one raised when thinking.
        let lift = match mood {
            Mood::Surprised | Mood::Excited => 0.46,
            Mood::Thinking if side > 0.0 => 0.48,
            _ => 0.34,
        };
        let mut brow = PathBuilder::new();
        brow.move_to(cx + side * (eye_dx - r * 0.14), eye_y - r * lift);
        brow.line_to(
            cx + side * (eye_dx + r * 0.14),
            eye_y
                - r * (lift
                    - if mood == Mood::Thinking {
                        0.06 * side
                    } else {
                        0.0
                    }),
        );
        if let Some(p) = brow.finish() {
            target.stroke_path(
                &p,
                &paint(ink),
                &stroke(r * 0.07),
                Transform::identity(),
                None,
            );
        }
    }
    let mouth_y = cy + r * 0.38;
    if face.mouth > 0 {
        // Speaking: an open mouth as wide as the voice is loud.
        let open = r * (0.06 + 0.07 * f32::from(face.mouth));
        let mut m = PathBuilder::new();
        m.push_oval(
            Rect::from_xywh(cx - r * 0.22, mouth_y - open / 2.0, r * 0.44, open).unwrap_or(
                Rect::from_xywh(cx - 1.0, mouth_y - 1.0, 2.0, 2.0)
                    .expect("a 2 px square is a rect"),
            ),
        );
        fill(target, m.finish(), ink);
        bow_tie(target, cx, cy, r, theme);
        return;
    }
    let mut mouth = PathBuilder::new();
    match mood {
        Mood::Neutral => {
            mouth.move_to(cx - r * 0.25, mouth_y);
            mouth.line_to(cx + r * 0.25, mouth_y);
        }
        Mood::Happy => {
            mouth.move_to(cx - r * 0.32, mouth_y - r * 0.06);
            mouth.quad_to(cx, mouth_y + r * 0.26, cx + r * 0.32, mouth_y - r * 0.06);
        }
        Mood::Thinking => {
            mouth.move_to(cx - r * 0.1, mouth_y + r * 0.04);
            mouth.line_to(cx + r * 0.26, mouth_y - r * 0.04);
        }
        Mood::Excited | Mood::Surprised => {}
    }
    if let Some(p) = mouth.finish() {
        target.stroke_path(
            &p,
            &paint(ink),
            &stroke(r * 0.08),
            Transform::identity(),
            None,
        );
    }
    match mood {
        Mood::Excited => {
            let mut open = PathBuilder::new();
            open.move_to(cx - r * 0.34, mouth_y - r * 0.08);
            open.quad_to(cx, mouth_y + r * 0.42, cx + r * 0.34, mouth_y - r * 0.08);
            open.close();
            fill(target, open.finish(), ink);
        }
        Mood::Surprised => fill(
            target,
            PathBuilder::from_circle(cx, mouth_y + r * 0.04, r * 0.14),
            ink,
        ),
        _ => {}
    }
    bow_tie(target, cx, cy, r, theme);
}

/// The host's bow tie, in the accent colour.
fn bow_tie(target: &mut Pixmap, cx: f32, cy: f32, r: f32, theme: &Theme) {
    let ty = cy + r * 1.02;
    let tw = r * 0.42;
    let mut tie = PathBuilder::new();
    tie.move_to(cx, ty);
    tie.line_to(cx - tw, ty - tw * 0.45);
    tie.line_to(cx - tw, ty + tw * 0.45);
    tie.close();
    tie.move_to(cx, ty);
    tie.line_to(cx + tw, ty - tw * 0.45);
    tie.line_to(cx + tw, ty + tw * 0.45);
    tie.close();
    fill(target, tie.finish(), theme.accent);
    fill(
        target,
        PathBuilder::from_circle(cx, ty, tw * 0.16),
        theme.accent,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_text_rounds_up_to_whole_seconds() {
        assert_eq!(clock_text(0), "00:00");
        assert_eq!(clock_text(1), "00:01");
        assert_eq!(clock_text(59_001), "01:00");
        assert_eq!(clock_text(3_600_000), "1:00:00");
        assert_eq!(clock_text(-5), "00:00");
    }
}
