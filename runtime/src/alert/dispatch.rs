//! Fan-out of notifications to every notifier, each behind its own rate limit, with the delivery
//! status an operator needs to trust the pipeline (sent, failed, dropped, last error).
//!
//! Two kinds of receiver: the node's notifiers (the `[alerts]` config, the operator's), which hear
//! every operator rule, and a rule's own webhook ([`AlertRule::webhook`](super::AlertRule)), which
//! hears only its rule. A tenant's rule is heard by its own webhook alone, and tells it the names
//! the tenant knows (`cold` on `carts`, not `acme/cold` on `acme/carts`).
//!
//! A failed delivery is logged and counted, not retried: the alert stays visible in
//! `GET /v1/alerts`, and retrying a receiver that is down would only delay the messages queued
//! behind it.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

use super::notifier::{Notification, Notifier};
use crate::tenant;

/// What one notifier has done since the server started.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NotifierStatus {
    /// Where it sends, e.g. "webhook http://hooks.example/alerts".
    pub target: String,
    pub max_per_minute: u32,
    pub sent: u64,
    pub failed: u64,
    /// Messages not sent because the rate limit was exhausted.
    pub dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The rule whose own webhook this is; absent for the node's notifiers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// A token bucket: `per_minute` tokens, refilled evenly over a minute, so bursts up to the limit
/// go out at once and a sustained flood is capped at the limit.
struct RateLimit {
    per_minute: u32,
    tokens: f64,
    last_ms: Option<u64>,
}

impl RateLimit {
    fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            tokens: per_minute as f64,
            last_ms: None,
        }
    }

    fn try_take(&mut self, now_ms: u64) -> bool {
        let cap = self.per_minute as f64;
        if let Some(last) = self.last_ms {
            let refill = now_ms.saturating_sub(last) as f64 * cap / 60_000.0;
            self.tokens = (self.tokens + refill).min(cap);
        }
        self.last_ms = Some(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct SlotState {
    limit: RateLimit,
    status: NotifierStatus,
    dropped_since_sent: u64,
}

struct Slot {
    notifier: Notifier,
    state: Mutex<SlotState>,
}

impl Slot {
    fn new(notifier: Notifier, per_minute: u32, rule: Option<String>) -> Self {
        let status = NotifierStatus {
            target: notifier.target(),
            max_per_minute: per_minute,
            sent: 0,
            failed: 0,
            dropped: 0,
            last_error: None,
            rule,
        };
        let state = SlotState {
            limit: RateLimit::new(per_minute),
            status,
            dropped_since_sent: 0,
        };
        Slot {
            notifier,
            state: Mutex::new(state),
        }
    }

    /// Send `n` if the rate limit allows, and count what happened.
    async fn deliver(&self, now_ms: u64, n: &Notification) {
        let dropped_before = {
            let mut st = self.state.lock();
            if !st.limit.try_take(now_ms) {
                st.status.dropped += 1;
                st.dropped_since_sent += 1;
                tracing::warn!(target = %st.status.target, alert = %n.title(),
                    "alert notification dropped by rate limit");
                return;
            }
            st.dropped_since_sent
        };
        let message = Notification {
            dropped_before,
            ..n.clone()
        };
        let result = self.notifier.send(&message).await;
        let mut st = self.state.lock();
        match result {
            Ok(()) => {
                st.status.sent += 1;
                st.dropped_since_sent -= dropped_before;
            }
            Err(e) => {
                tracing::warn!(target = %st.status.target, error = %e,
                    "alert notification failed");
                st.status.failed += 1;
                st.status.last_error = Some(e.to_string());
            }
        }
    }
}

/// How many messages a minute a rule's own webhook may get.
pub const RULE_WEBHOOK_PER_MINUTE: u32 = 20;

pub struct Dispatcher {
    /// The node's notifiers.
    slots: Vec<Slot>,
    /// Rules' own webhooks, by rule name.
    rule_hooks: Mutex<BTreeMap<String, Arc<Slot>>>,
}

impl Dispatcher {
    pub fn new(notifiers: Vec<(Notifier, u32)>) -> Self {
        let slots = notifiers
            .into_iter()
            .map(|(notifier, per_minute)| Slot::new(notifier, per_minute, None))
            .collect();
        Self {
            slots,
            rule_hooks: Mutex::new(BTreeMap::new()),
        }
    }

    /// Give rule `rule` its own webhook (replacing any it had).
    pub fn set_rule_hook(&self, rule: &str, notifier: Notifier) {
        let slot = Slot::new(notifier, RULE_WEBHOOK_PER_MINUTE, Some(rule.to_string()));
        self.rule_hooks
            .lock()
            .insert(rule.to_string(), Arc::new(slot));
    }

    pub fn remove_rule_hook(&self, rule: &str) {
        self.rule_hooks.lock().remove(rule);
    }

    /// The node's notifiers, then every rule's own webhook.
    pub fn status(&self) -> Vec<NotifierStatus> {
        let hooks: Vec<Arc<Slot>> = self.rule_hooks.lock().values().cloned().collect();
        self.slots
            .iter()
            .chain(hooks.iter().map(|s| &**s))
            .map(|s| s.state.lock().status.clone())
            .collect()
    }

    /// Send each notification to each receiver that hears it and still has budget, in order.
    pub async fn deliver(&self, now_ms: u64, notifications: &[Notification]) {
        for n in notifications {
            let hook = self.rule_hooks.lock().get(&n.alert.rule).cloned();
            match tenant::split(&n.alert.rule) {
                (None, _) => {
                    for slot in &self.slots {
                        slot.deliver(now_ms, n).await;
                    }
                    if let Some(hook) = hook {
                        hook.deliver(now_ms, n).await;
                    }
                }
                (Some(_), own) => {
                    if let Some(hook) = hook {
                        let mut local = n.clone();
                        local.alert.rule = own.to_string();
                        local.alert.namespace = tenant::split(&n.alert.namespace).1.to_string();
                        hook.deliver(now_ms, &local).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimit;

    #[test]
    fn bucket_allows_a_burst_then_refills_over_a_minute() {
        let mut l = RateLimit::new(2);
        assert!(l.try_take(0));
        assert!(l.try_take(0));
        assert!(!l.try_take(1000));
        // Two per minute: one token every 30 s.
        assert!(l.try_take(31_000));
        assert!(!l.try_take(31_000));
    }
}
