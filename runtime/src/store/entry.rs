//! One cached item, laid out to keep per-key overhead small.
//!
//! An occupied entry is 32 bytes in the shard's slot vector plus one heap block holding
//! `[prefix: u32 LE][key bytes][value bytes]`, where the prefix's low 28 bits are the key length,
//! bits 28–30 the [`ValueKind`] and the top bit says the value is compressed. A vacant slot has an
//! empty block (no allocation) and reuses `hash` as the index of the next vacant slot.
//!
//! A collection (hash, list, set, sorted set) is one entry like a string: its value is the
//! collection's encoding (see [`crate::value`]), charged, admitted, evicted and expired as a whole.

use serde::{Deserialize, Serialize};

/// Bytes charged to the namespace for each entry beyond its key and value: the 32-byte slot, about
/// 6 bytes of hash-table index, 9–17 bytes of built-in policy state and the allocator's header.
/// Capacity is enforced on key + value + this. Measured process growth is higher (about 77 bytes a
/// key at 1 M keys with S3-FIFO, see bench/results/redis-compare.md): table growth slack and the
/// S3-FIFO ghost are not charged per entry.
pub const ENTRY_OVERHEAD: u64 = 56;

/// Longest accepted key. Keys are names, not payloads; Redis clients rarely go past a few hundred bytes.
pub const MAX_KEY_LEN: usize = 64 * 1024;

const LEN_PREFIX: usize = 4;
/// In the length prefix: the value is stored zstd-compressed (see `compression`).
const COMPRESSED: u32 = 1 << 31;
const KIND_SHIFT: u32 = 28;
const KIND_MASK: u32 = 0b111 << KIND_SHIFT;
const KEY_LEN_MASK: u32 = (1 << KIND_SHIFT) - 1;

/// What an entry's value is, as Redis's `TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum ValueKind {
    #[default]
    String = 0,
    Hash = 1,
    List = 2,
    Set = 3,
    #[serde(rename = "zset")]
    SortedSet = 4,
}

impl ValueKind {
    pub const ALL: [ValueKind; 5] = [
        Self::String,
        Self::Hash,
        Self::List,
        Self::Set,
        Self::SortedSet,
    ];

    /// The name `TYPE` answers and `SCAN … TYPE` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Hash => "hash",
            Self::List => "list",
            Self::Set => "set",
            Self::SortedSet => "zset",
        }
    }

    /// The kind `TYPE` calls `name` (any letter case).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().as_bytes().eq_ignore_ascii_case(name))
    }

    fn from_bits(bits: u32) -> Self {
        match bits {
            1 => Self::Hash,
            2 => Self::List,
            3 => Self::Set,
            4 => Self::SortedSet,
            _ => Self::String,
        }
    }
}

/// How a value is stored: its kind and whether it is a zstd frame. Only strings are ever
/// compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Form {
    pub kind: ValueKind,
    pub compressed: bool,
}

impl Form {
    pub const PLAIN: Form = Form {
        kind: ValueKind::String,
        compressed: false,
    };

    pub fn of(kind: ValueKind) -> Self {
        Self {
            kind,
            compressed: false,
        }
    }

    pub fn string(compressed: bool) -> Self {
        Self {
            kind: ValueKind::String,
            compressed,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// Key hash while occupied; index of the next vacant slot while vacant.
    pub hash: u64,
    /// Deadline on the [`crate::clock`] scale; 0 means no expiry.
    pub expires_at: u64,
    data: Box<[u8]>,
}

impl Entry {
    pub fn new(hash: u64, key: &[u8], value: &[u8], form: Form, expires_at: u64) -> Self {
        Self {
            hash,
            expires_at,
            data: pack(key, value, form),
        }
    }

    pub fn vacant(next_free: u64) -> Self {
        Self {
            hash: next_free,
            expires_at: 0,
            data: Box::default(),
        }
    }

    #[inline]
    pub fn is_occupied(&self) -> bool {
        !self.data.is_empty()
    }

    #[inline]
    fn prefix(&self) -> u32 {
        let mut len = [0u8; LEN_PREFIX];
        len.copy_from_slice(&self.data[..LEN_PREFIX]);
        u32::from_le_bytes(len)
    }

    #[inline]
    fn key_len(&self) -> usize {
        (self.prefix() & KEY_LEN_MASK) as usize
    }

    #[inline]
    pub fn kind(&self) -> ValueKind {
        ValueKind::from_bits((self.prefix() & KIND_MASK) >> KIND_SHIFT)
    }

    #[inline]
    pub fn form(&self) -> Form {
        Form {
            kind: self.kind(),
            compressed: self.is_compressed(),
        }
    }

    /// The stored value is compressed: [`value`](Self::value) is a zstd frame.
    #[inline]
    pub fn is_compressed(&self) -> bool {
        self.prefix() & COMPRESSED != 0
    }

    /// The value's length as clients see it.
    pub fn plain_len(&self) -> u64 {
        if self.is_compressed() {
            super::compression::plain_len(self.value())
        } else {
            self.value().len() as u64
        }
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.data[LEN_PREFIX..LEN_PREFIX + self.key_len()]
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        &self.data[LEN_PREFIX + self.key_len()..]
    }

    pub fn set_value(&mut self, value: &[u8], form: Form) {
        self.data = pack(self.key(), value, form);
    }

    /// Bytes charged against capacity.
    #[inline]
    pub fn charge(&self) -> u64 {
        charge(self.data.len() - LEN_PREFIX)
    }

    #[inline]
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at != 0 && self.expires_at <= now
    }
}

/// Charge for an entry whose key and value together are `payload` bytes.
#[inline]
pub fn charge(payload: usize) -> u64 {
    payload as u64 + ENTRY_OVERHEAD
}

fn pack(key: &[u8], value: &[u8], form: Form) -> Box<[u8]> {
    const _: () = assert!(MAX_KEY_LEN as u32 <= KEY_LEN_MASK);
    let mut data = Vec::with_capacity(LEN_PREFIX + key.len() + value.len());
    let prefix = key.len() as u32
        | ((form.kind as u32) << KIND_SHIFT)
        | if form.compressed { COMPRESSED } else { 0 };
    data.extend_from_slice(&prefix.to_le_bytes());
    data.extend_from_slice(key);
    data.extend_from_slice(value);
    data.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_key_and_value() {
        let mut e = Entry::new(7, b"key", b"value", Form::PLAIN, 0);
        assert!(e.is_occupied());
        assert_eq!(e.key(), b"key");
        assert_eq!(e.value(), b"value");
        e.set_value(b"", Form::PLAIN);
        assert_eq!(e.value(), b"");
        assert!(!e.is_compressed());
        e.set_value(b"z", Form::string(true));
        assert!(e.is_compressed());
        assert_eq!((e.key(), e.value()), (&b"key"[..], &b"z"[..]));
        for kind in ValueKind::ALL {
            e.set_value(b"v", Form::of(kind));
            assert_eq!(
                (e.kind(), e.key(), e.is_compressed()),
                (kind, &b"key"[..], false)
            );
        }
        let long = vec![b'k'; MAX_KEY_LEN];
        let e = Entry::new(1, &long, b"", Form::of(ValueKind::SortedSet), 0);
        assert_eq!(
            (e.key().len(), e.kind()),
            (MAX_KEY_LEN, ValueKind::SortedSet)
        );
        let e = Entry::new(7, b"key", b"", Form::PLAIN, 0);
        assert_eq!(e.charge(), 3 + ENTRY_OVERHEAD);
        assert!(!Entry::vacant(0).is_occupied());
    }
}
