//! Fixes: what the fixable rules (FB102, FB107, FB115) ask the plan to do when the
//! configuration opts in (`remove_snapshots`, `ensure_disk_enable_uuid`), instead of
//! reporting an error. The planner turns each into an action ordered before the
//! reprotects that need it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::catalogue::{FB102, FB107, FB115};
use super::master_target::disk_enable_uuid;
use super::protected_item::{ReprotectReadiness, reprotect_readiness};
use super::wording::counted;
use super::{Context, same};
use crate::config::{Address, Config};
use crate::observe::Observed;
use crate::provider::ProviderAction;

/// A change a rule asks for because the configuration opted in to fixing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// The object whose rule asked for it: `master_target.mt_linux` (needed by every
    /// reprotect through that master target) or `reprotect.web01` (needed by that
    /// reprotect).
    pub address: Address,
    /// `FB107`.
    pub rule: String,
    /// The address of the `vcenter` block whose provider makes the change.
    pub provider: String,
    pub action: ProviderAction,
    /// Why, in one sentence.
    pub reason: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// Every fix the configuration opted in to that the observed state needs.
pub fn fixes(config: &Config, observed: &Observed) -> Vec<Fix> {
    fixes_in(&Context::new(config, observed))
}

pub(super) fn fixes_in(context: &Context<'_>) -> Vec<Fix> {
    let mut fixes = Vec::new();
    for mt in &context.resolution.master_targets {
        let (Ok(vm), Ok(cs)) = (&mt.vm, &mt.configuration_server) else {
            continue;
        };
        let provider = cs.vcenter.target.to_string();
        if mt.config.ensure_disk_enable_uuid {
            let value = disk_enable_uuid(vm);
            if !value.is_some_and(|value| same(value, "TRUE")) {
                fixes.push(Fix {
                    address: mt.config.address.clone(),
                    rule: FB107.id.to_owned(),
                    provider: provider.clone(),
                    action: ProviderAction::VmSetExtraConfig {
                        vm: vm.name.clone(),
                        key: "disk.EnableUUID".to_owned(),
                        value: "TRUE".to_owned(),
                    },
                    reason: format!(
                        "master target VM {} does not have disk.EnableUUID = TRUE",
                        vm.name
                    ),
                    before: json!({ "disk.EnableUUID": value }),
                    after: json!({ "disk.EnableUUID": "TRUE" }),
                });
            }
        }
        if mt.config.remove_snapshots && !vm.snapshots.is_empty() {
            fixes.push(remove_snapshots(
                &mt.config.address,
                FB115.id,
                provider,
                &vm.name,
                &vm.snapshots,
                "master target VM",
            ));
        }
    }
    for r in &context.resolution.reprotects {
        if !r.config.remove_snapshots {
            continue;
        }
        let (Ok(vm), Ok(cs)) = (&r.vm, &r.configuration_server) else {
            continue;
        };
        // Snapshots are removed only for a reprotect that will run: an item already
        // reprotected needs nothing, and the removal cannot be undone.
        let will_reprotect = r
            .protected_item
            .as_ref()
            .is_ok_and(|item| reprotect_readiness(item) == ReprotectReadiness::Ready);
        if vm.snapshots.is_empty() || !will_reprotect {
            continue;
        }
        fixes.push(remove_snapshots(
            &r.config.address,
            FB102.id,
            cs.vcenter.target.to_string(),
            &vm.name,
            &vm.snapshots,
            "VM",
        ));
    }
    fixes
}

fn remove_snapshots(
    address: &Address,
    rule: &str,
    provider: String,
    vm: &str,
    snapshots: &[String],
    what: &str,
) -> Fix {
    Fix {
        address: address.clone(),
        rule: rule.to_owned(),
        provider,
        action: ProviderAction::VmRemoveSnapshots { vm: vm.to_owned() },
        reason: format!(
            "{what} {vm} has {}; reprotect fails on a VM with snapshots",
            counted(snapshots.len(), "snapshot")
        ),
        before: json!({ "snapshots": snapshots }),
        after: json!({ "snapshots": [] }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn a_healthy_world_needs_no_fixes() {
        let world = TestWorld::healthy();
        assert_eq!(fixes(&world.config, &world.observed), Vec::new());
    }

    #[test]
    fn opted_in_fixes_are_planned_instead_of_errors() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-lnx-01").extra_config.clear();
        world.master_target_mut("mt_lnx").ensure_disk_enable_uuid = true;
        world.vm_mut("mt-win-01").snapshots = vec!["pre".to_owned()];
        world.master_target_mut("mt_win").remove_snapshots = true;
        world.vm_mut("web01").snapshots = vec!["before-patch".to_owned()];
        world.reprotect_mut("web01").remove_snapshots = true;
        let fixes = fixes(&world.config, &world.observed);
        let summary: Vec<(String, &str, &ProviderAction)> = fixes
            .iter()
            .map(|fix| (fix.address.to_string(), fix.rule.as_str(), &fix.action))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "master_target.mt_win".to_owned(),
                    "FB115",
                    &ProviderAction::VmRemoveSnapshots {
                        vm: "mt-win-01".to_owned()
                    }
                ),
                (
                    "master_target.mt_lnx".to_owned(),
                    "FB107",
                    &ProviderAction::VmSetExtraConfig {
                        vm: "mt-lnx-01".to_owned(),
                        key: "disk.EnableUUID".to_owned(),
                        value: "TRUE".to_owned(),
                    }
                ),
                (
                    "reprotect.web01".to_owned(),
                    "FB102",
                    &ProviderAction::VmRemoveSnapshots {
                        vm: "web01".to_owned()
                    }
                ),
            ]
        );
        assert!(fixes.iter().all(|fix| fix.provider == "vcenter.onprem"));
        assert_eq!(fixes[1].before, json!({ "disk.EnableUUID": null }));
        for rule in ["FB102", "FB107", "FB115"] {
            assert_holds(&world, rule);
        }
    }

    #[test]
    fn snapshots_of_an_already_reprotected_vm_are_left_alone() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").snapshots = vec!["before-patch".to_owned()];
        world.reprotect_mut("web01").remove_snapshots = true;
        world.item_mut("web01-item").protection_state = "Protected".to_owned();
        assert_eq!(fixes(&world.config, &world.observed), Vec::new());
    }
}
