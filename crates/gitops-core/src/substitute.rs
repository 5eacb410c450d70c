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

/// Errors from substitution. They name the object and the variable, never the values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A variable without default is not set (strict mode).
    #[error("{object}: variable {name} is not set")]
    Unset {
        /// The object.
        object: String,
        /// The variable.
        name: String,
    },
    /// The expression is not one of the supported forms.
    #[error("{object}: unsupported substitution expression ${{{expression}}}")]
    Unsupported {
        /// The object.
        object: String,
        /// The text between the braces.
        expression: String,
    },
    /// A `${` has no closing brace.
    #[error("{object}: unterminated variable reference")]
    Unterminated {
        /// The object.
        object: String,
    },
    /// The substituted text is no longer a valid object.
    #[error("{object}: substitution produced invalid YAML")]
    Reparse {
        /// The object.
        object: String,
        /// The parse error.
        #[source]
        source: object::Error,
    },
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
        let yaml = object.to_yaml().map_err(|source| Error::Reparse {
            object: name.clone(),
            source,
        })?;
        if !yaml.contains("${") {
            out.push(object);
            continue;
        }
        let text = expand(&yaml, vars, strict, &name)?;
        let mut parsed = object::parse_yaml(&name, &text).map_err(|source| Error::Reparse {
            object: name.clone(),
            source,
        })?;
        if parsed.len() != 1 {
            return Err(Error::Reparse {
                object: name.clone(),
                source: object::Error::InvalidObject {
                    reason: format!("substitution produced {} documents", parsed.len()),
                },
            });
        }
        out.push(parsed.remove(0));
    }
    Ok(out)
}

/// Expands variable references in one text.
pub fn expand(
    text: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
    object: &str,
) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(escaped) = after.strip_prefix("$${") {
            // `$${x}` → `${x}`: copy through the closing brace untouched.
            let end = escaped.find('}').ok_or_else(|| Error::Unterminated {
                object: object.to_owned(),
            })?;
            out.push_str("${");
            out.push_str(&escaped[..=end]);
            rest = &escaped[end + 1..];
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body.find('}').ok_or_else(|| Error::Unterminated {
                object: object.to_owned(),
            })?;
            out.push_str(&evaluate(&body[..end], vars, strict, object)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn evaluate(
    expression: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
    object: &str,
) -> Result<String, Error> {
    let name_len = expression
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(expression.len(), |(i, _)| i);
    let (name, operator) = expression.split_at(name_len);
    let unsupported = || Error::Unsupported {
        object: object.to_owned(),
        expression: expression.to_owned(),
    };
    if name.is_empty() {
        return Err(unsupported());
    }
    let value = vars.get(name);
    let (default, when_empty) = match operator {
        "" => {
            return match value {
                Some(v) => Ok(v.clone()),
                None if strict => Err(Error::Unset {
                    object: object.to_owned(),
                    name: name.to_owned(),
                }),
                None => Ok(String::new()),
            };
        }
        op if op.starts_with(":=") || op.starts_with(":-") => (&op[2..], true),
        op if op.starts_with('=') || op.starts_with('-') => (&op[1..], false),
        _ => return Err(unsupported()),
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
            "ConfigMap/a/b: variable missing is not set"
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
