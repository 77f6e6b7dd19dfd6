//! Hashes: fields with values, each field optionally with its own deadline (Redis 7.4's HEXPIRE).
//!
//! Encoding: `count`, then per field `field, value, deadline` — two length-prefixed byte strings
//! and a varint deadline in Unix milliseconds (0: the field does not expire). Field deadlines are
//! wall-clock times because they are part of the value: they travel in snapshots, the log and
//! slot copies, and must mean the same after a restart or on another node (HEXPIREAT and
//! HEXPIRETIME speak Unix time too). Fields keep their insertion order, as Redis's listpack does.
//!
//! An expired field is invisible to every read and dropped by the next write; a hash left with no
//! live field reads as an empty (absent) hash, and its key goes at the next write to it.

use indexmap::IndexMap;

use super::codec::{Reader, put_bytes, put_varint};
use crate::error::StoreError;

/// One field's value and deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashField {
    pub value: Vec<u8>,
    /// Unix milliseconds after which the field is gone; 0: never.
    pub expires_at_unix_ms: u64,
}

impl HashField {
    #[inline]
    pub fn is_live(&self, now_unix_ms: u64) -> bool {
        self.expires_at_unix_ms == 0 || self.expires_at_unix_ms > now_unix_ms
    }
}

/// A decoded hash, for changing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hash {
    pub fields: IndexMap<Vec<u8>, HashField>,
}

impl Hash {
    /// Every field in `bytes`, expired ones included.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut r = Reader::new(bytes);
        let n = r.count()?;
        let mut fields = IndexMap::with_capacity(n);
        for _ in 0..n {
            let field = r.bytes()?.to_vec();
            let value = r.bytes()?.to_vec();
            let expires_at_unix_ms = r.varint()?;
            fields.insert(
                field,
                HashField {
                    value,
                    expires_at_unix_ms,
                },
            );
        }
        r.finish()?;
        Ok(Self { fields })
    }

    /// The live fields of `bytes` (absent: an empty hash), ready to change.
    pub fn decode_live(bytes: Option<&[u8]>, now_unix_ms: u64) -> Result<Self, StoreError> {
        let mut hash = match bytes {
            Some(b) => Self::decode(b)?,
            None => Self::default(),
        };
        hash.fields.retain(|_, f| f.is_live(now_unix_ms));
        Ok(hash)
    }

    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .fields
            .iter()
            .map(|(k, f)| k.len() + f.value.len() + 12)
            .sum();
        let mut out = Vec::with_capacity(size + 5);
        put_varint(&mut out, self.fields.len() as u64);
        for (field, f) in &self.fields {
            put_bytes(&mut out, field);
            put_bytes(&mut out, &f.value);
            put_varint(&mut out, f.expires_at_unix_ms);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Set `field` to `value`; true if the field is new. Like Redis's HSET, a value written over
    /// a field clears that field's deadline.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.fields.get_mut(field) {
            Some(f) => {
                f.value.clear();
                f.value.extend_from_slice(value);
                f.expires_at_unix_ms = 0;
                false
            }
            None => {
                self.fields.insert(
                    field.to_vec(),
                    HashField {
                        value: value.to_vec(),
                        expires_at_unix_ms: 0,
                    },
                );
                true
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.fields.get(field).map(|f| f.value.as_slice())
    }

    /// Remove `field`; true if it was there. Keeps the other fields' order.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        self.fields.shift_remove(field).is_some()
    }
}

/// The live fields of an encoded hash as `(field, value, deadline)`, without copying. A corrupt
/// block (which restores refuse, so it cannot occur) ends the walk early.
pub fn fields(bytes: &[u8], now_unix_ms: u64) -> impl Iterator<Item = (&[u8], &[u8], u64)> {
    let mut r = Reader::new(bytes);
    let n = r.count().unwrap_or(0);
    (0..n)
        .map_while(move |_| Some((r.bytes().ok()?, r.bytes().ok()?, r.varint().ok()?)))
        .filter(move |&(_, _, at)| at == 0 || at > now_unix_ms)
}

/// The value of `field` in an encoded hash, if live.
pub fn get<'a>(bytes: &'a [u8], field: &[u8], now_unix_ms: u64) -> Option<&'a [u8]> {
    get_field(bytes, field, now_unix_ms).map(|(value, _)| value)
}

/// The value and deadline of `field` in an encoded hash, if live.
pub fn get_field<'a>(bytes: &'a [u8], field: &[u8], now_unix_ms: u64) -> Option<(&'a [u8], u64)> {
    fields(bytes, now_unix_ms)
        .find(|&(f, _, _)| f == field)
        .map(|(_, v, at)| (v, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hides_expired_fields() {
        let mut h = Hash::default();
        assert!(h.set(b"a", b"1"));
        assert!(h.set(b"b", b"2"));
        assert!(!h.set(b"a", b"3"));
        h.fields.get_mut(&b"b"[..]).unwrap().expires_at_unix_ms = 100;
        let bytes = h.encode();
        assert_eq!(Hash::decode(&bytes).unwrap(), h);
        assert_eq!(get(&bytes, b"a", 50), Some(&b"3"[..]));
        assert_eq!(get(&bytes, b"b", 50), Some(&b"2"[..]));
        assert_eq!(get(&bytes, b"b", 100), None);
        assert_eq!(fields(&bytes, 100).count(), 1);
        let live = Hash::decode_live(Some(&bytes), 100).unwrap();
        assert_eq!(live.len(), 1);
        assert!(Hash::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Hash::decode(&[]).unwrap().is_empty());
    }
}
