//! `POST …/replicationProtectedItems/{item}/reProtect`: checks the InMage reprotect
//! input the way ASR does and, when it passes, starts a reprotect job.
//!
//! Checks run in the order ASR's answers suggest: the shape of the input, then the
//! item's state, then the references into the configuration server (master target,
//! process server, retention volume, datastore, account, policy), then compatibility
//! (OS, replication group), and last the agent's registration.

use axum::http::StatusCode;
use serde_json::Value;

use super::error::{ArmError, ServiceError};
use super::jobs::injected_failure;
use super::shapes::os_name;
use super::world::{Job, ReverseSettings, World};

const REQUIRED: [&str; 4] = [
    "masterTargetId",
    "processServerId",
    "retentionDrive",
    "profileId",
];

fn bad(detail: ServiceError) -> ArmError {
    ArmError::asr(StatusCode::BAD_REQUEST, detail)
}

fn text<'a>(details: &'a Value, field: &str) -> Option<&'a str> {
    details
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Parses and checks the input; on success returns the settings to reprotect with.
pub fn check(world: &World, index: usize, body: &[u8]) -> Result<ReverseSettings, ArmError> {
    let input: Value = serde_json::from_slice(body).map_err(|err| {
        ArmError::plain(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{err}'."),
        )
    })?;
    let properties = input
        .get("properties")
        .filter(|p| p.is_object())
        .ok_or_else(|| bad(missing("properties")))?;
    if let Some(direction) = properties.get("failoverDirection") {
        let direction = direction.as_str().unwrap_or_default();
        if !direction.eq_ignore_ascii_case("RecoveryToPrimary") {
            return Err(bad(ServiceError::new(
                "InvalidFailoverDirection",
                format!(
                    "The failover direction '{direction}' is not valid for reprotecting a virtual machine that runs in Azure back to on-premises."
                ),
            )
            .causes("A virtual machine failed over to Azure can only be replicated from recovery to primary.")
            .action("Set failoverDirection to 'RecoveryToPrimary'.")));
        }
    }
    let details = properties
        .get("providerSpecificDetails")
        .filter(|d| d.is_object())
        .ok_or_else(|| bad(missing("properties.providerSpecificDetails")))?;
    let instance_type = text(details, "instanceType")
        .ok_or_else(|| bad(missing("properties.providerSpecificDetails.instanceType")))?;
    if instance_type != "InMage" {
        return Err(bad(ServiceError::new(
            "InvalidProviderSpecificInput",
            format!(
                "The provider-specific input of type '{instance_type}' is not valid for reprotecting a VMware virtual machine from Azure to on-premises."
            ),
        )
        .causes("Reprotect from Azure to an on-premises VMware site uses the InMage replication provider.")
        .action("Send providerSpecificDetails with instanceType 'InMage' (InMageReprotectInput).")));
    }
    for field in REQUIRED {
        if text(details, field).is_none() {
            return Err(bad(missing(&format!(
                "properties.providerSpecificDetails.{field}"
            ))));
        }
    }
    let field = |name: &str| text(details, name).unwrap_or_default().to_owned();
    let settings = ReverseSettings {
        master_target_id: field("masterTargetId"),
        process_server_id: field("processServerId"),
        retention_drive: field("retentionDrive"),
        datastore_name: text(details, "datastoreName").map(str::to_owned),
        run_as_account_id: text(details, "runAsAccountId").map(str::to_owned),
        policy_id: field("profileId"),
    };

    check_state(world, index)?;
    check_references(world, index, &settings)?;
    check_group(world, index, &settings)?;
    check_agent(world, index)?;
    Ok(settings)
}

fn missing(path: &str) -> ServiceError {
    ServiceError::new(
        "RequiredParameterMissing",
        format!("The required parameter '{path}' is missing or empty in the reprotect input."),
    )
    .causes("The request did not include a value that the InMage reprotect input requires.")
    .action("Provide masterTargetId, processServerId, retentionDrive and profileId (the failback policy id) and retry.")
}

fn check_state(world: &World, index: usize) -> Result<(), ArmError> {
    let item = &world.items[index];
    if let Some(job) = &item.current_job {
        return Err(ArmError::asr(
            StatusCode::CONFLICT,
            ServiceError::new(
                "ReplicationProtectedItemOperationInProgress",
                format!(
                    "Another operation (job '{job}') is in progress on the replication protected item '{}'.",
                    item.estate.friendly_name
                ),
            )
            .causes("A reprotect job for this item is already running.")
            .action("Wait for the running job to finish, then check the item before retrying."),
        ));
    }
    if !item.allows("ReverseReplicate") {
        return Err(ArmError::asr(
            StatusCode::CONFLICT,
            ServiceError::new(
                "OperationNotAllowedInCurrentState",
                format!(
                    "The operation 'ReverseReplicate' is not allowed on the replication protected item '{}' in its current state '{}' ({}). Allowed operations: {}.",
                    item.estate.friendly_name,
                    item.protection_state,
                    item.protection_state_description,
                    if item.allowed_operations.is_empty() {
                        "none".to_owned()
                    } else {
                        item.allowed_operations.join(", ")
                    }
                ),
            )
            .causes("Reprotect needs the failover to Azure to be committed, and the item must not already be protected in the reverse direction.")
            .action("Commit the failover first, or check whether the item is already reprotected."),
        ));
    }
    Ok(())
}

fn check_references(
    world: &World,
    index: usize,
    settings: &ReverseSettings,
) -> Result<(), ArmError> {
    let item = &world.items[index];
    let Some(fabric) = world.fabric(&item.estate.fabric) else {
        return Err(super::error::not_found(
            "ReplicationFabric",
            &item.estate.fabric,
        ));
    };
    let cs = &fabric.estate.friendly_name;
    let Some((_, mt)) = fabric.master_target(&settings.master_target_id) else {
        return Err(bad(ServiceError::new(
            "MasterTargetNotFound",
            format!(
                "The master target server '{}' is not registered with the configuration server '{cs}'.",
                settings.master_target_id
            ),
        )
        .causes("The id does not name a master target of the item's configuration server, or the master target was unregistered.")
        .action("Use the id of a master target listed in the fabric's masterTargetServers.")));
    };
    if fabric.process_server(&settings.process_server_id).is_none() {
        return Err(bad(ServiceError::new(
            "ProcessServerNotFound",
            format!(
                "The process server '{}' is not registered with the configuration server '{cs}'.",
                settings.process_server_id
            ),
        )
        .causes("The id does not name a process server of the item's configuration server.")
        .action(
            "Use the id of a process server listed in the fabric's processServers.",
        )));
    }
    if !mt
        .retention_volumes
        .iter()
        .any(|v| v.name.eq_ignore_ascii_case(&settings.retention_drive))
    {
        return Err(bad(ServiceError::new(
            "RetentionVolumeNotFound",
            format!(
                "The retention drive '{}' is not a retention volume of the master target server '{}'.",
                settings.retention_drive, mt.name
            ),
        )
        .causes("The master target reports no retention volume with this name.")
        .action("Use a volumeName listed in the master target's retentionVolumes.")));
    }
    if let Some(account) = &settings.run_as_account_id
        && !fabric
            .estate
            .run_as_accounts
            .iter()
            .any(|a| a.id.eq_ignore_ascii_case(account))
    {
        return Err(bad(ServiceError::new(
            "RunAsAccountNotFound",
            format!(
                "The account '{account}' is not an account of the configuration server '{cs}'."
            ),
        )
        .causes("The id does not name one of the configuration server's run-as accounts.")
        .action("Use an accountId listed in the fabric's runAsAccounts.")));
    }
    match world.policy_by_id(&settings.policy_id) {
        None => {
            return Err(bad(ServiceError::new(
                "PolicyNotFound",
                format!(
                    "The replication policy '{}' does not exist in the vault.",
                    settings.policy_id
                ),
            )
            .causes(
                "profileId must be the full ARM id of the failback (InMage) replication policy.",
            )
            .action(
                "Use the id of the InMage policy listed under replicationPolicies.",
            )));
        }
        Some(policy) if !policy.instance_type.eq_ignore_ascii_case("InMage") => {
            return Err(bad(ServiceError::new(
                "InvalidPolicyForReprotect",
                format!(
                    "The replication policy '{}' is of type '{}'; reprotect to on-premises needs the failback policy of type 'InMage'.",
                    policy.name, policy.instance_type
                ),
            )
            .causes("The forward (InMageAzureV2) policy was given instead of the failback policy.")
            .action("Use the InMage failback policy that ASR created with the forward policy.")));
        }
        Some(_) => {}
    }
    let vm_os = item.estate.os_type;
    if mt.os_type != vm_os {
        return Err(bad(ServiceError::new(
            "MasterTargetOsTypeMismatch",
            format!(
                "The master target server '{}' runs {}, but the virtual machine '{}' runs {}. A {} virtual machine can only be reprotected to a {} master target server.",
                mt.name,
                os_name(mt.os_type),
                item.estate.friendly_name,
                os_name(vm_os),
                os_name(vm_os),
                os_name(vm_os)
            ),
        )
        .causes("The operating system of the master target does not match the virtual machine's.")
        .action(format!("Choose a {} master target server, or deploy one.", os_name(vm_os)))));
    }
    if settings.datastore_name.is_none() && item.estate.vm.is_none() {
        return Err(bad(ServiceError::new(
            "DatastoreRequiredForNewVirtualMachine",
            format!(
                "The virtual machine '{}' no longer exists on-premises, so reprotect creates it on the master target's host; a target datastore must be given.",
                item.estate.friendly_name
            ),
        )
        .causes("The on-premises virtual machine was deleted or the item is a physical machine, and datastoreName was not given.")
        .action("Give datastoreName: one of the datastores listed in the master target's dataStores.")));
    }
    if let Some(datastore) = &settings.datastore_name
        && !mt.datastores.iter().any(|d| d == datastore)
    {
        return Err(bad(ServiceError::new(
            "DatastoreNotAccessibleToMasterTarget",
            format!(
                "The datastore '{datastore}' is not accessible to the master target server '{}'.",
                mt.name
            ),
        )
        .causes("The datastore is not attached to the ESXi host of the master target, or vCenter discovery has not found it.")
        .action("Choose one of the datastores listed in the master target's dataStores.")));
    }
    Ok(())
}

/// Machines of one replication group must all go to the same master target.
fn check_group(world: &World, index: usize, settings: &ReverseSettings) -> Result<(), ArmError> {
    let item = &world.items[index];
    let Some(group) = &item.estate.replication_group else {
        return Ok(());
    };
    for (other_index, other) in world.items.iter().enumerate() {
        if other_index == index || other.estate.replication_group.as_deref() != Some(group) {
            continue;
        }
        let other_mt = other
            .reverse
            .as_ref()
            .map(|r| r.master_target_id.clone())
            .or_else(|| {
                other
                    .current_job
                    .as_deref()
                    .and_then(|j| world.job(j))
                    .map(|j| j.settings.master_target_id.clone())
            });
        if let Some(other_mt) = other_mt
            && !other_mt.eq_ignore_ascii_case(&settings.master_target_id)
        {
            return Err(bad(ServiceError::new(
                "MultiVmGroupMasterTargetMismatch",
                format!(
                    "The virtual machine '{}' belongs to the replication group '{group}', whose member '{}' is reprotected to master target '{other_mt}'. All machines of a replication group must be reprotected to the same master target server.",
                    item.estate.friendly_name, other.estate.friendly_name
                ),
            )
            .causes("Multi-VM consistency needs every machine of the group on one master target.")
            .action(format!("Reprotect '{}' to master target '{other_mt}'.", item.estate.friendly_name))));
        }
    }
    Ok(())
}

fn check_agent(world: &World, index: usize) -> Result<(), ArmError> {
    if world.agent_registered(index) {
        return Ok(());
    }
    let item = &world.items[index];
    Err(bad(ServiceError::new(
        "AgentNotInstalled",
        format!(
            "The Mobility service agent is not installed or not registered with the configuration server on the virtual machine '{}' (agent not installed).",
            item.estate.friendly_name
        ),
    )
    .causes("After a virtual machine starts in Azure, its agent can take up to 15 minutes to register with the configuration server.")
    .action("Wait for the agent to register with the configuration server (up to 15 minutes after the machine starts in Azure), then retry the reprotect.")))
}

/// Starts the reprotect job for an item whose input passed [`check`]; returns its name.
pub fn start(world: &mut World, index: usize, settings: ReverseSettings) -> String {
    let now = world.now();
    let name = uuid::Uuid::new_v4().to_string();
    let item_name = world.items[index].name().to_owned();
    let plans: Vec<String> = world
        .plans_of(&item_name)
        .iter()
        .map(|p| p.name.to_ascii_lowercase())
        .collect();
    let key = item_name.to_ascii_lowercase();
    let failing = if world.failing_jobs.remove(&key) {
        true
    } else if let Some(plan) = plans.iter().find(|p| world.failing_jobs.contains(*p)) {
        let plan = plan.clone();
        world.failing_jobs.remove(&plan)
    } else {
        false
    };
    let item = &mut world.items[index];
    let job = Job {
        name: name.clone(),
        item: item_name.clone(),
        fabric: item.estate.fabric.clone(),
        started: now,
        duration_s: world.behaviour.reprotect_job_s,
        failure: failing.then(|| injected_failure(&item.estate.friendly_name)),
        settings,
        previous_allowed: std::mem::take(&mut item.allowed_operations),
        settled: false,
    };
    item.current_job = Some(name.clone());
    world.jobs.push(job);
    *world.reprotect_accepted.entry(item_name).or_default() += 1;
    name
}
