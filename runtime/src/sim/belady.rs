//! Belady's MIN: on a miss with the cache full, evict the object whose next request is furthest in
//! the future. It needs the future, which the trace's next-access index gives in O(1) a request.
//!
//! Two variants, which differ only when the object just missed is itself the one needed furthest
//! in the future:
//! - [`BeladyVariant::Demand`] (the default, Belady 1966 as in paging, and what libCacheSim's
//!   `Belady` computes): every miss is cached, so one of the *other* objects is evicted;
//! - [`BeladyVariant::Bypass`]: the missed object may be left uncached. This is the optimum for a
//!   cache with admission control, a little lower (0.01–0.3 % of requests on the shared traces).
//!
//! For unit charges (object-count capacities) each is the optimal miss ratio of its kind, the
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

/// Which optimum to compute (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BeladyVariant {
    /// Every miss is cached (classic MIN; matches libCacheSim).
    #[default]
    Demand,
    /// A miss may be left uncached (MIN with bypass).
    Bypass,
}

impl BeladyVariant {
    /// The row name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Demand => "belady",
            Self::Bypass => "belady-bypass",
        }
    }
}

impl std::str::FromStr for BeladyVariant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "demand" | "classic" | "" => Ok(Self::Demand),
            "bypass" => Ok(Self::Bypass),
            _ => Err(format!(
                "unknown Belady variant {s:?}; expected demand or bypass"
            )),
        }
    }
}

/// Whether the bound is the true optimum for `capacity`.
pub fn is_exact(capacity: Capacity) -> bool {
    !capacity.is_bytes()
}

/// Replay `trace` through Belady's MIN at `capacity` (the classic, demand variant).
pub fn belady(trace: &Trace, capacity: Capacity) -> ReplayOutcome {
    belady_variant(trace, capacity, BeladyVariant::Demand)
}

/// Replay `trace` through the chosen variant of Belady's MIN at `capacity`.
pub fn belady_variant(trace: &Trace, capacity: Capacity, variant: BeladyVariant) -> ReplayOutcome {
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
        let own_key = if r.next_access == NEVER {
            n + i as u64
        } else {
            r.next_access
        };
        if let Some(slot) = resident_charge.get_mut(own_key as usize) {
            *slot = charge + 1;
        }
        heap.push((own_key, charge + 1));
        used += charge;
        // Under demand admission the object just requested is set aside while others go.
        let mut set_aside = None;
        while used > capacity {
            let Some((key, stored)) = heap.pop() else {
                break;
            };
            if key == own_key && variant == BeladyVariant::Demand {
                set_aside = Some((key, stored));
                continue;
            }
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
        if let Some(entry) = set_aside {
            heap.push(entry);
        }
    }
    ReplayOutcome {
        counts,
        elapsed: started.elapsed(),
    }
}
