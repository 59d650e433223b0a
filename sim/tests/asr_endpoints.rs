//! Every read endpoint of the ASR simulator, paging, authentication and api-version.

mod support;

use failback_sim::asr::SimOptions;
use support::*;

#[tokio::test]
async fn fabrics_list_and_get_carry_vmware_details() {
    let sim = basics().await;
    let (fabrics, _) = list_all(&sim, "replicationFabrics").await;
    assert_eq!(fabrics.len(), 1);
    let fabric = &fabrics[0];
    assert_eq!(fabric["name"], "cs01");
    assert!(
        fabric["id"].as_str().unwrap_or_default().starts_with(
            "/Subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-dr/"
        )
    );
    let details = &fabric["properties"]["customDetails"];
    assert_eq!(details["instanceType"], "VMware");
    assert_eq!(details["processServers"].as_array().map(Vec::len), Some(2));
    let mts = details["masterTargetServers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(mts.len(), 2);
    assert_eq!(mts[0]["osType"], "Linux");
    assert_eq!(
        mts[0]["retentionVolumes"][0]["volumeName"],
        "/mnt/retention"
    );
    assert_eq!(
        mts[0]["retentionVolumes"][0]["capacityInBytes"],
        500u64 * 1024 * 1024 * 1024
    );
    assert_eq!(mts[1]["dataStores"][1]["symbolicName"], "vmfs-silver-01");
    assert_eq!(mts[1]["dataStores"][1]["capacity"], "2048");
    assert_eq!(details["runAsAccounts"][0]["accountId"], "1");
    assert_eq!(fabric["properties"]["health"], "Normal");

    let one = get(&sim, "replicationFabrics/CS01").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["name"], "cs01");
    let missing = get(&sim, "replicationFabrics/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.detail_code(), "ReplicationFabricNotFound");
}

#[tokio::test]
async fn heartbeats_age_from_the_estate() {
    let sim = basics().await;
    let fabric = get(&sim, "replicationFabrics/cs01").await;
    let clock = admin(&sim, reqwest::Method::GET, "/_sim/clock", None).await;
    let epoch =
        chrono::DateTime::parse_from_rfc3339(clock.body["epoch"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    let ps = &fabric.body["properties"]["customDetails"]["processServers"][0];
    let beat =
        chrono::DateTime::parse_from_rfc3339(ps["lastHeartbeat"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((epoch - beat).num_seconds(), 40);
    assert_eq!(ps["health"], "Normal");
}

#[tokio::test]
async fn vcenters_and_containers() {
    let sim = basics().await;
    let (vcenters, _) = list_all(&sim, "replicationFabrics/cs01/replicationvCenters").await;
    assert_eq!(vcenters.len(), 1);
    assert_eq!(
        vcenters[0]["properties"]["friendlyName"],
        "vcsa.contoso.local"
    );
    assert_eq!(vcenters[0]["properties"]["fabricArmResourceName"], "cs01");
    let name = vcenters[0]["name"].as_str().unwrap_or_default().to_owned();
    let one = get(
        &sim,
        &format!("replicationFabrics/cs01/replicationvCenters/{name}"),
    )
    .await;
    assert_eq!(one.status, 200);
    let (all, _) = list_all(&sim, "replicationvCenters").await;
    assert_eq!(all.len(), 1);

    let (containers, _) = list_all(
        &sim,
        "replicationFabrics/cs01/replicationProtectionContainers",
    )
    .await;
    assert_eq!(containers.len(), 1);
    let container = containers[0]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(container.starts_with("cloud_"));
    assert_eq!(containers[0]["properties"]["protectedItemCount"], 6);
    let one = get(
        &sim,
        &format!("replicationFabrics/cs01/replicationProtectionContainers/{container}"),
    )
    .await;
    assert_eq!(one.status, 200);
    let (vault_wide, _) = list_all(&sim, "replicationProtectionContainers").await;
    assert_eq!(vault_wide.len(), 1);
    let (items, _) = list_all(
        &sim,
        &format!("replicationFabrics/cs01/replicationProtectionContainers/{container}/replicationProtectedItems"),
    )
    .await;
    assert_eq!(items.len(), 6);
}

#[tokio::test]
async fn protected_item_forward_shape() {
    let sim = basics().await;
    let path = item_path(&sim, "web01-item").await;
    let item = get(&sim, &path).await;
    assert_eq!(item.status, 200);
    let p = &item.body["properties"];
    assert_eq!(p["protectionState"], "UnplannedFailoverCommitted");
    assert_eq!(p["protectionStateDescription"], "Failover committed");
    assert_eq!(p["activeLocation"], "Recovery");
    assert_eq!(p["allowedOperations"][0], "ReverseReplicate");
    assert_eq!(p["replicationHealth"], "Normal");
    assert!(
        p["policyId"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/replicationPolicies/replication-policy")
    );
    let d = &p["providerSpecificDetails"];
    assert_eq!(d["instanceType"], "InMageAzureV2");
    assert_eq!(d["osType"], "Linux");
    assert_eq!(d["osName"], "RHEL 8");
    assert_eq!(d["discoveryType"], "vCenter");
    assert_eq!(d["infrastructureVmId"], "web01");
    assert_eq!(d["vmId"], "4210f3a2-0000-4000-8000-000000000001");
    assert_eq!(d["processServerId"], "ps-azure-01-id");
    assert_eq!(d["vmNics"][0]["ipConfigs"][0]["ipAddressType"], "Static");
    assert!(d["lastHeartbeat"].is_string());
    assert_eq!(d["protectedDisks"].as_array().map(Vec::len), Some(1));

    let grouped = get(&sim, &item_path(&sim, "db01-item").await).await;
    assert_eq!(
        grouped.body["properties"]["providerSpecificDetails"]["multiVmGroupName"],
        "erp-group"
    );
    let late = get(&sim, &item_path(&sim, "late01-item").await).await;
    assert!(late.body["properties"]["providerSpecificDetails"]["lastHeartbeat"].is_null());
}

#[tokio::test]
async fn protected_items_page_with_next_link() {
    let sim = start(
        estate("vault-two-config-servers-fifty-items.json"),
        SimOptions {
            page_size: 20,
            ..SimOptions::default()
        },
    )
    .await;
    let (items, pages) = list_all(&sim, "replicationProtectedItems").await;
    assert_eq!(items.len(), 50);
    assert_eq!(pages, 3);
    let mut names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), 50, "no item twice across pages");
    let first = get(&sim, "replicationProtectedItems").await;
    let next = first.body["nextLink"].as_str().unwrap_or_default();
    assert!(next.starts_with(sim.endpoint()), "{next}");
    assert!(next.contains("api-version=2026-05-01"), "{next}");

    let (plans, _) = list_all(&sim, "replicationRecoveryPlans").await;
    assert_eq!(plans.len(), 3);
    let (fabrics, _) = list_all(&sim, "replicationFabrics").await;
    assert_eq!(fabrics.len(), 2);
}

#[tokio::test]
async fn plan_filter_lists_its_members() {
    let sim = start(
        estate("vault-two-config-servers-fifty-items.json"),
        SimOptions {
            page_size: 4,
            ..SimOptions::default()
        },
    )
    .await;
    let (items, pages) = list_all(
        &sim,
        "replicationProtectedItems?$filter=RecoveryPlanName%20eq%20'web-plan'",
    )
    .await;
    assert_eq!(items.len(), 10);
    assert_eq!(pages, 3);
    let bad = get(&sim, "replicationProtectedItems?$filter=Name%20eq%20'x'").await;
    assert_eq!(bad.status, 400);
    let bad_token = get(&sim, "replicationProtectedItems?$skiptoken=9999").await;
    assert_eq!(bad_token.status, 400);
}

#[tokio::test]
async fn recovery_plans_policies_and_jobs() {
    let sim = basics().await;
    let plan = get(&sim, "replicationRecoveryPlans/erp-plan").await;
    assert_eq!(plan.status, 200);
    let groups = plan.body["properties"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[2]["groupType"], "Boot");
    assert_eq!(
        groups[2]["replicationProtectedItems"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        plan.body["properties"]["replicationProviders"][0],
        "InMageAzureV2"
    );
    assert_eq!(
        plan.body["properties"]["allowedOperations"][0],
        "ReverseReplicate"
    );

    let (policies, _) = list_all(&sim, "replicationPolicies").await;
    assert_eq!(policies.len(), 2);
    let policy = get(&sim, "replicationPolicies/failback-policy").await;
    let details = &policy.body["properties"]["providerSpecificDetails"];
    assert_eq!(details["instanceType"], "InMage");
    assert_eq!(details["recoveryPointThresholdInMinutes"], 15);
    assert_eq!(details["recoveryPointHistory"], 1440);
    assert_eq!(details["appConsistentFrequencyInMinutes"], 60);
    assert_eq!(details["multiVmSyncStatus"], "Enable");

    let (jobs, _) = list_all(&sim, "replicationJobs").await;
    assert!(jobs.is_empty());
    assert_eq!(get(&sim, "replicationJobs/nope").await.status, 404);
}

#[tokio::test]
async fn forward_policy_is_added_when_the_estate_has_none() {
    let mut estate = estate("vault-reprotect-basics.json");
    estate
        .vault
        .policies
        .retain(|p| p.instance_type == "InMage");
    let sim = start(estate, SimOptions::default()).await;
    let (policies, _) = list_all(&sim, "replicationPolicies").await;
    let names: Vec<&str> = policies.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["failback-policy", "24-hour-retention-policy"]);
}

#[tokio::test]
async fn missing_or_wrong_token_gets_arm_401() {
    let sim = basics().await;
    let url = sim.vault_url("replicationFabrics");
    let none = client()
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(none.status().as_u16(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = none.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "AuthenticationFailed");
    let wrong = client()
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wrong.status().as_u16(), 401);
    let body: serde_json::Value = wrong.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn api_version_missing_or_other_is_refused() {
    let sim = basics().await;
    let base = format!("{}{}/replicationFabrics", sim.endpoint(), sim.vault_id());
    let missing = get_url(&sim, &base).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.error_code(), "MissingApiVersionParameter");
    let other = get_url(&sim, &format!("{base}?api-version=2023-08-01")).await;
    assert_eq!(other.status, 400);
    assert_eq!(other.error_code(), "NoRegisteredProviderFound");
}

#[tokio::test]
async fn paths_match_case_insensitively_and_unknown_ones_are_arm_errors() {
    let sim = basics().await;
    let lower = sim
        .vault_url("replicationfabrics")
        .replace("/Subscriptions/", "/subscriptions/");
    assert_eq!(get_url(&sim, &lower).await.status, 200);
    let other_vault = lower.replace("contoso-vault", "other-vault");
    let reply = get_url(&sim, &other_vault).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "ResourceNotFound");
    let unknown = get(&sim, "replicationStorageClassifications").await;
    assert_eq!(unknown.status, 404);
    let wrong_method = post(&sim, "replicationFabrics", &serde_json::json!({})).await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn shutdown_is_graceful_and_frees_the_port() {
    let sim = basics().await;
    let endpoint = sim.endpoint().to_owned();
    assert_eq!(get(&sim, "replicationFabrics").await.status, 200);
    sim.shutdown().await;
    let after = client().get(format!("{endpoint}/_sim/clock")).send().await;
    assert!(after.is_err(), "still serving after shutdown");
}

/// Every estate in the repository (examples and fixtures) is served.
#[tokio::test]
async fn every_repository_estate_is_served() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("examples"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let file = entry.path().join("estate.json");
        if file.exists() {
            files.push(file);
        }
    }
    for entry in std::fs::read_dir(root.join("testdata/estates"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "json") {
            files.push(entry.path());
        }
    }
    assert!(files.len() >= 2, "{files:?}");
    for file in files {
        let estate = failback_sim::estate::Estate::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let declared_items = estate.vault.protected_items.len();
        let sim = failback_sim::asr::AsrSimulator::start(estate, SimOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (items, _) = list_all(&sim, "replicationProtectedItems").await;
        // vCenter-only fixtures have an empty vault; every declared item is served.
        assert_eq!(items.len(), declared_items, "{}", file.display());
    }
}

/// An estate item already reprotected is served in the reverse direction.
#[tokio::test]
async fn estate_item_already_reprotected_is_served_as_inmage() {
    let mut estate = estate("vault-reprotect-basics.json");
    let item = &mut estate.vault.protected_items[0];
    item.protection_state = "Protected".into();
    item.allowed_operations = vec!["PlannedFailover".into(), "DisableProtection".into()];
    item.reverse = Some(failback_sim::estate::ReverseReplication {
        master_target: "mt-lnx-01-id".into(),
        process_server: "ps-azure-01-id".into(),
        retention_drive: "/mnt/retention".into(),
        datastore: Some("vmfs-gold-01".into()),
        policy: None,
    });
    let sim = start(estate, SimOptions::default()).await;
    let path = item_path(&sim, "web01-item").await;
    let item = get(&sim, &path).await;
    let p = &item.body["properties"];
    assert_eq!(p["protectionState"], "Protected");
    assert_eq!(p["activeLocation"], "Recovery");
    assert!(
        p["policyId"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/failback-policy")
    );
    assert_eq!(p["providerSpecificDetails"]["instanceType"], "InMage");
    assert_eq!(
        p["providerSpecificDetails"]["masterTargetId"],
        "mt-lnx-01-id"
    );
    let again = post(&sim, &format!("{path}/reProtect"), &linux_input(&sim)).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.detail_code(), "OperationNotAllowedInCurrentState");
}

#[tokio::test]
async fn unsupported_actions_are_not_found_and_wrong_methods_not_allowed() {
    let sim = basics().await;
    let path = item_path(&sim, "web01-item").await;
    let failover = post(
        &sim,
        &format!("{path}/unplannedFailover"),
        &serde_json::json!({}),
    )
    .await;
    assert_eq!(failover.status, 404);
    assert_eq!(failover.error_code(), "InvalidResourceType");
    let get_reprotect = get(&sim, &format!("{path}/reProtect")).await;
    assert_eq!(get_reprotect.status, 405);
}
