//! Signed releases: where they are listed (GitHub's REST shape, from GitHub, a mirror on the
//! LAN, or a directory for a box without internet), which one applies, and installing it into
//! the inactive slot once its signature and a trial run check out.
//!
//! A release carries one file per target, `appliance-<version>-<arch>-linux.tar.gz`, holding
//! `appliance` and `NOTES.md`, signed with ed25519 the way zipsign (and self_update) embed it,
//! the file's name as the signing context: a signed file renamed to pass for another version
//! fails the check.

use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use zipsign_api::{SigningKey, VerifyingKey};

use crate::slots::{PROGRAM, Slot, Slots};

/// The largest release file accepted.
const MAX_ASSET: u64 = 256 << 20;
/// The largest release list accepted.
const MAX_LIST: u64 = 8 << 20;

/// Where releases are listed.
#[derive(Clone, Debug)]
pub struct Source {
    /// The base of GitHub's REST API (`https://api.github.com`, or a mirror's), or a directory
    /// holding `releases.json` (the same shape) and the files it names.
    pub url: String,
    /// `owner/name` on GitHub (unused for a directory).
    pub repo: String,
}

/// A release offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Its version.
    pub version: String,
    /// Its notes.
    pub notes: String,
    /// When it was published.
    pub published: String,
    /// The file for this machine's target.
    pub asset: String,
    /// Where to get it (a URL, or a path for a directory source).
    pub location: String,
}

#[derive(Deserialize)]
struct GhRelease {
    tag_name: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    published_at: Option<String>,
    #[serde(default)]
    assets: Vec<GhAsset>,
}

#[derive(Deserialize)]
struct GhAsset {
    name: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    browser_download_url: Option<String>,
}

/// This machine's release file for `version`.
pub fn asset_name(version: &str) -> String {
    format!(
        "appliance-{version}-{}-linux.tar.gz",
        std::env::consts::ARCH
    )
}

fn is_dir_source(url: &str) -> bool {
    !(url.starts_with("http://") || url.starts_with("https://"))
}

fn fetch(url: &str, accept: &str, limit: u64) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut d = self_update::Download::from_url(url);
    d.timeout(Duration::from_secs(300))
        .max_download_size(limit)
        .request_header("accept", accept)
        .request_header("user-agent", "sothebais-appliance");
    d.download_to(&mut body)
        .map_err(|e| anyhow!("cannot fetch {url}: {e}"))?;
    Ok(body)
}

/// The releases `source` lists (drafts left out), newest first by version.
pub fn list(source: &Source) -> Result<Vec<Offer>> {
    let (bytes, dir) = if is_dir_source(&source.url) {
        let path = Path::new(&source.url).join("releases.json");
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        (bytes, Some(PathBuf::from(&source.url)))
    } else {
        if !source.repo.contains('/') {
            bail!("update.repo must be owner/name, not {:?}", source.repo);
        }
        let url = format!(
            "{}/repos/{}/releases?per_page=30",
            source.url.trim_end_matches('/'),
            source.repo
        );
        (fetch(&url, "application/vnd.github+json", MAX_LIST)?, None)
    };
    let releases: Vec<GhRelease> = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("the release list is not GitHub's releases shape: {e}"))?;
    let mut offers = Vec::new();
    for r in releases {
        if r.draft || r.prerelease {
            continue;
        }
        let version = r.tag_name.trim_start_matches('v').to_string();
        if semver::Version::parse(&version).is_err() {
            continue;
        }
        let name = asset_name(&version);
        let Some(a) = r.assets.iter().find(|a| a.name == name) else {
            continue;
        };
        let location = match &dir {
            Some(d) => d.join(&a.name).display().to_string(),
            // The API's asset URL answers the bytes to `Accept: application/octet-stream`.
            None => a
                .url
                .clone()
                .or_else(|| a.browser_download_url.clone())
                .ok_or_else(|| anyhow!("release {version}'s file has no URL"))?,
        };
        offers.push(Offer {
            version,
            notes: r.body.unwrap_or_default(),
            published: r.published_at.unwrap_or_default(),
            asset: a.name.clone(),
            location,
        });
    }
    offers.sort_by(|a, b| {
        let v = |o: &Offer| semver::Version::parse(&o.version).ok();
        v(b).cmp(&v(a))
    });
    Ok(offers)
}

/// The newest release newer than `current` and not in `bad`, if any.
pub fn newest(offers: &[Offer], current: &str, bad: &[String]) -> Option<Offer> {
    let current = semver::Version::parse(current.trim_start_matches('v')).ok()?;
    offers
        .iter()
        .filter(|o| !bad.contains(&o.version))
        .find(|o| semver::Version::parse(&o.version).is_ok_and(|v| v > current))
        .cloned()
}

/// Public keys from their hex form (64 hex digits each).
pub fn public_keys(hex_keys: &[String]) -> Result<Vec<VerifyingKey>> {
    if hex_keys.is_empty() {
        bail!("update.public_keys is empty: no release can be trusted");
    }
    hex_keys
        .iter()
        .map(|k| {
            let bytes: [u8; 32] = hex::decode(k.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| anyhow!("update.public_keys: {k:?} is not 64 hex digits"))?;
            VerifyingKey::from_bytes(&bytes)
                .map_err(|e| anyhow!("update.public_keys: {k:?} is not an ed25519 key: {e}"))
        })
        .collect()
}

/// Checks that `file` (named `name` in the release) is signed by one of `keys`.
pub fn verify<F: Read + Seek>(file: &mut F, name: &str, keys: &[VerifyingKey]) -> Result<()> {
    zipsign_api::verify::verify_tar(file, keys, Some(name.as_bytes()))
        .map(|_| ())
        .map_err(|e| anyhow!("{name} is not signed by a trusted key, refused: {e}"))
}

/// A new signing key: the 64-byte key pair zipsign reads, and the public half in hex.
pub fn generate_key() -> Result<(Vec<u8>, String)> {
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("cannot read /dev/urandom")?;
    let key = SigningKey::from_bytes(&seed);
    Ok((
        key.to_keypair_bytes().to_vec(),
        hex::encode(key.verifying_key().to_bytes()),
    ))
}

/// Signs the `.tar.gz` at `input` with the key pair in `key_file`, writing `output`; the
/// signing context is `output`'s file name.
pub fn sign(input: &Path, output: &Path, key_file: &Path) -> Result<()> {
    let keys = zipsign_api::sign::read_signing_keys([fs::File::open(key_file)])
        .map_err(|e| anyhow!("cannot read the signing key {}: {e}", key_file.display()))?;
    let name = output
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{} has no file name", output.display()))?;
    let mut i =
        fs::File::open(input).with_context(|| format!("cannot read {}", input.display()))?;
    let mut o =
        fs::File::create(output).with_context(|| format!("cannot write {}", output.display()))?;
    zipsign_api::sign::copy_and_sign_tar(&mut i, &mut o, &keys, Some(name.as_bytes()))
        .map_err(|e| anyhow!("cannot sign {}: {e}", input.display()))
}

/// What [`install`] did.
#[derive(Clone, Debug)]
pub struct Installed {
    /// The version now in the inactive slot.
    pub version: String,
    /// That slot.
    pub slot: Slot,
    /// What the new program said to `--version`.
    pub says: String,
}

/// Fetches `offer`, checks its signature against `keys`, extracts the program, runs it once
/// (`--version`, 10 s) and installs it into the inactive slot. Nothing is switched yet.
pub fn install(slots: &Slots, offer: &Offer, keys: &[VerifyingKey]) -> Result<Installed> {
    let work = slots.root().join("download");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let file = work.join(&offer.asset);
    if is_dir_source(&offer.location) {
        fs::copy(&offer.location, &file)
            .with_context(|| format!("cannot copy {}", offer.location))?;
    } else {
        let bytes = fetch(&offer.location, "application/octet-stream", MAX_ASSET)?;
        fs::write(&file, bytes)?;
    }
    verify(&mut fs::File::open(&file)?, &offer.asset, keys)?;
    let out = work.join("unpacked");
    fs::create_dir_all(&out)?;
    self_update::Extract::from_source(&file)
        .archive(self_update::ArchiveKind::Tar(Some(
            self_update::Compression::Gz,
        )))
        .extract_file(&out, PROGRAM)
        .map_err(|e| anyhow!("{} holds no {PROGRAM}: {e}", offer.asset))?;
    let program = out.join(PROGRAM);
    let says = trial_run(&program)?;
    let slot = slots.active()?.other();
    slots.install_file(slot, &program, &offer.version)?;
    let _ = fs::remove_dir_all(&work);
    Ok(Installed {
        version: offer.version.clone(),
        slot,
        says,
    })
}

/// Runs `program --version`: it must start on this machine and answer within 10 s.
fn trial_run(program: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(program, fs::Permissions::from_mode(0o755))?;
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow!("the new program does not start on this machine: {e}"))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            let mut said = String::new();
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_string(&mut said);
            }
            if !status.success() {
                bail!("the new program fails its trial run (--version: {status})");
            }
            return Ok(said.trim().to_string());
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the new program hangs in its trial run (--version)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(versions: &[&str]) -> Vec<Offer> {
        versions
            .iter()
            .map(|v| Offer {
                version: v.to_string(),
                notes: String::new(),
                published: String::new(),
                asset: asset_name(v),
                location: String::new(),
            })
            .collect()
    }

    #[test]
    fn the_newest_good_release_above_the_current_one_applies() {
        let o = offers(&["0.3.0", "0.2.1", "0.2.0", "0.1.0"]);
        assert_eq!(newest(&o, "0.2.0", &[]).unwrap().version, "0.3.0");
        assert_eq!(
            newest(&o, "0.2.0", &["0.3.0".into()]).unwrap().version,
            "0.2.1"
        );
        assert!(newest(&o, "0.3.0", &[]).is_none(), "up to date");
        assert!(newest(&o, "1.0.0", &[]).is_none(), "never a downgrade");
    }

    #[test]
    fn keys_are_checked_and_named() {
        let (pair, public) = generate_key().unwrap();
        assert_eq!(pair.len(), 64);
        assert_eq!(public_keys(std::slice::from_ref(&public)).unwrap().len(), 1);
        assert!(public_keys(&[]).unwrap_err().to_string().contains("empty"));
        assert!(
            public_keys(&["abcd".into()])
                .unwrap_err()
                .to_string()
                .contains("64 hex digits")
        );
    }
}
