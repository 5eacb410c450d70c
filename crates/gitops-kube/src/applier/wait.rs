//! Waiting for health: kstatus over the objects' live state until all are current or the
//! timeout passes.

use super::*;

impl KubeApplier {
    /// [`Applier::wait`].
    pub(super) async fn wait_healthy(
        &self,
        objects: &[ObjectRef],
        timeout: Duration,
    ) -> Result<HealthReport, Error> {
        let deadline = Instant::now() + timeout;
        let mut report: Vec<Option<Health>> = vec![None; objects.len()];
        loop {
            // Resolve the kinds of the objects not yet current, then read them grouped.
            let mut pending: Vec<(usize, Resource)> = Vec::new();
            for (i, id) in objects.iter().enumerate() {
                if report[i]
                    .as_ref()
                    .is_some_and(|h| h.status == HealthStatus::Current)
                {
                    continue;
                }
                match self.resource_of(id, false).await? {
                    Some(resource) => pending.push((i, resource)),
                    None => {
                        report[i] = Some(Health {
                            id: id.clone(),
                            status: HealthStatus::NotFound,
                            message: format!("kind {}/{} is not served", id.api_version(), id.kind),
                        });
                    }
                }
            }
            // Objects we applied for an owner are read through its label selector.
            let selectors: Vec<Option<Arc<str>>> = {
                let memo = self.lock_memo();
                pending
                    .iter()
                    .map(|(i, _)| memo.get(&objects[*i]).and_then(|m| m.selector.clone()))
                    .collect()
            };
            let live = self
                .fetch_live(
                    pending
                        .iter()
                        .zip(&selectors)
                        .map(|((i, r), s)| (&objects[*i], r, s.as_ref())),
                    false,
                )
                .await?;
            for (i, _) in &pending {
                let id = &objects[*i];
                report[*i] = Some(match live.get(id) {
                    None => Health {
                        id: id.clone(),
                        status: HealthStatus::NotFound,
                        message: "not found".into(),
                    },
                    Some(value) => {
                        let (status, message) = crate::health::health(value);
                        Health {
                            id: id.clone(),
                            status,
                            message,
                        }
                    }
                });
            }
            let done = report.iter().all(|h| {
                h.as_ref()
                    .is_some_and(|h| h.status == HealthStatus::Current)
            });
            let now = Instant::now();
            if done || now >= deadline {
                break;
            }
            tokio::time::sleep(self.options.poll_interval.min(deadline - now)).await;
        }
        Ok(HealthReport {
            objects: report.into_iter().flatten().collect(),
        })
    }
}
