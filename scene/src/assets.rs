//! Pictures the scene draws: artwork and named assets, decoded once and kept at the size they are
//! drawn at. A picture that cannot be decoded is logged once and replaced by generated art (for
//! artwork) or nothing (for decorations): the stream never stops for a bad file.
//!
//! Named assets are looked at again every second ([`Assets::refresh`]): one uploaded, replaced or
//! deleted since it was cached (its file's stamp changed) is dropped from the cache, so the next
//! frame draws what is on disk now, without a restart.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use tiny_skia::Pixmap;

use crate::image;

/// Where named assets come from.
pub trait AssetSource: Send + Sync {
    /// The bytes of the asset `name` (a plain file name), if it exists.
    fn load(&self, name: &str) -> Option<Vec<u8>>;

    /// A stamp that changes when the asset `name` changes (0: it does not exist); `None` when
    /// the source cannot tell, and its assets are never looked at again.
    fn stamp(&self, _name: &str) -> Option<u64> {
        None
    }
}

/// No assets.
pub struct NoAssets;

impl AssetSource for NoAssets {
    fn load(&self, _name: &str) -> Option<Vec<u8>> {
        None
    }
}

/// Checks an asset name, the one rule for every picture the appliance reads or takes in: 1 to 64 of `a-z 0-9 . _ -`, not starting with a dot, ending in `.png`,
/// `.jpg` or `.jpeg`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if name.is_empty()
        || name.len() > 64
        || !ok_chars
        || name.starts_with('.')
        || name.contains("..")
    {
        return Err(format!(
            "{:?} is not an asset name: use 1-64 of a-z, 0-9, '.', '_', '-' (no folders)",
            name.chars().take(80).collect::<String>()
        ));
    }
    if !(name.ends_with(".png") || name.ends_with(".jpg") || name.ends_with(".jpeg")) {
        return Err("an asset is a .png, .jpg or .jpeg picture".into());
    }
    Ok(())
}

/// Assets in a directory.
pub struct DirAssets(pub PathBuf);

/// Largest asset file read.
pub const MAX_ASSET_BYTES: u64 = 32 << 20;

impl AssetSource for DirAssets {
    fn load(&self, name: &str) -> Option<Vec<u8>> {
        check_name(name).ok()?;
        let path = self.0.join(name);
        let len = std::fs::metadata(&path).ok()?.len();
        if len > MAX_ASSET_BYTES {
            return None;
        }
        std::fs::read(path).ok()
    }

    fn stamp(&self, name: &str) -> Option<u64> {
        check_name(name).ok()?;
        Some(match std::fs::metadata(self.0.join(name)) {
            Ok(m) => {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                seed(&format!("{modified}:{}", m.len())) | 1
            }
            Err(_) => 0,
        })
    }
}

/// How often cached named assets are looked at again.
pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Most pictures kept; beyond it the cache starts afresh.
const MAX_CACHED: usize = 64;

/// The picture cache.
pub struct Assets {
    source: Arc<dyn AssetSource>,
    fitted: HashMap<(String, u32, u32), Option<Pixmap>>,
    /// The stamp of each named asset when it was cached.
    stamps: HashMap<String, Option<u64>>,
    checked: Option<std::time::Instant>,
    /// Decodes done (for tests and stats).
    pub decodes: u64,
}

fn seed(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl Assets {
    /// A cache over `source`.
    pub fn new(source: Arc<dyn AssetSource>) -> Assets {
        Assets {
            source,
            fitted: HashMap::new(),
            stamps: HashMap::new(),
            checked: None,
            decodes: 0,
        }
    }

    fn make_room(&mut self) {
        if self.fitted.len() >= MAX_CACHED {
            self.fitted.clear();
            self.stamps.clear();
        }
    }

    /// Looks at the cached named assets again if a second has passed since the last look;
    /// drops those whose file changed. `true` when something was dropped (what shows them must
    /// be drawn again).
    pub fn refresh(&mut self, now: std::time::Instant) -> bool {
        if self
            .checked
            .is_some_and(|t| now.duration_since(t) < REFRESH)
        {
            return false;
        }
        self.checked = Some(now);
        let changed: Vec<String> = self
            .stamps
            .iter()
            .filter(|(name, stamp)| stamp.is_some() && self.source.stamp(name) != **stamp)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &changed {
            self.stamps.remove(name);
            let key = format!("asset:{name}");
            self.fitted.retain(|(k, _, _), _| *k != key);
            tracing::info!(asset = %name, "asset changed on disk; drawn anew");
        }
        !changed.is_empty()
    }

    /// An artwork fitted to `w` x `h`: decoded from `bytes`, or generated from `key`.
    pub fn artwork(&mut self, key: &str, bytes: Option<&[u8]>, w: u32, h: u32) -> Option<&Pixmap> {
        let id = (format!("artwork:{key}"), w, h);
        if !self.fitted.contains_key(&id) {
            self.make_room();
            let decoded = match bytes {
                Some(b) => {
                    self.decodes += 1;
                    match image::decode(b) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            tracing::warn!(artwork = key, error = %e, "artwork cannot be shown; drawing generated art");
                            None
                        }
                    }
                }
                None => None,
            };
            let picture = match decoded {
                Some(p) => image::fit(&p, w, h),
                // Generated art is square, like most NFT artwork.
                None => image::placeholder(seed(key), w.min(h), w.min(h))
                    .and_then(|p| image::fit(&p, w, h)),
            };
            self.fitted.insert(id.clone(), picture);
        }
        self.fitted.get(&id).and_then(Option::as_ref)
    }

    /// A named asset fitted to `w` x `h`.
    pub fn named(&mut self, name: &str, w: u32, h: u32) -> Option<&Pixmap> {
        self.load(name, w, h, true)
    }

    /// Like [`Assets::named`], for assets that may well not exist (no warning when absent).
    pub fn optional(&mut self, name: &str, w: u32, h: u32) -> Option<&Pixmap> {
        self.load(name, w, h, false)
    }

    fn load(&mut self, name: &str, w: u32, h: u32, expected: bool) -> Option<&Pixmap> {
        let id = (format!("asset:{name}"), w, h);
        if !self.fitted.contains_key(&id) {
            self.make_room();
            self.stamps
                .insert(name.to_string(), self.source.stamp(name));
            let bytes = self.source.load(name);
            self.decodes += u64::from(bytes.is_some());
            let picture = match bytes.map(|b| image::decode(&b)) {
                Some(Ok(p)) => image::fit(&p, w, h),
                Some(Err(e)) => {
                    tracing::warn!(asset = name, error = %e, "asset cannot be shown");
                    None
                }
                None => {
                    if expected {
                        tracing::warn!(asset = name, "asset not found");
                    }
                    None
                }
            };
            self.fitted.insert(id.clone(), picture);
        }
        self.fitted.get(&id).and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn png(r: u8, size: u32) -> Vec<u8> {
        let mut p = Pixmap::new(size, size).unwrap();
        p.fill(tiny_skia::Color::from_rgba8(r, 0, 0, 255));
        p.encode_png().unwrap()
    }

    #[test]
    fn named_assets_follow_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut assets = Assets::new(Arc::new(DirAssets(dir.path().into())));
        let t0 = Instant::now();
        // Missing at first: nothing drawn, and the miss is remembered only until a look.
        assert!(assets.optional("avatar-happy.png", 8, 8).is_none());
        assert!(!assets.refresh(t0));
        std::fs::write(dir.path().join("avatar-happy.png"), png(200, 16)).unwrap();
        assert!(
            !assets.refresh(t0 + Duration::from_millis(500)),
            "looked at once a second"
        );
        assert!(assets.refresh(t0 + REFRESH * 2), "the new file is noticed");
        let red = assets
            .optional("avatar-happy.png", 8, 8)
            .unwrap()
            .pixel(4, 4)
            .unwrap();
        assert_eq!(red.red(), 200);
        // Replaced: the next look drops the old picture.
        std::fs::write(dir.path().join("avatar-happy.png"), png(90, 32)).unwrap();
        assert!(assets.refresh(t0 + REFRESH * 4));
        let px = assets
            .optional("avatar-happy.png", 8, 8)
            .unwrap()
            .pixel(4, 4)
            .unwrap();
        assert_eq!(px.red(), 90);
        // Unchanged: nothing is dropped or decoded again.
        let decodes = assets.decodes;
        assert!(!assets.refresh(t0 + REFRESH * 6));
        assets.optional("avatar-happy.png", 8, 8).unwrap();
        assert_eq!(assets.decodes, decodes);
        // Deleted: it stops being drawn.
        std::fs::remove_file(dir.path().join("avatar-happy.png")).unwrap();
        assert!(assets.refresh(t0 + REFRESH * 8));
        assert!(assets.optional("avatar-happy.png", 8, 8).is_none());
    }
}
