//! The compositor: each element renders into its own layer, the size of its box (nothing can
//! draw outside its box), only when its content key changes; a frame is rebuilt only inside the
//! rectangles that changed, from the cached background and the layers in z-order. A change of
//! phase cross-fades from the old scene to the new one.

use std::sync::Arc;

use tiny_skia::{
    GradientStop, LinearGradient, Paint, Pixmap, Point, RadialGradient, Rect, SpreadMode, Transform,
};

use crate::assets::{AssetSource, Assets};
use crate::blend::{self, Bounds};
use crate::model::{
    CANVAS_HEIGHT, CANVAS_WIDTH, Element, Scene, SceneError, SceneSet, Theme, Widget,
};
use crate::text::Fonts;
use crate::view::{Phase, ViewModel};
use crate::widgets::{self, Ctx};

/// How long a change of scene takes to cross-fade.
pub const TRANSITION_MS: i64 = 600;

/// Which of the four scenes a phase shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SceneKind {
    /// Before bidding.
    Pre,
    /// During bidding.
    Live,
    /// After bidding.
    Post,
    /// On standby.
    Standby,
}

impl SceneKind {
    /// The scene for a phase.
    pub fn of(phase: Phase) -> SceneKind {
        match phase {
            Phase::Idle | Phase::Pre => SceneKind::Pre,
            Phase::Live | Phase::Paused => SceneKind::Live,
            Phase::Sold | Phase::Unsold => SceneKind::Post,
            Phase::Standby => SceneKind::Standby,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SceneKind::Pre => "pre",
            SceneKind::Live => "live",
            SceneKind::Post => "post",
            SceneKind::Standby => "standby",
        }
    }
}

struct Layer {
    name: String,
    widget: Widget,
    bounds: Bounds,
    pixmap: Option<Pixmap>,
    key: Option<u64>,
}

/// What the last frame redrew.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redraw {
    /// Layers whose content was rendered again (`scene.quadrant.n:widget`).
    pub layers: Vec<String>,
    /// Rectangles of the frame rebuilt.
    pub dirty: Vec<Bounds>,
    /// Whether the whole frame was rebuilt (first frame, scene change, fade).
    pub full: bool,
}

/// Renders view-models into frames.
pub struct Compositor {
    width: u32,
    height: u32,
    scale: f32,
    set: SceneSet,
    fonts: Fonts,
    assets: Assets,
    background: Pixmap,
    frame: Pixmap,
    faded: Pixmap,
    current: Option<SceneKind>,
    layers: Vec<Layer>,
    fade_from: Option<(Pixmap, i64)>,
    redraw: Redraw,
}

fn blank(width: u32, height: u32) -> Result<Pixmap, SceneError> {
    Pixmap::new(width, height).ok_or_else(|| SceneError::Invalid {
        scene: "output".into(),
        message: format!("{width}x{height} is not a drawable size"),
    })
}

impl Compositor {
    /// A compositor for `width` x `height` frames (the 16:9 design canvas is scaled to fit).
    pub fn new(
        set: SceneSet,
        width: u32,
        height: u32,
        source: Arc<dyn AssetSource>,
    ) -> Result<Compositor, SceneError> {
        set.validate()?;
        if width < 64 || height < 36 || width > 7680 || height > 4320 {
            return Err(SceneError::Invalid {
                scene: "output".into(),
                message: format!("{width}x{height} is outside 64x36 - 7680x4320"),
            });
        }
        let fonts = Fonts::new().map_err(|e| SceneError::Parse(format!("embedded font: {e}")))?;
        let mut c = Compositor {
            width,
            height,
            scale: (width as f32 / CANVAS_WIDTH).min(height as f32 / CANVAS_HEIGHT),
            set,
            fonts,
            assets: Assets::new(source),
            background: blank(width, height)?,
            frame: blank(width, height)?,
            faded: blank(width, height)?,
            current: None,
            layers: Vec::new(),
            fade_from: None,
            redraw: Redraw::default(),
        };
        c.paint_background();
        Ok(c)
    }

    /// Frame width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Replaces the scenes (an operator's edit); the next frame is drawn anew.
    pub fn set_scenes(&mut self, set: SceneSet) -> Result<(), SceneError> {
        set.validate()?;
        self.set = set;
        self.paint_background();
        self.current = None;
        Ok(())
    }

    /// What the last `render` redrew.
    pub fn last_redraw(&self) -> &Redraw {
        &self.redraw
    }

    /// The smallest text drawn since the last call, in output pixels (what a viewer must
    /// read), and that text.
    pub fn smallest_text(&mut self) -> Option<(f32, String)> {
        self.fonts.take_smallest()
    }

    /// Decodes of pictures so far (each picture is decoded once per drawn size).
    pub fn picture_decodes(&self) -> u64 {
        self.assets.decodes
    }

    fn paint_background(&mut self) {
        let theme = &self.set.theme;
        let (w, h) = (self.width as f32, self.height as f32);
        let bg = &mut self.background;
        if let (Some(shader), Some(rect)) = (
            LinearGradient::new(
                Point::from_xy(0.0, 0.0),
                Point::from_xy(0.0, h),
                vec![
                    GradientStop::new(0.0, theme.background_top.skia()),
                    GradientStop::new(1.0, theme.background_bottom.skia()),
                ],
                SpreadMode::Pad,
                Transform::identity(),
            ),
            Rect::from_xywh(0.0, 0.0, w, h),
        ) {
            bg.fill_rect(
                rect,
                &Paint {
                    shader,
                    ..Paint::default()
                },
                Transform::identity(),
                None,
            );
        }
        for (cx, cy, r) in [(0.18, 0.12, 0.55), (0.92, 0.95, 0.5)] {
            let centre = Point::from_xy(w * cx, h * cy);
            if let (Some(shader), Some(rect)) = (
                RadialGradient::new(
                    centre,
                    0.0,
                    centre,
                    w * r,
                    vec![
                        GradientStop::new(0.0, theme.glow.skia()),
                        GradientStop::new(1.0, theme.glow.fade(0.0).skia()),
                    ],
                    SpreadMode::Pad,
                    Transform::identity(),
                ),
                Rect::from_xywh(0.0, 0.0, w, h),
            ) {
                bg.fill_rect(
                    rect,
                    &Paint {
                        shader,
                        ..Paint::default()
                    },
                    Transform::identity(),
                    None,
                );
            }
        }
        if let Some(asset) = theme.background_image.clone()
            && let Some(img) = self.assets.named(&asset, self.width, self.height)
        {
            self.background.draw_pixmap(
                0,
                0,
                img.as_ref(),
                &tiny_skia::PixmapPaint::default(),
                Transform::identity(),
                None,
            );
        }
        // Frames are opaque: the encoder takes them as they are.
        for px in self.background.data_mut().chunks_exact_mut(4) {
            px[3] = 255;
        }
    }

    fn scene(&self, kind: SceneKind) -> &Scene {
        match kind {
            SceneKind::Pre => &self.set.scenes.pre,
            SceneKind::Live => &self.set.scenes.live,
            SceneKind::Post => &self.set.scenes.post,
            SceneKind::Standby => &self.set.scenes.standby,
        }
    }

    fn place(&self, boxed: [f32; 4], at: [f32; 4]) -> Bounds {
        let s = self.scale;
        let x0 = (boxed[0] + at[0] * boxed[2]) * s;
        let y0 = (boxed[1] + at[1] * boxed[3]) * s;
        let x1 = (boxed[0] + (at[0] + at[2]) * boxed[2]) * s;
        let y1 = (boxed[1] + (at[1] + at[3]) * boxed[3]) * s;
        let (x0, y0) = (x0.floor().max(0.0) as i32, y0.floor().max(0.0) as i32);
        let (x1, y1) = (
            x1.ceil().min(self.width as f32) as i32,
            y1.ceil().min(self.height as f32) as i32,
        );
        Bounds {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    fn build_layers(&mut self, kind: SceneKind) {
        let scene = self.scene(kind).clone();
        let mut placed: Vec<(i32, usize, String, Element, Bounds)> = Vec::new();
        let mut order = 0;
        for (qname, quad) in scene.quadrants.all() {
            let [x, y, w, h] = quad.bounds;
            let p = quad.padding;
            for e in &quad.elements {
                let boxed = if e.bleed {
                    quad.bounds
                } else {
                    [x + p, y + p, w - 2.0 * p, h - 2.0 * p]
                };
                let b = self.place(boxed, e.at);
                placed.push((
                    e.z,
                    order,
                    format!("{}.{qname}.{order}:{}", kind.name(), widget_name(&e.widget)),
                    e.clone(),
                    b,
                ));
                order += 1;
            }
        }
        for e in &scene.overlay {
            let b = self.place([0.0, 0.0, CANVAS_WIDTH, CANVAS_HEIGHT], e.at);
            placed.push((
                e.z,
                order,
                format!("{}.overlay.{order}:{}", kind.name(), widget_name(&e.widget)),
                e.clone(),
                b,
            ));
            order += 1;
        }
        placed.sort_by_key(|(z, order, ..)| (*z, *order));
        self.layers = placed
            .into_iter()
            .map(|(_, _, name, e, bounds)| Layer {
                name,
                widget: e.widget,
                pixmap: if bounds.is_empty() {
                    None
                } else {
                    Pixmap::new(bounds.w as u32, bounds.h as u32)
                },
                bounds,
                key: None,
            })
            .collect();
    }

    /// Renders the frame for `vm` at `now_ms` (Unix milliseconds). The pixels are premultiplied
    /// RGBA and opaque.
    pub fn render(&mut self, vm: &ViewModel, now_ms: i64) -> &Pixmap {
        let kind = SceneKind::of(vm.phase);
        let mut full = false;
        if self.assets.refresh(std::time::Instant::now()) {
            // A picture changed on disk: the background and every layer are drawn anew.
            self.paint_background();
            for layer in &mut self.layers {
                layer.key = None;
            }
            full = true;
        }
        if self.current != Some(kind) {
            if self.current.is_some() {
                let from = if self.fade_from.is_some() {
                    self.faded.clone()
                } else {
                    self.frame.clone()
                };
                self.fade_from = Some((from, now_ms));
            }
            self.current = Some(kind);
            self.build_layers(kind);
            full = true;
        }
        let theme: Theme = self.set.theme.clone();
        let ctx = Ctx {
            vm,
            now_ms,
            theme: &theme,
            scale: self.scale,
        };
        let mut redraw = Redraw::default();
        for layer in &mut self.layers {
            let key = widgets::key(&layer.widget, &ctx);
            if layer.key == Some(key) {
                continue;
            }
            layer.key = Some(key);
            if let Some(pixmap) = layer.pixmap.as_mut() {
                pixmap.fill(tiny_skia::Color::TRANSPARENT);
                widgets::draw(
                    &layer.widget,
                    &ctx,
                    &mut self.fonts,
                    &mut self.assets,
                    pixmap,
                );
            }
            redraw.layers.push(layer.name.clone());
            redraw.dirty.push(layer.bounds);
        }
        let frame_bounds = Bounds {
            x: 0,
            y: 0,
            w: self.width as i32,
            h: self.height as i32,
        };
        let dirty = merge(std::mem::take(&mut redraw.dirty));
        let dirty_area: i64 = dirty.iter().map(Bounds::area).sum();
        if full || dirty_area * 2 > frame_bounds.area() {
            full = true;
            self.compose(frame_bounds);
            redraw.dirty = vec![frame_bounds];
        } else {
            for rect in &dirty {
                self.compose(*rect);
            }
            redraw.dirty = dirty;
        }
        redraw.full = full;
        let fading = match &self.fade_from {
            Some((from, start)) => {
                let t = ((now_ms - start).max(0) * 256 / TRANSITION_MS) as u32;
                if t >= 256 {
                    None
                } else {
                    Some((from.clone(), t))
                }
            }
            None => None,
        };
        match fading {
            Some((from, t)) => {
                blend::crossfade(self.faded.data_mut(), from.data(), self.frame.data(), t);
                redraw.full = true;
                redraw.dirty = vec![frame_bounds];
                self.redraw = redraw;
                &self.faded
            }
            None => {
                if self.fade_from.take().is_some() {
                    redraw.full = true;
                    redraw.dirty = vec![frame_bounds];
                }
                self.redraw = redraw;
                &self.frame
            }
        }
    }

    fn compose(&mut self, rect: Bounds) {
        blend::copy_rect(&mut self.frame, &self.background, rect);
        for layer in &self.layers {
            if let Some(pixmap) = &layer.pixmap
                && layer.bounds.intersect(&rect).is_some()
            {
                blend::over_rect(
                    &mut self.frame,
                    pixmap,
                    (layer.bounds.x, layer.bounds.y),
                    rect,
                );
            }
        }
    }
}

/// Merges overlapping rectangles.
fn merge(mut rects: Vec<Bounds>) -> Vec<Bounds> {
    let mut merged = true;
    while merged {
        merged = false;
        'outer: for i in 0..rects.len() {
            for j in i + 1..rects.len() {
                if rects[i].intersect(&rects[j]).is_some() {
                    let u = rects[i].union(&rects[j]);
                    rects[i] = u;
                    rects.swap_remove(j);
                    merged = true;
                    break 'outer;
                }
            }
        }
    }
    rects
}

fn widget_name(w: &Widget) -> &'static str {
    match w {
        Widget::Panel { .. } => "panel",
        Widget::Artwork => "artwork",
        Widget::Label { .. } => "label",
        Widget::Countdown { .. } => "countdown",
        Widget::Ticker { .. } => "ticker",
        Widget::Progress => "progress",
        Widget::SoldBanner => "sold_banner",
        Widget::Avatar => "avatar",
        Widget::LiveBadge => "live_badge",
        Widget::Image { .. } => "image",
    }
}
