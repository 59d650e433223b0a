//! Reprotect through the ASR simulator: the 202 + job happy path to `Protected`
//! (reverse, `InMage`), and every refusal ASR gives for bad input or state.

mod support;

use failback_sim::asr::SimOptions;
use serde_json::{Value, json};
use support::*;

fn strip(mut input: Value, field: &str) -> Value {
    if let Some(details) = input["properties"]["providerSpecificDetails"].as_object_mut() {
        details.remove(field);
    }
    input
}

fn set(mut input: Value, field: &str, value: Value) -> Value {
    input["properties"]["providerSpecificDetails"][field] = value;
    input
}

#[tokio::test]
async fn reprotect_runs_a_job_and_ends_protected_in_reverse() {
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.behaviour.reprotect_job_s = 600.0;
    estate.vault.behaviour.time_scale = 1.0;
    let sim = start(estate, SimOptions::default()).await;
    let path = item_path(&sim, "web01-item").await;
    let accepted = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let location = accepted.header("location").unwrap_or_default();
    let job_name = location
        .split("operationresults/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_default()
        .to_owned();
    assert!(!job_name.is_empty(), "{location}");
    assert!(location.starts_with(sim.endpoint()));
    assert!(
        accepted
            .header("azure-asyncoperation")
            .unwrap_or_default()
            .contains(&format!("/replicationOperationStatus/{job_name}"))
    );
    let retry: u64 = accepted
        .header("retry-after")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    assert!((1..=30).contains(&retry));

    // While the job runs, the item names it and allows nothing.
    let running = get(&sim, &path).await;
    assert_eq!(running.body["properties"]["allowedOperations"], json!([]));
    assert!(
        running.body["properties"]["currentScenario"]["jobId"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&job_name)
    );
    let polled = get_url(&sim, &location).await;
    assert_eq!(polled.status, 202);
    assert!(polled.header("retry-after").is_some());
    let job_url = sim.vault_url(&format!("replicationJobs/{job_name}"));
    let running_job = get_url(&sim, &job_url).await;
    assert_eq!(running_job.body["properties"]["state"], "InProgress");
    assert_eq!(
        running_job.body["properties"]["tasks"][0]["state"],
        "InProgress"
    );
    assert_eq!(
        running_job.body["properties"]["tasks"][3]["state"],
        "NotStarted"
    );

    let advanced = admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/clock/advance",
        Some(json!({"seconds": 600})),
    )
    .await;
    assert_eq!(advanced.status, 200);
    let job = get_url(&sim, &job_url).await;
    assert_eq!(job.body["properties"]["state"], "Succeeded");
    let tasks = job.body["properties"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(tasks.len(), 4);
    assert!(tasks.iter().all(|t| t["state"] == "Succeeded"));

    let done = get_url(&sim, &location).await;
    assert_eq!(done.status, 200);
    let p = &done.body["properties"];
    assert_eq!(p["protectionState"], "Protected");
    assert_eq!(p["activeLocation"], "Recovery");
    assert_eq!(p["allowedOperations"][0], "PlannedFailover");
    assert_eq!(p["currentScenario"]["scenarioName"], "None");
    assert!(
        p["policyId"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/failback-policy")
    );
    let d = &p["providerSpecificDetails"];
    assert_eq!(d["instanceType"], "InMage");
    assert_eq!(d["masterTargetId"], "mt-lnx-01-id");
    assert_eq!(d["processServerId"], "ps-azure-01-id");
    assert_eq!(d["datastores"], json!(["vmfs-gold-01"]));
    assert_eq!(d["osDetails"]["osType"], "Linux");

    let status = get_url(
        &sim,
        &accepted.header("azure-asyncoperation").unwrap_or_default(),
    )
    .await;
    assert_eq!(status.body["status"], "Succeeded");
    let (jobs, _) = list_all(&sim, "replicationJobs").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(sim.reprotect_accepted("web01-item"), 1);
    assert_eq!(sim.calls("POST */reProtect"), 1);

    // Reprotecting again is refused: the item is already protected in reverse.
    let again = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.detail_code(), "OperationNotAllowedInCurrentState");
    assert_eq!(sim.reprotect_accepted("web01-item"), 1);
    assert_eq!(sim.reprotect_requests("web01-item"), 2);
}

#[tokio::test]
async fn job_finishes_on_the_scaled_clock() {
    // 2 simulated seconds at time scale 10: 0.2 s of real time.
    let sim = basics().await;
    let path = item_path(&sim, "app01-item").await;
    let accepted = post(
        &sim,
        &format!("{path}/reProtect"),
        &reprotect_input(&sim, "mt-win-01-id", "R:"),
    )
    .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let location = accepted.header("location").unwrap_or_default();
    let job_name = location
        .split("operationresults/")
        .nth(1)
        .and_then(|r| r.split('?').next())
        .unwrap_or_default()
        .to_owned();
    let job = wait_job(&sim, &sim.vault_url(&format!("replicationJobs/{job_name}"))).await;
    assert_eq!(job.body["properties"]["state"], "Succeeded");
    assert_eq!(
        sim.protection_state("app01-item").as_deref(),
        Some("Protected")
    );
}

#[tokio::test]
async fn second_reprotect_while_the_job_runs_is_a_conflict() {
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.behaviour.reprotect_job_s = 3600.0;
    estate.vault.behaviour.time_scale = 1.0;
    let sim = start(estate, SimOptions::default()).await;
    let path = item_path(&sim, "web01-item").await;
    assert_eq!(
        post(&sim, &format!("{path}/reProtect"), &linux_input(&sim))
            .await
            .status,
        202
    );
    let second = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(second.status, 409);
    assert_eq!(
        second.detail_code(),
        "ReplicationProtectedItemOperationInProgress"
    );
    assert_eq!(sim.reprotect_accepted("web01-item"), 1);
}

/// Posts `input` for `item` and returns the refusal.
async fn refused(
    item: &str,
    input: impl FnOnce(&failback_sim::asr::RunningAsrSimulator) -> Value,
) -> Reply {
    let sim = basics().await;
    let path = item_path(&sim, item).await;
    let reply = post(&sim, &format!("{path}/reProtect"), &input(&sim)).await;
    assert!(reply.status >= 400, "{item} accepted: {:?}", reply.body);
    assert_eq!(sim.reprotect_accepted(item), 0);
    let detail = &reply.body["error"]["details"][0];
    if !detail.is_null() {
        assert!(detail["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            detail["recommendedAction"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    reply
}

#[tokio::test]
async fn missing_required_fields_are_named() {
    for field in [
        "masterTargetId",
        "processServerId",
        "retentionDrive",
        "profileId",
    ] {
        let reply = refused("web01-item", |sim| strip(linux_input(sim), field)).await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.detail_code(), "RequiredParameterMissing");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field)
        );
    }
    let reply = refused(
        "web01-item",
        |_| json!({"properties": {"failoverDirection": "RecoveryToPrimary"}}),
    )
    .await;
    assert_eq!(reply.detail_code(), "RequiredParameterMissing");
    let reply = refused("web01-item", |_| json!("not an object")).await;
    assert_eq!(reply.detail_code(), "RequiredParameterMissing");
}

#[tokio::test]
async fn malformed_json_is_invalid_request_content() {
    let sim = basics().await;
    let path = item_path(&sim, "web01-item").await;
    let response = client()
        .post(sim.vault_url(&format!("{path}/reProtect")))
        .bearer_auth(sim.token())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "InvalidRequestContent");
}

#[tokio::test]
async fn wrong_instance_type_and_direction() {
    let reply = refused("web01-item", |sim| {
        set(linux_input(sim), "instanceType", json!("InMageAzureV2"))
    })
    .await;
    assert_eq!(reply.detail_code(), "InvalidProviderSpecificInput");
    let reply = refused("web01-item", |sim| {
        let mut input = linux_input(sim);
        input["properties"]["failoverDirection"] = json!("PrimaryToRecovery");
        input
    })
    .await;
    assert_eq!(reply.detail_code(), "InvalidFailoverDirection");
}

#[tokio::test]
async fn unknown_references_are_refused() {
    let reply = refused("web01-item", |sim| {
        set(linux_input(sim), "masterTargetId", json!("mt-nope"))
    })
    .await;
    assert_eq!(reply.detail_code(), "MasterTargetNotFound");
    let reply = refused("web01-item", |sim| {
        set(linux_input(sim), "processServerId", json!("ps-nope"))
    })
    .await;
    assert_eq!(reply.detail_code(), "ProcessServerNotFound");
    let reply = refused("web01-item", |sim| {
        set(linux_input(sim), "retentionDrive", json!("R:"))
    })
    .await;
    assert_eq!(reply.detail_code(), "RetentionVolumeNotFound");
    let reply = refused("web01-item", |sim| {
        set(linux_input(sim), "runAsAccountId", json!("42"))
    })
    .await;
    assert_eq!(reply.detail_code(), "RunAsAccountNotFound");
    let reply = refused("web01-item", |sim| {
        let forward = format!("{}/replicationPolicies/replication-policy", sim.vault_id());
        set(linux_input(sim), "profileId", json!(forward))
    })
    .await;
    assert_eq!(reply.detail_code(), "InvalidPolicyForReprotect");
    let reply = refused("web01-item", |sim| {
        set(linux_input(sim), "profileId", json!("/nope"))
    })
    .await;
    assert_eq!(reply.detail_code(), "PolicyNotFound");
}

#[tokio::test]
async fn os_mismatch_both_ways() {
    let reply = refused("web01-item", |sim| {
        reprotect_input(sim, "mt-win-01-id", "R:")
    })
    .await;
    assert_eq!(reply.detail_code(), "MasterTargetOsTypeMismatch");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("runs Windows")
    );
    let reply = refused("app01-item", |sim| {
        reprotect_input(sim, "mt-lnx-01-id", "/mnt/retention")
    })
    .await;
    assert_eq!(reply.detail_code(), "MasterTargetOsTypeMismatch");
}

#[tokio::test]
async fn datastore_the_master_target_does_not_see() {
    let reply = refused("web01-item", |sim| {
        set(linux_input(sim), "datastoreName", json!("vmfs-silver-01"))
    })
    .await;
    assert_eq!(reply.detail_code(), "DatastoreNotAccessibleToMasterTarget");
}

#[tokio::test]
async fn a_deleted_vm_needs_a_datastore() {
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.protected_items[0].vm = None;
    let sim = start(estate, SimOptions::default()).await;
    let path = item_path(&sim, "web01-item").await;
    let reply = post(
        &sim,
        &format!("{path}/reProtect"),
        &strip(linux_input(&sim), "datastoreName"),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.detail_code(), "DatastoreRequiredForNewVirtualMachine");
    // With the VM still there, the datastore may be left out (the schema makes it optional).
    let app = item_path(&sim, "app01-item").await;
    let input = strip(reprotect_input(&sim, "mt-win-01-id", "R:"), "datastoreName");
    assert_eq!(
        post(&sim, &format!("{app}/reProtect"), &input).await.status,
        202
    );
}

#[tokio::test]
async fn state_that_does_not_allow_reprotect() {
    let reply = refused("pending01-item", linux_input).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.detail_code(), "OperationNotAllowedInCurrentState");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("UnplannedFailoverCommitPendingStatesBegin")
    );
}

#[tokio::test]
async fn agent_not_yet_registered_then_registered() {
    let sim = basics().await;
    let path = item_path(&sim, "late01-item").await;
    let early = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(early.status, 400);
    assert_eq!(early.detail_code(), "AgentNotInstalled");
    assert!(
        early.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("agent not installed")
    );
    let registered = admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/items/late01-item/agent-registered",
        None,
    )
    .await;
    assert_eq!(registered.status, 200);
    let later = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(later.status, 202, "{:?}", later.body);
}

#[tokio::test]
async fn agent_registers_on_the_scaled_clock() {
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.behaviour.time_scale = 36000.0; // late01 registers after 3600 s = 0.1 s real
    let sim = start(estate, SimOptions::default()).await;
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let path = item_path(&sim, "late01-item").await;
    let reply = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
}

#[tokio::test]
async fn replication_group_members_need_one_master_target() {
    let mut estate = estate("vault-reprotect-basics.json");
    // A second Linux master target on cs01 for db02 to be sent to.
    let mut second = estate.vault.configuration_servers[0].master_targets[0].clone();
    second.id = "mt-lnx-02-id".into();
    second.name = "mt-lnx-02".into();
    estate.vault.configuration_servers[0]
        .master_targets
        .push(second);
    let sim = start(estate, SimOptions::default()).await;
    let db01 = item_path(&sim, "db01-item").await;
    let db02 = item_path(&sim, "db02-item").await;
    assert_eq!(
        post(&sim, &format!("{db01}/reProtect"), &linux_input(&sim))
            .await
            .status,
        202
    );
    let other = reprotect_input(&sim, "mt-lnx-02-id", "/mnt/retention");
    let reply = post(&sim, &format!("{db02}/reProtect"), &other).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.detail_code(), "MultiVmGroupMasterTargetMismatch");
    let same = post(&sim, &format!("{db02}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(same.status, 202);
}

#[tokio::test]
async fn recovery_plan_reprotect_is_refused_for_vmware() {
    let sim = basics().await;
    let reply = post(
        &sim,
        "replicationRecoveryPlans/erp-plan/reProtect",
        &json!({}),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.detail_code(),
        "RecoveryPlanReprotectNotSupportedForVMware"
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("VMware")
    );
    let missing = post(&sim, "replicationRecoveryPlans/nope/reProtect", &json!({})).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn failing_job_reports_asr_error_and_item_can_retry() {
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.behaviour.faults.failing_jobs = vec!["web01-item".into()];
    let sim = start(estate, SimOptions::default()).await;
    let path = item_path(&sim, "web01-item").await;
    let accepted = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(accepted.status, 202);
    let location = accepted.header("location").unwrap_or_default();
    let job_name = location
        .split("operationresults/")
        .nth(1)
        .and_then(|r| r.split('?').next())
        .unwrap_or_default()
        .to_owned();
    let job = wait_job(&sim, &sim.vault_url(&format!("replicationJobs/{job_name}"))).await;
    assert_eq!(job.body["properties"]["state"], "Failed");
    let error = &job.body["properties"]["errors"][0]["serviceErrorDetails"];
    assert_eq!(error["code"], "78052");
    assert!(
        error["possibleCauses"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(
        error["recommendedAction"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let result = get_url(&sim, &location).await;
    assert_eq!(result.status, 400);
    assert_eq!(result.detail_code(), "78052");
    let item = get(&sim, &path).await;
    assert_eq!(
        item.body["properties"]["protectionState"],
        "UnplannedFailoverCommitted"
    );
    assert_eq!(
        item.body["properties"]["allowedOperations"][0],
        "ReverseReplicate"
    );
    // Only the next job fails: a retry succeeds.
    let retry = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(retry.status, 202);
    let location = retry.header("location").unwrap_or_default();
    let job_name = location
        .split("operationresults/")
        .nth(1)
        .and_then(|r| r.split('?').next())
        .unwrap_or_default()
        .to_owned();
    let job = wait_job(&sim, &sim.vault_url(&format!("replicationJobs/{job_name}"))).await;
    assert_eq!(job.body["properties"]["state"], "Succeeded");
}

#[tokio::test]
async fn plan_in_failing_jobs_fails_a_member_job() {
    let mut estate = estate("vault-reprotect-basics.json");
    estate.vault.behaviour.faults.failing_jobs = vec!["erp-plan".into()];
    let sim = start(estate, SimOptions::default()).await;
    let path = item_path(&sim, "db01-item").await;
    let accepted = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    let location = accepted.header("location").unwrap_or_default();
    let job_name = location
        .split("operationresults/")
        .nth(1)
        .and_then(|r| r.split('?').next())
        .unwrap_or_default()
        .to_owned();
    let job = wait_job(&sim, &sim.vault_url(&format!("replicationJobs/{job_name}"))).await;
    assert_eq!(job.body["properties"]["state"], "Failed");
}
