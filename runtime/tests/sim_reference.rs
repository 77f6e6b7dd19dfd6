//! The simulator against libCacheSim, an independent reference simulator.
//!
//! `sim_libcachesim_reference.tsv` holds libCacheSim 0.3.5's miss counts for LRU, FIFO, S3-FIFO,
//! SIEVE and Belady on every shared trace at 1 % and 10 % of its distinct objects; the command
//! that made it is in its header. This test replays the same traces through our simulator and the
//! server's own policies and compares miss counts.
//!
//! The traces live beside the repository in `../shared/traces` (override with `LARDER_TRACES`).

use std::collections::BTreeMap;

use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::belady::belady;
use larder_runtime::sim::replay::replay;
use larder_runtime::sim::{CapacitySpec, Trace, read_trace};

const FIXTURE: &str = include_str!("sim_libcachesim_reference.tsv");

mod trace_support;
use trace_support::trace_dir;

struct Row {
    percent: f64,
    capacity: u64,
    policy: String,
    requests: u64,
    misses: u64,
}

fn fixture() -> BTreeMap<String, Vec<Row>> {
    let mut by_trace: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in FIXTURE.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 6, "bad fixture line {line:?}");
        let num = |i: usize| {
            f[i].parse::<u64>()
                .unwrap_or_else(|_| panic!("bad number in {line:?}"))
        };
        by_trace.entry(f[0].to_string()).or_default().push(Row {
            percent: num(1) as f64,
            capacity: num(2),
            policy: f[3].to_string(),
            requests: num(4),
            misses: num(5),
        });
    }
    by_trace
}

fn our_misses(trace: &Trace, percent: f64, policy: &str) -> (u64, u64) {
    let capacity = CapacitySpec::Percent(percent).resolve(trace);
    let outcome = if policy == "belady" {
        belady(trace, capacity)
    } else {
        let p: BuiltinPolicy = policy.parse().unwrap_or_else(|e| panic!("{e}"));
        let mut instance = p.build(capacity.amount());
        replay(trace, capacity, instance.as_mut())
    };
    (capacity.amount(), outcome.counts.misses())
}

/// Runs `check` on every fixture row and fails listing every disagreement.
fn compare(policies: &[&str], percents: &[f64], allowed_difference: f64) {
    let dir = trace_dir();
    let mut failures = Vec::new();
    let mut compared = 0;
    for (name, rows) in fixture() {
        let path = dir.join(format!("{name}.oracleGeneral.bin.zst"));
        let trace = read_trace(&path, None).unwrap_or_else(|e| {
            panic!("{e} (set LARDER_TRACES to the directory holding the shared traces)")
        });
        let wanted =
            |r: &&Row| policies.contains(&r.policy.as_str()) && percents.contains(&r.percent);
        for row in rows.iter().filter(wanted) {
            assert_eq!(
                trace.len() as u64,
                row.requests,
                "{name}: request count differs"
            );
            let (capacity, misses) = our_misses(&trace, row.percent, &row.policy);
            assert_eq!(
                capacity, row.capacity,
                "{name} {}%: capacity resolves differently",
                row.percent
            );
            let difference = (misses as f64 - row.misses as f64).abs() / row.requests as f64;
            if difference > allowed_difference {
                failures.push(format!(
                    "{name} {}% {}: ours {misses} misses, libCacheSim {} ({difference:.4} of requests)",
                    row.percent, row.policy, row.misses
                ));
            }
            compared += 1;
        }
    }
    assert!(compared > 0, "the fixture has no rows for {policies:?}");
    assert!(
        failures.is_empty(),
        "disagreements with libCacheSim:\n{}",
        failures.join("\n")
    );
}

#[test]
fn lru_fifo_and_belady_match_libcachesim_exactly() {
    compare(&["lru", "fifo", "belady"], &[1.0, 10.0], 0.0);
}

#[test]
fn sieve_matches_libcachesim_exactly() {
    compare(&["sieve"], &[1.0, 10.0], 0.0);
}

/// Our S3-FIFO keeps its ghost as key fingerprints and sizes its queues in bytes, so it is not
/// step-for-step libCacheSim's; at 10 % capacity it agrees to 0.2 % of requests. (At 1 % the
/// small queue holds a handful of objects and the two differ more; docs/simulator.md lists it.)
#[test]
fn s3fifo_is_close_to_libcachesim_at_ten_percent() {
    compare(&["s3fifo"], &[10.0], 0.002);
}
