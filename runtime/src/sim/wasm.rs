//! WebAssembly eviction plugins in the simulator, run by the same plugin host the server uses.
//!
//! The module is checked and compiled once ([`PluginHost::upload`]); every replay gets a fresh
//! instance ([`WasmEviction`], the adapter a shard uses), so a plugin is replayed exactly as it
//! would serve: batched events, validated answers, deadlines. A fault makes the server fall back
//! to a built-in policy; the simulator lets that happen too but counts the faults, so a result
//! that was partly served by the fallback is flagged instead of passing for the plugin's.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use super::SimError;
use super::run::SimPolicy;
use crate::namespace::NamespaceConfig;
use crate::plugin::{Hook, PluginHost, PluginLimits, PolicyRef};
use crate::policy::BuiltinPolicy;

/// The fallback a faulting plugin is replaced by (as a namespace's default fallback would be).
const FALLBACK: BuiltinPolicy = BuiltinPolicy::Lru;

/// One host per process: the wasm engine and its epoch ticker are started once.
fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    // Offline replay: a call's deadline only guards against a plugin that never returns. The
    // server's 50 ms would make results depend on how busy the machine is (a call preempted on a
    // loaded box misses it, and the fallback serves the rest), and a simulation must not.
    HOST.get_or_init(|| {
        PluginHost::new(PluginLimits {
            call_deadline: std::time::Duration::from_secs(10),
            ..PluginLimits::default()
        })
    })
}

/// A policy from a `.wasm` file, named after the file.
pub fn wasm_policy_file(path: &Path) -> Result<SimPolicy, SimError> {
    let bytes = std::fs::read(path).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_stem()
        .map_or_else(|| "wasm".to_string(), |s| s.to_string_lossy().into_owned());
    wasm_policy(&name, &bytes)
}

/// A policy from the bytes of a module implementing the eviction hook, shown as `name`.
pub fn wasm_policy(name: &str, bytes: &[u8]) -> Result<SimPolicy, SimError> {
    let fail = |message: String| SimError::Policy {
        policy: name.to_string(),
        message,
    };
    let version = host()
        .upload(bytes, name, "")
        .map_err(|e| fail(e.to_string()))?
        .version;
    if !version.hooks.contains(Hook::Eviction) {
        return Err(fail(
            "the module does not implement the eviction hook".into(),
        ));
    }
    let id = version.id.clone();
    let factory = Arc::new(move |capacity_bytes: u64| {
        // A one-shard namespace of exactly this capacity, built the way the server builds one.
        let config = NamespaceConfig {
            capacity_bytes,
            eviction: PolicyRef::plugin(id.clone()),
            eviction_fallback: Some(FALLBACK),
            shards: Some(1),
            ..NamespaceConfig::default()
        };
        let mut source = host()
            .eviction_source("sim", &config)
            .map_err(|e| e.to_string())?;
        Ok(source.build(capacity_bytes))
    });
    let faults = Arc::new(move || {
        let s = version.metrics().snapshot(Hook::Eviction);
        s.invalid_answers + s.traps + s.deadline_misses + s.out_of_memory + s.start_failures
    });
    Ok(SimPolicy::custom(name, factory).with_fault_count(faults))
}
