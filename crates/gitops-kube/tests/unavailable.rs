//! An API server that stops answering in the middle of a pass: the pass fails as transient within
//! its timeouts, the inventory keeps its last state, and the next pass converges.
//!
//! The server is paused (SIGSTOP) rather than restarted because the test environment offers no
//! restart; a paused server is the harder case for timeouts (connections stay open, nothing
//! answers). This test binary has its own API server, so pausing it disturbs no other test.

mod common;

use std::time::{Duration, Instant};

use common::objects;
use gitops_core::apply::ApplyOptions;
use gitops_core::{Action, Applier, Inventory, InventoryStore};
use gitops_kube::{ConfigMapInventory, KubeApplierOptions};

struct Paused(u32);

impl Paused {
    fn new(pid: u32) -> Self {
        signal("-STOP", pid);
        Self(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(sig: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test]
async fn a_pass_interrupted_by_an_unresponsive_server_fails_transiently_and_the_next_converges() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let apiserver = kube.pids()[0];
    let timeout = Duration::from_secs(2);
    let (applier, _) = common::applier(
        kube,
        KubeApplierOptions::default().with_request_timeout(timeout),
    )
    .await;
    let store =
        ConfigMapInventory::new(applier.client().clone(), &ns, "inventory").with_timeout(timeout);

    let first = objects(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base, namespace: {ns}}\n",
    );
    applier
        .apply(&first, &ApplyOptions::default())
        .await
        .unwrap();
    let owned: Inventory = first.iter().map(|o| o.id().clone()).collect();
    store.save(&owned).await.unwrap();

    let mut yaml = String::new();
    for i in 0..150 {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: {{ns}}}}\ndata: {{i: \"{i}\"}}\n---\n"
        ));
    }
    let many = objects(&ns, &yaml);

    // Pause the server while the pass runs.
    let pass = {
        let applier = applier.clone();
        let many = many.clone();
        tokio::spawn(async move { applier.apply(&many, &ApplyOptions::default()).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    let paused = Paused::new(apiserver);
    let result = pass.await.unwrap();
    let err = match result {
        Ok(changes) => panic!("the pass finished before the pause: {changes:?}"),
        Err(e) => e,
    };
    assert!(err.is_transient(), "{err:?}");
    assert!(
        started.elapsed() < timeout * 3,
        "bounded by the request timeout"
    );
    let next: Inventory = many.iter().map(|o| o.id().clone()).collect();
    assert!(store.save(&next).await.is_err(), "no save while paused");
    drop(paused);

    // The inventory still holds the last saved state; the next pass converges.
    let loaded = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(inventory) = store.load().await {
                return inventory;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(loaded, Some(owned));
    let changes = applier
        .apply(&many, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        changes.count(Action::Created) + changes.count(Action::Unchanged),
        150,
        "{changes:?}"
    );
    assert!(applier.diff(&many).await.unwrap().is_empty());
    let changes = applier
        .apply(&many, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(changes.count(Action::Unchanged), 150);
}
