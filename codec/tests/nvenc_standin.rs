//! The NVENC call sequence, checked against a stand-in for the driver's libraries that this test
//! builds from C against Debian's `nvEncodeAPI.h` (package libffmpeg-nvenc-dev). The stand-in
//! logs each call and whether each struct carried the version the header defines, and returns a
//! canned bitstream. Real NVENC is exercised by the hardware tests on the box.

use std::path::{Path, PathBuf};
use std::process::Command;

use codec::{CodecError, EncoderChoice, NvencLibraries, VideoSettings, Yuv420, open_video_encoder};

fn build_standin(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nvenc_standin/standin.c");
    let out = dir.join("libnvstandin.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) is needed to build the NVENC stand-in");
    assert!(
        status.success(),
        "building the stand-in failed (is libffmpeg-nvenc-dev installed?)"
    );
    out
}

fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn nvenc_is_driven_in_the_documented_order_and_falls_back_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_standin(dir.path());
    let log = dir.path().join("calls.log");
    let settings = VideoSettings {
        nvenc: NvencLibraries {
            encode: lib.clone(),
            cuda: lib.clone(),
        },
        ..VideoSettings::hd720()
    };

    // 1. A working "driver": the encoder opens, encodes and tears down in order.
    {
        let (mut enc, fallback) = open_video_encoder(EncoderChoice::Auto, &settings).unwrap();
        assert_eq!(enc.name(), "nvenc");
        assert!(fallback.is_none());
        let mut pic = Yuv420::new(1280, 720).unwrap();
        pic.y[0] = 77;
        pic.u[0] = 99;
        let first = enc.encode(&pic, 0, true).unwrap().unwrap();
        assert!(first.keyframe);
        assert_eq!(first.avcc, vec![0, 0, 0, 5, 0x65, 0x88, 0x84, 0x00, 0x33]);
        let config = enc.config().unwrap();
        assert_eq!(config.sps, vec![0x67, 0x64, 0x00, 0x1f, 0xac]);
        assert_eq!(config.pps, vec![0x68, 0xee, 0x3c, 0x80]);
        let second = enc.encode(&pic, 33, false).unwrap().unwrap();
        assert!(!second.keyframe);
        assert_eq!(second.avcc, vec![0, 0, 0, 4, 0x41, 0x9a, 0x02, 0x05]);
    }
    let log_lines = calls(&log);
    assert!(
        !log_lines.iter().any(|l| l.contains("BAD")),
        "{log_lines:#?}"
    );
    let names: Vec<&str> = log_lines
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let per_frame = [
        "nvEncLockInputBuffer",
        "nvEncUnlockInputBuffer",
        "nvEncEncodePicture",
        "nvEncLockBitstream",
        "nvEncUnlockBitstream",
    ];
    let mut expected = vec![
        "cuInit",
        "cuDeviceGetCount",
        "cuDeviceGet",
        "cuDeviceGetName",
        "cuCtxCreate",
        "NvEncodeAPIGetMaxSupportedVersion",
        "NvEncodeAPICreateInstance",
        "nvEncOpenEncodeSessionEx",
        "nvEncGetEncodeGUIDCount",
        "nvEncGetEncodeGUIDs",
        "nvEncGetEncodePresetConfigEx",
        "nvEncInitializeEncoder",
        "nvEncCreateInputBuffer",
        "nvEncCreateBitstreamBuffer",
    ];
    expected.extend(per_frame);
    expected.extend(per_frame);
    expected.extend([
        "nvEncDestroyInputBuffer",
        "nvEncDestroyBitstreamBuffer",
        "nvEncDestroyEncoder",
        "cuCtxDestroy",
    ]);
    assert_eq!(names, expected);
    let init = log_lines
        .iter()
        .find(|l| l.starts_with("nvEncInitializeEncoder"))
        .unwrap();
    assert!(
        init.contains("1280x720@30/1 gop=60 idr=60 rc=2 bitrate=4500000 repeat_spspps=1 bframes=0"),
        "{init}"
    );
    // The picture's planes arrive at the driver's pitch.
    assert!(
        log_lines
            .iter()
            .any(|l| l == "nvEncUnlockInputBuffer y0=77 u0=99"),
        "{log_lines:#?}"
    );
    assert!(
        log_lines
            .iter()
            .any(|l| l.starts_with("nvEncEncodePicture ok 1280x720 pitch=1920 ts=0 idr=1"))
    );
    assert!(
        log_lines
            .iter()
            .any(|l| l.starts_with("nvEncEncodePicture ok 1280x720 pitch=1920 ts=33 idr=0"))
    );

    // 2. A GPU that fails mid-stream: frames after the second are refused with an error the
    // frame loop can act on (it opens a new encoder; see stream's pipeline).
    std::fs::write(dir.path().join("fail-after"), "2").unwrap();
    {
        let (mut enc, _) = open_video_encoder(EncoderChoice::Nvenc, &settings).unwrap();
        let pic = Yuv420::new(1280, 720).unwrap();
        assert!(enc.encode(&pic, 0, true).unwrap().is_some());
        assert!(enc.encode(&pic, 33, false).unwrap().is_some());
        let err = enc.encode(&pic, 66, false).unwrap_err();
        assert!(matches!(err, CodecError::Encode(_)), "{err:?}");
    }
    std::fs::remove_file(dir.path().join("fail-after")).unwrap();

    // 3. A GPU without an NVENC engine: auto falls back to openh264 and says why.
    std::fs::remove_file(&log).unwrap();
    std::fs::write(dir.path().join("fail-open"), "").unwrap();
    let (enc, fallback) = open_video_encoder(EncoderChoice::Auto, &settings).unwrap();
    assert_eq!(enc.name(), "openh264");
    let why = fallback.unwrap();
    assert!(
        why.contains("Stand-in RTX") && why.contains("no NVENC engine"),
        "{why}"
    );
    assert!(
        calls(&log).iter().any(|l| l == "cuCtxDestroy ok"),
        "the CUDA context is released"
    );
    let err = open_video_encoder(EncoderChoice::Nvenc, &settings)
        .err()
        .unwrap();
    assert!(matches!(err, CodecError::Unavailable(_)));

    // 4. No driver at all.
    let missing = VideoSettings {
        nvenc: NvencLibraries {
            encode: "/nonexistent/libnvidia-encode.so.1".into(),
            cuda: "/nonexistent/libcuda.so.1".into(),
        },
        ..VideoSettings::hd720()
    };
    let (enc, fallback) = open_video_encoder(EncoderChoice::Auto, &missing).unwrap();
    assert_eq!(enc.name(), "openh264");
    assert!(fallback.unwrap().contains("cannot load the CUDA driver"));
}
