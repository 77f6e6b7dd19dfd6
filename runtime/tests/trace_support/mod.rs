//! Where the tests find the shared cache traces: `LARDER_TRACES` when set, otherwise
//! `../shared/traces` next to the repository.

use std::path::PathBuf;

pub fn trace_dir() -> PathBuf {
    std::env::var_os("LARDER_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("traces")
        })
}
