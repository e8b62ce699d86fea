//! FLV: the tag bodies RTMP carries (video, audio, script data) and the file format the
//! recorder writes. One place for both, so a recording holds exactly what is published.

use rml_amf0::Amf0Value;

/// FLV tag types.
pub mod tag {
    /// Audio.
    pub const AUDIO: u8 = 8;
    /// Video.
    pub const VIDEO: u8 = 9;
    /// Script data (onMetaData).
    pub const SCRIPT: u8 = 18;
}

/// What the stream carries, for onMetaData.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Video bit rate, kbit/s.
    pub video_kbps: u32,
    /// Audio bit rate, kbit/s.
    pub audio_kbps: u32,
    /// Audio sample rate.
    pub audio_sample_rate: u32,
    /// Audio channels.
    pub audio_channels: u32,
}

/// The video tag body of an AVC sequence header (the AVCDecoderConfigurationRecord).
pub fn video_sequence_header(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + record.len());
    out.extend_from_slice(&[0x17, 0, 0, 0, 0]);
    out.extend_from_slice(record);
    out
}

/// The video tag body of one access unit (AVCC NAL units). No B-frames: composition time 0.
pub fn video_frame(keyframe: bool, avcc: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + avcc.len());
    out.extend_from_slice(&[if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0]);
    out.extend_from_slice(avcc);
    out
}

/// The audio tag body of an AAC sequence header (AudioSpecificConfig).
pub fn audio_sequence_header(asc: &[u8]) -> Vec<u8> {
    let mut out = vec![0xAF, 0];
    out.extend_from_slice(asc);
    out
}

/// The audio tag body of one raw AAC frame.
pub fn audio_frame(aac: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + aac.len());
    out.extend_from_slice(&[0xAF, 1]);
    out.extend_from_slice(aac);
    out
}

/// The script tag body of onMetaData, as a file carries it.
pub fn metadata(info: &StreamInfo, encoder: &str) -> Vec<u8> {
    let number = |v: u32| Amf0Value::Number(f64::from(v));
    let properties = [
        ("width", number(info.width)),
        ("height", number(info.height)),
        ("framerate", number(info.fps)),
        ("videocodecid", number(7)),
        ("videodatarate", number(info.video_kbps)),
        ("audiocodecid", number(10)),
        ("audiodatarate", number(info.audio_kbps)),
        ("audiosamplerate", number(info.audio_sample_rate)),
        ("audiosamplesize", number(16)),
        ("stereo", Amf0Value::Boolean(info.audio_channels == 2)),
        ("encoder", Amf0Value::Utf8String(encoder.to_string())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let values = vec![
        Amf0Value::Utf8String("onMetaData".into()),
        Amf0Value::Object(properties),
    ];
    // Serializing numbers, booleans and strings cannot fail.
    rml_amf0::serialize(&values).unwrap_or_default()
}

/// The FLV file header (audio and video present) and the first PreviousTagSize.
pub fn file_header() -> [u8; 13] {
    [b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// One FLV tag with its trailing PreviousTagSize, as a file stores it.
pub fn file_tag(kind: u8, timestamp_ms: u32, body: &[u8]) -> Vec<u8> {
    let size = body.len() as u32;
    let mut out = Vec::with_capacity(15 + body.len());
    out.push(kind);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&timestamp_ms.to_be_bytes()[1..]);
    out.push((timestamp_ms >> 24) as u8);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(body);
    out.extend_from_slice(&(size + 11).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_laid_out_as_the_spec_says() {
        let tag = file_tag(tag::VIDEO, 0x0123_4567, &[1, 2, 3]);
        assert_eq!(
            tag,
            vec![
                9, 0, 0, 3, 0x23, 0x45, 0x67, 0x01, 0, 0, 0, 1, 2, 3, 0, 0, 0, 14
            ]
        );
        assert_eq!(video_frame(true, &[9])[..2], [0x17, 1]);
        assert_eq!(video_frame(false, &[9])[..2], [0x27, 1]);
        assert_eq!(
            audio_sequence_header(&[0x11, 0x90]),
            vec![0xAF, 0, 0x11, 0x90]
        );
        let meta = metadata(
            &StreamInfo {
                width: 1280,
                height: 720,
                fps: 30,
                video_kbps: 4500,
                audio_kbps: 128,
                audio_sample_rate: 48_000,
                audio_channels: 2,
            },
            "test",
        );
        assert_eq!(
            &meta[..13],
            &[
                2, 0, 10, b'o', b'n', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a'
            ]
        );
    }
}
