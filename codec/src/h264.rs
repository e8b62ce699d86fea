//! H.264 bitstream packaging: Annex B (start codes, what encoders emit) to AVCC (length-prefixed
//! NAL units, what FLV and RTMP carry), and the AVCDecoderConfigurationRecord that describes
//! the stream to a decoder (ISO/IEC 14496-15 §5.2.4.1).

/// NAL unit types this crate looks at.
pub mod nal {
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// The NAL unit type of a NAL unit (its first byte's low five bits).
pub fn nal_type(unit: &[u8]) -> u8 {
    unit.first().map_or(0, |b| b & 0x1f)
}

/// Splits an Annex B byte stream (00 00 01 or 00 00 00 01 start codes) into NAL units, without
/// their start codes. Bytes before the first start code are ignored.
pub fn split_annex_b(stream: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut i = 0;
    let mut start: Option<usize> = None;
    while i + 2 < stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            if let Some(s) = start {
                // Trailing zero of a 4-byte start code belongs to the delimiter, not the unit.
                let mut end = i;
                while end > s && stream[end - 1] == 0 {
                    end -= 1;
                }
                if end > s {
                    units.push(&stream[s..end]);
                }
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start
        && s < stream.len()
    {
        units.push(&stream[s..]);
    }
    units
}

/// What a decoder needs before the first frame: the sequence and picture parameter sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcConfig {
    /// Sequence parameter set (one NAL unit, without start code).
    pub sps: Vec<u8>,
    /// Picture parameter set.
    pub pps: Vec<u8>,
}

impl AvcConfig {
    /// The AVCDecoderConfigurationRecord (the body of an FLV "AVC sequence header").
    pub fn decoder_configuration_record(&self) -> Vec<u8> {
        let profile = self.sps.get(1).copied().unwrap_or(66);
        let compat = self.sps.get(2).copied().unwrap_or(0);
        let level = self.sps.get(3).copied().unwrap_or(31);
        let mut out = Vec::with_capacity(11 + self.sps.len() + self.pps.len());
        out.extend_from_slice(&[1, profile, compat, level, 0xff, 0xe1]);
        out.extend_from_slice(&(self.sps.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.sps);
        out.push(1);
        out.extend_from_slice(&(self.pps.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.pps);
        out
    }

    /// Codec string for metadata, e.g. `avc1.42c01f`.
    pub fn codec_string(&self) -> String {
        let b = |i: usize| self.sps.get(i).copied().unwrap_or(0);
        format!("avc1.{:02x}{:02x}{:02x}", b(1), b(2), b(3))
    }
}

/// One encoded access unit, as the muxers want it.
#[derive(Clone, Debug)]
pub struct AccessUnit {
    /// NAL units as AVCC: each prefixed by its 4-byte big-endian length. Parameter sets and
    /// delimiters are left out (they travel in [`AvcConfig`]).
    pub avcc: Vec<u8>,
    /// Whether it holds an IDR picture (a point a decoder can start from).
    pub keyframe: bool,
    /// The parameter sets, when this access unit carried them.
    pub config: Option<AvcConfig>,
}

/// Repackages one Annex B access unit.
pub fn access_unit(annex_b: &[u8]) -> AccessUnit {
    let mut avcc = Vec::with_capacity(annex_b.len() + 16);
    let mut keyframe = false;
    let (mut sps, mut pps) = (None, None);
    for unit in split_annex_b(annex_b) {
        match nal_type(unit) {
            nal::SPS => sps = Some(unit.to_vec()),
            nal::PPS => pps = Some(unit.to_vec()),
            nal::AUD => {}
            t => {
                keyframe |= t == nal::IDR;
                avcc.extend_from_slice(&(unit.len() as u32).to_be_bytes());
                avcc.extend_from_slice(unit);
            }
        }
    }
    let config = match (sps, pps) {
        (Some(sps), Some(pps)) => Some(AvcConfig { sps, pps }),
        _ => None,
    };
    AccessUnit {
        avcc,
        keyframe,
        config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9, 0,
        ];
        let units = split_annex_b(&stream);
        assert_eq!(
            units,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 9, 9, 0][..]]
        );
        assert!(split_annex_b(&[1, 2, 3]).is_empty());
        assert!(split_annex_b(&[]).is_empty());
    }

    #[test]
    fn repackages_an_idr_access_unit() {
        let stream = [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xaa, 0, 0, 0, 1, 0x68,
            0xce, 0, 0, 1, 0x65, 1, 2, 3,
        ];
        let au = access_unit(&stream);
        assert!(au.keyframe);
        assert_eq!(au.avcc, vec![0, 0, 0, 4, 0x65, 1, 2, 3]);
        let config = au.config.unwrap();
        assert_eq!(config.codec_string(), "avc1.42c01f");
        assert_eq!(
            config.decoder_configuration_record(),
            vec![
                1, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0, 5, 0x67, 0x42, 0xc0, 0x1f, 0xaa, 1, 0, 2, 0x68,
                0xce
            ]
        );
    }

    #[test]
    fn a_p_frame_is_no_keyframe_and_carries_no_config() {
        let au = access_unit(&[0, 0, 1, 0x41, 7, 7]);
        assert!(!au.keyframe);
        assert!(au.config.is_none());
        assert_eq!(au.avcc, vec![0, 0, 0, 3, 0x41, 7, 7]);
    }
}
