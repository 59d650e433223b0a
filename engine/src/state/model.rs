//! The state as plain data: what failback applied, per address, with the lineage and
//! serial that tell one history from another and one write from the next. No I/O.
//!
//! The secret contract: [`ResourceState::inputs`] holds the inputs of an action
//! *after* redaction (sensitive configuration values are already
//! `(sensitive value)` by the time the planner builds an action). The model does not
//! trust that: [`State::upsert`] and every backend write run [`find_secret`], which
//! refuses values that look like credentials (keys named like passwords, tokens or
//! keys holding anything but the redaction marker; JWTs, PEM blocks, bearer tokens,
//! storage account keys). A state that fails the check is never written.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The state file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What every redacted value is replaced with.
pub const REDACTED: &str = "(sensitive value)";

/// The whole state of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Always [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// Set once when a state is created; a write with another lineage is refused, so
    /// two configurations can never overwrite each other's history.
    pub lineage: Uuid,
    /// Grows by one with every write; a write whose serial is not greater than the
    /// stored one is refused (a stale writer), and saved plans record it.
    pub serial: u64,
    /// The failback version that last wrote this state.
    pub tool_version: String,
    /// By address (`reprotect.web01`, `reprotect.app["db01"]`), sorted.
    pub resources: BTreeMap<String, ResourceState>,
}

impl State {
    /// A new, empty state with a fresh lineage and serial 0 (nothing written yet).
    pub fn new(tool_version: impl Into<String>) -> State {
        State {
            format_version: FORMAT_VERSION,
            lineage: Uuid::new_v4(),
            serial: 0,
            tool_version: tool_version.into(),
            resources: BTreeMap::new(),
        }
    }

    /// Prepares the next write: serial plus one, this build as the writer.
    pub fn bump(&mut self, tool_version: impl Into<String>) {
        self.serial += 1;
        self.tool_version = tool_version.into();
    }

    /// Records (or replaces) what happened to one address, refusing inputs that look
    /// like a secret.
    pub fn upsert(&mut self, resource: ResourceState) -> Result<(), SecretInState> {
        if let Some(path) = find_secret(&resource.inputs) {
            return Err(SecretInState {
                address: resource.address.clone(),
                path,
            });
        }
        self.resources.insert(resource.address.clone(), resource);
        Ok(())
    }

    pub fn get(&self, address: &str) -> Option<&ResourceState> {
        self.resources.get(address)
    }

    /// The first resource whose inputs look like they hold a secret.
    pub fn check_no_secrets(&self) -> Result<(), SecretInState> {
        for resource in self.resources.values() {
            if let Some(path) = find_secret(&resource.inputs) {
                return Err(SecretInState {
                    address: resource.address.clone(),
                    path,
                });
            }
        }
        Ok(())
    }
}

/// What failback did to one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub address: String,
    /// The action type, e.g. `asr.protected_item.reprotect`.
    pub kind: String,
    /// The inputs the action was applied with, already redacted (see the module
    /// documentation).
    pub inputs: serde_json::Value,
    pub outcome: Outcome,
    /// Every remote operation started for this address, oldest first.
    #[serde(default)]
    pub remote_ids: Vec<RemoteId>,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// How an action ended, or that it has not ended yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The change is in place.
    Applied,
    /// The action failed; a re-run tries it again.
    Failed { message: String },
    /// Remote operations were started and not seen to finish (the run stopped or
    /// crashed): a re-run follows these instead of starting the change again.
    InProgress { pending: Vec<RemoteId> },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Applied => f.write_str("applied"),
            Outcome::Failed { .. } => f.write_str("failed"),
            Outcome::InProgress { .. } => f.write_str("in progress"),
        }
    }
}

/// A remote operation failback started: an ASR job or a vSphere task.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum RemoteId {
    /// An ASR job name (the last segment of its ARM id).
    AsrJob(String),
    /// A vSphere task managed object id, e.g. `task-1042`.
    VsphereTask(String),
}

impl fmt::Display for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteId::AsrJob(id) => write!(f, "asr job {id}"),
            RemoteId::VsphereTask(id) => write!(f, "vsphere task {id}"),
        }
    }
}

/// A value that looks like a credential was about to be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to store the inputs of {address}: the value at {path} looks like a secret (secrets never go to state; redact it as \"(sensitive value)\")"
)]
pub struct SecretInState {
    pub address: String,
    /// A JSON pointer to the value, e.g. `/vcenter/password`. Never the value.
    pub path: String,
}

/// Where in `value` something looks like a secret, as a JSON pointer; `None` when
/// nothing does. See the module documentation for what counts.
pub fn find_secret(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, key: Option<&str>, path: &mut String) -> bool {
        match value {
            serde_json::Value::Object(map) => map.iter().any(|(name, item)| {
                let len = path.len();
                path.push('/');
                path.push_str(&name.replace('~', "~0").replace('/', "~1"));
                let found = walk(item, Some(name), path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
                let len = path.len();
                path.push('/');
                path.push_str(&index.to_string());
                let found = walk(item, key, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::String(text) => {
                text != REDACTED && (key.is_some_and(is_secret_name) || looks_like_secret(text))
            }
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, None, &mut path).then_some(path)
}

/// Names under which a value is a credential, whatever it looks like.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace(['-', '.'], "_");
    const SECRET_WORDS: [&str; 9] = [
        "password",
        "passwd",
        "secret",
        "token",
        "access_key",
        "account_key",
        "api_key",
        "private_key",
        "credential",
    ];
    SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// Values that are credentials by their shape.
fn looks_like_secret(text: &str) -> bool {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("bearer ") || trimmed.contains("-----BEGIN") {
        return true;
    }
    // A JWT: three base64url segments, the first a JSON header (`{"` = `eyJ`).
    let segments: Vec<&str> = trimmed.split('.').collect();
    if trimmed.starts_with("eyJ")
        && segments.len() == 3
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    {
        return true;
    }
    // An Azure storage account key: 64 random bytes, base64 (88 characters, `==`).
    if trimmed.len() == 88
        && trimmed.ends_with("==")
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return true;
    }
    // Connection strings and SAS tokens carry their key inline.
    lower.contains("accountkey=") || lower.contains("sig=") && lower.contains("sv=")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(inputs: serde_json::Value) -> ResourceState {
        ResourceState {
            address: "reprotect.web01".to_owned(),
            kind: "asr.protected_item.reprotect".to_owned(),
            inputs,
            outcome: Outcome::Applied,
            remote_ids: vec![RemoteId::AsrJob("job-1".to_owned())],
            started_at: DateTime::UNIX_EPOCH,
            finished_at: Some(DateTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn redacted_and_ordinary_inputs_are_accepted() {
        let mut state = State::new("0.1.0");
        let inputs = json!({
            "vm": "web01",
            "password": REDACTED,
            "datastore_name": "ds-gold",
            "disks": ["6000C29a-1", "6000C29a-2"],
        });
        assert_eq!(state.upsert(resource(inputs)), Ok(()));
        assert!(state.get("reprotect.web01").is_some());
    }

    #[test]
    fn secrets_are_refused_with_their_path_and_never_their_value() {
        let cases = [
            (
                json!({"vcenter": {"password": "hunter2"}}),
                "/vcenter/password",
            ),
            (json!({"client_secret": "abc"}), "/client_secret"),
            (json!({"headers": ["Bearer abc.def"]}), "/headers/0"),
            (
                json!({"x": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"}),
                "/x",
            ),
            (json!({"pem": "-----BEGIN PRIVATE KEY-----\nMII"}), "/pem"),
            (
                json!({"c": "DefaultEndpointsProtocol=https;AccountKey=abc"}),
                "/c",
            ),
            (json!({"a/b": {"access_token": "t"}}), "/a~1b/access_token"),
        ];
        for (inputs, path) in cases {
            let mut state = State::new("0.1.0");
            let err = state.upsert(resource(inputs.clone())).unwrap_err();
            assert_eq!(err.path, path, "{inputs}");
            assert!(!err.to_string().contains("hunter2"));
            assert!(state.resources.is_empty());
        }
    }

    #[test]
    fn outcome_and_remote_ids_serialise_readably() {
        let mut item = resource(json!({"vm": "web01"}));
        item.outcome = Outcome::InProgress {
            pending: vec![RemoteId::VsphereTask("task-7".to_owned())],
        };
        let text = serde_json::to_value(&item).unwrap_or_default();
        assert_eq!(
            text["outcome"],
            json!({"status": "in_progress", "pending": [{"type": "vsphere_task", "id": "task-7"}]})
        );
        assert_eq!(
            text["remote_ids"],
            json!([{"type": "asr_job", "id": "job-1"}])
        );
        let back: ResourceState = serde_json::from_value(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, item);
    }

    #[test]
    fn bump_increments_the_serial_and_keeps_the_lineage() {
        let mut state = State::new("0.1.0");
        let lineage = state.lineage;
        state.bump("0.2.0");
        assert_eq!((state.serial, state.lineage), (1, lineage));
        assert_eq!(state.tool_version, "0.2.0");
    }
}
