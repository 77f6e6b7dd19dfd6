//! Sorted-set commands over several keys: ZUNION, ZINTER, ZDIFF and their STORE forms,
//! ZINTERCARD, ZRANGESTORE, ZMPOP.
//!
//! Sources may be sorted sets or plain sets (members of a set score 1, as in Redis). Each source
//! is read under its own shard lock, one after another, and the destination written last: unlike
//! Redis these are not atomic against writes made to the sources meanwhile (see `sets`).

use std::collections::HashMap;

use larder_runtime::value::{SortedSet, set, zset};
use larder_runtime::{Change, Expiry, Store, StoreError, ValueKind};

use super::collection::reply_with;
use super::string_edits::parse_float;
use super::zsets::{RangeBy, elements_reply, range_positions};
use super::{Args, is, not_an_integer, parse_i64, store_error, syntax_error};
use crate::resp::reply::Reply;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// The members and scores of `key` as a sorted set: a set's members score 1; absent is empty.
fn load(store: &Store, key: &[u8]) -> Result<Vec<(f64, Vec<u8>)>, StoreError> {
    let loaded = store.peek(key, |kind, bytes| match kind {
        ValueKind::SortedSet => Ok(zset::items(bytes).map(|(s, m)| (s, m.to_vec())).collect()),
        ValueKind::Set => Ok(set::members(bytes).map(|m| (1.0, m.to_vec())).collect()),
        _ => Err(StoreError::WrongType),
    });
    loaded.unwrap_or_else(|| Ok(Vec::new()))
}

/// `numkeys key …` from argument `at`: the keys, and where the options start. Errors replied,
/// worded as Redis words them for `name` (the combining commands and the counting / popping
/// ones differ).
fn keys_arg<'a>(
    args: &Args<'a>,
    at: usize,
    name: &str,
    reply: &mut Reply,
) -> Option<(Vec<&'a [u8]>, usize)> {
    let combining = !matches!(name, "zmpop" | "bzmpop");
    let n = match parse_i64(args.get(at)) {
        Some(n) if n > 0 => n as usize,
        Some(_) if combining => {
            reply.error_fmt(format_args!(
                "ERR at least 1 input key is needed for '{name}' command"
            ));
            return None;
        }
        None if combining => {
            not_an_integer(reply);
            return None;
        }
        _ => {
            reply.error("ERR numkeys should be greater than 0");
            return None;
        }
    };
    if args.len() < at + 1 + n {
        syntax_error(reply);
        return None;
    }
    Some((args.from(at + 1).take(n).collect(), at + 1 + n))
}

/// What a combine command computed: members with their scores, in result order.
fn combine(
    store: &Store,
    op: Combine,
    keys: &[&[u8]],
    weights: &[f64],
    aggregate: Aggregate,
) -> Result<SortedSet, StoreError> {
    let mut sources = Vec::with_capacity(keys.len());
    for key in keys {
        sources.push(load(store, key)?);
    }
    let weight = |i: usize| weights.get(i).copied().unwrap_or(1.0);
    let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
    let mut order: Vec<Vec<u8>> = Vec::new();
    let weighted = |score: f64, w: f64| {
        let x = score * w;
        // inf * 0 is NaN in IEEE arithmetic; Redis counts it as 0.
        if x.is_nan() { 0.0 } else { x }
    };
    let aggregate_with = |a: f64, b: f64| match aggregate {
        Aggregate::Sum => {
            let s = a + b;
            // inf + -inf: Redis answers 0 rather than NaN.
            if s.is_nan() { 0.0 } else { s }
        }
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    };
    match op {
        Combine::Union => {
            for (i, source) in sources.into_iter().enumerate() {
                for (score, member) in source {
                    let s = weighted(score, weight(i));
                    match acc.get_mut(&member) {
                        Some(existing) => *existing = aggregate_with(*existing, s),
                        None => {
                            order.push(member.clone());
                            acc.insert(member, s);
                        }
                    }
                }
            }
        }
        Combine::Inter => {
            let mut iter = sources.into_iter().enumerate();
            if let Some((i, first)) = iter.next() {
                for (score, member) in first {
                    order.push(member.clone());
                    acc.insert(member, weighted(score, weight(i)));
                }
            }
            for (i, source) in iter {
                let here: HashMap<Vec<u8>, f64> = source.into_iter().map(|(s, m)| (m, s)).collect();
                acc.retain(|member, score| match here.get(member) {
                    Some(&s) => {
                        *score = aggregate_with(*score, weighted(s, weight(i)));
                        true
                    }
                    None => false,
                });
            }
        }
        Combine::Diff => {
            let mut iter = sources.into_iter();
            if let Some(first) = iter.next() {
                for (score, member) in first {
                    order.push(member.clone());
                    acc.insert(member, score);
                }
            }
            for source in iter {
                for (_, member) in source {
                    acc.remove(&member);
                }
            }
        }
    }
    let mut result = SortedSet::default();
    for member in order {
        if let Some(&score) = acc.get(&member) {
            result.insert(&member, score);
        }
    }
    Ok(result)
}

/// `ZUNION|ZINTER|ZDIFF numkeys key … [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]` and,
/// with `store_into`, their STORE forms (`destination numkeys key …`, answering the size).
pub fn zcombine(store: &Store, args: &Args<'_>, op: Combine, store_into: bool, reply: &mut Reply) {
    let name = args.get(0).to_ascii_lowercase();
    let name = String::from_utf8_lossy(&name);
    let at = if store_into { 2 } else { 1 };
    let Some((keys, mut i)) = keys_arg(args, at, &name, reply) else {
        return;
    };
    let mut weights = Vec::new();
    let mut aggregate = Aggregate::Sum;
    let mut with_scores = false;
    while i < args.len() {
        let a = args.get(i);
        if op != Combine::Diff && is(a, "WEIGHTS") && i + keys.len() < args.len() {
            for w in args.from(i + 1).take(keys.len()) {
                match parse_float(w) {
                    Some(w) => weights.push(w),
                    None => return reply.error("ERR weight value is not a float"),
                }
            }
            i += 1 + keys.len();
            continue;
        } else if op != Combine::Diff && is(a, "AGGREGATE") && i + 1 < args.len() {
            let v = args.get(i + 1);
            aggregate = if is(v, "SUM") {
                Aggregate::Sum
            } else if is(v, "MIN") {
                Aggregate::Min
            } else if is(v, "MAX") {
                Aggregate::Max
            } else {
                return syntax_error(reply);
            };
            i += 2;
            continue;
        } else if !store_into && is(a, "WITHSCORES") {
            with_scores = true;
        } else {
            return syntax_error(reply);
        }
        i += 1;
    }
    let result = match combine(store, op, &keys, &weights, aggregate) {
        Ok(r) => r,
        Err(e) => return store_error(&e, reply),
    };
    if store_into {
        return write_result(store, args.get(1), &result, reply);
    }
    let items: Vec<(f64, &[u8])> = result
        .items()
        .iter()
        .map(|(s, m)| (*s, m.as_slice()))
        .collect();
    elements_reply(&items, with_scores, reply);
}

/// Replace `dst` (whatever it held) with `result`, or delete it when empty; reply the size.
fn write_result(store: &Store, dst: &[u8], result: &SortedSet, reply: &mut Reply) {
    store.delete(dst);
    if !result.is_empty() {
        let encoded = result.encode();
        let written = store.update_as(dst, ValueKind::SortedSet, |_| {
            Ok((
                Change::Put {
                    value: encoded,
                    expiry: Expiry::Default,
                },
                (),
            ))
        });
        if let Err(e) = written {
            return store_error(&e, reply);
        }
    }
    reply.integer(result.len() as i64);
}

/// `ZINTERCARD numkeys key … [LIMIT limit]`
pub fn zintercard(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some((keys, i)) = keys_arg(args, 1, "zintercard", reply) else {
        return;
    };
    let mut limit = 0usize;
    if i < args.len() {
        if args.len() != i + 2 || !is(args.get(i), "LIMIT") {
            return syntax_error(reply);
        }
        match parse_i64(args.get(i + 1)) {
            Some(n) if n >= 0 => limit = n as usize,
            _ => return reply.error("ERR LIMIT can't be negative"),
        }
    }
    match combine(store, Combine::Inter, &keys, &[], Aggregate::Sum) {
        Ok(r) => reply.integer(if limit > 0 {
            r.len().min(limit)
        } else {
            r.len()
        } as i64),
        Err(e) => store_error(&e, reply),
    }
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: the stored size.
pub fn zrangestore(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let mut by = RangeBy::Rank;
    let mut rev = false;
    let mut limit = None;
    let mut i = 5;
    while i < args.len() {
        let a = args.get(i);
        if is(a, "BYSCORE") {
            by = RangeBy::Score;
        } else if is(a, "BYLEX") {
            by = RangeBy::Lex;
        } else if is(a, "REV") {
            rev = true;
        } else if is(a, "LIMIT") && i + 2 < args.len() {
            let (Some(o), Some(c)) = (parse_i64(args.get(i + 1)), parse_i64(args.get(i + 2)))
            else {
                return not_an_integer(reply);
            };
            limit = Some((o, c));
            i += 2;
        } else {
            return syntax_error(reply);
        }
        i += 1;
    }
    if limit.is_some() && by == RangeBy::Rank {
        return reply.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    let src = args.get(2);
    let source = match store.read(src, ValueKind::SortedSet, SortedSet::decode) {
        Ok(Some(Ok(z))) => z,
        Ok(Some(Err(e))) | Err(e) => return store_error(&e, reply),
        Ok(None) => SortedSet::default(),
    };
    let Some(positions) = range_positions(&source, by, rev, limit, args.get(3), args.get(4), reply)
    else {
        return;
    };
    let mut result = SortedSet::default();
    for i in positions {
        let (score, member) = &source.items()[i];
        result.insert(member, *score);
    }
    write_result(store, args.get(1), &result, reply);
}

/// `ZMPOP numkeys key … MIN|MAX [COUNT count]`: `[key, [[member, score] …]]` from the first
/// non-empty key, or nil.
pub fn zmpop(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some((keys, max, count)) = zmpop_args(args, 1, "zmpop", reply) else {
        return;
    };
    reply_with(
        zpop_first(store, keys, max, count),
        reply,
        |popped, reply| match popped {
            Some((key, popped)) => zmpop_reply(key, &popped, reply),
            None => reply.null_array(),
        },
    );
}

/// `numkeys key … MIN|MAX [COUNT count]` from argument `at` (ZMPOP at 1, BZMPOP at 2): the
/// keys, whether MAX, and the count; errors replied.
pub(super) fn zmpop_args<'a>(
    args: &Args<'a>,
    at: usize,
    name: &str,
    reply: &mut Reply,
) -> Option<(Vec<&'a [u8]>, bool, usize)> {
    let (keys, i) = keys_arg(args, at, name, reply)?;
    let max = match args.get(i) {
        a if is(a, "MIN") => false,
        a if is(a, "MAX") => true,
        _ => {
            syntax_error(reply);
            return None;
        }
    };
    let count = match args.len() - i {
        1 => 1,
        3 if is(args.get(i + 1), "COUNT") => match parse_i64(args.get(i + 2)) {
            Some(n) if n > 0 => n as usize,
            _ => {
                reply.error("ERR count should be greater than 0");
                return None;
            }
        },
        _ => {
            syntax_error(reply);
            return None;
        }
    };
    Some((keys, max, count))
}

/// The key a multi-key pop took from, and its popped `(score, member)`s.
pub(super) type ZPopped<'k> = (&'k [u8], Vec<(f64, Vec<u8>)>);

/// Pop up to `count` lowest (or, with `max`, highest) elements of the first non-empty sorted
/// set among `keys`: that key and its popped `(score, member)`s, or `None`.
pub(super) fn zpop_first<'k>(
    store: &Store,
    keys: impl IntoIterator<Item = &'k [u8]>,
    max: bool,
    count: usize,
) -> Result<Option<ZPopped<'k>>, StoreError> {
    for key in keys {
        let popped = store.update_as(key, ValueKind::SortedSet, |current| {
            let Some(bytes) = current else {
                return Ok((Change::Keep, Vec::new()));
            };
            let mut z = SortedSet::decode(bytes)?;
            let n = count.min(z.len());
            let popped = if max {
                let mut top = z.drain(z.len() - n..z.len());
                top.reverse();
                top
            } else {
                z.drain(0..n)
            };
            let change = if z.is_empty() {
                Change::Delete
            } else {
                Change::Put {
                    value: z.encode(),
                    expiry: Expiry::Keep,
                }
            };
            Ok((change, popped))
        })?;
        if !popped.is_empty() {
            return Ok(Some((key, popped)));
        }
    }
    Ok(None)
}

/// `[key, [[member, score] …]]`, ZMPOP's and BZMPOP's answer.
pub(super) fn zmpop_reply(key: &[u8], popped: &[(f64, Vec<u8>)], reply: &mut Reply) {
    reply.array(2);
    reply.bulk(key);
    reply.array(popped.len());
    for (score, member) in popped {
        reply.array(2);
        reply.bulk(member);
        reply.double(*score);
    }
}
