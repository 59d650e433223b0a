//! Rules about the on-premises VM a reprotect writes back to: snapshots (FB102), whether
//! it still exists (FB112), UUID conflicts with the master target (FB122), the static
//! IP a Linux VM loses (FB123) and its power state (FB128).

use std::collections::BTreeSet;

use super::catalogue::{FB102, FB112, FB122, FB123, FB128};
use super::wording::{counted, power_state};
use super::{Context, Finding, Subject, os_family, require, same};
use crate::config::OsFamily;
use crate::observe::vcenter::VirtualMachine;
use crate::resolve::{ResolvedReprotect, Unresolved};

/// The VM, `None` when vCenter was discovered and it is not there (reprotect will
/// create it), or why nothing can be said.
pub(super) fn vm_if_present<'a>(
    reprotect: &ResolvedReprotect<'a>,
) -> Result<Option<&'a VirtualMachine>, Unresolved> {
    match &reprotect.vm {
        Ok(vm) => Ok(Some(*vm)),
        Err(missing) if missing.is_absent() => Ok(None),
        Err(missing) => Err(missing.clone()),
    }
}

/// FB102: the on-premises VM must have no snapshots; opted-in removal is a fix.
pub(super) fn fb102_vm_has_no_snapshots(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in context.pending_reprotects() {
        let subject = Subject::new(
            &FB102,
            &r.config.address,
            r.config.declared.span_of("remove_snapshots"),
        );
        let Some(vm) = require!(vm_if_present(r), subject, findings) else {
            continue;
        };
        if vm.snapshots.is_empty() || r.config.remove_snapshots {
            continue;
        }
        findings.push(subject.violated(
            format!(
                "VM {} has {}; reprotect fails on a VM with snapshots",
                vm.name,
                counted(vm.snapshots.len(), "snapshot")
            ),
            Some(format!("snapshots: {}", vm.snapshots.join(", "))),
            format!(
                "delete the snapshots in vCenter, or set `remove_snapshots = true` in {} \
                 to have apply remove them (destructive: the snapshots are gone)",
                r.config.address
            ),
        ));
    }
}

/// FB112: when the VM no longer exists, reprotect creates it on the master target's
/// host and datastore with a full resync.
pub(super) fn fb112_vm_exists(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in context.pending_reprotects() {
        let subject = Subject::new(&FB112, &r.config.address, &r.config.declared.span);
        if require!(vm_if_present(r), subject, findings).is_some() {
            continue;
        }
        let host = r
            .master_target_host
            .as_ref()
            .map(|host| host.name.as_str())
            .unwrap_or("(host unknown)");
        let datastore = r
            .datastore_name
            .as_deref()
            .unwrap_or("(no datastore named)");
        let vm_name = r.vm_name.as_deref().unwrap_or("(unknown)");
        findings.push(subject.violated(
            format!(
                "VM {vm_name} no longer exists on-premises: reprotect creates it on the master \
                 target's host {host}, datastore {datastore} (alternate location, full resync)"
            ),
            r.vm.as_ref().err().map(|missing| missing.reason.clone()),
            "make sure that host and datastore are where the VM should live; to write to \
             an existing VM instead, set `vm` to its name in vCenter",
        ));
    }
}

/// FB122: the VM must share no disk UUID and no BIOS UUID with its master target (VMs
/// cloned from one template do).
pub(super) fn fb122_no_uuid_conflict(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in context.pending_reprotects() {
        let subject = Subject::new(&FB122, &r.config.address, &r.config.declared.span);
        let Some(vm) = require!(vm_if_present(r), subject, findings) else {
            continue;
        };
        let master_target_vm = require!(r.master_target_vm, subject, findings);
        let missing_uuid: Vec<String> = [vm, master_target_vm]
            .iter()
            .flat_map(|machine| {
                machine
                    .disks
                    .iter()
                    .filter(|disk| disk.uuid.as_deref().is_none_or(str::is_empty))
                    .map(move |disk| format!("{} {}", machine.name, disk.label))
            })
            .collect();
        let mut conflicts = Vec::new();
        if !vm.bios_uuid.is_empty() && same(&vm.bios_uuid, &master_target_vm.bios_uuid) {
            conflicts.push(format!("BIOS UUID {}", vm.bios_uuid));
        }
        let master_target_disks: BTreeSet<String> = disk_uuids(master_target_vm);
        for uuid in disk_uuids(vm) {
            if master_target_disks.contains(&uuid) {
                conflicts.push(format!("disk UUID {uuid}"));
            }
        }
        if !conflicts.is_empty() {
            findings.push(subject.violated(
                format!(
                    "VM {} and master target {} share {}; reprotect fails",
                    vm.name,
                    master_target_vm.name,
                    conflicts.join(", ")
                ),
                Some(conflicts.join(", ")),
                "use a master target that was not cloned from the VM's template",
            ));
        } else if vm.bios_uuid.is_empty() || master_target_vm.bios_uuid.is_empty() {
            findings.push(subject.unknown(format!(
                "vCenter reports no BIOS UUID for {}",
                if vm.bios_uuid.is_empty() {
                    &vm.name
                } else {
                    &master_target_vm.name
                }
            )));
        } else if !missing_uuid.is_empty() {
            findings.push(subject.unknown(format!(
                "vCenter reports no UUID for {}",
                missing_uuid.join(", ")
            )));
        }
    }
}

fn disk_uuids(vm: &VirtualMachine) -> BTreeSet<String> {
    vm.disks
        .iter()
        .filter_map(|disk| disk.uuid.as_deref())
        .filter(|uuid| !uuid.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// FB123: a Linux VM with a static IP comes back with DHCP after failback.
pub(super) fn fb123_static_ip(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in &context.resolution.reprotects {
        let subject = Subject::new(&FB123, &r.config.address, &r.config.declared.span);
        let item = require!(r.protected_item, subject, findings);
        let Some(os_type) = item.os_type.as_deref() else {
            findings.push(subject.unknown(format!(
                "the vault reports no OS type for protected item {}",
                item.name
            )));
            continue;
        };
        match os_family(os_type) {
            Some(OsFamily::Windows) => {}
            None => findings.push(subject.unknown(format!(
                "protected item {} has OS type {os_type:?}, neither Windows nor Linux",
                item.name
            ))),
            Some(OsFamily::Linux) => match item.static_ip {
                Some(false) => {}
                None => findings.push(subject.unknown(format!(
                    "the estate does not say whether Linux VM {} had a static IP address",
                    item.friendly_name
                ))),
                Some(true) => findings.push(
                    subject.violated(
                        format!(
                            "Linux VM {} had a static IP address; after failback it loses \
                         NetworkManager and comes up with DHCP",
                            item.friendly_name
                        ),
                        item.ip_address
                            .as_ref()
                            .map(|ip| format!("static IP address (now {ip} in Azure)")),
                        "after failback, set the static address again by hand",
                    ),
                ),
            },
        }
    }
}

/// FB128: the VM should be powered off during reprotect (original location).
pub(super) fn fb128_vm_powered_off(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in context.pending_reprotects() {
        let subject = Subject::new(&FB128, &r.config.address, &r.config.declared.span);
        let Some(vm) = require!(vm_if_present(r), subject, findings) else {
            continue;
        };
        match power_state(&vm.power_state) {
            Some("powered off") => {}
            Some(state) => findings.push(subject.violated(
                format!("VM {} is {state}; reprotect writes to its disks", vm.name),
                Some(format!("runtime.powerState = {}", vm.power_state)),
                format!(
                    "shut down or power off VM {} in vCenter before apply",
                    vm.name
                ),
            )),
            None => findings.push(subject.unknown(format!(
                "VM {} has power state {:?}, which failback does not know",
                vm.name, vm.power_state
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn fb102_holds_without_snapshots_or_when_removal_is_opted_in() {
        let mut world = TestWorld::healthy();
        assert_holds(&world, "FB102");
        world.vm_mut("web01").snapshots = vec!["before-patch".to_owned()];
        world.reprotect_mut("web01").remove_snapshots = true;
        assert_holds(&world, "FB102");
    }

    #[test]
    fn fb102_is_violated_by_a_snapshot() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").snapshots = vec!["before-patch".to_owned(), "b".to_owned()];
        let finding = assert_violated(&world, "FB102", "reprotect.web01");
        assert_eq!(
            finding.observed.as_deref(),
            Some("snapshots: before-patch, b")
        );
        assert_eq!(
            finding.message,
            "VM web01 has 2 snapshots; reprotect fails on a VM with snapshots"
        );
        world.vm_mut("web01").snapshots.pop();
        let finding = assert_violated(&world, "FB102", "reprotect.web01");
        assert!(
            finding.message.contains("has 1 snapshot;"),
            "{}",
            finding.message
        );
        assert!(finding.remediation.contains("`remove_snapshots = true`"));
    }

    #[test]
    fn fb102_cannot_be_checked_without_vcenter() {
        let mut world = TestWorld::healthy();
        world.observed.vcenters.clear();
        assert_eq!(
            assert_unknown(&world, "FB102", "reprotect.web01"),
            "vcenter.onprem was not discovered"
        );
    }

    #[test]
    fn fb102_holds_for_a_deleted_vm() {
        let mut world = TestWorld::healthy();
        world.vcenter_mut().vms.retain(|vm| vm.name != "web01");
        assert_holds(&world, "FB102");
    }

    #[test]
    fn reprotect_preconditions_do_not_apply_to_an_item_already_reprotected() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").snapshots = vec!["after-reprotect".to_owned()];
        world.vm_mut("web01").power_state = "poweredOn".to_owned();
        world.vm_mut("web01").disks[0].uuid = Some("6000C2-mt-win-01-0".to_owned());
        world.item_mut("web01-item").protection_state = "Protected".to_owned();
        for rule in ["FB102", "FB111", "FB112", "FB114", "FB122", "FB128"] {
            assert_holds(&world, rule);
        }
        world.item_mut("web01-item").protection_state = "UnplannedFailoverCommitted".to_owned();
        for rule in ["FB102", "FB122", "FB128"] {
            assert_violated(&world, rule, "reprotect.web01");
        }
    }

    #[test]
    fn fb112_holds_while_the_vm_exists() {
        assert_holds(&TestWorld::healthy(), "FB112");
    }

    #[test]
    fn fb112_advises_when_the_vm_was_deleted() {
        let mut world = TestWorld::healthy();
        world.vcenter_mut().vms.retain(|vm| vm.name != "web01");
        let finding = assert_violated(&world, "FB112", "reprotect.web01");
        assert!(
            finding
                .message
                .contains("host esx01.lab.local, datastore vmfs-gold-01"),
            "{}",
            finding.message
        );
    }

    #[test]
    fn fb112_cannot_be_checked_without_the_item() {
        let mut world = TestWorld::healthy();
        world.observed.vaults.clear();
        assert_eq!(
            assert_unknown(&world, "FB112", "reprotect.web01"),
            "vault.dr was not discovered"
        );
    }

    #[test]
    fn fb122_holds_with_distinct_uuids() {
        assert_holds(&TestWorld::healthy(), "FB122");
    }

    #[test]
    fn fb122_is_violated_by_a_shared_disk_uuid_or_bios_uuid() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").disks[0].uuid = Some("6000C2-MT-WIN-01-1".to_owned());
        world.vm_mut("db01").bios_uuid = "4210-mt-lnx-01".to_owned();
        let finding = assert_violated(&world, "FB122", "reprotect.web01");
        assert_eq!(
            finding.observed.as_deref(),
            Some("disk UUID 6000c2-mt-win-01-1")
        );
        let finding = assert_violated(&world, "FB122", "reprotect.db01");
        assert_eq!(
            finding.observed.as_deref(),
            Some("BIOS UUID 4210-mt-lnx-01")
        );
    }

    #[test]
    fn fb122_cannot_be_checked_without_uuids() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").disks[0].uuid = None;
        assert_eq!(
            assert_unknown(&world, "FB122", "reprotect.web01"),
            "vCenter reports no UUID for web01 Hard disk 1"
        );
    }

    #[test]
    fn fb123_holds_for_windows_and_for_linux_with_dhcp() {
        assert_holds(&TestWorld::healthy(), "FB123");
    }

    #[test]
    fn fb123_advises_on_a_linux_static_ip() {
        let mut world = TestWorld::healthy();
        world.item_mut("db01-item").static_ip = Some(true);
        assert_violated(&world, "FB123", "reprotect.db01");
    }

    #[test]
    fn fb123_cannot_be_checked_when_the_estate_does_not_say() {
        let mut world = TestWorld::healthy();
        world.item_mut("db01-item").static_ip = None;
        assert_unknown(&world, "FB123", "reprotect.db01");
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").os_type = Some("Solaris".to_owned());
        assert_eq!(
            assert_unknown(&world, "FB123", "reprotect.web01"),
            "protected item web01-item has OS type \"Solaris\", neither Windows nor Linux"
        );
    }

    #[test]
    fn fb128_holds_when_powered_off() {
        assert_holds(&TestWorld::healthy(), "FB128");
    }

    #[test]
    fn fb128_warns_when_powered_on() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").power_state = "POWEREDON".to_owned();
        let finding = assert_violated(&world, "FB128", "reprotect.web01");
        assert_eq!(finding.severity, crate::rules::Severity::Warning);
        // vSphere's value in words in the message, as it is in `observed`.
        assert_eq!(
            finding.message,
            "VM web01 is powered on; reprotect writes to its disks"
        );
        assert_eq!(
            finding.observed.as_deref(),
            Some("runtime.powerState = POWEREDON")
        );
        world.vm_mut("web01").power_state = "suspended".to_owned();
        let finding = assert_violated(&world, "FB128", "reprotect.web01");
        assert!(
            finding.message.contains("is suspended;"),
            "{}",
            finding.message
        );
    }

    #[test]
    fn fb128_cannot_be_checked_for_an_unknown_power_state() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").power_state = "hibernating".to_owned();
        assert!(assert_unknown(&world, "FB128", "reprotect.web01").contains("\"hibernating\""));
    }
}
