//! The words of a notification, shared by every notifier so webhook and email say the same thing.

use crate::alert::evaluator::{Alert, AlertState};

/// One state change of one alert, on its way to a notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub alert: Alert,
    /// Messages this notifier dropped to its rate limit since its last delivery; said out loud so
    /// the reader knows the picture is incomplete.
    pub dropped_before: u64,
}

impl Notification {
    pub fn new(alert: Alert) -> Self {
        Self {
            alert,
            dropped_before: 0,
        }
    }

    pub fn status(&self) -> &'static str {
        match self.alert.state {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    /// A one-line title, e.g. "[FIRING] critical sessions-cold on namespace sessions".
    pub fn title(&self) -> String {
        let a = &self.alert;
        format!(
            "[{}] {} {} on namespace {}",
            self.status().to_uppercase(),
            a.severity.as_str(),
            a.rule,
            a.namespace
        )
    }

    /// The full text: title, what was observed, and any dropped-message note.
    pub fn text(&self) -> String {
        let a = &self.alert;
        let mut text = format!("{}: {}", self.title(), a.summary);
        if let Some(resolved) = a.resolved_at_ms {
            let secs = resolved.saturating_sub(a.started_at_ms) / 1000;
            text.push_str(&format!(" (resolved after {secs}s)"));
        }
        if self.dropped_before > 0 {
            text.push_str(&format!(
                " [{} earlier notification(s) were dropped by the rate limit]",
                self.dropped_before
            ));
        }
        text
    }
}
