//! The JSON shape of a replication protected item: forward (`InMageAzureV2`, VMware →
//! Azure) until reprotect succeeds, reverse (`InMage`, Azure → on-premises) after.
//!
//! The estate's `vm` travels as `infrastructureVmId` (the VM as the configuration
//! server's vCenter inventory names it) and its BIOS UUID as `vmId`; `static_ip` as the
//! primary NIC's `ipConfigs[].ipAddressType` (`Static`/`Dynamic`); `replication_group`
//! as `multiVmGroupName`. No property outside the swagger is ever added.

use serde_json::{Value, json};

use super::clock::arm_time;
use super::shapes::{AGENT_VERSION, GIB, component_ip, health_error, os_name};
use super::world::{ItemState, World, stable_guid};

/// `currentScenario` when nothing runs, as ASR reports it (examples: job `None`,
/// start `1753-01-01T01:01:01Z`).
fn idle_scenario(world: &World) -> Value {
    json!({
        "scenarioName": "None",
        "jobId": world.ids.job_id("None"),
        "startTime": "1753-01-01T01:01:01Z",
    })
}

pub fn protected_item(world: &World, index: usize) -> Value {
    let item = &world.items[index];
    let fabric_name = &item.estate.fabric;
    let fabric = world.fabric(fabric_name);
    let fabric_friendly = fabric
        .map(|f| f.estate.friendly_name.clone())
        .unwrap_or_else(|| fabric_name.clone());
    let replication_health = item.replication_health.clone().unwrap_or_else(|| {
        if item.issues.iter().any(|i| i.level == "Error") {
            "Critical".to_owned()
        } else if item.issues.is_empty() {
            "Normal".to_owned()
        } else {
            "Warning".to_owned()
        }
    });
    let current_scenario = match item.current_job.as_deref().and_then(|j| world.job(j)) {
        Some(job) => json!({
            "scenarioName": "ReverseReplication",
            "jobId": world.ids.job_id(&job.name),
            "startTime": arm_time(job.started),
        }),
        None => idle_scenario(world),
    };
    let (policy_id, policy_name) = match &item.reverse {
        Some(reverse) => (
            reverse.policy_id.clone(),
            world
                .policy_by_id(&reverse.policy_id)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
        ),
        None => world
            .forward_policy()
            .map(|p| (world.ids.policy_id(&p.name), p.name.clone()))
            .unwrap_or_default(),
    };
    let details = match &item.reverse {
        Some(_) => reverse_details(world, item),
        None => forward_details(world, item),
    };
    json!({
        "id": world.ids.item_id(fabric_name, item.name()),
        "name": item.name(),
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems",
        "properties": {
            "friendlyName": item.estate.friendly_name,
            "protectedItemType": if item.estate.machine_type.eq_ignore_ascii_case("Physical") {
                "PhysicalMachine"
            } else {
                "VMwareVirtualMachine"
            },
            "protectableItemId": format!(
                "{}/replicationProtectableItems/{}",
                world.ids.container_id(fabric_name),
                item.name()
            ),
            "primaryFabricFriendlyName": fabric_friendly,
            "primaryFabricProvider": "VMware",
            "recoveryFabricFriendlyName": "Microsoft Azure",
            "recoveryFabricId": "Microsoft Azure",
            "primaryProtectionContainerFriendlyName": fabric_friendly,
            "recoveryProtectionContainerFriendlyName": "Microsoft Azure",
            "protectionState": item.protection_state,
            "protectionStateDescription": item.protection_state_description,
            "activeLocation": item.active_location,
            "testFailoverState": "None",
            "testFailoverStateDescription": "None",
            "allowedOperations": item.allowed_operations,
            "replicationHealth": replication_health,
            "failoverHealth": "Normal",
            "healthErrors": item.issues.iter().map(health_error).collect::<Vec<_>>(),
            "policyId": policy_id,
            "policyFriendlyName": policy_name,
            "currentScenario": current_scenario,
            "providerSpecificDetails": details,
        }
    })
}

/// The BIOS UUID of the item's VM when the vCenter half knows it, else a stable id.
fn vm_id(world: &World, item: &ItemState) -> String {
    item.estate
        .vm
        .as_deref()
        .and_then(|vm| world.vcenter.vms.iter().find(|v| v.name == vm))
        .and_then(|vm| vm.bios_uuid.clone())
        .unwrap_or_else(|| stable_guid(&["vm", item.name()]))
}

fn nics(world: &World, item: &ItemState) -> Value {
    let ip = component_ip(&item.estate.fabric, item.name());
    let mut config = json!({
        "name": "ipconfig1",
        "isPrimary": true,
        "subnetName": "default",
        "ipAddressType": if item.estate.static_ip { "Static" } else { "Dynamic" },
    });
    if item.estate.static_ip {
        config["staticIPAddress"] = json!(ip);
    }
    let _ = world;
    json!([{
        "nicId": stable_guid(&["nic", item.name()]),
        "vMNetworkName": "VM Network",
        "ipConfigs": [config],
        "selectionType": "SelectedByUser",
    }])
}

fn agent_heartbeat(world: &World, item: &ItemState) -> Option<String> {
    (item.agent_registered_at <= world.now()).then(|| arm_time(item.agent_registered_at))
}

fn forward_details(world: &World, item: &ItemState) -> Value {
    let fabric = world.fabric(&item.estate.fabric);
    let ps = fabric.and_then(|f| f.forward_process_server());
    let disks: Vec<Value> = (0..item.estate.disk_count)
        .map(|n| {
            json!({
                "diskId": stable_guid(&["disk", item.name(), &n.to_string()]),
                "diskName": format!("{}_disk{n}", item.estate.friendly_name),
                "protectionStage": "Protected",
                "rpoInSeconds": 0,
                "resyncRequired": "false",
                "resyncProgressPercentage": 100,
                "diskCapacityInBytes": 64 * GIB,
            })
        })
        .collect();
    let mut details = json!({
        "instanceType": "InMageAzureV2",
        "vmId": vm_id(world, item),
        "protectionStage": "Protected",
        "vmProtectionState": "FailedOver",
        "vmProtectionStateDescription": "Failed over",
        "resyncProgressPercentage": 100,
        "ipAddress": component_ip(&item.estate.fabric, item.name()),
        "agentVersion": AGENT_VERSION,
        "isAgentUpdateRequired": "false",
        "isRebootAfterUpdateRequired": "false",
        "protectedDisks": disks,
        "diskResized": "false",
        "sourceVmCpuCount": 2,
        "sourceVmRamSizeInMB": 4096,
        "osType": os_name(item.estate.os_type),
        "recoveryAzureVMName": item.estate.friendly_name,
        "recoveryAzureVMSize": "Standard_D2s_v3",
        "vmNics": nics(world, item),
        "discoveryType": if item.estate.machine_type.eq_ignore_ascii_case("Physical") {
            "Physical"
        } else {
            "vCenter"
        },
        "useManagedDisks": "true",
        "validationErrors": [],
        "isAdditionalStatsAvailable": false,
        "targetVmId": stable_guid(&["azure-vm", item.name()]),
    });
    if let Some(vm) = &item.estate.vm {
        details["infrastructureVmId"] = json!(vm);
    }
    if let Some(vcenter) = fabric.and_then(|f| f.estate.vcenters.first()) {
        details["vCenterInfrastructureId"] = json!(stable_guid(&[
            "vcenter-infra",
            &item.estate.fabric,
            vcenter
        ]));
    }
    if let Some(ps) = ps {
        details["processServerId"] = json!(ps.id);
        details["processServerName"] = json!(ps.name);
    }
    if let Some(heartbeat) = agent_heartbeat(world, item) {
        details["lastHeartbeat"] = json!(heartbeat);
    }
    if let Some(group) = &item.estate.replication_group {
        details["multiVmGroupId"] = json!(stable_guid(&["group", group]));
        details["multiVmGroupName"] = json!(group);
        details["multiVmSyncStatus"] = json!("Enabled");
    } else {
        details["multiVmSyncStatus"] = json!("Disabled");
    }
    if let Some(os) = &item.estate.os_name {
        details["osName"] = json!(os);
        details["osVersion"] = json!(os);
    }
    details
}

fn reverse_details(world: &World, item: &ItemState) -> Value {
    let Some(reverse) = &item.reverse else {
        return json!({"instanceType": "InMage"});
    };
    let now = world.now();
    let disks: Vec<Value> = (0..item.estate.disk_count)
        .map(|n| {
            json!({
                "diskId": stable_guid(&["disk", item.name(), &n.to_string()]),
                "diskName": format!("{}_disk{n}", item.estate.friendly_name),
                "protectionStage": "Resynchronization",
                "rpoInSeconds": 0,
                "resyncRequired": "false",
                "resyncProgressPercentage": 0,
                "diskCapacityInBytes": 64 * GIB,
            })
        })
        .collect();
    let mut details = json!({
        "instanceType": "InMage",
        "activeSiteType": "Azure",
        "sourceVmCpuCount": 2,
        "sourceVmRamSizeInMB": 4096,
        "osDetails": {"osType": os_name(item.estate.os_type)},
        "protectionStage": "Resynchronization",
        "vmId": vm_id(world, item),
        "vmProtectionState": "Protected",
        "vmProtectionStateDescription": "Protected",
        "resyncDetails": {
            "initialReplicationType": "InitialReplication",
            "initialReplicationProgressPercentage": "0",
        },
        "retentionWindowStart": arm_time(now),
        "retentionWindowEnd": arm_time(now),
        "rpoInSeconds": 0,
        "protectedDisks": disks,
        "ipAddress": component_ip(&item.estate.fabric, item.name()),
        "processServerId": reverse.process_server_id,
        "masterTargetId": reverse.master_target_id,
        "diskResized": "false",
        "agentDetails": {"agentVersion": AGENT_VERSION, "agentUpdateStatus": "NotRequired"},
        "vmNics": nics(world, item),
        "discoveryType": if item.estate.machine_type.eq_ignore_ascii_case("Physical") {
            "Physical"
        } else {
            "vCenter"
        },
        "datastores": reverse.datastore_name.iter().collect::<Vec<_>>(),
        "validationErrors": [],
        "isAdditionalStatsAvailable": false,
    });
    if let Some(vm) = &item.estate.vm {
        details["infrastructureVmId"] = json!(vm);
    }
    if let Some(heartbeat) = agent_heartbeat(world, item) {
        details["lastHeartbeat"] = json!(heartbeat);
    }
    if let Some(group) = &item.estate.replication_group {
        details["multiVmGroupId"] = json!(stable_guid(&["group", group]));
        details["multiVmGroupName"] = json!(group);
        details["multiVmSyncStatus"] = json!("Enabled");
    }
    if let Some(os) = &item.estate.os_name {
        details["osVersion"] = json!(os);
    }
    details
}
