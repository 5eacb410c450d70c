//! Flux's post-build variable substitution (`postBuild.substitute`).
//!
//! Like Flux, substitution runs on each rendered object's YAML text and the result is parsed
//! again, so `replicas: ${REPLICAS}` becomes a number. Supported forms:
//!
//! | form | meaning |
//! |---|---|
//! | `${var}` | the value of `var`; unset is an error in strict mode, empty otherwise |
//! | `${var:=default}`, `${var:-default}` | the value, or `default` when unset or empty |
//! | `${var=default}`, `${var-default}` | the value, or `default` when unset |
//! | `$${var}` | the literal text `${var}` |
//!
//! Names match `[_a-zA-Z][_a-zA-Z0-9]*`. Objects annotated
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone. Other shell forms
//! (`${var:1:2}`, `${var/a/b}`) are refused with an error rather than passed through.

use std::collections::BTreeMap;

use crate::Object;
use crate::object;

/// The annotation that opts an object out of substitution.
pub const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Errors from substitution. They name the object, the line of its YAML and the field, never
/// the text around a reference: a rendered object may be a decrypted `Secret`, and what looks
/// like a reference may be part of a value. In a `Secret` even the variable name is left out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A variable without default is not set (strict mode).
    #[error("{object}: {at}: variable {} is not set", name.as_deref().unwrap_or("(name withheld in a Secret)"))]
    Unset {
        /// The object.
        object: String,
        /// Where in the object.
        at: Location,
        /// The variable; `None` in a `Secret`.
        name: Option<String>,
    },
    /// The expression is not one of the supported forms.
    #[error(
        "{object}: {at}: unsupported substitution expression (supported: ${{var}}, ${{var:=default}}, ${{var:-default}}, ${{var=default}}, ${{var-default}}, $${{var}})"
    )]
    Unsupported {
        /// The object.
        object: String,
        /// Where in the object.
        at: Location,
    },
    /// A `${` has no closing brace.
    #[error("{object}: {at}: unterminated variable reference")]
    Unterminated {
        /// The object.
        object: String,
        /// Where in the object.
        at: Location,
    },
    /// The substituted text is no longer a valid object. The parser's own message is left out,
    /// as it may quote substituted values.
    #[error("{object}: substitution produced invalid YAML ({at})")]
    Reparse {
        /// The object.
        object: String,
        /// Where the parser stopped in the substituted object's YAML.
        at: Location,
    },
    /// The object could not be written as YAML to substitute in.
    #[error("{object}: cannot write the object as YAML")]
    Serialise {
        /// The object.
        object: String,
        /// The cause.
        #[source]
        source: object::Error,
    },
}

/// Where an error is: a 1-based line of the object's YAML (0 when unknown) and, when known,
/// the field (`stringData.password`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Location {
    /// 1-based line in the object's YAML; 0 when unknown.
    pub line: usize,
    /// The dotted path of the field, when known.
    pub field: Option<String>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(field) = &self.field {
            write!(f, ", field {field}")?;
        }
        Ok(())
    }
}

/// Substitutes variables in every object that references one.
pub fn substitute(
    objects: Vec<Object>,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Vec<Object>, Error> {
    let mut out = Vec::with_capacity(objects.len());
    for object in objects {
        let disabled = object.annotations().get(SUBSTITUTE_ANNOTATION) == Some(&"disabled");
        if disabled {
            out.push(object);
            continue;
        }
        let name = object.id().to_string();
        let yaml = object.to_yaml().map_err(|source| Error::Serialise {
            object: name.clone(),
            source,
        })?;
        if !yaml.contains("${") {
            out.push(object);
            continue;
        }
        let secret = object.id().kind == "Secret";
        let text = expand_text(&yaml, vars, strict).map_err(|failure| {
            let field = field_of(object.value(), vars, strict);
            failure.into_error(&name, &yaml, field, secret)
        })?;
        let mut parsed = object::parse_yaml(&name, &text).map_err(|error| Error::Reparse {
            object: name.clone(),
            at: Location {
                line: match error {
                    object::Error::Yaml { line, .. } => line,
                    _ => 0,
                },
                field: None,
            },
        })?;
        if parsed.len() != 1 {
            return Err(Error::Reparse {
                object: name.clone(),
                at: Location::default(),
            });
        }
        out.push(parsed.remove(0));
    }
    Ok(out)
}

/// Expands variable references in one text; `object` names it in errors.
pub fn expand(
    text: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
    object: &str,
) -> Result<String, Error> {
    expand_text(text, vars, strict).map_err(|failure| failure.into_error(object, text, None, false))
}

/// Why and where (byte offset) an expansion failed, before it becomes an [`Error`].
struct Failure {
    offset: usize,
    kind: FailureKind,
}

enum FailureKind {
    Unset(String),
    Unsupported,
    Unterminated,
}

impl Failure {
    fn into_error(self, object: &str, text: &str, field: Option<String>, secret: bool) -> Error {
        let line = text
            .get(..self.offset)
            .map_or(0, |before| before.matches('\n').count() + 1);
        let at = Location { line, field };
        let object = object.to_owned();
        match self.kind {
            FailureKind::Unset(name) => Error::Unset {
                object,
                at,
                name: (!secret).then_some(name),
            },
            FailureKind::Unsupported => Error::Unsupported { object, at },
            FailureKind::Unterminated => Error::Unterminated { object, at },
        }
    }
}

fn expand_text(
    text: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, Failure> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let offset = text.len() - rest.len() + pos;
        let after = &rest[pos..];
        let unterminated = || Failure {
            offset,
            kind: FailureKind::Unterminated,
        };
        if let Some(escaped) = after.strip_prefix("$${") {
            // `$${x}` → `${x}`: copy through the closing brace untouched.
            let end = escaped.find('}').ok_or_else(unterminated)?;
            out.push_str("${");
            out.push_str(&escaped[..=end]);
            rest = &escaped[end + 1..];
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body.find('}').ok_or_else(unterminated)?;
            let value =
                evaluate(&body[..end], vars, strict).map_err(|kind| Failure { offset, kind })?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The dotted path of the first string field whose expansion fails, for the error.
fn field_of(
    value: &serde_json::Value,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Option<String> {
    fn walk(
        value: &serde_json::Value,
        path: &mut Vec<String>,
        vars: &BTreeMap<String, String>,
        strict: bool,
    ) -> Option<String> {
        match value {
            serde_json::Value::String(text) => expand_text(text, vars, strict)
                .is_err()
                .then(|| path.join(".")),
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                path.push(i.to_string());
                let found = walk(item, path, vars, strict);
                path.pop();
                found
            }),
            serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
                path.push(key.clone());
                let found = walk(item, path, vars, strict);
                path.pop();
                found
            }),
            _ => None,
        }
    }
    walk(value, &mut Vec::new(), vars, strict)
}

fn evaluate(
    expression: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, FailureKind> {
    let name_len = expression
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(expression.len(), |(i, _)| i);
    let (name, operator) = expression.split_at(name_len);
    if name.is_empty() {
        return Err(FailureKind::Unsupported);
    }
    let value = vars.get(name);
    let (default, when_empty) = match operator {
        "" => {
            return match value {
                Some(v) => Ok(v.clone()),
                None if strict => Err(FailureKind::Unset(name.to_owned())),
                None => Ok(String::new()),
            };
        }
        op if op.starts_with(":=") || op.starts_with(":-") => (&op[2..], true),
        op if op.starts_with('=') || op.starts_with('-') => (&op[1..], false),
        _ => return Err(FailureKind::Unsupported),
    };
    Ok(match value {
        Some(v) if !(when_empty && v.is_empty()) => v.clone(),
        _ => default.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("cluster_env", "prod"), ("REPLICAS", "3"), ("empty", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn expands_every_supported_form() {
        let v = vars();
        let cases = [
            ("env: ${cluster_env}", "env: prod"),
            ("x: ${missing:=fallback}", "x: fallback"),
            ("x: ${missing:-fallback}", "x: fallback"),
            ("x: ${empty:-fallback}", "x: fallback"),
            ("x: ${empty-fallback}", "x: "),
            ("x: ${missing=d}", "x: d"),
            ("x: $${cluster_env}", "x: ${cluster_env}"),
            ("x: $HOME and $ alone", "x: $HOME and $ alone"),
            ("x: ${missing}", "x: "),
        ];
        for (input, expected) in cases {
            assert_eq!(expand(input, &v, false, "o").unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn strict_mode_and_bad_expressions() {
        let v = vars();
        assert_eq!(
            expand("${missing}", &v, true, "ConfigMap/a/b")
                .unwrap_err()
                .to_string(),
            "ConfigMap/a/b: line 1: variable missing is not set"
        );
        assert!(matches!(
            expand("${x:1:2}", &v, false, "o"),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            expand("${1x}", &v, false, "o"),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            expand("${open", &v, false, "o"),
            Err(Error::Unterminated { .. })
        ));
    }

    #[test]
    fn numbers_become_numbers_and_opt_out_is_honoured() {
        let objects = object::parse_yaml(
            "x.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api-${cluster_env}\nspec:\n  replicas: ${REPLICAS}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  script: echo ${HOME}\n",
        )
        .unwrap();
        let out = substitute(objects, &vars(), false).unwrap();
        assert_eq!(out[0].id().name, "api-prod");
        assert_eq!(
            out[0].value().pointer("/spec/replicas"),
            Some(&serde_json::json!(3))
        );
        assert_eq!(
            out[1].value().pointer("/data/script"),
            Some(&serde_json::json!("echo ${HOME}"))
        );
    }
}
