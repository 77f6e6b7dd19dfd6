//! A/B experiments on a live namespace through the runtime API: a Zipf workload split between an
//! LRU arm and an S3-FIFO arm must produce the verdict the simulator predicts for the same workload,
//! and promote / stop must leave every shard on the right policy.

use larder_runtime::experiment::{self, ArmSpec, ExperimentError, ExperimentSpec};
use larder_runtime::sim::replay::replay;
use larder_runtime::sim::{Capacity, ZipfSpec};
use larder_runtime::store::ENTRY_OVERHEAD;
use larder_runtime::{BuiltinPolicy, NamespaceConfig, Namespaces, SetOptions};

const VALUE: [u8; 100] = [7u8; 100];

fn key(id: u64) -> String {
    // Fixed width, so every entry has the same charge and byte capacity maps to an object count.
    format!("obj:{id:010}")
}

fn charge() -> u64 {
    (key(0).len() + VALUE.len()) as u64 + ENTRY_OVERHEAD
}

fn arm(name: &str, policy: BuiltinPolicy, weight: u32) -> ArmSpec {
    ArmSpec {
        name: name.into(),
        eviction: policy.into(),
        eviction_fallback: None,
        admission: None,
        weight,
    }
}

fn namespace(all: &Namespaces, name: &str, objects: u64, eviction: BuiltinPolicy) {
    let cfg = NamespaceConfig {
        capacity_bytes: objects * charge(),
        max_item_size: Some(1024),
        shards: Some(16),
        eviction: eviction.into(),
        ..Default::default()
    };
    all.create(name, cfg).expect("namespace");
}

/// Cache-aside: read, and on a miss write the value.
fn drive(all: &Namespaces, ns: &str, ids: impl Iterator<Item = u64>) {
    let ns = all.get(ns).expect("namespace");
    for id in ids {
        let k = key(id);
        if ns.store().get(k.as_bytes(), |_| ()).is_none() {
            ns.store()
                .set(k.as_bytes(), &VALUE, SetOptions::default())
                .expect("set");
        }
    }
}

#[test]
fn zipf_verdict_agrees_with_the_simulator() {
    let zipf = ZipfSpec {
        alpha: 0.8,
        objects: 50_000,
        requests: 600_000,
        seed: 42,
    };
    let trace = zipf.generate().expect("trace");
    // Each arm holds half the keys in half the capacity, which is the whole workload at the whole
    // capacity scaled down; the simulator runs the whole.
    let cache_objects = 1_500;
    let sim = |p: BuiltinPolicy| {
        let mut policy = p.build(cache_objects);
        1.0 - replay(&trace, Capacity::Objects(cache_objects), policy.as_mut())
            .counts
            .miss_ratio()
    };
    let (lru, s3fifo) = (sim(BuiltinPolicy::Lru), sim(BuiltinPolicy::S3fifo));
    assert!(
        (lru - s3fifo).abs() > 0.01,
        "workload must separate the policies for the test to mean anything: lru {lru}, s3fifo {s3fifo}"
    );
    let expected = if s3fifo > lru { "s3fifo" } else { "lru" };

    let all = Namespaces::new(NamespaceConfig::default()).expect("registry");
    namespace(&all, "ab", cache_objects, BuiltinPolicy::Fifo);
    let spec = ExperimentSpec {
        arms: vec![
            arm("lru", BuiltinPolicy::Lru, 1),
            arm("s3fifo", BuiltinPolicy::S3fifo, 1),
        ],
    };
    let started = experiment::start(&all, "ab", spec).expect("start");
    assert_eq!(started.arms.len(), 2);
    assert!(
        started
            .arms
            .iter()
            .all(|a| a.requests == 0 && a.shards.len() == 8)
    );

    drive(&all, "ab", trace.requests().iter().map(|r| r.id));

    let report = experiment::report(&all, "ab").expect("report");
    let total: u64 = report.arms.iter().map(|a| a.requests).sum();
    assert_eq!(
        total, zipf.requests,
        "every read is counted in exactly one arm"
    );
    for a in &report.arms {
        assert_eq!(a.serving, a.eviction);
        assert!(a.latency.samples > 0 && a.latency.p99_ns.is_some(), "{a:?}");
        assert!(a.evictions > 0 && a.byte_hit_ratio.is_some(), "{a:?}");
    }
    assert_eq!(
        report.verdict,
        format!("winner: {expected}"),
        "{report:#?} (sim: lru {lru}, s3fifo {s3fifo})"
    );
    let c = report.comparison.expect("comparison");
    assert_eq!(c.leader, expected);
    assert!(
        c.ci_low > 0.0 && c.ci_low <= c.difference && c.difference <= c.ci_high,
        "{c:?}"
    );

    // Promote the winner by default: every shard runs it and the config names it.
    let promotion = experiment::promote(&all, "ab", None).expect("promote");
    assert_eq!(promotion.promoted, expected);
    let ns = all.get("ab").expect("namespace");
    assert_eq!(ns.config().eviction.to_string(), expected);
    for i in 0..ns.store().shard_count() {
        assert_eq!(ns.store().shard_policy_name(i).as_deref(), Some(expected));
    }
    assert!(matches!(
        experiment::report(&all, "ab"),
        Err(ExperimentError::NotRunning(_))
    ));
}

#[test]
fn stop_returns_every_shard_to_the_namespace_policy_and_keeps_the_keys() {
    let all = Namespaces::new(NamespaceConfig::default()).expect("registry");
    namespace(&all, "stop", 10_000, BuiltinPolicy::Sieve);
    drive(&all, "stop", 0..2_000);
    let spec = ExperimentSpec {
        arms: vec![
            arm("a", BuiltinPolicy::Lru, 1),
            arm("b", BuiltinPolicy::Wtinylfu, 3),
        ],
    };
    let report = experiment::start(&all, "stop", spec).expect("start");
    assert_eq!(report.arms[0].shards.len(), 4);
    assert_eq!(report.arms[1].shards.len(), 12);
    let ns = all.get("stop").expect("namespace");
    let keys_before = ns.store().stats().keys;
    drive(&all, "stop", 0..2_000);
    let last = experiment::stop(&all, "stop").expect("stop");
    assert_eq!(
        last.arms.iter().map(|a| a.hits).sum::<u64>(),
        2_000,
        "all keys were resident"
    );
    assert_eq!(
        ns.store().stats().keys,
        keys_before,
        "hot swaps keep the cache's contents"
    );
    for i in 0..ns.store().shard_count() {
        assert_eq!(ns.store().shard_policy_name(i).as_deref(), Some("sieve"));
    }
    assert!(matches!(
        experiment::stop(&all, "stop"),
        Err(ExperimentError::NotRunning(_))
    ));
}

#[test]
fn bad_experiments_are_refused_without_touching_the_namespace() {
    let all = Namespaces::new(NamespaceConfig::default()).expect("registry");
    namespace(&all, "bad", 10_000, BuiltinPolicy::Sieve);
    let refuse = |spec: ExperimentSpec| match experiment::start(&all, "bad", spec) {
        Err(e) => (e.code(), e.to_string()),
        Ok(r) => panic!("accepted {r:?}"),
    };
    let (code, msg) = refuse(ExperimentSpec {
        arms: vec![
            arm("a", BuiltinPolicy::Lru, 1),
            arm("b", BuiltinPolicy::S3fifo, 2),
        ],
    });
    assert_eq!(code, "invalid_experiment");
    assert!(msg.contains("16 shards"), "{msg}");
    let (_, msg) = refuse(ExperimentSpec {
        arms: vec![
            arm("a", BuiltinPolicy::Lru, 1),
            arm("a", BuiltinPolicy::S3fifo, 1),
        ],
    });
    assert!(msg.contains("two arms"), "{msg}");
    let plugin = ArmSpec {
        name: "p".into(),
        eviction: "plugin:abcdef0123".parse().expect("reference"),
        eviction_fallback: None,
        admission: None,
        weight: 1,
    };
    let (code, _) = refuse(ExperimentSpec {
        arms: vec![arm("a", BuiltinPolicy::Lru, 1), plugin],
    });
    assert_eq!(code, "invalid_experiment");
    let ns = all.get("bad").expect("namespace");
    for i in 0..ns.store().shard_count() {
        assert_eq!(ns.store().shard_policy_name(i).as_deref(), Some("sieve"));
    }
    assert!(matches!(
        experiment::promote(&all, "bad", Some("a")),
        Err(ExperimentError::NotRunning(_))
    ));
    let spec = ExperimentSpec {
        arms: vec![
            arm("a", BuiltinPolicy::Lru, 1),
            arm("b", BuiltinPolicy::S3fifo, 1),
        ],
    };
    experiment::start(&all, "bad", spec).expect("start");
    assert!(matches!(
        experiment::promote(&all, "bad", Some("nope")),
        Err(ExperimentError::UnknownArm(_))
    ));
    // Nothing has been read yet, so there is no winner to promote by default.
    assert_eq!(
        experiment::promote(&all, "bad", None)
            .err()
            .map(|e| e.code()),
        Some("invalid_experiment")
    );
}

/// While an experiment runs, a namespace update that would replace the arms' policies is refused
/// (naming the field and what to do), and leaves every arm serving; a change the arms share
/// (capacity) applies. Once the experiment is stopped, the same update applies.
#[test]
fn an_update_that_would_replace_the_arms_policies_waits_for_the_experiment() {
    let all = Namespaces::new(NamespaceConfig::default()).expect("registry");
    namespace(&all, "busy", 10_000, BuiltinPolicy::Sieve);
    let spec = ExperimentSpec {
        arms: vec![
            arm("a", BuiltinPolicy::Lru, 1),
            arm("b", BuiltinPolicy::S3fifo, 1),
        ],
    };
    experiment::start(&all, "busy", spec).expect("start");
    let ns = all.get("busy").expect("namespace");
    let arm_policies = || {
        (0..ns.store().shard_count())
            .map(|i| ns.store().shard_policy_name(i).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let during = arm_policies();
    assert!(during.iter().any(|p| p == "lru") && during.iter().any(|p| p == "s3fifo"));

    let config = ns.config();
    let wtinylfu = NamespaceConfig {
        eviction: BuiltinPolicy::Wtinylfu.into(),
        ..config.clone()
    };
    let err = all.update("busy", wtinylfu.clone()).unwrap_err();
    assert_eq!(err.code(), "experiment_running", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("eviction") && message.contains("experiment"),
        "{message}"
    );
    assert_eq!(arm_policies(), during, "the arms keep serving");
    assert_eq!(ns.config().eviction, config.eviction);

    let bigger = NamespaceConfig {
        capacity_bytes: config.capacity_bytes * 2,
        ..config.clone()
    };
    all.update("busy", bigger)
        .expect("a capacity change applies to every arm");
    assert_eq!(ns.store().stats().capacity_bytes, config.capacity_bytes * 2);
    assert_eq!(arm_policies(), during);

    experiment::stop(&all, "busy").expect("stop");
    let after_stop = NamespaceConfig {
        capacity_bytes: config.capacity_bytes * 2,
        ..wtinylfu
    };
    all.update("busy", after_stop)
        .expect("no experiment any more");
    assert!(arm_policies().iter().all(|p| p == "wtinylfu"));
}
