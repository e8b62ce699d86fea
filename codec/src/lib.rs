//! Encoders for the live stream: H.264 video (NVENC when the box's GPU and driver offer it,
//! openh264 otherwise), AAC-LC audio, colour conversion and AVC packaging.
//!
//! Knows nothing of auctions or of the network: it takes pictures and PCM, and returns encoded
//! access units with their timestamps.

mod audio;
mod convert;
#[allow(unsafe_code)]
pub mod decode;
pub mod h264;
#[allow(unsafe_code)]
mod nvenc;
#[allow(unsafe_code)]
mod openh264;

pub use audio::{
    AUDIO_CHANNELS, AUDIO_SAMPLE_RATE, AacEncoder, AudioBed, AudioBedKind, EncodedAudio,
};
pub use convert::Yuv420;
pub use h264::AvcConfig;
pub use nvenc::{NvencLibraries, probe as probe_nvenc};
pub use openh264::OpenH264Encoder;

/// Why encoding cannot start or go on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CodecError {
    /// Settings that cannot work.
    #[error("encoder settings: {0}")]
    Config(String),
    /// The encoder is not available on this machine (no driver, no GPU, no NVENC engine).
    #[error("{0}")]
    Unavailable(String),
    /// The encoder failed on a frame.
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Which H.264 encoder to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EncoderChoice {
    /// NVENC if it works here, openh264 otherwise.
    #[default]
    Auto,
    /// NVENC or nothing.
    Nvenc,
    /// openh264 (software).
    OpenH264,
}

impl std::str::FromStr for EncoderChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(EncoderChoice::Auto),
            "nvenc" => Ok(EncoderChoice::Nvenc),
            "openh264" => Ok(EncoderChoice::OpenH264),
            other => Err(format!(
                "unknown encoder {other:?}; use auto, nvenc or openh264"
            )),
        }
    }
}

/// The lowest bit rate an encoder is opened or set to, kbit/s.
pub const MIN_KBPS: u32 = 200;
/// The highest, kbit/s.
pub const MAX_KBPS: u32 = 20_000;

/// Video encoder settings.
#[derive(Clone, Debug)]
pub struct VideoSettings {
    /// Frame width (even).
    pub width: u32,
    /// Frame height (even).
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Target bit rate, kbit/s (200-20,000; the configuration asks 2,000-8,000 of the top rung,
    /// adaptive bitrate steps below it).
    pub bitrate_kbps: u32,
    /// Seconds between keyframes.
    pub keyframe_secs: u32,
    /// Encoder threads (openh264 uses one slice per thread).
    pub threads: u16,
    /// Where the NVENC and CUDA libraries are.
    pub nvenc: NvencLibraries,
}

impl VideoSettings {
    /// 720p30 at 4,500 kbit/s, a keyframe every 2 s.
    pub fn hd720() -> VideoSettings {
        VideoSettings {
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 4500,
            keyframe_secs: 2,
            threads: 2,
            nvenc: NvencLibraries::default(),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), CodecError> {
        Yuv420::new(self.width, self.height)?;
        if !(1..=60).contains(&self.fps) {
            return Err(CodecError::Config(format!(
                "{} fps is outside 1-60",
                self.fps
            )));
        }
        if !(MIN_KBPS..=MAX_KBPS).contains(&self.bitrate_kbps) {
            return Err(CodecError::Config(format!(
                "{} kbit/s is outside {MIN_KBPS}-{MAX_KBPS}",
                self.bitrate_kbps
            )));
        }
        if !(1..=10).contains(&self.keyframe_secs) {
            return Err(CodecError::Config(
                "keyframes must come every 1 to 10 s".into(),
            ));
        }
        Ok(())
    }

    /// Frames between keyframes.
    pub fn gop(&self) -> u32 {
        self.fps * self.keyframe_secs
    }
}

/// One encoded picture.
#[derive(Clone, Debug)]
pub struct EncodedVideo {
    /// Presentation (= decoding; no B-frames) time, milliseconds from the stream's start.
    pub pts_ms: u64,
    /// Whether a decoder can start here.
    pub keyframe: bool,
    /// NAL units as AVCC (length-prefixed), without parameter sets.
    pub avcc: Vec<u8>,
}

/// An H.264 encoder.
pub trait VideoEncoder: Send {
    /// Its name, for logs and stats ("nvenc", "openh264").
    fn name(&self) -> &'static str;

    /// Encodes a picture. `None` when the encoder produced nothing for it.
    fn encode(
        &mut self,
        picture: &Yuv420,
        pts_ms: u64,
        force_keyframe: bool,
    ) -> Result<Option<EncodedVideo>, CodecError>;

    /// The stream's parameter sets, known once the first keyframe is out.
    fn config(&self) -> Option<&AvcConfig>;

    /// Changes the target bit rate from the next frame on, without a keyframe. An encoder that
    /// cannot says so, and the caller opens a new one at the new rate instead.
    fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        Err(CodecError::Unavailable(format!(
            "{} cannot change its bit rate while running (asked for {kbps} kbit/s)",
            self.name()
        )))
    }
}

/// Opens the encoder `choice` asks for. With `Auto`, an unusable NVENC is reported in the second
/// value (why it was passed over) and openh264 is used.
pub fn open_video_encoder(
    choice: EncoderChoice,
    settings: &VideoSettings,
) -> Result<(Box<dyn VideoEncoder>, Option<String>), CodecError> {
    settings.validate()?;
    match choice {
        EncoderChoice::OpenH264 => Ok((Box::new(OpenH264Encoder::new(settings)?), None)),
        EncoderChoice::Nvenc => Ok((Box::new(nvenc::NvencEncoder::new(settings)?), None)),
        EncoderChoice::Auto => match nvenc::NvencEncoder::new(settings) {
            Ok(e) => Ok((Box::new(e), None)),
            Err(why) => Ok((
                Box::new(OpenH264Encoder::new(settings)?),
                Some(why.to_string()),
            )),
        },
    }
}
