//! The vault's live state: the estate's vault half plus everything that changes while
//! the simulator runs (item states, heartbeats moved by the admin path, jobs, counters).
//!
//! Time-dependent facts are settled lazily from the [`Clock`] on each read
//! ([`World::settle`]), so a job finishes exactly when the scaled clock says it does.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::clock::{Clock, sim_delta};
use super::error::ServiceError;
use crate::estate::{self, Estate, OsType, VaultEstate};

/// The InMageAzureV2 forward policy the simulator adds when an estate declares none:
/// ASR creates the failback policy together with a forward one, so a vault always has one.
pub const DEFAULT_FORWARD_POLICY: &str = "24-hour-retention-policy";

/// ARM names and ids of the vault.
#[derive(Debug, Clone)]
pub struct VaultIds {
    pub subscription_id: String,
    pub resource_group: String,
    pub vault: String,
    /// `/Subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}`
    pub vault_id: String,
}

impl VaultIds {
    fn new(vault: &VaultEstate) -> VaultIds {
        VaultIds {
            subscription_id: vault.subscription_id.clone(),
            resource_group: vault.resource_group.clone(),
            vault: vault.name.clone(),
            vault_id: format!(
                "/Subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}",
                vault.subscription_id, vault.resource_group, vault.name
            ),
        }
    }

    pub fn fabric_id(&self, fabric: &str) -> String {
        format!("{}/replicationFabrics/{fabric}", self.vault_id)
    }

    pub fn container_id(&self, fabric: &str) -> String {
        format!(
            "{}/replicationProtectionContainers/{}",
            self.fabric_id(fabric),
            container_name(fabric)
        )
    }

    pub fn item_id(&self, fabric: &str, item: &str) -> String {
        format!(
            "{}/replicationProtectedItems/{item}",
            self.container_id(fabric)
        )
    }

    pub fn policy_id(&self, policy: &str) -> String {
        format!("{}/replicationPolicies/{policy}", self.vault_id)
    }

    pub fn plan_id(&self, plan: &str) -> String {
        format!("{}/replicationRecoveryPlans/{plan}", self.vault_id)
    }

    pub fn job_id(&self, job: &str) -> String {
        format!("{}/replicationJobs/{job}", self.vault_id)
    }
}

/// The protection container of a fabric: ASR names VMware containers `cloud_<guid>`.
pub fn container_name(fabric: &str) -> String {
    format!("cloud_{}", stable_guid(&["container", fabric]))
}

/// A GUID-shaped id derived from names, so ids are the same on every run.
pub fn stable_guid(parts: &[&str]) -> String {
    use sha1::{Digest, Sha1};
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let hex = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A heartbeat that can be moved by the admin path: the moment of the last beat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heartbeat {
    pub last: DateTime<Utc>,
}

impl Heartbeat {
    fn aged(epoch: DateTime<Utc>, age_s: u64) -> Heartbeat {
        Heartbeat {
            last: epoch - sim_delta(age_s as f64),
        }
    }
}

/// A health error as the simulator holds it before it becomes ASR's `HealthError`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthIssue {
    pub code: String,
    pub source: String,
    pub category: String,
    pub level: String,
    pub message: String,
    pub causes: String,
    pub action: String,
    pub entity_id: String,
    pub at: DateTime<Utc>,
}

/// One configuration server (VMware fabric) with its live heartbeats.
#[derive(Debug, Clone)]
pub struct FabricState {
    pub estate: estate::ConfigurationServer,
    pub heartbeat: Heartbeat,
    pub process_server_heartbeats: Vec<Heartbeat>,
    pub master_target_heartbeats: Vec<Heartbeat>,
    /// Health errors added through the admin path, by process server id.
    pub process_server_issues: BTreeMap<String, Vec<HealthIssue>>,
}

impl FabricState {
    pub fn name(&self) -> &str {
        &self.estate.fabric
    }

    pub fn master_target(&self, id: &str) -> Option<(usize, &estate::MasterTarget)> {
        self.estate
            .master_targets
            .iter()
            .enumerate()
            .find(|(_, mt)| mt.id.eq_ignore_ascii_case(id))
    }

    pub fn process_server(&self, id: &str) -> Option<(usize, &estate::ProcessServer)> {
        self.estate
            .process_servers
            .iter()
            .enumerate()
            .find(|(_, ps)| ps.id.eq_ignore_ascii_case(id))
    }

    /// The process server forward replication goes through: one in Azure if there is
    /// one (that is where failed-over machines talk to), else the first.
    pub fn forward_process_server(&self) -> Option<&estate::ProcessServer> {
        self.estate
            .process_servers
            .iter()
            .find(|ps| ps.location == estate::Location::Azure)
            .or_else(|| self.estate.process_servers.first())
    }
}

/// What the item replicates through once reprotected (the accepted InMage input).
#[derive(Debug, Clone, PartialEq)]
pub struct ReverseSettings {
    pub master_target_id: String,
    pub process_server_id: String,
    pub retention_drive: String,
    pub datastore_name: Option<String>,
    pub run_as_account_id: Option<String>,
    pub policy_id: String,
}

/// A protected item's live state.
#[derive(Debug, Clone)]
pub struct ItemState {
    pub estate: estate::ProtectedItem,
    pub protection_state: String,
    pub protection_state_description: String,
    pub active_location: String,
    pub allowed_operations: Vec<String>,
    /// `replicationHealth` forced by the admin path; computed otherwise.
    pub replication_health: Option<String>,
    pub issues: Vec<HealthIssue>,
    /// When the agent registered (or will) with the configuration server.
    pub agent_registered_at: DateTime<Utc>,
    /// Set once reprotect succeeded: the item replicates Azure → on-premises (InMage).
    pub reverse: Option<ReverseSettings>,
    /// The job running on the item, if any.
    pub current_job: Option<String>,
}

impl ItemState {
    pub fn name(&self) -> &str {
        &self.estate.name
    }

    pub fn allows(&self, operation: &str) -> bool {
        self.allowed_operations
            .iter()
            .any(|op| op.eq_ignore_ascii_case(operation))
    }
}

/// The human description ASR shows beside a protection state.
pub fn describe_state(state: &str) -> String {
    match state.to_ascii_lowercase().as_str() {
        "unplannedfailovercommitted" => "Failover committed",
        "unplannedfailovercommitpendingstatesbegin" => "Failover completed",
        "plannedfailoverstatesbegin" => "Planned failover committed",
        "unplannedfailoverfailed" => "Failover failed",
        "protected" => "Protected",
        _ => state,
    }
    .to_owned()
}

/// A reprotect job.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub item: String,
    pub fabric: String,
    pub started: DateTime<Utc>,
    pub duration_s: f64,
    /// `None` when the job will succeed.
    pub failure: Option<ServiceError>,
    pub settings: ReverseSettings,
    /// Allowed operations to restore when the job fails.
    pub previous_allowed: Vec<String>,
    /// Whether its outcome has been applied to the item.
    pub settled: bool,
}

/// Where a job stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPhase {
    InProgress,
    Succeeded,
    Failed,
}

impl Job {
    pub fn ends(&self) -> DateTime<Utc> {
        self.started + sim_delta(self.duration_s)
    }

    pub fn phase(&self, now: DateTime<Utc>) -> JobPhase {
        if now < self.ends() {
            JobPhase::InProgress
        } else if self.failure.is_some() {
            JobPhase::Failed
        } else {
            JobPhase::Succeeded
        }
    }

    /// How far the job is, 0.0 to 1.0.
    pub fn progress(&self, now: DateTime<Utc>) -> f64 {
        if self.duration_s <= 0.0 {
            return 1.0;
        }
        let elapsed = (now - self.started).num_milliseconds() as f64 / 1000.0;
        (elapsed / self.duration_s).clamp(0.0, 1.0)
    }
}

/// The whole vault while the simulator runs.
#[derive(Debug)]
pub struct World {
    pub ids: VaultIds,
    pub clock: Clock,
    pub vcenter: estate::VcenterEstate,
    pub fabrics: Vec<FabricState>,
    pub policies: Vec<estate::Policy>,
    pub items: Vec<ItemState>,
    pub plans: Vec<estate::RecoveryPlan>,
    pub behaviour: estate::Behaviour,
    /// Jobs in creation order.
    pub jobs: Vec<Job>,
    /// Item and plan names (lower case) whose next job fails.
    pub failing_jobs: BTreeSet<String>,
    /// Reprotect POSTs received per item (accepted or refused).
    pub reprotect_requests: BTreeMap<String, u64>,
    /// Reprotect POSTs accepted (a job started) per item.
    pub reprotect_accepted: BTreeMap<String, u64>,
    /// Where the simulated vCenter listens (see `SimOptions::vcenter_address`).
    pub vcenter_address: Option<String>,
}

impl World {
    pub fn new(estate: Estate, clock: Clock) -> World {
        let vault = estate.vault;
        let ids = VaultIds::new(&vault);
        let epoch = clock.epoch();
        let fabrics = vault
            .configuration_servers
            .into_iter()
            .map(|cs| FabricState {
                heartbeat: Heartbeat::aged(epoch, cs.heartbeat_age_s),
                process_server_heartbeats: cs
                    .process_servers
                    .iter()
                    .map(|ps| Heartbeat::aged(epoch, ps.heartbeat_age_s))
                    .collect(),
                master_target_heartbeats: cs
                    .master_targets
                    .iter()
                    .map(|mt| Heartbeat::aged(epoch, mt.heartbeat_age_s))
                    .collect(),
                process_server_issues: BTreeMap::new(),
                estate: cs,
            })
            .collect();
        let mut policies = vault.policies;
        if !policies
            .iter()
            .any(|p| p.instance_type.eq_ignore_ascii_case("InMageAzureV2"))
        {
            policies.push(estate::Policy {
                name: DEFAULT_FORWARD_POLICY.to_owned(),
                instance_type: "InMageAzureV2".to_owned(),
                rpo_threshold_minutes: 60,
                recovery_point_history_minutes: 1440,
                app_consistent_frequency_minutes: 60,
            });
        }
        let failback_policy = |name: Option<&str>| {
            policies
                .iter()
                .find(|p| match name {
                    Some(name) => p.name.eq_ignore_ascii_case(name),
                    None => p.instance_type.eq_ignore_ascii_case("InMage"),
                })
                .map(|p| ids.policy_id(&p.name))
                .unwrap_or_default()
        };
        let items = vault
            .protected_items
            .into_iter()
            .map(|item| ItemState {
                protection_state: item.protection_state.clone(),
                protection_state_description: describe_state(&item.protection_state),
                active_location: item
                    .active_location
                    .clone()
                    .unwrap_or_else(|| "Primary".to_owned()),
                allowed_operations: item.allowed_operations.clone(),
                replication_health: None,
                issues: item
                    .health_errors
                    .iter()
                    .map(|message| HealthIssue {
                        code: "ReplicationHealthError".to_owned(),
                        source: item.friendly_name.clone(),
                        category: "Replication".to_owned(),
                        level: "Error".to_owned(),
                        message: message.clone(),
                        causes: String::new(),
                        action: String::new(),
                        entity_id: item.name.clone(),
                        at: epoch,
                    })
                    .collect(),
                agent_registered_at: epoch + sim_delta(item.agent_registered_after_s as f64),
                reverse: item.reverse.as_ref().map(|r| ReverseSettings {
                    master_target_id: r.master_target.clone(),
                    process_server_id: r.process_server.clone(),
                    retention_drive: r.retention_drive.clone(),
                    datastore_name: r.datastore.clone(),
                    run_as_account_id: None,
                    policy_id: failback_policy(r.policy.as_deref()),
                }),
                current_job: None,
                estate: item,
            })
            .collect();
        let failing_jobs = vault
            .behaviour
            .faults
            .failing_jobs
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .collect();
        World {
            ids,
            clock,
            vcenter: estate.vcenter,
            fabrics,
            policies,
            items,
            plans: vault.recovery_plans,
            behaviour: vault.behaviour,
            jobs: Vec::new(),
            failing_jobs,
            reprotect_requests: BTreeMap::new(),
            reprotect_accepted: BTreeMap::new(),
            vcenter_address: None,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn fabric(&self, name: &str) -> Option<&FabricState> {
        self.fabrics
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    pub fn fabric_mut(&mut self, name: &str) -> Option<&mut FabricState> {
        self.fabrics
            .iter_mut()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    pub fn item_index(&self, name: &str) -> Option<usize> {
        self.items
            .iter()
            .position(|i| i.name().eq_ignore_ascii_case(name))
    }

    pub fn policy(&self, name: &str) -> Option<&estate::Policy> {
        self.policies
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The policy whose ARM id is `id` (ids compare case-insensitively, as ARM's do).
    pub fn policy_by_id(&self, id: &str) -> Option<&estate::Policy> {
        let id = id.trim_end_matches('/');
        self.policies
            .iter()
            .find(|p| self.ids.policy_id(&p.name).eq_ignore_ascii_case(id))
    }

    pub fn plan(&self, name: &str) -> Option<&estate::RecoveryPlan> {
        self.plans
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name.eq_ignore_ascii_case(name))
    }

    /// The policy a forward (InMageAzureV2) item replicates under.
    pub fn forward_policy(&self) -> Option<&estate::Policy> {
        self.policies
            .iter()
            .find(|p| p.instance_type.eq_ignore_ascii_case("InMageAzureV2"))
    }

    /// The OS of the VM behind an item.
    pub fn item_os(&self, index: usize) -> OsType {
        self.items[index].estate.os_type
    }

    /// Applies the outcome of every job the clock has finished.
    pub fn settle(&mut self) {
        let now = self.now();
        for job_index in 0..self.jobs.len() {
            let job = &self.jobs[job_index];
            if job.settled || job.phase(now) == JobPhase::InProgress {
                continue;
            }
            let phase = job.phase(now);
            let job = job.clone();
            self.jobs[job_index].settled = true;
            let Some(index) = self.item_index(&job.item) else {
                continue;
            };
            let item = &mut self.items[index];
            if item.current_job.as_deref() == Some(job.name.as_str()) {
                item.current_job = None;
            }
            match phase {
                JobPhase::Succeeded => {
                    item.protection_state = "Protected".to_owned();
                    item.protection_state_description = describe_state("Protected");
                    item.active_location = "Recovery".to_owned();
                    item.allowed_operations = vec![
                        "PlannedFailover".to_owned(),
                        "UnplannedFailover".to_owned(),
                        "DisableProtection".to_owned(),
                    ];
                    item.reverse = Some(job.settings.clone());
                }
                JobPhase::Failed | JobPhase::InProgress => {
                    item.allowed_operations = job.previous_allowed.clone();
                }
            }
        }
    }

    /// Whether an item's agent has registered with the configuration server by now.
    pub fn agent_registered(&self, index: usize) -> bool {
        self.items[index].agent_registered_at <= self.now()
    }

    /// Which plans an item is a member of.
    pub fn plans_of(&self, item: &str) -> Vec<&estate::RecoveryPlan> {
        self.plans
            .iter()
            .filter(|p| p.members.iter().any(|m| m.eq_ignore_ascii_case(item)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_guid_is_stable_and_guid_shaped() {
        let a = stable_guid(&["container", "cs01"]);
        assert_eq!(a, stable_guid(&["container", "cs01"]));
        assert_ne!(a, stable_guid(&["container", "cs02"]));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn known_states_get_asr_descriptions() {
        assert_eq!(
            describe_state("UnplannedFailoverCommitted"),
            "Failover committed"
        );
        assert_eq!(describe_state("SomethingNew"), "SomethingNew");
    }
}
