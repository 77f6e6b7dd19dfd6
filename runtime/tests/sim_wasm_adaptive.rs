//! The `adaptive` reference plugin (`plugins/adaptive`) against the built-in `adaptive` policy it
//! ports, replayed through the simulator and the server's plugin host: shared traces at 1 % and
//! 10 % of their distinct objects (and one at byte capacities), a Zipf trace, and a synthetic
//! trace whose second half hands the decisions to LRU.
//!
//! **Tolerance: none — the miss counts must be equal.** Nothing in the ABI makes the two differ:
//! the host hands the plugin the very key hash the built-in sees (the replay's xxh3 of the object
//! id, forwarded unchanged in each event record), so both fold it into the same 32-bit
//! fingerprint, sample the same keys into their trials and remember the same keys in S3-FIFO's
//! ghost; the scores are `f64` arithmetic, which WebAssembly defines as IEEE 754 exactly as the
//! native code computes it; reads reach the plugin one event at a time rather than as one batch,
//! but in the same order, and none of the batch's consumers depends on another; and the plugin's
//! S3-FIFO and LRU (`plugins/kit`) decide what the built-ins decide event for event. A difference
//! is therefore a bug in the port, not noise to be tolerated.
//!
//! The traces live beside the repository in `../shared/traces` (override with `LARDER_TRACES`),
//! as for `sim_reference`.

use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::{
    CapacitySpec, PolicyResult, SimPolicy, Simulation, Trace, ZipfSpec, read_trace, wasm_policy,
};

/// LRU-favouring (`lirs-sprite`, `lirs-zigzag`), S3-FIFO-favouring (`lirs-multi2`,
/// `cache2k-web07`): between them both policies take charge.
const TRACES: &[&str] = &["lirs-sprite", "lirs-zigzag", "lirs-multi2", "cache2k-web07"];

mod trace_support;
use trace_support::trace_dir;

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
/// them): the workload of the built-in's own `follows_the_workload_when_it_changes` test.
fn loop_then_zigzag() -> Trace {
    let looping = (0..40).flat_map(|_| 0..1100u64);
    let zigzag = (0..10).flat_map(|_| (0..5000u64).chain((0..5000).rev()).map(|k| k + 10_000));
    Trace::from_keys(looping.chain(zigzag).map(|id| (id, 1)))
}

/// Mostly 1-byte objects, and every 300th request one of 50 objects of 90 bytes: at a capacity of
/// 1000 bytes (a small queue of 100), a big arrival often needs about 90 victims, more than one
/// answer holds (64), so the plugin is asked twice where the built-in answers at once (160 times
/// in this trace).
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

/// One case: the built-in's and the plugin's results, with LRU and S3-FIFO for context.
struct Case {
    label: String,
    builtin: PolicyResult,
    plugin: PolicyResult,
    lru: PolicyResult,
    s3fifo: PolicyResult,
}

impl Case {
    fn line(&self) -> String {
        format!(
            "{}: adaptive {:.4} ({} misses), adaptive.wasm {:.4} ({} misses); lru {:.4}, s3fifo {:.4}",
            self.label,
            self.builtin.miss_ratio,
            self.builtin.misses,
            self.plugin.miss_ratio,
            self.plugin.misses,
            self.lru.miss_ratio,
            self.s3fifo.miss_ratio,
        )
    }

    /// Problems with this case, if any.
    fn check(&self) -> Vec<String> {
        let (b, p) = (&self.builtin, &self.plugin);
        let mut problems = Vec::new();
        if p.plugin_faults != Some(0) {
            problems.push(format!(
                "{}: the plugin faulted ({:?}), so the fallback served part of it",
                self.label, p.plugin_faults
            ));
        }
        if (p.misses, p.evictions) != (b.misses, b.evictions) {
            problems.push(format!(
                "{}: misses/evictions differ: built-in {}/{}, plugin {}/{}",
                self.label, b.misses, b.evictions, p.misses, p.evictions
            ));
        }
        if (p.invalid_victims, p.shortfalls) != (0, 0) {
            problems.push(format!(
                "{}: the plugin named {} invalid victims, {} shortfalls",
                self.label, p.invalid_victims, p.shortfalls
            ));
        }
        problems
    }
}

fn run(trace_name: &str, trace: &Trace, capacities: Vec<CapacitySpec>) -> Vec<Case> {
    let wasm = wasm_policy("adaptive.wasm", larder_plugin_wasm::ADAPTIVE)
        .unwrap_or_else(|e| panic!("{e}"));
    let sim = Simulation {
        capacities,
        policies: vec![
            SimPolicy::builtin(BuiltinPolicy::Adaptive),
            wasm,
            SimPolicy::builtin(BuiltinPolicy::Lru),
            SimPolicy::builtin(BuiltinPolicy::S3fifo),
        ],
        belady: None,
    };
    let report = sim.run(trace_name, trace).unwrap_or_else(|e| panic!("{e}"));
    report
        .capacities
        .iter()
        .map(|cap| {
            let row = |name: &str| {
                cap.get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("no {name} row"))
            };
            Case {
                label: format!("{trace_name} at {}", cap.spec),
                builtin: row("adaptive"),
                plugin: row("adaptive.wasm"),
                lru: row("lru"),
                s3fifo: row("s3fifo"),
            }
        })
        .collect()
}

/// Print every case (visible with `--nocapture`) and fail listing every problem.
fn assert_equal(cases: &[Case]) {
    for case in cases {
        println!("{}", case.line());
    }
    let problems: Vec<String> = cases.iter().flat_map(Case::check).collect();
    assert!(
        problems.is_empty(),
        "the plugin and the built-in disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn wasm_adaptive_matches_the_builtin_on_zipf() {
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

#[test]
fn wasm_adaptive_matches_the_builtin_when_lru_takes_charge() {
    let cases = run(
        "loop-then-zigzag",
        &loop_then_zigzag(),
        vec![CapacitySpec::Objects(1000)],
    );
    assert_equal(&cases);
    // The comparison covered both policies in charge: adaptive beats S3-FIFO alone only by
    // handing the zigzag to LRU.
    let case = &cases[0];
    assert!(
        case.builtin.misses < case.s3fifo.misses && case.builtin.misses < case.lru.misses,
        "{}",
        case.line()
    );
}

#[test]
fn wasm_adaptive_matches_the_builtin_on_shared_traces() {
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

/// Variable sizes at byte capacities: a CDN trace at 1 % and 10 % of its distinct bytes, and a
/// synthetic trace whose big arrivals need more victims than one answer holds.
#[test]
fn wasm_adaptive_matches_the_builtin_at_byte_capacities() {
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

/// The S3-FIFO plugin is the same `kit::S3Fifo` the adaptive plugin runs, so it too gives the
/// built-in's miss counts.
#[test]
fn wasm_s3fifo_matches_the_builtin() {
    let wasm =
        wasm_policy("s3fifo.wasm", larder_plugin_wasm::S3FIFO).unwrap_or_else(|e| panic!("{e}"));
    let sim = Simulation {
        capacities: vec![CapacitySpec::Percent(1.0), CapacitySpec::Objects(700)],
        policies: vec![SimPolicy::builtin(BuiltinPolicy::S3fifo), wasm],
        belady: None,
    };
    for (name, trace) in [("zipf", zipf()), ("loop-then-zigzag", loop_then_zigzag())] {
        let report = sim.run(name, &trace).unwrap_or_else(|e| panic!("{e}"));
        for cap in &report.capacities {
            let native = cap.get("s3fifo").unwrap_or_else(|| panic!("no s3fifo row"));
            let plugin = cap
                .get("s3fifo.wasm")
                .unwrap_or_else(|| panic!("no plugin row"));
            println!(
                "{name} at {}: s3fifo {:.4}, s3fifo.wasm {:.4}",
                cap.spec, native.miss_ratio, plugin.miss_ratio
            );
            assert_eq!(plugin.plugin_faults, Some(0), "{name} {}", cap.spec);
            assert_eq!(
                (plugin.misses, plugin.evictions),
                (native.misses, native.evictions),
                "{name} {}",
                cap.spec
            );
        }
    }
}
