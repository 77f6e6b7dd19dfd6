//! Tests of the multi-key operations: scan cursors, random keys, rename/copy across shards,
//! MSETNX's all-or-nothing, and read-modify-write through `update`.

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;

use super::*;
use crate::policy::BuiltinPolicy;

fn sharded(shards: usize) -> Store {
    let limits = StoreLimits {
        capacity_bytes: 64 << 20,
        max_item_size: 1 << 20,
        default_ttl_ms: 0,
    };
    Store::new(shards, limits, || BuiltinPolicy::Lru.build(64 << 20))
}

fn set(s: &Store, k: &[u8], v: &[u8]) {
    s.set(k, v, SetOptions::default()).unwrap();
}

fn scan_all(s: &Store, count: usize, mut between: impl FnMut(usize)) -> Vec<Vec<u8>> {
    let (mut cursor, mut out, mut step) = (0, Vec::new(), 0);
    loop {
        cursor = s.scan(cursor, count, &mut out);
        if cursor == 0 {
            return out;
        }
        between(step);
        step += 1;
    }
}

#[test]
fn a_full_scan_returns_every_key_once() {
    let s = sharded(8);
    for i in 0..5000 {
        set(&s, format!("k{i}").as_bytes(), b"v");
    }
    for count in [1, 10, 1000, 100_000] {
        let keys = scan_all(&s, count, |_| {});
        assert_eq!(keys.len(), 5000, "count {count}");
        let unique: HashSet<_> = keys.into_iter().collect();
        assert_eq!(unique.len(), 5000);
    }
    assert_eq!(sharded(4).scan(0, 10, &mut Vec::new()), 0);
}

#[test]
fn keys_present_throughout_are_returned_despite_writes_and_deletes() {
    let s = sharded(4);
    for i in 0..2000 {
        set(&s, format!("stay{i}").as_bytes(), b"v");
        set(&s, format!("go{i}").as_bytes(), b"v");
    }
    // Between steps: delete the `go` keys and add many new ones, which refills vacant slots and
    // grows every table several times over.
    let keys = scan_all(&s, 50, |step| {
        for i in 0..100 {
            s.delete(format!("go{}", step * 100 + i).as_bytes());
            set(&s, format!("new{step}-{i}").as_bytes(), b"v");
        }
    });
    let seen: HashSet<_> = keys.into_iter().collect();
    for i in 0..2000 {
        assert!(
            seen.contains(format!("stay{i}").as_bytes()),
            "stay{i} missed"
        );
    }
}

#[test]
fn an_unknown_cursor_ends_or_resumes_without_panicking() {
    let s = sharded(4);
    set(&s, b"a", b"1");
    for cursor in [1, u64::MAX, 1 << 40, (3 << 40) | 999_999] {
        let mut out = Vec::new();
        let _ = s.scan(cursor, 10, &mut out);
    }
}

#[test]
fn random_key_is_a_live_key() {
    let s = sharded(4);
    assert_eq!(s.random_key(), None);
    for i in 0..10 {
        set(&s, format!("k{i}").as_bytes(), b"v");
    }
    for _ in 0..100 {
        let key = s.random_key().unwrap();
        assert!(s.exists(&key));
    }
}

#[test]
fn rename_moves_value_and_expiry_across_shards() {
    let s = sharded(16);
    s.set(
        b"src",
        b"value",
        SetOptions {
            expiry: Expiry::AfterMs(60_000),
            ..SetOptions::default()
        },
    )
    .unwrap();
    // Enough destinations that some land in another shard than `src`.
    for i in 0..32 {
        let dst = format!("dst{i}");
        assert_eq!(
            s.rename(b"src", dst.as_bytes(), false),
            Ok(CopyOutcome::Done)
        );
        assert!(!s.exists(b"src"));
        assert_eq!(s.get_vec(dst.as_bytes()).as_deref(), Some(&b"value"[..]));
        assert!(matches!(s.ttl(dst.as_bytes()), Ttl::RemainingMs(ms) if ms > 50_000));
        assert_eq!(
            s.rename(dst.as_bytes(), b"src", false),
            Ok(CopyOutcome::Done)
        );
    }
    assert_eq!(s.rename(b"nope", b"x", false), Ok(CopyOutcome::NoSource));
    set(&s, b"taken", b"t");
    assert_eq!(
        s.rename(b"src", b"taken", true),
        Ok(CopyOutcome::DestinationExists)
    );
    assert_eq!(s.rename(b"src", b"src", false), Ok(CopyOutcome::Done));
    assert_eq!(s.rename(b"src", b"taken", false), Ok(CopyOutcome::Done));
    assert_eq!(s.get_vec(b"taken").as_deref(), Some(&b"value"[..]));
    assert_eq!(s.stats().keys, 1);
}

#[test]
fn copy_keeps_the_source_and_respects_replace() {
    let s = sharded(8);
    set(&s, b"a", b"1");
    set(&s, b"b", b"2");
    assert_eq!(
        s.copy(b"a", b"b", false),
        Ok(CopyOutcome::DestinationExists)
    );
    assert_eq!(s.get_vec(b"b").as_deref(), Some(&b"2"[..]));
    assert_eq!(s.copy(b"a", b"b", true), Ok(CopyOutcome::Done));
    assert_eq!(s.get_vec(b"b").as_deref(), Some(&b"1"[..]));
    assert_eq!(s.copy(b"a", b"c", false), Ok(CopyOutcome::Done));
    assert_eq!(s.get_vec(b"a").as_deref(), Some(&b"1"[..]));
    assert_eq!(s.stats().keys, 3);
}

#[test]
fn set_all_if_absent_writes_all_or_nothing() {
    let s = sharded(8);
    let pairs: Vec<(&[u8], &[u8])> = vec![(b"x1", b"a"), (b"x2", b"b"), (b"x1", b"c")];
    assert_eq!(s.set_all_if_absent(&pairs), Ok(true));
    assert_eq!(s.get_vec(b"x1").as_deref(), Some(&b"c"[..]));
    let again: Vec<(&[u8], &[u8])> = vec![(b"y", b"1"), (b"x2", b"2")];
    assert_eq!(s.set_all_if_absent(&again), Ok(false));
    assert!(!s.exists(b"y"));
    assert_eq!(s.get_vec(b"x2").as_deref(), Some(&b"b"[..]));
}

#[test]
fn update_is_one_read_modify_write() {
    let s = sharded(2);
    let len = s
        .update(b"k", |cur| {
            assert_eq!(cur, None);
            Ok((
                Change::Put {
                    value: b"abc".to_vec(),
                    expiry: Expiry::Keep,
                },
                3,
            ))
        })
        .unwrap();
    assert_eq!(len, 3);
    s.expire(b"k", Some(60_000));
    s.update(b"k", |cur| {
        let mut v = cur.unwrap().to_vec();
        v.extend_from_slice(b"def");
        Ok((
            Change::Put {
                value: v,
                expiry: Expiry::Keep,
            },
            (),
        ))
    })
    .unwrap();
    assert_eq!(s.get_vec(b"k").as_deref(), Some(&b"abcdef"[..]));
    assert!(
        matches!(s.ttl(b"k"), Ttl::RemainingMs(_)),
        "Keep keeps the TTL"
    );
    // A value over the limit is refused and the key is unchanged.
    let big = vec![0u8; 2 << 20];
    let refused = s.update(b"k", |_| {
        Ok((
            Change::Put {
                value: big,
                expiry: Expiry::Keep,
            },
            (),
        ))
    });
    assert!(matches!(refused, Err(StoreError::ValueTooLarge { .. })));
    assert_eq!(s.get_vec(b"k").as_deref(), Some(&b"abcdef"[..]));
    // An error from the closure changes nothing either.
    let failed: Result<(), _> = s.update(b"k", |_| Err(StoreError::NotAFloat));
    assert_eq!(failed, Err(StoreError::NotAFloat));
    s.update(b"k", |_| Ok((Change::Delete, ()))).unwrap();
    assert!(!s.exists(b"k"));
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8),
    Del(u8),
    Rename(u8, u8, bool),
    Copy(u8, u8, bool),
    SetAllIfAbsent(Vec<(u8, u8)>),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..12;
    prop_oneof![
        (k.clone(), any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        k.clone().prop_map(Op::Del),
        (k.clone(), k.clone(), any::<bool>()).prop_map(|(a, b, nx)| Op::Rename(a, b, nx)),
        (k.clone(), k.clone(), any::<bool>()).prop_map(|(a, b, r)| Op::Copy(a, b, r)),
        proptest::collection::vec((k, any::<u8>()), 1..4).prop_map(Op::SetAllIfAbsent),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key{k}").into_bytes()
}

proptest! {
    /// The multi-key operations agree with a map model, and a full scan returns exactly the
    /// model's keys.
    #[test]
    fn multi_key_ops_match_a_map_model(ops in proptest::collection::vec(op(), 1..60)) {
        let s = sharded(4);
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Set(k, v) => {
                    set(&s, &key(k), &[v]);
                    model.insert(key(k), vec![v]);
                }
                Op::Del(k) => {
                    prop_assert_eq!(s.delete(&key(k)), model.remove(&key(k)).is_some());
                }
                Op::Rename(a, b, nx) => {
                    let expected = match (model.get(&key(a)).cloned(), model.contains_key(&key(b))) {
                        (None, _) => CopyOutcome::NoSource,
                        (Some(_), _) if a == b => if nx { CopyOutcome::DestinationExists } else { CopyOutcome::Done },
                        (Some(_), true) if nx => CopyOutcome::DestinationExists,
                        (Some(v), _) => {
                            model.remove(&key(a));
                            model.insert(key(b), v);
                            CopyOutcome::Done
                        }
                    };
                    prop_assert_eq!(s.rename(&key(a), &key(b), nx), Ok(expected));
                }
                Op::Copy(a, b, replace) => {
                    if a == b { continue; }
                    let expected = match (model.get(&key(a)).cloned(), model.contains_key(&key(b))) {
                        (None, _) => CopyOutcome::NoSource,
                        (Some(_), true) if !replace => CopyOutcome::DestinationExists,
                        (Some(v), _) => {
                            model.insert(key(b), v);
                            CopyOutcome::Done
                        }
                    };
                    prop_assert_eq!(s.copy(&key(a), &key(b), replace), Ok(expected));
                }
                Op::SetAllIfAbsent(pairs) => {
                    let owned: Vec<(Vec<u8>, Vec<u8>)> = pairs.iter().map(|&(k, v)| (key(k), vec![v])).collect();
                    let borrowed: Vec<(&[u8], &[u8])> = owned.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
                    let expected = owned.iter().all(|(k, _)| !model.contains_key(k));
                    if expected {
                        for (k, v) in &owned {
                            model.insert(k.clone(), v.clone());
                        }
                    }
                    prop_assert_eq!(s.set_all_if_absent(&borrowed), Ok(expected));
                }
            }
        }
        for (k, v) in &model {
            let got = s.get_vec(k);
            prop_assert_eq!(got.as_ref(), Some(v));
        }
        let mut scanned = scan_all(&s, 3, |_| {});
        scanned.sort();
        let expected: Vec<Vec<u8>> = model.keys().cloned().collect();
        prop_assert_eq!(scanned, expected);
    }
}
