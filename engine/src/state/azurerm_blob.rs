//! A small Azure Blob Storage REST client for the `azurerm` state backend: the few
//! operations a state blob needs (get, properties, put, lease, metadata, create the
//! container), authenticated with a Shared Key or an Entra ID bearer token, and
//! driven from synchronous code through a runtime the client owns.
//!
//! Why not `azure_storage_blob`: it has no Shared Key credential, which is how both
//! an `access_key` and Azurite authenticate, and these six calls are plain REST. Entra
//! ID tokens still come from the official `azure_identity` credentials.
//!
//! Every request is bounded (connect and total timeouts) and every error says which
//! operation on which blob failed, with the service's error code; neither a key nor a
//! token is ever part of one.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::time::{Duration as AzureDuration, OffsetDateTime};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;
use url::Url;

use super::shared_key::SharedKey;

/// The Blob service REST version every request asks for.
const API_VERSION: &str = "2021-08-06";
/// The OAuth scope of Azure Storage.
const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// `az` or a managed identity endpoint can hang; a token is never worth more.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);

/// How requests are authenticated.
pub(crate) enum BlobAuth {
    SharedKey(SharedKey),
    Token {
        credential: Arc<dyn TokenCredential>,
        /// A short name for messages: `client secret`, `managed identity`, ...
        kind: &'static str,
        cached: Mutex<Option<(String, OffsetDateTime)>>,
    },
}

impl BlobAuth {
    pub(crate) fn token(credential: Arc<dyn TokenCredential>, kind: &'static str) -> BlobAuth {
        BlobAuth::Token {
            credential,
            kind,
            cached: Mutex::new(None),
        }
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            BlobAuth::SharedKey(_) => "access key",
            BlobAuth::Token { kind, .. } => kind,
        }
    }
}

impl fmt::Debug for BlobAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobAuth::SharedKey(key) => f.debug_tuple("SharedKey").field(key).finish(),
            BlobAuth::Token { kind, .. } => f
                .debug_struct("Token")
                .field("kind", kind)
                .finish_non_exhaustive(),
        }
    }
}

/// A failed Blob service call: the HTTP status (none when the request never got an
/// answer) and the service's `x-ms-error-code`.
#[derive(Debug, Clone)]
pub(crate) struct BlobError {
    pub(crate) status: Option<StatusCode>,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
}

impl BlobError {
    fn local(message: impl Into<String>) -> BlobError {
        BlobError {
            status: None,
            code: None,
            message: message.into(),
        }
    }

    pub(crate) fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub(crate) fn is_status(&self, status: StatusCode) -> bool {
        self.status == Some(status)
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.status, &self.code) {
            (Some(status), Some(code)) => write!(f, "HTTP {} {code}", status.as_u16())?,
            (Some(status), None) => write!(f, "HTTP {}", status.as_u16())?,
            _ => {}
        }
        if !self.message.is_empty() {
            if self.status.is_some() {
                f.write_str(": ")?;
            }
            f.write_str(&self.message)?;
        }
        Ok(())
    }
}

/// What a successful call returned.
#[derive(Debug, Clone)]
pub(crate) struct BlobResponse {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl BlobResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// `x-ms-meta-NAME` headers, by lower-case NAME.
    pub(crate) fn metadata(&self) -> BTreeMap<String, String> {
        self.headers
            .iter()
            .filter_map(|(name, value)| {
                let key = name.as_str().strip_prefix("x-ms-meta-")?;
                Some((key.to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect()
    }

    /// Whether the blob has an active lease (`x-ms-lease-state: leased`).
    pub(crate) fn is_leased(&self) -> bool {
        self.header("x-ms-lease-state")
            .is_some_and(|state| state.eq_ignore_ascii_case("leased"))
    }
}

/// One request to send: the blob service call in plain data, so that it can move to
/// the client's runtime.
#[derive(Debug, Clone)]
pub(crate) struct BlobRequest {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<Vec<u8>>,
}

impl BlobRequest {
    pub(crate) fn new(method: Method, url: Url) -> BlobRequest {
        BlobRequest {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn query(mut self, name: &str, value: &str) -> BlobRequest {
        self.url.query_pairs_mut().append_pair(name, value);
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> BlobRequest {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Vec<u8>) -> BlobRequest {
        self.body = Some(body);
        self
    }
}

/// The HTTP side: the connection pool and the credentials.
#[derive(Debug)]
struct Transport {
    http: reqwest::Client,
    auth: BlobAuth,
}

impl Transport {
    async fn send(&self, request: BlobRequest) -> Result<BlobResponse, BlobError> {
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone())
            .header("x-ms-version", API_VERSION)
            .header("x-ms-date", http_date(OffsetDateTime::now_utc()));
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let body = request.body.clone().unwrap_or_default();
        if body.is_empty() && request.method == Method::PUT {
            // The service wants the length of every PUT (411 without it), and the
            // HTTP client leaves it out for an empty body.
            builder = builder.header(reqwest::header::CONTENT_LENGTH, "0");
        }
        if !body.is_empty() {
            builder = builder.body(body);
        }
        let mut built = builder
            .build()
            .map_err(|err| BlobError::local(format!("cannot build the request: {err}")))?;
        match &self.auth {
            BlobAuth::SharedKey(key) => key.sign(&mut built),
            BlobAuth::Token {
                credential,
                kind,
                cached,
            } => {
                let token = bearer_token(credential.as_ref(), kind, cached).await?;
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        BlobError::local(format!("the {kind} credential gave an unusable token"))
                    })?;
                value.set_sensitive(true);
                built
                    .headers_mut()
                    .insert(reqwest::header::AUTHORIZATION, value);
            }
        }
        let response = self.http.execute(built).await.map_err(|err| {
            let what = if err.is_timeout() {
                "no answer in time"
            } else if err.is_connect() {
                "cannot connect"
            } else {
                "the request failed"
            };
            BlobError::local(format!("{what}: {}", without_url(err)))
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|err| BlobError {
                status: Some(status),
                code: None,
                message: format!("cannot read the answer: {}", without_url(err)),
            })?
            .to_vec();
        if status.is_success() {
            return Ok(BlobResponse { headers, body });
        }
        let code = headers
            .get("x-ms-error-code")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Err(BlobError {
            status: Some(status),
            code,
            message: error_message(&body),
        })
    }
}

/// A transport error with its causes (reqwest's own text hides them), without the
/// URL (the caller's message names the blob already).
fn without_url(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `<Message>` of a Blob service error body, first line only.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Some(start) = text.find("<Message>") else {
        // Not the service's XML (a proxy, an emulator's own page): its first line.
        return text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
    };
    let rest = &text[start + "<Message>".len()..];
    let end = rest.find("</Message>").unwrap_or(rest.len());
    rest[..end]
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

async fn bearer_token(
    credential: &dyn TokenCredential,
    kind: &str,
    cached: &Mutex<Option<(String, OffsetDateTime)>>,
) -> Result<String, BlobError> {
    let mut cached = cached.lock().await;
    if let Some((token, expires_on)) = cached.as_ref()
        && *expires_on - AzureDuration::minutes(5) > OffsetDateTime::now_utc()
    {
        return Ok(token.clone());
    }
    let access = tokio::time::timeout(TOKEN_TIMEOUT, credential.get_token(&[STORAGE_SCOPE], None))
        .await
        .map_err(|_| {
            BlobError::local(format!(
                "the {kind} credential gave no token within {} s",
                TOKEN_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|err| BlobError::local(format!("the {kind} credential gave no token: {err}")))?;
    let token = access.token.secret().to_owned();
    *cached = Some((token.clone(), access.expires_on));
    Ok(token)
}

/// RFC 7231 date, as `x-ms-date` wants it.
fn http_date(now: OffsetDateTime) -> String {
    azure_core::time::to_rfc7231(&now)
}

/// A Blob service client for one storage endpoint, usable from synchronous code
/// (inside or outside a tokio runtime): calls run on a runtime the client owns, and
/// the caller's thread waits on a channel, so no runtime is ever nested.
pub(crate) struct BlobClient {
    transport: Arc<Transport>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for BlobClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobClient")
            .field("auth", &self.transport.auth)
            .finish_non_exhaustive()
    }
}

impl BlobClient {
    pub(crate) fn new(auth: BlobAuth) -> Result<BlobClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| format!("cannot set up HTTP: {err}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("failback-azurerm")
            .enable_all()
            .build()
            .map_err(|err| format!("cannot start the Azure client's runtime: {err}"))?;
        Ok(BlobClient {
            transport: Arc::new(Transport { http, auth }),
            runtime: Some(runtime),
        })
    }

    pub(crate) fn auth(&self) -> &BlobAuth {
        &self.transport.auth
    }

    /// Sends one request and waits for its answer.
    pub(crate) fn send(&self, request: BlobRequest) -> Result<BlobResponse, BlobError> {
        let transport = Arc::clone(&self.transport);
        self.block_on(async move { transport.send(request).await })
    }

    fn block_on<T: Send + 'static>(
        &self,
        future: impl Future<Output = Result<T, BlobError>> + Send + 'static,
    ) -> Result<T, BlobError> {
        let Some(runtime) = &self.runtime else {
            return Err(BlobError::local("the Azure client is shut down"));
        };
        let (sender, receiver) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            // The receiver is gone only when the caller gave up; nothing to tell.
            let _ = sender.send(future.await);
        });
        // Every request has its own timeouts, so this wait ends.
        receiver
            .recv()
            .unwrap_or_else(|_| Err(BlobError::local("the Azure client's task stopped")))
    }
}

impl Drop for BlobClient {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside an async context (the last
        // owner may be a task); nothing is left running that needs waiting for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_error_messages_are_short_and_keep_the_code() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>LeaseAlreadyPresent</Code><Message>There is already a lease present.\nRequestId:1\nTime:now</Message></Error>";
        assert_eq!(error_message(body), "There is already a lease present.");
        let err = BlobError {
            status: Some(StatusCode::CONFLICT),
            code: Some("LeaseAlreadyPresent".to_owned()),
            message: error_message(body),
        };
        assert_eq!(
            err.to_string(),
            "HTTP 409 LeaseAlreadyPresent: There is already a lease present."
        );
    }
}
