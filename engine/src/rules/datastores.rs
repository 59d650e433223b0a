//! Rules about datastores: the VM's datastores mounted read/write on the master target's
//! host (FB111), the chosen datastore being a VMFS or vSAN datastore of that host
//! (FB114), and a datastore being named at all (FB118).

use foldhash::HashSet;

use super::catalogue::{FB111, FB114, FB118};
use super::vm::vm_if_present;
use super::wording::access_mode;
use super::{Context, Finding, Subject, require, same};
use crate::config::{Address, Config};
use crate::observe::vcenter::{Datastore, Host};
use crate::resolve::ResolvedReprotect;

/// Whether a datastore type can hold a master target's replica disks: VMFS or vSAN
/// (`Some(false)` for the known others, `None` for a type failback does not know).
fn is_block_datastore(kind: &str) -> Option<bool> {
    if same(kind, "VMFS") || same(kind, "vsan") {
        Some(true)
    } else if ["NFS", "NFS41", "VVOL", "PMEM", "vsanD", "CIFS", "VFFS"]
        .iter()
        .any(|other| same(kind, other))
    {
        Some(false)
    } else {
        None
    }
}

/// Whether the datastore is attached to the host, by either side's record.
fn attached(datastore: &Datastore, host: &Host) -> bool {
    host.datastores.contains(&datastore.id)
        || datastore.mounts.iter().any(|mount| mount.host == host.id)
}

/// FB111: when the VM still exists, its datastores must be mounted read/write on the
/// master target's ESXi host.
pub(super) fn fb111_vm_datastores_writable(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in context.pending_reprotects() {
        let subject = Subject::new(
            &FB111,
            &r.config.address,
            r.config.declared.span_of("master_target"),
        );
        let Some(vm) = require!(vm_if_present(r), subject, findings) else {
            continue;
        };
        let host = require!(r.master_target_host, subject, findings);
        let inventory = require!(r.vcenter, subject, findings);
        if vm.datastores.is_empty() {
            findings
                .push(subject.unknown(format!("vCenter reports no datastores for VM {}", vm.name)));
            continue;
        }
        let mut problems = Vec::new();
        // The same, with vSphere's own values, for `observed`.
        let mut observed = Vec::new();
        let mut unknown = Vec::new();
        for datastore_id in &vm.datastores {
            let Some(datastore) = inventory.datastore(datastore_id) else {
                unknown.push(format!(
                    "datastore {datastore_id} of VM {} was not discovered",
                    vm.name
                ));
                continue;
            };
            match datastore.mounts.iter().find(|mount| mount.host == host.id) {
                None => {
                    let problem = format!("{} is not mounted on {}", datastore.name, host.name);
                    observed.push(problem.clone());
                    problems.push(problem);
                }
                Some(mount) if !mount.mounted || !mount.accessible => {
                    let problem = format!("{} is not accessible on {}", datastore.name, host.name);
                    observed.push(format!(
                        "{} on {}: mounted {}, accessible {}",
                        datastore.name, host.name, mount.mounted, mount.accessible
                    ));
                    problems.push(problem);
                }
                Some(mount) if !same(&mount.access_mode, "readWrite") => {
                    problems.push(format!(
                        "{} is mounted {} on {}",
                        datastore.name,
                        access_mode(&mount.access_mode).unwrap_or(&mount.access_mode),
                        host.name
                    ));
                    observed.push(format!(
                        "{} on {}: accessMode {}",
                        datastore.name, host.name, mount.access_mode
                    ));
                }
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            findings.push(subject.violated(
                format!(
                    "the master target cannot write to VM {}'s disks: {}",
                    vm.name,
                    problems.join("; ")
                ),
                Some(observed.join("; ")),
                format!(
                    "mount the VM's datastores read/write on host {}, or use a master target \
                     on a host that has them",
                    host.name
                ),
            ));
        } else if !unknown.is_empty() {
            findings.push(subject.unknown(unknown.join("; ")));
        }
    }
}

/// FB114: the master target's host needs a VMFS or vSAN datastore, and the chosen
/// datastore must be one of them (and one the master target sees and may use).
pub(super) fn fb114_datastore_is_vmfs_on_host(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(&FB114, &mt.config.address, mt.config.declared.span_of("vm"));
        let host = require!(mt.host, subject, findings);
        let inventory = require!(mt.vcenter, subject, findings);
        let kinds: Vec<Option<&Datastore>> = host
            .datastores
            .iter()
            .map(|id| inventory.datastore(id))
            .collect();
        if kinds
            .iter()
            .flatten()
            .any(|ds| is_block_datastore(&ds.kind) == Some(true))
        {
            continue;
        }
        if kinds.iter().any(Option::is_none)
            || kinds
                .iter()
                .flatten()
                .any(|ds| is_block_datastore(&ds.kind).is_none())
        {
            findings.push(subject.unknown(format!(
                "not every datastore of host {} was discovered or has a known type",
                host.name
            )));
            continue;
        }
        findings.push(
            subject.violated(
                format!(
                    "host {} of the master target has no VMFS or vSAN datastore",
                    host.name
                ),
                Some(
                    kinds
                        .iter()
                        .flatten()
                        .map(|ds| format!("{} ({})", ds.name, ds.kind))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .filter(|list| !list.is_empty()),
                format!("attach a VMFS or vSAN datastore to {}", host.name),
            ),
        );
    }

    for r in context.pending_reprotects() {
        let span = if r.config.datastore.is_some() {
            r.config.declared.span_of("datastore")
        } else {
            r.recovery_plan.map_or(&r.config.declared.span, |plan| {
                plan.declared.span_of("datastore")
            })
        };
        let subject = Subject::new(&FB114, &r.config.address, span);
        // No datastore named at all is FB118's finding.
        let Ok(name) = r.datastore_name else { continue };
        let mt = require!(r.master_target, subject, findings);
        if !mt.datastores.is_empty() && !mt.datastores.iter().any(|allowed| same(allowed, name)) {
            findings.push(subject.violated(
                format!(
                    "datastore {name} is not one of the datastores {} may use",
                    mt.address
                ),
                Some(format!("allowed: {}", mt.datastores.join(", "))),
                format!(
                    "pick one of {}, or add {name} to `datastores` of {}",
                    mt.datastores.join(", "),
                    mt.address
                ),
            ));
            continue;
        }
        let datastore = match &r.datastore {
            Ok(datastore) => *datastore,
            Err(missing) if missing.is_absent() => {
                findings.push(subject.violated(
                    format!("datastore {name} does not exist"),
                    Some(missing.reason.clone()),
                    "name a VMFS or vSAN datastore of the master target's host",
                ));
                continue;
            }
            Err(missing) => {
                findings.push(subject.unresolved(missing));
                continue;
            }
        };
        let host = require!(r.master_target_host, subject, findings);
        let problem = match is_block_datastore(&datastore.kind) {
            None => {
                findings.push(subject.unknown(format!(
                    "datastore {name} has type {:?}, which failback does not know",
                    datastore.kind
                )));
                continue;
            }
            Some(false) => Some(format!(
                "datastore {name} is {}; only VMFS and vSAN are offered",
                datastore.kind
            )),
            Some(true) if !attached(datastore, host) => Some(format!(
                "datastore {name} is not attached to the master target's host {}",
                host.name
            )),
            Some(true) => None,
        };
        if let Some(problem) = problem {
            findings.push(subject.violated(
                problem,
                Some(format!("{} ({})", datastore.name, datastore.kind)),
                format!(
                    "name a VMFS or vSAN datastore attached to {}{}",
                    host.name,
                    suggest_block_datastore(r, host)
                ),
            ));
            continue;
        }
        if let Ok(server) = &r.fabric_master_target
            && !server.datastores.is_empty()
            && !server
                .datastores
                .iter()
                .any(|seen| same(&seen.symbolic_name, name))
        {
            findings.push(subject.violated(
                format!(
                    "master target {} does not report datastore {name}",
                    server.name
                ),
                Some(format!(
                    "the master target sees {}",
                    server
                        .datastores
                        .iter()
                        .map(|seen| seen.symbolic_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                "refresh the configuration server, or name a datastore the master target sees",
            ));
        }
    }
}

/// ` (a, b)`: the VMFS and vSAN datastores of the host, to pick from.
fn suggest_block_datastore(r: &ResolvedReprotect<'_>, host: &Host) -> String {
    let Ok(inventory) = r.vcenter else {
        return String::new();
    };
    let names: Vec<&str> = host
        .datastores
        .iter()
        .filter_map(|id| inventory.datastore(id))
        .filter(|ds| is_block_datastore(&ds.kind) == Some(true))
        .map(|ds| ds.name.as_str())
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    }
}

/// FB118: a datastore must be given for every reprotect, even when the disks exist.
pub(super) fn fb118_datastore_given(config: &Config, findings: &mut Vec<Finding>) {
    let in_plan_with_datastore: HashSet<&Address> = config
        .recovery_plans
        .iter()
        .filter(|plan| plan.datastore.is_some())
        .flat_map(|plan| plan.members.iter().map(|member| &member.target))
        .collect();
    for reprotect in &config.reprotects {
        if reprotect.datastore.is_some() || in_plan_with_datastore.contains(&reprotect.address) {
            continue;
        }
        let subject = Subject::new(&FB118, &reprotect.address, &reprotect.declared.span);
        let known = config
            .master_target(&reprotect.master_target.target)
            .map(|mt| mt.datastores.join(", "))
            .filter(|list| !list.is_empty());
        findings.push(subject.violated(
            format!("{} names no datastore", reprotect.address),
            None,
            format!(
                "add `datastore = \"...\"`{}: ASR needs it even when the disks already \
                 exist, to place the VM if it was deleted on-premises",
                known.map_or(String::new(), |list| format!(
                    " (the master target may use {list})"
                ))
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn fb111_holds_when_mounted_read_write() {
        assert_holds(&TestWorld::healthy(), "FB111");
    }

    #[test]
    fn fb111_is_violated_by_a_read_only_mount() {
        let mut world = TestWorld::healthy();
        world.datastore_mut("vmfs-gold-01").mounts[0].access_mode = "readOnly".to_owned();
        let finding = assert_violated(&world, "FB111", "reprotect.web01");
        assert_eq!(
            finding.observed.as_deref(),
            Some("vmfs-gold-01 on esx01.lab.local: accessMode readOnly")
        );
        assert!(
            finding
                .message
                .ends_with("vmfs-gold-01 is mounted read-only on esx01.lab.local"),
            "{}",
            finding.message
        );
    }

    #[test]
    fn fb111_holds_for_a_deleted_vm_and_cannot_be_checked_for_hidden_datastores() {
        let mut world = TestWorld::healthy();
        world.vcenter_mut().vms.retain(|vm| vm.name != "web01");
        assert!(
            super::super::testing::findings_of(&world, "FB111")
                .iter()
                .all(|f| f.address.to_string() != "reprotect.web01")
        );
        let mut world = TestWorld::healthy();
        world.vcenter_mut().datastores.clear();
        assert_eq!(
            assert_unknown(&world, "FB111", "reprotect.web01"),
            "datastore datastore-1 of VM web01 was not discovered"
        );
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").datastores.clear();
        assert_eq!(
            assert_unknown(&world, "FB111", "reprotect.web01"),
            "vCenter reports no datastores for VM web01"
        );
    }

    #[test]
    fn fb114_holds_for_a_vmfs_datastore_on_the_host() {
        assert_holds(&TestWorld::healthy(), "FB114");
    }

    #[test]
    fn fb114_is_violated_by_nfs() {
        let mut world = TestWorld::healthy();
        world.reprotect_mut("web01").datastore = Some("nfs-archive".to_owned());
        world.master_target_mut("mt_win").datastores.clear();
        let finding = assert_violated(&world, "FB114", "reprotect.web01");
        assert_eq!(
            finding.message,
            "datastore nfs-archive is NFS; only VMFS and vSAN are offered"
        );
        assert!(finding.remediation.ends_with("(vmfs-gold-01)"));
    }

    #[test]
    fn fb114_is_violated_by_a_datastore_the_master_target_may_not_use() {
        let mut world = TestWorld::healthy();
        world.reprotect_mut("web01").datastore = Some("nfs-archive".to_owned());
        let finding = assert_violated(&world, "FB114", "reprotect.web01");
        assert_eq!(finding.observed.as_deref(), Some("allowed: vmfs-gold-01"));
    }

    #[test]
    fn fb114_is_violated_by_a_missing_datastore_and_a_host_without_vmfs() {
        let mut world = TestWorld::healthy();
        world.master_target_mut("mt_win").datastores.clear();
        world.reprotect_mut("web01").datastore = Some("vmfs-gold-1".to_owned());
        let finding = assert_violated(&world, "FB114", "reprotect.web01");
        assert_eq!(
            finding.observed.as_deref(),
            Some(
                "no datastore named vmfs-gold-1 in vCenter vcenter.onprem (did you mean vmfs-gold-01?)"
            )
        );
        let mut world = TestWorld::healthy();
        world.datastore_mut("vmfs-gold-01").kind = "NFS41".to_owned();
        assert_violated(&world, "FB114", "master_target.mt_win");
    }

    #[test]
    fn fb114_cannot_be_checked_without_vcenter() {
        let mut world = TestWorld::healthy();
        world.observed.vcenters.clear();
        assert_eq!(
            assert_unknown(&world, "FB114", "reprotect.web01"),
            "vcenter.onprem was not discovered"
        );
    }

    #[test]
    fn fb118_holds_with_a_datastore_on_the_reprotect_or_its_plan() {
        let mut world = TestWorld::healthy();
        assert_holds(&world, "FB118");
        world.reprotect_mut("web01").datastore = None;
        world.add_recovery_plan("erp", &["web01"]);
        world.config.recovery_plans[0].datastore = Some("vmfs-gold-01".to_owned());
        assert_holds(&world, "FB118");
    }

    #[test]
    fn fb118_is_violated_without_a_datastore() {
        let mut world = TestWorld::healthy();
        world.reprotect_mut("web01").datastore = None;
        let finding = assert_violated(&world, "FB118", "reprotect.web01");
        assert!(
            finding
                .remediation
                .contains("(the master target may use vmfs-gold-01)")
        );
        // FB118 needs no discovery: `validate` reports it too.
        let config_only = crate::rules::check_config(&world.config);
        assert!(config_only.iter().any(|f| f.rule == "FB118"));
    }

    // FB118 is decided from the configuration alone: it can always be checked.
}
