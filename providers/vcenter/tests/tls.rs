//! Trust decisions against a real TLS handshake on loopback: CA file, pinned SHA-256 and
//! SHA-1 thumbprints, a wrong pin, an untrusted certificate, and `insecure`. The server
//! is a minimal HTTPS responder with a test CA and leaf (`fixtures/tls`).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use failback_engine::config::model::Sensitive;
use failback_engine::provider::{Provider, ProviderError};
use failback_provider_vcenter::{
    Thumbprint, TlsOptions, VcenterClient, VcenterError, VcenterProvider, VcenterSettings,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const LEAF_SHA256: &str = "76:D3:9D:26:1F:78:33:DC:79:2D:37:5A:D2:E9:DB:CF:53:0A:1F:43:D9:EB:45:FB:65:9D:C9:C7:61:F4:26:77";
const LEAF_SHA1: &str = "49:15:1D:99:C9:65:25:53:01:B0:B7:0E:21:AF:86:29:38:C1:77:1D";

fn tls_dir() -> PathBuf {
    support::fixtures_dir().join("tls")
}

/// Serves every POST with the RetrieveServiceContent fixture over TLS; returns the URL.
fn https_server() -> String {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(tls_dir().join("leaf.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_dir().join("leaf.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body = support::fixture("RetrieveServiceContent.xml");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = config.clone();
            let body = body.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut reader = BufReader::new(&mut tls);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return; // handshake refused by the client, or closed
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut request = vec![0u8; length];
                if reader.read_exact(&mut request).is_err() {
                    return;
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    format!("https://{addr}/sdk")
}

fn client(url: &str, tls: TlsOptions) -> VcenterClient {
    let mut settings = VcenterSettings::new(url, "user", Sensitive::new("pw".into())).unwrap();
    settings.tls = tls;
    VcenterClient::new(settings).unwrap()
}

#[tokio::test]
async fn ca_file_is_trusted() {
    let url = https_server();
    let tls = TlsOptions {
        ca_file: Some(tls_dir().join("ca.pem")),
        ..TlsOptions::default()
    };
    let client = client(&url, tls);
    let content = client.service_content().await.unwrap();
    assert_eq!(content.about.api_type, "VirtualCenter");
}

#[tokio::test]
async fn pinned_sha256_and_sha1_thumbprints_are_accepted_in_any_case_and_form() {
    let url = https_server();
    for pin in [
        LEAF_SHA256.to_string(),
        LEAF_SHA256.replace(':', "").to_lowercase(),
        LEAF_SHA1.to_string(),
    ] {
        let tls = TlsOptions {
            thumbprint: Some(Thumbprint::parse(&pin).unwrap()),
            ..TlsOptions::default()
        };
        client(&url, tls)
            .service_content()
            .await
            .unwrap_or_else(|err| panic!("{pin}: {err}"));
    }
}

#[tokio::test]
async fn wrong_thumbprint_is_refused_and_shows_the_real_one() {
    let url = https_server();
    let wrong = "AB:".repeat(31) + "AB";
    let tls = TlsOptions {
        thumbprint: Some(Thumbprint::parse(&wrong).unwrap()),
        ..TlsOptions::default()
    };
    let err = client(&url, tls).service_content().await.unwrap_err();
    let VcenterError::Tls {
        sha256,
        sha1,
        reason,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(sha256.as_deref(), Some(LEAF_SHA256));
    assert_eq!(sha1.as_deref(), Some(LEAF_SHA1));
    assert!(
        reason.contains("does not match the pinned thumbprint"),
        "{reason}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("thumbprint = \"{LEAF_SHA256}\"")),
        "{text}"
    );
}

#[tokio::test]
async fn untrusted_certificate_is_refused_with_its_thumbprint() {
    let url = https_server();
    let provider = VcenterProvider::new(
        "vcenter.onprem",
        VcenterSettings::new(&url, "user", Sensitive::new("pw".into())).unwrap(),
    )
    .unwrap();
    let err = provider.discover().await.unwrap_err();
    let ProviderError::Tls(text) = &err else {
        panic!("{err:?}")
    };
    assert!(text.contains("not signed by a trusted CA"), "{text}");
    assert!(text.contains(LEAF_SHA256), "{text}");
}

#[tokio::test]
async fn insecure_accepts_any_certificate() {
    let url = https_server();
    let tls = TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    };
    client(&url, tls).service_content().await.unwrap();
}
