//! The Flux kinds as one closed set, for hosts that dispatch on a kind (the controller's work
//! queue, the CLI's `get`).

/// The Flux kinds gitops-rs reconciles and lists, with their names, resources and groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `GitRepository`.
    GitRepository,
    /// `Kustomization`.
    Kustomization,
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
    pub const ALL: [Kind; 8] = [
        Self::GitRepository,
        Self::Kustomization,
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
            Self::Kustomization => "Kustomization",
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
            Self::Kustomization => "kustomizations",
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
            Self::GitRepository => "source.toolkit.fluxcd.io",
            Self::Kustomization => "kustomize.toolkit.fluxcd.io",
            Self::ImageRepository | Self::ImagePolicy | Self::ImageUpdateAutomation => {
                "image.toolkit.fluxcd.io"
            }
            Self::Provider | Self::Alert | Self::Receiver => "notification.toolkit.fluxcd.io",
        }
    }
}
