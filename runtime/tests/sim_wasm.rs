//! WebAssembly eviction plugins in the simulator: replayed through the server's plugin host, a
//! plugin re-implementing a built-in policy must give the built-in's miss counts, and a plugin
//! that breaks the ABI must be flagged rather than pass for a good result.

use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::{CapacitySpec, SimError, SimPolicy, Simulation, ZipfSpec, wasm_policy};

fn zipf() -> larder_runtime::sim::Trace {
    let spec = ZipfSpec {
        alpha: 0.9,
        objects: 5_000,
        requests: 60_000,
        seed: 11,
    };
    spec.generate().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn wasm_lru_gives_the_builtin_lru_miss_counts() {
    let trace = zipf();
    let wasm = wasm_policy("lru.wasm", larder_plugin_wasm::LRU).unwrap_or_else(|e| panic!("{e}"));
    let sim = Simulation {
        capacities: vec![CapacitySpec::Percent(1.0), CapacitySpec::Objects(700)],
        policies: vec![SimPolicy::builtin(BuiltinPolicy::Lru), wasm],
        belady: None,
    };
    let report = sim.run("zipf", &trace).unwrap_or_else(|e| panic!("{e}"));
    for cap in &report.capacities {
        let native = cap.get("lru").unwrap_or_else(|| panic!("no lru row"));
        let plugin = cap
            .get("lru.wasm")
            .unwrap_or_else(|| panic!("no plugin row"));
        assert_eq!(plugin.plugin_faults, Some(0), "{}", cap.spec);
        assert_eq!(plugin.misses, native.misses, "{}", cap.spec);
        assert_eq!(plugin.evictions, native.evictions, "{}", cap.spec);
        assert!(plugin.hits > 0);
    }
}

#[test]
fn a_plugin_that_names_garbage_victims_is_flagged() {
    let trace = zipf();
    let wasm = wasm_policy("garbage", larder_plugin_wasm::GARBAGE_VICTIMS)
        .unwrap_or_else(|e| panic!("{e}"));
    let sim = Simulation {
        capacities: vec![CapacitySpec::Objects(500)],
        policies: vec![wasm],
        belady: None,
    };
    let report = sim.run("zipf", &trace).unwrap_or_else(|e| panic!("{e}"));
    let row = report.capacities[0]
        .get("garbage")
        .unwrap_or_else(|| panic!("no row"));
    assert!(row.plugin_faults.is_some_and(|f| f > 0), "{row:?}");
    assert!(report.to_table().contains("misbehaved"));
}

#[test]
fn bytes_that_are_not_an_eviction_plugin_are_refused_clearly() {
    let err = wasm_policy("junk", b"not wasm at all").err();
    assert!(
        matches!(&err, Some(SimError::Policy { policy, .. }) if policy == "junk"),
        "{err:?}"
    );
    // A valid plugin without the eviction hook.
    let err = wasm_policy("prefetch", larder_plugin_wasm::SEQUENTIAL_PREFETCH).err();
    assert!(err.is_some_and(|e| e.to_string().contains("eviction hook")));
}
