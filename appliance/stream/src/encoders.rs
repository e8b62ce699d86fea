//! Keeping an encoder going: which encoder takes over after a failure, keyframes that carry the
//! parameter sets of a replacement, the crash tests' failing encoder, and moving the encoder
//! (and, for another size, the compositor and picture) to an adaptive-bitrate rung.

use std::sync::Arc;

use bytes::Bytes;
use codec::{AvcConfig, CodecError, EncoderChoice, VideoEncoder, Yuv420, open_video_encoder};
use scene::{Compositor, DirAssets};

use super::StreamSettings;
use crate::abr::Rung;

/// NVENC failures after which the stream goes on with openh264.
pub(crate) const NVENC_STRIKES: u32 = 3;

/// The encoder to open after `nvenc_failures` NVENC failures: the configured one until NVENC has
/// failed [`NVENC_STRIKES`] times, openh264 after.
pub(crate) fn next_choice(configured: EncoderChoice, nvenc_failures: u32) -> EncoderChoice {
    if nvenc_failures >= NVENC_STRIKES {
        EncoderChoice::OpenH264
    } else {
        configured
    }
}

/// A keyframe carrying its parameter sets in front (AVCC), for a stream whose encoder was replaced
/// by one with other parameters than the sequence header the outputs announced.
pub(crate) fn with_parameter_sets(config: &AvcConfig, avcc: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(avcc.len() + config.sps.len() + config.pps.len() + 8);
    for nal in [&config.sps, &config.pps] {
        out.extend_from_slice(&u32::try_from(nal.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out.extend_from_slice(avcc);
    out
}

/// The keyframe as the decoder wants it: parameter sets come separately, so those carried in
/// front are left out.
pub(crate) fn video_without_inband(avcc: &Bytes, inband: bool, config: &AvcConfig) -> Bytes {
    if inband {
        avcc.slice((config.sps.len() + config.pps.len() + 8).min(avcc.len())..)
    } else {
        avcc.clone()
    }
}

/// An encoder that fails after `left` more frames (the crash tests' injected fault).
pub(crate) struct FailAfter {
    pub(crate) inner: Box<dyn VideoEncoder>,
    pub(crate) left: u64,
}

impl VideoEncoder for FailAfter {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn encode(
        &mut self,
        picture: &Yuv420,
        pts_ms: u64,
        force_keyframe: bool,
    ) -> Result<Option<codec::EncodedVideo>, CodecError> {
        if self.left == 0 {
            return Err(CodecError::Encode("injected fault".into()));
        }
        self.left -= 1;
        self.inner.encode(picture, pts_ms, force_keyframe)
    }

    fn config(&self) -> Option<&AvcConfig> {
        self.inner.config()
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        self.inner.set_bitrate(kbps)
    }
}

/// Moves the encoder (and, for another size, the compositor and picture) to `rung`: the bit rate
/// changed in place where the encoder can, a new encoder otherwise.
pub(crate) fn take_rung(
    rung: Rung,
    video: &mut codec::VideoSettings,
    choice: EncoderChoice,
    encoder: &mut Box<dyn VideoEncoder>,
    compositor: &mut Compositor,
    picture: &mut Yuv420,
    settings: &StreamSettings,
) -> Result<(), String> {
    let next = codec::VideoSettings {
        width: rung.width,
        height: rung.height,
        bitrate_kbps: rung.kbps,
        ..video.clone()
    };
    let resize = (next.width, next.height) != (video.width, video.height);
    if !resize && encoder.set_bitrate(rung.kbps).is_ok() {
        *video = next;
        return Ok(());
    }
    let (replacement, _) = open_video_encoder(choice, &next).map_err(|e| e.to_string())?;
    if resize {
        *compositor = Compositor::new(
            settings.scenes.clone(),
            next.width,
            next.height,
            Arc::new(DirAssets(settings.assets_dir.clone())),
        )
        .map_err(|e| e.to_string())?;
        *picture = Yuv420::new(next.width, next.height).map_err(|e| e.to_string())?;
    }
    *encoder = replacement;
    *video = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scene::ViewModel;

    #[test]
    fn nvenc_gives_way_to_openh264_after_three_failures() {
        assert_eq!(next_choice(EncoderChoice::Auto, 0), EncoderChoice::Auto);
        assert_eq!(next_choice(EncoderChoice::Nvenc, 2), EncoderChoice::Nvenc);
        assert_eq!(next_choice(EncoderChoice::Auto, 3), EncoderChoice::OpenH264);
        assert_eq!(
            next_choice(EncoderChoice::Nvenc, 7),
            EncoderChoice::OpenH264
        );
        assert_eq!(
            next_choice(EncoderChoice::OpenH264, 0),
            EncoderChoice::OpenH264
        );
    }

    #[test]
    fn a_keyframe_can_carry_its_parameter_sets() {
        let config = AvcConfig {
            sps: vec![0x67, 1, 2],
            pps: vec![0x68, 3],
        };
        let idr = [0, 0, 0, 2, 0x65, 9];
        assert_eq!(
            with_parameter_sets(&config, &idr),
            [
                0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 2, 0x65, 9
            ]
        );
    }

    /// A step from 1080p to a 720p rung: the compositor, the picture and the encoder all move
    /// to the new size, and the next frame is a keyframe with the new size's parameter sets;
    /// a step of the bit rate alone keeps all three.
    #[test]
    fn a_rung_of_another_size_reopens_what_draws_and_encodes() {
        let dir = tempfile::tempdir().unwrap();
        let settings = StreamSettings {
            video: codec::VideoSettings {
                width: 1920,
                height: 1080,
                ..codec::VideoSettings::hd720()
            },
            encoder: EncoderChoice::OpenH264,
            audio: codec::AudioBedKind::Silence,
            audio_kbps: 64,
            scenes: scene::SceneSet::builtin(),
            assets_dir: dir.path().into(),
            publish: None,
            record: None,
            frames: None,
            fail_encoder_after: None,
            fail_every_encoder: false,
            adaptive: None,
            speaker: Default::default(),
            standby: Default::default(),
        };
        let mut current = settings.video.clone();
        let (mut encoder, _) = open_video_encoder(EncoderChoice::OpenH264, &current).unwrap();
        let mut compositor = Compositor::new(
            settings.scenes.clone(),
            1920,
            1080,
            Arc::new(DirAssets(dir.path().into())),
        )
        .unwrap();
        let mut picture = Yuv420::new(1920, 1080).unwrap();
        let vm = ViewModel::default();
        let encode = |compositor: &mut Compositor,
                      picture: &mut Yuv420,
                      encoder: &mut Box<dyn VideoEncoder>,
                      n: u64| {
            let frame = compositor.render(&vm, 0);
            picture
                .fill_from_rgba(frame.data(), frame.width() * 4)
                .unwrap();
            encoder.encode(picture, n * 33, false).unwrap().unwrap()
        };
        assert!(encode(&mut compositor, &mut picture, &mut encoder, 0).keyframe);
        let big = encoder.config().unwrap().clone();
        assert!(!encode(&mut compositor, &mut picture, &mut encoder, 1).keyframe);

        let rate_only = Rung {
            width: 1920,
            height: 1080,
            kbps: 3000,
        };
        take_rung(
            rate_only,
            &mut current,
            EncoderChoice::OpenH264,
            &mut encoder,
            &mut compositor,
            &mut picture,
            &settings,
        )
        .unwrap();
        assert_eq!(current.bitrate_kbps, 3000);
        assert!(
            !encode(&mut compositor, &mut picture, &mut encoder, 2).keyframe,
            "the same encoder goes on"
        );

        let smaller = Rung {
            width: 1280,
            height: 720,
            kbps: 2000,
        };
        take_rung(
            smaller,
            &mut current,
            EncoderChoice::OpenH264,
            &mut encoder,
            &mut compositor,
            &mut picture,
            &settings,
        )
        .unwrap();
        assert_eq!(
            (current.width, current.height, current.bitrate_kbps),
            (1280, 720, 2000)
        );
        assert_eq!((picture.width(), picture.height()), (1280, 720));
        let out = encode(&mut compositor, &mut picture, &mut encoder, 3);
        assert!(out.keyframe, "a new encoder starts with a keyframe");
        let small = encoder.config().unwrap();
        assert_ne!(small, &big, "new parameter sets for the new size");
        let decoded = codec::decode::decode_keyframe(small, &out.avcc).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (1280, 720));
    }
}
