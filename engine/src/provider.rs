//! The `Provider` trait: the lowest-level interface between the engine and the
//! outside world (a vCenter, an ASR vault).
//!
//! A provider does two things: it *discovers* what is there, as plain observed data
//! (see [`crate::observe`]), and it *applies* one action at a time, reporting
//! progress while the remote operation (a vSphere task, an ARM long-running
//! operation, an ASR job) runs. Everything else (deciding what to do, ordering,
//! retries across runs, state) lives in the engine.

use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::observe::Observation;

/// A concrete backend for one configured endpoint (`vcenter "main"`, `vault "dr"`).
#[async_trait]
pub trait Provider: Send + Sync + Debug {
    /// The address of the configuration block this provider serves, e.g.
    /// `vcenter.onprem` or `vault.dr`.
    fn address(&self) -> &str;

    /// How many actions the apply scheduler may run against this provider at once.
    /// A hint: the scheduler takes the minimum of this and `--parallelism`.
    fn concurrency(&self) -> usize {
        10
    }

    /// Reads everything the rules need, in a number of round trips that does not grow
    /// with the size of the estate.
    async fn discover(&self) -> Result<Observation, ProviderError>;

    /// Carries out one action and waits for its remote operation to finish.
    ///
    /// Implementations are idempotent: an action whose effect is already there
    /// returns [`ActionOutcome::AlreadyDone`] without changing anything.
    async fn apply(
        &self,
        action: &ProviderAction,
        progress: &dyn ProgressSink,
    ) -> Result<ActionOutcome, ProviderError>;
}

/// One change a provider knows how to make. Plain data, recorded in plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderAction {
    /// `vcenter.vm.set_extra_config`: set one advanced configuration parameter on a VM
    /// (used for `disk.EnableUUID = TRUE`, rule FB107).
    VmSetExtraConfig {
        vm: String,
        key: String,
        value: String,
    },
    /// `vcenter.vm.remove_snapshots`: remove all snapshots of a VM and consolidate its
    /// disks (rules FB102, FB115). Destructive.
    VmRemoveSnapshots { vm: String },
    /// `asr.protected_item.reprotect`: reverse replication of a failed-over item back
    /// to on-premises.
    Reprotect(ReprotectRequest),
    /// `asr.wait_for_agent`: wait until a protected item's agent has registered with
    /// the configuration server (rule FB117).
    WaitForAgent {
        protected_item_id: String,
        timeout_s: u64,
    },
}

/// The per-machine values of an InMage (VMware failback) reprotect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReprotectRequest {
    /// Full ARM id of the replication protected item.
    pub protected_item_id: String,
    pub master_target_id: String,
    pub process_server_id: String,
    /// The retention volume on the master target (`R:`, `/mnt/retention`).
    pub retention_drive: String,
    /// The datastore name as the master target reports it.
    pub datastore_name: String,
    /// The run-as account id known to the configuration server, when one is used.
    pub run_as_account_id: Option<String>,
    /// The failback policy's ARM id (`profileId`).
    pub policy_id: String,
}

/// What an applied action came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ActionOutcome {
    /// The change was made; `remote_ids` are the vSphere task or ASR job ids.
    Applied { remote_ids: Vec<String> },
    /// The effect was already there; nothing was changed.
    AlreadyDone,
}

/// Where a provider reports progress of a running action.
pub trait ProgressSink: Send + Sync {
    fn report(&self, progress: Progress);
}

/// A progress report of one running remote operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The vSphere task or ASR job id, once known.
    pub remote_id: Option<String>,
    /// Percent done, when the remote side says.
    pub percent: Option<u8>,
    /// A short human line: the current task step, a state.
    pub message: String,
}

/// A progress sink that drops every report.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _progress: Progress) {}
}

/// Why a provider call failed. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider cannot carry out this kind of action.
    #[error("provider {provider} does not handle {action}")]
    Unsupported { provider: String, action: String },
    /// Credentials were refused or are missing.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// TLS verification failed (untrusted certificate, wrong thumbprint).
    #[error("TLS verification failed: {0}")]
    Tls(String),
    /// The remote service answered with an error of its own (a SOAP fault, an ARM
    /// CloudError, a failed task or job), kept with its code.
    #[error("{service} error {code}: {message}")]
    Remote {
        service: String,
        code: String,
        message: String,
        /// Possible causes and recommended action, when the service gives them.
        help: Option<String>,
    },
    /// The remote side could not be reached, or a call timed out.
    #[error("{0}")]
    Transport(String),
    /// The answer could not be understood.
    #[error("unexpected response: {0}")]
    Protocol(String),
}
