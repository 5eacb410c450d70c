//! Discord webhooks with embeds.

use async_trait::async_trait;
use gitops_core::condition::rfc3339;
use gitops_core::notify::Error as NotifyError;
use gitops_core::{Event, Notifier, Severity};
use serde_json::{Value, json};

use crate::{Delivery, Error, SecretUrl, fields, title};

/// Embed colour of info events (green).
pub const INFO_COLOR: u32 = 0x2e_cc_71;
/// Embed colour of error events (red).
pub const ERROR_COLOR: u32 = 0xe7_4c_3c;

/// Posts events to a Discord webhook as one embed coloured by severity.
pub struct Discord {
    url: SecretUrl,
    username: Option<String>,
    delivery: Delivery,
    client: reqwest::Client,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discord").field("url", &self.url).finish()
    }
}

impl Discord {
    /// A webhook (`https://discord.com/api/webhooks/<id>/<token>`; the URL is the secret).
    pub fn webhook(url: &str, delivery: Delivery) -> Result<Self, Error> {
        Ok(Self {
            url: SecretUrl::parse(url)?,
            username: None,
            client: delivery.client()?,
            delivery,
        })
    }

    /// Posts under this user name.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The JSON body for an event. Texts are cut to Discord's limits (title 256, description
    /// 4096, field value 1024 characters).
    pub fn payload(&self, event: &Event) -> Value {
        let color = match event.severity {
            Severity::Info => INFO_COLOR,
            Severity::Error => ERROR_COLOR,
        };
        let fields: Vec<Value> = fields(event)
            .into_iter()
            .take(25)
            .map(|(k, v)| json!({"name": cut(&k, 256), "value": cut(&v, 1024), "inline": false}))
            .collect();
        let mut body = json!({
            "embeds": [{
                "title": cut(&title(event), 256),
                "description": cut(&event.message, 4096),
                "color": color,
                "fields": fields,
                "footer": {"text": event.reason},
                "timestamp": rfc3339(event.timestamp),
            }]
        });
        if let Some(username) = &self.username {
            body["username"] = json!(username);
        }
        body
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[async_trait]
impl Notifier for Discord {
    async fn notify(&self, event: &Event) -> Result<(), NotifyError> {
        let body = self.payload(event);
        let target = self.url.to_string();
        self.delivery
            .send(&target, || {
                self.client.post(self.url.expose().clone()).json(&body)
            })
            .await?;
        Ok(())
    }
}
