//! The host's voice: text to speech as 48 kHz mono samples, through flite (Debian's `flite`,
//! BSD-style licence: no network, no credentials) or Piper (a natural voice, `piper-tts` from
//! PyPI), each run as a separate process so that neither is linked into the appliance and a
//! crash of either costs one line, not the stream.
//!
//! Knows nothing of the host, the stream or the auction: text in, samples out, or an error that
//! says what is missing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The sample rate of what [`Voice::speak`] returns (the stream's audio rate).
pub const RATE: u32 = 48_000;

/// The longest text spoken at once, in characters (about 30 s of speech).
pub const MAX_CHARS: usize = 500;

/// Why nothing was said.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// The engine's program is not installed.
    #[error("{program} is not installed: {hint}")]
    Missing {
        /// The program looked for.
        program: String,
        /// How to install it.
        hint: &'static str,
    },
    /// The configuration names something that cannot work.
    #[error("{0}")]
    Config(String),
    /// The program ran and failed.
    #[error("{program} failed: {why}")]
    Failed {
        /// The program.
        program: String,
        /// Its exit status and the end of what it wrote on standard error.
        why: String,
    },
    /// The program took too long and was stopped.
    #[error("{program} took longer than {limit:?} and was stopped")]
    Timeout {
        /// The program.
        program: String,
        /// The limit.
        limit: Duration,
    },
    /// The program's audio could not be read.
    #[error("{program} gave audio that cannot be read: {why}")]
    BadAudio {
        /// The program.
        program: String,
        /// Why.
        why: String,
    },
    /// The text had nothing speakable in it.
    #[error("nothing to say")]
    Empty,
}

/// A speech engine and its voice.
#[derive(Clone, Debug, PartialEq)]
pub enum Engine {
    /// flite, with one of its built-in voices (`slt`, `kal`, `kal16`, `awb`, `rms`).
    Flite {
        /// The voice.
        voice: String,
    },
    /// Piper, with an ONNX voice model (its `.onnx.json` beside it gives the sample rate).
    Piper {
        /// The model file.
        model: PathBuf,
    },
}

/// flite's built-in voices (Debian's `flite` package).
pub const FLITE_VOICES: &[&str] = &["slt", "kal", "kal16", "awb", "rms"];

/// A voice, ready to speak.
#[derive(Clone, Debug)]
pub struct Voice {
    engine: Engine,
    /// 1.0 is the engine's pace; 1.2 speaks a fifth faster.
    speed: f32,
    program: PathBuf,
    timeout: Duration,
}

impl Voice {
    /// A voice from the character file's settings: `engine` is `builtin` (flite) or `piper`;
    /// `voice` is flite's voice name or Piper's model path.
    pub fn new(engine: &str, voice: &str, speed: f32) -> Result<Voice, VoiceError> {
        if !(0.5..=2.0).contains(&speed) {
            return Err(VoiceError::Config(format!(
                "voice speed {speed} is outside 0.5-2.0"
            )));
        }
        let (engine, program) = match engine {
            "builtin" | "flite" => {
                let voice = if voice.is_empty() { "slt" } else { voice };
                if !FLITE_VOICES.contains(&voice) {
                    return Err(VoiceError::Config(format!(
                        "flite has no voice {voice:?}; it has {}",
                        FLITE_VOICES.join(", ")
                    )));
                }
                (
                    Engine::Flite {
                        voice: voice.into(),
                    },
                    "flite",
                )
            }
            "piper" => {
                if voice.is_empty() {
                    return Err(VoiceError::Config(
                        "a piper voice needs its model file (voice = \"/path/en_US-….onnx\")"
                            .into(),
                    ));
                }
                (
                    Engine::Piper {
                        model: voice.into(),
                    },
                    "piper",
                )
            }
            other => {
                return Err(VoiceError::Config(format!(
                    "unknown voice engine {other:?} (builtin or piper)"
                )));
            }
        };
        Ok(Voice {
            engine,
            speed,
            program: program.into(),
            timeout: Duration::from_secs(10),
        })
    }

    /// Runs `program` instead of the engine's usual one (a path, or a name looked up in `PATH`).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Voice {
        self.program = program.into();
        self
    }

    /// Gives up on a line after `limit`.
    pub fn with_timeout(mut self, limit: Duration) -> Voice {
        self.timeout = limit;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// "flite slt", "piper en_US-amy-low.onnx".
    pub fn describe(&self) -> String {
        match &self.engine {
            Engine::Flite { voice } => format!("flite {voice}"),
            Engine::Piper { model } => format!(
                "piper {}",
                model.file_name().unwrap_or_default().to_string_lossy()
            ),
        }
    }

    /// Checks that the engine can run (its program and model are there), without speaking.
    pub fn check(&self) -> Result<(), VoiceError> {
        find(&self.program).ok_or_else(|| self.missing())?;
        if let Engine::Piper { model } = &self.engine {
            piper_rate(model)?;
        }
        Ok(())
    }

    fn missing(&self) -> VoiceError {
        VoiceError::Missing {
            program: self.program.display().to_string(),
            hint: match self.engine {
                Engine::Flite { .. } => "apt-get install flite",
                Engine::Piper { .. } => "pip install piper-tts, and a voice model",
            },
        }
    }

    /// Speaks `text`: 48 kHz mono samples. Blocks while the engine runs (tens of milliseconds
    /// for a line with flite); call it off any thread that must keep time.
    pub fn speak(&self, text: &str) -> Result<Vec<i16>, VoiceError> {
        let text = speakable(text);
        if text.is_empty() {
            return Err(VoiceError::Empty);
        }
        let program = find(&self.program).ok_or_else(|| self.missing())?;
        let name = self.program.display().to_string();
        match &self.engine {
            Engine::Flite { voice } => {
                let mut cmd = Command::new(program);
                cmd.arg("-voice")
                    .arg(voice)
                    .arg("--setf")
                    .arg(format!("duration_stretch={:.3}", 1.0 / self.speed))
                    .arg("-t")
                    .arg(&text)
                    .arg("-o")
                    .arg("/dev/stdout");
                let out = run(cmd, None, self.timeout, &name)?;
                let (samples, rate) = read_wav(&out).map_err(|why| VoiceError::BadAudio {
                    program: name.clone(),
                    why,
                })?;
                Ok(resample(&samples, rate))
            }
            Engine::Piper { model } => {
                let rate = piper_rate(model)?;
                let mut cmd = Command::new(program);
                cmd.arg("--model")
                    .arg(model)
                    .arg("--output-raw")
                    .arg("--length-scale")
                    .arg(format!("{:.3}", 1.0 / self.speed));
                let out = run(cmd, Some(format!("{text}\n")), self.timeout, &name)?;
                if out.len() % 2 != 0 {
                    return Err(VoiceError::BadAudio {
                        program: name,
                        why: "an odd number of bytes for 16-bit samples".into(),
                    });
                }
                let samples: Vec<i16> = out
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                Ok(resample(&samples, rate))
            }
        }
    }
}

/// `program` as a path to run: itself when it names a file, else the first match in `PATH`.
fn find(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// Piper's sample rate, from the model's `.onnx.json`.
fn piper_rate(model: &Path) -> Result<u32, VoiceError> {
    if !model.is_file() {
        return Err(VoiceError::Config(format!(
            "the piper voice model {} does not exist",
            model.display()
        )));
    }
    let mut json = model.as_os_str().to_owned();
    json.push(".json");
    let json = PathBuf::from(json);
    let text = std::fs::read_to_string(&json).map_err(|e| {
        VoiceError::Config(format!(
            "cannot read the voice's settings {}: {e}",
            json.display()
        ))
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| VoiceError::Config(format!("{}: {e}", json.display())))?;
    v["audio"]["sample_rate"]
        .as_u64()
        .filter(|r| (8_000..=96_000).contains(r))
        .map(|r| r as u32)
        .ok_or_else(|| {
            VoiceError::Config(format!(
                "{} gives no audio.sample_rate between 8000 and 96000",
                json.display()
            ))
        })
}

/// Runs `cmd`, feeding it `input`, and returns its standard output; stops it after `limit`.
fn run(
    mut cmd: Command,
    input: Option<String>,
    limit: Duration,
    name: &str,
) -> Result<Vec<u8>, VoiceError> {
    let failed = |why: String| VoiceError::Failed {
        program: name.to_string(),
        why,
    };
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start: {e}")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A small line fits the pipe; the engine reads it while we read its output.
        std::thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(VoiceError::Timeout {
                    program: name.to_string(),
                    limit,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    let out = out
        .join()
        .map_err(|_| failed("its output reader failed".into()))?
        .map_err(|e| failed(format!("reading its output: {e}")))?;
    let err = err.join().unwrap_or_default();
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let tail: String = err
            .trim()
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(failed(format!("{status}: {tail}")));
    }
    Ok(out)
}

/// Mono 16-bit samples and their rate from a WAV file's bytes (several channels are mixed).
fn read_wav(bytes: &[u8]) -> Result<(Vec<i16>, u32), String> {
    let reader = hound::WavReader::new(bytes).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(format!(
            "{}-bit {:?} samples (16-bit integers expected)",
            spec.bits_per_sample, spec.sample_format
        ));
    }
    if !(8_000..=96_000).contains(&spec.sample_rate) || spec.channels == 0 {
        return Err(format!(
            "{} Hz, {} channels",
            spec.sample_rate, spec.channels
        ));
    }
    let channels = usize::from(spec.channels);
    let all = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mono = all
        .chunks(channels)
        .map(|c| (c.iter().map(|&s| i32::from(s)).sum::<i32>() / c.len() as i32) as i16)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// `samples` at `from` Hz, at [`RATE`]: linear interpolation, which for speech upsampled from
/// 16 or 22.05 kHz adds nothing audible above the source's band edge.
pub fn resample(samples: &[i16], from: u32) -> Vec<i16> {
    if from == RATE || samples.is_empty() {
        return samples.to_vec();
    }
    let out_len = (samples.len() as u64 * u64::from(RATE) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(RATE);
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * step;
            let at = pos as usize;
            let frac = pos - at as f64;
            let a = f64::from(samples[at.min(samples.len() - 1)]);
            let b = f64::from(samples[(at + 1).min(samples.len() - 1)]);
            (a + (b - a) * frac).round() as i16
        })
        .collect()
}

/// What an engine is given to say: printable ASCII, at most [`MAX_CHARS`]; `@` before handles
/// dropped (said as the name), typographic punctuation as its plain equivalent, anything else
/// left out.
pub fn speakable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '…' => out.push_str("..."),
            '—' | '–' => out.push_str(", "),
            '‘' | '’' => out.push('\''),
            '“' | '”' => out.push('"'),
            '@' => {}
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c if c.is_whitespace() => out.push(' '),
            _ => {}
        }
        if out.len() >= MAX_CHARS {
            break;
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_made_speakable() {
        assert_eq!(
            speakable("@ada leads…\n  2.5 ETH — “wow”\u{7}\u{1F389}"),
            "ada leads... 2.5 ETH , \"wow\""
        );
        assert_eq!(speakable("\u{202E}\u{0}"), "");
        assert!(speakable(&"a".repeat(2000)).len() <= MAX_CHARS);
    }

    #[test]
    fn resampling_keeps_the_duration_and_the_shape() {
        let tone: Vec<i16> = (0..16_000)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 16_000.0).sin() * 10_000.0) as i16
            })
            .collect();
        let up = resample(&tone, 16_000);
        assert_eq!(up.len(), 48_000);
        let peak = up.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((9_000..=10_000).contains(&peak), "{peak}");
        // 22.05 kHz: one second in, one second out.
        assert_eq!(resample(&vec![0; 22_050], 22_050).len(), 48_000);
        assert_eq!(resample(&[1, 2, 3], RATE), vec![1, 2, 3]);
    }

    #[test]
    fn settings_are_checked() {
        assert!(Voice::new("builtin", "slt", 1.0).is_ok());
        assert!(Voice::new("builtin", "", 1.0).is_ok(), "slt by default");
        for (engine, voice, speed, says) in [
            ("builtin", "nobody", 1.0, "no voice \"nobody\""),
            ("builtin", "slt", 3.0, "outside 0.5-2.0"),
            ("piper", "", 1.0, "needs its model"),
            ("espeak", "x", 1.0, "unknown voice engine"),
        ] {
            let e = Voice::new(engine, voice, speed).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let e = Voice::new("piper", "/nowhere/v.onnx", 1.0)
            .unwrap()
            .with_program("/bin/sh")
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        let e = Voice::new("builtin", "slt", 1.0)
            .unwrap()
            .with_program("/nowhere/flite")
            .speak("hello")
            .unwrap_err();
        assert!(
            matches!(e, VoiceError::Missing { .. })
                && e.to_string().contains("apt-get install flite"),
            "{e}"
        );
    }

    #[test]
    fn bad_wav_bytes_are_an_error_not_a_panic() {
        assert!(read_wav(b"").is_err());
        assert!(read_wav(b"RIFF\x10\x00\x00\x00WAVEfmt ").is_err());
        assert!(read_wav(&[0xFF; 100]).is_err());
    }
}
