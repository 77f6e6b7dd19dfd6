//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE,
//! SINTER, SUNION, SDIFF and their STORE forms, SINTERCARD, SSCAN.
//!
//! A set is one entry to the store (see `larder_runtime::value::set`). The commands over several
//! sets (SINTER, SUNION, SDIFF, the STORE forms) read each source under its own shard lock, one
//! after another: unlike Redis they are not atomic against writes to the sources made meanwhile.
//! SMOVE is atomic (both keys locked together).

use indexmap::IndexSet;
use larder_runtime::value::{Set, set};
use larder_runtime::{Change, Expiry, Store, StoreError, ValueKind};
use rand::Rng;
use rand::seq::index::sample;

use super::collection::{read, reply_with, scan_args, scan_reply, store_or_delete};
use super::{Args, is, not_an_integer, parse_i64, store_error, syntax_error};
use crate::resp::reply::Reply;

const KIND: ValueKind = ValueKind::Set;

/// `SADD key member …`: members added.
pub fn sadd(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let result = store.update_as(args.get(1), KIND, |current| {
        let mut s = Set::decode_or_empty(current)?;
        let added = args
            .from(2)
            .filter(|m| s.members.insert(m.to_vec()))
            .count();
        if added == 0 {
            return Ok((Change::Keep, 0));
        }
        Ok((store_or_delete(s.encode(), false), added as i64))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

/// `SREM key member …`: members removed; the key goes with its last member.
pub fn srem(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, 0));
        };
        let mut s = Set::decode(bytes)?;
        let removed = args.from(2).filter(|m| s.members.swap_remove(*m)).count();
        // Nothing removed: the key is left as it was (no write, no notification).
        let change = if removed == 0 {
            larder_runtime::Change::Keep
        } else {
            store_or_delete(s.encode(), s.is_empty())
        };
        Ok((change, removed as i64))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

/// Members as Redis answers them: a set (`~`) in RESP3, an array in RESP2.
fn members_reply(members: &[&[u8]], reply: &mut Reply) {
    reply.set(members.len());
    members.iter().for_each(|m| reply.bulk(m));
}

pub fn smembers(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.set(0),
        |bytes, reply| {
            let members: Vec<&[u8]> = set::members(bytes).collect();
            members_reply(&members, reply);
        },
    );
}

pub fn sismember(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let member = args.get(2);
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| reply.integer(i64::from(set::contains(bytes, member))),
    );
}

pub fn smismember(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let n = args.len() - 2;
    let none = |reply: &mut Reply| {
        reply.array(n);
        (0..n).for_each(|_| reply.integer(0));
    };
    read(store, args.get(1), KIND, reply, none, |bytes, reply| {
        let members: std::collections::HashSet<&[u8]> = set::members(bytes).collect();
        reply.array(n);
        for m in args.from(2) {
            reply.integer(i64::from(members.contains(m)));
        }
    });
}

pub fn scard(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| reply.integer(set::len(bytes) as i64),
    );
}

/// The optional count of SPOP / SRANDMEMBER; errors replied.
fn count_arg(args: &Args<'_>, reply: &mut Reply) -> Option<Option<i64>> {
    match args.len() {
        2 => Some(None),
        3 => match parse_i64(args.get(2)) {
            Some(n) => Some(Some(n)),
            None => {
                not_an_integer(reply);
                None
            }
        },
        _ => {
            syntax_error(reply);
            None
        }
    }
}

/// `SPOP key [count]`: remove and return random members.
pub fn spop(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(count) = count_arg(args, reply) else {
        return;
    };
    if count.is_some_and(|n| n < 0) {
        return reply.error("ERR value is out of range, must be positive");
    }
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, Vec::new()));
        };
        let mut s = Set::decode(bytes)?;
        let n = (count.unwrap_or(1) as usize).min(s.len());
        let mut rng = rand::rng();
        let popped: Vec<Vec<u8>> = (0..n)
            .filter_map(|_| {
                let i = rng.random_range(0..s.members.len());
                s.members.swap_remove_index(i)
            })
            .collect();
        Ok((store_or_delete(s.encode(), s.is_empty()), popped))
    });
    reply_with(result, reply, |popped, reply| match count {
        None => match popped.first() {
            Some(m) => reply.bulk(m),
            None => reply.null(),
        },
        Some(_) => {
            let members: Vec<&[u8]> = popped.iter().map(Vec::as_slice).collect();
            members_reply(&members, reply);
        }
    });
}

/// `SRANDMEMBER key [count]`: random members; a negative count may repeat them.
pub fn srandmember(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(count) = count_arg(args, reply) else {
        return;
    };
    if count.is_some_and(|n| n.checked_abs().is_none_or(|a| a > i64::MAX / 2)) {
        return reply.error("ERR value is out of range");
    }
    let missing = move |reply: &mut Reply| match count {
        None => reply.null(),
        Some(_) => reply.array(0),
    };
    read(store, args.get(1), KIND, reply, missing, |bytes, reply| {
        let members: Vec<&[u8]> = set::members(bytes).collect();
        let mut rng = rand::rng();
        match count {
            None => match members.len() {
                0 => reply.null(),
                n => reply.bulk(members[rng.random_range(0..n)]),
            },
            Some(n) if n >= 0 => {
                let n = (n as usize).min(members.len());
                let picked = sample(&mut rng, members.len(), n);
                reply.array(n);
                picked.iter().for_each(|i| reply.bulk(members[i]));
            }
            Some(_) if members.is_empty() => reply.array(0),
            Some(n) => {
                reply.array(n.unsigned_abs() as usize);
                for _ in 0..n.unsigned_abs() {
                    reply.bulk(members[rng.random_range(0..members.len())]);
                }
            }
        }
    });
}

/// `SMOVE source destination member`: 1 if moved, 0 if not in the source.
pub fn smove(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let (src, dst, member) = (args.get(1), args.get(2), args.get(3));
    if src == dst {
        // Nothing moves; the answer is whether the member is there (and the type is checked).
        return read(
            store,
            src,
            KIND,
            reply,
            |r| r.integer(0),
            |bytes, reply| reply.integer(i64::from(set::contains(bytes, member))),
        );
    }
    // Redis answers 0 for a missing source before it looks at the destination's type.
    if store.kind(src).is_none() {
        return reply.integer(0);
    }
    let result = store.update_pair_as((src, dst), KIND, |a, b| {
        let Some(a) = a else {
            return Ok((Change::Keep, Change::Keep, 0));
        };
        let mut source = Set::decode(a)?;
        if !source.members.swap_remove(member) {
            return Ok((Change::Keep, Change::Keep, 0));
        }
        let mut target = Set::decode_or_empty(b)?;
        // A member the destination already has leaves it untouched (a WATCH on it holds).
        let target_change = if target.members.insert(member.to_vec()) {
            store_or_delete(target.encode(), false)
        } else {
            Change::Keep
        };
        Ok((
            store_or_delete(source.encode(), source.is_empty()),
            target_change,
            1,
        ))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Algebra {
    Inter,
    Union,
    Diff,
}

/// The members of each of `keys` (an absent key is an empty set); WRONGTYPE if one is not a set.
fn load(
    store: &Store,
    keys: impl Iterator<Item = impl AsRef<[u8]>>,
) -> Result<Vec<Set>, StoreError> {
    keys.map(|key| match store.read(key.as_ref(), KIND, Set::decode)? {
        Some(set) => set,
        None => Ok(Set::default()),
    })
    .collect()
}

fn combine(op: Algebra, sets: Vec<Set>) -> IndexSet<Vec<u8>> {
    let mut sets = sets.into_iter();
    let Some(first) = sets.next() else {
        return IndexSet::new();
    };
    let mut acc = first.members;
    for s in sets {
        match op {
            Algebra::Inter => acc.retain(|m| s.members.contains(m)),
            Algebra::Union => acc.extend(s.members),
            Algebra::Diff => acc.retain(|m| !s.members.contains(m)),
        }
    }
    acc
}

/// `SINTER`/`SUNION`/`SDIFF key …`
pub fn algebra(store: &Store, args: &Args<'_>, op: Algebra, reply: &mut Reply) {
    match load(store, args.from(1)) {
        Ok(sets) => {
            let result = combine(op, sets);
            let members: Vec<&[u8]> = result.iter().map(Vec::as_slice).collect();
            members_reply(&members, reply);
        }
        Err(e) => store_error(&e, reply),
    }
}

/// `SINTERSTORE`/`SUNIONSTORE`/`SDIFFSTORE destination key …`: the result's size. The
/// destination is replaced (whatever it held) or deleted when the result is empty.
pub fn algebra_store(store: &Store, args: &Args<'_>, op: Algebra, reply: &mut Reply) {
    let result = match load(store, args.from(2)) {
        Ok(sets) => combine(op, sets),
        Err(e) => return store_error(&e, reply),
    };
    let dst = args.get(1);
    let size = result.len();
    store.delete(dst);
    if size > 0 {
        let encoded = Set { members: result }.encode();
        let written = store.update_as(dst, KIND, |_| {
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
    reply.integer(size as i64);
}

/// `SINTERCARD numkeys key … [LIMIT limit]`
pub fn sintercard(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let numkeys = match parse_i64(args.get(1)) {
        Some(n) if n > 0 => n as usize,
        _ => return reply.error("ERR numkeys should be greater than 0"),
    };
    if args.len() < 2 + numkeys {
        return reply.error("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let rest = 2 + numkeys;
    if args.len() > rest {
        if args.len() != rest + 2 || !is(args.get(rest), "LIMIT") {
            return syntax_error(reply);
        }
        match parse_i64(args.get(rest + 1)) {
            Some(n) if n >= 0 => limit = n as usize,
            _ => return reply.error("ERR LIMIT can't be negative"),
        }
    }
    match load(store, args.from(2).take(numkeys)) {
        Ok(sets) => {
            let n = combine(Algebra::Inter, sets).len();
            reply.integer(if limit > 0 { n.min(limit) } else { n } as i64);
        }
        Err(e) => store_error(&e, reply),
    }
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`
pub fn sscan(store: &Store, args: &Args<'_>, reply: &mut Reply) {
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
            let items: Vec<&[u8]> = set::members(bytes).filter(|m| scan.matches(m)).collect();
            scan_reply(&items, reply);
        },
    );
}
