//! The CustomResourceDefinitions of Flux's kinds, and an installer.
//!
//! The definitions are written by hand in `crates/gitops-flux/crds/`, one file per kind, and
//! embedded here. Each serves Flux's beta version (`v1beta2`, or `v1beta3` for the notification
//! kinds) and `v1` with one schema and no conversion webhook, `v1` being the storage version, so
//! the API server hands any object out under any version and the controller reads everything
//! through `v1`. `HelmRelease` is the exception in naming only: it serves `v2beta1`, `v2beta2`
//! and `v2`, the storage version it is read through. `spec` and `status` preserve unknown fields, so fields of other Flux versions
//! (a `v1beta2` Kustomization's `patchesStrategicMerge`, say) survive a round trip.
//!
//! [`FILES`] holds the text for a CLI to print; [`definitions`] parses it; [`install`] applies the
//! definitions and waits until the API server serves them.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

/// The field manager of [`install`]'s server-side apply.
pub const FIELD_MANAGER: &str = "gitops-flux";

/// How long [`install`] waits for the definitions to be established.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`install_with_timeout`] looks at a definition's conditions while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// `(file name, text)` of a file in `crds/`.
macro_rules! embed {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/", $file)),
        )
    };
}

/// The definition files, as `(file name, YAML text)`, in an order that can be applied as it is.
pub const FILES: &[(&str, &str)] = &[
    embed!("source.toolkit.fluxcd.io_gitrepositories.yaml"),
    embed!("source.toolkit.fluxcd.io_helmrepositories.yaml"),
    embed!("source.toolkit.fluxcd.io_helmcharts.yaml"),
    embed!("source.toolkit.fluxcd.io_ocirepositories.yaml"),
    embed!("kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
    embed!("helm.toolkit.fluxcd.io_helmreleases.yaml"),
    embed!("image.toolkit.fluxcd.io_imagerepositories.yaml"),
    embed!("image.toolkit.fluxcd.io_imagepolicies.yaml"),
    embed!("image.toolkit.fluxcd.io_imageupdateautomations.yaml"),
    embed!("notification.toolkit.fluxcd.io_providers.yaml"),
    embed!("notification.toolkit.fluxcd.io_alerts.yaml"),
    embed!("notification.toolkit.fluxcd.io_receivers.yaml"),
];

/// What went wrong installing the definitions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API server refused the server-side apply of a definition.
    #[error("cannot apply CRD {name}")]
    Apply {
        /// The definition's name (`kustomizations.kustomize.toolkit.fluxcd.io`).
        name: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// A definition could not be read back while waiting for it.
    #[error("cannot read CRD {name} while waiting for it to be established")]
    Read {
        /// The definition's name.
        name: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// A definition was not established in time; `reason` quotes its conditions, for example a
    /// `NamesAccepted=False` naming a conflict with another definition.
    #[error("timed out after {timeout:?} waiting for CRD {name} to be established: {reason}")]
    NotEstablished {
        /// The definition's name.
        name: String,
        /// How long was waited.
        timeout: Duration,
        /// What its conditions said last.
        reason: String,
    },
}

/// The definitions of every kind, parsed from [`FILES`].
pub fn definitions() -> Vec<CustomResourceDefinition> {
    FILES
        .iter()
        .map(|(file, text)| {
            serde_yaml_ng::from_str(text).unwrap_or_else(|e| {
                panic!(
                    "embedded CRD file {file} parses, because the unit tests parse every file: {e}"
                )
            })
        })
        .collect()
}

/// Applies every definition (server-side apply, field manager [`FIELD_MANAGER`], forcing
/// conflicts) and waits up to [`DEFAULT_TIMEOUT`] until each is established, so objects of the
/// kinds can be created right after. Running it again changes nothing.
///
/// # Errors
/// [`Error::Apply`] when the API server refuses a definition (RBAC, an older API server),
/// [`Error::Read`] when it cannot be read back, [`Error::NotEstablished`] on timeout.
pub async fn install(client: &kube::Client) -> Result<(), Error> {
    install_with_timeout(client, DEFAULT_TIMEOUT).await
}

/// [`install`] with another bound on the wait for the definitions to be established.
///
/// # Errors
/// As [`install`].
pub async fn install_with_timeout(client: &kube::Client, timeout: Duration) -> Result<(), Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::new();
    for crd in definitions() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .map_err(|source| Error::Apply {
                name: name.clone(),
                source,
            })?;
        names.push(name);
    }

    let deadline = tokio::time::Instant::now() + timeout;
    for name in names {
        loop {
            let crd = api.get(&name).await.map_err(|source| Error::Read {
                name: name.clone(),
                source,
            })?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
            {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let reason = if conditions.is_empty() {
                    "no conditions yet".to_string()
                } else {
                    conditions
                        .iter()
                        .map(|c| {
                            let message = c.message.as_deref().unwrap_or_default();
                            format!("{}={} ({message})", c.type_, c.status)
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(Error::NotEstablished {
                    name,
                    timeout,
                    reason,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;

    /// What one file must define.
    struct Expected {
        file: &'static str,
        group: &'static str,
        kind: &'static str,
        plural: &'static str,
        /// The storage version first, then the deprecated ones.
        versions: &'static [&'static str],
        short_names: &'static [&'static str],
    }

    const EXPECTED: &[Expected] = &[
        Expected {
            file: "source.toolkit.fluxcd.io_gitrepositories.yaml",
            group: "source.toolkit.fluxcd.io",
            kind: "GitRepository",
            plural: "gitrepositories",
            versions: &["v1", "v1beta2"],
            short_names: &["gitrepo"],
        },
        Expected {
            file: "source.toolkit.fluxcd.io_helmrepositories.yaml",
            group: "source.toolkit.fluxcd.io",
            kind: "HelmRepository",
            plural: "helmrepositories",
            versions: &["v1", "v1beta2"],
            short_names: &["helmrepo"],
        },
        Expected {
            file: "source.toolkit.fluxcd.io_helmcharts.yaml",
            group: "source.toolkit.fluxcd.io",
            kind: "HelmChart",
            plural: "helmcharts",
            versions: &["v1", "v1beta2"],
            short_names: &["hc"],
        },
        Expected {
            file: "source.toolkit.fluxcd.io_ocirepositories.yaml",
            group: "source.toolkit.fluxcd.io",
            kind: "OCIRepository",
            plural: "ocirepositories",
            versions: &["v1", "v1beta2"],
            short_names: &["ocirepo"],
        },
        Expected {
            file: "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
            group: "kustomize.toolkit.fluxcd.io",
            kind: "Kustomization",
            plural: "kustomizations",
            versions: &["v1", "v1beta2"],
            short_names: &["ks"],
        },
        Expected {
            file: "helm.toolkit.fluxcd.io_helmreleases.yaml",
            group: "helm.toolkit.fluxcd.io",
            kind: "HelmRelease",
            plural: "helmreleases",
            versions: &["v2", "v2beta2", "v2beta1"],
            short_names: &["hr"],
        },
        Expected {
            file: "image.toolkit.fluxcd.io_imagerepositories.yaml",
            group: "image.toolkit.fluxcd.io",
            kind: "ImageRepository",
            plural: "imagerepositories",
            versions: &["v1", "v1beta2"],
            short_names: &[],
        },
        Expected {
            file: "image.toolkit.fluxcd.io_imagepolicies.yaml",
            group: "image.toolkit.fluxcd.io",
            kind: "ImagePolicy",
            plural: "imagepolicies",
            versions: &["v1", "v1beta2"],
            short_names: &[],
        },
        Expected {
            file: "image.toolkit.fluxcd.io_imageupdateautomations.yaml",
            group: "image.toolkit.fluxcd.io",
            kind: "ImageUpdateAutomation",
            plural: "imageupdateautomations",
            versions: &["v1", "v1beta2"],
            short_names: &[],
        },
        Expected {
            file: "notification.toolkit.fluxcd.io_providers.yaml",
            group: "notification.toolkit.fluxcd.io",
            kind: "Provider",
            plural: "providers",
            versions: &["v1", "v1beta3"],
            short_names: &[],
        },
        Expected {
            file: "notification.toolkit.fluxcd.io_alerts.yaml",
            group: "notification.toolkit.fluxcd.io",
            kind: "Alert",
            plural: "alerts",
            versions: &["v1", "v1beta3"],
            short_names: &[],
        },
        Expected {
            file: "notification.toolkit.fluxcd.io_receivers.yaml",
            group: "notification.toolkit.fluxcd.io",
            kind: "Receiver",
            plural: "receivers",
            versions: &["v1", "v1beta2"],
            short_names: &[],
        },
    ];

    fn property<'a>(schema: &'a JSONSchemaProps, name: &str) -> &'a JSONSchemaProps {
        schema
            .properties
            .as_ref()
            .and_then(|p| p.get(name))
            .unwrap_or_else(|| panic!("no property {name}"))
    }

    #[test]
    fn every_file_is_a_definition_of_its_kind_in_beta_and_v1() {
        let crds = definitions();
        assert_eq!(FILES.len(), EXPECTED.len());
        assert_eq!(crds.len(), EXPECTED.len());
        for (((file, _), crd), expected) in FILES.iter().zip(&crds).zip(EXPECTED) {
            let Expected {
                file: expected_file,
                group,
                kind,
                plural,
                versions: expected_versions,
                short_names,
            } = expected;
            assert_eq!(file, expected_file);
            let spec = &crd.spec;
            assert_eq!(spec.group, *group, "{file}");
            assert_eq!(spec.names.kind, *kind, "{file}");
            assert_eq!(spec.names.plural, *plural, "{file}");
            assert_eq!(
                spec.names.list_kind.as_deref(),
                Some(format!("{kind}List").as_str()),
                "{file}"
            );
            assert_eq!(
                spec.names.singular.as_deref(),
                Some(kind.to_lowercase().as_str()),
                "{file}"
            );
            assert_eq!(
                spec.names.short_names.clone().unwrap_or_default(),
                short_names
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
                "{file}"
            );
            assert_eq!(
                spec.names.categories.as_deref(),
                Some(&["flux".to_string()][..])
            );
            assert_eq!(spec.scope, "Namespaced", "{file}");
            assert_eq!(
                crd.metadata.name.as_deref(),
                Some(format!("{plural}.{group}").as_str()),
                "{file}"
            );
            assert_eq!(
                spec.conversion.as_ref().map(|c| c.strategy.as_str()),
                Some("None"),
                "{file}"
            );
            assert!(file.starts_with(&format!("{group}_{plural}.")), "{file}");

            let versions: Vec<&str> = spec.versions.iter().map(|v| v.name.as_str()).collect();
            assert_eq!(versions, *expected_versions, "{file}");
            let storage: Vec<&str> = spec
                .versions
                .iter()
                .filter(|v| v.storage)
                .map(|v| v.name.as_str())
                .collect();
            assert_eq!(storage, expected_versions[..1], "{file}");

            let first = &spec.versions[0];
            for version in &spec.versions {
                let at = format!("{file} {}", version.name);
                assert!(version.served, "{at}");
                assert_eq!(
                    version.deprecated.unwrap_or(false),
                    version.name != expected_versions[0],
                    "{at}"
                );
                assert!(
                    version
                        .subresources
                        .as_ref()
                        .is_some_and(|s| s.status.is_some() && s.scale.is_none()),
                    "{at}"
                );
                // One schema and one set of columns for every version: no conversion needed.
                assert_eq!(version.schema, first.schema, "{at}");
                assert_eq!(
                    version.additional_printer_columns, first.additional_printer_columns,
                    "{at}"
                );
                let columns: Vec<&str> = version
                    .additional_printer_columns
                    .iter()
                    .flatten()
                    .map(|c| c.name.as_str())
                    .collect();
                for column in ["Age", "Ready", "Status"] {
                    assert!(columns.contains(&column), "{at}: no column {column}");
                }

                let root = version
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                    .unwrap_or_else(|| panic!("{at}: no schema"));
                for part in ["spec", "status"] {
                    let schema = property(root, part);
                    assert_eq!(schema.type_.as_deref(), Some("object"), "{at} {part}");
                    assert_eq!(
                        schema.x_kubernetes_preserve_unknown_fields,
                        Some(true),
                        "{at} {part}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_essential_fields_are_required_and_intervals_are_go_durations() {
        let required: &[(&str, &[&str])] = &[
            ("GitRepository", &["url", "interval"]),
            ("HelmRepository", &["url"]),
            ("HelmChart", &["chart", "sourceRef", "interval"]),
            ("OCIRepository", &["url", "interval"]),
            ("HelmRelease", &["interval"]),
            ("Kustomization", &["sourceRef", "interval"]),
            ("ImageRepository", &["image"]),
            ("ImagePolicy", &["imageRepositoryRef", "policy"]),
            ("ImageUpdateAutomation", &["sourceRef", "git", "interval"]),
            ("Provider", &["type"]),
            ("Alert", &["providerRef", "eventSources"]),
        ];
        let crds = definitions();
        for (kind, fields) in required {
            let crd = crds
                .iter()
                .find(|c| c.spec.names.kind == *kind)
                .unwrap_or_else(|| panic!("no {kind}"));
            let root = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .unwrap();
            let spec = property(root, "spec");
            assert_eq!(spec.required.clone().unwrap_or_default(), *fields, "{kind}");
            for duration in ["interval", "timeout", "retryInterval"] {
                if let Some(field) = spec.properties.as_ref().unwrap().get(duration) {
                    assert_eq!(
                        field.pattern.as_deref(),
                        Some(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"),
                        "{kind} {duration}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_enums_are_flux_s() {
        let crds = definitions();
        let spec_of = |kind: &str| {
            let crd = crds.iter().find(|c| c.spec.names.kind == kind).unwrap();
            let root = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .unwrap();
            property(root, "spec").clone()
        };
        let values = |schema: &JSONSchemaProps| -> Vec<String> {
            schema
                .enum_
                .iter()
                .flatten()
                .map(|v| v.0.as_str().unwrap().to_string())
                .collect()
        };

        let provider = values(property(&spec_of("Provider"), "type"));
        for t in ["slack", "discord", "github", "generic", "generic-hmac"] {
            assert!(provider.iter().any(|p| p == t), "provider type {t}");
        }
        let ks = spec_of("Kustomization");
        assert_eq!(
            values(property(property(&ks, "decryption"), "provider")),
            ["sops"]
        );
        assert_eq!(
            values(property(&spec_of("Alert"), "eventSeverity")),
            ["info", "error"]
        );
        assert_eq!(
            values(property(&spec_of("HelmRepository"), "type")),
            ["default", "oci"]
        );
        let chart = spec_of("HelmChart");
        assert_eq!(
            values(property(&chart, "reconcileStrategy")),
            ["ChartVersion", "Revision"]
        );
        assert_eq!(
            values(property(property(&chart, "sourceRef"), "kind")),
            ["HelmRepository", "GitRepository", "Bucket"]
        );
        let oci = spec_of("OCIRepository");
        assert_eq!(
            values(property(property(&oci, "layerSelector"), "operation")),
            ["extract", "copy"]
        );
        let release = spec_of("HelmRelease");
        assert_eq!(
            values(property(property(&release, "chartRef"), "kind")),
            ["OCIRepository", "HelmChart"]
        );
        assert_eq!(
            values(property(property(&release, "upgrade"), "crds")),
            ["Skip", "Create", "CreateReplace"]
        );
        let policy = spec_of("ImagePolicy");
        let policy = property(&policy, "policy");
        for choice in ["alphabetical", "numerical"] {
            assert_eq!(
                values(property(property(policy, choice), "order")),
                ["asc", "desc"]
            );
        }
    }

    #[test]
    fn the_files_parse_as_plain_yaml_too() {
        // A CLI prints FILES as they are; make sure each is one document that other YAML
        // readers take (the anchors resolve) and that carries no status.
        for (file, text) in FILES {
            let value: serde_json::Value = serde_yaml_ng::from_str(text).unwrap();
            assert_eq!(value["apiVersion"], "apiextensions.k8s.io/v1", "{file}");
            assert_eq!(value["kind"], "CustomResourceDefinition", "{file}");
            assert!(value.get("status").is_none(), "{file}");
            assert!(!text.contains("\n---"), "{file}: one document");
        }
    }
}
