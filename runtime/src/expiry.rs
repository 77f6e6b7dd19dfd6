//! Active expiry: reclaim the memory of expired keys nobody reads again.
//!
//! Lazy expiry (on access) alone would let a namespace fill with dead sessions. This task walks every
//! shard a bounded slice at a time, one shard lock at a time, so a sweep never stalls requests; when a
//! slice turns up many expired keys it keeps going, like Redis's active expire cycle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::namespace::Namespaces;

/// Slots examined per shard per step.
const STEP_BUDGET: usize = 256;
/// Keep sweeping without pause while a step finds at least this share of expired slots.
const BUSY_SHARE: usize = 4;

/// Cleared by `DEBUG SET-ACTIVE-EXPIRE 0`: sweeps pause (process-wide) and expired keys go only
/// when read, as test suites need to observe lazy expiry. Memory stays bounded meanwhile:
/// eviction still applies.
static ACTIVE_EXPIRY: AtomicBool = AtomicBool::new(true);

/// Turn the active sweeps on or off for every namespace of the process.
pub fn set_active_expiry(enabled: bool) {
    ACTIVE_EXPIRY.store(enabled, Ordering::Relaxed);
}

pub fn active_expiry_enabled() -> bool {
    ACTIVE_EXPIRY.load(Ordering::Relaxed)
}

/// Run until the returned future is dropped (abort the task to stop it).
pub async fn run_active_expiry(namespaces: Arc<Namespaces>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !active_expiry_enabled() {
            continue;
        }
        for ns in namespaces.list() {
            let store = ns.store();
            let shards = store.shard_count();
            loop {
                let removed = store.expire_step(STEP_BUDGET);
                if removed * BUSY_SHARE < STEP_BUDGET * shards {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
    }
}
