//! The shipped-policy table and the libCacheSim cross-check, as markdown for docs/simulator.md.
//!
//! ```text
//! cargo run --release -p larder-runtime --example policy_table -- ../shared/traces
//! ```
//!
//! Part 1: every built-in policy on every `*.oracleGeneral.bin.zst` trace in the directory at 1 %
//! and 10 % of its distinct objects, with Belady's optimum, then each policy's mean gap closed
//! from LRU to Belady and its worst miss ratio relative to LRU. Part 2: our miss ratios beside
//! libCacheSim's (from the committed fixture `tests/sim_libcachesim_reference.tsv`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::{CapacitySpec, SimPolicy, SimReport, Simulation, read_trace};

const REFERENCE: &str = include_str!("../tests/sim_libcachesim_reference.tsv");
const ORDER: [BuiltinPolicy; 5] = [
    BuiltinPolicy::Lru,
    BuiltinPolicy::Fifo,
    BuiltinPolicy::Sieve,
    BuiltinPolicy::S3fifo,
    BuiltinPolicy::Wtinylfu,
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: policy_table TRACE_DIR")?,
    );
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".oracleGeneral.bin.zst"))
        .collect();
    paths.sort();
    // Every built-in, in ORDER, plus any the enum gained since this list was written.
    let mut builtins: Vec<BuiltinPolicy> = ORDER.to_vec();
    builtins.extend(
        BuiltinPolicy::ALL
            .into_iter()
            .filter(|p| !ORDER.contains(p)),
    );
    let sim = Simulation {
        capacities: vec![CapacitySpec::Percent(1.0), CapacitySpec::Percent(10.0)],
        policies: builtins.iter().copied().map(SimPolicy::builtin).collect(),
        belady: Some(Default::default()),
    };
    let mut reports: Vec<(String, SimReport)> = Vec::new();
    for path in &paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().replace(".oracleGeneral.bin.zst", ""));
        let name = name.unwrap_or_default();
        let trace = read_trace(path, None)?;
        reports.push((name.clone(), sim.run(&name, &trace)?));
    }
    let names: Vec<&str> = builtins.iter().map(|p| p.as_str()).collect();
    for (i, spec) in ["1%", "10%"].iter().enumerate() {
        println!("\n#### Miss ratio at {spec} of the distinct objects (best policy in bold)\n");
        println!("| trace | objects | {} | belady |", names.join(" | "));
        println!("|---|---:|{}---:|", "---:|".repeat(names.len()));
        for (trace, report) in &reports {
            let cap = &report.capacities[i];
            let best = names
                .iter()
                .filter_map(|n| cap.get(n).map(|r| r.miss_ratio))
                .fold(f64::INFINITY, f64::min);
            let cells: Vec<String> = names
                .iter()
                .map(|n| match cap.get(n) {
                    Some(r) if r.miss_ratio == best => format!("**{:.4}**", r.miss_ratio),
                    Some(r) => format!("{:.4}", r.miss_ratio),
                    None => "-".into(),
                })
                .collect();
            let opt = cap.belady.as_ref().map_or(f64::NAN, |b| b.miss_ratio);
            println!(
                "| {trace} | {} | {} | {opt:.4} |",
                cap.capacity.amount(),
                cells.join(" | ")
            );
        }
    }
    println!("\n#### Gap closed from LRU to Belady, over every trace at both sizes\n");
    println!("| policy | mean gap closed | better than LRU | worst vs LRU (relative miss ratio) |");
    println!("|---|---:|---:|---:|");
    for n in &names {
        let (mut gaps, mut better, mut total, mut worst) = (Vec::new(), 0, 0, f64::NEG_INFINITY);
        for (_, report) in &reports {
            for cap in &report.capacities {
                let (Some(r), Some(lru)) = (cap.get(n), cap.get("lru")) else {
                    continue;
                };
                gaps.extend(r.gap_closed);
                total += 1;
                better += usize::from(r.miss_ratio < lru.miss_ratio);
                worst = worst.max((r.miss_ratio - lru.miss_ratio) / lru.miss_ratio);
            }
        }
        let mean = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
        println!(
            "| {n} | {:.1} % | {better} / {total} | {:+.1} % |",
            mean * 100.0,
            worst * 100.0
        );
    }

    println!("\n#### Agreement with libCacheSim 0.3.5 (miss ratio; Δ = ours − theirs)\n");
    let mut reference: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for line in REFERENCE.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if let [trace, pct, _, policy, requests, misses] = f[..] {
            reference.insert(
                (trace.into(), format!("{pct}%"), policy.into()),
                (requests.parse()?, misses.parse()?),
            );
        }
    }
    let checked = ["lru", "fifo", "sieve", "s3fifo", "belady"];
    println!(
        "| trace | size | {} |",
        checked.map(|p| format!("{p} (Δ)")).join(" | ")
    );
    println!("|---|---|{}", "---:|".repeat(checked.len()));
    let mut worst: BTreeMap<&str, f64> = BTreeMap::new();
    for (trace, report) in &reports {
        for cap in &report.capacities {
            let cells: Vec<String> = checked
                .iter()
                .map(|p| {
                    let ours = cap.get(p).map(|r| r.miss_ratio);
                    let theirs = reference
                        .get(&(trace.clone(), cap.spec.clone(), p.to_string()))
                        .map(|&(r, m)| m as f64 / r as f64);
                    match (ours, theirs) {
                        (Some(o), Some(t)) => {
                            let w = worst.entry(p).or_default();
                            *w = w.max((o - t).abs());
                            format!("{t:.4} ({:+.4})", o - t)
                        }
                        _ => "-".into(),
                    }
                })
                .collect();
            println!("| {trace} | {} | {} |", cap.spec, cells.join(" | "));
        }
    }
    println!();
    for (p, w) in worst {
        println!("- {p}: largest |Δ| {w:.4}");
    }
    Ok(())
}
