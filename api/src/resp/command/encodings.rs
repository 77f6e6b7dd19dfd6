//! What `OBJECT ENCODING` answers: the name Redis 7.2 would use for the same contents, under the
//! same size thresholds, which `CONFIG SET` changes as in Redis (`hash-max-listpack-entries`, …;
//! the older `*-ziplist-*` names are aliases of the same settings).
//!
//! Larder stores every collection in one encoding of its own (see `larder_runtime::value`), so
//! the name is derived from the contents when asked: unlike Redis, which converts a collection
//! once and never back, a set that shrinks below a threshold reads as the smaller encoding again.
//! The thresholds are process-wide, as Redis's are server-wide.

use std::sync::atomic::{AtomicI64, Ordering};

use larder_runtime::ValueKind;
use larder_runtime::value::{hash, list, set, zset};

use super::{parse_i64, unix_now_ms};

/// One threshold and the parameter names that set it.
pub struct Threshold {
    pub names: &'static [&'static str],
    value: AtomicI64,
}

impl Threshold {
    const fn new(names: &'static [&'static str], default: i64) -> Self {
        Self {
            names,
            value: AtomicI64::new(default),
        }
    }

    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    fn limit(&self) -> usize {
        self.get().max(0) as usize
    }
}

pub static HASH_ENTRIES: Threshold = Threshold::new(
    &["hash-max-listpack-entries", "hash-max-ziplist-entries"],
    128,
);
pub static HASH_VALUE: Threshold =
    Threshold::new(&["hash-max-listpack-value", "hash-max-ziplist-value"], 64);
pub static SET_INTSET_ENTRIES: Threshold = Threshold::new(&["set-max-intset-entries"], 512);
pub static SET_ENTRIES: Threshold = Threshold::new(&["set-max-listpack-entries"], 128);
pub static SET_VALUE: Threshold = Threshold::new(&["set-max-listpack-value"], 64);
pub static ZSET_ENTRIES: Threshold = Threshold::new(
    &["zset-max-listpack-entries", "zset-max-ziplist-entries"],
    128,
);
pub static ZSET_VALUE: Threshold =
    Threshold::new(&["zset-max-listpack-value", "zset-max-ziplist-value"], 64);
/// Positive: elements per node (0 counts as 1); -1 … -5: 4, 8, 16, 32 or 64 KiB per node (below
/// -5 counts as -5).
pub static LIST_SIZE: Threshold =
    Threshold::new(&["list-max-listpack-size", "list-max-ziplist-size"], -2);

pub static ALL: [&Threshold; 8] = [
    &HASH_ENTRIES,
    &HASH_VALUE,
    &SET_INTSET_ENTRIES,
    &SET_ENTRIES,
    &SET_VALUE,
    &ZSET_ENTRIES,
    &ZSET_VALUE,
    &LIST_SIZE,
];

/// The threshold a parameter name sets, if it is one of these.
pub fn threshold(name: &str) -> Option<&'static Threshold> {
    ALL.iter().copied().find(|t| t.names.contains(&name))
}

/// Check `value` for `t` (an integer; list sizes from -5 on), without applying it.
pub fn parse(t: &Threshold, value: &str) -> Result<i64, &'static str> {
    let n = parse_i64(value.as_bytes()).ok_or("argument couldn't be parsed into an integer")?;
    // Any negative list size is accepted (below -5 counts as -5, as in Redis).
    let min = if std::ptr::eq(t, &LIST_SIZE) {
        i64::MIN
    } else {
        0
    };
    if n < min {
        return Err("argument must be between the allowed bounds");
    }
    Ok(n)
}

pub fn set(t: &Threshold, value: i64) {
    t.value.store(value, Ordering::Relaxed);
}

fn small<'a>(
    n: usize,
    entries: &Threshold,
    value: &Threshold,
    mut items: impl Iterator<Item = &'a [u8]>,
) -> bool {
    n <= entries.limit() && items.all(|i| i.len() <= value.limit())
}

/// Redis's encoding name for a value of `kind` with these contents.
pub fn encoding_of(kind: ValueKind, value: &[u8]) -> &'static str {
    match kind {
        ValueKind::String => string_encoding(value),
        ValueKind::Hash => {
            let fields: Vec<_> = hash::fields(value, unix_now_ms()).collect();
            let items = fields.iter().flat_map(|&(f, v, _)| [f, v]);
            if small(fields.len(), &HASH_ENTRIES, &HASH_VALUE, items) {
                // Redis 7.4 names a small hash with field deadlines `listpackex`.
                if fields.iter().any(|&(_, _, deadline)| deadline != 0) {
                    "listpackex"
                } else {
                    "listpack"
                }
            } else {
                "hashtable"
            }
        }
        ValueKind::List => {
            let size = LIST_SIZE.get();
            let fits = if size >= 0 {
                // 0 counts as 1 element per node, as in Redis.
                list::len(value) <= size.max(1) as usize
            } else {
                // -1 … -5: one node of 4 KiB … 64 KiB (an empty setting counts as 8 KiB).
                let bytes = 4096usize << (size.unsigned_abs().clamp(1, 5) - 1);
                list::items(value).map(|i| i.len() + 2).sum::<usize>() <= bytes
            };
            if fits { "listpack" } else { "quicklist" }
        }
        ValueKind::Set => {
            let n = set::len(value);
            if n <= SET_INTSET_ENTRIES.limit()
                && set::members(value).all(|m| parse_i64(m).is_some())
            {
                "intset"
            } else if small(n, &SET_ENTRIES, &SET_VALUE, set::members(value)) {
                "listpack"
            } else {
                "hashtable"
            }
        }
        ValueKind::SortedSet => {
            let members = zset::items(value).map(|(_, m)| m);
            if small(zset::len(value), &ZSET_ENTRIES, &ZSET_VALUE, members) {
                "listpack"
            } else {
                "skiplist"
            }
        }
    }
}

/// Redis's encoding for a string value: `int` when it is a canonical 64-bit integer, `embstr`
/// up to 44 bytes, `raw` beyond.
pub fn string_encoding(value: &[u8]) -> &'static str {
    if value.len() <= 20 && parse_i64(value).is_some() {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

#[cfg(test)]
mod tests {
    use super::string_encoding;

    #[test]
    fn encodings_follow_redis_size_rules() {
        assert_eq!(string_encoding(b"12345"), "int");
        assert_eq!(string_encoding(b"-7"), "int");
        assert_eq!(string_encoding(b"012"), "embstr");
        assert_eq!(string_encoding(&[b'a'; 44]), "embstr");
        assert_eq!(string_encoding(&[b'a'; 45]), "raw");
    }
}
