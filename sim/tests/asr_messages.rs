//! What users end up reading, pinned: every reprotect refusal's ARM error body, and the
//! shapes of a VMware fabric and a forward protected item (fixed simulated epoch).

mod support;

use failback_sim::asr::SimOptions;
use serde_json::{Value, json};
use support::*;

fn epoch() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Drops what differs per request (activity ids).
fn stable(mut body: Value) -> Value {
    if let Some(details) = body["error"]["details"].as_array_mut() {
        for detail in details {
            if let Some(detail) = detail.as_object_mut() {
                detail.remove("activityId");
            }
        }
    }
    body
}

fn with(input: &Value, field: &str, value: Value) -> Value {
    let mut input = input.clone();
    input["properties"]["providerSpecificDetails"][field] = value;
    input
}

#[tokio::test]
async fn reprotect_refusals() {
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.behaviour.reprotect_job_s = 3600.0;
    estate.vault.behaviour.time_scale = 1.0;
    let sim = start(
        estate,
        SimOptions {
            epoch: Some(epoch()),
            ..SimOptions::default()
        },
    )
    .await;
    let linux = linux_input(&sim);
    let forward_policy = format!("{}/replicationPolicies/replication-policy", sim.vault_id());
    let mut missing = linux.clone();
    if let Some(d) = missing["properties"]["providerSpecificDetails"].as_object_mut() {
        d.remove("retentionDrive");
    }
    let cases: Vec<(&str, &str, Value)> = vec![
        ("missing retentionDrive", "web01-item", missing),
        (
            "wrong instanceType",
            "web01-item",
            with(&linux, "instanceType", json!("InMageAzureV2")),
        ),
        (
            "unknown master target",
            "web01-item",
            with(&linux, "masterTargetId", json!("mt-nope")),
        ),
        (
            "unknown process server",
            "web01-item",
            with(&linux, "processServerId", json!("ps-nope")),
        ),
        (
            "forward policy as profileId",
            "web01-item",
            with(&linux, "profileId", json!(forward_policy)),
        ),
        (
            "Linux VM on Windows master target",
            "web01-item",
            reprotect_input(&sim, "mt-win-01-id", "R:"),
        ),
        (
            "Windows VM on Linux master target",
            "app01-item",
            linux.clone(),
        ),
        (
            "datastore not seen",
            "web01-item",
            with(&linux, "datastoreName", json!("vmfs-silver-01")),
        ),
        ("failover not committed", "pending01-item", linux.clone()),
        ("agent not registered", "late01-item", linux.clone()),
    ];
    let mut pinned = serde_json::Map::new();
    for (case, item, input) in cases {
        let path = item_path(&sim, item).await;
        let reply = post(&sim, &format!("{path}/reProtect"), &input).await;
        pinned.insert(
            case.to_owned(),
            json!({"status": reply.status, "body": stable(reply.body)}),
        );
    }
    let plan = post(
        &sim,
        "replicationRecoveryPlans/erp-plan/reProtect",
        &json!({}),
    )
    .await;
    pinned.insert(
        "recovery plan reprotect".to_owned(),
        json!({"status": plan.status, "body": stable(plan.body)}),
    );
    assert_eq!(sim.reprotect_accepted("web01-item"), 0);
    insta::assert_json_snapshot!(Value::Object(pinned));
}

#[tokio::test]
async fn fabric_and_forward_item_shapes() {
    let sim = start(
        estate("vault-reprotect-basics.json"),
        SimOptions {
            epoch: Some(epoch()),
            ..SimOptions::default()
        },
    )
    .await;
    let fabric = get(&sim, "replicationFabrics/cs01").await;
    insta::assert_json_snapshot!("fabric_cs01", fabric.body);
    let item = get(&sim, &item_path(&sim, "web01-item").await).await;
    insta::assert_json_snapshot!("item_web01_forward", item.body);
}
