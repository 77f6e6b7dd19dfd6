//! Quarantine with exponential backoff: after a fault, an instance is set aside and retried after
//! `base`, then `2·base`, `4·base`… up to `max`. A plugin that then serves for
//! `forgive_after` without a fault starts again from `base`.

use std::time::{Duration, Instant};

use super::limits::PluginLimits;

#[derive(Debug)]
pub(crate) struct Quarantine {
    base: Duration,
    max: Duration,
    forgive_after: Duration,
    consecutive: u32,
    retry_at: Option<Instant>,
    healthy_since: Instant,
}

impl Quarantine {
    pub fn new(limits: &PluginLimits) -> Self {
        Self {
            base: limits.quarantine_base,
            max: limits.quarantine_max,
            forgive_after: limits.quarantine_forgive_after,
            consecutive: 0,
            retry_at: None,
            healthy_since: Instant::now(),
        }
    }

    /// Record a fault; returns how long until the retry.
    pub fn fault(&mut self) -> Duration {
        let now = Instant::now();
        if self.retry_at.is_none() && now.duration_since(self.healthy_since) >= self.forgive_after {
            self.consecutive = 0;
        }
        let backoff = self
            .base
            .saturating_mul(1u32 << self.consecutive.min(20))
            .min(self.max);
        self.consecutive = self.consecutive.saturating_add(1);
        self.retry_at = Some(now + backoff);
        backoff
    }

    /// True when quarantined and the backoff has passed.
    pub fn retry_due(&self) -> bool {
        self.retry_at.is_some_and(|t| Instant::now() >= t)
    }

    /// The retry succeeded: serving again.
    pub fn recovered(&mut self) {
        self.retry_at = None;
        self.healthy_since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let limits = PluginLimits {
            quarantine_base: Duration::from_millis(10),
            quarantine_max: Duration::from_millis(35),
            quarantine_forgive_after: Duration::from_secs(3600),
            ..Default::default()
        };
        let mut q = Quarantine::new(&limits);
        assert!(!q.retry_due());
        assert_eq!(q.fault(), Duration::from_millis(10));
        assert!(q.retry_at.is_some() && !q.retry_due());
        q.recovered();
        assert_eq!(q.fault(), Duration::from_millis(20));
        q.recovered();
        assert_eq!(q.fault(), Duration::from_millis(35));
    }
}
