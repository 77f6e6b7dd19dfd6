//! Simulator throughput: a 5 M request Zipf trace replayed through every built-in policy and the
//! reference LRU and S3-FIFO WebAssembly plugins, at 1 % and 10 % of the distinct objects.
//!
//! ```text
//! cargo run --release -p larder-runtime --example sim_speed
//! ```
//!
//! Requests per second cover the replay loop only (the trace is generated first, in memory).

use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::{CapacitySpec, SimPolicy, Simulation, ZipfSpec, wasm_policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = ZipfSpec {
        alpha: 0.9,
        objects: 1_000_000,
        requests: 5_000_000,
        seed: 1,
    };
    let started = std::time::Instant::now();
    let trace = spec.generate()?;
    println!(
        "{spec}: {} distinct objects, generated in {:.2}s",
        trace.distinct_objects(),
        started.elapsed().as_secs_f64()
    );
    let mut policies: Vec<SimPolicy> = BuiltinPolicy::ALL
        .into_iter()
        .map(SimPolicy::builtin)
        .collect();
    policies.push(wasm_policy("lru.wasm", larder_plugin_wasm::LRU)?);
    policies.push(wasm_policy("s3fifo.wasm", larder_plugin_wasm::S3FIFO)?);
    let sim = Simulation {
        capacities: vec![CapacitySpec::Percent(1.0), CapacitySpec::Percent(10.0)],
        policies,
        belady: Some(Default::default()),
    };
    let report = sim.run(&spec.to_string(), &trace)?;
    println!("| capacity | policy | miss ratio | seconds | requests/s |");
    println!("|---|---|---|---|---|");
    for cap in &report.capacities {
        for p in cap.policies.iter().chain(&cap.belady) {
            println!(
                "| {} ({}) | {} | {:.4} | {:.2} | {:.2} M |",
                cap.spec,
                cap.capacity,
                p.policy,
                p.miss_ratio,
                p.seconds,
                p.requests_per_sec / 1e6
            );
        }
    }
    Ok(())
}
