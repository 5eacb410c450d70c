//! GitHub commit statuses.

use async_trait::async_trait;
use gitops_core::artifact::DigestAlgorithm;
use gitops_core::notify::Error as NotifyError;
use gitops_core::{Event, Notifier, Severity, event::reason};
use serde_json::{Value, json};

use crate::{Delivery, Error, SecretUrl};

/// Sets a commit status on the event's revision:
/// `POST {base}/repos/{owner}/{repo}/statuses/{sha}` with `state`, `description` and
/// `context` = `<kind>/<name>` in lower case (`kustomization/apps`).
///
/// `state` is `failure` for error events, `pending` for progress, `success` otherwise.
pub struct GitHubStatus {
    base: SecretUrl,
    owner: String,
    repo: String,
    token: String,
    delivery: Delivery,
    client: reqwest::Client,
}

impl std::fmt::Debug for GitHubStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubStatus")
            .field("base", &self.base)
            .field("repository", &format!("{}/{}", self.owner, self.repo))
            .field("token", &"<redacted>")
            .finish()
    }
}

impl GitHubStatus {
    /// Statuses on `owner/repo` through the API at `base` (`https://api.github.com`, or a GitHub
    /// Enterprise `https://ghe.example.com/api/v3`).
    pub fn new(
        base: &str,
        owner: &str,
        repo: &str,
        token: impl Into<String>,
        delivery: Delivery,
    ) -> Result<Self, Error> {
        Ok(Self {
            base: SecretUrl::parse(base)?,
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            token: token.into(),
            client: delivery.client()?,
            delivery,
        })
    }

    /// The JSON body for an event.
    pub fn payload(event: &Event) -> Value {
        let state = match (event.severity, event.reason.as_str()) {
            (Severity::Error, _) => "failure",
            (Severity::Info, reason::PROGRESSING) => "pending",
            (Severity::Info, _) => "success",
        };
        let object = &event.involved_object;
        let mut description: String = event
            .message
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(140)
            .collect();
        if description.is_empty() {
            description = event.reason.clone();
        }
        json!({
            "state": state,
            "description": description,
            "context": format!("{}/{}", object.kind.to_lowercase(), object.name),
        })
    }
}

#[async_trait]
impl Notifier for GitHubStatus {
    async fn notify(&self, event: &Event) -> Result<(), NotifyError> {
        let target = format!("{} {}/{}", self.base, self.owner, self.repo);
        let sha = event
            .revision
            .as_ref()
            .map(|r| r.digest())
            .filter(|d| d.algorithm() == DigestAlgorithm::Sha1)
            .ok_or_else(|| NotifyError::Undeliverable {
                target: target.clone(),
                reason: "the event has no Git commit revision".into(),
            })?;
        let mut url = self.base.expose().clone();
        url.path_segments_mut()
            .map_err(|()| NotifyError::Undeliverable {
                target: target.clone(),
                reason: "base URL cannot have a path".into(),
            })?
            .pop_if_empty()
            .extend(["repos", &self.owner, &self.repo, "statuses", sha.hex()]);
        let body = Self::payload(event);
        self.delivery
            .send(&target, || {
                self.client
                    .post(url.clone())
                    .bearer_auth(&self.token)
                    .header("Accept", "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28")
                    .json(&body)
            })
            .await?;
        Ok(())
    }
}
