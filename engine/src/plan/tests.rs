use serde_json::json;

use super::worlds::*;
use super::*;
use crate::config::Address;
use crate::provider::ProviderAction;

fn ids(plan: &Plan) -> Vec<&str> {
    plan.actions.iter().map(|a| a.id.as_str()).collect()
}

fn address(text: &str) -> Address {
    Address::try_from(text.to_owned()).unwrap()
}

#[test]
fn failed_over_items_get_one_independent_reprotect_each() {
    let plan = all_new().plan();
    assert_eq!(
        ids(&plan),
        [
            "reprotect.app01/asr.protected_item.reprotect",
            "reprotect.db01/asr.protected_item.reprotect",
            "reprotect.web01/asr.protected_item.reprotect",
        ]
    );
    assert!(plan.actions.iter().all(|a| a.depends_on.is_empty()));
    assert!(plan.unchanged.is_empty() && plan.drift.is_empty() && plan.not_planned.is_empty());
    let ProviderAction::Reprotect(request) = &plan.actions[0].action else {
        panic!("expected a reprotect, got {:?}", plan.actions[0].action);
    };
    assert!(
        request
            .master_target_id
            .ends_with("/masterTargets/mt-win-01")
    );
    assert!(
        request
            .process_server_id
            .ends_with("/processServers/ps-azure-01")
    );
    assert_eq!(request.retention_drive, "R:");
    assert_eq!(request.datastore_name, "ds-vmfs-01");
    assert!(request.policy_id.ends_with("/replication-policy-failback"));
    assert_eq!(plan.actions[0].provider, "vault.dr");
    let summary = plan.summary();
    assert_eq!(
        (summary.to_reprotect, summary.to_fix, summary.unchanged),
        (3, 0, 0)
    );
    assert!(plan.has_changes());
}

#[test]
fn reprotected_as_declared_is_unchanged() {
    let plan = all_done().plan();
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.unchanged,
        [address("reprotect.app01"), address("reprotect.web01")]
    );
    assert!(!plan.has_changes_or_drift());
}

#[test]
fn reprotected_through_other_master_target_is_drift_with_before_and_after() {
    let plan = drift().plan();
    assert_eq!(plan.unchanged, [address("reprotect.web01")]);
    assert_eq!(plan.drift.len(), 1);
    let drift = &plan.drift[0];
    assert_eq!(drift.address, address("reprotect.db01"));
    assert_eq!(drift.attributes, ["master_target", "datastore"]);
    assert_eq!(
        drift.before,
        json!({"master_target": "mt-linux-02", "datastore": "ds-vmfs-02"})
    );
    assert_eq!(
        drift.after,
        json!({"master_target": "mt-linux-01", "datastore": "ds-vmfs-01"})
    );
    assert_eq!(ids(&plan), ["reprotect.app01/asr.protected_item.reprotect"]);
}

#[test]
fn protection_state_and_operations_match_case_insensitively() {
    let mut world = all_new();
    for item in &mut world
        .observed
        .vaults
        .get_mut("vault.dr")
        .unwrap()
        .protected_items
    {
        item.protection_state = "unplannedfailovercommitted".to_owned();
        item.allowed_operations = vec!["reversereplicate".to_owned()];
        item.name = item.name.to_uppercase();
    }
    assert_eq!(world.plan().summary().to_reprotect, 3);
}

#[test]
fn reverse_replicate_not_allowed_is_not_planned_with_reason() {
    let mut world = all_new();
    let vault = world.observed.vaults.get_mut("vault.dr").unwrap();
    vault.protected_items[0].allowed_operations = vec!["DisableProtection".to_owned()];
    let plan = world.plan();
    assert_eq!(plan.not_planned.len(), 1);
    assert!(
        plan.not_planned[0].reason.contains("ReverseReplicate"),
        "{:?}",
        plan.not_planned
    );
    assert!(plan.summary().is_blocked());
}

#[test]
fn every_missing_link_keeps_the_reprotect_out_with_its_reason() {
    type BreakWorld = Box<dyn Fn(&mut World)>;
    let cases: Vec<(&str, BreakWorld)> = vec![
        (
            "vault.dr was not discovered",
            Box::new(|w| w.observed.vaults.clear()),
        ),
        (
            "no protected item named web01",
            Box::new(|w| {
                let vault = w.observed.vaults.get_mut("vault.dr").unwrap();
                vault.protected_items.retain(|i| i.name != "web01");
            }),
        ),
        (
            "mt-linux-01",
            Box::new(|w| {
                let vault = w.observed.vaults.get_mut("vault.dr").unwrap();
                vault.fabrics[0]
                    .master_targets
                    .retain(|m| m.name != "mt-linux-01");
            }),
        ),
        (
            "ps-azure-01",
            Box::new(|w| {
                let vault = w.observed.vaults.get_mut("vault.dr").unwrap();
                vault.fabrics[0].process_servers.clear();
            }),
        ),
        (
            "no failback (InMage) policy",
            Box::new(|w| {
                let vault = w.observed.vaults.get_mut("vault.dr").unwrap();
                vault.policies.retain(|p| p.instance_type != "InMage");
            }),
        ),
        (
            "reprotect.web01 names no datastore (FB118)",
            Box::new(|w| {
                w.config
                    .reprotects
                    .iter_mut()
                    .for_each(|r| r.datastore = None);
            }),
        ),
        (
            "no run-as account named \"nobody\"",
            Box::new(|w| {
                w.config
                    .reprotects
                    .iter_mut()
                    .for_each(|r| r.run_as_account = Some("nobody".into()));
            }),
        ),
    ];
    for (expected, break_world) in cases {
        let mut world = WorldBuilder::new()
            .machine(Machine::new("web01", ItemState::FailedOver))
            .build();
        break_world(&mut world);
        let plan = world.plan();
        assert!(plan.actions.is_empty(), "{expected}: {:?}", ids(&plan));
        assert_eq!(plan.not_planned.len(), 1, "{expected}");
        assert!(
            plan.not_planned[0].reason.contains(expected),
            "expected {expected:?} in {:?}",
            plan.not_planned[0].reason
        );
    }
}

#[test]
fn recovery_plan_members_form_one_unit_started_together_after_fixes_and_waits() {
    let plan = recovery_plan_unit().plan();
    assert_eq!(
        ids(&plan),
        [
            "master_target.mt_linux/vcenter.vm.set_extra_config",
            "reprotect.erp_db/asr.wait_for_agent",
            "reprotect.erp_app/asr.protected_item.reprotect",
            "reprotect.erp_db/asr.protected_item.reprotect",
            "reprotect.intranet/asr.protected_item.reprotect",
        ]
    );
    let fix = "master_target.mt_linux/vcenter.vm.set_extra_config";
    let wait = "reprotect.erp_db/asr.wait_for_agent";
    let erp_app = plan
        .action("reprotect.erp_app/asr.protected_item.reprotect")
        .unwrap();
    let erp_db = plan
        .action("reprotect.erp_db/asr.protected_item.reprotect")
        .unwrap();
    // Both members wait for the fix and for erp-db's agent: they start together.
    assert_eq!(erp_app.depends_on, [fix, wait]);
    assert_eq!(erp_db.depends_on, [fix, wait]);
    // The Windows machine uses the other master target: independent of everything.
    assert!(
        plan.action("reprotect.intranet/asr.protected_item.reprotect")
            .unwrap()
            .depends_on
            .is_empty()
    );
    assert_eq!(plan.units.len(), 1);
    let unit = &plan.units[0];
    assert_eq!(unit.id, "recovery_plan.erp");
    assert_eq!(
        unit.members,
        [address("reprotect.erp_app"), address("reprotect.erp_db")]
    );
    assert_eq!(
        unit.actions,
        [
            wait,
            "reprotect.erp_app/asr.protected_item.reprotect",
            "reprotect.erp_db/asr.protected_item.reprotect"
        ]
    );
    assert_eq!(erp_app.unit.as_deref(), Some("recovery_plan.erp"));
    assert_eq!(plan.action(fix).unwrap().unit, None);
    let ProviderAction::WaitForAgent { timeout_s, .. } = plan.action(wait).unwrap().action else {
        panic!("expected a wait");
    };
    assert_eq!(timeout_s, 20 * 60);
}

#[test]
fn snapshot_removal_is_destructive_and_comes_before_its_reprotect() {
    let plan = destructive_snapshots().plan();
    let removal = &plan.actions[0];
    assert_eq!(removal.id, "reprotect.web01/vcenter.vm.remove_snapshots");
    assert!(removal.destructive);
    assert_eq!(removal.change, ChangeKind::Delete);
    assert!(removal.reason.ends_with("(FB102)"));
    let reprotect = plan
        .action("reprotect.web01/asr.protected_item.reprotect")
        .unwrap();
    assert_eq!(reprotect.depends_on, [removal.id.as_str()]);
    let other = plan
        .action("reprotect.web02/asr.protected_item.reprotect")
        .unwrap();
    assert!(other.depends_on.is_empty());
    assert_eq!(plan.summary().destructive, 1);
}

#[test]
fn findings_are_sorted_and_acknowledgements_do_not_block() {
    let plan = errors_acknowledged().plan();
    let order: Vec<(String, &str)> = plan
        .findings
        .iter()
        .map(|f| (f.address.to_string(), f.rule.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("master_target.mt_linux".to_owned(), "FB124"),
            ("reprotect.files01".to_owned(), "FB118"),
            ("reprotect.mail01".to_owned(), "FB129"),
            ("reprotect.web01".to_owned(), "FB128"),
        ]
    );
    let summary = plan.summary();
    assert_eq!(
        (summary.errors, summary.warnings, summary.acknowledged),
        (3, 0, 1)
    );
    assert_eq!(summary.could_not_check, 1);
    assert_eq!(summary.not_planned, 2);
}

#[test]
fn plan_records_what_it_was_made_from() {
    let world = all_new();
    let plan = world.plan();
    assert_eq!(plan.format_version, PLAN_FORMAT_VERSION);
    assert_eq!(plan.observed_digest, world.observed.digest());
    assert_eq!(plan.state_serial, 7);
    assert_eq!(plan.state_lineage, world.state.lineage);
    assert!(plan.config_digest.starts_with("sha256:"));
    assert_eq!(plan.observed, world.observed);
}

#[test]
fn plan_is_deterministic_and_independent_of_input_order() {
    let world = recovery_plan_unit();
    let mut shuffled = world.clone();
    shuffled.config.reprotects.reverse();
    shuffled.assessment.findings.reverse();
    shuffled.assessment.fixes.reverse();
    // `desired` records the configuration as loaded, so it follows the input order.
    let without_desired = |mut plan: Plan| {
        plan.desired = DesiredRecord::none();
        serde_json::to_string(&plan).unwrap()
    };
    let a = without_desired(world.plan());
    let b = without_desired(shuffled.plan());
    assert!(a == b, "plans differ with the input order");
    assert!(world.plan() == world.plan());
}

#[test]
fn plan_round_trips_through_json_and_holds_no_secret() {
    let plan = all_new().plan();
    let text = serde_json::to_string_pretty(&plan).unwrap();
    assert!(!text.contains("s3cr3t"), "a secret leaked into the plan");
    assert!(text.contains("(sensitive value)"));
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn config_digest_changes_with_any_file_or_variable() {
    let files = vec![
        ("a.hcl".to_owned(), "x".to_owned()),
        ("b.hcl".to_owned(), "y".to_owned()),
    ];
    let reordered = vec![files[1].clone(), files[0].clone()];
    let none = Default::default();
    let base = config_digest(&files, &none);
    assert_eq!(base, config_digest(&reordered, &none));
    let edited = vec![files[0].clone(), ("b.hcl".to_owned(), "y ".to_owned())];
    assert_ne!(base, config_digest(&edited, &none));
    let moved = vec![("a.hcl".to_owned(), "xb.hcl".to_owned())];
    assert_ne!(base, config_digest(&moved, &none));
    let vars = [("region".to_owned(), "west".to_owned())]
        .into_iter()
        .collect();
    assert_ne!(base, config_digest(&files, &vars));
}

#[test]
fn format_versions_of_the_same_major_are_readable() {
    assert!(Plan::is_readable_format("1.0"));
    assert!(Plan::is_readable_format("1.7"));
    assert!(!Plan::is_readable_format("2.0"));
    assert!(!Plan::is_readable_format(""));
}

#[test]
fn generated_estate_orders_every_action_after_its_dependencies() {
    let plan = generated(500).plan();
    let mut seen = std::collections::BTreeSet::new();
    for action in &plan.actions {
        for dependency in &action.depends_on {
            assert!(
                seen.contains(dependency.as_str()),
                "{} before {dependency}",
                action.id
            );
        }
        seen.insert(action.id.as_str());
    }
    assert_eq!(plan.unchanged.len(), 50);
    assert_eq!(plan.summary().to_reprotect, 450);
}

#[test]
fn observed_digest_is_sha256_of_the_json_of_vcenters_and_vaults() {
    use sha2::{Digest, Sha256};
    // Large enough that the streamed JSON crosses the digest's buffer many times.
    let world = generated(300);
    let mut bytes = serde_json::to_vec(&world.observed.vcenters).unwrap();
    bytes.push(0);
    bytes.extend(serde_json::to_vec(&world.observed.vaults).unwrap());
    assert!(bytes.len() > 4 * 64 * 1024, "{} bytes", bytes.len());
    let expected = format!("sha256:{:x}", Sha256::digest(&bytes));
    assert_eq!(world.observed.digest(), expected);
}

#[test]
fn planner_and_fb129_agree_on_which_items_are_ready() {
    use crate::rules::{ReprotectReadiness, reprotect_readiness};
    // A planned failover, committed, is as ready as an unplanned one.
    let mut world = all_new();
    let vault = world.observed.vaults.get_mut("vault.dr").unwrap();
    vault.protected_items[0].protection_state = "FailoverCommitted".to_owned();
    vault.protected_items[1].protection_state =
        "UnplannedFailoverCommitPendingStatesBegin".to_owned();
    vault.protected_items[2].protection_state = "Protected".to_owned();
    vault.protected_items[2].instance_type = Some("InMageAzureV2".to_owned());
    vault.protected_items[2].active_location = Some("Primary".to_owned());
    vault.protected_items[2].reverse = None;
    let readiness: Vec<ReprotectReadiness> = vault
        .protected_items
        .iter()
        .map(reprotect_readiness)
        .collect();
    assert_eq!(readiness[0], ReprotectReadiness::Ready);
    assert!(matches!(readiness[1], ReprotectReadiness::NotReady { .. }));
    assert!(matches!(readiness[2], ReprotectReadiness::NotReady { .. }));

    let plan = world.plan();
    assert_eq!(plan.summary().to_reprotect, 1);
    let reasons: Vec<&str> = plan.not_planned.iter().map(|n| n.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("is still protected towards Azure")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains(
            "is UnplannedFailoverCommitPendingStatesBegin: there is nothing to reprotect"
        )),
        "{reasons:?}"
    );
}

#[test]
fn fixes_of_a_reprotect_and_of_its_master_target_are_its_prerequisites() {
    let plan = generated(500).plan();
    let by_id: std::collections::HashMap<&str, &PlannedAction> =
        plan.actions.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut checked = 0;
    for action in plan.actions.iter().filter(|a| a.kind == kinds::REPROTECT) {
        let fixes: Vec<&PlannedAction> = plan
            .actions
            .iter()
            .filter(|fix| fix.rule.is_some() && fix.kind != kinds::WAIT_FOR_AGENT)
            .filter(|fix| fix.address == action.address)
            .collect();
        for fix in fixes {
            assert!(
                action.depends_on.contains(&fix.id),
                "{} does not wait for {}",
                action.id,
                fix.id
            );
            checked += 1;
        }
        for dependency in &action.depends_on {
            assert!(by_id.contains_key(dependency.as_str()), "{dependency}");
        }
    }
    assert!(
        checked > 0,
        "the generated estate plans fixes of reprotected VMs"
    );
}

#[test]
fn desired_is_the_configuration_as_json_and_survives_a_saved_plan() {
    let world = all_new();
    let plan = world.plan();
    let recorded: serde_json::Value = serde_json::from_str(plan.desired.json()).unwrap();
    assert_eq!(recorded, serde_json::to_value(&world.config).unwrap());
    // Values and where each block is, not the byte ranges diagnostics use.
    let reprotect = &world.config.reprotects[0];
    let first = &recorded["reprotects"][0];
    assert_eq!(first["address"], json!(reprotect.address.to_string()));
    assert_eq!(
        first["master_target"],
        json!(reprotect.master_target.target.to_string())
    );
    assert_eq!(
        first["declared"]["at"],
        json!(format!(
            "{}:{}:{}",
            reprotect.declared.span.file.display(),
            reprotect.declared.span.line,
            reprotect.declared.span.column
        ))
    );
    assert!(
        !plan.desired.json().contains("\"start\""),
        "byte offsets recorded"
    );
    let saved = serde_json::to_string_pretty(&plan).unwrap();
    let read: Plan = serde_json::from_str(&saved).unwrap();
    assert_eq!(read.desired, plan.desired);
    assert_eq!(read, plan);
}

#[test]
fn an_action_id_reads_back_as_its_address() {
    assert_eq!(
        address_of_action_id("master_target.mt_linux/vcenter.vm.remove_snapshots#2"),
        "master_target.mt_linux"
    );
    assert_eq!(
        address_of_action_id(r#"reprotect.app["a/b"]/asr.protected_item.reprotect"#),
        r#"reprotect.app["a/b"]"#
    );
    assert_eq!(address_of_action_id("reprotect.web01"), "reprotect.web01");
}
