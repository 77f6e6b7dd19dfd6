//! The sandbox's limits: what a module may weigh, how much memory an instance may take, how long
//! one call may run, and how a faulty plugin is retried.

use std::time::Duration;

/// Limits applied to every plugin of one [`super::PluginHost`].
#[derive(Debug, Clone)]
pub struct PluginLimits {
    /// Largest module accepted at upload.
    pub max_module_bytes: usize,
    /// Linear memory cap of one instance (one instance per shard and hook).
    pub max_memory_bytes: usize,
    /// Wall-clock budget of one call into a plugin; past it the call is interrupted (epoch
    /// interruption) and counted as a deadline miss.
    pub call_deadline: Duration,
    /// First quarantine after a fault; each further fault doubles it, up to `quarantine_max`.
    pub quarantine_base: Duration,
    pub quarantine_max: Duration,
    /// A plugin that serves this long without a fault has its backoff reset to `quarantine_base`.
    pub quarantine_forgive_after: Duration,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            max_module_bytes: 4 * 1024 * 1024,
            max_memory_bytes: 32 * 1024 * 1024,
            call_deadline: Duration::from_millis(50),
            quarantine_base: Duration::from_secs(1),
            quarantine_max: Duration::from_secs(300),
            quarantine_forgive_after: Duration::from_secs(60),
        }
    }
}

/// How often the engine's epoch advances. A call's deadline is a whole number of ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

impl PluginLimits {
    /// Epoch ticks to allow one call: enough whole ticks to cover `call_deadline`, plus one
    /// because the call may start just before a tick.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_nanos().max(1);
        (self.call_deadline.as_nanos().div_ceil(tick) as u64).max(1) + 1
    }
}
