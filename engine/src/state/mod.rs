//! State: what failback applied, per address, with the lineage and serial that guard
//! against two histories or two writers mixing, and the backends that store and lock
//! it. Never holds a secret (see [`model`] for the contract and its check).
//!
//! [`model`] is plain data; [`StateBackend`] is where it lives: a local file
//! ([`LocalBackend`]) or an Azure Storage blob locked with a lease
//! ([`AzureBlobBackend`]). Configuration picks the backend through
//! [`open_backend`].

pub mod atomic;
mod azurerm;
mod azurerm_blob;
mod backend;
mod checks;
mod local;
pub mod model;
mod shared_key;

use std::path::Path;

pub use self::azurerm::{AzureBlobBackend, AzureBlobLocation};
pub use self::backend::{HeldLock, LockGuard, LockInfo, Operation, StateBackend, StateError};
pub use self::local::{DEFAULT_STATE_FILE, LocalBackend};
pub use self::model::{FORMAT_VERSION, Outcome, RemoteId, ResourceState, State};

use crate::config::model::StateBackend as StateBackendConfig;

/// The backend a configuration's `failback { state ... }` block asks for; a relative
/// local path is relative to `config_dir`. The azurerm backend reads its credentials
/// from the process environment when the block has no `access_key`.
pub fn open_backend(
    config: &StateBackendConfig,
    config_dir: &Path,
) -> Result<Box<dyn StateBackend>, StateError> {
    match config {
        StateBackendConfig::Local { path } => {
            Ok(Box::new(LocalBackend::new(config_dir.join(path))))
        }
        StateBackendConfig::Azurerm {
            storage_account_name,
            container_name,
            key,
            endpoint,
            access_key,
        } => {
            let location = AzureBlobLocation {
                storage_account_name: storage_account_name.clone(),
                container_name: container_name.clone(),
                key: key.clone(),
                endpoint: endpoint.clone(),
            };
            let access_key = access_key.as_ref().map(|key| key.expose().as_str());
            let backend =
                AzureBlobBackend::open(location, access_key, |name| std::env::var(name).ok())?;
            Ok(Box::new(backend))
        }
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
