//! Policy experiments on live traffic: A/B tests between policy sets, and shadow evaluation of
//! candidates on sampled ghost caches.
//!
//! | module | holds |
//! |---|---|
//! | [`arms`] | [`ExperimentSpec`]: arms, weights, and how whole shards are assigned to arms |
//! | [`run`] | starting, reporting, promoting and stopping an experiment on a namespace |
//! | [`report`] | [`ExperimentReport`]: per-arm counters, latency, hook time, the verdict |
//! | [`significance`] | the two-proportion z-interval and the verdict built from it |
//! | [`latency`] | the per-shard latency histogram recorded while an experiment runs |
//! | [`sample`] | SHARDS-style spatial sampling of request events for shadow evaluation |
//! | [`GhostCache`] | re-exported from the policy crate: keys and sizes only, driven by a candidate policy |
//! | [`shadow`] | [`ShadowSpec`]: candidates on ghost caches fed by a background drainer |
//! | [`metrics`] | the Prometheus collector that exposes per-arm and per-candidate numbers |
//!
//! Both live in the namespace's store ([`Lab`]), so they end with the namespace.

pub mod arms;
pub mod latency;
pub mod metrics;
pub mod report;
pub mod run;
pub mod sample;
pub mod shadow;
pub mod significance;

pub use crate::policy::GhostCache;
pub use arms::{ArmSpec, ExperimentSpec, MIN_SHARDS_PER_ARM};
pub use latency::LatencyHistogram;
pub use metrics::ExperimentCollector;
pub use report::{ArmReport, ExperimentReport, LatencyReport};
pub use run::{Experiment, Promotion, promote, report, start, stop};
pub use sample::{SampledEvent, SampledOp, is_sampled, threshold_for};
pub use shadow::{
    CandidateReport, CandidateSpec, LiveReport, Shadow, ShadowReport, ShadowSpec, shadow_report,
    start_shadow, stop_shadow,
};
pub use significance::{Comparison, Verdict};

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::NamespaceError;

/// The experiment and shadow evaluation of one namespace (each at most one at a time).
#[derive(Default)]
pub struct Lab {
    pub(crate) experiment: Mutex<Option<Arc<Experiment>>>,
    pub(crate) shadow: Mutex<Option<Shadow>>,
}

impl Lab {
    /// The running experiment, if any.
    pub fn experiment(&self) -> Option<Arc<Experiment>> {
        self.experiment.lock().clone()
    }

    /// Whether shadow evaluation is running.
    pub fn has_shadow(&self) -> bool {
        self.shadow.lock().is_some()
    }

    /// What the running experiment was started with (for the catalog).
    pub fn experiment_spec(&self) -> Option<ExperimentSpec> {
        self.experiment().map(|e| e.spec())
    }

    /// What the running shadow evaluation was started with (for the catalog).
    pub fn shadow_spec(&self) -> Option<ShadowSpec> {
        self.shadow.lock().as_ref().map(|s| s.spec().clone())
    }
}

/// Why an experiment or shadow request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error("invalid experiment: {0}")]
    Invalid(String),
    #[error("namespace {0:?} has no experiment running")]
    NotRunning(String),
    #[error("no arm named {0:?} in the running experiment")]
    UnknownArm(String),
    #[error("invalid shadow evaluation: {0}")]
    InvalidShadow(String),
    #[error("namespace {0:?} has no shadow evaluation running")]
    NoShadow(String),
}

impl ExperimentError {
    /// Stable snake_case code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Namespace(e) => e.code(),
            Self::Invalid(_) => "invalid_experiment",
            Self::NotRunning(_) => "no_experiment",
            Self::UnknownArm(_) => "unknown_arm",
            Self::InvalidShadow(_) => "invalid_shadow",
            Self::NoShadow(_) => "no_shadow",
        }
    }
}
