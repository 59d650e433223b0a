//! JSON shapes of the vault's resources (fabrics, vCenters, containers, policies,
//! recovery plans), built from the live [`World`] in Microsoft's published structure
//! (`shared/asr-api/`). Protected items and jobs have their own modules
//! ([`super::item_shape`], [`super::jobs`]).
//!
//! Only properties the swagger defines appear. Estate facts the schema has no field for
//! travel through the schema's own fields (see `docs/simulator.md`): retention-volume
//! problems become master-target `validationErrors`, stale heartbeats become
//! `healthErrors` and a `Critical` health.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::clock::arm_time;
use super::world::{FabricState, HealthIssue, World, container_name, stable_guid};
use crate::estate::{self, OsType};

/// A heartbeat older than this is a lost connection (ASR raises its health error after
/// 15 minutes without a heartbeat).
pub const HEARTBEAT_STALE_AFTER: TimeDelta = TimeDelta::minutes(15);

pub const GIB: u64 = 1024 * 1024 * 1024;

/// Agent version the simulated configuration server and its components report.
pub const AGENT_VERSION: &str = "9.62.7172.1";

pub fn os_name(os: OsType) -> &'static str {
    match os {
        OsType::Windows => "Windows",
        OsType::Linux => "Linux",
    }
}

/// ASR's `HealthError`.
pub fn health_error(issue: &HealthIssue) -> Value {
    json!({
        "innerHealthErrors": [],
        "errorSource": issue.source,
        "errorType": issue.category,
        "errorLevel": issue.level,
        "errorCategory": issue.category,
        "errorCode": issue.code,
        "summaryMessage": issue.message,
        "errorMessage": issue.message,
        "possibleCauses": issue.causes,
        "recommendedAction": issue.action,
        "creationTimeUtc": arm_time(issue.at),
        "recoveryProviderErrorMessage": "",
        "entityId": issue.entity_id,
        "errorId": stable_guid(&["health", &issue.entity_id, &issue.code, &issue.message]),
        "customerResolvability": "Allowed",
    })
}

/// The health error a component gets when its heartbeat is older than
/// [`HEARTBEAT_STALE_AFTER`].
pub fn stale_heartbeat(
    kind: &str,
    name: &str,
    entity_id: &str,
    last: DateTime<Utc>,
) -> HealthIssue {
    HealthIssue {
        code: format!("{}HeartbeatMissing", pascal_case(kind)),
        source: name.to_owned(),
        category: "FabricInfrastructure".to_owned(),
        level: "Error".to_owned(),
        message: format!(
            "The {} '{name}' has not sent a heartbeat to the configuration server since {}.",
            kind.to_lowercase(),
            arm_time(last)
        ),
        causes: format!(
            "The {} is switched off, its services are stopped, or it cannot reach the configuration server on port 443.",
            kind.to_lowercase()
        ),
        action: format!(
            "Check that the {} is running and can reach the configuration server on port 443.",
            kind.to_lowercase()
        ),
        entity_id: entity_id.to_owned(),
        at: last + HEARTBEAT_STALE_AFTER,
    }
}

/// `Process server` → `ProcessServer`.
fn pascal_case(words: &str) -> String {
    words
        .split_whitespace()
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn is_stale(now: DateTime<Utc>, last: DateTime<Utc>) -> bool {
    now - last > HEARTBEAT_STALE_AFTER
}

/// Problems with a retention volume that the estate records and the schema has no field
/// for: they appear as the master target's `validationErrors`, as the configuration
/// server reports unusable volumes.
pub fn retention_volume_issues(mt: &estate::MasterTarget, at: DateTime<Utc>) -> Vec<HealthIssue> {
    let mut issues = Vec::new();
    for volume in &mt.retention_volumes {
        let mut problem = |code: &str, what: String, action: &str| {
            issues.push(HealthIssue {
                code: code.to_owned(),
                source: mt.name.clone(),
                category: "Configuration".to_owned(),
                level: "Warning".to_owned(),
                message: format!(
                    "The retention volume '{}' on master target '{}' {what}.",
                    volume.name, mt.name
                ),
                causes: what.clone(),
                action: action.to_owned(),
                entity_id: mt.id.clone(),
                at,
            });
        };
        if let Some(fs) = &volume.file_system
            && (fs.eq_ignore_ascii_case("FAT") || fs.eq_ignore_ascii_case("FAT32"))
        {
            problem(
                "RetentionVolumeUnsupportedFileSystem",
                format!("is formatted {fs}, which cannot hold retention data"),
                "Format the retention volume with NTFS (Windows) or ext4 (Linux).",
            );
        }
        if volume.is_cache_volume {
            problem(
                "RetentionVolumeIsCacheVolume",
                "is the master target's cache/installation volume".to_owned(),
                "Add a separate disk for retention to the master target.",
            );
        }
        if volume.locked {
            problem(
                "RetentionVolumeLocked",
                "is locked".to_owned(),
                "Unlock the volume or choose another retention volume.",
            );
        }
        if let Some(use_for) = &volume.in_use_for {
            problem(
                "RetentionVolumeInUse",
                format!("is already used as {use_for}"),
                "Use a volume that serves nothing but retention.",
            );
        }
        if volume.capacity_gb == 0 {
            problem(
                "RetentionVolumeNoCapacity",
                "has no capacity".to_owned(),
                "Add a formatted disk with capacity for retention.",
            );
        }
    }
    issues
}

fn process_server(world: &World, fabric: &FabricState, index: usize) -> Value {
    let now = world.now();
    let ps = &fabric.estate.process_servers[index];
    let last = fabric.process_server_heartbeats[index].last;
    let mut issues: Vec<HealthIssue> = ps
        .health_errors
        .iter()
        .map(|message| HealthIssue {
            code: "ProcessServerHealthError".to_owned(),
            source: ps.name.clone(),
            category: "FabricInfrastructure".to_owned(),
            level: "Error".to_owned(),
            message: message.clone(),
            causes: String::new(),
            action: String::new(),
            entity_id: ps.id.clone(),
            at: world.clock.epoch(),
        })
        .collect();
    issues.extend(
        fabric
            .process_server_issues
            .get(&ps.id)
            .into_iter()
            .flatten()
            .cloned(),
    );
    if is_stale(now, last) {
        issues.push(stale_heartbeat("Process server", &ps.name, &ps.id, last));
    }
    let health = if issues.iter().any(|i| i.level == "Error") {
        "Critical"
    } else if issues.is_empty() {
        "Normal"
    } else {
        "Warning"
    };
    let machines = world
        .items
        .iter()
        .filter(|i| i.estate.fabric.eq_ignore_ascii_case(fabric.name()))
        .count();
    json!({
        "friendlyName": ps.name,
        "id": ps.id,
        "ipAddress": component_ip(fabric.name(), &ps.id),
        "osType": "Windows",
        "agentVersion": AGENT_VERSION,
        "lastHeartbeat": arm_time(last),
        "versionStatus": "Supported",
        "mobilityServiceUpdates": [],
        "hostId": stable_guid(&["ps-host", &ps.id]),
        "machineCount": machines.to_string(),
        "replicationPairCount": machines.to_string(),
        "systemLoad": "1",
        "systemLoadStatus": "Healthy",
        "cpuLoad": "12",
        "cpuLoadStatus": "Healthy",
        "totalMemoryInBytes": 16 * GIB,
        "availableMemoryInBytes": 9 * GIB,
        "memoryUsageStatus": "Healthy",
        "totalSpaceInBytes": 600 * GIB,
        "availableSpaceInBytes": 410 * GIB,
        "spaceUsageStatus": "Healthy",
        "psServiceStatus": if is_stale(now, last) { "Stopped" } else { "Running" },
        "osVersion": "Windows Server 2016",
        "healthErrors": issues.iter().map(health_error).collect::<Vec<_>>(),
        "agentVersionDetails": {"version": AGENT_VERSION, "status": "Supported"},
        "health": health,
    })
}

fn master_target(world: &World, fabric: &FabricState, index: usize) -> Value {
    let now = world.now();
    let mt = &fabric.estate.master_targets[index];
    let last = fabric.master_target_heartbeats[index].last;
    let mut health = Vec::new();
    if is_stale(now, last) {
        health.push(stale_heartbeat("Master target", &mt.name, &mt.id, last));
    }
    let validation = retention_volume_issues(mt, world.clock.epoch());
    json!({
        "id": mt.id,
        "ipAddress": component_ip(fabric.name(), &mt.id),
        "name": mt.name,
        "osType": os_name(mt.os_type),
        "agentVersion": AGENT_VERSION,
        "lastHeartbeat": arm_time(last),
        "versionStatus": "Supported",
        "retentionVolumes": mt.retention_volumes.iter().map(|v| json!({
            "volumeName": v.name,
            "capacityInBytes": v.capacity_gb.saturating_mul(GIB),
            "freeSpaceInBytes": v.free_gb.saturating_mul(GIB),
            "thresholdPercentage": v.threshold_percent,
        })).collect::<Vec<_>>(),
        "dataStores": mt.datastores.iter().map(|name| datastore(world, name)).collect::<Vec<_>>(),
        "validationErrors": validation.iter().map(health_error).collect::<Vec<_>>(),
        "healthErrors": health.iter().map(health_error).collect::<Vec<_>>(),
        "diskCount": mt.disk_count,
        "osVersion": match mt.os_type {
            OsType::Windows => "Windows Server 2016",
            OsType::Linux => "CentOS 7",
        },
        "agentVersionDetails": {"version": AGENT_VERSION, "status": "Supported"},
    })
}

/// A datastore as the configuration server reports it for a master target: sizes from
/// the vCenter half of the estate (GB, as strings), `VMFS` when vCenter does not know it.
fn datastore(world: &World, name: &str) -> Value {
    let known = world.vcenter.datastores.iter().find(|d| d.name == name);
    let (capacity, free, kind) = match known {
        Some(ds) => (
            ds.capacity_gb.to_string(),
            ds.free_gb.to_string(),
            match ds.kind {
                estate::DatastoreKind::Vmfs => "VMFS",
                estate::DatastoreKind::Nfs => "NFS",
                estate::DatastoreKind::Nfs41 => "NFS41",
                estate::DatastoreKind::Vsan => "vsan",
            },
        ),
        None => ("0".to_owned(), "0".to_owned(), "VMFS"),
    };
    json!({
        "symbolicName": name,
        "uuid": stable_guid(&["datastore", name]),
        "capacity": capacity,
        "freeSpace": free,
        "type": kind,
    })
}

/// A stable private address for a component that the estate gives none.
pub fn component_ip(fabric: &str, id: &str) -> String {
    let guid = stable_guid(&["ip", fabric, id]);
    let bytes = guid.as_bytes();
    format!(
        "10.{}.{}.{}",
        10 + bytes[0] % 10,
        bytes[1] % 250,
        10 + bytes[2] % 200
    )
}

pub fn fabric(world: &World, fabric: &FabricState) -> Value {
    let now = world.now();
    let cs = &fabric.estate;
    let fabric_id = world.ids.fabric_id(fabric.name());
    let mut issues = Vec::new();
    if is_stale(now, fabric.heartbeat.last) {
        issues.push(stale_heartbeat(
            "Configuration server",
            &cs.friendly_name,
            &fabric_id,
            fabric.heartbeat.last,
        ));
    }
    let process_servers: Vec<Value> = (0..cs.process_servers.len())
        .map(|i| process_server(world, fabric, i))
        .collect();
    let ps_critical = process_servers.iter().any(|ps| ps["health"] == "Critical");
    let health = if !issues.is_empty() {
        "Critical"
    } else if ps_critical {
        "Warning"
    } else {
        "Normal"
    };
    let agents = world
        .items
        .iter()
        .filter(|i| i.estate.fabric.eq_ignore_ascii_case(fabric.name()))
        .count();
    json!({
        "id": fabric_id,
        "name": fabric.name(),
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics",
        "properties": {
            "friendlyName": cs.friendly_name,
            "encryptionDetails": {"kekState": "None"},
            "rolloverEncryptionDetails": {"kekState": "None"},
            "internalIdentifier": stable_guid(&["fabric", fabric.name()]),
            "bcdrState": "Valid",
            "customDetails": {
                "instanceType": "VMware",
                "processServers": process_servers,
                "masterTargetServers": (0..cs.master_targets.len())
                    .map(|i| master_target(world, fabric, i))
                    .collect::<Vec<_>>(),
                "runAsAccounts": cs.run_as_accounts.iter().map(|a| json!({
                    "accountId": a.id,
                    "accountName": a.name,
                })).collect::<Vec<_>>(),
                "replicationPairCount": agents.to_string(),
                "processServerCount": cs.process_servers.len().to_string(),
                "agentCount": agents.to_string(),
                "protectedServers": agents.to_string(),
                "systemLoad": "1",
                "systemLoadStatus": "Healthy",
                "cpuLoad": "10",
                "cpuLoadStatus": "Healthy",
                "totalMemoryInBytes": 16 * GIB,
                "availableMemoryInBytes": 8 * GIB,
                "memoryUsageStatus": "Healthy",
                "totalSpaceInBytes": 1000 * GIB,
                "availableSpaceInBytes": 700 * GIB,
                "spaceUsageStatus": "Healthy",
                "webLoad": "2",
                "webLoadStatus": "Healthy",
                "databaseServerLoad": "3",
                "databaseServerLoadStatus": "Healthy",
                "csServiceStatus": if issues.is_empty() { "Running" } else { "Stopped" },
                "ipAddress": cs.ip_address.clone().unwrap_or_else(|| component_ip(fabric.name(), "cs")),
                "agentVersion": AGENT_VERSION,
                "hostName": cs.friendly_name,
                "lastHeartbeat": arm_time(fabric.heartbeat.last),
                "versionStatus": "Supported",
                "agentVersionDetails": {"version": AGENT_VERSION, "status": "Supported"},
                "switchProviderBlockingErrorDetails": [],
            },
            "healthErrorDetails": issues.iter().map(health_error).collect::<Vec<_>>(),
            "health": health,
        }
    })
}

/// The ARM name of a discovered vCenter (ASR uses the name it was added with).
pub fn vcenter_name(host: &str) -> String {
    host.replace('.', "-")
}

/// The address a configuration server reports for a vCenter it discovered: where the
/// simulated vCenter really listens for the first one it lists, the name otherwise.
fn vcenter_ip_address(world: &World, fabric: &FabricState, host: &str) -> String {
    match &world.vcenter_address {
        Some(address)
            if fabric
                .estate
                .vcenters
                .first()
                .is_some_and(|first| first == host) =>
        {
            address.clone()
        }
        _ => host.to_owned(),
    }
}

pub fn vcenter(world: &World, fabric: &FabricState, host: &str) -> Value {
    let name = vcenter_name(host);
    let ps = fabric
        .estate
        .process_servers
        .iter()
        .find(|ps| ps.location == estate::Location::Onprem)
        .or_else(|| fabric.estate.process_servers.first());
    let mut properties = json!({
        "friendlyName": host,
        "internalId": stable_guid(&["vcenter", fabric.name(), host]),
        "lastHeartbeat": arm_time(fabric.heartbeat.last),
        "discoveryStatus": "Completed",
        "ipAddress": vcenter_ip_address(world, fabric, host),
        "infrastructureId": stable_guid(&["vcenter-infra", fabric.name(), host]),
        "port": "443",
        "fabricArmResourceName": fabric.name(),
        "healthErrors": [],
    });
    if let Some(ps) = ps {
        properties["processServerId"] = json!(ps.id);
    }
    if let Some(account) = fabric.estate.run_as_accounts.first() {
        properties["runAsAccountId"] = json!(account.id);
    }
    json!({
        "id": format!("{}/replicationvCenters/{name}", world.ids.fabric_id(fabric.name())),
        "name": name,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationvCenters",
        "properties": properties,
    })
}

pub fn container(world: &World, fabric: &FabricState) -> Value {
    let count = world
        .items
        .iter()
        .filter(|i| i.estate.fabric.eq_ignore_ascii_case(fabric.name()))
        .count();
    json!({
        "id": world.ids.container_id(fabric.name()),
        "name": container_name(fabric.name()),
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers",
        "properties": {
            "fabricFriendlyName": fabric.estate.friendly_name,
            "friendlyName": fabric.estate.friendly_name,
            "fabricType": "VMware",
            "protectedItemCount": count,
            "pairingStatus": "Paired",
            "role": "Primary",
            "fabricSpecificDetails": {"instanceType": "VMware"},
        }
    })
}

pub fn policy(world: &World, policy: &estate::Policy) -> Value {
    let mut details = json!({
        "instanceType": policy.instance_type,
        "recoveryPointThresholdInMinutes": policy.rpo_threshold_minutes,
        "recoveryPointHistory": policy.recovery_point_history_minutes,
        "appConsistentFrequencyInMinutes": policy.app_consistent_frequency_minutes,
        "multiVmSyncStatus": "Enable",
    });
    if policy.instance_type.eq_ignore_ascii_case("InMageAzureV2") {
        details["crashConsistentFrequencyInMinutes"] = json!(5);
    }
    json!({
        "id": world.ids.policy_id(&policy.name),
        "name": policy.name,
        "type": "Microsoft.RecoveryServices/vaults/replicationPolicies",
        "properties": {
            "friendlyName": policy.name,
            "providerSpecificDetails": details,
        }
    })
}

/// A recovery plan: Shutdown and Failover groups empty, members in one Boot group, as
/// the portal creates a plan. Allowed operations are those every member allows (a plan
/// action applies to all of them).
pub fn recovery_plan(world: &World, plan: &estate::RecoveryPlan) -> Value {
    let members: Vec<usize> = plan
        .members
        .iter()
        .filter_map(|m| world.item_index(m))
        .collect();
    let mut allowed: Vec<String> = members
        .first()
        .map(|&i| world.items[i].allowed_operations.clone())
        .unwrap_or_default();
    allowed.retain(|op| {
        !op.eq_ignore_ascii_case("DisableProtection")
            && members.iter().all(|&i| world.items[i].allows(op))
    });
    let reverse = !members.is_empty() && members.iter().all(|&i| world.items[i].reverse.is_some());
    let primary = members
        .first()
        .map(|&i| world.items[i].estate.fabric.clone());
    let primary_friendly = primary
        .as_deref()
        .and_then(|f| world.fabric(f))
        .map(|f| f.estate.friendly_name.clone())
        .unwrap_or_default();
    let boot: Vec<Value> = members
        .iter()
        .map(|&i| {
            let item = &world.items[i];
            json!({
                "id": world.ids.item_id(&item.estate.fabric, item.name()),
                "virtualMachineId": item.name(),
            })
        })
        .collect();
    let group = |kind: &str, items: Vec<Value>| {
        json!({"groupType": kind, "replicationProtectedItems": items,
               "startGroupActions": [], "endGroupActions": []})
    };
    json!({
        "id": world.ids.plan_id(&plan.name),
        "name": plan.name,
        "type": "Microsoft.RecoveryServices/vaults/replicationRecoveryPlans",
        "properties": {
            "friendlyName": plan.name,
            "primaryFabricId": primary.as_deref().map(|f| world.ids.fabric_id(f)).unwrap_or_default(),
            "primaryFabricFriendlyName": primary_friendly,
            "recoveryFabricId": "Microsoft Azure",
            "recoveryFabricFriendlyName": "Microsoft Azure",
            "failoverDeploymentModel": "ResourceManager",
            "replicationProviders": [if reverse { "InMage" } else { "InMageAzureV2" }],
            "allowedOperations": allowed,
            "groups": [group("Shutdown", vec![]), group("Failover", vec![]), group("Boot", boot)],
            "providerSpecificDetails": [],
        }
    })
}
