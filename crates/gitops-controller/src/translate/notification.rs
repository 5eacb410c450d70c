//! The notification kinds' specs: Provider (a notifier), Alert (a route to a Provider) and
//! Receiver (a webhook verifier and the objects it wakes).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gitops_core::alert::{Alert as Route, EventSource};
use gitops_core::{Notifier, Severity};
use gitops_flux::api::{AlertSpec, ProviderSpec, ReceiverResource, ReceiverSpec};
use gitops_notify::receiver::Kind as ReceiverKind;
use gitops_notify::{Delivery, Discord, GitHubStatus, Slack, Webhook};

use super::{Invalid, duration};
use crate::engine::{Key, Kind};

/// The notifier a Provider's spec describes, with `secret` the data of the Secret it names
/// (empty when it names none): the Secret's `address` wins over `spec.address`, and `token`
/// signs (`generic-hmac`) or authenticates (`github`).
///
/// # Errors
/// [`Invalid`] for a type this controller does not serve, a missing address or token, an
/// address the notifier cannot use, or a malformed timeout.
pub fn provider(
    spec: &ProviderSpec,
    secret: &HashMap<String, Vec<u8>>,
) -> Result<Arc<dyn Notifier>, Invalid> {
    let text = |name: &str| {
        secret
            .get(name)
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let unusable = |e: gitops_notify::Error| Invalid::Value {
        field: "address",
        message: e.to_string(),
    };
    let token = |type_: &str| {
        text("token").ok_or_else(|| Invalid::Value {
            field: "secretRef",
            message: format!("a {type_} Provider needs a token in its Secret"),
        })
    };
    const SUPPORTED: &str = "slack, discord, generic, generic-hmac, github";
    if !SUPPORTED.split(", ").any(|t| t == spec.type_) {
        return Err(Invalid::Unsupported {
            field: "type",
            value: spec.type_.clone(),
            supported: SUPPORTED,
        });
    }
    let address = text("address")
        .or_else(|| spec.address.clone().filter(|a| !a.trim().is_empty()))
        .ok_or_else(|| Invalid::Value {
            field: "address",
            message: "the Provider has no address (spec.address or the Secret's address)".into(),
        })?;
    let mut delivery = Delivery::default();
    if spec.timeout.is_some() {
        delivery = delivery.with_timeout(duration(
            "timeout",
            spec.timeout.as_deref(),
            Duration::ZERO,
        )?);
    }
    Ok(match spec.type_.as_str() {
        "slack" => {
            let mut slack = Slack::webhook(&address, delivery).map_err(unusable)?;
            if let Some(channel) = &spec.channel {
                slack = slack.with_channel(channel);
            }
            if let Some(username) = &spec.username {
                slack = slack.with_username(username);
            }
            Arc::new(slack)
        }
        "discord" => {
            let mut discord = Discord::webhook(&address, delivery).map_err(unusable)?;
            if let Some(username) = &spec.username {
                discord = discord.with_username(username);
            }
            Arc::new(discord)
        }
        "generic" => Arc::new(Webhook::new(&address, delivery).map_err(unusable)?),
        "generic-hmac" => {
            let key = token("generic-hmac")?;
            Arc::new(
                Webhook::new(&address, delivery)
                    .map_err(unusable)?
                    .with_hmac_key(key.into_bytes()),
            )
        }
        _ => {
            let token = token("github")?;
            let (base, owner, repo) = github_repository(&address)?;
            Arc::new(GitHubStatus::new(&base, &owner, &repo, token, delivery).map_err(unusable)?)
        }
    })
}

/// `https://github.com/owner/repo` → the API base, owner and repository; other hosts are taken
/// as GitHub Enterprise (`/api/v3`).
fn github_repository(address: &str) -> Result<(String, String, String), Invalid> {
    let refused = |message: &str| Invalid::Value {
        field: "address",
        message: message.into(),
    };
    let trimmed = address.trim_end_matches('/').trim_end_matches(".git");
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| refused("the github address is not a URL"))?;
    let mut parts = rest.splitn(3, '/');
    let (Some(host), Some(owner), Some(repo)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(refused(
            "the github address must name a repository: https://HOST/OWNER/REPO",
        ));
    };
    let base = if host == "github.com" {
        "https://api.github.com".to_string()
    } else {
        format!("{scheme}://{host}/api/v3")
    };
    Ok((base, owner.to_string(), repo.to_string()))
}

/// What an Alert routes, and to which Provider.
#[derive(Debug)]
pub struct AlertPlan {
    /// Its filters (sources, severity, inclusions, exclusions) and decorations.
    pub route: Route,
    /// The Provider it delivers through, in the Alert's namespace.
    pub provider: Key,
}

/// Translates the spec of the Alert in `namespace`.
///
/// # Errors
/// [`Invalid`] for a severity other than `info` or `error`, or an inclusion or exclusion
/// entry that is not a regular expression.
pub fn alert(namespace: &str, spec: &AlertSpec) -> Result<AlertPlan, Invalid> {
    let severity = match spec.event_severity.as_deref() {
        None | Some("" | "info") => Severity::Info,
        Some("error") => Severity::Error,
        Some(other) => {
            return Err(Invalid::Unsupported {
                field: "eventSeverity",
                value: other.into(),
                supported: "info, error",
            });
        }
    };
    let sources = spec
        .event_sources
        .iter()
        .map(|s| {
            EventSource::new(&s.kind, &s.name)
                .in_namespace(s.namespace.as_deref().unwrap_or(namespace))
        })
        .collect();
    let bad = |field: &'static str| {
        move |e: gitops_core::alert::Error| Invalid::Pattern {
            field,
            message: e.to_string(),
        }
    };
    let inclusions: Vec<&str> = spec.inclusion_list.iter().map(String::as_str).collect();
    let exclusions: Vec<&str> = spec.exclusion_list.iter().map(String::as_str).collect();
    let mut route = Route::new(severity, sources)
        .with_inclusions(&inclusions)
        .map_err(bad("inclusionList"))?
        .with_exclusions(&exclusions)
        .map_err(bad("exclusionList"))?;
    if let Some(summary) = &spec.summary {
        route = route.with_summary(summary);
    }
    for (name, value) in &spec.event_metadata {
        route = route.with_metadata(name, value);
    }
    Ok(AlertPlan {
        route,
        provider: Key::new(Kind::Provider, namespace, &spec.provider_ref.name),
    })
}

/// What a Receiver's spec asks for, before its Secret is read.
#[derive(Clone)]
pub struct ReceiverPlan {
    /// How requests are verified.
    pub kind: ReceiverKind,
    /// The event types that trigger a reconcile; all when empty.
    pub events: Vec<String>,
    /// The Secret whose `token` verifies requests, in the Receiver's namespace.
    pub secret: String,
    /// The objects a verified request wakes, kinds checked.
    pub resources: Vec<ReceiverResource>,
    /// How often the Secret is read again (`interval`, ten minutes when unset).
    pub interval: Duration,
}

/// Translates the spec of a Receiver.
///
/// # Errors
/// [`Invalid`] for a type this controller does not verify, a resource of a kind it does not
/// reconcile, or a malformed interval.
pub fn receiver(spec: &ReceiverSpec) -> Result<ReceiverPlan, Invalid> {
    let kind = match spec.type_.as_str() {
        "generic" => ReceiverKind::Generic,
        "generic-hmac" => ReceiverKind::GenericHmac,
        "github" => ReceiverKind::GitHub,
        "gitlab" => ReceiverKind::GitLab,
        other => {
            return Err(Invalid::Unsupported {
                field: "type",
                value: other.into(),
                supported: "generic, generic-hmac, github, gitlab",
            });
        }
    };
    if let Some((index, resource)) = spec
        .resources
        .iter()
        .enumerate()
        .find(|(_, r)| Kind::parse(&r.kind).is_none())
    {
        return Err(Invalid::Value {
            field: "resources",
            message: format!(
                "entry {index}: {} is not a kind this controller reconciles",
                resource.kind
            ),
        });
    }
    Ok(ReceiverPlan {
        kind,
        events: spec.events.clone(),
        secret: spec.secret_ref.name.clone(),
        resources: spec.resources.clone(),
        interval: duration(
            "interval",
            spec.interval.as_deref(),
            Duration::from_secs(600),
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provider_spec(fields: serde_json::Value) -> ProviderSpec {
        serde_json::from_value(fields).expect("a ProviderSpec")
    }

    fn secret(pairs: &[(&str, &str)]) -> HashMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn every_provider_type_builds_from_its_fields() {
        let none = HashMap::new();
        for spec in [
            json!({"type": "slack", "address": "https://hooks.slack.example/T/B/X", "channel": "ops", "username": "flux"}),
            json!({"type": "discord", "address": "https://discord.example/api/webhooks/1/x", "username": "flux"}),
            json!({"type": "generic", "address": "http://127.0.0.1:9/hook", "timeout": "5s"}),
        ] {
            provider(&provider_spec(spec.clone()), &none).unwrap_or_else(|e| panic!("{spec}: {e}"));
        }
        let token = secret(&[("token", "s3cr3t")]);
        provider(
            &provider_spec(json!({"type": "generic-hmac", "address": "http://127.0.0.1:9/hook"})),
            &token,
        )
        .expect("generic-hmac with a token");
        provider(
            &provider_spec(json!({"type": "github", "address": "https://github.com/org/app"})),
            &token,
        )
        .expect("github with a token");
    }

    #[test]
    fn the_secrets_address_wins_over_the_spec() {
        // The spec's address is not a URL; the Secret's is, and is the one used.
        let spec = provider_spec(json!({"type": "generic", "address": "not a url"}));
        assert!(provider(&spec, &HashMap::new()).is_err());
        provider(&spec, &secret(&[("address", "http://127.0.0.1:9/hook\n")]))
            .expect("the Secret's address");
    }

    #[test]
    fn provider_refusals_name_the_field() {
        let none = HashMap::new();
        let e = provider(
            &provider_spec(json!({"type": "pagerduty", "address": "https://x"})),
            &none,
        )
        .err()
        .expect("unsupported type");
        assert!(
            matches!(e, Invalid::Unsupported { field: "type", .. }),
            "{e}"
        );
        let e = provider(&provider_spec(json!({"type": "slack"})), &none)
            .err()
            .expect("no address");
        assert!(e.to_string().starts_with("spec.address:"), "{e}");
        let e = provider(
            &provider_spec(json!({"type": "generic-hmac", "address": "http://127.0.0.1:9/"})),
            &none,
        )
        .err()
        .expect("no token");
        assert!(e.to_string().contains("token"), "{e}");
        let e = provider(
            &provider_spec(
                json!({"type": "generic", "address": "http://127.0.0.1:9/", "timeout": "fast"}),
            ),
            &none,
        )
        .err()
        .expect("bad timeout");
        assert!(
            matches!(
                e,
                Invalid::Duration {
                    field: "timeout",
                    ..
                }
            ),
            "{e}"
        );
        let e = provider(
            &provider_spec(json!({"type": "github", "address": "https://github.com/org"})),
            &secret(&[("token", "t")]),
        )
        .err()
        .expect("no repository in the address");
        assert!(e.to_string().contains("OWNER/REPO"), "{e}");
    }

    #[test]
    fn github_addresses_map_to_the_api_base() {
        assert_eq!(
            github_repository("https://github.com/org/app.git").expect("valid"),
            ("https://api.github.com".into(), "org".into(), "app".into())
        );
        assert_eq!(
            github_repository("https://git.corp.example/org/app/").expect("valid"),
            (
                "https://git.corp.example/api/v3".into(),
                "org".into(),
                "app".into()
            )
        );
    }

    fn alert_spec(fields: serde_json::Value) -> AlertSpec {
        let mut spec = json!({"providerRef": {"name": "slack"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]});
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        serde_json::from_value(spec).expect("an AlertSpec")
    }

    fn event(severity: Severity, namespace: &str, message: &str) -> gitops_core::Event {
        let object = gitops_core::ObjectRef::new(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            Some(namespace),
            "apps",
        );
        gitops_core::Event::new(severity, object, "ReconciliationSucceeded", message)
    }

    #[test]
    fn alert_fields_shape_the_route() {
        let now = std::time::SystemTime::now();
        let mut plan = alert(
            "flux-system",
            &alert_spec(json!({
                "eventSeverity": "error",
                "exclusionList": ["timeout"],
                "summary": "production"
            })),
        )
        .expect("valid");
        assert_eq!(
            plan.provider,
            Key::new(Kind::Provider, "flux-system", "slack")
        );
        // Severity: an info event is filtered out, an error passes.
        assert!(
            plan.route
                .route(&event(Severity::Info, "flux-system", "ok"), now)
                .is_none()
        );
        assert!(
            plan.route
                .route(&event(Severity::Error, "flux-system", "failed"), now)
                .is_some()
        );
        // Exclusions.
        assert!(
            plan.route
                .route(&event(Severity::Error, "flux-system", "a timeout"), now)
                .is_none()
        );
        // Sources default to the Alert's namespace.
        assert!(
            plan.route
                .route(&event(Severity::Error, "other", "failed"), now)
                .is_none()
        );
    }

    #[test]
    fn alert_refusals_name_the_field() {
        let e =
            alert("ns", &alert_spec(json!({"eventSeverity": "warning"}))).expect_err("severity");
        assert!(
            matches!(
                e,
                Invalid::Unsupported {
                    field: "eventSeverity",
                    ..
                }
            ),
            "{e}"
        );
        let e =
            alert("ns", &alert_spec(json!({"inclusionList": ["(unclosed"]}))).expect_err("pattern");
        assert!(
            matches!(
                e,
                Invalid::Pattern {
                    field: "inclusionList",
                    ..
                }
            ),
            "{e}"
        );
        let e = alert("ns", &alert_spec(json!({"exclusionList": ["["]}))).expect_err("pattern");
        assert!(
            matches!(
                e,
                Invalid::Pattern {
                    field: "exclusionList",
                    ..
                }
            ),
            "{e}"
        );
    }

    fn receiver_spec(fields: serde_json::Value) -> ReceiverSpec {
        let mut spec = json!({
            "type": "github", "secretRef": {"name": "webhook-token"},
            "resources": [{"kind": "GitRepository", "name": "fleet"}]
        });
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        serde_json::from_value(spec).expect("a ReceiverSpec")
    }

    #[test]
    fn receiver_fields() {
        let p = receiver(&receiver_spec(json!({}))).expect("valid");
        assert!(p.kind == ReceiverKind::GitHub);
        assert_eq!(p.secret, "webhook-token");
        assert_eq!(p.interval, Duration::from_secs(600));
        assert!(p.events.is_empty());
        assert_eq!(p.resources.len(), 1);
        for (type_, kind) in [
            ("generic", ReceiverKind::Generic),
            ("generic-hmac", ReceiverKind::GenericHmac),
            ("gitlab", ReceiverKind::GitLab),
        ] {
            let p = receiver(&receiver_spec(
                json!({"type": type_, "events": ["push"], "interval": "1h"}),
            ))
            .expect("valid");
            assert!(p.kind == kind, "{type_}");
            assert_eq!(p.events, vec!["push".to_string()]);
            assert_eq!(p.interval, Duration::from_secs(3600));
        }
    }

    #[test]
    fn receiver_refusals_name_the_field() {
        let e = receiver(&receiver_spec(json!({"type": "bitbucket"})))
            .err()
            .expect("type");
        assert!(
            matches!(e, Invalid::Unsupported { field: "type", .. }),
            "{e}"
        );
        let e = receiver(&receiver_spec(
            json!({"resources": [{"kind": "Deployment", "name": "x"}]}),
        ))
        .err()
        .expect("kind");
        assert!(e.to_string().contains("entry 0: Deployment"), "{e}");
        let e = receiver(&receiver_spec(json!({"interval": "hourly"})))
            .err()
            .expect("interval");
        assert!(
            matches!(
                e,
                Invalid::Duration {
                    field: "interval",
                    ..
                }
            ),
            "{e}"
        );
    }
}
