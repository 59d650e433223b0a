//! Schema conformance: every answer the simulator serves — each endpoint, each state
//! of an item and a job, errors, operation status — checked against Microsoft's
//! swagger (`shared/asr-api/service.2026-05-01.json` with ARM's common types), and its
//! shapes compared with the structure of Microsoft's published examples.

mod schema;
mod support;

use std::collections::BTreeSet;

use failback_sim::asr::{RunningAsrSimulator, SimOptions};
use reqwest::Method;
use schema::{Swagger, example_body, key_paths};
use serde_json::{Value, json};
use support::*;

/// A world in every state worth checking: a reverse-protected item, a running job, a
/// failed job, health errors, a stale heartbeat, an unusable retention volume.
async fn world_in_every_state() -> RunningAsrSimulator {
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.behaviour.reprotect_job_s = 600.0;
    estate.vault.behaviour.time_scale = 1.0;
    estate.vault.behaviour.faults.failing_jobs = vec!["app01-item".into()];
    let volume = &mut estate.vault.configuration_servers[0].master_targets[1].retention_volumes[0];
    volume.locked = true;
    volume.file_system = Some("FAT32".into());
    volume.in_use_for = Some("replication-target".into());
    estate.vault.protected_items[5].health_errors =
        vec!["The agent cannot reach the process server".into()];
    let sim = start(
        estate,
        SimOptions {
            page_size: 2,
            ..SimOptions::default()
        },
    )
    .await;
    let web = item_path(&sim, "web01-item").await;
    let app = item_path(&sim, "app01-item").await;
    assert_eq!(
        post(&sim, &format!("{web}/reProtect"), &linux_input(&sim))
            .await
            .status,
        202
    );
    let windows = reprotect_input(&sim, "mt-win-01-id", "R:");
    assert_eq!(
        post(&sim, &format!("{app}/reProtect"), &windows)
            .await
            .status,
        202
    );
    sim.advance_clock(601.0);
    // A job left running, on db01.
    let db = item_path(&sim, "db01-item").await;
    assert_eq!(
        post(&sim, &format!("{db}/reProtect"), &linux_input(&sim))
            .await
            .status,
        202
    );
    let stale = admin(
        &sim,
        Method::POST,
        "/_sim/process-servers/ps-onprem-01-id/heartbeat",
        Some(json!({"age_s": 7200})),
    )
    .await;
    assert_eq!(stale.status, 200);
    sim
}

fn path_of(url: &str) -> String {
    let without_scheme = url.split("://").nth(1).unwrap_or(url);
    let path = without_scheme
        .find('/')
        .map(|i| &without_scheme[i..])
        .unwrap_or("/");
    path.split('?').next().unwrap_or(path).to_owned()
}

/// GETs every page of a list and checks each page against the list operation's schema;
/// returns the elements.
async fn checked_list(
    swagger: &Swagger,
    sim: &RunningAsrSimulator,
    sub_path: &str,
    failures: &mut Vec<String>,
) -> Vec<Value> {
    let mut url = sim.vault_url(sub_path);
    let mut all = Vec::new();
    loop {
        let page = get_url(sim, &url).await;
        assert_eq!(page.status, 200, "{url}");
        for error in swagger.check_response("GET", &path_of(&url), 200, &page.body) {
            failures.push(format!("GET {sub_path}: {error}"));
        }
        all.extend(page.body["value"].as_array().cloned().unwrap_or_default());
        match page.body["nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return all,
        }
    }
}

async fn checked_get(
    swagger: &Swagger,
    sim: &RunningAsrSimulator,
    id: &str,
    failures: &mut Vec<String>,
) -> Value {
    let url = format!("{}{id}?api-version=2026-05-01", sim.endpoint());
    let reply = get_url(sim, &url).await;
    assert_eq!(reply.status, 200, "{id}: {:?}", reply.body);
    for error in swagger.check_response("GET", id, 200, &reply.body) {
        failures.push(format!("GET {id}: {error}"));
    }
    reply.body
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn every_served_shape_conforms_to_the_swagger() {
    let swagger = Swagger::load();
    let sim = world_in_every_state().await;
    let mut failures = Vec::new();

    let fabrics = checked_list(&swagger, &sim, "replicationFabrics", &mut failures).await;
    for fabric in &fabrics {
        checked_get(&swagger, &sim, &id(fabric), &mut failures).await;
        let name = fabric["name"].as_str().unwrap_or_default();
        let vcenters = checked_list(
            &swagger,
            &sim,
            &format!("replicationFabrics/{name}/replicationvCenters"),
            &mut failures,
        )
        .await;
        for vcenter in &vcenters {
            checked_get(&swagger, &sim, &id(vcenter), &mut failures).await;
        }
        let containers = checked_list(
            &swagger,
            &sim,
            &format!("replicationFabrics/{name}/replicationProtectionContainers"),
            &mut failures,
        )
        .await;
        for container in &containers {
            checked_get(&swagger, &sim, &id(container), &mut failures).await;
            let container_name = container["name"].as_str().unwrap_or_default();
            checked_list(
                &swagger,
                &sim,
                &format!("replicationFabrics/{name}/replicationProtectionContainers/{container_name}/replicationProtectedItems"),
                &mut failures,
            )
            .await;
        }
    }
    checked_list(&swagger, &sim, "replicationvCenters", &mut failures).await;
    checked_list(
        &swagger,
        &sim,
        "replicationProtectionContainers",
        &mut failures,
    )
    .await;
    let items = checked_list(&swagger, &sim, "replicationProtectedItems", &mut failures).await;
    assert_eq!(items.len(), 6);
    let states: BTreeSet<String> = items
        .iter()
        .map(|i| {
            i["properties"]["providerSpecificDetails"]["instanceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        states,
        BTreeSet::from(["InMage".to_owned(), "InMageAzureV2".to_owned()])
    );
    for item in &items {
        checked_get(&swagger, &sim, &id(item), &mut failures).await;
    }
    let plans = checked_list(&swagger, &sim, "replicationRecoveryPlans", &mut failures).await;
    for plan in &plans {
        checked_get(&swagger, &sim, &id(plan), &mut failures).await;
    }
    let policies = checked_list(&swagger, &sim, "replicationPolicies", &mut failures).await;
    for policy in &policies {
        checked_get(&swagger, &sim, &id(policy), &mut failures).await;
    }
    let jobs = checked_list(&swagger, &sim, "replicationJobs", &mut failures).await;
    let job_states: BTreeSet<&str> = jobs
        .iter()
        .filter_map(|j| j["properties"]["state"].as_str())
        .collect();
    assert_eq!(
        job_states,
        BTreeSet::from(["Failed", "InProgress", "Succeeded"])
    );
    for job in &jobs {
        checked_get(&swagger, &sim, &id(job), &mut failures).await;
        let name = job["name"].as_str().unwrap_or_default();
        let status = get(&sim, &format!("replicationOperationStatus/{name}")).await;
        for error in swagger.check_common("OperationStatusResult", &status.body) {
            failures.push(format!("operation status {name}: {error}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} schema violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn reprotect_answers_conform_to_the_swagger() {
    let swagger = Swagger::load();
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.behaviour.reprotect_job_s = 600.0;
    estate.vault.behaviour.time_scale = 1.0;
    let sim = start(estate, SimOptions::default()).await;
    let path = item_path(&sim, "web01-item").await;
    let full = format!("{}/{path}/reProtect", sim.vault_id());
    let accepted = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(accepted.status, 202);
    let declared = swagger
        .response_schema("POST", &full, "202")
        .and_then(|r| r.get("headers"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    assert!(!declared.is_empty());
    for (name, header) in &declared {
        let value = accepted
            .header(name)
            .unwrap_or_else(|| panic!("202 lacks {name}"));
        if header["type"] == "integer" {
            assert!(value.parse::<i32>().is_ok(), "{name}: {value}");
        }
    }
    let location = accepted.header("location").unwrap_or_default();
    let running = get_url(&sim, &location).await;
    assert_eq!(running.status, 202);
    sim.advance_clock(600.0);
    let done = get_url(&sim, &location).await;
    assert_eq!(done.status, 200);
    // The LRO's final state is the item (final-state-schema ReplicationProtectedItem).
    let errors = swagger.check_response("POST", &full, 200, &done.body);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Error bodies: ARM's `ErrorResponse` envelope, with ASR's `ServiceError` in details.
#[tokio::test]
async fn error_bodies_conform() {
    let swagger = Swagger::load();
    let sim = basics().await;
    let path = item_path(&sim, "web01-item").await;
    let mut input = linux_input(&sim);
    input["properties"]["providerSpecificDetails"]["masterTargetId"] = json!("nope");
    let replies = vec![
        post(&sim, &format!("{path}/reProtect"), &input).await,
        get(&sim, "replicationFabrics/nope").await,
        post(
            &sim,
            "replicationRecoveryPlans/erp-plan/reProtect",
            &json!({}),
        )
        .await,
        get_url(
            &sim,
            &format!("{}{}/replicationFabrics", sim.endpoint(), sim.vault_id()),
        )
        .await,
    ];
    for reply in replies {
        assert!(reply.status >= 400);
        let mut envelope = reply.body.clone();
        let details = envelope["error"]
            .as_object_mut()
            .and_then(|e| e.remove("details"))
            .unwrap_or(Value::Array(Vec::new()));
        let errors = swagger.check_common("ErrorResponse", &envelope);
        assert!(errors.is_empty(), "{errors:?}");
        for detail in details.as_array().into_iter().flatten() {
            let errors = swagger.check_definition("ServiceError", detail);
            assert!(errors.is_empty(), "{errors:?}");
        }
    }
}

/// The checker itself must catch what it claims to catch.
#[test]
fn the_checker_catches_violations() {
    let swagger = Swagger::load();
    let errors = swagger.check_definition("Fabric", &json!({"properties": {"customDetails": {"instanceType": "VMware", "processServers": [{"lastHeartbeat": "yesterday", "health": "Fine", "id": 3}], "colour": "red"}}}));
    let text = errors.join("\n");
    assert!(
        text.contains("lastHeartbeat: 'yesterday' is not an RFC 3339 date-time"),
        "{text}"
    );
    assert!(text.contains("health: 'Fine' is not one of"), "{text}");
    assert!(text.contains("id: expected a string"), "{text}");
    assert!(
        text.contains("colour: property not in the schema"),
        "{text}"
    );
    let errors = swagger.check_definition(
        "Fabric",
        &json!({"properties": {"customDetails": {"instanceType": "Nope"}}}),
    );
    assert!(errors.join("\n").contains("names no subtype"), "{errors:?}");
    let errors = swagger.check_definition("Fabric", &json!({"properties": {"customDetails": {}}}));
    assert!(
        errors
            .join("\n")
            .contains("required property 'instanceType' missing"),
        "{errors:?}"
    );
    let errors = swagger.check_definition("ReplicationProtectedItem", &json!({"properties": {"providerSpecificDetails": {"instanceType": "InMage", "masterTargetId": 1}}}));
    assert!(
        errors
            .join("\n")
            .contains("masterTargetId: expected a string"),
        "{errors:?}"
    );
}

/// Parts of the examples the simulator deliberately does not serve, with the reason.
const NOT_SERVED: [(&str, &str); 3] = [
    (
        "properties.tasks.customDetails",
        "the example's task is a manual action (ManualActionTaskDetails); reprotect tasks are not",
    ),
    (
        "properties.recoveryContainerId",
        "it names the Azure-side fabric's container, which the simulator does not serve; no dangling ids",
    ),
    (
        "properties.recoveryServicesProviderId",
        "it names a replicationRecoveryServicesProviders resource, which the simulator does not serve",
    ),
];

/// Key paths of an example that the simulator's shape must have too. Polymorphic
/// subtrees differ by nature (the examples are Hyper-V) and are left out.
fn example_structure(body: &Value) -> BTreeSet<String> {
    key_paths(body)
        .into_iter()
        .filter(|p| {
            !p.contains("providerSpecificDetails.")
                && !p.contains("customDetails.")
                && !p.contains("fabricSpecificDetails.")
        })
        .filter(|p| {
            !NOT_SERVED
                .iter()
                .any(|(path, _)| p.replace("value[].", "").replace("[]", "") == *path)
        })
        .map(|p| p.replace("value[].", "").replace("[]", ""))
        .collect()
}

#[tokio::test]
async fn shapes_have_the_published_examples_structure() {
    let swagger = Swagger::load();
    let sim = world_in_every_state().await;
    let container = failback_sim::asr::world::container_name("cs01");
    let web = item_path(&sim, "web01-item").await;
    let (jobs, _) = list_all(&sim, "replicationJobs").await;
    let job = jobs
        .iter()
        .find(|j| j["properties"]["state"] == "Succeeded")
        .and_then(|j| j["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    let cases: Vec<(&str, String)> = vec![
        (
            "ReplicationFabrics_Get.json",
            "replicationFabrics/cs01".into(),
        ),
        ("ReplicationFabrics_List.json", "replicationFabrics".into()),
        (
            "ReplicationvCenters_Get.json",
            "replicationFabrics/cs01/replicationvCenters/vcsa-contoso-local".into(),
        ),
        (
            "ReplicationvCenters_ListByReplicationFabrics.json",
            "replicationFabrics/cs01/replicationvCenters".into(),
        ),
        (
            "ReplicationProtectionContainers_Get.json",
            format!("replicationFabrics/cs01/replicationProtectionContainers/{container}"),
        ),
        (
            "ReplicationProtectionContainers_List.json",
            "replicationProtectionContainers".into(),
        ),
        (
            "ReplicationProtectionContainers_ListByReplicationFabrics.json",
            "replicationFabrics/cs01/replicationProtectionContainers".into(),
        ),
        ("ReplicationProtectedItems_Get.json", web.clone()),
        (
            "ReplicationProtectedItems_List.json",
            "replicationProtectedItems".into(),
        ),
        (
            "ReplicationProtectedItems_ListByReplicationProtectionContainers.json",
            format!(
                "replicationFabrics/cs01/replicationProtectionContainers/{container}/replicationProtectedItems"
            ),
        ),
        (
            "ReplicationRecoveryPlans_Get.json",
            "replicationRecoveryPlans/erp-plan".into(),
        ),
        (
            "ReplicationRecoveryPlans_List.json",
            "replicationRecoveryPlans".into(),
        ),
        (
            "ReplicationPolicies_Get.json",
            "replicationPolicies/failback-policy".into(),
        ),
        (
            "ReplicationPolicies_List.json",
            "replicationPolicies".into(),
        ),
        ("ReplicationJobs_Get.json", format!("replicationJobs/{job}")),
        ("ReplicationJobs_List.json", "replicationJobs".into()),
    ];
    let mut failures = Vec::new();
    for (file, sub_path) in cases {
        let example = example_structure(&example_body(&swagger, file, "200"));
        assert!(!example.is_empty(), "{file}: empty example");
        let ours = if file.ends_with("_Get.json") {
            example_structure(&get(&sim, &sub_path).await.body)
        } else {
            let (all, _) = list_all(&sim, &sub_path).await;
            example_structure(&json!({ "value": all }))
        };
        for missing in example.difference(&ours) {
            failures.push(format!(
                "{file}: `{missing}` is in Microsoft's example but not served"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
