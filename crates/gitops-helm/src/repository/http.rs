//! A chart repository over HTTP(S), as Helm's `repo add` URL addresses it: `index.yaml` fetched
//! with a conditional GET (ETag, Last-Modified) and spooled to a temporary file, then read for
//! one chart only ([`read_chart_versions`]); chart archives downloaded with a size cap and
//! their SHA-256 checked against the index.

use std::io::{Seek, Write};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::index::{ChartVersion, IndexError, read_chart_versions};

/// Why a repository could not be read or a chart downloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError {
    /// The URL is not an `http(s)://` URL.
    #[error("repository URL {0:?} is not http:// or https://")]
    Url(String),
    /// The HTTP client could not be built (TLS settings, a CA certificate that does not parse).
    #[error("HTTP client for {url}: {message}")]
    Client {
        /// The repository.
        url: String,
        /// Why.
        message: String,
    },
    /// The request failed (connection, timeout).
    #[error("GET {url}")]
    Request {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than allowed.
    #[error("GET {url}: more than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: u64,
    },
    /// Spooling the index to a temporary file failed.
    #[error("spooling {url}")]
    Spool {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The index does not read.
    #[error("{url}")]
    Index {
        /// The index URL.
        url: String,
        /// Why.
        #[source]
        source: IndexError,
    },
    /// The entry has no download URL.
    #[error("chart {chart} {version} lists no URL")]
    NoUrl {
        /// The chart.
        chart: String,
        /// The version.
        version: String,
    },
    /// The archive is not the one the index describes.
    #[error("chart {url}: digest mismatch (index: sha256:{expected}, downloaded: sha256:{actual})")]
    DigestMismatch {
        /// The archive URL.
        url: String,
        /// The index's digest.
        expected: String,
        /// The downloaded archive's.
        actual: String,
    },
}

/// What the last index fetch saw, for a conditional GET next time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexState {
    /// The `ETag` answered.
    pub etag: Option<String>,
    /// The `Last-Modified` answered.
    pub last_modified: Option<String>,
}

/// The outcome of [`HttpRepository::chart_versions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexFetch {
    /// The index has not changed since `previous`: nothing was downloaded.
    NotModified,
    /// The index was downloaded and read.
    Fetched {
        /// The chart's versions.
        versions: Vec<ChartVersion>,
        /// For the next conditional GET.
        state: IndexState,
        /// The size of the index.
        bytes: u64,
    },
}

/// The outcome of [`HttpRepository::fetch_index`].
#[derive(Debug)]
pub enum IndexDownload {
    /// The index has not changed since `previous`: nothing was downloaded.
    NotModified,
    /// The index was downloaded.
    Fetched {
        /// The index as served, spooled to a temporary file and rewound.
        file: std::fs::File,
        /// The SHA-256 of the index as served, `sha256:<hex>`.
        digest: String,
        /// For the next conditional GET.
        state: IndexState,
        /// The size of the index.
        bytes: u64,
    },
}

/// A chart repository at an HTTP(S) URL.
#[derive(Clone, Debug)]
pub struct HttpRepository {
    url: String,
    client: reqwest::Client,
    timeout: Duration,
    auth: Option<(String, String)>,
    pass_credentials: bool,
    max_index_bytes: u64,
    max_chart_bytes: u64,
}

impl HttpRepository {
    /// The repository at `url` (the folder of `index.yaml`), anonymous, with a 60 s timeout,
    /// indexes up to 1 GiB and archives up to 64 MiB.
    ///
    /// # Errors
    /// [`RepositoryError::Url`] for a URL that is not http(s), [`RepositoryError::Client`]
    /// when no client can be built.
    pub fn new(url: &str) -> Result<Self, RepositoryError> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(RepositoryError::Url(url.into()));
        }
        let url = format!("{}/", url.trim_end_matches('/'));
        let timeout = Duration::from_secs(60);
        Ok(Self {
            client: client(&url, timeout, None)?,
            url,
            timeout,
            auth: None,
            pass_credentials: false,
            max_index_bytes: 1 << 30,
            max_chart_bytes: 64 << 20,
        })
    }

    /// Sends basic-auth credentials to the repository's host (to other hosts only with
    /// [`HttpRepository::with_pass_credentials`], as Helm's `--pass-credentials`).
    pub fn with_basic_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.auth = Some((username.into(), password.into()));
        self
    }

    /// Sends the credentials to chart URLs on other hosts too.
    pub fn with_pass_credentials(mut self, pass: bool) -> Self {
        self.pass_credentials = pass;
        self
    }

    /// Trusts the PEM certificate authorities in `pem` besides the system's.
    ///
    /// # Errors
    /// [`RepositoryError::Client`] when the PEM does not parse.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, RepositoryError> {
        self.client = client(&self.url, self.timeout, Some(pem))?;
        Ok(self)
    }

    /// Caps the index and archive sizes.
    pub fn with_limits(mut self, max_index_bytes: u64, max_chart_bytes: u64) -> Self {
        self.max_index_bytes = max_index_bytes;
        self.max_chart_bytes = max_chart_bytes;
        self
    }

    /// The repository URL, ending in `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The versions of `chart` in the index; [`IndexFetch::NotModified`] when the server says
    /// the index is unchanged since `previous`.
    ///
    /// # Errors
    /// [`RepositoryError`]: the request, status, size cap, or reading the index.
    pub async fn chart_versions(
        &self,
        chart: &str,
        previous: Option<&IndexState>,
    ) -> Result<IndexFetch, RepositoryError> {
        let (file, state, bytes) = match self.fetch_index(previous).await? {
            IndexDownload::NotModified => return Ok(IndexFetch::NotModified),
            IndexDownload::Fetched {
                file, state, bytes, ..
            } => (file, state, bytes),
        };
        let url = self.index_url();
        let chart = chart.to_owned();
        let read = tokio::task::spawn_blocking(move || {
            read_chart_versions(std::io::BufReader::new(file), &chart)
        })
        .await
        .map_err(|e| RepositoryError::Spool {
            url: url.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let versions = read.map_err(|source| RepositoryError::Index { url, source })?;
        Ok(IndexFetch::Fetched {
            versions,
            state,
            bytes,
        })
    }

    /// The URL of the repository's `index.yaml`.
    pub fn index_url(&self) -> String {
        format!("{}index.yaml", self.url)
    }

    /// Downloads the whole index (for a caller that keeps it, as a HelmRepository's artifact)
    /// with the size cap, spooled to a temporary file and digested on the way;
    /// [`IndexDownload::NotModified`] when the server says it is unchanged since `previous`.
    /// The index is not read: [`read_chart_versions`] or [`check_index`](super::check_index)
    /// read the file.
    ///
    /// # Errors
    /// [`RepositoryError`]: the request, status, size cap, or spooling.
    pub async fn fetch_index(
        &self,
        previous: Option<&IndexState>,
    ) -> Result<IndexDownload, RepositoryError> {
        let url = self.index_url();
        let mut request = self.authorized(self.client.get(&url), &url);
        if let Some(previous) = previous {
            if let Some(etag) = &previous.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(modified) = &previous.last_modified {
                request = request.header("If-Modified-Since", modified);
            }
        }
        let mut response = request
            .send()
            .await
            .map_err(|source| RepositoryError::Request {
                url: url.clone(),
                source,
            })?;
        if response.status().as_u16() == 304 && previous.is_some() {
            return Ok(IndexDownload::NotModified);
        }
        check_status(&url, &response)?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let state = IndexState {
            etag: header("etag"),
            last_modified: header("last-modified"),
        };
        // Spooled to disk: the index may be far larger than what the chart's entries need.
        let spool_error = |source| RepositoryError::Spool {
            url: url.clone(),
            source,
        };
        let mut file = tempfile::tempfile().map_err(spool_error)?;
        let mut digest = Sha256::new();
        let bytes = read_body(&mut response, &url, self.max_index_bytes, |chunk| {
            digest.update(chunk);
            file.write_all(chunk).map_err(spool_error)
        })
        .await?;
        file.rewind().map_err(spool_error)?;
        Ok(IndexDownload::Fetched {
            file,
            digest: format!("sha256:{}", hex::encode(digest.finalize())),
            state,
            bytes,
        })
    }

    /// Downloads the archive of `version` (its first URL, resolved against the repository)
    /// and checks it against the index's digest when the index gives one.
    ///
    /// # Errors
    /// [`RepositoryError`]: no URL, the request, status, size cap, or a digest mismatch.
    pub async fn download(&self, version: &ChartVersion) -> Result<Vec<u8>, RepositoryError> {
        let first = version.urls.first().ok_or_else(|| RepositoryError::NoUrl {
            chart: version.name.clone(),
            version: version.version.clone(),
        })?;
        let url = if first.contains("://") {
            first.clone()
        } else {
            format!("{}{}", self.url, first.trim_start_matches('/'))
        };
        let request = self.authorized(self.client.get(&url), &url);
        let mut response = request
            .send()
            .await
            .map_err(|source| RepositoryError::Request {
                url: url.clone(),
                source,
            })?;
        check_status(&url, &response)?;
        let mut data = Vec::new();
        read_body(&mut response, &url, self.max_chart_bytes, |chunk| {
            data.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        if let Some(expected) = &version.digest {
            let expected = expected.trim_start_matches("sha256:").to_ascii_lowercase();
            let actual = hex::encode(Sha256::digest(&data));
            if actual != expected {
                return Err(RepositoryError::DigestMismatch {
                    url,
                    expected,
                    actual,
                });
            }
        }
        Ok(data)
    }

    /// Adds the credentials when `url` is on the repository's origin (or always with
    /// `pass_credentials`).
    fn authorized(&self, request: reqwest::RequestBuilder, url: &str) -> reqwest::RequestBuilder {
        match &self.auth {
            Some((user, password)) if self.pass_credentials || origin(url) == origin(&self.url) => {
                request.basic_auth(user, Some(password))
            }
            _ => request,
        }
    }
}

/// Reads a response body chunk by chunk into `sink`, refusing more than `limit` bytes;
/// returns how many were read.
async fn read_body(
    response: &mut reqwest::Response,
    url: &str,
    limit: u64,
    mut sink: impl FnMut(&[u8]) -> Result<(), RepositoryError>,
) -> Result<u64, RepositoryError> {
    let mut read = 0u64;
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|source| RepositoryError::Request {
                url: url.into(),
                source,
            })?;
        let Some(chunk) = chunk else {
            return Ok(read);
        };
        read += chunk.len() as u64;
        if read > limit {
            return Err(RepositoryError::TooLarge {
                url: url.into(),
                limit,
            });
        }
        sink(&chunk)?;
    }
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

fn check_status(url: &str, response: &reqwest::Response) -> Result<(), RepositoryError> {
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(RepositoryError::Status {
            url: url.into(),
            status: status.as_u16(),
        })
    }
}

fn client(
    url: &str,
    timeout: Duration,
    ca: Option<&[u8]>,
) -> Result<reqwest::Client, RepositoryError> {
    let fail = |message: String| RepositoryError::Client {
        url: url.into(),
        message,
    };
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(30)))
        .user_agent(concat!("gitops-rs/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca {
        for certificate in
            reqwest::Certificate::from_pem_bundle(pem).map_err(|e| fail(e.to_string()))?
        {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|e| fail(e.to_string()))
}
