//! Deleting pruned objects: only what the server still serves, in the scope it names, still
//! carrying the owner's labels and not opted out, and still the object that was checked.

use super::*;

impl KubeApplier {
    /// [`Applier::delete`]: each id's live object, read first, is deleted in the background
    /// with its uid as a precondition; a kind no longer served, a scope mismatch, an object
    /// opted out of pruning or gone already is skipped.
    pub(super) async fn delete_owned(
        &self,
        objects: &[ObjectRef],
        options: &ApplyOptions,
    ) -> Result<ChangeSet, Error> {
        let mut changes = ChangeSet::default();
        for id in objects {
            // A kind no longer served has no objects left to delete.
            let Some(resource) = self.resource_of(id, false).await? else {
                continue;
            };
            if resource.namespaced != id.namespace.is_some() {
                // A namespace on a cluster-scoped kind (or none on a namespaced one) names no
                // object: dropping or adding one would name a different object, maybe one that
                // is still wanted.
                changes.push(id.clone(), Action::Skipped);
                continue;
            }
            let api = self.api(&resource, id.namespace.as_deref());
            let Some(live) = self
                .timed(api.get_opt(&id.name))
                .await
                .map_err(|e| map_error(id, e))?
            else {
                continue;
            };
            let live_value = to_value(&resource, live);
            if apply::keep_on_prune(&live_value, options).is_some() {
                changes.push(id.clone(), Action::Skipped);
                continue;
            }
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                preconditions: Some(Preconditions {
                    // The object we checked, not one created in its place since.
                    uid: live_value
                        .pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match self.timed(api.delete(&id.name, &params)).await {
                Ok(_) => {
                    self.lock_memo().remove(id);
                    changes.push(id.clone(), Action::Deleted);
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(map_error(id, e)),
            }
        }
        Ok(changes)
    }
}
