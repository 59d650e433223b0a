//! The provider against a scripted ARM server: paging, retries on each fault kind
//! at a chosen request, the never-twice reprotect, job failures and auth errors.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use failback_engine::provider::{
    ActionOutcome, Provider, ProviderAction, ProviderError, ReprotectRequest,
};
use failback_provider_asr::{AsrError, AsrProvider, AsrProviderConfig, VaultRef};
use serde_json::json;
use support::Recorder;
use support::fake_arm::{self, Fault, World};

fn provider(endpoint: url::Url, token: &str) -> AsrProvider {
    let vault = VaultRef {
        subscription_id: fake_arm::SUBSCRIPTION.to_owned(),
        resource_group: fake_arm::RESOURCE_GROUP.to_owned(),
        name: fake_arm::VAULT.to_owned(),
    };
    support::provider(
        vault,
        endpoint,
        token,
        support::retry(5, Duration::from_secs(2)),
        support::polls(5, 50, Duration::from_secs(20)),
    )
}

fn estate(items: usize, page_size: usize) -> World {
    let mut world = World {
        page_size,
        job_polls: 2,
        ..World::default()
    };
    for fabric in ["cs01", "cs02"] {
        world.fabrics.push(fake_arm::vmware_fabric(fabric));
        world.vcenters.insert(
            fabric.to_owned(),
            vec![json!({"id": format!("{}/replicationFabrics/{fabric}/replicationvCenters/vc1", fake_arm::vault_id()),
                "name": "vc1", "properties": {"friendlyName": "vcsa.contoso.local", "discoveryStatus": "Succeeded"}})],
        );
        world.containers.insert(
            fabric.to_owned(),
            vec![json!({"id": format!("{}/replicationFabrics/{fabric}/replicationProtectionContainers/{fabric}-container", fake_arm::vault_id()),
                "name": format!("{fabric}-container"), "properties": {"friendlyName": fabric}})],
        );
    }
    // An Azure fabric is not a configuration server and must not show as one.
    world.fabrics.push(json!({"id": format!("{}/replicationFabrics/azure", fake_arm::vault_id()), "name": "azure",
        "properties": {"friendlyName": "Microsoft Azure", "customDetails": {"instanceType": "Azure", "location": "westeurope"}}}));
    for index in 0..items {
        let fabric = if index % 2 == 0 { "cs01" } else { "cs02" };
        let os = if index % 3 == 0 { "Windows" } else { "Linux" };
        world.items.push(fake_arm::failed_over_item(
            fabric,
            &format!("vm{index:03}"),
            os,
        ));
    }
    for plan in 0..3 {
        let members: Vec<_> = (0..4)
            .map(|member| json!({"id": fake_arm::item_id("cs01", &format!("vm{:03}", plan * 8 + member * 2)), "virtualMachineId": "x"}))
            .collect();
        world.plans.push(json!({"id": format!("{}/replicationRecoveryPlans/plan{plan}", fake_arm::vault_id()), "name": format!("plan{plan}"),
            "properties": {"friendlyName": format!("Plan {plan}"), "allowedOperations": ["ReverseReplicate"],
                "groups": [{"groupType": "Shutdown", "replicationProtectedItems": []},
                           {"groupType": "Boot", "replicationProtectedItems": members}]}}));
    }
    world.policies.push(json!({"id": format!("{}/replicationPolicies/failback-policy", fake_arm::vault_id()), "name": "failback-policy",
        "properties": {"friendlyName": "failback-policy", "providerSpecificDetails": {"instanceType": "InMage",
            "recoveryPointThresholdInMinutes": 15, "recoveryPointHistory": 1440, "appConsistentFrequencyInMinutes": 60, "multiVmSyncStatus": "Enabled"}}}));
    world
}

fn request(item: &str) -> ReprotectRequest {
    ReprotectRequest {
        protected_item_id: fake_arm::item_id("cs01", item),
        master_target_id: "mt-lnx-01-id".to_owned(),
        process_server_id: "ps-azure-01-id".to_owned(),
        retention_drive: "/mnt/retention".to_owned(),
        datastore_name: "vmfs-gold-01".to_owned(),
        run_as_account_id: Some("1".to_owned()),
        policy_id: format!(
            "{}/replicationPolicies/failback-policy",
            fake_arm::vault_id()
        ),
    }
}

#[tokio::test]
async fn discovery_reads_the_vault_in_calls_that_grow_only_with_pages() {
    let (endpoint, world) = fake_arm::start(estate(50, 20)).await;
    let provider = provider(endpoint, fake_arm::TOKEN);
    let inventory = provider.inventory().await.unwrap();
    assert_eq!(inventory.fabrics.len(), 2, "the Azure fabric is skipped");
    assert_eq!(inventory.protected_items.len(), 50);
    assert_eq!(inventory.recovery_plans.len(), 3);
    assert_eq!(inventory.recovery_plans[0].members.len(), 4);
    let cs01 = inventory.fabric("cs01").unwrap();
    assert_eq!(cs01.friendly_name, "cs01.contoso.local");
    assert_eq!(cs01.master_targets[0].os_type, "Linux");
    assert_eq!(
        cs01.master_targets[0].retention_volumes[0].volume_name,
        "/mnt/retention"
    );
    assert_eq!(
        cs01.master_targets[0].datastores[0].symbolic_name,
        "vmfs-gold-01"
    );
    assert!(
        cs01.master_targets[0].last_heartbeat.is_some(),
        "a zoneless date reads as UTC"
    );
    assert_eq!(cs01.process_servers[0].health.as_deref(), Some("Normal"));
    assert_eq!(cs01.run_as_accounts[0].account_id, "1");
    assert_eq!(cs01.vcenters[0].friendly_name, "vcsa.contoso.local");
    assert_eq!(cs01.protection_containers.len(), 1);
    let item = inventory.protected_item("vm000").unwrap();
    assert_eq!(item.fabric, "cs01");
    assert_eq!(item.protection_state, "UnplannedFailoverCommitted");
    assert_eq!(item.instance_type.as_deref(), Some("InMageAzureV2"));
    assert_eq!(item.os_type.as_deref(), Some("Windows"));
    assert_eq!(item.machine_type.as_deref(), Some("VMware"));
    assert_eq!(item.disk_count, Some(2));
    assert_eq!(inventory.policies[0].rpo_threshold_minutes, Some(15));
    // 1 fabrics + 2 × (vCenters + containers) + 3 item pages + plans + policies.
    assert_eq!(world.lock().unwrap().requests, 10);

    let (endpoint, world) = fake_arm::start(estate(200, 20)).await;
    let inventory = provider_for(endpoint).inventory().await.unwrap();
    assert_eq!(inventory.protected_items.len(), 200);
    assert_eq!(
        world.lock().unwrap().requests,
        17,
        "10 item pages instead of 3"
    );
}

fn provider_for(endpoint: url::Url) -> AsrProvider {
    provider(endpoint, fake_arm::TOKEN)
}

#[tokio::test]
async fn reprotect_follows_the_job_and_a_second_apply_is_already_done() {
    let (endpoint, world) = fake_arm::start(estate(4, 0)).await;
    let provider = provider_for(endpoint);
    let recorder = Recorder::default();
    let action = ProviderAction::Reprotect(request("vm000"));
    let outcome = provider.apply(&action, &recorder).await.unwrap();
    let ActionOutcome::Applied { remote_ids } = outcome else {
        panic!("expected Applied, got {outcome:?}");
    };
    assert!(
        remote_ids[0].ends_with("/replicationJobs/job-1"),
        "{remote_ids:?}"
    );
    let messages = recorder.messages();
    assert!(
        messages
            .iter()
            .any(|m| m == "InProgress: Start reverse replication"),
        "{messages:?}"
    );
    assert_eq!(messages.last().map(String::as_str), Some("Succeeded"));
    {
        let world = world.lock().unwrap();
        assert_eq!(world.reprotect_posts["vm000"], 1);
        let sent = &world.bodies[0]["properties"];
        assert_eq!(sent["failoverDirection"], "RecoveryToPrimary");
        assert_eq!(sent["providerSpecificDetails"]["instanceType"], "InMage");
        assert_eq!(
            sent["providerSpecificDetails"]["datastoreName"],
            "vmfs-gold-01"
        );
        assert_eq!(sent["providerSpecificDetails"]["runAsAccountId"], "1");
    }
    let again = provider.apply(&action, &recorder).await.unwrap();
    assert_eq!(again, ActionOutcome::AlreadyDone);
    assert_eq!(world.lock().unwrap().reprotect_posts["vm000"], 1);
}

#[tokio::test]
async fn throttling_is_retried_after_the_pause_asked_for() {
    let mut world = estate(2, 0);
    world.faults.push_back((
        axum::http::Method::POST,
        "/reProtect".to_owned(),
        Fault::TooManyRequests { retry_after_s: 1 },
    ));
    let (endpoint, world) = fake_arm::start(world).await;
    let started = Instant::now();
    let outcome = provider_for(endpoint)
        .apply(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, ActionOutcome::Applied { .. }));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(world.lock().unwrap().reprotect_posts["vm000"], 1);
}

#[tokio::test]
async fn server_errors_and_dropped_reads_are_retried() {
    let mut world = estate(2, 0);
    world.faults.push_back((
        axum::http::Method::GET,
        "/replicationProtectedItems/vm000".to_owned(),
        Fault::Status(503),
    ));
    world.faults.push_back((
        axum::http::Method::GET,
        "/replicationJobs/".to_owned(),
        Fault::Drop,
    ));
    world.faults.push_back((
        axum::http::Method::GET,
        "/replicationJobs/".to_owned(),
        Fault::Status(500),
    ));
    world.faults.push_back((
        axum::http::Method::GET,
        "/replicationPolicies".to_owned(),
        Fault::Drop,
    ));
    let (endpoint, world) = fake_arm::start(world).await;
    let provider = provider_for(endpoint);
    let outcome = provider
        .apply(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, ActionOutcome::Applied { .. }));
    assert_eq!(provider.inventory().await.unwrap().policies.len(), 1);
    let world = world.lock().unwrap();
    assert_eq!(world.reprotect_posts["vm000"], 1);
    assert!(world.faults.is_empty(), "every fault was served");
}

#[tokio::test]
async fn a_lost_reprotect_answer_is_not_sent_again() {
    let mut world = estate(2, 0);
    world.faults.push_back((
        axum::http::Method::POST,
        "/reProtect".to_owned(),
        Fault::DropAfterAccept,
    ));
    let (endpoint, world) = fake_arm::start(world).await;
    let outcome = provider_for(endpoint)
        .apply(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap();
    let ActionOutcome::Applied { remote_ids } = outcome else {
        panic!("expected Applied");
    };
    assert!(remote_ids[0].ends_with("job-1"));
    assert_eq!(world.lock().unwrap().reprotect_posts["vm000"], 1);
}

#[tokio::test]
async fn a_server_error_on_the_post_reads_the_item_before_posting_again() {
    let mut world = estate(2, 0);
    world.faults.push_back((
        axum::http::Method::POST,
        "/reProtect".to_owned(),
        Fault::Status(500),
    ));
    let (endpoint, world) = fake_arm::start(world).await;
    let outcome = provider_for(endpoint)
        .apply(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, ActionOutcome::Applied { .. }));
    assert_eq!(world.lock().unwrap().reprotect_posts["vm000"], 1);
}

#[tokio::test]
async fn a_failed_job_keeps_asr_code_causes_and_action() {
    let mut world = estate(2, 0);
    world.failing.push("vm000".to_owned());
    let (endpoint, _world) = fake_arm::start(world).await;
    let provider = provider_for(endpoint);
    let error = provider
        .apply_action(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    let AsrError::JobFailed(failure) = &error else {
        panic!("expected a job failure, got {error:?}");
    };
    assert_eq!(failure.code(), "539");
    assert_eq!(
        failure.failed_task.as_deref(),
        Some("Start reverse replication")
    );
    let provider_error: ProviderError = error.into();
    let ProviderError::Remote {
        service,
        code,
        message,
        help,
    } = provider_error
    else {
        panic!("expected Remote");
    };
    assert_eq!((service.as_str(), code.as_str()), ("ASR", "539"));
    assert_eq!(
        message,
        "job job-1 for vm000 ended Failed in task \"Start reverse replication\": The master target could not be reached."
    );
    assert_eq!(
        help.as_deref(),
        Some(
            "Possible causes: The master target is powered off.\nRecommended action: Start the master target and retry."
        )
    );
}

#[tokio::test]
async fn a_rejected_reprotect_is_a_typed_cloud_error() {
    let (endpoint, world) = fake_arm::start(estate(2, 0)).await;
    let mut bad = request("vm000");
    bad.retention_drive = String::new();
    let error = provider_for(endpoint)
        .apply_action(&ProviderAction::Reprotect(bad), &Recorder::default())
        .await
        .unwrap_err();
    let AsrError::Cloud(cloud) = &error else {
        panic!("expected a CloudError, got {error:?}");
    };
    assert_eq!(cloud.status, 400);
    assert_eq!(cloud.asr_code(), "InvalidParameterValue");
    assert_eq!(cloud.asr_message(), "retentionDrive is required.");
    assert_eq!(
        cloud.help().as_deref(),
        Some(
            "Possible causes: Cause of InvalidParameterValue.\nRecommended action: Fix InvalidParameterValue."
        )
    );
    assert!(world.lock().unwrap().reprotect_posts.is_empty());
}

#[tokio::test]
async fn an_expired_or_missing_token_is_an_authentication_error_without_retries() {
    for token in ["expired-token", "   "] {
        let (endpoint, world) = fake_arm::start(estate(1, 0)).await;
        let error = provider(endpoint, token).discover().await.unwrap_err();
        let ProviderError::Authentication(message) = &error else {
            panic!("expected an authentication error, got {error:?}");
        };
        assert!(message.contains("ExpiredAuthenticationToken"), "{message}");
        assert!(!message.contains(token.trim()) || token.trim().is_empty());
        assert_eq!(world.lock().unwrap().requests, 1);
    }
    let (endpoint, world) = fake_arm::start(estate(1, 0)).await;
    let error = provider(endpoint, "").discover().await.unwrap_err();
    assert!(
        matches!(error, ProviderError::Authentication(_)),
        "{error:?}"
    );
    assert_eq!(
        world.lock().unwrap().requests,
        0,
        "an empty token is not sent"
    );
}

#[tokio::test]
async fn waiting_for_an_agent() {
    let mut world = estate(2, 0);
    world.items[1]["properties"]["providerSpecificDetails"]["lastHeartbeat"] = json!(null);
    world.items[1]["properties"]["healthErrors"] = json!([{"errorCode": "AgentNotInstalled",
        "errorMessage": "The Mobility service agent is not installed on the VM."}]);
    let (endpoint, shared) = fake_arm::start(world).await;
    let provider = provider_for(endpoint);
    let registered = ProviderAction::WaitForAgent {
        protected_item_id: fake_arm::item_id("cs01", "vm000"),
        timeout_s: 5,
    };
    assert_eq!(
        provider
            .apply(&registered, &Recorder::default())
            .await
            .unwrap(),
        ActionOutcome::AlreadyDone
    );

    let missing = ProviderAction::WaitForAgent {
        protected_item_id: fake_arm::item_id("cs02", "vm001"),
        timeout_s: 0,
    };
    let error = provider
        .apply_action(&missing, &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, AsrError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("FB117"));

    // The agent registers while the provider waits.
    let waiting = ProviderAction::WaitForAgent {
        protected_item_id: fake_arm::item_id("cs02", "vm001"),
        timeout_s: 10,
    };
    let world = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut world = world.lock().unwrap();
        world.items[1]["properties"]["providerSpecificDetails"]["lastHeartbeat"] =
            json!("2026-11-26T11:00:00Z");
        world.items[1]["properties"]["healthErrors"] = json!([]);
    });
    let recorder = Recorder::default();
    let outcome = provider.apply(&waiting, &recorder).await.unwrap();
    assert_eq!(outcome, ActionOutcome::Applied { remote_ids: vec![] });
    assert!(
        recorder.0.lock().unwrap()[0]
            .message
            .starts_with("waiting for the agent of vm001")
    );
}

#[tokio::test]
async fn vcenter_actions_are_not_ours_and_foreign_items_are_refused() {
    let (endpoint, world) = fake_arm::start(estate(1, 0)).await;
    let provider = provider_for(endpoint);
    let error = provider
        .apply(
            &ProviderAction::VmRemoveSnapshots {
                vm: "web01".to_owned(),
            },
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unsupported { .. }));
    let mut foreign = request("vm000");
    foreign.protected_item_id = "/subscriptions/other/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/i".to_owned();
    let error = provider
        .apply_action(&ProviderAction::Reprotect(foreign), &Recorder::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is not a protected item of vault contoso-vault"),
        "{error}"
    );
    assert_eq!(world.lock().unwrap().requests, 0);
}

fn rendered(error: ProviderError) -> String {
    match &error {
        ProviderError::Remote {
            help: Some(help), ..
        } => format!("{error}\nhelp:\n{help}"),
        _ => error.to_string(),
    }
}

#[tokio::test]
async fn what_users_read_about_asr_failures() {
    let mut world = estate(2, 0);
    world.failing.push("vm000".to_owned());
    let (endpoint, _world) = fake_arm::start(world).await;
    let asr = provider_for(endpoint.clone());
    let failed_job = asr
        .apply(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    insta::assert_snapshot!("failed_job", rendered(failed_job));

    let mut bad = request("vm000");
    bad.master_target_id = String::new();
    let rejected = asr
        .apply(&ProviderAction::Reprotect(bad), &Recorder::default())
        .await
        .unwrap_err();
    insta::assert_snapshot!(
        "rejected_reprotect",
        rendered(rejected).replace(endpoint.as_str().trim_end_matches('/'), "http://ENDPOINT")
    );

    let (endpoint, _world) = fake_arm::start(estate(1, 0)).await;
    let expired = provider(endpoint, "stale").discover().await.unwrap_err();
    insta::assert_snapshot!("expired_token", rendered(expired));
}

#[tokio::test]
async fn the_inventory_of_one_configuration_server_and_item() {
    let (endpoint, _world) = fake_arm::start(estate(1, 0)).await;
    let inventory = provider_for(endpoint).inventory().await.unwrap();
    insta::assert_json_snapshot!("inventory_fabric", inventory.fabric("cs01").unwrap());
    insta::assert_json_snapshot!("inventory_item", inventory.protected_item("vm000").unwrap());
}

/// A token source whose first token has expired, as after a long job.
#[derive(Debug, Default)]
struct RotatingToken {
    invalidated: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl failback_provider_asr::TokenSource for RotatingToken {
    async fn token(&self) -> Result<failback_provider_asr::BearerToken, AsrError> {
        let fresh = self.invalidated.load(std::sync::atomic::Ordering::SeqCst);
        Ok(failback_provider_asr::BearerToken::new(if fresh {
            fake_arm::TOKEN
        } else {
            "expired"
        }))
    }

    async fn invalidate(&self) -> bool {
        self.invalidated
            .store(true, std::sync::atomic::Ordering::SeqCst);
        true
    }

    fn kind(&self) -> &'static str {
        "test"
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let (endpoint, world) = fake_arm::start(estate(1, 0)).await;
    let config = AsrProviderConfig::new(
        "vault.dr",
        VaultRef {
            subscription_id: fake_arm::SUBSCRIPTION.to_owned(),
            resource_group: fake_arm::RESOURCE_GROUP.to_owned(),
            name: fake_arm::VAULT.to_owned(),
        },
        endpoint,
    );
    let provider = AsrProvider::new(config, Arc::new(RotatingToken::default())).unwrap();
    let inventory = provider.inventory().await.unwrap();
    assert_eq!(inventory.protected_items.len(), 1);
    // One refused request, then every list once.
    assert_eq!(world.lock().unwrap().requests, 1 + 8);
}

#[tokio::test]
async fn without_a_job_in_location_the_operation_is_followed() {
    let mut world = estate(2, 0);
    world.async_operation_only = true;
    let (endpoint, world) = fake_arm::start(world).await;
    let outcome = provider_for(endpoint)
        .apply(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, ActionOutcome::Applied { .. }),
        "{outcome:?}"
    );
    let world = world.lock().unwrap();
    assert_eq!(world.reprotect_posts["vm000"], 1);
    assert_eq!(
        world.items[0]["properties"]["protectionState"], "Protected",
        "the operation was polled to its end"
    );
}

#[tokio::test]
async fn a_job_that_is_not_visible_yet_is_polled_again() {
    let mut world = estate(2, 0);
    world.job_invisible_polls = 2;
    let (endpoint, world) = fake_arm::start(world).await;
    let outcome = provider_for(endpoint)
        .apply(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, ActionOutcome::Applied { .. }),
        "{outcome:?}"
    );
    assert_eq!(world.lock().unwrap().reprotect_posts["vm000"], 1);
}

#[tokio::test]
async fn a_lost_answer_to_a_reprotect_that_already_finished_is_applied_not_already_done() {
    let mut world = estate(2, 0);
    world.instant_jobs = true;
    world.faults.push_back((
        axum::http::Method::POST,
        "/reProtect".to_owned(),
        Fault::DropAfterAccept,
    ));
    let (endpoint, world) = fake_arm::start(world).await;
    let outcome = provider_for(endpoint)
        .apply(
            &ProviderAction::Reprotect(request("vm000")),
            &Recorder::default(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Applied { remote_ids: vec![] });
    assert_eq!(world.lock().unwrap().reprotect_posts["vm000"], 1);
}
