//! Tests of resolution, on the hand-built world of [`super::fixture`].

use super::fixture::World;
use super::*;

fn found<'a, T: ?Sized>(link: &Link<'a, T>) -> Option<&'a T> {
    link.as_ref().ok().copied()
}

fn resolved<'a>(resolution: &'a Resolution<'a>, name: &str) -> &'a ResolvedReprotect<'a> {
    resolution
        .reprotect(&Address::new("reprotect", name))
        .expect("the fixture declares this reprotect")
}

fn reason<'l, T: ?Sized>(link: &'l Link<'_, T>) -> (UnresolvedKind, &'l str) {
    match link {
        Ok(_) => panic!("expected the link to be missing"),
        Err(missing) => (missing.kind, missing.reason.as_str()),
    }
}

#[test]
fn a_healthy_world_resolves_every_link() {
    let world = World::healthy();
    let resolution = resolve(&world.config, &world.observed);
    for name in ["web01", "db01"] {
        let r = resolved(&resolution, name);
        assert!(r.protected_item.is_ok(), "{name}: {:?}", r.protected_item);
        assert!(r.fabric_master_target.is_ok(), "{name}");
        assert!(r.fabric_process_server.is_ok(), "{name}");
        assert!(r.vm.is_ok(), "{name}: {:?}", r.vm);
        assert!(r.master_target_vm.is_ok(), "{name}");
        assert!(r.master_target_host.is_ok(), "{name}");
        assert!(r.datastore.is_ok(), "{name}");
        assert!(
            r.retention_volume.is_ok(),
            "{name}: {:?}",
            r.retention_volume
        );
        assert!(r.policy.is_ok(), "{name}");
        assert_eq!(r.recovery_plan, None);
    }
    let web01 = resolved(&resolution, "web01");
    assert_eq!(
        found(&web01.protected_item).map(|i| i.name.as_str()),
        Some("web01-item")
    );
    assert_eq!(web01.vm_name, Ok("web01"));
    assert_eq!(
        found(&web01.fabric_master_target).map(|mt| mt.id.as_str()),
        Some("mt-win-01-id")
    );
    assert_eq!(resolution.master_targets.len(), 2);
    assert_eq!(resolution.process_servers.len(), 1);
}

#[test]
fn the_protected_item_matches_name_then_friendly_name_without_case() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").protected_item = "WEB01-ITEM".to_owned();
    world.reprotect_mut("db01").protected_item = "DB01".to_owned();
    let resolution = resolve(&world.config, &world.observed);
    assert_eq!(
        found(&resolved(&resolution, "web01").protected_item).map(|i| i.name.as_str()),
        Some("web01-item")
    );
    assert_eq!(
        found(&resolved(&resolution, "db01").protected_item).map(|i| i.name.as_str()),
        Some("db01-item")
    );
}

#[test]
fn a_misspelt_protected_item_is_absent_with_a_suggestion() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").protected_item = "web01-itme".to_owned();
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    assert_eq!(
        reason(&r.protected_item),
        (
            UnresolvedKind::Absent,
            "no protected item named web01-itme in vault contoso-vault (did you mean web01-item?)"
        )
    );
    // Links that need the item cannot be followed, and say why.
    assert_eq!(reason(&r.vm).0, UnresolvedKind::Unknown);
    assert!(
        reason(&r.vm)
            .1
            .starts_with("no protected item named web01-itme")
    );
}

#[test]
fn an_undiscovered_vault_makes_its_links_unknown() {
    let mut world = World::healthy();
    world.observed.vaults.clear();
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    for (kind, text) in [
        reason(&r.vault),
        reason(&r.fabric),
        reason(&r.protected_item),
        reason(&r.fabric_master_target),
        reason(&r.retention_volume),
        reason(&r.policy),
    ] {
        assert_eq!(
            (kind, text),
            (UnresolvedKind::Unknown, "vault.dr was not discovered")
        );
    }
    // vCenter was discovered: its side still resolves.
    assert!(r.master_target_vm.is_ok());
    assert!(r.datastore.is_ok());
    // The VM's name comes from the item, which is unknown.
    assert_eq!(reason(&r.vm).1, "vault.dr was not discovered");
}

#[test]
fn a_named_vm_is_looked_up_even_without_the_vault() {
    let mut world = World::healthy();
    world.observed.vaults.clear();
    world.reprotect_mut("web01").vm = Some("web01".to_owned());
    let resolution = resolve(&world.config, &world.observed);
    assert_eq!(
        found(&resolved(&resolution, "web01").vm).map(|vm| vm.id.as_str()),
        Some("vm-1")
    );
}

#[test]
fn a_deleted_vm_is_absent_not_unknown() {
    let mut world = World::healthy();
    world.vcenter_mut().vms.retain(|vm| vm.name != "web01");
    let resolution = resolve(&world.config, &world.observed);
    let missing = resolved(&resolution, "web01").vm.clone().unwrap_err();
    assert!(missing.is_absent());
    assert_eq!(
        missing.reason,
        "no VM named web01 in vCenter vcenter.onprem"
    );
}

#[test]
fn the_vm_name_falls_back_to_the_items_friendly_name() {
    let mut world = World::healthy();
    world.item_mut("web01-item").vm_name = None;
    world.item_mut("web01-item").friendly_name = "WEB01".to_owned();
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    assert_eq!(r.vm_name, Ok("WEB01"));
    // vCenter names are exact, but a unique case-insensitive match is accepted.
    assert_eq!(found(&r.vm).map(|vm| vm.id.as_str()), Some("vm-1"));
}

#[test]
fn an_unknown_fabric_names_the_vault_and_suggests() {
    let mut world = World::healthy();
    world.config.configuration_servers[0].fabric = "cs1".to_owned();
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    assert_eq!(
        reason(&r.fabric),
        (
            UnresolvedKind::Absent,
            "no configuration server (fabric) named cs1 in vault contoso-vault (did you mean cs01?)"
        )
    );
    assert_eq!(reason(&r.fabric_master_target).0, UnresolvedKind::Unknown);
    // The item is looked up vault-wide, so it still resolves.
    assert!(r.protected_item.is_ok());
}

#[test]
fn an_undeclared_master_target_is_reported_as_such() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").master_target.target = Address::new("master_target", "nope");
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    assert_eq!(
        reason(&r.master_target),
        (
            UnresolvedKind::Undeclared,
            "master_target.nope is not declared"
        )
    );
    assert_eq!(reason(&r.vault).0, UnresolvedKind::Unknown);
    assert!(r.fabric_process_server.is_ok());
}

#[test]
fn a_master_target_missing_from_the_fabric_is_absent() {
    let mut world = World::healthy();
    world.master_target_mut("mt_win").server_name = "mt-win-1".to_owned();
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    assert_eq!(
        reason(&r.fabric_master_target),
        (
            UnresolvedKind::Absent,
            "no master target named mt-win-1 in configuration server cs01 (cs01.contoso.local) (did you mean mt-win-01?)"
        )
    );
    assert_eq!(reason(&r.retention_volume).0, UnresolvedKind::Unknown);
    // The VM is found by `vm`, independent of the fabric.
    assert!(r.master_target_vm.is_ok());
}

#[test]
fn the_datastore_comes_from_the_recovery_plan_when_not_given() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").datastore = None;
    world.add_recovery_plan("erp", &["web01"]);
    world.config.recovery_plans[0].datastore = Some("vmfs-gold-01".to_owned());
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    assert_eq!(r.datastore_name, Ok("vmfs-gold-01"));
    assert!(r.datastore.is_ok());
    assert_eq!(
        r.recovery_plan.map(|plan| plan.address.to_string()),
        Some("recovery_plan.erp".to_owned())
    );
    let plan = &resolution.recovery_plans[0];
    assert_eq!(found(&plan.observed).map(|p| p.id.as_str()), Some("erp-id"));
    assert!(plan.members.iter().all(Result::is_ok));
}

#[test]
fn no_datastore_anywhere_is_undeclared() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").datastore = None;
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    assert_eq!(
        reason(&r.datastore_name),
        (
            UnresolvedKind::Undeclared,
            "reprotect.web01 names no datastore"
        )
    );
    assert_eq!(reason(&r.datastore).0, UnresolvedKind::Unknown);
}

#[test]
fn retention_volumes_match_without_case_or_trailing_separator() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").retention_volume = Some("r:\\".to_owned());
    world.reprotect_mut("db01").retention_volume = Some("/mnt/retention/".to_owned());
    let resolution = resolve(&world.config, &world.observed);
    assert!(resolved(&resolution, "web01").retention_volume.is_ok());
    assert!(resolved(&resolution, "db01").retention_volume.is_ok());
    assert_eq!(normalize_volume("/"), "/");
}

#[test]
fn a_missing_retention_volume_lists_the_known_ones() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").retention_volume = Some("S:".to_owned());
    let resolution = resolve(&world.config, &world.observed);
    assert_eq!(
        reason(&resolved(&resolution, "web01").retention_volume),
        (
            UnresolvedKind::Absent,
            "master target mt-win-01 has no retention volume S: (it has R:)"
        )
    );
}

#[test]
fn without_a_declared_policy_the_only_failback_policy_is_used() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").policy = None;
    let resolution = resolve(&world.config, &world.observed);
    let r = resolved(&resolution, "web01");
    assert_eq!(reason(&r.failback_policy).0, UnresolvedKind::Undeclared);
    assert_eq!(
        found(&r.policy).map(|p| p.id.as_str()),
        Some("failback-policy-id")
    );
}

#[test]
fn several_failback_policies_without_a_declared_one_are_ambiguous() {
    let mut world = World::healthy();
    world.reprotect_mut("web01").policy = None;
    let mut second = world.vault_mut().policies[1].clone();
    second.name = "failback-policy-2".to_owned();
    world.vault_mut().policies.push(second);
    let resolution = resolve(&world.config, &world.observed);
    assert_eq!(
        reason(&resolved(&resolution, "web01").policy),
        (
            UnresolvedKind::Ambiguous,
            "vault contoso-vault has several failback (InMage) policies (failback-policy, failback-policy-2, …): name one with `policy`"
        )
    );
    // The declared policy is still found by name.
    assert!(resolved(&resolution, "db01").policy.is_ok());
}

#[test]
fn two_items_with_one_friendly_name_are_ambiguous() {
    let mut world = World::healthy();
    world.item_mut("db01-item").friendly_name = "web01".to_owned();
    let resolution = resolve(&world.config, &world.observed);
    assert_eq!(
        reason(&resolved(&resolution, "web01").protected_item),
        (
            UnresolvedKind::Ambiguous,
            "several protected items with the friendly name web01 in vault contoso-vault: use the item's name"
        )
    );
}

#[test]
fn a_process_server_is_found_by_friendly_name() {
    let mut world = World::healthy();
    world.config.process_servers[0].server_name = "PS-AZURE-01".to_owned();
    let resolution = resolve(&world.config, &world.observed);
    assert_eq!(
        found(&resolution.process_servers[0].server).map(|ps| ps.id.as_str()),
        Some("ps-azure-01-id")
    );
}

#[test]
fn the_master_targets_host_is_resolved_through_its_vm() {
    let mut world = World::healthy();
    world.vm_mut("mt-win-01").host = None;
    let resolution = resolve(&world.config, &world.observed);
    let mt = resolution
        .master_target(&Address::new("master_target", "mt_win"))
        .expect("declared");
    assert_eq!(
        reason(&mt.host),
        (
            UnresolvedKind::Unknown,
            "vCenter reports no host for VM mt-win-01"
        )
    );
}
