//! The Flux kinds as one closed set, for hosts that dispatch on a kind (the controller's work
//! queue, the CLI's `get`).

/// The Flux kinds gitops-rs reconciles and lists, with their names, resources and groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `GitRepository`.
    GitRepository,
    /// `HelmRepository`.
    HelmRepository,
    /// `HelmChart`.
    HelmChart,
    /// `OCIRepository`.
    OCIRepository,
    /// `Kustomization`.
    Kustomization,
    /// `HelmRelease`.
    HelmRelease,
    /// `ImageRepository`.
    ImageRepository,
    /// `ImagePolicy`.
    ImagePolicy,
    /// `ImageUpdateAutomation`.
    ImageUpdateAutomation,
    /// `Provider`.
    Provider,
    /// `Alert`.
    Alert,
    /// `Receiver`.
    Receiver,
}

impl Kind {
    /// Every kind, in the order the controller starts them.
    pub const ALL: [Kind; 12] = [
        Self::GitRepository,
        Self::HelmRepository,
        Self::HelmChart,
        Self::OCIRepository,
        Self::Kustomization,
        Self::HelmRelease,
        Self::ImageRepository,
        Self::ImagePolicy,
        Self::ImageUpdateAutomation,
        Self::Provider,
        Self::Alert,
        Self::Receiver,
    ];

    /// The kind's name, as in `kind:` (`GitRepository`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitRepository => "GitRepository",
            Self::HelmRepository => "HelmRepository",
            Self::HelmChart => "HelmChart",
            Self::OCIRepository => "OCIRepository",
            Self::Kustomization => "Kustomization",
            Self::HelmRelease => "HelmRelease",
            Self::ImageRepository => "ImageRepository",
            Self::ImagePolicy => "ImagePolicy",
            Self::ImageUpdateAutomation => "ImageUpdateAutomation",
            Self::Provider => "Provider",
            Self::Alert => "Alert",
            Self::Receiver => "Receiver",
        }
    }

    /// The kind named `text`, if this controller reconciles it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The kind's resource name in URLs.
    pub fn plural(self) -> &'static str {
        match self {
            Self::GitRepository => "gitrepositories",
            Self::HelmRepository => "helmrepositories",
            Self::HelmChart => "helmcharts",
            Self::OCIRepository => "ocirepositories",
            Self::Kustomization => "kustomizations",
            Self::HelmRelease => "helmreleases",
            Self::ImageRepository => "imagerepositories",
            Self::ImagePolicy => "imagepolicies",
            Self::ImageUpdateAutomation => "imageupdateautomations",
            Self::Provider => "providers",
            Self::Alert => "alerts",
            Self::Receiver => "receivers",
        }
    }

    /// The API group of the kind.
    pub fn group(self) -> &'static str {
        match self {
            Self::GitRepository | Self::HelmRepository | Self::HelmChart | Self::OCIRepository => {
                "source.toolkit.fluxcd.io"
            }
            Self::Kustomization => "kustomize.toolkit.fluxcd.io",
            Self::HelmRelease => "helm.toolkit.fluxcd.io",
            Self::ImageRepository | Self::ImagePolicy | Self::ImageUpdateAutomation => {
                "image.toolkit.fluxcd.io"
            }
            Self::Provider | Self::Alert | Self::Receiver => "notification.toolkit.fluxcd.io",
        }
    }

    /// The version the controller reads and writes the kind through (its CRD's storage
    /// version): `v2` for `HelmRelease`, `v1` for the others.
    pub fn version(self) -> &'static str {
        match self {
            Self::HelmRelease => "v2",
            _ => "v1",
        }
    }

    /// `group/version`, as in `apiVersion:`.
    pub fn api_version(self) -> String {
        format!("{}/{}", self.group(), self.version())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_and_names_its_crd() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            let file = format!("{}_{}.yaml", kind.group(), kind.plural());
            let crd = crate::crds::FILES
                .iter()
                .find(|(name, _)| *name == file)
                .unwrap_or_else(|| panic!("no CRD file {file}"));
            assert!(
                crd.1.contains(&format!("- name: {}\n", kind.version())),
                "{file} serves {}",
                kind.version()
            );
        }
        assert_eq!(Kind::HelmRelease.api_version(), "helm.toolkit.fluxcd.io/v2");
        assert_eq!(Kind::parse("Bucket"), None);
    }
}
