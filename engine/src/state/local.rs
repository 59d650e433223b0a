//! The local state backend: a JSON file (default `failback.state.json`) beside the
//! configuration, replaced atomically with mode 0600, its previous version kept as
//! `failback.state.json.backup`, and locked through `failback.state.json.lock`.
//!
//! Locking: the lock file carries an OS lock (`File::try_lock`, flock on Unix) for as
//! long as the run holds the [`LockGuard`], and the holder's [`LockInfo`] as JSON so
//! that a waiting run can say who it waits for. The OS releases the lock when the
//! holder dies, so a crashed run never blocks the next one; `force-unlock` is for a
//! holder that is alive but will not finish (a hung terminal, a lost CI job on a
//! shared disk): it removes the lock file, after which new runs lock a new file and
//! the old holder can no longer write (its next write fails with
//! [`StateError::LockLost`]).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use uuid::Uuid;

use super::atomic;
use super::backend::{
    HeldLock, LockGuard, LockInfo, LockPolling, StateBackend, StateError, wait_for_lock,
};
use super::checks::{check_succession, parse_state};
use super::model::State;

/// The default state file name, in the configuration directory.
pub const DEFAULT_STATE_FILE: &str = "failback.state.json";

/// A state file on a local (or locally mounted) file system.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    path: PathBuf,
    lock_path: PathBuf,
    backup_path: PathBuf,
}

impl LocalBackend {
    pub fn new(path: impl Into<PathBuf>) -> LocalBackend {
        let path = path.into();
        let with_suffix = |suffix: &str| {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        LocalBackend {
            lock_path: with_suffix(".lock"),
            backup_path: with_suffix(".backup"),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    pub fn backup_path(&self) -> &Path {
        &self.backup_path
    }

    fn read_bytes(&self) -> Result<Option<Vec<u8>>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                action: "read",
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn io_error(
        &self,
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(std::io::Error) -> StateError {
        let path = path.to_owned();
        move |source| StateError::Io {
            action,
            path,
            source,
        }
    }

    /// One attempt: `Some(guard)` when the lock was free.
    fn try_lock_once(&self, info: &LockInfo) -> Result<Option<LockGuard>, StateError> {
        // A lock file removed or replaced between our open and our lock (a release or
        // a force-unlock) is not the lock any more: open the current one and retry.
        for _ in 0..16 {
            let mut file =
                open_lock_file(&self.lock_path).map_err(self.io_error("open", &self.lock_path))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(source)) => {
                    return Err(StateError::Io {
                        action: "lock",
                        path: self.lock_path.clone(),
                        source,
                    });
                }
            }
            if !is_same_file(&file, &self.lock_path) {
                continue;
            }
            if let Ok(Some(previous)) = read_info(&mut file) {
                tracing::warn!(
                    "taking over the state lock left by {previous}: its process is gone"
                );
            }
            let text = serde_json::to_vec_pretty(info)?;
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(&text))
                .and_then(|()| file.sync_all())
                .map_err(self.io_error("write", &self.lock_path))?;
            let held = LocalLock {
                file: Some(file),
                path: self.lock_path.clone(),
            };
            return Ok(Some(LockGuard::new(
                info.clone(),
                self.lock_path.display().to_string(),
                Box::new(held),
            )));
        }
        Err(StateError::Io {
            action: "lock",
            path: self.lock_path.clone(),
            source: std::io::Error::other("the lock file keeps being replaced"),
        })
    }

    /// The information in the lock file, whoever holds it (or held it).
    fn stored_lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        let mut file = match File::open(&self.lock_path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    action: "open",
                    path: self.lock_path.clone(),
                    source,
                });
            }
        };
        read_info(&mut file).map_err(|reason| StateError::LockedUnknownHolder {
            reason,
            waited_s: 0.0,
        })
    }
}

impl StateBackend for LocalBackend {
    fn describe(&self) -> String {
        format!("local file {}", self.path.display())
    }

    fn read(&self) -> Result<Option<State>, StateError> {
        match self.read_bytes()? {
            None => Ok(None),
            Some(bytes) => parse_state(&self.path, &bytes).map(Some),
        }
    }

    fn write(&self, lock: &LockGuard, state: &State) -> Result<(), StateError> {
        let location = self.lock_path.display().to_string();
        if lock.location() != location {
            return Err(StateError::ForeignGuard {
                guard: lock.location().to_owned(),
                backend: location,
            });
        }
        // A force-unlock since we locked means someone else may be writing now.
        match self.stored_lock_info() {
            Ok(Some(current)) if current.id == lock.info().id => {}
            _ => return Err(StateError::LockLost { location }),
        }
        state.check_no_secrets()?;

        let previous = self.read_bytes()?;
        if let Some(bytes) = &previous {
            let stored = parse_state(&self.path, bytes)?;
            check_succession(&stored, state)?;
            atomic::write_atomically(&self.backup_path, bytes, atomic::owner_only())
                .map_err(self.io_error("write", &self.backup_path))?;
        }
        let mut text = serde_json::to_vec_pretty(state)?;
        text.push(b'\n');
        atomic::write_atomically(&self.path, &text, atomic::owner_only())
            .map_err(self.io_error("write", &self.path))
    }

    fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
        let polling = LockPolling {
            first_pause: Duration::from_millis(50),
            longest_pause: Duration::from_secs(1),
        };
        wait_for_lock(
            timeout,
            polling,
            || self.try_lock_once(&info),
            || self.stored_lock_info(),
            "the holder has not written its information yet",
        )
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        let file = match File::open(&self.lock_path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    action: "open",
                    path: self.lock_path.clone(),
                    source,
                });
            }
        };
        match file.try_lock() {
            // Free: whatever the file says is left over from a run that died.
            Ok(()) => Ok(None),
            Err(TryLockError::WouldBlock) => self.stored_lock_info(),
            Err(TryLockError::Error(source)) => Err(StateError::Io {
                action: "lock",
                path: self.lock_path.clone(),
                source,
            }),
        }
    }

    fn force_unlock(&self, id: Uuid) -> Result<LockInfo, StateError> {
        let holder = match self.stored_lock_info() {
            Ok(Some(holder)) => holder,
            Ok(None) => return Err(StateError::NotLocked),
            Err(err) => return Err(err),
        };
        if holder.id != id {
            return Err(StateError::LockIdMismatch { given: id, holder });
        }
        fs::remove_file(&self.lock_path).map_err(self.io_error("remove", &self.lock_path))?;
        Ok(holder)
    }
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Reads the holder information from an open lock file: `Ok(None)` when empty.
fn read_info(file: &mut File) -> Result<Option<LockInfo>, String> {
    let mut text = String::new();
    file.rewind()
        .and_then(|()| file.read_to_string(&mut text))
        .map_err(|err| err.to_string())?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| format!("the lock file is not failback's: {err}"))
}

/// Whether the open `file` is still what `path` names (not removed or replaced).
fn is_same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // Windows refuses to remove an open file, so it cannot have been replaced.
        let _ = (file, path);
        true
    }
}

/// The OS lock of a [`LocalBackend`], released by removing the lock file (so no
/// stale holder information is left behind) and then closing it.
#[derive(Debug)]
struct LocalLock {
    file: Option<File>,
    path: PathBuf,
}

impl HeldLock for LocalLock {
    fn release(&mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        // After a force-unlock the path names someone else's lock: leave it alone.
        if is_same_file(&file, &self.path)
            && let Err(err) = fs::remove_file(&self.path)
        {
            tracing::warn!("cannot remove lock file {}: {err}", self.path.display());
        }
        if let Err(err) = file.unlock() {
            tracing::warn!("cannot unlock {}: {err}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests;
