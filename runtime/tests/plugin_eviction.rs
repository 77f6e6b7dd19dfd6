//! Eviction plugins serving real namespaces: the LRU plugin decides exactly what the built-in
//! LRU decides, and the scan-resistant plugins keep a hot set through a scan.

mod plugin_support;

use std::time::Duration;

use larder_plugin_wasm as wasm;
use larder_runtime::plugin::Hook;
use larder_runtime::{BuiltinPolicy, Namespaces};
use plugin_support::*;

/// A reproducible mix of writes and reads over 3000 keys.
fn workload(ns: &larder_runtime::Namespace) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = format!("k{}", (x % 3000) * ((x >> 20) % 3000) % 3000);
        if x.is_multiple_of(3) {
            ns.store()
                .set(key.as_bytes(), &[7u8; 120], Default::default())
                .unwrap();
        } else {
            ns.store().get(key.as_bytes(), |_| ());
        }
    }
}

fn resident_keys(ns: &larder_runtime::Namespace) -> Vec<Vec<u8>> {
    let mut keys: Vec<_> = ns.store().snapshot().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    keys
}

#[test]
fn lru_plugin_evicts_exactly_like_the_builtin_lru() {
    let namespaces = namespaces(test_limits(Duration::from_secs(60)));
    let lru = upload(&namespaces, wasm::LRU, "lru");
    let native = namespaces
        .create("native", small(BuiltinPolicy::Lru.into(), 64 * 1024, 1))
        .unwrap();
    let plugin = namespaces
        .create("plugin", small(plugin_ref(&lru), 64 * 1024, 1))
        .unwrap();
    workload(&native);
    workload(&plugin);
    let (a, b) = (native.store().stats(), plugin.store().stats());
    assert!(a.evictions > 1000, "the workload must evict: {a:?}");
    assert_eq!(a.evictions, b.evictions);
    assert_eq!(resident_keys(&native), resident_keys(&plugin));
    let m = lru.metrics().snapshot(Hook::Eviction);
    assert!(m.calls > 0);
    assert_eq!(
        (m.invalid_answers, m.traps, m.fallback_active),
        (0, 0, 0),
        "{m:?}"
    );
}

fn hot_set_survives_a_scan(namespaces: &Namespaces, name: &str, bytes: &[u8]) {
    let version = upload(namespaces, bytes, name);
    let ns = namespaces
        .create(name, small(plugin_ref(&version), 128 * 1024, 1))
        .unwrap();
    let hot: Vec<String> = (0..100).map(|i| format!("hot{i}")).collect();
    for round in 0..5 {
        for k in &hot {
            if round == 0 {
                ns.store()
                    .set(k.as_bytes(), &[1u8; 100], Default::default())
                    .unwrap();
            }
            ns.store().get(k.as_bytes(), |_| ());
        }
    }
    // A scan of one-time keys, interleaved with the hot set still being read.
    for i in 0..20_000 {
        ns.store()
            .set(
                format!("scan{i}").as_bytes(),
                &[2u8; 100],
                Default::default(),
            )
            .unwrap();
        if i % 10 == 0 {
            let k = &hot[(i / 10) % hot.len()];
            ns.store().get(k.as_bytes(), |_| ());
        }
    }
    let stats = ns.store().stats();
    assert!(stats.bytes <= stats.capacity_bytes, "{name}: {stats:?}");
    let kept = hot
        .iter()
        .filter(|k| ns.store().exists(k.as_bytes()))
        .count();
    assert!(
        kept >= 90,
        "{name} kept {kept} of 100 hot keys through the scan"
    );
    let m = version.metrics().snapshot(Hook::Eviction);
    assert_eq!(
        (
            m.invalid_answers,
            m.traps,
            m.deadline_misses,
            m.fallback_active
        ),
        (0, 0, 0, 0),
        "{name}: {m:?}"
    );
}

#[test]
fn scan_resistant_plugins_keep_the_hot_set() {
    let namespaces = namespaces(test_limits(Duration::from_secs(60)));
    hot_set_survives_a_scan(&namespaces, "s3fifo", wasm::S3FIFO);
    hot_set_survives_a_scan(&namespaces, "sieve", wasm::SIEVE);
    hot_set_survives_a_scan(&namespaces, "wtinylfu", wasm::WTINYLFU);
}

#[test]
fn flush_and_capacity_changes_reach_the_plugin() {
    let namespaces = namespaces(test_limits(Duration::from_secs(60)));
    let s3 = upload(&namespaces, wasm::S3FIFO, "s3fifo");
    let cfg = small(plugin_ref(&s3), 64 * 1024, 1);
    let ns = namespaces.create("t", cfg.clone()).unwrap();
    workload(&ns);
    ns.store().flush();
    assert_eq!(ns.store().stats().keys, 0);
    workload(&ns);
    namespaces
        .update(
            "t",
            larder_runtime::NamespaceConfig {
                capacity_bytes: 32 * 1024,
                ..cfg
            },
        )
        .unwrap();
    let stats = ns.store().stats();
    assert!(stats.bytes <= 32 * 1024 && stats.keys > 0, "{stats:?}");
    let m = s3.metrics().snapshot(Hook::Eviction);
    assert_eq!(
        (m.invalid_answers, m.traps, m.fallback_active),
        (0, 0, 0),
        "{m:?}"
    );
}

/// The S3-FIFO, SIEVE and W-TinyLFU plugins are the built-ins compiled to wasm: serving the same
/// workload (writes, overwrites, reads) they keep exactly the built-in's keys.
#[test]
fn reference_plugins_keep_exactly_the_builtins_keys() {
    let namespaces = namespaces(test_limits(Duration::from_secs(60)));
    for (builtin, module) in [
        (BuiltinPolicy::S3fifo, wasm::S3FIFO),
        (BuiltinPolicy::Sieve, wasm::SIEVE),
        (BuiltinPolicy::Wtinylfu, wasm::WTINYLFU),
        (BuiltinPolicy::Adaptive, wasm::ADAPTIVE),
    ] {
        let version = upload(&namespaces, module, builtin.as_str());
        assert_eq!(
            version.abi_version,
            larder_runtime::plugin::abi::ABI_VERSION
        );
        let native = namespaces
            .create(
                &format!("native-{builtin}"),
                small(builtin.into(), 64 * 1024, 1),
            )
            .unwrap();
        let plugin = namespaces
            .create(
                &format!("plugin-{builtin}"),
                small(plugin_ref(&version), 64 * 1024, 1),
            )
            .unwrap();
        workload(&native);
        workload(&plugin);
        let (a, b) = (native.store().stats(), plugin.store().stats());
        assert!(
            a.evictions > 1000,
            "{builtin}: the workload must evict: {a:?}"
        );
        assert_eq!(a.evictions, b.evictions, "{builtin}");
        assert_eq!(resident_keys(&native), resident_keys(&plugin), "{builtin}");
        let m = version.metrics().snapshot(Hook::Eviction);
        assert_eq!(
            (m.invalid_answers, m.traps, m.fallback_active),
            (0, 0, 0),
            "{builtin}: {m:?}"
        );
    }
}

/// ABI 3's access map: the SIEVE and S3-FIFO plugins describe their read counters, so reads of
/// resident keys are bumped in place and cost no call, while the LRU plugin (whose reads reorder
/// its list) is sent every read as an event, in calls of 256.
#[test]
fn reads_cost_no_call_when_the_plugin_describes_its_read_counters() {
    let namespaces = namespaces(test_limits(Duration::from_secs(60)));
    for (name, module, map) in [
        ("sieve", wasm::SIEVE, true),
        ("s3fifo", wasm::S3FIFO, true),
        ("lru", wasm::LRU, false),
    ] {
        let version = upload(&namespaces, module, name);
        let ns = namespaces
            .create(name, small(plugin_ref(&version), 1 << 20, 1))
            .unwrap();
        // 300 inserts: the first 256 are delivered in one call when the batch fills.
        for i in 0..300 {
            let key = format!("k{i}");
            ns.store()
                .set(key.as_bytes(), b"v", Default::default())
                .unwrap();
        }
        let before = version.metrics().snapshot(Hook::Eviction).calls;
        assert!(before >= 1, "{name}: the first batch was delivered");
        // Reads of keys whose inserts were delivered.
        for round in 0..10 {
            for i in 0..100 {
                let key = format!("k{i}");
                assert!(
                    ns.store().get(key.as_bytes(), |_| ()).is_some(),
                    "{name} {round}"
                );
            }
        }
        let after = version.metrics().snapshot(Hook::Eviction).calls;
        if map {
            assert_eq!(after, before, "{name}: 1000 reads made calls");
        } else {
            assert!(
                after >= before + 3,
                "{name}: 1000 reads are 1000 events: {before} → {after}"
            );
        }
    }
}

/// A module built for ABI version 1 is still served, and is sent what version 1 defines: an
/// overwrite as a remove and an insert (the fixture traps on any other event kind). Its FIFO
/// therefore sends an overwritten key to the back of the line, where the built-in FIFO — told of
/// an update — keeps its place.
#[test]
fn an_abi_1_module_is_served_with_the_events_of_abi_1() {
    let namespaces = namespaces(test_limits(Duration::from_secs(60)));
    let v1 = upload(&namespaces, wasm::ABI_V1_FIFO, "abi-1 fifo");
    assert_eq!(v1.abi_version, 1);
    assert_eq!(v1.info().abi_version, 1);
    let value = [5u8; 900];
    // The charge of one entry, measured on a throwaway namespace.
    let probe = namespaces
        .create("probe", small(BuiltinPolicy::Fifo.into(), 64 * 1024, 1))
        .unwrap();
    probe.store().set(b"a", &value, Default::default()).unwrap();
    let charge = probe.store().stats().bytes;
    // Room for three entries, not four.
    let capacity = 3 * charge + charge / 2;
    let run = |name: &str, eviction| {
        let ns = namespaces
            .create(name, small(eviction, capacity, 1))
            .unwrap();
        for key in [b"a", b"b", b"c"] {
            ns.store().set(key, &value, Default::default()).unwrap();
        }
        ns.store().set(b"a", &value, Default::default()).unwrap();
        ns.store().set(b"d", &value, Default::default()).unwrap();
        assert_eq!(ns.store().stats().evictions, 1, "{name}");
        resident_keys(&ns)
    };
    let keys = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
    assert_eq!(
        run("builtin", BuiltinPolicy::Fifo.into()),
        keys(&[b"b", b"c", b"d"])
    );
    assert_eq!(run("abi-1", plugin_ref(&v1)), keys(&[b"a", b"c", b"d"]));
    let m = v1.metrics().snapshot(Hook::Eviction);
    assert!(m.calls > 0);
    assert_eq!(
        (m.invalid_answers, m.traps, m.fallback_active),
        (0, 0, 0),
        "{m:?}"
    );
}
