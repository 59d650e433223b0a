//! The `azurerm` state backend: the state is one block blob in an Azure Storage
//! container, locked with a blob lease, as Terraform's azurerm backend does.
//!
//! Locking: an infinite lease whose id is our lock id (so `force-unlock ID` can only
//! ever release the lease it names), with the holder's [`LockInfo`] in the blob's
//! metadata (`failbacklock`, base64 JSON) for whoever waits. A missing blob is
//! created empty first, so there is something to lease; an empty blob reads as "no
//! state yet". The service refuses every write that does not carry the lease id, so
//! a run whose lock was force-unlocked cannot write. A lease never expires: a run
//! that dies while holding it leaves the lock until `failback force-unlock ID`.
//!
//! Writes refuse what the local backend refuses (shared in `checks`): a stored blob
//! that is not a failback state (left untouched), another lineage, a serial that
//! does not grow, a secret. The previous state is copied to `<key>.backup` first.
//!
//! Credentials: the `access_key` setting, else `ARM_ACCESS_KEY` (Shared Key); else
//! Entra ID through `azure_identity`: a service principal (`ARM_CLIENT_ID`,
//! `ARM_CLIENT_SECRET`, `ARM_TENANT_ID`), a managed identity (`ARM_USE_MSI=true`),
//! or the developer tools (Azure CLI, Azure Developer CLI). Tokens go over https
//! only.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{Secret, TokenCredential};
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use url::Url;
use uuid::Uuid;

use super::azurerm_blob::{BlobAuth, BlobClient, BlobError, BlobProperties, Upload};
use super::backend::{
    HeldLock, LockGuard, LockInfo, LockPolling, StateBackend, StateError, wait_for_lock,
};
use super::checks::{check_succession, parse_state};
use super::model::State;
use super::shared_key::SharedKey;

/// The blob metadata entry that holds the lock holder's information.
const LOCK_METADATA: &str = "failbacklock";

/// Where the state blob is: the `state "azurerm"` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureBlobLocation {
    pub storage_account_name: String,
    pub container_name: String,
    /// The blob name, e.g. `failback/prod.state.json`.
    pub key: String,
    /// The blob service endpoint; default `https://ACCOUNT.blob.core.windows.net`.
    /// Azurite: `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: Option<String>,
}

/// A state stored in an Azure Storage blob, locked with a blob lease.
pub struct AzureBlobBackend {
    client: Arc<BlobClient>,
    location: AzureBlobLocation,
    container_url: Url,
    blob_url: Url,
    backup_url: Url,
}

impl fmt::Debug for AzureBlobBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBlobBackend")
            .field("blob", &self.blob_url.as_str())
            .field("auth", self.client.auth())
            .finish_non_exhaustive()
    }
}

impl AzureBlobBackend {
    /// The backend for `location`, authenticated with `access_key` when given, else
    /// from the environment `lookup` reads (see the module documentation).
    pub fn open(
        location: AzureBlobLocation,
        access_key: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<AzureBlobBackend, StateError> {
        let (container_url, blob_url, backup_url) = blob_urls(&location)?;
        let lookup = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let access_key = access_key
            .map(str::to_owned)
            .filter(|key| !key.trim().is_empty())
            .or_else(|| lookup("ARM_ACCESS_KEY"));
        let auth = match access_key {
            Some(key) => BlobAuth::SharedKey(
                SharedKey::new(&location.storage_account_name, &key)
                    .map_err(|err| StateError::BackendConfig(err.to_string()))?,
            ),
            None => {
                if blob_url.scheme() != "https" {
                    return Err(StateError::BackendConfig(format!(
                        "the azurerm state endpoint {} is not https, and Entra ID tokens are only sent over https; \
                         use an https endpoint, or set `access_key` (or ARM_ACCESS_KEY) for Shared Key authentication",
                        location.endpoint.as_deref().unwrap_or_default()
                    )));
                }
                identity_auth(&lookup)?
            }
        };
        let client = BlobClient::new(auth).map_err(StateError::BackendConfig)?;
        Ok(AzureBlobBackend {
            client: Arc::new(client),
            location,
            container_url,
            blob_url,
            backup_url,
        })
    }

    /// The state blob's URL (no credentials in it).
    pub fn blob_url(&self) -> &str {
        self.blob_url.as_str()
    }

    /// The backup blob's URL: the state before the last write.
    pub fn backup_url(&self) -> &str {
        self.backup_url.as_str()
    }

    /// Creates the container (setup, tests); `false` when it existed already. Runs
    /// never create it themselves: a mistyped container name should fail, not
    /// start a new history.
    pub fn create_container(&self) -> Result<bool, StateError> {
        match self.client.create_container(&self.container_url) {
            Ok(_) => Ok(true),
            Err(err) if err.is_code("ContainerAlreadyExists") => Ok(false),
            Err(err) => Err(self.remote_error("create the container of", err)),
        }
    }

    /// The state backup (the state before the last write), if any.
    pub fn read_backup(&self) -> Result<Option<State>, StateError> {
        match self.get(&self.backup_url)? {
            None => Ok(None),
            Some(bytes) => parse_state(&PathBuf::from(self.backup_url.as_str()), &bytes).map(Some),
        }
    }

    fn remote_error(&self, action: &'static str, err: BlobError) -> StateError {
        let reason = if err.is_code("ContainerNotFound") {
            format!(
                "the container {:?} does not exist in storage account {:?}; create it (e.g. `az storage container create --name {} --account-name {}`) or fix `container_name`",
                self.location.container_name,
                self.location.storage_account_name,
                self.location.container_name,
                self.location.storage_account_name
            )
        } else if err.is_status(StatusCode::FORBIDDEN) {
            format!(
                "{err}; check the access key (`access_key` or ARM_ACCESS_KEY), or that the {} identity has the \"Storage Blob Data Contributor\" role on the container",
                self.client.auth().describe()
            )
        } else {
            err.to_string()
        };
        StateError::Remote {
            action,
            location: self.blob_url.to_string(),
            reason,
        }
    }

    /// A blob's content, `None` when it does not exist.
    fn get(&self, url: &Url) -> Result<Option<Vec<u8>>, StateError> {
        match self.client.download(url) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.is_code("BlobNotFound") => Ok(None),
            Err(err) => Err(self.remote_error("read", err)),
        }
    }

    /// The state blob's properties (lease state, metadata), `None` when it does not
    /// exist.
    fn properties(&self) -> Result<Option<BlobProperties>, StateError> {
        match self.client.properties(&self.blob_url) {
            Ok(response) => Ok(Some(response)),
            // HEAD answers carry no body; the error code is in a header, and a
            // missing container is told apart from a missing blob.
            Err(err) if err.is_code("BlobNotFound") => Ok(None),
            Err(err) if err.is_status(StatusCode::NOT_FOUND) && err.code.is_none() => Ok(None),
            Err(err) => Err(self.remote_error("read the properties of", err)),
        }
    }

    /// Who holds the lease according to the blob's metadata.
    fn holder_of(&self, properties: &BlobProperties) -> Result<LockInfo, StateError> {
        let metadata = properties.metadata();
        let Some(encoded) = metadata.get(LOCK_METADATA) else {
            return Err(StateError::LockedUnknownHolder {
                reason: "the blob is leased, but not by failback (no failbacklock metadata), or the holder has not written its information yet".to_owned(),
                waited_s: 0.0,
            });
        };
        decode_lock_info(encoded).map_err(|reason| StateError::LockedUnknownHolder {
            reason,
            waited_s: 0.0,
        })
    }

    /// One attempt: `Some(guard)` when the lease was free.
    fn try_lock_once(&self, info: &LockInfo) -> Result<Option<LockGuard>, StateError> {
        match self.properties()? {
            Some(properties) if properties.is_leased() => return Ok(None),
            Some(_) => {}
            None => self.create_empty_blob()?,
        }
        match self.client.acquire_lease(&self.blob_url, info.id) {
            Ok(_) => {}
            // Held, or being broken by someone: wait like for any holder.
            Err(err)
                if err.is_code("LeaseAlreadyPresent")
                    || err.is_code("LeaseIsBreakingAndCannotBeAcquired") =>
            {
                return Ok(None);
            }
            Err(err) => return Err(self.remote_error("lease", err)),
        }
        let held = AzureLease {
            client: Arc::clone(&self.client),
            blob_url: self.blob_url.clone(),
            lease_id: info.id,
            released: false,
        };
        // From here on, dropping `held` releases the lease, also on error.
        self.client
            .set_metadata(&self.blob_url, info.id, lock_metadata(info)?)
            .map_err(|err| self.remote_error("write the lock information to", err))?;
        Ok(Some(LockGuard::new(
            info.clone(),
            self.blob_url.to_string(),
            Box::new(held),
        )))
    }

    /// Creates the empty blob a lease needs; someone else creating it first is fine.
    fn create_empty_blob(&self) -> Result<(), StateError> {
        let create = Upload {
            only_if_absent: true,
            ..Upload::default()
        };
        match self.client.upload(&self.blob_url, Vec::new(), create) {
            Ok(_) => Ok(()),
            Err(err)
                if err.is_code("BlobAlreadyExists")
                    || err.is_status(StatusCode::CONFLICT)
                    || err.is_status(StatusCode::PRECONDITION_FAILED) =>
            {
                Ok(())
            }
            Err(err) => Err(self.remote_error("create", err)),
        }
    }
}

impl StateBackend for AzureBlobBackend {
    fn describe(&self) -> String {
        format!("azurerm blob {}", self.blob_url)
    }

    fn read(&self) -> Result<Option<State>, StateError> {
        match self.get(&self.blob_url)? {
            // The empty blob a first lock creates: nothing written yet.
            Some(bytes) if bytes.is_empty() => Ok(None),
            Some(bytes) => parse_state(&PathBuf::from(self.blob_url.as_str()), &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn write(&self, lock: &LockGuard, state: &State) -> Result<(), StateError> {
        let location = self.blob_url.to_string();
        if lock.location() != location {
            return Err(StateError::ForeignGuard {
                guard: lock.location().to_owned(),
                backend: location,
            });
        }
        // A force-unlock since we locked means someone else may be writing now.
        let ours = match self.properties()? {
            Some(properties) if properties.is_leased() => self
                .holder_of(&properties)
                .is_ok_and(|holder| holder.id == lock.info().id),
            _ => false,
        };
        if !ours {
            return Err(StateError::LockLost { location });
        }
        state.check_no_secrets()?;

        let blob_path = PathBuf::from(self.blob_url.as_str());
        if let Some(previous) = self.get(&self.blob_url)?.filter(|bytes| !bytes.is_empty()) {
            let stored = parse_state(&blob_path, &previous)?;
            check_succession(&stored, state)?;
            let backup = Upload {
                content_type: Some("application/json".to_owned()),
                ..Upload::default()
            };
            self.client
                .upload(&self.backup_url, previous, backup)
                .map_err(|err| self.remote_error("back up", err))?;
        }

        let mut text = serde_json::to_vec_pretty(state)?;
        text.push(b'\n');
        // Put Blob replaces the metadata too: the lock information goes with it.
        let upload = Upload {
            content_type: Some("application/json".to_owned()),
            lease_id: Some(lock.info().id),
            metadata: lock_metadata(lock.info())?,
            only_if_absent: false,
        };
        match self.client.upload(&self.blob_url, text, upload) {
            Ok(_) => Ok(()),
            // The lease was broken or taken over between our check and the upload.
            Err(err) if err.is_status(StatusCode::PRECONDITION_FAILED) => {
                Err(StateError::LockLost { location })
            }
            Err(err) => Err(self.remote_error("write", err)),
        }
    }

    fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
        let polling = LockPolling {
            first_pause: Duration::from_millis(100),
            longest_pause: Duration::from_secs(2),
        };
        wait_for_lock(
            timeout,
            polling,
            || self.try_lock_once(&info),
            || self.lock_holder(),
            "the lease was released just now; run again",
        )
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        match self.properties()? {
            Some(properties) if properties.is_leased() => self.holder_of(&properties).map(Some),
            _ => Ok(None),
        }
    }

    fn force_unlock(&self, id: Uuid) -> Result<LockInfo, StateError> {
        let properties = match self.properties()? {
            Some(properties) if properties.is_leased() => properties,
            _ => return Err(StateError::NotLocked),
        };
        let holder = self.holder_of(&properties)?;
        if holder.id != id {
            return Err(StateError::LockIdMismatch { given: id, holder });
        }
        // The lease id is the lock id: releasing with it cannot free anyone else's
        // lease, even if the lease changed hands since we read the metadata.
        let mut lease = AzureLease {
            client: Arc::clone(&self.client),
            blob_url: self.blob_url.clone(),
            lease_id: id,
            released: false,
        };
        lease
            .release_now()
            .map_err(|err| self.remote_error("release the lease on", err))?;
        Ok(holder)
    }
}

/// A lease we hold; released (its lock information cleared first) when the guard is
/// dropped.
struct AzureLease {
    client: Arc<BlobClient>,
    blob_url: Url,
    lease_id: Uuid,
    released: bool,
}

impl fmt::Debug for AzureLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureLease")
            .field("blob", &self.blob_url.as_str())
            .field("lease_id", &self.lease_id)
            .finish()
    }
}

impl AzureLease {
    fn release_now(&mut self) -> Result<(), BlobError> {
        if self.released {
            return Ok(());
        }
        // Setting metadata without entries clears it, so no stale holder is shown.
        self.client
            .set_metadata(&self.blob_url, self.lease_id, BTreeMap::new())?;
        self.client.release_lease(&self.blob_url, self.lease_id)?;
        self.released = true;
        Ok(())
    }
}

impl HeldLock for AzureLease {
    fn release(&mut self) {
        match self.release_now() {
            Ok(()) => {}
            Err(err)
                if err.is_status(StatusCode::CONFLICT)
                    || err.is_status(StatusCode::PRECONDITION_FAILED) =>
            {
                tracing::warn!(
                    "the lease on {} was removed by force-unlock while this run held it",
                    self.blob_url
                );
            }
            Err(err) => tracing::warn!("cannot release the lease on {}: {err}", self.blob_url),
        }
    }
}

/// The container, blob and backup blob URLs of a location.
fn blob_urls(location: &AzureBlobLocation) -> Result<(Url, Url, Url), StateError> {
    let config_error = |what: String| StateError::BackendConfig(what);
    if location.storage_account_name.trim().is_empty() {
        return Err(config_error(
            "the azurerm state's storage_account_name is empty".to_owned(),
        ));
    }
    if location.container_name.trim().is_empty() {
        return Err(config_error(
            "the azurerm state's container_name is empty".to_owned(),
        ));
    }
    let key = location.key.trim_matches('/');
    if key.is_empty() {
        return Err(config_error(
            "the azurerm state's key (the blob name) is empty".to_owned(),
        ));
    }
    let endpoint = match &location.endpoint {
        Some(endpoint) => endpoint.clone(),
        None => format!(
            "https://{}.blob.core.windows.net",
            location.storage_account_name
        ),
    };
    let base = Url::parse(&endpoint).map_err(|err| {
        config_error(format!(
            "the azurerm state endpoint {endpoint:?} is not a URL ({err}); write it like https://ACCOUNT.blob.core.windows.net"
        ))
    })?;
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(config_error(format!(
            "the azurerm state endpoint {endpoint:?} is not an http(s) URL"
        )));
    }
    if base.query().is_some() || !base.username().is_empty() || base.password().is_some() {
        return Err(config_error(
            "the azurerm state endpoint must not carry credentials or a query (a SAS token); use `access_key` or Entra ID".to_owned(),
        ));
    }
    let join = |segments: &[&str]| -> Result<Url, StateError> {
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| config_error(format!("the endpoint {endpoint:?} cannot hold a path")))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    };
    let mut blob_segments = vec![location.container_name.as_str()];
    blob_segments.extend(key.split('/'));
    let container = join(&[location.container_name.as_str()])?;
    let blob = join(&blob_segments)?;
    let backup_key = format!("{key}.backup");
    let mut backup_segments = vec![location.container_name.as_str()];
    backup_segments.extend(backup_key.split('/'));
    let backup = join(&backup_segments)?;
    Ok((container, blob, backup))
}

/// The credential chain for Entra ID, from `ARM_*` variables like Terraform's.
fn identity_auth(lookup: &impl Fn(&str) -> Option<String>) -> Result<BlobAuth, StateError> {
    let credential_error = |err: azure_core::Error| {
        StateError::BackendConfig(format!("cannot set up Azure credentials: {err}"))
    };
    let client_id = lookup("ARM_CLIENT_ID");
    if let Some(secret) = lookup("ARM_CLIENT_SECRET") {
        let (Some(client_id), Some(tenant_id)) = (client_id, lookup("ARM_TENANT_ID")) else {
            return Err(StateError::BackendConfig(
                "ARM_CLIENT_SECRET is set but ARM_CLIENT_ID or ARM_TENANT_ID is missing; set all three to use a service principal".to_owned(),
            ));
        };
        let credential: Arc<dyn TokenCredential> =
            ClientSecretCredential::new(&tenant_id, client_id, Secret::new(secret), None)
                .map_err(credential_error)?;
        return Ok(BlobAuth::token(credential, "client secret"));
    }
    let use_msi = lookup("ARM_USE_MSI").is_some_and(|value| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes"
        )
    });
    if use_msi {
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.map(UserAssignedId::ClientId),
            ..Default::default()
        };
        let credential: Arc<dyn TokenCredential> =
            ManagedIdentityCredential::new(Some(options)).map_err(credential_error)?;
        return Ok(BlobAuth::token(credential, "managed identity"));
    }
    let credential: Arc<dyn TokenCredential> =
        DeveloperToolsCredential::new(None).map_err(credential_error)?;
    Ok(BlobAuth::token(credential, "developer tools (az, azd)"))
}

fn encode_lock_info(info: &LockInfo) -> Result<String, StateError> {
    Ok(BASE64.encode(serde_json::to_vec(info)?))
}

/// The blob metadata that names the lock holder.
fn lock_metadata(info: &LockInfo) -> Result<BTreeMap<String, String>, StateError> {
    Ok(BTreeMap::from([(
        LOCK_METADATA.to_owned(),
        encode_lock_info(info)?,
    )]))
}

fn decode_lock_info(encoded: &str) -> Result<LockInfo, String> {
    let bytes = BASE64
        .decode(encoded.trim())
        .map_err(|_| "the lock information in the blob's metadata is not base64".to_owned())?;
    serde_json::from_slice(&bytes).map_err(|err| {
        format!("the lock information in the blob's metadata is not failback's: {err}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::backend::Operation;

    fn location(endpoint: Option<&str>, key: &str) -> AzureBlobLocation {
        AzureBlobLocation {
            storage_account_name: "acct".to_owned(),
            container_name: "tfstate".to_owned(),
            key: key.to_owned(),
            endpoint: endpoint.map(str::to_owned),
        }
    }

    #[test]
    fn urls_default_to_the_public_cloud_and_keep_a_key_path() {
        let (container, blob, backup) =
            blob_urls(&location(None, "prod/failback.json")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            container.as_str(),
            "https://acct.blob.core.windows.net/tfstate"
        );
        assert_eq!(
            blob.as_str(),
            "https://acct.blob.core.windows.net/tfstate/prod/failback.json"
        );
        assert_eq!(
            backup.as_str(),
            "https://acct.blob.core.windows.net/tfstate/prod/failback.json.backup"
        );
        let (_, blob, _) = blob_urls(&location(
            Some("http://127.0.0.1:10000/devstoreaccount1/"),
            "a b.json",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            blob.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/tfstate/a%20b.json"
        );
    }

    #[test]
    fn bad_locations_say_what_to_fix() {
        let err = |location: AzureBlobLocation| match blob_urls(&location) {
            Err(err) => err.to_string(),
            Ok(_) => panic!("accepted {location:?}"),
        };
        assert!(err(location(None, "")).contains("key"));
        assert!(err(location(Some("not a url"), "k")).contains("is not a URL"));
        assert!(err(location(Some("ftp://x/y"), "k")).contains("http(s)"));
        assert!(err(location(Some("https://x/?sig=abc"), "k")).contains("SAS"));
    }

    #[test]
    fn tokens_are_refused_over_http_and_a_bad_key_is_not_shown() {
        let none = |_: &str| None;
        let http = location(Some("http://127.0.0.1:1/devstoreaccount1"), "k");
        let err = AzureBlobBackend::open(http.clone(), None, none)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            matches!(&err, Err(text) if text.contains("not https")),
            "{err:?}"
        );
        let err = AzureBlobBackend::open(http, Some("%%%not-a-key%%%"), none)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            matches!(&err, Err(text) if text.contains("not valid base64") && !text.contains("not-a-key")),
            "{err:?}"
        );
    }

    #[test]
    fn without_a_key_the_identity_comes_from_arm_variables() {
        let https = location(None, "k");
        let open = |vars: &'static [(&'static str, &'static str)]| {
            AzureBlobBackend::open(https.clone(), None, move |name| {
                vars.iter()
                    .find(|(var, _)| *var == name)
                    .map(|(_, value)| (*value).to_owned())
            })
        };
        let kind = |backend: Result<AzureBlobBackend, StateError>| match backend {
            Ok(backend) => backend.client.auth().describe(),
            Err(err) => panic!("{err}"),
        };
        assert_eq!(kind(open(&[])), "developer tools (az, azd)");
        assert_eq!(kind(open(&[("ARM_USE_MSI", "true")])), "managed identity");
        assert_eq!(
            kind(open(&[
                ("ARM_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
                ("ARM_CLIENT_SECRET", "client-secret-value"),
                ("ARM_TENANT_ID", "00000000-0000-0000-0000-000000000002"),
            ])),
            "client secret"
        );
        assert_eq!(kind(open(&[("ARM_ACCESS_KEY", "a2V5")])), "access key");
        match open(&[("ARM_CLIENT_SECRET", "client-secret-value")]) {
            Err(err) => {
                let text = err.to_string();
                assert!(text.contains("ARM_TENANT_ID"), "{text}");
                assert!(!text.contains("client-secret-value"), "{text}");
            }
            Ok(_) => panic!("a client secret without ids was accepted"),
        }
    }

    #[test]
    fn the_access_key_is_not_in_debug_output() {
        let key = "c2VjcmV0LWtleS1ieXRlcy1mb3ItZGVidWc=";
        let backend = AzureBlobBackend::open(
            location(Some("http://127.0.0.1:1/devstoreaccount1"), "k"),
            None,
            |name| (name == "ARM_ACCESS_KEY").then(|| key.to_owned()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{backend:?}");
        assert!(!debug.contains(key), "{debug}");
        assert!(debug.contains("acct"), "{debug}");
        assert_eq!(
            backend.describe(),
            "azurerm blob http://127.0.0.1:1/devstoreaccount1/tfstate/k"
        );
    }

    #[test]
    fn lock_information_round_trips_through_metadata() {
        let info = LockInfo::new(Operation::Apply, "0.1.0");
        let encoded = encode_lock_info(&info).unwrap_or_else(|e| panic!("{e}"));
        assert!(encoded.is_ascii());
        assert_eq!(decode_lock_info(&encoded), Ok(info));
        assert!(decode_lock_info("!!!").is_err());
        assert!(decode_lock_info(&BASE64.encode(b"{}")).is_err());
    }
}

#[cfg(test)]
#[path = "azurerm_tests.rs"]
mod azurite_tests;
