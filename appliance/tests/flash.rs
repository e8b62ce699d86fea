//! `appliance flash`: an image written to a disk file and read back; nothing written without
//! the operator's yes; a partition or a missing image refused with the reason.

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
