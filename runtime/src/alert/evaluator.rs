//! The alert state machine: judges every rule against the [`History`] on each tick and turns
//! changes into [`Notification`]s.
//!
//! An alert is identified by (rule, namespace). It is *firing* from the first tick the condition
//! breaches; further breaching ticks only refresh its value (no new notification). It *resolves*
//! on the first tick at which the condition has been clear for the rule's cool-down since its last
//! breach, and moves to the bounded list of recent alerts. So each alert produces exactly two
//! notifications, however much its condition flaps inside the cool-down.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use utoipa::ToSchema;

use super::AlertError;
use super::history::{History, Sample};
use super::notifier::Notification;
use super::rule::{AlertCondition, AlertRule, Severity};
use crate::Namespaces;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Resolved,
}

/// One alert: a rule breaching on one namespace. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Alert {
    pub rule: String,
    /// The namespace it is about; for a cluster condition, the member (`member <id>`) or
    /// replica (`replica <id>`).
    pub namespace: String,
    pub severity: Severity,
    pub state: AlertState,
    /// What was observed at the last breach, in words.
    pub summary: String,
    /// The observed value at the last breach (a ratio between 0 and 1).
    pub value: f64,
    pub threshold: f64,
    pub started_at_ms: u64,
    pub last_breach_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<u64>,
}

/// What `GET /v1/alerts` returns: firing alerts, and resolved ones newest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertList {
    pub active: Vec<Alert>,
    pub recent: Vec<Alert>,
}

/// What the cluster looks like on one tick, for the cluster conditions (none on a single node).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterSignals {
    /// Members the cluster has failed, by id; only the raft leader reports them (so one node
    /// notifies), everyone else reports none.
    pub failed_members: Vec<String>,
    /// Changes this node queued for each replica and that are not confirmed yet, by replica id.
    pub backlogs: Vec<(String, u64)>,
}

/// A rule's judgement of one namespace on one tick.
enum Verdict {
    Breach(f64),
    Clear,
}

pub struct Evaluator {
    rules: Vec<AlertRule>,
    active: BTreeMap<(String, String), Alert>,
    recent: VecDeque<Alert>,
    recent_limit: usize,
    history: History,
    /// Notifications produced outside a tick (a rule deleted while firing), sent with the next.
    pending: Vec<Notification>,
    /// Since when each (rule, subject) of a cluster condition has breached without a break.
    breaching_since: BTreeMap<(String, String), u64>,
}

impl Evaluator {
    pub fn new(recent_limit: usize) -> Self {
        Self {
            rules: Vec::new(),
            active: BTreeMap::new(),
            recent: VecDeque::new(),
            recent_limit,
            history: History::default(),
            pending: Vec::new(),
            breaching_since: BTreeMap::new(),
        }
    }

    pub fn rules(&self) -> &[AlertRule] {
        &self.rules
    }

    /// Add a rule after validating it. A rule naming a namespace needs that namespace to exist, so
    /// a typo is an error now rather than an alert that silently never fires.
    pub fn add_rule(&mut self, rule: AlertRule, namespaces: &Namespaces) -> Result<(), AlertError> {
        rule.validate()?;
        if self.rules.iter().any(|r| r.name == rule.name) {
            return Err(AlertError::DuplicateRule(rule.name));
        }
        if let Some(ns) = &rule.namespace
            && namespaces.get(ns).is_err()
        {
            return Err(AlertError::UnknownNamespace(ns.clone()));
        }
        self.rules.push(rule);
        self.update_keep();
        Ok(())
    }

    /// Remove a rule; its firing alerts resolve (and notify so) on the next tick.
    pub fn remove_rule(&mut self, name: &str, now_ms: u64) -> Result<AlertRule, AlertError> {
        let at = self
            .rules
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| AlertError::UnknownRule(name.to_string()))?;
        let rule = self.rules.remove(at);
        let keys: Vec<_> = self
            .active
            .keys()
            .filter(|(r, _)| r == name)
            .cloned()
            .collect();
        for key in keys {
            if let Some(mut alert) = self.active.remove(&key) {
                alert.summary = format!("rule deleted; last: {}", alert.summary);
                self.resolve(alert, now_ms);
            }
        }
        self.update_keep();
        Ok(rule)
    }

    pub fn list(&self) -> AlertList {
        AlertList {
            active: self.active.values().cloned().collect(),
            recent: self.recent.iter().cloned().collect(),
        }
    }

    /// One tick: sample every namespace, judge every rule, return what must be announced.
    pub fn evaluate(&mut self, now_ms: u64, namespaces: &Namespaces) -> Vec<Notification> {
        self.evaluate_with(now_ms, namespaces, &ClusterSignals::default())
    }

    /// [`Evaluator::evaluate`] with the cluster's signals for the cluster conditions.
    pub fn evaluate_with(
        &mut self,
        now_ms: u64,
        namespaces: &Namespaces,
        cluster: &ClusterSignals,
    ) -> Vec<Notification> {
        let live: Vec<String> = namespaces
            .list()
            .into_iter()
            .map(|ns| {
                self.history
                    .record(ns.name(), Sample::from_stats(now_ms, &ns.store().stats()));
                ns.name().to_string()
            })
            .collect();
        self.history.retain(|name| live.iter().any(|l| l == name));

        for i in 0..self.rules.len() {
            let rule = self.rules[i].clone();
            if rule.condition.is_cluster() {
                self.judge_cluster(&rule, cluster, now_ms);
                continue;
            }
            let mut subjects: Vec<String> = match (&rule.namespace, rule.owner()) {
                (Some(ns), _) => live.iter().filter(|l| *l == ns).cloned().collect(),
                (None, None) => live.clone(),
                // A tenant's "every namespace" is every namespace of its own.
                (None, Some(owner)) => live
                    .iter()
                    .filter(|l| crate::tenant::split(l).0 == Some(owner))
                    .cloned()
                    .collect(),
            };
            // A namespace deleted under a firing alert is judged clear, so the alert resolves.
            for (r, ns) in self.active.keys() {
                if *r == rule.name && !subjects.contains(ns) {
                    subjects.push(ns.clone());
                }
            }
            for ns in subjects {
                let verdict = self.judge(&rule, &ns, now_ms);
                self.apply(&rule, ns, verdict, now_ms);
            }
        }
        std::mem::take(&mut self.pending)
    }

    /// Judge a cluster condition: each member or replica it is about is a subject, breaching
    /// once its signal has been bad for the whole window.
    fn judge_cluster(&mut self, rule: &AlertRule, cluster: &ClusterSignals, now_ms: u64) {
        let bad: Vec<(String, f64)> = match &rule.condition {
            AlertCondition::MemberDown {} => cluster
                .failed_members
                .iter()
                .map(|m| (format!("member {m}"), 1.0))
                .collect(),
            AlertCondition::ReplicationBacklogAbove { changes } => cluster
                .backlogs
                .iter()
                .filter(|(_, queued)| queued > changes)
                .map(|(r, queued)| (format!("replica {r}"), *queued as f64))
                .collect(),
            _ => Vec::new(),
        };
        self.breaching_since
            .retain(|(r, subject), _| *r != rule.name || bad.iter().any(|(s, _)| s == subject));
        let mut subjects: Vec<String> = bad.iter().map(|(s, _)| s.clone()).collect();
        for (r, subject) in self.active.keys() {
            if *r == rule.name && !subjects.contains(subject) {
                subjects.push(subject.clone());
            }
        }
        for subject in subjects {
            let verdict = match bad.iter().find(|(s, _)| *s == subject) {
                Some((_, value)) => {
                    let since = *self
                        .breaching_since
                        .entry((rule.name.clone(), subject.clone()))
                        .or_insert(now_ms);
                    if now_ms.saturating_sub(since) >= rule.window_ms() {
                        Verdict::Breach(*value)
                    } else {
                        Verdict::Clear
                    }
                }
                None => Verdict::Clear,
            };
            self.apply(rule, subject, verdict, now_ms);
        }
    }

    fn judge(&self, rule: &AlertRule, namespace: &str, now_ms: u64) -> Verdict {
        let window = rule.window_ms();
        match &rule.condition {
            AlertCondition::HitRatioBelow {
                threshold,
                min_reads,
            } => match self.history.hit_ratio(namespace, now_ms, window) {
                Some(w) if w.reads >= *min_reads && w.ratio < *threshold => {
                    Verdict::Breach(w.ratio)
                }
                _ => Verdict::Clear,
            },
            AlertCondition::MemoryAbove { share } => {
                match self.history.min_memory_share(namespace, now_ms, window) {
                    Some(used) if used > *share => Verdict::Breach(used),
                    _ => Verdict::Clear,
                }
            }
            // Judged in `judge_cluster`.
            AlertCondition::MemberDown {} | AlertCondition::ReplicationBacklogAbove { .. } => {
                Verdict::Clear
            }
        }
    }

    fn apply(&mut self, rule: &AlertRule, namespace: String, verdict: Verdict, now_ms: u64) {
        let key = (rule.name.clone(), namespace);
        match verdict {
            Verdict::Breach(value) => {
                let summary = rule.condition.describe(value, rule.window_secs);
                if let Some(alert) = self.active.get_mut(&key) {
                    alert.value = value;
                    alert.summary = summary;
                    alert.last_breach_at_ms = now_ms;
                    return;
                }
                let alert = Alert {
                    rule: rule.name.clone(),
                    namespace: key.1.clone(),
                    severity: rule.severity,
                    state: AlertState::Firing,
                    summary,
                    value,
                    threshold: rule.condition.threshold(),
                    started_at_ms: now_ms,
                    last_breach_at_ms: now_ms,
                    resolved_at_ms: None,
                };
                self.pending.push(Notification::new(alert.clone()));
                self.active.insert(key, alert);
            }
            Verdict::Clear => {
                let cooled = self.active.get(&key).is_some_and(|a| {
                    now_ms.saturating_sub(a.last_breach_at_ms) >= rule.cooldown_ms()
                });
                if cooled && let Some(alert) = self.active.remove(&key) {
                    self.resolve(alert, now_ms);
                }
            }
        }
    }

    fn resolve(&mut self, mut alert: Alert, now_ms: u64) {
        alert.state = AlertState::Resolved;
        alert.resolved_at_ms = Some(now_ms);
        self.pending.push(Notification::new(alert.clone()));
        self.recent.push_front(alert);
        self.recent.truncate(self.recent_limit);
    }

    fn update_keep(&mut self) {
        let longest = self
            .rules
            .iter()
            .map(AlertRule::window_ms)
            .max()
            .unwrap_or(0);
        self.history.set_keep_ms(longest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NamespaceConfig;

    fn rule(json: &str) -> AlertRule {
        serde_json::from_str(json).unwrap()
    }

    fn signals(failed: &[&str], backlogs: &[(&str, u64)]) -> ClusterSignals {
        ClusterSignals {
            failed_members: failed.iter().map(|s| s.to_string()).collect(),
            backlogs: backlogs.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn a_member_down_for_the_window_fires_once_and_resolves_when_it_is_back() {
        let namespaces = Namespaces::new(NamespaceConfig::default()).unwrap();
        let mut e = Evaluator::new(10);
        e.add_rule(
            rule(r#"{"name":"down","condition":{"kind":"member_down"},"window_secs":2,"cooldown_secs":0}"#),
            &namespaces,
        )
        .unwrap();
        let down = signals(&["00000000000000aa"], &[]);
        assert!(
            e.evaluate_with(0, &namespaces, &down).is_empty(),
            "not for the window yet"
        );
        assert!(e.evaluate_with(1_000, &namespaces, &down).is_empty());
        let fired = e.evaluate_with(2_000, &namespaces, &down);
        assert_eq!(fired.len(), 1);
        let alert = &e.list().active[0];
        assert_eq!(
            (alert.namespace.as_str(), alert.state),
            ("member 00000000000000aa", AlertState::Firing)
        );
        assert!(
            e.evaluate_with(3_000, &namespaces, &down).is_empty(),
            "no repeat"
        );
        let back = e.evaluate_with(4_000, &namespaces, &ClusterSignals::default());
        assert_eq!(back.len(), 1);
        assert!(e.list().active.is_empty());
        assert_eq!(e.list().recent[0].state, AlertState::Resolved);
        // A failure shorter than the window never fires.
        assert!(e.evaluate_with(5_000, &namespaces, &down).is_empty());
        assert!(
            e.evaluate_with(6_000, &namespaces, &ClusterSignals::default())
                .is_empty()
        );
        assert!(e.evaluate_with(8_000, &namespaces, &down).is_empty());
    }

    #[test]
    fn a_backlog_above_the_threshold_for_the_window_fires_per_replica() {
        let namespaces = Namespaces::new(NamespaceConfig::default()).unwrap();
        let mut e = Evaluator::new(10);
        e.add_rule(
            rule(r#"{"name":"lag","condition":{"kind":"replication_backlog_above","changes":100},"window_secs":1,"cooldown_secs":0}"#),
            &namespaces,
        )
        .unwrap();
        let lagging = signals(&[], &[("r1", 500), ("r2", 100)]);
        assert!(e.evaluate_with(0, &namespaces, &lagging).is_empty());
        let fired = e.evaluate_with(1_000, &namespaces, &lagging);
        assert_eq!(fired.len(), 1, "r2 is at the threshold, not above it");
        let alert = &e.list().active[0];
        assert_eq!(alert.namespace, "replica r1");
        assert_eq!(alert.value, 500.0);
        assert!(alert.summary.contains("500 changes"), "{}", alert.summary);
        let caught_up = signals(&[], &[("r1", 3)]);
        assert_eq!(e.evaluate_with(2_000, &namespaces, &caught_up).len(), 1);
        assert!(e.list().active.is_empty());
    }

    #[test]
    fn a_tenants_rule_without_a_namespace_watches_only_the_tenants_namespaces() {
        let namespaces = Namespaces::new(NamespaceConfig::default()).unwrap();
        for name in ["default", "acme/default", "acme/carts", "other/default"] {
            if name != "default" {
                namespaces.create(name, NamespaceConfig::default()).unwrap();
            }
            namespaces
                .get(name)
                .unwrap()
                .store()
                .set(b"k", b"v", crate::SetOptions::default())
                .unwrap();
        }
        let mut e = Evaluator::new(10);
        let full = r#"{"condition":{"kind":"memory_above","share":0.0},"window_secs":1}"#;
        let named = |name: &str| rule(&full.replacen('{', &format!(r#"{{"name":"{name}","#), 1));
        e.add_rule(named("acme/any"), &namespaces).unwrap();
        e.add_rule(named("all"), &namespaces).unwrap();
        for at in [0, 500, 1_000, 1_500] {
            e.evaluate(at, &namespaces);
        }
        let watched = |rule: &str| -> Vec<String> {
            e.list()
                .active
                .iter()
                .filter(|a| a.rule == rule)
                .map(|a| a.namespace.clone())
                .collect()
        };
        assert_eq!(watched("acme/any"), ["acme/carts", "acme/default"]);
        assert_eq!(
            watched("all"),
            ["acme/carts", "acme/default", "default", "other/default"],
            "an operator's rule watches every namespace, tenants' included"
        );
    }

    #[test]
    fn a_cluster_condition_ignores_the_namespace() {
        let namespaces = Namespaces::new(NamespaceConfig::default()).unwrap();
        let mut e = Evaluator::new(10);
        e.add_rule(
            rule(r#"{"name":"down","namespace":"default","condition":{"kind":"member_down"},"window_secs":1}"#),
            &namespaces,
        )
        .unwrap();
        let down = signals(&["ab"], &[]);
        e.evaluate_with(0, &namespaces, &down);
        assert_eq!(e.evaluate_with(1_000, &namespaces, &down).len(), 1);
        assert_eq!(e.list().active[0].namespace, "member ab");
    }
}
