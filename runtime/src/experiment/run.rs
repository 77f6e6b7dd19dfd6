//! An experiment's life on a namespace: start (each arm's shards get its policy by hot swap),
//! report, promote (the chosen arm's policy becomes the namespace's, on every shard) and stop (every
//! shard goes back to the namespace's policy).
//!
//! Every swap goes through [`Store::replace_policy_on`]: one shard at a time under its lock, the new
//! instance replayed the shard's resident keys, so no request fails and the cache keeps its
//! contents. Counters are the shards' own, read against a baseline taken at start, so an arm's
//! numbers begin at zero. Latency timing is switched on for the store only while an experiment
//! runs.

use std::sync::Arc;
use std::time::Instant;

use super::ExperimentError;
use super::arms::{ArmSpec, ExperimentSpec};
use super::report::{ArmReport, ExperimentReport, HookTimeReport, LatencyReport};
use super::significance::{self, Proportion, Verdict};
use crate::namespace::{Namespace, NamespaceConfig, Namespaces};
use crate::plugin::{Hook, HookSnapshot, PluginVersion};
use crate::stats::ShardCounters;
use crate::store::Store;

/// A running experiment.
pub struct Experiment {
    namespace: String,
    started_at_ms: u64,
    started: Instant,
    arms: Vec<RunningArm>,
}

impl Experiment {
    /// The spec this experiment was started with.
    pub fn spec(&self) -> ExperimentSpec {
        ExperimentSpec {
            arms: self.arms.iter().map(|a| a.spec.clone()).collect(),
        }
    }
}

struct RunningArm {
    spec: ArmSpec,
    shards: Vec<usize>,
    baseline: ShardCounters,
    plugin: Option<(Arc<PluginVersion>, HookSnapshot)>,
}

/// What a promotion did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Promotion {
    /// The arm whose policy the namespace now runs.
    pub promoted: String,
    pub eviction: String,
    /// The experiment's numbers at the moment it ended.
    pub report: ExperimentReport,
}

impl Experiment {
    pub fn arm_names(&self) -> impl Iterator<Item = &str> {
        self.arms.iter().map(|a| a.spec.name.as_str())
    }

    /// The experiment's numbers now.
    pub fn report(&self, store: &Store) -> ExperimentReport {
        let arms: Vec<ArmReport> = self.arms.iter().map(|a| a.report(store)).collect();
        let proportions: Vec<(&str, Proportion)> = arms
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    Proportion {
                        hits: a.hits,
                        reads: a.requests,
                    },
                )
            })
            .collect();
        let (comparison, verdict) = match significance::compare(&proportions) {
            Some((c, v)) => (Some(c), v),
            None => (None, Verdict::NoDifferenceYet),
        };
        ExperimentReport {
            namespace: self.namespace.clone(),
            started_at_ms: self.started_at_ms,
            running_secs: self.started.elapsed().as_secs_f64(),
            arms,
            comparison,
            verdict: verdict.to_string(),
            notes: vec![
                "origin fetches are counted per namespace, not per arm (see the namespace's origin \
                 stats); an arm's misses are the reads that would go to the origin"
                    .into(),
            ],
        }
    }
}

impl RunningArm {
    fn report(&self, store: &Store) -> ArmReport {
        let now = sum_counters(store, &self.shards);
        let b = &self.baseline;
        let hits = now.hits.saturating_sub(b.hits);
        let misses = now.misses.saturating_sub(b.misses);
        let requests = hits + misses;
        let hit_bytes = now.hit_bytes.saturating_sub(b.hit_bytes);
        let fill_bytes = now.fill_bytes.saturating_sub(b.fill_bytes);
        let latency = now.latency.since(&b.latency);
        let hook_time = self.plugin.as_ref().map(|(version, before)| {
            let after = version.metrics().snapshot(Hook::Eviction);
            let timed_calls = after.timed_calls.saturating_sub(before.timed_calls);
            let time = after.time_ns_sum.saturating_sub(before.time_ns_sum);
            HookTimeReport {
                calls: after.calls.saturating_sub(before.calls),
                timed_calls,
                mean_ns: (timed_calls > 0).then(|| time as f64 / timed_calls as f64),
                shared_with_other_namespaces: true,
            }
        });
        ArmReport {
            name: self.spec.name.clone(),
            eviction: self.spec.eviction.to_string(),
            admission: self.spec.admission.as_ref().map(ToString::to_string),
            serving: self
                .shards
                .first()
                .and_then(|&i| store.shard_policy_name(i))
                .unwrap_or_default(),
            weight: self.spec.weight,
            shards: self.shards.clone(),
            capacity_bytes: now.capacity_bytes,
            requests,
            hits,
            misses,
            hit_ratio: if requests == 0 {
                0.0
            } else {
                hits as f64 / requests as f64
            },
            byte_hit_ratio: (hit_bytes + fill_bytes > 0)
                .then(|| hit_bytes as f64 / (hit_bytes + fill_bytes) as f64),
            sets: now.sets.saturating_sub(b.sets),
            evictions: now.evictions.saturating_sub(b.evictions),
            keys: now.keys,
            latency: LatencyReport {
                samples: latency.count,
                mean_ns: latency.mean_ns(),
                p99_ns: latency.quantile_ns(0.99),
            },
            hook_time,
        }
    }
}

/// The counters of `shards` added up.
fn sum_counters(store: &Store, shards: &[usize]) -> ShardCounters {
    let mut total = ShardCounters::default();
    for c in shards.iter().filter_map(|&i| store.shard_counters(i)) {
        total.hits += c.hits;
        total.misses += c.misses;
        total.sets += c.sets;
        total.evictions += c.evictions;
        total.hit_bytes += c.hit_bytes;
        total.fill_bytes += c.fill_bytes;
        total.keys += c.keys;
        total.bytes += c.bytes;
        total.capacity_bytes += c.capacity_bytes;
        total.latency.add(&c.latency);
        total.sampled_dropped += c.sampled_dropped;
    }
    total
}

/// The namespace's config with its policy set replaced by the arm's.
fn arm_config(base: &NamespaceConfig, arm: &ArmSpec) -> NamespaceConfig {
    NamespaceConfig {
        eviction: arm.eviction.clone(),
        eviction_fallback: arm.eviction_fallback.or(base.eviction_fallback),
        admission: arm.admission.clone().or_else(|| base.admission.clone()),
        ..base.clone()
    }
}

/// Put every shard an experiment changed back on the namespace's configured policy set: eviction
/// where an arm's differs, admission where an arm brought its own.
fn restore(
    namespaces: &Namespaces,
    namespace: &Namespace,
    experiment: &Experiment,
) -> Result<(), ExperimentError> {
    let store = namespace.store();
    let config = namespace.config();
    let ns = namespace.name();
    let resolve = |e: crate::plugin::PluginError| ExperimentError::Invalid(e.to_string());
    let mut eviction = namespaces
        .plugins()
        .eviction_source(ns, &config)
        .map_err(resolve)?;
    let mut admission = match &config.admission {
        Some(r) => Some(
            namespaces
                .plugins()
                .admission_source(ns, r)
                .map_err(resolve)?,
        ),
        None => None,
    };
    let per_shard = config.capacity_bytes / store.shard_count() as u64;
    for arm in &experiment.arms {
        let arm_cfg = arm_config(&config, &arm.spec);
        if arm_cfg.eviction != config.eviction
            || arm_cfg.eviction_fallback != config.eviction_fallback
        {
            store.replace_policy_on(&arm.shards, || eviction.build(per_shard));
        }
        if arm.spec.admission.is_some() {
            store.replace_admission_on(&arm.shards, || admission.as_mut().map(|a| a.build()));
        }
    }
    Ok(())
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Start an experiment on namespace `ns` (replacing one that is running). Every arm's policy is
/// resolved before any shard changes, so a bad plugin reference leaves the namespace untouched.
pub fn start(
    namespaces: &Namespaces,
    ns: &str,
    spec: ExperimentSpec,
) -> Result<ExperimentReport, ExperimentError> {
    let namespace = namespaces.get(ns)?;
    let store = namespace.store();
    let assignment = spec.assign(store.shard_count())?;
    let config = namespace.config();
    let per_shard = config.capacity_bytes / store.shard_count() as u64;
    let mut sources = Vec::with_capacity(spec.arms.len());
    let mut admissions = Vec::with_capacity(spec.arms.len());
    let mut plugins = Vec::with_capacity(spec.arms.len());
    for arm in &spec.arms {
        let cfg = arm_config(&config, arm);
        let invalid = |e: crate::plugin::PluginError| {
            ExperimentError::Invalid(format!("arm {:?}: {e}", arm.name))
        };
        sources.push(
            namespaces
                .plugins()
                .eviction_source(ns, &cfg)
                .map_err(invalid)?,
        );
        admissions.push(match &arm.admission {
            Some(r) => Some(
                namespaces
                    .plugins()
                    .admission_source(ns, r)
                    .map_err(invalid)?,
            ),
            None => None,
        });
        plugins.push(
            namespaces
                .plugins()
                .resolve(&cfg.eviction, Hook::Eviction)
                .map_err(invalid)?,
        );
    }

    let mut slot = store.lab().experiment.lock();
    if let Some(previous) = slot.take() {
        restore(namespaces, &namespace, &previous)?;
    }
    let arm_sources = sources.iter_mut().zip(admissions.iter_mut());
    for (shards, (eviction, admission)) in assignment.iter().zip(arm_sources) {
        store.replace_policy_on(shards, || eviction.build(per_shard));
        if let Some(admission) = admission {
            store.replace_admission_on(shards, || Some(admission.build()));
        }
    }
    store.set_timing(true);
    let arms = spec
        .arms
        .into_iter()
        .zip(assignment)
        .zip(plugins)
        .map(|((spec, shards), plugin)| RunningArm {
            baseline: sum_counters(store, &shards),
            plugin: plugin.map(|v| {
                let before = v.metrics().snapshot(Hook::Eviction);
                (v, before)
            }),
            spec,
            shards,
        })
        .collect();
    let experiment = Arc::new(Experiment {
        namespace: ns.to_string(),
        started_at_ms: wall_ms(),
        started: Instant::now(),
        arms,
    });
    *slot = Some(Arc::clone(&experiment));
    tracing::info!(namespace = ns, "experiment started");
    Ok(experiment.report(store))
}

fn running(namespace: &Namespace) -> Result<Arc<Experiment>, ExperimentError> {
    namespace
        .store()
        .lab()
        .experiment()
        .ok_or_else(|| ExperimentError::NotRunning(namespace.name().to_string()))
}

/// The running experiment's numbers.
pub fn report(namespaces: &Namespaces, ns: &str) -> Result<ExperimentReport, ExperimentError> {
    let namespace = namespaces.get(ns)?;
    Ok(running(&namespace)?.report(namespace.store()))
}

/// Make `arm` (or, when `None`, the verdict's winner) the namespace's eviction policy on every
/// shard, update the namespace's config to match, and end the experiment.
pub fn promote(
    namespaces: &Namespaces,
    ns: &str,
    arm: Option<&str>,
) -> Result<Promotion, ExperimentError> {
    let namespace = namespaces.get(ns)?;
    let store = namespace.store();
    let mut slot = store.lab().experiment.lock();
    let experiment = slot
        .clone()
        .ok_or_else(|| ExperimentError::NotRunning(ns.to_string()))?;
    let final_report = experiment.report(store);
    let chosen = match arm {
        Some(name) => name.to_string(),
        None => match final_report.verdict.strip_prefix("winner: ") {
            Some(w) => w.to_string(),
            None => {
                return Err(ExperimentError::Invalid(format!(
                    "there is no winner yet ({}); name the arm to promote",
                    final_report.verdict
                )));
            }
        },
    };
    let winner = experiment
        .arms
        .iter()
        .find(|a| a.spec.name == chosen)
        .ok_or_else(|| ExperimentError::UnknownArm(chosen.clone()))?;
    // Every shard back on the namespace's policy set, then the namespace reconfigured to the
    // winner's: each step is a per-shard hot swap, so no request fails on the way.
    restore(namespaces, &namespace, &experiment)?;
    let current = namespace.config();
    let next = arm_config(&current, &winner.spec);
    if next != current {
        namespaces.update_holding_lab(ns, next)?;
    }
    store.set_timing(false);
    *slot = None;
    tracing::info!(namespace = ns, arm = %chosen, "experiment promoted");
    Ok(Promotion {
        promoted: chosen,
        eviction: winner.spec.eviction.to_string(),
        report: final_report,
    })
}

/// End the experiment: every shard goes back to the namespace's configured policy. Returns the
/// final numbers.
pub fn stop(namespaces: &Namespaces, ns: &str) -> Result<ExperimentReport, ExperimentError> {
    let namespace = namespaces.get(ns)?;
    let store = namespace.store();
    let mut slot = store.lab().experiment.lock();
    let experiment = slot
        .clone()
        .ok_or_else(|| ExperimentError::NotRunning(ns.to_string()))?;
    let final_report = experiment.report(store);
    restore(namespaces, &namespace, &experiment)?;
    store.set_timing(false);
    *slot = None;
    tracing::info!(namespace = ns, "experiment stopped");
    Ok(final_report)
}
