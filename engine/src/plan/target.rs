//! `--target`: a plan narrowed to some reprotects and what they need, for failing
//! back in waves (tonight the ERP recovery plan, tomorrow the web tier) without
//! editing the configuration. As with Terraform's `-target`, it is for exceptions: the
//! plan says that targeting was in effect.
//!
//! A target names reprotects: `reprotect.web01`, `reprotect.app` (every instance of a
//! `for_each`), `reprotect.app["db01"]`, `recovery_plan.erp` (its members) or
//! `master_target.mt_linux` (the reprotects through it). A member of a recovery plan
//! brings the whole plan: a replication group is reprotected only as a whole (FB120).
//! The narrowed plan keeps the selected reprotects' actions with everything they
//! depend on (fixes, waits for the agent), and the findings about them and the blocks
//! they go through; findings about anything else do not block it.

use std::collections::{BTreeSet, HashSet};

use crate::config::{Address, Config, schema};

use super::Plan;

/// Why a target cannot be used; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("`{0}` is not an address: {1}")]
    NotAnAddress(String, String),
    #[error("`{0}` cannot be targeted: targets are reprotects, recovery plans or master targets")]
    WrongKind(String),
    #[error("no {target} in the configuration{}", did_you_mean(.closest))]
    NotDeclared {
        target: String,
        closest: Option<String>,
    },
    #[error("{0} selects no reprotect")]
    SelectsNothing(String),
}

/// What `--target` selected: the targets as given, and the reprotects they select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Sorted, without repeats, as the plan records them.
    pub targets: Vec<String>,
    /// Recovery plans completed.
    pub reprotects: BTreeSet<Address>,
}

/// The reprotects the targets select, recovery plans completed.
pub fn select(config: &Config, targets: &[String]) -> Result<Selection, TargetError> {
    let mut selected = BTreeSet::new();
    for text in targets {
        let target = Address::try_from(text.clone())
            .map_err(|reason| TargetError::NotAnAddress(text.clone(), reason))?;
        let (declared, matches): (bool, Vec<Address>) = match target.kind.as_str() {
            "reprotect" => {
                let matches: Vec<Address> = config
                    .reprotects
                    .iter()
                    .map(|r| &r.address)
                    .filter(|address| {
                        address.name == target.name
                            && (target.key.is_none() || address.key == target.key)
                    })
                    .cloned()
                    .collect();
                (!matches.is_empty(), matches)
            }
            "recovery_plan" => match config.recovery_plan(&target) {
                Some(plan) => (
                    true,
                    plan.members.iter().map(|m| m.target.clone()).collect(),
                ),
                None => (false, Vec::new()),
            },
            "master_target" => (
                config.master_target(&target).is_some(),
                config
                    .reprotects
                    .iter()
                    .filter(|r| r.master_target.target == target)
                    .map(|r| r.address.clone())
                    .collect(),
            ),
            _ => return Err(TargetError::WrongKind(text.clone())),
        };
        if !declared {
            return Err(TargetError::NotDeclared {
                target: text.clone(),
                closest: closest(config, text),
            });
        }
        if matches.is_empty() {
            return Err(TargetError::SelectsNothing(text.clone()));
        }
        selected.extend(matches);
    }
    // A replication group is reprotected only as a whole.
    for plan in &config.recovery_plans {
        if plan.members.iter().any(|m| selected.contains(&m.target)) {
            selected.extend(plan.members.iter().map(|m| m.target.clone()));
        }
    }
    let mut targets = targets.to_vec();
    targets.sort();
    targets.dedup();
    Ok(Selection {
        targets,
        reprotects: selected,
    })
}

fn did_you_mean(closest: &Option<String>) -> String {
    closest
        .as_ref()
        .map(|closest| format!("; did you mean `{closest}`?"))
        .unwrap_or_default()
}

/// The declared address most like `text`, for a "did you mean".
fn closest(config: &Config, text: &str) -> Option<String> {
    let declared: Vec<String> = config.block_addresses().map(ToString::to_string).collect();
    schema::did_you_mean(text, declared.iter().map(String::as_str)).map(str::to_owned)
}

/// `plan` narrowed to what `selection` (from [`select`]) selected and what that
/// needs, with the targets recorded in it.
pub fn narrow(mut plan: Plan, config: &Config, selection: &Selection) -> Plan {
    let selected = &selection.reprotects;
    // The selected reprotects' actions and, transitively, what they depend on.
    let mut kept: HashSet<String> = plan
        .actions
        .iter()
        .filter(|action| selected.contains(&action.address))
        .map(|action| action.id.clone())
        .collect();
    // Actions are in execution order, dependencies first: one pass from the end
    // reaches every dependency of a kept action.
    for action in plan.actions.iter().rev() {
        if kept.contains(&action.id) {
            kept.extend(action.depends_on.iter().cloned());
        }
    }
    plan.actions.retain(|action| kept.contains(&action.id));
    plan.units
        .retain(|unit| unit.members.iter().any(|member| selected.contains(member)));
    let in_scope = config.blocks_used_by(|address| selected.contains(address));
    plan.findings.retain(|finding| {
        finding.address.kind == "failback" || in_scope.contains(&finding.address)
    });
    plan.drift.retain(|drift| selected.contains(&drift.address));
    plan.unchanged.retain(|address| selected.contains(address));
    plan.not_planned
        .retain(|not_planned| selected.contains(&not_planned.address));
    plan.targets = selection.targets.clone();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::worlds;

    fn narrowed(world: &worlds::World, targets: &[&str]) -> Plan {
        let targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
        let selection = select(&world.config, &targets).unwrap_or_else(|err| panic!("{err}"));
        narrow(world.plan(), &world.config, &selection)
    }

    fn addresses_of_actions(plan: &Plan) -> Vec<String> {
        plan.actions
            .iter()
            .map(|action| format!("{} {}", action.kind, action.address))
            .collect()
    }

    #[test]
    fn a_member_of_a_recovery_plan_brings_the_whole_plan_and_the_fix_it_needs() {
        let world = worlds::recovery_plan_unit();
        let plan = narrowed(&world, &["reprotect.erp_app"]);
        let actions = addresses_of_actions(&plan);
        assert!(
            actions.iter().any(|a| a.ends_with(" reprotect.erp_db")),
            "{actions:?}"
        );
        assert!(
            actions
                .iter()
                .any(|a| a.ends_with(" master_target.mt_linux")),
            "the master target fix comes along: {actions:?}"
        );
        assert!(
            !actions.iter().any(|a| a.contains("intranet")),
            "{actions:?}"
        );
        assert_eq!(plan.units.len(), 1);
        assert_eq!(plan.targets, ["reprotect.erp_app"]);
        // Every kept action's dependencies are kept, in order.
        for (index, action) in plan.actions.iter().enumerate() {
            for dependency in &action.depends_on {
                assert!(
                    plan.actions[..index].iter().any(|a| &a.id == dependency),
                    "{} depends on {dependency}, missing or later",
                    action.id
                );
            }
        }
    }

    #[test]
    fn findings_about_what_is_not_targeted_are_left_out() {
        let world = worlds::recovery_plan_unit();
        let plan = narrowed(&world, &["reprotect.intranet"]);
        assert_eq!(
            addresses_of_actions(&plan),
            [format!(
                "{} reprotect.intranet",
                crate::plan::kinds::REPROTECT
            )]
        );
        assert!(plan.units.is_empty());
        assert!(
            plan.findings.is_empty(),
            "the Linux master target's and erp_db's findings are not about intranet: {:?}",
            plan.findings
        );

        let world = worlds::errors_acknowledged();
        let whole = world.plan();
        assert!(!whole.not_planned.is_empty());
        let plan = narrowed(&world, &["reprotect.web01"]);
        assert!(plan.not_planned.is_empty(), "mail01 is not targeted");
        let rules: Vec<(&str, String)> = plan
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.address.to_string()))
            .collect();
        assert!(
            rules.contains(&("FB124", "master_target.mt_linux".to_owned())),
            "web01 goes through mt_linux: {rules:?}"
        );
        assert!(
            rules
                .iter()
                .all(|(_, address)| !address.contains("files01") && !address.contains("mail01")),
            "{rules:?}"
        );
    }

    #[test]
    fn a_master_target_selects_the_reprotects_through_it() {
        let world = worlds::all_new();
        let selected = select(&world.config, &["master_target.mt_windows".to_owned()])
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            selected
                .reprotects
                .into_iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>(),
            ["reprotect.app01"]
        );
    }

    #[test]
    fn a_for_each_name_selects_every_instance_and_a_key_one() {
        let mut world = worlds::all_new();
        for reprotect in world.config.reprotects.iter_mut().take(2) {
            let key = reprotect.address.name.clone();
            reprotect.address = Address::new("reprotect", "app").with_key(key);
        }
        let select_text = |targets: &[&str]| -> Vec<String> {
            let targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
            select(&world.config, &targets)
                .unwrap_or_else(|err| panic!("{err}"))
                .reprotects
                .into_iter()
                .map(|a| a.to_string())
                .collect()
        };
        assert_eq!(select_text(&["reprotect.app"]).len(), 2);
        let one = select_text(&["reprotect.app"])[0].clone();
        assert_eq!(select_text(&[one.as_str()]), vec![one]);
    }

    #[test]
    fn targets_that_select_nothing_are_refused_with_what_to_write() {
        let world = worlds::all_new();
        let refuse = |target: &str| {
            select(&world.config, &[target.to_owned()])
                .map(|selected| format!("{selected:?}"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refuse("reprotect.web1"),
            "no reprotect.web1 in the configuration; did you mean `reprotect.web01`?"
        );
        assert_eq!(
            refuse("process_server.azure"),
            "`process_server.azure` cannot be targeted: targets are reprotects, recovery \
             plans or master targets"
        );
        assert_eq!(
            refuse("web01"),
            "`web01` is not an address: malformed address \"web01\": expected KIND.NAME"
        );
        assert!(
            refuse("reprotect.web01[db01]")
                .starts_with("`reprotect.web01[db01]` is not an address")
        );
    }
}
