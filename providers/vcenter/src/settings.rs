//! How to reach one vCenter: URL, credentials, trust and time limits, from the
//! configuration or from the environment variables terraform-provider-vsphere uses
//! (`VSPHERE_SERVER`, `VSPHERE_USER`, `VSPHERE_PASSWORD`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use failback_engine::config::model::Sensitive;
use url::Url;

use crate::error::VcenterError;

/// A certificate thumbprint to pin: the digest of the server's leaf certificate (DER).
#[derive(Clone, PartialEq, Eq)]
pub enum Thumbprint {
    Sha256([u8; 32]),
    Sha1([u8; 20]),
}

impl Thumbprint {
    /// Parses `AB:CD:…` or `abcd…`, case-insensitive; 32 bytes is SHA-256, 20 is SHA-1.
    pub fn parse(text: &str) -> Result<Thumbprint, VcenterError> {
        let trimmed = text.trim();
        let without_algorithm = trimmed
            .strip_prefix("sha256:")
            .or_else(|| trimmed.strip_prefix("SHA256:"))
            .unwrap_or(trimmed);
        let hex_digits: String = without_algorithm
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        let bytes = hex::decode(&hex_digits).map_err(|_| {
            VcenterError::Settings(format!(
                "thumbprint `{trimmed}` is not hexadecimal; expected a SHA-256 (or SHA-1) \
                 fingerprint such as `AB:CD:…` as `openssl x509 -fingerprint -sha256` prints it"
            ))
        })?;
        match bytes.len() {
            32 => Ok(Thumbprint::Sha256(bytes.try_into().unwrap_or([0; 32]))),
            20 => Ok(Thumbprint::Sha1(bytes.try_into().unwrap_or([0; 20]))),
            n => Err(VcenterError::Settings(format!(
                "thumbprint `{trimmed}` has {n} bytes; a SHA-256 thumbprint has 32 and a SHA-1 one 20"
            ))),
        }
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            Thumbprint::Sha256(_) => "SHA-256",
            Thumbprint::Sha1(_) => "SHA-1",
        }
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Thumbprint::Sha256(bytes) => f.write_str(&colon_hex(bytes)),
            Thumbprint::Sha1(bytes) => f.write_str(&colon_hex(bytes)),
        }
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({self})", self.algorithm())
    }
}

/// Uppercase hex with colons, the form vSphere and `openssl x509 -fingerprint` print.
pub fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

/// Which certificates to trust.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file of CA certificates trusted in addition to the system roots (the
    /// VMCA root from vCenter's `/certs/download.zip`).
    pub ca_file: Option<PathBuf>,
    /// Pin the leaf certificate: only a certificate with this digest is accepted.
    pub thumbprint: Option<Thumbprint>,
    /// Accept any certificate. Only when explicitly asked for.
    pub insecure: bool,
}

/// Time limits for every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect plus TLS handshake.
    pub connect: Duration,
    /// One whole SOAP call, request to last byte of the answer.
    pub request: Duration,
    /// Waiting for one vSphere task to finish.
    pub task: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(300),
            task: Duration::from_secs(1800),
        }
    }
}

/// Everything needed to talk to one vCenter.
#[derive(Debug, Clone)]
pub struct VcenterSettings {
    /// The SDK endpoint, `https://host/sdk`, without credentials.
    pub url: Url,
    pub username: String,
    pub password: Sensitive<String>,
    pub tls: TlsOptions,
    pub timeouts: Timeouts,
    /// `maxObjects` per discovery page.
    pub page_size: u32,
}

impl VcenterSettings {
    /// Settings from plain values. `server` may be a bare host (`vcsa.lab.local`), a
    /// `host:port`, or a full URL; a bare host gets `https://` and `/sdk`.
    pub fn new(
        server: &str,
        username: impl Into<String>,
        password: Sensitive<String>,
    ) -> Result<VcenterSettings, VcenterError> {
        let (url, _) = normalize_url(server)?;
        let username = username.into();
        if username.trim().is_empty() {
            return Err(VcenterError::Settings(
                "no vCenter user name: set `username` or VSPHERE_USER".into(),
            ));
        }
        if password.expose().is_empty() {
            return Err(VcenterError::Settings(
                "no vCenter password: set `password` or VSPHERE_PASSWORD".into(),
            ));
        }
        Ok(VcenterSettings {
            url,
            username,
            password,
            tls: TlsOptions::default(),
            timeouts: Timeouts::default(),
            page_size: 1000,
        })
    }

    /// Settings from optional configured values, falling back to `VSPHERE_SERVER`,
    /// `VSPHERE_USER` and `VSPHERE_PASSWORD`. Credentials embedded in the URL
    /// (`https://user:pass@host/sdk`) are used when nothing else gives them.
    pub fn resolve(
        server: Option<&str>,
        username: Option<&str>,
        password: Option<&Sensitive<String>>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<VcenterSettings, VcenterError> {
        let server = server
            .map(str::to_owned)
            .or_else(|| env("VSPHERE_SERVER"))
            .ok_or_else(|| {
                VcenterError::Settings("no vCenter address: set `url` or VSPHERE_SERVER".into())
            })?;
        let (_, embedded) = normalize_url(&server)?;
        let username = username
            .map(str::to_owned)
            .or_else(|| env("VSPHERE_USER"))
            .or_else(|| embedded.as_ref().map(|(user, _)| user.clone()))
            .unwrap_or_default();
        let password = password
            .cloned()
            .or_else(|| env("VSPHERE_PASSWORD").map(Sensitive::new))
            .or_else(|| embedded.map(|(_, password)| password))
            .unwrap_or_default();
        VcenterSettings::new(&server, username, password)
    }

    /// `host:port` of the server, for messages.
    pub fn server(&self) -> String {
        server_label(&self.url)
    }
}

/// `host:port` of a URL.
pub fn server_label(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

type EmbeddedCredentials = Option<(String, Sensitive<String>)>;

/// Turns what the user wrote into the SDK URL, taking out embedded credentials.
fn normalize_url(server: &str) -> Result<(Url, EmbeddedCredentials), VcenterError> {
    let trimmed = server.trim();
    if trimmed.is_empty() {
        return Err(VcenterError::Settings(
            "the vCenter address is empty".into(),
        ));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|err| {
        // The URL may hold a password: never echo it.
        VcenterError::Settings(format!(
            "the vCenter address is not a valid URL ({err}); expected `vcsa.example.local` or `https://vcsa.example.local/sdk`"
        ))
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(VcenterError::Settings(format!(
            "the vCenter address uses scheme `{}`; use https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(VcenterError::Settings(
            "the vCenter address has no host".into(),
        ));
    }
    let embedded = if url.username().is_empty() {
        None
    } else {
        let user = percent_decode(url.username());
        let password = Sensitive::new(percent_decode(url.password().unwrap_or("")));
        Some((user, password))
    };
    // Both setters only fail for URLs that cannot have credentials; https/http can.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/sdk");
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok((url, embedded))
}

fn percent_decode(text: &str) -> String {
    fn hex_value(byte: u8) -> Option<u8> {
        (byte as char).to_digit(16).map(|digit| digit as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
        {
            out.push(high * 16 + low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn bare_host_gets_scheme_and_sdk_path() {
        let s = VcenterSettings::new("vcsa.lab.local", "u", Sensitive::new("p".into())).unwrap();
        assert_eq!(s.url.as_str(), "https://vcsa.lab.local/sdk");
        let s = VcenterSettings::new("127.0.0.1:8443", "u", Sensitive::new("p".into())).unwrap();
        assert_eq!(s.url.as_str(), "https://127.0.0.1:8443/sdk");
        let s =
            VcenterSettings::new("https://vc/custom/sdk", "u", Sensitive::new("p".into())).unwrap();
        assert_eq!(s.url.as_str(), "https://vc/custom/sdk");
        assert_eq!(s.server(), "vc:443");
    }

    #[test]
    fn embedded_credentials_are_taken_out_of_the_url() {
        let s = VcenterSettings::resolve(
            Some("https://admin%40vsphere.local:se%3Acret@127.0.0.1:9/sdk"),
            None,
            None,
            &no_env,
        )
        .unwrap();
        assert_eq!(s.url.as_str(), "https://127.0.0.1:9/sdk");
        assert_eq!(s.username, "admin@vsphere.local");
        assert_eq!(s.password.expose(), "se:cret");
        assert!(!format!("{s:?}").contains("se:cret"));
    }

    #[test]
    fn environment_fills_what_the_config_leaves_out() {
        let env = |name: &str| match name {
            "VSPHERE_SERVER" => Some("vc.env".to_string()),
            "VSPHERE_USER" => Some("envuser".to_string()),
            "VSPHERE_PASSWORD" => Some("envpass".to_string()),
            _ => None,
        };
        let s = VcenterSettings::resolve(None, Some("cfguser"), None, &env).unwrap();
        assert_eq!(s.url.as_str(), "https://vc.env/sdk");
        assert_eq!(s.username, "cfguser");
        assert_eq!(s.password.expose(), "envpass");
    }

    #[test]
    fn missing_pieces_are_clear_errors() {
        let err = VcenterSettings::resolve(None, None, None, &no_env).unwrap_err();
        assert!(err.to_string().contains("VSPHERE_SERVER"), "{err}");
        let err = VcenterSettings::resolve(Some("vc"), None, None, &no_env).unwrap_err();
        assert!(err.to_string().contains("VSPHERE_USER"), "{err}");
        let err = VcenterSettings::resolve(Some("vc"), Some("u"), None, &no_env).unwrap_err();
        assert!(err.to_string().contains("VSPHERE_PASSWORD"), "{err}");
        let err = VcenterSettings::new("ftp://vc", "u", Sensitive::new("p".into())).unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
    }

    #[test]
    fn bad_url_error_does_not_echo_a_password() {
        let err = VcenterSettings::resolve(Some("https://u:hunter2@[bad/sdk"), None, None, &no_env)
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn thumbprints_parse_in_every_common_form() {
        let colon = "AB:".repeat(31) + "AB";
        let plain = "ab".repeat(32);
        assert_eq!(
            Thumbprint::parse(&colon).unwrap(),
            Thumbprint::parse(&plain).unwrap()
        );
        assert!(matches!(
            Thumbprint::parse(&plain).unwrap(),
            Thumbprint::Sha256(_)
        ));
        let sha1 = "01:".repeat(19) + "01";
        assert!(matches!(
            Thumbprint::parse(&sha1).unwrap(),
            Thumbprint::Sha1(_)
        ));
        assert_eq!(Thumbprint::parse(&plain).unwrap().to_string(), colon);
        let err = Thumbprint::parse("AB:CD").unwrap_err();
        assert!(err.to_string().contains("2 bytes"), "{err}");
        assert!(Thumbprint::parse("zz").is_err());
    }
}
