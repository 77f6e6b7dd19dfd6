//! `SORT` and `SORT_RO`: the elements of a list, set or sorted set, sorted, optionally by other
//! keys' values, optionally replaced by other keys' values, optionally stored as a list.
//!
//! `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dest]`
//! as in Redis: a pattern's first `*` is replaced by the element, and `key->field` reads a hash
//! field; `GET #` is the element itself; `BY` a pattern without `*` (`BY nosort`) keeps the
//! source's order (a sorted set's by score). Without `ALPHA` elements (or their weights) must
//! read as numbers; a missing weight counts as 0. Pattern lookups read each key on its own,
//! not as one atomic step. In a cluster, `BY`/`GET` patterns are refused and `STORE` must name
//! a key of the source's slot, as Redis Cluster requires.

use larder_runtime::value::{List, hash, list, set, zset};
use larder_runtime::{Expiry, Store, StoreError, ValueKind};

use super::{Args, is, parse_i64, store_error};
use crate::resp::context::ServerContext;
use crate::resp::reply::Reply;
use crate::resp::session::Session;
use crate::slot_rule::slot_in;

/// What the arguments ask for.
struct Request<'a> {
    by: Option<&'a [u8]>,
    limit: Option<(i64, i64)>,
    gets: Vec<&'a [u8]>,
    descending: bool,
    alpha: bool,
    store: Option<&'a [u8]>,
}

fn parse<'a>(args: &'a Args<'_>, read_only: bool) -> Result<Request<'a>, &'static str> {
    let mut request = Request {
        by: None,
        limit: None,
        gets: Vec::new(),
        descending: false,
        alpha: false,
        store: None,
    };
    let mut i = 2;
    while i < args.len() {
        let opt = args.get(i);
        let has = |n: usize| i + n < args.len();
        if is(opt, "ASC") {
            request.descending = false;
        } else if is(opt, "DESC") {
            request.descending = true;
        } else if is(opt, "ALPHA") {
            request.alpha = true;
        } else if is(opt, "LIMIT") && has(2) {
            let (Some(offset), Some(count)) =
                (parse_i64(args.get(i + 1)), parse_i64(args.get(i + 2)))
            else {
                return Err("ERR value is not an integer or out of range");
            };
            request.limit = Some((offset, count));
            i += 2;
        } else if is(opt, "BY") && has(1) {
            request.by = Some(args.get(i + 1));
            i += 1;
        } else if is(opt, "GET") && has(1) {
            request.gets.push(args.get(i + 1));
            i += 1;
        } else if is(opt, "STORE") && has(1) && !read_only {
            request.store = Some(args.get(i + 1));
            i += 1;
        } else {
            return Err("ERR syntax error");
        }
        i += 1;
    }
    Ok(request)
}

/// The value a pattern names for `element`: `None` when the key (or field) is missing, or the
/// pattern has no `*` (only `#` and patterns with `*` name values).
fn lookup(store: &Store, pattern: &[u8], element: &[u8], now_unix_ms: u64) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    // `key->field`: the arrow after the `*` splits the key from the hash field.
    let arrow = pattern[star..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|at| star + at)
        .filter(|&at| at + 2 < pattern.len());
    let key_pattern = arrow.map_or(pattern, |at| &pattern[..at]);
    let mut key = Vec::with_capacity(key_pattern.len() + element.len());
    key.extend_from_slice(&key_pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&key_pattern[star + 1..]);
    match arrow {
        None => store
            .peek(&key, |kind, bytes| {
                (kind == ValueKind::String).then(|| bytes.to_vec())
            })
            .flatten(),
        Some(at) => {
            let field = &pattern[at + 2..];
            store
                .peek(&key, |kind, bytes| {
                    (kind == ValueKind::Hash)
                        .then(|| hash::get(bytes, field, now_unix_ms).map(<[u8]>::to_vec))
                        .flatten()
                })
                .flatten()
        }
    }
}

/// The source's kind and elements in its own order, or WRONGTYPE for a string or a hash.
fn elements(store: &Store, key: &[u8]) -> Result<(ValueKind, Vec<Vec<u8>>), StoreError> {
    let found = store.peek(key, |kind, bytes| {
        let items = match kind {
            ValueKind::List => list::items(bytes).map(<[u8]>::to_vec).collect(),
            ValueKind::Set => set::members(bytes).map(<[u8]>::to_vec).collect(),
            ValueKind::SortedSet => zset::items(bytes).map(|(_, m)| m.to_vec()).collect(),
            ValueKind::String | ValueKind::Hash => return Err(StoreError::WrongType),
        };
        Ok((kind, items))
    });
    found.unwrap_or(Ok((ValueKind::List, Vec::new())))
}

fn parse_weight(text: &[u8]) -> Option<f64> {
    let score = std::str::from_utf8(text).ok()?.trim().parse::<f64>().ok()?;
    (!score.is_nan()).then_some(score)
}

pub fn sort(
    args: &Args<'_>,
    session: &Session,
    ctx: &ServerContext,
    read_only: bool,
    reply: &mut Reply,
) {
    let request = match parse(args, read_only) {
        Ok(r) => r,
        Err(e) => return reply.error(e),
    };
    if ctx.state.cluster.is_some() {
        // The command runs where the source's slot lives; keys a pattern forms, or the STORE
        // destination, may live elsewhere (Redis Cluster refuses the same).
        let source = slot_in(&session.namespace, args.get(1));
        let patterned = request
            .by
            .iter()
            .chain(&request.gets)
            .any(|p| p.contains(&b'*'));
        if patterned {
            return reply.error(
                "ERR BY and GET patterns of SORT are refused in a cluster: the keys they form \
                 may be in other slots",
            );
        }
        if request
            .store
            .is_some_and(|dest| slot_in(&session.namespace, dest) != source)
        {
            return reply.error("CROSSSLOT Keys in request don't hash to the same slot");
        }
    }
    let store = session.namespace.store();
    let now = super::deadline::unix_now_ms().max(0) as u64;
    let (kind, mut items) = match elements(store, args.get(1)) {
        Ok(found) => found,
        Err(e) => return store_error(&e, reply),
    };
    let mut request = request;
    // `BY` a pattern without `*` skips sorting, except for a set being stored: its own order is
    // arbitrary, so it is sorted as text, as Redis does, for a result that does not depend on it.
    let mut sorting = request.by.is_none_or(|by| by.contains(&b'*'));
    if !sorting && kind == ValueKind::Set && request.store.is_some() {
        sorting = true;
        request.by = None;
        request.alpha = true;
    }
    if sorting {
        let weights: Vec<Option<Vec<u8>>> = match request.by {
            Some(by) => items.iter().map(|e| lookup(store, by, e, now)).collect(),
            None => items.iter().map(|e| Some(e.clone())).collect(),
        };
        let mut order: Vec<usize> = (0..items.len()).collect();
        if request.alpha {
            order.sort_by(|&a, &b| {
                weights[a]
                    .cmp(&weights[b])
                    .then_with(|| items[a].cmp(&items[b]))
            });
        } else {
            let mut numbers = Vec::with_capacity(items.len());
            for w in &weights {
                match w {
                    None => numbers.push(0.0),
                    Some(text) => match parse_weight(text) {
                        Some(n) => numbers.push(n),
                        None => {
                            return reply
                                .error("ERR One or more scores can't be converted into double");
                        }
                    },
                }
            }
            order.sort_by(|&a, &b| {
                numbers[a]
                    .total_cmp(&numbers[b])
                    .then_with(|| items[a].cmp(&items[b]))
            });
        }
        if request.descending {
            order.reverse();
        }
        let mut sorted: Vec<Vec<u8>> = Vec::with_capacity(items.len());
        for i in order {
            sorted.push(std::mem::take(&mut items[i]));
        }
        items = sorted;
    } else if request.descending && kind == ValueKind::SortedSet {
        // Unsorted, a sorted set keeps its own order, highest score first with DESC.
        items.reverse();
    }
    if let Some((offset, count)) = request.limit {
        let start = offset.max(0) as usize;
        let take = if count < 0 {
            usize::MAX
        } else {
            count as usize
        };
        items = items.into_iter().skip(start).take(take).collect();
    }
    // Each element becomes its GETs' values (nil where missing), or stays itself.
    let out: Vec<Option<Vec<u8>>> = if request.gets.is_empty() {
        items.into_iter().map(Some).collect()
    } else {
        items
            .iter()
            .flat_map(|e| request.gets.iter().map(move |g| (e, *g)))
            .map(|(e, g)| lookup(store, g, e, now))
            .collect()
    };
    match request.store {
        Some(dest) => {
            match store_list(store, dest, out, session.namespace.config().max_item_size()) {
                Ok(n) => reply.integer(n as i64),
                Err(e) => store_error(&e, reply),
            }
        }
        None => {
            reply.array(out.len());
            for item in out {
                match item {
                    Some(bytes) => reply.bulk(&bytes),
                    None => reply.null(),
                }
            }
        }
    }
}

/// `STORE dest`: the result as a list replacing whatever `dest` held (missing values as empty
/// strings, as Redis stores them); an empty result deletes `dest`.
fn store_list(
    store: &Store,
    dest: &[u8],
    out: Vec<Option<Vec<u8>>>,
    max_item_size: u64,
) -> Result<usize, StoreError> {
    let n = out.len();
    let list = List {
        items: out.into_iter().map(Option::unwrap_or_default).collect(),
    };
    let value = list.encode();
    // A result the store would refuse is refused before the destination is removed.
    if n > 0 && (dest.len() + value.len()) as u64 > max_item_size {
        return Err(StoreError::ValueTooLarge {
            len: value.len(),
            max: max_item_size,
        });
    }
    if n == 0 {
        store.delete(dest);
        return Ok(0);
    }
    super::keyspace::put_whole(store, dest, ValueKind::List, value, Expiry::Never, true)?;
    Ok(n)
}
