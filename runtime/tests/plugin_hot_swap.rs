//! Hot swap under load: while several threads read and write a namespace, its eviction policy is
//! switched again and again between plugins and built-ins. No request fails, the namespace stays
//! within capacity, and every plugin starts from the resident entries (a plugin started empty
//! could name no victim, which the host would count as a fault).

mod plugin_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use larder_plugin_wasm as wasm;
use larder_runtime::plugin::Hook;
use larder_runtime::{BuiltinPolicy, PolicyRef};
use plugin_support::*;

/// How long one round may wait for 2000 operations before the test calls it a stall: far beyond
/// what a debug build on a loaded machine needs, far below a CI timeout.
const STALL_LIMIT: Duration = Duration::from_secs(60);

#[test]
fn repeated_swaps_under_concurrent_load_fail_no_request() {
    let namespaces = Arc::new(namespaces(test_limits(Duration::from_secs(3600))));
    let versions = [
        upload(&namespaces, wasm::LRU, "lru"),
        upload(&namespaces, wasm::S3FIFO, "s3fifo"),
        upload(&namespaces, wasm::SIEVE, "sieve"),
        upload(&namespaces, wasm::WTINYLFU, "wtinylfu"),
    ];
    let cfg = small(BuiltinPolicy::S3fifo.into(), 256 * 1024, 4);
    let ns = namespaces.create("swap", cfg.clone()).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let (ns, stop, ops, failures) = (
                Arc::clone(&ns),
                Arc::clone(&stop),
                Arc::clone(&ops),
                Arc::clone(&failures),
            );
            std::thread::spawn(move || {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = format!("k{}", x % 5000);
                    let value = [(x % 251) as u8; 150];
                    if ns
                        .store()
                        .set(key.as_bytes(), &value, Default::default())
                        .is_err()
                    {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    // Another thread may overwrite or evict it, but a read must never fail.
                    ns.store().get(key.as_bytes(), |v| assert_eq!(v.len(), 150));
                    ops.fetch_add(2, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let sequence: Vec<PolicyRef> = versions
        .iter()
        .map(|v| plugin_ref(v))
        .chain([BuiltinPolicy::Lru.into(), BuiltinPolicy::Sieve.into()])
        .collect();
    for round in 0..24 {
        let eviction = sequence[round % sequence.len()].clone();
        let expected = eviction.to_string();
        namespaces
            .update(
                "swap",
                larder_runtime::NamespaceConfig {
                    eviction,
                    ..cfg.clone()
                },
            )
            .unwrap();
        assert_eq!(ns.store().policy_name(), expected);
        let before = ops.load(Ordering::Relaxed);
        // Let the new policy serve some traffic before the next swap. A worker that died (its
        // read assertion failed) or a store that stalls ends the wait, and the test fails below
        // instead of hanging.
        let deadline = Instant::now() + STALL_LIMIT;
        while ops.load(Ordering::Relaxed) < before + 2000 {
            if workers.iter().any(|w| w.is_finished()) || Instant::now() > deadline {
                stop.store(true, Ordering::Relaxed);
                for w in workers {
                    w.join().expect("a worker panicked: a request failed");
                }
                panic!(
                    "round {round}: traffic stalled under {expected} ({} ops in {STALL_LIMIT:?})",
                    ops.load(Ordering::Relaxed) - before
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a worker panicked: a request failed");
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    let stats = ns.store().stats();
    assert!(stats.bytes <= stats.capacity_bytes, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
    for v in &versions {
        let m = v.metrics().snapshot(Hook::Eviction);
        assert!(m.calls > 0, "{}: {m:?}", v.name);
        assert_eq!(
            (
                m.invalid_answers,
                m.traps,
                m.deadline_misses,
                m.out_of_memory,
                m.fallback_active
            ),
            (0, 0, 0, 0, 0),
            "{}: {m:?}",
            v.name
        );
    }
}

#[test]
fn a_swapped_in_plugin_starts_from_the_resident_entries() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let lru = upload(&namespaces, wasm::LRU, "lru");
    let cfg = small(BuiltinPolicy::Lru.into(), 64 * 1024, 1);
    let ns = namespaces.create("t", cfg.clone()).unwrap();
    for i in 0..300 {
        ns.store()
            .set(
                format!("old{i}").as_bytes(),
                &[1u8; 100],
                Default::default(),
            )
            .unwrap();
    }
    let resident = ns.store().stats().keys;
    namespaces
        .update(
            "t",
            larder_runtime::NamespaceConfig {
                eviction: plugin_ref(&lru),
                ..cfg
            },
        )
        .unwrap();
    assert_eq!(ns.store().stats().keys, resident, "a swap keeps every key");
    // Only the replayed entries can be victims of the first writes: the plugin must know them.
    for i in 0..300 {
        ns.store()
            .set(
                format!("new{i}").as_bytes(),
                &[1u8; 100],
                Default::default(),
            )
            .unwrap();
    }
    let m = lru.metrics().snapshot(Hook::Eviction);
    assert_eq!((m.invalid_answers, m.fallback_active), (0, 0), "{m:?}");
    assert!(
        ns.store().stats().evictions >= 150,
        "{:?}",
        ns.store().stats()
    );
    assert!(
        !ns.store().exists(b"old0"),
        "the oldest replayed entry left first"
    );
    assert!(ns.store().exists(b"new299"));
}
