//! ARM long-running operations for reprotect: the 202 with `Location`,
//! `Azure-AsyncOperation` and `Retry-After`, and what polling `Location` answers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ArmError, ServiceError, not_found};
use super::world::{Job, JobPhase, World};
use super::{API_VERSION, Shared, item_shape};

fn ok(body: Value) -> Result<Response, ArmError> {
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// How long a client should wait before polling a job again: what remains of it in
/// real time, between 1 and 30 seconds (ASR says 30).
fn retry_after(world: &World, job: &Job) -> u64 {
    let remaining = (job.ends() - world.now()).num_milliseconds().max(0) as f64 / 1000.0;
    let real = world.clock.real_duration(remaining).as_secs_f64().ceil() as u64;
    real.clamp(1, 30)
}

/// ARM's 202 for an accepted long-running action.
pub fn accepted(shared: &Shared, world: &World, item_id: &str, job_name: &str) -> Response {
    let mut response = StatusCode::ACCEPTED.into_response();
    let location = format!(
        "{}{item_id}/operationresults/{job_name}?api-version={API_VERSION}",
        shared.endpoint
    );
    let status = format!(
        "{}{}/replicationOperationStatus/{job_name}?api-version={API_VERSION}",
        shared.endpoint, world.ids.vault_id
    );
    let retry = world
        .job(job_name)
        .map(|j| retry_after(world, j))
        .unwrap_or(1);
    let headers = response.headers_mut();
    for (name, value) in [
        (header::LOCATION, location),
        (
            header::HeaderName::from_static("azure-asyncoperation"),
            status,
        ),
        (header::RETRY_AFTER, retry.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// Polling the 202's `Location`: 202 while the job runs, the item (200) when it
/// succeeded, ASR's error when it failed.
pub fn operation_result(
    shared: &Shared,
    world: &World,
    index: usize,
    job_name: &str,
) -> Result<Response, ArmError> {
    let job = world
        .job(job_name)
        .filter(|j| j.item.eq_ignore_ascii_case(world.items[index].name()))
        .ok_or_else(|| not_found("Operation", job_name))?;
    match job.phase(world.now()) {
        JobPhase::InProgress => {
            let item_id = world.ids.item_id(&job.fabric, &job.item);
            Ok(accepted(shared, world, &item_id, &job.name))
        }
        JobPhase::Succeeded => ok(item_shape::protected_item(world, index)),
        JobPhase::Failed => {
            let error = job
                .failure
                .clone()
                .unwrap_or_else(|| ServiceError::new("InternalError", "The job failed."));
            Err(ArmError::asr(StatusCode::BAD_REQUEST, error))
        }
    }
}
