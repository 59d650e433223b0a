//! The estate file: one JSON world, an on-premises vCenter and an ASR vault.
//!
//! The fields are a contract (`ESTATE.md`, `docs/estate.md`): unknown or ill-typed
//! fields are rejected with the file, the JSON path and what was expected. Sizes are
//! in GB, durations in seconds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One world: both halves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estate {
    pub vcenter: VcenterEstate,
    pub vault: VaultEstate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcenterEstate {
    pub datacenter: String,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub hosts: Vec<Host>,
    #[serde(default)]
    pub storage_pods: Vec<StoragePod>,
    #[serde(default)]
    pub datastores: Vec<Datastore>,
    #[serde(default)]
    pub vms: Vec<Vm>,
}

fn default_version() -> String {
    "7.0.3".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub privileges: Vec<String>,
    #[serde(default)]
    pub hide_types: Vec<String>,
    /// Permissions set on single VMs, by VM name: there the user holds exactly these
    /// privileges instead of `privileges` (a permission on an object overrides the one
    /// it would inherit, as in vSphere).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vm_privileges: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub name: String,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default = "default_license")]
    pub license_edition: String,
    #[serde(default)]
    pub connection_state: ConnectionState,
}

fn default_license() -> String {
    "esx.enterprisePlus.cpuPackage".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    #[default]
    Connected,
    Disconnected,
    NotResponding,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoragePod {
    pub name: String,
    #[serde(default)]
    pub sdrs_enabled: bool,
    #[serde(default = "default_vm_behavior")]
    pub default_vm_behavior: String,
}

fn default_vm_behavior() -> String {
    "automated".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Datastore {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: DatastoreKind,
    pub capacity_gb: u64,
    pub free_gb: u64,
    #[serde(default)]
    pub storage_pod: Option<String>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatastoreKind {
    #[serde(rename = "VMFS")]
    Vmfs,
    #[serde(rename = "NFS")]
    Nfs,
    #[serde(rename = "NFS41")]
    Nfs41,
    #[serde(rename = "vsan")]
    Vsan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    pub host: String,
    #[serde(default)]
    pub access_mode: AccessMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccessMode {
    #[default]
    ReadWrite,
    ReadOnly,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vm {
    pub name: String,
    pub guest_id: String,
    pub host: String,
    pub datastore: String,
    #[serde(default)]
    pub power_state: PowerState,
    #[serde(default)]
    pub scsi: ScsiKind,
    #[serde(default)]
    pub disks: Vec<Disk>,
    #[serde(default)]
    pub bios_uuid: Option<String>,
    #[serde(default)]
    pub extra_config: BTreeMap<String, String>,
    #[serde(default)]
    pub snapshots: Vec<String>,
    #[serde(default)]
    pub tools_running_status: ToolsRunningStatus,
    #[serde(default)]
    pub sdrs_behavior: SdrsBehavior,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PowerState {
    #[default]
    PoweredOff,
    PoweredOn,
    Suspended,
}

/// The SCSI controller type of a VM, by govc's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScsiKind {
    #[default]
    Lsilogic,
    #[serde(rename = "lsilogic-sas")]
    LsilogicSas,
    Pvscsi,
    Buslogic,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    pub size_gb: u64,
    #[serde(default)]
    pub datastore: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolsRunningStatus {
    #[default]
    GuestToolsRunning,
    GuestToolsNotRunning,
    GuestToolsExecutingScripts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdrsBehavior {
    #[default]
    Default,
    Automated,
    Manual,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultEstate {
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
    #[serde(default)]
    pub configuration_servers: Vec<ConfigurationServer>,
    #[serde(default)]
    pub policies: Vec<Policy>,
    #[serde(default)]
    pub protected_items: Vec<ProtectedItem>,
    #[serde(default)]
    pub recovery_plans: Vec<RecoveryPlan>,
    #[serde(default)]
    pub behaviour: Behaviour,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigurationServer {
    pub fabric: String,
    pub friendly_name: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub vcenters: Vec<String>,
    #[serde(default)]
    pub heartbeat_age_s: u64,
    #[serde(default)]
    pub process_servers: Vec<ProcessServer>,
    #[serde(default)]
    pub master_targets: Vec<MasterTarget>,
    #[serde(default)]
    pub run_as_accounts: Vec<RunAsAccount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessServer {
    pub id: String,
    pub name: String,
    pub location: Location,
    #[serde(default)]
    pub heartbeat_age_s: u64,
    #[serde(default)]
    pub health_errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    Azure,
    Onprem,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterTarget {
    pub id: String,
    pub name: String,
    pub os_type: OsType,
    /// The VM in vCenter that is this master target.
    pub vm: String,
    #[serde(default)]
    pub heartbeat_age_s: u64,
    #[serde(default)]
    pub disk_count: u32,
    #[serde(default)]
    pub retention_volumes: Vec<RetentionVolume>,
    #[serde(default)]
    pub datastores: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OsType {
    Windows,
    Linux,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionVolume {
    pub name: String,
    pub capacity_gb: u64,
    pub free_gb: u64,
    #[serde(default = "default_threshold")]
    pub threshold_percent: u32,
    #[serde(default)]
    pub file_system: Option<String>,
    #[serde(default)]
    pub is_cache_volume: bool,
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub in_use_for: Option<String>,
}

fn default_threshold() -> u32 {
    80
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAsAccount {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub instance_type: String,
    pub rpo_threshold_minutes: u32,
    pub recovery_point_history_minutes: u32,
    pub app_consistent_frequency_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectedItem {
    pub name: String,
    pub friendly_name: String,
    pub fabric: String,
    /// The on-premises VM this item came from; absent for physical servers or when the
    /// VM was deleted.
    #[serde(default)]
    pub vm: Option<String>,
    pub os_type: OsType,
    #[serde(default)]
    pub os_name: Option<String>,
    #[serde(default = "default_machine_type")]
    pub machine_type: String,
    #[serde(default = "one")]
    pub disk_count: u32,
    #[serde(default)]
    pub static_ip: bool,
    pub protection_state: String,
    #[serde(default)]
    pub active_location: Option<String>,
    #[serde(default)]
    pub allowed_operations: Vec<String>,
    #[serde(default)]
    pub replication_group: Option<String>,
    #[serde(default)]
    pub agent_registered_after_s: u64,
    #[serde(default)]
    pub health_errors: Vec<String>,
    /// Optional: the item is already reprotected (replicating Azure → on-premises)
    /// through these; the ASR simulator then serves it with `InMage` details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<ReverseReplication>,
}

/// What an already reprotected item replicates through (ids of its configuration
/// server's master target and process server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReverseReplication {
    pub master_target: String,
    pub process_server: String,
    /// A retention volume name of that master target.
    pub retention_drive: String,
    /// A datastore the master target sees.
    #[serde(default)]
    pub datastore: Option<String>,
    /// The InMage policy's name; the vault's first InMage policy when absent.
    #[serde(default)]
    pub policy: Option<String>,
}

fn default_machine_type() -> String {
    "VMware".to_owned()
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryPlan {
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    #[serde(default = "default_reprotect_job_s")]
    pub reprotect_job_s: f64,
    #[serde(default = "default_recovery_plan_job_s")]
    pub recovery_plan_job_s: f64,
    /// How much faster than real time the simulated clock runs.
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    #[serde(default)]
    pub faults: Faults,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            reprotect_job_s: default_reprotect_job_s(),
            recovery_plan_job_s: default_recovery_plan_job_s(),
            time_scale: default_time_scale(),
            faults: Faults::default(),
        }
    }
}

fn default_reprotect_job_s() -> f64 {
    3.0
}
fn default_recovery_plan_job_s() -> f64 {
    5.0
}
fn default_time_scale() -> f64 {
    1.0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub http_429_rate: f64,
    #[serde(default)]
    pub http_5xx_rate: f64,
    #[serde(default)]
    pub drop_rate: f64,
    #[serde(default)]
    pub failing_jobs: Vec<String>,
}

/// Why an estate file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EstateError {
    #[error("cannot read estate {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: at `{json_path}`: {message}")]
    Invalid {
        path: PathBuf,
        json_path: String,
        message: String,
    },
}

impl Estate {
    /// Reads and checks an estate file.
    pub fn load(path: &Path) -> Result<Estate, EstateError> {
        let text = std::fs::read_to_string(path).map_err(|source| EstateError::Read {
            path: path.to_owned(),
            source,
        })?;
        Estate::from_json(&text).map_err(|(json_path, message)| EstateError::Invalid {
            path: path.to_owned(),
            json_path,
            message,
        })
    }

    /// Parses an estate from JSON text; the error is the JSON path and the message.
    pub fn from_json(text: &str) -> Result<Estate, (String, String)> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer)
            .map_err(|err| (err.path().to_string(), err.inner().to_string()))
    }

    pub fn to_json_pretty(&self) -> String {
        // Serialising plain structs with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_estate_loads() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&examples).unwrap() {
            let path = entry.unwrap().path().join("estate.json");
            if path.exists() {
                Estate::load(&path).unwrap_or_else(|err| panic!("{err}"));
                loaded += 1;
            }
        }
        assert!(loaded >= 3, "only {loaded} example estates found");
    }

    #[test]
    fn unknown_field_names_its_path() {
        let text = r#"{"vcenter": {"datacenter": "DC", "hosts": [{"name": "h", "colour": 1}]},
                       "vault": {"subscription_id": "s", "resource_group": "r", "name": "v"}}"#;
        let (path, message) = Estate::from_json(text).unwrap_err();
        assert_eq!(path, "vcenter.hosts[0].colour");
        assert!(message.contains("unknown field `colour`"), "{message}");
    }

    #[test]
    fn ill_typed_field_names_its_path() {
        let text = r#"{"vcenter": {"datacenter": "DC", "datastores": [{"name": "d", "type": "FAT", "capacity_gb": 1, "free_gb": 1}]},
                       "vault": {"subscription_id": "s", "resource_group": "r", "name": "v"}}"#;
        let (path, message) = Estate::from_json(text).unwrap_err();
        assert_eq!(path, "vcenter.datastores[0].type");
        assert!(message.contains("unknown variant `FAT`"), "{message}");
    }
}
