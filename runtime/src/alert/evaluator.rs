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
            let mut subjects: Vec<String> = match &rule.namespace {
                Some(ns) => live.iter().filter(|l| *l == ns).cloned().collect(),
                None => live.clone(),
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
