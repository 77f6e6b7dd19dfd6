//! Fan-out of notifications to every notifier, each behind its own rate limit, with the delivery
//! status an operator needs to trust the pipeline (sent, failed, dropped, last error).
//!
//! A failed delivery is logged and counted, not retried: the alert stays visible in
//! `GET /v1/alerts`, and retrying a receiver that is down would only delay the messages queued
//! behind it.

use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

use super::notifier::{Notification, Notifier};

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

pub struct Dispatcher {
    slots: Vec<Slot>,
}

impl Dispatcher {
    pub fn new(notifiers: Vec<(Notifier, u32)>) -> Self {
        let slots = notifiers
            .into_iter()
            .map(|(notifier, per_minute)| {
                let status = NotifierStatus {
                    target: notifier.target(),
                    max_per_minute: per_minute,
                    sent: 0,
                    failed: 0,
                    dropped: 0,
                    last_error: None,
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
            })
            .collect();
        Self { slots }
    }

    pub fn status(&self) -> Vec<NotifierStatus> {
        self.slots
            .iter()
            .map(|s| s.state.lock().status.clone())
            .collect()
    }

    /// Send each notification to each notifier that still has budget, in order.
    pub async fn deliver(&self, now_ms: u64, notifications: &[Notification]) {
        for n in notifications {
            for slot in &self.slots {
                let dropped_before = {
                    let mut st = slot.state.lock();
                    if !st.limit.try_take(now_ms) {
                        st.status.dropped += 1;
                        st.dropped_since_sent += 1;
                        tracing::warn!(target = %st.status.target, alert = %n.title(),
                            "alert notification dropped by rate limit");
                        continue;
                    }
                    st.dropped_since_sent
                };
                let message = Notification {
                    dropped_before,
                    ..n.clone()
                };
                let result = slot.notifier.send(&message).await;
                let mut st = slot.state.lock();
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
