//! Shadow evaluation: candidate policies run on ghost caches fed by a sampled share of live
//! traffic, so a policy can be judged before it serves a single request.
//!
//! Sampling is spatial (SHARDS, Waldspurger et al., FAST '15): a key is sampled when its hash falls
//! below `rate · 2^32`, and each ghost's capacity is the namespace's capacity times the rate, so a
//! ghost sees a scaled-down copy of the workload — fewer keys, the same popularity curve — and its
//! hit ratio estimates the full-size cache's. The store pushes sampled events into per-shard
//! buffers under the lock it already holds (see [`super::sample`]); a background thread drains them
//! every few milliseconds and applies them to every ghost, so no request waits on a ghost.
//!
//! Under a skewed workload, whether a handful of very hot keys happen to fall in the sample swings
//! the ghost's hit ratio. The adjustment from the same paper (SHARDS-adj) corrects for it: the
//! sample should hold `rate × live reads` reads; the difference between that and what it holds is
//! almost entirely hot-key reads (hits), so it is added to the ghost's hits and the ratio taken over
//! the expected count.
//!
//! Running the live policy as one of the candidates shows the estimate's error directly: its ghost
//! should read close to the live hit ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ExperimentError;
use super::sample::{SampledEvent, SampledOp, threshold_for};
use crate::namespace::{Namespace, NamespaceConfig, Namespaces};
use crate::plugin::PolicyRef;
use crate::policy::BuiltinPolicy;
use crate::policy::GhostCache;

/// How often the drainer empties the shards' buffers.
const DRAIN_INTERVAL: Duration = Duration::from_millis(2);
/// Room per shard for sampled events between drains; more are dropped (and counted).
const BUFFER_PER_SHARD: usize = 4096;
const MAX_CANDIDATES: usize = 8;

fn default_rate() -> f64 {
    0.01
}

/// A candidate policy set to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateSpec {
    /// Label in reports and metrics (`[A-Za-z0-9_.-]`, up to 64 characters).
    pub name: String,
    /// A built-in eviction policy or `plugin:<version id>`.
    #[schema(value_type = String, example = "wtinylfu")]
    pub eviction: PolicyRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub eviction_fallback: Option<BuiltinPolicy>,
}

/// The body of `PUT /v1/namespaces/{ns}/shadow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowSpec {
    pub candidates: Vec<CandidateSpec>,
    /// Share of keys sampled, in (0, 1]; default 0.01. Higher is more accurate and costs more.
    #[serde(default = "default_rate")]
    pub sample_rate: f64,
}

impl ShadowSpec {
    fn validate(&self) -> Result<(), ExperimentError> {
        let bad = |m: String| Err(ExperimentError::InvalidShadow(m));
        if !(self.sample_rate > 0.0 && self.sample_rate <= 1.0) {
            return bad(format!(
                "sample_rate must be in (0, 1], got {}",
                self.sample_rate
            ));
        }
        if self.candidates.is_empty() || self.candidates.len() > MAX_CANDIDATES {
            return bad(format!(
                "name 1 to {MAX_CANDIDATES} candidates, got {}",
                self.candidates.len()
            ));
        }
        for (i, c) in self.candidates.iter().enumerate() {
            let ok = !c.name.is_empty()
                && c.name.len() <= 64
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !ok {
                return bad(format!(
                    "candidate name {:?}: use 1 to 64 characters from A-Z, a-z, 0-9, '_', '-', '.'",
                    c.name
                ));
            }
            if self.candidates[..i].iter().any(|o| o.name == c.name) {
                return bad(format!("two candidates are named {:?}", c.name));
            }
        }
        Ok(())
    }
}

/// The live side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveReport {
    pub eviction: String,
    /// Reads since shadow evaluation started.
    pub requests: u64,
    pub hit_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CandidateReport {
    pub name: String,
    pub eviction: String,
    /// The estimate of this policy's hit ratio at full size: the ghost's, adjusted for the
    /// sample's size (SHARDS-adj, see the module docs).
    pub estimated_hit_ratio: f64,
    /// The ghost's own hit ratio, before the adjustment.
    pub ghost_hit_ratio: f64,
    /// Sampled reads the ghost has seen.
    pub sampled_requests: u64,
    pub keys: u64,
    pub evictions: u64,
}

/// What `GET /v1/namespaces/{ns}/shadow` answers.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ShadowReport {
    pub namespace: String,
    pub sample_rate: f64,
    /// Each ghost's capacity: the namespace's capacity times the sample rate.
    pub ghost_capacity_bytes: u64,
    pub live: LiveReport,
    pub candidates: Vec<CandidateReport>,
    /// Sampled events applied to the ghosts.
    pub sampled_events: u64,
    /// Sampled events lost to full buffers (the estimate is less exact when this is not 0).
    pub dropped_events: u64,
}

struct Ghosts {
    caches: Vec<(CandidateSpec, GhostCache)>,
    events: u64,
    scratch: Vec<SampledEvent>,
}

impl Ghosts {
    /// Drain every shard's buffer into the ghosts. Draining and applying happen under the ghosts'
    /// lock, so events of one key reach the ghosts in the order they happened.
    fn pump(&mut self, namespace: &Namespace) {
        let store = namespace.store();
        let mut scratch = std::mem::take(&mut self.scratch);
        for i in 0..store.shard_count() {
            store.drain_sampled(i, &mut scratch);
            for e in &scratch {
                for (_, ghost) in &mut self.caches {
                    match e.op {
                        SampledOp::Read { .. } => ghost.read(e.hash, e.size),
                        SampledOp::Write => ghost.write(e.hash, e.size),
                        SampledOp::Remove => ghost.remove(e.hash),
                    }
                }
            }
            self.events += scratch.len() as u64;
        }
        self.scratch = scratch;
    }
}

/// A running shadow evaluation. Dropping it stops the drainer.
pub struct Shadow {
    spec: ShadowSpec,
    ghost_capacity: u64,
    ghosts: Arc<Mutex<Ghosts>>,
    stop: Arc<AtomicBool>,
    baseline_hits: u64,
    baseline_misses: u64,
}

impl Shadow {
    pub(crate) fn spec(&self) -> &ShadowSpec {
        &self.spec
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        // Only signal: the drainer may itself hold the last reference to the namespace.
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Shadow {
    fn report(&self, namespace: &Namespace) -> ShadowReport {
        let mut ghosts = self.ghosts.lock();
        ghosts.pump(namespace);
        let stats = namespace.store().stats();
        let hits = stats.hits.saturating_sub(self.baseline_hits);
        let misses = stats.misses.saturating_sub(self.baseline_misses);
        let store = namespace.store();
        let dropped = (0..store.shard_count())
            .filter_map(|i| store.shard_counters(i))
            .map(|c| c.sampled_dropped)
            .sum();
        ShadowReport {
            namespace: namespace.name().to_string(),
            sample_rate: self.spec.sample_rate,
            ghost_capacity_bytes: self.ghost_capacity,
            live: LiveReport {
                eviction: namespace.config().eviction.to_string(),
                requests: hits + misses,
                hit_ratio: if hits + misses == 0 {
                    0.0
                } else {
                    hits as f64 / (hits + misses) as f64
                },
            },
            candidates: ghosts
                .caches
                .iter()
                .map(|(spec, g)| CandidateReport {
                    name: spec.name.clone(),
                    eviction: spec.eviction.to_string(),
                    estimated_hit_ratio: adjusted(
                        g,
                        self.spec.sample_rate * (hits + misses) as f64,
                    ),
                    ghost_hit_ratio: g.hit_ratio(),
                    sampled_requests: g.reads,
                    keys: g.keys() as u64,
                    evictions: g.evictions,
                })
                .collect(),
            sampled_events: ghosts.events,
            dropped_events: dropped,
        }
    }

    /// Stop the drainer and wait until it can no longer touch the store's buffers: it checks the
    /// flag under the ghosts' lock, which this takes after setting it.
    fn halt(self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.ghosts.lock());
    }
}

/// SHARDS-adj: the ghost's hits plus the reads the sample is short of (or minus those it has too
/// many), over the reads it should have seen; clamped to [0, 1].
fn adjusted(ghost: &GhostCache, expected_reads: f64) -> f64 {
    if expected_reads < 1.0 {
        return ghost.hit_ratio();
    }
    let shortfall = expected_reads - ghost.reads as f64;
    ((ghost.hits as f64 + shortfall) / expected_reads).clamp(0.0, 1.0)
}

/// Start shadow evaluation on `ns` (replacing one that is running).
pub fn start_shadow(
    namespaces: &Namespaces,
    ns: &str,
    spec: ShadowSpec,
) -> Result<ShadowReport, ExperimentError> {
    spec.validate()?;
    let namespace = namespaces.get(ns)?;
    let config = namespace.config();
    let ghost_capacity = ((config.capacity_bytes as f64 * spec.sample_rate) as u64).max(1);
    let mut caches = Vec::with_capacity(spec.candidates.len());
    for c in &spec.candidates {
        let cfg = NamespaceConfig {
            eviction: c.eviction.clone(),
            eviction_fallback: c.eviction_fallback.or(config.eviction_fallback),
            ..config.clone()
        };
        let mut source = namespaces
            .plugins()
            .eviction_source(ns, &cfg)
            .map_err(|e| ExperimentError::InvalidShadow(format!("candidate {:?}: {e}", c.name)))?;
        caches.push((
            c.clone(),
            GhostCache::new(source.build(ghost_capacity), ghost_capacity),
        ));
    }
    let store = namespace.store();
    let mut slot = store.lab().shadow.lock();
    // Stop the old one first, so its drainer does not steal the new one's events.
    if let Some(old) = slot.take() {
        old.halt();
    }
    store.set_sampling(0, 0);
    let ghosts = Arc::new(Mutex::new(Ghosts {
        caches,
        events: 0,
        scratch: Vec::with_capacity(BUFFER_PER_SHARD),
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let stats = store.stats();
    let shadow = Shadow {
        spec: spec.clone(),
        ghost_capacity,
        ghosts: Arc::clone(&ghosts),
        stop: Arc::clone(&stop),
        baseline_hits: stats.hits,
        baseline_misses: stats.misses,
    };
    let weak = Arc::downgrade(&namespace);
    std::thread::Builder::new()
        .name("larder-shadow".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Some(namespace) = weak.upgrade() else {
                    break;
                };
                let mut g = ghosts.lock();
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                g.pump(&namespace);
                drop(g);
                drop(namespace);
                std::thread::sleep(DRAIN_INTERVAL);
            }
        })
        .map_err(|e| {
            ExperimentError::InvalidShadow(format!("cannot start the drainer thread: {e}"))
        })?;
    store.set_sampling(threshold_for(spec.sample_rate), BUFFER_PER_SHARD);
    let report = shadow.report(&namespace);
    *slot = Some(shadow);
    tracing::info!(
        namespace = ns,
        rate = spec.sample_rate,
        "shadow evaluation started"
    );
    Ok(report)
}

/// The running shadow evaluation's estimates beside the live hit ratio.
pub fn shadow_report(namespaces: &Namespaces, ns: &str) -> Result<ShadowReport, ExperimentError> {
    let namespace = namespaces.get(ns)?;
    let slot = namespace.store().lab().shadow.lock();
    let shadow = slot
        .as_ref()
        .ok_or_else(|| ExperimentError::NoShadow(ns.to_string()))?;
    Ok(shadow.report(&namespace))
}

/// Stop shadow evaluation; returns the final estimates.
pub fn stop_shadow(namespaces: &Namespaces, ns: &str) -> Result<ShadowReport, ExperimentError> {
    let namespace = namespaces.get(ns)?;
    let store = namespace.store();
    let mut slot = store.lab().shadow.lock();
    let shadow = slot
        .take()
        .ok_or_else(|| ExperimentError::NoShadow(ns.to_string()))?;
    let report = shadow.report(&namespace);
    store.set_sampling(0, 0);
    shadow.halt();
    tracing::info!(namespace = ns, "shadow evaluation stopped");
    Ok(report)
}
