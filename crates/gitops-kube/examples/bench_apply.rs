//! Benchmark: applies 1,000 objects (10 Namespaces, and Deployments, Services and ConfigMaps in
//! them) to the test API server, then a no-op pass, a pass where 1% changed in Git, a pass after
//! 1% was edited by hand, and a diff; prints wall time and API requests per pass.
//!
//! `cargo run --release -p gitops-kube --example bench_apply` (needs the test environment's
//! kube-apiserver and etcd; see gitops-testenv).

use std::time::Instant;

use gitops_core::apply::ApplyOptions;
use gitops_core::{Action, Applier, ChangeSet, Object};
use gitops_kube::{ConnectOptions, KubeApplier, KubeApplierOptions, RequestCounter};
use kube::api::{Patch, PatchParams};

const NAMESPACES: usize = 10;
const PER_KIND: usize = 33;

fn render(generation: &str, changed_every: usize) -> anyhow::Result<Vec<Object>> {
    let mut yaml = String::new();
    let mut n = 0;
    for ns in 0..NAMESPACES {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: bench-{ns}}}\n---\n"
        ));
        for i in 0..PER_KIND {
            n += 1;
            let value = if changed_every > 0 && n % changed_every == 0 {
                generation
            } else {
                "base"
            };
            yaml.push_str(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: bench-{ns}}}\n\
                 data: {{value: \"{value}\", other: \"x\"}}\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: bench-{ns}}}\n\
                 spec: {{clusterIP: None, selector: {{app: app-{i}}}, ports: [{{name: http, port: 80, targetPort: 8080}}]}}\n---\n\
                 apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: bench-{ns}, labels: {{app: app-{i}}}}}\n\
                 spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec:\n      containers:\n      - name: app\n        image: \"registry.example/app:1.0\"\n        ports: [{{containerPort: 8080}}]\n        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}\n---\n"
            ));
        }
    }
    Ok(gitops_core::object::parse_yaml("bench.yaml", &yaml)?)
}

fn report(
    name: &str,
    objects: usize,
    started: Instant,
    requests: u64,
    changes: Option<&ChangeSet>,
) {
    let elapsed = started.elapsed();
    let summary = changes
        .map(|c| {
            format!(
                " created {} configured {} unchanged {}",
                c.count(Action::Created),
                c.count(Action::Configured),
                c.count(Action::Unchanged)
            )
        })
        .unwrap_or_default();
    println!(
        "{name:<28} {:>8.3} s {requests:>6} requests {:>6.3} requests/object{summary}",
        elapsed.as_secs_f64(),
        requests as f64 / objects as f64
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(kube) = gitops_testenv::require_kube() else {
        println!("no test API server; nothing measured");
        return Ok(());
    };
    let counter = RequestCounter::default();
    let connect = ConnectOptions::default().with_counter(counter.clone());
    let client = gitops_kube::client_from_config(kube.config().await?, &connect)?;
    let applier = KubeApplier::with_options(client.clone(), KubeApplierOptions::default());
    let options = ApplyOptions::default();

    let objects = render("base", 0)?;
    let n = objects.len();
    println!("{n} objects in {NAMESPACES} namespaces");

    counter.take();
    let t = Instant::now();
    let changes = applier.apply(&objects, &options).await?;
    report("initial apply", n, t, counter.take(), Some(&changes));

    let t = Instant::now();
    let changes = applier.apply(&objects, &options).await?;
    report("no-op pass", n, t, counter.take(), Some(&changes));

    let fresh = KubeApplier::new(gitops_kube::client_from_config(
        kube.config().await?,
        &connect,
    )?);
    counter.take();
    let t = Instant::now();
    let changes = fresh.apply(&objects, &options).await?;
    report(
        "no-op pass, new applier",
        n,
        t,
        counter.take(),
        Some(&changes),
    );

    // 1% of the objects change in Git: every 33rd ConfigMap, 10 in all.
    let changed = render("v2", 33)?;
    let t = Instant::now();
    let changes = applier.apply(&changed, &options).await?;
    report("1% changed in Git", n, t, counter.take(), Some(&changes));

    // 1% edited by hand (kubectl-edit style updates), then a pass corrects them.
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    for ns in 0..NAMESPACES {
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client.clone(), &format!("bench-{ns}"));
        api.patch(
            "cm-1",
            &edit,
            &Patch::Merge(serde_json::json!({"data": {"other": "hand"}})),
        )
        .await?;
    }
    counter.take();
    let t = Instant::now();
    let drifts = applier.diff(&changed).await?;
    report(
        &format!("diff ({} drifted)", drifts.len()),
        n,
        t,
        counter.take(),
        None,
    );
    let t = Instant::now();
    let changes = applier.apply(&changed, &options).await?;
    report("1% edited by hand", n, t, counter.take(), Some(&changes));

    let t = Instant::now();
    let drifts = applier.diff(&changed).await?;
    report(
        &format!("diff ({} drifted)", drifts.len()),
        n,
        t,
        counter.take(),
        None,
    );
    Ok(())
}
