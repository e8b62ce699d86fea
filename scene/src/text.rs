//! Text: the embedded DejaVu Sans (never a system font), a glyph cache, measuring, fitting text
//! into a box (shrink, then ellipsize: a long handle or price never leaves its box) and drawing
//! it into a premultiplied RGBA layer.

use std::collections::HashMap;

use fontdue::{Font, FontSettings, Metrics};
use tiny_skia::Pixmap;

use crate::blend::Rgba;

/// Font weights available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Weight {
    /// DejaVu Sans.
    Regular,
    /// DejaVu Sans Bold.
    Bold,
}

/// The fonts and their rasterized glyphs.
pub struct Fonts {
    regular: Font,
    bold: Font,
    glyphs: HashMap<(char, u16, Weight), (Metrics, Vec<u8>)>,
    /// The smallest size drawn since it was last taken, pixels, and the text drawn at it.
    smallest: Option<(f32, String)>,
}

/// Text laid out in one line.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    /// The text actually drawn (possibly ellipsized).
    pub text: String,
    /// Font size, pixels.
    pub px: f32,
    /// Its width, pixels.
    pub width: f32,
}

impl Fonts {
    /// Loads the embedded fonts.
    pub fn new() -> Result<Fonts, String> {
        let load = |bytes: &'static [u8]| {
            Font::from_bytes(bytes, FontSettings::default()).map_err(|e| e.to_string())
        };
        Ok(Fonts {
            regular: load(dejavu::sans::regular())?,
            bold: load(dejavu::sans::bold())?,
            glyphs: HashMap::new(),
            smallest: None,
        })
    }

    fn font(&self, weight: Weight) -> &Font {
        match weight {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        }
    }

    fn quantize(px: f32) -> u16 {
        (px * 4.0).round().clamp(4.0, 4000.0) as u16
    }

    /// Width of `text` in one line at `px`.
    pub fn measure(&self, text: &str, px: f32, weight: Weight) -> f32 {
        let font = self.font(weight);
        let mut width = 0.0;
        let mut prev = None;
        for c in text.chars() {
            if let Some(p) = prev {
                width += font.horizontal_kern(p, c, px).unwrap_or(0.0);
            }
            width += font.metrics(c, px).advance_width;
            prev = Some(c);
        }
        width
    }

    /// The largest size up to `max_px` at which `text` fits `width` x `height`; below `min_px`,
    /// the text is cut with an ellipsis at `min_px`.
    pub fn fit(
        &self,
        text: &str,
        width: f32,
        height: f32,
        max_px: f32,
        min_px: f32,
        weight: Weight,
    ) -> Fitted {
        let mut px = max_px.min(height / 1.25).max(1.0);
        // A box too short for `min_px` lowers the floor rather than forcing an ellipsis.
        let min_px = min_px.min(px);
        let w = self.measure(text, px, weight);
        if w > width && w > 0.0 {
            px = (px * width / w).floor();
        }
        if px >= min_px {
            let w = self.measure(text, px, weight);
            return Fitted {
                text: text.to_string(),
                px,
                width: w,
            };
        }
        let px = min_px.min(height / 1.25).max(1.0);
        let chars: Vec<char> = text.chars().collect();
        for keep in (0..chars.len()).rev() {
            let candidate: String = chars[..keep]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_string()
                + "…";
            let w = self.measure(&candidate, px, weight);
            if w <= width {
                return Fitted {
                    text: candidate,
                    px,
                    width: w,
                };
            }
        }
        Fitted {
            text: String::new(),
            px,
            width: 0.0,
        }
    }

    /// Splits `text` into at most `lines` lines of `width`, shrinking from `sizes.0` towards
    /// `sizes.1` pixels and ellipsizing the last line if it still does not fit.
    pub fn wrap(
        &self,
        text: &str,
        width: f32,
        height: f32,
        lines: usize,
        sizes: (f32, f32),
        weight: Weight,
    ) -> (f32, Vec<String>) {
        let (max_px, min_px) = sizes;
        let mut px = max_px;
        loop {
            let line_height = px * 1.25;
            let fits_height = line_height * lines as f32 <= height || px <= min_px;
            let wrapped = self.wrap_at(text, width, px, weight);
            if fits_height && (wrapped.len() <= lines || px <= min_px) {
                let mut out: Vec<String> = wrapped.into_iter().take(lines).collect();
                let total: usize = out.iter().map(|l| l.chars().count()).sum();
                if total
                    < text
                        .split_whitespace()
                        .map(|w| w.chars().count())
                        .sum::<usize>()
                    && let Some(last) = out.last_mut()
                {
                    *last = self
                        .fit(&(last.clone() + " …"), width, line_height, px, px, weight)
                        .text;
                }
                return (px, out);
            }
            px = (px - 1.0).max(min_px);
        }
    }

    fn wrap_at(&self, text: &str, width: f32, px: f32, weight: Weight) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if self.measure(&candidate, px, weight) <= width || line.is_empty() {
                line = candidate;
            } else {
                lines.push(std::mem::take(&mut line));
                line = word.to_string();
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// The smallest font size drawn since the last call, pixels, with the text drawn at it.
    pub fn take_smallest(&mut self) -> Option<(f32, String)> {
        self.smallest.take()
    }

    /// Draws one line with its baseline at `baseline` and its left edge at `x`.
    pub fn draw(
        &mut self,
        target: &mut Pixmap,
        text: &str,
        origin: (f32, f32),
        px: f32,
        weight: Weight,
        color: Rgba,
    ) {
        let (x, baseline) = origin;
        if !text.trim().is_empty() && self.smallest.as_ref().is_none_or(|(s, _)| px < *s) {
            self.smallest = Some((px, text.to_string()));
        }
        let q = Self::quantize(px);
        let size = f32::from(q) / 4.0;
        let mut pen = x;
        let mut prev = None;
        for c in text.chars() {
            if let Some(p) = prev {
                pen += self.font(weight).horizontal_kern(p, c, size).unwrap_or(0.0);
            }
            prev = Some(c);
            let key = (c, q, weight);
            if !self.glyphs.contains_key(&key) {
                let rendered = self.font(weight).rasterize(c, size);
                self.glyphs.insert(key, rendered);
            }
            let Some((metrics, coverage)) = self.glyphs.get(&key) else {
                continue;
            };
            let gx = (pen + metrics.xmin as f32).round() as i32;
            let gy = (baseline - metrics.height as f32 - metrics.ymin as f32).round() as i32;
            crate::blend::coverage(
                target,
                gx,
                gy,
                metrics.width,
                metrics.height,
                coverage,
                color,
            );
            pen += metrics.advance_width;
        }
    }

    /// The ascent of the font at `px` (baseline placement).
    pub fn ascent(&self, px: f32, weight: Weight) -> f32 {
        self.font(weight)
            .horizontal_line_metrics(px)
            .map_or(px * 0.8, |m| m.ascent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_shrinks_then_ellipsizes_and_never_overflows() {
        let fonts = Fonts::new().unwrap();
        let short = fonts.fit("@ada", 300.0, 40.0, 32.0, 14.0, Weight::Bold);
        assert_eq!((short.text.as_str(), short.px), ("@ada", 32.0));
        let long = "@a_very_long_handle_that_never_ends_and_keeps_going_on_and_on";
        let fitted = fonts.fit(long, 300.0, 40.0, 32.0, 14.0, Weight::Bold);
        assert!(fitted.width <= 300.0, "{fitted:?}");
        assert!(fitted.text.ends_with('…'), "{fitted:?}");
        assert_eq!(fitted.px, 14.0);
        let price = fonts.fit(
            "340282366920938463463.374607431768211455 ETH",
            200.0,
            60.0,
            48.0,
            12.0,
            Weight::Bold,
        );
        assert!(price.width <= 200.0, "{price:?}");
    }

    #[test]
    fn wrapping_keeps_to_the_line_count() {
        let fonts = Fonts::new().unwrap();
        let (px, lines) = fonts.wrap("Welcome to day fifteen of the Genesis campaign, where a very fine piece is on the block tonight and bids are flying", 400.0, 60.0, 2, (22.0, 12.0), Weight::Regular);
        assert!(lines.len() <= 2, "{lines:?}");
        for l in &lines {
            assert!(fonts.measure(l, px, Weight::Regular) <= 400.0 + 0.5, "{l}");
        }
    }
}
