//! The webhook notifier: one HTTP POST of JSON per notification.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{Notification, NotifyError};

/// The JSON shape a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"text": "..."}`: what Slack-compatible incoming webhooks accept.
    Slack,
    /// `{"status", "text", "alert": {...}, "dropped_before"}`: the alert with every field, for
    /// receivers that route or store alerts.
    #[default]
    Json,
}

pub struct WebhookNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
    format: WebhookFormat,
}

impl WebhookNotifier {
    pub fn new(url: &str, format: WebhookFormat, timeout: Duration) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("url {url:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("url {url}: scheme must be http or https"));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            client,
            url,
            format,
        })
    }

    pub fn target(&self) -> String {
        format!("webhook {}", self.url)
    }

    pub async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = match self.format {
            WebhookFormat::Slack => json!({ "text": n.text() }),
            WebhookFormat::Json => json!({
                "status": n.status(),
                "text": n.text(),
                "alert": n.alert,
                "dropped_before": n.dropped_before,
            }),
        };
        let response = self
            .client
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| NotifyError::Http(e.to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(NotifyError::Status(response.status().as_u16()))
        }
    }
}
