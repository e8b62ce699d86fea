//! The scene model: data an operator can edit (TOML). Three scenes, one per phase (before the
//! auction, during it, after it), each with four fixed quadrants (bounds and padding on a
//! 1280x720 design canvas) and an overlay layer; elements sit in a quadrant at a rectangle
//! relative to its padded box, ordered by `z`.

use serde::Deserialize;

use crate::blend::Rgba;
use crate::view::FIELDS;

/// Width of the design canvas; output frames are scaled from it.
pub const CANVAS_WIDTH: f32 = 1280.0;
/// Height of the design canvas.
pub const CANVAS_HEIGHT: f32 = 720.0;

/// The built-in scene file.
pub const DEFAULT_SCENES: &str = include_str!("default_scenes.toml");

/// A whole scene file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneSet {
    /// Colours.
    pub theme: Theme,
    /// The scene of each phase.
    pub scenes: Scenes,
}

/// One scene per phase.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenes {
    /// Before bidding opens (and when nothing is scheduled).
    pub pre: Scene,
    /// While bidding is open or paused.
    pub live: Scene,
    /// After bidding closed.
    pub post: Scene,
    /// "We'll be right back": shown when the appliance's data is stale or the operator asks
    /// for it. A scene file without one gets the built-in standby scene.
    #[serde(default = "builtin_standby")]
    pub standby: Scene,
}

fn builtin_standby() -> Scene {
    // The built-in file has a standby scene (a test parses it); failing here is a build defect.
    toml::from_str::<SceneSet>(DEFAULT_SCENES)
        .unwrap_or_else(|e| panic!("built-in scenes: {e}"))
        .scenes
        .standby
}

/// The palette. Colours are `#rrggbb` or `#rrggbbaa`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// Background gradient, top.
    pub background_top: Rgba,
    /// Background gradient, bottom.
    pub background_bottom: Rgba,
    /// Soft glow in the background.
    pub glow: Rgba,
    /// Highlights: prices, the leader.
    pub accent: Rgba,
    /// Body text.
    pub text: Rgba,
    /// Secondary text.
    pub muted: Rgba,
    /// Panels behind content.
    pub panel: Rgba,
    /// The last minute, errors.
    pub urgent: Rgba,
    /// Background image asset drawn over the gradient, if any.
    #[serde(default)]
    pub background_image: Option<String>,
}

/// One scene.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// The four quadrants.
    pub quadrants: Quadrants,
    /// Elements over everything, placed relative to the whole canvas.
    #[serde(default)]
    pub overlay: Vec<Element>,
}

/// The four fixed quadrants.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quadrants {
    /// Top left.
    pub top_left: Quadrant,
    /// Top right.
    pub top_right: Quadrant,
    /// Bottom left.
    pub bottom_left: Quadrant,
    /// Bottom right.
    pub bottom_right: Quadrant,
}

impl Quadrants {
    /// The quadrants with their names.
    pub fn all(&self) -> [(&'static str, &Quadrant); 4] {
        [
            ("top_left", &self.top_left),
            ("top_right", &self.top_right),
            ("bottom_left", &self.bottom_left),
            ("bottom_right", &self.bottom_right),
        ]
    }
}

/// A quadrant: its bounds on the canvas, its padding, its elements.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quadrant {
    /// `[x, y, width, height]` in canvas pixels.
    pub bounds: [f32; 4],
    /// Inset of the elements' box from the bounds, canvas pixels.
    #[serde(default)]
    pub padding: f32,
    /// The elements.
    #[serde(default)]
    pub elements: Vec<Element>,
}

/// A placed widget.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Element {
    /// What it shows.
    pub widget: Widget,
    /// `[x, y, width, height]` as fractions (0-1) of the quadrant's padded box (of the canvas
    /// for overlay elements).
    pub at: [f32; 4],
    /// Stacking order within the scene; higher is in front.
    #[serde(default)]
    pub z: i32,
    /// Place relative to the quadrant's bounds rather than its padded box (for backgrounds).
    #[serde(default)]
    pub bleed: bool,
}

/// Horizontal alignment of text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    /// Left.
    #[default]
    Left,
    /// Centre.
    Center,
    /// Right.
    Right,
}

/// A colour: a theme role (`accent`, `text`, `muted`, `panel`, `urgent`) or `#rrggbb[aa]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Colour {
    /// A theme role.
    Role(Role),
    /// A literal colour.
    Literal(Rgba),
}

/// Theme roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accent.
    Accent,
    /// Text.
    Text,
    /// Muted.
    Muted,
    /// Panel.
    Panel,
    /// Urgent.
    Urgent,
}

impl Colour {
    /// The colour under a theme.
    pub fn resolve(self, theme: &Theme) -> Rgba {
        match self {
            Colour::Literal(c) => c,
            Colour::Role(Role::Accent) => theme.accent,
            Colour::Role(Role::Text) => theme.text,
            Colour::Role(Role::Muted) => theme.muted,
            Colour::Role(Role::Panel) => theme.panel,
            Colour::Role(Role::Urgent) => theme.urgent,
        }
    }
}

impl<'de> Deserialize<'de> for Colour {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "accent" => Colour::Role(Role::Accent),
            "text" => Colour::Role(Role::Text),
            "muted" => Colour::Role(Role::Muted),
            "panel" => Colour::Role(Role::Panel),
            "urgent" => Colour::Role(Role::Urgent),
            other => Colour::Literal(Rgba::parse(other).map_err(serde::de::Error::custom)?),
        })
    }
}

fn text_colour() -> Colour {
    Colour::Role(Role::Text)
}
fn panel_colour() -> Colour {
    Colour::Role(Role::Panel)
}
fn one() -> u32 {
    1
}
fn size_24() -> f32 {
    24.0
}

/// What to count down to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountdownTo {
    /// The end of bidding (shows extensions, turns urgent in the last minute).
    #[default]
    End,
    /// The start of bidding.
    Start,
}

/// The widgets.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Widget {
    /// A rounded rectangle.
    Panel {
        /// Fill.
        #[serde(default = "panel_colour")]
        color: Colour,
        /// Corner radius, canvas pixels.
        #[serde(default)]
        radius: f32,
    },
    /// The item's artwork, fitted with its aspect kept.
    Artwork,
    /// Text from a template (`{title}`, `{price}`, `Day {day} of {days}`, ...), shrunk to fit
    /// its box and ellipsized if it still does not.
    Label {
        /// The template.
        text: String,
        /// Largest font size, canvas pixels.
        #[serde(default = "size_24")]
        size: f32,
        /// Bold.
        #[serde(default)]
        bold: bool,
        /// Colour.
        #[serde(default = "text_colour")]
        color: Colour,
        /// Alignment.
        #[serde(default)]
        align: Align,
        /// Lines to wrap into.
        #[serde(default = "one")]
        lines: u32,
    },
    /// Time left (to the end, or to the start).
    Countdown {
        /// Largest font size.
        #[serde(default = "size_24")]
        size: f32,
        /// What to count down to.
        #[serde(default)]
        to: CountdownTo,
    },
    /// The latest bids, newest first.
    Ticker {
        /// Lines shown.
        #[serde(default = "one")]
        rows: u32,
        /// Largest font size.
        #[serde(default = "size_24")]
        size: f32,
    },
    /// Campaign progress: "Day 15 of 30" and a bar.
    Progress,
    /// "SOLD" with winner and price (or "UNSOLD"), after bidding closed.
    SoldBanner,
    /// The host, with an expression for its mood.
    Avatar,
    /// A pulsing "LIVE" badge while bidding is open.
    LiveBadge,
    /// A picture from the asset directory.
    Image {
        /// Asset name.
        asset: String,
    },
}

/// Why a scene file is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SceneError {
    /// Not valid TOML or not the right shape.
    #[error("scene file: {0}")]
    Parse(String),
    /// Valid shape, impossible values.
    #[error("scene {scene}: {message}")]
    Invalid {
        /// Which scene.
        scene: String,
        /// What is wrong.
        message: String,
    },
}

impl SceneSet {
    /// Parses and validates a scene file.
    pub fn parse(text: &str) -> Result<SceneSet, SceneError> {
        let set: SceneSet =
            toml::from_str(text).map_err(|e| SceneError::Parse(e.message().to_string()))?;
        set.validate()?;
        Ok(set)
    }

    /// The built-in scenes.
    pub fn builtin() -> SceneSet {
        // The built-in file is checked by a test; failing here is a build defect.
        SceneSet::parse(DEFAULT_SCENES).unwrap_or_else(|e| panic!("built-in scenes: {e}"))
    }

    /// Checks every bound, rectangle, size and template.
    pub fn validate(&self) -> Result<(), SceneError> {
        for (name, scene) in [
            ("pre", &self.scenes.pre),
            ("live", &self.scenes.live),
            ("post", &self.scenes.post),
            ("standby", &self.scenes.standby),
        ] {
            let bad = |message: String| SceneError::Invalid {
                scene: name.to_string(),
                message,
            };
            let mut count = scene.overlay.len();
            for (q, quad) in scene.quadrants.all() {
                let [x, y, w, h] = quad.bounds;
                if !(x >= 0.0
                    && y >= 0.0
                    && w > 0.0
                    && h > 0.0
                    && x + w <= CANVAS_WIDTH
                    && y + h <= CANVAS_HEIGHT)
                {
                    return Err(bad(format!(
                        "{q}: bounds {:?} leave the {CANVAS_WIDTH}x{CANVAS_HEIGHT} canvas",
                        quad.bounds
                    )));
                }
                if !(0.0..w.min(h) / 2.0).contains(&quad.padding) {
                    return Err(bad(format!(
                        "{q}: padding {} does not fit its bounds",
                        quad.padding
                    )));
                }
                count += quad.elements.len();
                for e in &quad.elements {
                    check_element(e).map_err(|m| bad(format!("{q}: {m}")))?;
                }
            }
            for e in &scene.overlay {
                check_element(e).map_err(|m| bad(format!("overlay: {m}")))?;
            }
            if count > 128 {
                return Err(bad(format!("{count} elements; at most 128")));
            }
        }
        Ok(())
    }
}

fn check_element(e: &Element) -> Result<(), String> {
    let [x, y, w, h] = e.at;
    let ok = [x, y, w, h].iter().all(|v| v.is_finite())
        && x >= 0.0
        && y >= 0.0
        && w > 0.0
        && h > 0.0
        && x + w <= 1.0001
        && y + h <= 1.0001;
    if !ok {
        return Err(format!(
            "element at {:?} is not inside its box (fractions 0-1)",
            e.at
        ));
    }
    match &e.widget {
        Widget::Label {
            text, size, lines, ..
        } => {
            check_size(*size)?;
            if !(1..=8).contains(lines) {
                return Err(format!("a label has 1 to 8 lines, not {lines}"));
            }
            check_template(text)
        }
        Widget::Countdown { size, .. } => check_size(*size),
        Widget::Ticker { rows, size } => {
            check_size(*size)?;
            if !(1..=12).contains(rows) {
                return Err(format!("a ticker shows 1 to 12 rows, not {rows}"));
            }
            Ok(())
        }
        Widget::Panel { radius, .. } if !(0.0..=200.0).contains(radius) => {
            Err(format!("radius {radius} is outside 0-200"))
        }
        Widget::Image { asset } => crate::assets::check_name(asset),
        _ => Ok(()),
    }
}

fn check_size(size: f32) -> Result<(), String> {
    if (4.0..=200.0).contains(&size) {
        Ok(())
    } else {
        Err(format!("font size {size} is outside 4-200"))
    }
}

/// Checks that every `{field}` of a template is known.
pub fn check_template(text: &str) -> Result<(), String> {
    if text.len() > 500 {
        return Err("a label's text is at most 500 characters".into());
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed {{ in {text:?}"))?;
        let field = &after[..close];
        if !FIELDS.contains(&field) {
            return Err(format!(
                "unknown field {{{field}}} in {text:?}; known: {}",
                FIELDS.join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_scenes_are_valid() {
        SceneSet::builtin();
    }

    #[test]
    fn bad_scenes_are_refused_with_reasons() {
        let good = DEFAULT_SCENES;
        let cases = [
            (
                good.replacen(
                    "bounds = [24, 24, 720, 480]",
                    "bounds = [24, 24, 1720, 480]",
                    1,
                ),
                "leave the",
            ),
            (
                good.replacen("text = \"{title}\"", "text = \"{titel}\"", 1),
                "unknown field {titel}",
            ),
            (
                good.replacen("type = \"artwork\"", "type = \"hologram\"", 1),
                "hologram",
            ),
            (
                good.replacen("[theme]", "[theme]\nsparkle = true", 1),
                "sparkle",
            ),
            (
                good.replacen("accent = \"#f5c542\"", "accent = \"gold\"", 1),
                "gold",
            ),
        ];
        for (text, expected) in cases {
            assert_ne!(text, good, "the case did not change the file");
            let err = SceneSet::parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
