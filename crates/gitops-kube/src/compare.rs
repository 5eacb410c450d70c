//! Pure comparisons between desired and live objects: the digest we store on applied objects, the
//! local "already in sync" check that spares a request per unchanged object, and the field-level
//! drift between what an apply would produce and what the cluster holds.

use std::fmt::Write as _;

use base64::Engine as _;
use gitops_core::apply::FieldDrift;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// The annotation holding the digest of the configuration we last applied to an object.
///
/// A changed render changes the digest, so an object whose digest matches and whose live fields
/// still hold the desired values needs no request at all.
pub const DIGEST_ANNOTATION: &str = "apply.gitops-rs/digest";

/// What a masked Secret value shows in drift reports.
pub const MASK: &str = "\"*** (masked)\"";

/// `sha256:<hex>` over the object's canonical JSON (map keys sorted, no whitespace).
pub fn digest(value: &Value) -> String {
    let mut text = String::new();
    write_canonical(value, &mut text);
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The digest stored on a live object, if any.
pub fn live_digest(live: &Value) -> Option<&str> {
    live.pointer("/metadata/annotations")
        .and_then(|a| a.get(DIGEST_ANNOTATION))
        .and_then(Value::as_str)
}

/// Sets the digest annotation on the object to apply.
pub fn set_digest(value: &mut Value, digest: &str) {
    let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(map) = annotations.as_object_mut() {
        map.insert(
            DIGEST_ANNOTATION.to_owned(),
            Value::String(digest.to_owned()),
        );
    }
}

/// How a Secret's desired state looks once the API server stored it: `stringData` folded into
/// base64 `data`. Other objects are returned unchanged.
pub fn normalise_desired(value: &Value) -> Value {
    let mut value = value.clone();
    if value.get("kind").and_then(Value::as_str) == Some("Secret")
        && value.get("apiVersion").and_then(Value::as_str) == Some("v1")
    {
        if let Some(map) = value.as_object_mut() {
            if let Some(Value::Object(string_data)) = map.remove("stringData") {
                let data = map
                    .entry("data")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(data) = data.as_object_mut() {
                    for (key, v) in string_data {
                        let text = v
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string());
                        data.insert(
                            key,
                            Value::String(
                                base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                            ),
                        );
                    }
                }
            }
        }
    }
    value
}

/// Whether every field the desired object sets has the same value in the live object.
///
/// Lists must have the same length and match element by element; an empty or null desired value
/// matches an absent live one; numbers compare by value. `status` is ignored (an apply does not
/// write it). A `false` answer is not proof of drift (the server may normalise a value we sent);
/// the caller then asks the server, which settles it.
pub fn contains(desired: &Value, live: &Value) -> bool {
    let Some(desired) = desired.as_object() else {
        return false;
    };
    let Some(live_map) = live.as_object() else {
        return false;
    };
    desired
        .iter()
        .filter(|(k, _)| k.as_str() != "status")
        .all(|(k, v)| matches(v, live_map.get(k)))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn matches(desired: &Value, live: Option<&Value>) -> bool {
    let Some(live) = live else {
        return is_empty(desired);
    };
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, v)| matches(v, l.get(k))),
        (Value::Object(d), Value::Null) => d.is_empty(),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| matches(a, Some(b)))
        }
        (Value::Array(d), Value::Null) => d.is_empty(),
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::Null, _) => is_empty(live),
        (a, b) => a == b,
    }
}

/// Fields that say nothing about the configuration: bookkeeping of the API server, and our own
/// digest.
fn ignored(path: &str) -> bool {
    const IGNORED: &[&str] = &[
        "/status",
        "/metadata/managedFields",
        "/metadata/resourceVersion",
        "/metadata/generation",
        "/metadata/uid",
        "/metadata/creationTimestamp",
        "/metadata/selfLink",
    ];
    IGNORED
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
        || path == format!("/metadata/annotations/{}", escape(DIGEST_ANNOTATION))
}

/// JSON-pointer escaping of one path segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The fields that differ between the object an apply would produce (`merged`, a dry run) and the
/// live object, as JSON pointers with JSON values; Secret `data`/`stringData` values are masked.
pub fn field_drift(merged: &Value, live: &Value) -> Vec<FieldDrift> {
    let secret = merged.get("kind").and_then(Value::as_str) == Some("Secret");
    let mut out = Vec::new();
    walk("", Some(merged), Some(live), &mut out);
    if secret {
        for drift in &mut out {
            if drift.path.starts_with("/data/") || drift.path.starts_with("/stringData/") {
                drift.desired = drift.desired.as_ref().map(|_| MASK.to_owned());
                drift.live = drift.live.as_ref().map(|_| MASK.to_owned());
            }
        }
    }
    out
}

fn walk(path: &str, desired: Option<&Value>, live: Option<&Value>, out: &mut Vec<FieldDrift>) {
    if ignored(path) {
        return;
    }
    match (desired, live) {
        (Some(Value::Object(d)), Some(Value::Object(l))) => {
            let mut keys: Vec<&String> = d.keys().chain(l.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                walk(
                    &format!("{path}/{}", escape(key)),
                    d.get(key.as_str()),
                    l.get(key.as_str()),
                    out,
                );
            }
        }
        (Some(Value::Array(d)), Some(Value::Array(l))) if d.len() == l.len() => {
            for (i, (a, b)) in d.iter().zip(l).enumerate() {
                walk(&format!("{path}/{i}"), Some(a), Some(b), out);
            }
        }
        (d, l) => {
            let same = match (d, l) {
                (Some(a), Some(b)) => a == b,
                (None, None) => true,
                (Some(a), None) | (None, Some(a)) => a.is_null(),
            };
            if !same {
                out.push(FieldDrift {
                    path: if path.is_empty() {
                        "/".into()
                    } else {
                        path.into()
                    },
                    desired: d.map(Value::to_string),
                    live: l.map(Value::to_string),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digest_ignores_key_order() {
        let a = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}});
        let b = json!({"b": {"d": "x", "c": [1, 2]}, "a": 1});
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&json!({"a": 2})));
        assert!(digest(&a).starts_with("sha256:"));
    }

    #[test]
    fn contains_tolerates_server_additions_but_not_changes() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {}}, "data": {"k": "v"}, "status": {"x": 1}});
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "3"}, "data": {"k": "v"}});
        assert!(contains(&desired, &live));
        let edited = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a"}, "data": {"k": "hand"}});
        assert!(!contains(&desired, &edited));
        let removed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        assert!(!contains(&desired, &removed));
        assert!(matches(&json!(1.0), Some(&json!(1))));
        assert!(!matches(&json!([1]), Some(&json!([1, 2]))));
    }

    #[test]
    fn secret_string_data_folds_into_data() {
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "stringData": {"password": "hunter2"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": "aHVudGVyMg=="}, "type": "Opaque"});
        assert!(contains(&normalise_desired(&desired), &live));
    }

    #[test]
    fn drift_lists_changed_fields_and_masks_secrets() {
        let merged = json!({"kind": "Deployment", "metadata": {"name": "a", "resourceVersion": "9"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "a:1"}]}}}});
        let live = json!({"kind": "Deployment", "metadata": {"name": "a", "resourceVersion": "8"},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [{"image": "a:1"}]}}},
            "status": {"replicas": 5}});
        let drift = field_drift(&merged, &live);
        assert_eq!(
            drift,
            [FieldDrift {
                path: "/spec/replicas".into(),
                desired: Some("2".into()),
                live: Some("5".into())
            }]
        );
        let secret = field_drift(
            &json!({"kind": "Secret", "data": {"p": "bmV3"}}),
            &json!({"kind": "Secret", "data": {"p": "b2xk"}}),
        );
        assert_eq!(secret.len(), 1);
        assert_eq!(secret[0].desired.as_deref(), Some(MASK));
        assert!(!format!("{secret:?}").contains("bmV3"));
    }
}
