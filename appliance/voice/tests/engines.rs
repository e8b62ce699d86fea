//! The voices run for real: flite (installed by the test command) speaks a line; a program
//! that hangs is stopped at the limit; one that fails says why.

use std::time::{Duration, Instant};
use voice::{RATE, Voice, VoiceError};

#[test]
fn flite_speaks_a_line_at_the_stream_rate() {
    let v = Voice::new("builtin", "slt", 1.0).unwrap();
    v.check().expect("flite is installed by the test command");
    let samples = v
        .speak("@ada takes the lead at 2.5 ETH! Who dares go higher?")
        .unwrap();
    let secs = samples.len() as f64 / f64::from(RATE);
    assert!((1.5..10.0).contains(&secs), "{secs} s of speech");
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(peak > 3_000, "audible: peak {peak}");
    // Faster speech is shorter.
    let fast = Voice::new("builtin", "slt", 1.5)
        .unwrap()
        .speak("@ada takes the lead at 2.5 ETH! Who dares go higher?")
        .unwrap();
    assert!(
        fast.len() * 10 < samples.len() * 9,
        "{} vs {}",
        fast.len(),
        samples.len()
    );
    assert!(matches!(v.speak("\u{1F389}"), Err(VoiceError::Empty)));
}

/// Piper, installed by the test command in its own environment: `PIPER_TEST_PROGRAM` is the
/// program, `PIPER_TEST_MODEL` the voice.
#[test]
fn piper_speaks_a_line_at_the_stream_rate() {
    let (Some(program), Some(model)) = (
        std::env::var_os("PIPER_TEST_PROGRAM"),
        std::env::var_os("PIPER_TEST_MODEL"),
    ) else {
        panic!(
            "Piper is installed by the test command (.ci/test), which sets PIPER_TEST_PROGRAM and \
             PIPER_TEST_MODEL"
        );
    };
    let model = model.to_string_lossy().into_owned();
    let v = Voice::new("piper", &model, 1.0)
        .unwrap()
        .with_program(program)
        .with_timeout(Duration::from_secs(60));
    v.check().expect("piper and its voice");
    assert!(
        v.describe().contains("en_US-joe-medium"),
        "{}",
        v.describe()
    );
    let line = "@ada takes the lead at 2.5 ETH! Who dares go higher?";
    let samples = v.speak(line).unwrap();
    let secs = samples.len() as f64 / f64::from(RATE);
    assert!((1.5..10.0).contains(&secs), "{secs} s of speech");
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(peak > 3_000, "audible: peak {peak}");
    // Speech, not a tone: the level moves (syllables and pauses) over 50 ms windows.
    let windows: Vec<f64> = samples
        .chunks(2400)
        .map(|w| (w.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / w.len() as f64).sqrt())
        .collect();
    let loud = windows.iter().cloned().fold(0.0, f64::max);
    let quiet = windows.iter().filter(|w| **w < loud / 10.0).count();
    assert!(quiet >= 2, "pauses between words: {windows:?}");
    // Slower speech is longer (Piper's durations vary from run to run: half speed, at least
    // 1.3 times as long).
    let slow = Voice::new("piper", &model, 0.5)
        .unwrap()
        .with_program(std::env::var_os("PIPER_TEST_PROGRAM").unwrap())
        .with_timeout(Duration::from_secs(60))
        .speak(line)
        .unwrap();
    assert!(
        slow.len() * 10 > samples.len() * 13,
        "{} vs {}",
        slow.len(),
        samples.len()
    );
}

#[test]
fn a_hung_or_failing_engine_is_an_error_within_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Written by a child process: a file this process held open for writing could be
    // inherited by a concurrent test's fork, and exec would then fail with "text file busy".
    let script = |name: &str, body: &str| {
        let path = dir.join(name);
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg("printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\"")
            .arg("sh")
            .arg(format!("#!/bin/sh\n{body}\n"))
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        path
    };
    let hang = script("flite", "sleep 30");
    let fail = script("broken", "echo 'no voice data' >&2\nexit 3");
    let junk = script("junk", "echo not a wav file");
    let started = Instant::now();
    let e = Voice::new("builtin", "slt", 1.0)
        .unwrap()
        .with_program(&hang)
        .with_timeout(Duration::from_millis(300))
        .speak("hello")
        .unwrap_err();
    assert!(matches!(e, VoiceError::Timeout { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let e = Voice::new("builtin", "slt", 1.0)
        .unwrap()
        .with_program(&fail)
        .speak("hello")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no voice data") && e.contains("exit status: 3"),
        "{e}"
    );
    let e = Voice::new("builtin", "slt", 1.0)
        .unwrap()
        .with_program(&junk)
        .speak("hello")
        .unwrap_err();
    assert!(matches!(e, VoiceError::BadAudio { .. }), "{e}");
}
