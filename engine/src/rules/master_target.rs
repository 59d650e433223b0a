//! Rules about the master target, the on-premises VM that receives reverse replication:
//! its OS family (FB105), `disk.EnableUUID` (FB107), storage DRS (FB108), VMware Tools
//! (FB113), snapshots (FB115), SCSI controller (FB116) and the 60-disk limit (FB127).

use foldhash::{HashMap, HashMapExt as _};

use super::catalogue::{FB105, FB107, FB108, FB113, FB115, FB116, FB127};
use super::wording::{counted, scsi_controller};
use super::{Context, Finding, Subject, os_family, require, same};
use crate::config::{Address, OsFamily};
use crate::observe::vcenter::VirtualMachine;
use crate::resolve::{ResolvedMasterTarget, ResolvedReprotect};

/// The most disks one master target serves, its own included (FB127).
pub const MAX_MASTER_TARGET_DISKS: u32 = 60;

/// The `disk.EnableUUID` value, when set (the key is matched without case: vSphere
/// keeps whatever case it was written with).
pub(crate) fn disk_enable_uuid(vm: &VirtualMachine) -> Option<&str> {
    vm.extra_config
        .iter()
        .find(|(key, _)| same(key, "disk.EnableUUID"))
        .map(|(_, value)| value.as_str())
}

fn os_name(family: OsFamily) -> &'static str {
    match family {
        OsFamily::Windows => "Windows",
        OsFamily::Linux => "Linux",
    }
}

/// FB105: a Linux VM needs a Linux master target, a Windows VM a Windows one.
pub(super) fn fb105_os_family_matches(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(&FB105, &mt.config.address, mt.config.declared.span_of("os"));
        let Ok(server) = &mt.server else { continue };
        match os_family(&server.os_type) {
            Some(observed) if observed != mt.config.os => findings.push(subject.violated(
                format!(
                    "{} is declared `os = \"{}\"` but the configuration server reports a {} \
                     master target",
                    mt.config.address,
                    os_name(mt.config.os).to_lowercase(),
                    os_name(observed)
                ),
                Some(format!(
                    "master target {} osType {}",
                    server.name, server.os_type
                )),
                "correct `os`, or name the master target you meant in `server_name`",
            )),
            Some(_) => {}
            None => findings.push(subject.unknown(format!(
                "master target {} has OS type {:?}, neither Windows nor Linux",
                server.name, server.os_type
            ))),
        }
    }
    for r in &context.resolution.reprotects {
        let subject = Subject::new(
            &FB105,
            &r.config.address,
            r.config.declared.span_of("master_target"),
        );
        let item = require!(r.protected_item, subject, findings);
        let mt = require!(r.master_target, subject, findings);
        let Some(item_os) = item.os_type.as_deref() else {
            findings.push(subject.unknown(format!(
                "the vault reports no OS type for protected item {}",
                item.name
            )));
            continue;
        };
        let Some(vm_family) = os_family(item_os) else {
            findings.push(subject.unknown(format!(
                "protected item {} has OS type {item_os:?}, neither Windows nor Linux",
                item.name
            )));
            continue;
        };
        // The fabric's view wins; the declaration stands in when the fabric is unknown
        // (and is itself compared with the fabric above).
        let master_target_family = match &r.fabric_master_target {
            Ok(server) => os_family(&server.os_type).unwrap_or(mt.os),
            Err(_) => mt.os,
        };
        if vm_family != master_target_family {
            findings.push(subject.violated(
                format!(
                    "{} VM {} cannot be reprotected through {} master target {}",
                    os_name(vm_family),
                    item.friendly_name,
                    os_name(master_target_family),
                    mt.address
                ),
                Some(format!("protected item OS {item_os}")),
                format!(
                    "use a {} master target (the default one on the configuration server \
                     is Windows; Linux needs its own)",
                    os_name(vm_family)
                ),
            ));
        }
    }
}

/// FB107: the master target VM needs `disk.EnableUUID = TRUE`; opted-in it is a fix.
pub(super) fn fb107_disk_enable_uuid(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(
            &FB107,
            &mt.config.address,
            mt.config.declared.span_of("ensure_disk_enable_uuid"),
        );
        let vm = require!(mt.vm, subject, findings);
        let value = disk_enable_uuid(vm);
        if value.is_some_and(|value| same(value, "TRUE")) || mt.config.ensure_disk_enable_uuid {
            continue;
        }
        findings.push(subject.violated(
            format!(
                "master target VM {} does not have disk.EnableUUID = TRUE; its VMDKs get no \
                 consistent UUIDs",
                vm.name
            ),
            Some(match value {
                Some(value) => format!("disk.EnableUUID = {value}"),
                None => "disk.EnableUUID is not set".to_owned(),
            }),
            format!(
                "set `ensure_disk_enable_uuid = true` in {} to have apply set it, or set \
                 it in the VM's advanced configuration parameters",
                mt.config.address
            ),
        ));
    }
}

/// FB108: storage DRS must not be able to storage-vMotion the master target.
pub(super) fn fb108_no_storage_vmotion(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(&FB108, &mt.config.address, mt.config.declared.span_of("vm"));
        let vm = require!(mt.vm, subject, findings);
        let inventory = require!(mt.vcenter, subject, findings);
        let mut automated_pods = Vec::new();
        let mut unknown = Vec::new();
        for datastore_id in &vm.datastores {
            let Some(datastore) = inventory.datastore(datastore_id) else {
                unknown.push(format!("datastore {datastore_id} was not discovered"));
                continue;
            };
            let Some(pod_id) = &datastore.storage_pod else {
                continue;
            };
            let Some(pod) = inventory.storage_pod(pod_id) else {
                unknown.push(format!("datastore cluster {pod_id} was not discovered"));
                continue;
            };
            if !pod.sdrs_enabled {
                continue;
            }
            let behaviour = pod
                .vm_overrides
                .get(&vm.id)
                .filter(|behaviour| !same(behaviour, "default"))
                .unwrap_or(&pod.default_vm_behavior);
            if same(behaviour, "automated") {
                automated_pods.push(pod.name.clone());
            } else if !(same(behaviour, "manual") || same(behaviour, "disabled")) {
                unknown.push(format!(
                    "datastore cluster {} has storage DRS behaviour {behaviour:?}",
                    pod.name
                ));
            }
        }
        if !automated_pods.is_empty() {
            findings.push(subject.violated(
                format!(
                    "master target VM {} is on a storage DRS cluster in automated mode; a \
                     storage vMotion makes failback fail",
                    vm.name
                ),
                Some(format!(
                    "automated storage DRS: {}",
                    automated_pods.join(", ")
                )),
                format!(
                    "set a storage DRS rule for VM {} to manual or disabled, or move it \
                     off the cluster",
                    vm.name
                ),
            ));
        } else if !unknown.is_empty() {
            findings.push(subject.unknown(unknown.join("; ")));
        }
    }
}

/// FB113: VMware Tools must run on the master target.
pub(super) fn fb113_tools_running(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(&FB113, &mt.config.address, mt.config.declared.span_of("vm"));
        let vm = require!(mt.vm, subject, findings);
        let status = vm.tools_running_status.as_str();
        if same(status, "guestToolsRunning") || same(status, "guestToolsExecutingScripts") {
            continue;
        }
        if same(status, "guestToolsNotRunning") {
            findings.push(subject.violated(
                format!(
                    "VMware Tools do not run on master target VM {}; the datastores of its \
                     host are not detected",
                    vm.name
                ),
                Some(format!("guest.toolsRunningStatus = {status}")),
                format!("install or start VMware Tools on {}", vm.name),
            ));
        } else {
            findings.push(subject.unknown(format!(
                "VM {} reports VMware Tools status {status:?}, which failback does not know",
                vm.name
            )));
        }
    }
}

/// FB115: the master target's disks must have no snapshots; opted-in it is a fix.
pub(super) fn fb115_master_target_has_no_snapshots(
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(
            &FB115,
            &mt.config.address,
            mt.config.declared.span_of("remove_snapshots"),
        );
        let vm = require!(mt.vm, subject, findings);
        if vm.snapshots.is_empty() || mt.config.remove_snapshots {
            continue;
        }
        findings.push(subject.violated(
            format!(
                "master target VM {} has {}; reprotect and failback fail",
                vm.name,
                counted(vm.snapshots.len(), "snapshot")
            ),
            Some(format!("snapshots: {}", vm.snapshots.join(", "))),
            format!(
                "delete the snapshots in vCenter, or set `remove_snapshots = true` in {} \
                 to have apply remove them (destructive)",
                mt.config.address
            ),
        ));
    }
}

/// FB116: the master target needs an LSI Logic SCSI controller, not Paravirtual.
pub(super) fn fb116_lsi_logic_controller(context: &Context<'_>, findings: &mut Vec<Finding>) {
    const LSI: [&str; 2] = ["VirtualLsiLogicController", "VirtualLsiLogicSASController"];
    const OTHERS: [&str; 2] = ["ParaVirtualSCSIController", "VirtualBusLogicController"];
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(&FB116, &mt.config.address, mt.config.declared.span_of("vm"));
        let vm = require!(mt.vm, subject, findings);
        if vm.scsi_controllers.is_empty() {
            findings.push(subject.unknown(format!(
                "vCenter reports no SCSI controller for VM {}",
                vm.name
            )));
            continue;
        }
        let is = |kinds: &[&str], controller: &String| kinds.iter().any(|k| same(k, controller));
        let wrong: Vec<&String> = vm
            .scsi_controllers
            .iter()
            .filter(|controller| is(&OTHERS, controller))
            .collect();
        let unknown: Vec<&String> = vm
            .scsi_controllers
            .iter()
            .filter(|controller| !is(&OTHERS, controller) && !is(&LSI, controller))
            .collect();
        let has_lsi = vm.scsi_controllers.iter().any(|c| is(&LSI, c));
        if !wrong.is_empty() || (unknown.is_empty() && !has_lsi) {
            let mut names: Vec<&str> = wrong
                .iter()
                .filter_map(|controller| scsi_controller(controller))
                .collect();
            names.dedup();
            let uses = if names.is_empty() {
                "a SCSI controller other than LSI Logic".to_owned()
            } else {
                format!("a {} SCSI controller", names.join(" and a "))
            };
            findings.push(subject.violated(
                format!(
                    "master target VM {} uses {uses}, not LSI Logic; reprotect fails",
                    vm.name
                ),
                Some(format!(
                    "SCSI controllers: {}",
                    vm.scsi_controllers.join(", ")
                )),
                format!(
                    "change the SCSI controller of {} to LSI Logic SAS (or LSI Logic Parallel)",
                    vm.name
                ),
            ));
        } else if !unknown.is_empty() {
            findings.push(subject.unknown(format!(
                "VM {} has {} that failback does not know: {}",
                vm.name,
                if unknown.len() == 1 {
                    "a SCSI controller type"
                } else {
                    "SCSI controller types"
                },
                unknown
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
}

/// The master target's own disks: vCenter's count, else the fabric's.
fn own_disks(mt: &ResolvedMasterTarget<'_>) -> Option<u32> {
    match (&mt.vm, &mt.server) {
        (Ok(vm), _) => u32::try_from(vm.disks.len()).ok(),
        (Err(_), Ok(server)) => server.disk_count,
        _ => None,
    }
}

/// FB127: a master target serves at most 60 disks, its own included.
pub(super) fn fb127_disk_limit(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let mut served_by: HashMap<&Address, Vec<&ResolvedReprotect<'_>>> = HashMap::new();
    for r in &context.resolution.reprotects {
        served_by
            .entry(&r.config.master_target.target)
            .or_default()
            .push(r);
    }
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(&FB127, &mt.config.address, &mt.config.declared.span);
        let mut unknown = Vec::new();
        let own = own_disks(mt);
        if own.is_none() {
            unknown.push(format!("the disks of master target {}", mt.config.vm));
        }
        let mut total = own.unwrap_or(0);
        let mut served = Vec::new();
        for r in served_by.get(&mt.config.address).into_iter().flatten() {
            let disks = match (&r.protected_item, &r.vm) {
                (Ok(item), _) if item.disk_count.is_some() => item.disk_count,
                (_, Ok(vm)) => u32::try_from(vm.disks.len()).ok(),
                _ => None,
            };
            match disks {
                Some(disks) => {
                    total = total.saturating_add(disks);
                    served.push(format!(
                        "{} {}",
                        r.config.address.name,
                        counted(disks as usize, "disk")
                    ));
                }
                None => unknown.push(format!("the disks of {}", r.config.address)),
            }
        }
        if total > MAX_MASTER_TARGET_DISKS {
            findings.push(subject.violated(
                format!(
                    "{} would serve {total} disks, more than the {MAX_MASTER_TARGET_DISKS} a \
                     master target can",
                    mt.config.address
                ),
                Some(format!(
                    "its own {}, {}",
                    own.map_or("? disks".to_owned(), |own| counted(own as usize, "disk")),
                    served.join(", ")
                )),
                "spread the reprotects over more master targets",
            ));
        } else if !unknown.is_empty() {
            findings.push(subject.unknown(format!(
                "discovery did not report {} (known so far: {})",
                unknown.join(", "),
                counted(total as usize, "disk")
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::observe::vcenter::StoragePod;

    #[test]
    fn fb105_holds_when_families_match() {
        assert_holds(&TestWorld::healthy(), "FB105");
    }

    #[test]
    fn fb105_is_violated_by_a_linux_vm_on_a_windows_master_target() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").os_type = Some("LINUX".to_owned());
        let finding = assert_violated(&world, "FB105", "reprotect.web01");
        assert_eq!(
            finding.message,
            "Linux VM web01 cannot be reprotected through Windows master target master_target.mt_win"
        );
    }

    #[test]
    fn fb105_is_violated_when_the_declared_os_is_wrong() {
        let mut world = TestWorld::healthy();
        world.master_target_mut("mt_lnx").os = crate::config::OsFamily::Windows;
        assert_violated(&world, "FB105", "master_target.mt_lnx");
    }

    #[test]
    fn fb105_cannot_be_checked_for_an_unknown_os() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").os_type = None;
        assert_eq!(
            assert_unknown(&world, "FB105", "reprotect.web01"),
            "the vault reports no OS type for protected item web01-item"
        );
    }

    #[test]
    fn fb107_holds_with_enable_uuid_in_any_case() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-win-01").extra_config.clear();
        world
            .vm_mut("mt-win-01")
            .extra_config
            .insert("disk.enableUUID".to_owned(), "true".to_owned());
        assert_holds(&world, "FB107");
    }

    #[test]
    fn fb107_is_violated_when_not_set_unless_opted_in() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-win-01").extra_config.clear();
        let finding = assert_violated(&world, "FB107", "master_target.mt_win");
        assert_eq!(
            finding.observed.as_deref(),
            Some("disk.EnableUUID is not set")
        );
        assert!(
            finding
                .remediation
                .contains("`ensure_disk_enable_uuid = true`")
        );
        world.master_target_mut("mt_win").ensure_disk_enable_uuid = true;
        assert_holds(&world, "FB107");
    }

    #[test]
    fn fb107_cannot_be_checked_when_the_vm_is_missing() {
        let mut world = TestWorld::healthy();
        world.vcenter_mut().vms.retain(|vm| vm.name != "mt-win-01");
        assert_eq!(
            assert_unknown(&world, "FB107", "master_target.mt_win"),
            "no VM named mt-win-01 in vCenter vcenter.onprem (did you mean mt-lnx-01?)"
        );
    }

    fn put_on_pod(world: &mut TestWorld, behaviour: &str) {
        world.vcenter_mut().storage_pods.push(StoragePod {
            id: "pod-1".to_owned(),
            name: "DSC-Gold".to_owned(),
            sdrs_enabled: true,
            default_vm_behavior: behaviour.to_owned(),
            vm_overrides: Default::default(),
        });
        world.datastore_mut("vmfs-gold-01").storage_pod = Some("pod-1".to_owned());
    }

    #[test]
    fn fb108_holds_outside_automated_storage_drs() {
        let mut world = TestWorld::healthy();
        assert_holds(&world, "FB108");
        put_on_pod(&mut world, "automated");
        world.vcenter_mut().storage_pods[0]
            .vm_overrides
            .insert("vm-10".to_owned(), "disabled".to_owned());
        world.vcenter_mut().storage_pods[0]
            .vm_overrides
            .insert("vm-11".to_owned(), "manual".to_owned());
        assert_holds(&world, "FB108");
    }

    #[test]
    fn fb108_warns_on_an_automated_pod() {
        let mut world = TestWorld::healthy();
        put_on_pod(&mut world, "automated");
        let finding = assert_violated(&world, "FB108", "master_target.mt_win");
        assert_eq!(
            finding.observed.as_deref(),
            Some("automated storage DRS: DSC-Gold")
        );
    }

    #[test]
    fn fb108_cannot_be_checked_when_datastores_are_hidden() {
        let mut world = TestWorld::healthy();
        world.vcenter_mut().datastores.clear();
        assert_eq!(
            assert_unknown(&world, "FB108", "master_target.mt_win"),
            "datastore datastore-1 was not discovered"
        );
    }

    #[test]
    fn fb113_holds_while_tools_run() {
        assert_holds(&TestWorld::healthy(), "FB113");
    }

    #[test]
    fn fb113_is_violated_when_tools_do_not_run() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-lnx-01").tools_running_status = "guestToolsNotRunning".to_owned();
        assert_violated(&world, "FB113", "master_target.mt_lnx");
    }

    #[test]
    fn fb113_cannot_be_checked_for_an_unknown_status() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-lnx-01").tools_running_status = String::new();
        assert_unknown(&world, "FB113", "master_target.mt_lnx");
    }

    #[test]
    fn fb115_holds_without_snapshots_or_when_opted_in() {
        let mut world = TestWorld::healthy();
        assert_holds(&world, "FB115");
        world.vm_mut("mt-win-01").snapshots = vec!["s1".to_owned()];
        world.master_target_mut("mt_win").remove_snapshots = true;
        assert_holds(&world, "FB115");
    }

    #[test]
    fn fb115_is_violated_by_a_snapshot() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-win-01").snapshots = vec!["s1".to_owned()];
        assert_violated(&world, "FB115", "master_target.mt_win");
    }

    #[test]
    fn fb115_cannot_be_checked_without_vcenter() {
        let mut world = TestWorld::healthy();
        world.observed.vcenters.clear();
        assert_unknown(&world, "FB115", "master_target.mt_win");
    }

    #[test]
    fn fb116_holds_with_lsi_logic() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-win-01").scsi_controllers = vec!["VirtualLsiLogicController".to_owned()];
        assert_holds(&world, "FB116");
    }

    #[test]
    fn fb116_is_violated_by_paravirtual() {
        let mut world = TestWorld::healthy();
        world
            .vm_mut("mt-win-01")
            .scsi_controllers
            .push("ParaVirtualSCSIController".to_owned());
        assert_violated(&world, "FB116", "master_target.mt_win");
    }

    #[test]
    fn fb116_cannot_be_checked_for_an_unknown_controller() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-win-01").scsi_controllers = vec!["VirtualNVMEController".to_owned()];
        assert!(
            assert_unknown(&world, "FB116", "master_target.mt_win")
                .contains("VirtualNVMEController")
        );
    }

    #[test]
    fn fb127_holds_within_sixty_disks() {
        let mut world = TestWorld::healthy();
        // Own 2 + 58 = 60: exactly at the limit.
        world.item_mut("web01-item").disk_count = Some(58);
        assert_holds(&world, "FB127");
    }

    #[test]
    fn fb127_is_violated_above_sixty_disks() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").disk_count = Some(59);
        let finding = assert_violated(&world, "FB127", "master_target.mt_win");
        assert_eq!(
            finding.observed.as_deref(),
            Some("its own 2 disks, web01 59 disks")
        );
    }

    #[test]
    fn fb127_cannot_be_checked_without_disk_counts() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").disk_count = None;
        world.vcenter_mut().vms.retain(|vm| vm.name != "web01");
        assert_eq!(
            assert_unknown(&world, "FB127", "master_target.mt_win"),
            "discovery did not report the disks of reprotect.web01 (known so far: 2 disks)"
        );
    }
}
