//! Image update automation: check out a branch, rewrite the fields marked for image policies,
//! and commit and push the change, with a message rendered from the change report.
//!
//! It composes the message templates of `gitops-core` ([`message`](gitops_core::image::message)),
//! the host's [`TreeUpdater`] (the setters over the files of the checkout; gitops-local's
//! `DirectoryTree` is one), and [`GitWriter`]. No change, no commit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gitops_core::image::message::{self, DEFAULT_TEMPLATE};
use gitops_core::image::setters::{Change, TreeUpdater, Unresolved};

use crate::push::{self, CommitSpec, GitWriter, Identity, PushOutcome, SigningKey};

/// Errors of an automation run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The commit message template is invalid (checked when the automation is built).
    #[error("invalid commit message template")]
    Template(#[source] message::Error),
    /// Checking out, rewriting, committing or pushing failed.
    #[error(transparent)]
    Push(#[from] push::Error),
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomationOutcome {
    /// Pushed, or nothing to do.
    pub result: PushOutcome,
    /// The fields changed (paths relative to the updated directory).
    pub changes: Vec<Change>,
    /// Markers naming policies that were not given; left untouched.
    pub unresolved: Vec<Unresolved>,
}

/// Flux's `ImageUpdateAutomation`: keeps the images of a branch in line with image policies.
#[derive(Debug, Clone)]
pub struct ImageUpdateAutomation {
    name: String,
    writer: GitWriter,
    checkout_branch: String,
    push_branch: String,
    path: PathBuf,
    author: Identity,
    signing_key: Option<SigningKey>,
    template: String,
    tree: Arc<dyn TreeUpdater>,
}

impl ImageUpdateAutomation {
    /// An automation named `namespace/name` (used in messages) writing through `writer` to
    /// `branch`, updating the whole tree with `tree`, committing as `gitops-rs` with the
    /// default template.
    pub fn new(
        name: impl Into<String>,
        writer: GitWriter,
        branch: impl Into<String>,
        tree: Arc<dyn TreeUpdater>,
    ) -> Self {
        let branch = branch.into();
        Self {
            name: name.into(),
            writer,
            checkout_branch: branch.clone(),
            push_branch: branch,
            path: PathBuf::from("."),
            author: Identity::new("gitops-rs", "gitops-rs@users.noreply.invalid"),
            signing_key: None,
            template: DEFAULT_TEMPLATE.to_owned(),
            tree,
        }
    }

    /// Pushes to another branch (Flux's `push.branch`), created from the checkout branch.
    pub fn with_push_branch(mut self, branch: impl Into<String>) -> Self {
        self.push_branch = branch.into();
        self
    }

    /// Updates only this directory of the repository (Flux's `update.path`). A path that leaves
    /// the checkout (absolute, `..`, or through a symlink) fails the run before anything is
    /// written, with the tree updater's error in the chain (gitops-local's
    /// `images::Error::Escape`).
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = path.into();
        self
    }

    /// Commits as this author.
    pub fn with_author(mut self, author: Identity) -> Self {
        self.author = author;
        self
    }

    /// Signs commits with this key.
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Uses this message template (see [`gitops_core::image::message`]).
    ///
    /// # Errors
    /// [`Error::Template`] when the template names something unknown or is unbalanced.
    pub fn with_template(mut self, template: impl Into<String>) -> Result<Self, Error> {
        let template = template.into();
        message::render(&template, &self.name, &[]).map_err(Error::Template)?;
        self.template = template;
        Ok(self)
    }

    /// Sets every marked field to the latest image of its policy (`namespace:name` → image
    /// reference), then commits and pushes if anything changed. A concurrent push to the branch
    /// is retried on the new tip, as [`GitWriter`] does.
    ///
    /// # Errors
    /// See [`Error`]; a marker on a non-scalar field fails the run before anything is written.
    pub async fn run(
        &self,
        policies: BTreeMap<String, String>,
    ) -> Result<AutomationOutcome, Error> {
        let this = self.clone();
        let report: Arc<Mutex<(Vec<Change>, Vec<Unresolved>)>> = Arc::default();
        let seen = report.clone();
        let mut spec = CommitSpec::new(self.author.clone(), "Update images");
        if let Some(key) = &self.signing_key {
            spec = spec.with_signing_key(key.clone());
        }
        let result = tokio::task::spawn_blocking(move || {
            this.writer.update_with_message_blocking(
                &this.checkout_branch,
                &this.push_branch,
                &spec,
                |dir| {
                    let update = this.tree.update_within(dir, &this.path, &policies)?;
                    let message = if update.changes.is_empty() {
                        None
                    } else {
                        Some(message::render(
                            &this.template,
                            &this.name,
                            &update.changes,
                        )?)
                    };
                    // A retry on a new tip replaces the report of the attempt before.
                    *seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        (update.changes, update.unresolved);
                    Ok(message)
                },
            )
        })
        .await
        .map_err(|e| push::Error::Io {
            path: self.writer.workdir().display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })??;
        let (changes, unresolved) = std::mem::take(
            &mut *report
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        Ok(AutomationOutcome {
            result,
            changes,
            unresolved,
        })
    }
}
