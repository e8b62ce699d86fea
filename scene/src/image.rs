//! Images: PNG and JPEG decoded with limits checked from the header before anything is
//! allocated (no decompression bombs), scaled once to their drawn size with high-quality
//! filtering, and generated placeholder artwork for items without an image.

use std::io::Cursor;

use tiny_skia::{FilterQuality, Pixmap, PixmapPaint, Transform};
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// Largest width or height accepted.
pub const MAX_SIDE: u32 = 8192;
/// Largest pixel count accepted (about a 40-megapixel image).
pub const MAX_PIXELS: u64 = 40_000_000;

/// Image formats understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
}

/// Why bytes are not a usable image.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Neither PNG nor JPEG.
    #[error("not a PNG or JPEG image")]
    Unsupported,
    /// Too large to decode safely.
    #[error(
        "the image is {width}x{height}; at most {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels in all are accepted"
    )]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// Damaged or truncated.
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
}

/// The format of `bytes`, from its signature.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else {
        None
    }
}

fn check_size(width: u32, height: u32) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt("the image has no pixels".into()));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge { width, height });
    }
    Ok(())
}

/// Format and dimensions, read from the header only.
pub fn probe(bytes: &[u8]) -> Result<(Format, u32, u32), ImageError> {
    match sniff(bytes).ok_or(ImageError::Unsupported)? {
        Format::Png => {
            let reader = png::Decoder::new(Cursor::new(bytes))
                .read_info()
                .map_err(|e| ImageError::Corrupt(e.to_string()))?;
            let info = reader.info();
            Ok((Format::Png, info.width, info.height))
        }
        Format::Jpeg => {
            let mut d = zune_jpeg::JpegDecoder::new(bytes);
            d.decode_headers()
                .map_err(|e| ImageError::Corrupt(format!("{e:?}")))?;
            let (w, h) = d
                .dimensions()
                .ok_or_else(|| ImageError::Corrupt("no JPEG dimensions".into()))?;
            Ok((Format::Jpeg, w as u32, h as u32))
        }
    }
}

/// Decodes a PNG or JPEG into a premultiplied pixmap.
pub fn decode(bytes: &[u8]) -> Result<Pixmap, ImageError> {
    let (format, width, height) = probe(bytes)?;
    check_size(width, height)?;
    let rgba = match format {
        Format::Png => decode_png(bytes)?,
        Format::Jpeg => {
            let options = DecoderOptions::default()
                .set_max_width(MAX_SIDE as usize)
                .set_max_height(MAX_SIDE as usize)
                .jpeg_set_out_colorspace(ColorSpace::RGBA);
            let mut d = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
            d.decode_headers()
                .map_err(|e| ImageError::Corrupt(format!("{e:?}")))?;
            d.decode()
                .map_err(|e| ImageError::Corrupt(format!("{e:?}")))?
        }
    };
    to_pixmap(rgba, width, height)
}

fn decode_png(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: 256 << 20 });
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ImageError::Corrupt("the PNG is too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    buf.truncate(info.buffer_size());
    let pixels = (info.width * info.height) as usize;
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Indexed => return Err(ImageError::Corrupt("unexpanded palette".into())),
    };
    if rgba.len() != pixels * 4 {
        return Err(ImageError::Corrupt("the PNG's pixel data is short".into()));
    }
    Ok(rgba)
}

fn to_pixmap(mut rgba: Vec<u8>, width: u32, height: u32) -> Result<Pixmap, ImageError> {
    if rgba.len() != (width * height * 4) as usize {
        return Err(ImageError::Corrupt(
            "pixel data does not match the dimensions".into(),
        ));
    }
    for p in rgba.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        if a < 255 {
            for c in &mut p[..3] {
                *c = ((u32::from(*c) * a + 127) / 255) as u8;
            }
        }
    }
    let size = tiny_skia::IntSize::from_wh(width, height)
        .ok_or_else(|| ImageError::Corrupt("bad size".into()))?;
    Pixmap::from_vec(rgba, size).ok_or_else(|| ImageError::Corrupt("bad pixel buffer".into()))
}

/// Scales `src` to fit inside `width` x `height` keeping its aspect, centred, with transparent
/// margins, filtered bicubically (done once per image and size).
pub fn fit(src: &Pixmap, width: u32, height: u32) -> Option<Pixmap> {
    let mut out = Pixmap::new(width.max(1), height.max(1))?;
    let scale = (width as f32 / src.width() as f32).min(height as f32 / src.height() as f32);
    let (dw, dh) = (src.width() as f32 * scale, src.height() as f32 * scale);
    let (ox, oy) = ((width as f32 - dw) / 2.0, (height as f32 - dh) / 2.0);
    let paint = PixmapPaint {
        quality: if scale < 1.0 {
            FilterQuality::Bicubic
        } else {
            FilterQuality::Bilinear
        },
        ..PixmapPaint::default()
    };
    out.draw_pixmap(
        0,
        0,
        src.as_ref(),
        &paint,
        Transform::from_row(scale, 0.0, 0.0, scale, ox, oy),
        None,
    );
    Some(out)
}

/// Generated artwork for an item without an image: soft overlapping discs over a gradient,
/// the same for the same seed.
pub fn placeholder(seed: u64, width: u32, height: u32) -> Option<Pixmap> {
    use tiny_skia::{
        Color, GradientStop, LinearGradient, Paint, PathBuilder, Point, RadialGradient, Rect,
        SpreadMode,
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut hue = |light: f32| {
        let h = rng.f32() * 360.0;
        let (r, g, b) = hsl(h, 0.65, light);
        Color::from_rgba(r, g, b, 1.0).unwrap_or(Color::BLACK)
    };
    let mut out = Pixmap::new(width.max(1), height.max(1))?;
    let (w, h) = (width as f32, height as f32);
    let bg = LinearGradient::new(
        Point::from_xy(0.0, 0.0),
        Point::from_xy(w, h),
        vec![
            GradientStop::new(0.0, hue(0.18)),
            GradientStop::new(1.0, hue(0.32)),
        ],
        SpreadMode::Pad,
        Transform::identity(),
    )?;
    let mut paint = Paint {
        shader: bg,
        anti_alias: true,
        ..Paint::default()
    };
    out.fill_rect(
        Rect::from_xywh(0.0, 0.0, w, h)?,
        &paint,
        Transform::identity(),
        None,
    );
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xA5A5);
    for _ in 0..7 {
        let (cx, cy) = (rng.f32() * w, rng.f32() * h);
        let r = (0.15 + rng.f32() * 0.35) * w.min(h);
        let (cr, cg, cb) = hsl(rng.f32() * 360.0, 0.75, 0.55);
        let inner = Color::from_rgba(cr, cg, cb, 0.85).unwrap_or(Color::WHITE);
        let outer = Color::from_rgba(cr, cg, cb, 0.0).unwrap_or(Color::TRANSPARENT);
        let Some(shader) = RadialGradient::new(
            Point::from_xy(cx, cy),
            0.0,
            Point::from_xy(cx, cy),
            r,
            vec![GradientStop::new(0.0, inner), GradientStop::new(1.0, outer)],
            SpreadMode::Pad,
            Transform::identity(),
        ) else {
            continue;
        };
        paint.shader = shader;
        if let Some(circle) = PathBuilder::from_circle(cx, cy, r) {
            out.fill_path(
                &circle,
                &paint,
                tiny_skia::FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
    }
    Some(out)
}

fn hsl(h: f32, s: f32, l: f32) -> (f32, f32, f32) {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = (h / 60.0) % 6.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    (r + m, g + m, b + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(width: u32, height: u32) -> Vec<u8> {
        let mut p = Pixmap::new(width, height).unwrap();
        p.fill(tiny_skia::Color::from_rgba8(200, 100, 50, 255));
        p.encode_png().unwrap()
    }

    #[test]
    fn decodes_and_fits_keeping_the_aspect() {
        let img = decode(&png_of(400, 200)).unwrap();
        assert_eq!((img.width(), img.height()), (400, 200));
        let fitted = fit(&img, 100, 100).unwrap();
        assert_eq!(
            fitted.pixel(50, 10).unwrap().alpha(),
            0,
            "letterboxed above"
        );
        assert_eq!(fitted.pixel(50, 50).unwrap().red(), 200);
    }

    #[test]
    fn refuses_bombs_junk_and_truncation_without_panicking() {
        // A valid PNG header claiming 50000 x 50000 pixels: refused from the header alone.
        let mut bomb = png_of(1, 1);
        bomb[16..20].copy_from_slice(&50_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&50_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            decode(&bomb),
            Err(ImageError::TooLarge {
                width: 50_000,
                height: 50_000
            })
        );
        assert_eq!(decode(b"GIF89a...."), Err(ImageError::Unsupported));
        let whole = png_of(64, 64);
        assert!(matches!(
            decode(&whole[..whole.len() / 2]),
            Err(ImageError::Corrupt(_))
        ));
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).is_err());
    }

    #[test]
    fn placeholders_are_deterministic() {
        let a = placeholder(7, 64, 64).unwrap();
        let b = placeholder(7, 64, 64).unwrap();
        let c = placeholder(8, 64, 64).unwrap();
        assert_eq!(a.data(), b.data());
        assert_ne!(a.data(), c.data());
    }
}
