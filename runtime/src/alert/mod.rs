//! # Alerts: rules over the cache's own numbers, and the people they page
//!
//! An operator writes [`AlertRule`]s (in the server's config file or through the admin API): "hit
//! ratio of namespace `sessions` below 50 % over 5 minutes", "memory above 90 % of capacity". The
//! [`AlertEngine`] samples every namespace's counters on a fixed interval, judges each rule over
//! its window, and tells the configured [`Notifier`]s when an alert starts firing and when it
//! resolves.
//!
//! | module | holds |
//! |---|---|
//! | [`rule`] | [`AlertRule`], its [`AlertCondition`] and [`Severity`], and their validation |
//! | [`history`] | the per-namespace samples a window is judged over |
//! | [`evaluator`] | the firing/resolved state machine and the active and recent alerts |
//! | [`notifier`] | where notifications go: webhook (Slack or generic JSON) and email (SMTP) |
//! | [`dispatch`] | fan-out to notifiers with a rate limit per notifier, and delivery status |
//! | [`engine`] | [`AlertEngine`]: the above wired together, and its evaluation loop |
//! | [`config`] | [`AlertsConfig`]: the `[alerts]` section of the server config |
//!
//! ## Why an alert does not flood anyone
//!
//! Three things keep a flapping condition quiet. The *window* smooths the signal (a hit ratio is
//! computed over the whole window, not per tick). An alert is identified by its rule and namespace
//! and notifies once when it starts firing and once when it resolves, never on every tick that
//! still breaches (deduplication). It resolves only after the condition has stayed clear for the
//! rule's *cool-down*; a breach inside the cool-down continues the same alert, so a condition
//! flapping faster than the cool-down yields exactly one "firing" and one "resolved" message.
//! Last, each notifier has a rate limit over all alerts; messages over it are dropped, counted,
//! and the count is reported in the next message that goes out.

pub mod config;
pub mod dispatch;
pub mod engine;
pub mod evaluator;
pub mod history;
pub mod notifier;
pub mod rule;

pub use config::AlertsConfig;
pub use dispatch::NotifierStatus;
pub use engine::AlertEngine;
pub use evaluator::{Alert, AlertList, AlertState, ClusterSignals};
pub use notifier::{Notification, Notifier, NotifierConfig, NotifyError, WebhookFormat};
pub use rule::{AlertCondition, AlertRule, Severity};

use thiserror::Error;

/// What can go wrong when configuring alerts. Delivery failures are not errors of this kind: they
/// are logged and counted in [`NotifierStatus`], because a down receiver must not stop evaluation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AlertError {
    #[error("invalid alert rule: {field}: {reason}")]
    InvalidRule { field: &'static str, reason: String },
    #[error("alert rule {0:?} already exists")]
    DuplicateRule(String),
    #[error("alert rule {0:?} does not exist")]
    UnknownRule(String),
    #[error("alert rule refers to namespace {0:?}, which does not exist")]
    UnknownNamespace(String),
    #[error("invalid notifier #{index}: {reason}")]
    InvalidNotifier { index: usize, reason: String },
}

impl AlertError {
    /// Stable machine-readable code used by the REST API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRule { .. } => "invalid_alert_rule",
            Self::DuplicateRule(_) => "alert_rule_exists",
            Self::UnknownRule(_) => "alert_rule_not_found",
            Self::UnknownNamespace(_) => "namespace_not_found",
            Self::InvalidNotifier { .. } => "invalid_notifier",
        }
    }
}
