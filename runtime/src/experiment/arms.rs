//! Arms and their assignment: which shards — and so which keys — each arm serves.
//!
//! A namespace's keys are already spread over its shards by key hash, and each shard has its own
//! policy instance and an equal share of the capacity. An experiment therefore gives whole shards
//! to arms: an arm with weight `w` out of a total `W` gets `w/W` of the shards. That makes the split
//! sticky by key hash (a key's shard never changes), gives each arm exactly its share of the
//! capacity, and costs the request path nothing — a key's arm is simply its shard's policy.
//!
//! The price is granularity: weights must divide the shard count evenly, and each arm needs at
//! least [`MIN_SHARDS_PER_ARM`] shards so one unusually hot shard cannot decide the result alone.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ExperimentError;
use crate::plugin::PolicyRef;
use crate::policy::BuiltinPolicy;

/// Fewer shards than this per arm and a single hot shard could swing an arm's numbers.
pub const MIN_SHARDS_PER_ARM: usize = 2;
const MAX_ARMS: usize = 16;
const MAX_ARM_NAME: usize = 64;

/// One arm of an experiment: a policy set and its traffic weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArmSpec {
    /// Label shown in reports and metrics (`[A-Za-z0-9_.-]`, up to 64 characters).
    #[schema(example = "s3fifo")]
    pub name: String,
    /// Eviction policy: a built-in (`adaptive`, `s3fifo`, `lru`, `sieve`, `wtinylfu`, `fifo`) or
    /// `plugin:<version id>`.
    #[schema(value_type = String, example = "s3fifo")]
    pub eviction: PolicyRef,
    /// Built-in that stands in while an eviction plugin is quarantined (default: the default
    /// built-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "lru")]
    pub eviction_fallback: Option<BuiltinPolicy>,
    /// Admission hook for this arm's keys (`plugin:<version id>`); absent: the namespace's own
    /// admission hook, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "plugin:3f2a…")]
    pub admission: Option<PolicyRef>,
    /// Share of the keys (and the capacity) relative to the other arms' weights.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// The body of `PUT /v1/namespaces/{ns}/experiment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Two or more arms with distinct names.
    pub arms: Vec<ArmSpec>,
}

impl ExperimentSpec {
    /// Check the arms and split `shard_count` shards between them by weight; the result lists each
    /// arm's shard indices, in arm order.
    pub fn assign(&self, shard_count: usize) -> Result<Vec<Vec<usize>>, ExperimentError> {
        let bad = |reason: String| Err(ExperimentError::Invalid(reason));
        if self.arms.len() < 2 || self.arms.len() > MAX_ARMS {
            return bad(format!(
                "an experiment needs 2 to {MAX_ARMS} arms, got {}",
                self.arms.len()
            ));
        }
        for (i, arm) in self.arms.iter().enumerate() {
            let ok = !arm.name.is_empty()
                && arm.name.len() <= MAX_ARM_NAME
                && arm
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !ok {
                return bad(format!(
                    "arm name {:?}: use 1 to {MAX_ARM_NAME} characters from A-Z, a-z, 0-9, '_', '-', '.'",
                    arm.name
                ));
            }
            if self.arms[..i].iter().any(|a| a.name == arm.name) {
                return bad(format!("two arms are named {:?}", arm.name));
            }
            if let Some(PolicyRef::Builtin(b)) = &arm.admission {
                return bad(format!(
                    "arm {:?}: {b} is an eviction policy; admission takes plugin:<version id>",
                    arm.name
                ));
            }
            if arm.weight == 0 {
                return bad(format!(
                    "arm {:?} has weight 0; weights must be at least 1",
                    arm.name
                ));
            }
        }
        let total: u64 = self.arms.iter().map(|a| u64::from(a.weight)).sum();
        let needed = self.arms.len() * MIN_SHARDS_PER_ARM;
        if shard_count < needed {
            return bad(format!(
                "the namespace has {shard_count} shards; {} arms need at least {needed} \
                 ({MIN_SHARDS_PER_ARM} per arm). Create the namespace with more shards",
                self.arms.len()
            ));
        }
        let mut next = 0;
        let mut out = Vec::with_capacity(self.arms.len());
        for arm in &self.arms {
            let share = u64::from(arm.weight) * shard_count as u64;
            if !share.is_multiple_of(total) {
                return bad(format!(
                    "weights {} cannot be expressed with the namespace's {shard_count} shards: each \
                     arm gets whole shards, so weight / total weight × {shard_count} must be a whole \
                     number (e.g. equal weights, or 1:3 with 4, 8 or 16 shards)",
                    self.weights()
                ));
            }
            let n = (share / total) as usize;
            if n < MIN_SHARDS_PER_ARM {
                return bad(format!(
                    "arm {:?} would get {n} of {shard_count} shards; every arm needs at least \
                     {MIN_SHARDS_PER_ARM}. Raise its weight or use a namespace with more shards",
                    arm.name
                ));
            }
            out.push((next..next + n).collect());
            next += n;
        }
        Ok(out)
    }

    fn weights(&self) -> String {
        self.arms
            .iter()
            .map(|a| a.weight.to_string())
            .collect::<Vec<_>>()
            .join(":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(weights: &[u32]) -> ExperimentSpec {
        ExperimentSpec {
            arms: weights
                .iter()
                .enumerate()
                .map(|(i, &w)| ArmSpec {
                    name: format!("arm{i}"),
                    eviction: BuiltinPolicy::Lru.into(),
                    eviction_fallback: None,
                    admission: None,
                    weight: w,
                })
                .collect(),
        }
    }

    #[test]
    fn weights_become_whole_shards() {
        assert_eq!(
            spec(&[1, 1]).assign(8).ok(),
            Some(vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]])
        );
        assert_eq!(
            spec(&[1, 3]).assign(8).ok(),
            Some(vec![vec![0, 1], vec![2, 3, 4, 5, 6, 7]])
        );
    }

    #[test]
    fn inexpressible_weights_and_thin_arms_are_refused_with_a_reason() {
        let err = |w: &[u32], n| match spec(w).assign(n) {
            Err(ExperimentError::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(&[1, 2], 16).contains("whole shards"));
        assert!(err(&[1, 3], 4).contains("at least 2"));
        assert!(err(&[1, 1], 2).contains("at least 4"));
        assert!(err(&[1], 16).contains("2 to"));
        assert!(err(&[0, 1], 16).contains("weight 0"));
        let mut builtin_admission = spec(&[1, 1]);
        builtin_admission.arms[0].admission = Some(BuiltinPolicy::Lru.into());
        assert!(
            matches!(builtin_admission.assign(8), Err(ExperimentError::Invalid(m)) if m.contains("admission"))
        );
    }
}
