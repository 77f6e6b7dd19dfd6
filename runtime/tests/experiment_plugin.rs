//! An experiment with a WebAssembly arm: the plugin's hook time is reported for its arm only, and
//! promoting it makes the plugin version the namespace's eviction policy on every shard.

use std::sync::Arc;

use larder_plugin_wasm as wasm;
use larder_runtime::experiment::{self, ArmSpec, ExperimentSpec};
use larder_runtime::plugin::{Hook, PluginHost, PluginLimits};
use larder_runtime::{BuiltinPolicy, NamespaceConfig, Namespaces, PolicyRef, SetOptions};

#[test]
fn plugin_arm_reports_hook_time_and_can_be_promoted() {
    let all = Namespaces::with_plugins(
        NamespaceConfig::default(),
        Arc::new(PluginHost::new(PluginLimits::default())),
    )
    .expect("registry");
    let version = all
        .plugins()
        .upload(wasm::S3FIFO, "s3fifo-wasm", "test")
        .expect("upload")
        .version;
    let cfg = NamespaceConfig {
        capacity_bytes: 400_000,
        max_item_size: Some(1024),
        shards: Some(4),
        eviction: BuiltinPolicy::Lru.into(),
        eviction_fallback: Some(BuiltinPolicy::Lru),
        ..Default::default()
    };
    let ns = all.create("wasm", cfg).expect("namespace");
    let plugin_ref = PolicyRef::plugin(&version.id);
    let spec = ExperimentSpec {
        arms: vec![
            ArmSpec {
                name: "native".into(),
                eviction: BuiltinPolicy::Lru.into(),
                eviction_fallback: None,
                admission: None,
                weight: 1,
            },
            ArmSpec {
                name: "wasm".into(),
                eviction: plugin_ref.clone(),
                eviction_fallback: None,
                admission: None,
                weight: 1,
            },
        ],
    };
    experiment::start(&all, "wasm", spec).expect("start");
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..30_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = format!("k{}", (x % 4000) * ((x >> 20) % 4000) % 4000);
        if ns.store().get(key.as_bytes(), |_| ()).is_none() {
            ns.store()
                .set(key.as_bytes(), &[3u8; 150], SetOptions::default())
                .expect("set");
        }
    }
    let report = experiment::report(&all, "wasm").expect("report");
    let (native, plugin) = (&report.arms[0], &report.arms[1]);
    assert!(native.hook_time.is_none(), "{native:?}");
    let hook = plugin.hook_time.as_ref().expect("plugin arm has hook time");
    assert!(hook.calls > 0 && plugin.evictions > 0, "{plugin:?}");
    assert_eq!(plugin.eviction, plugin_ref.to_string());

    let promotion = experiment::promote(&all, "wasm", Some("wasm")).expect("promote");
    assert_eq!(promotion.eviction, plugin_ref.to_string());
    assert_eq!(ns.config().eviction, plugin_ref);
    let names: Vec<_> = (0..4)
        .filter_map(|i| ns.store().shard_policy_name(i))
        .collect();
    assert!(
        names.iter().all(|n| n == &names[0]) && names[0] != "lru",
        "{names:?}"
    );
}

#[test]
fn an_arm_can_bring_its_own_admission_hook_and_stop_removes_it() {
    let all = Namespaces::with_plugins(
        NamespaceConfig::default(),
        Arc::new(PluginHost::new(PluginLimits::default())),
    )
    .expect("registry");
    let noop = all
        .plugins()
        .upload(wasm::NOOP, "noop", "test")
        .expect("upload")
        .version;
    let cfg = NamespaceConfig {
        capacity_bytes: 400_000,
        max_item_size: Some(1024),
        shards: Some(4),
        eviction: BuiltinPolicy::Lru.into(),
        ..Default::default()
    };
    let ns = all.create("adm", cfg).expect("namespace");
    let arm = |name: &str, admission: Option<PolicyRef>| ArmSpec {
        name: name.into(),
        eviction: BuiltinPolicy::Lru.into(),
        eviction_fallback: None,
        admission,
        weight: 1,
    };
    let spec = ExperimentSpec {
        arms: vec![
            arm("plain", None),
            arm("gated", Some(PolicyRef::plugin(&noop.id))),
        ],
    };
    experiment::start(&all, "adm", spec).expect("start");
    let admission_calls = || noop.metrics().snapshot(Hook::Admission).calls;
    for i in 0..2_000u32 {
        ns.store()
            .set(format!("a{i}").as_bytes(), b"v", SetOptions::default())
            .expect("set");
    }
    let during = admission_calls();
    // About half the new keys land in the gated arm's shards; none in the plain arm's reach the hook.
    assert!(during > 500 && during < 1_500, "{during}");
    experiment::stop(&all, "adm").expect("stop");
    for i in 0..2_000u32 {
        ns.store()
            .set(format!("b{i}").as_bytes(), b"v", SetOptions::default())
            .expect("set");
    }
    assert_eq!(
        admission_calls(),
        during,
        "after stop no shard asks the arm's admission hook"
    );
}
