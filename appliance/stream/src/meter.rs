//! The program audio's level, as the operator's meter shows it: peak and RMS (dBFS) and EBU R128
//! short-term loudness (LUFS), each over the last 3 s of what the frame loop encodes.

use codec::{AUDIO_CHANNELS, AUDIO_SAMPLE_RATE};
use ebur128::{EbuR128, Mode};

/// The quietest level reported, dBFS (digital silence).
const FLOOR_DB: f64 = -120.0;

/// Peak and mean square of 16-bit samples, as fractions of full scale.
fn levels(pcm: &[i16]) -> (f64, f64) {
    if pcm.is_empty() {
        return (0.0, 0.0);
    }
    let mut peak = 0.0f64;
    let mut sum = 0.0f64;
    for s in pcm {
        let v = f64::from(*s) / 32768.0;
        peak = peak.max(v.abs());
        sum += v * v;
    }
    (peak, sum / pcm.len() as f64)
}

/// A fraction of full scale in dBFS (amplitude), floored.
fn dbfs(amplitude: f64) -> f64 {
    if amplitude <= 0.0 {
        FLOOR_DB
    } else {
        (20.0 * amplitude.log10()).max(FLOOR_DB)
    }
}

/// The program audio's level over the last 3 s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Levels {
    /// Sample peak, dBFS.
    pub(crate) peak: f64,
    /// RMS, dBFS.
    pub(crate) rms: f64,
    /// Short-term loudness (ITU-R BS.1770 K-weighted, 3 s), LUFS; the floor for silence.
    pub(crate) loudness: f64,
}

/// The program audio's level over a sliding window of frames of interleaved stereo at 48 kHz.
pub(crate) struct Meter {
    frames: std::collections::VecDeque<(f64, f64)>,
    /// The loudness meter; `None` only if it could not be made for our format, when loudness
    /// reads as the floor.
    r128: Option<EbuR128>,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            frames: Default::default(),
            r128: EbuR128::new(AUDIO_CHANNELS, AUDIO_SAMPLE_RATE, Mode::S).ok(),
        }
    }
}

impl Meter {
    /// Frames in the window (3 s at 30 fps).
    const WINDOW: usize = 90;

    pub(crate) fn push(&mut self, pcm: &[i16]) -> Levels {
        if self.frames.len() == Self::WINDOW {
            self.frames.pop_front();
        }
        self.frames.push_back(levels(pcm));
        let peak = self.frames.iter().map(|f| f.0).fold(0.0, f64::max);
        let mean = self.frames.iter().map(|f| f.1).sum::<f64>() / self.frames.len() as f64;
        let whole = pcm.len() - pcm.len() % AUDIO_CHANNELS as usize;
        let loudness = self
            .r128
            .as_mut()
            .and_then(|m| m.add_frames_i16(&pcm[..whole]).ok())
            .and_then(|()| self.r128.as_ref()?.loudness_shortterm().ok())
            .filter(|l| l.is_finite())
            .map_or(FLOOR_DB, |l| l.max(FLOOR_DB));
        Levels {
            peak: dbfs(peak),
            rms: dbfs(mean.sqrt()),
            loudness,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Interleaved stereo: the same sine on both channels, `amplitude` of full scale.
    fn stereo_sine(hz: f64, amplitude: f64, seconds: f64) -> Vec<i16> {
        let n = (48_000.0 * seconds) as usize;
        (0..n)
            .flat_map(|i| {
                let v = (32767.0
                    * amplitude
                    * (i as f64 * 2.0 * std::f64::consts::PI * hz / 48_000.0).sin())
                    as i16;
                [v, v]
            })
            .collect()
    }

    #[test]
    fn loudness_is_ebu_r128_short_term() {
        // BS.1770: a 997 Hz sine at -20 dBFS on both channels of a stereo programme reads
        // -20 LUFS (each channel -23.01 LKFS after K-weighting ≈ 0 dB at 1 kHz, +3.01 for two).
        let mut m = Meter::default();
        let tone = stereo_sine(997.0, 0.1, 4.0);
        let mut last = None;
        for frame in tone.chunks(3200) {
            last = Some(m.push(frame));
        }
        let l = last.expect("frames");
        assert!((l.loudness + 20.0).abs() < 0.3, "{l:?}");
        assert!((l.peak + 20.0).abs() < 0.1, "{l:?}");
        // K-weighting: a 100 Hz tone at the same level reads quieter than 1 kHz, a 3 kHz one louder.
        let read = |hz| {
            let mut m = Meter::default();
            stereo_sine(hz, 0.1, 4.0)
                .chunks(3200)
                .map(|f| m.push(f))
                .last()
                .expect("frames")
                .loudness
        };
        assert!(read(100.0) < -20.5, "{}", read(100.0));
        assert!(read(3000.0) > -19.5, "{}", read(3000.0));
        // Silence reads the floor, and 3 s of it forgets the tone.
        let silence = vec![0i16; 3200];
        let mut l = m.push(&silence);
        for _ in 0..Meter::WINDOW + 1 {
            l = m.push(&silence);
        }
        assert_eq!(l.loudness, FLOOR_DB, "{l:?}");
    }

    #[test]
    fn the_meter_reads_peak_and_rms_in_dbfs() {
        // A full-scale square wave: peak and RMS 0 dBFS.
        let square: Vec<i16> = (0..1600)
            .map(|i| if i % 2 == 0 { 32767 } else { -32767 })
            .collect();
        let l = Meter::default().push(&square);
        assert!(l.peak.abs() < 0.01 && l.rms.abs() < 0.01, "{l:?}");
        // A sine at half scale: peak -6 dBFS, RMS -9 dBFS.
        let sine: Vec<i16> = (0..4800)
            .map(|i| (16384.0 * (i as f64 * 2.0 * std::f64::consts::PI / 48.0).sin()) as i16)
            .collect();
        let l = Meter::default().push(&sine);
        assert!((l.peak + 6.02).abs() < 0.1, "{l:?}");
        assert!((l.rms + 9.03).abs() < 0.1, "{l:?}");
        // Silence is the floor; the window remembers a loud moment for 3 s.
        let silence = vec![0i16; 3200];
        let mut m = Meter::default();
        let l = m.push(&silence);
        assert_eq!((l.peak, l.rms, l.loudness), (FLOOR_DB, FLOOR_DB, FLOOR_DB));
        m.push(&sine);
        for _ in 0..(Meter::WINDOW - 1) {
            let l = m.push(&silence);
            assert!(l.peak > -7.0, "the loud frame is still in the window");
        }
        assert_eq!(m.push(&silence).peak, FLOOR_DB, "and then it is not");
    }
}
