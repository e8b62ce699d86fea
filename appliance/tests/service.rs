//! The appliance under a service manager, as systemd runs it (`Type=notify`, `WatchdogSec=`):
//! a datagram socket stands in for systemd's notify socket. READY=1 comes once it serves;
//! WATCHDOG=1 every half period while it works; none while the process is stopped (SIGSTOP, so
//! the service manager would kill and restart it); STOPPING=1 at SIGTERM.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::Running;

/// Messages received until `until` (each datagram one string).
fn receive(sock: &UnixDatagram, until: Instant) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return out;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Waits up to `limit` for a message containing `what`; returns everything received.
fn wait_for(sock: &UnixDatagram, what: &str, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let got = receive(
            sock,
            (Instant::now() + Duration::from_millis(200)).min(deadline),
        );
        let found = got.iter().any(|m| m.contains(what));
        seen.extend(got);
        if found {
            return seen;
        }
    }
    panic!("no {what} within {limit:?}; received {seen:?}");
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn the_service_manager_hears_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = common::demo_config(dir.path(), "[stream]\nenabled = false");
    let notify = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify).unwrap();
    let app = Running::start(
        &config,
        &data,
        dir.path().join("appliance.log"),
        &[
            ("NOTIFY_SOCKET", notify.to_str().unwrap()),
            // WatchdogSec=2: petted every second.
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    let pid = app.child.id();
    let first = wait_for(&sock, "READY=1", Duration::from_secs(60));
    let ready = first.iter().find(|m| m.contains("READY=1")).unwrap();
    assert!(ready.contains("STATUS=serving"), "{ready}");
    // Petted while it works: about one a second.
    let petted = receive(&sock, Instant::now() + Duration::from_secs(5));
    let pets = petted.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(pets >= 2, "{petted:?}");

    // A hung appliance pets nothing (the service manager kills it when the period runs out).
    signal(pid, "-STOP");
    let _ = receive(&sock, Instant::now() + Duration::from_millis(300));
    let hung = receive(&sock, Instant::now() + Duration::from_secs(3));
    assert!(
        hung.iter().all(|m| !m.contains("WATCHDOG=1")),
        "petted while stopped: {hung:?}"
    );
    signal(pid, "-CONT");
    wait_for(&sock, "WATCHDOG=1", Duration::from_secs(10));

    // A stop is announced (the datagram waits in the socket).
    let status = app.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    wait_for(&sock, "STOPPING=1", Duration::from_secs(5));
    let log = std::fs::read_to_string(dir.path().join("appliance.log")).unwrap();
    assert!(
        log.contains("the service manager's watchdog is on"),
        "{log}"
    );
}
