//! The email notifier: a plain-text mail per notification through an SMTP relay (lettre).

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Notification, NotifyError};

pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    relay: String,
}

impl EmailNotifier {
    pub fn new(
        host: &str,
        port: u16,
        from: &str,
        to: &[String],
        timeout: Duration,
    ) -> Result<Self, String> {
        if host.is_empty() {
            return Err("smtp_host must not be empty".into());
        }
        let from: Mailbox = from.parse().map_err(|e| format!("from {from:?}: {e}"))?;
        if to.is_empty() {
            return Err("to must list at least one address".into());
        }
        let to = to
            .iter()
            .map(|a| a.parse::<Mailbox>().map_err(|e| format!("to {a:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        // "Dangerous" only means plaintext: the relay is expected to be local or on a trusted
        // network; nothing secret is sent (no authentication is configured).
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(timeout))
            .build();
        Ok(Self {
            transport,
            from,
            to,
            relay: format!("{host}:{port}"),
        })
    }

    pub fn target(&self) -> String {
        let to: Vec<String> = self.to.iter().map(|m| m.email.to_string()).collect();
        format!("email to {} via {}", to.join(", "), self.relay)
    }

    pub async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(n.title());
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(n.text())
            .map_err(|e| NotifyError::Smtp(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| NotifyError::Smtp(e.to_string()))?;
        Ok(())
    }
}
