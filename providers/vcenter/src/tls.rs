//! Deciding whether to trust a vCenter's certificate.
//!
//! vCenter usually serves a certificate from its own VMCA root, which no system trusts.
//! So, like govc, failback offers three ways: the system roots plus an optional CA file,
//! a pinned leaf thumbprint (SHA-256 or SHA-1, the form vSphere's UI shows), or
//! `insecure`. One custom rustls verifier covers all three and, whatever it decides,
//! records the digests of the leaf it was shown: when the handshake fails, the error can
//! tell the user the server's actual thumbprint so they can check and pin it.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::VcenterError;
use crate::settings::{Thumbprint, TlsOptions, colon_hex};

/// The leaf certificate the server presented in the latest handshake, and why it was
/// refused, if it was.
#[derive(Debug, Clone, Default)]
pub struct HandshakeRecord {
    pub sha256: Option<String>,
    pub sha1: Option<String>,
    pub refusal: Option<String>,
}

/// Shared between the verifier (inside reqwest's connector) and the client that turns
/// a failed request into a readable error.
#[derive(Debug, Clone, Default)]
pub struct HandshakeLog(Arc<Mutex<HandshakeRecord>>);

impl HandshakeLog {
    fn record(&self, record: HandshakeRecord) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = record;
        }
    }

    /// The record of the latest refused handshake, consuming the refusal.
    pub fn take_refusal(&self) -> Option<HandshakeRecord> {
        let mut slot = self.0.lock().ok()?;
        slot.refusal.as_ref()?;
        let record = slot.clone();
        slot.refusal = None;
        Some(record)
    }

    /// The digests of the leaf certificate most recently seen.
    pub fn last_seen(&self) -> HandshakeRecord {
        self.0.lock().map(|slot| slot.clone()).unwrap_or_default()
    }
}

enum Trust {
    Roots(Arc<WebPkiServerVerifier>),
    Pinned(Thumbprint),
    Insecure,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Roots(_) => f.write_str("Roots"),
            Trust::Pinned(thumbprint) => write!(f, "Pinned({thumbprint:?})"),
            Trust::Insecure => f.write_str("Insecure"),
        }
    }
}

/// The certificate verifier: roots, pin or nothing, always recording what it saw.
#[derive(Debug)]
pub struct VcenterCertVerifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
    log: HandshakeLog,
}

impl VcenterCertVerifier {
    fn refuse(
        &self,
        record: HandshakeRecord,
        reason: String,
        error: rustls::Error,
    ) -> rustls::Error {
        self.log.record(HandshakeRecord {
            refusal: Some(reason),
            ..record
        });
        error
    }
}

impl ServerCertVerifier for VcenterCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let sha256: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        let sha1: [u8; 20] = Sha1::digest(end_entity.as_ref()).into();
        let record = HandshakeRecord {
            sha256: Some(colon_hex(&sha256)),
            sha1: Some(colon_hex(&sha1)),
            refusal: None,
        };
        match &self.trust {
            Trust::Insecure => {
                self.log.record(record);
                Ok(ServerCertVerified::assertion())
            }
            Trust::Pinned(pin) => {
                let matches = match pin {
                    Thumbprint::Sha256(expected) => *expected == sha256,
                    Thumbprint::Sha1(expected) => *expected == sha1,
                };
                if matches {
                    self.log.record(record);
                    Ok(ServerCertVerified::assertion())
                } else {
                    let reason = format!(
                        "its {} thumbprint does not match the pinned thumbprint {pin}",
                        pin.algorithm()
                    );
                    Err(self.refuse(
                        record,
                        reason,
                        rustls::Error::InvalidCertificate(
                            CertificateError::ApplicationVerificationFailure,
                        ),
                    ))
                }
            }
            Trust::Roots(roots) => match roots.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(verified) => {
                    self.log.record(record);
                    Ok(verified)
                }
                Err(error) => {
                    let reason = describe_refusal(&error);
                    Err(self.refuse(record, reason, error))
                }
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Even with a pinned or ignored certificate the server must prove it holds the
        // certificate's key; otherwise a pin would only pin a public file.
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn describe_refusal(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "it is not signed by a trusted CA (vCenter's own VMCA root is not trusted by default)"
                .into()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "it is not valid for this host name".into(),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "it has expired".into(),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "it is not valid yet".into(),
        other => other.to_string(),
    }
}

/// A rustls client configuration for these options, and the log its verifier writes.
pub fn client_config(
    options: &TlsOptions,
) -> Result<(rustls::ClientConfig, HandshakeLog), VcenterError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let trust = if options.insecure {
        tracing::warn!(
            "TLS certificate verification is OFF for this vCenter (insecure = true): \
             anyone between failback and vCenter can read the password; pin the thumbprint instead"
        );
        Trust::Insecure
    } else if let Some(pin) = &options.thumbprint {
        Trust::Pinned(pin.clone())
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A broken system certificate must not prevent using the others.
            let _ = roots.add(cert);
        }
        if let Some(path) = &options.ca_file {
            let added = add_ca_file(&mut roots, path)?;
            tracing::debug!(ca_file = %path.display(), added, "trusting CA file");
        }
        if roots.is_empty() {
            return Err(VcenterError::Settings(
                "no trusted CA certificates: the system has none and no `ca_file` was given; \
                 set `ca_file` or pin the `thumbprint`"
                    .into(),
            ));
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|err| {
                    VcenterError::Settings(format!("cannot use the trusted CA certificates: {err}"))
                })?;
        Trust::Roots(verifier)
    };
    let log = HandshakeLog::default();
    let verifier = Arc::new(VcenterCertVerifier {
        trust,
        provider: provider.clone(),
        log: log.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| VcenterError::Settings(format!("TLS setup: {err}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((config, log))
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<usize, VcenterError> {
    let unreadable = |detail: String| {
        VcenterError::Settings(format!(
            "cannot use ca_file {}: {detail}; expected a PEM file of CA certificates \
             (vCenter serves them in https://<vcenter>/certs/download.zip)",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| unreadable(err.to_string()))?;
    if certs.is_empty() {
        return Err(unreadable("it holds no certificate".into()));
    }
    let mut added = 0;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|err| unreadable(format!("a certificate in it is invalid ({err})")))?;
        added += 1;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_a_settings_error_naming_the_file() {
        let options = TlsOptions {
            ca_file: Some("/nonexistent/failback-ca.pem".into()),
            ..TlsOptions::default()
        };
        let err = client_config(&options).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/failback-ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn ca_file_without_certificates_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "not a certificate\n").unwrap();
        let options = TlsOptions {
            ca_file: Some(file.path().to_path_buf()),
            ..TlsOptions::default()
        };
        let err = client_config(&options).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    #[test]
    fn pinned_verifier_records_actual_thumbprint_on_mismatch() {
        let log = HandshakeLog::default();
        let verifier = VcenterCertVerifier {
            trust: Trust::Pinned(Thumbprint::Sha256([7; 32])),
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            log: log.clone(),
        };
        let cert = CertificateDer::from(vec![1u8, 2, 3]);
        let name = ServerName::try_from("127.0.0.1").unwrap();
        assert!(
            verifier
                .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
                .is_err()
        );
        let record = log.take_refusal().unwrap();
        let expected: [u8; 32] = Sha256::digest([1u8, 2, 3]).into();
        assert_eq!(
            record.sha256.as_deref(),
            Some(colon_hex(&expected).as_str())
        );
        assert!(record.refusal.unwrap().contains("does not match"));
        assert!(log.take_refusal().is_none(), "a refusal is reported once");
    }
}
