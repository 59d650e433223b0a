//! The `asr` provider: discovers and drives an Azure Site Recovery vault through the
//! Azure Resource Manager REST API of Microsoft.RecoveryServices.
//!
//! [`AsrProvider`] implements the engine's `Provider`: `discover` reads the whole
//! vault ([`discover`]), `apply` runs an InMage reprotect or waits for an agent
//! ([`reprotect`]). [`client`] is the HTTP layer (tokens, timeouts, retries,
//! paging), [`auth`] the credentials, [`models`] the ARM JSON, [`error`] the typed
//! errors that keep ASR's codes and advice.

pub mod auth;
pub mod client;
pub mod discover;
pub mod error;
pub mod models;
pub mod poll;
pub mod reprotect;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use failback_engine::observe::Observation;
use failback_engine::provider::{
    ActionOutcome, ProgressSink, Provider, ProviderAction, ProviderError,
};
use url::Url;

pub use auth::{
    AzureCloud, BearerToken, CredentialChoice, StaticToken, TokenSource, cloud_from_env,
    subscription_from_env,
};
pub use client::{API_VERSION, ArmClient, RetryPolicy};
pub use error::{AsrError, AuthError, CloudError, JobFailure, ServiceError};

/// The vault a provider talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultRef {
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
}

impl VaultRef {
    /// The vault's ARM id.
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}",
            self.subscription_id, self.resource_group, self.name
        )
    }

    /// An ARM path below the vault (`replicationFabrics`, …).
    pub fn path(&self, below: &str) -> String {
        format!("{}/{}", self.id(), below.trim_start_matches('/'))
    }

    /// Whether an ARM id lies in this vault (ARM ids compare case-insensitively;
    /// ASR answers with `/Subscriptions/`).
    pub fn contains(&self, id: &str) -> bool {
        let prefix = format!("{}/", self.id()).to_ascii_lowercase();
        id.to_ascii_lowercase().starts_with(&prefix)
    }
}

/// How often and how long to wait for remote operations.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// The first pause before polling a job or an operation, and the shortest between
    /// two polls; the pause doubles from here ([`poll::PollSchedule`]).
    pub min_interval: Duration,
    /// Longest pause between two polls (caps `Retry-After` too).
    pub max_interval: Duration,
    /// How long a reprotect job may run before the provider stops waiting.
    pub job_timeout: Duration,
    /// The first pause while waiting for an agent; doubled up to `max_interval`.
    pub agent_initial_interval: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            min_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(60),
            job_timeout: Duration::from_secs(4 * 3600),
            agent_initial_interval: Duration::from_secs(10),
        }
    }
}

/// Everything needed to build an [`AsrProvider`].
#[derive(Debug, Clone)]
pub struct AsrProviderConfig {
    /// The configuration block's address, `vault.dr`.
    pub address: String,
    pub vault: VaultRef,
    /// `https://management.azure.com` by default; a sovereign cloud's or the
    /// simulator's endpoint otherwise.
    pub endpoint: Url,
    pub retry: RetryPolicy,
    pub poll: PollSettings,
    /// Actions run at once against this vault.
    pub concurrency: usize,
}

impl AsrProviderConfig {
    pub fn new(address: impl Into<String>, vault: VaultRef, endpoint: Url) -> AsrProviderConfig {
        AsrProviderConfig {
            address: address.into(),
            vault,
            endpoint,
            retry: RetryPolicy::default(),
            poll: PollSettings::default(),
            concurrency: 10,
        }
    }
}

/// What a `vault` block gives, for [`AsrProvider::connect`].
#[derive(Clone, Default)]
pub struct VaultBlock {
    /// The block's address, `vault.dr`.
    pub address: String,
    /// Falls back to `ARM_SUBSCRIPTION_ID` / `AZURE_SUBSCRIPTION_ID`.
    pub subscription_id: Option<String>,
    pub resource_group: String,
    pub name: String,
    /// The ARM endpoint; the cloud's (`ARM_ENVIRONMENT`) when absent.
    pub endpoint: Option<String>,
    /// A fixed bearer token (the simulator's); credentials come from the
    /// environment when absent.
    pub static_token: Option<BearerToken>,
}

impl std::fmt::Debug for VaultBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultBlock")
            .field("address", &self.address)
            .field("subscription_id", &self.subscription_id)
            .field("resource_group", &self.resource_group)
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field(
                "static_token",
                &self.static_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The ASR provider for one vault.
#[derive(Debug, Clone)]
pub struct AsrProvider {
    config: AsrProviderConfig,
    client: ArmClient,
    durations: Arc<poll::JobDurations>,
}

impl AsrProvider {
    pub fn new(
        config: AsrProviderConfig,
        tokens: Arc<dyn TokenSource>,
    ) -> Result<AsrProvider, AsrError> {
        for (what, value) in [
            ("subscription_id", &config.vault.subscription_id),
            ("resource_group", &config.vault.resource_group),
            ("name", &config.vault.name),
        ] {
            if value.trim().is_empty() || value.contains(['/', '?', '#']) {
                return Err(AsrError::Config(format!(
                    "vault {what} {value:?} is empty or contains '/', '?' or '#'"
                )));
            }
        }
        let client = ArmClient::new(config.endpoint.clone(), tokens, config.retry.clone())?;
        Ok(AsrProvider {
            config,
            client,
            durations: Arc::default(),
        })
    }

    /// Builds the provider for a `vault` block: the subscription, the cloud and the
    /// credentials come from the environment (`ARM_*`, then `AZURE_*`) where the
    /// block does not give them. `lookup` reads one environment variable.
    pub fn connect(
        block: VaultBlock,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<AsrProvider, AsrError> {
        let subscription_id = match block.subscription_id.filter(|id| !id.trim().is_empty()) {
            Some(id) => id,
            None => subscription_from_env(&lookup).ok_or_else(|| {
                AsrError::Config(format!(
                    "{}: no subscription_id; set it in the block or in ARM_SUBSCRIPTION_ID",
                    block.address
                ))
            })?,
        };
        let cloud = cloud_from_env(&lookup)?;
        let endpoint_text = block
            .endpoint
            .unwrap_or_else(|| cloud.resource_manager_endpoint().to_owned());
        let endpoint = Url::parse(&endpoint_text).map_err(|error| {
            AsrError::Config(format!(
                "{}: endpoint {endpoint_text:?} is not a URL: {error}",
                block.address
            ))
        })?;
        let tokens = match block.static_token {
            Some(token) => CredentialChoice::Static(token).into_source(cloud)?,
            None => CredentialChoice::from_env(&lookup)?.into_source(cloud)?,
        };
        let vault = VaultRef {
            subscription_id,
            resource_group: block.resource_group,
            name: block.name,
        };
        AsrProvider::new(
            AsrProviderConfig::new(block.address, vault, endpoint),
            tokens,
        )
    }

    pub fn client(&self) -> &ArmClient {
        &self.client
    }

    pub fn vault(&self) -> &VaultRef {
        &self.config.vault
    }

    /// Discovery as the typed inventory (what [`Provider::discover`] wraps).
    pub async fn inventory(&self) -> Result<failback_engine::observe::VaultInventory, AsrError> {
        discover::discover_vault(&self.client, &self.config.vault).await
    }

    /// Applies one action, keeping the crate's rich error.
    pub async fn apply_action(
        &self,
        action: &ProviderAction,
        progress: &dyn ProgressSink,
    ) -> Result<ActionOutcome, AsrError> {
        let context = reprotect::Context {
            client: &self.client,
            vault: &self.config.vault,
            poll: &self.config.poll,
            durations: &self.durations,
        };
        match action {
            ProviderAction::Reprotect(request) => {
                reprotect::reprotect(&context, request, progress).await
            }
            ProviderAction::WaitForAgent {
                protected_item_id,
                timeout_s,
            } => {
                reprotect::wait_for_agent(
                    &context,
                    protected_item_id,
                    Duration::from_secs(*timeout_s),
                    progress,
                )
                .await
            }
            other => Err(AsrError::Config(format!(
                "the asr provider does not handle {}",
                action_name(other)
            ))),
        }
    }
}

fn action_name(action: &ProviderAction) -> &'static str {
    match action {
        ProviderAction::VmSetExtraConfig { .. } => "vcenter.vm.set_extra_config",
        ProviderAction::VmRemoveSnapshots { .. } => "vcenter.vm.remove_snapshots",
        ProviderAction::Reprotect(_) => "asr.protected_item.reprotect",
        ProviderAction::WaitForAgent { .. } => "asr.wait_for_agent",
    }
}

#[async_trait]
impl Provider for AsrProvider {
    fn address(&self) -> &str {
        &self.config.address
    }

    fn concurrency(&self) -> usize {
        self.config.concurrency.max(1)
    }

    async fn discover(&self) -> Result<Observation, ProviderError> {
        let inventory = self.inventory().await?;
        Ok(Observation::Vault(Box::new(inventory)))
    }

    async fn apply(
        &self,
        action: &ProviderAction,
        progress: &dyn ProgressSink,
    ) -> Result<ActionOutcome, ProviderError> {
        if matches!(
            action,
            ProviderAction::VmSetExtraConfig { .. } | ProviderAction::VmRemoveSnapshots { .. }
        ) {
            return Err(ProviderError::Unsupported {
                provider: self.config.address.clone(),
                action: action_name(action).to_owned(),
            });
        }
        Ok(self.apply_action(action, progress).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_paths_and_membership() {
        let vault = VaultRef {
            subscription_id: "s".to_owned(),
            resource_group: "rg".to_owned(),
            name: "v".to_owned(),
        };
        assert_eq!(
            vault.path("replicationFabrics"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/replicationFabrics"
        );
        assert!(vault.contains(
            "/Subscriptions/s/resourceGroups/RG/providers/Microsoft.RecoveryServices/vaults/v/replicationFabrics/f"
        ));
        assert!(!vault.contains(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/vv/x"
        ));
    }

    #[test]
    fn connect_takes_what_the_block_lacks_from_the_environment() {
        let lookup = |name: &str| match name {
            "ARM_SUBSCRIPTION_ID" => Some("sub-from-env".to_owned()),
            "ARM_ENVIRONMENT" => Some("usgovernment".to_owned()),
            _ => None,
        };
        let block = VaultBlock {
            address: "vault.dr".to_owned(),
            resource_group: "rg".to_owned(),
            name: "v".to_owned(),
            static_token: Some(BearerToken::new("t0ken")),
            ..VaultBlock::default()
        };
        assert!(!format!("{block:?}").contains("t0ken"));
        let provider = AsrProvider::connect(block.clone(), lookup).unwrap();
        assert_eq!(provider.vault().subscription_id, "sub-from-env");
        assert_eq!(
            provider.client().endpoint().as_str(),
            "https://management.usgovcloudapi.net/"
        );
        let error = AsrProvider::connect(block, |_| None).unwrap_err();
        assert!(error.to_string().contains("ARM_SUBSCRIPTION_ID"), "{error}");
    }

    #[test]
    fn a_vault_name_with_a_slash_is_refused() {
        let config = AsrProviderConfig::new(
            "vault.dr",
            VaultRef {
                subscription_id: "s".to_owned(),
                resource_group: "rg/../x".to_owned(),
                name: "v".to_owned(),
            },
            Url::parse("http://127.0.0.1:1").unwrap(),
        );
        let error = AsrProvider::new(config, Arc::new(StaticToken::new("t"))).unwrap_err();
        assert!(error.to_string().contains("resource_group"));
    }
}
