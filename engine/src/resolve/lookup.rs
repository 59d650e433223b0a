//! Name lookups for resolution: case-insensitive indexes over each observed inventory,
//! built once so that resolving thousands of reprotects stays linear, and the
//! "did you mean" suggestions that go into the reasons of missing links.

use foldhash::{HashMap, HashSet};

use super::{Link, Unresolved, UnresolvedKind};
use crate::observe::vault::{self, Fabric, ProtectedItem};
use crate::observe::vcenter::{Datastore, VirtualMachine};
use crate::observe::{Observed, VaultInventory, VcenterInventory};

/// The one candidate matching, or why there is none or more than one. Matching is
/// linear; hot lookups (items, VMs, datastores) go through [`Indexes`] instead.
pub(super) fn find_unique<'a, T>(
    candidates: impl Iterator<Item = &'a T>,
    matches: impl Fn(&T) -> bool,
    none: impl FnOnce() -> String,
    several: impl FnOnce() -> String,
) -> Link<'a, T> {
    let mut found = candidates.filter(|candidate| matches(candidate));
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(Unresolved::absent(none())),
        (Some(_), Some(_)) => Err(Unresolved::new(UnresolvedKind::Ambiguous, several())),
    }
}

/// ` (did you mean X?)` when a known name is close to the wanted one, else nothing.
pub fn did_you_mean<'n>(wanted: &str, known: impl Iterator<Item = &'n str>) -> String {
    let wanted_lower = wanted.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in known {
        let score = strsim::jaro_winkler(&wanted_lower, &candidate.to_lowercase());
        if score >= 0.8 && best.is_none_or(|(best_score, _)| score > best_score) {
            best = Some((score, candidate));
        }
    }
    match best {
        Some((_, candidate)) => format!(" (did you mean {candidate}?)"),
        None => String::new(),
    }
}

/// Case-insensitive name indexes over every observed inventory, built once.
pub(super) struct Indexes<'a> {
    vaults: HashMap<*const VaultInventory, VaultIndex<'a>>,
    vcenters: HashMap<*const VcenterInventory, VcenterIndex<'a>>,
    empty_vault: VaultIndex<'a>,
    empty_vcenter: VcenterIndex<'a>,
}

#[derive(Default)]
pub(super) struct VaultIndex<'a> {
    items_by_name: HashMap<String, Vec<&'a ProtectedItem>>,
    items_by_friendly_name: HashMap<String, Vec<&'a ProtectedItem>>,
}

#[derive(Default)]
pub(super) struct VcenterIndex<'a> {
    /// The vcenter block's address the inventory is keyed by, for messages.
    label: &'a str,
    vms_by_name: HashMap<&'a str, Vec<&'a VirtualMachine>>,
    vms_by_lower_name: HashMap<String, Vec<&'a VirtualMachine>>,
    datastores_by_name: HashMap<&'a str, Vec<&'a Datastore>>,
    /// Hosts or VMs refer to datastores that discovery did not return.
    hides_datastores: bool,
}

fn push<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, Vec<V>>, key: K, value: V) {
    map.entry(key).or_default().push(value);
}

impl<'a> Indexes<'a> {
    pub(super) fn build(observed: &'a Observed) -> Indexes<'a> {
        let vaults = observed
            .vaults
            .values()
            .map(|inventory| {
                let mut index = VaultIndex::default();
                for item in &inventory.protected_items {
                    push(&mut index.items_by_name, item.name.to_lowercase(), item);
                    push(
                        &mut index.items_by_friendly_name,
                        item.friendly_name.to_lowercase(),
                        item,
                    );
                }
                (inventory as *const VaultInventory, index)
            })
            .collect();
        let vcenters = observed
            .vcenters
            .iter()
            .map(|(address, inventory)| {
                let mut index = VcenterIndex {
                    label: address.as_str(),
                    ..VcenterIndex::default()
                };
                for vm in &inventory.vms {
                    push(&mut index.vms_by_name, vm.name.as_str(), vm);
                    push(&mut index.vms_by_lower_name, vm.name.to_lowercase(), vm);
                }
                for datastore in &inventory.datastores {
                    push(
                        &mut index.datastores_by_name,
                        datastore.name.as_str(),
                        datastore,
                    );
                }
                index.hides_datastores = hides_datastores(inventory);
                (inventory as *const VcenterInventory, index)
            })
            .collect();
        Indexes {
            vaults,
            vcenters,
            empty_vault: VaultIndex::default(),
            empty_vcenter: VcenterIndex::default(),
        }
    }

    /// The index of an inventory of the same `Observed`; every inventory handed out by
    /// resolution comes from it, so the fallback is never used in practice.
    pub(super) fn vault(&self, inventory: &VaultInventory) -> &VaultIndex<'a> {
        self.vaults
            .get(&(inventory as *const VaultInventory))
            .unwrap_or(&self.empty_vault)
    }

    pub(super) fn vcenter(&self, inventory: &VcenterInventory) -> &VcenterIndex<'a> {
        self.vcenters
            .get(&(inventory as *const VcenterInventory))
            .unwrap_or(&self.empty_vcenter)
    }
}

impl<'a> VaultIndex<'a> {
    pub(super) fn protected_item(
        &self,
        inventory: &'a VaultInventory,
        name: &str,
    ) -> Link<'a, ProtectedItem> {
        let key = name.to_lowercase();
        let several = |kind: &str| {
            Unresolved::new(
                UnresolvedKind::Ambiguous,
                format!(
                    "several protected items with the {kind} {name} in vault {}: use the item's name",
                    inventory.name
                ),
            )
        };
        for (map, kind) in [
            (&self.items_by_name, "name"),
            (&self.items_by_friendly_name, "friendly name"),
        ] {
            match map.get(&key).map(Vec::as_slice) {
                Some([one]) => return Ok(one),
                Some([_, _, ..]) => return Err(several(kind)),
                _ => {}
            }
        }
        Err(Unresolved::absent(format!(
            "no protected item named {name} in vault {}{}",
            inventory.name,
            did_you_mean(
                name,
                inventory
                    .protected_items
                    .iter()
                    .flat_map(|item| [item.name.as_str(), item.friendly_name.as_str()])
            )
        )))
    }

    pub(super) fn fabric(&self, inventory: &'a VaultInventory, name: &str) -> Link<'a, Fabric> {
        find_unique(
            inventory.fabrics.iter(),
            |fabric| fabric.name.eq_ignore_ascii_case(name),
            String::new,
            || format!("several fabrics named {name} in vault {}", inventory.name),
        )
        .or_else(|_| {
            find_unique(
                inventory.fabrics.iter(),
                |fabric| fabric.friendly_name.eq_ignore_ascii_case(name),
                || {
                    format!(
                        "no configuration server (fabric) named {name} in vault {}{}",
                        inventory.name,
                        did_you_mean(name, inventory.fabrics.iter().map(|f| f.name.as_str()))
                    )
                },
                || format!("several fabrics named {name} in vault {}", inventory.name),
            )
        })
    }

    pub(super) fn recovery_plan(
        &self,
        inventory: &'a VaultInventory,
        name: &str,
    ) -> Link<'a, vault::RecoveryPlan> {
        find_unique(
            inventory.recovery_plans.iter(),
            |plan| {
                plan.name.eq_ignore_ascii_case(name)
                    || plan.friendly_name.eq_ignore_ascii_case(name)
            },
            || {
                format!(
                    "no recovery plan named {name} in vault {}{}",
                    inventory.name,
                    did_you_mean(
                        name,
                        inventory.recovery_plans.iter().map(|p| p.name.as_str())
                    )
                )
            },
            || {
                format!(
                    "several recovery plans named {name} in vault {}",
                    inventory.name
                )
            },
        )
    }
}

impl<'a> VcenterIndex<'a> {
    /// A VM by its exact name, else by its name without case when that is unique.
    pub(super) fn vm(
        &self,
        inventory: &'a VcenterInventory,
        name: &str,
    ) -> Link<'a, VirtualMachine> {
        let several = || {
            Unresolved::new(
                UnresolvedKind::Ambiguous,
                format!("several VMs named {name} in vCenter {}", self.label),
            )
        };
        match self.vms_by_name.get(name).map(Vec::as_slice) {
            Some([one]) => return Ok(one),
            Some([_, _, ..]) => return Err(several()),
            _ => {}
        }
        match self
            .vms_by_lower_name
            .get(&name.to_lowercase())
            .map(Vec::as_slice)
        {
            Some([one]) => Ok(one),
            Some([_, _, ..]) => Err(several()),
            _ => Err(Unresolved::absent(format!(
                "no VM named {name} in vCenter {}{}",
                self.label,
                did_you_mean(name, inventory.vms.iter().map(|vm| vm.name.as_str()))
            ))),
        }
    }

    pub(super) fn datastore(
        &self,
        inventory: &'a VcenterInventory,
        name: &str,
    ) -> Link<'a, Datastore> {
        match self.datastores_by_name.get(name).map(Vec::as_slice) {
            Some([one]) => Ok(one),
            Some([_, _, ..]) => Err(Unresolved::new(
                UnresolvedKind::Ambiguous,
                format!("several datastores named {name} in vCenter {}", self.label),
            )),
            // A datastore that VMs or hosts use but discovery did not return was hidden
            // from the discovery user (FB101): its absence proves nothing.
            _ if self.hides_datastores => Err(Unresolved::new(
                UnresolvedKind::Unknown,
                format!(
                    "vCenter {} did not show every datastore to the discovery user, so \
                     datastore {name} may exist unseen (FB101)",
                    self.label
                ),
            )),
            _ => Err(Unresolved::absent(format!(
                "no datastore named {name} in vCenter {}{}",
                self.label,
                did_you_mean(name, inventory.datastores.iter().map(|ds| ds.name.as_str()))
            ))),
        }
    }
}

/// Whether hosts or VMs refer to datastores that discovery did not return.
fn hides_datastores(inventory: &VcenterInventory) -> bool {
    let seen: HashSet<&str> = inventory
        .datastores
        .iter()
        .map(|ds| ds.id.as_str())
        .collect();
    let referenced = inventory
        .hosts
        .iter()
        .flat_map(|host| host.datastores.iter())
        .chain(inventory.vms.iter().flat_map(|vm| vm.datastores.iter()));
    referenced.map(String::as_str).any(|id| !seen.contains(id))
}
