//! Slack: incoming webhooks and `chat.postMessage`.

use async_trait::async_trait;
use gitops_core::notify::Error as NotifyError;
use gitops_core::{Event, Notifier, Severity};
use serde_json::{Value, json};

use crate::{Delivery, Error, SecretUrl, fields, title};

enum Mode {
    Webhook(SecretUrl),
    Api { url: SecretUrl, token: String },
}

/// Posts events to Slack, as Flux's `slack` provider does: one attachment coloured by severity
/// (`good` / `danger`), the object as author, the message as text, metadata as fields.
pub struct Slack {
    mode: Mode,
    channel: Option<String>,
    username: Option<String>,
    delivery: Delivery,
    client: reqwest::Client,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.mode {
            Mode::Webhook(url) => url.to_string(),
            Mode::Api { url, .. } => format!("{url} (token redacted)"),
        };
        f.debug_struct("Slack")
            .field("target", &target)
            .field("channel", &self.channel)
            .finish()
    }
}

impl Slack {
    /// An incoming webhook (the URL is the secret).
    pub fn webhook(url: &str, delivery: Delivery) -> Result<Self, Error> {
        Ok(Self {
            mode: Mode::Webhook(SecretUrl::parse(url)?),
            channel: None,
            username: None,
            client: delivery.client()?,
            delivery,
        })
    }

    /// `chat.postMessage` with a bot token to `channel`; `api_url` is
    /// `https://slack.com/api/chat.postMessage` unless a test or proxy says otherwise.
    pub fn api(
        api_url: &str,
        token: impl Into<String>,
        channel: impl Into<String>,
        delivery: Delivery,
    ) -> Result<Self, Error> {
        Ok(Self {
            mode: Mode::Api {
                url: SecretUrl::parse(api_url)?,
                token: token.into(),
            },
            channel: Some(channel.into()),
            username: None,
            client: delivery.client()?,
            delivery,
        })
    }

    /// Posts to another channel than the webhook's own.
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Posts under this user name.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The JSON body for an event.
    pub fn payload(&self, event: &Event) -> Value {
        let color = match event.severity {
            Severity::Info => "good",
            Severity::Error => "danger",
        };
        let fields: Vec<Value> = fields(event)
            .into_iter()
            .map(|(k, v)| json!({"title": k, "value": v, "short": false}))
            .collect();
        let mut body = json!({
            "attachments": [{
                "color": color,
                "author_name": title(event),
                "text": event.message,
                "mrkdwn_in": ["text"],
                "fields": fields,
            }]
        });
        if let Some(channel) = &self.channel {
            body["channel"] = json!(channel);
        }
        if let Some(username) = &self.username {
            body["username"] = json!(username);
        }
        body
    }
}

#[async_trait]
impl Notifier for Slack {
    async fn notify(&self, event: &Event) -> Result<(), NotifyError> {
        let body = self.payload(event);
        match &self.mode {
            Mode::Webhook(url) => {
                let target = url.to_string();
                self.delivery
                    .send(&target, || {
                        self.client.post(url.expose().clone()).json(&body)
                    })
                    .await?;
            }
            Mode::Api { url, token } => {
                let target = url.to_string();
                let response = self
                    .delivery
                    .send(&target, || {
                        self.client
                            .post(url.expose().clone())
                            .bearer_auth(token)
                            .json(&body)
                    })
                    .await?;
                // The Web API answers 200 with `ok: false` for application errors.
                let answer: Value = serde_json::from_slice(&response).unwrap_or_default();
                if answer.get("ok") != Some(&Value::Bool(true)) {
                    let reason = answer
                        .get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("no `ok` in answer");
                    return Err(NotifyError::Undeliverable {
                        target,
                        reason: format!("Slack API error: {reason}"),
                    });
                }
            }
        }
        Ok(())
    }
}
