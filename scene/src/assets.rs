//! Pictures the scene draws: artwork and named assets, decoded once and kept at the size they are
//! drawn at. A picture that cannot be decoded is logged once and replaced by generated art (for
//! artwork) or nothing (for decorations): the stream never stops for a bad file.

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
}

/// Most pictures kept; beyond it the cache starts afresh.
const MAX_CACHED: usize = 64;

/// The picture cache.
pub struct Assets {
    source: Arc<dyn AssetSource>,
    fitted: HashMap<(String, u32, u32), Option<Pixmap>>,
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
            decodes: 0,
        }
    }

    fn make_room(&mut self) {
        if self.fitted.len() >= MAX_CACHED {
            self.fitted.clear();
        }
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
