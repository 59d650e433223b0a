//! A small scripted ARM server on loopback for the provider's own tests: exact control
//! over faults (which request gets a 429, a 500 or a dropped connection) that a
//! randomised simulator cannot give, and counters of what the provider sent.
//!
//! It serves one vault: fabrics (VMware configuration servers), vCenters,
//! protection containers, protected items with `nextLink` paging, recovery plans,
//! policies, the InMage reprotect as a 202 + job, and jobs that finish after a set
//! number of polls.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000001";
pub const RESOURCE_GROUP: &str = "rg-dr";
pub const VAULT: &str = "contoso-vault";
pub const TOKEN: &str = "fake-token";

/// What to do to the next request whose method and path match.
#[derive(Debug, Clone)]
pub enum Fault {
    TooManyRequests {
        retry_after_s: u32,
    },
    Status(u16),
    /// Answer with headers, then cut the connection mid-body.
    Drop,
    /// Carry out the request, then cut the connection mid-body (the answer is lost).
    DropAfterAccept,
}

#[derive(Debug, Default)]
pub struct World {
    pub fabrics: Vec<Value>,
    pub vcenters: HashMap<String, Vec<Value>>,
    pub containers: HashMap<String, Vec<Value>>,
    pub items: Vec<Value>,
    pub plans: Vec<Value>,
    pub policies: Vec<Value>,
    pub page_size: usize,
    /// Polls of a job before it ends.
    pub job_polls: u32,
    /// Item names whose next reprotect job fails.
    pub failing: Vec<String>,
    /// Answer the reprotect with `Azure-AsyncOperation` only (no `Location`).
    pub async_operation_only: bool,
    /// Jobs finish the moment they start (the item is reverse-protected at once).
    pub instant_jobs: bool,
    /// GETs of a new job answered 404 before it shows (ARM's eventual consistency).
    pub job_invisible_polls: u32,
    pub faults: VecDeque<(Method, String, Fault)>,
    // Observations.
    pub requests: u64,
    pub reprotect_posts: HashMap<String, u32>,
    pub bodies: Vec<Value>,
    pub jobs: HashMap<String, Job>,
    pub next_job: u32,
}

#[derive(Debug)]
pub struct Job {
    item: String,
    polls_left: u32,
    fails: bool,
}

pub fn vault_id() -> String {
    format!(
        "/Subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.RecoveryServices/vaults/{VAULT}"
    )
}

pub fn item_id(fabric: &str, name: &str) -> String {
    format!(
        "{}/replicationFabrics/{fabric}/replicationProtectionContainers/{fabric}-container/replicationProtectedItems/{name}",
        vault_id()
    )
}

/// A VMware failed-over item, ready for reprotect.
pub fn failed_over_item(fabric: &str, name: &str, os: &str) -> Value {
    json!({
        "id": item_id(fabric, name),
        "name": name,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems",
        "properties": {
            "friendlyName": name,
            "protectedItemType": "ReplicationProtectedItem",
            "protectionState": "UnplannedFailoverCommitted",
            "protectionStateDescription": "Failover committed",
            "activeLocation": "Recovery",
            "allowedOperations": ["ReverseReplicate", "DisableProtection"],
            "replicationHealth": "Normal",
            "healthErrors": [],
            "policyId": format!("{}/replicationPolicies/forward-policy", vault_id()),
            "currentScenario": {"scenarioName": "None", "jobId": format!("{}/replicationJobs/None", vault_id()), "startTime": "1753-01-01T01:01:01Z"},
            "providerSpecificDetails": {
                "instanceType": "InMageAzureV2",
                "osType": os,
                "discoveryType": "vCenter",
                "ipAddress": "10.0.1.10",
                "lastHeartbeat": "2026-11-26T10:00:00Z",
                "processServerId": "ps-azure-01-id",
                "protectedDisks": [{"diskId": "d1"}, {"diskId": "d2"}],
                "infrastructureVmId": name,
                "vmNics": [{"ipConfigs": [{"isPrimary": true, "ipAddressType": "Dynamic"}]}],
                "multiVmGroupName": null
            }
        }
    })
}

pub fn vmware_fabric(name: &str) -> Value {
    json!({
        "id": format!("{}/replicationFabrics/{name}", vault_id()),
        "name": name,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics",
        "location": "westeurope",
        "properties": {
            "friendlyName": format!("{name}.contoso.local"),
            "customDetails": {
                "instanceType": "VMware",
                "ipAddress": "10.0.0.5",
                "lastHeartbeat": "2026-11-26T10:00:00Z",
                "processServers": [{
                    "id": "ps-azure-01-id", "friendlyName": "ps-azure-01", "ipAddress": "10.1.0.4",
                    "lastHeartbeat": "2026-11-26T10:00:00Z", "health": "Normal", "healthErrors": [],
                    "machineCount": "12"
                }],
                "masterTargetServers": [{
                    "id": "mt-lnx-01-id", "name": "mt-lnx-01", "osType": "Linux",
                    "lastHeartbeat": "2026-11-26T10:00:00", "diskCount": 3,
                    "retentionVolumes": [{"volumeName": "/mnt/retention", "capacityInBytes": 536870912000u64,
                        "freeSpaceInBytes": 429496729600u64, "thresholdPercentage": 80}],
                    "dataStores": [{"symbolicName": "vmfs-gold-01", "uuid": "5f1a", "capacity": "4096", "freeSpace": "1500", "type": "VMFS"}],
                    "validationErrors": [], "healthErrors": []
                }],
                "runAsAccounts": [{"accountId": "1", "accountName": "vcenter-admin"}]
            },
            "healthErrorDetails": [],
            "health": "Normal"
        }
    })
}

pub type Shared = Arc<Mutex<World>>;

/// Starts the server; returns its base URL and the shared world.
pub async fn start(world: World) -> (url::Url, Shared) {
    let shared: Shared = Arc::new(Mutex::new(world));
    let state = shared.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let state = state.clone();
            async move { handle(&state, method, uri, headers, body) }
        },
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    (
        url::Url::parse(&format!("http://{address}/")).unwrap(),
        shared,
    )
}

fn cloud_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": "BadRequest", "message": "The operation has failed.",
        "details": [{"code": code, "message": message,
            "possibleCauses": format!("Cause of {code}."), "recommendedAction": format!("Fix {code}.")}]}});
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn dropped(body: Value) -> Response {
    let bytes = serde_json::to_vec(&body).unwrap();
    let first = bytes[..bytes.len().min(5)].to_vec();
    let stream = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(axum::body::Bytes::from(first)),
        Err(std::io::Error::other("connection reset by the fake")),
    ]);
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn handle(
    state: &Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut world = state.lock().unwrap();
    world.requests += 1;
    let authorized = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == format!("Bearer {TOKEN}"));
    if !authorized {
        let body = json!({"error": {"code": "ExpiredAuthenticationToken", "message": "The access token expiry UTC time is earlier than current UTC time."}});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    if !query.contains("api-version=2026-05-01") {
        return cloud_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter is required.",
        );
    }
    let mut after_accept = false;
    if let Some(position) = world.faults.iter().position(|(fault_method, needle, _)| {
        *fault_method == method && path.contains(needle.as_str())
    }) {
        let (_, _, fault) = world.faults.remove(position).unwrap();
        match fault {
            Fault::TooManyRequests { retry_after_s } => {
                return Response::builder()
                    .status(429)
                    .header("retry-after", retry_after_s.to_string())
                    .header("content-type", "application/json")
                    .body(Body::from(
                        r#"{"error":{"code":"TooManyRequests","message":"Throttled."}}"#,
                    ))
                    .unwrap();
            }
            Fault::Status(status) => {
                return cloud_error(status, "InternalError", "Something failed inside.");
            }
            Fault::Drop => return dropped(json!({"value": []})),
            Fault::DropAfterAccept => after_accept = true,
        }
    }
    let vault_prefix = vault_id().to_ascii_lowercase();
    let lower = path.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix(&vault_prefix) else {
        return cloud_error(404, "ResourceNotFound", "No such vault.");
    };
    let rest_original = path[vault_prefix.len()..].to_owned();
    let segments: Vec<&str> = rest_original.trim_start_matches('/').split('/').collect();
    let skip: usize = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("skip="))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let page = |world: &World, all: &[Value], base: &str| -> Response {
        let size = if world.page_size == 0 {
            usize::MAX
        } else {
            world.page_size
        };
        let value: Vec<Value> = all.iter().skip(skip).take(size).cloned().collect();
        let next = (skip.saturating_add(size) < all.len()).then(|| {
            format!(
                "http://{}{}?api-version=2026-05-01&skip={}",
                headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or(""),
                base,
                skip + size
            )
        });
        axum::Json(json!({"value": value, "nextLink": next})).into_response()
    };
    match (method.as_str(), rest, segments.as_slice()) {
        ("GET", "/replicationfabrics", _) => page(&world, &world.fabrics.clone(), &path),
        ("GET", _, ["replicationFabrics", fabric, "replicationvCenters"]) => {
            let all = world.vcenters.get(*fabric).cloned().unwrap_or_default();
            page(&world, &all, &path)
        }
        (
            "GET",
            _,
            [
                "replicationFabrics",
                fabric,
                "replicationProtectionContainers",
            ],
        ) => {
            let all = world.containers.get(*fabric).cloned().unwrap_or_default();
            page(&world, &all, &path)
        }
        ("GET", "/replicationprotecteditems", _) => page(&world, &world.items.clone(), &path),
        ("GET", "/replicationrecoveryplans", _) => page(&world, &world.plans.clone(), &path),
        ("GET", "/replicationpolicies", _) => page(&world, &world.policies.clone(), &path),
        (
            "GET",
            _,
            [
                "replicationFabrics",
                _,
                "replicationProtectionContainers",
                _,
                "replicationProtectedItems",
                name,
            ],
        ) => match world.items.iter().find(|item| item["name"] == *name) {
            Some(item) => axum::Json(item.clone()).into_response(),
            None => cloud_error(
                404,
                "ReplicationProtectedItemNotFound",
                "The protected item was not found.",
            ),
        },
        (
            "POST",
            _,
            [
                "replicationFabrics",
                _,
                "replicationProtectionContainers",
                _,
                "replicationProtectedItems",
                name,
                "reProtect",
            ],
        ) => {
            let name = (*name).to_owned();
            reprotect(&mut world, &name, &body, after_accept)
        }
        ("GET", _, ["replicationJobs", job]) => {
            if world.job_invisible_polls > 0 {
                world.job_invisible_polls -= 1;
                return cloud_error(404, "JobNotFound", "The job was not found.");
            }
            job_status(&mut world, job)
        }
        ("GET", _, ["replicationOperationStatus", job]) => operation_status(&mut world, job),
        _ => cloud_error(
            404,
            "NotFound",
            &format!("the fake does not serve {method} {path}"),
        ),
    }
}

fn reprotect(world: &mut World, name: &str, body: &[u8], after_accept: bool) -> Response {
    let Ok(input) = serde_json::from_slice::<Value>(body) else {
        return cloud_error(400, "InvalidRequestBody", "The body is not JSON.");
    };
    world.bodies.push(input.clone());
    let details = &input["properties"]["providerSpecificDetails"];
    for field in [
        "masterTargetId",
        "processServerId",
        "retentionDrive",
        "profileId",
    ] {
        if details[field].as_str().is_none_or(str::is_empty) {
            return cloud_error(
                400,
                "InvalidParameterValue",
                &format!("{field} is required."),
            );
        }
    }
    let Some(index) = world.items.iter().position(|item| item["name"] == name) else {
        return cloud_error(
            404,
            "ReplicationProtectedItemNotFound",
            "The protected item was not found.",
        );
    };
    let allowed = world.items[index]["properties"]["allowedOperations"]
        .as_array()
        .is_some_and(|ops| ops.iter().any(|op| op == "ReverseReplicate"));
    if !allowed {
        return cloud_error(
            400,
            "ProtectionStateInvalid",
            "The operation is not allowed in the current protection state.",
        );
    }
    *world.reprotect_posts.entry(name.to_owned()).or_default() += 1;
    world.next_job += 1;
    let job = format!("job-{}", world.next_job);
    let fails = world.failing.iter().any(|failing| failing == name);
    world.failing.retain(|failing| failing != name);
    world.jobs.insert(
        job.clone(),
        Job {
            item: name.to_owned(),
            polls_left: world.job_polls,
            fails,
        },
    );
    let item = &mut world.items[index]["properties"];
    item["currentScenario"] = json!({"scenarioName": "ReverseReplication", "jobId": format!("{}/replicationJobs/{job}", vault_id())});
    item["allowedOperations"] = json!([]);
    if world.instant_jobs {
        let polls = world.job_polls;
        if let Some(job) = world.jobs.get_mut(&format!("job-{}", world.next_job)) {
            job.polls_left = 0;
        }
        let name = format!("job-{}", world.next_job);
        drop(job_status(world, &name));
        world.job_polls = polls;
    }
    if after_accept {
        return dropped(json!({}));
    }
    let mut response = Response::builder()
        .status(202)
        .header(
            "azure-asyncoperation",
            format!(
                "{}/replicationOperationStatus/{job}?api-version=2026-05-01",
                vault_id()
            ),
        )
        .header("retry-after", "0");
    if !world.async_operation_only {
        response = response.header(
            "location",
            format!(
                "{}/operationresults/{job}?api-version=2026-05-01",
                vault_id()
            ),
        );
    }
    response.body(Body::empty()).unwrap()
}

/// `replicationOperationStatus/{job}`: ARM's operation status, moving the job on.
fn operation_status(world: &mut World, name: &str) -> Response {
    let job = job_status(world, name);
    let state = world.jobs.get(name).map(|job| {
        if job.polls_left > 0 {
            "InProgress"
        } else if job.fails {
            "Failed"
        } else {
            "Succeeded"
        }
    });
    drop(job);
    match state {
        Some(state) => axum::Json(json!({"name": name, "status": state})).into_response(),
        None => cloud_error(404, "OperationNotFound", "The operation was not found."),
    }
}

fn job_status(world: &mut World, name: &str) -> Response {
    let Some(job) = world.jobs.get_mut(name) else {
        return cloud_error(404, "JobNotFound", "The job was not found.");
    };
    let state = if job.polls_left > 0 {
        job.polls_left -= 1;
        "InProgress"
    } else if job.fails {
        "Failed"
    } else {
        "Succeeded"
    };
    let item_name = job.item.clone();
    let finished = state != "InProgress";
    let fails = job.fails;
    if finished
        && let Some(item) = world
            .items
            .iter_mut()
            .find(|item| item["name"] == item_name.as_str())
    {
        let properties = &mut item["properties"];
        properties["currentScenario"] = json!({"scenarioName": "None", "jobId": format!("{}/replicationJobs/None", vault_id())});
        if fails {
            properties["allowedOperations"] = json!(["ReverseReplicate", "DisableProtection"]);
        } else {
            properties["protectionState"] = json!("Protected");
            properties["protectionStateDescription"] = json!("Protected");
            properties["allowedOperations"] = json!(["PlannedFailover", "DisableProtection"]);
            properties["providerSpecificDetails"] = json!({"instanceType": "InMage", "masterTargetId": "mt-lnx-01-id",
                    "processServerId": "ps-azure-01-id", "datastores": ["vmfs-gold-01"], "osDetails": {"osType": "Linux"}});
        }
    }
    let task_state = |index: u32| match (finished, index) {
        (true, 1) => state,
        (false, 1) => "InProgress",
        _ => "Succeeded",
    };
    let errors = if fails && finished {
        json!([{"serviceErrorDetails": {"code": "539", "message": "The master target could not be reached.",
            "possibleCauses": "The master target is powered off.", "recommendedAction": "Start the master target and retry."},
            "taskId": "t2"}])
    } else {
        json!([])
    };
    axum::Json(json!({
        "id": format!("{}/replicationJobs/{name}", vault_id()),
        "name": name,
        "properties": {
            "scenarioName": "ReverseReplication",
            "friendlyName": "Reprotect",
            "state": state,
            "targetObjectName": item_name,
            "tasks": [
                {"taskId": "t1", "name": "Prerequisites", "friendlyName": "Prerequisites check", "state": task_state(0)},
                {"taskId": "t2", "name": "Reprotect", "friendlyName": "Start reverse replication", "state": task_state(1)}
            ],
            "errors": errors
        }
    }))
    .into_response()
}
