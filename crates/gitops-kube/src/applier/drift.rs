//! Drift: how the live objects differ from what an apply would write, Secret values masked.

use super::*;

impl KubeApplier {
    pub(super) async fn drift_of(
        &self,
        item: &Prepared,
        live: Option<&Value>,
    ) -> Result<Option<Drift>, Error> {
        let Some(live) = live else {
            return Ok(Some(Drift::Missing(item.id.clone())));
        };
        if self.in_sync(item, live) {
            return Ok(None);
        }
        let merged = match self.patch(item, true, true).await {
            Ok(merged) => merged,
            Err(kube::Error::Api(status)) if is_immutable(&status) => {
                // The apply would need a recreate: report the immutable fields as drift.
                let fields = immutable_fields(&status)
                    .into_iter()
                    .map(|f| apply::FieldDrift {
                        path: format!("/{}", f.replace('.', "/")),
                        desired: Some("(differs; immutable, apply with force recreates)".into()),
                        live: None,
                    })
                    .collect();
                return Ok(Some(Drift::Changed {
                    id: item.id.clone(),
                    fields,
                }));
            }
            Err(e) => return Err(map_error(&item.id, e)),
        };
        let fields = compare::field_drift(&merged, live);
        Ok((!fields.is_empty()).then(|| Drift::Changed {
            id: item.id.clone(),
            fields,
        }))
    }
}

impl KubeApplier {
    /// Like [`Applier::diff`], with apply options (a target namespace for objects that name
    /// none). Objects whose kind a CRD of the same set defines, and which the server does not
    /// serve yet, are reported missing.
    ///
    /// # Errors
    /// As [`Applier::diff`].
    pub async fn diff_with(
        &self,
        objects: &[Object],
        options: &ApplyOptions,
    ) -> Result<Vec<Drift>, Error> {
        let all: Vec<&Object> = objects.iter().collect();
        let defined = defined_kinds(&all);
        let mut drifts = Vec::new();
        let mut prepared = Vec::with_capacity(all.len());
        for object in all {
            match self.resource_of(object.id(), false).await? {
                Some(resource) => prepared.push((object, self.prepare(object, resource, options)?)),
                None if defined
                    .contains(&(object.id().group.clone(), object.id().kind.clone())) =>
                {
                    drifts.push(Drift::Missing(object.id().clone()));
                }
                None => return Err(unknown_kind(object)),
            }
        }
        let live = self
            .fetch_live(
                prepared
                    .iter()
                    .map(|(_, i)| (&i.id, &i.resource, i.selector.as_ref())),
                false,
            )
            .await?;
        for (object, item) in &prepared {
            let current = live.get(&item.id);
            // Without an owner of its own, a diff keeps the owner labels the last apply wrote:
            // they are ours, not drift (a dry run without them would remove them).
            let relabelled = match (&options.owner, current.and_then(Owner::found_on)) {
                (None, Some(owner)) => Some(self.prepare(
                    object,
                    item.resource.clone(),
                    &options.clone().with_owner(owner),
                )?),
                _ => None,
            };
            let item = relabelled.as_ref().unwrap_or(item);
            if current.is_some() && apply::decide(&item.body, current, options) == Decision::Skip {
                // Apply leaves it as it is (IfNotPresent, reconcile disabled): no drift to fix.
                continue;
            }
            if let Some(drift) = self.drift_of(item, current).await? {
                drifts.push(drift);
            }
        }
        drifts.sort_by(|a, b| {
            apply::apply_rank(a.id())
                .cmp(&apply::apply_rank(b.id()))
                .then_with(|| a.id().cmp(b.id()))
        });
        Ok(drifts)
    }
}
