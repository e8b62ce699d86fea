//! Pixel operations the compositor needs beyond tiny-skia's drawing: glyph coverage, copying and
//! blending rectangles of premultiplied RGBA, and cross-fades. Each works on a clipped rectangle
//! only, so redrawing a countdown touches the countdown's pixels and no others.

use serde::{Deserialize, Deserializer};
use tiny_skia::Pixmap;

/// A straight (not premultiplied) colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgba {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha.
    pub a: u8,
}

impl Rgba {
    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Rgba {
        Rgba { r, g, b, a: 255 }
    }

    /// This colour with alpha scaled by `k` (0-1).
    pub fn fade(self, k: f32) -> Rgba {
        Rgba {
            a: (f32::from(self.a) * k.clamp(0.0, 1.0)).round() as u8,
            ..self
        }
    }

    /// As tiny-skia's colour.
    pub fn skia(self) -> tiny_skia::Color {
        tiny_skia::Color::from_rgba8(self.r, self.g, self.b, self.a)
    }

    /// Parses `#rrggbb` or `#rrggbbaa`.
    pub fn parse(text: &str) -> Result<Rgba, String> {
        let hex = text
            .strip_prefix('#')
            .ok_or_else(|| format!("colour {text:?} must start with #"))?;
        let byte = |i: usize| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("colour {text:?} is not #rrggbb or #rrggbbaa"))
        };
        match hex.len() {
            6 => Ok(Rgba::rgb(byte(0)?, byte(2)?, byte(4)?)),
            8 => Ok(Rgba {
                r: byte(0)?,
                g: byte(2)?,
                b: byte(4)?,
                a: byte(6)?,
            }),
            _ => Err(format!("colour {text:?} is not #rrggbb or #rrggbbaa")),
        }
    }
}

impl<'de> Deserialize<'de> for Rgba {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Rgba::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An integer rectangle in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bounds {
    /// Left.
    pub x: i32,
    /// Top.
    pub y: i32,
    /// Width.
    pub w: i32,
    /// Height.
    pub h: i32,
}

impl Bounds {
    /// Whether it covers no pixel.
    pub fn is_empty(&self) -> bool {
        self.w <= 0 || self.h <= 0
    }

    /// The overlap of two rectangles.
    pub fn intersect(&self, o: &Bounds) -> Option<Bounds> {
        let x0 = self.x.max(o.x);
        let y0 = self.y.max(o.y);
        let x1 = (self.x + self.w).min(o.x + o.w);
        let y1 = (self.y + self.h).min(o.y + o.h);
        (x1 > x0 && y1 > y0).then_some(Bounds {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, o: &Bounds) -> Bounds {
        let x0 = self.x.min(o.x);
        let y0 = self.y.min(o.y);
        let x1 = (self.x + self.w).max(o.x + o.w);
        let y1 = (self.y + self.h).max(o.y + o.h);
        Bounds {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    /// Its area in pixels.
    pub fn area(&self) -> i64 {
        i64::from(self.w.max(0)) * i64::from(self.h.max(0))
    }
}

#[inline]
fn over(dst: &mut [u8], src: [u8; 4]) {
    let inv = 255 - u32::from(src[3]);
    for i in 0..4 {
        dst[i] = (u32::from(src[i]) + (u32::from(dst[i]) * inv + 127) / 255) as u8;
    }
}

/// Blends a glyph's coverage mask in `color` at (x, y).
pub fn coverage(target: &mut Pixmap, x: i32, y: i32, w: usize, h: usize, cov: &[u8], color: Rgba) {
    let (tw, th) = (target.width() as i32, target.height() as i32);
    let data = target.data_mut();
    for row in 0..h as i32 {
        let ty = y + row;
        if ty < 0 || ty >= th {
            continue;
        }
        for col in 0..w as i32 {
            let tx = x + col;
            if tx < 0 || tx >= tw {
                continue;
            }
            let c = u32::from(cov[(row as usize) * w + col as usize]);
            if c == 0 {
                continue;
            }
            let a = c * u32::from(color.a) / 255;
            let src = [
                (u32::from(color.r) * a / 255) as u8,
                (u32::from(color.g) * a / 255) as u8,
                (u32::from(color.b) * a / 255) as u8,
                a as u8,
            ];
            let i = ((ty * tw + tx) * 4) as usize;
            over(&mut data[i..i + 4], src);
        }
    }
}

/// Copies `rect` of `src` into the same place in `dst` (same sizes).
pub fn copy_rect(dst: &mut Pixmap, src: &Pixmap, rect: Bounds) {
    let w = dst.width() as usize;
    let (x, y, rw, rh) = (
        rect.x as usize,
        rect.y as usize,
        rect.w as usize,
        rect.h as usize,
    );
    let (s, d) = (src.data(), dst.data_mut());
    for row in y..y + rh {
        let a = (row * w + x) * 4;
        d[a..a + rw * 4].copy_from_slice(&s[a..a + rw * 4]);
    }
}

/// Blends `layer` (whose top-left is at `at`) over `dst`, only inside `clip`.
pub fn over_rect(dst: &mut Pixmap, layer: &Pixmap, at: (i32, i32), clip: Bounds) {
    let lb = Bounds {
        x: at.0,
        y: at.1,
        w: layer.width() as i32,
        h: layer.height() as i32,
    };
    let Some(r) = lb.intersect(&clip) else { return };
    let dw = dst.width() as usize;
    let lw = layer.width() as usize;
    let src = layer.data();
    let d = dst.data_mut();
    for row in 0..r.h as usize {
        let dy = r.y as usize + row;
        let ly = (r.y - at.1) as usize + row;
        let lx = (r.x - at.0) as usize;
        let srow = &src[(ly * lw + lx) * 4..(ly * lw + lx + r.w as usize) * 4];
        let drow =
            &mut d[(dy * dw + r.x as usize) * 4..(dy * dw + r.x as usize + r.w as usize) * 4];
        for (dp, sp) in drow.chunks_exact_mut(4).zip(srow.chunks_exact(4)) {
            match sp[3] {
                0 => {}
                255 => dp.copy_from_slice(sp),
                _ => over(dp, [sp[0], sp[1], sp[2], sp[3]]),
            }
        }
    }
}

/// `out = a * (1 - t) + b * t` for `t` in 0-256 (all three the same size).
pub fn crossfade(out: &mut [u8], a: &[u8], b: &[u8], t: u32) {
    let t = t.min(256);
    let u = 256 - t;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = ((u32::from(*x) * u + u32::from(*y) * t) >> 8) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_strictly() {
        assert_eq!(Rgba::parse("#ff8000").unwrap(), Rgba::rgb(255, 128, 0));
        assert_eq!(Rgba::parse("#ff800080").unwrap().a, 128);
        for bad in ["ff8000", "#ff80", "#gg0000", "#ff8000801"] {
            assert!(Rgba::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn blending_stays_inside_the_clip() {
        let mut dst = Pixmap::new(8, 8).unwrap();
        dst.fill(tiny_skia::Color::from_rgba8(10, 20, 30, 255));
        let before = dst.clone();
        let mut layer = Pixmap::new(8, 8).unwrap();
        layer.fill(tiny_skia::Color::from_rgba8(200, 0, 0, 255));
        over_rect(
            &mut dst,
            &layer,
            (0, 0),
            Bounds {
                x: 2,
                y: 2,
                w: 2,
                h: 3,
            },
        );
        for y in 0..8 {
            for x in 0..8 {
                let inside = (2..4).contains(&x) && (2..5).contains(&y);
                let p = dst.pixel(x, y).unwrap();
                if inside {
                    assert_eq!(p.red(), 200);
                } else {
                    assert_eq!(p, before.pixel(x, y).unwrap());
                }
            }
        }
    }
}
