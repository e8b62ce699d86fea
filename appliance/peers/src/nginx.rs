//! A real RTMP ingest: Debian's nginx with libnginx-mod-rtmp, started per test in its
//! own directory (`record all` into `rec/`), with an optional TLS front (nginx's stream module
//! and a self-signed certificate) for rtmps://.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running nginx.
pub struct Nginx {
    /// Its directory (configuration, logs, `rec/`).
    pub dir: PathBuf,
    /// The RTMP port.
    pub rtmp_port: u16,
    /// The TLS front's port (rtmps://).
    pub tls_port: u16,
    child: Option<Child>,
}

fn write_config(dir: &Path, rtmp: u16, tls: u16) {
    let d = dir.display();
    let conf = format!(
        "master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
events {{ worker_connections 128; }}
rtmp {{
  server {{
    listen 127.0.0.1:{rtmp};
    chunk_size 4096;
    application live {{
      live on;
      record all;
      record_path {d}/rec;
      record_unique on;
    }}
  }}
}}
stream {{
  server {{
    listen 127.0.0.1:{tls} ssl;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    proxy_pass 127.0.0.1:{rtmp};
  }}
}}
"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
}

/// A test CA and a server certificate for localhost / 127.0.0.1 signed by it.
pub fn make_certificate(dir: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is needed (.ci/test installs it)");
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=SothebAIs test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
}

fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

impl Nginx {
    /// Configures and starts nginx in a new directory under `parent`.
    pub fn start(parent: &Path) -> Nginx {
        let dir = parent.join("nginx");
        std::fs::create_dir_all(dir.join("rec")).unwrap();
        make_certificate(&dir);
        let (rtmp_port, tls_port) = (free_port(), free_port());
        write_config(&dir, rtmp_port, tls_port);
        let mut n = Nginx {
            dir,
            rtmp_port,
            tls_port,
            child: None,
        };
        n.restart();
        n
    }

    /// Starts nginx again with the same configuration and ports; returns when it accepts.
    pub fn restart(&mut self) -> Instant {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stderr.log"))
            .unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .arg("-e")
            .arg(self.dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nginx is needed (.ci/test installs nginx and libnginx-mod-rtmp)");
        self.child = Some(child);
        let start = Instant::now();
        while !(accepts(self.rtmp_port) && accepts(self.tls_port)) {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "nginx exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Instant::now()
    }

    /// SIGKILL: the ingest vanishes mid-stream.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Recordings nginx wrote, oldest first.
    pub fn recordings(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("rec"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "flv"))
            .collect();
        files.sort_by_key(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.created().or_else(|_| m.modified()))
                .ok()
        });
        files
    }

    /// The CA that signed nginx's certificate (to trust with --ca-file).
    pub fn certificate(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What ffprobe says of a recording.
#[derive(Debug)]
pub struct Probe {
    /// Video codec, size, rate.
    pub video: String,
    /// Audio codec, rate, channels.
    pub audio: String,
    /// Seconds.
    pub duration: f64,
}

/// Probes a recording: the video stream (codec, size, rate), the audio codec, the duration.
pub fn probe(file: &Path) -> Probe {
    let run = |args: &[&str]| {
        let out = Command::new("ffprobe")
            .args(["-v", "error"])
            .args(args)
            .arg(file)
            .output()
            .expect("ffprobe is needed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    Probe {
        video: run(&[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,r_frame_rate",
            "-of",
            "csv=p=0",
        ]),
        audio: run(&[
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,sample_rate,channels",
            "-of",
            "csv=p=0",
        ]),
        duration: run(&["-show_entries", "format=duration", "-of", "csv=p=0"])
            .parse()
            .unwrap_or(0.0),
    }
}

/// Decodes a file strictly; returns what ffmpeg printed (empty when all is well).
pub fn decode_errors(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg is needed");
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && text.is_empty() {
        text = format!("ffmpeg exited with {}", out.status);
    }
    text
}

/// Seconds the picture stood still in a recording: the video timestamps' gaps beyond one
/// frame's time (30 fps), counting only gaps over 100 ms (a dropped GOP, not jitter).
pub fn frozen_secs(file: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe is needed");
    let mut times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert!(times.len() > 30, "{} has almost no video", file.display());
    times.sort_by(f64::total_cmp);
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|gap| *gap > 0.1)
        .map(|gap| gap - 1.0 / 30.0)
        .sum()
}
