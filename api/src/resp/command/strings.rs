//! String commands: GET, SET and its variants, GETEX, MGET, MSET, and the INCR/DECR family.
//!
//! GET copies the value into the write buffer inside the store's closure, under the shard lock:
//! one copy, no intermediate allocation.
//!
//! Multi-key commands (MGET, MSET) are not atomic across keys: each key is its own store call. A
//! reader may see part of a concurrent MSET; MSET stops at the first refused pair (a key too long,
//! a value over the namespace's item size) and reports it, leaving earlier pairs written.

use larder_runtime::{Condition, Expiry, SetOptions, Store, ValueKind};

use super::deadline::{Deadline, DeadlineError, TimeUnit};
use super::{
    Args, invalid_expire, is, not_an_integer, parse_i64, store_error, syntax_error, wrong_arity,
};
use crate::resp::reply::Reply;

pub fn get(store: &Store, key: &[u8], reply: &mut Reply) {
    let buf = &mut reply.buf;
    match store.read(key, ValueKind::String, |value| Reply::bulk_into(buf, value)) {
        Ok(Some(())) => {}
        Ok(None) => reply.null(),
        Err(e) => store_error(&e, reply),
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ts-ms|KEEPTTL]`
pub fn set(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let mut opts = SetOptions::default();
    let mut deadline: Option<Deadline> = None;
    let mut keep_ttl = false;
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        let has_next = i + 1 < args.len();
        if is(opt, "NX") && opts.condition == Condition::Always {
            opts.condition = Condition::IfAbsent;
        } else if is(opt, "XX") && opts.condition == Condition::Always {
            opts.condition = Condition::IfPresent;
        } else if is(opt, "GET") {
            opts.return_old = true;
        } else if is(opt, "KEEPTTL") && deadline.is_none() {
            keep_ttl = true;
        } else if let Some(unit) =
            TimeUnit::from_option(opt).filter(|_| has_next && deadline.is_none())
        {
            if keep_ttl {
                return syntax_error(reply);
            }
            i += 1;
            match Deadline::parse(args.get(i), unit) {
                Ok(d) => deadline = Some(d),
                Err(DeadlineError::NotInteger) => return not_an_integer(reply),
                Err(DeadlineError::Invalid) => return invalid_expire("set", reply),
            }
        } else {
            return syntax_error(reply);
        }
        i += 1;
    }
    opts.expiry = match deadline {
        Some(Deadline::InMs(ms)) => Expiry::AfterMs(ms),
        Some(Deadline::Past) => Expiry::Default,
        None if keep_ttl => Expiry::Keep,
        None => Expiry::Default,
    };
    write(
        store,
        args.get(1),
        args.get(2),
        opts,
        deadline == Some(Deadline::Past),
        reply,
    );
}

/// Store one value and reply as SET does. `already_expired` (an EXAT/PXAT in the past) writes
/// and then deletes, as Redis does, so NX/XX/GET behave exactly as for a live write.
fn write(
    store: &Store,
    key: &[u8],
    value: &[u8],
    opts: SetOptions,
    already_expired: bool,
    reply: &mut Reply,
) {
    match store.set(key, value, opts) {
        Ok(outcome) => {
            if outcome.written && already_expired {
                store.delete(key);
            }
            if opts.return_old {
                match outcome.old {
                    Some(old) => reply.bulk(&old),
                    None => reply.null(),
                }
            } else if outcome.written {
                reply.ok();
            } else {
                reply.null();
            }
        }
        Err(e) => store_error(&e, reply),
    }
}

/// `SETNX key value`: 1 if written, 0 if the key existed.
pub fn setnx(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let opts = SetOptions {
        condition: Condition::IfAbsent,
        ..SetOptions::default()
    };
    match store.set(args.get(1), args.get(2), opts) {
        Ok(outcome) => reply.integer(i64::from(outcome.written)),
        Err(e) => store_error(&e, reply),
    }
}

/// `SETEX key seconds value` (`unit_ms` = 1000) and `PSETEX key ms value` (`unit_ms` = 1).
pub fn setex(store: &Store, args: &Args<'_>, unit_ms: i64, reply: &mut Reply) {
    let name = if unit_ms == 1 { "psetex" } else { "setex" };
    let Some(n) = parse_i64(args.get(2)) else {
        return not_an_integer(reply);
    };
    let Some(ms) = n.checked_mul(unit_ms).filter(|ms| *ms > 0) else {
        return invalid_expire(name, reply);
    };
    let opts = SetOptions {
        expiry: Expiry::AfterMs(ms as u64),
        ..SetOptions::default()
    };
    write(store, args.get(1), args.get(3), opts, false, reply);
}

/// `GETEX key [EX s|PX ms|EXAT ts|PXAT ts-ms|PERSIST]`: GET, then change the key's expiry — the
/// Redis way to slide a session's lifetime on each read. The read and the expiry change are two
/// store calls; a write in between is possible and harmless (the new value gets the new expiry).
pub fn getex(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    enum Action {
        Keep,
        Persist,
        Expire(Deadline),
    }
    let action = match args.len() {
        2 => Action::Keep,
        3 if is(args.get(2), "PERSIST") => Action::Persist,
        4 => {
            let Some(unit) = TimeUnit::from_option(args.get(2)) else {
                return syntax_error(reply);
            };
            match Deadline::parse(args.get(3), unit) {
                Ok(d) => Action::Expire(d),
                Err(DeadlineError::NotInteger) => return not_an_integer(reply),
                Err(DeadlineError::Invalid) => return invalid_expire("getex", reply),
            }
        }
        _ => return syntax_error(reply),
    };
    let key = args.get(1);
    let buf = &mut reply.buf;
    if store
        .get(key, |value| Reply::bulk_into(buf, value))
        .is_none()
    {
        return reply.null();
    }
    match action {
        Action::Keep => {}
        Action::Persist => {
            store.expire(key, None);
        }
        Action::Expire(Deadline::InMs(ms)) => {
            store.expire(key, Some(ms));
        }
        Action::Expire(Deadline::Past) => {
            store.delete(key);
        }
    }
}

pub fn mget(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    reply.array(args.len() - 1);
    for key in args.from(1) {
        // A key of another kind reads as nil here, as in Redis (never an error inside the array).
        let buf = &mut reply.buf;
        if store
            .get(key, |value| Reply::bulk_into(buf, value))
            .is_none()
        {
            reply.null();
        }
    }
}

pub fn mset(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    if args.len().is_multiple_of(2) {
        return wrong_arity("mset", reply);
    }
    let mut pairs = args.from(1);
    while let (Some(key), Some(value)) = (pairs.next(), pairs.next()) {
        if let Err(e) = store.set(key, value, SetOptions::default()) {
            return store_error(&e, reply);
        }
    }
    reply.ok();
}

pub fn incr_by(store: &Store, key: &[u8], delta: i64, reply: &mut Reply) {
    match store.incr_by(key, delta) {
        Ok(n) => reply.integer(n),
        Err(e) => store_error(&e, reply),
    }
}

/// `INCRBY key n` / `DECRBY key n`.
pub fn incr_by_arg(store: &Store, args: &Args<'_>, negate: bool, reply: &mut Reply) {
    let Some(n) = parse_i64(args.get(2)) else {
        return not_an_integer(reply);
    };
    let delta = if negate {
        match n.checked_neg() {
            Some(d) => d,
            None => return reply.error("ERR decrement would overflow"),
        }
    } else {
        n
    };
    incr_by(store, args.get(1), delta, reply);
}
