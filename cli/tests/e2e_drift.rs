//! `failback drift` end to end: apply an example against the simulators, then change
//! the world behind failback's back through the simulator's admin paths.

mod support {
    pub mod sim;
}

use support::sim::SimWorld;

fn applied_world() -> SimWorld {
    let world = SimWorld::start("basic", |_| {});
    let apply = world.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    let drift = world.run(&["drift"]);
    assert_eq!(drift.code, Some(0), "{}", drift.text());
    assert!(drift.stdout.contains("No drift."), "{}", drift.text());
    world
}

fn drift_json(world: &SimWorld) -> serde_json::Value {
    let drift = world.run(&["drift", "--json"]);
    assert_eq!(drift.code, Some(2), "{}", drift.text());
    serde_json::from_str(&drift.stdout).expect("drift --json prints JSON")
}

fn kinds(report: &serde_json::Value) -> Vec<String> {
    report["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| format!("{} {}", item["kind"], item["rule"]))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_item_no_longer_protected_is_drift() {
    let world = applied_world();
    world.admin(
        "PATCH",
        "/_sim/items/web01-item",
        serde_json::json!({"protection_state": "UnplannedFailoverCommitted"}),
    );
    let report = drift_json(&world);
    assert_eq!(report["drift"], true);
    assert!(
        kinds(&report)
            .iter()
            .any(|k| k.contains("no_longer_protected")),
        "{report}"
    );
    let markdown = world.run(&["drift", "--markdown"]);
    assert_eq!(markdown.code, Some(2), "{}", markdown.text());
    assert!(
        markdown.stdout.contains("| `reprotect.web01` |"),
        "{}",
        markdown.text()
    );
}

#[test]
fn a_stopped_process_server_heartbeat_is_drift() {
    let mut world = applied_world();
    world.stop_heartbeats();
    world.admin(
        "POST",
        "/_sim/process-servers/ps-azure-01-id/heartbeat",
        serde_json::json!({"age_s": 86400}),
    );
    let report = drift_json(&world);
    assert!(
        kinds(&report).iter().any(|k| k.contains("rule_violated")),
        "{report}"
    );
}

#[test]
fn a_critical_process_server_is_drift() {
    let world = applied_world();
    world.admin(
        "POST",
        "/_sim/process-servers/ps-azure-01-id/health-errors",
        serde_json::json!({"message": "The process server cache folder is full."}),
    );
    let report = drift_json(&world);
    assert!(
        kinds(&report).iter().any(|k| k.contains("rule_violated")),
        "{report}"
    );
}

#[test]
fn drift_before_any_apply_is_clean() {
    let world = SimWorld::start("basic", |_| {});
    let drift = world.run(&["drift"]);
    assert_eq!(drift.code, Some(0), "{}", drift.text());
}

/// The basic example with a master target that needed both VM fixes at the first
/// apply: a snapshot to remove and disk.EnableUUID to set (the configuration opts in
/// to both), applied; drift is clean afterwards.
fn applied_world_with_fixes() -> SimWorld {
    let world = SimWorld::start("basic", |estate| {
        for vm in estate["vcenter"]["vms"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if vm["name"] == "mt-lnx-01" {
                vm["extra_config"] = serde_json::json!({"disk.EnableUUID": "FALSE"});
                vm["snapshots"] = serde_json::json!(["before-upgrade"]);
            }
        }
    });
    let main = world.dir.path().join("main.hcl");
    let text = std::fs::read_to_string(&main).expect("the example's main.hcl");
    let opted_in = text.replace(
        "  ensure_disk_enable_uuid = true\n",
        "  ensure_disk_enable_uuid = true\n  remove_snapshots        = true\n",
    );
    assert_ne!(opted_in, text, "the master target block opts in to fixes");
    std::fs::write(&main, opted_in).expect("write main.hcl");
    let apply = world.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    let drift = world.run(&["drift"]);
    assert_eq!(drift.code, Some(0), "{}", drift.text());
    world
}

#[test]
fn a_snapshot_back_on_the_master_target_is_drift() {
    let world = applied_world_with_fixes();
    world.vcenter_create_snapshot("mt-lnx-01", "pre-patch");
    let drift = world.run(&["drift"]);
    eprintln!("{}", drift.text());
    let drift = world.run(&["drift", "--json"]);
    eprintln!("{}", drift.text());
    assert_eq!(drift.code, Some(2), "{}", drift.text());
}

#[test]
fn disk_enable_uuid_reset_on_the_master_target_is_drift() {
    let world = applied_world_with_fixes();
    world.vcenter_set_extra_config("mt-lnx-01", "disk.EnableUUID", "FALSE");
    let drift = world.run(&["drift"]);
    eprintln!("{}", drift.text());
    assert_eq!(drift.code, Some(2), "{}", drift.text());
}
