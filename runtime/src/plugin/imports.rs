//! The host imports of ABI version 1 (module `larder`) and the per-instance state behind them.
//!
//! Time is read once per call and frozen for the rest of it, so a batch of events sees one
//! instant. Random numbers come from a SplitMix64 sequence seeded per instance, so a plugin's
//! decisions are reproducible for a given namespace, shard and seed.

use wasmtime::{Caller, Linker, Memory, ResourceLimiter};

use super::abi::{IMPORT_MODULE, MAX_LOG_LEN};
use super::context;

/// State of one instance's wasmtime store.
pub(crate) struct HostState {
    pub limiter: MemoryCap,
    /// The guest's exported memory, set once instantiated.
    pub memory: Option<Memory>,
    /// Unix milliseconds read by the first `now_ms` of the current call; 0 before that.
    pub now_ms: i64,
    pub rng: u64,
    /// Short plugin id for log lines.
    pub label: std::sync::Arc<str>,
}

impl HostState {
    pub fn new(max_memory_bytes: usize, seed: u64, label: std::sync::Arc<str>) -> Self {
        Self {
            limiter: MemoryCap {
                max_bytes: max_memory_bytes,
                denied: false,
            },
            memory: None,
            now_ms: 0,
            rng: seed,
            label,
        }
    }
}

/// Caps an instance's linear memory and tables, and remembers a refusal so that the trap that
/// follows is reported as out-of-memory rather than as a generic trap.
pub(crate) struct MemoryCap {
    pub max_bytes: usize,
    pub denied: bool,
}

const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.denied = true;
            // Trap rather than return -1 from memory.grow: most guests abort on allocation
            // failure anyway, and a trap names the cause.
            return Err(wasmtime::Error::msg(format!(
                "memory limit: the plugin asked for {desired} bytes; the cap is {}",
                self.max_bytes
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A guest range, checked against the memory's length.
fn range(ptr: i32, len: i32, mem_len: usize) -> wasmtime::Result<std::ops::Range<usize>> {
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    match start.checked_add(len) {
        Some(end) if end <= mem_len => Ok(start..end),
        _ => Err(wasmtime::Error::msg(format!(
            "host import given an out-of-bounds range {start}+{len} (memory is {mem_len} bytes)"
        ))),
    }
}

pub(crate) fn define(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        "now_ms",
        |mut caller: Caller<'_, HostState>| -> i64 {
            let state = caller.data_mut();
            if state.now_ms == 0 {
                state.now_ms = unix_ms();
            }
            state.now_ms
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        "random",
        |mut caller: Caller<'_, HostState>| -> i64 {
            splitmix64(&mut caller.data_mut().rng) as i64
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        "tag",
        |mut caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32,
         out_ptr: i32,
         out_cap: i32|
         -> wasmtime::Result<i32> {
            let Some(memory) = caller.data().memory else {
                return Ok(-1);
            };
            let data = memory.data_mut(&mut caller);
            let name = range(name_ptr, name_len, data.len())?;
            let out = range(out_ptr, out_cap, data.len())?;
            let mut value = [0u8; context::MAX_TAG_VALUE];
            let found = context::current_tag_bytes(&data[name], |v| {
                value[..v.len()].copy_from_slice(v);
                v.len()
            });
            Ok(match found {
                None => -1,
                Some(len) => {
                    let n = len.min(out.len());
                    data[out.start..out.start + n].copy_from_slice(&value[..n]);
                    len as i32
                }
            })
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        "log",
        |mut caller: Caller<'_, HostState>,
         level: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<()> {
            let Some(memory) = caller.data().memory else {
                return Ok(());
            };
            let (data, state) = memory.data_and_store_mut(&mut caller);
            let r = range(ptr, len.min(MAX_LOG_LEN as i32), data.len())?;
            let text = String::from_utf8_lossy(&data[r]);
            let plugin = &*state.label;
            match level {
                0 => tracing::warn!(plugin, "{text}"),
                1 => tracing::info!(plugin, "{text}"),
                _ => tracing::debug!(plugin, "{text}"),
            }
            Ok(())
        },
    )?;
    Ok(())
}
