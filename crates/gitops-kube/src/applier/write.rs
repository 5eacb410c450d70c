//! Writing objects: server-side apply in batches, one object at a time where a conflict or an
//! immutable field needs handling (forced ownership, recreation), and waiting until new CRDs
//! serve their kinds.

use super::*;

impl KubeApplier {
    pub(super) async fn apply_batch(
        &self,
        mut items: Vec<Prepared>,
        options: &ApplyOptions,
        changes: &mut ChangeSet,
    ) -> Result<Vec<(Prepared, Value)>, Error> {
        items.sort_by_key(|i| apply::apply_rank(&i.id));
        let live = self
            .fetch_live(
                items
                    .iter()
                    .map(|i| (&i.id, &i.resource, i.selector.as_ref())),
                true,
            )
            .await?;
        let mut applied = Vec::with_capacity(items.len());
        for item in items {
            let current = live.get(&item.id);
            let recreate = match apply::decide(&item.body, current, options) {
                Decision::Skip => {
                    changes.push(item.id.clone(), Action::Skipped);
                    continue;
                }
                Decision::Apply { recreate } => recreate,
            };
            if let Some(current) = current {
                if self.in_sync(&item, current) {
                    changes.push(item.id.clone(), Action::Unchanged);
                    applied.push((item, current.clone()));
                    continue;
                }
            }
            let (action, result) = self.apply_one(&item, current, options, recreate).await?;
            self.remember(&item, &result);
            changes.push(item.id.clone(), action);
            applied.push((item, result));
        }
        Ok(applied)
    }

    pub(super) async fn patch(
        &self,
        item: &Prepared,
        force: bool,
        dry_run: bool,
    ) -> Result<Value, kube::Error> {
        let api = self.api(&item.resource, item.id.namespace.as_deref());
        let mut params = PatchParams::apply(&self.options.field_manager);
        params.force = force;
        params.dry_run = dry_run;
        let object = self
            .timed(api.patch(&item.id.name, &params, &Patch::Apply(&item.body)))
            .await?;
        Ok(to_value(&item.resource, object))
    }

    async fn apply_one(
        &self,
        item: &Prepared,
        live: Option<&Value>,
        options: &ApplyOptions,
        recreate: bool,
    ) -> Result<(Action, Value), Error> {
        // With no other server-side apply manager on the object, any conflict can only be with
        // imperative edits, which we take back anyway: force at once and spare a round trip.
        let force =
            options.force || live.is_some_and(|l| !other_appliers(l, &self.options.field_manager));
        let result = match self.patch(item, force, false).await {
            Err(kube::Error::Api(status)) if is_conflict(&status) => {
                let conflicts = conflicts(&status);
                let applying: Vec<&(String, String)> = conflicts
                    .iter()
                    .filter(|(manager, _)| live.is_some_and(|l| applies(l, manager)))
                    .collect();
                if let Some((manager, _)) = applying.first() {
                    // Another declarative owner: only `force` takes its fields.
                    return Err(Error::Conflict {
                        id: item.id.clone(),
                        manager: manager.clone(),
                        fields: conflicts
                            .iter()
                            .filter(|(m, _)| m == manager)
                            .map(|(_, f)| f.clone())
                            .collect(),
                    });
                }
                // Imperative edits (kubectl edit, scale, patch): drift we correct.
                self.patch(item, true, false).await
            }
            other => other,
        };
        let result = match result {
            Err(kube::Error::Api(status)) if is_immutable(&status) => {
                let fields = immutable_fields(&status);
                if !recreate {
                    return Err(Error::Rejected {
                        id: item.id.clone(),
                        message: format!(
                            "immutable field {} changed; apply with force to recreate the object: {}",
                            fields.join(", "),
                            status.message
                        ),
                    });
                }
                self.recreate(item).await?;
                let recreated = self
                    .patch(item, true, false)
                    .await
                    .map_err(|e| map_error(&item.id, e))?;
                return Ok((Action::Configured, recreated));
            }
            other => other.map_err(|e| map_error(&item.id, e))?,
        };
        let action = match live {
            None => Action::Created,
            Some(live) => {
                let before = live.pointer("/metadata/resourceVersion");
                if before.is_some() && before == result.pointer("/metadata/resourceVersion") {
                    Action::Unchanged
                } else {
                    Action::Configured
                }
            }
        };
        Ok((action, result))
    }

    /// Deletes the object and waits until it is gone.
    async fn recreate(&self, item: &Prepared) -> Result<(), Error> {
        let api = self.api(&item.resource, item.id.namespace.as_deref());
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match self.timed(api.delete(&item.id.name, &params)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
            Err(e) => return Err(map_error(&item.id, e)),
        }
        let deadline = Instant::now() + self.options.recreate_timeout;
        loop {
            let found = self
                .timed(api.get_opt(&item.id.name))
                .await
                .map_err(|e| map_error(&item.id, e))?;
            if found.is_none() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    timeout: self.options.recreate_timeout,
                    not_ready: vec![item.id.clone()],
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the CRDs are Established (their kinds are served).
    pub(super) async fn wait_established(&self, crds: &[(Prepared, Value)]) -> Result<(), Error> {
        let deadline = Instant::now() + self.options.establish_timeout;
        let mut pending: Vec<&Prepared> = crds
            .iter()
            .filter(|(_, live)| crate::health::health(live).0 != HealthStatus::Current)
            .map(|(item, _)| item)
            .collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for item in pending {
                let api = self.api(&item.resource, None);
                let live = self
                    .timed(api.get_opt(&item.id.name))
                    .await
                    .map_err(|e| map_error(&item.id, e))?;
                let current = live.map(|o| crate::health::health(&to_value(&item.resource, o)).0)
                    == Some(HealthStatus::Current);
                if !current {
                    still.push(item);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    timeout: self.options.establish_timeout,
                    not_ready: pending.iter().map(|i| i.id.clone()).collect(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    // ---- drift -----------------------------------------------------------------------------
}

fn is_conflict(status: &Status) -> bool {
    status.code == 409 && status.reason == "Conflict" && !conflicts(status).is_empty()
}

/// `(manager, field)` pairs of a server-side apply conflict.
fn conflicts(status: &Status) -> Vec<(String, String)> {
    let Some(details) = &status.details else {
        return Vec::new();
    };
    details
        .causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict")
        .map(|c| {
            // `conflict with "kubectl-edit" using v1`
            let manager = c
                .message
                .split('"')
                .nth(1)
                .unwrap_or(c.message.as_str())
                .to_owned();
            (manager, c.field.clone())
        })
        .collect()
}

/// Whether `manager` owns fields of the live object through server-side apply.
fn applies(live: &Value, manager: &str) -> bool {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries.iter().any(|e| {
                e.get("manager").and_then(Value::as_str) == Some(manager)
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
            })
        })
}

/// Whether a manager other than `ours` owns fields of the live object through server-side apply.
fn other_appliers(live: &Value, ours: &str) -> bool {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries.iter().any(|e| {
                e.get("manager").and_then(Value::as_str) != Some(ours)
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
            })
        })
}

pub(super) fn is_immutable(status: &Status) -> bool {
    if status.code != 422 {
        return false;
    }
    let immutable = |m: &str| {
        m.contains("field is immutable")
            || m.contains("may not change once set")
            || m.contains("is immutable")
    };
    immutable(&status.message)
        || status
            .details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| immutable(&c.message)))
}

pub(super) fn immutable_fields(status: &Status) -> Vec<String> {
    let mut fields: Vec<String> = status
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .filter(|c| !c.field.is_empty())
        .map(|c| c.field.clone())
        .collect();
    fields.dedup();
    if fields.is_empty() {
        fields.push("(unnamed)".into());
    }
    fields
}

/// Maps a client error to the applier's error about `id`.
pub(crate) fn map_error(id: &ObjectRef, error: kube::Error) -> Error {
    match error {
        kube::Error::Api(status) => match status.code {
            403 => Error::Forbidden {
                id: id.clone(),
                message: status.message.clone(),
            },
            409 if !conflicts(&status).is_empty() => {
                let conflicts = conflicts(&status);
                let manager = conflicts[0].0.clone();
                Error::Conflict {
                    id: id.clone(),
                    fields: conflicts
                        .iter()
                        .filter(|(m, _)| *m == manager)
                        .map(|(_, f)| f.clone())
                        .collect(),
                    manager,
                }
            }
            // Server-side apply answers 500 for objects its schema cannot type (unknown or
            // misplaced fields): that is the object's fault, not the server's.
            500 if status
                .message
                .contains("failed to create typed patch object") =>
            {
                Error::Rejected {
                    id: id.clone(),
                    message: status.message.clone(),
                }
            }
            429 | 500 | 502..=504 => Error::Unavailable(Box::new(kube::Error::Api(status))),
            _ => Error::Rejected {
                id: id.clone(),
                message: status.message.clone(),
            },
        },
        other => Error::Unavailable(Box::new(other) as BoxError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::{StatusCause, StatusDetails};

    fn status(code: u16, reason: &str, causes: Vec<(&str, &str, &str)>) -> Status {
        Status {
            code,
            reason: reason.into(),
            message: "m".into(),
            details: Some(StatusDetails {
                causes: causes
                    .into_iter()
                    .map(|(reason, message, field)| StatusCause {
                        reason: reason.into(),
                        message: message.into(),
                        field: field.into(),
                    })
                    .collect(),
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                retry_after_seconds: 0,
            }),
            ..Status::default()
        }
    }

    #[test]
    fn conflicts_name_manager_and_fields() {
        let s = status(
            409,
            "Conflict",
            vec![(
                "FieldManagerConflict",
                "conflict with \"other\" using v1",
                ".data.k",
            )],
        );
        assert!(is_conflict(&s));
        assert_eq!(conflicts(&s), [("other".to_owned(), ".data.k".to_owned())]);
        let id = ObjectRef::new("", "v1", "ConfigMap", Some("n"), "c");
        let err = map_error(&id, kube::Error::Api(Box::new(s)));
        assert_eq!(
            err.to_string(),
            "ConfigMap/n/c: conflict with field manager other on .data.k"
        );
    }

    #[test]
    fn immutable_errors_name_the_field() {
        let s = status(
            422,
            "Invalid",
            vec![(
                "FieldValueInvalid",
                "Invalid value: x: field is immutable",
                "spec.selector",
            )],
        );
        assert!(is_immutable(&s));
        assert_eq!(immutable_fields(&s), ["spec.selector"]);
        assert!(!is_immutable(&status(422, "Invalid", vec![])));
    }
}
