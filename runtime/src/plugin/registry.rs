//! Plugin versions: immutable, content-addressed (the id is the hex SHA-256 of the module bytes),
//! compiled and linked once at upload, so attaching one to a namespace never compiles on the
//! request path.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::InstancePre;

use super::error::PluginError;
use super::hook::HookSet;
use super::imports::HostState;
use super::instance::{Fault, GuestInstance, InitArgs};
use super::limits::PluginLimits;
use super::metrics::PluginMetrics;

/// Shortest id prefix accepted when naming a version.
pub const MIN_ID_PREFIX: usize = 8;

/// One uploaded module.
pub struct PluginVersion {
    /// Hex SHA-256 of the module bytes.
    pub id: String,
    pub name: String,
    pub description: String,
    pub size_bytes: usize,
    pub uploaded_at_unix_ms: u64,
    pub hooks: HookSet,
    /// The plugin ABI version the module speaks (what its `larder_abi_version` returned).
    pub abi_version: i32,
    /// The module as uploaded: kept so it can be written to the data directory (and, later,
    /// sent to other nodes by its hash).
    pub module: Arc<[u8]>,
    pub(crate) metrics: Arc<PluginMetrics>,
    pre: InstancePre<HostState>,
    limits: Arc<PluginLimits>,
    label: Arc<str>,
}

impl std::fmt::Debug for PluginVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginVersion")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

/// What the API shows about a version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    /// Content address: hex SHA-256 of the module bytes.
    pub id: String,
    pub name: String,
    pub description: String,
    pub size_bytes: usize,
    pub uploaded_at_unix_ms: u64,
    /// Hooks the module implements: "eviction", "admission", "prefetch", "routing".
    #[schema(value_type = Vec<String>)]
    pub hooks: HookSet,
    /// The plugin ABI version the module speaks; version 1 is still served, a rebuild with the
    /// current SDK moves it to the latest.
    pub abi_version: i32,
    /// How to name it in a namespace config: `plugin:<id>`.
    pub reference: String,
}

impl PluginVersion {
    /// First 12 hex digits: enough to tell versions apart in logs and metric labels.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    pub fn info(&self) -> PluginInfo {
        PluginInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            size_bytes: self.size_bytes,
            uploaded_at_unix_ms: self.uploaded_at_unix_ms,
            hooks: self.hooks,
            abi_version: self.abi_version,
            reference: format!("{}{}", super::policy_ref::PLUGIN_PREFIX, self.id),
        }
    }

    /// Per-hook metrics of this version.
    pub fn metrics(&self) -> &PluginMetrics {
        &self.metrics
    }

    pub(crate) fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    pub(crate) fn instantiate(&self, init: InitArgs) -> Result<GuestInstance, Fault> {
        GuestInstance::start(&self.pre, &self.limits, Arc::clone(&self.label), init)
    }
}

/// Hex SHA-256 of `bytes`: a module's version id.
pub fn version_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The versions uploaded to one host, by id.
#[derive(Default)]
pub(crate) struct Registry {
    versions: RwLock<BTreeMap<String, Arc<PluginVersion>>>,
}

pub(crate) struct NewVersion {
    pub id: String,
    pub name: String,
    pub description: String,
    pub size_bytes: usize,
    pub hooks: HookSet,
    pub abi_version: i32,
    pub module: Arc<[u8]>,
    pub pre: InstancePre<HostState>,
    pub limits: Arc<PluginLimits>,
}

impl Registry {
    pub fn contains(&self, id: &str) -> Option<Arc<PluginVersion>> {
        self.versions.read().get(id).cloned()
    }

    /// Insert unless present; returns the stored version and whether it is new.
    pub fn insert(&self, v: NewVersion) -> (Arc<PluginVersion>, bool) {
        let mut versions = self.versions.write();
        if let Some(existing) = versions.get(&v.id) {
            return (Arc::clone(existing), false);
        }
        let label: Arc<str> = Arc::from(&v.id[..12]);
        let version = Arc::new(PluginVersion {
            id: v.id.clone(),
            name: v.name,
            description: v.description,
            size_bytes: v.size_bytes,
            uploaded_at_unix_ms: unix_ms(),
            hooks: v.hooks,
            abi_version: v.abi_version,
            module: v.module,
            metrics: Arc::default(),
            pre: v.pre,
            limits: v.limits,
            label,
        });
        versions.insert(v.id, Arc::clone(&version));
        (version, true)
    }

    /// A version by full id or by a unique prefix of at least [`MIN_ID_PREFIX`] hex digits.
    pub fn get(&self, id: &str) -> Result<Arc<PluginVersion>, PluginError> {
        let id = id.to_ascii_lowercase();
        let versions = self.versions.read();
        if let Some(v) = versions.get(&id) {
            return Ok(Arc::clone(v));
        }
        if id.len() < MIN_ID_PREFIX {
            return Err(PluginError::NotFound(id));
        }
        let mut matches = versions
            .range(id.clone()..)
            .take_while(|(k, _)| k.starts_with(&id));
        match (matches.next(), matches.next()) {
            (Some((_, v)), None) => Ok(Arc::clone(v)),
            (Some(_), Some(_)) => Err(PluginError::Ambiguous(id)),
            (None, _) => Err(PluginError::NotFound(id)),
        }
    }

    /// Every version, oldest upload first.
    pub fn list(&self) -> Vec<Arc<PluginVersion>> {
        let mut all: Vec<_> = self.versions.read().values().cloned().collect();
        all.sort_by(|a, b| {
            a.uploaded_at_unix_ms
                .cmp(&b.uploaded_at_unix_ms)
                .then(a.id.cmp(&b.id))
        });
        all
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
