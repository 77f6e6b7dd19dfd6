//! Micro-benchmarks of the store's request paths under each built-in eviction policy.
//!
//! For every policy: a `get` that hits, a `get` that misses, and a `set` of a new key into a full
//! store (so every set also asks the policy for a victim). Keys are 16 bytes and values 64, the
//! shape used for the memory-overhead figure. One shard, one thread: this measures the work done
//! under a shard's lock, policy included, not lock contention.
//!
//! Run with `cargo bench -p larder-runtime --bench store`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use larder_runtime::store::{ENTRY_OVERHEAD, StoreLimits};
use larder_runtime::{BuiltinPolicy, SetOptions, Store};

const KEY_LEN: usize = 16;
const VALUE: [u8; 64] = [0xab; 64];
/// Keys resident in the store the `get` benchmarks read from.
const RESIDENT: u64 = 100_000;
const CHARGE: u64 = KEY_LEN as u64 + VALUE.len() as u64 + ENTRY_OVERHEAD;

/// `key:` followed by `i` as 12 decimal digits: 16 bytes, no allocation.
fn key(mut i: u64) -> [u8; KEY_LEN] {
    let mut k = *b"key:000000000000";
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (i % 10) as u8;
        i /= 10;
    }
    k
}

fn store(policy: BuiltinPolicy, capacity_bytes: u64) -> Store {
    let limits = StoreLimits {
        capacity_bytes,
        max_item_size: 1 << 20,
        default_ttl_ms: 0,
    };
    Store::new(1, limits, || policy.build(capacity_bytes))
}

fn fill(store: &Store, keys: u64) {
    for i in 0..keys {
        store
            .set(&key(i), &VALUE, SetOptions::default())
            .expect("benchmark set");
    }
}

fn bench_policy(c: &mut Criterion, policy: BuiltinPolicy) {
    let mut group = c.benchmark_group(format!("store/{policy}"));
    group.throughput(Throughput::Elements(1));

    // Room for twice the resident keys: every read of them hits, nothing is evicted.
    let roomy = store(policy, 2 * RESIDENT * CHARGE);
    fill(&roomy, RESIDENT);
    let mut i = 0u64;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            // A large odd stride walks every key without a cache-friendly sequential pattern.
            i = (i + 7919) % RESIDENT;
            black_box(roomy.get(&key(i), |v| v.len()))
        })
    });
    let mut miss = RESIDENT;
    group.bench_function("get_miss", |b| {
        b.iter(|| {
            miss += 1;
            black_box(roomy.get(&key(miss), |v| v.len()))
        })
    });

    // A full store: each new key evicts one.
    let full = store(policy, RESIDENT / 2 * CHARGE);
    fill(&full, RESIDENT);
    let mut next = RESIDENT;
    group.bench_function("set_evict", |b| {
        b.iter(|| {
            next += 1;
            black_box(full.set(&key(next), &VALUE, SetOptions::default()).is_ok())
        })
    });
    group.finish();
}

fn policies(c: &mut Criterion) {
    for policy in BuiltinPolicy::ALL {
        bench_policy(c, policy);
    }
}

criterion_group!(benches, policies);
criterion_main!(benches);
