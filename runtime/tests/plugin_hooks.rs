//! Admission, prefetch and routing plugins attached to namespaces, request context tags, and the
//! per-plugin Prometheus metrics.

mod plugin_support;

use std::sync::Arc;
use std::time::Duration;

use larder_plugin_wasm as wasm;
use larder_runtime::plugin::{Hook, PolicyRef, RequestTags, with_request_tags};
use larder_runtime::{NamespaceConfig, NamespaceError};
use plugin_support::*;
use prometheus::Encoder;

#[test]
fn doorkeeper_admits_a_key_on_its_second_write() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let v = upload(&namespaces, wasm::TINYLFU_DOORKEEPER, "doorkeeper");
    let cfg = NamespaceConfig {
        admission: Some(PolicyRef::plugin(&v.id)),
        ..Default::default()
    };
    let ns = namespaces.create("a", cfg).unwrap();
    let outcome = ns.store().set(b"once", b"v", Default::default()).unwrap();
    assert!(outcome.written, "a refused write is still acknowledged");
    assert!(!ns.store().exists(b"once"), "first write: not admitted");
    ns.store().set(b"once", b"v", Default::default()).unwrap();
    assert_eq!(ns.store().get_vec(b"once").as_deref(), Some(&b"v"[..]));
    // An overwrite of a resident key is not asked.
    ns.store().set(b"once", b"w", Default::default()).unwrap();
    assert_eq!(ns.store().get_vec(b"once").as_deref(), Some(&b"w"[..]));
    let m = v.metrics().snapshot(Hook::Admission);
    assert_eq!((m.calls, m.rejections), (2, 1), "{m:?}");
}

/// A single-shard namespace admitting through `plugin` (one instance, so batches are exact).
fn admitting(
    namespaces: &larder_runtime::Namespaces,
    name: &str,
    plugin: &str,
) -> Arc<larder_runtime::Namespace> {
    let cfg = NamespaceConfig {
        admission: Some(PolicyRef::plugin(plugin)),
        shards: Some(1),
        ..Default::default()
    };
    namespaces.create(name, cfg).unwrap()
}

#[test]
fn an_admission_plugin_declared_never_is_never_called() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let never = upload(&namespaces, wasm::ADMIT_ALL, "admit-all");
    let asked = upload(&namespaces, wasm::NOOP, "noop");
    let quiet = admitting(&namespaces, "quiet", &never.id);
    let called = admitting(&namespaces, "called", &asked.id);
    for i in 0..1000u32 {
        let key = format!("k{i}");
        quiet
            .store()
            .set(key.as_bytes(), b"v", Default::default())
            .unwrap();
        called
            .store()
            .set(key.as_bytes(), b"v", Default::default())
            .unwrap();
    }
    assert_eq!(quiet.store().stats().keys, 1000, "every key admitted");
    assert_eq!(called.store().stats().keys, 1000);
    let m = never.metrics().snapshot(Hook::Admission);
    assert_eq!((m.calls, m.rejections, m.traps), (0, 0, 0), "{m:?}");
    // The same answer asked per key: one call each.
    assert_eq!(asked.metrics().snapshot(Hook::Admission).calls, 1000);
}

#[test]
fn an_observing_admission_plugin_decides_from_its_map_and_sees_writes_in_batches() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let v = upload(&namespaces, wasm::DOORKEEPER_BATCHED, "doorkeeper-batched");
    let ns = admitting(&namespaces, "batched", &v.id);
    let batch = larder_runtime::plugin::abi::ADMIT_BATCH;
    let calls = || v.metrics().snapshot(Hook::Admission).calls;
    let write = |key: &str| {
        let out = ns
            .store()
            .set(key.as_bytes(), b"v", Default::default())
            .unwrap();
        assert!(out.written, "a dropped write is still acknowledged");
    };
    // First writes: the map is empty, so nothing gets in, and no call is made.
    for i in 0..100 {
        write(&format!("k{i}"));
    }
    // Second writes within the same batch: the first ones are not delivered yet.
    for i in 0..100 {
        write(&format!("k{i}"));
    }
    assert_eq!((ns.store().stats().keys, calls()), (0, 0));
    // Filling the batch delivers it: one call for `batch` decisions.
    for i in 0..batch - 200 {
        write(&format!("filler{i}"));
    }
    assert_eq!(calls(), 1);
    for i in 0..100 {
        write(&format!("k{i}"));
    }
    assert_eq!(
        ns.store().stats().keys,
        100,
        "seen in a delivered batch: admitted"
    );
    let m = v.metrics().snapshot(Hook::Admission);
    assert_eq!(
        (m.rejections, m.traps, m.invalid_answers),
        (batch as u64, 0, 0),
        "{m:?}"
    );
}

#[test]
fn contextual_admission_reads_request_tags() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let v = upload(&namespaces, wasm::CONTEXTUAL_ADMISSION, "contextual");
    let cfg = NamespaceConfig {
        admission: Some(PolicyRef::plugin(&v.id)),
        ..Default::default()
    };
    let ns = namespaces.create("c", cfg).unwrap();
    let skip = RequestTags::parse("cache=skip").unwrap();
    with_request_tags(&skip, || {
        ns.store().set(b"a", b"1", Default::default()).unwrap()
    });
    assert!(!ns.store().exists(b"a"));
    let big = vec![0u8; 20 * 1024];
    let free = RequestTags::from_pairs([("tier", "free")]).unwrap();
    with_request_tags(&free, || {
        ns.store().set(b"big", &big, Default::default()).unwrap()
    });
    assert!(
        !ns.store().exists(b"big"),
        "free tier, large value: refused"
    );
    with_request_tags(&free, || {
        ns.store().set(b"small", b"x", Default::default()).unwrap()
    });
    assert!(ns.store().exists(b"small"));
    let paid = RequestTags::from_pairs([("tier", "paid")]).unwrap();
    with_request_tags(&paid, || {
        ns.store().set(b"big", &big, Default::default()).unwrap()
    });
    assert!(ns.store().exists(b"big"));
    ns.store()
        .set(b"untagged", b"x", Default::default())
        .unwrap();
    assert!(ns.store().exists(b"untagged"));
}

#[test]
fn admission_can_be_attached_and_detached_live() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let v = upload(&namespaces, wasm::TINYLFU_DOORKEEPER, "doorkeeper");
    let ns = namespaces.create("n", NamespaceConfig::default()).unwrap();
    let with = NamespaceConfig {
        admission: Some(PolicyRef::plugin(&v.id)),
        ..Default::default()
    };
    namespaces.update("n", with).unwrap();
    ns.store().set(b"k", b"v", Default::default()).unwrap();
    assert!(!ns.store().exists(b"k"));
    namespaces.update("n", NamespaceConfig::default()).unwrap();
    ns.store().set(b"k", b"v", Default::default()).unwrap();
    assert!(ns.store().exists(b"k"));
}

#[test]
fn sequential_prefetch_names_the_next_keys() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let v = upload(&namespaces, wasm::SEQUENTIAL_PREFETCH, "seq");
    let cfg = NamespaceConfig {
        prefetch: Some(PolicyRef::plugin(&v.id)),
        ..Default::default()
    };
    let ns = namespaces.create("p", cfg).unwrap();
    let p = ns.hooks().prefetcher().unwrap();
    assert_eq!(
        p.keys_after_access(b"page:41", true),
        vec![b"page:42".to_vec(), b"page:43".to_vec()]
    );
    assert_eq!(
        p.keys_after_access(b"chunk/0099", false),
        vec![b"chunk/0100".to_vec(), b"chunk/0101".to_vec()]
    );
    assert!(p.keys_after_access(b"no-number", true).is_empty());
}

#[test]
fn markov_prefetch_learns_successors() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let v = upload(&namespaces, wasm::MARKOV_PREFETCH, "markov");
    let cfg = NamespaceConfig {
        prefetch: Some(PolicyRef::plugin(&v.id)),
        ..Default::default()
    };
    let ns = namespaces.create("m", cfg).unwrap();
    let p = ns.hooks().prefetcher().unwrap();
    assert!(
        p.keys_after_access(b"home", true).is_empty(),
        "nothing learned yet"
    );
    for _ in 0..3 {
        for k in [&b"home"[..], b"profile", b"settings"] {
            p.keys_after_access(k, true);
        }
    }
    assert_eq!(
        p.keys_after_access(b"home", true),
        vec![b"profile".to_vec()]
    );
    assert_eq!(
        p.keys_after_access(b"profile", true),
        vec![b"settings".to_vec()]
    );
}

#[test]
fn hashtag_routing_places_by_the_tag() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let v = upload(&namespaces, wasm::HASHTAG_ROUTING, "hashtag");
    let cfg = NamespaceConfig {
        routing: Some(PolicyRef::plugin(&v.id)),
        shards: Some(8),
        ..Default::default()
    };
    let ns = namespaces.create("r", cfg.clone()).unwrap();
    assert_eq!(ns.store().routing_key(b"user:{42}:cart"), b"42");
    assert_eq!(ns.store().routing_key(b"tenant-a::photo"), b"tenant-a");
    assert_eq!(ns.store().routing_key(b"plain"), b"plain");
    for i in 0..500 {
        let key = format!("user:{{{}}}:item{i}", i % 7);
        ns.store()
            .set(key.as_bytes(), key.as_bytes(), Default::default())
            .unwrap();
    }
    for i in 0..500 {
        let key = format!("user:{{{}}}:item{i}", i % 7);
        assert_eq!(
            ns.store().get_vec(key.as_bytes()).as_deref(),
            Some(key.as_bytes())
        );
        assert!(ns.store().delete(key.as_bytes()));
    }
    // Routing decides which shard holds a key, so it cannot change on a live namespace.
    let err = namespaces
        .update(
            "r",
            NamespaceConfig {
                routing: None,
                ..cfg
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            NamespaceError::InvalidConfig {
                field: "routing",
                ..
            }
        ),
        "{err}"
    );
    assert!(v.metrics().snapshot(Hook::Routing).calls >= 1000);
}

#[test]
fn plugin_metrics_are_exported_to_prometheus() {
    let namespaces = namespaces(test_limits(Duration::from_secs(3600)));
    let v = upload(&namespaces, wasm::NOOP, "noop");
    let cfg = NamespaceConfig {
        admission: Some(PolicyRef::plugin(&v.id)),
        ..Default::default()
    };
    let ns = namespaces.create("x", cfg).unwrap();
    for i in 0..40 {
        ns.store()
            .set(format!("k{i}").as_bytes(), b"v", Default::default())
            .unwrap();
    }
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(Arc::clone(namespaces.plugins()).collector()))
        .unwrap();
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let labels = format!(
        "plugin=\"{}\",name=\"noop\",hook=\"admission\"",
        &v.id[..12]
    );
    assert!(
        text.contains(&format!("larder_plugin_calls_total{{{labels}}} 40")),
        "{text}"
    );
    assert!(
        text.contains(&format!("larder_plugin_quarantined{{{labels}}} 0")),
        "{text}"
    );
    assert!(
        text.contains("larder_plugin_call_duration_seconds_bucket"),
        "{text}"
    );
    // One call in 16 per instance is timed: at least the first call of each instance.
    let count_line = format!("larder_plugin_call_duration_seconds_count{{{labels}}} ");
    let timed: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(count_line.as_str()))
        .and_then(|n| n.parse().ok())
        .expect("a call-duration count for the plugin");
    assert!((1..=40).contains(&timed), "{text}");
}
