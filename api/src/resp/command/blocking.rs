//! Blocking pops: BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! Each tries its non-blocking form first (`lists`, `zset_combine`). When every key is empty it
//! blocks: see `resp::blocking` for how the connection waits and runs the command again. Inside
//! MULTI/EXEC a blocking command never waits, as in Redis: it answers its timeout at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lists::{self, End};
use super::string_edits::parse_float;
use super::zset_combine;
use super::{Args, syntax_error};
use crate::resp::blocking::Blocked;
use crate::resp::context::ServerContext;
use crate::resp::reply::Reply;
use crate::resp::session::Session;

/// Redis's timeout argument: seconds, fractions allowed, 0 for ever. `Ok(None)`: for ever.
fn timeout_arg(arg: &[u8], reply: &mut Reply) -> Option<Option<Duration>> {
    // Redis reads the timeout with strtold, which takes hexadecimal too (`0x7FFFFFFFFFFFFF`).
    let hex = || {
        let digits = arg
            .strip_prefix(b"0x")
            .or_else(|| arg.strip_prefix(b"0X"))?;
        let text = std::str::from_utf8(digits).ok()?;
        u64::from_str_radix(text, 16).ok().map(|n| n as f64)
    };
    let Some(secs) = parse_float(arg).or_else(hex).filter(|s| s.is_finite()) else {
        reply.error("ERR timeout is not a float or out of range");
        return None;
    };
    if secs < 0.0 {
        reply.error("ERR timeout is negative");
        return None;
    }
    if secs > 1e12 {
        reply.error("ERR timeout is out of range");
        return None;
    }
    Some((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// A woken client finds a key of another kind (a transaction pushed, deleted and SET it): as in
/// Redis it keeps waiting rather than failing. Only the first try answers WRONGTYPE.
fn on_retry<T>(
    session: &Session,
    result: Result<Option<T>, larder_runtime::StoreError>,
) -> Result<Option<T>, larder_runtime::StoreError> {
    match result {
        Err(larder_runtime::StoreError::WrongType) if session.blocked.is_some() => Ok(None),
        other => other,
    }
}

/// Nothing to take from `keys` yet: wait for them (the frame will run again), or — past the
/// deadline, or inside EXEC — answer the timeout. True when the caller is to answer it now.
fn block_or_time_out(
    session: &mut Session,
    ctx: &ServerContext,
    keys: &[&[u8]],
    timeout: Option<Duration>,
) -> bool {
    if session.in_exec {
        return true;
    }
    match &session.blocked {
        Some(b) if b.deadline.is_some_and(|d| Instant::now() >= d) => {
            session.blocked = None;
            return true;
        }
        Some(_) => {}
        None => {
            let keys = keys.iter().map(|k| k.to_vec()).collect();
            session.blocked = Some(Blocked {
                deadline: timeout.map(|t| Instant::now() + t),
                registration: ctx.waiters.register(session.namespace.name(), keys),
                fresh: true,
                woken: false,
            });
        }
    }
    session.wants_retry = true;
    false
}

/// `BLPOP`/`BRPOP key … timeout`: `[key, element]`, nil on timeout.
pub fn blpop(
    args: &Args<'_>,
    end: End,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) {
    let Some(timeout) = timeout_arg(args.get(args.len() - 1), reply) else {
        return;
    };
    let keys: Vec<&[u8]> = args.from(1).take(args.len() - 2).collect();
    let ns = Arc::clone(&session.namespace);
    match on_retry(
        session,
        lists::pop_first(ns.store(), keys.iter().copied(), end, 1),
    ) {
        Ok(Some((key, popped))) => {
            session.blocked = None;
            reply.array(2);
            reply.bulk(key);
            reply.bulk(&popped[0]);
        }
        Ok(None) if block_or_time_out(session, ctx, &keys, timeout) => reply.null_array(),
        Ok(None) => {}
        Err(e) => {
            session.blocked = None;
            super::store_error(&e, reply);
        }
    }
}

/// `BLMPOP timeout numkeys key … LEFT|RIGHT [COUNT count]`
pub fn blmpop(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let Some(timeout) = timeout_arg(args.get(1), reply) else {
        return;
    };
    let Some((keys, end, count)) = lists::mpop_args(args, 2, reply) else {
        return;
    };
    let ns = Arc::clone(&session.namespace);
    match on_retry(
        session,
        lists::pop_first(ns.store(), keys.iter().copied(), end, count),
    ) {
        Ok(Some((key, popped))) => {
            session.blocked = None;
            lists::mpop_reply(key, &popped, reply);
        }
        Ok(None) if block_or_time_out(session, ctx, &keys, timeout) => reply.null_array(),
        Ok(None) => {}
        Err(e) => {
            session.blocked = None;
            super::store_error(&e, reply);
        }
    }
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout` and
/// `BRPOPLPUSH source destination timeout`: the element moved, nil on timeout.
pub fn blmove(
    args: &Args<'_>,
    ends: Option<(End, End)>,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) {
    let (from, to) = match ends {
        Some(ends) => ends,
        None => match (End::parse(args.get(3)), End::parse(args.get(4))) {
            (Some(a), Some(b)) => (a, b),
            _ => return syntax_error(reply),
        },
    };
    let Some(timeout) = timeout_arg(args.get(args.len() - 1), reply) else {
        return;
    };
    let (src, dst) = (args.get(1), args.get(2));
    let ns = Arc::clone(&session.namespace);
    let moved = match lists::move_element(ns.store(), src, dst, from, to) {
        // The source holds a list now, so the destination is what has the wrong kind: that is
        // the command's error, as in Redis (only a source of another kind keeps it waiting).
        Err(e) if ns.store().kind(src) == Some(larder_runtime::ValueKind::List) => Err(e),
        other => on_retry(session, other),
    };
    match moved {
        Ok(Some(item)) => {
            session.blocked = None;
            reply.bulk(&item);
        }
        Ok(None) if block_or_time_out(session, ctx, &[src], timeout) => reply.null(),
        Ok(None) => {}
        Err(e) => {
            session.blocked = None;
            super::store_error(&e, reply);
        }
    }
}

/// `BZPOPMIN`/`BZPOPMAX key … timeout`: `[key, member, score]`, nil on timeout.
pub fn bzpop(
    args: &Args<'_>,
    max: bool,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) {
    let Some(timeout) = timeout_arg(args.get(args.len() - 1), reply) else {
        return;
    };
    let keys: Vec<&[u8]> = args.from(1).take(args.len() - 2).collect();
    let ns = Arc::clone(&session.namespace);
    let popped = on_retry(
        session,
        zset_combine::zpop_first(ns.store(), keys.iter().copied(), max, 1),
    );
    match popped {
        Ok(Some((key, popped))) => {
            session.blocked = None;
            let (score, member) = &popped[0];
            reply.array(3);
            reply.bulk(key);
            reply.bulk(member);
            reply.double(*score);
        }
        Ok(None) if block_or_time_out(session, ctx, &keys, timeout) => reply.null_array(),
        Ok(None) => {}
        Err(e) => {
            session.blocked = None;
            super::store_error(&e, reply);
        }
    }
}

/// `BZMPOP timeout numkeys key … MIN|MAX [COUNT count]`
pub fn bzmpop(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let Some(timeout) = timeout_arg(args.get(1), reply) else {
        return;
    };
    let Some((keys, max, count)) = zset_combine::zmpop_args(args, 2, "bzmpop", reply) else {
        return;
    };
    let ns = Arc::clone(&session.namespace);
    let popped = on_retry(
        session,
        zset_combine::zpop_first(ns.store(), keys.iter().copied(), max, count),
    );
    match popped {
        Ok(Some((key, popped))) => {
            session.blocked = None;
            zset_combine::zmpop_reply(key, &popped, reply);
        }
        Ok(None) if block_or_time_out(session, ctx, &keys, timeout) => reply.null_array(),
        Ok(None) => {}
        Err(e) => {
            session.blocked = None;
            super::store_error(&e, reply);
        }
    }
}
