//! Discovery of a whole Recovery Services vault into a [`VaultInventory`].
//!
//! The number of ARM calls grows with pages, not with items: one list of fabrics,
//! then for each configuration server its vCenters and protection containers (a few
//! configuration servers per vault), and the vault-wide lists of protected items,
//! recovery plans and policies, each followed through `nextLink`. The per-fabric
//! and vault-wide lists run concurrently.

use failback_engine::observe::vault::{
    DiscoveredVcenter, Fabric, HealthError, MasterTarget, MasterTargetDatastore, Policy,
    ProcessServer, ProtectedItem, RecoveryPlan, RetentionVolume, ReverseReplication, RunAsAccount,
    VaultInventory,
};

use crate::VaultRef;
use crate::client::ArmClient;
use crate::error::AsrError;
use crate::models::{
    ArmFabric, ArmHealthError, ArmPolicy, ArmProtectedItem, ArmRecoveryPlan, ArmResource,
    ArmVcenter, eq_ci,
};

/// Reads everything the rules need from the vault.
pub async fn discover_vault(
    client: &ArmClient,
    vault: &VaultRef,
) -> Result<VaultInventory, AsrError> {
    let fabrics: Vec<ArmFabric> = client
        .list_all(client.url(&vault.path("replicationFabrics"))?)
        .await?;
    let configuration_servers: Vec<ArmFabric> = fabrics
        .into_iter()
        .filter(|fabric| {
            let kind = fabric
                .properties
                .custom_details
                .as_ref()
                .map(|details| details.instance_type.as_str())
                .unwrap_or_default();
            let keep = eq_ci(kind, "VMware");
            if !keep {
                tracing::debug!(fabric = %fabric.name, instance_type = kind, "skipping a fabric that is not a VMware configuration server");
            }
            keep
        })
        .collect();

    let per_fabric = futures::future::try_join_all(configuration_servers.iter().map(|fabric| {
        let vcenters_path = vault.path(&format!(
            "replicationFabrics/{}/replicationvCenters",
            fabric.name
        ));
        let containers_path = vault.path(&format!(
            "replicationFabrics/{}/replicationProtectionContainers",
            fabric.name
        ));
        async move {
            let (vcenters, containers) = futures::try_join!(
                async {
                    client
                        .list_all::<ArmVcenter>(client.url(&vcenters_path)?)
                        .await
                },
                async {
                    client
                        .list_all::<ArmResource>(client.url(&containers_path)?)
                        .await
                },
            )?;
            Ok::<_, AsrError>((vcenters, containers))
        }
    }));
    let items = async {
        client
            .list_all::<ArmProtectedItem>(client.url(&vault.path("replicationProtectedItems"))?)
            .await
    };
    let plans = async {
        client
            .list_all::<ArmRecoveryPlan>(client.url(&vault.path("replicationRecoveryPlans"))?)
            .await
    };
    let policies = async {
        client
            .list_all::<ArmPolicy>(client.url(&vault.path("replicationPolicies"))?)
            .await
    };
    let (per_fabric, items, plans, policies) =
        futures::try_join!(per_fabric, items, plans, policies)?;

    let fabrics = configuration_servers
        .into_iter()
        .zip(per_fabric)
        .map(|(fabric, (vcenters, containers))| fabric_of(fabric, vcenters, containers))
        .collect();
    Ok(VaultInventory {
        subscription_id: vault.subscription_id.clone(),
        resource_group: vault.resource_group.clone(),
        name: vault.name.clone(),
        fabrics,
        protected_items: items.into_iter().map(protected_item_of).collect(),
        recovery_plans: plans.into_iter().map(recovery_plan_of).collect(),
        policies: policies.into_iter().map(policy_of).collect(),
    })
}

fn fabric_of(fabric: ArmFabric, vcenters: Vec<ArmVcenter>, containers: Vec<ArmResource>) -> Fabric {
    let properties = fabric.properties;
    let details = properties.custom_details.unwrap_or_default();
    Fabric {
        friendly_name: properties
            .friendly_name
            .unwrap_or_else(|| fabric.name.clone()),
        id: fabric.id,
        name: fabric.name,
        ip_address: details.ip_address,
        last_heartbeat: details.last_heartbeat,
        process_servers: details
            .process_servers
            .into_iter()
            .map(|server| ProcessServer {
                friendly_name: server.friendly_name.unwrap_or_else(|| server.id.clone()),
                id: server.id,
                ip_address: server.ip_address,
                last_heartbeat: server.last_heartbeat,
                health: server.health,
                health_errors: health_errors(server.health_errors),
            })
            .collect(),
        master_targets: details
            .master_target_servers
            .into_iter()
            .map(|target| MasterTarget {
                name: target.name.unwrap_or_else(|| target.id.clone()),
                id: target.id,
                os_type: target.os_type.unwrap_or_default(),
                ip_address: target.ip_address,
                last_heartbeat: target.last_heartbeat,
                disk_count: target
                    .disk_count
                    .and_then(|count| u32::try_from(count).ok()),
                retention_volumes: target
                    .retention_volumes
                    .into_iter()
                    .map(|volume| RetentionVolume {
                        volume_name: volume.volume_name,
                        capacity_bytes: volume.capacity_in_bytes,
                        free_space_bytes: volume.free_space_in_bytes,
                        threshold_percentage: volume
                            .threshold_percentage
                            .and_then(|percent| u32::try_from(percent).ok()),
                        // Not in the schema's RetentionVolume: read when a service
                        // reports them, else unknown for FB109.
                        file_system: volume.file_system,
                        is_cache_volume: volume.is_cache_volume,
                        locked: volume.locked,
                        in_use_for: volume.in_use_for.filter(|text| !text.is_empty()),
                    })
                    .collect(),
                datastores: target
                    .data_stores
                    .into_iter()
                    .map(|store| MasterTargetDatastore {
                        symbolic_name: store.symbolic_name,
                        uuid: store.uuid,
                        kind: store.kind,
                    })
                    .collect(),
                validation_errors: health_errors(target.validation_errors),
                health_errors: health_errors(target.health_errors),
            })
            .collect(),
        run_as_accounts: details
            .run_as_accounts
            .into_iter()
            .map(|account| RunAsAccount {
                account_id: account.account_id,
                account_name: account.account_name,
            })
            .collect(),
        vcenters: vcenters
            .into_iter()
            .map(|vcenter| DiscoveredVcenter {
                friendly_name: vcenter
                    .properties
                    .friendly_name
                    .unwrap_or_else(|| last_segment(&vcenter.id).to_owned()),
                id: vcenter.id,
                ip_address: vcenter.properties.ip_address,
                discovery_status: vcenter.properties.discovery_status,
                last_heartbeat: vcenter.properties.last_heartbeat,
            })
            .collect(),
        protection_containers: containers
            .into_iter()
            .map(|container| container.id)
            .collect(),
        health_errors: health_errors(properties.health_error_details),
    }
}

/// Maps one protected item. Public for the reprotect, which reads single items.
pub fn protected_item_of(item: ArmProtectedItem) -> ProtectedItem {
    let properties = item.properties;
    let details = properties.provider_specific_details.unwrap_or_default();
    let instance_type = (!details.instance_type.is_empty()).then(|| details.instance_type.clone());
    let is_reverse = eq_ci(&details.instance_type, "InMage");
    let friendly_name = properties
        .friendly_name
        .unwrap_or_else(|| item.name.clone());
    let os_type = details.os_type.clone().or_else(|| {
        details
            .os_details
            .as_ref()
            .and_then(|os| os.os_type.clone())
    });
    let disk_count = [
        details.protected_disks.len(),
        details.protected_managed_disks.len(),
    ]
    .into_iter()
    .max()
    .filter(|count| *count > 0)
    .and_then(|count| u32::try_from(count).ok());
    let machine_type = details.discovery_type.as_deref().map(|kind| {
        if kind.to_ascii_lowercase().contains("vcenter") || eq_ci(kind, "VMware") {
            "VMware".to_owned()
        } else if eq_ci(kind, "physical") {
            "Physical".to_owned()
        } else {
            kind.to_owned()
        }
    });
    let mut all_health_errors = health_errors(properties.health_errors);
    all_health_errors.extend(health_errors(details.validation_errors.clone()));
    ProtectedItem {
        fabric: path_segment_after(&item.id, "replicationFabrics").unwrap_or_default(),
        protection_container: container_id_of(&item.id).unwrap_or_default(),
        id: item.id,
        name: item.name,
        // The VM as the configuration server's vCenter inventory names it; absent
        // when the on-premises VM is gone (FB112).
        vm_name: details
            .infrastructure_vm_id
            .clone()
            .filter(|vm| !vm.trim().is_empty()),
        friendly_name,
        protection_state: properties.protection_state.unwrap_or_default(),
        protection_state_description: properties.protection_state_description,
        active_location: properties.active_location,
        allowed_operations: properties.allowed_operations,
        replication_health: properties.replication_health,
        health_errors: all_health_errors,
        policy_id: properties.policy_id,
        instance_type,
        os_type,
        os_name: details.os_name.clone(),
        machine_type,
        disk_count,
        replication_group: details
            .multi_vm_group_name
            .clone()
            .or_else(|| details.multi_vm_group_id.clone())
            .filter(|group| !group.is_empty()),
        ip_address: details.ip_address.clone(),
        agent_last_heartbeat: details.last_heartbeat,
        reverse: is_reverse.then(|| ReverseReplication {
            master_target_id: details.master_target_id.clone(),
            process_server_id: details.process_server_id.clone(),
            retention_volume: details.retention_drive.clone(),
            datastore: details.datastores.first().cloned(),
        }),
        // The primary NIC's `ipAddressType`; unknown when not reported (FB123).
        static_ip: details.static_ip(),
    }
}

fn recovery_plan_of(plan: ArmRecoveryPlan) -> RecoveryPlan {
    let properties = plan.properties;
    let mut members: Vec<String> = Vec::new();
    for group in properties.groups {
        for member in group.replication_protected_items {
            if !member.id.is_empty() && !members.iter().any(|known| eq_ci(known, &member.id)) {
                members.push(member.id);
            }
        }
    }
    RecoveryPlan {
        friendly_name: properties
            .friendly_name
            .unwrap_or_else(|| plan.name.clone()),
        id: plan.id,
        name: plan.name,
        members,
        allowed_operations: properties.allowed_operations,
    }
}

fn policy_of(policy: ArmPolicy) -> Policy {
    let details = policy
        .properties
        .provider_specific_details
        .unwrap_or_default();
    let minutes = |value: Option<u64>| value.and_then(|minutes| u32::try_from(minutes).ok());
    Policy {
        friendly_name: policy
            .properties
            .friendly_name
            .unwrap_or_else(|| policy.name.clone()),
        id: policy.id,
        name: policy.name,
        instance_type: details.instance_type,
        rpo_threshold_minutes: minutes(details.recovery_point_threshold_in_minutes),
        recovery_point_history_minutes: minutes(details.recovery_point_history),
        app_consistent_frequency_minutes: minutes(details.app_consistent_frequency_in_minutes),
        multi_vm_sync_status: details.multi_vm_sync_status,
    }
}

fn health_errors(errors: Vec<ArmHealthError>) -> Vec<HealthError> {
    errors
        .into_iter()
        .map(|error| HealthError {
            code: error.error_code.unwrap_or_default(),
            message: error
                .error_message
                .or(error.summary_message)
                .unwrap_or_default(),
            level: error.error_level,
            possible_causes: error.possible_causes.filter(|text| !text.is_empty()),
            recommended_action: error.recommended_action.filter(|text| !text.is_empty()),
        })
        .collect()
}

/// The segment after `key` in an ARM id, matched case-insensitively.
pub fn path_segment_after(id: &str, key: &str) -> Option<String> {
    let mut segments = id.split('/');
    while let Some(segment) = segments.next() {
        if eq_ci(segment, key) {
            return segments.next().map(str::to_owned);
        }
    }
    None
}

/// The protection container's id: the item id up to its container segment.
fn container_id_of(item_id: &str) -> Option<String> {
    let lower = item_id.to_ascii_lowercase();
    let at = lower.find("/replicationprotecteditems/")?;
    Some(item_id[..at].to_owned())
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_split_case_insensitively() {
        let id = "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/replicationFabrics/cs01/replicationProtectionContainers/c1/replicationProtectedItems/web01";
        assert_eq!(
            path_segment_after(id, "replicationfabrics").as_deref(),
            Some("cs01")
        );
        assert_eq!(
            container_id_of(id).as_deref(),
            Some(
                "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/replicationFabrics/cs01/replicationProtectionContainers/c1"
            )
        );
    }
}
