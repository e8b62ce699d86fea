//! What a box's provisioning asks of the binary: `appliance flash` (an image written to a disk
//! file and read back; nothing written without the operator's yes; a missing image refused
//! with the reason) and the admin account made before the first start.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn an_image_is_flashed_verified_and_only_with_a_yes() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("box.img");
    let data: Vec<u8> = (0..(6 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(&image, &data).unwrap();
    let disk = tmp.path().join("vm-disk.raw");

    // Asked, and not told yes: nothing written.
    let mut child = Command::new(common::binary())
        .args(["flash", "--image"])
        .arg(&image)
        .arg("--device")
        .arg(&disk)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"no\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Nothing written"));
    assert!(!disk.exists());

    let (ok, stdout, stderr) = common::appliance(&[
        "flash",
        "--image",
        image.to_str().unwrap(),
        "--device",
        disk.to_str().unwrap(),
        "--yes",
    ]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("Written and verified: 6 MB"), "{stdout}");
    assert!(stderr.contains("100 %  verifying"), "{stderr}");
    assert_eq!(std::fs::read(&disk).unwrap(), data);

    let (ok, _, stderr) = common::appliance(&[
        "flash",
        "--image",
        tmp.path().join("missing.img").to_str().unwrap(),
        "--device",
        disk.to_str().unwrap(),
        "--yes",
    ]);
    assert!(!ok && stderr.contains("cannot read"), "{stderr}");
}

/// A box's first boot makes the admin account before the appliance ever ran: the database is
/// created, and the appliance's first start then makes (and prints) no password of its own.
#[test]
fn the_admin_account_can_be_made_before_the_first_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (ok, stdout, stderr) =
        common::appliance(&["admin", "set-password", "--data", data.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("The password of \"admin\" is now:"),
        "{stdout}"
    );
    assert!(data.join(store::DB_FILE).exists());
    let (ok, _, stderr) = common::appliance(&[
        "run",
        "--data",
        data.to_str().unwrap(),
        "--no-stream",
        "--duration",
        "2",
    ]);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("First start"), "{stderr}");
}
