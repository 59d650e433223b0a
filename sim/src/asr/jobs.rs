//! Replication jobs: their JSON shape (`Job` with `tasks` and, on failure,
//! `errors[].serviceErrorDetails`), and the operation-status body that the 202's
//! `Azure-AsyncOperation` header points to.
//!
//! A job's progress is a pure function of the clock: its tasks start and finish at
//! fixed fractions of the job's duration.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::clock::{arm_time, sim_delta};
use super::error::ServiceError;
use super::world::{Job, JobPhase, World, stable_guid};

/// The reprotect job's tasks: (name, friendly name, share of the job's duration).
const REPROTECT_TASKS: [(&str, &str, f64); 4] = [
    (
        "ReverseReplicationPrerequisitesCheck",
        "Prerequisites check for reprotect",
        0.15,
    ),
    (
        "PrepareMasterTarget",
        "Preparing the master target server",
        0.25,
    ),
    (
        "ConfigureReverseReplication",
        "Configuring reverse replication",
        0.35,
    ),
    (
        "StartReverseReplication",
        "Starting reverse replication",
        0.25,
    ),
];

/// The error a job fails with when the estate lists its item or plan in `failing_jobs`:
/// the configuration server could not finish protection (ASR error 78052 for VMware).
pub fn injected_failure(vm: &str) -> ServiceError {
    ServiceError::new(
        "78052",
        format!("Protection couldn't be completed for the virtual machine '{vm}'."),
    )
    .causes(
        "The master target server could not create or attach the disks of the virtual machine, \
         or the process server lost its connection to the configuration server during reprotect.",
    )
    .action(
        "Check the health of the process server and master target in the configuration server, \
         resolve the errors shown there, then retry the reprotect.",
    )
}

fn state_words(phase: JobPhase) -> (&'static str, &'static str) {
    match phase {
        JobPhase::InProgress => ("InProgress", "InProgress"),
        JobPhase::Succeeded => ("Succeeded", "Completed"),
        JobPhase::Failed => ("Failed", "Failed"),
    }
}

fn job_error(job: &Job, error: &ServiceError, task_id: &str, at: DateTime<Utc>) -> Value {
    json!({
        "serviceErrorDetails": error.to_json(&stable_guid(&["activity", &job.name])),
        "errorLevel": "Error",
        "creationTime": arm_time(at),
        "taskId": task_id,
    })
}

pub fn job(world: &World, job: &Job) -> Value {
    let now = world.now();
    let phase = job.phase(now);
    let progress = job.progress(now);
    let mut tasks = Vec::new();
    let mut errors = Vec::new();
    let mut share_start = 0.0;
    for (index, (name, friendly, share)) in REPROTECT_TASKS.iter().enumerate() {
        let share_end = share_start + share;
        let task_id = stable_guid(&["task", &job.name, name]);
        let last = index + 1 == REPROTECT_TASKS.len();
        let start = job.started + sim_delta(job.duration_s * share_start);
        let end = job.started + sim_delta(job.duration_s * share_end);
        // A failing job fails in its last task, once the clock reaches the job's end.
        let task_phase = if progress < share_start {
            None
        } else if progress < share_end && !(progress >= 1.0 && last) {
            Some(JobPhase::InProgress)
        } else if last && phase == JobPhase::Failed {
            Some(JobPhase::Failed)
        } else {
            Some(JobPhase::Succeeded)
        };
        let mut task = json!({
            "taskId": task_id,
            "name": name,
            "friendlyName": friendly,
            "allowedActions": [],
            "taskType": "TaskDetails",
            "errors": [],
        });
        match task_phase {
            None => {
                task["state"] = json!("NotStarted");
                task["stateDescription"] = json!("NotStarted");
            }
            Some(p) => {
                let (state, description) = state_words(p);
                task["state"] = json!(state);
                task["stateDescription"] = json!(description);
                task["startTime"] = json!(arm_time(start));
                if p != JobPhase::InProgress {
                    task["endTime"] = json!(arm_time(end));
                }
                if p == JobPhase::Failed
                    && let Some(error) = &job.failure
                {
                    let err = job_error(job, error, &task_id, end);
                    task["errors"] = json!([err.clone()]);
                    errors.push(err);
                }
            }
        }
        tasks.push(task);
        share_start = share_end;
    }
    let (state, description) = state_words(phase);
    let vm = world
        .item_index(&job.item)
        .map(|i| world.items[i].estate.friendly_name.clone())
        .unwrap_or_else(|| job.item.clone());
    let mut properties = json!({
        "activityId": stable_guid(&["activity", &job.name]),
        "scenarioName": "ReverseReplication",
        "friendlyName": "Reprotect",
        "state": state,
        "stateDescription": description,
        "tasks": tasks,
        "errors": errors,
        "startTime": arm_time(job.started),
        "allowedActions": if phase == JobPhase::Failed { json!(["Restart"]) } else { json!([]) },
        "targetObjectId": world.ids.item_id(&job.fabric, &job.item),
        "targetObjectName": vm,
        "targetInstanceType": "ProtectionEntity",
        "customDetails": {
            "instanceType": "AsrJobDetails",
            "affectedObjectDetails": {
                "PrimaryFabricProviderId": "VMware",
                "RecoveryFabricProviderId": "Azure",
                "ProtectedItemName": job.item,
            },
        },
    });
    if phase != JobPhase::InProgress {
        properties["endTime"] = json!(arm_time(job.ends()));
    }
    json!({
        "id": world.ids.job_id(&job.name),
        "name": job.name,
        "type": "Microsoft.RecoveryServices/vaults/replicationJobs",
        "properties": properties,
    })
}

/// The body of `replicationOperationStatus/{job}`: ARM's generic operation status
/// (common-types `OperationStatusResult`), which the swagger does not define for ASR.
pub fn operation_status(world: &World, job: &Job) -> Value {
    let now = world.now();
    let phase = job.phase(now);
    let status = match phase {
        JobPhase::InProgress => "InProgress",
        JobPhase::Succeeded => "Succeeded",
        JobPhase::Failed => "Failed",
    };
    let mut body = json!({
        "id": format!("{}/replicationOperationStatus/{}", world.ids.vault_id, job.name),
        "name": job.name,
        "status": status,
        "percentComplete": (job.progress(now) * 100.0).round(),
        "startTime": arm_time(job.started),
        "resourceId": world.ids.item_id(&job.fabric, &job.item),
    });
    if phase != JobPhase::InProgress {
        body["endTime"] = json!(arm_time(job.ends()));
    }
    if let (JobPhase::Failed, Some(error)) = (phase, &job.failure) {
        body["error"] = json!({"code": error.code, "message": error.message});
    }
    body
}
