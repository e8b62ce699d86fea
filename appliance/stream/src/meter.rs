//! The program audio's level, as the operator's meter shows it: peak and RMS over the last
//! 3 s of what the frame loop encodes, in dBFS.

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

/// The program audio's level over a sliding window of frames: peak and RMS, dBFS.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    frames: std::collections::VecDeque<(f64, f64)>,
}

impl Meter {
    /// Frames in the window (3 s at 30 fps).
    const WINDOW: usize = 90;

    pub(crate) fn push(&mut self, pcm: &[i16]) -> (f64, f64) {
        if self.frames.len() == Self::WINDOW {
            self.frames.pop_front();
        }
        self.frames.push_back(levels(pcm));
        let peak = self.frames.iter().map(|f| f.0).fold(0.0, f64::max);
        let mean = self.frames.iter().map(|f| f.1).sum::<f64>() / self.frames.len() as f64;
        (dbfs(peak), dbfs(mean.sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_reads_peak_and_rms_in_dbfs() {
        // A full-scale square wave: peak and RMS 0 dBFS.
        let square: Vec<i16> = (0..1600)
            .map(|i| if i % 2 == 0 { 32767 } else { -32767 })
            .collect();
        let (peak, rms) = Meter::default().push(&square);
        assert!(peak.abs() < 0.01 && rms.abs() < 0.01, "{peak} {rms}");
        // A sine at half scale: peak -6 dBFS, RMS -9 dBFS.
        let sine: Vec<i16> = (0..4800)
            .map(|i| (16384.0 * (i as f64 * 2.0 * std::f64::consts::PI / 48.0).sin()) as i16)
            .collect();
        let (peak, rms) = Meter::default().push(&sine);
        assert!((peak + 6.02).abs() < 0.1, "{peak}");
        assert!((rms + 9.03).abs() < 0.1, "{rms}");
        // Silence is the floor; the window remembers a loud moment for 3 s.
        let silence = vec![0i16; 3200];
        let mut m = Meter::default();
        assert_eq!(m.push(&silence), (FLOOR_DB, FLOOR_DB));
        m.push(&sine);
        for _ in 0..(Meter::WINDOW - 1) {
            let (peak, _) = m.push(&silence);
            assert!(peak > -7.0, "the loud frame is still in the window");
        }
        assert_eq!(m.push(&silence).0, FLOOR_DB, "and then it is not");
    }
}
