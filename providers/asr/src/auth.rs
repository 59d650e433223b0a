//! Where bearer tokens for Azure Resource Manager come from: a small [`TokenSource`]
//! abstraction over the official `azure_identity` credentials (client secret, Azure
//! CLI, managed identity), chosen from the same `ARM_*` environment variables as
//! Terraform's azurerm provider (with the Azure SDKs' `AZURE_*` names as fallback),
//! and a static token for the simulator.
//!
//! Tokens and secrets live in [`BearerToken`] and `azure_core`'s `Secret`, whose
//! `Debug` output is redacted; neither implements `Display`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::time::{Duration as AzureDuration, OffsetDateTime};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use tokio::sync::Mutex;

use crate::error::{AsrError, AuthError};

/// An access token. Its value is only reachable through [`BearerToken::secret`], for
/// the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    pub fn new(value: impl Into<String>) -> BearerToken {
        BearerToken(value.into())
    }

    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Something that hands out ARM bearer tokens, refreshing them as needed.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    async fn token(&self) -> Result<BearerToken, AsrError>;

    /// Forgets a token ARM refused as expired or invalid. Returns whether the next
    /// [`TokenSource::token`] can give a different one (a static token cannot).
    async fn invalidate(&self) -> bool {
        false
    }

    /// A short name for messages: `static`, `client secret`, `Azure CLI`, …
    fn kind(&self) -> &'static str;
}

/// One fixed token, as the simulator prints it.
#[derive(Debug, Clone)]
pub struct StaticToken(BearerToken);

impl StaticToken {
    pub fn new(token: impl Into<String>) -> StaticToken {
        StaticToken(BearerToken::new(token))
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<BearerToken, AsrError> {
        if self.0.secret().is_empty() {
            return Err(AsrError::Authentication(AuthError {
                status: None,
                code: "CredentialUnavailable".to_owned(),
                message: "the static token is empty".to_owned(),
            }));
        }
        Ok(self.0.clone())
    }

    fn kind(&self) -> &'static str {
        "static"
    }
}

/// The Azure cloud to talk to: decides the ARM endpoint, the token audience and
/// the Entra ID authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AzureCloud {
    #[default]
    Public,
    UsGovernment,
    China,
}

impl AzureCloud {
    /// From Terraform's `ARM_ENVIRONMENT` values (`public`, `usgovernment`, `china`).
    pub fn from_name(name: &str) -> Option<AzureCloud> {
        match name.trim().to_ascii_lowercase().as_str() {
            "public" | "azurecloud" | "azurepubliccloud" => Some(AzureCloud::Public),
            "usgovernment" | "azureusgovernment" | "azureusgovernmentcloud" => {
                Some(AzureCloud::UsGovernment)
            }
            "china" | "azurechinacloud" => Some(AzureCloud::China),
            _ => None,
        }
    }

    pub fn resource_manager_endpoint(self) -> &'static str {
        match self {
            AzureCloud::Public => "https://management.azure.com",
            AzureCloud::UsGovernment => "https://management.usgovcloudapi.net",
            AzureCloud::China => "https://management.chinacloudapi.cn",
        }
    }

    /// The OAuth scope for ARM in this cloud.
    pub fn scope(self) -> String {
        format!("{}/.default", self.resource_manager_endpoint())
    }

    fn configuration(self) -> azure_core::cloud::CloudConfiguration {
        use azure_core::cloud::CloudConfiguration;
        match self {
            AzureCloud::Public => CloudConfiguration::AzurePublic,
            AzureCloud::UsGovernment => CloudConfiguration::AzureGovernment,
            AzureCloud::China => CloudConfiguration::AzureChina,
        }
    }
}

/// Which credential to use, as read from configuration or the environment.
#[derive(Clone, PartialEq, Eq)]
pub enum CredentialChoice {
    /// A fixed bearer token (the simulator).
    Static(BearerToken),
    /// A service principal with a client secret.
    ClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret: BearerToken,
    },
    /// A managed identity; `client_id` picks a user-assigned one.
    ManagedIdentity { client_id: Option<String> },
    /// The signed-in Azure CLI (`az login`).
    AzureCli { tenant_id: Option<String> },
}

impl fmt::Debug for CredentialChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialChoice::Static(_) => f.write_str("Static(<redacted>)"),
            CredentialChoice::ClientSecret {
                tenant_id,
                client_id,
                ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            CredentialChoice::ManagedIdentity { client_id } => f
                .debug_struct("ManagedIdentity")
                .field("client_id", client_id)
                .finish(),
            CredentialChoice::AzureCli { tenant_id } => f
                .debug_struct("AzureCli")
                .field("tenant_id", tenant_id)
                .finish(),
        }
    }
}

impl CredentialChoice {
    /// Chooses as Terraform's azurerm provider does: a client secret when
    /// `ARM_CLIENT_ID`, `ARM_CLIENT_SECRET` and `ARM_TENANT_ID` are set; a managed
    /// identity when `ARM_USE_MSI` is true; else the Azure CLI (unless `ARM_USE_CLI`
    /// is false). Each `ARM_X` falls back to `AZURE_X`.
    ///
    /// `lookup` reads one variable, so tests need not touch the process environment.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<CredentialChoice, AsrError> {
        let var = |suffix: &str| env_var(&lookup, suffix);
        let flag = |suffix: &str| var(suffix).map(|value| is_true(&value));
        let client_id = var("CLIENT_ID");
        let tenant_id = var("TENANT_ID");
        if let Some(secret) = var("CLIENT_SECRET") {
            let (Some(client_id), Some(tenant_id)) = (client_id, tenant_id) else {
                return Err(AsrError::Config(
                    "ARM_CLIENT_SECRET is set but ARM_CLIENT_ID or ARM_TENANT_ID is missing; \
                     set all three to use a service principal"
                        .to_owned(),
                ));
            };
            return Ok(CredentialChoice::ClientSecret {
                tenant_id,
                client_id,
                client_secret: BearerToken::new(secret),
            });
        }
        if flag("USE_MSI") == Some(true) {
            return Ok(CredentialChoice::ManagedIdentity { client_id });
        }
        if flag("USE_CLI") == Some(false) {
            return Err(AsrError::Config(
                "no Azure credentials: ARM_USE_CLI is false and neither a client secret \
                 (ARM_CLIENT_ID, ARM_CLIENT_SECRET, ARM_TENANT_ID) nor ARM_USE_MSI=true is set"
                    .to_owned(),
            ));
        }
        Ok(CredentialChoice::AzureCli { tenant_id })
    }

    /// Builds the token source for this choice.
    pub fn into_source(self, cloud: AzureCloud) -> Result<Arc<dyn TokenSource>, AsrError> {
        let credential_error = |error: azure_core::Error| {
            AsrError::Config(format!("cannot set up Azure credentials: {error}"))
        };
        let client_options = azure_core::http::ClientOptions {
            cloud: Some(Arc::new(cloud.configuration())),
            ..Default::default()
        };
        let (credential, kind): (Arc<dyn TokenCredential>, &'static str) = match self {
            CredentialChoice::Static(token) => return Ok(Arc::new(StaticToken(token))),
            CredentialChoice::ClientSecret {
                tenant_id,
                client_id,
                client_secret,
            } => (
                ClientSecretCredential::new(
                    &tenant_id,
                    client_id,
                    Secret::new(client_secret.0),
                    Some(ClientSecretCredentialOptions { client_options }),
                )
                .map_err(credential_error)?,
                "client secret",
            ),
            CredentialChoice::ManagedIdentity { client_id } => {
                let options = ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.map(UserAssignedId::ClientId),
                    client_options,
                };
                (
                    ManagedIdentityCredential::new(Some(options)).map_err(credential_error)?,
                    "managed identity",
                )
            }
            CredentialChoice::AzureCli { tenant_id } => {
                let options = AzureCliCredentialOptions {
                    tenant_id,
                    ..Default::default()
                };
                (
                    AzureCliCredential::new(Some(options)).map_err(credential_error)?,
                    "Azure CLI",
                )
            }
        };
        Ok(Arc::new(IdentityTokenSource {
            credential,
            scope: cloud.scope(),
            kind,
            cached: Mutex::new(None),
        }))
    }
}

/// Reads `ARM_X`, then `AZURE_X`; empty values count as unset.
fn env_var(lookup: &impl Fn(&str) -> Option<String>, suffix: &str) -> Option<String> {
    lookup(&format!("ARM_{suffix}"))
        .or_else(|| lookup(&format!("AZURE_{suffix}")))
        .filter(|value| !value.trim().is_empty())
}

/// The subscription from `ARM_SUBSCRIPTION_ID` (or `AZURE_SUBSCRIPTION_ID`), for a
/// `vault` block that does not name one.
pub fn subscription_from_env(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    env_var(&lookup, "SUBSCRIPTION_ID")
}

/// The cloud from `ARM_ENVIRONMENT` (or `AZURE_ENVIRONMENT`); public when unset.
pub fn cloud_from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<AzureCloud, AsrError> {
    match env_var(&lookup, "ENVIRONMENT") {
        None => Ok(AzureCloud::Public),
        Some(name) => AzureCloud::from_name(&name).ok_or_else(|| {
            AsrError::Config(format!(
                "ARM_ENVIRONMENT {name:?} is not a known Azure cloud; use public, usgovernment or china"
            ))
        }),
    }
}

fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// An `azure_identity` credential, with the token kept until shortly before it
/// expires (the CLI credential runs `az` on every call otherwise).
struct IdentityTokenSource {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    kind: &'static str,
    cached: Mutex<Option<(BearerToken, OffsetDateTime)>>,
}

impl fmt::Debug for IdentityTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityTokenSource")
            .field("kind", &self.kind)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenSource for IdentityTokenSource {
    async fn token(&self) -> Result<BearerToken, AsrError> {
        let mut cached = self.cached.lock().await;
        let refresh_margin = AzureDuration::minutes(5);
        if let Some((token, expires_on)) = cached.as_ref()
            && *expires_on - refresh_margin > OffsetDateTime::now_utc()
        {
            return Ok(token.clone());
        }
        // `az` or an IMDS endpoint can hang; a token is never worth more than this.
        const TOKEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
        let scopes = [self.scope.as_str()];
        let request = self.credential.get_token(&scopes, None);
        let access = tokio::time::timeout(TOKEN_TIMEOUT, request)
            .await
            .map_err(|_| {
                AsrError::Authentication(AuthError {
                    status: None,
                    code: "CredentialTimeout".to_owned(),
                    message: format!(
                        "{} credential gave no token within {}s",
                        self.kind,
                        TOKEN_TIMEOUT.as_secs()
                    ),
                })
            })?
            .map_err(|error| {
                AsrError::Authentication(AuthError {
                    status: None,
                    code: "CredentialUnavailable".to_owned(),
                    message: format!("{} credential: {error}", self.kind),
                })
            })?;
        let token = BearerToken::new(access.token.secret());
        *cached = Some((token.clone(), access.expires_on));
        Ok(token)
    }

    async fn invalidate(&self) -> bool {
        *self.cached.lock().await = None;
        true
    }

    fn kind(&self) -> &'static str {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn terraform_variables_choose_a_service_principal() {
        let choice = CredentialChoice::from_env(env(&[
            ("ARM_CLIENT_ID", "app"),
            ("ARM_CLIENT_SECRET", "hunter2"),
            ("ARM_TENANT_ID", "tenant"),
        ]))
        .unwrap();
        assert!(
            matches!(choice, CredentialChoice::ClientSecret { ref client_id, .. } if client_id == "app")
        );
        let debug = format!("{choice:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn azure_variables_are_the_fallback() {
        let choice = CredentialChoice::from_env(env(&[
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("ARM_TENANT_ID", "tenant"),
        ]))
        .unwrap();
        assert!(matches!(choice, CredentialChoice::ClientSecret { .. }));
    }

    #[test]
    fn a_secret_without_tenant_is_a_configuration_error() {
        let error =
            CredentialChoice::from_env(env(&[("ARM_CLIENT_SECRET", "hunter2")])).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("ARM_TENANT_ID"), "{text}");
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn msi_and_cli() {
        assert_eq!(
            CredentialChoice::from_env(env(&[("ARM_USE_MSI", "true"), ("ARM_CLIENT_ID", "uai")]))
                .unwrap(),
            CredentialChoice::ManagedIdentity {
                client_id: Some("uai".to_owned())
            }
        );
        assert_eq!(
            CredentialChoice::from_env(env(&[])).unwrap(),
            CredentialChoice::AzureCli { tenant_id: None }
        );
        assert!(CredentialChoice::from_env(env(&[("ARM_USE_CLI", "false")])).is_err());
    }

    #[test]
    fn subscription_and_cloud_from_the_environment() {
        assert_eq!(
            subscription_from_env(env(&[("AZURE_SUBSCRIPTION_ID", "sub")])).as_deref(),
            Some("sub")
        );
        assert_eq!(subscription_from_env(env(&[])), None);
        assert_eq!(
            cloud_from_env(env(&[("ARM_ENVIRONMENT", "china")])).unwrap(),
            AzureCloud::China
        );
        assert_eq!(cloud_from_env(env(&[])).unwrap(), AzureCloud::Public);
        assert!(cloud_from_env(env(&[("ARM_ENVIRONMENT", "mars")])).is_err());
    }

    #[test]
    fn clouds() {
        assert_eq!(
            AzureCloud::from_name("usgovernment"),
            Some(AzureCloud::UsGovernment)
        );
        assert_eq!(
            AzureCloud::China.scope(),
            "https://management.chinacloudapi.cn/.default"
        );
        assert_eq!(AzureCloud::from_name("mars"), None);
    }

    #[tokio::test]
    async fn static_token_is_redacted_and_empty_is_refused() {
        let source = StaticToken::new("abc.def");
        assert_eq!(
            format!("{source:?}"),
            "StaticToken(BearerToken(<redacted>))"
        );
        assert_eq!(source.token().await.unwrap().secret(), "abc.def");
        assert!(matches!(
            StaticToken::new("").token().await,
            Err(AsrError::Authentication(_))
        ));
    }

    #[test]
    fn client_secret_credential_builds_without_network() {
        let choice = CredentialChoice::ClientSecret {
            tenant_id: "00000000-0000-0000-0000-000000000001".to_owned(),
            client_id: "app".to_owned(),
            client_secret: BearerToken::new("s"),
        };
        let source = choice.into_source(AzureCloud::Public).unwrap();
        assert_eq!(source.kind(), "client secret");
        assert!(!format!("{source:?}").contains("\"s\""));
    }
}
