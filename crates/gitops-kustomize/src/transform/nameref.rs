//! Name references: after names change (prefixes, suffixes, hashes), fields that name other
//! resources (a ConfigMap in a Deployment, a ServiceAccount in a RoleBinding) follow them.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::{Error, invalid};
use crate::resource::{Gvk, ResId, Resource};
use crate::transform::config::Config;
use crate::transform::fieldspec::{Spec, walk};

struct BackRef {
    referral: Gvk,
    referrer: Spec,
}

fn table() -> &'static [BackRef] {
    static TABLE: OnceLock<Vec<BackRef>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = include_str!("../tables/namereference.txt");
        let dash = |s: &str| {
            if s == "-" {
                String::new()
            } else {
                s.to_owned()
            }
        };
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                if f.len() != 7 {
                    return None;
                }
                Some(BackRef {
                    referral: Gvk {
                        group: dash(f[1]),
                        version: dash(f[2]),
                        kind: f[0].to_owned(),
                    },
                    referrer: Spec::new(&dash(f[4]), &dash(f[5]), &dash(f[3]), f[6], false),
                })
            })
            .collect()
    })
}

fn selected(id: &ResId, sel: &Gvk) -> bool {
    id.gvk.selected_by(&sel.group, &sel.version, &sel.kind)
}

fn prefix_suffix_equal(a: &Resource, b: &Resource, allow_empty: bool) -> bool {
    fn same_ending(x: &[String], y: &[String]) -> bool {
        let (short, long) = if x.len() <= y.len() { (x, y) } else { (y, x) };
        if short.is_empty() {
            return long.is_empty();
        }
        long.ends_with(short)
    }
    if allow_empty {
        (a.prefixes.is_empty() || b.prefixes.is_empty() || same_ending(&a.prefixes, &b.prefixes))
            && (a.suffixes.is_empty()
                || b.suffixes.is_empty()
                || same_ending(&a.suffixes, &b.suffixes))
    } else {
        same_ending(&a.prefixes, &b.prefixes) && same_ending(&a.suffixes, &b.suffixes)
    }
}

struct Ctx<'a> {
    all: &'a [Resource],
    ids: &'a [ResId],
    prevs: &'a [Vec<ResId>],
    by_prev_name: &'a HashMap<&'a str, Vec<usize>>,
    referrer: &'a Resource,
    referrer_id: ResId,
    referral: &'a Gvk,
    role_ref: Option<Gvk>,
}

impl Ctx<'_> {
    /// Resources the referrer may name at all (kustomize's "subset that could be referenced").
    fn could_reference(&self, i: usize, rb_namespaces: &[String]) -> bool {
        if self.referrer_id.gvk.is_cluster_scoped() {
            return true;
        }
        let id = &self.ids[i];
        id.gvk.is_cluster_scoped()
            || id.ns_equals(&self.referrer_id)
            || rb_namespaces.contains(&id.namespace)
    }

    /// Resources that once had `name` and that the referrer may name.
    fn named(&self, name: &str, rb_namespaces: &[String]) -> Vec<usize> {
        self.by_prev_name
            .get(name)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| self.could_reference(i, rb_namespaces))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn select(
        &self,
        old_name: &str,
        candidates: Vec<usize>,
        same_ns_too: bool,
    ) -> Result<Option<usize>, String> {
        let mut c: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| {
                let prev = &self.prevs[i];
                prev.iter().any(|p| p.name == old_name)
                    && prev.iter().any(|p| selected(p, self.referral))
                    && self
                        .role_ref
                        .as_ref()
                        .is_none_or(|g| prev.iter().any(|p| selected(p, g)))
            })
            .filter(|&i| {
                if self.referrer_id.gvk.is_cluster_scoped() {
                    return true;
                }
                let id = &self.ids[i];
                id.gvk.is_cluster_scoped()
                    || id.gvk.kind == "ServiceAccount"
                    || id.ns_equals(&self.referrer_id)
            })
            .collect();
        if c.len() == 1 {
            return Ok(Some(c[0]));
        }
        c.retain(|&i| prefix_suffix_equal(&self.all[i], self.referrer, true));
        if c.len() > 1 {
            c.retain(|&i| prefix_suffix_equal(&self.all[i], self.referrer, false));
        }
        match c.len() {
            0 => Ok(None),
            1 => Ok(Some(c[0])),
            _ => {
                let first = &self.all[c[0]];
                let identical = c.iter().all(|&i| {
                    self.all[i].name() == first.name()
                        && (!same_ns_too || self.all[i].namespace() == first.namespace())
                });
                if identical {
                    Ok(Some(c[0]))
                } else {
                    Err(format!(
                        "found multiple possible referrals: {}",
                        c.iter()
                            .map(|&i| self.all[i].cur_id().display())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
        }
    }
}

/// Fixes every name reference in `ra`.
pub(crate) fn fix(file: &str, ra: &mut [Resource], config: &Config) -> Result<(), Error> {
    // The built-in back references, then the configured ones they do not already hold.
    let configured: Vec<BackRef> = config
        .name_reference
        .iter()
        .filter(|(referral, spec)| {
            !table().iter().any(|b| {
                b.referral == *referral
                    && b.referrer.group == spec.group
                    && b.referrer.version == spec.version
                    && b.referrer.kind == spec.kind
                    && b.referrer.path == spec.path
            })
        })
        .map(|(referral, spec)| BackRef {
            referral: referral.clone(),
            referrer: spec.clone(),
        })
        .collect();
    // kustomize reads the subjects' namespaces of every namespaced RoleBinding before fixing
    // references, renamed or not, and refuses a ServiceAccount subject whose namespace is
    // there but not a string (`namespace:` left blank).
    for r in ra.iter() {
        let id = r.cur_id();
        if id.gvk.kind != "RoleBinding" || id.gvk.is_cluster_scoped() {
            continue;
        }
        let Some(subjects) = r.value.get("subjects").and_then(Value::as_array) else {
            continue;
        };
        for subject in subjects {
            if subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && subject.get("namespace").is_some_and(|ns| !ns.is_string())
            {
                return Err(invalid(
                    file,
                    format!(
                        "{}: a ServiceAccount subject has a blank namespace",
                        id.display()
                    ),
                ));
            }
        }
    }
    // Plan the updates against a snapshot, then write them.
    let snapshot: Vec<Resource> = ra.to_vec();
    let ids: Vec<ResId> = snapshot.iter().map(Resource::cur_id).collect();
    let prevs: Vec<Vec<ResId>> = snapshot.iter().map(Resource::prev_ids).collect();
    let mut by_prev_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, prev) in prevs.iter().enumerate() {
        for p in prev {
            let list = by_prev_name.entry(p.name.as_str()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    if by_prev_name.is_empty() {
        // Nothing was ever renamed: no reference can need fixing.
        return Ok(());
    }
    for (ri, referrer) in snapshot.iter().enumerate() {
        let org = referrer.org_id();
        let referrer_id = referrer.cur_id();
        let rb_namespaces: Vec<String> = if matches!(
            referrer_id.gvk.kind.as_str(),
            "RoleBinding" | "ClusterRoleBinding"
        ) {
            referrer
                .value
                .get("subjects")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter(|x| x.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
                        .filter_map(|x| {
                            x.get("namespace")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut value = ra[ri].value.clone();
        let mut changed = false;
        for br in table().iter().chain(&configured) {
            if !br.referrer.selects(&org.gvk) {
                continue;
            }
            let role_ref = if br.referrer.path.join("/").ends_with("roleRef/name") {
                let rr = referrer.value.get("roleRef");
                match (
                    rr.and_then(|r| r.get("apiGroup")).and_then(Value::as_str),
                    rr.and_then(|r| r.get("kind")).and_then(Value::as_str),
                ) {
                    (Some(g), Some(k)) => Some(Gvk {
                        group: g.to_owned(),
                        version: String::new(),
                        kind: k.to_owned(),
                    }),
                    _ => None,
                }
            } else {
                None
            };
            let ctx = Ctx {
                all: &snapshot,
                ids: &ids,
                prevs: &prevs,
                by_prev_name: &by_prev_name,
                referrer,
                referrer_id: referrer_id.clone(),
                referral: &br.referral,
                role_ref,
            };
            let mut err = None;
            walk(&mut value, &br.referrer.path, false, &mut |node, _| {
                let r = set_node(&ctx, node, &rb_namespaces, &mut changed);
                if let Err(e) = r {
                    err.get_or_insert(e);
                }
                Ok(())
            })
            .ok();
            if let Some(e) = err {
                return Err(invalid(
                    file,
                    format!(
                        "updating name reference in '{}' field of '{}': {e}",
                        br.referrer.path.join("/"),
                        referrer_id.display()
                    ),
                ));
            }
        }
        if changed {
            ra[ri].value = value;
        }
    }
    Ok(())
}

fn set_node(
    ctx: &Ctx<'_>,
    node: &mut Value,
    rb_namespaces: &[String],
    changed: &mut bool,
) -> Result<(), String> {
    match node {
        Value::String(s) => {
            if let Some(i) = ctx.select(s, ctx.named(s, rb_namespaces), false)? {
                let new = ctx.all[i].name();
                if new != s {
                    *s = new.to_owned();
                    *changed = true;
                }
            }
            Ok(())
        }
        Value::Object(m) => {
            let Some(old) = m.get("name").and_then(Value::as_str).map(str::to_owned) else {
                return Ok(());
            };
            let cands: Vec<usize> = match m.get("namespace").and_then(Value::as_str) {
                None => ctx.named(&old, rb_namespaces),
                Some(ns) => {
                    let named = ctx.named(&old, rb_namespaces);
                    let by_org: Vec<usize> = named
                        .iter()
                        .copied()
                        .filter(|&i| ctx.all[i].org_id().namespace_or_default() == ns)
                        .collect();
                    if by_org.is_empty() {
                        named
                            .iter()
                            .copied()
                            .filter(|&i| ctx.all[i].namespace() == ns)
                            .collect()
                    } else {
                        by_org
                    }
                }
            };
            if let Some(i) = ctx.select(&old, cands, true)? {
                let target = &ctx.all[i];
                if target.name() == old && target.namespace().is_empty() {
                    return Ok(());
                }
                m.insert("name".into(), Value::String(target.name().to_owned()));
                *changed = true;
                if !target.namespace().is_empty() {
                    m.insert(
                        "namespace".into(),
                        Value::String(target.namespace().to_owned()),
                    );
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                set_node(ctx, item, rb_namespaces, changed)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl ResId {
    fn namespace_or_default(&self) -> &str {
        &self.namespace
    }
}
