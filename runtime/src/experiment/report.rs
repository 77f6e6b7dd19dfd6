//! What `GET /v1/namespaces/{ns}/experiment` answers: per-arm numbers since the experiment started,
//! the leader-vs-runner-up interval and the verdict.

use serde::Serialize;
use utoipa::ToSchema;

use super::significance::Comparison;

/// Operation latency inside the store (lock wait included), from the per-shard histograms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct LatencyReport {
    /// Operations timed (gets and sets).
    pub samples: u64,
    pub mean_ns: Option<f64>,
    /// Upper bound of the histogram bucket holding the 99th percentile (buckets are within 25 %).
    pub p99_ns: Option<u64>,
}

/// Time spent in a plugin's eviction hook, for arms served by a plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct HookTimeReport {
    pub calls: u64,
    /// Calls whose time was measured (the host times a sample of calls).
    pub timed_calls: u64,
    pub mean_ns: Option<f64>,
    /// The host counts per plugin version: if the same version serves other namespaces too, their
    /// calls are included.
    pub shared_with_other_namespaces: bool,
}

/// One arm's numbers since the experiment started.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ArmReport {
    pub name: String,
    /// The eviction policy the arm was started with.
    pub eviction: String,
    /// The arm's own admission hook, when it brought one (otherwise the namespace's applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission: Option<String>,
    /// What the arm's first shard runs now (differs from `eviction` only if the namespace's policy
    /// was reconfigured during the experiment).
    pub serving: String,
    pub weight: u32,
    /// Shard indices this arm serves (its keys are the keys hashing there).
    pub shards: Vec<usize>,
    pub capacity_bytes: u64,
    /// Reads (gets) served by this arm.
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: f64,
    /// Value bytes served by hits / (those + value bytes written to absent keys); `None` before
    /// any. In a cache-aside workload the second term is what the misses cost.
    pub byte_hit_ratio: Option<f64>,
    pub sets: u64,
    pub evictions: u64,
    pub keys: u64,
    pub latency: LatencyReport,
    /// Present for arms whose eviction policy is a plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_time: Option<HookTimeReport>,
}

/// The state of a running experiment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExperimentReport {
    pub namespace: String,
    /// Wall-clock start, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    pub running_secs: f64,
    pub arms: Vec<ArmReport>,
    /// The arm with the best hit ratio against the runner-up, with a 95 % interval.
    pub comparison: Option<Comparison>,
    /// `winner: <arm>`, `no difference yet`, or `needs ~N more requests`.
    #[schema(example = "winner: s3fifo")]
    pub verdict: String,
    /// What is not measured per arm, and why.
    pub notes: Vec<String>,
}
