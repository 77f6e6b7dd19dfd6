//! Hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HGETALL, HDEL, HEXISTS, HLEN, HKEYS, HVALS,
//! HSTRLEN, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN, and per-field expiry (HEXPIRE, HPEXPIRE,
//! HEXPIREAT, HPEXPIREAT, HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME, HPERSIST, as Redis 7.4).
//!
//! A hash is one entry to the store (see `larder_runtime::value::hash`): the key is charged,
//! admitted, evicted and expired as a whole; fields expire on their own.

use larder_runtime::value::{Hash, hash};
use larder_runtime::{Store, StoreError, ValueKind};
use rand::Rng;
use rand::seq::index::sample;

use super::collection::{int_arg, read, reply_with, scan_args, scan_reply, store_or_delete};
use super::string_edits::{format_float, parse_float, round_to_operands};
use super::{Args, is, not_an_integer, parse_i64, syntax_error, unix_now_ms, wrong_arity};
use crate::resp::reply::Reply;

const KIND: ValueKind = ValueKind::Hash;

/// `HSET key field value [field value …]` (new fields count) and `HMSET` (`OK`).
pub fn hset(store: &Store, args: &Args<'_>, legacy: bool, reply: &mut Reply) {
    if !args.len().is_multiple_of(2) {
        return wrong_arity(if legacy { "hmset" } else { "hset" }, reply);
    }
    let now = unix_now_ms();
    let result = store.update_as(args.get(1), KIND, |current| {
        let mut h = Hash::decode_live(current, now)?;
        let mut added = 0;
        let mut pairs = args.from(2);
        while let (Some(f), Some(v)) = (pairs.next(), pairs.next()) {
            added += i64::from(h.set(f, v));
        }
        Ok((store_or_delete(h.encode(), h.is_empty()), added))
    });
    reply_with(result, reply, |added, reply| {
        if legacy {
            reply.ok()
        } else {
            reply.integer(added)
        }
    });
}

/// `HSETNX key field value`: 1 if the field was set, 0 if it existed.
pub fn hsetnx(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let now = unix_now_ms();
    let (field, value) = (args.get(2), args.get(3));
    let result = store.update_as(args.get(1), KIND, |current| {
        let mut h = Hash::decode_live(current, now)?;
        if h.get(field).is_some() {
            return Ok((larder_runtime::Change::Keep, 0));
        }
        h.set(field, value);
        Ok((store_or_delete(h.encode(), false), 1))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

pub fn hget(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let now = unix_now_ms();
    let field = args.get(2);
    read(
        store,
        args.get(1),
        KIND,
        reply,
        Reply::null,
        |bytes, reply| match hash::get(bytes, field, now) {
            Some(v) => reply.bulk(v),
            None => reply.null(),
        },
    );
}

pub fn hmget(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let now = unix_now_ms();
    let fields = args.len() - 2;
    let nulls = |reply: &mut Reply| {
        reply.array(fields);
        (0..fields).for_each(|_| reply.null());
    };
    read(store, args.get(1), KIND, reply, nulls, |bytes, reply| {
        reply.array(fields);
        for f in args.from(2) {
            match hash::get(bytes, f, now) {
                Some(v) => reply.bulk(v),
                None => reply.null(),
            }
        }
    });
}

/// HGETALL (a map), HKEYS, HVALS (arrays).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Part {
    All,
    Keys,
    Values,
}

pub fn hgetall(store: &Store, args: &Args<'_>, part: Part, reply: &mut Reply) {
    let now = unix_now_ms();
    let empty = |reply: &mut Reply| match part {
        Part::All => reply.map(0),
        _ => reply.array(0),
    };
    read(store, args.get(1), KIND, reply, empty, |bytes, reply| {
        let n = hash::fields(bytes, now).count();
        match part {
            Part::All => reply.map(n),
            _ => reply.array(n),
        }
        for (f, v, _) in hash::fields(bytes, now) {
            match part {
                Part::All => {
                    reply.bulk(f);
                    reply.bulk(v);
                }
                Part::Keys => reply.bulk(f),
                Part::Values => reply.bulk(v),
            }
        }
    });
}

/// `HDEL key field [field …]`: fields removed; the key goes with its last field.
pub fn hdel(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let now = unix_now_ms();
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((larder_runtime::Change::Keep, 0));
        };
        let mut h = Hash::decode_live(Some(bytes), now)?;
        let removed = args.from(2).filter(|f| h.remove(f)).count() as i64;
        // Nothing removed: the key is left as it was (no write, no notification).
        let change = if removed == 0 {
            larder_runtime::Change::Keep
        } else {
            store_or_delete(h.encode(), h.is_empty())
        };
        Ok((change, removed))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

pub fn hexists(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let now = unix_now_ms();
    let field = args.get(2);
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| reply.integer(i64::from(hash::get(bytes, field, now).is_some())),
    );
}

pub fn hlen(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let now = unix_now_ms();
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| reply.integer(hash::fields(bytes, now).count() as i64),
    );
}

pub fn hstrlen(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let now = unix_now_ms();
    let field = args.get(2);
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| reply.integer(hash::get(bytes, field, now).map_or(0, <[u8]>::len) as i64),
    );
}

/// `HINCRBY key field increment`: the field's new integer value.
pub fn hincrby(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(delta) = int_arg(args, 3, reply) else {
        return;
    };
    let now = unix_now_ms();
    let field = args.get(2);
    let result = store.update_as(args.get(1), KIND, |current| {
        let mut h = Hash::decode_live(current, now)?;
        let base = match h.get(field) {
            None => 0,
            Some(v) => parse_i64(v).ok_or(StoreError::Refused("hash value is not an integer"))?,
        };
        let next = base.checked_add(delta).ok_or(StoreError::Overflow)?;
        set_keeping_deadline(&mut h, field, itoa::Buffer::new().format(next).as_bytes());
        Ok((store_or_delete(h.encode(), false), next))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

/// `HINCRBYFLOAT key field increment`: the field's new value, as text.
pub fn hincrbyfloat(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(delta) = parse_float(args.get(3)) else {
        return reply.error("ERR value is not a valid float");
    };
    if delta.is_infinite() {
        return reply.error("ERR value is NaN or Infinity");
    }
    let now = unix_now_ms();
    let field = args.get(2);
    let result = store.update_as(args.get(1), KIND, |current| {
        let mut h = Hash::decode_live(current, now)?;
        let base = match h.get(field) {
            None => 0.0,
            Some(v) => parse_float(v).ok_or(StoreError::Refused("hash value is not a float"))?,
        };
        let sum = base + delta;
        if !sum.is_finite() {
            return Err(StoreError::NotFinite);
        }
        let text = format_float(round_to_operands(sum, base, delta)).into_bytes();
        set_keeping_deadline(&mut h, field, &text);
        Ok((store_or_delete(h.encode(), false), text))
    });
    reply_with(result, reply, |text, reply| reply.bulk(&text));
}

/// An increment changes the value, not the field's deadline (HSET would clear it).
fn set_keeping_deadline(h: &mut Hash, field: &[u8], value: &[u8]) {
    match h.fields.get_mut(field) {
        Some(f) => f.value = value.to_vec(),
        None => {
            h.set(field, value);
        }
    }
}

/// `HRANDFIELD key [count [WITHVALUES]]`
pub fn hrandfield(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let count = match args.len() {
        2 => None,
        3 | 4 => match parse_i64(args.get(2)) {
            Some(n) if n.checked_abs().is_some_and(|a| a <= i64::MAX / 2) => Some(n),
            Some(_) => return reply.error("ERR value is out of range"),
            None => return not_an_integer(reply),
        },
        _ => return syntax_error(reply),
    };
    let with_values = args.len() == 4;
    if with_values && !is(args.get(3), "WITHVALUES") {
        return syntax_error(reply);
    }
    let now = unix_now_ms();
    let empty = move |reply: &mut Reply| match count {
        None => reply.null(),
        Some(_) => reply.array(0),
    };
    read(store, args.get(1), KIND, reply, empty, |bytes, reply| {
        let fields: Vec<_> = hash::fields(bytes, now).collect();
        let mut rng = rand::rng();
        let picked: Vec<usize> = match count {
            None if fields.is_empty() => return reply.null(),
            None => vec![rng.random_range(0..fields.len())],
            Some(n) if n >= 0 => {
                let n = (n as usize).min(fields.len());
                sample(&mut rng, fields.len(), n).into_vec()
            }
            Some(_) if fields.is_empty() => Vec::new(),
            Some(n) => (0..n.unsigned_abs())
                .map(|_| rng.random_range(0..fields.len()))
                .collect(),
        };
        if count.is_none() {
            return reply.bulk(fields[picked[0]].0);
        }
        let resp3_pairs = with_values && reply.protocol == crate::resp::reply::Protocol::Resp3;
        match (with_values, resp3_pairs) {
            (true, false) => reply.array(picked.len() * 2),
            _ => reply.array(picked.len()),
        }
        for i in picked {
            let (f, v, _) = fields[i];
            if resp3_pairs {
                reply.array(2);
            }
            reply.bulk(f);
            if with_values {
                reply.bulk(v);
            }
        }
    });
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]`
pub fn hscan(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(scan) = scan_args(args, true, reply) else {
        return;
    };
    let now = unix_now_ms();
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| scan_reply(&[], r),
        |bytes, reply| {
            let mut items = Vec::new();
            for (f, v, _) in hash::fields(bytes, now) {
                if scan.matches(f) {
                    items.push(f);
                    if !scan.no_values {
                        items.push(v);
                    }
                }
            }
            scan_reply(&items, reply);
        },
    );
}

/// How a per-field expiry command states its time.
#[derive(Clone, Copy)]
pub enum FieldTime {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

/// Where `FIELDS numfields field …` starts and the fields it names; errors replied.
fn fields_arg<'a>(args: &Args<'a>, at: usize, reply: &mut Reply) -> Option<Vec<&'a [u8]>> {
    if !is(args.get(at), "FIELDS") {
        reply.error("ERR Mandatory argument FIELDS is missing or not at the right position");
        return None;
    }
    let Some(n) = parse_i64(args.get(at + 1)) else {
        not_an_integer(reply);
        return None;
    };
    if n <= 0 {
        reply.error("ERR Parameter `numFields` should be greater than 0");
        return None;
    }
    let fields: Vec<&[u8]> = args.from(at + 2).collect();
    if fields.len() as i64 != n {
        reply.error("ERR The `numfields` parameter must match the number of arguments");
        return None;
    }
    Some(fields)
}

/// `HEXPIRE key seconds [NX|XX|GT|LT] FIELDS numfields field …` and its P/AT forms: per field,
/// -2 no such field, 0 condition not met, 1 deadline set, 2 deleted (a deadline already past).
pub fn hexpire(store: &Store, args: &Args<'_>, unit: FieldTime, reply: &mut Reply) {
    let Some(amount) = int_arg(args, 2, reply) else {
        return;
    };
    let (condition, at) = match args.get(3) {
        c if ["NX", "XX", "GT", "LT"].iter().any(|o| is(c, o)) => (Some(c.to_ascii_uppercase()), 4),
        _ => (None, 3),
    };
    let Some(fields) = fields_arg(args, at, reply) else {
        return;
    };
    let now = unix_now_ms();
    let deadline = match unit {
        FieldTime::Seconds => amount
            .checked_mul(1000)
            .and_then(|ms| ms.checked_add(now as i64)),
        FieldTime::Millis => amount.checked_add(now as i64),
        FieldTime::UnixSeconds => amount.checked_mul(1000),
        FieldTime::UnixMillis => Some(amount),
    };
    let deadline = match deadline {
        Some(d) if amount >= 0 && d <= (1 << 48) => d as u64,
        _ => {
            return reply.error_fmt(format_args!(
                "ERR invalid expire time, must be >= 0 and <= {}",
                1u64 << 48
            ));
        }
    };
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((larder_runtime::Change::Keep, vec![-2; fields.len()]));
        };
        let mut h = Hash::decode_live(Some(bytes), now)?;
        let mut out = Vec::with_capacity(fields.len());
        for f in &fields {
            let Some(field) = h.fields.get_mut(*f) else {
                out.push(-2);
                continue;
            };
            let current = field.expires_at_unix_ms;
            let allowed = match condition.as_deref() {
                Some(b"NX") => current == 0,
                Some(b"XX") => current != 0,
                // No deadline counts as infinite, as in Redis.
                Some(b"GT") => current != 0 && deadline > current,
                Some(b"LT") => current == 0 || deadline < current,
                _ => true,
            };
            if !allowed {
                out.push(0);
            } else if deadline <= now {
                h.remove(f);
                out.push(2);
            } else {
                field.expires_at_unix_ms = deadline;
                out.push(1);
            }
        }
        Ok((store_or_delete(h.encode(), h.is_empty()), out))
    });
    reply_with(result, reply, |out, reply| int_array(&out, reply));
}

/// What HTTL and friends report for a field with a deadline.
#[derive(Clone, Copy)]
pub enum FieldTtl {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

/// `HTTL key FIELDS numfields field …` (and HPTTL, HEXPIRETIME, HPEXPIRETIME): per field, -2 no
/// such field, -1 no deadline, else the time left or the deadline.
pub fn httl(store: &Store, args: &Args<'_>, unit: FieldTtl, reply: &mut Reply) {
    let Some(fields) = fields_arg(args, 2, reply) else {
        return;
    };
    let now = unix_now_ms();
    let n = fields.len();
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| int_array(&vec![-2; n], r),
        |bytes, reply| {
            let out: Vec<i64> = fields
                .iter()
                .map(|f| match hash::get_field(bytes, f, now) {
                    None => -2,
                    Some((_, 0)) => -1,
                    Some((_, at)) => match unit {
                        FieldTtl::Seconds => (at - now).div_ceil(1000) as i64,
                        FieldTtl::Millis => (at - now) as i64,
                        FieldTtl::UnixSeconds => (at / 1000) as i64,
                        FieldTtl::UnixMillis => at as i64,
                    },
                })
                .collect();
            int_array(&out, reply);
        },
    );
}

/// `HPERSIST key FIELDS numfields field …`: per field, -2 no such field, -1 no deadline, 1
/// deadline removed.
pub fn hpersist(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(fields) = fields_arg(args, 2, reply) else {
        return;
    };
    let now = unix_now_ms();
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((larder_runtime::Change::Keep, vec![-2; fields.len()]));
        };
        let mut h = Hash::decode_live(Some(bytes), now)?;
        let out: Vec<i64> = fields
            .iter()
            .map(|f| match h.fields.get_mut(*f) {
                None => -2,
                Some(field) if field.expires_at_unix_ms == 0 => -1,
                Some(field) => {
                    field.expires_at_unix_ms = 0;
                    1
                }
            })
            .collect();
        Ok((store_or_delete(h.encode(), h.is_empty()), out))
    });
    reply_with(result, reply, |out, reply| int_array(&out, reply));
}

fn int_array(values: &[i64], reply: &mut Reply) {
    reply.array(values.len());
    for &v in values {
        reply.integer(v);
    }
}
