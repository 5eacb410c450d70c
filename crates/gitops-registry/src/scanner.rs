//! [`RegistryScanner`]: paginated tag listing with registry auth, retries and exclusions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gitops_core::ImageScanner;
use gitops_core::image::{ScanError, ScanResult};
use regex::Regex;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;

use crate::auth::{Challenge, Login};
use crate::{Credentials, Error};

/// Flux's default exclusion list: cosign signature tags.
pub const DEFAULT_EXCLUSIONS: &[&str] = &[r"^.*\.sig$"];

/// Media types accepted when resolving a tag's digest.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// An image repository: registry host and repository path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The registry host, with a port if any (`ghcr.io`, `127.0.0.1:5000`).
    pub host: String,
    /// The repository path (`stefanprodan/podinfo`, `library/nginx`).
    pub path: String,
}

impl Reference {
    /// Parses `host[:port]/path`, with Docker Hub's defaults for short names
    /// (`nginx` → `docker.io/library/nginx`).
    pub fn parse(repository: &str) -> Result<Self, Error> {
        let repository = repository.trim();
        let invalid = || Error::Reference(repository.to_owned());
        if repository.is_empty() || repository.contains(['@', ' ']) {
            return Err(invalid());
        }
        let (first, rest) = repository.split_once('/').unwrap_or(("", repository));
        let is_host = first.contains(['.', ':']) || first == "localhost";
        let (host, path) = if is_host {
            (first.to_owned(), rest.to_owned())
        } else if repository.contains('/') {
            ("docker.io".to_owned(), repository.to_owned())
        } else {
            ("docker.io".to_owned(), format!("library/{repository}"))
        };
        let valid_path = !path.is_empty()
            && path.split('/').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        if !valid_path {
            return Err(invalid());
        }
        Ok(Self { host, path })
    }

    /// The host serving the API (Docker Hub's API lives elsewhere than its name).
    fn api_host(&self) -> &str {
        if self.host == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.host
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

/// What the current request sends to authenticate.
#[derive(Clone)]
enum Auth {
    None,
    Basic(Login),
    Bearer(String),
}

/// Lists image tags over the OCI distribution API.
pub struct RegistryScanner {
    client: reqwest::Client,
    credentials: Credentials,
    exclusions: Vec<Regex>,
    page_size: usize,
    insecure: bool,
    attempts: u32,
    backoff: Duration,
    max_retry_after: Duration,
    max_pages: usize,
    max_body: usize,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// The default cap on one response body (a page of tags, a token answer): 16 MiB, some 300,000
/// tags of 50 bytes, far above what registries send per page.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;

impl std::fmt::Debug for RegistryScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryScanner")
            .field("credentials", &self.credentials)
            .field("page_size", &self.page_size)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl RegistryScanner {
    /// A scanner with anonymous access, Flux's default exclusions, pages of 100 tags, a 30 s
    /// timeout per request and up to 4 attempts per request.
    pub fn new() -> Result<Self, Error> {
        Self::with_timeout(Duration::from_secs(30))
    }

    /// [`new`](Self::new) with another request timeout.
    pub fn with_timeout(timeout: Duration) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("gitops-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self {
            client,
            credentials: Credentials::Anonymous,
            exclusions: compile(DEFAULT_EXCLUSIONS)?,
            page_size: 100,
            insecure: false,
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(30),
            max_pages: 10_000,
            max_body: DEFAULT_MAX_BODY,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Authenticates with these credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Replaces the exclusion list (Flux's `exclusionList`).
    pub fn with_exclusions(mut self, patterns: &[&str]) -> Result<Self, Error> {
        self.exclusions = compile(patterns)?;
        Ok(self)
    }

    /// Asks for pages of `n` tags.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// Talks plain HTTP instead of HTTPS (Flux's `insecure`), for registries on a private network.
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Caps every response body the scanner reads (a page of tags, a token answer) at `bytes`
    /// ([`DEFAULT_MAX_BODY`] by default). A longer body is refused as soon as its
    /// `Content-Length` or its bytes so far pass the cap, with
    /// [`ScanError::InvalidResponse`], so a hostile or broken registry cannot make the scanner
    /// buffer without bound.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets attempts per request and the first backoff.
    pub fn with_retries(mut self, attempts: u32, backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }

    /// Every tag of the repository, in the registry's order, before exclusions.
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>, ScanError> {
        let reference = parse(repository)?;
        let mut auth = Auth::None;
        let mut url = format!(
            "{}/v2/{}/tags/list?n={}",
            self.base(&reference),
            reference.path,
            self.page_size
        );
        let mut tags = Vec::new();
        for _ in 0..self.max_pages {
            let response = self
                .request(&reference, Method::GET, &url, None, &mut auth)
                .await?;
            let next = response
                .headers()
                .get_all(header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link);
            let body = self.read_body(&reference, response, "tag list").await?;
            let page: Value = serde_json::from_slice(&body)
                .map_err(|e| invalid(&reference, format!("tag list is not JSON: {e}")))?;
            match page.get("tags") {
                Some(Value::Array(list)) => {
                    for tag in list {
                        let tag = tag
                            .as_str()
                            .ok_or_else(|| invalid(&reference, "a tag is not a string".into()))?;
                        tags.push(tag.to_owned());
                    }
                }
                // An empty repository answers `"tags": null`.
                Some(Value::Null) | None => {}
                Some(_) => return Err(invalid(&reference, "`tags` is not a list".into())),
            }
            match next {
                Some(link) if link.starts_with('/') => {
                    url = format!("{}{link}", self.base(&reference))
                }
                Some(link) => url = link,
                None => return Ok(tags),
            }
        }
        Err(invalid(
            &reference,
            format!("more than {} pages of tags", self.max_pages),
        ))
    }

    /// The digest of a tag's manifest (`sha256:…`), from a `HEAD` request.
    pub async fn digest(&self, repository: &str, tag: &str) -> Result<String, ScanError> {
        let reference = parse(repository)?;
        let url = format!(
            "{}/v2/{}/manifests/{tag}",
            self.base(&reference),
            reference.path
        );
        let response = self
            .request(
                &reference,
                Method::HEAD,
                &url,
                Some(MANIFEST_TYPES),
                &mut Auth::None,
            )
            .await?;
        response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| invalid(&reference, "no Docker-Content-Digest header".into()))
    }

    /// The manifest `tag` (or digest) of `repository` as the registry stores it, with its
    /// digest (`sha256:…`), for pulling an artifact (a Helm chart, say). The body is capped like
    /// every other, and a manifest whose bytes do not hash to the digest the registry names is
    /// refused.
    ///
    /// # Errors
    /// As [`RegistryScanner::list_tags`], and [`ScanError::InvalidResponse`] for a digest
    /// mismatch.
    pub async fn manifest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<(Vec<u8>, String), ScanError> {
        let reference = parse(repository)?;
        let url = format!(
            "{}/v2/{}/manifests/{tag}",
            self.base(&reference),
            reference.path
        );
        let mut auth = Auth::None;
        let response = self
            .request(
                &reference,
                Method::GET,
                &url,
                Some(MANIFEST_TYPES),
                &mut auth,
            )
            .await?;
        let named = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = self.read_body(&reference, response, "the manifest").await?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        if named.as_ref().is_some_and(|named| named != &digest) {
            return Err(invalid(
                &reference,
                format!("manifest {tag} hashes to {digest}, not the {named:?} the registry named"),
            ));
        }
        Ok((body, digest))
    }

    /// The blob `digest` (`sha256:…`) of `repository`, checked against the digest.
    ///
    /// # Errors
    /// As [`RegistryScanner::manifest`].
    pub async fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>, ScanError> {
        let reference = parse(repository)?;
        let expected = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| invalid(&reference, format!("unsupported digest {digest:?}")))?;
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base(&reference),
            reference.path
        );
        let mut auth = Auth::None;
        let response = self
            .request(&reference, Method::GET, &url, None, &mut auth)
            .await?;
        let body = self.read_body(&reference, response, "the blob").await?;
        let actual = hex::encode(Sha256::digest(&body));
        if actual != expected {
            return Err(invalid(
                &reference,
                format!("blob {digest} hashes to sha256:{actual}"),
            ));
        }
        Ok(body)
    }

    fn base(&self, reference: &Reference) -> String {
        let scheme = if self.insecure { "http" } else { "https" };
        format!("{scheme}://{}", reference.api_host())
    }

    /// One request with authentication challenges answered and transient failures retried.
    async fn request(
        &self,
        reference: &Reference,
        method: Method,
        url: &str,
        accept: Option<&str>,
        auth: &mut Auth,
    ) -> Result<reqwest::Response, ScanError> {
        let mut backoff = self.backoff;
        let mut answered_challenge = false;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            let mut request = self.client.request(method.clone(), url);
            if let Some(accept) = accept {
                request = request.header(header::ACCEPT, accept);
            }
            request = match &*auth {
                Auth::None => request,
                Auth::Basic(login) => request.basic_auth(&login.username, Some(&login.password)),
                Auth::Bearer(token) => request.bearer_auth(token),
            };
            let wait = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => match response.status() {
                    StatusCode::UNAUTHORIZED if !answered_challenge => {
                        answered_challenge = true;
                        let challenge = response
                            .headers()
                            .get(header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(Challenge::parse);
                        *auth = self.answer(reference, challenge).await?;
                        continue;
                    }
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        return Err(ScanError::Auth {
                            repository: reference.to_string(),
                            source: None,
                        });
                    }
                    StatusCode::NOT_FOUND => {
                        return Err(ScanError::NotFound {
                            repository: reference.to_string(),
                        });
                    }
                    StatusCode::TOO_MANY_REQUESTS => {
                        let after = retry_after(response.headers()).unwrap_or(backoff);
                        if after > self.max_retry_after {
                            return Err(unavailable(
                                reference,
                                format!(
                                    "rate limited; Retry-After {after:?} is over the {:?} cap",
                                    self.max_retry_after
                                ),
                            ));
                        }
                        last = "rate limited (429)".into();
                        after
                    }
                    status if status.is_server_error() => {
                        last = format!("server answered {status}");
                        backoff
                    }
                    status => {
                        return Err(invalid(reference, format!("{method} answered {status}")));
                    }
                },
                Err(e) => {
                    last = e.without_url().to_string();
                    backoff
                }
            };
            if attempt < self.attempts {
                tokio::time::sleep(wait).await;
                backoff = backoff.saturating_mul(2);
            }
        }
        Err(unavailable(
            reference,
            format!("gave up after {} attempts: {last}", self.attempts),
        ))
    }

    /// Reads a response body of at most `max_body` bytes, chunk by chunk.
    async fn read_body(
        &self,
        reference: &Reference,
        mut response: reqwest::Response,
        what: &str,
    ) -> Result<Vec<u8>, ScanError> {
        let too_large = |size: String| {
            invalid(
                reference,
                format!(
                    "{what} of {size} bytes is over the {} byte limit on a response body",
                    self.max_body
                ),
            )
        };
        if let Some(length) = response.content_length() {
            if length > self.max_body as u64 {
                return Err(too_large(length.to_string()));
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(reference, e.without_url()))?
        {
            if body.len() + chunk.len() > self.max_body {
                return Err(too_large(format!("more than {}", self.max_body)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Turns a `WWW-Authenticate` challenge into credentials for the retry.
    async fn answer(
        &self,
        reference: &Reference,
        challenge: Option<Challenge>,
    ) -> Result<Auth, ScanError> {
        let login = self.credentials.login_for(&reference.host);
        let auth_error = |source: Option<String>| ScanError::Auth {
            repository: reference.to_string(),
            source: source.map(Into::into),
        };
        match challenge {
            Some(Challenge::Basic) => login.map(Auth::Basic).ok_or_else(|| {
                auth_error(Some(
                    "basic auth required and no credentials configured".into(),
                ))
            }),
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", reference.path));
                let key = format!(
                    "{realm}|{}|{scope}|{}",
                    service.as_deref().unwrap_or(""),
                    login.as_ref().map_or("", |l| l.username.as_str())
                );
                if let Some((token, expires)) = self.tokens.lock().await.get(&key) {
                    if Instant::now() < *expires {
                        return Ok(Auth::Bearer(token.clone()));
                    }
                }
                let mut token_url = reqwest::Url::parse(&realm)
                    .map_err(|e| invalid(reference, format!("token realm {realm:?}: {e}")))?;
                {
                    let mut query = token_url.query_pairs_mut();
                    if let Some(service) = &service {
                        query.append_pair("service", service);
                    }
                    query.append_pair("scope", &scope);
                }
                let mut request = self.client.get(token_url);
                if let Some(login) = &login {
                    request = request.basic_auth(&login.username, Some(&login.password));
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| unavailable(reference, e.without_url()))?;
                if matches!(
                    response.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) {
                    return Err(auth_error(Some(format!(
                        "token service answered {}",
                        response.status()
                    ))));
                }
                if !response.status().is_success() {
                    return Err(unavailable(
                        reference,
                        format!("token service answered {}", response.status()),
                    ));
                }
                let body = self.read_body(reference, response, "token answer").await?;
                let body: Value = serde_json::from_slice(&body)
                    .map_err(|e| invalid(reference, format!("token answer is not JSON: {e}")))?;
                let token = body
                    .get("token")
                    .or_else(|| body.get("access_token"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(reference, "token answer has no token".into()))?
                    .to_owned();
                // The spec's default lifetime is 60 s; keep a margin so a token never expires in flight.
                let lifetime = body
                    .get("expires_in")
                    .and_then(Value::as_u64)
                    .unwrap_or(60)
                    .max(10);
                // `expires_in` is the server's: a huge value must not overflow `Instant`.
                let now = Instant::now();
                let expires = now
                    .checked_add(Duration::from_secs(lifetime - lifetime.min(10)))
                    .unwrap_or(now + Duration::from_secs(24 * 3600));
                self.tokens
                    .lock()
                    .await
                    .insert(key, (token.clone(), expires));
                Ok(Auth::Bearer(token))
            }
            None => Err(auth_error(Some(
                "401 without a usable WWW-Authenticate challenge".into(),
            ))),
        }
    }
}

#[async_trait]
impl ImageScanner for RegistryScanner {
    async fn scan(&self, repository: &str) -> Result<ScanResult, ScanError> {
        let started = Instant::now();
        let mut tags = self.list_tags(repository).await?;
        tags.retain(|tag| !self.exclusions.iter().any(|r| r.is_match(tag)));
        Ok(ScanResult::new(repository, tags, started.elapsed()))
    }
}

fn compile(patterns: &[&str]) -> Result<Vec<Regex>, Error> {
    patterns
        .iter()
        .map(|p| {
            Regex::new(p).map_err(|e| Error::Exclusion {
                pattern: (*p).to_owned(),
                reason: e.to_string(),
            })
        })
        .collect()
}

fn parse(repository: &str) -> Result<Reference, ScanError> {
    Reference::parse(repository).map_err(|e| ScanError::InvalidResponse {
        repository: repository.to_owned(),
        message: e.to_string(),
    })
}

fn unavailable(reference: &Reference, cause: impl std::fmt::Display) -> ScanError {
    ScanError::Unavailable {
        repository: reference.to_string(),
        source: cause.to_string().into(),
    }
}

fn invalid(reference: &Reference, message: String) -> ScanError {
    ScanError::InvalidResponse {
        repository: reference.to_string(),
        message,
    }
}

/// The target of `Link: <…>; rel="next"`.
fn next_link(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// The wait a response's `Retry-After` header asks for (seconds or an HTTP date).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    gitops_core::schedule::retry_after(value, std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("nginx").unwrap();
        assert_eq!(
            (r.host.as_str(), r.path.as_str(), r.api_host()),
            ("docker.io", "library/nginx", "registry-1.docker.io")
        );
        assert_eq!(
            Reference::parse("stefanprodan/podinfo")
                .unwrap()
                .to_string(),
            "docker.io/stefanprodan/podinfo"
        );
        assert_eq!(
            Reference::parse("127.0.0.1:5000/team/app").unwrap().host,
            "127.0.0.1:5000"
        );
        assert_eq!(Reference::parse("localhost/app").unwrap().host, "localhost");
        for bad in ["", "ghcr.io/", "ghcr.io/App", "a b", "ghcr.io/app@sha256:x"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/app/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/app/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r/x>; rel="prev", <https://r/y>; rel="next""#).as_deref(),
            Some("https://r/y")
        );
        assert_eq!(next_link(r#"<https://r/x>; rel="prev""#), None);
    }
}
