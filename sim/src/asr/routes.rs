//! The ARM surface: authentication, `api-version`, the vault's resource paths, paging.
//!
//! ARM matches paths case-insensitively and answers with ids that start with
//! `/Subscriptions/`, so requests are routed here by hand on lower-cased segments
//! instead of axum's case-sensitive router.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ArmError, ServiceError, not_found};
use super::lro::{accepted, operation_result};
use super::query::{Query, paged};
use super::world::{World, container_name};
use super::{API_VERSION, Shared, item_shape, jobs, reprotect, shapes};

/// Checks the bearer token: ARM's 401 shapes for a missing or a wrong one.
pub fn authenticate(headers: &HeaderMap, token: &str) -> Result<(), ArmError> {
    let challenge = "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\"";
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ArmError::plain(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
        .with_header(header::WWW_AUTHENTICATE, challenge));
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(presented) if constant_time_eq(presented.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ArmError::plain(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )
        .with_header(header::WWW_AUTHENTICATE, challenge)),
        None => Err(ArmError::plain(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenTenant",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )
        .with_header(header::WWW_AUTHENTICATE, challenge)),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_api_version(query: &Query) -> Result<(), ArmError> {
    match query.get("api-version") {
        None => Err(ArmError::plain(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(API_VERSION) => Ok(()),
        Some(other) => Err(ArmError::plain(
            StatusCode::BAD_REQUEST,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location 'westeurope' and API version '{other}' for type 'vaults'. The supported api-versions are '{API_VERSION}'."
            ),
        )),
    }
}

/// The whole ARM surface: every request that is not under `/_sim/`.
pub async fn arm(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&shared, &method, &uri, &headers, &body) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

fn handle(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ArmError> {
    authenticate(headers, &shared.token)?;
    let query = Query::parse(uri.query());
    check_api_version(&query)?;
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let mut world = shared.lock_world();
    world.settle();
    // subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}
    let prefix_ok = lower.len() >= 8
        && lower[0] == "subscriptions"
        && lower[2] == "resourcegroups"
        && lower[4] == "providers"
        && lower[5] == "microsoft.recoveryservices"
        && lower[6] == "vaults";
    if !prefix_ok {
        return Err(ArmError::plain(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!("The resource path '{}' is not served here.", uri.path()),
        ));
    }
    if !segments[1].eq_ignore_ascii_case(&world.ids.subscription_id) {
        return Err(ArmError::plain(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{}' could not be found.", segments[1]),
        ));
    }
    if !segments[3].eq_ignore_ascii_case(&world.ids.resource_group) {
        return Err(ArmError::plain(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            format!("Resource group '{}' could not be found.", segments[3]),
        ));
    }
    if !segments[7].eq_ignore_ascii_case(&world.ids.vault) {
        return Err(ArmError::plain(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The Resource 'Microsoft.RecoveryServices/vaults/{}' under resource group '{}' was not found.",
                segments[7], segments[3]
            ),
        ));
    }
    let names = &segments[8..];
    let kinds: Vec<&str> = lower[8..].iter().map(String::as_str).collect();
    let page = |items: Vec<Value>| paged(shared, uri, &query, items, |item| item);
    let get = method == Method::GET;
    let post = method == Method::POST;
    match kinds.as_slice() {
        ["replicationfabrics"] if get => page(
            world
                .fabrics
                .iter()
                .map(|f| shapes::fabric(&world, f))
                .collect(),
        ),
        ["replicationfabrics", _] if get => {
            let fabric = fabric(&world, names[1])?;
            ok(shapes::fabric(&world, fabric))
        }
        ["replicationvcenters"] if get => page(
            world
                .fabrics
                .iter()
                .flat_map(|f| {
                    f.estate
                        .vcenters
                        .iter()
                        .map(|v| shapes::vcenter(&world, f, v))
                })
                .collect(),
        ),
        ["replicationfabrics", _, "replicationvcenters"] if get => {
            let fabric = fabric(&world, names[1])?;
            page(
                fabric
                    .estate
                    .vcenters
                    .iter()
                    .map(|v| shapes::vcenter(&world, fabric, v))
                    .collect(),
            )
        }
        ["replicationfabrics", _, "replicationvcenters", _] if get => {
            let fabric = fabric(&world, names[1])?;
            let host = fabric
                .estate
                .vcenters
                .iter()
                .find(|v| shapes::vcenter_name(v).eq_ignore_ascii_case(names[3]))
                .ok_or_else(|| not_found("VCenter", names[3]))?;
            ok(shapes::vcenter(&world, fabric, host))
        }
        ["replicationprotectioncontainers"] if get => page(
            world
                .fabrics
                .iter()
                .map(|f| shapes::container(&world, f))
                .collect(),
        ),
        ["replicationfabrics", _, "replicationprotectioncontainers"] if get => {
            let fabric = fabric(&world, names[1])?;
            page(vec![shapes::container(&world, fabric)])
        }
        [
            "replicationfabrics",
            _,
            "replicationprotectioncontainers",
            _,
        ] if get => {
            let fabric = container(&world, names[1], names[3])?;
            ok(shapes::container(&world, fabric))
        }
        ["replicationprotecteditems"] if get => {
            let indexes = filtered_items(&world, &query, None)?;
            paged(shared, uri, &query, indexes, |i| {
                item_shape::protected_item(&world, i)
            })
        }
        [
            "replicationfabrics",
            _,
            "replicationprotectioncontainers",
            _,
            "replicationprotecteditems",
        ] if get => {
            let fabric = container(&world, names[1], names[3])?.name().to_owned();
            let indexes = filtered_items(&world, &query, Some(&fabric))?;
            paged(shared, uri, &query, indexes, |i| {
                item_shape::protected_item(&world, i)
            })
        }
        [
            "replicationfabrics",
            _,
            "replicationprotectioncontainers",
            _,
            "replicationprotecteditems",
            _,
        ] if get => {
            let index = item(&world, names[1], names[3], names[5])?;
            ok(item_shape::protected_item(&world, index))
        }
        [
            "replicationfabrics",
            _,
            "replicationprotectioncontainers",
            _,
            "replicationprotecteditems",
            _,
            "reprotect",
        ] if post => {
            let index = item(&world, names[1], names[3], names[5])?;
            let item_name = world.items[index].name().to_owned();
            *world.reprotect_requests.entry(item_name).or_default() += 1;
            let settings = reprotect::check(&world, index, body)?;
            let job = reprotect::start(&mut world, index, settings);
            let item_id = world
                .ids
                .item_id(&world.items[index].estate.fabric, world.items[index].name());
            Ok(accepted(shared, &world, &item_id, &job))
        }
        [
            "replicationfabrics",
            _,
            "replicationprotectioncontainers",
            _,
            "replicationprotecteditems",
            _,
            "operationresults",
            _,
        ] if get => {
            let index = item(&world, names[1], names[3], names[5])?;
            operation_result(shared, &world, index, names[7])
        }
        ["replicationoperationstatus", _] if get => {
            let job = world
                .job(names[1])
                .ok_or_else(|| not_found("Operation", names[1]))?;
            ok(jobs::operation_status(&world, job))
        }
        ["replicationrecoveryplans"] if get => {
            paged(shared, uri, &query, world.plans.iter().collect(), |p| {
                shapes::recovery_plan(&world, p)
            })
        }
        ["replicationrecoveryplans", _] if get => {
            let plan = world
                .plan(names[1])
                .ok_or_else(|| not_found("RecoveryPlan", names[1]))?;
            ok(shapes::recovery_plan(&world, plan))
        }
        ["replicationrecoveryplans", _, "reprotect"] if post => {
            let plan = world
                .plan(names[1])
                .ok_or_else(|| not_found("RecoveryPlan", names[1]))?;
            Err(plan_reprotect_refused(&plan.name))
        }
        ["replicationpolicies"] if get => {
            paged(shared, uri, &query, world.policies.iter().collect(), |p| {
                shapes::policy(&world, p)
            })
        }
        ["replicationpolicies", _] if get => {
            let policy = world
                .policy(names[1])
                .ok_or_else(|| not_found("ReplicationPolicy", names[1]))?;
            ok(shapes::policy(&world, policy))
        }
        ["replicationjobs"] if get => paged(
            shared,
            uri,
            &query,
            world.jobs.iter().rev().collect(),
            |j| jobs::job(&world, j),
        ),
        ["replicationjobs", _] if get => {
            let job = world
                .job(names[1])
                .ok_or_else(|| not_found("Job", names[1]))?;
            ok(jobs::job(&world, job))
        }
        _ if known_shape(&kinds) => Err(ArmError::plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "HttpMethodNotAllowed",
            format!(
                "The HTTP method '{method}' is not supported for '{}'.",
                uri.path()
            ),
        )),
        _ => Err(ArmError::plain(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!(
                "The resource path '{}' is not served by this simulator.",
                uri.path()
            ),
        )),
    }
}

/// Paths this simulator serves (under some method), names as `_`.
const SERVED: [&str; 21] = [
    "replicationfabrics",
    "replicationfabrics/_",
    "replicationfabrics/_/replicationvcenters",
    "replicationfabrics/_/replicationvcenters/_",
    "replicationfabrics/_/replicationprotectioncontainers",
    "replicationfabrics/_/replicationprotectioncontainers/_",
    "replicationfabrics/_/replicationprotectioncontainers/_/replicationprotecteditems",
    "replicationfabrics/_/replicationprotectioncontainers/_/replicationprotecteditems/_",
    "replicationfabrics/_/replicationprotectioncontainers/_/replicationprotecteditems/_/reprotect",
    "replicationfabrics/_/replicationprotectioncontainers/_/replicationprotecteditems/_/operationresults/_",
    "replicationvcenters",
    "replicationprotectioncontainers",
    "replicationprotecteditems",
    "replicationoperationstatus/_",
    "replicationrecoveryplans",
    "replicationrecoveryplans/_",
    "replicationrecoveryplans/_/reprotect",
    "replicationpolicies",
    "replicationpolicies/_",
    "replicationjobs",
    "replicationjobs/_",
];

/// Whether a path is one this simulator serves under some method (then a wrong
/// method is 405, not 404).
fn known_shape(kinds: &[&str]) -> bool {
    let shape: Vec<&str> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| if i % 2 == 1 { "_" } else { kind })
        .collect();
    SERVED.contains(&shape.join("/").as_str())
}

fn ok(body: Value) -> Result<Response, ArmError> {
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

fn fabric<'w>(world: &'w World, name: &str) -> Result<&'w super::world::FabricState, ArmError> {
    world
        .fabric(name)
        .ok_or_else(|| not_found("ReplicationFabric", name))
}

fn container<'w>(
    world: &'w World,
    fabric_name: &str,
    container: &str,
) -> Result<&'w super::world::FabricState, ArmError> {
    let fabric = fabric(world, fabric_name)?;
    if container_name(fabric.name()).eq_ignore_ascii_case(container) {
        Ok(fabric)
    } else {
        Err(not_found("ProtectionContainer", container))
    }
}

fn item(
    world: &World,
    fabric_name: &str,
    container_arg: &str,
    name: &str,
) -> Result<usize, ArmError> {
    let fabric = container(world, fabric_name, container_arg)?;
    world
        .item_index(name)
        .filter(|&i| {
            world.items[i]
                .estate
                .fabric
                .eq_ignore_ascii_case(fabric.name())
        })
        .ok_or_else(|| not_found("ReplicationProtectedItem", name))
}

/// Items in list order, narrowed by a fabric and by PowerShell's recovery-plan filter
/// (`$filter=RecoveryPlanName eq 'plan'`).
fn filtered_items(
    world: &World,
    query: &Query,
    fabric: Option<&str>,
) -> Result<Vec<usize>, ArmError> {
    let plan = match query.get("$filter") {
        None => None,
        Some(filter) => Some(parse_plan_filter(filter).ok_or_else(|| {
            ArmError::plain(
                StatusCode::BAD_REQUEST,
                "InvalidFilter",
                format!(
                    "The filter '{filter}' is not supported; use RecoveryPlanName eq '<plan>'."
                ),
            )
        })?),
    };
    let members: Option<Vec<String>> = match &plan {
        None => None,
        Some(name) => Some(
            world
                .plan(name)
                .ok_or_else(|| not_found("RecoveryPlan", name))?
                .members
                .iter()
                .map(|m| m.to_ascii_lowercase())
                .collect(),
        ),
    };
    Ok((0..world.items.len())
        .filter(|&i| {
            let item = &world.items[i];
            fabric.is_none_or(|f| item.estate.fabric.eq_ignore_ascii_case(f))
                && members
                    .as_ref()
                    .is_none_or(|m| m.contains(&item.name().to_ascii_lowercase()))
        })
        .collect())
}

fn parse_plan_filter(filter: &str) -> Option<String> {
    let rest = filter.trim();
    let (field, rest) = rest.split_once(' ')?;
    if !field.eq_ignore_ascii_case("RecoveryPlanName") {
        return None;
    }
    let (op, value) = rest.trim().split_once(' ')?;
    if !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let value = value.trim();
    let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(value.to_owned())
}

fn plan_reprotect_refused(plan: &str) -> ArmError {
    ArmError::asr(
        StatusCode::BAD_REQUEST,
        ServiceError::new(
            "RecoveryPlanReprotectNotSupportedForVMware",
            format!(
                "Reprotect of the recovery plan '{plan}' is not supported: the scenario 'VMware to Azure' (InMageAzureV2) does not support reprotecting a recovery plan. This operation is deprecated and no longer works."
            ),
        )
        .causes("Reprotect of VMware virtual machines needs per-machine input (master target, process server, retention drive, datastore), which a recovery plan reprotect cannot carry.")
        .action("Reprotect each protected item of the plan with the InMage reprotect input."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_shapes_ignore_names() {
        assert!(known_shape(&["replicationfabrics", "cs01"]));
        assert!(known_shape(&[
            "replicationfabrics",
            "x",
            "replicationprotectioncontainers",
            "y",
            "replicationprotecteditems",
            "z",
            "reprotect"
        ]));
        assert!(!known_shape(&[
            "replicationfabrics",
            "x",
            "replicationprotectioncontainers",
            "y",
            "replicationprotecteditems",
            "z",
            "unplannedfailover"
        ]));
        assert!(!known_shape(&["replicationstorageclassifications"]));
    }

    #[test]
    fn plan_filter_is_powershells() {
        assert_eq!(
            parse_plan_filter("RecoveryPlanName eq 'erp-plan'").as_deref(),
            Some("erp-plan")
        );
        assert_eq!(
            parse_plan_filter("recoveryplanname EQ 'p'").as_deref(),
            Some("p")
        );
        assert_eq!(parse_plan_filter("Name eq 'p'"), None);
        assert_eq!(parse_plan_filter("RecoveryPlanName eq p"), None);
    }
}
