//! Printing a drift report for people (`gitops diff`), and its exit code.

use std::fmt::Write as _;

use gitops_core::apply::{Drift, Error};

/// A readable report: one block per object, `-` for the live value and `+` for the desired one.
/// Secret values arrive masked from the applier and stay masked.
///
/// ```
/// use gitops_core::{ObjectRef, apply::{Drift, FieldDrift}};
///
/// let id = ObjectRef::new("apps", "v1", "Deployment", Some("web"), "api");
/// let text = gitops_kube::render_diff(&[Drift::Changed {
///     id,
///     fields: vec![FieldDrift { path: "/spec/replicas".into(), desired: Some("2".into()), live: Some("5".into()) }],
/// }]);
/// assert_eq!(text, "~ Deployment.apps/web/api\n    /spec/replicas\n      - 5\n      + 2\n");
/// ```
pub fn render_diff(drifts: &[Drift]) -> String {
    let mut out = String::new();
    for drift in drifts {
        match drift {
            Drift::Missing(id) => {
                let _ = writeln!(out, "+ {id} (not on the cluster)");
            }
            Drift::Changed { id, fields } => {
                let _ = writeln!(out, "~ {id}");
                for field in fields {
                    let _ = writeln!(out, "    {}", field.path);
                    match &field.live {
                        Some(live) => {
                            let _ = writeln!(out, "      - {live}");
                        }
                        None => {
                            let _ = writeln!(out, "      - (absent)");
                        }
                    }
                    match &field.desired {
                        Some(desired) => {
                            let _ = writeln!(out, "      + {desired}");
                        }
                        None => {
                            let _ = writeln!(out, "      + (removed)");
                        }
                    }
                }
            }
        }
    }
    out
}

/// The exit code of `gitops diff`, as `kubectl diff` has it: 0 in sync, 1 differences, 2 error.
pub fn diff_exit_code(result: &Result<Vec<Drift>, Error>) -> i32 {
    match result {
        Ok(drifts) if drifts.is_empty() => 0,
        Ok(_) => 1,
        Err(_) => 2,
    }
}
