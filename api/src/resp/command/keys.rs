//! Key commands: DEL/UNLINK, EXISTS, TOUCH, the EXPIRE family, PERSIST, TTL, PTTL, EXPIRETIME
//! and PEXPIRETIME.
//!
//! TOUCH keeps Redis's meaning: count the keys that exist and record an access to each (which
//! feeds the eviction policy), without changing any expiry. To slide a session's lifetime, use
//! `GETEX key EX seconds` or `EXPIRE`.
//!
//! EXPIRE's NX/XX/GT/LT conditions read the current TTL and then set the new one: two store
//! calls, so a concurrent EXPIRE on the same key may interleave with them.

use larder_runtime::{Store, Ttl};

use super::deadline::{TimeUnit, unix_now_ms};
use super::{Args, is, not_an_integer, parse_i64};
use crate::resp::reply::Reply;

pub fn del(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let removed = args.from(1).filter(|key| store.delete(key)).count();
    reply.integer(removed as i64);
}

/// Counts a key once per mention, as Redis does (`EXISTS k k` is 2 when `k` exists).
pub fn exists(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let present = args.from(1).filter(|key| store.exists(key)).count();
    reply.integer(present as i64);
}

pub fn touch(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    // A read that copies nothing: counts as an access (hit or miss) and leaves the TTL alone.
    let present = args
        .from(1)
        .filter(|key| store.get(key, |_| ()).is_some())
        .count();
    reply.integer(present as i64);
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its PEXPIRE/EXPIREAT/PEXPIREAT siblings. A time at or
/// before now deletes the key (Redis semantics). Replies 1 if the expiry was set, 0 if the key
/// does not exist or a condition was not met.
pub fn expire(store: &Store, args: &Args<'_>, unit: TimeUnit, reply: &mut Reply) {
    let Some(n) = parse_i64(args.get(2)) else {
        return not_an_integer(reply);
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in args.from(3) {
        if is(opt, "NX") {
            nx = true;
        } else if is(opt, "XX") {
            xx = true;
        } else if is(opt, "GT") {
            gt = true;
        } else if is(opt, "LT") {
            lt = true;
        } else {
            return reply.error_fmt(format_args!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return reply.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return reply.error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(ms) = unit.relative_ms(n) else {
        let name = args.get(0).to_ascii_lowercase();
        return reply.error_fmt(format_args!(
            "ERR invalid expire time in '{}' command",
            String::from_utf8_lossy(&name)
        ));
    };
    let key = args.get(1);
    if nx || xx || gt || lt {
        let current = match store.ttl(key) {
            Ttl::Missing => return reply.integer(0),
            Ttl::Persistent => None,
            Ttl::RemainingMs(ms) => Some(ms as i64),
        };
        let allowed = match current {
            // No expiry counts as an infinite TTL: GT can never beat it, LT always does.
            None => !(xx || gt),
            Some(current) => !nx && (!gt || ms > current) && (!lt || ms < current),
        };
        if !allowed {
            return reply.integer(0);
        }
    }
    let ttl = if ms <= 0 { 0 } else { ms as u64 };
    reply.integer(i64::from(store.expire(key, Some(ttl))));
}

/// 1 if the key had an expiry and it was removed, 0 otherwise.
pub fn persist(store: &Store, key: &[u8], reply: &mut Reply) {
    let had_expiry = matches!(store.ttl(key), Ttl::RemainingMs(_));
    reply.integer(i64::from(had_expiry && store.expire(key, None)));
}

/// TTL (`unit_ms` = 1000, rounded to the nearest second as Redis does) or PTTL (`unit_ms` = 1):
/// -2 for a missing key, -1 for a key without expiry.
pub fn ttl(store: &Store, key: &[u8], unit_ms: u64, reply: &mut Reply) {
    match store.ttl(key) {
        Ttl::Missing => reply.integer(-2),
        Ttl::Persistent => reply.integer(-1),
        Ttl::RemainingMs(ms) => reply.integer(((ms + unit_ms / 2) / unit_ms) as i64),
    }
}

/// EXPIRETIME (`unit_ms` = 1000) or PEXPIRETIME (`unit_ms` = 1): the Unix time at which the key
/// expires, -2 for a missing key, -1 for a key without expiry. The store keeps a monotonic
/// deadline, so this is "now on the wall clock + what remains".
pub fn expiretime(store: &Store, key: &[u8], unit_ms: i64, reply: &mut Reply) {
    match store.ttl(key) {
        Ttl::Missing => reply.integer(-2),
        Ttl::Persistent => reply.integer(-1),
        Ttl::RemainingMs(ms) => {
            let at = unix_now_ms().saturating_add(ms as i64);
            reply.integer(at / unit_ms);
        }
    }
}
