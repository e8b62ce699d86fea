//! Colour conversion from the compositor's RGBA frames to the I420 (planar 4:2:0) pictures the
//! encoders take: BT.709 matrix, limited ("TV") range, as HD H.264 streams are signalled.

use yuv::{BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};

use crate::CodecError;

/// A planar 4:2:0 picture with tightly packed planes.
#[derive(Clone, Debug)]
pub struct Yuv420 {
    width: u32,
    height: u32,
    /// Luma, `width * height` bytes.
    pub y: Vec<u8>,
    /// Blue-difference chroma, `width/2 * height/2` bytes.
    pub u: Vec<u8>,
    /// Red-difference chroma, `width/2 * height/2` bytes.
    pub v: Vec<u8>,
}

impl Yuv420 {
    /// A black picture; dimensions must be even and non-zero.
    pub fn new(width: u32, height: u32) -> Result<Yuv420, CodecError> {
        if width == 0
            || height == 0
            || !width.is_multiple_of(2)
            || !height.is_multiple_of(2)
            || width > 8192
            || height > 8192
        {
            return Err(CodecError::Config(format!(
                "{width}x{height} is not an even frame size up to 8192"
            )));
        }
        let luma = (width * height) as usize;
        Ok(Yuv420 {
            width,
            height,
            y: vec![16; luma],
            u: vec![128; luma / 4],
            v: vec![128; luma / 4],
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Fills the picture from opaque RGBA pixels (`stride` bytes per row).
    pub fn fill_from_rgba(&mut self, rgba: &[u8], stride: u32) -> Result<(), CodecError> {
        if stride < self.width * 4
            || (rgba.len() as u64) < u64::from(stride) * u64::from(self.height)
        {
            return Err(CodecError::Config(format!(
                "an RGBA frame of {} bytes with stride {stride} does not cover {}x{}",
                rgba.len(),
                self.width,
                self.height
            )));
        }
        let (w, h) = (self.width, self.height);
        let mut planar = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(&mut self.y),
            y_stride: w,
            u_plane: BufferStoreMut::Borrowed(&mut self.u),
            u_stride: w / 2,
            v_plane: BufferStoreMut::Borrowed(&mut self.v),
            v_stride: w / 2,
            width: w,
            height: h,
        };
        yuv::rgba_to_yuv420(
            &mut planar,
            rgba,
            stride,
            YuvRange::Limited,
            YuvStandardMatrix::Bt709,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| CodecError::Config(format!("colour conversion failed: {e}")))
    }

    /// The picture as opaque RGBA (the inverse of [`Yuv420::fill_from_rgba`]).
    pub fn to_rgba(&self) -> Result<Vec<u8>, CodecError> {
        let (w, h) = (self.width, self.height);
        let mut rgba = vec![0u8; (w * h * 4) as usize];
        let planar = yuv::YuvPlanarImage {
            y_plane: &self.y,
            y_stride: w,
            u_plane: &self.u,
            u_stride: w / 2,
            v_plane: &self.v,
            v_stride: w / 2,
            width: w,
            height: h,
        };
        yuv::yuv420_to_rgba(
            &planar,
            &mut rgba,
            w * 4,
            YuvRange::Limited,
            YuvStandardMatrix::Bt709,
        )
        .map_err(|e| CodecError::Config(format!("colour conversion failed: {e}")))?;
        Ok(rgba)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_known_colours_to_bt709_limited_range() {
        let mut pic = Yuv420::new(4, 2).unwrap();
        // White, black, pure red, pure green in two rows.
        let px = |r, g, b| [r, g, b, 255u8];
        let row: Vec<u8> = [
            px(255, 255, 255),
            px(255, 255, 255),
            px(0, 0, 0),
            px(0, 0, 0),
        ]
        .concat();
        let rgba = [row.clone(), row].concat();
        pic.fill_from_rgba(&rgba, 16).unwrap();
        assert!(
            (pic.y[0] as i32 - 235).abs() <= 1,
            "white luma {}",
            pic.y[0]
        );
        assert!((pic.y[2] as i32 - 16).abs() <= 1, "black luma {}", pic.y[2]);
        assert!(
            pic.u
                .iter()
                .chain(&pic.v)
                .all(|&c| (c as i32 - 128).abs() <= 1),
            "greys have no chroma"
        );

        let red: Vec<u8> = std::iter::repeat_n([255u8, 0, 0, 255], 8)
            .flatten()
            .collect();
        pic.fill_from_rgba(&red, 16).unwrap();
        // BT.709: Y = 16 + 219 * 0.2126 = 62.6; Cr = 128 + 224 * 0.5 = 240.
        assert!((pic.y[0] as i32 - 63).abs() <= 1, "red luma {}", pic.y[0]);
        assert!((pic.v[0] as i32 - 240).abs() <= 1, "red Cr {}", pic.v[0]);
    }

    #[test]
    fn refuses_bad_sizes() {
        assert!(Yuv420::new(3, 2).is_err());
        assert!(Yuv420::new(0, 2).is_err());
        let mut pic = Yuv420::new(4, 2).unwrap();
        assert!(pic.fill_from_rgba(&[0; 8], 16).is_err());
    }
}
