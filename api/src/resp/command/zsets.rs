//! Sorted-set commands: ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD,
//! ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK, ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES) and its
//! older forms (ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX),
//! ZREMRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYLEX, ZPOPMIN, ZPOPMAX, ZRANDMEMBER, ZSCAN.
//!
//! A sorted set is one entry to the store (see `larder_runtime::value::zset`): the sliding-window
//! rate limiter's `ZREMRANGEBYSCORE` + `ZADD` + `ZCARD` each run under the key's shard lock.

use larder_runtime::value::zset::{LexBound, ScoreBound};
use larder_runtime::value::{SortedSet, zset};
use larder_runtime::{Change, Store, StoreError, ValueKind};
use rand::Rng;
use rand::seq::index::sample;

use super::collection::{index_range, read, reply_with, scan_args, scan_reply, store_or_delete};
use super::string_edits::parse_float;
use super::{Args, is, not_an_integer, parse_i64, syntax_error};
use crate::resp::reply::{Protocol, Reply};

const KIND: ValueKind = ValueKind::SortedSet;

fn not_a_float(reply: &mut Reply) {
    reply.error("ERR value is not a valid float");
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member …]`
pub fn zadd(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        match () {
            _ if is(a, "NX") => nx = true,
            _ if is(a, "XX") => xx = true,
            _ if is(a, "GT") => gt = true,
            _ if is(a, "LT") => lt = true,
            _ if is(a, "CH") => ch = true,
            _ if is(a, "INCR") => incr = true,
            _ => break,
        }
        i += 1;
    }
    let rest = args.len() - i;
    if rest == 0 || !rest.is_multiple_of(2) {
        return syntax_error(reply);
    }
    if nx && xx {
        return reply.error("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return reply.error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && rest > 2 {
        return reply.error("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(rest / 2);
    let mut it = args.from(i);
    while let (Some(score), Some(member)) = (it.next(), it.next()) {
        let Some(score) = parse_float(score) else {
            return not_a_float(reply);
        };
        pairs.push((score, member));
    }
    let result = store.update_as(args.get(1), KIND, |current| {
        let mut z = SortedSet::decode_or_empty(current)?;
        let (mut added, mut changed) = (0i64, 0i64);
        let mut incr_result = None;
        for &(score, member) in &pairs {
            let old = z.score(member);
            if (nx && old.is_some()) || (xx && old.is_none()) {
                continue;
            }
            let new = match (incr, old) {
                (true, Some(old)) => old + score,
                _ => score,
            };
            if new.is_nan() {
                return Err(StoreError::Refused("resulting score is not a number (NaN)"));
            }
            if let Some(old) = old
                && ((gt && new <= old) || (lt && new >= old))
            {
                continue;
            }
            match old {
                None => added += 1,
                Some(old) if old != new => changed += 1,
                Some(_) => {}
            }
            z.insert(member, new);
            incr_result = Some(new);
        }
        let change = if added + changed == 0 {
            Change::Keep
        } else {
            store_or_delete(z.encode(), z.is_empty())
        };
        Ok((change, (added, changed, incr_result)))
    });
    reply_with(result, reply, |(added, changed, incr_result), reply| {
        if incr {
            match incr_result {
                Some(score) => reply.double(score),
                None => reply.null(),
            }
        } else {
            reply.integer(if ch { added + changed } else { added })
        }
    });
}

/// `ZINCRBY key increment member`: the new score.
pub fn zincrby(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(delta) = parse_float(args.get(2)) else {
        return not_a_float(reply);
    };
    let member = args.get(3);
    let result = store.update_as(args.get(1), KIND, |current| {
        let mut z = SortedSet::decode_or_empty(current)?;
        // A new member's score is the increment itself (so `-0` answers `-0`, as in Redis).
        let new = z.score(member).map_or(delta, |old| old + delta);
        if new.is_nan() {
            return Err(StoreError::Refused("resulting score is not a number (NaN)"));
        }
        z.insert(member, new);
        Ok((store_or_delete(z.encode(), false), new))
    });
    reply_with(result, reply, |score, reply| reply.double(score));
}

pub fn zrem(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, 0));
        };
        let mut z = SortedSet::decode(bytes)?;
        let removed = args.from(2).filter(|m| z.remove(m)).count() as i64;
        // Nothing removed: the key is left as it was (no write, no notification).
        let change = if removed == 0 {
            larder_runtime::Change::Keep
        } else {
            store_or_delete(z.encode(), z.is_empty())
        };
        Ok((change, removed))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

pub fn zscore(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let member = args.get(2);
    read(
        store,
        args.get(1),
        KIND,
        reply,
        Reply::null,
        |bytes, reply| match zset::score(bytes, member) {
            Some(s) => reply.double(s),
            None => reply.null(),
        },
    );
}

pub fn zmscore(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let n = args.len() - 2;
    let nulls = |reply: &mut Reply| {
        reply.array(n);
        (0..n).for_each(|_| reply.null());
    };
    read(store, args.get(1), KIND, reply, nulls, |bytes, reply| {
        reply.array(n);
        for m in args.from(2) {
            match zset::score(bytes, m) {
                Some(s) => reply.double(s),
                None => reply.null(),
            }
        }
    });
}

pub fn zcard(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| reply.integer(zset::len(bytes) as i64),
    );
}

/// `(1.5`, `-inf`, `+inf`, `3` as a score bound.
fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, arg),
    };
    let score = parse_float(text)?;
    Some(ScoreBound { score, exclusive })
}

fn score_bounds(min: &[u8], max: &[u8], reply: &mut Reply) -> Option<(ScoreBound, ScoreBound)> {
    match (score_bound(min), score_bound(max)) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => {
            reply.error("ERR min or max is not a float");
            None
        }
    }
}

/// `[a`, `(a`, `-`, `+` as a lexicographic bound.
fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg.split_first() {
        Some((b'-', [])) => Some(LexBound::Min),
        Some((b'+', [])) => Some(LexBound::Max),
        Some((b'[', rest)) => Some(LexBound::Inclusive(rest.to_vec())),
        Some((b'(', rest)) => Some(LexBound::Exclusive(rest.to_vec())),
        _ => None,
    }
}

fn lex_bounds(min: &[u8], max: &[u8], reply: &mut Reply) -> Option<(LexBound, LexBound)> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => {
            reply.error("ERR min or max not valid string range item");
            None
        }
    }
}

/// `ZCOUNT key min max`
pub fn zcount(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some((min, max)) = score_bounds(args.get(2), args.get(3), reply) else {
        return;
    };
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| match SortedSet::decode(bytes) {
            Ok(z) => reply.integer(z.score_range(min, max).len() as i64),
            Err(_) => reply.integer(0),
        },
    );
}

/// `ZLEXCOUNT key min max`
pub fn zlexcount(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some((min, max)) = lex_bounds(args.get(2), args.get(3), reply) else {
        return;
    };
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| match SortedSet::decode(bytes) {
            Ok(z) => reply.integer(z.lex_range(&min, &max).len() as i64),
            Err(_) => reply.integer(0),
        },
    );
}

/// `ZRANK key member [WITHSCORE]` (`rev`: ZREVRANK).
pub fn zrank(store: &Store, args: &Args<'_>, rev: bool, reply: &mut Reply) {
    let with_score = match args.len() {
        3 => false,
        4 if is(args.get(3), "WITHSCORE") => true,
        _ => return syntax_error(reply),
    };
    let member = args.get(2);
    let missing = move |reply: &mut Reply| {
        if with_score {
            reply.null_array()
        } else {
            reply.null()
        }
    };
    read(store, args.get(1), KIND, reply, missing, |bytes, reply| {
        let Ok(z) = SortedSet::decode(bytes) else {
            return missing(reply);
        };
        let Some(rank) = z.rank(member) else {
            return missing(reply);
        };
        let rank = if rev { z.len() - 1 - rank } else { rank };
        if with_score {
            reply.array(2);
            reply.integer(rank as i64);
            reply.double(z.score(member).unwrap_or_default());
        } else {
            reply.integer(rank as i64);
        }
    });
}

/// How a range command names its range.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RangeBy {
    Rank,
    Score,
    Lex,
}

/// A parsed range request: which elements, in which direction, which page.
struct RangeQuery {
    by: RangeBy,
    rev: bool,
    /// `LIMIT offset count` (count < 0: all from offset).
    limit: Option<(i64, i64)>,
    with_scores: bool,
    start: Vec<u8>,
    stop: Vec<u8>,
}

impl RangeQuery {
    /// The positions, in the order to return them, of the elements of `z` in range.
    fn positions(&self, z: &SortedSet, reply: &mut Reply) -> Option<Vec<usize>> {
        let len = z.len();
        let mut positions: Vec<usize> = match self.by {
            RangeBy::Rank => {
                let (Some(start), Some(stop)) = (parse_i64(&self.start), parse_i64(&self.stop))
                else {
                    not_an_integer(reply);
                    return None;
                };
                match index_range(start, stop, len) {
                    None => Vec::new(),
                    Some(r) if self.rev => r.map(|i| len - 1 - i).collect(),
                    Some(r) => r.collect(),
                }
            }
            RangeBy::Score => {
                // Reversed ranges name the upper end first.
                let (lo, hi) = if self.rev {
                    (&self.stop, &self.start)
                } else {
                    (&self.start, &self.stop)
                };
                let (min, max) = score_bounds(lo, hi, reply)?;
                ordered(z.score_range(min, max), self.rev)
            }
            RangeBy::Lex => {
                let (lo, hi) = if self.rev {
                    (&self.stop, &self.start)
                } else {
                    (&self.start, &self.stop)
                };
                let (min, max) = lex_bounds(lo, hi, reply)?;
                ordered(z.lex_range(&min, &max), self.rev)
            }
        };
        if let Some((offset, count)) = self.limit {
            if offset < 0 {
                positions.clear();
            } else {
                let offset = (offset as usize).min(positions.len());
                positions.drain(..offset);
                if count >= 0 {
                    positions.truncate(count as usize);
                }
            }
        }
        Some(positions)
    }
}

fn ordered(range: std::ops::Range<usize>, rev: bool) -> Vec<usize> {
    if rev {
        range.rev().collect()
    } else {
        range.collect()
    }
}

/// The positions, in reply order, of the elements of `z` that `start`/`stop` name `by` rank,
/// score or member, reversed with `rev`, paged with `limit`; errors replied (ZRANGESTORE).
pub(super) fn range_positions(
    z: &SortedSet,
    by: RangeBy,
    rev: bool,
    limit: Option<(i64, i64)>,
    start: &[u8],
    stop: &[u8],
    reply: &mut Reply,
) -> Option<Vec<usize>> {
    let q = RangeQuery {
        by,
        rev,
        limit,
        with_scores: false,
        start: start.to_vec(),
        stop: stop.to_vec(),
    };
    if !bounds_valid(&q, reply) {
        return None;
    }
    q.positions(z, reply)
}

/// Elements with or without scores: `[m, s, m, s]` in RESP2, `[[m, s], …]` in RESP3.
pub(super) fn elements_reply(items: &[(f64, &[u8])], with_scores: bool, reply: &mut Reply) {
    let nested = with_scores && reply.protocol == Protocol::Resp3;
    if with_scores && !nested {
        reply.array(items.len() * 2);
    } else {
        reply.array(items.len());
    }
    for &(score, member) in items {
        if nested {
            reply.array(2);
        }
        reply.bulk(member);
        if with_scores {
            reply.double(score);
        }
    }
}

/// Parse the options after `key start stop` from argument `at`. `form` fixes BY and REV for the
/// older commands (ZRANGEBYSCORE …); `None` is ZRANGE, which takes them as options.
fn range_query(
    args: &Args<'_>,
    at: usize,
    form: Option<(RangeBy, bool)>,
    reply: &mut Reply,
) -> Option<RangeQuery> {
    let mut q = RangeQuery {
        by: form.map_or(RangeBy::Rank, |f| f.0),
        rev: form.is_some_and(|f| f.1),
        limit: None,
        with_scores: false,
        start: args.get(2).to_vec(),
        stop: args.get(3).to_vec(),
    };
    let mut i = at;
    while i < args.len() {
        let a = args.get(i);
        if is(a, "WITHSCORES") {
            q.with_scores = true;
        } else if is(a, "LIMIT") && i + 2 < args.len() {
            let (Some(o), Some(c)) = (parse_i64(args.get(i + 1)), parse_i64(args.get(i + 2)))
            else {
                not_an_integer(reply);
                return None;
            };
            q.limit = Some((o, c));
            i += 2;
        } else if form.is_none() && is(a, "BYSCORE") {
            q.by = RangeBy::Score;
        } else if form.is_none() && is(a, "BYLEX") {
            q.by = RangeBy::Lex;
        } else if form.is_none() && is(a, "REV") {
            q.rev = true;
        } else {
            syntax_error(reply);
            return None;
        }
        i += 1;
    }
    // Redis lets `LIMIT 0 -1` (no limit at all) through on a rank range.
    if q.limit.is_some_and(|l| l != (0, -1)) && q.by == RangeBy::Rank {
        reply.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return None;
    }
    if q.with_scores && q.by == RangeBy::Lex {
        reply.error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return None;
    }
    Some(q)
}

/// ZRANGE and its older forms; `form` as in [`range_query`].
pub fn zrange(store: &Store, args: &Args<'_>, form: Option<(RangeBy, bool)>, reply: &mut Reply) {
    let Some(q) = range_query(args, 4, form, reply) else {
        return;
    };
    // Bounds are checked before the key is read, so a bad bound is an error even on a missing key.
    if !bounds_valid(&q, reply) {
        return;
    }
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.array(0),
        |bytes, reply| {
            let Ok(z) = SortedSet::decode(bytes) else {
                return reply.array(0);
            };
            let Some(positions) = q.positions(&z, reply) else {
                return;
            };
            let items: Vec<(f64, &[u8])> = positions
                .iter()
                .map(|&i| (z.items()[i].0, z.items()[i].1.as_slice()))
                .collect();
            elements_reply(&items, q.with_scores, reply);
        },
    );
}

fn bounds_valid(q: &RangeQuery, reply: &mut Reply) -> bool {
    match q.by {
        RangeBy::Rank => {
            if parse_i64(&q.start).is_none() || parse_i64(&q.stop).is_none() {
                not_an_integer(reply);
                return false;
            }
            true
        }
        RangeBy::Score => score_bounds(&q.start, &q.stop, reply).is_some(),
        RangeBy::Lex => lex_bounds(&q.start, &q.stop, reply).is_some(),
    }
}

/// `ZREMRANGEBYSCORE`/`ZREMRANGEBYRANK`/`ZREMRANGEBYLEX key min max`: elements removed.
pub fn zremrange(store: &Store, args: &Args<'_>, by: RangeBy, reply: &mut Reply) {
    let q = RangeQuery {
        by,
        rev: false,
        limit: None,
        with_scores: false,
        start: args.get(2).to_vec(),
        stop: args.get(3).to_vec(),
    };
    if !bounds_valid(&q, reply) {
        return;
    }
    let mut scratch = Reply::new(0);
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, 0));
        };
        let mut z = SortedSet::decode(bytes)?;
        let positions = q.positions(&z, &mut scratch).unwrap_or_default();
        let Some((&first, &last)) = positions.first().zip(positions.last()) else {
            return Ok((Change::Keep, 0));
        };
        let removed = z.drain(first..last + 1).len() as i64;
        // Nothing removed: the key is left as it was (no write, no notification).
        let change = if removed == 0 {
            larder_runtime::Change::Keep
        } else {
            store_or_delete(z.encode(), z.is_empty())
        };
        Ok((change, removed))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

/// `ZPOPMIN`/`ZPOPMAX key [count]`
pub fn zpop(store: &Store, args: &Args<'_>, max: bool, reply: &mut Reply) {
    let count = match args.len() {
        2 => None,
        3 => match parse_i64(args.get(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return reply.error("ERR value is out of range, must be positive"),
        },
        _ => return syntax_error(reply),
    };
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, Vec::new()));
        };
        let mut z = SortedSet::decode(bytes)?;
        let n = count.unwrap_or(1).min(z.len());
        let popped = if max {
            let mut top = z.drain(z.len() - n..z.len());
            top.reverse();
            top
        } else {
            z.drain(0..n)
        };
        Ok((store_or_delete(z.encode(), z.is_empty()), popped))
    });
    reply_with(result, reply, |popped, reply| {
        let items: Vec<(f64, &[u8])> = popped.iter().map(|(s, m)| (*s, m.as_slice())).collect();
        match count {
            // Without a count: one flat [member, score] pair (empty when nothing was there).
            None => {
                reply.array(items.len() * 2);
                for (s, m) in items {
                    reply.bulk(m);
                    reply.double(s);
                }
            }
            Some(_) => elements_reply(&items, true, reply),
        }
    });
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub fn zrandmember(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let count = match args.len() {
        2 => None,
        3 | 4 => match parse_i64(args.get(2)) {
            Some(n) if n.checked_abs().is_some_and(|a| a <= i64::MAX / 2) => Some(n),
            Some(_) => return reply.error("ERR value is out of range"),
            None => return not_an_integer(reply),
        },
        _ => return syntax_error(reply),
    };
    let with_scores = args.len() == 4;
    if with_scores && !is(args.get(3), "WITHSCORES") {
        return syntax_error(reply);
    }
    let missing = move |reply: &mut Reply| match count {
        None => reply.null(),
        Some(_) => reply.array(0),
    };
    read(store, args.get(1), KIND, reply, missing, |bytes, reply| {
        let all: Vec<(f64, &[u8])> = zset::items(bytes).collect();
        let mut rng = rand::rng();
        let picked: Vec<usize> = match count {
            None if all.is_empty() => return reply.null(),
            None => return reply.bulk(all[rng.random_range(0..all.len())].1),
            Some(n) if n >= 0 => {
                sample(&mut rng, all.len(), (n as usize).min(all.len())).into_vec()
            }
            Some(_) if all.is_empty() => Vec::new(),
            Some(n) => (0..n.unsigned_abs())
                .map(|_| rng.random_range(0..all.len()))
                .collect(),
        };
        let items: Vec<(f64, &[u8])> = picked.iter().map(|&i| all[i]).collect();
        elements_reply(&items, with_scores, reply);
    });
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: members and scores.
pub fn zscan(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(scan) = scan_args(args, false, reply) else {
        return;
    };
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| scan_reply(&[], r),
        |bytes, reply| {
            let scores: Vec<(String, &[u8])> = zset::items(bytes)
                .filter(|(_, m)| scan.matches(m))
                .map(|(s, m)| (crate::resp::reply::format_double(s), m))
                .collect();
            let mut items: Vec<&[u8]> = Vec::with_capacity(scores.len() * 2);
            for (s, m) in &scores {
                items.push(m);
                items.push(s.as_bytes());
            }
            scan_reply(&items, reply);
        },
    );
}
