//! The plugin host: tenants' caching heuristics, compiled to WebAssembly, serving the admission,
//! eviction, prefetch and routing hooks of a namespace inside a sandbox.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`abi`] | the ABI's constants (the `larder-abi` crate): export and import names, record layouts, modes, limits |
//! | `sandbox`, `imports` | the wasmtime engine (epoch ticker), the host imports and their state |
//! | `validate` | upload checks: size, validity, imports, exports, ABI version, memory |
//! | `registry` | [`PluginVersion`]: immutable, content-addressed, compiled once at upload |
//! | `instance` | one live instance and its typed calls; every failure becomes a [`Fault`] |
//! | [`WasmEviction`], [`WasmAdmission`], [`Prefetcher`], [`Router`] | the hook callers |
//! | `quarantine` | exponential backoff after a fault |
//! | `restart` | a quarantined hook's fresh instance, started (and replayed) on a thread of its own |
//! | [`context`] | request context tags visible to hooks |
//! | `metrics` | per-plugin, per-hook counters and [`PluginCollector`] |
//!
//! ## Life of a plugin
//!
//! [`PluginHost::upload`] checks and compiles a module and stores it under its SHA-256. A namespace
//! config names it per hook (`"plugin:<id>"`); creating or reconfiguring the namespace starts one
//! instance per shard (eviction, admission), one per namespace (prefetch) or a small pool (routing)
//! — outside any shard lock — and swaps them in shard by shard. A new eviction instance is replayed
//! the shard's resident entries, so it starts from what the cache holds, not from empty.
//!
//! A fault never fails a request: the shard's built-in fallback (eviction), "admit everything"
//! (admission), "no prefetch" or "whole key" (routing) takes over, a warning is logged, metrics
//! move, and the instance is retried after an exponential backoff — prepared off the request path,
//! so no request waits for an instantiation or a replay.

pub mod abi;
mod admission;
pub mod context;
mod error;
mod eviction;
mod hook;
mod imports;
mod instance;
mod limits;
mod metrics;
mod policy_ref;
mod prefetch;
mod quarantine;
mod registry;
mod restart;
mod routing;
mod sandbox;
mod validate;

use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

pub use admission::{AdmissionPolicy, AdmitRequest, WasmAdmission};
pub use context::{RequestTags, TAGS_HEADER, TagError, current_tag, with_request_tags};
pub use error::PluginError;
pub use eviction::WasmEviction;
pub use hook::{Hook, HookSet};
pub use instance::Fault;
pub use limits::PluginLimits;
pub use metrics::{HookSnapshot, PluginCollector, PluginMetrics, TIME_BUCKETS_NS};
pub use policy_ref::{PLUGIN_PREFIX, PolicyRef};
pub use prefetch::Prefetcher;
pub use registry::{MIN_ID_PREFIX, PluginInfo, PluginVersion, version_id};
pub use routing::Router;

use instance::InitArgs;
use registry::{NewVersion, Registry};
use sandbox::Sandbox;

use crate::hash::key_hash;
use crate::namespace::NamespaceConfig;
use crate::policy::{BuiltinPolicy, EvictionPolicy};

/// Registry of plugin versions plus the sandbox they run in. One per node.
pub struct PluginHost {
    limits: Arc<PluginLimits>,
    /// Created on first use, so a node without plugins pays nothing (no engine, no ticker).
    sandbox: OnceLock<Result<Sandbox, String>>,
    registry: Registry,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for PluginHost {
    fn default() -> Self {
        Self::new(PluginLimits::default())
    }
}

/// The result of an upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub version: Arc<PluginVersion>,
    /// False when the same bytes had been uploaded before (the existing version is returned).
    pub created: bool,
}

impl PluginHost {
    pub fn new(limits: PluginLimits) -> Self {
        Self {
            limits: Arc::new(limits),
            sandbox: OnceLock::new(),
            registry: Registry::default(),
        }
    }

    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    fn sandbox(&self) -> Result<&Sandbox, PluginError> {
        self.sandbox
            .get_or_init(Sandbox::new)
            .as_ref()
            .map_err(|e| PluginError::StartFailed(format!("plugin engine unavailable: {e}")))
    }

    /// Check, compile and store a module. Uploading the same bytes again returns the existing
    /// version (ids are content addresses). Compiles: call off the async runtime's workers.
    pub fn upload(
        &self,
        bytes: &[u8],
        name: &str,
        description: &str,
    ) -> Result<Uploaded, PluginError> {
        let id = version_id(bytes);
        if let Some(version) = self.registry.contains(&id) {
            return Ok(Uploaded {
                version,
                created: false,
            });
        }
        let checked = validate::check(self.sandbox()?, &self.limits, bytes)?;
        let name = if name.trim().is_empty() {
            id[..12].to_string()
        } else {
            name.trim().to_string()
        };
        let (version, created) = self.registry.insert(NewVersion {
            id,
            name: name.chars().take(128).collect(),
            description: description.chars().take(1024).collect(),
            size_bytes: bytes.len(),
            hooks: checked.hooks,
            abi_version: checked.abi_version,
            module: Arc::from(bytes),
            pre: checked.pre,
            limits: Arc::clone(&self.limits),
        });
        if created {
            tracing::info!(plugin = %version.id, name = %version.name, "plugin version uploaded");
        }
        Ok(Uploaded { version, created })
    }

    /// A version by full id or unique prefix (at least [`MIN_ID_PREFIX`] hex digits).
    pub fn get(&self, id: &str) -> Result<Arc<PluginVersion>, PluginError> {
        self.registry.get(id)
    }

    /// Every version, oldest first.
    pub fn list(&self) -> Vec<Arc<PluginVersion>> {
        self.registry.list()
    }

    /// A Prometheus collector over every version's hook metrics.
    pub fn collector(self: &Arc<Self>) -> PluginCollector {
        PluginCollector::new(Arc::clone(self))
    }

    /// The version a reference names, checked to implement `hook`.
    pub fn resolve(
        &self,
        r: &PolicyRef,
        hook: Hook,
    ) -> Result<Option<Arc<PluginVersion>>, PluginError> {
        let Some(id) = r.as_plugin() else {
            return Ok(None);
        };
        let version = self.get(id)?;
        if !version.hooks.contains(hook) {
            return Err(PluginError::HookNotImplemented {
                id: version.id.clone(),
                hook,
            });
        }
        Ok(Some(version))
    }

    pub(crate) fn eviction_source(
        &self,
        namespace: &str,
        config: &NamespaceConfig,
    ) -> Result<EvictionSource, PluginError> {
        let fallback = config.eviction_fallback.unwrap_or_default();
        let Some(version) = self.resolve(&config.eviction, Hook::Eviction)? else {
            return Ok(EvictionSource::Builtin(
                config.eviction.as_builtin().unwrap_or(fallback),
            ));
        };
        let shard_capacity = config.capacity_bytes / config.shard_count().max(1) as u64;
        let init = init_args(namespace, 0, shard_capacity);
        // Start the first shard's instance now, so a plugin that cannot start refuses the
        // config instead of silently running on its fallback everywhere.
        let first = WasmEviction::start(Arc::clone(&version), init, fallback)
            .map_err(|f| PluginError::StartFailed(f.to_string()))?;
        Ok(EvictionSource::Plugin {
            version,
            fallback,
            namespace_id: key_hash(namespace.as_bytes()),
            next_shard: 0,
            first: Some(Box::new(first)),
        })
    }

    pub(crate) fn admission_source(
        &self,
        namespace: &str,
        r: &PolicyRef,
    ) -> Result<AdmissionSource, PluginError> {
        let version = self
            .resolve(r, Hook::Admission)?
            .ok_or_else(|| PluginError::NotFound(r.to_string()))?;
        // Prove it starts before any shard switches to it.
        version
            .instantiate(init_args(namespace, 0, 0))
            .map_err(|f| PluginError::StartFailed(f.to_string()))?;
        Ok(AdmissionSource {
            version,
            namespace_id: key_hash(namespace.as_bytes()),
            next_shard: 0,
        })
    }

    pub(crate) fn prefetcher(
        &self,
        namespace: &str,
        r: &PolicyRef,
    ) -> Result<Arc<Prefetcher>, PluginError> {
        let version = self
            .resolve(r, Hook::Prefetch)?
            .ok_or_else(|| PluginError::NotFound(r.to_string()))?;
        Prefetcher::new(version, init_args(namespace, 0, 0))
            .map(Arc::new)
            .map_err(|f| PluginError::StartFailed(f.to_string()))
    }

    pub(crate) fn router(
        &self,
        namespace: &str,
        r: &PolicyRef,
        instances: usize,
    ) -> Result<Router, PluginError> {
        let version = self
            .resolve(r, Hook::Routing)?
            .ok_or_else(|| PluginError::NotFound(r.to_string()))?;
        Router::new(version, init_args(namespace, 0, 0), instances)
            .map_err(|f| PluginError::StartFailed(f.to_string()))
    }
}

fn init_args(namespace: &str, shard: u32, capacity_bytes: u64) -> InitArgs {
    init_args_from(key_hash(namespace.as_bytes()), shard, capacity_bytes)
}

/// Builds one eviction policy per shard for a namespace: a built-in, or plugin instances.
pub(crate) enum EvictionSource {
    Builtin(BuiltinPolicy),
    Plugin {
        version: Arc<PluginVersion>,
        fallback: BuiltinPolicy,
        namespace_id: u64,
        next_shard: u32,
        first: Option<Box<WasmEviction>>,
    },
}

impl EvictionSource {
    /// The policy for the next shard (shards are built in order).
    pub fn build(&mut self, shard_capacity: u64) -> Box<dyn EvictionPolicy> {
        match self {
            Self::Builtin(b) => b.build(shard_capacity),
            Self::Plugin {
                version,
                fallback,
                namespace_id,
                next_shard,
                first,
            } => {
                let shard = *next_shard;
                *next_shard += 1;
                if let Some(first) = first.take() {
                    return first;
                }
                let _ = namespace_id;
                let init = InitArgs {
                    shard,
                    ..init_args_from(*namespace_id, shard, shard_capacity)
                };
                match WasmEviction::start(Arc::clone(version), init, *fallback) {
                    Ok(policy) => Box::new(policy),
                    Err(fault) => Box::new(WasmEviction::degraded(
                        Arc::clone(version),
                        init,
                        *fallback,
                        fault,
                    )),
                }
            }
        }
    }
}

/// Seeds differ per namespace and shard but are reproducible: same config, same decisions.
fn init_args_from(namespace_id: u64, shard: u32, capacity_bytes: u64) -> InitArgs {
    InitArgs {
        namespace_id,
        shard,
        capacity_bytes,
        seed: namespace_id ^ (shard as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    }
}

/// Builds one admission instance per shard.
pub(crate) struct AdmissionSource {
    version: Arc<PluginVersion>,
    namespace_id: u64,
    next_shard: u32,
}

impl AdmissionSource {
    pub fn build(&mut self) -> Box<dyn AdmissionPolicy> {
        let shard = self.next_shard;
        self.next_shard += 1;
        Box::new(WasmAdmission::new(
            Arc::clone(&self.version),
            init_args_from(self.namespace_id, shard, 0),
        ))
    }
}

/// Hooks a namespace holds outside its shards (prefetch is per namespace, not per shard).
#[derive(Debug, Default)]
pub struct NamespaceHooks {
    prefetch: RwLock<Option<Arc<Prefetcher>>>,
}

impl NamespaceHooks {
    /// The prefetch hook, if the namespace has one. Cheap (an `Arc` clone under a read lock).
    pub fn prefetcher(&self) -> Option<Arc<Prefetcher>> {
        self.prefetch.read().clone()
    }

    pub(crate) fn set_prefetch(&self, prefetcher: Option<Arc<Prefetcher>>) {
        *self.prefetch.write() = prefetcher;
    }
}
