//! The two actions of the ASR provider: the InMage reprotect of one protected item
//! (Azure → on-premises) and the wait for a failed-over VM's agent to register.
//!
//! A reprotect is never sent twice. Before every POST the item is read: an item
//! already protected in the reverse direction is done; an item with a reprotect
//! job running (its `currentScenario.jobId`, after a crash or a dropped answer) has
//! that job followed instead. Only then is the POST sent, and an ambiguous failure
//! of it (connection dropped, 5xx, timeout) leads back to reading the item.
//! After an accepted POST the long-running operation is followed to its ASR job
//! (the job name is the last segment of the 202's `Location`,
//! `…/operationresults/{job}`, as PowerShell reads it), and the job to its end,
//! polled on a [`PollSchedule`] that learns from the reprotects this provider already
//! followed.

use std::time::{Duration, Instant};

use failback_engine::observe::vault::ProtectedItem;
use failback_engine::provider::{ActionOutcome, Progress, ProgressSink, ReprotectRequest};
use reqwest::Method;

use crate::PollSettings;
use crate::VaultRef;
use crate::client::{ArmClient, ArmResponse, Replay};
use crate::discover::protected_item_of;
use crate::error::{AsrError, JobFailure, ServiceError};
use crate::models::{
    ArmJob, ArmProtectedItem, DiskExclusionInput, InMageReprotectInput, OperationStatus,
    ReverseReplicationInput, ReverseReplicationProperties, eq_ci, job_state_is_success,
    job_state_is_terminal,
};
use crate::poll::{JobDurations, PollSchedule};

/// How many times one apply may send the reprotect POST (each only after reading
/// the item showed no reprotect in progress).
const MAX_POSTS: u32 = 6;

/// How many times a job may answer 404 before it is taken as really missing.
const MAX_JOB_NOT_FOUND: u32 = 5;

/// What an action needs from the provider.
pub struct Context<'a> {
    pub client: &'a ArmClient,
    pub vault: &'a VaultRef,
    pub poll: &'a PollSettings,
    /// How long the reprotects this provider followed took, shared by its actions.
    pub durations: &'a JobDurations,
}

/// A reprotect ARM accepted: when, and the `Retry-After` it answered with.
#[derive(Debug, Clone, Copy)]
struct Accepted {
    at: Instant,
    retry_after: Option<Duration>,
}

/// The reverse-replication body ASR expects for a VMware failback.
pub fn reprotect_input(request: &ReprotectRequest) -> ReverseReplicationInput {
    ReverseReplicationInput {
        properties: ReverseReplicationProperties {
            failover_direction: "RecoveryToPrimary".to_owned(),
            provider_specific_details: InMageReprotectInput {
                instance_type: "InMage".to_owned(),
                master_target_id: request.master_target_id.clone(),
                process_server_id: request.process_server_id.clone(),
                retention_drive: request.retention_drive.clone(),
                run_as_account_id: request.run_as_account_id.clone(),
                datastore_name: request.datastore_name.clone(),
                profile_id: request.policy_id.clone(),
                disk_exclusion_input: DiskExclusionInput::default(),
            },
        },
    }
}

/// Whether the item is already protected from Azure back to on-premises:
/// `Protected` with InMage (reverse) provider details.
pub fn is_reverse_protected(item: &ProtectedItem) -> bool {
    eq_ci(&item.protection_state, "Protected")
        && item
            .instance_type
            .as_deref()
            .is_some_and(|kind| eq_ci(kind, "InMage"))
}

/// Whether a job's scenario is a reprotect (`ReverseReplication`, `Reprotect`).
fn is_reprotect_scenario(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("reverse") || lower.contains("reprotect")
}

pub async fn reprotect(
    context: &Context<'_>,
    request: &ReprotectRequest,
    progress: &dyn ProgressSink,
) -> Result<ActionOutcome, AsrError> {
    let item_path = item_path(context.vault, &request.protected_item_id)?;
    let body = serde_json::to_value(reprotect_input(request))
        .map_err(|error| AsrError::Config(format!("cannot encode the reprotect input: {error}")))?;
    let mut posts = 0u32;
    let mut last_ambiguous: Option<AsrError> = None;
    loop {
        let (item, scenario) = read_item(context.client, &item_path).await?;
        if is_reverse_protected(&item) {
            if posts > 0 {
                // Our POST went through and its job finished while its answer was
                // lost: this apply made the change.
                return Ok(ActionOutcome::Applied {
                    remote_ids: Vec::new(),
                });
            }
            tracing::info!(item = %item.name, "already protected in the reverse direction");
            return Ok(ActionOutcome::AlreadyDone);
        }
        if let Some(job_id) = scenario {
            let job: ArmJob = context
                .client
                .get_json(context.client.url(&job_id)?)
                .await?;
            let state = job.properties.state.clone().unwrap_or_default();
            let scenario_name = job.properties.scenario_name.clone().unwrap_or_default();
            if is_reprotect_scenario(&scenario_name) && !job_state_is_terminal(&state) {
                tracing::info!(item = %item.name, job = %job.name, "a reprotect job is already running; following it");
                let job_id = follow_job(context, &job_id, None, progress).await?;
                return Ok(ActionOutcome::Applied {
                    remote_ids: vec![job_id],
                });
            }
        }
        if posts >= MAX_POSTS {
            return Err(last_ambiguous.unwrap_or_else(|| AsrError::Protocol {
                path: item_path.clone(),
                reason: "the reprotect was accepted but no job shows for the item".to_owned(),
            }));
        }
        posts += 1;
        let url = context.client.url(&format!("{item_path}/reProtect"))?;
        progress.report(Progress {
            remote_id: None,
            percent: None,
            message: format!("sending reprotect for {}", item.friendly_name),
        });
        match context
            .client
            .send(Method::POST, url, Some(&body), Replay::Unsafe)
            .await
        {
            Ok(response) => {
                let remote_ids = follow_accepted(context, &item_path, response, progress).await?;
                return Ok(ActionOutcome::Applied { remote_ids });
            }
            Err(error) if error.is_ambiguous() => {
                tracing::warn!(item = %item.name, %error, "reprotect answer lost; reading the item before trying again");
                last_ambiguous = Some(error);
                tokio::time::sleep(context.poll.min_interval).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// After ARM accepted the POST: find the job and follow it to the end.
async fn follow_accepted(
    context: &Context<'_>,
    item_path: &str,
    response: ArmResponse,
    progress: &dyn ProgressSink,
) -> Result<Vec<String>, AsrError> {
    if response.status.as_u16() != 202 {
        // A synchronous 200: the item itself, nothing left to wait for.
        return Ok(Vec::new());
    }
    let accepted = Accepted {
        at: Instant::now(),
        retry_after: response.retry_after,
    };
    if let Some(job_name) = response.location.as_deref().and_then(job_name_of_location) {
        let job_id = context.vault.path(&format!("replicationJobs/{job_name}"));
        return Ok(vec![
            follow_job(context, &job_id, Some(accepted), progress).await?,
        ]);
    }
    // No job in the Location: wait for the operation itself, then find the job
    // the item reports (or accept the item's new state).
    let operation = response
        .azure_async_operation
        .as_deref()
        .or(response.location.as_deref())
        .ok_or_else(|| AsrError::Protocol {
            path: format!("{item_path}/reProtect"),
            reason: "202 Accepted without Location or Azure-AsyncOperation".to_owned(),
        })?;
    let by_status = response.azure_async_operation.is_some();
    let operation_url = context.client.follow(operation)?;
    wait_for_operation(context, operation_url, by_status, accepted).await?;
    let (item, scenario) = read_item(context.client, item_path).await?;
    match scenario {
        Some(job_id) => Ok(vec![follow_job(context, &job_id, None, progress).await?]),
        None if is_reverse_protected(&item) => Ok(Vec::new()),
        None => Err(AsrError::Protocol {
            path: item_path.to_owned(),
            reason: format!(
                "the reprotect operation ended but the item is {} and shows no job",
                item.protection_state
            ),
        }),
    }
}

/// `…/operationresults/{job}?api-version=…` → `{job}`.
pub fn job_name_of_location(location: &str) -> Option<String> {
    let path = location.split('?').next()?;
    let mut segments = path.split('/');
    while let Some(segment) = segments.next() {
        if eq_ci(segment, "operationresults") {
            return segments
                .next()
                .filter(|name| !name.is_empty())
                .map(str::to_owned);
        }
    }
    None
}

/// Polls an ARM long-running operation: by body `status` for an
/// `Azure-AsyncOperation` URL, by HTTP status (202 = running) for a `Location`.
async fn wait_for_operation(
    context: &Context<'_>,
    url: url::Url,
    by_status: bool,
    accepted: Accepted,
) -> Result<(), AsrError> {
    let started = accepted.at;
    let mut schedule = PollSchedule::new(context.poll, None);
    let mut retry_after = accepted.retry_after;
    loop {
        let wait = schedule.next_wait(started.elapsed(), retry_after);
        sleep_bounded(started, context.poll.job_timeout, wait).await;
        if started.elapsed() >= context.poll.job_timeout {
            return Err(AsrError::Timeout {
                what: format!("the operation {}", url.path()),
                after: context.poll.job_timeout,
            });
        }
        let response = context
            .client
            .send(Method::GET, url.clone(), None, Replay::Safe)
            .await?;
        retry_after = response.retry_after;
        if by_status {
            let status: OperationStatus = response.json(url.path())?;
            let state = status.status.unwrap_or_default();
            if eq_ci(&state, "Succeeded") {
                return Ok(());
            }
            if eq_ci(&state, "Failed") || eq_ci(&state, "Canceled") || eq_ci(&state, "Cancelled") {
                let body = serde_json::json!({ "error": status.error });
                let bytes = serde_json::to_vec(&body).unwrap_or_default();
                return Err(AsrError::Cloud(Box::new(
                    crate::error::CloudError::from_body(200, url.path(), &bytes),
                )));
            }
        } else if response.status.as_u16() != 202 {
            return Ok(());
        }
    }
}

/// Follows an ASR job to its end, reporting state and task changes. Returns the
/// job's id; a failed job is a [`JobFailure`].
///
/// A job this apply just started (`accepted`) is first polled after the schedule's
/// first pause, and its duration teaches the schedule of the next ones; a job found
/// running (started by an earlier run) is read at once.
async fn follow_job(
    context: &Context<'_>,
    job_id: &str,
    accepted: Option<Accepted>,
    progress: &dyn ProgressSink,
) -> Result<String, AsrError> {
    let url = context.client.url(job_id)?;
    let started = accepted.map_or_else(Instant::now, |accepted| accepted.at);
    let expected = accepted.and_then(|_| context.durations.expected());
    let mut schedule = PollSchedule::new(context.poll, expected);
    let mut wait =
        accepted.map(|accepted| schedule.next_wait(Duration::ZERO, accepted.retry_after));
    let mut last_message = String::new();
    let mut not_found_polls = 0u32;
    loop {
        if let Some(wait) = wait {
            sleep_bounded(started, context.poll.job_timeout, wait).await;
        }
        let job: ArmJob = match context.client.get_json(url.clone()).await {
            Ok(job) => job,
            // ARM is eventually consistent: a job named by a fresh 202 can answer
            // 404 for a moment.
            Err(AsrError::Cloud(error))
                if error.status == 404 && not_found_polls < MAX_JOB_NOT_FOUND =>
            {
                not_found_polls += 1;
                wait = Some(context.poll.min_interval);
                continue;
            }
            Err(error) => return Err(error),
        };
        let properties = &job.properties;
        let state = properties.state.clone().unwrap_or_default();
        let done = properties
            .tasks
            .iter()
            .filter(|task| task.state.as_deref().is_some_and(job_state_is_terminal))
            .count();
        let current = properties
            .tasks
            .iter()
            .find(|task| !task.state.as_deref().is_some_and(job_state_is_terminal))
            .and_then(|task| task.friendly_name.clone().or_else(|| task.name.clone()));
        let message = match &current {
            Some(task) if !job_state_is_terminal(&state) => format!("{state}: {task}"),
            _ => state.clone(),
        };
        if message != last_message {
            let percent = (!properties.tasks.is_empty())
                .then(|| (done * 100 / properties.tasks.len()).min(100) as u8);
            progress.report(Progress {
                remote_id: Some(job.name.clone()),
                percent,
                message: message.clone(),
            });
            last_message = message;
        }
        if job_state_is_terminal(&state) {
            if job_state_is_success(&state) {
                if accepted.is_some() {
                    context.durations.record(started.elapsed());
                }
                return Ok(job.id);
            }
            return Err(AsrError::JobFailed(Box::new(job_failure(&job, state))));
        }
        if started.elapsed() >= context.poll.job_timeout {
            return Err(AsrError::Timeout {
                what: format!("ASR job {} ({state})", job.name),
                after: context.poll.job_timeout,
            });
        }
        wait = Some(schedule.next_wait(started.elapsed(), None));
    }
}

fn job_failure(job: &ArmJob, state: String) -> JobFailure {
    let properties = &job.properties;
    let mut errors: Vec<ServiceError> = Vec::new();
    let task_errors = properties.tasks.iter().flat_map(|task| task.errors.iter());
    for detail in properties.errors.iter().chain(task_errors) {
        if let Some(service) = &detail.service_error_details {
            errors.push(ServiceError {
                code: service.code.clone().unwrap_or_default(),
                message: service.message.clone().unwrap_or_default(),
                possible_causes: service.possible_causes.clone(),
                recommended_action: service.recommended_action.clone(),
                activity_id: service.activity_id.clone(),
            });
        }
        if let Some(provider) = &detail.provider_error_details {
            errors.push(ServiceError {
                code: provider.error_code.clone().unwrap_or_default(),
                message: provider.error_message.clone().unwrap_or_default(),
                possible_causes: provider.possible_causes.clone(),
                recommended_action: provider.recommended_action.clone(),
                activity_id: None,
            });
        }
    }
    // The same error is often reported on the job and on its task.
    errors.dedup_by(|a, b| a.code == b.code && a.message == b.message);
    let failed_task = properties
        .tasks
        .iter()
        .find(|task| {
            task.state
                .as_deref()
                .is_some_and(|state| job_state_is_terminal(state) && !job_state_is_success(state))
        })
        .and_then(|task| task.friendly_name.clone().or_else(|| task.name.clone()));
    JobFailure {
        job_id: job.id.clone(),
        state,
        scenario: properties.scenario_name.clone(),
        target: properties.target_object_name.clone(),
        failed_task,
        errors,
    }
}

/// Waits until the item's agent has registered with the configuration server
/// (rule FB117): it reports a heartbeat and no agent-not-registered health error.
pub async fn wait_for_agent(
    context: &Context<'_>,
    protected_item_id: &str,
    timeout: Duration,
    progress: &dyn ProgressSink,
) -> Result<ActionOutcome, AsrError> {
    let item_path = item_path(context.vault, protected_item_id)?;
    let started = Instant::now();
    let mut wait = context.poll.agent_initial_interval;
    let mut waited = false;
    loop {
        let (item, _) = read_item(context.client, &item_path).await?;
        if agent_registered(&item) {
            return Ok(if waited {
                ActionOutcome::Applied {
                    remote_ids: Vec::new(),
                }
            } else {
                ActionOutcome::AlreadyDone
            });
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(AsrError::Timeout {
                what: format!(
                    "the agent of {} to register with the configuration server (FB117: \
                     it can take 15 minutes after the VM starts in Azure; check that the VM \
                     reaches the configuration server and process server)",
                    item.friendly_name
                ),
                after: timeout,
            });
        }
        progress.report(Progress {
            remote_id: None,
            percent: None,
            message: format!(
                "waiting for the agent of {} to register ({}s of {}s)",
                item.friendly_name,
                elapsed.as_secs(),
                timeout.as_secs()
            ),
        });
        waited = true;
        tokio::time::sleep(wait.min(timeout.saturating_sub(elapsed))).await;
        wait = (wait * 2).min(context.poll.max_interval);
    }
}

/// Whether the item's agent is registered: a heartbeat, and none of ASR's health
/// errors that say the agent is not installed or not reporting.
pub fn agent_registered(item: &ProtectedItem) -> bool {
    item.agent_last_heartbeat.is_some()
        && !item
            .health_errors
            .iter()
            .any(|error| is_agent_missing(&error.code, &error.message))
}

fn is_agent_missing(code: &str, message: &str) -> bool {
    let code = code.to_ascii_lowercase();
    let message = message.to_ascii_lowercase();
    let names_agent =
        code.contains("agent") || message.contains("agent") || message.contains("mobility service");
    names_agent
        && [
            "notinstalled",
            "not installed",
            "notregistered",
            "not registered",
            "noheartbeat",
            "not reporting",
            "heartbeat",
        ]
        .iter()
        .any(|needle| code.contains(needle) || message.contains(needle))
}

/// Reads one protected item; also returns the id of the job running on it.
async fn read_item(
    client: &ArmClient,
    item_path: &str,
) -> Result<(ProtectedItem, Option<String>), AsrError> {
    let item: ArmProtectedItem = client.get_json(client.url(item_path)?).await?;
    let running = item
        .properties
        .current_scenario
        .as_ref()
        .and_then(|scenario| scenario.running_job_id())
        .map(str::to_owned);
    Ok((protected_item_of(item), running))
}

/// The item's path, checked to be a protected item of the configured vault.
fn item_path(vault: &VaultRef, id: &str) -> Result<String, AsrError> {
    let id = id.trim();
    let valid = vault.contains(id)
        && id
            .to_ascii_lowercase()
            .contains("/replicationprotecteditems/")
        && !id.contains(['?', '#']);
    if !valid {
        return Err(AsrError::Config(format!(
            "{id:?} is not a protected item of vault {} (expected {}/replicationFabrics/…/replicationProtectedItems/NAME)",
            vault.name,
            vault.id()
        )));
    }
    Ok(id.trim_end_matches('/').to_owned())
}

async fn sleep_bounded(started: Instant, limit: Duration, wait: Duration) {
    let left = limit.saturating_sub(started.elapsed());
    tokio::time::sleep(wait.min(left)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_name_from_location() {
        assert_eq!(
            job_name_of_location(
                "https://h/Subscriptions/s/x/operationresults/job-42?api-version=2026-05-01"
            )
            .as_deref(),
            Some("job-42")
        );
        assert_eq!(job_name_of_location("https://h/a/b"), None);
    }

    #[test]
    fn reverse_protection_is_matched_case_insensitively() {
        let mut item = ProtectedItem {
            protection_state: "protected".to_owned(),
            instance_type: Some("INMAGE".to_owned()),
            ..ProtectedItem::default()
        };
        assert!(is_reverse_protected(&item));
        item.instance_type = Some("InMageAzureV2".to_owned());
        assert!(
            !is_reverse_protected(&item),
            "forward protection is not reverse"
        );
    }

    #[test]
    fn agent_errors() {
        assert!(is_agent_missing("AgentNotInstalled", ""));
        assert!(is_agent_missing(
            "78052",
            "The Mobility service agent is not installed on the VM."
        ));
        assert!(!is_agent_missing(
            "RpoExceeded",
            "RPO is above the threshold."
        ));
    }
}
