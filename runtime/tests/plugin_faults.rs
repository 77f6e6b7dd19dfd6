//! Adversarial plugins: an infinite loop, a memory bomb, a trap on the Nth call, garbage victims
//! and ten thousand prefetch keys. For each: every request keeps succeeding, the built-in
//! fallback engages, and the metrics and the log say why. (The WASI import is refused at upload:
//! see plugin_upload.rs.)

mod plugin_support;

use std::time::Duration;

use larder_plugin_wasm as wasm;
use larder_runtime::plugin::{Hook, HookSnapshot, PolicyRef};
use larder_runtime::{Namespace, NamespaceConfig};
use plugin_support::*;

const CAPACITY: u64 = 64 * 1024;

/// Writes far more than the capacity, reading back each key just written. Every write must be
/// accepted and every just-written key readable: a plugin fault must not fail a request.
fn hammer(ns: &Namespace, from: usize, n: usize) {
    for i in from..from + n {
        let key = format!("key{i}");
        ns.store()
            .set(key.as_bytes(), &[9u8; 100], Default::default())
            .unwrap();
        assert_eq!(
            ns.store().get_vec(key.as_bytes()).as_deref(),
            Some(&[9u8; 100][..]),
            "{key}"
        );
    }
    let stats = ns.store().stats();
    assert!(
        stats.bytes <= CAPACITY,
        "the fallback keeps the namespace within capacity: {stats:?}"
    );
}

fn adversarial_eviction(
    bytes: &[u8],
    name: &str,
    fault_count: fn(&HookSnapshot) -> u64,
    log_says: &str,
) {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let version = upload(&namespaces, bytes, name);
    let ((), logs) = capture_logs(|| {
        let ns = namespaces
            .create(name, small(plugin_ref(&version), CAPACITY, 1))
            .unwrap();
        hammer(&ns, 0, 2000);
    });
    let m = version.metrics().snapshot(Hook::Eviction);
    assert!(fault_count(&m) >= 1, "{name}: {m:?}");
    assert_eq!((m.fallback_active, m.quarantined), (1, 1), "{name}: {m:?}");
    assert!(
        logs.contains(log_says),
        "{name}: log lacks {log_says:?}:\n{logs}"
    );
    assert!(
        logs.contains(&version.id),
        "{name}: the log names the plugin:\n{logs}"
    );
    assert!(logs.contains("quarantined"), "{name}:\n{logs}");
}

#[test]
fn infinite_loop_is_interrupted_at_the_deadline() {
    adversarial_eviction(
        wasm::INFINITE_LOOP,
        "spin",
        |m| m.deadline_misses,
        "missed its call deadline",
    );
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    adversarial_eviction(
        wasm::MEMORY_BOMB,
        "bomb",
        |m| m.out_of_memory,
        "ran out of memory",
    );
}

#[test]
fn garbage_victims_are_ignored_and_counted() {
    adversarial_eviction(
        wasm::GARBAGE_VICTIMS,
        "garbage",
        |m| m.invalid_answers,
        "no valid victim",
    );
    // Each answer names 8 slots that do not exist; all of them are counted.
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let version = upload(&namespaces, wasm::GARBAGE_VICTIMS, "garbage");
    let ns = namespaces
        .create("g", small(plugin_ref(&version), CAPACITY, 1))
        .unwrap();
    hammer(&ns, 0, 1000);
    assert!(version.metrics().snapshot(Hook::Eviction).invalid_answers >= 8);
}

#[test]
fn trap_on_nth_call_falls_back_then_recovers_after_backoff() {
    let namespaces = namespaces(test_limits(Duration::from_millis(50)));
    let version = upload(&namespaces, wasm::TRAP_NTH, "trap-nth");
    let ns = namespaces
        .create("t", small(plugin_ref(&version), CAPACITY, 1))
        .unwrap();
    let ((), logs) = capture_logs(|| hammer(&ns, 0, 1000));
    let m = version.metrics().snapshot(Hook::Eviction);
    assert_eq!(m.traps, 1, "{m:?}");
    assert_eq!((m.fallback_active, m.quarantined), (1, 1), "{m:?}");
    assert!(logs.contains("trap"), "{logs}");

    // After the backoff a fresh instance is started and replayed the resident entries on a
    // thread of its own; the first call after it is ready hands it the hook.
    std::thread::sleep(Duration::from_millis(300));
    let (from, logs) = capture_logs(|| until_back_in_service(&ns, &version, 1000));
    let m = version.metrics().snapshot(Hook::Eviction);
    assert_eq!(
        (m.traps, m.fallback_active, m.quarantined),
        (1, 0, 0),
        "{m:?}"
    );
    assert!(logs.contains("back in service"), "{logs}");

    // It traps again on its 50th request, and the fallback takes over again.
    hammer(&ns, from, 200);
    let m = version.metrics().snapshot(Hook::Eviction);
    assert_eq!(m.traps, 2, "{m:?}");
}

/// Writes (ten at a time, keys from `from` on) until the plugin serves again; returns the next
/// key number. Bounded: fails after 20 s.
fn until_back_in_service(
    ns: &Namespace,
    version: &larder_runtime::plugin::PluginVersion,
    mut from: usize,
) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while version.metrics().snapshot(Hook::Eviction).fallback_active != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the plugin never came back: {:?}",
            version.metrics().snapshot(Hook::Eviction)
        );
        hammer(ns, from, 10);
        from += 10;
    }
    from
}

#[test]
fn what_changes_while_a_restart_is_prepared_reaches_the_restarted_plugin() {
    let namespaces = namespaces(test_limits(Duration::from_millis(50)));
    let version = upload(&namespaces, wasm::TRAP_NTH, "trap-nth");
    let ns = namespaces
        .create("t", small(plugin_ref(&version), CAPACITY, 1))
        .unwrap();
    hammer(&ns, 0, 1000);
    assert_eq!(version.metrics().snapshot(Hook::Eviction).traps, 1);
    std::thread::sleep(Duration::from_millis(300));
    // The first of these starts the restart; the rest are served by the fallback while the
    // instance is prepared: inserts, evictions of replayed entries, overwrites and deletes, all
    // of which the new instance must learn before it serves.
    let (from, logs) = capture_logs(|| {
        let mut from = 1000;
        for round in 0..20 {
            hammer(&ns, from, 10);
            for i in (from..from + 10).step_by(3) {
                ns.store().delete(format!("key{i}").as_bytes());
            }
            ns.store()
                .set(
                    format!("key{}", from + 1).as_bytes(),
                    &[round as u8; 60],
                    Default::default(),
                )
                .unwrap();
            from += 10;
        }
        until_back_in_service(&ns, &version, from)
    });
    // The changes made while it was prepared were journaled and sent to it before it served.
    let journaled: u64 = logs
        .split("journaled=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no journal size in the log:\n{logs}"));
    assert!(journaled > 0, "{logs}");
    // About thirty victim requests (it traps again at its fiftieth): each names only resident
    // entries.
    hammer(&ns, from, 30);
    let m = version.metrics().snapshot(Hook::Eviction);
    assert_eq!(
        (m.traps, m.invalid_answers, m.fallback_active),
        (1, 0, 0),
        "{m:?}"
    );
    let stats = ns.store().stats();
    assert_eq!(stats.policy_shortfalls, 0, "{stats:?}");
}

#[test]
fn ten_thousand_prefetch_keys_are_cut_to_the_limit() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let version = upload(&namespaces, wasm::PREFETCH_FLOOD, "flood");
    let cfg = NamespaceConfig {
        prefetch: Some(PolicyRef::plugin(&version.id)),
        ..Default::default()
    };
    let ns = namespaces.create("p", cfg).unwrap();
    let prefetcher = ns.hooks().prefetcher().expect("prefetch hook attached");
    let keys = prefetcher.keys_after_access(b"anything", false);
    assert_eq!(keys.len(), 16);
    assert_eq!(keys[0], b"k0000");
    assert_eq!(keys[15], b"k0015");
    let m = version.metrics().snapshot(Hook::Prefetch);
    assert_eq!(m.invalid_answers, 10_000 - 16, "{m:?}");
    assert_eq!(m.calls, 1);
}
