//! Per-namespace value compression (zstd).
//!
//! A value of at least `min_bytes` is compressed **before** the shard lock is taken, and stored
//! compressed only if that saves at least `min_savings` of its size; otherwise it is stored as
//! sent. A compressed entry carries a flag (see `entry`), so reading never needs the namespace's
//! current setting: a zstd frame describes itself, and values written before a setting changed
//! still read back. Clients, plugins, APPEND/GETRANGE/INCR, the REST API, snapshots and the log's
//! replay all see or restore the plain value; capacity is charged by the bytes stored.
//!
//! Reads copy the compressed bytes out under the lock and decompress after releasing it;
//! read-modify-write commands (APPEND, SETRANGE, …) decompress and recompress under the lock,
//! because the value must not change in between.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dictionary::Dictionaries;

/// The compression algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    #[default]
    Zstd,
}

/// `compression = {codec, level, min_bytes, min_savings}` in a namespace's config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompressionConfig {
    #[serde(default)]
    pub codec: Codec,
    /// zstd level, 1 (fastest) to 19; 3 is zstd's own default.
    #[serde(default = "default_level")]
    pub level: i32,
    /// Values shorter than this are never compressed (small values rarely shrink, and the
    /// attempt costs CPU on every write).
    #[serde(default = "default_min_bytes")]
    pub min_bytes: u32,
    /// The least fraction of its size compression must save for a value to be stored
    /// compressed (0.1: at least 10 % smaller), so incompressible data stays raw.
    #[serde(default = "default_min_savings")]
    pub min_savings: f64,
}

fn default_level() -> i32 {
    3
}
fn default_min_bytes() -> u32 {
    256
}
fn default_min_savings() -> f64 {
    0.1
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            codec: Codec::Zstd,
            level: default_level(),
            min_bytes: default_min_bytes(),
            min_savings: default_min_savings(),
        }
    }
}

impl CompressionConfig {
    /// Why this config cannot be used, naming the field.
    pub fn invalid(&self) -> Option<(&'static str, String)> {
        if !(1..=19).contains(&self.level) {
            return Some(("compression.level", "must be from 1 to 19".into()));
        }
        if !(0.0..1.0).contains(&self.min_savings) {
            return Some((
                "compression.min_savings",
                "must be a fraction from 0 to below 1 (0.1 = 10 %)".into(),
            ));
        }
        None
    }
}

/// Why a value was stored raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Shorter than `min_bytes`.
    Small,
    /// Compressed, but saved less than `min_savings`.
    NoSavings,
}

/// The outcome of offering a value to compression.
#[derive(Debug)]
pub enum Encoded {
    Compressed(Vec<u8>),
    Raw(Skipped),
}

/// Compress `value` as `config` says, with the namespace's current dictionary when it has one.
pub fn encode(config: &CompressionConfig, dictionaries: &Dictionaries, value: &[u8]) -> Encoded {
    if value.len() < config.min_bytes as usize {
        return Encoded::Raw(Skipped::Small);
    }
    let compressed = match dictionaries.current() {
        Some(_) => dictionaries.compress(value),
        None => with_compressor(config.level, |c| c.compress(value).ok()),
    };
    let Some(compressed) = compressed else {
        return Encoded::Raw(Skipped::NoSavings);
    };
    let limit = value.len() as f64 * (1.0 - config.min_savings);
    if (compressed.len() as f64) > limit || compressed.len() >= value.len() {
        return Encoded::Raw(Skipped::NoSavings);
    }
    Encoded::Compressed(compressed)
}

/// The plain value of a compressed one. `None` only for bytes that are not a zstd frame this
/// store wrote (a corrupt snapshot entry) or that name a dictionary `dictionaries` lacks, which
/// the caller treats as unreadable.
pub fn decode(stored: &[u8], dictionaries: &Dictionaries) -> Option<Vec<u8>> {
    let size = usize::try_from(frame_len(stored)?).ok()?;
    if let Some(id) = super::dictionary::id_of_frame(stored) {
        return dictionaries.decompress(id, stored, size);
    }
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        let d = match &mut *d {
            Some(d) => d,
            slot => slot.insert(zstd::bulk::Decompressor::new().ok()?),
        };
        d.decompress(stored, size).ok()
    })
}

// zstd contexts are large (hundreds of KiB for a compressor) and costly to set up; one per
// thread, reused, makes a small value's compression cost microseconds instead of an allocation
// of its context every time.
thread_local! {
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn with_compressor<R>(
    level: i32,
    f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> Option<R>,
) -> Option<R> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            *c = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        f(&mut c.as_mut()?.1)
    })
}

/// The plain length of a compressed value, from its frame header (no decompression).
pub fn plain_len(stored: &[u8]) -> u64 {
    frame_len(stored).unwrap_or(stored.len() as u64)
}

/// The plain length a zstd frame header names; `None` when `stored` is not such a frame.
pub fn frame_len(stored: &[u8]) -> Option<u64> {
    zstd::zstd_safe::get_frame_content_size(stored)
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_and_incompressible_values_stay_raw() {
        let c = CompressionConfig::default();
        assert!(matches!(
            encode(&c, &Dictionaries::default(), b"short"),
            Encoded::Raw(Skipped::Small)
        ));
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        assert!(matches!(
            encode(&c, &Dictionaries::default(), &random),
            Encoded::Raw(Skipped::NoSavings)
        ));
        let json = br#"{"user":"someone","items":[1,2,3],"flag":true}"#.repeat(20);
        let Encoded::Compressed(z) = encode(&c, &Dictionaries::default(), &json) else {
            panic!("repetitive JSON compresses")
        };
        assert!(z.len() < json.len() / 4);
        assert_eq!(plain_len(&z), json.len() as u64);
        assert_eq!(decode(&z, &Dictionaries::default()).unwrap(), json);
        assert!(decode(b"not a frame", &Dictionaries::default()).is_none());
    }

    proptest! {
        /// Whatever the value and setting, what is stored decodes to exactly what was given.
        #[test]
        fn round_trip(value in prop::collection::vec(0u8..4, 0..3000), level in 1i32..10,
                      min_bytes in 0u32..600, min_savings in 0.0f64..0.9) {
            let c = CompressionConfig { codec: Codec::Zstd, level, min_bytes, min_savings };
            match encode(&c, &Dictionaries::default(), &value) {
                Encoded::Compressed(z) => {
                    prop_assert!(value.len() >= min_bytes as usize);
                    prop_assert!((z.len() as f64) <= value.len() as f64 * (1.0 - min_savings));
                    prop_assert_eq!(decode(&z, &Dictionaries::default()).unwrap(), value);
                }
                Encoded::Raw(Skipped::Small) => prop_assert!(value.len() < min_bytes as usize),
                Encoded::Raw(Skipped::NoSavings) => {}
            }
        }
    }
}
