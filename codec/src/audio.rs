//! Audio: AAC-LC with fdk-aac (48 kHz stereo, 128 kbit/s), and the bed that plays until the host
//! speaks: silence or a quiet generated ambience.
//!
//! Timestamps come from sample counts, never from a clock: the n-th AAC frame starts at exactly
//! `n * 1024 / 48000` s, so audio cannot drift from video over hours.

use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use crate::CodecError;

/// Sample rate of the stream's audio.
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// Channels of the stream's audio.
pub const AUDIO_CHANNELS: u32 = 2;
/// Samples per channel in one AAC-LC frame.
const FRAME: usize = 1024;

/// One encoded AAC frame.
#[derive(Clone, Debug)]
pub struct EncodedAudio {
    /// Presentation time, milliseconds from the stream's start.
    pub pts_ms: u64,
    /// The raw AAC frame (no ADTS header).
    pub data: Vec<u8>,
}

/// An AAC-LC encoder for interleaved 16-bit stereo PCM at 48 kHz.
pub struct AacEncoder {
    encoder: Encoder,
    asc: Vec<u8>,
    pending: Vec<i16>,
    out: Vec<u8>,
    frames_out: u64,
}

// SAFETY-free: fdk_aac's encoder is a plain owned handle; it is moved, never shared.
#[allow(unsafe_code)]
unsafe impl Send for AacEncoder {}

impl AacEncoder {
    /// Opens the encoder at `bitrate` bit/s.
    pub fn new(bitrate: u32) -> Result<AacEncoder, CodecError> {
        let encoder = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate),
            sample_rate: AUDIO_SAMPLE_RATE,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| CodecError::Unavailable(format!("the AAC encoder cannot start: {e:?}")))?;
        let info = encoder.info().map_err(|e| {
            CodecError::Unavailable(format!("the AAC encoder has no configuration: {e:?}"))
        })?;
        let len = (info.confSize as usize).min(info.confBuf.len());
        let asc = info.confBuf[..len].to_vec();
        if asc.is_empty() {
            return Err(CodecError::Unavailable(
                "the AAC encoder gave no AudioSpecificConfig".into(),
            ));
        }
        Ok(AacEncoder {
            encoder,
            asc,
            pending: Vec::with_capacity(FRAME * 4),
            out: vec![0; 8192],
            frames_out: 0,
        })
    }

    /// The AudioSpecificConfig (the body of an FLV "AAC sequence header").
    pub fn audio_specific_config(&self) -> &[u8] {
        &self.asc
    }

    /// Feeds interleaved stereo samples; returns the frames that came out.
    pub fn push(&mut self, pcm: &[i16]) -> Result<Vec<EncodedAudio>, CodecError> {
        self.pending.extend_from_slice(pcm);
        let step = FRAME * AUDIO_CHANNELS as usize;
        let mut frames = Vec::new();
        let mut offset = 0;
        while self.pending.len() - offset >= step {
            let input = &self.pending[offset..offset + step];
            let info = self
                .encoder
                .encode(input, &mut self.out)
                .map_err(|e| CodecError::Encode(format!("AAC: {e:?}")))?;
            offset += info.input_consumed.max(1).min(step);
            if info.output_size > 0 {
                frames.push(EncodedAudio {
                    pts_ms: self.frames_out * FRAME as u64 * 1000 / u64::from(AUDIO_SAMPLE_RATE),
                    data: self.out[..info.output_size].to_vec(),
                });
                self.frames_out += 1;
            }
        }
        self.pending.drain(..offset);
        Ok(frames)
    }
}

/// What the bed plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioBedKind {
    /// Digital silence.
    Silence,
    /// A quiet room tone with a slow, soft chord (about -30 dBFS).
    Ambience,
}

impl std::str::FromStr for AudioBedKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "silence" => Ok(AudioBedKind::Silence),
            "ambience" => Ok(AudioBedKind::Ambience),
            other => Err(format!(
                "unknown audio bed {other:?}; use silence or ambience"
            )),
        }
    }
}

/// Generates the audio bed, deterministically.
pub struct AudioBed {
    kind: AudioBedKind,
    t: u64,
    noise: u32,
    pink: [f32; 3],
}

impl AudioBed {
    /// A bed of `kind`.
    pub fn new(kind: AudioBedKind) -> AudioBed {
        AudioBed {
            kind,
            t: 0,
            noise: 0x1234_5678,
            pink: [0.0; 3],
        }
    }

    /// Fills interleaved stereo samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        if self.kind == AudioBedKind::Silence {
            out.fill(0);
            self.t += (out.len() / 2) as u64;
            return;
        }
        const CHORD: [f32; 3] = [220.0, 277.18, 329.63]; // A major, soft
        let rate = AUDIO_SAMPLE_RATE as f32;
        for frame in out.chunks_exact_mut(2) {
            let t = self.t as f32 / rate;
            // Xorshift white noise, filtered towards pink.
            self.noise ^= self.noise << 13;
            self.noise ^= self.noise >> 17;
            self.noise ^= self.noise << 5;
            let white = (self.noise as f32 / u32::MAX as f32) * 2.0 - 1.0;
            self.pink[0] = 0.997 * self.pink[0] + 0.029 * white;
            self.pink[1] = 0.985 * self.pink[1] + 0.032 * white;
            self.pink[2] = 0.950 * self.pink[2] + 0.048 * white;
            let room = (self.pink[0] + self.pink[1] + self.pink[2]) * 0.25;
            let swell = 0.5 + 0.5 * (std::f32::consts::TAU * t / 12.0).sin();
            let pad: f32 = CHORD
                .iter()
                .map(|f| (std::f32::consts::TAU * f * t).sin())
                .sum::<f32>()
                / 3.0;
            let left = 0.02 * room + 0.03 * swell * pad;
            let right = 0.02 * room + 0.03 * (1.0 - swell * 0.3) * pad;
            frame[0] = (left.clamp(-1.0, 1.0) * i16::MAX as f32) as i16;
            frame[1] = (right.clamp(-1.0, 1.0) * i16::MAX as f32) as i16;
            self.t += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_aac_lc_with_timestamps_from_sample_counts() {
        let mut enc = AacEncoder::new(128_000).unwrap();
        // AAC-LC, 48 kHz (index 3), stereo: 0b00010 0011 0010 000 -> 0x11 0x90.
        assert_eq!(enc.audio_specific_config(), &[0x11, 0x90]);
        let mut bed = AudioBed::new(AudioBedKind::Ambience);
        let mut pcm = vec![0i16; 48_000 * 2];
        let mut frames = Vec::new();
        for _ in 0..10 {
            bed.fill(&mut pcm);
            frames.extend(enc.push(&pcm).unwrap());
        }
        // 10 s of audio is 468.75 frames; the encoder holds a couple back.
        assert!((465..=469).contains(&frames.len()), "{}", frames.len());
        for (n, f) in frames.iter().enumerate() {
            assert_eq!(f.pts_ms, n as u64 * 1024 * 1000 / 48_000);
            assert!(!f.data.is_empty());
        }
        let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
        let kbps = bytes as f64 * 8.0 / (frames.len() as f64 * 1024.0 / 48_000.0) / 1000.0;
        assert!((100.0..=140.0).contains(&kbps), "{kbps} kbit/s");
    }

    #[test]
    fn the_ambience_is_quiet_and_silence_is_silent() {
        let mut pcm = vec![0i16; 96_000];
        AudioBed::new(AudioBedKind::Ambience).fill(&mut pcm);
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(
            peak > 0 && peak < 3_000,
            "peak {peak} (about -21 dBFS at most)"
        );
        AudioBed::new(AudioBedKind::Silence).fill(&mut pcm);
        assert!(pcm.iter().all(|&s| s == 0));
    }
}
