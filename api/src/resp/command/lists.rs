//! List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LMPOP, LLEN, LRANGE, LINDEX, LSET,
//! LTRIM, LREM, LINSERT, LPOS, LMOVE, RPOPLPUSH. Blocking pops (BLPOP …) are not offered.
//!
//! A list is one entry to the store (see `larder_runtime::value::list`).

use larder_runtime::value::{List, list};
use larder_runtime::{Change, Store, StoreError, ValueKind};

use super::collection::{index_range, int_arg, read, reply_with, store_or_delete};
use super::{Args, is, not_an_integer, parse_i64, syntax_error};
use crate::resp::reply::Reply;

const KIND: ValueKind = ValueKind::List;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    pub(super) fn parse(arg: &[u8]) -> Option<Self> {
        if is(arg, "LEFT") {
            Some(Self::Left)
        } else if is(arg, "RIGHT") {
            Some(Self::Right)
        } else {
            None
        }
    }
}

fn push(l: &mut List, end: End, item: Vec<u8>) {
    match end {
        End::Left => l.items.push_front(item),
        End::Right => l.items.push_back(item),
    }
}

fn pop(l: &mut List, end: End) -> Option<Vec<u8>> {
    match end {
        End::Left => l.items.pop_front(),
        End::Right => l.items.pop_back(),
    }
}

/// `LPUSH`/`RPUSH key element …` (and the `X` forms, only onto an existing list): the new length.
pub fn lpush(store: &Store, args: &Args<'_>, end: End, only_existing: bool, reply: &mut Reply) {
    let result = store.update_as(args.get(1), KIND, |current| {
        if current.is_none() && only_existing {
            return Ok((Change::Keep, 0));
        }
        let mut l = List::decode_or_empty(current)?;
        for item in args.from(2) {
            push(&mut l, end, item.to_vec());
        }
        Ok((store_or_delete(l.encode(), false), l.len()))
    });
    reply_with(result, reply, |n, reply| reply.integer(n as i64));
}

/// `LPOP`/`RPOP key [count]`: one element (or nil), or with a count an array (nil when absent).
pub fn lpop(store: &Store, args: &Args<'_>, end: End, reply: &mut Reply) {
    let count = match args.len() {
        2 => None,
        3 => match parse_i64(args.get(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return reply.error("ERR value is out of range, must be positive"),
        },
        _ => {
            let name = if end == End::Left { "lpop" } else { "rpop" };
            return super::wrong_arity(name, reply);
        }
    };
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, None));
        };
        let mut l = List::decode(bytes)?;
        let n = count.unwrap_or(1).min(l.len());
        let popped: Vec<Vec<u8>> = (0..n).filter_map(|_| pop(&mut l, end)).collect();
        Ok((store_or_delete(l.encode(), l.is_empty()), Some(popped)))
    });
    reply_with(result, reply, |popped, reply| match (popped, count) {
        (None, None) => reply.null(),
        (None, Some(_)) => reply.null_array(),
        (Some(mut items), None) => match items.pop() {
            Some(item) => reply.bulk(&item),
            None => reply.null(),
        },
        (Some(items), Some(_)) => {
            reply.array(items.len());
            items.iter().for_each(|i| reply.bulk(i));
        }
    });
}

pub fn llen(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.integer(0),
        |bytes, reply| reply.integer(list::len(bytes) as i64),
    );
}

/// `LRANGE key start stop`
pub fn lrange(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let (Some(start), Some(stop)) = (parse_i64(args.get(2)), parse_i64(args.get(3))) else {
        return not_an_integer(reply);
    };
    read(
        store,
        args.get(1),
        KIND,
        reply,
        |r| r.array(0),
        |bytes, reply| match index_range(start, stop, list::len(bytes)) {
            None => reply.array(0),
            Some(range) => {
                reply.array(range.len());
                for item in list::items(bytes).skip(range.start).take(range.len()) {
                    reply.bulk(item);
                }
            }
        },
    );
}

/// A list index (negative from the end) as a position, if within the list.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

pub fn lindex(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    // As in Redis, the key (and its type) is looked at before the index.
    let index = parse_i64(args.get(2));
    read(
        store,
        args.get(1),
        KIND,
        reply,
        Reply::null,
        |bytes, reply| match index
            .map(|index| position(index, list::len(bytes)).and_then(|i| list::items(bytes).nth(i)))
        {
            None => not_an_integer(reply),
            Some(Some(item)) => reply.bulk(item),
            Some(None) => reply.null(),
        },
    );
}

/// `LSET key index element`
pub fn lset(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let index = parse_i64(args.get(2));
    let result = store.update_as(args.get(1), KIND, |current| {
        // As in Redis, the key (and its type) is looked at before the index.
        let bytes = current.ok_or(StoreError::Refused("no such key"))?;
        let index = index.ok_or(StoreError::NotAnInteger)?;
        let mut l = List::decode(bytes)?;
        let i = position(index, l.len()).ok_or(StoreError::Refused("index out of range"))?;
        l.items[i] = args.get(3).to_vec();
        Ok((store_or_delete(l.encode(), false), ()))
    });
    reply_with(result, reply, |(), reply| reply.ok());
}

/// `LTRIM key start stop`
pub fn ltrim(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let (Some(start), Some(stop)) = (parse_i64(args.get(2)), parse_i64(args.get(3))) else {
        return not_an_integer(reply);
    };
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, ()));
        };
        let mut l = List::decode(bytes)?;
        match index_range(start, stop, l.len()) {
            None => l.items.clear(),
            Some(range) => {
                l.items.truncate(range.end);
                l.items.drain(..range.start);
            }
        }
        Ok((store_or_delete(l.encode(), l.is_empty()), ()))
    });
    reply_with(result, reply, |(), reply| reply.ok());
}

/// `LREM key count element`: remove up to `count` matches from the head (negative: from the
/// tail; 0: all).
pub fn lrem(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(count) = int_arg(args, 2, reply) else {
        return;
    };
    let element = args.get(3);
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, 0));
        };
        let mut l = List::decode(bytes)?;
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        let mut kept = std::collections::VecDeque::with_capacity(l.len());
        let items: Vec<Vec<u8>> = if count < 0 {
            l.items.drain(..).rev().collect()
        } else {
            l.items.drain(..).collect()
        };
        for item in items {
            if removed < limit && item == element {
                removed += 1;
            } else {
                kept.push_back(item);
            }
        }
        if count < 0 {
            l.items = kept.into_iter().rev().collect();
        } else {
            l.items = kept;
        }
        // Nothing removed: the key is left as it was (no write, no notification).
        let change = if removed == 0 {
            larder_runtime::Change::Keep
        } else {
            store_or_delete(l.encode(), l.is_empty())
        };
        Ok((change, removed as i64))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

/// `LINSERT key BEFORE|AFTER pivot element`: the new length, -1 without the pivot, 0 without
/// the key.
pub fn linsert(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let after = if is(args.get(2), "AFTER") {
        true
    } else if is(args.get(2), "BEFORE") {
        false
    } else {
        return syntax_error(reply);
    };
    let (pivot, element) = (args.get(3), args.get(4));
    let result = store.update_as(args.get(1), KIND, |current| {
        let Some(bytes) = current else {
            return Ok((Change::Keep, 0));
        };
        let mut l = List::decode(bytes)?;
        let Some(at) = l.items.iter().position(|i| i == pivot) else {
            return Ok((Change::Keep, -1));
        };
        l.items.insert(at + usize::from(after), element.to_vec());
        Ok((store_or_delete(l.encode(), false), l.len() as i64))
    });
    reply_with(result, reply, |n, reply| reply.integer(n));
}

/// `LPOS key element [RANK rank] [COUNT num] [MAXLEN len]`
pub fn lpos(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    let mut i = 3;
    while i < args.len() {
        let (opt, value) = (args.get(i), parse_i64(args.get(i + 1)));
        if i + 1 >= args.len() {
            return syntax_error(reply);
        }
        let Some(value) = value else {
            return not_an_integer(reply);
        };
        if is(opt, "RANK") {
            if value == i64::MIN {
                return reply.error(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                );
            }
            if value == 0 {
                return reply.error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                );
            }
            rank = value;
        } else if is(opt, "COUNT") {
            if value < 0 {
                return reply.error("ERR COUNT can't be negative");
            }
            count = Some(value as usize);
        } else if is(opt, "MAXLEN") {
            if value < 0 {
                return reply.error("ERR MAXLEN can't be negative");
            }
            maxlen = value as usize;
        } else {
            return syntax_error(reply);
        }
        i += 2;
    }
    let element = args.get(2);
    let missing = move |reply: &mut Reply| match count {
        Some(_) => reply.array(0),
        None => reply.null(),
    };
    read(store, args.get(1), KIND, reply, missing, |bytes, reply| {
        let len = list::len(bytes);
        let items: Vec<&[u8]> = list::items(bytes).collect();
        let order: Box<dyn Iterator<Item = usize>> = if rank > 0 {
            Box::new(0..len)
        } else {
            Box::new((0..len).rev())
        };
        let limit = if maxlen == 0 { len } else { maxlen };
        let wanted = match count {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 1,
        };
        let skip = rank.unsigned_abs() as usize - 1;
        let found: Vec<usize> = order
            .take(limit)
            .filter(|&i| items[i] == element)
            .skip(skip)
            .take(wanted)
            .collect();
        match count {
            None => match found.first() {
                Some(&i) => reply.integer(i as i64),
                None => reply.null(),
            },
            Some(_) => {
                reply.array(found.len());
                found.iter().for_each(|&i| reply.integer(i as i64));
            }
        }
    });
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT` (and `RPOPLPUSH source destination`): the
/// moved element, or nil when the source is empty. Atomic over both keys.
pub fn lmove(store: &Store, args: &Args<'_>, ends: Option<(End, End)>, reply: &mut Reply) {
    let (from, to) = match ends {
        Some(ends) => ends,
        None => match (End::parse(args.get(3)), End::parse(args.get(4))) {
            (Some(a), Some(b)) => (a, b),
            _ => return syntax_error(reply),
        },
    };
    reply_with(
        move_element(store, args.get(1), args.get(2), from, to),
        reply,
        |item, reply| match item {
            Some(item) => reply.bulk(&item),
            None => reply.null(),
        },
    );
}

/// Pop from `src`'s `from` end and push onto `dst`'s `to` end, atomically over both keys: the
/// element moved, or `None` when `src` is empty.
pub(super) fn move_element(
    store: &Store,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<Vec<u8>>, StoreError> {
    if src == dst {
        return store.update_as(src, KIND, |current| {
            let Some(bytes) = current else {
                return Ok((Change::Keep, None));
            };
            let mut l = List::decode(bytes)?;
            let item = pop(&mut l, from);
            if let Some(item) = &item {
                push(&mut l, to, item.clone());
            }
            Ok((store_or_delete(l.encode(), l.is_empty()), item))
        });
    }
    // Redis answers nil for a missing source before it looks at the destination's type.
    if store.kind(src).is_none() {
        return Ok(None);
    }
    store.update_pair_as((src, dst), KIND, |a, b| {
        let Some(a) = a else {
            return Ok((Change::Keep, Change::Keep, None));
        };
        let mut source = List::decode(a)?;
        let mut target = List::decode_or_empty(b)?;
        let Some(item) = pop(&mut source, from) else {
            return Ok((Change::Keep, Change::Keep, None));
        };
        push(&mut target, to, item.clone());
        Ok((
            store_or_delete(source.encode(), source.is_empty()),
            store_or_delete(target.encode(), false),
            Some(item),
        ))
    })
}

/// The key a multi-key pop took from, and what it took.
pub(super) type Popped<'k> = (&'k [u8], Vec<Vec<u8>>);

/// Pop up to `count` elements from the `end` of the first non-empty list among `keys`: that
/// key and what was popped, or `None` when all are empty.
pub(super) fn pop_first<'k>(
    store: &Store,
    keys: impl IntoIterator<Item = &'k [u8]>,
    end: End,
    count: usize,
) -> Result<Option<Popped<'k>>, StoreError> {
    for key in keys {
        let popped = store.update_as(key, KIND, |current| {
            let Some(bytes) = current else {
                return Ok((Change::Keep, Vec::new()));
            };
            let mut l = List::decode(bytes)?;
            let popped: Vec<Vec<u8>> = (0..count).map_while(|_| pop(&mut l, end)).collect();
            Ok((store_or_delete(l.encode(), l.is_empty()), popped))
        })?;
        if !popped.is_empty() {
            return Ok(Some((key, popped)));
        }
    }
    Ok(None)
}

/// `numkeys key … LEFT|RIGHT [COUNT count]` from argument `at` (LMPOP at 1, BLMPOP at 2): the
/// keys, the end and the count; errors replied.
pub(super) fn mpop_args<'a>(
    args: &Args<'a>,
    at: usize,
    reply: &mut Reply,
) -> Option<(Vec<&'a [u8]>, End, usize)> {
    let n = match parse_i64(args.get(at)) {
        Some(n) if n > 0 => n as usize,
        _ => {
            reply.error("ERR numkeys should be greater than 0");
            return None;
        }
    };
    let where_at = at + 1 + n;
    let Some(end) = (where_at < args.len())
        .then(|| End::parse(args.get(where_at)))
        .flatten()
    else {
        syntax_error(reply);
        return None;
    };
    let count = match args.len() - (where_at + 1) {
        0 => 1,
        2 if is(args.get(where_at + 1), "COUNT") => match parse_i64(args.get(where_at + 2)) {
            Some(c) if c > 0 => c as usize,
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
    Some((args.from(at + 1).take(n).collect(), end, count))
}

/// `[key, [elements…]]`, LMPOP's and BLMPOP's answer.
pub(super) fn mpop_reply(key: &[u8], popped: &[Vec<u8>], reply: &mut Reply) {
    reply.array(2);
    reply.bulk(key);
    reply.array(popped.len());
    popped.iter().for_each(|i| reply.bulk(i));
}

/// `LMPOP numkeys key … LEFT|RIGHT [COUNT count]`: `[key, [elements…]]` from the first
/// non-empty list, or nil.
pub fn lmpop(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some((keys, end, count)) = mpop_args(args, 1, reply) else {
        return;
    };
    reply_with(
        pop_first(store, keys, end, count),
        reply,
        |popped, reply| match popped {
            Some((key, popped)) => mpop_reply(key, &popped, reply),
            None => reply.null_array(),
        },
    );
}
