//! What an operator or a tenant asks to be told about: [`AlertRule`] = a condition over one
//! namespace (or all of them), judged over a window, with a severity and a cool-down.
//!
//! A tenant's rules are named like its namespaces: the tenant `acme`'s rule `cold` is the rule
//! `acme/cold` to the engine, the catalog and the operator ([`AlertRule::owner`]). Such a rule
//! watches only `acme`'s namespaces, cannot watch the cluster, and notifies only its own
//! [`AlertRule::webhook`]: the node's notifiers are the operator's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AlertError;

const MAX_NAME_LEN: usize = 64;
/// A week: longer windows would keep samples for no benefit anyone asked for.
const MAX_WINDOW_SECS: u64 = 7 * 24 * 3600;

/// How loudly an alert speaks. Carried into every notification so receivers can route on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// The signal a rule watches, and when it counts as a breach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertCondition {
    /// hits / (hits + misses) over the window is below `threshold` (0..=1). Windows with fewer
    /// than `min_reads` reads are not judged: a ratio over three reads is noise, not a signal.
    HitRatioBelow {
        threshold: f64,
        #[serde(default = "default_min_reads")]
        min_reads: u64,
    },
    /// Bytes in use stayed above `share` (0..=1) of the namespace's capacity for the whole window.
    MemoryAbove { share: f64 },
    /// A cluster member has been failed (silent past the node timeout) for the whole window.
    /// Judged by the raft leader only, so one notification goes out per member, and about the
    /// member (`member <id>` where a namespace would be); the rule's `namespace` plays no part.
    MemberDown {},
    /// More than `changes` changes have waited for one replica, on the node that owns their
    /// slots, for the whole window (a slow or cut-off replica). Each owner judges its own
    /// queues; the alert is about the replica (`replica <id>`).
    ReplicationBacklogAbove { changes: u64 },
}

fn default_min_reads() -> u64 {
    100
}

impl AlertCondition {
    /// The number the observed value is compared with, for display.
    pub fn threshold(&self) -> f64 {
        match self {
            Self::HitRatioBelow { threshold, .. } => *threshold,
            Self::MemoryAbove { share } => *share,
            Self::MemberDown {} => 0.0,
            Self::ReplicationBacklogAbove { changes } => *changes as f64,
        }
    }

    /// Whether the condition watches the cluster rather than namespaces.
    pub fn is_cluster(&self) -> bool {
        matches!(
            self,
            Self::MemberDown {} | Self::ReplicationBacklogAbove { .. }
        )
    }

    /// One line a human reads in a notification, e.g. "hit ratio 12.0% below 50.0% over 60s".
    pub fn describe(&self, value: f64, window_secs: u64) -> String {
        match self {
            Self::HitRatioBelow { threshold, .. } => format!(
                "hit ratio {:.1}% below {:.1}% over {window_secs}s",
                value * 100.0,
                threshold * 100.0
            ),
            Self::MemoryAbove { share } => format!(
                "memory {:.1}% of capacity, above {:.1}% for {window_secs}s",
                value * 100.0,
                share * 100.0
            ),
            Self::MemberDown {} => {
                format!("cluster member failed (silent past the node timeout) for {window_secs}s")
            }
            Self::ReplicationBacklogAbove { changes } => format!(
                "{value:.0} changes waiting for the replica, above {changes} for {window_secs}s"
            ),
        }
    }
}

/// One alert rule. Serialised as JSON by the admin API and as TOML in the server config:
///
/// ```json
/// {"name": "sessions-cold", "namespace": "sessions",
///  "condition": {"kind": "hit_ratio_below", "threshold": 0.5, "min_reads": 100},
///  "severity": "critical", "window_secs": 300, "cooldown_secs": 600}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Unique among rules; letters, digits, `-`, `_` and `.`, at most 64 characters.
    pub name: String,
    /// The namespace watched; omitted means every namespace, each alerting on its own. The
    /// cluster conditions (`member_down`, `replication_backlog_above`) watch members and
    /// replicas and ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub condition: AlertCondition,
    #[serde(default)]
    pub severity: Severity,
    /// The span the condition is judged over, in seconds (at least 1).
    #[serde(default = "default_window_secs")]
    pub window_secs: u64,
    /// How long the condition must stay clear before a firing alert resolves, in seconds. A breach
    /// inside the cool-down continues the same alert instead of starting a new one.
    #[serde(default = "default_cooldown_secs")]
    pub cooldown_secs: u64,
    /// An `http(s)` URL this rule's notifications are also POSTed to, as the alert's JSON (the
    /// generic webhook format), at most 20 a minute. A tenant's rule notifies only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://hooks.example.com/larder")]
    pub webhook: Option<String>,
}

fn default_window_secs() -> u64 {
    300
}
fn default_cooldown_secs() -> u64 {
    300
}

impl AlertRule {
    /// The tenant whose rule this is (`acme` for `acme/cold`); `None` for an operator's rule.
    pub fn owner(&self) -> Option<&str> {
        crate::tenant::split(&self.name).0
    }

    /// The name without its owner: what the owning tenant calls the rule.
    pub fn own_name(&self) -> &str {
        crate::tenant::split(&self.name).1
    }

    /// Reject rules that could never be evaluated sensibly, naming the field.
    pub fn validate(&self) -> Result<(), AlertError> {
        let bad = |field, reason: &str| {
            Err(AlertError::InvalidRule {
                field,
                reason: reason.to_string(),
            })
        };
        let own = self.own_name();
        if own.is_empty() || own.len() > MAX_NAME_LEN {
            return bad("name", "must be 1 to 64 characters");
        }
        if !own
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return bad("name", "may contain only letters, digits, '-', '_' and '.'");
        }
        if let Some(owner) = self.owner() {
            if !crate::tenant::valid_tenant_name(owner) {
                return bad(
                    "name",
                    "a tenant's rule is named tenant/rule, with a valid tenant name",
                );
            }
            if self.condition.is_cluster() {
                return bad(
                    "condition.kind",
                    "watches the cluster, which only an operator's rule may do",
                );
            }
            if let Some(ns) = &self.namespace
                && crate::tenant::split(ns).0 != Some(owner)
            {
                return bad(
                    "namespace",
                    "a tenant's rule watches only the tenant's own namespaces",
                );
            }
        }
        if self.namespace.as_deref() == Some("") {
            return bad(
                "namespace",
                "must not be empty; omit it to watch every namespace",
            );
        }
        if let Some(url) = &self.webhook {
            let parsed = reqwest::Url::parse(url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return bad("webhook", "must be an http:// or https:// URL");
            }
        }
        if self.window_secs == 0 || self.window_secs > MAX_WINDOW_SECS {
            return bad("window_secs", "must be between 1 and 604800 (a week)");
        }
        if self.cooldown_secs > MAX_WINDOW_SECS {
            return bad("cooldown_secs", "must be at most 604800 (a week)");
        }
        let unit = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        match &self.condition {
            AlertCondition::HitRatioBelow { threshold, .. } if !unit(*threshold) => {
                bad("condition.threshold", "must be a ratio between 0 and 1")
            }
            AlertCondition::MemoryAbove { share } if !unit(*share) => {
                bad("condition.share", "must be a ratio between 0 and 1")
            }
            _ => Ok(()),
        }
    }

    pub fn window_ms(&self) -> u64 {
        self.window_secs * 1000
    }

    pub fn cooldown_ms(&self) -> u64 {
        self.cooldown_secs * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> Result<AlertRule, String> {
        serde_json::from_str::<AlertRule>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_a_full_rule_and_fills_defaults() {
        let r = rule(r#"{"name":"cold","condition":{"kind":"hit_ratio_below","threshold":0.5}}"#)
            .unwrap();
        assert_eq!(r.namespace, None);
        assert_eq!(r.severity, Severity::Warning);
        assert_eq!(
            r.condition,
            AlertCondition::HitRatioBelow {
                threshold: 0.5,
                min_reads: 100
            }
        );
        assert!(r.validate().is_ok());
    }

    #[test]
    fn rejects_unknown_fields_and_kinds() {
        assert!(rule(r#"{"name":"a","condition":{"kind":"nope"}}"#).is_err());
        assert!(
            rule(r#"{"name":"a","condition":{"kind":"memory_above","share":0.5,"x":1}}"#).is_err()
        );
        assert!(
            rule(r#"{"name":"a","colour":1,"condition":{"kind":"memory_above","share":0.5}}"#)
                .is_err()
        );
    }

    #[test]
    fn a_tenants_rule_stays_inside_the_tenant() {
        let ok = rule(
            r#"{"name":"acme/cold","namespace":"acme/carts","condition":{"kind":"memory_above","share":0.5}}"#,
        )
        .unwrap();
        assert_eq!((ok.owner(), ok.own_name()), (Some("acme"), "cold"));
        assert!(ok.validate().is_ok());
        let field = |json: &str| match rule(json).unwrap().validate() {
            Err(AlertError::InvalidRule { field, .. }) => field,
            other => panic!("expected invalid rule, got {other:?}"),
        };
        assert_eq!(
            field(
                r#"{"name":"acme/cold","namespace":"other/carts","condition":{"kind":"memory_above","share":0.5}}"#
            ),
            "namespace"
        );
        assert_eq!(
            field(
                r#"{"name":"acme/cold","namespace":"carts","condition":{"kind":"memory_above","share":0.5}}"#
            ),
            "namespace"
        );
        assert_eq!(
            field(r#"{"name":"acme/down","condition":{"kind":"member_down"}}"#),
            "condition.kind"
        );
        assert_eq!(
            field(r#"{"name":"Acme/cold","condition":{"kind":"memory_above","share":0.5}}"#),
            "name"
        );
        assert_eq!(
            field(r#"{"name":"a/b/c","condition":{"kind":"memory_above","share":0.5}}"#),
            "name"
        );
        assert_eq!(
            field(
                r#"{"name":"x","webhook":"ftp://example.com/","condition":{"kind":"memory_above","share":0.5}}"#
            ),
            "webhook"
        );
    }

    #[test]
    fn validation_names_the_bad_field() {
        let base = rule(r#"{"name":"a","condition":{"kind":"memory_above","share":0.5}}"#).unwrap();
        let field = |r: AlertRule| match r.validate() {
            Err(AlertError::InvalidRule { field, .. }) => field,
            other => panic!("expected invalid rule, got {other:?}"),
        };
        assert_eq!(
            field(AlertRule {
                name: "a b".into(),
                ..base.clone()
            }),
            "name"
        );
        assert_eq!(
            field(AlertRule {
                window_secs: 0,
                ..base.clone()
            }),
            "window_secs"
        );
        assert_eq!(
            field(AlertRule {
                namespace: Some(String::new()),
                ..base.clone()
            }),
            "namespace"
        );
        let share = AlertCondition::MemoryAbove { share: 1.5 };
        assert_eq!(
            field(AlertRule {
                condition: share,
                ..base.clone()
            }),
            "condition.share"
        );
        let ratio = AlertCondition::HitRatioBelow {
            threshold: f64::NAN,
            min_reads: 1,
        };
        assert_eq!(
            field(AlertRule {
                condition: ratio,
                ..base
            }),
            "condition.threshold"
        );
    }
}
