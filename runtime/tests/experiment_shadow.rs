//! Shadow evaluation through the runtime API: with the live policy also run as a shadow candidate,
//! its ghost's hit ratio must land within 2 percentage points of the live hit ratio on a Zipf
//! workload; and the sampled share of traffic must match the configured rate.

use larder_runtime::experiment::{self, CandidateSpec, ExperimentError, ShadowSpec};
use larder_runtime::sim::ZipfSpec;
use larder_runtime::{BuiltinPolicy, NamespaceConfig, Namespaces, SetOptions};

const VALUE: [u8; 200] = [1u8; 200];

fn candidate(name: &str, policy: BuiltinPolicy) -> CandidateSpec {
    CandidateSpec {
        name: name.into(),
        eviction: policy.into(),
        eviction_fallback: None,
    }
}

fn live_namespace(all: &Namespaces, name: &str, eviction: BuiltinPolicy) {
    let cfg = NamespaceConfig {
        // About 5 000 entries of ~250 bytes charged.
        capacity_bytes: 1_280_000,
        max_item_size: Some(1024),
        shards: Some(16),
        eviction: eviction.into(),
        ..Default::default()
    };
    all.create(name, cfg).expect("namespace");
}

fn check_estimate(live_policy: BuiltinPolicy) {
    let all = Namespaces::new(NamespaceConfig::default()).expect("registry");
    live_namespace(&all, "shadowed", live_policy);
    let spec = ShadowSpec {
        candidates: vec![
            candidate("same", live_policy),
            candidate("other", BuiltinPolicy::Fifo),
        ],
        sample_rate: 0.1,
    };
    experiment::start_shadow(&all, "shadowed", spec).expect("start shadow");
    let zipf = ZipfSpec {
        alpha: 0.9,
        objects: 100_000,
        requests: 500_000,
        seed: 9,
    };
    let trace = zipf.generate().expect("trace");
    let ns = all.get("shadowed").expect("namespace");
    for (i, r) in trace.requests().iter().enumerate() {
        let key = format!("user:{:08}", r.id);
        if ns.store().get(key.as_bytes(), |_| ()).is_none() {
            ns.store()
                .set(key.as_bytes(), &VALUE, SetOptions::default())
                .expect("set");
        }
        // Reading the report drains the buffers too; keep them from filling on a fast machine.
        if i % 2_000 == 0 {
            experiment::shadow_report(&all, "shadowed").expect("report");
        }
    }
    let report = experiment::shadow_report(&all, "shadowed").expect("report");
    let same = &report.candidates[0];
    let live = report.live.hit_ratio;
    assert_eq!(report.live.requests, zipf.requests);
    assert!(
        live > 0.2 && live < 0.9,
        "the cache must be neither empty nor all-holding: {live}"
    );
    assert!(
        (same.estimated_hit_ratio - live).abs() < 0.02,
        "{live_policy}: estimate {} vs live {live} ({report:#?})",
        same.estimated_hit_ratio
    );
    // SHARDS samples keys, not requests, so the sampled share of reads is near but not exactly the
    // rate; for this skew 0.1 ± 0.03 holds with a wide margin.
    let share = same.sampled_requests as f64 / zipf.requests as f64;
    assert!((0.07..0.13).contains(&share), "sampled share {share}");
    assert_eq!(report.candidates[1].sampled_requests, same.sampled_requests);

    let last = experiment::stop_shadow(&all, "shadowed").expect("stop");
    assert_eq!(last.candidates.len(), 2);
    assert!(matches!(
        experiment::shadow_report(&all, "shadowed"),
        Err(ExperimentError::NoShadow(_))
    ));
}

#[test]
fn lru_shadow_tracks_live_lru() {
    check_estimate(BuiltinPolicy::Lru);
}

#[test]
fn s3fifo_shadow_tracks_live_s3fifo() {
    check_estimate(BuiltinPolicy::S3fifo);
}

#[test]
fn bad_shadow_specs_are_refused() {
    let all = Namespaces::new(NamespaceConfig::default()).expect("registry");
    live_namespace(&all, "s", BuiltinPolicy::Lru);
    let code = |spec: ShadowSpec| {
        experiment::start_shadow(&all, "s", spec)
            .err()
            .map(|e| e.code())
    };
    let one = vec![candidate("a", BuiltinPolicy::Lru)];
    assert_eq!(
        code(ShadowSpec {
            candidates: one.clone(),
            sample_rate: 0.0
        }),
        Some("invalid_shadow")
    );
    assert_eq!(
        code(ShadowSpec {
            candidates: one.clone(),
            sample_rate: 1.5
        }),
        Some("invalid_shadow")
    );
    assert_eq!(
        code(ShadowSpec {
            candidates: vec![],
            sample_rate: 0.1
        }),
        Some("invalid_shadow")
    );
    let dup = vec![
        candidate("a", BuiltinPolicy::Lru),
        candidate("a", BuiltinPolicy::Fifo),
    ];
    assert_eq!(
        code(ShadowSpec {
            candidates: dup,
            sample_rate: 0.1
        }),
        Some("invalid_shadow")
    );
    assert_eq!(
        experiment::start_shadow(
            &all,
            "missing",
            ShadowSpec {
                candidates: one,
                sample_rate: 0.1
            }
        )
        .err()
        .map(|e| e.code()),
        Some("namespace_not_found")
    );
    assert_eq!(
        experiment::stop_shadow(&all, "s").err().map(|e| e.code()),
        Some("no_shadow")
    );
}
