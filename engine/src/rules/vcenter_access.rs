//! Rules about what the configuration server and the discovery account can see: the
//! vCenter account's privileges (FB101), the master target host's licence (FB124) and
//! the configuration server's discovery of the vCenter and the master target (FB125).

use std::collections::BTreeSet;

use super::catalogue::{FB101, FB124, FB125};
use super::{Context, Finding, Subject, require, same};

/// Privileges discovery needs on every datastore to offer it for reprotect.
pub const DATASTORE_PRIVILEGES: [&str; 2] = ["System.Read", "Datastore.Browse"];

/// FB101: the vCenter account must see datastores and hold the privileges to browse
/// them; a read-only discovery user lets failover work but reprotect finds no
/// datastores.
pub(super) fn fb101_discovery_privileges(context: &Context<'_>, findings: &mut Vec<Finding>) {
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
                    "{user} cannot see {} datastore(s) that VMs and hosts use; reprotect \
                     finds no datastores with a read-only discovery account",
                    hidden.len()
                ),
                Some(format!(
                    "datastores referenced but not visible: {}",
                    hidden.into_iter().collect::<Vec<_>>().join(", ")
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
                Some(format!("denied: {}", denied.join(", "))),
                "grant the account System.Read and Datastore.Browse on the datastores \
                 (the ASR discovery role), propagated from the datacenter",
            ));
        } else if !unqueried.is_empty() {
            findings.push(subject.unknown(format!(
                "the privileges of {user} were not reported for {}",
                unqueried.join(", ")
            )));
        }
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

    #[test]
    fn fb124_holds_for_paid_and_evaluation_licences() {
        let mut world = TestWorld::healthy();
        assert_holds(&world, "FB124");
        world.host_mut().license_edition = Some("eval".to_owned());
        assert_holds(&world, "FB124");
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
