//! The Git [`Source`](gitops_core::Source) of gitops-rs, on [gix](https://docs.rs/gix), plus
//! commit-and-push for image automation through the `git` binary.
//!
//! # Where to start
//! - [`GitSource`]: a repository URL, a [`Reference`] (branch, tag, semver range, commit, full
//!   ref name) and a storage directory. [`Source::fetch`](gitops_core::Source::fetch) lists the
//!   remote refs, returns `Unchanged` without a download when nothing moved, and otherwise fetches
//!   a depth-1 pack and checks the tree out (no `.git`, [`IgnoreRules`], [`Include`]s) as the
//!   artifact, with a Flux revision such as `main@sha1:<hex>`.
//! - [`Auth`]: credentials from a Flux-style secret (`username`/`password`, `bearerToken`,
//!   `identity`/`known_hosts`). Secrets never appear in errors or `Debug`.
//! - [`TrustedKeys`]: require the head commit to be signed (OpenPGP or SSH).
//! - [`GitWriter`]: clone a branch, change files, commit (optionally signed) and push, retrying
//!   on a concurrent update.
//! - [`range`]: Flux's semver range syntax.
//!
//! ```no_run
//! use gitops_core::Source as _;
//! use gitops_git::{Auth, GitSource, Reference};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let source = GitSource::new(
//!     "https://example.com/org/fleet.git",
//!     "branch:main".parse::<Reference>()?,
//!     "/var/lib/gitops/fleet",
//! )?
//! .with_auth(Auth::basic("git", "token"));
//! let first = source.fetch(None).await?;
//! println!("{} at {}", first.artifact().revision, first.artifact().path.display());
//! let again = source.fetch(Some(&first.artifact().revision)).await?;
//! assert!(!again.is_updated() || again.artifact().revision != first.artifact().revision);
//! # Ok(()) }
//! ```
//!
//! # Transports and processes
//! gix speaks `http(s)://` itself (reqwest with rustls) and `git://`; for `ssh://` it runs the
//! system `ssh`, and for `file://` the system `git-upload-pack`. For ssh this crate writes the
//! key, `known_hosts` and (for an encrypted key) an askpass helper into a private temporary
//! directory and passes `ssh -i … -o UserKnownHostsFile=… -o StrictHostKeyChecking=yes` as
//! gix's `core.sshCommand` for that repository only. Git configuration and environment
//! variables of the host (`~/.gitconfig`, `GIT_SSH_COMMAND`, credential helpers) are not read.
//!
//! gix is blocking: each fetch runs in [`tokio::task::spawn_blocking`] with gix's interrupt
//! flag raised when the future is dropped or the timeout passes. `git://` sockets carry read and
//! write timeouts, http requests an overall timeout, and ssh `ConnectTimeout` plus keep-alives,
//! so a server that stops answering releases the blocking thread too.
//!
//! Credentials are never sent over plain `http://` unless [`GitSource::with_insecure_http`]
//! (fetch) or [`GitWriter::with_insecure_http`] (push) allows it. A [`Reference::Commit`] is fetched by id, which
//! needs protocol v2 (or `uploadpack.allowReachableSHA1InWant`) on the server, as on the common
//! forges.
//!
//! # Speed
//! `bench/peer.sh` compares a no-change poll with `git ls-remote` and a first fetch with
//! `git clone --depth 1` on a 10,000-file, 50 MB repository over `file://` and http.
//!
//! # Why push goes through the `git` binary
//! gix cannot push yet (the send-pack side is not implemented). [`GitWriter`] therefore runs the
//! `git` binary for clone, commit and push, the way other Rust tools built on gix do, isolated
//! from the host's Git configuration and with credentials passed only to the child processes.
//! It is a separate type so that it can move to gix when gix gains push.
//!
//! # Not supported yet
//! Submodules (gitlinks are skipped), Git LFS, custom CA bundles for https, and verification
//! modes other than the head commit.

pub mod auth;
pub mod automation;
mod checkout;
pub mod fetch;
pub mod push;
pub mod range;
pub mod reference;
mod source;
pub mod verify;

pub use auth::Auth;
pub use automation::{AutomationOutcome, ImageUpdateAutomation};
pub use checkout::{DEFAULT_EXCLUDES, IgnoreRules, Include};
pub use push::{CommitSpec, GitWriter, Identity, PushOutcome, SigningKey};
pub use reference::Reference;
pub use source::{DEFAULT_TIMEOUT, GitSource, fetch_into};
pub use verify::TrustedKeys;
