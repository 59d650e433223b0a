//! Rules about what the configuration server and the discovery account can see: the
//! vCenter account's privileges (FB101: to discover, and to make the fixes the
//! configuration opts into), the master target host's licence (FB124) and the
//! configuration server's discovery of the vCenter and the master target (FB125).

use std::collections::BTreeSet;

use super::catalogue::{FB101, FB124, FB125};
use super::fixes::{Fix, fixes_in};
use super::wording::counted;
use super::{Context, Finding, Subject, require, same};
use crate::observe::VcenterInventory;
use crate::provider::ProviderAction;

/// Privileges discovery needs on every datastore to offer it for reprotect.
pub const DATASTORE_PRIVILEGES: [&str; 2] = ["System.Read", "Datastore.Browse"];

/// The privilege a fix needs on its VM (vSphere's privilege ids): setting an advanced
/// configuration parameter (`ReconfigVM_Task` with `extraConfig`) or removing
/// snapshots (`RemoveAllSnapshots_Task`). Other actions need none from FB101.
pub fn fix_privilege(action: &ProviderAction) -> Option<&'static str> {
    match action {
        ProviderAction::VmSetExtraConfig { .. } => Some("VirtualMachine.Config.AdvancedConfig"),
        ProviderAction::VmRemoveSnapshots { .. } => Some("VirtualMachine.State.RemoveSnapshot"),
        ProviderAction::Reprotect(_) | ProviderAction::WaitForAgent { .. } => None,
    }
}

/// The configuration attribute that opts into a fix, for messages.
fn fix_attribute(action: &ProviderAction) -> &'static str {
    match action {
        ProviderAction::VmSetExtraConfig { .. } => "ensure_disk_enable_uuid",
        _ => "remove_snapshots",
    }
}

/// What the discovered privileges say about the fixes one vCenter will make.
#[derive(Debug, Default)]
struct FixPrivileges<'f> {
    denied: Vec<FixPrivilege<'f>>,
    unreported: Vec<FixPrivilege<'f>>,
}

/// One fix's privilege on its VM.
#[derive(Debug)]
struct FixPrivilege<'f> {
    fix: &'f Fix,
    privilege: &'static str,
    vm: &'f str,
}

impl FixPrivilege<'_> {
    /// `VirtualMachine.State.RemoveSnapshot on web01 (remove_snapshots of reprotect.web01)`.
    fn describe(&self) -> String {
        format!(
            "{} on {} ({} of {})",
            self.privilege,
            self.vm,
            fix_attribute(&self.fix.action),
            self.fix.address
        )
    }
}

fn described(privileges: &[FixPrivilege<'_>]) -> String {
    privileges
        .iter()
        .map(FixPrivilege::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks each fix's privilege on its VM. vCenter answers for the entities discovery
/// asked about: the VM itself when it was asked, otherwise the root folder and the
/// datacenters, from which a role assigned with propagation reaches the VM. Those
/// answers stand for the VM only when they agree (the VM's datacenter is not known);
/// a permission narrowed on a VM folder is seen only on the VM itself.
fn check_fix_privileges<'f>(inventory: &VcenterInventory, fixes: &[&'f Fix]) -> FixPrivileges<'f> {
    let mut result = FixPrivileges::default();
    let is_inherited_from = |entity: &str| {
        inventory.datastore(entity).is_none()
            && !inventory.vms.iter().any(|vm| vm.id == entity)
            && !inventory.hosts.iter().any(|host| host.id == entity)
    };
    for fix in fixes {
        let Some(privilege) = fix_privilege(&fix.action) else {
            continue;
        };
        let vm_name = match &fix.action {
            ProviderAction::VmSetExtraConfig { vm, .. }
            | ProviderAction::VmRemoveSnapshots { vm } => vm.as_str(),
            _ => continue,
        };
        let what = FixPrivilege {
            fix,
            privilege,
            vm: vm_name,
        };
        let granted_on = |entity: &str| {
            inventory.privileges.get(entity).and_then(|granted| {
                granted
                    .iter()
                    .find(|(id, _)| same(id, privilege))
                    .map(|(_, granted)| *granted)
            })
        };
        let on_vm = inventory
            .vms
            .iter()
            .find(|vm| vm.name == vm_name)
            .and_then(|vm| granted_on(&vm.id));
        let answer = match on_vm {
            Some(granted) => Some(granted),
            None => {
                let inherited: BTreeSet<bool> = inventory
                    .privileges
                    .keys()
                    .filter(|entity| is_inherited_from(entity))
                    .filter_map(|entity| granted_on(entity))
                    .collect();
                match (inherited.contains(&true), inherited.contains(&false)) {
                    (true, false) => Some(true),
                    (false, true) => Some(false),
                    _ => None,
                }
            }
        };
        match answer {
            Some(true) => {}
            Some(false) => result.denied.push(what),
            None => result.unreported.push(what),
        }
    }
    result
}

/// FB101: the vCenter account must see datastores and hold the privileges to browse
/// them; a read-only discovery user lets failover work but reprotect finds no
/// datastores.
///
/// When the configuration opts into fixes, the account must also hold, on each VM a
/// fix changes, the privilege of that fix ([`fix_privilege`]); otherwise the plan
/// promises a change that apply cannot make.
pub(super) fn fb101_discovery_privileges(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let fixes = fixes_in(context);
    let mut seen = BTreeSet::new();
    for cs in &context.resolution.configuration_servers {
        let Ok(vcenter_config) = &cs.vcenter_config else {
            continue;
        };
        if !seen.insert(&vcenter_config.address) {
            continue;
        }
        let subject = Subject::new(
            &FB101,
            &vcenter_config.address,
            vcenter_config.declared.span_of("username"),
        );
        let inventory = require!(cs.vcenter, subject, findings);
        let user = if inventory.session_user.is_empty() {
            "the discovery account".to_owned()
        } else {
            inventory.session_user.clone()
        };
        let provider = vcenter_config.address.to_string();
        let own_fixes: Vec<&Fix> = fixes
            .iter()
            .filter(|fix| fix.provider == provider)
            .collect();
        let for_fixes = check_fix_privileges(inventory, &own_fixes);
        // A read-only user sees VMs and hosts but the datastores they reference are
        // missing from the discovered objects.
        let hidden: BTreeSet<&str> = inventory
            .vms
            .iter()
            .flat_map(|vm| vm.datastores.iter())
            .chain(
                inventory
                    .hosts
                    .iter()
                    .flat_map(|host| host.datastores.iter()),
            )
            .filter(|id| inventory.datastore(id).is_none())
            .map(String::as_str)
            .collect();
        if !hidden.is_empty() {
            findings.push(subject.violated(
                format!(
                    "{user} cannot see {} that VMs and hosts use; reprotect \
                     finds no datastores with a read-only discovery account",
                    counted(hidden.len(), "datastore")
                ),
                Some(format!(
                    "datastores referenced but not visible: {}{}",
                    hidden.into_iter().collect::<Vec<_>>().join(", "),
                    denied_for_fixes(&for_fixes)
                )),
                "give the account the ASR discovery role on the datacenter (Datastore.Browse \
                 and read access to datastores), propagated to children",
            ));
            continue;
        }
        if inventory.privileges.is_empty() {
            findings.push(subject.unknown(format!(
                "the privileges of {user} could not be queried (HasPrivilegeOnEntities)"
            )));
            continue;
        }
        let mut denied = Vec::new();
        let mut unqueried = Vec::new();
        for datastore in &inventory.datastores {
            let Some(granted) = inventory.privileges.get(&datastore.id) else {
                unqueried.push(datastore.name.clone());
                continue;
            };
            for privilege in DATASTORE_PRIVILEGES {
                match granted.iter().find(|(id, _)| same(id, privilege)) {
                    Some((_, true)) => {}
                    Some((_, false)) => denied.push(format!("{privilege} on {}", datastore.name)),
                    None => unqueried.push(format!("{privilege} on {}", datastore.name)),
                }
            }
        }
        if !denied.is_empty() {
            findings.push(subject.violated(
                format!("{user} lacks privileges that reprotect needs on datastores"),
                Some(format!(
                    "denied: {}{}",
                    denied.join(", "),
                    denied_for_fixes(&for_fixes)
                )),
                "grant the account System.Read and Datastore.Browse on the datastores \
                 (the ASR discovery role), propagated from the datacenter",
            ));
        } else {
            if !unqueried.is_empty() {
                findings.push(subject.unknown(format!(
                    "the privileges of {user} were not reported for {}",
                    unqueried.join(", ")
                )));
            }
            // Each fix's privilege is reported on the object that opts into the fix,
            // where it can be turned off or acknowledged, and where `--target` finds it.
            for denied in &for_fixes.denied {
                let attribute = fix_attribute(&denied.fix.action);
                let fix_subject = Subject::new(
                    &FB101,
                    &denied.fix.address,
                    fix_span(context, denied.fix, &subject),
                );
                findings.push(fix_subject.violated(
                    format!(
                        "{user} lacks {} on {}, which `{attribute}` needs",
                        denied.privilege, denied.vm
                    ),
                    Some(format!("denied: {}", denied.describe())),
                    format!(
                        "grant {user} {} on {} (a role on the datacenter, propagated to \
                         children; a permission set on the VM or its folder overrides it \
                         there), or make the change by hand and set `{attribute} = false`",
                        denied.privilege, denied.vm
                    ),
                ));
            }
            for unreported in &for_fixes.unreported {
                let fix_subject = Subject::new(
                    &FB101,
                    &unreported.fix.address,
                    fix_span(context, unreported.fix, &subject),
                );
                findings.push(fix_subject.unknown(format!(
                    "the privileges of {user} were not reported for {}",
                    unreported.describe()
                )));
            }
        }
    }
}

/// Where the configuration opts into `fix`: its attribute on the master target or
/// reprotect, else the vCenter block's.
fn fix_span<'c>(
    context: &'c Context<'_>,
    fix: &Fix,
    vcenter: &Subject<'c>,
) -> &'c crate::config::Span {
    let attribute = fix_attribute(&fix.action);
    let declared = match fix.address.kind.as_str() {
        "master_target" => context
            .config
            .master_target(&fix.address)
            .map(|mt| &mt.declared),
        "reprotect" => context.config.reprotect(&fix.address).map(|r| &r.declared),
        _ => None,
    };
    declared.map_or(vcenter.span, |declared| declared.span_of(attribute))
}

/// The fix privileges denied, appended to a violation about discovery.
fn denied_for_fixes(for_fixes: &FixPrivileges) -> String {
    if for_fixes.denied.is_empty() {
        String::new()
    } else {
        format!("; for fixes, denied: {}", described(&for_fixes.denied))
    }
}

/// What a host's licence edition means for failback.
#[derive(Debug, PartialEq, Eq)]
enum Licence {
    /// Evaluation or a paid edition.
    Allows,
    /// The free hypervisor (ESXi 5.5 free, vSphere 6 Hypervisor).
    Free,
    Unknown,
}

fn classify_licence(edition: &str) -> Licence {
    let edition = edition.trim().to_ascii_lowercase();
    if edition.contains("free") || edition.starts_with("esx.hypervisor") {
        return Licence::Free;
    }
    const PAID: [&str; 9] = [
        "esx.enterpriseplus.",
        "esx.enterprise.",
        "esx.standard.",
        "esx.essentials",
        "esx.vsphere.essentials",
        "esx.acceleratorkit",
        "esx.rob",
        "esx.vsom",
        "esx.desktop",
    ];
    if edition == "eval"
        || edition.starts_with("eval")
        || PAID.iter().any(|p| edition.starts_with(p))
    {
        Licence::Allows
    } else {
        Licence::Unknown
    }
}

/// FB124: failback needs an evaluation or paid licence on the master target's host.
pub(super) fn fb124_host_licence(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(&FB124, &mt.config.address, mt.config.declared.span_of("vm"));
        let host = require!(mt.host, subject, findings);
        let Some(edition) = host.license_edition.as_deref() else {
            findings.push(subject.unknown(format!(
                "vCenter reports no licence edition for host {}",
                host.name
            )));
            continue;
        };
        match classify_licence(edition) {
            Licence::Allows => {}
            Licence::Free => findings.push(subject.violated(
                format!(
                    "host {} of the master target runs the free hypervisor: failover works \
                     but failback does not",
                    host.name
                ),
                Some(format!("licence edition {edition}")),
                format!(
                    "assign an evaluation or paid vSphere licence to {}",
                    host.name
                ),
            )),
            Licence::Unknown => findings.push(subject.unknown(format!(
                "host {} has licence edition {edition:?}, which failback does not know",
                host.name
            ))),
        }
    }
}

/// The host part of a vCenter URL: `https://vcsa.example.local:443/sdk` →
/// `vcsa.example.local`; a bare host name stays as it is.
fn url_host(url: &str) -> &str {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = without_scheme.split('/').next().unwrap_or(without_scheme);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or(bracketed);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

/// FB125: the configuration server must have discovered the vCenter failback writes
/// to, and the master target must be registered with it.
pub(super) fn fb125_discovered_by_configuration_server(
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    for cs in &context.resolution.configuration_servers {
        let subject = Subject::new(
            &FB125,
            &cs.config.address,
            cs.config.declared.span_of("vcenter"),
        );
        let fabric = require!(cs.fabric, subject, findings);
        let vcenter = require!(cs.vcenter_config, subject, findings);
        let Some(url) = vcenter.url.as_deref() else {
            findings.push(subject.unknown(format!(
                "{} has no `url` to compare with the vCenters the configuration server knows",
                vcenter.address
            )));
            continue;
        };
        let host = url_host(url);
        let known = fabric.vcenters.iter().any(|discovered| {
            same(&discovered.friendly_name, host)
                || discovered
                    .ip_address
                    .as_deref()
                    .is_some_and(|ip| same(ip, host))
        });
        if !known {
            let listed: Vec<&str> = fabric
                .vcenters
                .iter()
                .map(|discovered| discovered.friendly_name.as_str())
                .collect();
            findings.push(subject.violated(
                format!(
                    "configuration server {} has not discovered vCenter {host}",
                    fabric.name
                ),
                Some(if listed.is_empty() {
                    "the configuration server knows no vCenter".to_owned()
                } else {
                    format!("the configuration server knows {}", listed.join(", "))
                }),
                format!(
                    "add vCenter {host} to the configuration server (Add vCenter server in \
                     the vault) and wait for discovery, or correct the url of {}",
                    vcenter.address
                ),
            ));
        }
    }
    for mt in &context.resolution.master_targets {
        let subject = Subject::new(
            &FB125,
            &mt.config.address,
            mt.config.declared.span_of("server_name"),
        );
        match &mt.server {
            Ok(_) => {}
            Err(missing) if missing.is_absent() => findings.push(subject.violated(
                format!(
                    "master target {} is not registered with the configuration server",
                    mt.config.server_name
                ),
                Some(missing.reason.clone()),
                "install the master target and register it with the configuration server, \
                 or correct `server_name`",
            )),
            Err(missing) => findings.push(subject.unresolved(missing)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn fb101_holds_with_visible_datastores_and_privileges() {
        assert_holds(&TestWorld::healthy(), "FB101");
    }

    #[test]
    fn fb101_is_violated_by_hidden_datastores_or_a_denied_privilege() {
        let mut world = TestWorld::healthy();
        world.vcenter_mut().datastores.clear();
        let finding = assert_violated(&world, "FB101", "vcenter.onprem");
        assert_eq!(
            finding.observed.as_deref(),
            Some("datastores referenced but not visible: datastore-1, datastore-2")
        );

        let mut world = TestWorld::healthy();
        world
            .vcenter_mut()
            .privileges
            .get_mut("datastore-1")
            .map(|granted| granted.insert("Datastore.Browse".to_owned(), false));
        let finding = assert_violated(&world, "FB101", "vcenter.onprem");
        assert_eq!(
            finding.observed.as_deref(),
            Some("denied: Datastore.Browse on vmfs-gold-01")
        );
    }

    #[test]
    fn fb101_cannot_be_checked_without_privileges() {
        let mut world = TestWorld::healthy();
        world.vcenter_mut().privileges.clear();
        assert!(
            assert_unknown(&world, "FB101", "vcenter.onprem").contains("HasPrivilegeOnEntities")
        );
    }

    /// The healthy world with both kinds of fix opted into and needed: the Linux
    /// master target lacks disk.EnableUUID, web01 keeps a snapshot.
    fn world_with_fixes() -> TestWorld {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-lnx-01").extra_config.clear();
        world.master_target_mut("mt_lnx").ensure_disk_enable_uuid = true;
        world.vm_mut("web01").snapshots = vec!["before-patch".to_owned()];
        world.reprotect_mut("web01").remove_snapshots = true;
        world
    }

    fn grant(world: &mut TestWorld, entity: &str, privilege: &str, granted: bool) {
        world
            .vcenter_mut()
            .privileges
            .entry(entity.to_owned())
            .or_default()
            .insert(privilege.to_owned(), granted);
    }

    const ADVANCED_CONFIG: &str = "VirtualMachine.Config.AdvancedConfig";
    const REMOVE_SNAPSHOT: &str = "VirtualMachine.State.RemoveSnapshot";

    #[test]
    fn fb101_holds_when_the_account_may_make_the_fixes() {
        let mut world = world_with_fixes();
        // On the VMs themselves…
        grant(&mut world, "vm-11", ADVANCED_CONFIG, true);
        grant(&mut world, "vm-1", REMOVE_SNAPSHOT, true);
        assert_holds(&world, "FB101");
        // …or inherited: the root folder and the datacenter agree.
        let mut world = world_with_fixes();
        for entity in ["group-d1", "datacenter-2"] {
            grant(&mut world, entity, ADVANCED_CONFIG, true);
            grant(&mut world, entity, REMOVE_SNAPSHOT, true);
        }
        assert_holds(&world, "FB101");
        // A fix that is not needed needs no privilege.
        let mut world = TestWorld::healthy();
        world.master_target_mut("mt_lnx").ensure_disk_enable_uuid = true;
        world.reprotect_mut("web01").remove_snapshots = true;
        assert_holds(&world, "FB101");
    }

    #[test]
    fn fb101_is_violated_by_a_missing_fix_privilege_naming_the_fix() {
        let mut world = world_with_fixes();
        grant(&mut world, "vm-11", ADVANCED_CONFIG, true);
        grant(&mut world, "vm-1", REMOVE_SNAPSHOT, false);
        // The datacenter grants it, but the VM's own answer wins.
        grant(&mut world, "datacenter-2", REMOVE_SNAPSHOT, true);
        // Reported where the fix is opted into, at its attribute.
        let finding = assert_violated(&world, "FB101", "reprotect.web01");
        assert_eq!(
            finding.observed.as_deref(),
            Some(
                "denied: VirtualMachine.State.RemoveSnapshot on web01 \
                 (remove_snapshots of reprotect.web01)"
            )
        );
        assert!(
            finding.message.ends_with(
                "lacks VirtualMachine.State.RemoveSnapshot on web01, which `remove_snapshots` needs"
            ),
            "{}",
            finding.message
        );
        assert!(
            finding
                .remediation
                .contains("set `remove_snapshots = false`"),
            "{}",
            finding.remediation
        );
        let span = &finding.span;
        let declared = world
            .config
            .reprotect(&crate::config::Address::new("reprotect", "web01"))
            .map(|r| r.declared.span_of("remove_snapshots").clone());
        assert_eq!(Some(span.clone()), declared);

        // Denied where it is inherited from, with a discovery privilege denied too:
        // one finding that names both.
        let mut world = world_with_fixes();
        grant(&mut world, "group-d1", ADVANCED_CONFIG, false);
        grant(&mut world, "group-d1", REMOVE_SNAPSHOT, true);
        grant(&mut world, "datastore-1", "Datastore.Browse", false);
        let finding = assert_violated(&world, "FB101", "vcenter.onprem");
        assert_eq!(
            finding.observed.as_deref(),
            Some(
                "denied: Datastore.Browse on vmfs-gold-01; for fixes, denied: \
                 VirtualMachine.Config.AdvancedConfig on mt-lnx-01 \
                 (ensure_disk_enable_uuid of master_target.mt_lnx)"
            )
        );
    }

    #[test]
    fn fb101_cannot_check_a_fix_privilege_nobody_reported() {
        let world = world_with_fixes();
        let reason = assert_unknown(&world, "FB101", "master_target.mt_lnx");
        assert!(
            reason.contains("VirtualMachine.Config.AdvancedConfig on mt-lnx-01 (ensure_disk_enable_uuid of master_target.mt_lnx)"),
            "{reason}"
        );
        let reason = assert_unknown(&world, "FB101", "reprotect.web01");
        assert!(
            reason.contains("VirtualMachine.State.RemoveSnapshot on web01"),
            "{reason}"
        );
        // Two datacenters that disagree do not say what the VM inherits.
        let mut world = world_with_fixes();
        grant(&mut world, "vm-1", REMOVE_SNAPSHOT, true);
        grant(&mut world, "datacenter-2", ADVANCED_CONFIG, true);
        grant(&mut world, "datacenter-3", ADVANCED_CONFIG, false);
        let reason = assert_unknown(&world, "FB101", "master_target.mt_lnx");
        assert!(reason.contains("on mt-lnx-01"), "{reason}");
    }

    #[test]
    fn fb124_holds_for_paid_and_evaluation_licences() {
        let mut world = TestWorld::healthy();
        assert_holds(&world, "FB124");
        world.host_mut().license_edition = Some("eval".to_owned());
        assert_holds(&world, "FB124");
        // vSphere 7 and 8 licences are per core; their edition keys say so.
        world.host_mut().license_edition =
            Some("esx.enterprisePlus.cpuPackageCoreLimited".to_owned());
        assert_holds(&world, "FB124");
        assert_eq!(
            classify_licence("esx.standard.cpuPackageCoreLimited"),
            Licence::Allows
        );
    }

    #[test]
    fn fb124_is_violated_by_the_free_hypervisor() {
        let mut world = TestWorld::healthy();
        world.host_mut().license_edition = Some("esx.hypervisor.cpuPackage".to_owned());
        assert_violated(&world, "FB124", "master_target.mt_win");
        assert_eq!(classify_licence("esx.vsphere.free"), Licence::Free);
    }

    #[test]
    fn fb124_cannot_be_checked_without_a_known_edition() {
        let mut world = TestWorld::healthy();
        world.host_mut().license_edition = None;
        assert_unknown(&world, "FB124", "master_target.mt_win");
        world.host_mut().license_edition = Some("esx.mystery".to_owned());
        assert!(assert_unknown(&world, "FB124", "master_target.mt_win").contains("esx.mystery"));
    }

    #[test]
    fn fb125_holds_when_the_vcenter_and_master_targets_are_known() {
        assert_holds(&TestWorld::healthy(), "FB125");
        assert_eq!(url_host("https://user@[::1]:8443/sdk"), "::1");
        assert_eq!(url_host("vcsa.local"), "vcsa.local");
    }

    #[test]
    fn fb125_is_violated_by_an_alternate_vcenter_or_an_unregistered_master_target() {
        let mut world = TestWorld::healthy();
        world.config.vcenters[0].url = Some("https://vcsa-dr.contoso.local/sdk".to_owned());
        let finding = assert_violated(&world, "FB125", "configuration_server.cs01");
        assert_eq!(
            finding.observed.as_deref(),
            Some("the configuration server knows vcsa.contoso.local")
        );
        let mut world = TestWorld::healthy();
        world
            .fabric_mut()
            .master_targets
            .retain(|mt| mt.name != "mt-lnx-01");
        assert_violated(&world, "FB125", "master_target.mt_lnx");
    }

    #[test]
    fn fb125_cannot_be_checked_without_the_vault() {
        let mut world = TestWorld::healthy();
        world.observed.vaults.clear();
        assert_eq!(
            assert_unknown(&world, "FB125", "configuration_server.cs01"),
            "vault.dr was not discovered"
        );
    }
}
