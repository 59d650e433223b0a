//! Shared Key request signing for Azure Blob Storage: how the `azurerm` state backend
//! authenticates with a storage account access key (the `access_key` setting or
//! `ARM_ACCESS_KEY`), which the official Azure SDK for Rust does not offer. It is
//! also how Azurite, the storage emulator the tests run against, authenticates.
//!
//! The string to sign follows "Authorize with Shared Key" (Blob service, version
//! 2009-09-19 and later): the verb, eleven standard headers, the `x-ms-*` headers
//! and the canonical resource, signed with HMAC-SHA256 under the decoded key.
//!
//! [`SharedKey`] is an `azure_core` pipeline [`Policy`]: placed last among the
//! per-try policies of an `azure_storage_blob` client, it dates and signs every
//! attempt after all other headers are set, which is how the SDK, which only knows
//! Entra ID credentials, talks Shared Key.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use azure_core::time::OffsetDateTime;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A storage account name and its access key. The key is reachable only to sign;
/// `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct SharedKey {
    account: String,
    key: Vec<u8>,
}

/// Why an access key cannot be used. Never carries the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the storage account access key is not valid base64 (copy key1 or key2 from the storage account's \"Access keys\" page)"
)]
pub(crate) struct InvalidAccessKey;

impl SharedKey {
    /// `key` is the base64 text the Azure portal and `az storage account keys list`
    /// show.
    pub(crate) fn new(account: &str, key: &str) -> Result<SharedKey, InvalidAccessKey> {
        let key = BASE64
            .decode(key.trim())
            .map_err(|_| InvalidAccessKey)
            .and_then(|bytes| {
                if bytes.is_empty() {
                    Err(InvalidAccessKey)
                } else {
                    Ok(bytes)
                }
            })?;
        Ok(SharedKey {
            account: account.to_owned(),
            key,
        })
    }

    /// The `Authorization` header value for a request that already carries its
    /// `x-ms-date` and `x-ms-version` headers; `headers` are (lower-case name,
    /// value) pairs, `content_length` the body's length.
    pub(crate) fn authorization(
        &self,
        method: &str,
        url: &url::Url,
        headers: &[(String, String)],
        content_length: u64,
    ) -> String {
        let text = string_to_sign(&self.account, method, url, headers, content_length);
        format!("SharedKey {}:{}", self.account, self.signature(&text))
    }

    fn signature(&self, text: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail; an unsigned request
        // would only be refused by the service.
        match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mut mac) => {
                mac.update(text.as_bytes());
                BASE64.encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKey")
            .field("account", &self.account)
            .field("key", &"(sensitive value)")
            .finish()
    }
}

#[async_trait]
impl Policy for SharedKey {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        // Per try: a retried request gets a fresh date, so the service's 15-minute
        // clock-skew window never rejects a late attempt.
        request.insert_header(
            "x-ms-date",
            azure_core::time::to_rfc7231(&OffsetDateTime::now_utc()),
        );
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    value.as_str().to_owned(),
                )
            })
            .collect();
        let content_length = request.body().len().unwrap_or(0);
        let authorization = self.authorization(
            request.method().as_str(),
            request.url(),
            &headers,
            content_length,
        );
        request.insert_header("authorization", authorization);
        match next.split_first() {
            Some((policy, rest)) => policy.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "the Shared Key policy must not be the last in the pipeline",
            )),
        }
    }
}

/// The canonical text a Shared Key signature covers; `headers` have lower-case names.
fn string_to_sign(
    account: &str,
    method: &str,
    url: &url::Url,
    headers: &[(String, String)],
    content_length: u64,
) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    // Since version 2015-02-21 a zero length is signed as the empty string.
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut text = [
        method.to_owned(),
        header("content-encoding"),
        header("content-language"),
        length,
        header("content-md5"),
        header("content-type"),
        // Date: empty, x-ms-date is signed instead.
        String::new(),
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
    ]
    .join("\n");
    text.push('\n');

    let mut ms_headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.starts_with("x-ms-"))
        .map(|(name, value)| (name.clone(), value.trim().to_owned()))
        .collect();
    ms_headers.sort();
    for (name, value) in ms_headers {
        text.push_str(&name);
        text.push(':');
        text.push_str(&value);
        text.push('\n');
    }

    text.push('/');
    text.push_str(account);
    text.push_str(url.path());
    let mut parameters: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| (name.to_lowercase(), value.into_owned()))
        .collect();
    parameters.sort();
    for (name, value) in parameters {
        text.push('\n');
        text.push_str(&name);
        text.push(':');
        text.push_str(&value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_to_sign_is_canonical() {
        let url =
            url::Url::parse("https://acct.blob.core.windows.net/tfstate/prod.json?comp=lease")
                .unwrap_or_else(|err| panic!("{err}"));
        let headers: Vec<(String, String)> = [
            ("x-ms-version", "2021-08-06"),
            ("x-ms-date", "Thu, 26 Nov 2026 15:00:00 GMT"),
            ("x-ms-lease-action", " acquire "),
            ("if-match", "\"0x1\""),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let text = string_to_sign("acct", "PUT", &url, &headers, 0);
        assert_eq!(
            text,
            "PUT\n\n\n\n\n\n\n\n\"0x1\"\n\n\n\n\
             x-ms-date:Thu, 26 Nov 2026 15:00:00 GMT\n\
             x-ms-lease-action:acquire\n\
             x-ms-version:2021-08-06\n\
             /acct/tfstate/prod.json\ncomp:lease"
        );
        let with_body = string_to_sign("acct", "PUT", &url, &headers, 12);
        assert!(with_body.starts_with("PUT\n\n\n12\n"), "{with_body}");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_text_under_the_decoded_key() {
        // RFC 4231 test case 2: key "Jefe".
        let key = SharedKey::new("acct", &BASE64.encode(b"Jefe")).unwrap_or_else(|e| panic!("{e}"));
        let expected = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=";
        assert_eq!(key.signature("what do ya want for nothing?"), expected);
    }

    #[test]
    fn a_bad_key_is_refused_without_showing_it_and_debug_hides_a_good_one() {
        let err = SharedKey::new("acct", "not base64 at all!!").map(|_| ());
        assert_eq!(err, Err(InvalidAccessKey));
        assert!(!InvalidAccessKey.to_string().contains("not base64 at all"));
        let key =
            SharedKey::new("acct", "c2VjcmV0LWtleS1ieXRlcw==").unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{key:?}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
        assert!(!debug.contains("secret-key-bytes"), "{debug}");
    }
}
