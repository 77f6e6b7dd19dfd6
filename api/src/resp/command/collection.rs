//! What the hash, list, set and sorted-set commands share: turning a changed collection into a
//! store [`Change`], Redis's index and count arguments, and the `*SCAN` reply.
//!
//! Every collection command runs as one [`Store::update_as`] (writes) or [`Store::read`] (reads)
//! on its key: the closure sees the encoded collection under the key's shard lock, so each
//! command is atomic, exactly as in Redis. A collection left empty is deleted, as Redis deletes
//! an empty hash, list, set or sorted set.

use larder_runtime::{Change, Expiry, Store, StoreError, ValueKind};

use super::{Args, is, not_an_integer, parse_i64, store_error, syntax_error};
use crate::resp::glob::Glob;
use crate::resp::reply::Reply;

/// The change that stores `encoded` (keeping the key's deadline; a new key gets the namespace
/// default), or deletes the key when the collection is now empty.
pub(super) fn store_or_delete(encoded: Vec<u8>, empty: bool) -> Change {
    if empty {
        Change::Delete
    } else {
        Change::Put {
            value: encoded,
            expiry: Expiry::Keep,
        }
    }
}

/// Run a read of `key` as `kind`; `missing` answers an absent key. Errors (WRONGTYPE) are
/// replied here.
pub(super) fn read(
    store: &Store,
    key: &[u8],
    kind: ValueKind,
    reply: &mut Reply,
    missing: impl FnOnce(&mut Reply),
    present: impl FnOnce(&[u8], &mut Reply),
) {
    let mut missing = Some(missing);
    let outcome = store.read(key, kind, |bytes| present(bytes, &mut *reply));
    match outcome {
        Ok(Some(())) => {}
        Ok(None) => {
            if let Some(m) = missing.take() {
                m(reply)
            }
        }
        Err(e) => store_error(&e, reply),
    }
}

/// Reply with an update's result, or its error.
pub(super) fn reply_with<R>(
    result: Result<R, StoreError>,
    reply: &mut Reply,
    ok: impl FnOnce(R, &mut Reply),
) {
    match result {
        Ok(r) => ok(r, reply),
        Err(e) => store_error(&e, reply),
    }
}

/// Redis's start/stop arithmetic for LRANGE, LTRIM, ZRANGE by rank and friends: negative
/// indexes count from the end, `stop` is inclusive and clamped; `None` for an empty range.
pub(super) fn index_range(start: i64, stop: i64, len: usize) -> Option<std::ops::Range<usize>> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len || stop < 0 {
        return None;
    }
    Some(start as usize..stop as usize + 1)
}

/// The integer argument at `i`, or the "not an integer" reply.
pub(super) fn int_arg(args: &Args<'_>, i: usize, reply: &mut Reply) -> Option<i64> {
    let n = parse_i64(args.get(i));
    if n.is_none() {
        not_an_integer(reply);
    }
    n
}

/// What a `HSCAN`/`SSCAN`/`ZSCAN` call asked for after its cursor.
pub(super) struct ScanArgs {
    pub pattern: Option<Glob>,
    /// `NOVALUES` (HSCAN only).
    pub no_values: bool,
}

/// Parse `cursor [MATCH pattern] [COUNT count] [NOVALUES]` from argument 2 on. The whole
/// collection is answered in one call with cursor 0, as Redis answers a small (listpack)
/// collection: every element present throughout is returned, the promise SCAN makes.
pub(super) fn scan_args(
    args: &Args<'_>,
    allow_novalues: bool,
    reply: &mut Reply,
) -> Option<ScanArgs> {
    let cursor = args.get(2);
    if cursor.is_empty() || !cursor.iter().all(u8::is_ascii_digit) || cursor.len() > 20 {
        reply.error("ERR invalid cursor");
        return None;
    }
    let mut out = ScanArgs {
        pattern: None,
        no_values: false,
    };
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if allow_novalues && is(opt, "NOVALUES") {
            out.no_values = true;
            i += 1;
            continue;
        }
        if i + 1 >= args.len() {
            syntax_error(reply);
            return None;
        }
        if is(opt, "MATCH") {
            out.pattern = Some(Glob::new(args.get(i + 1)));
        } else if is(opt, "COUNT") {
            match parse_i64(args.get(i + 1)) {
                Some(n) if n >= 1 => {}
                Some(_) => {
                    syntax_error(reply);
                    return None;
                }
                None => {
                    not_an_integer(reply);
                    return None;
                }
            }
        } else {
            syntax_error(reply);
            return None;
        }
        i += 2;
    }
    Some(out)
}

impl ScanArgs {
    pub fn matches(&self, element: &[u8]) -> bool {
        self.pattern.as_ref().is_none_or(|g| g.matches(element))
    }
}

/// The `[cursor, [elements…]]` reply of a complete `*SCAN`: cursor 0 and `items`.
pub(super) fn scan_reply(items: &[&[u8]], reply: &mut Reply) {
    reply.array(2);
    reply.bulk(b"0");
    reply.array(items.len());
    for item in items {
        reply.bulk(item);
    }
}

#[cfg(test)]
mod tests {
    use super::index_range;

    #[test]
    fn ranges_follow_redis_arithmetic() {
        assert_eq!(index_range(0, -1, 3), Some(0..3));
        assert_eq!(index_range(-2, -1, 3), Some(1..3));
        assert_eq!(index_range(1, 100, 3), Some(1..3));
        assert_eq!(index_range(-100, 0, 3), Some(0..1));
        assert_eq!(index_range(2, 1, 3), None);
        assert_eq!(index_range(5, 10, 3), None);
        assert_eq!(index_range(0, -4, 3), None);
        assert_eq!(index_range(0, 0, 0), None);
    }
}
