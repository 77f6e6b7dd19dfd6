//! Belady's MIN: on a miss with the cache full, evict the object whose next request is furthest in
//! the future. It needs the future, which the trace's next-access index gives in O(1) a request.
//!
//! For unit charges (object-count capacities) this is the optimal miss ratio (Belady 1966), the
//! bound every real policy is measured against. For byte capacities with mixed sizes the optimum
//! is NP-hard to compute; the same rule is then only a strong heuristic (it is what libCacheSim's
//! `Belady` does), and results say so.
//!
//! The resident set is a max-heap keyed by next access. A request at index `i` is a hit exactly
//! when some resident object's next access is `i`; at that moment its heap entry (key `i`) becomes
//! stale and a new one (key = the request's own next access) replaces it. Stale keys are all `<= i`
//! while every live key is `> i`, so they sink below live ones and the maximum is always live while
//! anything is resident. Objects never requested again get distinct keys above every index, so they
//! go first.

use std::collections::BinaryHeap;
use std::time::Instant;

use super::capacity::Capacity;
use super::replay::{ReplayCounts, ReplayOutcome};
use super::trace::{NEVER, Trace};

/// Whether the bound is the true optimum for `capacity`.
pub fn is_exact(capacity: Capacity) -> bool {
    !capacity.is_bytes()
}

/// Replay `trace` through Belady's MIN at `capacity`.
pub fn belady(trace: &Trace, capacity: Capacity) -> ReplayOutcome {
    let started = Instant::now();
    let requests = trace.requests();
    let n = requests.len() as u64;
    let by_bytes = capacity.is_bytes();
    let capacity = capacity.amount();
    // resident_charge[i] = charge of the resident object whose next request is i (0 = none).
    // Charges are stored +1 so that a zero-byte object still marks its slot.
    let mut resident_charge: Vec<u64> = vec![0; requests.len()];
    // (key, charge + 1): key is the next access, or n + request index for "never again".
    let mut heap: BinaryHeap<(u64, u64)> = BinaryHeap::new();
    let mut used = 0u64;
    let mut counts = ReplayCounts::default();

    for (i, r) in requests.iter().enumerate() {
        counts.requests += 1;
        counts.bytes_requested += u64::from(r.size);
        let charge = if by_bytes { u64::from(r.size) } else { 1 };
        let held = std::mem::take(&mut resident_charge[i]);
        if held != 0 {
            counts.hits += 1;
            counts.bytes_hit += u64::from(r.size);
            used -= held - 1;
        } else if charge > capacity {
            counts.too_large += 1;
            continue;
        }
        // (Re)admit the object under its next access; on a hit it keeps the charge it had.
        let charge = if held != 0 { held - 1 } else { charge };
        let own_key = if r.next_access == NEVER { n + i as u64 } else { r.next_access };
        if let Some(slot) = resident_charge.get_mut(own_key as usize) {
            *slot = charge + 1;
        }
        heap.push((own_key, charge + 1));
        used += charge;
        while used > capacity {
            let Some((key, stored)) = heap.pop() else { break };
            // Only live entries can be at the top (see the module docs), except "never again"
            // keys, which are live by construction.
            if let Some(slot) = resident_charge.get_mut(key as usize) {
                if *slot == 0 {
                    continue;
                }
                *slot = 0;
            }
            used -= stored - 1;
            // Dropping the object just requested is declining to cache it, not an eviction.
            if key != own_key {
                counts.evictions += 1;
            }
        }
    }
    ReplayOutcome { counts, elapsed: started.elapsed() }
}
