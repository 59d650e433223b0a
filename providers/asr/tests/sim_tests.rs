//! The provider against the ASR simulator (`failback_sim::asr`) serving
//! `testdata/estates/asr-realistic.json`: discovery of a realistic vault, every
//! action, every rejection the simulator serves as a typed error, every fault kind
//! with the reprotect still accepted exactly once, and bad tokens.

mod support;

use failback_engine::provider::{
    ActionOutcome, Provider, ProviderAction, ProviderError, ReprotectRequest,
};
use failback_provider_asr::client::Replay;
use failback_provider_asr::{AsrError, AsrProvider};
use failback_sim::asr::RunningAsrSimulator;
use failback_sim::estate::Estate;
use support::{
    Recorder, realistic_estate as realistic, sim_provider as provider,
    sim_provider_with_token as provider_with_token, simulator,
};

fn item_id(
    sim: &RunningAsrSimulator,
    inventory_items: &[failback_engine::observe::vault::ProtectedItem],
    name: &str,
) -> String {
    let _ = sim;
    inventory_items
        .iter()
        .find(|item| item.name == name)
        .map(|item| item.id.clone())
        .unwrap_or_else(|| panic!("no item {name}"))
}

/// A reprotect of `item` with values that pass every check of the realistic estate.
async fn good_request(
    sim: &RunningAsrSimulator,
    provider: &AsrProvider,
    item: &str,
) -> ReprotectRequest {
    // Under injected faults a whole discovery can still fail now and then.
    let mut inventory = provider.inventory().await;
    for _ in 0..4 {
        if inventory.is_ok() {
            break;
        }
        inventory = provider.inventory().await;
    }
    let inventory = inventory.unwrap();
    let found = inventory.protected_item(item).unwrap();
    let windows = found
        .os_type
        .as_deref()
        .is_some_and(|os| os.eq_ignore_ascii_case("windows"));
    let fabric = inventory.fabric(&found.fabric).unwrap();
    let master_target = fabric
        .master_targets
        .iter()
        .find(|target| {
            target
                .os_type
                .eq_ignore_ascii_case(if windows { "Windows" } else { "Linux" })
        })
        .unwrap();
    let policy = inventory
        .policies
        .iter()
        .find(|policy| policy.instance_type == "InMage")
        .unwrap();
    ReprotectRequest {
        protected_item_id: item_id(sim, &inventory.protected_items, item),
        master_target_id: master_target.id.clone(),
        process_server_id: fabric.process_servers[0].id.clone(),
        retention_drive: master_target.retention_volumes[0].volume_name.clone(),
        datastore_name: master_target.datastores[0].symbolic_name.clone(),
        run_as_account_id: Some(fabric.run_as_accounts[0].account_id.clone()),
        policy_id: policy.id.clone(),
    }
}

#[tokio::test]
async fn discovery_of_a_realistic_vault() {
    let sim = simulator(realistic()).await;
    let provider = provider(&sim);
    let inventory = provider.inventory().await.unwrap();
    assert_eq!(inventory.name, "contoso-vault");
    assert_eq!(inventory.fabrics.len(), 2);
    assert_eq!(inventory.protected_items.len(), 50);
    assert_eq!(inventory.recovery_plans.len(), 3);
    assert_eq!(inventory.policies.len(), 2);
    let cs01 = inventory.fabric("cs01").unwrap();
    let mut os_types: Vec<&str> = cs01
        .master_targets
        .iter()
        .map(|target| target.os_type.as_str())
        .collect();
    os_types.sort();
    assert_eq!(os_types, ["Linux", "Windows"]);
    assert!(
        cs01.master_targets
            .iter()
            .all(|target| target.last_heartbeat.is_some())
    );
    assert_eq!(cs01.master_targets[0].datastores.len(), 2);
    assert!(!cs01.master_targets[0].retention_volumes.is_empty());
    assert!(!cs01.process_servers.is_empty());
    assert_eq!(cs01.run_as_accounts.len(), 2);
    assert!(
        !cs01.vcenters.is_empty(),
        "the configuration server's vCenters"
    );
    assert!(!cs01.protection_containers.is_empty());
    let erp = inventory
        .recovery_plans
        .iter()
        .find(|plan| plan.name == "erp-plan")
        .unwrap();
    assert_eq!(erp.members.len(), 3);
    let item = inventory.protected_item("app00-item").unwrap();
    assert!(
        item.protection_state
            .eq_ignore_ascii_case("UnplannedFailoverCommitted")
    );
    assert!(
        item.allowed_operations
            .iter()
            .any(|op| op.eq_ignore_ascii_case("ReverseReplicate"))
    );
    assert_eq!(item.os_type.as_deref(), Some("Windows"));
    assert_eq!(item.fabric, "cs01");
    assert!(item.agent_last_heartbeat.is_some());
    assert_eq!(item.vm_name.as_deref(), Some("app00"));
    assert_eq!(item.static_ip, Some(false));
    assert_eq!(
        inventory.protected_item("app05-item").unwrap().static_ip,
        Some(true)
    );
    let grouped = inventory.protected_item("app40-item").unwrap();
    assert!(grouped.replication_group.is_some(), "{grouped:?}");
    let late = inventory.protected_item("app46-item").unwrap();
    assert_eq!(
        late.agent_last_heartbeat, None,
        "the agent has not registered yet"
    );
    let gets = sim.calls("GET *");
    // 50 items over pages of 20 are 3 pages; the rest is one call per list and two
    // per configuration server: never one per item.
    assert_eq!(sim.calls("GET */replicationProtectedItems"), 3);
    assert_eq!(gets, 1 + 2 * 2 + 3 + 1 + 1, "{:?}", sim.all_calls());
    assert_eq!(provider.client().request_count(), gets as u64);
}

#[tokio::test]
async fn reprotect_then_already_done() {
    let sim = simulator(realistic()).await;
    let provider = provider(&sim);
    let request = good_request(&sim, &provider, "app01-item").await;
    let recorder = Recorder::default();
    let outcome = provider
        .apply(&ProviderAction::Reprotect(request.clone()), &recorder)
        .await
        .unwrap();
    let ActionOutcome::Applied { remote_ids } = outcome else {
        panic!("expected Applied, got {outcome:?}");
    };
    assert_eq!(remote_ids.len(), 1);
    assert!(
        remote_ids[0]
            .to_ascii_lowercase()
            .contains("/replicationjobs/"),
        "{remote_ids:?}"
    );
    let reports = recorder.0.lock().unwrap().clone();
    assert!(
        reports.iter().any(|report| report.remote_id.is_some()),
        "{reports:?}"
    );
    assert!(
        reports
            .last()
            .unwrap()
            .message
            .eq_ignore_ascii_case("Succeeded"),
        "{reports:?}"
    );
    assert_eq!(
        sim.protection_state("app01-item").as_deref(),
        Some("Protected")
    );
    assert_eq!(sim.reprotect_accepted("app01-item"), 1);

    let again = provider
        .apply(&ProviderAction::Reprotect(request), &recorder)
        .await
        .unwrap();
    assert_eq!(again, ActionOutcome::AlreadyDone);
    assert_eq!(sim.reprotect_requests("app01-item"), 1, "no second POST");
    let item = provider
        .inventory()
        .await
        .unwrap()
        .protected_item("app01-item")
        .cloned()
        .unwrap();
    assert_eq!(item.instance_type.as_deref(), Some("InMage"));
    assert!(item.reverse.is_some());
}

#[tokio::test]
async fn waiting_for_a_late_agent_then_reprotecting() {
    let sim = simulator(realistic()).await;
    let provider = provider(&sim);
    let request = good_request(&sim, &provider, "app46-item").await;
    let refused = provider
        .apply_action(
            &ProviderAction::Reprotect(request.clone()),
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    assert_cloud_code(&refused, "AgentNotInstalled");

    let wait = |timeout_s| ProviderAction::WaitForAgent {
        protected_item_id: request.protected_item_id.clone(),
        timeout_s,
    };
    let timeout = provider
        .apply_action(&wait(0), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(timeout, AsrError::Timeout { .. }), "{timeout:?}");
    sim.advance_clock(3600.0);
    assert_eq!(
        provider
            .apply(&wait(5), &Recorder::default())
            .await
            .unwrap(),
        ActionOutcome::AlreadyDone
    );
    let outcome = provider
        .apply(&ProviderAction::Reprotect(request), &Recorder::default())
        .await
        .unwrap();
    assert!(matches!(outcome, ActionOutcome::Applied { .. }));
    assert_eq!(sim.reprotect_accepted("app46-item"), 1);
}

fn assert_cloud_code(error: &AsrError, code: &str) {
    match error {
        AsrError::Cloud(cloud) => {
            assert_eq!(cloud.asr_code(), code, "{cloud}");
            assert!(
                cloud.help().is_some(),
                "ASR's causes and action are kept: {cloud:?}"
            );
        }
        other => panic!("expected CloudError {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn every_rejection_is_a_typed_error_with_asr_advice() {
    let sim = simulator(realistic()).await;
    let provider = provider(&sim);
    let reject = |request: ReprotectRequest| {
        let provider = provider.clone();
        async move {
            provider
                .apply_action(&ProviderAction::Reprotect(request), &Recorder::default())
                .await
                .unwrap_err()
        }
    };
    // app00: Windows on cs01; app30: Windows on cs02 (its MTs see one datastore).
    let good = good_request(&sim, &provider, "app00-item").await;

    let mut missing = good.clone();
    missing.retention_drive = String::new();
    assert_cloud_code(&reject(missing).await, "RequiredParameterMissing");

    let mut unknown_mt = good.clone();
    unknown_mt.master_target_id = "mt-nowhere-id".to_owned();
    assert_cloud_code(&reject(unknown_mt).await, "MasterTargetNotFound");

    let mut unknown_ps = good.clone();
    unknown_ps.process_server_id = "ps-nowhere-id".to_owned();
    assert_cloud_code(&reject(unknown_ps).await, "ProcessServerNotFound");

    let mut os_mismatch = good.clone();
    os_mismatch.master_target_id = "mt-lnx-01-id".to_owned();
    os_mismatch.retention_drive = "/mnt/retention".to_owned();
    assert_cloud_code(&reject(os_mismatch).await, "MasterTargetOsTypeMismatch");

    let mut unseen_datastore = good_request(&sim, &provider, "app30-item").await;
    unseen_datastore.datastore_name = "vmfs-silver-01".to_owned();
    assert_cloud_code(
        &reject(unseen_datastore).await,
        "DatastoreNotAccessibleToMasterTarget",
    );

    let wrong_state = good_request(&sim, &provider, "app44-item").await;
    assert_cloud_code(
        &reject(wrong_state).await,
        "OperationNotAllowedInCurrentState",
    );

    // A replication group goes to one master target: app40 to mt-win-02, then its
    // group member app42 to mt-win-03 is refused.
    let first = good_request(&sim, &provider, "app40-item").await;
    assert_eq!(first.master_target_id, "mt-win-02-id");
    provider
        .apply_action(&ProviderAction::Reprotect(first), &Recorder::default())
        .await
        .unwrap();
    let mut split = good_request(&sim, &provider, "app42-item").await;
    split.master_target_id = "mt-win-03-id".to_owned();
    assert_cloud_code(&reject(split).await, "MultiVmGroupMasterTargetMismatch");

    // The provider always sends InMage; a client that sends another instance type
    // is refused the same typed way.
    let url = provider
        .client()
        .url(&format!("{}/reProtect", good.protected_item_id))
        .unwrap();
    let body = serde_json::json!({"properties": {"failoverDirection": "RecoveryToPrimary",
        "providerSpecificDetails": {"instanceType": "InMageAzureV2", "masterTargetId": "mt-win-01-id"}}});
    let wrong_type = provider
        .client()
        .send(reqwest::Method::POST, url, Some(&body), Replay::Unsafe)
        .await
        .unwrap_err();
    assert_cloud_code(&wrong_type, "InvalidProviderSpecificInput");

    // The engine sees ASR's code and advice.
    let mut missing = good.clone();
    missing.process_server_id = String::new();
    let error: ProviderError = reject(missing).await.into();
    let ProviderError::Remote {
        service,
        code,
        help,
        ..
    } = error
    else {
        panic!("expected Remote");
    };
    assert_eq!(
        (service.as_str(), code.as_str()),
        ("ASR", "RequiredParameterMissing")
    );
    assert!(help.unwrap().contains("Recommended action: "));
    assert_eq!(sim.reprotect_accepted("app00-item"), 0);
}

/// Reprotects `items` through a faulty vault; each must end Protected with exactly
/// one accepted reprotect.
async fn reprotect_through_faults(
    configure: impl FnOnce(&mut Estate),
    items: &[&str],
) -> RunningAsrSimulator {
    let mut estate = realistic();
    configure(&mut estate);
    let sim = simulator(estate).await;
    let provider = provider(&sim);
    for item in items {
        let request = good_request(&sim, &provider, item).await;
        let outcome = provider
            .apply_action(&ProviderAction::Reprotect(request), &Recorder::default())
            .await
            .unwrap_or_else(|error| panic!("{item}: {error}"));
        assert!(matches!(
            outcome,
            ActionOutcome::Applied { .. } | ActionOutcome::AlreadyDone
        ));
        assert_eq!(
            sim.protection_state(item).as_deref(),
            Some("Protected"),
            "{item}"
        );
        assert_eq!(
            sim.reprotect_accepted(item),
            1,
            "{item} reprotected more than once"
        );
    }
    sim
}

#[tokio::test]
async fn throttling_is_retried_and_reprotects_once() {
    let sim = reprotect_through_faults(
        |estate| {
            estate.vault.behaviour.faults.http_429_rate = 0.2;
            estate.vault.behaviour.faults.seed = 11;
        },
        &["app01-item", "app03-item"],
    )
    .await;
    assert!(sim.all_calls().len() > 20);
}

#[tokio::test]
async fn server_errors_are_retried_and_reprotect_once() {
    reprotect_through_faults(
        |estate| {
            estate.vault.behaviour.faults.http_5xx_rate = 0.2;
            estate.vault.behaviour.faults.seed = 12;
        },
        &["app01-item", "app03-item", "app05-item"],
    )
    .await;
}

#[tokio::test]
async fn dropped_connections_never_reprotect_twice() {
    reprotect_through_faults(
        |estate| {
            estate.vault.behaviour.faults.drop_rate = 0.2;
            estate.vault.behaviour.faults.seed = 13;
        },
        &["app01-item", "app03-item", "app05-item", "app07-item"],
    )
    .await;
}

#[tokio::test]
async fn a_failing_job_is_a_typed_error_and_the_next_apply_succeeds() {
    let mut estate = realistic();
    estate.vault.behaviour.faults.failing_jobs = vec!["app01-item".to_owned()];
    let sim = simulator(estate).await;
    let provider = provider(&sim);
    let request = good_request(&sim, &provider, "app01-item").await;
    let error = provider
        .apply_action(
            &ProviderAction::Reprotect(request.clone()),
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    let AsrError::JobFailed(failure) = &error else {
        panic!("expected a failed job, got {error:?}");
    };
    assert!(!failure.errors.is_empty(), "{failure:?}");
    assert!(
        failure.errors[0].possible_causes.is_some()
            || failure.errors[0].recommended_action.is_some()
    );
    let as_provider: ProviderError = error.into();
    assert!(
        matches!(as_provider, ProviderError::Remote { help: Some(_), .. }),
        "{as_provider:?}"
    );
    assert_eq!(sim.reprotect_accepted("app01-item"), 1);

    let outcome = provider
        .apply(&ProviderAction::Reprotect(request), &Recorder::default())
        .await
        .unwrap();
    assert!(matches!(outcome, ActionOutcome::Applied { .. }));
    assert_eq!(
        sim.protection_state("app01-item").as_deref(),
        Some("Protected")
    );
    assert_eq!(
        sim.reprotect_accepted("app01-item"),
        2,
        "one failed job, one that succeeded"
    );
}

#[tokio::test]
async fn an_expired_or_missing_token_is_an_authentication_error() {
    let sim = simulator(realistic()).await;
    let wrong = provider_with_token(&sim, "expired-token")
        .discover()
        .await
        .unwrap_err();
    let ProviderError::Authentication(message) = &wrong else {
        panic!("expected Authentication, got {wrong:?}");
    };
    assert!(message.contains("401"), "{message}");
    assert!(!message.contains("expired-token"));
    let calls = sim.all_calls().len();
    assert_eq!(calls, 1, "a refused token is not retried");
    let missing = provider_with_token(&sim, "").discover().await.unwrap_err();
    assert!(
        matches!(missing, ProviderError::Authentication(_)),
        "{missing:?}"
    );
    assert_eq!(sim.all_calls().len(), calls, "no request without a token");
}
