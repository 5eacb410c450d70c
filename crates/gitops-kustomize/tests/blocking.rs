//! The renderer's build runs off the async runtime's worker: other tasks keep running during
//! a large render, even on a single-threaded runtime.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gitops_core::Renderer;
use gitops_core::render::RenderRequest;
use gitops_kustomize::KustomizeRenderer;

#[tokio::test(flavor = "current_thread")]
async fn a_large_render_does_not_block_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let mut manifests = String::new();
    for i in 0..300 {
        manifests.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  key: value-{i}\n"
        ));
    }
    std::fs::write(app.join("all.yaml"), manifests).unwrap();
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources: [all.yaml]\ncommonLabels: {team: blue}\nnamePrefix: big-\n",
    )
    .unwrap();

    // A task that should tick every 5 ms while the render runs.
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let ticks = Arc::clone(&ticks);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    tokio::task::yield_now().await;
    let started = Instant::now();
    let objects = KustomizeRenderer::new()
        .render(&RenderRequest::new(dir.path(), "app"))
        .await
        .unwrap();
    let took = started.elapsed();
    let during = ticks.load(Ordering::SeqCst);
    ticker.abort();
    assert_eq!(objects.len(), 300);
    println!("render took {took:?}; the other task ticked {during} times meanwhile");
    // Ticks are every 5 ms; allow a generous margin for a loaded machine.
    let expected = (took.as_millis() / 5) as usize;
    assert!(
        took < Duration::from_millis(50) || during * 4 >= expected,
        "the runtime was blocked: {during} ticks in {took:?} (expected about {expected})"
    );
}
