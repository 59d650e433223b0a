//! Typed errors of the ASR provider: ARM CloudError bodies, failed ASR jobs,
//! authentication refusals and transport failures, each kept with ASR's own code,
//! message, possible causes and recommended action so an operator can act on them.
//!
//! Nothing here ever holds a token or a client secret: request URLs are reduced to
//! their path (no query string) before they reach an error.

use std::fmt;
use std::time::Duration;

use failback_engine::provider::ProviderError;
use serde::Deserialize;

/// The service name used in [`ProviderError::Remote`].
pub const SERVICE: &str = "ASR";

/// Everything that can go wrong talking to a Recovery Services vault.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// The provider was configured with values it cannot use.
    #[error("invalid ASR provider configuration: {0}")]
    Config(String),
    /// No token could be obtained, or ARM refused the one sent (401/403).
    #[error("{0}")]
    Authentication(AuthError),
    /// ARM answered a request with an error body (the CloudError envelope).
    #[error("{0}")]
    Cloud(Box<CloudError>),
    /// An ASR job ended in `Failed` or `Cancelled`.
    #[error("{0}")]
    JobFailed(Box<JobFailure>),
    /// The vault could not be reached, the connection dropped, or a request timed out,
    /// and retrying did not help.
    #[error("ARM request {method} {path} failed after {attempts} attempt(s): {reason}")]
    Transport {
        method: String,
        path: String,
        attempts: u32,
        reason: String,
    },
    /// The answer could not be understood.
    #[error("unexpected ARM response to {path}: {reason}")]
    Protocol { path: String, reason: String },
    /// Waiting for a remote operation took longer than allowed.
    #[error("timed out after {}s waiting for {what}", after.as_secs())]
    Timeout { what: String, after: Duration },
}

/// Credentials missing, refused or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// HTTP status, when ARM answered (401, 403); `None` when no token was obtained.
    pub status: Option<u16>,
    /// ARM's code (`ExpiredAuthenticationToken`, `InvalidAuthenticationToken`,
    /// `AuthorizationFailed`) or `CredentialUnavailable`.
    pub code: String,
    pub message: String,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(
                f,
                "Azure refused the credentials (HTTP {status}, {}): {}",
                self.code, self.message
            ),
            None => write!(f, "no Azure credentials ({}): {}", self.code, self.message),
        }
    }
}

/// An ARM error answer: the common-types `ErrorResponse` envelope
/// (`{"error": {code, message, target, details[]}}`) with ASR's own fields
/// (`possibleCauses`, `recommendedAction`, `activityId`) kept from its details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError {
    pub status: u16,
    /// The request path (no query string).
    pub path: String,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<ServiceError>,
}

/// ASR's `ServiceError` / `ProviderError`: what went wrong and what to do about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
    pub possible_causes: Option<String>,
    pub recommended_action: Option<String>,
    pub activity_id: Option<String>,
}

impl CloudError {
    /// Reads an ARM error body. A body that is not the envelope (a proxy's HTML page,
    /// an empty 503) still gives an error that names the HTTP status.
    pub fn from_body(status: u16, path: &str, body: &[u8]) -> CloudError {
        #[derive(Deserialize)]
        struct Envelope {
            error: Option<WireError>,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct WireError {
            code: Option<String>,
            message: Option<String>,
            target: Option<String>,
            details: Vec<WireError>,
            possible_causes: Option<String>,
            recommended_action: Option<String>,
            activity_id: Option<String>,
        }
        let wire = serde_json::from_slice::<Envelope>(body)
            .ok()
            .and_then(|envelope| envelope.error);
        match wire {
            Some(error) => CloudError {
                status,
                path: path.to_owned(),
                code: error.code.unwrap_or_else(|| format!("HTTP{status}")),
                message: error.message.unwrap_or_default(),
                target: error.target,
                details: error
                    .details
                    .into_iter()
                    .map(|detail| ServiceError {
                        code: detail.code.unwrap_or_default(),
                        message: detail.message.unwrap_or_default(),
                        possible_causes: non_empty(detail.possible_causes),
                        recommended_action: non_empty(detail.recommended_action),
                        activity_id: detail.activity_id,
                    })
                    .collect(),
            },
            None => CloudError {
                status,
                path: path.to_owned(),
                code: format!("HTTP{status}"),
                message: summarize_body(body),
                target: None,
                details: Vec::new(),
            },
        }
    }

    /// The most specific code: ASR puts its own in the first detail, under a generic
    /// `BadRequest` envelope.
    pub fn asr_code(&self) -> &str {
        self.details
            .iter()
            .find(|detail| !detail.code.is_empty())
            .map(|detail| detail.code.as_str())
            .unwrap_or(&self.code)
    }

    /// The most specific message, see [`CloudError::asr_code`].
    pub fn asr_message(&self) -> &str {
        self.details
            .iter()
            .find(|detail| !detail.message.is_empty())
            .map(|detail| detail.message.as_str())
            .unwrap_or(&self.message)
    }

    /// Possible causes and recommended action of every detail, for `help`.
    pub fn help(&self) -> Option<String> {
        help_text(&self.details)
    }

    /// The request path below the vault (`replicationFabrics/cs01/…/reProtect`), or
    /// the whole path when it is not a vault path.
    pub fn short_path(&self) -> &str {
        let lower = self.path.to_ascii_lowercase();
        match lower.find("/vaults/") {
            Some(at) => {
                let after_vault = &self.path[at + "/vaults/".len()..];
                after_vault
                    .split_once('/')
                    .map(|(_, below)| below)
                    .unwrap_or(after_vault)
            }
            None => &self.path,
        }
    }

    /// Whether any code of this error (envelope or detail) equals `code`,
    /// compared case-insensitively.
    pub fn has_code(&self, code: &str) -> bool {
        self.code.eq_ignore_ascii_case(code)
            || self
                .details
                .iter()
                .any(|detail| detail.code.eq_ignore_ascii_case(code))
    }
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ASR rejected {} (HTTP {}): {}: {}",
            self.short_path(),
            self.status,
            self.asr_code(),
            self.asr_message()
        )?;
        if self.asr_code() != self.code {
            write!(f, " [{}: {}]", self.code, self.message)?;
        }
        Ok(())
    }
}

/// An ASR job that ended without success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// The job's ARM id.
    pub job_id: String,
    /// `Failed`, `Cancelled`, …
    pub state: String,
    pub scenario: Option<String>,
    /// The object the job ran on (the protected item's friendly name).
    pub target: Option<String>,
    /// The task that failed, when the job says.
    pub failed_task: Option<String>,
    pub errors: Vec<ServiceError>,
}

impl JobFailure {
    pub fn code(&self) -> &str {
        self.errors
            .iter()
            .find(|error| !error.code.is_empty())
            .map(|error| error.code.as_str())
            .unwrap_or("JobFailed")
    }

    pub fn message(&self) -> String {
        let detail = self
            .errors
            .iter()
            .find(|error| !error.message.is_empty())
            .map(|error| error.message.clone())
            .unwrap_or_else(|| "the job gave no error details".to_owned());
        let subject = self.target.as_deref().unwrap_or("the item");
        match &self.failed_task {
            Some(task) => format!(
                "job {} for {subject} ended {} in task \"{task}\": {detail}",
                self.job_name(),
                self.state
            ),
            None => format!(
                "job {} for {subject} ended {}: {detail}",
                self.job_name(),
                self.state
            ),
        }
    }

    fn job_name(&self) -> &str {
        self.job_id.rsplit('/').next().unwrap_or(&self.job_id)
    }
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ASR {}: {}", self.code(), self.message())
    }
}

impl AsrError {
    /// Whether this failure might have left a request accepted on the ASR side
    /// (connection dropped after sending, 5xx, timeout): the caller must re-read the
    /// item before sending a non-idempotent request again.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            AsrError::Transport { .. } => true,
            AsrError::Cloud(error) => error.status >= 500,
            _ => false,
        }
    }
}

impl From<AsrError> for ProviderError {
    fn from(error: AsrError) -> ProviderError {
        match error {
            AsrError::Authentication(auth) => ProviderError::Authentication(auth.to_string()),
            AsrError::Cloud(cloud) => ProviderError::Remote {
                service: SERVICE.to_owned(),
                code: cloud.asr_code().to_owned(),
                message: format!(
                    "{} (HTTP {} on {})",
                    cloud.asr_message(),
                    cloud.status,
                    cloud.short_path()
                ),
                help: cloud.help(),
            },
            AsrError::JobFailed(job) => ProviderError::Remote {
                service: SERVICE.to_owned(),
                code: job.code().to_owned(),
                message: job.message(),
                help: help_text(&job.errors),
            },
            AsrError::Transport { .. } | AsrError::Timeout { .. } => {
                ProviderError::Transport(error.to_string())
            }
            AsrError::Protocol { .. } | AsrError::Config(_) => {
                ProviderError::Protocol(error.to_string())
            }
        }
    }
}

fn help_text(errors: &[ServiceError]) -> Option<String> {
    let mut lines = Vec::new();
    for error in errors {
        if let Some(causes) = &error.possible_causes {
            lines.push(format!("Possible causes: {causes}"));
        }
        if let Some(action) = &error.recommended_action {
            lines.push(format!("Recommended action: {action}"));
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

/// A short, single-line excerpt of a non-JSON error body.
fn summarize_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        "no error body".to_owned()
    } else if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asr_details_are_kept_under_a_generic_envelope() {
        let body = br#"{"error":{"code":"BadRequest","message":"The operation has failed.",
            "details":[{"code":"InvalidChannelIntegrityKeyToken","message":"The token is invalid.",
            "possibleCauses":"The vault credentials expired.","recommendedAction":"Download new vault credentials.",
            "activityId":"abc"}]}}"#;
        let error = CloudError::from_body(400, "/x/reProtect", body);
        assert_eq!(error.asr_code(), "InvalidChannelIntegrityKeyToken");
        assert_eq!(error.asr_message(), "The token is invalid.");
        assert!(error.has_code("badrequest"));
        assert_eq!(
            error.help().as_deref(),
            Some(
                "Possible causes: The vault credentials expired.\nRecommended action: Download new vault credentials."
            )
        );
        let provider: ProviderError = AsrError::Cloud(Box::new(error)).into();
        match provider {
            ProviderError::Remote { code, help, .. } => {
                assert_eq!(code, "InvalidChannelIntegrityKeyToken");
                assert!(help.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_not_json_still_names_the_status() {
        let error = CloudError::from_body(503, "/x", b"<html>\n  Service Unavailable </html>");
        assert_eq!(error.code, "HTTP503");
        assert_eq!(error.message, "<html> Service Unavailable </html>");
        assert_eq!(error.help(), None);
    }

    #[test]
    fn job_failure_reads_like_asr() {
        let failure = JobFailure {
            job_id: "/Subscriptions/s/replicationJobs/job-1".to_owned(),
            state: "Failed".to_owned(),
            scenario: Some("ReverseReplication".to_owned()),
            target: Some("web01".to_owned()),
            failed_task: Some("Prerequisites check".to_owned()),
            errors: vec![ServiceError {
                code: "539".to_owned(),
                message: "The master target is not reachable.".to_owned(),
                possible_causes: Some("The MT is off.".to_owned()),
                recommended_action: Some("Start the MT.".to_owned()),
                activity_id: None,
            }],
        };
        assert_eq!(
            failure.to_string(),
            "ASR 539: job job-1 for web01 ended Failed in task \"Prerequisites check\": The master target is not reachable."
        );
    }
}
