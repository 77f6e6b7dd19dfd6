//! Running a simulation: every policy at every capacity over one trace, plus Belady's bound.

use std::sync::Arc;

use super::SimError;
use super::belady::{BeladyVariant, belady_variant, is_exact};
use super::capacity::CapacitySpec;
use super::replay::replay;
use super::report::{CapacityResult, PolicyResult, SimReport, TraceSummary};
use super::trace::Trace;
use crate::policy::{BuiltinPolicy, EvictionPolicy};

/// Builds a fresh policy instance for a capacity (objects or bytes, whichever the replay charges).
pub type PolicyFactory = Arc<dyn Fn(u64) -> Result<Box<dyn EvictionPolicy>, String> + Send + Sync>;

/// A policy to simulate: a built-in one, or anything else that can build an [`EvictionPolicy`]
/// (a WebAssembly plugin, an experimental policy in a test).
#[derive(Clone)]
pub struct SimPolicy {
    name: String,
    source: PolicySource,
    fault_count: Option<FaultCount>,
}

/// A running total of a policy's faults (plugin traps, missed deadlines, invalid answers).
pub type FaultCount = Arc<dyn Fn() -> u64 + Send + Sync>;

#[derive(Clone)]
enum PolicySource {
    Builtin(BuiltinPolicy),
    Factory(PolicyFactory),
}

impl SimPolicy {
    /// A built-in policy, built through [`BuiltinPolicy::build`] as the server builds it.
    pub fn builtin(policy: BuiltinPolicy) -> Self {
        Self {
            name: policy.as_str().to_string(),
            source: PolicySource::Builtin(policy),
            fault_count: None,
        }
    }

    /// Any policy, shown as `name`.
    pub fn custom(name: impl Into<String>, factory: PolicyFactory) -> Self {
        Self {
            name: name.into(),
            source: PolicySource::Factory(factory),
            fault_count: None,
        }
    }

    /// Report, per replay, how much `faults` (a running total) grew: a plugin that faults is
    /// partly served by its fallback, and its result must say so.
    pub fn with_fault_count(mut self, faults: FaultCount) -> Self {
        self.fault_count = Some(faults);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, SimError> {
        match &self.source {
            PolicySource::Builtin(p) => Ok(p.build(capacity)),
            PolicySource::Factory(f) => f(capacity).map_err(|message| SimError::Policy {
                policy: self.name.clone(),
                message,
            }),
        }
    }
}

impl std::fmt::Debug for SimPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPolicy")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub capacities: Vec<CapacitySpec>,
    pub policies: Vec<SimPolicy>,
    /// Also compute this variant of Belady's MIN (and, with it, each policy's gap closed from
    /// LRU). LRU is added to the policies when missing, because the gap is measured from it.
    pub belady: Option<BeladyVariant>,
}

impl Simulation {
    /// Replay `trace` (named `trace_name` in the report) through every policy at every capacity.
    ///
    /// Runs are sequential so each one's requests/s is measured on an otherwise idle core.
    pub fn run(&self, trace_name: &str, trace: &Trace) -> Result<SimReport, SimError> {
        let mut policies = self.policies.clone();
        if self.belady.is_some()
            && !policies
                .iter()
                .any(|p| p.name() == BuiltinPolicy::Lru.as_str())
        {
            policies.insert(0, SimPolicy::builtin(BuiltinPolicy::Lru));
        }
        let mut capacities = Vec::with_capacity(self.capacities.len());
        for &spec in &self.capacities {
            let capacity = spec.resolve(trace);
            let mut result = CapacityResult::new(spec, capacity);
            for policy in &policies {
                let faults_before = policy.fault_count.as_ref().map(|f| f());
                let mut instance = policy.build(capacity.amount())?;
                let outcome = replay(trace, capacity, instance.as_mut());
                drop(instance);
                let mut row = PolicyResult::from_outcome(policy.name(), &outcome);
                if let (Some(before), Some(count)) = (faults_before, &policy.fault_count) {
                    row.plugin_faults = Some(count().saturating_sub(before));
                }
                result.policies.push(row);
            }
            if let Some(variant) = self.belady {
                let outcome = belady_variant(trace, capacity, variant);
                let mut row = PolicyResult::from_outcome(variant.name(), &outcome);
                row.exact = Some(is_exact(capacity));
                result.belady = Some(row);
            }
            result.compute_gaps();
            capacities.push(result);
        }
        Ok(SimReport {
            trace: TraceSummary::of(trace_name, trace),
            capacities,
        })
    }
}
