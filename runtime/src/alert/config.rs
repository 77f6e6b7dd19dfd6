//! The `[alerts]` section of the server config: evaluation interval, rules, notifiers.
//!
//! ```toml
//! [alerts]
//! evaluate_every_ms = 1000
//!
//! [[alerts.rules]]
//! name = "sessions-cold"
//! namespace = "sessions"
//! severity = "critical"
//! window_secs = 300
//! cooldown_secs = 600
//! condition = { kind = "hit_ratio_below", threshold = 0.5, min_reads = 100 }
//!
//! [[alerts.notifiers]]
//! kind = "webhook"
//! url = "https://hooks.slack.com/services/..."
//! format = "slack"
//!
//! [[alerts.notifiers]]
//! kind = "email"
//! smtp_host = "localhost"
//! from = "larder@example.com"
//! to = ["oncall@example.com"]
//! ```

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AlertError;
use super::notifier::NotifierConfig;
use super::rule::AlertRule;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// How often every namespace is sampled and every rule judged (at least 10 ms).
    #[serde(default = "default_evaluate_every_ms")]
    pub evaluate_every_ms: u64,
    /// How many resolved alerts `GET /v1/alerts` keeps.
    #[serde(default = "default_recent_limit")]
    pub recent_limit: usize,
    #[serde(default)]
    pub rules: Vec<AlertRule>,
    #[serde(default)]
    pub notifiers: Vec<NotifierConfig>,
}

fn default_evaluate_every_ms() -> u64 {
    1000
}
fn default_recent_limit() -> usize {
    100
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            evaluate_every_ms: default_evaluate_every_ms(),
            recent_limit: default_recent_limit(),
            rules: Vec::new(),
            notifiers: Vec::new(),
        }
    }
}

impl AlertsConfig {
    pub fn validate(&self) -> Result<(), AlertError> {
        if self.evaluate_every_ms < 10 {
            return Err(AlertError::InvalidRule {
                field: "evaluate_every_ms",
                reason: "must be at least 10".into(),
            });
        }
        for r in &self.rules {
            r.validate()?;
        }
        Ok(())
    }
}
