//! Conformance suites: the behaviour every backend of a trait must show, as plain async
//! functions a backend's tests call with its own instance.
//!
//! Each suite returns `Err` with a description of the first broken guarantee, so it works in
//! any test harness. The backends in this repository run them (`gitops-local`, `gitops-kube`);
//! a host's own backend can prove itself with the same calls.

use std::time::Duration;

use serde_json::json;

use crate::apply::{ApplyOptions, Drift, HealthStatus, Owner};
use crate::{Action, Applier, Object, ObjectRef};

fn object(value: serde_json::Value) -> Object {
    Object::new(value).expect("the suite's objects have apiVersion, kind and name")
}

fn check(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what()) }
}

fn actions(set: &crate::ChangeSet) -> Vec<(String, Action)> {
    let mut list: Vec<(String, Action)> = set
        .changes
        .iter()
        .map(|c| (c.id.to_string(), c.action))
        .collect();
    list.sort();
    list
}

/// The [`Applier`] guarantees, exercised in `namespace` (which the suite creates and deletes):
/// idempotent apply, per-object change sets, identities resolved as applied, drift reports that
/// mask Secret values, deletes that honour `kustomize.toolkit.fluxcd.io/prune: disabled` and
/// ownership, Flux's `ssa`/`reconcile` annotations, and health of applied objects.
pub async fn applier(applier: &dyn Applier, namespace: &str) -> Result<(), String> {
    let ns =
        object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}));
    let config = |value: &str| {
        object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace}, "data": {"level": value}}))
    };
    let kept = object(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kept", "namespace": namespace,
                     "annotations": {"kustomize.toolkit.fluxcd.io/prune": "disabled"}},
        "data": {"k": "v"}}));
    let secret = |value: &str| {
        object(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "credentials", "namespace": namespace},
            "type": "Opaque", "stringData": {"password": value}}),
        )
    };
    let me = ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some("flux-system"),
        "conformance",
    );
    let options = ApplyOptions::default().with_owner(Owner::of(&me));
    let first_set = vec![
        config("info"),
        kept.clone(),
        secret("conformance-secret-1"),
        ns.clone(),
    ];

    // 1. Everything is created, the namespace before what lives in it.
    let created = applier
        .apply(&first_set, &options)
        .await
        .map_err(|e| format!("first apply failed: {e}"))?;
    check(
        created.changes.len() == 4 && created.changes.iter().all(|c| c.action == Action::Created),
        || {
            format!(
                "first apply: expected 4 created, got {:?}",
                actions(&created)
            )
        },
    )?;
    let resolved = applier
        .resolve(&first_set, &options)
        .await
        .map_err(|e| format!("resolve failed: {e}"))?;
    let mut applied_ids: Vec<&ObjectRef> = created.changes.iter().map(|c| &c.id).collect();
    let mut resolved_ids: Vec<&ObjectRef> = resolved.iter().collect();
    applied_ids.sort();
    resolved_ids.sort();
    check(applied_ids == resolved_ids, || {
        format!("resolve must name objects as apply does: {resolved_ids:?} vs {applied_ids:?}")
    })?;
    check(created.changes[0].id.kind == "Namespace", || {
        format!(
            "the namespace must be applied first, got {:?}",
            actions(&created)
        )
    })?;

    // 2. Idempotence.
    let again = applier
        .apply(&first_set, &options)
        .await
        .map_err(|e| format!("second apply failed: {e}"))?;
    check(
        again.changes.iter().all(|c| c.action == Action::Unchanged) && again.changes.len() == 4,
        || {
            format!(
                "second apply must change nothing, got {:?}",
                actions(&again)
            )
        },
    )?;

    // 3. One change, one configured object.
    let changed_set = vec![
        config("debug"),
        kept.clone(),
        secret("conformance-secret-1"),
        ns.clone(),
    ];
    let changed = applier
        .apply(&changed_set, &options)
        .await
        .map_err(|e| format!("third apply failed: {e}"))?;
    check(
        changed.count(Action::Configured) == 1 && changed.count(Action::Unchanged) == 3,
        || {
            format!(
                "one changed ConfigMap must be the only configured object, got {:?}",
                actions(&changed)
            )
        },
    )?;

    // 4. Drift: none against what was applied; a different desired state is reported, masked.
    let none = applier
        .diff(&changed_set)
        .await
        .map_err(|e| format!("diff failed: {e}"))?;
    check(none.is_empty(), || {
        format!("no drift expected right after apply, got {none:?}")
    })?;
    let desired = vec![config("warn"), secret("conformance-secret-2")];
    let drift = applier
        .diff(&desired)
        .await
        .map_err(|e| format!("diff failed: {e}"))?;
    let printed = format!("{drift:?}");
    check(
        !printed.contains("conformance-secret-1") && !printed.contains("conformance-secret-2"),
        || format!("drift must mask Secret values: {printed}"),
    )?;
    let drifted: Vec<&ObjectRef> = drift.iter().map(Drift::id).collect();
    check(
        drifted.contains(&desired[0].id()) && drifted.contains(&desired[1].id()),
        || format!("both changed objects must drift, got {printed}"),
    )?;

    // 5. Health of what was applied.
    let ids: Vec<ObjectRef> = changed_set.iter().map(|o| o.id().clone()).collect();
    let health = applier
        .wait(&ids, Duration::from_secs(30))
        .await
        .map_err(|e| format!("wait failed: {e}"))?;
    check(
        health
            .objects
            .iter()
            .all(|h| h.status == HealthStatus::Current),
        || format!("applied objects must be current: {health:?}"),
    )?;

    // 6. Flux's per-object annotations: `ssa: IfNotPresent` creates once and never overwrites
    //    (a Secret rotated by hand keeps its value); `reconcile: disabled` is never applied.
    let seeded = |value: &str| {
        object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "seeded", "namespace": namespace,
                         "annotations": {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}},
            "data": {"token": value}}))
    };
    let paused = object(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "paused", "namespace": namespace,
                     "annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}},
        "data": {"k": "v"}}));
    let first = applier
        .apply(&[seeded("placeholder"), paused.clone()], &options)
        .await
        .map_err(|e| format!("annotated apply failed: {e}"))?;
    check(
        first.count(Action::Created) == 1 && first.count(Action::Skipped) == 1,
        || {
            format!(
                "IfNotPresent must be created and reconcile-disabled skipped, got {:?}",
                actions(&first)
            )
        },
    )?;
    let rotated = applier
        .apply(&[seeded("rotated-by-hand")], &ApplyOptions::default())
        .await
        .map_err(|e| format!("apply failed: {e}"))?;
    check(rotated.count(Action::Skipped) == 1, || {
        format!(
            "an existing IfNotPresent object must be skipped, got {:?}",
            actions(&rotated)
        )
    })?;
    let kept_value = applier
        .diff(&[seeded("placeholder")])
        .await
        .map_err(|e| format!("diff failed: {e}"))?;
    check(kept_value.is_empty(), || {
        format!("an IfNotPresent object must keep its first value, got {kept_value:?}")
    })?;
    let never = applier
        .diff(std::slice::from_ref(&paused))
        .await
        .map_err(|e| format!("diff failed: {e}"))?;
    check(matches!(never.as_slice(), [Drift::Missing(_)]), || {
        format!("a reconcile-disabled object must never be created, got {never:?}")
    })?;

    // 7. Prune honours the opt-out and ownership, in the order given: an object without the
    //    owner's labels (another Kustomization's, or applied by hand) is never deleted.
    let foreign = object(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "foreign", "namespace": namespace}, "data": {"k": "v"}}));
    let other_owner = ApplyOptions::default().with_owner(Owner::of(&ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some("flux-system"),
        "someone-else",
    )));
    applier
        .apply(std::slice::from_ref(&foreign), &other_owner)
        .await
        .map_err(|e| format!("foreign apply failed: {e}"))?;
    let prune = vec![
        config("x").id().clone(),
        kept.id().clone(),
        secret("x").id().clone(),
        foreign.id().clone(),
    ];
    let pruned = applier
        .delete(&prune, &options)
        .await
        .map_err(|e| format!("delete failed: {e}"))?;
    check(
        pruned.count(Action::Deleted) == 2 && pruned.count(Action::Skipped) == 2,
        || {
            format!(
                "delete: expected 2 deleted, the prune-disabled and the foreign one skipped, got {:?}",
                actions(&pruned)
            )
        },
    )?;
    let gone = applier
        .diff(&[config("debug"), foreign.clone()])
        .await
        .map_err(|e| format!("diff failed: {e}"))?;
    check(
        matches!(gone.as_slice(), [Drift::Missing(id)] if id == config("debug").id()),
        || format!("only the owned object may be gone, got {gone:?}"),
    )?;

    // Clean up what the opt-out kept, then the namespace.
    let mut cleanup = kept;
    cleanup
        .edit(|map| {
            map.insert(
                "metadata".into(),
                json!({"name": "kept", "namespace": namespace}),
            );
        })
        .map_err(|e| e.to_string())?;
    applier
        .apply(std::slice::from_ref(&cleanup), &options)
        .await
        .map_err(|e| format!("cleanup apply failed: {e}"))?;
    let everything = ApplyOptions::default();
    applier
        .delete(
            &[
                cleanup.id().clone(),
                foreign.id().clone(),
                seeded("x").id().clone(),
                ns.id().clone(),
            ],
            &everything,
        )
        .await
        .map_err(|e| format!("cleanup delete failed: {e}"))?;
    Ok(())
}
