//! Model-based property tests of the collection commands (hashes, lists, sets, sorted sets).
//!
//! For each family proptest generates a random script of commands over a few keys and small
//! alphabets of fields, members, scores and indexes; every command goes to a real server (through
//! the `redis` crate, RESP2) and to an in-test model written from Redis 7.2's semantics, and the
//! two replies must be equal. Where Redis gives no order (SMEMBERS, SINTER/SUNION/SDIFF, HGETALL,
//! HKEYS, HVALS) both replies are sorted before comparing. After every command the TYPE of every
//! key must agree too, so a collection emptied by removals must be gone, as in Redis. At the end
//! of a script the whole content of every key is compared.
//!
//! Each script also carries a few commands of other families on the same keys (GET, SET, LPUSH,
//! HSET, SADD, ZADD, DEL, EXISTS, TYPE): on a key of another kind both sides must answer
//! WRONGTYPE. Errors are compared as `CODE message`, the text Redis sends.
//!
//! `PROPTEST_CASES` overrides the number of scripts per family (64 by default).
//! `RESP_MODEL_REFERENCE=redis://127.0.0.1:6379/` runs the same scripts against a real Redis
//! 7.2 instead of Larder, to check the model itself (that server's database is flushed).

mod resp_support;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use redis::Value;
use resp_support::error_text;

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// A reply: a value, or an error as `CODE message`.
type Reply = Result<Value, String>;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const SYNTAX: &str = "ERR syntax error";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
const NOT_A_FLOAT: &str = "ERR value is not a valid float";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Str,
    Hash,
    List,
    Set,
    ZSet,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
        }
    }
}

#[derive(Clone, Debug)]
enum Entry {
    Str(String),
    /// Fields in insertion order (the order is never compared).
    Hash(Vec<(String, String)>),
    List(VecDeque<String>),
    Set(BTreeSet<String>),
    /// Sorted by (score, member).
    ZSet(Vec<(f64, String)>),
}

impl Entry {
    fn kind(&self) -> Kind {
        match self {
            Entry::Str(_) => Kind::Str,
            Entry::Hash(_) => Kind::Hash,
            Entry::List(_) => Kind::List,
            Entry::Set(_) => Kind::Set,
            Entry::ZSet(_) => Kind::ZSet,
        }
    }

    fn is_empty_collection(&self) -> bool {
        match self {
            Entry::Str(_) => false,
            Entry::Hash(h) => h.is_empty(),
            Entry::List(l) => l.is_empty(),
            Entry::Set(s) => s.is_empty(),
            Entry::ZSet(z) => z.is_empty(),
        }
    }
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn int(n: impl TryInto<i64>) -> Value {
    Value::Int(n.try_into().ok().expect("fits an i64"))
}

fn bulks<'a>(items: impl IntoIterator<Item = &'a String>) -> Value {
    Value::Array(items.into_iter().map(|s| bulk(s)).collect())
}

fn err<T>(text: &str) -> Result<T, String> {
    Err(text.to_string())
}

/// A double as Redis 7.2 prints it in RESP2 (`d2string`): `inf`, `-inf`, `0`, `-0`; an
/// integral value within ±`LLONG_MAX/2` as an integer; else the shortest digits that read back
/// as the same double, laid out as `fpconv_dtoa` lays them out (plain decimal unless the
/// exponent is large, then `d.ddde±x`).
fn fmt_score(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if f.fract() == 0.0 && f.abs() <= (i64::MAX / 2) as f64 {
        return (f as i64).to_string();
    }
    // Shortest digits and exponent: `d.ddd` `e` `x` means digits × 10^(x - (n - 1)).
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    let k = exp.parse::<i32>().expect("exponent") - (n - 1);
    let e = (k + n - 1).abs();
    let body = if k >= 0 && e < n + 7 {
        format!("{digits}{}", "0".repeat(k as usize))
    } else if k < 0 && (k > -7 || e < 4) {
        let offset = n + k;
        if offset <= 0 {
            format!("0.{}{digits}", "0".repeat((-offset) as usize))
        } else {
            let (int_part, frac) = digits.split_at(offset as usize);
            format!("{int_part}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let sign = if k + n - 1 < 0 { '-' } else { '+' };
        if rest.is_empty() {
            format!("{first}e{sign}{e}")
        } else {
            format!("{first}.{rest}e{sign}{e}")
        }
    };
    if f < 0.0 { format!("-{body}") } else { body }
}

fn score_value(f: f64) -> Value {
    bulk(&fmt_score(f))
}

/// A score argument as Redis reads it (strtod; NaN refused).
fn parse_score(s: &str) -> Option<f64> {
    let f = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse::<f64>().ok()?,
    };
    (!f.is_nan()).then_some(f)
}

fn parse_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|_| NOT_AN_INTEGER.to_string())
}

/// Redis's start/stop arithmetic (LRANGE, LTRIM, ZRANGE by rank, ZREMRANGEBYRANK): the
/// inclusive positions, or `None` for an empty range.
fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut stop = if stop < 0 { len + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

/// A list index (negative from the end) as a position within `len`.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

#[derive(Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn parse_score_bound(s: &str) -> Option<ScoreBound> {
    match s.strip_prefix('(') {
        Some(rest) => Some(ScoreBound {
            value: parse_score(rest)?,
            exclusive: true,
        }),
        None => Some(ScoreBound {
            value: parse_score(s)?,
            exclusive: false,
        }),
    }
}

fn in_score_range(score: f64, min: ScoreBound, max: ScoreBound) -> bool {
    let above = if min.exclusive {
        score > min.value
    } else {
        score >= min.value
    };
    let below = if max.exclusive {
        score < max.value
    } else {
        score <= max.value
    };
    above && below
}

#[derive(Clone)]
enum LexBound {
    Min,
    Max,
    Inclusive(String),
    Exclusive(String),
}

fn parse_lex_bound(s: &str) -> Option<LexBound> {
    match s {
        "-" => Some(LexBound::Min),
        "+" => Some(LexBound::Max),
        _ => match s.chars().next()? {
            '[' => Some(LexBound::Inclusive(s[1..].to_string())),
            '(' => Some(LexBound::Exclusive(s[1..].to_string())),
            _ => None,
        },
    }
}

fn lex_above_min(member: &str, min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(v) => member.as_bytes() >= v.as_bytes(),
        LexBound::Exclusive(v) => member.as_bytes() > v.as_bytes(),
    }
}

fn lex_below_max(member: &str, max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(v) => member.as_bytes() <= v.as_bytes(),
        LexBound::Exclusive(v) => member.as_bytes() < v.as_bytes(),
    }
}

/// A score as a small sorted set keeps it: Redis's listpack stores the score as text, and "-0"
/// reads back as the integer 0 (the reply to the write itself still says "-0").
fn stored(score: f64) -> f64 {
    if score == 0.0 { 0.0 } else { score }
}

fn zsort(z: &mut [(f64, String)]) {
    z.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .expect("no NaN score")
            .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
}

/// The flat `[member, score, …]` RESP2 reply of scored elements.
fn with_scores(items: &[(f64, String)]) -> Value {
    let mut out = Vec::with_capacity(items.len() * 2);
    for (s, m) in items {
        out.push(bulk(m));
        out.push(score_value(*s));
    }
    Value::Array(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// The keyspace as Redis 7.2 would hold it.
#[derive(Default)]
struct Model {
    db: HashMap<String, Entry>,
}

macro_rules! typed_mut {
    ($name:ident, $variant:ident, $kind:expr, $ty:ty) => {
        /// The key's collection, created empty when absent (an empty one is dropped after the
        /// command); WRONGTYPE for another kind.
        fn $name(&mut self, key: &str) -> Result<&mut $ty, String> {
            self.exists_as(key, $kind)?;
            match self
                .db
                .entry(key.to_string())
                .or_insert_with(|| Entry::$variant(Default::default()))
            {
                Entry::$variant(v) => Ok(v),
                _ => unreachable!(),
            }
        }
    };
}

impl Model {
    /// Whether `key` exists; WRONGTYPE if it holds another kind.
    fn exists_as(&self, key: &str, kind: Kind) -> Result<bool, String> {
        match self.db.get(key) {
            None => Ok(false),
            Some(e) if e.kind() == kind => Ok(true),
            Some(_) => err(WRONGTYPE),
        }
    }

    typed_mut!(hash, Hash, Kind::Hash, Vec<(String, String)>);
    typed_mut!(list, List, Kind::List, VecDeque<String>);
    typed_mut!(set, Set, Kind::Set, BTreeSet<String>);
    typed_mut!(zset, ZSet, Kind::ZSet, Vec<(f64, String)>);

    /// Run one command; like Redis, no empty collection survives it.
    fn apply(&mut self, args: &[String]) -> Reply {
        let reply = self.dispatch(args);
        self.db.retain(|_, e| !e.is_empty_collection());
        reply
    }

    fn dispatch(&mut self, a: &[String]) -> Reply {
        let name = a[0].to_ascii_uppercase();
        let k = a[1].as_str();
        match name.as_str() {
            // Keyspace and strings.
            "EXISTS" => Ok(int(a[1..]
                .iter()
                .filter(|k| self.db.contains_key(k.as_str()))
                .count())),
            "TYPE" => Ok(Value::SimpleString(
                self.db
                    .get(k)
                    .map_or("none", |e| e.kind().name())
                    .to_string(),
            )),
            "DEL" => {
                let mut n = 0;
                for key in &a[1..] {
                    n += usize::from(self.db.remove(key).is_some());
                }
                Ok(int(n))
            }
            "GET" => match self.db.get(k) {
                None => Ok(Value::Nil),
                Some(Entry::Str(s)) => Ok(bulk(s)),
                Some(_) => err(WRONGTYPE),
            },
            "SET" => {
                self.db.insert(k.to_string(), Entry::Str(a[2].clone()));
                Ok(Value::Okay)
            }

            // Hashes.
            "HSET" => {
                // Checked before the key is looked up.
                if !a.len().is_multiple_of(2) {
                    return err("ERR wrong number of arguments for 'hset' command");
                }
                let h = self.hash(k)?;
                let mut added = 0;
                for pair in a[2..].chunks(2) {
                    match h.iter_mut().find(|(f, _)| *f == pair[0]) {
                        Some(entry) => entry.1 = pair[1].clone(),
                        None => {
                            h.push((pair[0].clone(), pair[1].clone()));
                            added += 1;
                        }
                    }
                }
                Ok(int(added))
            }
            "HSETNX" => {
                let h = self.hash(k)?;
                if h.iter().any(|(f, _)| *f == a[2]) {
                    return Ok(int(0));
                }
                h.push((a[2].clone(), a[3].clone()));
                Ok(int(1))
            }
            "HGET" => {
                let h = self.hash(k)?;
                Ok(h.iter()
                    .find(|(f, _)| *f == a[2])
                    .map_or(Value::Nil, |(_, v)| bulk(v)))
            }
            "HMGET" => {
                let h = self.hash(k)?;
                Ok(Value::Array(
                    a[2..]
                        .iter()
                        .map(|want| {
                            h.iter()
                                .find(|(f, _)| f == want)
                                .map_or(Value::Nil, |(_, v)| bulk(v))
                        })
                        .collect(),
                ))
            }
            "HDEL" => {
                let h = self.hash(k)?;
                let mut removed = 0;
                for f in &a[2..] {
                    if let Some(i) = h.iter().position(|(x, _)| x == f) {
                        h.remove(i);
                        removed += 1;
                    }
                }
                Ok(int(removed))
            }
            "HLEN" => Ok(int(self.hash(k)?.len())),
            "HEXISTS" => Ok(int(usize::from(
                self.hash(k)?.iter().any(|(f, _)| *f == a[2]),
            ))),
            "HSTRLEN" => Ok(int(self
                .hash(k)?
                .iter()
                .find(|(f, _)| *f == a[2])
                .map_or(0, |(_, v)| v.len()))),
            "HGETALL" => Ok(Value::Array(
                self.hash(k)?
                    .iter()
                    .flat_map(|(f, v)| [bulk(f), bulk(v)])
                    .collect(),
            )),
            "HKEYS" => Ok(bulks(self.hash(k)?.iter().map(|(f, _)| f))),
            "HVALS" => Ok(bulks(self.hash(k)?.iter().map(|(_, v)| v))),
            "HINCRBY" => {
                let by = parse_int(&a[3])?;
                let h = self.hash(k)?;
                let slot = h.iter().position(|(f, _)| *f == a[2]);
                let current = match slot {
                    None => 0,
                    Some(i) => h[i]
                        .1
                        .parse::<i64>()
                        .map_err(|_| "ERR hash value is not an integer".to_string())?,
                };
                let next = current
                    .checked_add(by)
                    .ok_or_else(|| "ERR increment or decrement would overflow".to_string())?;
                match slot {
                    Some(i) => h[i].1 = next.to_string(),
                    None => h.push((a[2].clone(), next.to_string())),
                }
                Ok(int(next))
            }

            // Lists.
            "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
                if name.ends_with('X') && !self.exists_as(k, Kind::List)? {
                    return Ok(int(0));
                }
                let l = self.list(k)?;
                for item in &a[2..] {
                    if name.starts_with('L') {
                        l.push_front(item.clone());
                    } else {
                        l.push_back(item.clone());
                    }
                }
                Ok(int(l.len()))
            }
            "LPOP" | "RPOP" => {
                let count = match a.len() {
                    2 => None,
                    3 => match a[2].parse::<i64>() {
                        Ok(n) if n >= 0 => Some(n as usize),
                        _ => return err(NOT_POSITIVE),
                    },
                    _ => return err("ERR wrong number of arguments for 'lpop' command"),
                };
                if !self.exists_as(k, Kind::List)? {
                    return Ok(Value::Nil);
                }
                let l = self.list(k)?;
                let left = name == "LPOP";
                let pop = |l: &mut VecDeque<String>| {
                    if left { l.pop_front() } else { l.pop_back() }
                };
                match count {
                    None => Ok(pop(l).map_or(Value::Nil, |v| bulk(&v))),
                    Some(n) => {
                        let n = n.min(l.len());
                        let popped: Vec<String> = (0..n).filter_map(|_| pop(l)).collect();
                        Ok(bulks(&popped))
                    }
                }
            }
            "LLEN" => Ok(int(self.list(k)?.len())),
            "LRANGE" => {
                let (start, stop) = (parse_int(&a[2])?, parse_int(&a[3])?);
                let l = self.list(k)?;
                Ok(match index_range(start, stop, l.len()) {
                    None => Value::Array(vec![]),
                    Some((from, to)) => bulks(l.range(from..=to)),
                })
            }
            "LTRIM" => {
                let (start, stop) = (parse_int(&a[2])?, parse_int(&a[3])?);
                let l = self.list(k)?;
                match index_range(start, stop, l.len()) {
                    None => l.clear(),
                    Some((from, to)) => {
                        l.truncate(to + 1);
                        l.drain(..from);
                    }
                }
                Ok(Value::Okay)
            }
            "LREM" => {
                let count = parse_int(&a[2])?;
                let element = &a[3];
                let l = self.list(k)?;
                let limit = if count == 0 {
                    usize::MAX
                } else {
                    count.unsigned_abs() as usize
                };
                let mut removed = 0;
                if count >= 0 {
                    let mut i = 0;
                    while i < l.len() && removed < limit {
                        if l[i] == *element {
                            l.remove(i);
                            removed += 1;
                        } else {
                            i += 1;
                        }
                    }
                } else {
                    let mut i = l.len();
                    while i > 0 && removed < limit {
                        i -= 1;
                        if l[i] == *element {
                            l.remove(i);
                            removed += 1;
                        }
                    }
                }
                Ok(int(removed))
            }
            "LINDEX" => {
                // The key is looked up before the index is read.
                if !self.exists_as(k, Kind::List)? {
                    return Ok(Value::Nil);
                }
                let index = parse_int(&a[2])?;
                let l = self.list(k)?;
                Ok(position(index, l.len()).map_or(Value::Nil, |i| bulk(&l[i])))
            }
            "LSET" => {
                // The key is looked up before the index is read.
                if !self.exists_as(k, Kind::List)? {
                    return err("ERR no such key");
                }
                let index = parse_int(&a[2])?;
                let l = self.list(k)?;
                match position(index, l.len()) {
                    Some(i) => {
                        l[i] = a[3].clone();
                        Ok(Value::Okay)
                    }
                    None => err("ERR index out of range"),
                }
            }
            "LINSERT" => {
                let after = match a[2].to_ascii_uppercase().as_str() {
                    "AFTER" => true,
                    "BEFORE" => false,
                    _ => return err(SYNTAX),
                };
                if !self.exists_as(k, Kind::List)? {
                    return Ok(int(0));
                }
                let l = self.list(k)?;
                match l.iter().position(|x| *x == a[3]) {
                    None => Ok(int(-1)),
                    Some(at) => {
                        l.insert(at + usize::from(after), a[4].clone());
                        Ok(int(l.len()))
                    }
                }
            }
            "LPOS" => self.lpos(a),
            "LMOVE" | "RPOPLPUSH" => {
                let (src, dst) = (a[1].as_str(), a[2].as_str());
                let (from_left, to_left) = if name == "RPOPLPUSH" {
                    (false, true)
                } else {
                    let end = |s: &str| match s.to_ascii_uppercase().as_str() {
                        "LEFT" => Ok(true),
                        "RIGHT" => Ok(false),
                        _ => err(SYNTAX),
                    };
                    (end(&a[3])?, end(&a[4])?)
                };
                // No source: nil, whatever the destination holds. Else the destination must
                // be a list (or absent) before anything moves.
                if !self.exists_as(src, Kind::List)? {
                    return Ok(Value::Nil);
                }
                self.exists_as(dst, Kind::List)?;
                let l = self.list(src)?;
                let item = if from_left {
                    l.pop_front()
                } else {
                    l.pop_back()
                }
                .expect("no empty list is stored");
                let d = self.list(dst)?;
                if to_left {
                    d.push_front(item.clone());
                } else {
                    d.push_back(item.clone());
                }
                Ok(bulk(&item))
            }

            // Sets.
            "SADD" => {
                let s = self.set(k)?;
                Ok(int(a[2..]
                    .iter()
                    .filter(|m| s.insert(m.to_string()))
                    .count()))
            }
            "SREM" => {
                let s = self.set(k)?;
                Ok(int(a[2..].iter().filter(|m| s.remove(m.as_str())).count()))
            }
            "SISMEMBER" => Ok(int(usize::from(self.set(k)?.contains(&a[2])))),
            "SMISMEMBER" => {
                let s = self.set(k)?;
                Ok(Value::Array(
                    a[2..]
                        .iter()
                        .map(|m| int(usize::from(s.contains(m))))
                        .collect(),
                ))
            }
            "SCARD" => Ok(int(self.set(k)?.len())),
            "SMEMBERS" => Ok(bulks(self.set(k)?.iter())),
            "SMOVE" => {
                let (src, dst, member) = (a[1].as_str(), a[2].as_str(), &a[3]);
                // No source: 0, whatever the destination holds.
                if !self.db.contains_key(src) {
                    return Ok(int(0));
                }
                self.exists_as(src, Kind::Set)?;
                self.exists_as(dst, Kind::Set)?;
                if src == dst {
                    return Ok(int(usize::from(self.set(src)?.contains(member))));
                }
                if !self.set(src)?.remove(member) {
                    return Ok(int(0));
                }
                self.set(dst)?.insert(member.clone());
                Ok(int(1))
            }
            "SINTER" => Ok(bulks(&self.set_op(SetOp::Inter, &a[1..])?)),
            "SUNION" => Ok(bulks(&self.set_op(SetOp::Union, &a[1..])?)),
            "SDIFF" => Ok(bulks(&self.set_op(SetOp::Diff, &a[1..])?)),
            "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => {
                let op = match name.as_str() {
                    "SINTERSTORE" => SetOp::Inter,
                    "SUNIONSTORE" => SetOp::Union,
                    _ => SetOp::Diff,
                };
                let result = self.set_op(op, &a[2..])?;
                let n = result.len();
                // The destination is replaced whatever it held (deleted when empty).
                self.db.insert(k.to_string(), Entry::Set(result));
                Ok(int(n))
            }
            "SINTERCARD" => {
                let numkeys = match a[1].parse::<i64>() {
                    Ok(n) if n >= 1 => n as usize,
                    _ => return err("ERR numkeys should be greater than 0"),
                };
                if numkeys > a.len() - 2 {
                    return err("ERR Number of keys can't be greater than number of args");
                }
                let mut limit = 0usize;
                let mut j = 2 + numkeys;
                while j < a.len() {
                    if a[j].eq_ignore_ascii_case("LIMIT") && j + 1 < a.len() {
                        j += 1;
                        limit = match a[j].parse::<i64>() {
                            Ok(n) if n >= 0 => n as usize,
                            _ => return err("ERR LIMIT can't be negative"),
                        };
                    } else {
                        return err(SYNTAX);
                    }
                    j += 1;
                }
                let n = self.set_op(SetOp::Inter, &a[2..2 + numkeys])?.len();
                Ok(int(if limit > 0 { n.min(limit) } else { n }))
            }

            // Sorted sets.
            "ZADD" => self.zadd(a, 2, false),
            "ZINCRBY" => self.zadd(a, 2, true),
            "ZREM" => {
                let z = self.zset(k)?;
                let mut removed = 0;
                for m in &a[2..] {
                    if let Some(i) = z.iter().position(|(_, x)| x == m) {
                        z.remove(i);
                        removed += 1;
                    }
                }
                Ok(int(removed))
            }
            "ZSCORE" => {
                let z = self.zset(k)?;
                Ok(z.iter()
                    .find(|(_, m)| *m == a[2])
                    .map_or(Value::Nil, |(s, _)| score_value(*s)))
            }
            "ZMSCORE" => {
                let z = self.zset(k)?;
                Ok(Value::Array(
                    a[2..]
                        .iter()
                        .map(|want| {
                            z.iter()
                                .find(|(_, m)| m == want)
                                .map_or(Value::Nil, |(s, _)| score_value(*s))
                        })
                        .collect(),
                ))
            }
            "ZCARD" => Ok(int(self.zset(k)?.len())),
            "ZRANK" | "ZREVRANK" => {
                let with_score = match a.len() {
                    3 => false,
                    4 if a[3].eq_ignore_ascii_case("WITHSCORE") => true,
                    _ => return err(SYNTAX),
                };
                let z = self.zset(k)?;
                match z.iter().position(|(_, m)| *m == a[2]) {
                    None => Ok(Value::Nil),
                    Some(i) => {
                        let rank = if name == "ZREVRANK" {
                            z.len() - 1 - i
                        } else {
                            i
                        };
                        if with_score {
                            Ok(Value::Array(vec![int(rank), score_value(z[i].0)]))
                        } else {
                            Ok(int(rank))
                        }
                    }
                }
            }
            "ZRANGE" => self.zrange(a, RangeType::Auto, Direction::Auto),
            "ZREVRANGE" => self.zrange(a, RangeType::Rank, Direction::Reverse),
            "ZRANGEBYSCORE" => self.zrange(a, RangeType::Score, Direction::Forward),
            "ZREVRANGEBYSCORE" => self.zrange(a, RangeType::Score, Direction::Reverse),
            "ZRANGEBYLEX" => self.zrange(a, RangeType::Lex, Direction::Forward),
            "ZREVRANGEBYLEX" => self.zrange(a, RangeType::Lex, Direction::Reverse),
            "ZCOUNT" => {
                let (Some(min), Some(max)) = (parse_score_bound(&a[2]), parse_score_bound(&a[3]))
                else {
                    return err("ERR min or max is not a float");
                };
                let z = self.zset(k)?;
                Ok(int(z
                    .iter()
                    .filter(|(s, _)| in_score_range(*s, min, max))
                    .count()))
            }
            "ZLEXCOUNT" => {
                let (Some(min), Some(max)) = (parse_lex_bound(&a[2]), parse_lex_bound(&a[3]))
                else {
                    return err("ERR min or max not valid string range item");
                };
                let z = self.zset(k)?;
                Ok(int(z
                    .iter()
                    .filter(|(_, m)| lex_above_min(m, &min) && lex_below_max(m, &max))
                    .count()))
            }
            "ZREMRANGEBYSCORE" => {
                let (Some(min), Some(max)) = (parse_score_bound(&a[2]), parse_score_bound(&a[3]))
                else {
                    return err("ERR min or max is not a float");
                };
                let z = self.zset(k)?;
                let before = z.len();
                z.retain(|(s, _)| !in_score_range(*s, min, max));
                Ok(int(before - z.len()))
            }
            "ZREMRANGEBYLEX" => {
                let (Some(min), Some(max)) = (parse_lex_bound(&a[2]), parse_lex_bound(&a[3]))
                else {
                    return err("ERR min or max not valid string range item");
                };
                let z = self.zset(k)?;
                let before = z.len();
                z.retain(|(_, m)| !(lex_above_min(m, &min) && lex_below_max(m, &max)));
                Ok(int(before - z.len()))
            }
            "ZREMRANGEBYRANK" => {
                let (start, stop) = (parse_int(&a[2])?, parse_int(&a[3])?);
                let z = self.zset(k)?;
                match index_range(start, stop, z.len()) {
                    None => Ok(int(0)),
                    Some((from, to)) => {
                        z.drain(from..=to);
                        Ok(int(to - from + 1))
                    }
                }
            }
            "ZPOPMIN" | "ZPOPMAX" => {
                if a.len() > 3 {
                    return err(SYNTAX);
                }
                let count = match a.get(2) {
                    None => 1,
                    Some(c) => match c.parse::<i64>() {
                        Ok(n) if n >= 0 => n as usize,
                        _ => return err(NOT_POSITIVE),
                    },
                };
                let z = self.zset(k)?;
                let n = count.min(z.len());
                let popped: Vec<(f64, String)> = if name == "ZPOPMIN" {
                    z.drain(..n).collect()
                } else {
                    z.drain(z.len() - n..).rev().collect()
                };
                Ok(with_scores(&popped))
            }

            other => panic!("the model does not know {other}"),
        }
    }

    /// `LPOS key element [RANK rank] [COUNT num] [MAXLEN len]`
    fn lpos(&mut self, a: &[String]) -> Reply {
        let (mut rank, mut count, mut maxlen) = (1i64, None::<usize>, 0usize);
        let mut j = 3;
        while j < a.len() {
            let more = j + 1 < a.len();
            let opt = a[j].to_ascii_uppercase();
            match opt.as_str() {
                "RANK" if more => {
                    j += 1;
                    rank = parse_int(&a[j])?;
                    if rank == 0 {
                        return err(
                            "ERR RANK can't be zero: use 1 to start from the first match, 2 from \
                             the second ... or use negative to start from the end of the list",
                        );
                    }
                }
                "COUNT" if more => {
                    j += 1;
                    match parse_int(&a[j])? {
                        n if n < 0 => return err("ERR COUNT can't be negative"),
                        n => count = Some(n as usize),
                    }
                }
                "MAXLEN" if more => {
                    j += 1;
                    match parse_int(&a[j])? {
                        n if n < 0 => return err("ERR MAXLEN can't be negative"),
                        n => maxlen = n as usize,
                    }
                }
                _ => return err(SYNTAX),
            }
            j += 1;
        }
        let k = a[1].as_str();
        if !self.exists_as(k, Kind::List)? {
            return Ok(if count.is_some() {
                Value::Array(vec![])
            } else {
                Value::Nil
            });
        }
        let l = self.list(k)?;
        let len = l.len();
        let order: Vec<usize> = if rank > 0 {
            (0..len).collect()
        } else {
            (0..len).rev().collect()
        };
        let skip = rank.unsigned_abs() as usize - 1;
        let scanned = if maxlen == 0 { len } else { maxlen.min(len) };
        let matches = order[..scanned]
            .iter()
            .copied()
            .filter(|&i| l[i] == a[2])
            .skip(skip);
        match count {
            None => Ok(matches.take(1).next().map_or(Value::Nil, int)),
            Some(n) => {
                let n = if n == 0 { usize::MAX } else { n };
                Ok(Value::Array(matches.take(n).map(int).collect()))
            }
        }
    }

    /// The members of `keys` combined (an absent key is an empty set); WRONGTYPE if any key
    /// holds another kind.
    fn set_op(&mut self, op: SetOp, keys: &[String]) -> Result<BTreeSet<String>, String> {
        for key in keys {
            self.exists_as(key, Kind::Set)?;
        }
        let members = |key: &String| match self.db.get(key.as_str()) {
            Some(Entry::Set(s)) => s.clone(),
            _ => BTreeSet::new(),
        };
        let mut acc = members(&keys[0]);
        for key in &keys[1..] {
            let other = members(key);
            match op {
                SetOp::Inter => acc.retain(|m| other.contains(m)),
                SetOp::Union => acc.extend(other),
                SetOp::Diff => acc.retain(|m| !other.contains(m)),
            }
        }
        Ok(acc)
    }

    /// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member …`, and `ZINCRBY key increment
    /// member` (`incr`), as Redis's zaddGenericCommand and zsetAdd.
    fn zadd(&mut self, a: &[String], first: usize, zincrby: bool) -> Reply {
        let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
            (false, false, false, false, false, zincrby);
        let mut at = first;
        while at < a.len() {
            match a[at].to_ascii_uppercase().as_str() {
                "NX" => nx = true,
                "XX" => xx = true,
                "CH" => ch = true,
                "INCR" => incr = true,
                "GT" => gt = true,
                "LT" => lt = true,
                _ => break,
            }
            at += 1;
        }
        let rest = a.len() - at;
        if rest == 0 || !rest.is_multiple_of(2) {
            return err(SYNTAX);
        }
        if nx && xx {
            return err("ERR XX and NX options at the same time are not compatible");
        }
        if ((gt || lt) && nx) || (gt && lt) {
            return err("ERR GT, LT, and/or NX options at the same time are not compatible");
        }
        if incr && rest > 2 {
            return err("ERR INCR option supports a single increment-element pair");
        }
        let mut pairs = Vec::new();
        for pair in a[at..].chunks(2) {
            let Some(score) = parse_score(&pair[0]) else {
                return err(NOT_A_FLOAT);
            };
            pairs.push((score, pair[1].clone()));
        }
        let key = a[1].as_str();
        let exists = self.exists_as(key, Kind::ZSet)?;
        let (mut added, mut updated, mut processed) = (0, 0, 0);
        let mut last = 0.0;
        if exists || !xx {
            let z = self.zset(key)?;
            for (score, member) in pairs {
                let current = z.iter().position(|(_, m)| *m == member);
                match current {
                    Some(i) => {
                        if nx {
                            continue;
                        }
                        let old = z[i].0;
                        let mut new = score;
                        if incr {
                            new += old;
                            if new.is_nan() {
                                return err("ERR resulting score is not a number (NaN)");
                            }
                        }
                        if (lt && new >= old) || (gt && new <= old) {
                            continue;
                        }
                        if new != old {
                            z[i].0 = stored(new);
                            zsort(z);
                            updated += 1;
                        }
                        processed += 1;
                        last = new;
                    }
                    None if !xx => {
                        z.push((stored(score), member));
                        zsort(z);
                        added += 1;
                        processed += 1;
                        last = score;
                    }
                    None => {}
                }
            }
        }
        if incr {
            Ok(if processed > 0 {
                score_value(last)
            } else {
                Value::Nil
            })
        } else {
            Ok(int(if ch { added + updated } else { added }))
        }
    }

    /// ZRANGE and its older forms, as Redis's zrangeGenericCommand (RESP2 replies).
    fn zrange(&mut self, a: &[String], mut by: RangeType, mut dir: Direction) -> Reply {
        let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
        let mut j = 4;
        while j < a.len() {
            let left = a.len() - j - 1;
            let opt = a[j].to_ascii_uppercase();
            if opt == "WITHSCORES" {
                withscores = true;
            } else if opt == "LIMIT" && left >= 2 {
                offset = parse_int(&a[j + 1])?;
                limit = parse_int(&a[j + 2])?;
                j += 2;
            } else if dir == Direction::Auto && opt == "REV" {
                dir = Direction::Reverse;
            } else if by == RangeType::Auto && opt == "BYLEX" {
                by = RangeType::Lex;
            } else if by == RangeType::Auto && opt == "BYSCORE" {
                by = RangeType::Score;
            } else {
                return err(SYNTAX);
            }
            j += 1;
        }
        if dir == Direction::Auto {
            dir = Direction::Forward;
        }
        if by == RangeType::Auto {
            by = RangeType::Rank;
        }
        let rev = dir == Direction::Reverse;
        // Redis checks LIMIT against its default count, -1.
        if limit != -1 && by == RangeType::Rank {
            return err(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE \
                 or BYLEX",
            );
        }
        if withscores && by == RangeType::Lex {
            return err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        }
        // Reversed score and lex ranges name the maximum first.
        let (lo, hi) = if rev && by != RangeType::Rank {
            (&a[3], &a[2])
        } else {
            (&a[2], &a[3])
        };
        enum Range {
            Rank(i64, i64),
            Score(ScoreBound, ScoreBound),
            Lex(LexBound, LexBound),
        }
        let range = match by {
            RangeType::Score => match (parse_score_bound(lo), parse_score_bound(hi)) {
                (Some(min), Some(max)) => Range::Score(min, max),
                _ => return err("ERR min or max is not a float"),
            },
            RangeType::Lex => match (parse_lex_bound(lo), parse_lex_bound(hi)) {
                (Some(min), Some(max)) => Range::Lex(min, max),
                _ => return err("ERR min or max not valid string range item"),
            },
            _ => Range::Rank(parse_int(lo)?, parse_int(hi)?),
        };
        let z = self.zset(&a[1])?;
        let mut ordered: Vec<(f64, String)> = z.clone();
        if rev {
            ordered.reverse();
        }
        let picked: Vec<(f64, String)> = match range {
            Range::Rank(start, stop) => match index_range(start, stop, ordered.len()) {
                None => Vec::new(),
                Some((from, to)) => ordered[from..=to].to_vec(),
            },
            Range::Score(min, max) => {
                let hits = ordered
                    .into_iter()
                    .filter(|(s, _)| in_score_range(*s, min, max));
                page(hits, offset, limit)
            }
            Range::Lex(min, max) => {
                let hits = ordered
                    .into_iter()
                    .filter(|(_, m)| lex_above_min(m, &min) && lex_below_max(m, &max));
                page(hits, offset, limit)
            }
        };
        if withscores {
            Ok(with_scores(&picked))
        } else {
            Ok(bulks(picked.iter().map(|(_, m)| m)))
        }
    }
}

/// `LIMIT offset count` as Redis applies it: a negative offset skips everything, a negative
/// count takes everything after the offset.
fn page(hits: impl Iterator<Item = (f64, String)>, offset: i64, limit: i64) -> Vec<(f64, String)> {
    if offset < 0 {
        return Vec::new();
    }
    let hits = hits.skip(offset as usize);
    if limit < 0 {
        hits.collect()
    } else {
        hits.take(limit as usize).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Running a script against the server and the model
// ---------------------------------------------------------------------------------------------

const KEYS: [&str; 3] = ["k0", "k1", "k2"];

/// A generated command sequence, printed one redis-cli line per command.
#[derive(Clone)]
struct Script(Vec<Vec<String>>);

fn show(cmd: &[String]) -> String {
    cmd.iter()
        .map(|a| {
            if a.is_empty() || a.contains([' ', '"', '(', '[']) {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "script of {} commands:", self.0.len())?;
        for cmd in &self.0 {
            writeln!(f, "    {}", show(cmd))?;
        }
        Ok(())
    }
}

fn send(con: &mut redis::Connection, args: &[String]) -> Reply {
    let mut c = redis::cmd(&args[0]);
    for a in &args[1..] {
        c.arg(a);
    }
    match c.query::<Value>(con) {
        Ok(Value::ServerError(e)) => Err(format!("{e:?}")),
        Ok(v) => Ok(v),
        Err(e) if e.code().is_some() => Err(error_text(&e)),
        Err(e) => panic!("{}: transport error {e}", show(args)),
    }
}

fn sort_key(v: &Value) -> String {
    format!("{v:?}")
}

/// Sort the replies Redis gives in no particular order.
fn normalize(cmd: &[String], reply: Reply) -> Reply {
    let name = cmd[0].to_ascii_uppercase();
    reply.map(|v| match (name.as_str(), v) {
        ("SMEMBERS" | "SINTER" | "SUNION" | "SDIFF" | "HKEYS" | "HVALS", Value::Array(mut xs)) => {
            xs.sort_by_key(sort_key);
            Value::Array(xs)
        }
        ("HGETALL", Value::Array(xs)) if xs.len() % 2 == 0 => {
            let mut pairs: Vec<Vec<Value>> = xs.chunks(2).map(<[Value]>::to_vec).collect();
            pairs.sort_by_key(|p| sort_key(&p[0]));
            Value::Array(pairs.concat())
        }
        (_, v) => v,
    })
}

fn render(reply: &Reply) -> String {
    match reply {
        Ok(v) => render_value(v),
        Err(e) => format!("(error) {e}"),
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::Nil => "(nil)".into(),
        Value::Int(n) => format!("(integer) {n}"),
        Value::BulkString(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::Array(xs) => format!(
            "[{}]",
            xs.iter().map(render_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Okay => "OK".into(),
        Value::SimpleString(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// Send one command to both sides and compare the replies.
fn step(
    con: &mut redis::Connection,
    model: &mut Model,
    cmd: &[String],
    context: &str,
) -> Result<(), TestCaseError> {
    let expected = normalize(cmd, model.apply(cmd));
    let actual = normalize(cmd, send(con, cmd));
    if actual != expected {
        return Err(TestCaseError::fail(format!(
            "{context}: `{}`\n    server replied: {}\n    Redis replies:  {}",
            show(cmd),
            render(&actual),
            render(&expected)
        )));
    }
    Ok(())
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn check_script(con: &mut redis::Connection, script: &Script) -> Result<(), TestCaseError> {
    let flushed = send(con, &words(&["FLUSHDB"]));
    prop_assert_eq!(flushed, Ok(Value::Okay));
    let mut model = Model::default();
    for (i, cmd) in script.0.iter().enumerate() {
        step(con, &mut model, cmd, &format!("command {}", i + 1))?;
        // Kinds and existence after every command: an emptied collection is gone.
        for key in KEYS {
            step(
                con,
                &mut model,
                &words(&["TYPE", key]),
                &format!("after command {} (`{}`)", i + 1, show(cmd)),
            )?;
        }
    }
    // The whole content at the end.
    for key in KEYS {
        let dump = match model.db.get(key).map(Entry::kind) {
            None => words(&["EXISTS", key]),
            Some(Kind::Str) => words(&["GET", key]),
            Some(Kind::Hash) => words(&["HGETALL", key]),
            Some(Kind::List) => words(&["LRANGE", key, "0", "-1"]),
            Some(Kind::Set) => words(&["SMEMBERS", key]),
            Some(Kind::ZSet) => words(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        };
        step(con, &mut model, &dump, "final content")?;
    }
    Ok(())
}

/// Run `scripts` against one server (FLUSHDB between scripts).
fn run_family(family: &str, scripts: impl Strategy<Value = Script>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(resp_support::start());
    // RESP_MODEL_REFERENCE=redis://host:port/ runs the scripts against that server instead, to
    // check the model itself against a real Redis 7.2 (its database is flushed!).
    let client = match std::env::var("RESP_MODEL_REFERENCE") {
        Ok(url) => redis::Client::open(url).expect("reference url"),
        Err(_) => server.client(),
    };
    let con = client.get_connection().expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let con = RefCell::new(con);
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        Config::default().cases
    } else {
        64
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&scripts, |script| {
        check_script(&mut con.borrow_mut(), &script)
    });
    if let Err(e) = outcome {
        panic!("{family}: the server departs from Redis's semantics\n{e}");
    }
    rt.block_on(server.shut_down()).expect("shut down");
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

type Cmd = BoxedStrategy<Vec<String>>;

fn pick(options: &'static [&'static str]) -> BoxedStrategy<String> {
    prop::sample::select(options)
        .prop_map(str::to_string)
        .boxed()
}

fn key() -> BoxedStrategy<String> {
    pick(&KEYS)
}

fn int_in(range: std::ops::Range<i64>) -> BoxedStrategy<String> {
    range.prop_map(|i| i.to_string()).boxed()
}

/// `name` followed by the generated arguments.
fn cmd(name: &'static str, parts: impl Strategy<Value = Vec<String>> + 'static) -> Cmd {
    parts
        .prop_map(move |rest| {
            let mut v = vec![name.to_string()];
            v.extend(rest);
            v
        })
        .boxed()
}

fn one_of(weighted: Vec<(u32, Cmd)>) -> Cmd {
    Union::new_weighted(weighted).boxed()
}

fn some(s: BoxedStrategy<String>, n: std::ops::Range<usize>) -> BoxedStrategy<Vec<String>> {
    prop::collection::vec(s, n).boxed()
}

/// Optional argument groups, each present with the given probability, in a random order.
fn options(groups: Vec<(f64, BoxedStrategy<Vec<String>>)>) -> BoxedStrategy<Vec<String>> {
    let picked: Vec<BoxedStrategy<Option<Vec<String>>>> = groups
        .into_iter()
        .filter(|(p, _)| *p > 0.0)
        .map(|(p, g)| {
            if p >= 1.0 {
                g.prop_map(Some).boxed()
            } else {
                prop::option::weighted(p, g).boxed()
            }
        })
        .collect();
    picked
        .prop_map(|gs| gs.into_iter().flatten().collect::<Vec<Vec<String>>>())
        .prop_shuffle()
        .prop_map(|gs| gs.concat())
        .boxed()
}

/// A keyword, in lower case now and then (Redis reads keywords case-insensitively).
fn kw(w: &'static str) -> BoxedStrategy<String> {
    prop_oneof![4 => Just(w.to_string()), 1 => Just(w.to_ascii_lowercase())].boxed()
}

fn word(w: &'static str) -> BoxedStrategy<Vec<String>> {
    kw(w).prop_map(|w| vec![w]).boxed()
}

fn word_with(w: &'static str, value: BoxedStrategy<String>) -> BoxedStrategy<Vec<String>> {
    (kw(w), value).prop_map(|(w, v)| vec![w, v]).boxed()
}

/// Commands of every family: WRONGTYPE on a key of another kind, and SET / DEL replacing or
/// removing a collection. The writes go to `k2` only, so `k0` and `k1` mostly keep the family's
/// kind while `k2` changes kind now and then. `zset_scores`: whether ZADD may add a non-zero
/// score (not in the lex test, whose ranges need equal scores).
fn cross_type(zset_scores: bool) -> Vec<(u32, Cmd)> {
    let mixed = KEYS[2];
    let mut writes = vec![
        (1, Just(words(&["SET", mixed, "v"])).boxed()),
        (1, Just(words(&["LPUSH", mixed, "x"])).boxed()),
        (1, Just(words(&["HSET", mixed, "f", "1"])).boxed()),
        (1, Just(words(&["SADD", mixed, "x"])).boxed()),
    ];
    if zset_scores {
        writes.push((1, Just(words(&["ZADD", mixed, "1", "x"])).boxed()));
    }
    vec![
        (1, cmd("GET", key().prop_map(|k| vec![k]))),
        (2, one_of(writes)),
        (1, Just(words(&["DEL", mixed])).boxed()),
        (1, cmd("DEL", key().prop_map(|k| vec![k]))),
        (1, cmd("EXISTS", some(key(), 1..4))),
    ]
}

fn script(commands: Cmd) -> impl Strategy<Value = Script> {
    prop::collection::vec(commands, 1..60).prop_map(Script)
}

const FIELDS: &[&str] = &["a", "b", "c", "d", "e"];
const HVALUES: &[&str] = &["1", "-3", "10", "x", ""];
const INCREMENTS: &[&str] = &[
    "1",
    "-2",
    "5",
    "9223372036854775807",
    "-9223372036854775808",
];
const ELEMENTS: &[&str] = &["a", "b", "c", "d", "e"];
const SCORES: &[&str] = &["-2", "-1.5", "0", "1", "1.5", "2", "3", "inf", "-inf"];
/// Scores whose printing has edge cases: negative zero, inexact decimals, and magnitudes where
/// Redis switches between plain and exponent notation.
const RARE_SCORES: &[&str] = &[
    "-0",
    "0.1",
    "0.000001",
    "0.0000015",
    "1e17",
    "-2.5e18",
    "1e19",
    "1e30",
    "1.5e-7",
];

fn score() -> BoxedStrategy<String> {
    prop_oneof![9 => pick(SCORES), 1 => pick(RARE_SCORES)].boxed()
}

/// Score bounds in increasing order (see [`bound_pair`]).
const SCORE_BOUNDS: &[&str] = &[
    "-inf", "(-inf", "-1.5", "(-1.5", "0", "(0", "1", "(1", "1.5", "(1.5", "2", "(2", "3", "(3",
    "(+inf", "+inf",
];
const LEX_MEMBERS: &[&str] = &["a", "aa", "ab", "b", "c", "d"];
/// Lex bounds in increasing order (see [`bound_pair`]).
const LEX_BOUNDS: &[&str] = &[
    "-", "[", "(", "[a", "(a", "[aa", "(aa", "[ab", "[b", "(b", "[c", "(c", "(d", "[e", "+",
];

/// Two bounds from `sorted`: mostly `[min, max]` (`[max, min]` when `reversed`, as the REV
/// forms take them), the other way round now and then.
fn bound_pair(sorted: &'static [&'static str], reversed: bool) -> BoxedStrategy<Vec<String>> {
    (0..sorted.len(), 0..sorted.len(), prop::bool::weighted(0.8))
        .prop_map(move |(i, j, ordered)| {
            let (lo, hi) = (i.min(j), i.max(j));
            let (first, second) = if ordered != reversed {
                (lo, hi)
            } else {
                (hi, lo)
            };
            vec![sorted[first].to_string(), sorted[second].to_string()]
        })
        .boxed()
}

/// `key` and a bound pair, then options; the pair is swapped when the options hold REV.
fn ranged(
    sorted: &'static [&'static str],
    reversed: bool,
    opts: BoxedStrategy<Vec<String>>,
) -> BoxedStrategy<Vec<String>> {
    (key(), bound_pair(sorted, reversed), opts)
        .prop_map(|(k, mut pair, o)| {
            if o.iter().any(|w| w.eq_ignore_ascii_case("REV")) {
                pair.reverse();
            }
            [vec![k], pair, o].concat()
        })
        .boxed()
}

fn hash_commands() -> Cmd {
    let field = || pick(FIELDS);
    let k = key;
    let mut v = vec![
        (
            6,
            cmd(
                "HSET",
                (k(), prop::collection::vec((field(), pick(HVALUES)), 1..4)).prop_map(
                    |(k, pairs)| {
                        let mut v = vec![k];
                        for (f, x) in pairs {
                            v.push(f);
                            v.push(x);
                        }
                        v
                    },
                ),
            ),
        ),
        // A field without its value.
        (
            1,
            cmd(
                "HSET",
                (k(), field(), pick(HVALUES), field()).prop_map(|(k, f, x, g)| vec![k, f, x, g]),
            ),
        ),
        (
            4,
            cmd(
                "HDEL",
                (k(), some(field(), 1..4)).prop_map(|(k, fs)| [vec![k], fs].concat()),
            ),
        ),
        (3, cmd("HGET", (k(), field()).prop_map(|(k, f)| vec![k, f]))),
        (
            4,
            cmd(
                "HINCRBY",
                (k(), field(), pick(INCREMENTS)).prop_map(|(k, f, n)| vec![k, f, n]),
            ),
        ),
        (2, cmd("HLEN", k().prop_map(|k| vec![k]))),
        (
            2,
            cmd("HEXISTS", (k(), field()).prop_map(|(k, f)| vec![k, f])),
        ),
        (
            3,
            cmd(
                "HSETNX",
                (k(), field(), pick(HVALUES)).prop_map(|(k, f, x)| vec![k, f, x]),
            ),
        ),
        (
            2,
            cmd(
                "HMGET",
                (k(), some(field(), 1..4)).prop_map(|(k, fs)| [vec![k], fs].concat()),
            ),
        ),
        (2, cmd("HGETALL", k().prop_map(|k| vec![k]))),
        (1, cmd("HKEYS", k().prop_map(|k| vec![k]))),
        (1, cmd("HVALS", k().prop_map(|k| vec![k]))),
        (
            1,
            cmd("HSTRLEN", (k(), field()).prop_map(|(k, f)| vec![k, f])),
        ),
        (1, cmd("EXISTS", k().prop_map(|k| vec![k]))),
    ];
    v.extend(cross_type(true));
    one_of(v)
}

fn list_commands() -> Cmd {
    let el = || pick(&["a", "b", "c", "d"]);
    let k = key;
    // Now and then an index that is not a number: which check comes first is part of Redis's
    // answer (LINDEX and LSET look the key up first, LRANGE and LTRIM read the indexes first).
    let idx = || prop_oneof![30 => int_in(-5..5), 1 => Just("x".to_string())].boxed();
    let end = || prop_oneof![kw("LEFT"), kw("RIGHT")];
    let key_and =
        |n: std::ops::Range<usize>| (k(), some(el(), n)).prop_map(|(k, es)| [vec![k], es].concat());
    let pop_args = || {
        (
            k(),
            prop::option::weighted(
                0.5,
                prop_oneof![4 => int_in(0..4), 1 => Just("-1".to_string())],
            ),
        )
            .prop_map(|(k, c)| [vec![k], c.into_iter().collect()].concat())
    };
    let lpos_options = options(vec![
        (
            0.5,
            word_with(
                "RANK",
                pick(&["-3", "-2", "-1", "-1", "1", "1", "2", "2", "3", "0"]),
            ),
        ),
        (
            0.5,
            word_with("COUNT", pick(&["0", "0", "1", "1", "2", "2", "3", "-1"])),
        ),
        (
            0.3,
            word_with("MAXLEN", pick(&["0", "1", "2", "2", "3", "4", "4", "-1"])),
        ),
    ]);
    let mut v = vec![
        (4, cmd("LPUSH", key_and(1..4))),
        (4, cmd("RPUSH", key_and(1..4))),
        (1, cmd("LPUSHX", key_and(1..3))),
        (1, cmd("RPUSHX", key_and(1..3))),
        (3, cmd("LPOP", pop_args())),
        (3, cmd("RPOP", pop_args())),
        (
            3,
            cmd(
                "LRANGE",
                (k(), idx(), idx()).prop_map(|(k, a, b)| vec![k, a, b]),
            ),
        ),
        (
            2,
            cmd(
                "LTRIM",
                (k(), idx(), idx()).prop_map(|(k, a, b)| vec![k, a, b]),
            ),
        ),
        (
            3,
            cmd(
                "LREM",
                (k(), int_in(-3..4), el()).prop_map(|(k, n, e)| vec![k, n, e]),
            ),
        ),
        (2, cmd("LINDEX", (k(), idx()).prop_map(|(k, i)| vec![k, i]))),
        (
            3,
            cmd(
                "LSET",
                (k(), idx(), el()).prop_map(|(k, i, e)| vec![k, i, e]),
            ),
        ),
        (
            3,
            cmd(
                "LINSERT",
                (k(), prop_oneof![kw("BEFORE"), kw("AFTER")], el(), el())
                    .prop_map(|(k, w, p, e)| vec![k, w, p, e]),
            ),
        ),
        (
            4,
            cmd(
                "LPOS",
                (k(), el(), lpos_options).prop_map(|(k, e, o)| [vec![k, e], o].concat()),
            ),
        ),
        (
            4,
            cmd(
                "LMOVE",
                (k(), k(), end(), end()).prop_map(|(a, b, x, y)| vec![a, b, x, y]),
            ),
        ),
        (
            1,
            cmd("RPOPLPUSH", (k(), k()).prop_map(|(a, b)| vec![a, b])),
        ),
        (2, cmd("LLEN", k().prop_map(|k| vec![k]))),
        (1, cmd("EXISTS", k().prop_map(|k| vec![k]))),
    ];
    v.extend(cross_type(true));
    one_of(v)
}

fn set_commands() -> Cmd {
    let m = || pick(ELEMENTS);
    let k = key;
    let key_and =
        |n: std::ops::Range<usize>| (k(), some(m(), n)).prop_map(|(k, ms)| [vec![k], ms].concat());
    let keys = || some(k(), 1..4);
    let store = || (k(), some(k(), 1..4)).prop_map(|(d, ks)| [vec![d], ks].concat());
    let mut v = vec![
        (6, cmd("SADD", key_and(1..4))),
        (4, cmd("SREM", key_and(1..4))),
        (
            2,
            cmd("SISMEMBER", (k(), m()).prop_map(|(k, m)| vec![k, m])),
        ),
        (1, cmd("SMISMEMBER", key_and(1..4))),
        (2, cmd("SCARD", k().prop_map(|k| vec![k]))),
        (2, cmd("SMEMBERS", k().prop_map(|k| vec![k]))),
        (
            4,
            cmd("SMOVE", (k(), k(), m()).prop_map(|(a, b, m)| vec![a, b, m])),
        ),
        (2, cmd("SINTER", keys())),
        (2, cmd("SUNION", keys())),
        (2, cmd("SDIFF", keys())),
        (2, cmd("SINTERSTORE", store())),
        (2, cmd("SUNIONSTORE", store())),
        (2, cmd("SDIFFSTORE", store())),
        (
            1,
            cmd(
                "SINTERCARD",
                (keys(), prop::option::weighted(0.5, int_in(0..3))).prop_map(|(ks, limit)| {
                    let mut v = vec![ks.len().to_string()];
                    v.extend(ks);
                    if let Some(l) = limit {
                        v.push("LIMIT".into());
                        v.push(l);
                    }
                    v
                }),
            ),
        ),
        (1, cmd("EXISTS", k().prop_map(|k| vec![k]))),
    ];
    v.extend(cross_type(true));
    one_of(v)
}

/// `ZADD` flags (in a random order, incompatible ones included) and 1–3 score/member pairs.
fn zadd_args(
    scores: BoxedStrategy<String>,
    members: BoxedStrategy<String>,
    with_incr: bool,
) -> BoxedStrategy<Vec<String>> {
    let mut flags = vec![
        (0.12, word("NX")),
        (0.12, word("XX")),
        (0.12, word("GT")),
        (0.12, word("LT")),
        (0.3, word("CH")),
    ];
    if with_incr {
        flags.push((0.25, word("INCR")));
    }
    (
        key(),
        options(flags),
        prop::collection::vec((scores, members), 1..4),
    )
        .prop_map(|(k, flags, pairs)| {
            // INCR takes one pair; a second one (the error) now and then.
            let n = if flags.iter().any(|f| f.eq_ignore_ascii_case("INCR")) && pairs.len() == 3 {
                2
            } else if flags.iter().any(|f| f.eq_ignore_ascii_case("INCR")) {
                1
            } else {
                pairs.len()
            };
            let mut v = vec![k];
            v.extend(flags);
            for (s, m) in pairs.into_iter().take(n) {
                v.push(s);
                v.push(m);
            }
            v
        })
        .boxed()
}

fn limit_group() -> BoxedStrategy<Vec<String>> {
    (kw("LIMIT"), int_in(-1..4), int_in(-1..4))
        .prop_map(|(l, o, c)| vec![l, o, c])
        .boxed()
}

/// Sorted sets ranged by rank and by score.
fn zset_commands() -> Cmd {
    let m = || pick(ELEMENTS);
    let k = key;
    let idx = || int_in(-5..5);
    let key_and =
        |n: std::ops::Range<usize>| (k(), some(m(), n)).prop_map(|(k, ms)| [vec![k], ms].concat());
    let pop = || {
        (
            k(),
            prop::option::weighted(
                0.6,
                prop_oneof![5 => int_in(0..4), 1 => Just("-1".to_string())],
            ),
        )
            .prop_map(|(k, c)| [vec![k], c.into_iter().collect()].concat())
    };
    let rank_range = (
        k(),
        idx(),
        idx(),
        options(vec![
            (0.4, word("REV")),
            (0.4, word("WITHSCORES")),
            // The documented error (Redis lets `LIMIT <any> -1` through, its default count).
            (
                0.05,
                (int_in(0..3), int_in(0..3))
                    .prop_map(|(o, c)| vec!["LIMIT".to_string(), o, c])
                    .boxed(),
            ),
        ]),
    )
        .prop_map(|(k, a, b, o)| [vec![k, a, b], o].concat());
    let score_range = ranged(
        SCORE_BOUNDS,
        false,
        options(vec![
            (1.0, word("BYSCORE")),
            (0.4, word("REV")),
            (0.4, word("WITHSCORES")),
            (0.4, limit_group()),
        ]),
    );
    let by_score_legacy = |reversed| {
        ranged(
            SCORE_BOUNDS,
            reversed,
            options(vec![(0.4, word("WITHSCORES")), (0.4, limit_group())]),
        )
    };
    let plain = || ranged(SCORE_BOUNDS, false, Just(vec![]).boxed());
    let mut v = vec![
        (14, cmd("ZADD", zadd_args(score(), m(), true))),
        (
            3,
            cmd(
                "ZINCRBY",
                (k(), score(), m()).prop_map(|(k, s, m)| vec![k, s, m]),
            ),
        ),
        (2, cmd("ZREM", key_and(1..4))),
        (2, cmd("ZSCORE", (k(), m()).prop_map(|(k, m)| vec![k, m]))),
        (1, cmd("ZMSCORE", key_and(1..4))),
        (1, cmd("ZCARD", k().prop_map(|k| vec![k]))),
        (
            2,
            cmd(
                "ZRANK",
                (k(), m(), prop::option::weighted(0.4, kw("WITHSCORE")))
                    .prop_map(|(k, m, w)| [vec![k, m], w.into_iter().collect()].concat()),
            ),
        ),
        (
            2,
            cmd(
                "ZREVRANK",
                (k(), m(), prop::option::weighted(0.4, kw("WITHSCORE")))
                    .prop_map(|(k, m, w)| [vec![k, m], w.into_iter().collect()].concat()),
            ),
        ),
        (4, cmd("ZRANGE", rank_range)),
        (5, cmd("ZRANGE", score_range)),
        (
            1,
            cmd(
                "ZREVRANGE",
                (
                    k(),
                    idx(),
                    idx(),
                    prop::option::weighted(0.5, kw("WITHSCORES")),
                )
                    .prop_map(|(k, a, b, w)| [vec![k, a, b], w.into_iter().collect()].concat()),
            ),
        ),
        (2, cmd("ZRANGEBYSCORE", by_score_legacy(false))),
        (2, cmd("ZREVRANGEBYSCORE", by_score_legacy(true))),
        (2, cmd("ZCOUNT", plain())),
        (1, cmd("ZREMRANGEBYSCORE", plain())),
        (
            1,
            cmd(
                "ZREMRANGEBYRANK",
                (k(), idx(), idx()).prop_map(|(k, a, b)| vec![k, a, b]),
            ),
        ),
        (1, cmd("ZPOPMIN", pop())),
        (1, cmd("ZPOPMAX", pop())),
        (1, cmd("EXISTS", k().prop_map(|k| vec![k]))),
    ];
    v.extend(cross_type(true));
    one_of(v)
}

/// Sorted sets whose scores are all 0, ranged lexicographically (Redis defines lex ranges only
/// for equal scores).
fn zset_lex_commands() -> Cmd {
    let m = || pick(LEX_MEMBERS);
    let k = key;
    let key_and =
        |n: std::ops::Range<usize>| (k(), some(m(), n)).prop_map(|(k, ms)| [vec![k], ms].concat());
    let lex_range = |reversed: bool, with_limit: f64| {
        ranged(
            LEX_BOUNDS,
            reversed,
            options(vec![(with_limit, limit_group())]),
        )
    };
    let zrange_bylex = ranged(
        LEX_BOUNDS,
        false,
        options(vec![
            (1.0, word("BYLEX")),
            (0.4, word("REV")),
            (0.4, limit_group()),
            (0.05, word("WITHSCORES")),
        ]),
    );
    let mut v = vec![
        (
            14,
            cmd("ZADD", zadd_args(Just("0".to_string()).boxed(), m(), false)),
        ),
        (2, cmd("ZREM", key_and(1..4))),
        (4, cmd("ZRANGEBYLEX", lex_range(false, 0.4))),
        (3, cmd("ZREVRANGEBYLEX", lex_range(true, 0.4))),
        (4, cmd("ZRANGE", zrange_bylex)),
        (3, cmd("ZLEXCOUNT", lex_range(false, 0.0))),
        (2, cmd("ZREMRANGEBYLEX", lex_range(false, 0.0))),
        (1, cmd("ZCARD", k().prop_map(|k| vec![k]))),
        (1, cmd("ZPOPMIN", k().prop_map(|k| vec![k]))),
        (
            1,
            cmd(
                "ZRANGE",
                (k(), int_in(-5..5), int_in(-5..5)).prop_map(|(k, a, b)| vec![k, a, b]),
            ),
        ),
    ];
    v.extend(cross_type(false));
    one_of(v)
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn hashes_follow_the_redis_model() {
    run_family("hashes", script(hash_commands()));
}

#[test]
fn lists_follow_the_redis_model() {
    run_family("lists", script(list_commands()));
}

#[test]
fn sets_follow_the_redis_model() {
    run_family("sets", script(set_commands()));
}

#[test]
fn sorted_sets_follow_the_redis_model() {
    run_family("sorted sets", script(zset_commands()));
}

#[test]
fn sorted_set_lex_ranges_follow_the_redis_model() {
    run_family("sorted sets by lex", script(zset_lex_commands()));
}

/// The model's own arithmetic, on cases from the Redis documentation.
#[test]
fn the_model_agrees_with_documented_examples() {
    let mut m = Model::default();
    let mut run = |args: &[&str]| m.apply(&words(args));
    // LPOS (the documentation's example list a b c 1 2 3 c c).
    run(&["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]).expect("set-up");
    assert_eq!(run(&["LPOS", "l", "c"]), Ok(int(2)));
    assert_eq!(run(&["LPOS", "l", "c", "RANK", "2"]), Ok(int(6)));
    assert_eq!(run(&["LPOS", "l", "c", "RANK", "-1"]), Ok(int(7)));
    assert_eq!(
        run(&["LPOS", "l", "c", "COUNT", "2"]),
        Ok(Value::Array(vec![int(2), int(6)]))
    );
    assert_eq!(
        run(&["LPOS", "l", "c", "RANK", "-1", "COUNT", "2"]),
        Ok(Value::Array(vec![int(7), int(6)]))
    );
    assert_eq!(
        run(&["LPOS", "l", "c", "COUNT", "0"]),
        Ok(Value::Array(vec![int(2), int(6), int(7)]))
    );
    assert_eq!(run(&["LPOS", "l", "c", "MAXLEN", "2"]), Ok(Value::Nil));
    // LREM with a negative count removes from the tail.
    run(&["DEL", "l"]).expect("set-up");
    run(&["RPUSH", "l", "hello", "hello", "foo", "hello"]).expect("set-up");
    assert_eq!(run(&["LREM", "l", "-2", "hello"]), Ok(int(2)));
    assert_eq!(
        run(&["LRANGE", "l", "0", "-1"]),
        Ok(bulks(&words(&["hello", "foo"])))
    );
    // ZRANGE BYSCORE with exclusive bounds, REV naming the maximum first, LIMIT.
    run(&["ZADD", "z", "1", "one", "2", "two", "3", "three"]).expect("set-up");
    assert_eq!(
        run(&["ZRANGE", "z", "(1", "3", "BYSCORE"]),
        Ok(bulks(&words(&["two", "three"])))
    );
    assert_eq!(
        run(&[
            "ZRANGE", "z", "(3", "-inf", "BYSCORE", "REV", "LIMIT", "0", "1"
        ]),
        Ok(bulks(&words(&["two"])))
    );
    assert_eq!(
        run(&["ZRANGE", "z", "0", "0", "REV", "WITHSCORES"]),
        Ok(Value::Array(vec![bulk("three"), bulk("3")]))
    );
    // ZADD GT never lowers, CH counts changes, INCR answers the score or nil.
    assert_eq!(
        run(&["ZADD", "z", "GT", "CH", "0", "one", "5", "two"]),
        Ok(int(1))
    );
    assert_eq!(
        run(&["ZADD", "z", "NX", "INCR", "1", "one"]),
        Ok(Value::Nil)
    );
    assert_eq!(run(&["ZADD", "z", "INCR", "1.5", "one"]), Ok(bulk("2.5")));
    // Emptied collections are gone.
    assert_eq!(run(&["ZREMRANGEBYRANK", "z", "0", "-1"]), Ok(int(3)));
    assert_eq!(run(&["EXISTS", "z"]), Ok(int(0)));
    // Doubles as Redis prints them (values from Redis's own d2string / fpconv_dtoa rules).
    for (x, text) in [
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (3.0, "3"),
        (-1.5, "-1.5"),
        (-0.0, "-0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e17, "100000000000000000"),
        (-2.5e18, "-2500000000000000000"),
        (1e19, "1e+19"),
        (1e30, "1e+30"),
        (0.000001, "0.000001"),
        (0.0000015, "1.5e-6"),
        (1.5e-7, "1.5e-7"),
        (1e-300, "1e-300"),
        (123.456, "123.456"),
    ] {
        assert_eq!(fmt_score(x), text, "{x:e}");
    }
}
