//! Shared by the plugin tests: namespaces on a host with test limits, and log capture.

#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use larder_runtime::plugin::{PluginHost, PluginLimits, PluginVersion};
use larder_runtime::{BuiltinPolicy, NamespaceConfig, Namespaces, PolicyRef};

/// Limits for tests: an 8 MiB memory cap (a memory bomb hits it fast) and a 250 ms call deadline,
/// far above any honest call even on a loaded machine, so only a runaway plugin misses it.
pub fn test_limits(quarantine_base: Duration) -> PluginLimits {
    PluginLimits {
        max_memory_bytes: 8 * 1024 * 1024,
        call_deadline: Duration::from_millis(250),
        quarantine_base,
        quarantine_max: quarantine_base * 8,
        ..Default::default()
    }
}

pub fn namespaces(limits: PluginLimits) -> Namespaces {
    Namespaces::with_plugins(
        NamespaceConfig::default(),
        Arc::new(PluginHost::new(limits)),
    )
    .unwrap()
}

pub fn upload(namespaces: &Namespaces, bytes: &[u8], name: &str) -> Arc<PluginVersion> {
    namespaces
        .plugins()
        .upload(bytes, name, "test")
        .unwrap()
        .version
}

/// A small single-shard namespace config evicting with `eviction` (LRU as the fallback).
pub fn small(eviction: PolicyRef, capacity_bytes: u64, shards: u32) -> NamespaceConfig {
    NamespaceConfig {
        capacity_bytes,
        max_item_size: Some(1024),
        shards: Some(shards),
        eviction,
        eviction_fallback: Some(BuiltinPolicy::Lru),
        ..Default::default()
    }
}

pub fn plugin_ref(v: &PluginVersion) -> PolicyRef {
    PolicyRef::plugin(&v.id)
}

#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Run `f` with this thread's log lines captured.
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    (r, capture.text())
}
