//! `gitops tree kustomization NAME`: what a Kustomization's inventory holds, and nested under
//! each Kustomization in it, what that one holds, as `flux tree` prints it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use clap::Subcommand;
use gitops::ObjectRef;
use gitops::flux::Kustomization;
use kube::Api;

use crate::cluster::{TargetArgs, within};

#[derive(Subcommand)]
pub(crate) enum TreeCommand {
    /// A Kustomization's inventory, nested through the Kustomizations it applies.
    #[command(alias = "ks")]
    Kustomization(TargetArgs),
}

/// `Kind/namespace/name`, or `Kind/name` for a cluster-scoped object, as `flux tree` names them.
fn label(id: &ObjectRef) -> String {
    match &id.namespace {
        Some(ns) => format!("{}/{ns}/{}", id.kind, id.name),
        None => format!("{}/{}", id.kind, id.name),
    }
}

fn is_kustomization(id: &ObjectRef) -> bool {
    id.kind == "Kustomization" && id.group == "kustomize.toolkit.fluxcd.io"
}

/// The tree's lines under `id`, drawn with `├──`/`└──` and `│`; `children` holds the inventory of
/// every Kustomization read. A Kustomization met again below itself is printed, not entered.
fn draw(
    id: &ObjectRef,
    children: &BTreeMap<String, Vec<ObjectRef>>,
    prefix: &str,
    path: &mut BTreeSet<String>,
    out: &mut String,
) {
    let Some(items) = children.get(&label(id)) else {
        return;
    };
    path.insert(label(id));
    for (i, child) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&label(child));
        out.push('\n');
        if is_kustomization(child) && !path.contains(&label(child)) {
            let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
            draw(child, children, &deeper, path, out);
        }
    }
    path.remove(&label(id));
}

/// Runs `tree`.
pub(crate) async fn run(command: TreeCommand) -> anyhow::Result<ExitCode> {
    let TreeCommand::Kustomization(target) = command;
    within(target.cluster.timeout, tree(&target)).await
}

async fn tree(target: &TargetArgs) -> anyhow::Result<ExitCode> {
    let client = target.cluster.client().await?;
    let root = ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some(&target.cluster.namespace),
        &target.name,
    );
    // Read each Kustomization once; a nested one that is gone is a leaf.
    let mut children: BTreeMap<String, Vec<ObjectRef>> = BTreeMap::new();
    let mut queue = vec![root.clone()];
    while let Some(id) = queue.pop() {
        if children.contains_key(&label(&id)) {
            continue;
        }
        let ns = id.namespace.clone().unwrap_or_default();
        let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
        let Some(ks) = api.get_opt(&id.name).await? else {
            if id == root {
                anyhow::bail!("Kustomization {ns}/{} not found", id.name);
            }
            continue;
        };
        let inventory = ks.inventory()?;
        let mut items: Vec<ObjectRef> = inventory.iter().cloned().collect();
        items.sort_by_key(label);
        queue.extend(items.iter().filter(|c| is_kustomization(c)).cloned());
        children.insert(label(&id), items);
    }
    let mut out = format!("{}\n", label(&root));
    draw(&root, &children, "", &mut BTreeSet::new(), &mut out);
    crate::common::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(ns: &str, name: &str) -> ObjectRef {
        ObjectRef::new(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            Some(ns),
            name,
        )
    }

    #[test]
    fn nested_kustomizations_are_drawn_under_their_parent_and_cycles_end() {
        let ns_obj = ObjectRef::new("", "v1", "Namespace", None, "apps");
        let deploy = ObjectRef::new("apps", "v1", "Deployment", Some("apps"), "web");
        let mut children = BTreeMap::new();
        children.insert(
            label(&ks("flux-system", "root")),
            vec![ks("flux-system", "apps"), ns_obj.clone()],
        );
        children.insert(
            label(&ks("flux-system", "apps")),
            vec![deploy, ks("flux-system", "root")],
        );
        let mut out = String::new();
        draw(
            &ks("flux-system", "root"),
            &children,
            "",
            &mut BTreeSet::new(),
            &mut out,
        );
        assert_eq!(
            out,
            "├── Kustomization/flux-system/apps\n\
             │   ├── Deployment/apps/web\n\
             │   └── Kustomization/flux-system/root\n\
             └── Namespace/apps\n"
        );
    }
}
