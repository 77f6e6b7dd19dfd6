//! `DUMP` and `RESTORE`: one key's value as Redis's own payload (`resp::dump_payload`), so keys
//! move between Larder and Redis, both ways, with the tools built on these commands.

use larder_runtime::value::{Hash, List, Set, SortedSet};
use larder_runtime::{Expiry, StoreError, ValueKind};

use super::{Args, is, parse_i64, store_error, syntax_error};
use crate::resp::dump_payload::{self, Payload};
use crate::resp::reply::Reply;
use crate::resp::session::Session;

/// `DUMP key`: the payload, or nil for a missing key.
pub fn dump(args: &Args<'_>, session: &Session, reply: &mut Reply) {
    let now = super::deadline::unix_now_ms().max(0) as u64;
    let found = session
        .namespace
        .store()
        .peek(args.get(1), |kind, bytes| payload_of(kind, bytes, now));
    match found {
        None => reply.null(),
        Some(Ok(payload)) => reply.bulk(&dump_payload::dump(&payload)),
        Some(Err(e)) => store_error(&e, reply),
    }
}

/// A stored value as a payload value. A hash's expired fields are left out.
fn payload_of(kind: ValueKind, bytes: &[u8], now_unix_ms: u64) -> Result<Payload, StoreError> {
    Ok(match kind {
        ValueKind::String => Payload::String(bytes.to_vec()),
        ValueKind::List => Payload::List(List::decode(bytes)?.items.into_iter().collect()),
        ValueKind::Set => Payload::Set(Set::decode(bytes)?.members.into_iter().collect()),
        ValueKind::SortedSet => Payload::SortedSet(
            SortedSet::decode(bytes)?
                .items()
                .iter()
                .map(|(score, member)| (member.clone(), *score))
                .collect(),
        ),
        ValueKind::Hash => Payload::Hash(
            Hash::decode_live(Some(bytes), now_unix_ms)?
                .fields
                .into_iter()
                .map(|(field, f)| (field, f.value))
                .collect(),
        ),
    })
}

/// A payload value as the store keeps it: its kind and encoding; `None` for an empty
/// collection, which Redis never dumps and a store never holds.
fn stored_form(payload: Payload) -> Option<(ValueKind, Vec<u8>)> {
    let (kind, empty, bytes) = match payload {
        Payload::String(s) => return Some((ValueKind::String, s)),
        Payload::List(items) => {
            let list = List {
                items: items.into(),
            };
            (ValueKind::List, list.is_empty(), list.encode())
        }
        Payload::Set(members) => {
            let set = Set {
                members: members.into_iter().collect(),
            };
            (ValueKind::Set, set.is_empty(), set.encode())
        }
        Payload::SortedSet(items) => {
            let mut zset = SortedSet::default();
            for (member, score) in items {
                zset.insert(&member, score);
            }
            (ValueKind::SortedSet, zset.is_empty(), zset.encode())
        }
        Payload::Hash(fields) => {
            let mut hash = Hash::default();
            for (field, value) in fields {
                hash.set(&field, &value);
            }
            (ValueKind::Hash, hash.is_empty(), hash.encode())
        }
    };
    (!empty).then_some((kind, bytes))
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`.
///
/// `ttl` is milliseconds from now (0: no expiry), or a Unix time in milliseconds with `ABSTTL`
/// (one already past restores nothing and, with `REPLACE`, removes the key, as in Redis).
/// `IDLETIME` and `FREQ` are checked and then ignored: the eviction policies keep their own
/// recency and frequency, which a number from another server does not translate into.
pub fn restore(args: &Args<'_>, session: &Session, reply: &mut Reply) {
    let key = args.get(1);
    let Some(ttl) = parse_i64(args.get(2)) else {
        return reply.error("ERR value is not an integer or out of range");
    };
    let (mut replace, mut absolute) = (false, false);
    let mut i = 4;
    while i < args.len() {
        let opt = args.get(i);
        if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "ABSTTL") {
            absolute = true;
        } else if is(opt, "IDLETIME") && i + 1 < args.len() {
            i += 1;
            match parse_i64(args.get(i)) {
                Some(n) if n >= 0 => {}
                _ => return reply.error("ERR Invalid IDLETIME value, must be >= 0"),
            }
        } else if is(opt, "FREQ") && i + 1 < args.len() {
            i += 1;
            match parse_i64(args.get(i)) {
                Some(n) if (0..=255).contains(&n) => {}
                _ => return reply.error("ERR Invalid FREQ value, must be >= 0 and <= 255"),
            }
        } else {
            return syntax_error(reply);
        }
        i += 1;
    }
    if ttl < 0 {
        return reply.error("ERR Invalid TTL value, must be >= 0");
    }
    let store = session.namespace.store();
    if !replace && store.exists(key) {
        return reply.error("BUSYKEY Target key name already exists.");
    }
    let max_item_size = session.namespace.config().max_item_size();
    // Decoding takes up to about ten times the stored size (each element owned, plus the
    // listpack it came in); past 16 times the value could not be stored anyway.
    let budget = usize::try_from(max_item_size)
        .unwrap_or(usize::MAX)
        .saturating_mul(16)
        .max(1 << 20);
    let payload = match dump_payload::parse_within(args.get(3), budget) {
        Ok(p) => p,
        Err(e) => return reply.error_fmt(format_args!("ERR {e}")),
    };
    let Some((kind, bytes)) = stored_form(payload) else {
        return reply.error("ERR Bad data format");
    };
    // Checked before REPLACE removes anything: a value the store would refuse leaves the key
    // as it was.
    if (key.len() + bytes.len()) as u64 > max_item_size {
        return reply.error_fmt(format_args!("ERR {}", dump_payload::PayloadError::TooLarge));
    }
    let expiry = match (ttl, absolute) {
        (0, _) => Expiry::Never,
        (at, true) => {
            let left = at - super::deadline::unix_now_ms();
            if left <= 0 {
                // Already expired: nothing is restored (and REPLACE removes what was there).
                if replace {
                    store.delete(key);
                }
                return reply.ok();
            }
            Expiry::AfterMs(left as u64)
        }
        (ms, false) => Expiry::AfterMs(ms as u64),
    };
    match super::keyspace::put_whole(store, key, kind, bytes, expiry, replace) {
        Ok(true) => reply.ok(),
        Ok(false) => reply.error("BUSYKEY Target key name already exists."),
        Err(e) => store_error(&e, reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_collection_has_no_stored_form() {
        assert!(stored_form(Payload::List(Vec::new())).is_none());
        assert!(stored_form(Payload::Hash(Vec::new())).is_none());
        assert_eq!(
            stored_form(Payload::String(Vec::new())),
            Some((ValueKind::String, Vec::new())),
            "an empty string is a value"
        );
    }
}
