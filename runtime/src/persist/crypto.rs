//! Encryption at rest: AES-256-GCM (ring) over every frame of every file in the data directory.
//!
//! A [`KeyRing`] holds the operator's keys, each with a numeric id (1–65535; 0 means "not
//! encrypted" in a file header). The first key is the **current** one: new files are written
//! with it. The others are only read, so a key can be rotated by putting the new key first and
//! keeping the old one until every file has been rewritten (the catalog at the next admin change,
//! the snapshot at the next save, logs at the next rotation).
//!
//! Each frame is sealed separately with a fresh random 96-bit nonce, stored in front of the
//! ciphertext; the additional data binds it to its file's header (format, version, key id and a
//! random file id) and to its position, so frames cannot be moved between files or reordered
//! without the reader noticing. A wrong key, a flipped byte or a cut frame fails to open —
//! the reader refuses the file, it never decodes a guess.
//!
//! Key text, as given by `--encryption-key` / `LARDER_ENCRYPTION_KEY` or a key file: one key per
//! line (or separated by commas), `<id>:<64 hex digits>`; blank lines and `#` comments are
//! ignored. `larder keygen` prints a fresh one.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes a sealed frame adds to its plaintext: the nonce and the tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

/// Why key text could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("encryption key {n}: expected <id>:<64 hex digits>, e.g. 1:{example}")]
    Syntax { n: usize, example: String },
    #[error("encryption key {n}: the id must be a number from 1 to 65535")]
    BadId { n: usize },
    #[error("encryption key {n}: the key must be 32 bytes written as 64 hex digits")]
    BadKey { n: usize },
    #[error("encryption key id {id} is given twice")]
    DuplicateId { id: u16 },
    #[error("no encryption key in the text given")]
    Empty,
}

/// Why a frame could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the system's random source failed")]
    Random,
    #[error("AES-GCM refused the frame (too large)")]
    Seal,
}

/// Why a sealed frame did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("encrypted with key id {0}, which this node does not have")]
    UnknownKey(u16),
    #[error("does not decrypt: the wrong key for its id, or the data was changed")]
    Rejected,
}

/// The operator's keys; see the module docs.
pub struct KeyRing {
    /// The current key first.
    keys: Vec<(u16, LessSafeKey)>,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("KeyRing").field("ids", &self.ids()).finish()
    }
}

impl KeyRing {
    /// Parse key text (see the module docs); the first key is the current one.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys: Vec<(u16, LessSafeKey)> = Vec::new();
        let items = text
            .split(['\n', ','])
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty());
        for (i, item) in items.enumerate() {
            let n = i + 1;
            let (id, hex) = item.split_once(':').ok_or_else(|| KeyError::Syntax {
                n,
                example: "0".repeat(64),
            })?;
            let id: u16 = id
                .trim()
                .parse()
                .ok()
                .filter(|&id| id != 0)
                .ok_or(KeyError::BadId { n })?;
            let bytes = decode_hex(hex.trim()).ok_or(KeyError::BadKey { n })?;
            if keys.iter().any(|(k, _)| *k == id) {
                return Err(KeyError::DuplicateId { id });
            }
            let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyError::BadKey { n })?;
            keys.push((id, LessSafeKey::new(key)));
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// A new random key with `id`, as key text (for `larder keygen`).
    pub fn generate_text(id: u16) -> Result<String, SealError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SealError::Random)?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("{id}:{hex}"))
    }

    /// The id new files are written with.
    pub fn current_id(&self) -> u16 {
        self.keys[0].0
    }

    pub fn ids(&self) -> Vec<u16> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    pub fn has(&self, id: u16) -> bool {
        self.keys.iter().any(|(k, _)| *k == id)
    }

    /// Random bytes (file ids).
    pub fn random_u32(&self) -> Result<u32, SealError> {
        let mut b = [0u8; 4];
        self.rng.fill(&mut b).map_err(|_| SealError::Random)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Seal `plaintext` with the current key, bound to `aad`: appends nonce ‖ ciphertext ‖ tag
    /// to `out`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut body = plaintext.to_vec();
        self.keys[0]
            .1
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| SealError::Seal)?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(())
    }

    /// Open what [`seal`](Self::seal) produced with the key `key_id`, checking `aad`.
    pub fn open(&self, key_id: u16, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|(k, _)| *k == key_id)
            .map(|(_, key)| key)
            .ok_or(OpenError::UnknownKey(key_id))?;
        if sealed.len() < SEAL_OVERHEAD {
            return Err(OpenError::Rejected);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Rejected)?;
        let mut body = body.to_vec();
        let plain_len = key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map_err(|_| OpenError::Rejected)?
            .len();
        body.truncate(plain_len);
        Ok(body)
    }
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "2:ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eff";

    #[test]
    fn sealed_frames_open_with_the_right_key_and_aad_only() {
        let ring = KeyRing::parse(K1).unwrap();
        let mut sealed = Vec::new();
        ring.seal(b"aad", b"secret value", &mut sealed).unwrap();
        assert_eq!(sealed.len(), 12 + SEAL_OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(ring.open(1, b"aad", &sealed).unwrap(), b"secret value");
        assert_eq!(ring.open(1, b"other", &sealed), Err(OpenError::Rejected));
        assert_eq!(ring.open(2, b"aad", &sealed), Err(OpenError::UnknownKey(2)));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert_eq!(
                ring.open(1, b"aad", &bad),
                Err(OpenError::Rejected),
                "byte {i}"
            );
        }
        assert_eq!(
            ring.open(1, b"aad", &sealed[..10]),
            Err(OpenError::Rejected)
        );
        // The same id with other key bytes: refused, not garbage.
        let impostor = KeyRing::parse(&K2.replacen("2:", "1:", 1)).unwrap();
        assert_eq!(impostor.open(1, b"aad", &sealed), Err(OpenError::Rejected));
    }

    #[test]
    fn the_first_key_writes_and_every_key_reads() {
        let old = KeyRing::parse(K1).unwrap();
        let mut sealed = Vec::new();
        old.seal(b"", b"x", &mut sealed).unwrap();
        let rotated = KeyRing::parse(&format!("{K2}\n# the old one\n{K1}\n")).unwrap();
        assert_eq!(rotated.current_id(), 2);
        assert_eq!(rotated.ids(), vec![2, 1]);
        assert_eq!(rotated.open(1, b"", &sealed).unwrap(), b"x");
        let both = KeyRing::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(both.ids(), vec![2, 1]);
    }

    #[test]
    fn bad_key_text_says_what_is_wrong() {
        let err = |t: &str| KeyRing::parse(t).unwrap_err().to_string();
        assert!(err("").contains("no encryption key"));
        assert!(err("abc").contains("expected <id>:<64 hex digits>"));
        assert!(err("0:00").contains("1 to 65535"));
        assert!(err("1:0011").contains("64 hex digits"));
        assert!(err(&format!("{K1}\n{K1}")).contains("given twice"));
        let generated = KeyRing::generate_text(7).unwrap();
        assert_eq!(KeyRing::parse(&generated).unwrap().ids(), vec![7]);
        assert!(!format!("{:?}", KeyRing::parse(K1).unwrap()).contains("0102"));
    }
}
