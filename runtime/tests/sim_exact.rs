//! Exactness of the simulator on traces small enough to work out by hand, and against independent
//! brute-force references on random traces.

use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::belady::{BeladyVariant, belady, belady_variant};
use larder_runtime::sim::replay::{ReplayCounts, replay};
use larder_runtime::sim::{Capacity, Trace};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// `1 2 3 4 1 2 5 1 2 3 4 5`: the textbook trace of Belady's anomaly.
const ANOMALY: [u64; 12] = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];

fn unit_trace(ids: &[u64]) -> Trace {
    Trace::from_keys(ids.iter().map(|&id| (id, 1)))
}

fn run(policy: BuiltinPolicy, trace: &Trace, capacity: Capacity) -> ReplayCounts {
    let mut p = policy.build(capacity.amount());
    replay(trace, capacity, p.as_mut()).counts
}

#[test]
fn lru_misses_match_the_textbook() {
    // LRU is a stack algorithm: 10 faults with 3 frames, 8 with 4.
    let t = unit_trace(&ANOMALY);
    assert_eq!(
        run(BuiltinPolicy::Lru, &t, Capacity::Objects(3)).misses(),
        10
    );
    assert_eq!(
        run(BuiltinPolicy::Lru, &t, Capacity::Objects(4)).misses(),
        8
    );
}

#[test]
fn fifo_shows_beladys_anomaly() {
    // FIFO faults 9 times with 3 frames and 10 times with 4.
    let t = unit_trace(&ANOMALY);
    assert_eq!(
        run(BuiltinPolicy::Fifo, &t, Capacity::Objects(3)).misses(),
        9
    );
    assert_eq!(
        run(BuiltinPolicy::Fifo, &t, Capacity::Objects(4)).misses(),
        10
    );
}

#[test]
fn belady_misses_match_the_textbook() {
    // OPT: 7 faults with 3 frames, 6 with 4; on this trace bypassing never helps.
    let t = unit_trace(&ANOMALY);
    for variant in [BeladyVariant::Demand, BeladyVariant::Bypass] {
        assert_eq!(
            belady_variant(&t, Capacity::Objects(3), variant)
                .counts
                .misses(),
            7
        );
        assert_eq!(
            belady_variant(&t, Capacity::Objects(4), variant)
                .counts
                .misses(),
            6
        );
    }
}

#[test]
fn lru_and_fifo_counts_on_a_hand_worked_trace() {
    // A B C A D B E A B C D E at 3 objects: LRU hits requests 4 (A) and 9 (B), FIFO hits 4 (A)
    // and 6 (B); each misses 10 times and, with 3 objects left resident, evicts 7.
    let t = unit_trace(&[1, 2, 3, 1, 4, 2, 5, 1, 2, 3, 4, 5]);
    let lru = run(BuiltinPolicy::Lru, &t, Capacity::Objects(3));
    let fifo = run(BuiltinPolicy::Fifo, &t, Capacity::Objects(3));
    assert_eq!((lru.hits, lru.evictions), (2, 7));
    assert_eq!((fifo.hits, fifo.evictions), (2, 7));
}

#[test]
fn lru_keeps_a_reread_object_that_fifo_drops() {
    // A B A C A D at 2 objects. LRU: A's hit at 3 saves it from C, so A hits again at 5 (2 hits).
    // FIFO: C evicts A (the oldest insert) regardless, so request 5 misses (1 hit).
    let t = unit_trace(&[1, 2, 1, 3, 1, 4]);
    assert_eq!(run(BuiltinPolicy::Lru, &t, Capacity::Objects(2)).hits, 2);
    assert_eq!(run(BuiltinPolicy::Fifo, &t, Capacity::Objects(2)).hits, 1);
}

#[test]
fn byte_capacity_charges_object_sizes() {
    // Capacity 10 bytes; A=4 B=3 C=3 A D=5 B.
    // A, B, C miss (10 bytes); A hits; D misses (15 bytes): LRU evicts B (12), still over, then
    // C (9: D A); B misses (12) and evicts A (8: B D). One hit, three evictions.
    let t = Trace::from_keys([(1, 4), (2, 3), (3, 3), (1, 4), (4, 5), (2, 3)]);
    let c = run(BuiltinPolicy::Lru, &t, Capacity::Bytes(10));
    assert_eq!((c.requests, c.hits, c.evictions), (6, 1, 3));
    assert_eq!((c.bytes_requested, c.bytes_hit), (22, 4));
    assert!((c.byte_miss_ratio() - 18.0 / 22.0).abs() < 1e-12);
    // Counted by objects, the same trace is charged 1 each: 3 objects fit, D evicts B
    // (LRU after A's hit: B C A), B then evicts C.
    let c = run(BuiltinPolicy::Lru, &t, Capacity::Objects(3));
    assert_eq!((c.hits, c.evictions), (1, 2));
}

#[test]
fn objects_larger_than_the_capacity_are_not_cached() {
    let t = Trace::from_keys([(1, 4), (2, 50), (1, 4), (2, 50)]);
    let c = run(BuiltinPolicy::Lru, &t, Capacity::Bytes(10));
    assert_eq!((c.hits, c.too_large, c.evictions), (1, 2, 0));
    let b = belady(&t, Capacity::Bytes(10)).counts;
    assert_eq!((b.hits, b.too_large), (1, 2));
}

/// The fewest misses any eviction schedule achieves, by exhaustive search over every choice of
/// victim (and, with `bypass`, of not caching the missed object).
fn brute_force_min(ids: &[u64], capacity: usize, bypass: bool) -> u64 {
    fn go(ids: &[u64], cache: &mut Vec<u64>, capacity: usize, bypass: bool) -> u64 {
        let Some((&id, rest)) = ids.split_first() else {
            return 0;
        };
        if cache.contains(&id) {
            return go(rest, cache, capacity, bypass);
        }
        let mut best = u64::MAX;
        if cache.len() < capacity {
            cache.push(id);
            best = go(rest, cache, capacity, bypass);
            cache.pop();
        } else {
            for i in 0..cache.len() {
                let old = std::mem::replace(&mut cache[i], id);
                best = best.min(go(rest, cache, capacity, bypass));
                cache[i] = old;
            }
            if bypass {
                best = best.min(go(rest, cache, capacity, bypass));
            }
        }
        1 + best
    }
    go(ids, &mut Vec::new(), capacity, bypass)
}

#[test]
fn belady_is_optimal_on_random_small_traces() {
    let mut rng = SmallRng::seed_from_u64(42);
    for round in 0..300 {
        let objects = rng.random_range(2..7u64);
        let len = rng.random_range(1..13usize);
        let ids: Vec<u64> = (0..len).map(|_| rng.random_range(0..objects)).collect();
        let capacity = rng.random_range(1..4usize);
        let trace = unit_trace(&ids);
        for (variant, bypass) in [
            (BeladyVariant::Demand, false),
            (BeladyVariant::Bypass, true),
        ] {
            let ours = belady_variant(&trace, Capacity::Objects(capacity as u64), variant);
            assert_eq!(
                ours.counts.misses(),
                brute_force_min(&ids, capacity, bypass),
                "round {round}: {variant:?} on {ids:?} at {capacity}"
            );
        }
    }
}

/// A plain LRU list and a plain FIFO queue, written independently of the policy code.
fn naive(ids: &[u64], capacity: usize, lru: bool) -> u64 {
    let mut cache: Vec<u64> = Vec::new(); // front = next to evict
    let mut hits = 0;
    for &id in ids {
        if let Some(pos) = cache.iter().position(|&c| c == id) {
            hits += 1;
            if lru {
                cache.remove(pos);
                cache.push(id);
            }
        } else {
            cache.push(id);
            if cache.len() > capacity {
                cache.remove(0);
            }
        }
    }
    hits
}

#[test]
fn lru_and_fifo_agree_with_naive_lists_on_random_traces() {
    let mut rng = SmallRng::seed_from_u64(7);
    for round in 0..50 {
        let objects = rng.random_range(5..200u64);
        // Long enough that access batches of 64 fill and flush many times.
        let ids: Vec<u64> = (0..3000).map(|_| rng.random_range(0..objects)).collect();
        let capacity = rng.random_range(1..objects as usize);
        let trace = unit_trace(&ids);
        for (policy, is_lru) in [(BuiltinPolicy::Lru, true), (BuiltinPolicy::Fifo, false)] {
            let c = run(policy, &trace, Capacity::Objects(capacity as u64));
            assert_eq!(
                c.hits,
                naive(&ids, capacity, is_lru),
                "round {round}: {policy} at {capacity} over {objects} objects"
            );
        }
    }
}

#[test]
fn every_builtin_policy_stays_within_capacity_and_behaves() {
    let mut rng = SmallRng::seed_from_u64(3);
    let keys: Vec<(u64, u32)> = (0..20_000)
        .map(|_| (rng.random_range(0..2000u64), rng.random_range(1..100u32)))
        .collect();
    let trace = Trace::from_keys(keys);
    for policy in BuiltinPolicy::ALL {
        for capacity in [Capacity::Objects(100), Capacity::Bytes(5000)] {
            let c = run(policy, &trace, capacity);
            assert_eq!(
                (c.shortfalls, c.invalid_victims),
                (0, 0),
                "{policy} at {capacity}"
            );
            assert!(
                c.hits > 0 && c.evictions > 0,
                "{policy} at {capacity}: {c:?}"
            );
            // Every miss is inserted, so misses = evictions + what is resident at the end
            // (at most the capacity for unit charges).
            if let Capacity::Objects(n) = capacity {
                let resident = c.misses() - c.evictions;
                assert!(resident <= n && resident > 0, "{policy}: {c:?}");
            }
        }
    }
}
