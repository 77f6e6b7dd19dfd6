//! Whole small files (the catalog, plugin modules) sealed into a one-frame [`frame`](super::frame)
//! file when encryption at rest is on, and stored as they are when it is off.
//!
//! A sealed file starts with the magic `LARDSEAL`; anything else is a file written without
//! encryption (JSON for the catalog, `\0asm` for a module), so the reader tells the two apart
//! without being told.

use std::path::Path;
use std::sync::Arc;

use super::PersistError;
use super::crypto::KeyRing;
use super::frame::{FrameReader, FrameWriter};

pub const MAGIC: &[u8; 8] = b"LARDSEAL";
const VERSION: u16 = 1;

/// The bytes to write for `plain`: sealed with the current key when `keys` is set.
pub fn seal(
    plain: &[u8],
    path: &Path,
    keys: Option<&Arc<KeyRing>>,
) -> Result<Vec<u8>, PersistError> {
    let Some(keys) = keys else {
        return Ok(plain.to_vec());
    };
    let mut out = FrameWriter::new(Vec::new(), path, MAGIC, VERSION, Some(Arc::clone(keys)))?;
    out.frame(plain)?;
    Ok(out.into_inner())
}

/// The plain bytes of a file read from `path`. A sealed file needs its key; it must hold
/// exactly one frame.
pub fn open(
    stored: Vec<u8>,
    path: &Path,
    keys: Option<&Arc<KeyRing>>,
) -> Result<Vec<u8>, PersistError> {
    if !stored.starts_with(MAGIC) {
        return Ok(stored);
    }
    let mut reader = FrameReader::new(&stored[..], path, MAGIC, VERSION, keys.cloned())?;
    let plain = reader
        .next_frame()?
        .ok_or_else(|| PersistError::invalid(path, "truncated: the sealed file holds nothing"))?;
    if reader.next_frame()?.is_some() {
        return Err(PersistError::invalid(path, "data after the sealed frame"));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Arc<KeyRing> {
        Arc::new(KeyRing::parse(text).unwrap())
    }
    const K1: &str = "1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "2:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_round_trip_and_plain_passthrough() {
        let p = Path::new("catalog.json");
        let k = keys(K1);
        let sealed = seal(b"{\"secret\":1}", p, Some(&k)).unwrap();
        assert!(sealed.starts_with(MAGIC));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            open(sealed.clone(), p, Some(&k)).unwrap(),
            b"{\"secret\":1}"
        );
        assert_eq!(seal(b"plain", p, None).unwrap(), b"plain");
        assert_eq!(open(b"plain".to_vec(), p, Some(&k)).unwrap(), b"plain");

        let err = open(sealed.clone(), p, None).unwrap_err().to_string();
        assert!(err.contains("no encryption key"), "{err}");
        let err = open(sealed.clone(), p, Some(&keys(K2)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("key id 1, which is not among"), "{err}");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            // A flipped magic byte makes it read as a file written without encryption: the
            // bytes come back as stored (ciphertext), which the catalog and module readers refuse.
            if let Ok(plain) = open(bad, p, Some(&k)) {
                assert!(
                    i < MAGIC.len() && !plain.windows(6).any(|w| w == b"secret"),
                    "byte {i}"
                );
            }
        }
        for cut in MAGIC.len()..sealed.len() {
            assert!(
                open(sealed[..cut].to_vec(), p, Some(&k)).is_err(),
                "cut at {cut}"
            );
        }
    }
}
