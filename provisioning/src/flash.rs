//! Writing the box's disk image to a disk (`appliance flash --image IMG --device /dev/sdX`):
//! refuses a disk that is mounted, holds swap, or holds the running system; writes with a
//! progress bar; reads the disk back and compares its SHA-256 with the image's. A regular file
//! as the target (a virtual machine's disk) is written and checked the same way.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

const CHUNK: usize = 4 << 20;

/// What was written.
#[derive(Clone, Debug)]
pub struct Flashed {
    /// Bytes written (the image's size).
    pub bytes: u64,
    /// The image's SHA-256, which the disk read back matched.
    pub sha256: String,
    /// Write speed, MB/s (to the disk, synced).
    pub write_mb_s: f64,
}

/// The kernel's name of a block device (`sda`, `nvme0n1p2`) from its path, following links.
fn kernel_name(path: &Path) -> Option<String> {
    let real = fs::canonicalize(path).ok()?;
    real.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The disk a partition belongs to (`sda1` → `sda`, `nvme0n1p2` → `nvme0n1`), as sysfs says;
/// a whole disk is its own.
fn disk_of(name: &str, sys_block: &Path) -> String {
    if sys_block.join(name).exists() {
        return name.to_string();
    }
    fs::read_dir(sys_block)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|disk| sys_block.join(disk).join(name).exists())
        .unwrap_or_else(|| name.to_string())
}

/// Why `disk` (a kernel name) must not be written, given the mount table and swaps as the
/// kernel lists them (`/proc/mounts`, `/proc/swaps`) and the disks in `sys_block`.
pub fn refusal(disk: &str, mounts: &str, swaps: &str, sys_block: &Path) -> Option<String> {
    let source_disk = |source: &str| -> Option<String> {
        let name = kernel_name(Path::new(source))
            .or_else(|| source.strip_prefix("/dev/").map(str::to_string))?;
        Some(disk_of(&name, sys_block))
    };
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(source), Some(point)) = (f.next(), f.next()) else {
            continue;
        };
        if !source.starts_with("/dev/") {
            continue;
        }
        if source_disk(source).as_deref() == Some(disk) {
            let point = point.replace("\\040", " ");
            return Some(
                if point == "/" || point == "/boot" || point == "/boot/efi" {
                    format!("/dev/{disk} holds the running system ({source} on {point}); refused")
                } else {
                    format!(
                        "/dev/{disk} is mounted ({source} on {point}); unmount it first (umount {point})"
                    )
                },
            );
        }
    }
    for line in swaps.lines().skip(1) {
        if let Some(source) = line.split_whitespace().next()
            && source_disk(source).as_deref() == Some(disk)
        {
            return Some(format!(
                "/dev/{disk} holds swap ({source}); swapoff {source} first"
            ));
        }
    }
    None
}

fn sha256_hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `image` to `target` (a whole disk, or a regular file), reporting progress as
/// (bytes done, bytes in all, phase), then reads it back and compares. A block device is
/// checked against the running system first and opened exclusively (the kernel refuses a
/// mounted one too).
pub fn flash(
    image: &Path,
    target: &Path,
    mut progress: impl FnMut(u64, u64, &str),
) -> Result<Flashed> {
    let meta = fs::metadata(image).with_context(|| format!("cannot read {}", image.display()))?;
    if !meta.is_file() || meta.len() == 0 {
        bail!("{} is not a disk image", image.display());
    }
    let size = meta.len();
    let tmeta = fs::metadata(target).ok();
    let block = tmeta
        .as_ref()
        .is_some_and(|m| m.file_type().is_block_device());
    if block {
        let name =
            kernel_name(target).with_context(|| format!("cannot resolve {}", target.display()))?;
        let sys_block = PathBuf::from("/sys/block");
        if !sys_block.join(&name).exists() {
            bail!(
                "{} is a partition, not a whole disk: give the disk (e.g. /dev/sdb, not /dev/sdb1)",
                target.display()
            );
        }
        let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
        let swaps = fs::read_to_string("/proc/swaps").unwrap_or_default();
        if let Some(why) = refusal(&name, &mounts, &swaps, &sys_block) {
            bail!(why);
        }
        let sectors: u64 = fs::read_to_string(sys_block.join(&name).join("size"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if sectors * 512 < size {
            bail!(
                "{} holds {} MB, the image needs {} MB",
                target.display(),
                sectors * 512 / 1_000_000,
                size / 1_000_000
            );
        }
    } else if let Some(m) = &tmeta
        && !m.is_file()
    {
        bail!("{} is neither a disk nor a file", target.display());
    }
    let mut input = fs::File::open(image)?;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).read(true);
    if block {
        opts.custom_flags(libc::O_EXCL);
    } else {
        opts.create(true).truncate(true);
    }
    let mut out = opts
        .open(target)
        .with_context(|| format!("cannot open {} for writing (in use?)", target.display()))?;
    let mut buf = vec![0u8; CHUNK];
    let mut hash = Sha256::new();
    let (mut done, start) = (0u64, Instant::now());
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {} at {done}", target.display()))?;
        hash.update(&buf[..n]);
        done += n as u64;
        progress(done, size, "writing");
    }
    out.sync_all()
        .with_context(|| format!("cannot flush {}", target.display()))?;
    let secs = start.elapsed().as_secs_f64().max(1e-6);
    let expected = sha256_hex(hash);
    // Read back what the disk holds, the image's length of it.
    out.seek(SeekFrom::Start(0))?;
    let mut back = Sha256::new();
    let mut left = size;
    while left > 0 {
        let want = (left as usize).min(CHUNK);
        out.read_exact(&mut buf[..want])
            .with_context(|| format!("reading {} back", target.display()))?;
        back.update(&buf[..want]);
        left -= want as u64;
        progress(size - left, size, "verifying");
    }
    let got = sha256_hex(back);
    if got != expected {
        bail!(
            "{} does not read back what was written (SHA-256 {got}, image {expected}): the disk may be failing",
            target.display()
        );
    }
    Ok(Flashed {
        bytes: size,
        sha256: expected,
        write_mb_s: size as f64 / secs / 1e6,
    })
}

/// A text progress bar: `[#########...........]  45 %  writing`.
pub fn bar(done: u64, all: u64, phase: &str) -> String {
    let pct = (done * 100).checked_div(all).unwrap_or(100).min(100);
    let filled = (pct / 5) as usize;
    format!(
        "\r[{}{}] {pct:>3} %  {phase}",
        "#".repeat(filled),
        ".".repeat(20 - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_swap_and_system_disks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let sys = tmp.path();
        for p in [
            "sda/sda1",
            "sda/sda2",
            "sdb/sdb1",
            "sdc",
            "nvme0n1/nvme0n1p1",
        ] {
            fs::create_dir_all(sys.join(p)).unwrap();
        }
        let mounts = "sysfs /sys sysfs rw 0 0\n/dev/sda2 / ext4 rw 0 0\n/dev/sda1 /boot/efi vfat rw 0 0\n/dev/sdb1 /media/usb\\040stick vfat rw 0 0\n";
        let swaps = "Filename Type Size Used Priority\n/dev/nvme0n1p1 partition 100 0 -2\n";
        let why = refusal("sda", mounts, swaps, sys).unwrap();
        assert!(why.contains("running system"), "{why}");
        let why = refusal("sdb", mounts, swaps, sys).unwrap();
        assert!(
            why.contains("is mounted") && why.contains("/media/usb stick"),
            "{why}"
        );
        let why = refusal("nvme0n1", mounts, swaps, sys).unwrap();
        assert!(why.contains("swap"), "{why}");
        assert_eq!(refusal("sdc", mounts, swaps, sys), None);
    }

    #[test]
    fn an_image_is_written_to_a_file_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("box.img");
        let data: Vec<u8> = (0..(9 << 20) + 123).map(|i| (i * 31 % 251) as u8).collect();
        fs::write(&image, &data).unwrap();
        let target = tmp.path().join("disk.raw");
        let mut phases = Vec::new();
        let f = flash(&image, &target, |d, a, p| {
            if d == a {
                phases.push(p.to_string())
            }
        })
        .unwrap();
        assert_eq!(f.bytes, data.len() as u64);
        assert_eq!(fs::read(&target).unwrap(), data);
        assert_eq!(phases, ["writing", "verifying"]);
        assert_eq!(f.sha256.len(), 64);
        assert!(flash(&tmp.path().join("none.img"), &target, |_, _, _| {}).is_err());
        assert!(bar(5, 10, "writing").contains(" 50 %"));
    }
}
