//! The [`Alert`] router: which events reach a notifier, as Flux's `Alert` object decides.
//!
//! An alert filters by severity, by the kind/name/namespace of the object the event is about
//! (with `*` wildcards), by message regexes (inclusion and exclusion lists), adds a summary and
//! metadata, and suppresses repeats of the same event (same object, reason and message) within
//! a window, so a reconcile failing every minute does not flood a channel. It is pure: the
//! caller passes the current time.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use regex::Regex;

use crate::{Event, Severity};

/// Errors from building an alert.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A message regex does not compile.
    #[error("invalid {list} regex {pattern:?}: {reason}")]
    InvalidRegex {
        /// `inclusionList` or `exclusionList`.
        list: &'static str,
        /// The pattern.
        pattern: String,
        /// The regex engine's message.
        reason: String,
    },
}

/// Which objects' events an alert takes (`spec.eventSources[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSource {
    /// Kind, exact (`Kustomization`, `GitRepository`).
    pub kind: String,
    /// Name, `*` wildcards allowed.
    pub name: String,
    /// Namespace, `*` wildcards allowed; `None` matches any namespace.
    pub namespace: Option<String>,
}

impl EventSource {
    /// A source matching `kind/name` in any namespace.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
            namespace: None,
        }
    }

    /// Restricts the source to a namespace pattern.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    fn matches(&self, event: &Event) -> bool {
        let object = &event.involved_object;
        object.kind == self.kind
            && glob(&self.name, &object.name)
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| glob(ns, object.namespace.as_deref().unwrap_or("")))
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// An alert: filters, decorations and the repeat window.
#[derive(Debug)]
pub struct Alert {
    severity: Severity,
    sources: Vec<EventSource>,
    inclusions: Vec<Regex>,
    exclusions: Vec<Regex>,
    summary: Option<String>,
    metadata: BTreeMap<String, String>,
    window: Duration,
    seen: HashMap<(String, String, String), SystemTime>,
}

impl Alert {
    /// An alert taking events of `severity` and above (Flux's `eventSeverity`: `info` takes all,
    /// `error` only errors) from the given sources, with a 5-minute repeat window.
    pub fn new(severity: Severity, sources: Vec<EventSource>) -> Self {
        Self {
            severity,
            sources,
            inclusions: Vec::new(),
            exclusions: Vec::new(),
            summary: None,
            metadata: BTreeMap::new(),
            window: Duration::from_secs(300),
            seen: HashMap::new(),
        }
    }

    /// Only messages matching one of these regexes pass (`spec.inclusionList`).
    pub fn with_inclusions(mut self, patterns: &[&str]) -> Result<Self, Error> {
        self.inclusions = compile("inclusionList", patterns)?;
        Ok(self)
    }

    /// Messages matching any of these regexes are dropped (`spec.exclusionList`).
    pub fn with_exclusions(mut self, patterns: &[&str]) -> Result<Self, Error> {
        self.exclusions = compile("exclusionList", patterns)?;
        Ok(self)
    }

    /// Adds a summary, delivered as the `summary` metadata entry.
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    /// Adds metadata to every event (`spec.eventMetadata`); the event's own entries win.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the window in which an identical event is delivered once; zero disables it.
    pub fn with_repeat_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Decides whether `event`, seen at `now`, goes out; returns it decorated if so.
    pub fn route(&mut self, event: &Event, now: SystemTime) -> Option<Event> {
        if event.severity < self.severity {
            return None;
        }
        if !self.sources.iter().any(|s| s.matches(event)) {
            return None;
        }
        if !self.inclusions.is_empty()
            && !self.inclusions.iter().any(|r| r.is_match(&event.message))
        {
            return None;
        }
        if self.exclusions.iter().any(|r| r.is_match(&event.message)) {
            return None;
        }
        if !self.window.is_zero() {
            let key = (
                event.involved_object.inventory_id(),
                event.reason.clone(),
                event.message.clone(),
            );
            if let Some(last) = self.seen.get(&key) {
                if now.duration_since(*last).unwrap_or_default() < self.window {
                    return None;
                }
            }
            // Forget entries older than the window so the map stays bounded by the event rate.
            let window = self.window;
            self.seen
                .retain(|_, at| now.duration_since(*at).unwrap_or_default() < window);
            self.seen.insert(key, now);
        }
        let mut out = event.clone();
        for (key, value) in &self.metadata {
            out.metadata
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        if let Some(summary) = &self.summary {
            out.metadata
                .entry("summary".into())
                .or_insert_with(|| summary.clone());
        }
        Some(out)
    }
}

fn compile(list: &'static str, patterns: &[&str]) -> Result<Vec<Regex>, Error> {
    patterns
        .iter()
        .map(|p| {
            Regex::new(p).map_err(|e| Error::InvalidRegex {
                list,
                pattern: (*p).to_owned(),
                reason: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::ObjectRef;

    fn event(severity: Severity, kind: &str, ns: &str, name: &str, message: &str) -> Event {
        let object = ObjectRef::new("kustomize.toolkit.fluxcd.io", "v1", kind, Some(ns), name);
        Event::new(severity, object, "ReconciliationFailed", message)
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn filters_by_severity_source_and_message() {
        let mut alert = Alert::new(
            Severity::Error,
            vec![EventSource::new("Kustomization", "apps-*").in_namespace("flux-*")],
        )
        .with_exclusions(&["^dry-run"])
        .unwrap();
        let t = at(1_000);
        assert!(
            alert
                .route(
                    &event(
                        Severity::Error,
                        "Kustomization",
                        "flux-system",
                        "apps-web",
                        "failed"
                    ),
                    t
                )
                .is_some()
        );
        assert!(
            alert
                .route(
                    &event(
                        Severity::Info,
                        "Kustomization",
                        "flux-system",
                        "apps-web",
                        "ok"
                    ),
                    t
                )
                .is_none()
        );
        assert!(
            alert
                .route(
                    &event(
                        Severity::Error,
                        "Kustomization",
                        "flux-system",
                        "infra",
                        "failed"
                    ),
                    t
                )
                .is_none()
        );
        assert!(
            alert
                .route(
                    &event(
                        Severity::Error,
                        "Kustomization",
                        "default",
                        "apps-web",
                        "failed"
                    ),
                    t
                )
                .is_none()
        );
        assert!(
            alert
                .route(
                    &event(
                        Severity::Error,
                        "GitRepository",
                        "flux-system",
                        "apps-web",
                        "failed"
                    ),
                    t
                )
                .is_none()
        );
        assert!(
            alert
                .route(
                    &event(
                        Severity::Error,
                        "Kustomization",
                        "flux-system",
                        "apps-x",
                        "dry-run failed"
                    ),
                    t
                )
                .is_none()
        );

        let mut only = Alert::new(Severity::Info, vec![EventSource::new("Kustomization", "*")])
            .with_inclusions(&["drift"])
            .unwrap();
        assert!(
            only.route(
                &event(Severity::Info, "Kustomization", "a", "b", "drift detected"),
                t
            )
            .is_some()
        );
        assert!(
            only.route(
                &event(Severity::Info, "Kustomization", "a", "b", "applied"),
                t
            )
            .is_none()
        );
        assert!(
            Alert::new(Severity::Info, vec![])
                .with_exclusions(&["("])
                .is_err()
        );
    }

    #[test]
    fn repeats_are_suppressed_within_the_window() {
        let mut alert = Alert::new(Severity::Info, vec![EventSource::new("Kustomization", "*")])
            .with_repeat_window(Duration::from_secs(60));
        let e = event(
            Severity::Error,
            "Kustomization",
            "flux-system",
            "apps",
            "build failed",
        );
        assert!(alert.route(&e, at(0)).is_some());
        assert!(alert.route(&e, at(30)).is_none());
        let other = event(
            Severity::Error,
            "Kustomization",
            "flux-system",
            "apps",
            "other failure",
        );
        assert!(alert.route(&other, at(31)).is_some());
        assert!(alert.route(&e, at(61)).is_some());
    }

    #[test]
    fn decorates_with_summary_and_metadata() {
        let mut alert = Alert::new(Severity::Info, vec![EventSource::new("Kustomization", "*")])
            .with_summary("vps cluster")
            .with_metadata("env", "prod");
        let out = alert
            .route(
                &event(Severity::Info, "Kustomization", "a", "b", "m"),
                at(0),
            )
            .unwrap();
        assert_eq!(
            out.metadata.get("summary").map(String::as_str),
            Some("vps cluster")
        );
        assert_eq!(out.metadata.get("env").map(String::as_str), Some("prod"));
    }

    #[test]
    fn globs() {
        assert!(glob("*", "anything"));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a*b*c", "a-b-c"));
        assert!(!glob("a*c", "abd"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exact2"));
        assert!(glob("", ""));
    }
}
