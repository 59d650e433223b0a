//! Resolution: the configuration joined to the observed state, link by link.
//!
//! Each `reprotect` names a protected item, a master target and a process server; each of
//! those hangs off a configuration server, which names a vault (and a fabric in it) and a
//! vCenter. Rules and the planner both need the same chain, followed the same way, and
//! both need to say *why* a link could not be followed ("vault.dr was not discovered",
//! "no protected item named web01-item in vault contoso-vault (did you mean web01?)").
//! So the chain is followed once, here, into plain data: every link is a [`Link`], which
//! is either the thing found or an [`Unresolved`] with its reason and whether the thing
//! is known to be absent or merely could not be looked for.
//!
//! Pure functions of [`Config`] and [`Observed`]; no I/O. Lookups go through indexes
//! built once per inventory, so resolving thousands of reprotects stays linear.

use foldhash::{HashMap, HashMapExt as _};
use std::fmt;

use crate::config::{
    self, Address, Config, ConfigurationServer, FailbackPolicy, Reference, Reprotect,
};
use crate::observe::vault::{self, Fabric, ProtectedItem, RetentionVolume};
use crate::observe::vcenter::{Datastore, Host, VirtualMachine};
use crate::observe::{Observed, VaultInventory, VcenterInventory};

mod lookup;

#[cfg(test)]
pub(crate) mod fixture;

pub use lookup::did_you_mean as suggestion;
use lookup::{Indexes, did_you_mean, find_unique};

/// One followed link: the thing found, or why it was not.
pub type Link<'a, T> = Result<&'a T, Unresolved>;

/// Why a link could not be followed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unresolved {
    pub kind: UnresolvedKind,
    /// One sentence for a user, e.g. `vault.dr was not discovered`.
    pub reason: String,
}

/// How sure we are that the thing is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnresolvedKind {
    /// The configuration does not say (an optional attribute was not set, or a
    /// reference names a block that is not declared).
    Undeclared,
    /// What it would be looked up in was not discovered, or an earlier link is
    /// missing: nothing can be said about it.
    Unknown,
    /// Discovery looked, and it is not there.
    Absent,
    /// More than one thing matches the name.
    Ambiguous,
}

impl Unresolved {
    fn new(kind: UnresolvedKind, reason: impl Into<String>) -> Unresolved {
        Unresolved {
            kind,
            reason: reason.into(),
        }
    }

    fn undeclared(reason: impl Into<String>) -> Unresolved {
        Unresolved::new(UnresolvedKind::Undeclared, reason)
    }

    fn unknown(reason: impl Into<String>) -> Unresolved {
        Unresolved::new(UnresolvedKind::Unknown, reason)
    }

    fn absent(reason: impl Into<String>) -> Unresolved {
        Unresolved::new(UnresolvedKind::Absent, reason)
    }

    /// The same reason, for a link further down the chain: whatever the upstream
    /// problem was, the downstream thing cannot be looked for.
    pub fn downstream(&self) -> Unresolved {
        Unresolved::unknown(self.reason.clone())
    }

    /// Discovery looked and the thing is not there.
    pub fn is_absent(&self) -> bool {
        self.kind == UnresolvedKind::Absent
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Unresolved {}

/// Follows a link from an upstream one: a missing upstream makes the result unknown.
fn then<'a, T: ?Sized, U: ?Sized>(
    upstream: &Link<'a, T>,
    next: impl FnOnce(&'a T) -> Link<'a, U>,
) -> Link<'a, U> {
    match upstream {
        Ok(found) => next(found),
        Err(missing) => Err(missing.downstream()),
    }
}

/// The whole configuration, resolved.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    pub configuration_servers: Vec<ResolvedConfigurationServer<'a>>,
    pub master_targets: Vec<ResolvedMasterTarget<'a>>,
    pub process_servers: Vec<ResolvedProcessServer<'a>>,
    pub reprotects: Vec<ResolvedReprotect<'a>>,
    pub recovery_plans: Vec<ResolvedRecoveryPlan<'a>>,
    reprotect_index: HashMap<&'a Address, usize>,
    master_target_index: HashMap<&'a Address, usize>,
}

impl<'a> Resolution<'a> {
    pub fn reprotect(&self, address: &Address) -> Option<&ResolvedReprotect<'a>> {
        self.reprotect_index
            .get(address)
            .and_then(|&index| self.reprotects.get(index))
    }

    pub fn master_target(&self, address: &Address) -> Option<&ResolvedMasterTarget<'a>> {
        self.master_target_index
            .get(address)
            .and_then(|&index| self.master_targets.get(index))
    }
}

/// A configuration server with its vault, fabric and vCenter.
#[derive(Debug, Clone)]
pub struct ResolvedConfigurationServer<'a> {
    pub config: &'a ConfigurationServer,
    pub vault_config: Link<'a, config::Vault>,
    /// The vault's inventory, keyed in [`Observed`] by the vault block's address.
    pub vault: Link<'a, VaultInventory>,
    /// The fabric named by `configuration_server.fabric`.
    pub fabric: Link<'a, Fabric>,
    pub vcenter_config: Link<'a, config::Vcenter>,
    pub vcenter: Link<'a, VcenterInventory>,
}

/// A master target: its record in the fabric, its VM in vCenter and that VM's host.
#[derive(Debug, Clone)]
pub struct ResolvedMasterTarget<'a> {
    pub config: &'a config::MasterTarget,
    pub configuration_server: Link<'a, ConfigurationServer>,
    pub vault: Link<'a, VaultInventory>,
    pub fabric: Link<'a, Fabric>,
    pub vcenter: Link<'a, VcenterInventory>,
    /// The fabric's master target named `server_name`.
    pub server: Link<'a, vault::MasterTarget>,
    /// The master target's VM, named `vm`.
    pub vm: Link<'a, VirtualMachine>,
    /// The ESXi host the master target VM runs on.
    pub host: Link<'a, Host>,
}

/// A process server and its record in the fabric.
#[derive(Debug, Clone)]
pub struct ResolvedProcessServer<'a> {
    pub config: &'a config::ProcessServer,
    pub configuration_server: Link<'a, ConfigurationServer>,
    pub fabric: Link<'a, Fabric>,
    /// The fabric's process server whose friendly name is `server_name`.
    pub server: Link<'a, vault::ProcessServer>,
}

/// One reprotect, every link of its chain followed.
///
/// The vault, fabric and vCenter are those of the master target's configuration server:
/// the master target is what receives the reverse replication.
#[derive(Debug, Clone)]
pub struct ResolvedReprotect<'a> {
    pub config: &'a Reprotect,
    /// The recovery plan block whose members include this reprotect, if any.
    pub recovery_plan: Option<&'a config::RecoveryPlan>,
    pub master_target: Link<'a, config::MasterTarget>,
    pub process_server: Link<'a, config::ProcessServer>,
    pub configuration_server: Link<'a, ConfigurationServer>,
    pub vault: Link<'a, VaultInventory>,
    pub fabric: Link<'a, Fabric>,
    pub vcenter: Link<'a, VcenterInventory>,
    /// The protected item, by name, else by friendly name (case-insensitive).
    pub protected_item: Link<'a, ProtectedItem>,
    pub fabric_master_target: Link<'a, vault::MasterTarget>,
    pub fabric_process_server: Link<'a, vault::ProcessServer>,
    /// The on-premises VM's name: `reprotect.vm`, else the item's `vm_name`, else its
    /// friendly name.
    pub vm_name: Link<'a, str>,
    /// The on-premises VM. [`UnresolvedKind::Absent`] means vCenter was discovered and
    /// the VM is not there (FB112: reprotect creates it).
    pub vm: Link<'a, VirtualMachine>,
    pub master_target_vm: Link<'a, VirtualMachine>,
    pub master_target_host: Link<'a, Host>,
    /// `reprotect.datastore`, else the recovery plan's `datastore`.
    pub datastore_name: Link<'a, str>,
    /// The datastore in the master target's vCenter.
    pub datastore: Link<'a, Datastore>,
    /// `reprotect.retention_volume`, else the master target's `retention_volume`.
    pub retention_volume_name: Link<'a, str>,
    /// The retention volume among the fabric master target's `retentionVolumes`.
    pub retention_volume: Link<'a, RetentionVolume>,
    /// The declared `failback_policy` block, [`UnresolvedKind::Undeclared`] when the
    /// reprotect names none.
    pub failback_policy: Link<'a, FailbackPolicy>,
    /// The vault's failback (InMage) policy: the declared one by name, else the only
    /// InMage policy of the vault.
    pub policy: Link<'a, vault::Policy>,
}

/// A recovery plan block with its members and its plan in the vault.
#[derive(Debug, Clone)]
pub struct ResolvedRecoveryPlan<'a> {
    pub config: &'a config::RecoveryPlan,
    /// The member reprotects, in declared order.
    pub members: Vec<Link<'a, Reprotect>>,
    /// The vault the plan lives in: that of its first member that resolves one.
    pub vault: Link<'a, VaultInventory>,
    /// The recovery plan in the vault, by `plan_name` (name or friendly name).
    pub observed: Link<'a, vault::RecoveryPlan>,
}

/// Resolves the whole configuration against what was observed.
pub fn resolve<'a>(config: &'a Config, observed: &'a Observed) -> Resolution<'a> {
    let indexes = Indexes::build(observed);

    let configuration_servers: Vec<_> = config
        .configuration_servers
        .iter()
        .map(|cs| resolve_configuration_server(config, observed, &indexes, cs))
        .collect();
    let cs_index: HashMap<&Address, usize> = configuration_servers
        .iter()
        .enumerate()
        .map(|(index, cs)| (&cs.config.address, index))
        .collect();
    let cs_of = |reference: &Reference| -> Result<&ResolvedConfigurationServer<'a>, Unresolved> {
        cs_index
            .get(&reference.target)
            .and_then(|&index| configuration_servers.get(index))
            .ok_or_else(|| not_declared(&reference.target))
    };

    let master_targets: Vec<_> = config
        .master_targets
        .iter()
        .map(|mt| resolve_master_target(&indexes, cs_of(&mt.configuration_server), mt))
        .collect();
    let master_target_index: HashMap<&Address, usize> = master_targets
        .iter()
        .enumerate()
        .map(|(index, mt)| (&mt.config.address, index))
        .collect();

    let process_servers: Vec<_> = config
        .process_servers
        .iter()
        .map(|ps| resolve_process_server(cs_of(&ps.configuration_server), ps))
        .collect();
    let process_server_index: HashMap<&Address, usize> = process_servers
        .iter()
        .enumerate()
        .map(|(index, ps)| (&ps.config.address, index))
        .collect();

    let mut plan_of: HashMap<&Address, &config::RecoveryPlan> = HashMap::new();
    for plan in &config.recovery_plans {
        for member in &plan.members {
            // The first plan wins; a reprotect in two plans is reported by a rule.
            plan_of.entry(&member.target).or_insert(plan);
        }
    }

    let reprotects: Vec<_> = config
        .reprotects
        .iter()
        .map(|reprotect| {
            let master_target = master_target_index
                .get(&reprotect.master_target.target)
                .and_then(|&index| master_targets.get(index))
                .ok_or_else(|| not_declared(&reprotect.master_target.target));
            let process_server = process_server_index
                .get(&reprotect.process_server.target)
                .and_then(|&index| process_servers.get(index))
                .ok_or_else(|| not_declared(&reprotect.process_server.target));
            resolve_reprotect(
                config,
                &indexes,
                reprotect,
                plan_of.get(&reprotect.address).copied(),
                master_target,
                process_server,
            )
        })
        .collect();
    let reprotect_index: HashMap<&Address, usize> = reprotects
        .iter()
        .enumerate()
        .map(|(index, r)| (&r.config.address, index))
        .collect();

    let recovery_plans = config
        .recovery_plans
        .iter()
        .map(|plan| {
            let members: Vec<Link<'a, Reprotect>> = plan
                .members
                .iter()
                .map(|member| {
                    reprotect_index
                        .get(&member.target)
                        .and_then(|&index| reprotects.get(index))
                        .map(|r| r.config)
                        .ok_or_else(|| not_declared(&member.target))
                })
                .collect();
            let member_vaults = plan.members.iter().filter_map(|member| {
                reprotect_index
                    .get(&member.target)
                    .and_then(|&index| reprotects.get(index))
                    .map(|r| r.vault.clone())
            });
            let vault = first_found(member_vaults).unwrap_or_else(|| {
                Err(Unresolved::undeclared(format!(
                    "{} has no members to find its vault by",
                    plan.address
                )))
            });
            let observed = then(&vault, |inventory| {
                indexes
                    .vault(inventory)
                    .recovery_plan(inventory, &plan.plan_name)
            });
            ResolvedRecoveryPlan {
                config: plan,
                members,
                vault,
                observed,
            }
        })
        .collect();

    Resolution {
        configuration_servers,
        master_targets,
        process_servers,
        reprotects,
        recovery_plans,
        reprotect_index,
        master_target_index,
    }
}

/// The first found link of several, else the first missing one.
fn first_found<'a, T>(links: impl Iterator<Item = Link<'a, T>>) -> Option<Link<'a, T>> {
    let mut first_missing = None;
    for link in links {
        match link {
            Ok(found) => return Some(Ok(found)),
            Err(missing) => {
                first_missing.get_or_insert(Err(missing));
            }
        }
    }
    first_missing
}

fn not_declared(address: &Address) -> Unresolved {
    Unresolved::undeclared(format!("{address} is not declared"))
}

fn resolve_configuration_server<'a>(
    config: &'a Config,
    observed: &'a Observed,
    indexes: &Indexes<'a>,
    cs: &'a ConfigurationServer,
) -> ResolvedConfigurationServer<'a> {
    let vault_config = config
        .vault(&cs.vault.target)
        .ok_or_else(|| not_declared(&cs.vault.target));
    let vault = then(&vault_config, |declared| {
        observed
            .vaults
            .get(&declared.address.to_string())
            .ok_or_else(|| Unresolved::unknown(format!("{} was not discovered", declared.address)))
    });
    let fabric = then(&vault, |inventory| {
        indexes.vault(inventory).fabric(inventory, &cs.fabric)
    });
    let vcenter_config = config
        .vcenter(&cs.vcenter.target)
        .ok_or_else(|| not_declared(&cs.vcenter.target));
    let vcenter = then(&vcenter_config, |declared| {
        observed
            .vcenters
            .get(&declared.address.to_string())
            .ok_or_else(|| Unresolved::unknown(format!("{} was not discovered", declared.address)))
    });
    ResolvedConfigurationServer {
        config: cs,
        vault_config,
        vault,
        fabric,
        vcenter_config,
        vcenter,
    }
}

fn resolve_master_target<'a>(
    indexes: &Indexes<'a>,
    cs: Result<&ResolvedConfigurationServer<'a>, Unresolved>,
    mt: &'a config::MasterTarget,
) -> ResolvedMasterTarget<'a> {
    let (configuration_server, vault, fabric, vcenter) = chain_of(cs);
    let server = then(&fabric, |fabric| {
        find_unique(
            fabric.master_targets.iter(),
            |candidate| candidate.name.eq_ignore_ascii_case(&mt.server_name),
            || {
                format!(
                    "no master target named {} in configuration server {}{}",
                    mt.server_name,
                    fabric_label(fabric),
                    did_you_mean(
                        &mt.server_name,
                        fabric.master_targets.iter().map(|m| m.name.as_str())
                    )
                )
            },
            || {
                format!(
                    "several master targets named {} in configuration server {}",
                    mt.server_name,
                    fabric_label(fabric)
                )
            },
        )
    });
    let vm = then(&vcenter, |inventory| {
        indexes.vcenter(inventory).vm(inventory, &mt.vm)
    });
    let host = match (&vcenter, &vm) {
        (Ok(inventory), Ok(vm)) => host_of(inventory, vm),
        (Err(missing), _) | (_, Err(missing)) => Err(missing.downstream()),
    };
    ResolvedMasterTarget {
        config: mt,
        configuration_server,
        vault,
        fabric,
        vcenter,
        server,
        vm,
        host,
    }
}

fn host_of<'a>(inventory: &'a VcenterInventory, vm: &'a VirtualMachine) -> Link<'a, Host> {
    let Some(host_id) = &vm.host else {
        return Err(Unresolved::unknown(format!(
            "vCenter reports no host for VM {}",
            vm.name
        )));
    };
    inventory.host(host_id).ok_or_else(|| {
        Unresolved::unknown(format!(
            "VM {} runs on host {host_id}, which was not discovered",
            vm.name
        ))
    })
}

type Chain<'a> = (
    Link<'a, ConfigurationServer>,
    Link<'a, VaultInventory>,
    Link<'a, Fabric>,
    Link<'a, VcenterInventory>,
);

/// The configuration server's links, or the same reason for all when it is missing.
fn chain_of<'a>(cs: Result<&ResolvedConfigurationServer<'a>, Unresolved>) -> Chain<'a> {
    match cs {
        Ok(cs) => (
            Ok(cs.config),
            cs.vault.clone(),
            cs.fabric.clone(),
            cs.vcenter.clone(),
        ),
        Err(missing) => (
            Err(missing.clone()),
            Err(missing.downstream()),
            Err(missing.downstream()),
            Err(missing.downstream()),
        ),
    }
}

fn resolve_process_server<'a>(
    cs: Result<&ResolvedConfigurationServer<'a>, Unresolved>,
    ps: &'a config::ProcessServer,
) -> ResolvedProcessServer<'a> {
    let (configuration_server, _vault, fabric, _vcenter) = chain_of(cs);
    let server = then(&fabric, |fabric| {
        find_unique(
            fabric.process_servers.iter(),
            |candidate| {
                candidate
                    .friendly_name
                    .eq_ignore_ascii_case(&ps.server_name)
            },
            || {
                format!(
                    "no process server named {} in configuration server {}{}",
                    ps.server_name,
                    fabric_label(fabric),
                    did_you_mean(
                        &ps.server_name,
                        fabric
                            .process_servers
                            .iter()
                            .map(|p| p.friendly_name.as_str())
                    )
                )
            },
            || {
                format!(
                    "several process servers named {} in configuration server {}",
                    ps.server_name,
                    fabric_label(fabric)
                )
            },
        )
    });
    ResolvedProcessServer {
        config: ps,
        configuration_server,
        fabric,
        server,
    }
}

fn resolve_reprotect<'a>(
    config: &'a Config,
    indexes: &Indexes<'a>,
    reprotect: &'a Reprotect,
    recovery_plan: Option<&'a config::RecoveryPlan>,
    master_target: Result<&ResolvedMasterTarget<'a>, Unresolved>,
    process_server: Result<&ResolvedProcessServer<'a>, Unresolved>,
) -> ResolvedReprotect<'a> {
    let (
        mt_config,
        configuration_server,
        vault,
        fabric,
        vcenter,
        fabric_master_target,
        master_target_vm,
        master_target_host,
    ) = match &master_target {
        Ok(mt) => (
            Ok(mt.config),
            mt.configuration_server.clone(),
            mt.vault.clone(),
            mt.fabric.clone(),
            mt.vcenter.clone(),
            mt.server.clone(),
            mt.vm.clone(),
            mt.host.clone(),
        ),
        Err(missing) => (
            Err(missing.clone()),
            Err(missing.downstream()),
            Err(missing.downstream()),
            Err(missing.downstream()),
            Err(missing.downstream()),
            Err(missing.downstream()),
            Err(missing.downstream()),
            Err(missing.downstream()),
        ),
    };
    let (ps_config, fabric_process_server) = match &process_server {
        Ok(ps) => (Ok(ps.config), ps.server.clone()),
        Err(missing) => (Err(missing.clone()), Err(missing.downstream())),
    };

    let protected_item = then(&vault, |inventory| {
        indexes
            .vault(inventory)
            .protected_item(inventory, &reprotect.protected_item)
    });
    let vm_name: Link<'a, str> = match (&reprotect.vm, &protected_item) {
        (Some(name), _) => Ok(name.as_str()),
        (None, Ok(item)) => Ok(item.vm_name.as_deref().unwrap_or(&item.friendly_name)),
        (None, Err(missing)) => Err(missing.downstream()),
    };
    let vm = match (&vcenter, &vm_name) {
        (Ok(inventory), Ok(name)) => indexes.vcenter(inventory).vm(inventory, name),
        (Err(missing), _) | (_, Err(missing)) => Err(missing.downstream()),
    };

    let datastore_name: Link<'a, str> = reprotect
        .datastore
        .as_deref()
        .or_else(|| recovery_plan.and_then(|plan| plan.datastore.as_deref()))
        .ok_or_else(|| Unresolved::undeclared(format!("{} names no datastore", reprotect.address)));
    let datastore = match (&vcenter, &datastore_name) {
        (Ok(inventory), Ok(name)) => indexes.vcenter(inventory).datastore(inventory, name),
        (Err(missing), _) | (_, Err(missing)) => Err(missing.downstream()),
    };

    let retention_volume_name: Link<'a, str> = match (&reprotect.retention_volume, &mt_config) {
        (Some(volume), _) => Ok(volume.as_str()),
        (None, Ok(mt)) => Ok(mt.retention_volume.as_str()),
        (None, Err(missing)) => Err(missing.downstream()),
    };
    let retention_volume = match (&fabric_master_target, &retention_volume_name) {
        (Ok(server), Ok(name)) => find_retention_volume(server, name),
        (Err(missing), _) | (_, Err(missing)) => Err(missing.downstream()),
    };

    let failback_policy: Link<'a, FailbackPolicy> = match &reprotect.policy {
        Some(reference) => config
            .failback_policy(&reference.target)
            .ok_or_else(|| not_declared(&reference.target)),
        None => Err(Unresolved::undeclared(format!(
            "{} names no failback_policy",
            reprotect.address
        ))),
    };
    let policy = then(&vault, |inventory| match &failback_policy {
        Ok(declared) => find_policy(inventory, &declared.policy_name),
        Err(_) => only_failback_policy(inventory),
    });

    ResolvedReprotect {
        config: reprotect,
        recovery_plan,
        master_target: mt_config,
        process_server: ps_config,
        configuration_server,
        vault,
        fabric,
        vcenter,
        protected_item,
        fabric_master_target,
        fabric_process_server,
        vm_name,
        vm,
        master_target_vm,
        master_target_host,
        datastore_name,
        datastore,
        retention_volume_name,
        retention_volume,
        failback_policy,
        policy,
    }
}

/// Retention volumes are compared without case and without a trailing separator:
/// `R:`, `r:\` and `R:/` are one volume; `/mnt/retention/` is `/mnt/retention`.
pub fn normalize_volume(name: &str) -> String {
    let trimmed = name.trim();
    let without_separator = trimmed.trim_end_matches(['\\', '/']);
    let kept = if without_separator.is_empty() {
        trimmed
    } else {
        without_separator
    };
    kept.to_ascii_lowercase()
}

fn find_retention_volume<'a>(
    server: &'a vault::MasterTarget,
    name: &str,
) -> Link<'a, RetentionVolume> {
    let wanted = normalize_volume(name);
    server
        .retention_volumes
        .iter()
        .find(|volume| normalize_volume(&volume.volume_name) == wanted)
        .ok_or_else(|| {
            let known: Vec<&str> = server
                .retention_volumes
                .iter()
                .map(|volume| volume.volume_name.as_str())
                .collect();
            Unresolved::absent(if known.is_empty() {
                format!("master target {} reports no retention volumes", server.name)
            } else {
                format!(
                    "master target {} has no retention volume {name} (it has {})",
                    server.name,
                    known.join(", ")
                )
            })
        })
}

fn is_failback_policy(policy: &vault::Policy) -> bool {
    policy.instance_type.eq_ignore_ascii_case("InMage")
}

fn find_policy<'a>(inventory: &'a VaultInventory, name: &str) -> Link<'a, vault::Policy> {
    find_unique(
        inventory.policies.iter(),
        |policy| policy.name.eq_ignore_ascii_case(name),
        String::new,
        || format!("several policies named {name} in vault {}", inventory.name),
    )
    .or_else(|_| {
        find_unique(
            inventory.policies.iter(),
            |policy| policy.friendly_name.eq_ignore_ascii_case(name),
            || {
                format!(
                    "no policy named {name} in vault {}{}",
                    inventory.name,
                    did_you_mean(
                        name,
                        inventory.policies.iter().map(|p| p.friendly_name.as_str())
                    )
                )
            },
            || format!("several policies named {name} in vault {}", inventory.name),
        )
    })
}

fn only_failback_policy(inventory: &VaultInventory) -> Link<'_, vault::Policy> {
    let mut failback = inventory.policies.iter().filter(|p| is_failback_policy(p));
    match (failback.next(), failback.next()) {
        (Some(policy), None) => Ok(policy),
        (None, _) => Err(Unresolved::absent(format!(
            "vault {} has no failback (InMage) policy",
            inventory.name
        ))),
        (Some(first), Some(second)) => Err(Unresolved::new(
            UnresolvedKind::Ambiguous,
            format!(
                "vault {} has several failback (InMage) policies ({}, {}, …): name one with `policy`",
                inventory.name, first.name, second.name
            ),
        )),
    }
}

fn fabric_label(fabric: &Fabric) -> String {
    if fabric.friendly_name.is_empty() || fabric.friendly_name == fabric.name {
        fabric.name.clone()
    } else {
        format!("{} ({})", fabric.name, fabric.friendly_name)
    }
}

#[cfg(test)]
mod tests;
