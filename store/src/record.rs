//! How records are laid out on disk: one schema-version byte, then postcard.
//!
//! When a record type changes, its `VERSION` goes up and `decode_version` learns to read the
//! older layout; [`crate::Store::open`] then rewrites stored projections in the new layout (the
//! event log is never rewritten: its hashes cover the bytes as first written, and older events
//! are decoded through the same path on every read).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A record that can be stored: a name for errors, the current layout version, and a way to read
/// older layouts.
pub trait Record: Serialize + DeserializeOwned {
    /// Name used in errors.
    const KIND: &'static str;
    /// Current layout version, written as the first byte.
    const VERSION: u8;

    /// Reads an older layout. The default knows none: a record type adds arms here when its
    /// layout changes.
    fn decode_version(version: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let _ = body;
        Err(DecodeError::UnknownVersion {
            kind: Self::KIND,
            version,
        })
    }
}

/// Why stored bytes are not a record.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// No bytes at all.
    #[error("empty {0} record")]
    Empty(&'static str),
    /// A version this build does not know.
    #[error("{kind} record has layout version {version}, which this build cannot read")]
    UnknownVersion {
        /// The record kind.
        kind: &'static str,
        /// The version byte found.
        version: u8,
    },
    /// The body does not decode.
    #[error("{kind} record is malformed: {source}")]
    Malformed {
        /// The record kind.
        kind: &'static str,
        /// What postcard said.
        source: postcard::Error,
    },
    /// Bytes left over after the record.
    #[error("{kind} record has {extra} trailing bytes")]
    Trailing {
        /// The record kind.
        kind: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
}

/// Encodes a record in the current layout.
pub fn encode<R: Record>(record: &R) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(R::VERSION);
    // Serializing plain data into a Vec cannot fail: postcard only errors on unsupported serde
    // features (which no record uses) or on a full fixed buffer.
    postcard::to_extend(record, out).unwrap_or_else(|e| panic!("{} is not encodable: {e}", R::KIND))
}

/// Decodes a record of the current or an older layout.
pub fn decode<R: Record>(bytes: &[u8]) -> Result<R, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty(R::KIND))?;
    if version != R::VERSION {
        return R::decode_version(version, body);
    }
    decode_body(R::KIND, body)
}

/// Decodes a postcard body exactly (no trailing bytes): for `decode_version` implementations.
pub fn decode_body<T: DeserializeOwned>(kind: &'static str, body: &[u8]) -> Result<T, DecodeError> {
    let (value, rest) = postcard::take_from_bytes(body)
        .map_err(|source| DecodeError::Malformed { kind, source })?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing {
            kind,
            extra: rest.len(),
        });
    }
    Ok(value)
}

/// Whether stored bytes are in an older layout than `R`'s current one.
pub fn is_outdated<R: Record>(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|&v| v != R::VERSION)
}

/// Implements [`Record`] (version 1) for each `type => "kind"`.
macro_rules! record {
    ($($ty:ty => $kind:literal),* $(,)?) => {
        $(impl Record for $ty {
            const KIND: &'static str = $kind;
            const VERSION: u8 = 1;
        })*
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A record whose layout changed: version 1 had a single `name`, version 2 splits it.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Artist {
        first: String,
        last: String,
    }

    #[derive(Serialize, Deserialize)]
    struct ArtistV1 {
        name: String,
    }

    impl Record for Artist {
        const KIND: &'static str = "artist";
        const VERSION: u8 = 2;
        fn decode_version(version: u8, body: &[u8]) -> Result<Self, DecodeError> {
            match version {
                1 => {
                    let old: ArtistV1 = decode_body(Self::KIND, body)?;
                    let (first, last) = old.name.split_once(' ').unwrap_or((&old.name, ""));
                    Ok(Artist {
                        first: first.to_string(),
                        last: last.to_string(),
                    })
                }
                _ => Err(DecodeError::UnknownVersion {
                    kind: Self::KIND,
                    version,
                }),
            }
        }
    }

    #[test]
    fn older_layouts_are_read_through_the_migration_path() {
        let mut v1 = vec![1u8];
        v1.extend(
            postcard::to_stdvec(&ArtistV1 {
                name: "Ada Lovelace".into(),
            })
            .unwrap(),
        );
        assert!(is_outdated::<Artist>(&v1));
        let artist: Artist = decode(&v1).unwrap();
        assert_eq!(
            artist,
            Artist {
                first: "Ada".into(),
                last: "Lovelace".into()
            }
        );
        let v2 = encode(&artist);
        assert!(!is_outdated::<Artist>(&v2));
        assert_eq!(decode::<Artist>(&v2).unwrap(), artist);
    }

    #[test]
    fn unknown_versions_trailing_bytes_and_garbage_are_errors() {
        assert!(matches!(decode::<Artist>(&[]), Err(DecodeError::Empty(_))));
        assert!(matches!(
            decode::<Artist>(&[9, 1, 2]),
            Err(DecodeError::UnknownVersion { version: 9, .. })
        ));
        let mut bytes = encode(&Artist {
            first: "a".into(),
            last: "b".into(),
        });
        bytes.push(0);
        assert!(matches!(
            decode::<Artist>(&bytes),
            Err(DecodeError::Trailing { .. })
        ));
        assert!(matches!(
            decode::<Artist>(&[2, 200]),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
