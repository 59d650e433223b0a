//! The admin path (`/_sim/...`): lets tests change the world while it runs and read
//! what the simulator saw. Same bearer token as ARM; never subject to fault injection.
//!
//! | method | path | body | effect |
//! | --- | --- | --- | --- |
//! | GET | `/_sim/counters` | | reprotect requests/accepted per item, calls |
//! | GET | `/_sim/clock` | | the simulated time and scale |
//! | POST | `/_sim/clock/advance` | `{"seconds": N}` | simulated time jumps N seconds ahead (jobs finish, heartbeats age, agents register) |
//! | POST | `/_sim/fabrics/{fabric}/heartbeat` | `{"age_s": N}` | the configuration server's last heartbeat is N simulated seconds ago |
//! | POST | `/_sim/process-servers/{id}/heartbeat` | `{"age_s": N}` | same for a process server |
//! | POST | `/_sim/master-targets/{id}/heartbeat` | `{"age_s": N}` | same for a master target |
//! | POST | `/_sim/process-servers/{id}/health-errors` | `{"message": "..."}` | adds a health error |
//! | PATCH | `/_sim/items/{item}` | any of `protection_state`, `protection_state_description`, `active_location`, `allowed_operations`, `replication_health`, `health_errors`, `master_target` | changes the item (`master_target`: the id or name of a master target of its fabric that a reprotected item now replicates through, as after someone reprotected it again by hand) |
//! | POST | `/_sim/items/{item}/agent-registered` | | the agent registers now |

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Shared;
use super::clock::{arm_time, sim_delta};
use super::error::ArmError;
use super::routes::authenticate;
use super::world::{FabricState, HealthIssue, Heartbeat, World, describe_state};

pub fn router() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/_sim/counters", get(counters))
        .route("/_sim/clock", get(clock))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/fabrics/{fabric}/heartbeat", post(fabric_heartbeat))
        .route(
            "/_sim/process-servers/{id}/heartbeat",
            post(process_server_heartbeat),
        )
        .route(
            "/_sim/master-targets/{id}/heartbeat",
            post(master_target_heartbeat),
        )
        .route(
            "/_sim/process-servers/{id}/health-errors",
            post(process_server_health_error),
        )
        .route("/_sim/items/{item}", patch(patch_item))
        .route(
            "/_sim/items/{item}/agent-registered",
            post(agent_registered),
        )
}

fn admin_error(status: StatusCode, code: &str, message: String) -> ArmError {
    ArmError::plain(status, code, message)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ArmError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        admin_error(
            StatusCode::BAD_REQUEST,
            "InvalidAdminRequest",
            format!("at `{}`: {}", err.path(), err.inner()),
        )
    })
}

/// Runs an admin action after the token check, with the world settled.
fn guarded(
    shared: &Shared,
    headers: &HeaderMap,
    action: impl FnOnce(&mut World) -> Result<serde_json::Value, ArmError>,
) -> Response {
    if let Err(err) = authenticate(headers, &shared.token) {
        return err.into_response();
    }
    let mut world = shared.lock_world();
    world.settle();
    match action(&mut world) {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn counters(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let calls = shared.calls_snapshot();
    guarded(&shared, &headers, |world| {
        Ok(json!({
            "reprotect_requests": world.reprotect_requests,
            "reprotect_accepted": world.reprotect_accepted,
            "jobs": world.jobs.len(),
            "calls": calls.iter().map(|c| format!("{} {}", c.method, c.path)).collect::<Vec<_>>(),
        }))
    })
}

async fn clock(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    guarded(&shared, &headers, |world| {
        Ok(json!({
            "now": arm_time(world.now()),
            "epoch": arm_time(world.clock.epoch()),
            "time_scale": world.clock.scale(),
        }))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

async fn advance_clock(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    guarded(&shared, &headers, |world| {
        let advance: Advance = parse(&body)?;
        if !advance.seconds.is_finite() || advance.seconds < 0.0 {
            return Err(admin_error(
                StatusCode::BAD_REQUEST,
                "InvalidAdminRequest",
                "seconds must be a finite number of seconds, 0 or more".to_owned(),
            ));
        }
        world.clock.advance(advance.seconds);
        world.settle();
        Ok(json!({"now": arm_time(world.now())}))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeartbeatAge {
    age_s: u64,
}

async fn fabric_heartbeat(
    State(shared): State<Arc<Shared>>,
    Path(fabric): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    guarded(&shared, &headers, |world| {
        let age: HeartbeatAge = parse(&body)?;
        let now = world.now();
        let state = world.fabric_mut(&fabric).ok_or_else(|| {
            admin_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no fabric '{fabric}'"),
            )
        })?;
        state.heartbeat.last = now - sim_delta(age.age_s as f64);
        Ok(json!({"lastHeartbeat": arm_time(state.heartbeat.last)}))
    })
}

async fn process_server_heartbeat(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_component_heartbeat(
        &shared,
        &headers,
        &body,
        &id,
        "process server",
        |fabric, id| {
            let (index, _) = fabric.process_server(id)?;
            Some(&mut fabric.process_server_heartbeats[index])
        },
    )
}

async fn master_target_heartbeat(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_component_heartbeat(
        &shared,
        &headers,
        &body,
        &id,
        "master target",
        |fabric, id| {
            let (index, _) = fabric.master_target(id)?;
            Some(&mut fabric.master_target_heartbeats[index])
        },
    )
}

/// Sets the heartbeat of the component with `id`, in whichever fabric `find` locates it.
fn set_component_heartbeat(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    id: &str,
    what: &str,
    find: impl for<'f> Fn(&'f mut FabricState, &str) -> Option<&'f mut Heartbeat>,
) -> Response {
    guarded(shared, headers, |world| {
        let age: HeartbeatAge = parse(body)?;
        let now = world.now();
        for fabric in &mut world.fabrics {
            if let Some(beat) = find(fabric, id) {
                beat.last = now - sim_delta(age.age_s as f64);
                return Ok(json!({"lastHeartbeat": arm_time(beat.last)}));
            }
        }
        Err(admin_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no {what} '{id}'"),
        ))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHealthError {
    message: String,
}

async fn process_server_health_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    guarded(&shared, &headers, |world| {
        let new: NewHealthError = parse(&body)?;
        let now = world.now();
        for fabric in &mut world.fabrics {
            if let Some((_, ps)) = fabric.process_server(&id) {
                let issue = HealthIssue {
                    code: "ProcessServerHealthError".to_owned(),
                    source: ps.name.clone(),
                    category: "FabricInfrastructure".to_owned(),
                    level: "Error".to_owned(),
                    message: new.message.clone(),
                    causes: String::new(),
                    action: String::new(),
                    entity_id: ps.id.clone(),
                    at: now,
                };
                let key = ps.id.clone();
                fabric
                    .process_server_issues
                    .entry(key)
                    .or_default()
                    .push(issue);
                return Ok(json!({"added": new.message}));
            }
        }
        Err(admin_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no process server '{id}'"),
        ))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemPatch {
    protection_state: Option<String>,
    protection_state_description: Option<String>,
    active_location: Option<String>,
    allowed_operations: Option<Vec<String>>,
    replication_health: Option<String>,
    /// Replaces the item's health errors (messages); `[]` clears them.
    health_errors: Option<Vec<String>>,
    /// Another master target (id or name, of the item's fabric) for a reprotected item.
    master_target: Option<String>,
}

async fn patch_item(
    State(shared): State<Arc<Shared>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    guarded(&shared, &headers, |world| {
        let change: ItemPatch = parse(&body)?;
        let now = world.now();
        let index = world.item_index(&item).ok_or_else(|| {
            admin_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no protected item '{item}'"),
            )
        })?;
        if let Some(wanted) = &change.master_target {
            let fabric_name = world.items[index].estate.fabric.clone();
            let master_target_id = world
                .fabric(&fabric_name)
                .and_then(|fabric| {
                    fabric.estate.master_targets.iter().find(|mt| {
                        mt.id.eq_ignore_ascii_case(wanted) || mt.name.eq_ignore_ascii_case(wanted)
                    })
                })
                .map(|mt| mt.id.clone())
                .ok_or_else(|| {
                    admin_error(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        format!("fabric '{fabric_name}' has no master target '{wanted}'"),
                    )
                })?;
            let Some(reverse) = world.items[index].reverse.as_mut() else {
                return Err(admin_error(
                    StatusCode::CONFLICT,
                    "NotReprotected",
                    format!("protected item '{item}' is not reprotected: it has no master target"),
                ));
            };
            reverse.master_target_id = master_target_id;
        }
        let state = &mut world.items[index];
        if let Some(protection) = change.protection_state {
            state.protection_state_description = describe_state(&protection);
            state.protection_state = protection;
        }
        if let Some(description) = change.protection_state_description {
            state.protection_state_description = description;
        }
        if let Some(location) = change.active_location {
            state.active_location = location;
        }
        if let Some(allowed) = change.allowed_operations {
            state.allowed_operations = allowed;
        }
        if let Some(health) = change.replication_health {
            state.replication_health = Some(health);
        }
        if let Some(messages) = change.health_errors {
            state.issues = messages
                .into_iter()
                .map(|message| HealthIssue {
                    code: "ReplicationHealthError".to_owned(),
                    source: state.estate.friendly_name.clone(),
                    category: "Replication".to_owned(),
                    level: "Error".to_owned(),
                    message,
                    causes: String::new(),
                    action: String::new(),
                    entity_id: state.estate.name.clone(),
                    at: now,
                })
                .collect();
        }
        Ok(json!({
            "protectionState": state.protection_state,
            "allowedOperations": state.allowed_operations,
        }))
    })
}

async fn agent_registered(
    State(shared): State<Arc<Shared>>,
    Path(item): Path<String>,
    headers: HeaderMap,
) -> Response {
    guarded(&shared, &headers, |world| {
        let now = world.now();
        let index = world.item_index(&item).ok_or_else(|| {
            admin_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no protected item '{item}'"),
            )
        })?;
        let state = &mut world.items[index];
        if state.agent_registered_at > now {
            state.agent_registered_at = now;
        }
        Ok(json!({"registered": arm_time(state.agent_registered_at)}))
    })
}
