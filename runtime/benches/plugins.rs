//! Plugins against their native counterparts, in process, through the same store code path.
//!
//! * Each reference eviction plugin (LRU, S3-FIFO, SIEVE, W-TinyLFU) against the built-in policy
//!   of the same name, on a skewed mix of 80 % reads and 20 % writes over a key space four times
//!   the capacity, so writes keep asking for victims. Target: the plugin at ≥ 0.9× the built-in's
//!   throughput.
//! * The `noop` admission plugin (one hook call per new key, no decision) and `admit-all` (the same
//!   answer, declared mode "never", so no call) against no admission hook. Target: ≤ 2 % cost.
//! * A deciding admission policy asked per key (`tinylfu-doorkeeper`) beside one the host decides
//!   from its verdict map (`doorkeeper-batched`, mode "observe").
//!
//! One namespace with one shard, one thread: this measures hook cost, not lock contention.
//! Run with `cargo bench -p larder-runtime --bench plugins`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use larder_plugin_wasm as wasm;
use larder_runtime::plugin::PluginHost;
use larder_runtime::{BuiltinPolicy, Namespace, NamespaceConfig, Namespaces, PolicyRef};

const KEYS: u64 = 40_000;
const CAPACITY: u64 = 10_000 * (16 + 64 + 56);
const OPS: u64 = 10_000;

/// Skewed keys: the product of two uniform draws concentrates on small numbers.
struct Workload(u64);

impl Workload {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key:000000000000";
    let mut n = i;
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

fn run(ns: &Namespace, w: &mut Workload) {
    let value = [0xabu8; 64];
    for _ in 0..OPS {
        let r = w.next();
        let k = key((r % KEYS) * ((r >> 32) % KEYS) / KEYS);
        if r.is_multiple_of(5) {
            let _ = ns.store().set(&k, &value, Default::default());
        } else {
            black_box(ns.store().get(&k, |v| v.len()));
        }
    }
}

fn namespace(namespaces: &Namespaces, name: &str, cfg: NamespaceConfig) -> Arc<Namespace> {
    let ns = namespaces.create(name, cfg).expect("bench namespace");
    let mut w = Workload(0x2545_F491_4F6C_DD1D);
    for _ in 0..5 {
        run(&ns, &mut w);
    }
    ns
}

fn config() -> NamespaceConfig {
    NamespaceConfig {
        capacity_bytes: CAPACITY,
        max_item_size: Some(1024),
        shards: Some(1),
        ..Default::default()
    }
}

fn eviction(c: &mut Criterion) {
    let namespaces =
        Namespaces::with_plugins(NamespaceConfig::default(), Arc::new(PluginHost::default()))
            .expect("namespaces");
    let pairs = [
        ("lru", BuiltinPolicy::Lru, wasm::LRU),
        ("s3fifo", BuiltinPolicy::S3fifo, wasm::S3FIFO),
        ("sieve", BuiltinPolicy::Sieve, wasm::SIEVE),
        ("wtinylfu", BuiltinPolicy::Wtinylfu, wasm::WTINYLFU),
    ];
    let mut group = c.benchmark_group("eviction");
    group.throughput(Throughput::Elements(OPS));
    for (name, builtin, module) in pairs {
        let version = namespaces
            .plugins()
            .upload(module, name, "")
            .expect("upload")
            .version;
        let native = namespace(
            &namespaces,
            &format!("native-{name}"),
            NamespaceConfig {
                eviction: builtin.into(),
                ..config()
            },
        );
        let plugin = namespace(
            &namespaces,
            &format!("plugin-{name}"),
            NamespaceConfig {
                eviction: PolicyRef::plugin(&version.id),
                ..config()
            },
        );
        let mut w = Workload(0x9E37_79B9_7F4A_7C15);
        group.bench_function(format!("{name}/builtin"), |b| {
            b.iter(|| run(&native, &mut w))
        });
        let mut w = Workload(0x9E37_79B9_7F4A_7C15);
        group.bench_function(format!("{name}/plugin"), |b| {
            b.iter(|| run(&plugin, &mut w))
        });
    }
    group.finish();
}

fn noop(c: &mut Criterion) {
    let namespaces =
        Namespaces::with_plugins(NamespaceConfig::default(), Arc::new(PluginHost::default()))
            .expect("namespaces");
    let admitting = |name: &str, module: &[u8]| {
        let version = namespaces
            .plugins()
            .upload(module, name, "")
            .expect("upload")
            .version;
        namespace(
            &namespaces,
            name,
            NamespaceConfig {
                admission: Some(PolicyRef::plugin(&version.id)),
                ..config()
            },
        )
    };
    let none = namespace(&namespaces, "none", config());
    let asked = admitting("noop", wasm::NOOP);
    let never = admitting("admit-all", wasm::ADMIT_ALL);
    let decide = admitting("doorkeeper", wasm::TINYLFU_DOORKEEPER);
    let observe = admitting("doorkeeper-batched", wasm::DOORKEEPER_BATCHED);
    let mut group = c.benchmark_group("do-nothing-plugin");
    group.throughput(Throughput::Elements(OPS));
    for (name, ns) in [
        ("no-plugin", &none),
        // Admits everything, asked per new key (mode decide).
        ("noop-admission", &asked),
        // Admits everything, declared: never called (mode never, ABI 4).
        ("admit-all-never", &never),
    ] {
        let mut w = Workload(0x9E37_79B9_7F4A_7C15);
        group.bench_function(name, |b| b.iter(|| run(ns, &mut w)));
    }
    group.finish();
    // A deciding admission policy, asked per key or deciding from its map (the two doorkeepers
    // admit slightly different keys, so part of any difference is the workload they leave).
    let mut group = c.benchmark_group("deciding-admission");
    group.throughput(Throughput::Elements(OPS));
    for (name, ns) in [("decide", &decide), ("observe", &observe)] {
        let mut w = Workload(0x9E37_79B9_7F4A_7C15);
        group.bench_function(name, |b| b.iter(|| run(ns, &mut w)));
    }
    group.finish();
}

criterion_group!(benches, eviction, noop);
criterion_main!(benches);
