//! `larder sim` as a user runs it: the binary on a shared trace (table and JSON, checked against
//! libCacheSim's numbers), a Zipf workload with an SVG curve, and clear errors for bad input.
//!
//! The traces live beside the repository in `../shared/traces` (override with `LARDER_TRACES`).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_larder");
/// libCacheSim's miss counts (see the header of the file for how it was made).
const REFERENCE: &str = include_str!("../../runtime/tests/sim_libcachesim_reference.tsv");

fn trace(name: &str) -> PathBuf {
    let dir = std::env::var_os("LARDER_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("traces")
        });
    dir.join(format!("{name}.oracleGeneral.bin.zst"))
}

fn larder(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("sim")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "larder sim failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// libCacheSim's miss ratio for `trace` at `percent` % for `policy`.
fn reference(trace: &str, percent: u32, policy: &str) -> f64 {
    REFERENCE
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.len() == 6 && f[0] == trace && f[1] == percent.to_string() && f[3] == policy)
        .map(|f| f[5].parse::<f64>().unwrap_or(f64::NAN) / f[4].parse::<f64>().unwrap_or(f64::NAN))
        .unwrap_or_else(|| panic!("no reference row for {trace} {percent}% {policy}"))
}

fn row<'a>(cap: &'a Value, policy: &str) -> &'a Value {
    cap["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(cap.get("belady").filter(|b| !b.is_null()))
        .find(|p| p["policy"] == policy)
        .unwrap_or_else(|| panic!("no {policy} row in {cap}"))
}

#[test]
fn json_on_a_shared_trace_matches_libcachesim() {
    let path = trace("cache2k-web07");
    let out = larder(&[
        "--trace",
        path.to_str().unwrap_or_default(),
        "--capacity",
        "1%,10%",
        "--policy",
        "lru,fifo,sieve,s3fifo",
        "--belady",
        "--json",
    ]);
    let report: Value = serde_json::from_str(&stdout_of(&out)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["trace"]["requests"], 76118);
    let caps = report["capacities"]
        .as_array()
        .unwrap_or_else(|| panic!("no capacities"));
    assert_eq!(caps.len(), 2);
    for (cap, percent) in caps.iter().zip([1, 10]) {
        assert_eq!(cap["spec"], format!("{percent}%"));
        assert_eq!(cap["capacity"]["unit"], "objects");
        for policy in ["lru", "fifo", "sieve", "belady"] {
            let ours = row(cap, policy)["miss_ratio"].as_f64().unwrap_or(f64::NAN);
            let theirs = reference("cache2k-web07", percent, policy);
            assert!(
                (ours - theirs).abs() < 1e-9,
                "{percent}% {policy}: {ours} vs {theirs}"
            );
        }
        assert_eq!(row(cap, "belady")["exact"], true);
        assert_eq!(row(cap, "lru")["gap_closed"].as_f64(), Some(0.0));
        assert_eq!(row(cap, "belady")["gap_closed"].as_f64(), Some(1.0));
        let s3 = row(cap, "s3fifo")["gap_closed"]
            .as_f64()
            .unwrap_or(f64::NAN);
        assert!(s3 > 0.0 && s3 < 1.0, "s3fifo gap closed {s3}");
        assert!(row(cap, "lru")["requests_per_sec"].as_f64().unwrap_or(0.0) > 0.0);
    }
}

#[test]
fn table_is_aligned_and_names_every_row() {
    let path = trace("lirs-multi2");
    let out = larder(&[
        "--trace",
        path.to_str().unwrap_or_default(),
        "--capacity",
        "10%",
        "--policy",
        "lru,s3fifo",
        "--belady",
    ]);
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("capacity"))
        .unwrap_or_else(|| panic!("{text}"));
    for column in [
        "policy",
        "miss ratio",
        "byte miss ratio",
        "gap closed",
        "requests/s",
    ] {
        assert!(lines[header].contains(column), "{text}");
    }
    let rows = &lines[header + 1..header + 4];
    let names: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.split_whitespace().nth(3))
        .collect();
    assert_eq!(names, ["lru", "s3fifo", "belady"], "{text}");
    // Aligned: the miss-ratio column ends at the same place on every row.
    let end = |l: &str| l.find("0.").map(|i| i + 6);
    assert!(rows.iter().all(|r| end(r) == end(rows[0])), "{text}");
    // 10% of 5684 objects is 568; libCacheSim's LRU miss ratio there is 0.6308.
    assert!(
        rows[0].contains("(568 objects)") && rows[0].contains("0.6308"),
        "{text}"
    );
}

#[test]
fn zipf_with_an_svg_curve() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let svg = dir.path().join("curve.svg");
    let out = larder(&[
        "--zipf",
        "alpha=0.8,objects=20000,requests=200000,seed=5",
        "--capacity",
        "100,1000,5000",
        "--policy",
        "lru,wtinylfu",
        "--belady",
        "--json",
        "--svg",
        svg.to_str().unwrap_or_default(),
    ]);
    let report: Value = serde_json::from_str(&stdout_of(&out)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["trace"]["requests"], 200_000);
    let mut last_lru = 1.0;
    for cap in report["capacities"].as_array().into_iter().flatten() {
        let lru = row(cap, "lru")["miss_ratio"].as_f64().unwrap_or(f64::NAN);
        let opt = row(cap, "belady")["miss_ratio"]
            .as_f64()
            .unwrap_or(f64::NAN);
        // LRU is a stack algorithm: more space never hurts; nothing beats Belady.
        assert!(lru < last_lru && opt <= lru, "{cap}");
        last_lru = lru;
    }
    let svg = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{e}"));
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for label in [
        "lru",
        "wtinylfu",
        "belady",
        "miss ratio",
        "cache size (objects)",
    ] {
        assert!(svg.contains(label), "the SVG lacks {label:?}");
    }
}

#[test]
fn byte_capacities_charge_sizes_and_label_belady_as_a_heuristic() {
    let path = trace("adaptsize-cdn");
    let p = path.to_str().unwrap_or_default();
    let out = larder(&[
        "--trace",
        p,
        "--capacity",
        "1MiB,16MiB",
        "--policy",
        "lru",
        "--belady",
        "--json",
    ]);
    let report: Value = serde_json::from_str(&stdout_of(&out)).unwrap_or_else(|e| panic!("{e}"));
    // Every request for an object larger than the cache is a miss that is not cached.
    let trace = larder_runtime::sim::read_trace(&path, None).unwrap_or_else(|e| panic!("{e}"));
    let over = |cap: u64| {
        trace
            .requests()
            .iter()
            .filter(|r| u64::from(r.size) > cap)
            .count() as u64
    };
    for (cap, bytes) in report["capacities"]
        .as_array()
        .into_iter()
        .flatten()
        .zip([1u64 << 20, 16 << 20])
    {
        assert_eq!(
            cap["capacity"],
            serde_json::json!({"unit": "bytes", "value": bytes})
        );
        assert_eq!(row(cap, "belady")["exact"], false);
        assert!(row(cap, "lru")["gap_closed"].is_null());
        assert_eq!(row(cap, "lru")["too_large"].as_u64(), Some(over(bytes)));
        assert_eq!(row(cap, "belady")["too_large"].as_u64(), Some(over(bytes)));
        let bmr = row(cap, "lru")["byte_miss_ratio"]
            .as_f64()
            .unwrap_or(f64::NAN);
        let mr = row(cap, "lru")["miss_ratio"].as_f64().unwrap_or(f64::NAN);
        assert!(
            bmr > 0.0 && bmr < 1.0 && (bmr - mr).abs() > 1e-3,
            "{bmr} vs {mr}"
        );
    }
    assert!(
        over(1 << 20) > 0,
        "the trace should have objects over 1 MiB"
    );
    let table = stdout_of(&larder(&[
        "--trace",
        p,
        "--capacity",
        "16MiB",
        "--policy",
        "lru",
        "--belady",
    ]));
    assert!(
        table.contains("belady*") && table.contains("heuristic"),
        "{table}"
    );
}

#[test]
fn bad_input_gives_a_clear_error_and_a_failing_exit_code() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not a module").unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("missing.oracleGeneral.bin.zst");
    let web07 = trace("cache2k-web07");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--zipf", "requests=1000", "--capacity", "12 parsecs"],
            "invalid capacity",
        ),
        (
            vec!["--zipf", "requests=1000", "--policy", "mru"],
            "unknown policy",
        ),
        (vec!["--zipf", "alpha=-1"], "invalid zipf"),
        (
            vec!["--zipf", "requests=1000", "--belady=sometimes"],
            "Belady variant",
        ),
        (
            vec!["--trace", missing.to_str().unwrap_or_default()],
            "cannot read trace",
        ),
        (
            vec![
                "--trace",
                web07.to_str().unwrap_or_default(),
                "--format",
                "parquet",
            ],
            "unknown trace format",
        ),
        (
            vec![
                "--zipf",
                "requests=1000",
                "--policy",
                junk.to_str().unwrap_or_default(),
            ],
            "junk",
        ),
        // A text file read as oracleGeneral.
        (
            vec![
                "--trace",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sim_cli.rs"),
                "--format",
                "oraclegeneral",
            ],
            "oracleGeneral",
        ),
    ];
    for (args, expected) in cases {
        let out = larder(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            stderr.contains("larder sim:") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
