//! `larder sim`: replay a cache trace (or a synthetic Zipf workload) through eviction policies —
//! built-ins and WebAssembly plugins, through the same code the server runs — and report miss
//! ratios, byte miss ratios, throughput and the gap closed towards Belady's optimum.
//!
//! ```text
//! larder sim --trace t.oracleGeneral.bin.zst --capacity 1%,10% --policy lru,s3fifo,my.wasm --belady
//! larder sim --zipf alpha=0.9,objects=100000,requests=1000000 --capacity 1000,10000 --json
//! ```
//!
//! The engine lives in `larder_runtime::sim`; this module only parses arguments and prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::{
    BeladyVariant, CapacitySpec, SimPolicy, Simulation, Trace, TraceFormat, ZipfSpec, plot,
    read_trace, wasm_policy_file,
};

/// Arguments of `larder sim`.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Replay a cache trace through eviction policies and compare miss ratios with Belady's optimum",
    after_help = "Capacities: 10% = share of the trace's distinct objects; 5000 = objects; 64MiB = bytes.\n\
                  Policies: lru, fifo, s3fifo, sieve, wtinylfu, or a path to an eviction plugin (.wasm)."
)]
pub struct SimArgs {
    /// Trace file: libCacheSim oracleGeneral (plain or .zst), text (`key [size]` a line) or CSV.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "zipf",
        conflicts_with = "zipf"
    )]
    pub trace: Option<PathBuf>,
    /// Trace format; guessed from the file name when absent.
    #[arg(long, value_name = "oraclegeneral|text|csv")]
    pub format: Option<String>,
    /// Generate a Zipf trace instead: alpha=0.9,objects=100000,requests=1000000,seed=1 (any subset).
    #[arg(long, value_name = "PARAMS")]
    pub zipf: Option<String>,
    /// Cache sizes, comma-separated: 1%,10% (of distinct objects), 5000 (objects), 64MiB (bytes).
    #[arg(long, value_name = "LIST", default_value = "1%,10%")]
    pub capacity: String,
    /// Policies, comma-separated: built-in names and/or paths to .wasm eviction plugins.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "lru,fifo,s3fifo,sieve,wtinylfu,adaptive"
    )]
    pub policy: String,
    /// Also compute Belady's MIN and each policy's gap closed from LRU to it. `--belady=bypass`
    /// lets the optimum decline to cache a miss (the bound for caches with admission control).
    #[arg(long, value_name = "VARIANT", num_args = 0..=1, default_missing_value = "demand")]
    pub belady: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the miss-ratio curve as SVG to this file.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
}

/// Run `larder sim`; errors are printed and turn into a failing exit code.
pub fn run(args: SimArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match simulate(&args, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            eprintln!("larder sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything `larder sim` does, writing its report to `out`.
pub fn simulate(args: &SimArgs, out: &mut impl Write) -> anyhow::Result<()> {
    // Cheap checks first, so a typo does not wait for a large trace to load.
    let capacities = CapacitySpec::parse_list(&args.capacity)?;
    let policies = parse_policies(&args.policy)?;
    let belady = args
        .belady
        .as_deref()
        .map(str::parse::<BeladyVariant>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let (name, trace) = load(args)?;
    let simulation = Simulation {
        capacities,
        policies,
        belady,
    };
    let report = simulation.run(&name, &trace)?;
    if let Some(path) = &args.svg {
        let svg = plot::miss_ratio_svg(&report)?;
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(report.to_table().as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

fn load(args: &SimArgs) -> anyhow::Result<(String, Trace)> {
    if let Some(spec) = &args.zipf {
        let spec = ZipfSpec::parse(spec)?;
        return Ok((spec.to_string(), spec.generate()?));
    }
    let Some(path) = &args.trace else {
        bail!("give --trace PATH or --zipf PARAMS")
    };
    let format = args
        .format
        .as_deref()
        .map(str::parse::<TraceFormat>)
        .transpose()?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    Ok((name, read_trace(path, format)?))
}

/// `lru,s3fifo,plugins/my.wasm` → policies; a name ending in `.wasm` is a plugin file.
fn parse_policies(list: &str) -> anyhow::Result<Vec<SimPolicy>> {
    let mut policies = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.ends_with(".wasm") {
            policies.push(wasm_policy_file(Path::new(item))?);
        } else {
            let builtin: BuiltinPolicy = item.parse().map_err(anyhow::Error::msg)?;
            policies.push(SimPolicy::builtin(builtin));
        }
    }
    if policies.is_empty() {
        bail!("no policy given");
    }
    Ok(policies)
}
