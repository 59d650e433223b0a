//! The ARM HTTP client: bearer tokens from a [`TokenSource`], a timeout on every
//! request, bounded retries with exponential backoff and full jitter (429 honouring
//! `Retry-After`, 5xx, dropped connections), `nextLink` paging, and CloudError
//! bodies turned into [`CloudError`].
//!
//! Requests that change something are sent with [`Replay::Unsafe`]: they are
//! retried only when ARM certainly did not act on them (429, a connection that was
//! never made); any other failure is returned as ambiguous so that the caller reads
//! the resource before deciding to send again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::TokenSource;
use crate::error::{AsrError, AuthError, CloudError};
use crate::models::Page;

/// The api-version of Microsoft.RecoveryServices this provider speaks.
pub const API_VERSION: &str = "2026-05-01";

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The first backoff; doubled on each retry.
    pub base_delay: Duration,
    /// No single wait (backoff or `Retry-After`) is longer than this.
    pub max_delay: Duration,
    /// Timeout of one HTTP request (connect, send, read the whole body).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): full jitter over an
    /// exponentially growing window, or the server's `Retry-After` when it sent one
    /// (never shorter, so a throttled vault gets the pause it asked for).
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let window = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        let jittered = if window.is_zero() {
            window
        } else {
            rand::rng().random_range(Duration::ZERO..=window)
        };
        match retry_after {
            Some(asked) => asked.min(self.max_delay).max(jittered.min(window / 2)),
            None => jittered,
        }
    }
}

/// Whether a request may be sent again after an ambiguous failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Reading: any retriable failure is retried.
    Safe,
    /// Changing: only failures where ARM certainly did nothing are retried.
    Unsafe,
}

/// An ARM answer with a success status (2xx).
#[derive(Debug)]
pub struct ArmResponse {
    pub status: StatusCode,
    pub location: Option<String>,
    pub azure_async_operation: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl ArmResponse {
    pub fn json<T: DeserializeOwned>(&self, path: &str) -> Result<T, AsrError> {
        serde_json::from_slice(&self.body).map_err(|error| AsrError::Protocol {
            path: path.to_owned(),
            reason: format!("cannot read the body: {error}"),
        })
    }
}

/// A client for one ARM endpoint.
#[derive(Debug, Clone)]
pub struct ArmClient {
    http: reqwest::Client,
    endpoint: Url,
    tokens: Arc<dyn TokenSource>,
    retry: RetryPolicy,
    requests: Arc<AtomicU64>,
}

impl ArmClient {
    pub fn new(
        endpoint: Url,
        tokens: Arc<dyn TokenSource>,
        retry: RetryPolicy,
    ) -> Result<ArmClient, AsrError> {
        if !matches!(endpoint.scheme(), "https" | "http") || endpoint.host_str().is_none() {
            return Err(AsrError::Config(format!(
                "the ARM endpoint {endpoint} is not an http(s) URL"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(retry.request_timeout)
            .connect_timeout(retry.connect_timeout)
            .user_agent(concat!("failback/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| AsrError::Config(format!("cannot build the HTTP client: {error}")))?;
        Ok(ArmClient {
            http,
            endpoint,
            tokens,
            retry,
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// HTTP requests sent so far (retries included); lets tests and the benchmark
    /// check that discovery does not grow with the number of items.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The URL of an ARM path (`/subscriptions/…`) with the api-version.
    pub fn url(&self, path: &str) -> Result<Url, AsrError> {
        let mut url = self.endpoint.join(path).map_err(|error| {
            AsrError::Config(format!("cannot build a URL from {path}: {error}"))
        })?;
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        Ok(url)
    }

    /// Resolves a URL the server handed back (`nextLink`, `Location`): it must be on
    /// the configured endpoint, so that the token is never sent elsewhere.
    pub fn follow(&self, link: &str) -> Result<Url, AsrError> {
        let url = self
            .endpoint
            .join(link)
            .map_err(|error| AsrError::Protocol {
                path: redact(link),
                reason: format!("the link is not a URL: {error}"),
            })?;
        if url.origin() != self.endpoint.origin() {
            return Err(AsrError::Protocol {
                path: url.path().to_owned(),
                reason: format!(
                    "the service pointed to {}, which is not the configured endpoint {}; \
                     refusing to send the token there",
                    url.origin().ascii_serialization(),
                    self.endpoint.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    pub async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, AsrError> {
        let path = url.path().to_owned();
        self.send(Method::GET, url, None, Replay::Safe)
            .await?
            .json(&path)
    }

    /// Every element of a pageable list, following `nextLink` verbatim.
    /// Returns the elements and the number of pages read.
    pub async fn list_all<T: DeserializeOwned>(&self, first: Url) -> Result<Vec<T>, AsrError> {
        const MAX_PAGES: usize = 10_000;
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut seen = std::collections::HashSet::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.to_string()) || seen.len() > MAX_PAGES {
                return Err(AsrError::Protocol {
                    path: url.path().to_owned(),
                    reason: "the list's nextLink loops or never ends".to_owned(),
                });
            }
            let page: Page<T> = self.get_json(url).await?;
            items.extend(page.value);
            next = match page.next_link.filter(|link| !link.trim().is_empty()) {
                Some(link) => Some(self.follow(&link)?),
                None => None,
            };
        }
        Ok(items)
    }

    /// Sends one request with retries; returns 2xx answers, turns the rest into
    /// errors.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        replay: Replay,
    ) -> Result<ArmResponse, AsrError> {
        let path = url.path().to_owned();
        let mut attempt = 0u32;
        let mut refreshed_token = false;
        loop {
            attempt += 1;
            let token = self.tokens.token().await?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.secret())
                .header(header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(bytes) => Ok((status, headers, bytes.to_vec())),
                        Err(error) => Err(error),
                    }
                }
                Err(error) => Err(error),
            };
            let retry_after;
            let failure = match outcome {
                Ok((status, headers, body)) if status.is_success() => {
                    return Ok(ArmResponse {
                        status,
                        location: header_text(&headers, header::LOCATION.as_str()),
                        azure_async_operation: header_text(&headers, "azure-asyncoperation"),
                        retry_after: retry_after_of(&headers),
                        body,
                    });
                }
                Ok((status, headers, body)) => {
                    let error = CloudError::from_body(status.as_u16(), &path, &body);
                    // A token that expired while we worked (long job polls) is
                    // fetched again once; a refused identity is not retried.
                    if status == StatusCode::UNAUTHORIZED
                        && !refreshed_token
                        && (error.has_code("ExpiredAuthenticationToken")
                            || error.has_code("InvalidAuthenticationToken"))
                        && self.tokens.invalidate().await
                    {
                        refreshed_token = true;
                        attempt -= 1;
                        continue;
                    }
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        return Err(AsrError::Authentication(AuthError {
                            status: Some(status.as_u16()),
                            code: error.asr_code().to_owned(),
                            message: error.asr_message().to_owned(),
                        }));
                    }
                    retry_after = retry_after_of(&headers);
                    let retriable = status == StatusCode::TOO_MANY_REQUESTS
                        || (replay == Replay::Safe
                            && (status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT));
                    if !retriable {
                        return Err(AsrError::Cloud(Box::new(error)));
                    }
                    AsrError::Cloud(Box::new(error))
                }
                Err(error) => {
                    retry_after = None;
                    let never_sent = error.is_connect();
                    let transport = AsrError::Transport {
                        method: method.to_string(),
                        path: path.clone(),
                        attempts: attempt,
                        reason: describe_transport(&error),
                    };
                    if replay == Replay::Unsafe && !never_sent {
                        return Err(transport);
                    }
                    transport
                }
            };
            if attempt >= self.retry.max_attempts {
                return Err(match failure {
                    AsrError::Transport {
                        method,
                        path,
                        reason,
                        ..
                    } => AsrError::Transport {
                        method,
                        path,
                        attempts: attempt,
                        reason,
                    },
                    other => other,
                });
            }
            let wait = self.retry.delay(attempt, retry_after);
            tracing::debug!(
                %method, path = %path, attempt, wait_ms = wait.as_millis() as u64,
                error = %failure, "retrying ARM request"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

fn header_text(headers: &header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .filter(|value| !value.is_empty())
}

/// `Retry-After` in seconds (ARM never sends the HTTP-date form for these APIs;
/// a date is ignored and the backoff applies).
pub fn retry_after_of(headers: &header::HeaderMap) -> Option<Duration> {
    let text = header_text(headers, header::RETRY_AFTER.as_str())?;
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

fn describe_transport(error: &reqwest::Error) -> String {
    // reqwest's Display includes the URL with its query; ours holds no secret, but
    // keep messages short and stable: the kind and the innermost cause.
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the connection dropped while reading the answer"
    } else {
        "the connection failed"
    };
    let mut source: &dyn std::error::Error = error;
    while let Some(inner) = source.source() {
        source = inner;
    }
    format!("{kind} ({source})")
}

/// A link reduced to its path, for messages.
fn redact(link: &str) -> String {
    link.split('?').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        for retry in 1..20 {
            assert!(policy.delay(retry, None) <= Duration::from_secs(2));
        }
        assert!(policy.delay(1, Some(Duration::from_secs(1))) >= Duration::from_secs(1));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(600))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn links_must_stay_on_the_endpoint() {
        let client = ArmClient::new(
            Url::parse("http://127.0.0.1:1/").unwrap(),
            Arc::new(crate::auth::StaticToken::new("t")),
            RetryPolicy::default(),
        )
        .unwrap();
        assert!(client.follow("http://127.0.0.1:1/a?b=c").is_ok());
        assert!(client.follow("/relative?x=1").is_ok());
        let error = client.follow("https://evil.example/steal").unwrap_err();
        assert!(error.to_string().contains("refusing to send the token"));
    }

    #[test]
    fn retry_after_seconds() {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
        assert_eq!(retry_after_of(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_of(&headers), None);
    }
}
