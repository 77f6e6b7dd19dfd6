//! Conformance: every reference eviction plugin gives exactly the miss counts of the built-in it
//! is named after. The plugins (`plugins/lru`, `s3fifo`, `sieve`, `wtinylfu`, `adaptive`) are the
//! built-ins' own code (`runtime/policy`) compiled to wasm32, replayed here through the simulator
//! and the server's plugin host: shared traces at 1 % and 10 % of their distinct objects, a CDN
//! trace at 1 % and 10 % of its distinct bytes, a Zipf trace, and two synthetic traces that reach
//! the corners (big arrivals needing more victims than one answer holds; a workload that hands
//! `adaptive`'s decisions to LRU).
//!
//! **Tolerance: none — the miss counts must be equal.** Nothing in the ABI makes the two differ:
//! the host hands the plugin the very key hash the built-in sees (the replay's xxh3 of the object
//! id, forwarded unchanged in each event record); `adaptive`'s scores are `f64` arithmetic, which
//! WebAssembly defines as IEEE 754 exactly as the native code computes it; reads reach the plugin
//! one event at a time rather than as one batch, but in the same order, and every policy handles
//! a batch one read after another; and an answer cut short at 64 victims leaves the policy where
//! one longer answer would have, the host asking again. A difference is a bug, not noise.
//!
//! The traces live beside the repository in `../shared/traces` (override with `LARDER_TRACES`),
//! as for `sim_reference`.

use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::{
    CapacitySpec, PolicyResult, SimPolicy, Simulation, Trace, ZipfSpec, read_trace, wasm_policy,
};

mod trace_support;
use trace_support::trace_dir;

/// Each built-in with a reference plugin, and the plugin's module.
const PAIRS: &[(BuiltinPolicy, &[u8])] = &[
    (BuiltinPolicy::Lru, larder_plugin_wasm::LRU),
    (BuiltinPolicy::S3fifo, larder_plugin_wasm::S3FIFO),
    (BuiltinPolicy::Sieve, larder_plugin_wasm::SIEVE),
    (BuiltinPolicy::Wtinylfu, larder_plugin_wasm::WTINYLFU),
    (BuiltinPolicy::Adaptive, larder_plugin_wasm::ADAPTIVE),
];

/// LRU-favouring (`lirs-sprite`, `lirs-zigzag`), S3-FIFO-favouring (`lirs-multi2`,
/// `cache2k-web07`): between them `adaptive` puts both of its policies in charge.
const TRACES: &[&str] = &["lirs-sprite", "lirs-zigzag", "lirs-multi2", "cache2k-web07"];

fn shared_trace(name: &str) -> Trace {
    let path = trace_dir().join(format!("{name}.oracleGeneral.bin.zst"));
    read_trace(&path, None).unwrap_or_else(|e| {
        panic!("{e} (set LARDER_TRACES to the directory holding the shared traces)")
    })
}

fn zipf() -> Trace {
    let spec = ZipfSpec {
        alpha: 0.9,
        objects: 5_000,
        requests: 60_000,
        seed: 11,
    };
    spec.generate().unwrap_or_else(|e| panic!("{e}"))
}

/// A loop a little larger than a 1000-object cache (S3-FIFO keeps part of it, LRU none), then a
/// zigzag over five times the cache (LRU keeps the keys wanted next, S3-FIFO's small queue drops
/// them): the workload of the built-in `adaptive`'s own `follows_the_workload_when_it_changes`.
fn loop_then_zigzag() -> Trace {
    let looping = (0..40).flat_map(|_| 0..1100u64);
    let zigzag = (0..10).flat_map(|_| (0..5000u64).chain((0..5000).rev()).map(|k| k + 10_000));
    Trace::from_keys(looping.chain(zigzag).map(|id| (id, 1)))
}

/// Mostly 1-byte objects, and every 300th request one of 50 objects of 90 bytes: at a capacity of
/// 1000 bytes (a small queue of 100), a big arrival often needs about 90 victims, more than one
/// answer holds (64), so the plugin is asked twice where the built-in answers at once.
fn big_among_small() -> Trace {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let requests = (0..60_000u64).map(move |i| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i % 300 == 0 {
            (1_000_000 + x % 50, 90)
        } else {
            // Skewed towards low ids, so some small objects are re-read.
            ((x % 3000) * ((x >> 20) % 3000) / 3000, 1)
        }
    });
    Trace::from_keys(requests)
}

/// One comparison: a built-in and its plugin on one trace at one capacity.
struct Case {
    label: String,
    builtin: PolicyResult,
    plugin: PolicyResult,
}

impl Case {
    fn line(&self) -> String {
        format!(
            "{}: {} {:.4} ({} misses), {} {:.4} ({} misses)",
            self.label,
            self.builtin.policy,
            self.builtin.miss_ratio,
            self.builtin.misses,
            self.plugin.policy,
            self.plugin.miss_ratio,
            self.plugin.misses,
        )
    }

    /// Problems with this case, if any.
    fn check(&self) -> Vec<String> {
        let (b, p) = (&self.builtin, &self.plugin);
        let mut problems = Vec::new();
        if p.plugin_faults != Some(0) {
            problems.push(format!(
                "{}: {} faulted ({:?}), so the fallback served part of it",
                self.label, p.policy, p.plugin_faults
            ));
        }
        if (p.misses, p.evictions) != (b.misses, b.evictions) {
            problems.push(format!(
                "{}: misses/evictions differ: {} {}/{}, {} {}/{}",
                self.label, b.policy, b.misses, b.evictions, p.policy, p.misses, p.evictions
            ));
        }
        if (p.invalid_victims, p.shortfalls) != (0, 0) {
            problems.push(format!(
                "{}: {} named {} invalid victims, {} shortfalls",
                self.label, p.policy, p.invalid_victims, p.shortfalls
            ));
        }
        if b.hits == 0 {
            problems.push(format!(
                "{}: no hits at all, so nothing was compared",
                self.label
            ));
        }
        problems
    }
}

/// Every built-in and its plugin over `trace` at each capacity, in one simulation.
fn run(trace_name: &str, trace: &Trace, capacities: Vec<CapacitySpec>) -> Vec<Case> {
    let mut policies = Vec::new();
    for &(builtin, module) in PAIRS {
        policies.push(SimPolicy::builtin(builtin));
        let name = format!("{builtin}.wasm");
        policies.push(wasm_policy(&name, module).unwrap_or_else(|e| panic!("{e}")));
    }
    let sim = Simulation {
        capacities,
        policies,
        belady: None,
    };
    let report = sim.run(trace_name, trace).unwrap_or_else(|e| panic!("{e}"));
    let mut cases = Vec::new();
    for cap in &report.capacities {
        let row = |name: &str| {
            cap.get(name)
                .cloned()
                .unwrap_or_else(|| panic!("no {name} row"))
        };
        for &(builtin, _) in PAIRS {
            cases.push(Case {
                label: format!("{trace_name} at {}", cap.spec),
                builtin: row(builtin.as_str()),
                plugin: row(&format!("{builtin}.wasm")),
            });
        }
    }
    cases
}

/// Print every case (visible with `--nocapture`) and fail listing every problem.
fn assert_equal(cases: &[Case]) {
    for case in cases {
        println!("{}", case.line());
    }
    let problems: Vec<String> = cases.iter().flat_map(Case::check).collect();
    assert!(
        problems.is_empty(),
        "plugins and built-ins disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_plugin_matches_its_builtin_on_shared_traces() {
    let mut cases = Vec::new();
    for name in TRACES {
        let trace = shared_trace(name);
        cases.extend(run(
            name,
            &trace,
            vec![CapacitySpec::Percent(1.0), CapacitySpec::Percent(10.0)],
        ));
    }
    assert_equal(&cases);
}

/// Variable sizes at byte capacities: a CDN trace at 1 % and 10 % of its distinct bytes, and big
/// arrivals whose victims do not fit in one answer.
#[test]
fn every_plugin_matches_its_builtin_at_byte_capacities() {
    let trace = shared_trace("adaptsize-cdn");
    let bytes = trace.distinct_bytes();
    let mut cases = run(
        "adaptsize-cdn",
        &trace,
        vec![
            CapacitySpec::Bytes(bytes / 100),
            CapacitySpec::Bytes(bytes / 10),
        ],
    );
    cases.extend(run(
        "big-among-small",
        &big_among_small(),
        vec![CapacitySpec::Bytes(1000)],
    ));
    assert_equal(&cases);
}

#[test]
fn every_plugin_matches_its_builtin_on_zipf() {
    let cases = run(
        "zipf",
        &zipf(),
        vec![
            CapacitySpec::Percent(1.0),
            CapacitySpec::Percent(10.0),
            CapacitySpec::Objects(700),
        ],
    );
    assert_equal(&cases);
}

/// The comparison covers `adaptive` with either policy in charge: on this workload it beats
/// S3-FIFO alone only by handing the zigzag to LRU.
#[test]
fn adaptive_plugin_matches_the_builtin_when_lru_takes_charge() {
    let cases = run(
        "loop-then-zigzag",
        &loop_then_zigzag(),
        vec![CapacitySpec::Objects(1000)],
    );
    assert_equal(&cases);
    let misses = |p: BuiltinPolicy| {
        cases
            .iter()
            .find(|c| c.builtin.policy == p.as_str())
            .map(|c| c.builtin.misses)
            .unwrap_or_else(|| panic!("no {p} case"))
    };
    let adaptive = misses(BuiltinPolicy::Adaptive);
    assert!(
        adaptive < misses(BuiltinPolicy::S3fifo) && adaptive < misses(BuiltinPolicy::Lru),
        "adaptive {adaptive}, s3fifo {}, lru {}",
        misses(BuiltinPolicy::S3fifo),
        misses(BuiltinPolicy::Lru)
    );
}
