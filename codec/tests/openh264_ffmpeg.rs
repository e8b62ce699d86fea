//! openh264's output, checked by a real decoder: ffmpeg decodes it without a single error, with
//! the right size, frame count, keyframe spacing and bit rate.

use std::io::Write;
use std::process::Command;

use codec::{EncoderChoice, VideoEncoder, VideoSettings, Yuv420, open_video_encoder};

/// A frame with motion and fine detail (moving bars over noise), hard enough to compress that
/// the rate control has to work.
fn frame(width: u32, height: u32, n: u32) -> Vec<u8> {
    let mut rgba = vec![0u8; (width * height * 4) as usize];
    let mut seed = 0x9E37_79B9u32.wrapping_mul(n + 1);
    for y in 0..height {
        for x in 0..width {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed % 64) as u8;
            let i = ((y * width + x) * 4) as usize;
            let band = ((x + n * 4) / 40) % 2;
            rgba[i] = ((x + n * 3) % 192) as u8 + noise;
            rgba[i + 1] = ((y + n) % 192) as u8 + noise;
            rgba[i + 2] = if band == 0 { 180 } else { 40 } + noise;
            rgba[i + 3] = 255;
        }
    }
    rgba
}

/// openh264 at 640x360 with the stream's other settings (4,500 kbit/s), and a picture for it.
fn encoder_360p() -> (Box<dyn VideoEncoder>, Yuv420) {
    let settings = VideoSettings {
        width: 640,
        height: 360,
        ..VideoSettings::hd720()
    };
    let (enc, _) = open_video_encoder(EncoderChoice::OpenH264, &settings).unwrap();
    (enc, Yuv420::new(640, 360).unwrap())
}

#[test]
fn openh264_output_decodes_cleanly_with_the_configured_shape() {
    let (mut enc, mut pic) = encoder_360p();
    let mut annex_b = Vec::new();
    let mut keyframes = Vec::new();
    let mut bytes = 0usize;
    let frames = 150u32; // 5 s
    for n in 0..frames {
        pic.fill_from_rgba(&frame(640, 360, n), 640 * 4).unwrap();
        let out = enc
            .encode(&pic, u64::from(n) * 1000 / 30, false)
            .unwrap()
            .expect("one access unit per picture");
        if out.keyframe {
            keyframes.push(n);
            let config = enc
                .config()
                .expect("parameter sets come with the first keyframe");
            for unit in [&config.sps, &config.pps] {
                annex_b.extend_from_slice(&[0, 0, 0, 1]);
                annex_b.extend_from_slice(unit);
            }
        }
        bytes += out.avcc.len();
        let mut rest = &out.avcc[..];
        while rest.len() >= 4 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            annex_b.extend_from_slice(&[0, 0, 0, 1]);
            annex_b.extend_from_slice(&rest[4..4 + len]);
            rest = &rest[4 + len..];
        }
    }
    assert_eq!(keyframes, vec![0, 60, 120], "a keyframe every 2 s");
    let kbps = bytes as f64 * 8.0 / 5.0 / 1000.0;
    assert!(
        (3000.0..=6000.0).contains(&kbps),
        "{kbps:.0} kbit/s for a 4,500 kbit/s target on detailed content"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.h264");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&annex_b)
        .unwrap();
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-f", "h264", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg is needed (.ci/test installs it)");
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&decode.stderr)
    );
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames,color_space,color_primaries",
            "-of",
            "csv=p=0",
            "-f",
            "h264",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(text.trim(), "h264,640,360,bt709,bt709,150", "{text}");
}

/// Kilobits per second spent on frames `from..to` (30 fps).
fn spent(sizes: &[usize], from: usize, to: usize) -> f64 {
    sizes[from..to].iter().sum::<usize>() as f64 * 8.0 / ((to - from) as f64 / 30.0) / 1000.0
}

#[test]
fn a_bit_rate_changed_while_running_is_spent_without_a_keyframe() {
    let (mut enc, mut pic) = encoder_360p();
    let mut sizes = Vec::new();
    let mut keyframes = Vec::new();
    for n in 0..360u32 {
        match n {
            120 => enc.set_bitrate(1500).unwrap(),
            240 => enc.set_bitrate(4500).unwrap(),
            _ => {}
        }
        pic.fill_from_rgba(&frame(640, 360, n), 640 * 4).unwrap();
        let out = enc
            .encode(&pic, u64::from(n) * 1000 / 30, false)
            .unwrap()
            .expect("one access unit per picture");
        if out.keyframe {
            keyframes.push(n);
        }
        sizes.push(out.avcc.len());
    }
    assert_eq!(
        keyframes,
        (0..6).map(|k| k * 60).collect::<Vec<_>>(),
        "changing the rate forces no keyframe"
    );
    // The second after each change has settled.
    let (high, low, back) = (
        spent(&sizes, 30, 120),
        spent(&sizes, 150, 240),
        spent(&sizes, 270, 360),
    );
    eprintln!("kbit/s: {high:.0} at 4,500, {low:.0} at 1,500, {back:.0} back at 4,500");
    assert!(
        low < high * 0.6,
        "{low:.0} kbit/s after lowering to 1,500 vs {high:.0} at 4,500"
    );
    assert!(
        back > low * 1.6,
        "{back:.0} kbit/s after raising back vs {low:.0}"
    );
    assert!(
        enc.set_bitrate(50).is_err(),
        "a rate below the floor is refused"
    );
}
