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
                .map(|item| format!("{} {} {}", item["kind"], item["change"], item["rule"]))
                .collect()
        })
        .unwrap_or_default()
}

/// The one item of the report about `address` with `change`.
fn item<'r>(report: &'r serde_json::Value, address: &str, change: &str) -> &'r serde_json::Value {
    report["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|item| item["address"] == address && item["change"] == change)
        .unwrap_or_else(|| panic!("no {change} item for {address} in {report:#}"))
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
    let lost = item(&report, "reprotect.web01", "no_longer_protected");
    assert_eq!(lost["kind"], "no_longer_protected");
    assert_eq!(lost["object"], "protected item web01-item");
    assert_eq!(lost["after"], "UnplannedFailoverCommitted");
    // That it is not ready for reprotect either (FB129) goes without saying.
    assert_eq!(
        report["items"].as_array().map(Vec::len),
        Some(1),
        "{report:#}"
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
    let heartbeat = item(&report, "process_server.azure", "heartbeat_stopped");
    assert_eq!(heartbeat["rule"], "FB104", "{report:#}");
    assert_eq!(heartbeat["object"], "process server ps-azure-01");
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
    let health = item(&report, "process_server.azure", "health_critical");
    assert_eq!(health["rule"], "FB104", "{report:#}");
    assert!(
        health["after"]
            .as_str()
            .is_some_and(|after| after.contains("The process server cache folder is full")),
        "{health:#}"
    );
    assert!(
        kinds(&report).iter().all(|k| k.contains("rule_violated")),
        "{report:#}"
    );
}

#[test]
fn drift_before_any_apply_is_clean() {
    let world = SimWorld::start("basic", |_| {});
    let drift = world.run(&["drift"]);
    assert_eq!(drift.code, Some(0), "{}", drift.text());
}

/// The example report of docs/drift.md (its one `json` block).
fn documented_json_report() -> serde_json::Value {
    let path = support::sim::workspace_root().join("docs").join("drift.md");
    let text = std::fs::read_to_string(&path).expect("docs/drift.md");
    let block = text
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("docs/drift.md has a json block");
    serde_json::from_str(block).expect("the documented report is JSON")
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

    let human = world.run(&["drift"]);
    assert_eq!(human.code, Some(2), "{}", human.text());
    for expected in [
        "! master_target.mt_linux: snapshot came back [FB115]",
        "master target VM mt-lnx-01: no snapshots -> 1 snapshot: pre-patch",
        "To do: run `failback apply` to remove them again",
    ] {
        assert!(
            human.stdout.contains(expected),
            "{expected}\n{}",
            human.text()
        );
    }

    // The JSON report is the one docs/drift.md shows.
    let report = drift_json(&world);
    assert_eq!(
        report,
        documented_json_report(),
        "docs/drift.md is out of date"
    );
    assert_eq!(report["format_version"], "1.2");
    assert_eq!(report["drift"], true);
    assert_eq!(report["applied_resources"], 3, "{report:#}");
    let items = report["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "only the snapshot moved: {report:#}");
    assert_eq!(
        items[0],
        serde_json::json!({
            "address": "master_target.mt_linux",
            "kind": "fix_undone",
            "change": "snapshot_returned",
            "rule": "FB115",
            "object": "master target VM mt-lnx-01",
            "before": "no snapshots",
            "after": "1 snapshot: pre-patch",
            "message": "master target VM mt-lnx-01 has 1 snapshot; reprotect fails on a \
                        VM with snapshots (FB115)",
            "remediation": "run `failback apply` to remove them again (remove_snapshots = \
                            true; destructive), and find out who takes snapshots of \
                            mt-lnx-01 (a backup job?)",
        })
    );

    let markdown = world.run(&["drift", "--markdown"]);
    assert_eq!(markdown.code, Some(2), "{}", markdown.text());
    assert!(
        markdown.stdout.contains(
            "| `master_target.mt_linux` | snapshot came back | FB115 | master target VM \
             mt-lnx-01 | no snapshots | 1 snapshot: pre-patch |"
        ),
        "{}",
        markdown.text()
    );

    // Apply removes it again, and the drift is gone.
    let apply = world.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    let drift = world.run(&["drift"]);
    assert_eq!(drift.code, Some(0), "{}", drift.text());
}

#[test]
fn disk_enable_uuid_reset_on_the_master_target_is_drift() {
    let world = applied_world_with_fixes();
    world.vcenter_set_extra_config("mt-lnx-01", "disk.EnableUUID", "FALSE");

    let human = world.run(&["drift"]);
    assert_eq!(human.code, Some(2), "{}", human.text());
    for expected in [
        "! master_target.mt_linux: disk.EnableUUID reset [FB107]",
        "master target VM mt-lnx-01: disk.EnableUUID = TRUE -> disk.EnableUUID = FALSE",
        "To do: run `failback apply` to set disk.EnableUUID = TRUE again",
    ] {
        assert!(
            human.stdout.contains(expected),
            "{expected}\n{}",
            human.text()
        );
    }
    let report = drift_json(&world);
    let reset = item(&report, "master_target.mt_linux", "disk_enable_uuid_reset");
    assert_eq!(reset["kind"], "fix_undone");
    assert_eq!(reset["rule"], "FB107");
    assert_eq!(
        report["items"].as_array().map(Vec::len),
        Some(1),
        "{report:#}"
    );
}

#[test]
fn a_snapshot_on_a_master_target_that_does_not_opt_in_is_a_violated_rule() {
    // The basic example does not let apply remove master target snapshots: FB115 is an
    // error, told as drift with the rule's remedy.
    let world = applied_world();
    world.vcenter_create_snapshot("mt-lnx-01", "ad-hoc");
    let report = drift_json(&world);
    let snapshot = item(&report, "master_target.mt_linux", "snapshot_returned");
    assert_eq!(snapshot["kind"], "rule_violated");
    assert_eq!(snapshot["rule"], "FB115");
    assert_eq!(snapshot["before"], "no snapshots");
    assert_eq!(snapshot["after"], "snapshots: ad-hoc");
    assert!(
        snapshot["remediation"]
            .as_str()
            .is_some_and(|r| r.contains("delete the snapshots in vCenter")),
        "{snapshot:#}"
    );
}

#[test]
fn critical_replication_health_of_a_reprotected_item_is_drift() {
    let world = applied_world();
    world.admin(
        "PATCH",
        "/_sim/items/web01-item",
        serde_json::json!({"replication_health": "Critical"}),
    );
    let report = drift_json(&world);
    let health = item(&report, "reprotect.web01", "health_critical");
    assert_eq!(health["kind"], "degraded");
    assert_eq!(health["object"], "protected item web01-item");
    assert_eq!(health["before"], "replication healthy");
    assert!(
        health["after"]
            .as_str()
            .is_some_and(|after| after.starts_with("replication health Critical")),
        "{health:#}"
    );
}

#[test]
fn a_stopped_master_target_heartbeat_is_drift() {
    let mut world = applied_world();
    world.stop_heartbeats();
    world.admin(
        "POST",
        "/_sim/master-targets/mt-lnx-01-id/heartbeat",
        serde_json::json!({"age_s": 86400}),
    );
    let report = drift_json(&world);
    let heartbeat = item(&report, "master_target.mt_linux", "heartbeat_stopped");
    assert_eq!(heartbeat["kind"], "degraded");
    assert_eq!(heartbeat["object"], "master target mt-lnx-01");
    assert_eq!(heartbeat["before"], "heartbeat within 15 minutes");
    assert!(
        heartbeat["after"]
            .as_str()
            .is_some_and(|after| after.starts_with("last heartbeat ")),
        "{heartbeat:#}"
    );
    // The vault's own missing-heartbeat health error is the same news.
    assert!(
        !kinds(&report).iter().any(|k| k.contains("health_critical")),
        "{report:#}"
    );
}

/// A second Linux master target, `mt-lnx-02`, registered on the basic example's
/// configuration server (its VM is not in vCenter).
fn register_second_linux_master_target(estate: &mut serde_json::Value) {
    let servers = &mut estate["vault"]["configuration_servers"][0]["master_targets"];
    let mut second = servers[0].clone();
    second["id"] = "mt-lnx-02-id".into();
    second["name"] = "mt-lnx-02".into();
    second["vm"] = "mt-lnx-02".into();
    if let Some(servers) = servers.as_array_mut() {
        servers.push(second);
    }
}

#[test]
fn a_different_master_target_is_drift() {
    // A second Linux master target on the same configuration server, which someone
    // reprotects web01 through by hand after failback's apply.
    let world = SimWorld::start("basic", register_second_linux_master_target);
    let apply = world.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    let clean = world.run(&["drift"]);
    assert_eq!(clean.code, Some(0), "{}", clean.text());

    world.admin(
        "PATCH",
        "/_sim/items/web01-item",
        serde_json::json!({"master_target": "mt-lnx-02"}),
    );
    let human = world.run(&["drift"]);
    assert_eq!(human.code, Some(2), "{}", human.text());
    for expected in [
        "! reprotect.web01: different master target",
        "protected item web01-item: master_target = mt-lnx-01 -> master_target = mt-lnx-02",
        "To do: failback cannot change this in place",
    ] {
        assert!(
            human.stdout.contains(expected),
            "{expected}\n{}",
            human.text()
        );
    }
    let report = drift_json(&world);
    let moved = item(&report, "reprotect.web01", "master_target_changed");
    assert_eq!(moved["kind"], "values_changed");
    assert_eq!(moved["before"], "master_target = mt-lnx-01");
    assert_eq!(moved["after"], "master_target = mt-lnx-02");
}

#[test]
fn a_stopped_configuration_server_heartbeat_is_drift() {
    let mut world = applied_world();
    world.stop_heartbeats();
    world.admin(
        "POST",
        "/_sim/fabrics/cs01/heartbeat",
        serde_json::json!({"age_s": 7200}),
    );
    let report = drift_json(&world);
    let heartbeat = item(&report, "configuration_server.cs01", "heartbeat_stopped");
    assert_eq!(heartbeat["kind"], "degraded");
    assert_eq!(
        heartbeat["object"],
        "configuration server cs01.contoso.local"
    );
    assert!(
        heartbeat["after"]
            .as_str()
            // Simulated time runs faster than discovery's clock: the age is about, not
            // exactly, two hours.
            .is_some_and(|after| after.starts_with("last heartbeat ")
                && after.ends_with(" minutes before discovery)")),
        "{heartbeat:#}"
    );
}

#[test]
fn a_master_target_declared_after_the_apply_is_not_drift() {
    // A second master target joins the configuration after the first apply, still with
    // disk.EnableUUID unset. Its first fix is the next plan's business: no reprotect
    // failback applied goes through it, so nothing of it can have drifted.
    let world = SimWorld::start("basic", |estate| {
        register_second_linux_master_target(estate);
        let vms = &mut estate["vcenter"]["vms"];
        let mut vm = vms
            .as_array()
            .and_then(|vms| vms.iter().find(|vm| vm["name"] == "mt-lnx-01"))
            .cloned()
            .expect("the basic estate has mt-lnx-01");
        vm["name"] = "mt-lnx-02".into();
        vm["bios_uuid"] = "b0006000-0000-4000-8000-000000000062".into();
        vm["extra_config"] = serde_json::json!({"disk.EnableUUID": "FALSE"});
        for (n, disk) in vm["disks"].as_array_mut().into_iter().flatten().enumerate() {
            disk["uuid"] = format!("6000C29a-0062-0062-0062-00000000006{n}").into();
        }
        if let Some(vms) = vms.as_array_mut() {
            vms.push(vm);
        }
    });
    let apply = world.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());

    let main = world.dir.path().join("main.hcl");
    let mut text = std::fs::read_to_string(&main).expect("the example's main.hcl");
    text.push_str(
        r#"
master_target "mt_linux_2" {
  configuration_server    = configuration_server.cs01
  vm                      = "mt-lnx-02"
  os                      = "linux"
  retention_volume        = "/mnt/retention"
  datastores              = ["vmfs-gold-01"]
  ensure_disk_enable_uuid = true
}
"#,
    );
    std::fs::write(&main, text).expect("write main.hcl");

    let plan = world.run(&["plan"]);
    assert!(
        plan.stdout.contains("master_target.mt_linux_2"),
        "the new master target's fix is planned\n{}",
        plan.text()
    );
    let drift = world.run(&["drift"]);
    assert_eq!(drift.code, Some(0), "{}", drift.text());
}

#[test]
fn a_reprotect_removed_from_the_configuration_is_not_watched_and_state_rm_forgets_it() {
    let world = applied_world();
    // The VM's failback is finished: its block goes, and someone disables replication.
    let main = world.dir.path().join("main.hcl");
    let text = std::fs::read_to_string(&main).expect("the example's main.hcl");
    let start = text.find("reprotect \"web01\" {").expect("the web01 block");
    let end = start + text[start..].find("\n}\n").expect("its end") + 3;
    std::fs::write(&main, format!("{}{}", &text[..start], &text[end..])).expect("write main.hcl");
    world.admin(
        "PATCH",
        "/_sim/items/web01-item",
        serde_json::json!({"protection_state": "UnplannedFailoverCommitted"}),
    );

    let drift = world.run(&["drift"]);
    assert_eq!(drift.code, Some(0), "{}", drift.text());
    assert_eq!(
        drift.stdout,
        "No drift. Nothing applied in the state is declared any more.\n\
         Not watched: reprotect.web01 is recorded as applied but no longer declared; \
         `failback state rm reprotect.web01` forgets it.\n"
    );
    let json = world.run(&["drift", "--json"]);
    assert_eq!(json.code, Some(0), "{}", json.text());
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON line");
    assert_eq!(report["applied_resources"], 0);
    assert_eq!(
        report["undeclared_resources"],
        serde_json::json!(["reprotect.web01"])
    );

    let rm = world.run(&["state", "rm", "reprotect.web01"]);
    assert_eq!(rm.code, Some(0), "{}", rm.text());
    let drift = world.run(&["drift"]);
    assert_eq!(
        drift.stdout,
        "No drift. The state records nothing applied.\n"
    );
}
