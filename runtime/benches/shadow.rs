//! What shadow evaluation costs the request path: cache-aside get/set throughput on a Zipf
//! workload with shadow evaluation off and with it sampling 1 % of keys (two candidate ghosts, the
//! drainer thread running as in production).
//!
//! The budget is under 5 % at 1 % sampling. Run with `cargo bench -p larder-runtime --bench shadow`
//! and compare the two lines of the `shadow` group.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use larder_runtime::experiment::{self, CandidateSpec, ShadowSpec};
use larder_runtime::sim::ZipfSpec;
use larder_runtime::{BuiltinPolicy, NamespaceConfig, Namespaces, SetOptions};

const VALUE: [u8; 64] = [0xab; 64];
const OPS_PER_ITER: usize = 10_000;

/// `key:` followed by `i` as 12 decimal digits: 16 bytes, no allocation.
fn key(mut i: u64) -> [u8; 16] {
    let mut k = *b"key:000000000000";
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (i % 10) as u8;
        i /= 10;
    }
    k
}

fn bench_shadow(c: &mut Criterion) {
    let zipf = ZipfSpec {
        alpha: 0.9,
        objects: 1_000_000,
        requests: 1_000_000,
        seed: 5,
    };
    let ids: Vec<u64> = match zipf.generate() {
        Ok(t) => t.requests().iter().map(|r| r.id).collect(),
        Err(e) => panic!("zipf: {e}"),
    };
    let mut group = c.benchmark_group("shadow");
    group.throughput(Throughput::Elements(OPS_PER_ITER as u64));
    for (label, rate) in [("off", None), ("sampling_1pct", Some(0.01))] {
        let all = match Namespaces::new(NamespaceConfig {
            capacity_bytes: 64 << 20,
            ..Default::default()
        }) {
            Ok(all) => all,
            Err(e) => panic!("namespaces: {e}"),
        };
        if let Some(sample_rate) = rate {
            let candidate = |name: &str, p: BuiltinPolicy| CandidateSpec {
                name: name.into(),
                eviction: p.into(),
                eviction_fallback: None,
            };
            let spec = ShadowSpec {
                candidates: vec![
                    candidate("lru", BuiltinPolicy::Lru),
                    candidate("wtinylfu", BuiltinPolicy::Wtinylfu),
                ],
                sample_rate,
            };
            if let Err(e) = experiment::start_shadow(&all, "default", spec) {
                panic!("shadow: {e}");
            }
        }
        let ns = match all.get("default") {
            Ok(ns) => ns,
            Err(e) => panic!("namespace: {e}"),
        };
        let mut cursor = 0usize;
        group.bench_function(label, |b| {
            b.iter(|| {
                for _ in 0..OPS_PER_ITER {
                    let k = key(ids[cursor]);
                    cursor = (cursor + 1) % ids.len();
                    if ns.store().get(&k, |v| black_box(v.len())).is_none() {
                        let _ = ns.store().set(&k, &VALUE, SetOptions::default());
                    }
                }
            })
        });
        let _ = experiment::stop_shadow(&all, "default");
    }
    group.finish();
}

criterion_group!(benches, bench_shadow);
criterion_main!(benches);
