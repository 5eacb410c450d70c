//! The shared delivery policy: timeouts, retries with backoff, `Retry-After`, redaction.

use std::fmt;
use std::time::Duration;

use gitops_core::notify::Error as NotifyError;
use reqwest::{StatusCode, header};

use crate::Error;

/// A URL whose path and query may hold a secret (Slack and Discord webhook URLs do).
///
/// `Display` and `Debug` show only the scheme and host.
#[derive(Clone)]
pub struct SecretUrl(reqwest::Url);

impl SecretUrl {
    /// Parses an http(s) URL.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::InvalidUrl {
            url: redact(url),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::InvalidUrl {
                url: redact(url),
                reason: "expected http or https".into(),
            });
        }
        Ok(Self(parsed))
    }

    /// The full URL, for the request only.
    pub(crate) fn expose(&self) -> &reqwest::Url {
        &self.0
    }
}

fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}/***", u.scheme(), u.host_str().unwrap_or("")),
        Err(_) => "<unparsable URL>".into(),
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self.0.port().map(|p| format!(":{p}")).unwrap_or_default();
        write!(
            f,
            "{}://{}{port}/***",
            self.0.scheme(),
            self.0.host_str().unwrap_or("")
        )
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({self})")
    }
}

/// How notifiers deliver: timeouts, retries, proxy and extra CA.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Delivery {
    /// Timeout of one request, connection included.
    pub timeout: Duration,
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubles each time.
    pub backoff: Duration,
    /// The longest `Retry-After` we honour; a longer one fails the delivery instead of blocking.
    pub max_retry_after: Duration,
    /// An HTTP(S) proxy URL.
    pub proxy: Option<String>,
    /// Extra trusted CA certificates, PEM.
    pub ca_pem: Option<Vec<u8>>,
    /// The largest response body read (1 MiB by default): services answer a few hundred
    /// bytes, and a longer answer is refused as it arrives rather than buffered.
    pub max_response_body: usize,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
            proxy: None,
            ca_pem: None,
            max_response_body: 1 << 20,
        }
    }
}

impl Delivery {
    /// Sets the request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of attempts (at least 1).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the `Retry-After` cap.
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// Sets the response body limit.
    pub fn with_max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// Sends through a proxy.
    pub fn with_proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// Trusts an extra CA (PEM), e.g. for GitHub Enterprise.
    pub fn with_ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }

    pub(crate) fn client(&self) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(concat!("gitops-rs/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = &self.proxy {
            builder = builder
                .proxy(reqwest::Proxy::all(proxy).map_err(|e| Error::Client(e.to_string()))?);
        }
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Client(e.to_string()))?;
            builder = builder.tls_certs_merge(certs);
        }
        builder.build().map_err(|e| Error::Client(e.to_string()))
    }

    /// Sends a request built by `make` (once per attempt) and returns the response body of the
    /// first success.
    pub(crate) async fn send<F>(&self, target: &str, make: F) -> Result<Vec<u8>, NotifyError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let mut backoff = self.backoff;
        let mut last_error: Option<String> = None;
        for attempt in 1..=self.attempts {
            let wait = match make().send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return read_capped(response, self.max_response_body, target).await;
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let after = retry_after(response.headers()).unwrap_or(backoff);
                        if after > self.max_retry_after {
                            return Err(NotifyError::Rejected {
                                target: target.to_owned(),
                                status: status.as_u16(),
                            });
                        }
                        last_error = Some(format!("rate limited (429), retry after {after:?}"));
                        after
                    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                        last_error = Some(format!("server answered {status}"));
                        backoff
                    } else {
                        // Other 4xx: the request itself is wrong; retrying cannot help.
                        return Err(NotifyError::Rejected {
                            target: target.to_owned(),
                            status: status.as_u16(),
                        });
                    }
                }
                Err(e) => {
                    last_error = Some(e.without_url().to_string());
                    backoff
                }
            };
            if attempt < self.attempts {
                tokio::time::sleep(wait).await;
                backoff = backoff.saturating_mul(2);
            }
        }
        Err(unavailable(
            target,
            format!(
                "gave up after {} attempts: {}",
                self.attempts,
                last_error.unwrap_or_default()
            ),
        ))
    }
}

/// A response body of at most `limit` bytes, refused as soon as its `Content-Length` or its
/// bytes so far pass the limit.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    target: &str,
) -> Result<Vec<u8>, NotifyError> {
    let too_large = || {
        unavailable(
            target,
            format!("the answer's body is over the {limit} byte limit on a response body"),
        )
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unavailable(target, e.without_url()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unavailable(target: &str, cause: impl fmt::Display) -> NotifyError {
    NotifyError::Unavailable {
        target: target.to_owned(),
        source: cause.to_string().into(),
    }
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
    fn secret_urls_print_only_scheme_and_host() {
        let url = SecretUrl::parse("https://hooks.slack.com/services/T0/B0/secret-token").unwrap();
        assert_eq!(url.to_string(), "https://hooks.slack.com/***");
        assert!(!format!("{url:?}").contains("secret-token"));
        let err = SecretUrl::parse("ftp://x/secret").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a past date");
        headers.insert(header::RETRY_AFTER, "later".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
