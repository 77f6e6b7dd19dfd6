//! Durability: what a node writes to its data directory so a restart gets back what it had.
//!
//! | module | holds |
//! |---|---|
//! | [`atomic`] | writing a file so it is either the old one or the whole new one: temp file, fsync, rename, fsync of the directory |
//! | [`frame`] | the framed, versioned, checksummed container every binary file here uses |
//! | [`snapshot`] | the data snapshot: every live key of every namespace, TTLs as wall-clock deadlines |
//! | [`catalog`] | the configuration a restart needs: namespaces, plugin modules, alert rules |
//! | [`append_log`] | the append-only log: every change since the snapshot, replayed after it |
//! | [`crypto`] | encryption at rest: the operator's keys, AES-256-GCM per frame |
//! | [`sealed`] | a whole small file (catalog, module) sealed when encryption is on |
//!
//! ## The data directory
//!
//! ```text
//! <data-dir>/
//!   catalog.json          namespaces and their configs, plugin versions, alert rules, API key hashes
//!   plugins/<sha256>.wasm one file per uploaded module, named by its content address
//!   data.lsnap            the last data snapshot
//!   log-<generation>.laof the append-only log since that snapshot (when it is on)
//! ```
//!
//! Every file is replaced atomically, so a crash mid-write leaves the previous version. Reading is
//! all-or-nothing: a file that is truncated, has a flipped byte, is of another format or version,
//! is refused as a whole with a [`PersistError`] naming the file and what is wrong — never a
//! partial load, never a panic.

pub mod append_log;
pub mod atomic;
pub mod catalog;
pub mod crypto;
pub mod frame;
pub mod sealed;
pub mod snapshot;

use std::path::{Path, PathBuf};

pub use append_log::{AppendLog, Fsync, LogFailed};
pub use catalog::{
    Catalog, CatalogApiKey, CatalogNamespace, CatalogPlugin, CatalogRateLimit, CatalogTenant,
    CatalogTenantPlugin, CatalogUser, LoadedCatalog,
};
pub use crypto::KeyRing;
pub use snapshot::{RestoreSummary, SavedEntry, SnapshotData, SnapshotSummary};

/// File names inside the data directory.
pub const CATALOG_FILE: &str = "catalog.json";
pub const PLUGINS_DIR: &str = "plugins";
/// Compression dictionaries, `<sha256>.zdict`, named by the catalog.
pub const DICTIONARIES_DIR: &str = "dictionaries";
pub const SNAPSHOT_FILE: &str = "data.lsnap";

/// Why a file in the data directory could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file exists but is not what it should be (truncated, corrupt, foreign, too new).
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

impl PersistError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. } | Self::Invalid { path, .. } => path,
        }
    }
}

/// Milliseconds since the Unix epoch: snapshot deadlines are on this scale, so they mean the same
/// after a restart (the store's own clock starts again at every start).
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
