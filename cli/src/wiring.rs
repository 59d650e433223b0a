//! The real stages behind `plan` (and `apply`, `drift`): the HCL loader, one provider
//! per `vcenter` and `vault` block, the rules, and the state backend.
//!
//! This is the one place where the CLI names concrete providers; the engine only sees
//! `Box<dyn Provider>`.

use std::path::Path;

use failback_engine::config::{self, Config, VariableInputs};
use failback_engine::observe::Observed;
use failback_engine::plan::{Assessment, PriorState};
use failback_engine::provider::Provider;
use failback_engine::state;
use failback_provider_asr::{AsrProvider, BearerToken, VaultBlock};
use failback_provider_vcenter::VcenterProvider;
use miette::miette;

use crate::command_error::CommandError;
use crate::commands::plan::{LoadedConfiguration, PlanWiring};

/// The wiring of the `failback` binary.
#[derive(Debug, Default)]
pub struct RealWiring;

impl PlanWiring for RealWiring {
    fn load(
        &self,
        dir: &Path,
        inputs: &VariableInputs,
    ) -> Result<LoadedConfiguration, CommandError> {
        let loaded = config::load_report(dir, inputs);
        if loaded.diagnostics.has_errors() {
            return Err(CommandError::many(loaded.diagnostics.to_reports()));
        }
        let files = loaded
            .config
            .sources
            .files()
            .map(|file| (file.path.display().to_string(), file.text.clone()))
            .collect();
        Ok(LoadedConfiguration {
            config: loaded.config,
            files,
            warnings: loaded.diagnostics.to_reports(),
        })
    }

    fn providers(&self, config: &Config) -> Result<Vec<Box<dyn Provider>>, CommandError> {
        providers(config)
    }

    fn assess(&self, config: &Config, observed: &Observed) -> Assessment {
        let (findings, fixes) = failback_engine::rules::assess(config, observed);
        Assessment { findings, fixes }
    }

    fn prior_state(&self, config: &Config, dir: &Path) -> Result<PriorState, CommandError> {
        let backend = state::open_backend(&config.settings.state, dir)?;
        let current = backend.read()?;
        Ok(PriorState {
            lineage: current.as_ref().map(|state| state.lineage.to_string()),
            serial: current.map_or(0, |state| state.serial),
        })
    }
}

/// One provider per `vcenter` and `vault` block of the configuration.
pub fn providers(config: &Config) -> Result<Vec<Box<dyn Provider>>, CommandError> {
    let mut providers: Vec<Box<dyn Provider>> = Vec::new();
    let mut errors = Vec::new();
    for vcenter in &config.vcenters {
        match VcenterProvider::from_config(vcenter) {
            Ok(provider) => providers.push(Box::new(
                provider.with_privilege_checks_on(config.master_target_vms_in(&vcenter.address)),
            )),
            Err(err) => errors.push(miette!(
                help = "set the block's attributes or the VSPHERE_SERVER, VSPHERE_USER and \
                        VSPHERE_PASSWORD environment variables",
                "{}: {err}",
                vcenter.address
            )),
        }
    }
    for vault in &config.vaults {
        let block = VaultBlock {
            address: vault.address.to_string(),
            subscription_id: Some(vault.subscription_id.clone()),
            resource_group: vault.resource_group.clone(),
            name: vault.vault_name.clone(),
            endpoint: vault.endpoint.clone(),
            static_token: vault
                .access_token
                .as_ref()
                .map(|token| BearerToken::new(token.expose().clone())),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        match AsrProvider::connect(block, env) {
            Ok(provider) => providers.push(Box::new(provider)),
            Err(err) => errors.push(miette!(
                help = "set the block's attributes or the ARM_* / AZURE_* environment \
                        variables (ARM_CLIENT_ID, ARM_CLIENT_SECRET, ARM_TENANT_ID, \
                        ARM_SUBSCRIPTION_ID), or sign in with the Azure CLI",
                "{}: {err}",
                vault.address
            )),
        }
    }
    if errors.is_empty() {
        Ok(providers)
    } else {
        Err(CommandError::many(errors))
    }
}
