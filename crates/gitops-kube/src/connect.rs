//! Building a [`kube::Client`]: from a kubeconfig file, with timeouts on every request, optional
//! impersonation of a service account, and an optional [`RequestCounter`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Errors from building a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kubeconfig file could not be read or parsed.
    #[error("kubeconfig {path}: cannot be read")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The configuration could not be turned into a client (TLS, proxy, auth settings).
    #[error("cannot build a Kubernetes client")]
    Client(#[source] kube::Error),
}

/// A service account to act as (Kubernetes impersonation), as Flux's `spec.serviceAccountName`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceAccount {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ServiceAccount {
    /// The service account `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The user name the API server gives this account.
    pub fn user_name(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// How to connect.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Act as this service account instead of the kubeconfig's user.
    pub impersonate: Option<ServiceAccount>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one response.
    pub read_timeout: Duration,
    /// Counts the requests the client sends.
    pub counter: Option<RequestCounter>,
    /// The kubeconfig context to use instead of the current one.
    pub context: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            impersonate: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            counter: None,
            context: None,
        }
    }
}

impl ConnectOptions {
    /// Sets the service account to impersonate.
    pub fn with_impersonate(mut self, account: ServiceAccount) -> Self {
        self.impersonate = Some(account);
        self
    }

    /// Sets the connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the response timeout.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Counts requests with `counter`.
    pub fn with_counter(mut self, counter: RequestCounter) -> Self {
        self.counter = Some(counter);
        self
    }

    /// Uses the kubeconfig context `context`.
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }
}

/// Reads a kubeconfig file into a [`kube::Config`].
///
/// # Errors
/// [`Error::Kubeconfig`] when the file is unreadable or invalid.
pub async fn config_from_kubeconfig(
    path: &Path,
    options: &ConnectOptions,
) -> Result<kube::Config, Error> {
    let wrap = |source| Error::Kubeconfig {
        path: path.to_owned(),
        source,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(wrap)?;
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..KubeConfigOptions::default()
    };
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube_options)
        .await
        .map_err(wrap)
}

/// Builds a client from a config, applying the timeouts, impersonation and counter of `options`.
///
/// # Errors
/// [`Error::Client`] when the config cannot make a client.
pub fn client_from_config(
    mut config: kube::Config,
    options: &ConnectOptions,
) -> Result<kube::Client, Error> {
    config.connect_timeout = Some(options.connect_timeout);
    config.read_timeout = Some(options.read_timeout);
    config.write_timeout = Some(options.read_timeout);
    config.reset_reader_on_write = true;
    if let Some(account) = &options.impersonate {
        // The user name alone: the API server adds a service account's groups itself, and
        // naming groups would need the `impersonate` verb on `groups`, which would let the
        // impersonator act as any group (`system:masters` among them).
        config.auth_info.impersonate = Some(account.user_name());
        config.auth_info.impersonate_groups = None;
    }
    let builder = ClientBuilder::try_from(config).map_err(Error::Client)?;
    Ok(match &options.counter {
        Some(counter) => builder.with_layer(counter).build(),
        None => builder.build(),
    })
}

/// Reads a kubeconfig file and builds a client (see [`client_from_config`]).
///
/// # Errors
/// See [`config_from_kubeconfig`] and [`client_from_config`].
pub async fn client_from_kubeconfig(
    path: &Path,
    options: &ConnectOptions,
) -> Result<kube::Client, Error> {
    let config = config_from_kubeconfig(path, options).await?;
    client_from_config(config, options)
}

/// A tower layer that counts the HTTP requests a client sends, and keeps the last
/// [`RequestCounter::RECENT`] of them (`METHOD path?query`) for tests and diagnostics; clones
/// share both.
///
/// ```
/// let counter = gitops_kube::RequestCounter::default();
/// let options = gitops_kube::ConnectOptions::default().with_counter(counter.clone());
/// # let _ = options;
/// assert_eq!(counter.take(), 0);
/// assert!(counter.take_recent().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    count: Arc<AtomicU64>,
    recent: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

impl RequestCounter {
    /// How many requests [`take_recent`](Self::take_recent) remembers.
    pub const RECENT: usize = 512;

    /// The requests sent so far.
    pub fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The requests sent so far, resetting the count to zero.
    pub fn take(&self) -> u64 {
        self.count.swap(0, Ordering::Relaxed)
    }

    /// The last requests sent (`GET /api/v1/namespaces/a/secrets?labelSelector=…`), oldest
    /// first, forgetting them.
    pub fn take_recent(&self) -> Vec<String> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect()
    }
}

impl<S> tower::Layer<S> for RequestCounter {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            counter: self.clone(),
        }
    }
}

/// The service made by [`RequestCounter`].
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    counter: RequestCounter,
}

impl<S, B> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.counter.count.fetch_add(1, Ordering::Relaxed);
        let line = format!("{} {}", request.method(), request.uri());
        let mut recent = self
            .counter
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RequestCounter::RECENT {
            recent.pop_front();
        }
        recent.push_back(line);
        drop(recent);
        self.inner.call(request)
    }
}
