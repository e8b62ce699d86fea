//! Decoding what was encoded: one keyframe at a time through openh264's decoder, for the
//! operator's preview (it shows what viewers get, so a broken encoder is visible) and for
//! quality measurements.

use std::ptr;

use openh264_sys2::{
    ERROR_CON_DISABLE, ISVCDecoder, SBufferInfo, SDecodingParam, VIDEO_BITSTREAM_AVC, dsErrorFree,
    source::APILoader,
};

use crate::h264::AvcConfig;
use crate::{CodecError, Yuv420};

/// Annex B: a start code before each NAL unit, the parameter sets first.
fn annex_b(config: &AvcConfig, avcc: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(avcc.len() + config.sps.len() + config.pps.len() + 16);
    for nal in [&config.sps, &config.pps] {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out.extend_from_slice(&avcc_to_annex_b(avcc)?);
    Ok(out)
}

/// An access unit's NAL units (AVCC, length-prefixed) with start codes instead (Annex B).
pub fn avcc_to_annex_b(avcc: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(avcc.len() + 16);
    let mut rest = avcc;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| CodecError::Encode("a truncated AVCC length".into()))?;
        let len = u32::from_be_bytes(*len) as usize;
        let nal = tail.get(..len).ok_or_else(|| {
            CodecError::Encode("an AVCC NAL unit runs past its access unit".into())
        })?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
        rest = &tail[len..];
    }
    Ok(out)
}

/// Owns a decoder handle and releases it.
struct Handle(*mut ISVCDecoder);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from WelsCreateDecoder and is released once, here.
        unsafe {
            if let Some(uninit) = (**self.0).Uninitialize {
                uninit(self.0);
            }
            APILoader::WelsDestroyDecoder(self.0);
        }
    }
}

/// Decodes one keyframe (AVCC, with the stream's parameter sets) into a picture.
pub fn decode_keyframe(config: &AvcConfig, avcc: &[u8]) -> Result<Yuv420, CodecError> {
    let stream = annex_b(config, avcc)?;
    let len = i32::try_from(stream.len())
        .map_err(|_| CodecError::Encode("a keyframe too large to decode".into()))?;
    let mut decoder: *mut ISVCDecoder = ptr::null_mut();
    // SAFETY: WelsCreateDecoder writes a valid decoder pointer or fails.
    let rc = unsafe { APILoader::WelsCreateDecoder(&mut decoder) };
    if rc != 0 || decoder.is_null() {
        return Err(CodecError::Unavailable(
            "openh264 could not create a decoder".into(),
        ));
    }
    let handle = Handle(decoder);
    let mut param = SDecodingParam {
        eEcActiveIdc: ERROR_CON_DISABLE,
        ..SDecodingParam::default()
    };
    param.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
    let mut planes: [*mut u8; 3] = [ptr::null_mut(); 3];
    let mut info = SBufferInfo::default();
    // SAFETY: the decoder is live; every pointer passed points at memory we own for the call.
    let (rc, state) = unsafe {
        let vt = **handle.0;
        let init = vt
            .Initialize
            .ok_or_else(|| CodecError::Unavailable("openh264 has no Initialize".into()))?;
        let rc = init(handle.0, &param);
        let decode = vt
            .DecodeFrameNoDelay
            .ok_or_else(|| CodecError::Unavailable("openh264 has no DecodeFrameNoDelay".into()))?;
        (
            rc,
            decode(
                handle.0,
                stream.as_ptr(),
                len,
                planes.as_mut_ptr(),
                &mut info,
            ),
        )
    };
    if rc != 0 {
        return Err(CodecError::Encode(format!(
            "openh264's decoder did not initialise ({rc})"
        )));
    }
    if state != dsErrorFree || info.iBufferStatus != 1 {
        return Err(CodecError::Encode(format!(
            "the keyframe does not decode (state {state}, picture ready: {})",
            info.iBufferStatus == 1
        )));
    }
    // SAFETY: with a picture ready, the union holds the system buffer description.
    let sys = unsafe { info.UsrData.sSystemBuffer };
    let (w, h) = (sys.iWidth, sys.iHeight);
    let (ys, cs) = (sys.iStride[0], sys.iStride[1]);
    if w <= 0 || h <= 0 || ys < w || cs < w / 2 || planes.iter().any(|p| p.is_null()) {
        return Err(CodecError::Encode(format!(
            "the decoder returned an unusable picture ({w}x{h})"
        )));
    }
    let (w, h, ys, cs) = (w as usize, h as usize, ys as usize, cs as usize);
    let mut out = Yuv420::new(w as u32, h as u32)?;
    // SAFETY: the decoder's planes hold `stride * rows` bytes each until the next call or the
    // decoder's release, both after these copies.
    unsafe {
        for row in 0..h {
            let src = std::slice::from_raw_parts(planes[0].add(row * ys), w);
            out.y[row * w..(row + 1) * w].copy_from_slice(src);
        }
        for (plane, dst) in [(planes[1], &mut out.u), (planes[2], &mut out.v)] {
            for row in 0..h / 2 {
                let src = std::slice::from_raw_parts(plane.add(row * cs), w / 2);
                dst[row * (w / 2)..(row + 1) * (w / 2)].copy_from_slice(src);
            }
        }
    }
    drop(handle);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenH264Encoder, VideoEncoder, VideoSettings};

    #[test]
    fn a_keyframe_decodes_to_the_picture_that_was_encoded() {
        let s = VideoSettings {
            width: 320,
            height: 180,
            ..VideoSettings::hd720()
        };
        let mut enc = OpenH264Encoder::new(&s).unwrap();
        let mut pic = Yuv420::new(320, 180).unwrap();
        // Left half bright, right half dark.
        for row in 0..180 {
            for col in 0..320 {
                pic.y[row * 320 + col] = if col < 160 { 200 } else { 40 };
            }
        }
        let au = enc.encode(&pic, 0, true).unwrap().unwrap();
        assert!(au.keyframe);
        let config = enc.config().unwrap().clone();
        let out = decode_keyframe(&config, &au.avcc).unwrap();
        assert_eq!((out.width(), out.height()), (320, 180));
        let (left, right) = (out.y[90 * 320 + 40], out.y[90 * 320 + 280]);
        assert!((i32::from(left) - 200).abs() < 12, "{left}");
        assert!((i32::from(right) - 40).abs() < 12, "{right}");
        // A damaged access unit is an error, not a crash.
        let mut broken = au.avcc.clone();
        broken.truncate(broken.len() / 3);
        assert!(decode_keyframe(&config, &broken).is_err());
        assert!(decode_keyframe(&config, &[0, 0, 0, 9, 1]).is_err());
    }
}
