//! The Blob Storage calls of the `azurerm` state backend (download, properties,
//! upload, lease, metadata, create the container), made with Microsoft's
//! `azure_storage_blob` SDK and driven from synchronous code through a runtime the
//! client owns.
//!
//! Why the SDK: it is the maintained client of the service (request shapes, API
//! version, lease and conditional headers, XML error codes), so the backend only
//! says what it wants. The SDK authenticates with Entra ID only; an `access_key`
//! and Azurite use Shared Key, which [`SharedKey`] adds as a pipeline policy. Entra
//! ID credentials go through the SDK's own `TokenCredential` path, which refuses
//! anything but https.
//!
//! Every call is bounded (connect and request timeouts in the HTTP client, a token
//! timeout, and a deadline on the whole call) and every error says which operation
//! on which blob failed, with the service's error code; neither a key nor a token is
//! ever part of one. The SDK's own retries are off: the backend decides what to do
//! again (its lock loop waits and retries), and a silently repeated write is not
//! what a state store wants.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::policies::Policy;
use azure_core::http::{
    ClientOptions, Etag, ExponentialRetryOptions, RequestContent, RetryOptions, Transport,
};
use azure_core::time::Duration as AzureDuration;
use azure_storage_blob::models::{
    BlobClientAcquireLeaseOptions, BlobClientGetPropertiesResultHeaders,
    BlobClientReleaseLeaseOptions, BlobClientSetMetadataOptions, BlobClientUploadOptions,
    LeaseState,
};
use azure_storage_blob::{
    BlobClient as SdkBlobClient, BlobClientOptions, BlobContainerClient, BlobContainerClientOptions,
};
use reqwest::StatusCode;
use url::Url;
use uuid::Uuid;

use super::shared_key::SharedKey;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// `az` or a managed identity endpoint can hang; a token is never worth more.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);
/// The whole call: a token, then one request, with room to spare. The inner
/// timeouts normally end a call first; this one holds whatever they miss.
const CALL_TIMEOUT: Duration = Duration::from_secs(150);

/// How requests are authenticated.
pub(crate) enum BlobAuth {
    SharedKey(SharedKey),
    Token {
        credential: Arc<dyn TokenCredential>,
        /// A short name for messages: `client secret`, `managed identity`, ...
        kind: &'static str,
    },
}

impl BlobAuth {
    pub(crate) fn token(credential: Arc<dyn TokenCredential>, kind: &'static str) -> BlobAuth {
        BlobAuth::Token { credential, kind }
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

    /// The SDK's error in our terms: the status and the service's code from the
    /// answer, its `<Message>`, or for an unanswered request the causes (without
    /// the URL: the caller's message names the blob already).
    fn from_sdk(err: &azure_core::Error) -> BlobError {
        if let ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } = err.kind()
        {
            let status = StatusCode::from_u16(u16::from(*status)).ok();
            let (code, message) = match raw_response {
                Some(response) => (
                    response
                        .headers()
                        .get_optional_str(&azure_core::http::headers::ERROR_CODE)
                        .map(str::to_owned)
                        .or_else(|| error_code.clone()),
                    error_message(response.body()),
                ),
                None => (error_code.clone(), String::new()),
            };
            return BlobError {
                status,
                code,
                message,
            };
        }
        BlobError::local(causes(err))
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

/// An error that got no answer, with its causes; a transport error says whether it
/// could not connect or got no answer in time, and leaves its URL out.
fn causes(err: &azure_core::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(http) = cause.downcast_ref::<reqwest::Error>() {
            let what = if http.is_timeout() {
                "no answer in time"
            } else if http.is_connect() {
                "cannot connect"
            } else {
                "the request failed"
            };
            parts.push(what.to_owned());
            let mut inner = std::error::Error::source(http);
            while let Some(cause) = inner {
                parts.push(cause.to_string());
                inner = cause.source();
            }
            break;
        }
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.dedup();
    parts.join(": ")
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

/// What the backend reads from a blob's properties.
#[derive(Debug, Clone, Default)]
pub(crate) struct BlobProperties {
    /// User metadata, by lower-case name.
    pub(crate) metadata: BTreeMap<String, String>,
    /// Whether the blob has an active lease.
    pub(crate) leased: bool,
}

impl BlobProperties {
    pub(crate) fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    pub(crate) fn is_leased(&self) -> bool {
        self.leased
    }
}

/// How to upload a block blob.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upload {
    pub(crate) content_type: Option<String>,
    /// The lease the blob is under; the service refuses the write without it.
    pub(crate) lease_id: Option<Uuid>,
    /// The blob's metadata after the upload (an upload replaces it).
    pub(crate) metadata: BTreeMap<String, String>,
    /// Fail with 409 rather than replace an existing blob.
    pub(crate) only_if_absent: bool,
}

/// A token credential whose every token request is bounded and named in errors.
#[derive(Debug)]
struct BoundedCredential {
    inner: Arc<dyn TokenCredential>,
    kind: &'static str,
}

#[async_trait]
impl TokenCredential for BoundedCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        match tokio::time::timeout(TOKEN_TIMEOUT, self.inner.get_token(scopes, options)).await {
            Ok(Ok(token)) => Ok(token),
            Ok(Err(err)) => Err(azure_core::Error::with_message(
                ErrorKind::Credential,
                format!("the {} credential gave no token: {err}", self.kind),
            )),
            Err(_) => Err(azure_core::Error::with_message(
                ErrorKind::Credential,
                format!(
                    "the {} credential gave no token within {} s",
                    self.kind,
                    TOKEN_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

/// The SDK side: client options with our transport and signing, and one SDK
/// client per blob URL (each caches its bearer token).
struct Clients {
    auth: BlobAuth,
    credential: Option<Arc<dyn TokenCredential>>,
    options: ClientOptions,
    blobs: Mutex<HashMap<Url, Arc<SdkBlobClient>>>,
}

impl Clients {
    fn blob(&self, url: &Url) -> Result<Arc<SdkBlobClient>, BlobError> {
        let mut blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = blobs.get(url) {
            return Ok(Arc::clone(client));
        }
        let options = BlobClientOptions {
            client_options: self.options.clone(),
            ..Default::default()
        };
        let client = SdkBlobClient::new(url.clone(), self.credential.clone(), Some(options))
            .map_err(|err| BlobError::local(format!("cannot set up the blob client: {err}")))?;
        let client = Arc::new(client);
        blobs.insert(url.clone(), Arc::clone(&client));
        Ok(client)
    }

    fn container(&self, url: &Url) -> Result<BlobContainerClient, BlobError> {
        let options = BlobContainerClientOptions {
            client_options: self.options.clone(),
            ..Default::default()
        };
        BlobContainerClient::new(url.clone(), self.credential.clone(), Some(options))
            .map_err(|err| BlobError::local(format!("cannot set up the container client: {err}")))
    }
}

/// A Blob service client for one storage endpoint, usable from synchronous code
/// (inside or outside a tokio runtime): calls run on a runtime the client owns, and
/// the caller's thread waits on a channel, so no runtime is ever nested.
pub(crate) struct BlobClient {
    clients: Arc<Clients>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for BlobClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobClient")
            .field("auth", &self.clients.auth)
            .finish_non_exhaustive()
    }
}

impl BlobClient {
    pub(crate) fn new(auth: BlobAuth) -> Result<BlobClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // The service does not redirect; a redirect would carry the signature
            // or token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| format!("cannot set up HTTP: {err}"))?;
        let mut options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            // The service's transient answers (408, 429, 5xx) and dropped connections are
            // retried a few times: every call here is safe to repeat (a write replaces
            // the whole blob under our lease; acquiring with our own proposed id again
            // succeeds), and an apply should not fail over a blip of Storage.
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: AzureDuration::milliseconds(500),
                max_retries: 3,
                max_total_elapsed: AzureDuration::seconds(30),
                max_delay: AzureDuration::seconds(5),
            }),
            ..Default::default()
        };
        let credential = match &auth {
            BlobAuth::SharedKey(key) => {
                let signing: Arc<dyn Policy> = Arc::new(key.clone());
                options.per_try_policies.push(signing);
                None
            }
            BlobAuth::Token { credential, kind } => {
                let bounded: Arc<dyn TokenCredential> = Arc::new(BoundedCredential {
                    inner: Arc::clone(credential),
                    kind,
                });
                Some(bounded)
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("failback-azurerm")
            .enable_all()
            .build()
            .map_err(|err| format!("cannot start the Azure client's runtime: {err}"))?;
        Ok(BlobClient {
            clients: Arc::new(Clients {
                auth,
                credential,
                options,
                blobs: Mutex::new(HashMap::new()),
            }),
            runtime: Some(runtime),
        })
    }

    pub(crate) fn auth(&self) -> &BlobAuth {
        &self.clients.auth
    }

    /// Creates the container at `container_url`.
    pub(crate) fn create_container(&self, container_url: &Url) -> Result<(), BlobError> {
        let container = self.clients.container(container_url)?;
        self.block_on(async move { container.create(None).await.map(|_| ()) })
    }

    /// The blob's whole content.
    pub(crate) fn download(&self, url: &Url) -> Result<Vec<u8>, BlobError> {
        let blob = self.clients.blob(url)?;
        self.block_on(async move {
            let response = blob.download(None).await?;
            Ok(response.body.collect().await?.to_vec())
        })
    }

    /// The blob's lease state and metadata.
    pub(crate) fn properties(&self, url: &Url) -> Result<BlobProperties, BlobError> {
        let blob = self.clients.blob(url)?;
        self.block_on(async move {
            let response = blob.get_properties(None).await?;
            let leased = response.lease_state()? == Some(LeaseState::Leased);
            let metadata = response
                .metadata()?
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect();
            Ok(BlobProperties { metadata, leased })
        })
    }

    /// Uploads `content` as the whole block blob.
    pub(crate) fn upload(
        &self,
        url: &Url,
        content: Vec<u8>,
        upload: Upload,
    ) -> Result<(), BlobError> {
        let blob = self.clients.blob(url)?;
        self.block_on(async move {
            let options = BlobClientUploadOptions {
                blob_content_type: upload.content_type,
                lease_id: upload.lease_id.map(|id| id.to_string()),
                metadata: (!upload.metadata.is_empty())
                    .then(|| upload.metadata.into_iter().collect()),
                if_none_match: upload.only_if_absent.then(|| Etag::from("*")),
                ..Default::default()
            };
            blob.upload(RequestContent::from(content), Some(options))
                .await
                .map(|_| ())
        })
    }

    /// Acquires an infinite lease whose id is `lease_id`.
    pub(crate) fn acquire_lease(&self, url: &Url, lease_id: Uuid) -> Result<(), BlobError> {
        let blob = self.clients.blob(url)?;
        self.block_on(async move {
            let options = BlobClientAcquireLeaseOptions {
                proposed_lease_id: Some(lease_id.to_string()),
                ..Default::default()
            };
            // -1: a lease that never expires.
            blob.acquire_lease(-1, Some(options)).await.map(|_| ())
        })
    }

    /// Replaces the blob's metadata (empty: clears it) under the lease `lease_id`.
    pub(crate) fn set_metadata(
        &self,
        url: &Url,
        lease_id: Uuid,
        metadata: BTreeMap<String, String>,
    ) -> Result<(), BlobError> {
        let blob = self.clients.blob(url)?;
        self.block_on(async move {
            let options = BlobClientSetMetadataOptions {
                lease_id: Some(lease_id.to_string()),
                ..Default::default()
            };
            let metadata: HashMap<String, String> = metadata.into_iter().collect();
            blob.set_metadata(&metadata, Some(options))
                .await
                .map(|_| ())
        })
    }

    /// Releases the lease `lease_id`.
    pub(crate) fn release_lease(&self, url: &Url, lease_id: Uuid) -> Result<(), BlobError> {
        let blob = self.clients.blob(url)?;
        self.block_on(async move {
            blob.release_lease(lease_id.to_string(), None::<BlobClientReleaseLeaseOptions>)
                .await
                .map(|_| ())
        })
    }

    /// Runs one SDK call on the client's runtime and waits for it, within
    /// [`CALL_TIMEOUT`].
    fn block_on<T: Send + 'static>(
        &self,
        call: impl Future<Output = azure_core::Result<T>> + Send + 'static,
    ) -> Result<T, BlobError> {
        let Some(runtime) = &self.runtime else {
            return Err(BlobError::local("the Azure client is shut down"));
        };
        let (sender, receiver) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            let result = match tokio::time::timeout(CALL_TIMEOUT, call).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(err)) => Err(BlobError::from_sdk(&err)),
                Err(_) => Err(BlobError::local(format!(
                    "no answer within {} s",
                    CALL_TIMEOUT.as_secs()
                ))),
            };
            // The receiver is gone only when the caller gave up; nothing to tell.
            let _ = sender.send(result);
        });
        // The call has a deadline, so this wait ends.
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

    /// A one-shot HTTP server on loopback that answers every request with `answer`
    /// and hands back the request it read.
    fn answering(answer: String) -> (Url, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|err| panic!("cannot listen: {err}"));
        let port = listener
            .local_addr()
            .map(|address| address.port())
            .unwrap_or_else(|err| panic!("{err}"));
        let server = std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return String::new();
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut request = Vec::new();
            let mut buffer = [0_u8; 4096];
            // A HEAD or bodyless PUT ends with its headers.
            while !request.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = stream.write_all(answer.as_bytes());
            String::from_utf8_lossy(&request).into_owned()
        });
        let url = Url::parse(&format!("http://127.0.0.1:{port}/acct/tfstate/prod.json"))
            .unwrap_or_else(|err| panic!("{err}"));
        (url, server)
    }

    fn shared_key_client() -> BlobClient {
        let key = SharedKey::new("acct", "c2VjcmV0LWtleS1ieXRlcw==")
            .unwrap_or_else(|err| panic!("{err}"));
        BlobClient::new(BlobAuth::SharedKey(key)).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn a_service_refusal_keeps_status_code_and_message_and_the_request_is_signed() {
        let body = "<?xml version=\"1.0\"?><Error><Code>LeaseAlreadyPresent</Code>\
                    <Message>There is a lease.\nRequestId:1</Message></Error>";
        let (url, server) = answering(format!(
            "HTTP/1.1 409 Conflict\r\nx-ms-error-code: LeaseAlreadyPresent\r\n\
             content-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ));
        let client = shared_key_client();
        let lease = Uuid::new_v4();
        let err = match client.acquire_lease(&url, lease) {
            Err(err) => err,
            Ok(()) => panic!("a refused lease was taken"),
        };
        assert!(err.is_status(StatusCode::CONFLICT), "{err:?}");
        assert!(err.is_code("LeaseAlreadyPresent"), "{err:?}");
        assert_eq!(
            err.to_string(),
            "HTTP 409 LeaseAlreadyPresent: There is a lease."
        );
        let request = server.join().unwrap_or_else(|_| panic!("server panicked"));
        let lower = request.to_ascii_lowercase();
        assert!(
            lower.starts_with("put /acct/tfstate/prod.json?comp=lease "),
            "{request}"
        );
        assert!(
            lower.contains("authorization: sharedkey acct:"),
            "{request}"
        );
        assert!(lower.contains("x-ms-lease-duration: -1"), "{request}");
        assert!(
            lower.contains(&format!("x-ms-proposed-lease-id: {lease}")),
            "{request}"
        );
        assert!(lower.contains("x-ms-date: "), "{request}");
        assert!(!request.contains("c2VjcmV0LWtleS1ieXRlcw=="), "{request}");
    }

    #[test]
    fn an_unreachable_endpoint_says_it_cannot_connect_without_the_url() {
        let port = {
            let listener =
                std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|err| panic!("{err}"));
            listener
                .local_addr()
                .map(|address| address.port())
                .unwrap_or_else(|err| panic!("{err}"))
        };
        let url = Url::parse(&format!("http://127.0.0.1:{port}/acct/tfstate/prod.json"))
            .unwrap_or_else(|err| panic!("{err}"));
        let err = match shared_key_client().properties(&url) {
            Err(err) => err,
            Ok(properties) => panic!("nothing listens, yet: {properties:?}"),
        };
        let text = err.to_string();
        assert_eq!(err.status, None, "{text}");
        assert!(text.contains("cannot connect"), "{text}");
        assert!(!text.contains("prod.json"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_and_drops_inside_a_tokio_runtime() {
        let (url, server) = answering(
            "HTTP/1.1 200 OK\r\nx-ms-lease-state: leased\r\nx-ms-meta-FailbackLock: e30=\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
                .to_owned(),
        );
        let client = shared_key_client();
        let properties = client
            .properties(&url)
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(properties.is_leased());
        assert_eq!(
            properties
                .metadata()
                .get("failbacklock")
                .map(String::as_str),
            Some("e30=")
        );
        drop(client);
        let request = server.join().unwrap_or_else(|_| panic!("server panicked"));
        assert!(request.starts_with("HEAD "), "{request}");
    }

    /// A credential that must never be asked: the request is refused before.
    #[derive(Debug)]
    struct NeverAsked;

    #[async_trait]
    impl TokenCredential for NeverAsked {
        async fn get_token(
            &self,
            _scopes: &[&str],
            _options: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            panic!("a token was requested for an http endpoint")
        }
    }

    #[test]
    fn the_sdk_refuses_to_send_a_token_over_http() {
        let client = BlobClient::new(BlobAuth::token(Arc::new(NeverAsked), "test identity"))
            .unwrap_or_else(|err| panic!("{err}"));
        let url = Url::parse("http://127.0.0.1:9/acct/tfstate/prod.json")
            .unwrap_or_else(|err| panic!("{err}"));
        let err = match client.download(&url) {
            Err(err) => err,
            Ok(bytes) => panic!("downloaded {} bytes over http with a token", bytes.len()),
        };
        assert_eq!(err.status, None, "{err}");
        assert!(err.to_string().contains("https"), "{err}");
    }
}
