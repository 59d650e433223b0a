//! Serde models of the ARM JSON that the provider reads and sends: the parts of
//! fabrics (VMware configuration servers), vCenters, protection containers,
//! protected items, recovery plans, policies and jobs that the rules and the
//! reprotect need, and the `InMage` reprotect input.
//!
//! Unknown fields are ignored. Polymorphic `instanceType` objects are read as one
//! flat struct whose `instance_type` keeps the string verbatim, so a type this tool
//! does not know stays visible instead of failing the whole discovery. Free strings
//! of the API (states, operations) stay strings; see [`eq_ci`]. Dates and counters
//! are read leniently (ASR sends some counters as strings and some dates without a
//! zone).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Case-insensitive comparison for ASR's free strings.
pub fn eq_ci(left: &str, right: &str) -> bool {
    left.eq_ignore_ascii_case(right)
}

/// One page of an ARM list.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(default)]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmHealthError {
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub summary_message: Option<String>,
    pub error_level: Option<String>,
    pub possible_causes: Option<String>,
    pub recommended_action: Option<String>,
}

// ---------------------------------------------------------------- fabrics

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmFabric {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub properties: FabricProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FabricProperties {
    pub friendly_name: Option<String>,
    pub custom_details: Option<FabricCustomDetails>,
    pub health_error_details: Vec<ArmHealthError>,
    pub health: Option<String>,
}

/// `FabricSpecificDetails`; the fields are those of `VMwareDetails` (instance type
/// `VMware`), empty for other instance types.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FabricCustomDetails {
    pub instance_type: String,
    pub process_servers: Vec<ArmProcessServer>,
    pub master_target_servers: Vec<ArmMasterTarget>,
    pub run_as_accounts: Vec<ArmRunAsAccount>,
    pub ip_address: Option<String>,
    pub host_name: Option<String>,
    #[serde(deserialize_with = "lenient_datetime")]
    pub last_heartbeat: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmProcessServer {
    pub id: String,
    pub friendly_name: Option<String>,
    pub ip_address: Option<String>,
    #[serde(deserialize_with = "lenient_datetime")]
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub health: Option<String>,
    pub health_errors: Vec<ArmHealthError>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmMasterTarget {
    pub id: String,
    pub name: Option<String>,
    pub os_type: Option<String>,
    pub ip_address: Option<String>,
    #[serde(deserialize_with = "lenient_datetime")]
    pub last_heartbeat: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_u64")]
    pub disk_count: Option<u64>,
    pub retention_volumes: Vec<ArmRetentionVolume>,
    pub data_stores: Vec<ArmDataStore>,
    pub validation_errors: Vec<ArmHealthError>,
    pub health_errors: Vec<ArmHealthError>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmRetentionVolume {
    pub volume_name: String,
    #[serde(deserialize_with = "lenient_u64")]
    pub capacity_in_bytes: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub free_space_in_bytes: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub threshold_percentage: Option<u64>,
    /// Not in the schema (the configuration server knows them); read when a
    /// service reports them, for FB109.
    pub file_system: Option<String>,
    pub is_cache_volume: Option<bool>,
    #[serde(alias = "isLocked")]
    pub locked: Option<bool>,
    pub in_use_for: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmDataStore {
    pub symbolic_name: String,
    pub uuid: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmRunAsAccount {
    pub account_id: String,
    pub account_name: String,
}

// ---------------------------------------------------------------- vCenters, containers

#[derive(Debug, Clone, Deserialize)]
pub struct ArmVcenter {
    pub id: String,
    #[serde(default)]
    pub properties: VcenterProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VcenterProperties {
    pub friendly_name: Option<String>,
    pub ip_address: Option<String>,
    pub discovery_status: Option<String>,
    #[serde(deserialize_with = "lenient_datetime")]
    pub last_heartbeat: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ArmResource {
    pub id: String,
}

// ---------------------------------------------------------------- protected items

#[derive(Debug, Clone, Deserialize)]
pub struct ArmProtectedItem {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub properties: ProtectedItemProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProtectedItemProperties {
    pub friendly_name: Option<String>,
    pub protection_state: Option<String>,
    pub protection_state_description: Option<String>,
    pub active_location: Option<String>,
    pub allowed_operations: Vec<String>,
    pub replication_health: Option<String>,
    pub health_errors: Vec<ArmHealthError>,
    pub policy_id: Option<String>,
    pub current_scenario: Option<CurrentScenario>,
    pub provider_specific_details: Option<ItemProviderDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CurrentScenario {
    pub scenario_name: Option<String>,
    pub job_id: Option<String>,
}

impl CurrentScenario {
    /// The running job's id; ASR reports `…/replicationJobs/None` when idle.
    pub fn running_job_id(&self) -> Option<&str> {
        let id = self.job_id.as_deref()?.trim();
        let name = id.rsplit('/').next().unwrap_or(id);
        (!id.is_empty() && !eq_ci(name, "None")).then_some(id)
    }
}

/// `InMageAzureV2ReplicationDetails` (forward) and `InMageReplicationDetails`
/// (reverse) read through one struct: the fields the tool needs from either.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ItemProviderDetails {
    pub instance_type: String,
    pub os_type: Option<String>,
    pub os_name: Option<String>,
    pub os_details: Option<OsDetails>,
    pub discovery_type: Option<String>,
    pub ip_address: Option<String>,
    #[serde(deserialize_with = "lenient_datetime")]
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub process_server_id: Option<String>,
    pub master_target_id: Option<String>,
    pub multi_vm_group_id: Option<String>,
    pub multi_vm_group_name: Option<String>,
    pub datastores: Vec<String>,
    pub protected_disks: Vec<serde_json::Value>,
    pub protected_managed_disks: Vec<serde_json::Value>,
    pub vm_id: Option<String>,
    pub infrastructure_vm_id: Option<String>,
    /// The retention volume of an `InMage` (reverse) item; not in the schema, read
    /// when a service reports it.
    pub retention_drive: Option<String>,
    pub validation_errors: Vec<ArmHealthError>,
    pub vm_nics: Vec<VmNic>,
}

impl ItemProviderDetails {
    /// Whether the primary IP configuration (the first when none is marked) is
    /// static; `None` when no NIC reports an address type.
    pub fn static_ip(&self) -> Option<bool> {
        let configs: Vec<&IpConfig> = self
            .vm_nics
            .iter()
            .flat_map(|nic| nic.ip_configs.iter())
            .filter(|config| config.ip_address_type.is_some())
            .collect();
        let primary = configs
            .iter()
            .find(|config| config.is_primary == Some(true))
            .or_else(|| configs.first())?;
        primary
            .ip_address_type
            .as_deref()
            .map(|kind| eq_ci(kind, "Static"))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VmNic {
    pub ip_configs: Vec<IpConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IpConfig {
    pub is_primary: Option<bool>,
    pub ip_address_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OsDetails {
    pub os_type: Option<String>,
}

// ---------------------------------------------------------------- plans, policies, jobs

#[derive(Debug, Clone, Deserialize)]
pub struct ArmRecoveryPlan {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub properties: RecoveryPlanProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecoveryPlanProperties {
    pub friendly_name: Option<String>,
    pub allowed_operations: Vec<String>,
    pub groups: Vec<RecoveryPlanGroup>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecoveryPlanGroup {
    pub group_type: Option<String>,
    pub replication_protected_items: Vec<RecoveryPlanMember>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecoveryPlanMember {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ArmPolicy {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub properties: PolicyProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyProperties {
    pub friendly_name: Option<String>,
    pub provider_specific_details: Option<PolicyDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyDetails {
    pub instance_type: String,
    #[serde(deserialize_with = "lenient_u64")]
    pub recovery_point_threshold_in_minutes: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub recovery_point_history: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub app_consistent_frequency_in_minutes: Option<u64>,
    pub multi_vm_sync_status: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ArmJob {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub properties: JobProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobProperties {
    pub scenario_name: Option<String>,
    pub friendly_name: Option<String>,
    pub state: Option<String>,
    pub state_description: Option<String>,
    pub tasks: Vec<JobTask>,
    pub errors: Vec<JobErrorDetails>,
    pub target_object_id: Option<String>,
    pub target_object_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobTask {
    pub task_id: Option<String>,
    pub name: Option<String>,
    pub friendly_name: Option<String>,
    pub state: Option<String>,
    pub errors: Vec<JobErrorDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobErrorDetails {
    pub service_error_details: Option<WireServiceError>,
    pub provider_error_details: Option<WireProviderError>,
    pub task_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WireServiceError {
    pub code: Option<String>,
    pub message: Option<String>,
    pub possible_causes: Option<String>,
    pub recommended_action: Option<String>,
    pub activity_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WireProviderError {
    #[serde(deserialize_with = "lenient_string")]
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub possible_causes: Option<String>,
    pub recommended_action: Option<String>,
}

/// ARM's asynchronous operation status (`Azure-AsyncOperation`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OperationStatus {
    pub status: Option<String>,
    pub error: Option<serde_json::Value>,
}

/// The terminal states of an ASR job.
pub fn job_state_is_terminal(state: &str) -> bool {
    [
        "Succeeded",
        "Failed",
        "Cancelled",
        "Canceled",
        "Suspended",
        "CompletedWithInformation",
    ]
    .iter()
    .any(|terminal| eq_ci(state, terminal))
}

pub fn job_state_is_success(state: &str) -> bool {
    eq_ci(state, "Succeeded") || eq_ci(state, "CompletedWithInformation")
}

// ---------------------------------------------------------------- reprotect input

/// `ReverseReplicationInput` with `InMageReprotectInput` provider details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReverseReplicationInput {
    pub properties: ReverseReplicationProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReverseReplicationProperties {
    pub failover_direction: String,
    pub provider_specific_details: InMageReprotectInput,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InMageReprotectInput {
    pub instance_type: String,
    pub master_target_id: String,
    pub process_server_id: String,
    pub retention_drive: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_account_id: Option<String>,
    pub datastore_name: String,
    pub profile_id: String,
    pub disk_exclusion_input: DiskExclusionInput,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskExclusionInput {
    pub volume_options: Vec<serde_json::Value>,
}

// ---------------------------------------------------------------- lenient readers

/// A date-time with or without a zone (`…Z`, `…+00:00`, or a bare local time read
/// as UTC); ASR's "never" (`0001-01-01…`, `1753-01-01…`) and unreadable values are
/// `None`.
fn lenient_datetime<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)?;
    Ok(raw.as_deref().and_then(parse_datetime))
}

pub fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| naive.and_utc())
        })?;
    use chrono::Datelike;
    (parsed.year() > 1900).then_some(parsed)
}

/// A number sent as a number or as a string; anything else is `None`.
fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match raw {
        Some(serde_json::Value::Number(number)) => number
            .as_u64()
            .or_else(|| number.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Some(serde_json::Value::String(text)) => text.trim().parse().ok(),
        _ => None,
    })
}

/// A string sent as a string or as a number.
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match raw {
        Some(serde_json::Value::String(text)) => Some(text),
        Some(serde_json::Value::Number(number)) => Some(number.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_leniently() {
        assert!(parse_datetime("2026-11-26T10:00:00Z").is_some());
        assert!(parse_datetime("2026-11-26T10:00:00.1234567").is_some());
        assert!(parse_datetime("2026-11-26T10:00:00+01:00").is_some());
        assert_eq!(parse_datetime("0001-01-01T00:00:00"), None);
        assert_eq!(parse_datetime("1753-01-01T01:01:01Z"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn counters_as_strings_or_numbers() {
        let volume: ArmRetentionVolume = serde_json::from_str(
            r#"{"volumeName":"R:","capacityInBytes":"1000","freeSpaceInBytes":5,"thresholdPercentage":null}"#,
        )
        .unwrap();
        assert_eq!(volume.capacity_in_bytes, Some(1000));
        assert_eq!(volume.free_space_in_bytes, Some(5));
        assert_eq!(volume.threshold_percentage, None);
    }

    #[test]
    fn static_ip_of_the_primary_configuration() {
        let details: ItemProviderDetails = serde_json::from_str(
            r#"{"instanceType":"InMageAzureV2","vmNics":[{"ipConfigs":[
                {"name":"a","isPrimary":false,"ipAddressType":"Dynamic"},
                {"name":"b","isPrimary":true,"ipAddressType":"static"}]}]}"#,
        )
        .unwrap();
        assert_eq!(details.static_ip(), Some(true));
        let none: ItemProviderDetails =
            serde_json::from_str(r#"{"instanceType":"InMage","vmNics":[]}"#).unwrap();
        assert_eq!(none.static_ip(), None);
    }

    #[test]
    fn idle_scenario_has_no_running_job() {
        let idle = CurrentScenario {
            scenario_name: Some("None".to_owned()),
            job_id: Some("/Subscriptions/x/replicationJobs/None".to_owned()),
        };
        assert_eq!(idle.running_job_id(), None);
        let busy = CurrentScenario {
            scenario_name: Some("ReverseReplication".to_owned()),
            job_id: Some("/Subscriptions/x/replicationJobs/abc".to_owned()),
        };
        assert_eq!(
            busy.running_job_id(),
            Some("/Subscriptions/x/replicationJobs/abc")
        );
    }

    #[test]
    fn reprotect_input_has_asr_field_names() {
        let input = ReverseReplicationInput {
            properties: ReverseReplicationProperties {
                failover_direction: "RecoveryToPrimary".to_owned(),
                provider_specific_details: InMageReprotectInput {
                    instance_type: "InMage".to_owned(),
                    master_target_id: "mt".to_owned(),
                    process_server_id: "ps".to_owned(),
                    retention_drive: "R:".to_owned(),
                    run_as_account_id: None,
                    datastore_name: "ds".to_owned(),
                    profile_id: "/p".to_owned(),
                    disk_exclusion_input: DiskExclusionInput::default(),
                },
            },
        };
        assert_eq!(
            serde_json::to_string(&input).unwrap(),
            r#"{"properties":{"failoverDirection":"RecoveryToPrimary","providerSpecificDetails":{"instanceType":"InMage","masterTargetId":"mt","processServerId":"ps","retentionDrive":"R:","datastoreName":"ds","profileId":"/p","diskExclusionInput":{"volumeOptions":[]}}}}"#
        );
    }

    #[test]
    fn the_published_hyper_v_examples_parse() {
        // Microsoft's published (Hyper-V) examples, copied verbatim from
        // azure-rest-api-specs 2026-05-01: the shared fields must read.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/examples");
        let read = |name: &str| -> serde_json::Value {
            let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
            let example: serde_json::Value = serde_json::from_str(&text).unwrap();
            example["responses"]["200"]["body"].clone()
        };
        let items = read("ReplicationProtectedItems_List.json");
        let page: Page<ArmProtectedItem> = serde_json::from_value(items).unwrap();
        assert!(!page.value.is_empty());
        let item = &page.value[0].properties;
        assert!(item.protection_state.is_some());
        let fabrics: Page<ArmFabric> =
            serde_json::from_value(read("ReplicationFabrics_List.json")).unwrap();
        assert!(
            !fabrics.value[0]
                .properties
                .custom_details
                .as_ref()
                .unwrap()
                .instance_type
                .is_empty()
        );
        let plans: Page<ArmRecoveryPlan> =
            serde_json::from_value(read("ReplicationRecoveryPlans_List.json")).unwrap();
        assert!(!plans.value.is_empty());
        let job: ArmJob = serde_json::from_value(read("ReplicationJobs_Get.json")).unwrap();
        assert!(job.properties.state.is_some());
        let policies: Page<ArmPolicy> =
            serde_json::from_value(read("ReplicationPolicies_List.json")).unwrap();
        assert!(!policies.value.is_empty());
    }
}
