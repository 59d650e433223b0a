//! The admin path: tests change the world while it runs (drift) and read counters.

mod support;

use reqwest::Method;
use serde_json::json;
use support::*;

#[tokio::test]
async fn stopped_process_server_heartbeat_turns_critical() {
    let sim = basics().await;
    let reply = admin(
        &sim,
        Method::POST,
        "/_sim/process-servers/ps-azure-01-id/heartbeat",
        Some(json!({"age_s": 3600})),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let fabric = get(&sim, "replicationFabrics/cs01").await;
    let ps = &fabric.body["properties"]["customDetails"]["processServers"][0];
    assert_eq!(ps["health"], "Critical");
    assert_eq!(ps["psServiceStatus"], "Stopped");
    assert_eq!(
        ps["healthErrors"][0]["errorCode"],
        "ProcessServerHeartbeatMissing"
    );
    assert_eq!(fabric.body["properties"]["health"], "Warning");
    let other = &fabric.body["properties"]["customDetails"]["processServers"][1];
    assert_eq!(other["health"], "Normal");
}

#[tokio::test]
async fn heartbeats_age_with_the_clock() {
    let sim = basics().await;
    sim.advance_clock(16.0 * 60.0);
    let fabric = get(&sim, "replicationFabrics/cs01").await;
    assert_eq!(
        fabric.body["properties"]["health"], "Critical",
        "configuration server silent for 16 min"
    );
    let mt = &fabric.body["properties"]["customDetails"]["masterTargetServers"][0];
    assert_eq!(
        mt["healthErrors"][0]["errorCode"],
        "MasterTargetHeartbeatMissing"
    );
    // A fresh heartbeat brings it back.
    for path in [
        "/_sim/fabrics/cs01/heartbeat",
        "/_sim/master-targets/mt-lnx-01-id/heartbeat",
    ] {
        let reply = admin(&sim, Method::POST, path, Some(json!({"age_s": 0}))).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    }
    let fabric = get(&sim, "replicationFabrics/cs01").await;
    assert_eq!(fabric.body["properties"]["healthErrorDetails"], json!([]));
    let mt = &fabric.body["properties"]["customDetails"]["masterTargetServers"][0];
    assert_eq!(mt["healthErrors"], json!([]));
}

#[tokio::test]
async fn process_server_health_error_can_be_added() {
    let sim = basics().await;
    let reply = admin(
        &sim,
        Method::POST,
        "/_sim/process-servers/ps-onprem-01-id/health-errors",
        Some(json!({"message": "Port 9443 is blocked"})),
    )
    .await;
    assert_eq!(reply.status, 200);
    let fabric = get(&sim, "replicationFabrics/cs01").await;
    let ps = &fabric.body["properties"]["customDetails"]["processServers"][1];
    assert_eq!(
        ps["healthErrors"][0]["errorMessage"],
        "Port 9443 is blocked"
    );
    assert_eq!(ps["health"], "Critical");
}

#[tokio::test]
async fn item_health_state_and_operations_can_be_changed() {
    let sim = basics().await;
    let reply = admin(
        &sim,
        Method::PATCH,
        "/_sim/items/web01-item",
        Some(json!({"replication_health": "Critical", "health_errors": ["Agent lost connection"]})),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let item = get(&sim, &item_path(&sim, "web01-item").await).await;
    assert_eq!(item.body["properties"]["replicationHealth"], "Critical");
    assert_eq!(
        item.body["properties"]["healthErrors"][0]["errorMessage"],
        "Agent lost connection"
    );

    let reply = admin(
        &sim,
        Method::PATCH,
        "/_sim/items/web01-item",
        Some(json!({"protection_state": "UnplannedFailoverCommitPendingStatesBegin", "allowed_operations": ["Commit"], "active_location": "Recovery"})),
    )
    .await;
    assert_eq!(reply.status, 200);
    let item = get(&sim, &item_path(&sim, "web01-item").await).await;
    assert_eq!(
        item.body["properties"]["protectionState"],
        "UnplannedFailoverCommitPendingStatesBegin"
    );
    assert_eq!(
        item.body["properties"]["protectionStateDescription"],
        "Failover completed"
    );
    assert_eq!(
        item.body["properties"]["allowedOperations"],
        json!(["Commit"])
    );
}

#[tokio::test]
async fn admin_rejects_bad_requests_clearly() {
    let sim = basics().await;
    let unknown_field = admin(
        &sim,
        Method::PATCH,
        "/_sim/items/web01-item",
        Some(json!({"colour": "red"})),
    )
    .await;
    assert_eq!(unknown_field.status, 400);
    assert!(
        unknown_field.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("colour")
    );
    let missing = admin(
        &sim,
        Method::POST,
        "/_sim/items/nope/agent-registered",
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
    let negative = admin(
        &sim,
        Method::POST,
        "/_sim/clock/advance",
        Some(json!({"seconds": -1})),
    )
    .await;
    assert_eq!(negative.status, 400);
    let response = client()
        .get(format!("{}/_sim/counters", sim.endpoint()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 401, "admin needs the token too");
}

#[tokio::test]
async fn counters_report_requests_and_accepted_reprotects() {
    let sim = basics().await;
    let path = item_path(&sim, "web01-item").await;
    assert_eq!(
        post(&sim, &format!("{path}/reProtect"), &linux_input(&sim))
            .await
            .status,
        202
    );
    let refused = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(refused.status, 409);
    let counters = admin(&sim, Method::GET, "/_sim/counters", None).await;
    assert_eq!(counters.body["reprotect_requests"]["web01-item"], 2);
    assert_eq!(counters.body["reprotect_accepted"]["web01-item"], 1);
    assert_eq!(counters.body["jobs"], 1);
    assert!(
        counters.body["calls"]
            .as_array()
            .is_some_and(|c| c.len() >= 3)
    );
    assert_eq!(
        sim.calls("POST */replicationProtectedItems/web01-item/reProtect"),
        2
    );
}

#[tokio::test]
async fn only_a_reprotected_item_can_be_moved_to_another_master_target() {
    let sim = basics().await;
    let not_reprotected = admin(
        &sim,
        Method::PATCH,
        "/_sim/items/web01-item",
        Some(json!({"master_target": "mt-win-01"})),
    )
    .await;
    assert_eq!(not_reprotected.status, 409, "{:?}", not_reprotected.body);
    assert!(
        not_reprotected.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not reprotected"),
        "{:?}",
        not_reprotected.body
    );
    let unknown = admin(
        &sim,
        Method::PATCH,
        "/_sim/items/web01-item",
        Some(json!({"master_target": "mt-nope"})),
    )
    .await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
}
