//! [`AlertEngine`]: rules, state and notifiers behind one handle the server shares, plus the loop
//! that ticks it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::AlertError;
use super::config::AlertsConfig;
use super::dispatch::RULE_WEBHOOK_PER_MINUTE;
use super::dispatch::{Dispatcher, NotifierStatus};
use super::evaluator::{AlertList, ClusterSignals, Evaluator};
use super::notifier::{Notifier, NotifierConfig, WebhookFormat};
use super::rule::AlertRule;
use crate::Namespaces;

/// Milliseconds since the Unix epoch: alerts carry wall-clock times because people read them.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Reads the cluster's signals on every tick (set by a cluster member).
pub type ClusterProbe = Box<dyn Fn() -> ClusterSignals + Send + Sync>;

pub struct AlertEngine {
    namespaces: Arc<Namespaces>,
    cluster: std::sync::OnceLock<ClusterProbe>,
    evaluator: Mutex<Evaluator>,
    dispatcher: Dispatcher,
    every: Duration,
}

impl AlertEngine {
    /// Build from config: every rule and notifier is validated here, so a bad config fails at
    /// start rather than when the first alert should have gone out.
    pub fn new(config: &AlertsConfig, namespaces: Arc<Namespaces>) -> Result<Self, AlertError> {
        config.validate()?;
        let notifiers = config
            .notifiers
            .iter()
            .enumerate()
            .map(|(index, c)| {
                Notifier::from_config(c)
                    .map(|n| (n, c.max_per_minute()))
                    .map_err(|reason| AlertError::InvalidNotifier { index, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let engine = Self {
            namespaces,
            cluster: std::sync::OnceLock::new(),
            evaluator: Mutex::new(Evaluator::new(config.recent_limit)),
            dispatcher: Dispatcher::new(notifiers),
            every: Duration::from_millis(config.evaluate_every_ms),
        };
        for rule in &config.rules {
            engine.add_rule(rule.clone())?;
        }
        Ok(engine)
    }

    /// Give the cluster conditions their signals (a cluster member calls this once at start;
    /// without it they never breach).
    pub fn set_cluster_probe(&self, probe: ClusterProbe) {
        let _ = self.cluster.set(probe);
    }

    pub fn rules(&self) -> Vec<AlertRule> {
        self.evaluator.lock().rules().to_vec()
    }

    /// Add a rule (and its own webhook, if it names one).
    pub fn add_rule(&self, rule: AlertRule) -> Result<(), AlertError> {
        let hook = match &rule.webhook {
            Some(url) => Some(
                Notifier::from_config(&NotifierConfig::Webhook {
                    url: url.clone(),
                    format: WebhookFormat::Json,
                    max_per_minute: RULE_WEBHOOK_PER_MINUTE,
                })
                .map_err(|reason| AlertError::InvalidRule {
                    field: "webhook",
                    reason,
                })?,
            ),
            None => None,
        };
        let name = rule.name.clone();
        let mut evaluator = self.evaluator.lock();
        evaluator.add_rule(rule, &self.namespaces)?;
        if let Some(hook) = hook {
            self.dispatcher.set_rule_hook(&name, hook);
        }
        Ok(())
    }

    /// Remove a rule; alerts it had firing resolve, and say so, on the next tick (to the node's
    /// notifiers; its own webhook goes with it).
    pub fn remove_rule(&self, name: &str) -> Result<AlertRule, AlertError> {
        let removed = self.evaluator.lock().remove_rule(name, unix_ms())?;
        self.dispatcher.remove_rule_hook(name);
        Ok(removed)
    }

    /// Remove every rule of `tenant` (the tenant is being deleted); how many there were.
    pub fn remove_tenant_rules(&self, tenant: &str) -> usize {
        let theirs: Vec<String> = self
            .rules()
            .into_iter()
            .filter(|r| r.owner() == Some(tenant))
            .map(|r| r.name)
            .collect();
        theirs
            .iter()
            .filter(|name| self.remove_rule(name).is_ok())
            .count()
    }

    pub fn alerts(&self) -> AlertList {
        self.evaluator.lock().list()
    }

    pub fn notifiers(&self) -> Vec<NotifierStatus> {
        self.dispatcher.status()
    }

    /// Evaluate once at `now_ms` (Unix milliseconds) and deliver what changed. The loop calls it
    /// with the wall clock; tests call it directly to step time deterministically.
    pub async fn tick(&self, now_ms: u64) {
        let signals = self.cluster.get().map(|probe| probe()).unwrap_or_default();
        let notifications = self
            .evaluator
            .lock()
            .evaluate_with(now_ms, &self.namespaces, &signals);
        if !notifications.is_empty() {
            self.dispatcher.deliver(now_ms, &notifications).await;
        }
    }

    /// Tick forever on the configured interval. Ticks missed while a slow receiver held delivery
    /// up are skipped, not replayed.
    pub async fn run(self: Arc<Self>) {
        let mut interval = tokio::time::interval(self.every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            self.tick(unix_ms()).await;
        }
    }
}
