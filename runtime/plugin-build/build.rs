//! Builds the plugins workspace (`plugins/`) and the walk-through's crate
//! (`examples/plugin-from-scratch`) for wasm32-unknown-unknown in release mode, with its own target
//! directory so it never waits on the outer build's lock, and writes `$OUT_DIR/modules.rs`: one
//! `pub const NAME: &[u8] = include_bytes!(…)` per plugin. Tests that depend on this crate
//! therefore always run against freshly built modules.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (constant name, crate directory under plugins/, wasm file stem)
const PLUGINS: &[(&str, &str, &str)] = &[
    ("LRU", "lru", "larder_plugin_lru"),
    ("S3FIFO", "s3fifo", "larder_plugin_s3fifo"),
    ("ADAPTIVE", "adaptive", "larder_plugin_adaptive"),
    ("SIEVE", "sieve", "larder_plugin_sieve"),
    ("WTINYLFU", "wtinylfu", "larder_plugin_wtinylfu"),
    (
        "TINYLFU_DOORKEEPER",
        "tinylfu-doorkeeper",
        "larder_plugin_tinylfu_doorkeeper",
    ),
    (
        "SIZE_AWARE_ADMISSION",
        "size-aware-admission",
        "larder_plugin_size_aware_admission",
    ),
    (
        "SEQUENTIAL_PREFETCH",
        "sequential-prefetch",
        "larder_plugin_sequential_prefetch",
    ),
    (
        "MARKOV_PREFETCH",
        "markov-prefetch",
        "larder_plugin_markov_prefetch",
    ),
    (
        "HASHTAG_ROUTING",
        "hashtag-routing",
        "larder_plugin_hashtag_routing",
    ),
    (
        "CONTEXTUAL_ADMISSION",
        "contextual-admission",
        "larder_plugin_contextual_admission",
    ),
    ("NOOP", "noop", "larder_plugin_noop"),
    ("ADMIT_ALL", "admit-all", "larder_plugin_admit_all"),
    (
        "DOORKEEPER_BATCHED",
        "doorkeeper-batched",
        "larder_plugin_doorkeeper_batched",
    ),
    (
        "INFINITE_LOOP",
        "adversarial/infinite-loop",
        "larder_adversarial_infinite_loop",
    ),
    (
        "MEMORY_BOMB",
        "adversarial/memory-bomb",
        "larder_adversarial_memory_bomb",
    ),
    (
        "TRAP_NTH",
        "adversarial/trap-nth",
        "larder_adversarial_trap_nth",
    ),
    (
        "GARBAGE_VICTIMS",
        "adversarial/garbage-victims",
        "larder_adversarial_garbage_victims",
    ),
    (
        "PREFETCH_FLOOD",
        "adversarial/prefetch-flood",
        "larder_adversarial_prefetch_flood",
    ),
    (
        "WASI_IMPORT",
        "adversarial/wasi-import",
        "larder_adversarial_wasi_import",
    ),
    (
        "ABI_V1_FIFO",
        "compat/abi-v1-fifo",
        "larder_compat_abi_v1_fifo",
    ),
];

/// Standalone plugin crates outside `plugins/`: (constant name, crate directory from the
/// repository root, wasm file stem).
const STANDALONE: &[(&str, &str, &str)] = &[(
    "FIFO_FROM_SCRATCH",
    "examples/plugin-from-scratch",
    "fifo_plugin",
)];

/// Variables the outer cargo sets for build scripts that would leak into (and break) the inner
/// build: host rustflags, a forced target or target dir, jobserver flags.
const SCRUB: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_PROFILE_RELEASE_DEBUG",
];

fn rerun_if_changed(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("../..");
    let plugins = root.join("plugins");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));

    // A stable directory beside the outer target dir's profiles, shared by debug and bench
    // builds, so the plugins compile once.
    let target_root = out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.clone());
    let wasm_target = target_root.join("wasm-plugins");

    rerun_if_changed(&plugins.join("Cargo.toml"));
    rerun_if_changed(&plugins.join("kit"));
    for (_, dir, _) in PLUGINS {
        rerun_if_changed(&plugins.join(dir).join("src"));
        rerun_if_changed(&plugins.join(dir).join("Cargo.toml"));
    }
    rerun_if_changed(&root.join("sdk-wasm/src"));
    // The reference eviction plugins are the built-in policies compiled to wasm.
    rerun_if_changed(&root.join("runtime/policy/src"));
    rerun_if_changed(&root.join("runtime/policy/Cargo.toml"));
    rerun_if_changed(&root.join("sdk-wasm/Cargo.toml"));
    for (_, dir, _) in STANDALONE {
        rerun_if_changed(&root.join(dir).join("src"));
        rerun_if_changed(&root.join(dir).join("Cargo.toml"));
    }

    build_wasm(&plugins, &wasm_target);
    for (_, dir, _) in STANDALONE {
        build_wasm(&root.join(dir), &wasm_target);
    }

    let built = wasm_target.join("wasm32-unknown-unknown/release");
    let mut code = String::new();
    let mut all = String::from("pub const ALL: &[(&str, &[u8])] = &[\n");
    let in_plugins = PLUGINS
        .iter()
        .map(|&(name, dir, stem)| (name, format!("plugins/{dir}"), stem));
    let standalone = STANDALONE
        .iter()
        .map(|&(name, dir, stem)| (name, dir.to_string(), stem));
    for (name, dir, stem) in in_plugins.chain(standalone) {
        let path = built.join(format!("{stem}.wasm"));
        assert!(path.exists(), "{} was not built", path.display());
        writeln!(code, "/// `{dir}`, built for wasm32-unknown-unknown.").unwrap();
        writeln!(
            code,
            "pub const {name}: &[u8] = include_bytes!({:?});",
            path.display().to_string()
        )
        .unwrap();
        writeln!(all, "    ({dir:?}, {name}),").unwrap();
    }
    all.push_str("];\n");
    code.push_str("/// Every module, by its crate directory in the repository.\n");
    code.push_str(&all);
    std::fs::write(out_dir.join("modules.rs"), code).expect("write modules.rs");
}

/// `cargo build --release --target wasm32-unknown-unknown` of the workspace or crate in `dir`.
fn build_wasm(dir: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
        "--manifest-path",
    ])
    .arg(dir.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(target_dir)
    .current_dir(dir);
    for var in SCRUB {
        cmd.env_remove(var);
    }
    let output = cmd.output().expect("run cargo to build the plugins");
    if !output.status.success() {
        panic!(
            "building {} for wasm32-unknown-unknown failed (is the target installed? \
             `rustup target add wasm32-unknown-unknown`; .ci/test-all.sh does it):\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
