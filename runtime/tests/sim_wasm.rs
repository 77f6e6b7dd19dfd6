//! WebAssembly eviction plugins in the simulator: a plugin that breaks the ABI must be flagged
//! rather than pass for a good result. (That a reference plugin gives its built-in's miss counts
//! is `sim_conformance`.)

use larder_runtime::sim::{CapacitySpec, SimError, Simulation, ZipfSpec, wasm_policy};

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
