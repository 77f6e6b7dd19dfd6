//! The wasmtime engine every plugin runs in, configured for the sandbox: epoch interruption for
//! call deadlines (one background thread advances the epoch), no WASI, and a linker that offers
//! only the ABI's host imports.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::{Config, Engine, Linker};

use super::imports::{self, HostState};
use super::limits::EPOCH_TICK;

/// Engine + linker, shared by every module and instance of one host.
pub(crate) struct Sandbox {
    pub engine: Engine,
    pub linker: Linker<HostState>,
    stop: Arc<AtomicBool>,
}

impl Sandbox {
    pub fn new() -> Result<Self, String> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Deep recursion in a plugin traps instead of exhausting the host thread's stack.
        config.max_wasm_stack(512 * 1024);
        let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        imports::define(&mut linker).map_err(|e| format!("{e:#}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), Arc::clone(&stop));
        Ok(Self {
            engine,
            linker,
            stop,
        })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until `stop` is set. A call whose deadline
/// (set in ticks before each call) passes traps with `Trap::Interrupt`.
fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("larder-plugin-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = spawned {
        // Without the ticker no call can be interrupted; say so loudly rather than fail.
        tracing::error!(error = %e, "could not start the plugin epoch thread; deadlines are off");
    }
}
