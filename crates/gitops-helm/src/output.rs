//! The manifest `helm template` prints: documents split, sorted into Helm's install order,
//! hooks after the rest.

use std::collections::BTreeMap;

use crate::Error;
use crate::chart::Chart;
use crate::head::{self, Head};

/// Helm v4's install order by kind; other kinds follow, by kind name.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One document of the output.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The template file it came from (`chart/templates/x.yaml`).
    pub path: String,
    /// The document, trimmed.
    pub content: String,
    /// Its `kind`.
    pub kind: String,
    /// For a hook, its events (`pre-install`, `test`, …).
    pub hook_events: Option<Vec<String>>,
}

fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

/// Helm v4's split of a rendered file into documents: a line starting with `---` ends a
/// document (the rest of that line, after whitespace, begins the next); each document loses
/// its leading whitespace but keeps its trailing line breaks; blank documents are dropped.
pub fn split_manifests(text: &str) -> Vec<String> {
    split_docs(text).into_iter().map(str::to_string).collect()
}

/// [`split_manifests`], the documents borrowed from `text`.
fn split_docs(text: &str) -> Vec<&str> {
    const GO_SPACE: [char; 5] = [' ', '\t', '\n', '\r', '\x0c'];
    let mut raw = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    loop {
        let line_start = pos == 0 || text.as_bytes()[pos - 1] == b'\n';
        if line_start && text[pos..].starts_with("---") {
            raw.push(&text[start..pos]);
            let rest = text[pos + 3..].trim_start_matches(GO_SPACE);
            start = text.len() - rest.len();
            pos = start;
            continue;
        }
        // The next line starting with `---` (a vectorised search: documents are long).
        match memchr::memmem::find(&text.as_bytes()[pos..], b"\n---") {
            Some(i) => pos += i + 1,
            None => break,
        }
    }
    raw.push(&text[start..]);
    raw.into_iter()
        .filter(|d| !d.trim_matches(is_go_space).is_empty())
        .map(|d| d.trim_start_matches(is_go_space))
        .collect()
}

fn kind_rank(kind: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|k| *k == kind)
}

fn less_by_kind(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (kind_rank(a), kind_rank(b)) {
        (None, None) => a.cmp(b),
        (None, Some(_)) => Greater,
        (Some(_), None) => Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

/// The kind and hook of a document: scanned when it is plainly written, else parsed fully,
/// as Helm does, with Helm's error for invalid YAML.
fn head(path: &str, doc: &str) -> Result<Head, Error> {
    if let Some(head) = head::scan(doc) {
        return Ok(head);
    }
    head::parse(doc).map_err(|e| Error::Manifest {
        path: path.to_string(),
        message: format!(
            "YAML parse error on {path}: error converting YAML to JSON: yaml: {}",
            go_yaml_error(&e, doc)
        ),
    })
}

/// The name of the alias (`*name`) at `line` and `column` (from 1) of `doc`, or the first one
/// on that line.
fn alias_at(doc: &str, line: usize, column: usize) -> Option<&str> {
    let text = doc.lines().nth(line.checked_sub(1)?)?;
    let from = text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map(|(at, _)| at)
        .filter(|at| text[*at..].starts_with('*'))
        .or_else(|| text.find('*'))?;
    let rest = &text[from + 1..];
    let end = rest
        .find(|c: char| c.is_whitespace() || ",[]{}".contains(c))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The parser's error as go-yaml v2 words it (`line N: problem`): only the problem, without
/// the "while parsing …" context; a parser error's line counted from 0 and a scanner error's
/// from 1 (go-yaml's own inconsistency), none when that number is 0; the end of the stream
/// placed at the end of the document; and go-yaml's wording where the two parsers differ.
fn go_yaml_error(e: &crate::yaml::YamlError, doc: &str) -> String {
    let (parser_error, problem) = match e.message.split_once(", ") {
        Some((context, problem)) if context.starts_with("while parsing ") => (true, problem),
        Some((context, problem)) if context.starts_with("while scanning ") => (false, problem),
        _ => (false, e.message.as_str()),
    };
    if problem == "found unknown anchor" {
        // go-yaml names the alias, on no line.
        if let Some(name) = alias_at(doc, e.line, e.column) {
            return format!("unknown anchor '{name}' referenced");
        }
    }
    let problem = match problem {
        "expected ',' or ']'" => "did not find expected ',' or ']'",
        "simple key expect ':'" => "could not find expected ':'",
        "tabs disallowed within this context (block indentation)" => {
            "found character that cannot start any token"
        }
        other => other,
    };
    // The problem's line, from 1, as the two parsers place it.
    let at = if problem == "found unexpected end of stream" {
        doc.bytes().filter(|b| *b == b'\n').count() + 1
    } else {
        e.line
    };
    let shown = if parser_error {
        at.saturating_sub(1)
    } else {
        at
    };
    if at <= 1 {
        problem.to_string()
    } else {
        format!("line {shown}: {problem}")
    }
}

/// Sorts rendered files into the manifests and hooks `helm template` prints.
///
/// # Errors
/// [`Error::Manifest`] when a document is not valid YAML.
pub fn sort_manifests(
    files: &BTreeMap<String, String>,
) -> Result<(Vec<Manifest>, Vec<Manifest>), Error> {
    sort_manifests_on(files, 1)
}

/// [`sort_manifests`] with the documents of a large output split and read on up to
/// `threads` threads; the error is still the first in file order.
fn sort_manifests_on(
    files: &BTreeMap<String, String>,
    threads: usize,
) -> Result<(Vec<Manifest>, Vec<Manifest>), Error> {
    let owned = |docs: Vec<Doc<'_>>| -> Vec<Manifest> {
        docs.into_iter()
            .map(|d| Manifest {
                path: d.path.clone(),
                content: d.content.to_string(),
                kind: d.kind,
                hook_events: d.hook_events,
            })
            .collect()
    };
    let (generic, hooks) = sort_docs(files, threads)?;
    Ok((owned(generic), owned(hooks)))
}

/// A [`Manifest`] borrowing its path and text from the rendered files (the output copies
/// them once, into itself).
struct Doc<'a> {
    path: &'a String,
    content: &'a str,
    kind: String,
    hook_events: Option<Vec<String>>,
}

/// [`sort_manifests_on`], borrowing.
fn sort_docs(
    files: &BTreeMap<String, String>,
    threads: usize,
) -> Result<(Vec<Doc<'_>>, Vec<Doc<'_>>), Error> {
    let files: Vec<(&String, &String)> = files
        .iter()
        .filter(|(path, text)| {
            !crate::engine::is_partial(path) && !text.trim_matches(is_go_space).is_empty()
        })
        .collect();
    let bytes = files.iter().map(|(_, text)| text.len()).sum();
    let threads = crate::engine::threads_for(bytes, threads);
    let heads = crate::engine::side_by_side(&files, threads, false, |(path, text)| {
        split_docs(text)
            .into_iter()
            .map(|doc| head(path, doc).map(|h| (doc, h)))
            .collect::<Result<Vec<_>, Error>>()
    });
    let mut generic = Vec::new();
    let mut hooks = Vec::new();
    for ((path, _), docs) in files.into_iter().zip(heads) {
        let docs = docs.unwrap_or_else(|| {
            Err(Error::Manifest {
                path: path.clone(),
                message: format!("{path}: not read"),
            })
        })?;
        for (doc, Head { kind, hook }) in docs {
            match hook {
                None => generic.push(Doc {
                    path,
                    content: doc,
                    kind,
                    hook_events: None,
                }),
                Some(h) => {
                    let events: Vec<String> =
                        h.split(',').map(|e| e.trim().to_lowercase()).collect();
                    if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
                        // Helm drops a document with an unknown hook event.
                        continue;
                    }
                    hooks.push(Doc {
                        path,
                        content: doc,
                        kind,
                        hook_events: Some(events),
                    });
                }
            }
        }
    }
    generic.sort_by(|a, b| less_by_kind(&a.kind, &b.kind));
    hooks.sort_by(|a, b| less_by_kind(&a.kind, &b.kind));
    Ok((generic, hooks))
}

/// Appends `---\n# Source: PATH\nCONTENT\n` (pieces pushed in place: a formatted copy of
/// each document cost a copy of the whole output, 5 MB with kube-prometheus-stack's CRDs).
fn push_doc(out: &mut String, path: &[&str], content: &str) {
    out.push_str("---\n# Source: ");
    for p in path {
        out.push_str(p);
    }
    out.push('\n');
    out.push_str(content);
    out.push('\n');
}

/// Reads the CRD files of the chart and its subcharts on up to `threads` threads, for
/// `push_crds` to find them read (kube-prometheus-stack's are 4.5 MB in a few dozen files).
/// A failed read is kept, and reported by `push_crds` in its order.
fn read_crds(chart: &Chart, threads: usize) {
    fn collect(chart: &Chart, into: &mut Vec<crate::chart::Contents>) {
        into.extend(chart.crds().map(|f| f.data.clone()));
        for sub in &chart.dependencies {
            collect(sub, into);
        }
    }
    let mut crds = Vec::new();
    collect(chart, &mut crds);
    let bytes = crds.iter().map(|c| c.size_hint()).sum::<u64>();
    let threads = crate::engine::threads_for(usize::try_from(bytes).unwrap_or(usize::MAX), threads);
    if threads > 1 {
        crate::engine::side_by_side(&crds, threads, false, |c| {
            let _ = c.bytes();
            Ok::<(), ()>(())
        });
    }
}

fn push_crds(out: &mut String, chart: &Chart, path: &str) -> Result<(), Error> {
    for f in chart.crds() {
        let text = String::from_utf8_lossy(f.bytes(path)?);
        push_doc(out, &[path, "/", &f.name], &text);
    }
    for sub in &chart.dependencies {
        push_crds(out, sub, &sub.path_under(path))?;
    }
    Ok(())
}

/// The text `helm template` prints; the documents of a large output are read on up to
/// `threads` threads.
///
/// # Errors
/// As [`sort_manifests`].
pub fn print(
    chart: &Chart,
    files: &BTreeMap<String, String>,
    include_crds: bool,
    skip_tests: bool,
    threads: usize,
) -> Result<String, Error> {
    let (generic, hooks) = sort_docs(files, threads)?;
    let size: usize = (generic.iter().map(|m| (&m.path, &m.content)))
        .chain(hooks.iter().map(|h| (&h.path, &h.content)))
        .map(|(p, c)| p.len() + c.len() + 16)
        .sum();
    let mut out = String::with_capacity(size + 1);
    if include_crds {
        read_crds(chart, threads);
        push_crds(&mut out, chart, chart.name())?;
    }
    for m in &generic {
        push_doc(&mut out, &[m.path], m.content);
    }
    // Trimmed in place, as `strings.TrimSpace` of the manifest section.
    let end = out.trim_end_matches(is_go_space).len();
    out.truncate(end);
    let start = out.len() - out.trim_start_matches(is_go_space).len();
    out.drain(..start);
    out.push('\n');
    for h in &hooks {
        let is_test = h
            .hook_events
            .as_ref()
            .is_some_and(|e| e.iter().any(|x| x == "test" || x == "test-success"));
        if skip_tests && is_test {
            continue;
        }
        push_doc(&mut out, &[h.path], h.content);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_helm() {
        assert_eq!(
            split_manifests("a: 1\n---\nb: 2\n---\n\n"),
            vec!["a: 1\n", "b: 2\n"]
        );
        assert_eq!(
            split_manifests("---\na: 1\n\n--- # c\n  ---\n---x: 2"),
            vec!["a: 1\n\n", "# c\n  ---\n", "x: 2"]
        );
    }
}
