//! Commands over the keyspace as a whole, or that move keys: SCAN, KEYS, TYPE, RANDOMKEY,
//! RENAME, RENAMENX, COPY, MOVE, OBJECT and MEMORY USAGE.
//!
//! SCAN's cursor is the store's own (shard, slot) position, so it needs no server-side state and
//! a key present for the whole scan is returned exactly once, however the tables resize. KEYS is
//! a full scan; like Redis's, it is for debugging, not for the request path.
//!
//! TYPE answers the key's [`ValueKind`] name; `SCAN … TYPE t` keeps the keys of that kind (none
//! for a name that is no kind).

use larder_runtime::{Change, Condition, CopyOutcome, Expiry, SetOptions, Store, Ttl, ValueKind};

use super::{Args, is, not_an_integer, parse_i64, store_error, syntax_error, wrong_arity};
use crate::resp::context::ServerContext;
use crate::resp::glob::Glob;
use crate::resp::reply::Reply;
use crate::resp::session::Session;

/// Keys a KEYS call collects per scan step (each step holds one shard lock briefly).
const KEYS_STEP: usize = 1024;

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
pub fn scan(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(cursor) = parse_cursor(args.get(1)) else {
        return reply.error("ERR invalid cursor");
    };
    let mut pattern = None;
    let mut count = 10usize;
    // `Some(None)`: a TYPE that names no kind, which no key has.
    let mut type_filter: Option<Option<ValueKind>> = None;
    let mut i = 2;
    while i < args.len() {
        let (opt, value) = (args.get(i), args.get(i + 1));
        if i + 1 >= args.len() {
            return syntax_error(reply);
        }
        if is(opt, "MATCH") {
            pattern = Some(Glob::new(value));
        } else if is(opt, "COUNT") {
            match parse_i64(value) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return syntax_error(reply),
                None => return not_an_integer(reply),
            }
        } else if is(opt, "TYPE") {
            type_filter = Some(ValueKind::from_name(value));
        } else {
            return syntax_error(reply);
        }
        i += 2;
    }
    let mut keys = Vec::new();
    let next = store.scan(cursor, count, &mut keys);
    if let Some(glob) = pattern.filter(|g| !g.matches_everything()) {
        keys.retain(|key| glob.matches(key));
    }
    if let Some(wanted) = type_filter {
        keys.retain(|key| wanted.is_some() && store.kind(key) == wanted);
    }
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(keys.len());
    for key in &keys {
        reply.bulk(key);
    }
}

/// A cursor as Redis takes it: an unsigned decimal 64-bit number.
fn parse_cursor(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `KEYS pattern`: every live key matching, in no particular order.
pub fn keys(store: &Store, pattern: &[u8], reply: &mut Reply) {
    let glob = Glob::new(pattern);
    let mut found = Vec::new();
    let mut batch = Vec::new();
    let mut cursor = 0;
    loop {
        batch.clear();
        cursor = store.scan(cursor, KEYS_STEP, &mut batch);
        found.extend(batch.drain(..).filter(|key| glob.matches(key)));
        if cursor == 0 {
            break;
        }
    }
    reply.array(found.len());
    for key in &found {
        reply.bulk(key);
    }
}

/// `TYPE key`: `string`, or `none` for a missing key.
pub fn key_type(store: &Store, key: &[u8], reply: &mut Reply) {
    reply.simple(store.kind(key).map_or("none", ValueKind::name));
}

pub fn randomkey(store: &Store, reply: &mut Reply) {
    match store.random_key() {
        Some(key) => reply.bulk(&key),
        None => reply.null(),
    }
}

/// `RENAME key newkey` (`nx` false: OK, replacing newkey) and `RENAMENX key newkey` (`nx` true:
/// 1 if renamed, 0 if newkey exists).
pub fn rename(store: &Store, args: &Args<'_>, nx: bool, reply: &mut Reply) {
    match store.rename(args.get(1), args.get(2), nx) {
        Ok(CopyOutcome::NoSource) => reply.error("ERR no such key"),
        Ok(CopyOutcome::DestinationExists) => reply.integer(0),
        Ok(CopyOutcome::Done) if nx => reply.integer(1),
        Ok(CopyOutcome::Done) => reply.ok(),
        Err(e) => store_error(&e, reply),
    }
}

/// `COPY source destination [DB db] [REPLACE]`: 1 if copied, 0 if the source is missing or the
/// destination exists without REPLACE. `DB n` names a numbered database as SELECT does.
pub fn copy(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let (src, dst) = (args.get(1), args.get(2));
    let mut replace = false;
    let mut target = None;
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "DB") && i + 1 < args.len() {
            i += 1;
            if parse_i64(args.get(i)).is_none() {
                return not_an_integer(reply);
            }
            match super::connection::resolve_db(
                args.get(i),
                ctx,
                &session.view(),
                super::connection::may_create_databases(session, ctx),
            ) {
                Ok(namespace) => target = Some(namespace),
                Err(message) => return reply.error(&message),
            }
        } else {
            return syntax_error(reply);
        }
        i += 1;
    }
    let store = session.namespace.store();
    let target = target.filter(|t| !std::ptr::eq(t.store(), store));
    let Some(target) = target else {
        if src == dst {
            return reply.error("ERR source and destination objects are the same");
        }
        return match store.copy(src, dst, replace) {
            Ok(outcome) => reply.integer(i64::from(outcome == CopyOutcome::Done)),
            Err(e) => store_error(&e, reply),
        };
    };
    match copy_between(store, target.store(), src, dst, replace) {
        Ok(copied) => reply.integer(i64::from(copied)),
        Err(e) => store_error(&e, reply),
    }
}

/// `MOVE key db`: move a key into another numbered database if it is absent there; 1 if moved.
pub fn move_key(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let (key, db) = (args.get(1), args.get(2));
    if parse_i64(db).is_none() {
        return not_an_integer(reply);
    }
    let target = match super::connection::resolve_db(
        db,
        ctx,
        &session.view(),
        super::connection::may_create_databases(session, ctx),
    ) {
        Ok(namespace) => namespace,
        Err(message) => return reply.error(&message),
    };
    let store = session.namespace.store();
    if std::ptr::eq(target.store(), store) {
        return reply.error("ERR source and destination objects are the same");
    }
    match copy_between(store, target.store(), key, key, false) {
        Ok(true) => {
            store.delete(key);
            reply.integer(1);
        }
        Ok(false) => reply.integer(0),
        Err(e) => store_error(&e, reply),
    }
}

/// Copy `src` of one store to `dst` of another, with its remaining TTL: two stores, so a read
/// then a conditional write (a write to `src` in between may or may not be seen). True if copied.
fn copy_between(
    from: &Store,
    to: &Store,
    src: &[u8],
    dst: &[u8],
    replace: bool,
) -> Result<bool, larder_runtime::StoreError> {
    let Some((kind, value)) = from.peek(src, |kind, value| (kind, value.to_vec())) else {
        return Ok(false);
    };
    let expiry = match from.ttl(src) {
        Ttl::RemainingMs(ms) if ms > 0 => Expiry::AfterMs(ms),
        _ => Expiry::Never,
    };
    put_whole(to, dst, kind, value, expiry, replace)
}

/// Store a whole value of `kind` at `key` (COPY across namespaces, MOVE, RESTORE, SORT … STORE):
/// only if the key is absent, or over whatever it holds with `replace`. `false` when it was
/// not written (the key exists, or appeared meanwhile, and `replace` is off).
pub(super) fn put_whole(
    store: &Store,
    key: &[u8],
    kind: ValueKind,
    value: Vec<u8>,
    expiry: Expiry,
    replace: bool,
) -> Result<bool, larder_runtime::StoreError> {
    if kind != ValueKind::String {
        if replace {
            store.delete(key);
        }
        let written = store.update_as(key, kind, |current| {
            Ok(match current {
                Some(_) => (Change::Keep, false),
                None => (Change::Put { value, expiry }, true),
            })
        });
        return match written {
            // A key of another kind holds it and `replace` was not given.
            Err(larder_runtime::StoreError::WrongType) => Ok(false),
            other => other,
        };
    }
    let opts = SetOptions {
        expiry,
        condition: if replace {
            Condition::Always
        } else {
            Condition::IfAbsent
        },
        return_old: false,
    };
    Ok(store.set(key, &value, opts)?.written)
}

/// `OBJECT ENCODING | REFCOUNT | FREQ | IDLETIME | HELP`
///
/// ENCODING answers with the name Redis would use for the same string by its size rules
/// (`int`, `embstr` up to 44 bytes, `raw`), so clients that branch on it behave. FREQ and
/// IDLETIME need per-key metadata that the eviction policies do not keep in a comparable form,
/// so they are refused with the reason rather than answered with made-up numbers.
pub fn object(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let sub = args.get(1);
    if is(sub, "HELP") && args.len() == 2 {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation Redis would use for <key>.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with <key> (always 1).",
            "FREQ <key>, IDLETIME <key>",
            "    Not tracked by Larder's eviction policies; refused.",
        ];
        reply.help(&lines);
        return;
    }
    let known = ["ENCODING", "REFCOUNT", "FREQ", "IDLETIME"];
    if !known.iter().any(|k| is(sub, k)) {
        return reply.error_fmt(format_args!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
    if args.len() != 3 {
        return wrong_arity(
            &format!(
                "object|{}",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            ),
            reply,
        );
    }
    let key = args.get(2);
    let Some(encoding) = store.peek(key, super::encodings::encoding_of) else {
        return reply.null();
    };
    if is(sub, "ENCODING") {
        reply.bulk(encoding.as_bytes());
    } else if is(sub, "REFCOUNT") {
        reply.integer(1);
    } else {
        reply.error_fmt(format_args!(
            "ERR OBJECT {} is not tracked: Larder's eviction policies keep no per-key access \
             clock or LFU counter in Redis's form",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        ));
    }
}

/// `MEMORY USAGE key [SAMPLES count]`: the bytes the key is charged against its namespace's
/// capacity (key, value as stored, per-entry overhead), nil when absent. `MEMORY HELP`.
pub fn memory(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let sub = args.get(1);
    if is(sub, "HELP") && args.len() == 2 {
        let lines = [
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "USAGE <key> [SAMPLES <count>]",
            "    Return the bytes <key> is charged against its namespace's capacity.",
        ];
        return reply.help(&lines);
    }
    if !is(sub, "USAGE") {
        return reply.error_fmt(format_args!(
            "ERR unknown subcommand '{}'. Try MEMORY HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
    match args.len() {
        3 => {}
        5 if is(args.get(3), "SAMPLES") => {
            if parse_i64(args.get(4)).is_none() {
                return not_an_integer(reply);
            }
        }
        _ => return syntax_error(reply),
    }
    match store.memory_usage(args.get(2)) {
        Some(bytes) => reply.integer(bytes as i64),
        None => reply.null(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_are_unsigned_decimals() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b"-1"), None);
        assert_eq!(parse_cursor(b""), None);
        assert_eq!(parse_cursor(b"1x"), None);
    }
}
