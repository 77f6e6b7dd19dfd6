//! Trace readers on the shared traces: zstd and plain oracleGeneral give the same requests, the
//! files' next-access fields are what the simulator would compute, and text and CSV exports of a
//! trace replay to the same miss counts.
//!
//! The traces live beside the repository in `../shared/traces` (override with `LARDER_TRACES`).

use std::io::Write;
use std::path::PathBuf;

use larder_runtime::BuiltinPolicy;
use larder_runtime::sim::format::{TraceFormat, encode_record};
use larder_runtime::sim::replay::replay;
use larder_runtime::sim::{Capacity, SimError, Trace, read_trace};

mod trace_support;
use trace_support::trace_dir;

fn shared_traces() -> Vec<PathBuf> {
    let dir = trace_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set LARDER_TRACES)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".oracleGeneral.bin.zst"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 10,
        "expected the shared trace set in {}",
        dir.display()
    );
    paths
}

fn lru_misses(trace: &Trace, capacity: u64) -> u64 {
    let mut p = BuiltinPolicy::Lru.build(capacity);
    replay(trace, Capacity::Objects(capacity), p.as_mut())
        .counts
        .misses()
}

#[test]
fn every_shared_trace_reads_with_a_consistent_next_access_field() {
    for path in shared_traces() {
        let trace = read_trace(&path, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(trace.len() > 1000, "{}", path.display());
        assert!(
            trace.next_access_is_consistent(),
            "{}: next-access field disagrees",
            path.display()
        );
    }
}

#[test]
fn plain_and_zstd_oracle_general_are_the_same_trace() {
    let path = trace_dir().join("cache2k-web07.oracleGeneral.bin.zst");
    let zstd = read_trace(&path, None).unwrap_or_else(|e| panic!("{e}"));
    let raw = zstd::decode_all(std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raw.len(), zstd.len() * 24);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // No "oracleGeneral" in the name: the format is given explicitly.
    let plain_path = dir.path().join("web07.dat");
    std::fs::write(&plain_path, &raw).unwrap_or_else(|e| panic!("{e}"));
    let plain =
        read_trace(&plain_path, Some(TraceFormat::OracleGeneral)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain.requests(), zstd.requests());
    // Re-encoding gives back the file byte for byte (ids, sizes, 1-based next access, timestamps).
    let encoded: Vec<u8> = zstd
        .requests()
        .iter()
        .enumerate()
        .flat_map(|(i, r)| encode_record(i as u64, r))
        .collect();
    assert_eq!(encoded, raw);
}

#[test]
fn text_and_csv_exports_replay_like_the_original() {
    let path = trace_dir().join("adaptsize-cdn.oracleGeneral.bin.zst");
    let original = read_trace(&path, None).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text_path = dir.path().join("cdn.txt");
    let csv_path = dir.path().join("cdn.csv");
    let mut text = std::io::BufWriter::new(
        std::fs::File::create(&text_path).unwrap_or_else(|e| panic!("{e}")),
    );
    let mut csv =
        std::io::BufWriter::new(std::fs::File::create(&csv_path).unwrap_or_else(|e| panic!("{e}")));
    writeln!(text, "# exported")
        .and_then(|_| writeln!(csv, "timestamp,obj_id,obj_size"))
        .unwrap_or_else(|e| panic!("{e}"));
    for (i, r) in original.requests().iter().enumerate() {
        // Keys as text that is not a number, so the text readers hash them.
        writeln!(text, "obj-{} {}", r.id, r.size)
            .and_then(|_| writeln!(csv, "{},\"obj-{}\",{}", i / 1000 + 1, r.id, r.size))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    drop((text, csv));
    let from_text = read_trace(&text_path, None).unwrap_or_else(|e| panic!("{e}"));
    let from_csv = read_trace(&csv_path, None).unwrap_or_else(|e| panic!("{e}"));
    for copy in [&from_text, &from_csv] {
        assert_eq!(copy.len(), original.len());
        assert_eq!(copy.distinct_objects(), original.distinct_objects());
        assert_eq!(copy.distinct_bytes(), original.distinct_bytes());
        // Same next-access structure, so the same Belady and the same LRU.
        let next = |t: &Trace| {
            t.requests()
                .iter()
                .map(|r| r.next_access)
                .collect::<Vec<_>>()
        };
        assert_eq!(next(copy), next(&original));
        assert_eq!(lru_misses(copy, 500), lru_misses(&original, 500));
    }
}

#[test]
fn bad_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = read_trace(&dir.path().join("nope.oracleGeneral.bin"), None);
    assert!(matches!(missing, Err(SimError::Io { .. })));

    let truncated = dir.path().join("t.oracleGeneral.bin");
    let one = larder_runtime::sim::Request {
        id: 9,
        size: 1,
        next_access: u64::MAX,
    };
    let mut bytes = encode_record(0, &one).to_vec();
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&truncated, bytes).unwrap_or_else(|e| panic!("{e}"));
    let err = read_trace(&truncated, None)
        .err()
        .map(|e| (e.code(), e.to_string()));
    assert!(
        matches!(&err, Some(("bad_trace", m)) if m.contains("partial record")),
        "{err:?}"
    );

    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "# nothing\n\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        read_trace(&empty, None),
        Err(SimError::EmptyTrace { .. })
    ));

    let bad_zstd = dir.path().join("bad.oracleGeneral.bin.zst");
    std::fs::write(&bad_zstd, [0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]).unwrap_or_else(|e| panic!("{e}"));
    assert!(read_trace(&bad_zstd, None).is_err());
}
