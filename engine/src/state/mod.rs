//! State: what failback applied, per address, with the lineage and serial that guard
//! against two histories or two writers mixing, and the backends that store and lock
//! it. Never holds a secret (see [`model`] for the contract and its check).
//!
//! [`model`] is plain data; [`StateBackend`] is where it lives. Only
//! [`LocalBackend`] exists today; an Azure blob backend (lease-based locking) will
//! implement the same trait. Configuration picks the backend through
//! [`open_backend`].

pub mod atomic;
mod backend;
mod local;
pub mod model;

use std::path::Path;

pub use self::backend::{HeldLock, LockGuard, LockInfo, Operation, StateBackend, StateError};
pub use self::local::{DEFAULT_STATE_FILE, LocalBackend};
pub use self::model::{FORMAT_VERSION, Outcome, RemoteId, ResourceState, State};

use crate::config::model::StateBackend as StateBackendConfig;

/// The backend a configuration's `failback { state ... }` block asks for; a relative
/// local path is relative to `config_dir`.
pub fn open_backend(
    config: &StateBackendConfig,
    config_dir: &Path,
) -> Result<Box<dyn StateBackend>, StateError> {
    match config {
        StateBackendConfig::Local { path } => {
            Ok(Box::new(LocalBackend::new(config_dir.join(path))))
        }
        StateBackendConfig::Azurerm { .. } => Err(StateError::BackendUnavailable("azurerm")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Settings;

    #[test]
    fn the_default_settings_open_the_local_file_in_the_config_dir() {
        let backend = open_backend(&Settings::default().state, Path::new("/etc/fb"));
        let description = backend.map(|b| b.describe()).unwrap_or_default();
        assert_eq!(description, "local file /etc/fb/failback.state.json");
    }
}
