//! The Azure side as the ASR vault reports it: configuration servers (VMware fabrics)
//! with their process servers, master targets and discovered vCenters; protected
//! items; recovery plans; policies.
//!
//! Field names follow ASR's own (`protectionState`, `allowedOperations`, …). Free
//! strings of the API (states, operations, OS types) are kept verbatim: rules match
//! them case-insensitively and report unknown values instead of guessing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything discovered from one Recovery Services vault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VaultInventory {
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
    /// VMware fabrics, one per configuration server.
    pub fabrics: Vec<Fabric>,
    pub protected_items: Vec<ProtectedItem>,
    pub recovery_plans: Vec<RecoveryPlan>,
    pub policies: Vec<Policy>,
}

/// A replication fabric of type VMware: one configuration server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fabric {
    /// Full ARM id.
    pub id: String,
    /// The ARM resource name (`cs01`).
    pub name: String,
    pub friendly_name: String,
    pub ip_address: Option<String>,
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub process_servers: Vec<ProcessServer>,
    pub master_targets: Vec<MasterTarget>,
    pub run_as_accounts: Vec<RunAsAccount>,
    /// vCenters discovered by this configuration server (`replicationvCenters`).
    pub vcenters: Vec<DiscoveredVcenter>,
    /// Protection containers of the fabric, by ARM id.
    pub protection_containers: Vec<String>,
    pub health_errors: Vec<HealthError>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessServer {
    pub id: String,
    pub friendly_name: String,
    pub ip_address: Option<String>,
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// `Normal`, `Warning`, `Critical` (ASR's `ProtectionHealth`), when reported.
    pub health: Option<String>,
    pub health_errors: Vec<HealthError>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MasterTarget {
    pub id: String,
    pub name: String,
    /// `Windows` or `Linux`.
    pub os_type: String,
    pub ip_address: Option<String>,
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub disk_count: Option<u32>,
    pub retention_volumes: Vec<RetentionVolume>,
    /// Datastores the master target sees (symbolic name and type).
    pub datastores: Vec<MasterTargetDatastore>,
    pub validation_errors: Vec<HealthError>,
    pub health_errors: Vec<HealthError>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionVolume {
    pub volume_name: String,
    pub capacity_bytes: Option<u64>,
    pub free_space_bytes: Option<u64>,
    pub threshold_percentage: Option<u32>,
    /// `NTFS`, `ext4`, `FAT32`, … when reported (FB109 refuses FAT and FAT32).
    #[serde(default)]
    pub file_system: Option<String>,
    /// Whether the volume is also the master target's cache/install volume (FB109).
    #[serde(default)]
    pub is_cache_volume: Option<bool>,
    /// Whether the volume is locked (FB109).
    #[serde(default)]
    pub locked: Option<bool>,
    /// What else the volume serves (`replication-target`, …), `None` when nothing
    /// else or not reported (FB109).
    #[serde(default)]
    pub in_use_for: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MasterTargetDatastore {
    pub symbolic_name: String,
    pub uuid: Option<String>,
    /// `VMFS`, `NFS`, `vsan`, as the configuration server reports it.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunAsAccount {
    pub account_id: String,
    pub account_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredVcenter {
    pub id: String,
    pub friendly_name: String,
    pub ip_address: Option<String>,
    pub discovery_status: Option<String>,
    pub last_heartbeat: Option<DateTime<Utc>>,
}

/// A replication protected item (one machine).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProtectedItem {
    pub id: String,
    pub name: String,
    pub friendly_name: String,
    /// The fabric (ARM name) the item belongs to.
    pub fabric: String,
    /// The protection container's ARM id.
    pub protection_container: String,
    /// `UnplannedFailoverCommitted`, `Protected`, … (free string).
    pub protection_state: String,
    pub protection_state_description: Option<String>,
    /// `Primary` or `Recovery`.
    pub active_location: Option<String>,
    pub allowed_operations: Vec<String>,
    /// `Normal`, `Warning`, `Critical`.
    pub replication_health: Option<String>,
    pub health_errors: Vec<HealthError>,
    pub policy_id: Option<String>,
    /// `InMageAzureV2` (forward, to Azure) or `InMage` (reverse, to on-premises).
    pub instance_type: Option<String>,
    /// `Windows` or `Linux`.
    pub os_type: Option<String>,
    pub os_name: Option<String>,
    /// `VMware` or `Physical`, from the discovery type.
    pub machine_type: Option<String>,
    pub disk_count: Option<u32>,
    /// The on-premises VM's name as vCenter knows it, when the item maps to one.
    pub vm_name: Option<String>,
    /// The multi-VM consistency group the item belongs to.
    pub replication_group: Option<String>,
    pub ip_address: Option<String>,
    /// Whether the on-premises machine had a static IP address (FB123), when known.
    #[serde(default)]
    pub static_ip: Option<bool>,
    /// The agent's last heartbeat to the configuration server; `None` when the
    /// agent has not registered.
    pub agent_last_heartbeat: Option<DateTime<Utc>>,
    /// Reverse-replication details, once reprotected: the values ASR is using.
    pub reverse: Option<ReverseReplication>,
}

/// What a protected item replicates through in the reverse direction (InMage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReverseReplication {
    pub master_target_id: Option<String>,
    pub process_server_id: Option<String>,
    pub retention_volume: Option<String>,
    pub datastore: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecoveryPlan {
    pub id: String,
    pub name: String,
    pub friendly_name: String,
    /// Protected item ARM ids of the plan's members, in group order.
    pub members: Vec<String>,
    pub allowed_operations: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub friendly_name: String,
    /// `InMage` (failback) or `InMageAzureV2` (forward).
    pub instance_type: String,
    pub rpo_threshold_minutes: Option<u32>,
    pub recovery_point_history_minutes: Option<u32>,
    pub app_consistent_frequency_minutes: Option<u32>,
    pub multi_vm_sync_status: Option<String>,
}

/// ASR's `HealthError`, reduced to what an operator acts on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthError {
    pub code: String,
    pub message: String,
    /// `Error`, `Warning`.
    pub level: Option<String>,
    pub possible_causes: Option<String>,
    pub recommended_action: Option<String>,
}

impl VaultInventory {
    pub fn fabric(&self, name: &str) -> Option<&Fabric> {
        self.fabrics.iter().find(|fabric| fabric.name == name)
    }

    pub fn protected_item(&self, name: &str) -> Option<&ProtectedItem> {
        self.protected_items.iter().find(|item| item.name == name)
    }
}
