//! Everything that can go wrong talking to a vCenter, as one typed error.
//!
//! Each variant says what failed and, where the user can act, what to do. Messages are
//! built only from server answers, method names and settings that are not secret: the
//! password and the session cookie never reach an error.

use std::time::Duration;

use failback_engine::provider::ProviderError;

/// A vCenter provider failure.
#[derive(Debug, thiserror::Error)]
pub enum VcenterError {
    /// The settings cannot be used (bad URL, missing user, unreadable CA file).
    #[error("vCenter settings: {0}")]
    Settings(String),

    /// The server's certificate was refused.
    #[error("{}", tls_message(.server, .reason, .sha256, .sha1))]
    Tls {
        server: String,
        reason: String,
        /// The server's actual leaf certificate thumbprints, when the handshake got
        /// far enough to see them.
        sha256: Option<String>,
        sha1: Option<String>,
    },

    /// The server could not be reached, or the connection broke.
    #[error("cannot reach vCenter at {server} during {method}: {detail}")]
    Transport {
        server: String,
        method: String,
        detail: String,
    },

    /// A call did not finish in time.
    #[error("vCenter at {server} did not answer {method} within {}s (the server may be overloaded or gone)", .after.as_secs_f64())]
    Timeout {
        server: String,
        method: String,
        after: Duration,
    },

    /// A SOAP fault: vSphere refused the call.
    #[error("vCenter refused {method}: {fault}: {message}")]
    Fault {
        method: String,
        /// The fault type name, e.g. `InvalidLogin`, `NotAuthenticated`, `MethodDisabled`.
        fault: String,
        message: String,
    },

    /// The user name or password was refused.
    #[error(
        "vCenter refused the login of {user}: {message} (check username and password, or VSPHERE_USER / VSPHERE_PASSWORD)"
    )]
    Login { user: String, message: String },

    /// A non-SOAP HTTP error.
    #[error("vCenter answered {method} with HTTP {status}: {excerpt}")]
    Http {
        method: String,
        status: u16,
        excerpt: String,
    },

    /// The answer could not be understood.
    #[error("unexpected answer to {method}: {detail}")]
    Protocol { method: String, detail: String },

    /// A vSphere task ended in error.
    #[error("vSphere task {task} ({description}) failed: {fault}: {message}")]
    TaskFailed {
        task: String,
        description: String,
        fault: String,
        message: String,
    },

    /// A vSphere task did not finish in time; it may still be running in vCenter.
    #[error("vSphere task {task} ({description}) did not finish within {}s; it may still be running, check Recent Tasks in vCenter", .after.as_secs_f64())]
    TaskTimeout {
        task: String,
        description: String,
        after: Duration,
    },

    /// A named object does not exist (or the user cannot see it).
    #[error("{kind} `{name}` not found in vCenter (or not visible to this user)")]
    NotFound { kind: String, name: String },

    /// A name matches more than one object.
    #[error(
        "{kind} name `{name}` is ambiguous: {count} objects have it; use its managed object id ({ids})"
    )]
    Ambiguous {
        kind: String,
        name: String,
        count: usize,
        ids: String,
    },
}

fn tls_message(
    server: &str,
    reason: &str,
    sha256: &Option<String>,
    sha1: &Option<String>,
) -> String {
    let mut message = format!("the TLS certificate of {server} was refused: {reason}");
    match (sha256, sha1) {
        (Some(sha256), Some(sha1)) => message.push_str(&format!(
            "; the server presented a certificate with SHA-256 thumbprint {sha256} (SHA-1 {sha1}). \
             If that is your vCenter's certificate, pin it with `thumbprint = \"{sha256}\"`, \
             or give the issuing CA with `ca_file`"
        )),
        (Some(sha256), None) => message.push_str(&format!(
            "; the server presented a certificate with SHA-256 thumbprint {sha256}"
        )),
        _ => message.push_str("; the server's certificate could not be read"),
    }
    message
}

impl VcenterError {
    /// The SOAP fault name, when this is a fault.
    pub fn fault_name(&self) -> Option<&str> {
        match self {
            VcenterError::Fault { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

impl From<VcenterError> for ProviderError {
    fn from(error: VcenterError) -> ProviderError {
        let message = error.to_string();
        match error {
            VcenterError::Settings(_) => ProviderError::Protocol(message),
            VcenterError::Tls { .. } => ProviderError::Tls(message),
            VcenterError::Transport { .. } | VcenterError::Timeout { .. } => {
                ProviderError::Transport(message)
            }
            VcenterError::Login { .. } => ProviderError::Authentication(message),
            VcenterError::Fault { fault, .. } => ProviderError::Remote {
                service: "vCenter".into(),
                help: fault_help(&fault),
                code: fault,
                message,
            },
            VcenterError::TaskFailed { fault, .. } => ProviderError::Remote {
                service: "vCenter".into(),
                help: fault_help(&fault),
                code: fault,
                message,
            },
            VcenterError::TaskTimeout { .. } => ProviderError::Remote {
                service: "vCenter".into(),
                code: "TaskTimeout".into(),
                message,
                help: Some("the task may still complete; run plan again to see the result".into()),
            },
            VcenterError::NotFound { .. } | VcenterError::Ambiguous { .. } => {
                ProviderError::Remote {
                    service: "vCenter".into(),
                    code: "NotFound".into(),
                    message,
                    help: None,
                }
            }
            VcenterError::Http { .. } | VcenterError::Protocol { .. } => {
                ProviderError::Protocol(message)
            }
        }
    }
}

fn fault_help(fault: &str) -> Option<String> {
    let help = match fault {
        "NoPermission" => "the vCenter user lacks a privilege for this change; see rule FB101",
        "MethodDisabled" => {
            "another product (a backup or replication tool) has disabled this operation on the VM; finish or cancel its job first"
        }
        "NotAuthenticated" => "the vCenter session expired; run the command again",
        "InvalidState" | "InvalidPowerState" => {
            "the VM is in a state that does not allow this change; check it in vCenter"
        }
        _ => return None,
    };
    Some(help.into())
}
