//! Commit messages for image automation, from a small template language over the change report.
//!
//! The language has two constructs:
//!
//! - `{{name}}` inserts a value;
//! - `{{#list}} … {{/list}}` repeats its body once per item of a list, where the item's fields
//!   are the names inside (and the outer names stay visible).
//!
//! | name | what |
//! |---|---|
//! | `automation` | the automation's name, `<namespace>/<name>` |
//! | `count` | how many fields changed |
//! | `changes` (list) | every changed field: `file`, `line`, `policy`, `old`, `new` |
//! | `files` (list) | every changed file: `file`, `count` (fields changed in it) |
//! | `images` (list) | every distinct new value: `image` |
//!
//! ```
//! use gitops_core::image::message::{render, DEFAULT_TEMPLATE};
//! # use gitops_core::image::setters::{Change, Part};
//! let changes = vec![Change { file: "apps/api.yaml".into(), line: 7, policy: "flux-system:api".into(),
//!     part: Part::Image, old: "ghcr.io/acme/api:1.0.0".into(), new: "ghcr.io/acme/api:1.1.0".into() }];
//! let text = render("{{count}} change(s):\n{{#changes}}- {{old}} -> {{new}}\n{{/changes}}", "flux-system/auto", &changes).unwrap();
//! assert_eq!(text, "1 change(s):\n- ghcr.io/acme/api:1.0.0 -> ghcr.io/acme/api:1.1.0\n");
//! assert!(render(DEFAULT_TEMPLATE, "flux-system/auto", &changes).unwrap().starts_with("Update images"));
//! ```
//!
//! Unknown names and unclosed sections are errors, so a typo never reaches a commit.
//!
//! A template comes from an `ImageUpdateAutomation` object, so it is untrusted: sections nest at
//! most [`MAX_DEPTH`] deep, a message is at most [`MAX_OUTPUT`] bytes, and a render reads at most
//! [`MAX_WORK`] bytes of template (a section's body is read again for every item, so this bounds
//! the work of nested sections that print nothing). Past a bound the render fails; it never runs out of memory,
//! stack or time.

use std::collections::{BTreeMap, BTreeSet};

use super::setters::Change;

/// The message used when an automation names no template.
pub const DEFAULT_TEMPLATE: &str = "Update images\n\nAutomation: {{automation}}\n\n{{#changes}}- {{file}}:{{line}}: {{old}} -> {{new}} ({{policy}})\n{{/changes}}";

/// How deep sections may nest.
pub const MAX_DEPTH: usize = 8;

/// The largest message, in bytes (a commit message past a few KiB is already unusual).
pub const MAX_OUTPUT: usize = 1 << 20;

/// The most template bytes one render may read, counting a section's body once per item.
pub const MAX_WORK: usize = 16 << 20;

/// Errors in a template.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A name that is neither a value nor a list in scope.
    #[error("unknown template name {name:?} at byte {at}")]
    Unknown {
        /// The name.
        name: String,
        /// Its byte offset in the template.
        at: usize,
    },
    /// `{{#list}}` without its `{{/list}}`, or a `{{/x}}` that closes nothing.
    #[error("unbalanced section {name:?} at byte {at}")]
    Unbalanced {
        /// The section name.
        name: String,
        /// Its byte offset in the template.
        at: usize,
    },
    /// `{{` without `}}`.
    #[error("unterminated tag at byte {at}")]
    Unterminated {
        /// The byte offset of `{{`.
        at: usize,
    },
    /// Sections nest deeper than [`MAX_DEPTH`].
    #[error("section {name:?} at byte {at} nests deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// The section name.
        name: String,
        /// Its byte offset in the template.
        at: usize,
    },
    /// The message would be longer than [`MAX_OUTPUT`] bytes, or its render would read more
    /// than [`MAX_WORK`] bytes of template.
    #[error("the message expands past {limit} at byte {at} of the template")]
    TooLarge {
        /// Which bound was reached.
        limit: &'static str,
        /// The byte offset in the template where it was reached.
        at: usize,
    },
}

/// What one render may still spend.
struct Budget {
    read: usize,
}

impl Budget {
    fn spend(&mut self, bytes: usize, at: usize) -> Result<(), Error> {
        self.read = self.read.saturating_add(bytes.max(1));
        if self.read > MAX_WORK {
            return Err(Error::TooLarge {
                limit: "16 MiB of template reading",
                at,
            });
        }
        Ok(())
    }
}

fn push_bounded(out: &mut String, text: &str, at: usize) -> Result<(), Error> {
    if out.len().saturating_add(text.len()) > MAX_OUTPUT {
        return Err(Error::TooLarge {
            limit: "1 MiB of text",
            at,
        });
    }
    out.push_str(text);
    Ok(())
}

type Scope = BTreeMap<&'static str, String>;

/// Renders `template` for the automation named `automation` and its `changes`.
pub fn render(template: &str, automation: &str, changes: &[Change]) -> Result<String, Error> {
    let mut root = Scope::new();
    root.insert("automation", automation.to_owned());
    root.insert("count", changes.len().to_string());

    let mut lists: BTreeMap<&'static str, Vec<Scope>> = BTreeMap::new();
    lists.insert(
        "changes",
        changes
            .iter()
            .map(|c| {
                Scope::from([
                    ("file", c.file.clone()),
                    ("line", c.line.to_string()),
                    ("policy", c.policy.clone()),
                    ("old", c.old.clone()),
                    ("new", c.new.clone()),
                ])
            })
            .collect(),
    );
    let mut per_file: BTreeMap<&str, usize> = BTreeMap::new();
    for c in changes {
        *per_file.entry(&c.file).or_default() += 1;
    }
    lists.insert(
        "files",
        per_file
            .into_iter()
            .map(|(file, count)| {
                Scope::from([("file", file.to_owned()), ("count", count.to_string())])
            })
            .collect(),
    );
    let images: BTreeSet<&str> = changes.iter().map(|c| c.new.as_str()).collect();
    lists.insert(
        "images",
        images
            .into_iter()
            .map(|i| Scope::from([("image", i.to_owned())]))
            .collect(),
    );

    let mut out = String::new();
    let mut budget = Budget { read: 0 };
    expand(template, 0, &[&root], &lists, &mut out, &mut budget)?;
    Ok(out)
}

fn expand(
    text: &str,
    offset: usize,
    scopes: &[&Scope],
    lists: &BTreeMap<&'static str, Vec<Scope>>,
    out: &mut String,
    budget: &mut Budget,
) -> Result<(), Error> {
    let mut rest = text;
    let mut base = offset;
    while let Some(open) = rest.find("{{") {
        push_bounded(out, &rest[..open], base)?;
        let at = base + open;
        let close = rest[open..].find("}}").ok_or(Error::Unterminated { at })? + open;
        budget.spend(close + 2, at)?;
        let tag = rest[open + 2..close].trim();
        let after = close + 2;
        if let Some(name) = tag.strip_prefix('#') {
            let name = name.trim();
            // The root scope is the last one; every section adds one in front of it.
            if scopes.len() > MAX_DEPTH {
                return Err(Error::TooDeep {
                    name: name.to_owned(),
                    at,
                });
            }
            let end_tag = format!("{{{{/{name}}}}}");
            let body_end = find_closing(&rest[after..], name).ok_or_else(|| Error::Unbalanced {
                name: name.to_owned(),
                at,
            })?;
            let body = &rest[after..after + body_end];
            let items = lists.get(name).ok_or_else(|| Error::Unknown {
                name: name.to_owned(),
                at,
            })?;
            budget.spend(body_end, at)?;
            for item in items {
                budget.spend(body.len(), at)?;
                let mut inner: Vec<&Scope> = vec![item];
                inner.extend_from_slice(scopes);
                expand(body, base + after, &inner, lists, out, budget)?;
            }
            let consumed = after + body_end + end_tag.len();
            base += consumed;
            rest = &rest[consumed..];
        } else if let Some(name) = tag.strip_prefix('/') {
            return Err(Error::Unbalanced {
                name: name.trim().to_owned(),
                at,
            });
        } else {
            let value = scopes
                .iter()
                .find_map(|s| s.get(tag))
                .ok_or_else(|| Error::Unknown {
                    name: tag.to_owned(),
                    at,
                })?;
            push_bounded(out, value, at)?;
            base += after;
            rest = &rest[after..];
        }
    }
    push_bounded(out, rest, base)?;
    Ok(())
}

/// The byte offset of the `{{/name}}` that closes a section opened just before `text`,
/// skipping nested sections of the same name.
fn find_closing(text: &str, name: &str) -> Option<usize> {
    let (open, close) = (format!("{{{{#{name}}}}}"), format!("{{{{/{name}}}}}"));
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(&open) {
            depth += 1;
            i += open.len();
        } else if text[i..].starts_with(&close) {
            if depth == 0 {
                return Some(i);
            }
            depth -= 1;
            i += close.len();
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::setters::Part;

    fn changes() -> Vec<Change> {
        let change = |file: &str, line, new: &str| Change {
            file: file.into(),
            line,
            policy: "flux-system:api".into(),
            part: Part::Tag,
            old: "1.0.0".into(),
            new: new.into(),
        };
        vec![
            change("apps/a.yaml", 3, "1.1.0"),
            change("apps/a.yaml", 9, "1.1.0"),
            change("apps/b.yaml", 1, "2.0.0"),
        ]
    }

    #[test]
    fn values_lists_and_outer_names() {
        let text = render("{{automation}}: {{count}}\n{{#files}}{{file}} ({{count}}) in {{automation}}\n{{/files}}{{#images}}[{{image}}]{{/images}}", "ns/auto", &changes()).unwrap();
        assert_eq!(
            text,
            "ns/auto: 3\napps/a.yaml (2) in ns/auto\napps/b.yaml (1) in ns/auto\n[1.1.0][2.0.0]"
        );
    }

    #[test]
    fn default_template() {
        let text = render(DEFAULT_TEMPLATE, "flux-system/images", &changes()).unwrap();
        assert!(text.contains("Automation: flux-system/images"));
        assert!(text.contains("- apps/b.yaml:1: 1.0.0 -> 2.0.0 (flux-system:api)\n"));
    }

    fn many_changes(n: usize) -> Vec<Change> {
        (0..n)
            .map(|i| Change {
                file: format!("apps/{i}.yaml"),
                line: i,
                policy: "flux-system:api".into(),
                part: Part::Tag,
                old: "1.0.0".into(),
                new: format!("1.0.{i}"),
            })
            .collect()
    }

    #[test]
    fn nested_sections_cannot_expand_exponentially() {
        // 100 changes, sections nested 6 deep: 10^12 repetitions of the innermost body.
        let nest = |depth: usize, inner: &str| {
            format!(
                "{}{inner}{}",
                "{{#changes}}".repeat(depth),
                "{{/changes}}".repeat(depth)
            )
        };
        let started = std::time::Instant::now();
        let e = render(&nest(6, "{{old}}"), "a", &many_changes(100)).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        // Printing nothing per item still does the work: bounded too.
        let e = render(&nest(6, ""), "a", &many_changes(100)).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // Deep nesting is refused before it can use up the stack.
        let e = render(&nest(10_000, "x"), "a", &many_changes(1)).unwrap_err();
        assert!(matches!(e, Error::TooDeep { .. }), "{e}");
        let e = render(&nest(100_000, "x"), "a", &many_changes(1)).unwrap_err();
        assert!(
            matches!(e, Error::TooDeep { .. } | Error::TooLarge { .. }),
            "{e}"
        );
        // What real templates do still works.
        let ok = render(&nest(2, "{{old}}"), "a", &many_changes(3)).unwrap();
        assert_eq!(ok.len(), 9 * 5);
    }

    #[test]
    fn errors_name_the_place() {
        assert_eq!(
            render("x {{nope}}", "a", &[]),
            Err(Error::Unknown {
                name: "nope".into(),
                at: 2
            })
        );
        assert_eq!(
            render("{{#changes}}x", "a", &[]),
            Err(Error::Unbalanced {
                name: "changes".into(),
                at: 0
            })
        );
        assert_eq!(
            render("{{/changes}}", "a", &[]),
            Err(Error::Unbalanced {
                name: "changes".into(),
                at: 0
            })
        );
        assert_eq!(
            render("ab {{count", "a", &[]),
            Err(Error::Unterminated { at: 3 })
        );
        assert!(matches!(
            render("{{#other}}{{/other}}", "a", &[]),
            Err(Error::Unknown { .. })
        ));
        assert!(matches!(
            render("{{#changes}}{{image}}{{/changes}}", "a", &changes()),
            Err(Error::Unknown { .. })
        ));
    }
}
