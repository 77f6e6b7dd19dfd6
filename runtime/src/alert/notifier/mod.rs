//! Where alert notifications go. A [`Notifier`] is built once from its [`NotifierConfig`]
//! (validated then, so a bad address is a config error, not a failure at 3 a.m.) and sends one
//! [`Notification`] at a time.
//!
//! Contract for every notifier: `send` either delivers the whole message or returns an error; it
//! never retries on its own (the dispatcher decides what a failure means) and never blocks for
//! longer than its timeout.

mod email;
mod message;
mod webhook;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

pub use email::EmailNotifier;
pub use message::Notification;
pub use webhook::{WebhookFormat, WebhookNotifier};

/// How long one delivery may take before it counts as failed.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn default_max_per_minute() -> u32 {
    20
}
fn default_smtp_port() -> u16 {
    25
}

/// One notifier as written in the `[alerts]` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NotifierConfig {
    /// POST a JSON document to `url`: `{"text": ...}` for Slack-compatible receivers (Slack,
    /// Mattermost, Rocket.Chat incoming webhooks) or the full alert for anything else.
    Webhook {
        url: String,
        #[serde(default)]
        format: WebhookFormat,
        /// Messages this notifier may send per minute, across all alerts.
        #[serde(default = "default_max_per_minute")]
        max_per_minute: u32,
    },
    /// Plain-text mail through an SMTP relay (no TLS or authentication: relay through a local MTA
    /// for anything beyond that).
    Email {
        smtp_host: String,
        #[serde(default = "default_smtp_port")]
        smtp_port: u16,
        from: String,
        to: Vec<String>,
        /// Messages this notifier may send per minute, across all alerts.
        #[serde(default = "default_max_per_minute")]
        max_per_minute: u32,
    },
}

impl NotifierConfig {
    pub fn max_per_minute(&self) -> u32 {
        match self {
            Self::Webhook { max_per_minute, .. } | Self::Email { max_per_minute, .. } => {
                *max_per_minute
            }
        }
    }
}

/// Why one delivery failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NotifyError {
    #[error("webhook request failed: {0}")]
    Http(String),
    #[error("webhook answered HTTP {0}")]
    Status(u16),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
}

/// A configured destination for notifications.
pub enum Notifier {
    Webhook(WebhookNotifier),
    Email(EmailNotifier),
}

impl Notifier {
    /// Build from config, checking URLs and mail addresses now.
    pub fn from_config(config: &NotifierConfig) -> Result<Self, String> {
        match config {
            NotifierConfig::Webhook { url, format, .. } => {
                WebhookNotifier::new(url, *format, SEND_TIMEOUT).map(Self::Webhook)
            }
            NotifierConfig::Email {
                smtp_host,
                smtp_port,
                from,
                to,
                ..
            } => EmailNotifier::new(smtp_host, *smtp_port, from, to, SEND_TIMEOUT).map(Self::Email),
        }
    }

    pub async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        match self {
            Self::Webhook(w) => w.send(notification).await,
            Self::Email(e) => e.send(notification).await,
        }
    }

    /// Where this notifier sends, for status pages ("webhook http://…", "email to a@b via …").
    pub fn target(&self) -> String {
        match self {
            Self::Webhook(w) => w.target(),
            Self::Email(e) => e.target(),
        }
    }
}
