//! The `StateBackend` trait (where a state lives and how it is locked) and what
//! every backend shares: lock holder information, the lock guard, and errors.
//!
//! The trait is synchronous: a lock wait is a blocking poll and a write may fsync or
//! cross the network. `apply` therefore never calls it from the executor's tasks: one
//! writer thread (`cli/src/events/writer.rs`) owns the backend and coalesces writes.

use std::fmt;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{SecretInState, State};

/// Where a state is stored. Implementations: [`super::LocalBackend`] and
/// [`super::AzureBlobBackend`] (a blob, locked with a lease).
pub trait StateBackend: Send + Sync + fmt::Debug {
    /// A short description for messages, e.g. `local file ./failback.state.json`.
    fn describe(&self) -> String;

    /// The stored state, `None` when nothing was ever written. A stored state that is
    /// not failback's (not JSON, another format version, no lineage) is an error.
    fn read(&self) -> Result<Option<State>, StateError>;

    /// Replaces the stored state, under a lock taken from this backend. Refused when
    /// `state` has another lineage than the stored one, when its serial is not
    /// greater, when the stored state is unreadable, or when it holds a secret.
    fn write(&self, lock: &LockGuard, state: &State) -> Result<(), StateError>;

    /// Takes the lock, waiting up to `timeout` for a holder to release it; on timeout
    /// the error names the holder. The lock is released when the guard is dropped.
    fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError>;

    /// Who holds the lock now, if anyone.
    fn lock_holder(&self) -> Result<Option<LockInfo>, StateError>;

    /// Removes a lock that its holder can no longer release, only when `id` is the
    /// current lock's id. Returns the removed lock's information.
    fn force_unlock(&self, id: Uuid) -> Result<LockInfo, StateError>;
}

/// Why the lock is held: shown to whoever waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Plan,
    Apply,
    Drift,
    /// `failback state rm`.
    StateRm,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Plan => "plan",
            Operation::Apply => "apply",
            Operation::Drift => "drift",
            Operation::StateRm => "state rm",
        })
    }
}

/// Who holds a lock, written where other runs can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A fresh id per lock; `failback force-unlock ID` must quote it.
    pub id: Uuid,
    /// `user@host`.
    pub who: String,
    pub operation: Operation,
    pub created: DateTime<Utc>,
    /// The failback version of the holder.
    pub version: String,
}

impl LockInfo {
    /// Information for a lock taken now by this process.
    pub fn new(operation: Operation, version: impl Into<String>) -> LockInfo {
        LockInfo {
            id: Uuid::new_v4(),
            who: format!("{}@{}", current_user(), current_host()),
            operation,
            created: Utc::now(),
            version: version.into(),
        }
    }
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} by {} since {} (failback {}, lock id {})",
            self.operation,
            self.who,
            self.created.format("%Y-%m-%d %H:%M:%S UTC"),
            self.version,
            self.id
        )
    }
}

fn current_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn current_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|v| !v.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Something a backend releases when its lock guard is dropped.
pub trait HeldLock: Send + Sync + fmt::Debug {
    /// Releases the lock. Errors are logged, not returned: a guard is dropped on every
    /// path, including after an error.
    fn release(&mut self);
}

/// A held state lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    info: LockInfo,
    /// Which lock this is (the backend's lock location), so that a backend refuses a
    /// guard taken from another one.
    location: String,
    held: Box<dyn HeldLock>,
}

impl LockGuard {
    pub fn new(info: LockInfo, location: String, held: Box<dyn HeldLock>) -> LockGuard {
        LockGuard {
            info,
            location,
            held,
        }
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    pub fn location(&self) -> &str {
        &self.location
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.held.release();
    }
}

/// How a backend waits for a held lock: the first pause between tries, doubling up to
/// the longest.
#[derive(Debug, Clone, Copy)]
pub(super) struct LockPolling {
    pub first_pause: Duration,
    pub longest_pause: Duration,
}

/// Tries `try_once` until it takes the lock or `timeout` has passed, pausing as
/// `polling` says. On timeout the error names the holder `holder` reports; when there
/// is none (any more, or not yet), it says `no_holder_reason`.
pub(super) fn wait_for_lock(
    timeout: Duration,
    polling: LockPolling,
    mut try_once: impl FnMut() -> Result<Option<LockGuard>, StateError>,
    holder: impl FnOnce() -> Result<Option<LockInfo>, StateError>,
    no_holder_reason: &str,
) -> Result<LockGuard, StateError> {
    let started = Instant::now();
    let mut pause = polling.first_pause;
    loop {
        if let Some(guard) = try_once()? {
            return Ok(guard);
        }
        let waited = started.elapsed();
        if waited >= timeout {
            let waited_s = waited.as_secs_f64();
            return Err(match holder() {
                Ok(Some(holder)) => StateError::Locked { holder, waited_s },
                Ok(None) => StateError::LockedUnknownHolder {
                    reason: no_holder_reason.to_owned(),
                    waited_s,
                },
                Err(StateError::LockedUnknownHolder { reason, .. }) => {
                    StateError::LockedUnknownHolder { reason, waited_s }
                }
                Err(other) => other,
            });
        }
        thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(polling.longest_pause);
    }
}

/// Everything that can go wrong with state. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not a failback state file ({reason}); it was left untouched. Move it away, or point the configuration's state block (or --state) at the right state",
        path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{} has state format version {found}, this failback reads version {supported}; use the failback version that wrote it ({tool_version})",
        path.display()
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u64,
        supported: u32,
        tool_version: String,
    },
    #[error(
        "refusing to write state with lineage {writing} over state with lineage {stored}: they belong to different configurations"
    )]
    LineageMismatch { stored: Uuid, writing: Uuid },
    #[error(
        "refusing to write state serial {writing}: the stored state already has serial {stored} (another run wrote it; plan again)"
    )]
    StaleSerial { stored: u64, writing: u64 },
    #[error(
        "the state is locked: {holder}. Waited {waited_s:.0} s. If that run is gone, run `failback force-unlock {}`",
        holder.id
    )]
    Locked { holder: LockInfo, waited_s: f64 },
    #[error(
        "the state is locked, but the holder's information is unreadable ({reason}); waited {waited_s:.0} s"
    )]
    LockedUnknownHolder { reason: String, waited_s: f64 },
    #[error("the state is not locked: there is nothing to unlock")]
    NotLocked,
    #[error("lock id {given} does not match the current lock ({holder}); nothing was unlocked")]
    LockIdMismatch { given: Uuid, holder: LockInfo },
    #[error("this lock guard belongs to {guard}, not to {backend}")]
    ForeignGuard { guard: String, backend: String },
    #[error(
        "the lock on {location} was removed by force-unlock while this run held it; state was not written"
    )]
    LockLost { location: String },
    #[error(transparent)]
    Secret(#[from] SecretInState),
    #[error("cannot encode the state: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the {0} state backend is not available in this build; use `state \"local\"` for now")]
    BackendUnavailable(&'static str),
    /// A remote backend's service refused or did not answer.
    #[error("cannot {action} {location}: {reason}")]
    Remote {
        action: &'static str,
        location: String,
        reason: String,
    },
    /// A backend's settings cannot work (what is wrong and what to set instead).
    #[error("{0}")]
    BackendConfig(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_info_names_user_host_and_operation() {
        let info = LockInfo::new(Operation::Apply, "0.1.0");
        assert!(info.who.contains('@'));
        let text = info.to_string();
        assert!(text.starts_with("apply by "), "{text}");
        assert!(text.contains(&info.id.to_string()));
    }
}
