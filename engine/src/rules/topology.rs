//! Rules about how the pieces fit together: where the process server sits for the
//! connectivity (FB103), that it is connected (FB104), and that a replication group is
//! reprotected whole through one recovery plan (FB120) with one master target (FB121).

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashMapExt as _};

use super::catalogue::{FB103, FB104, FB120, FB121};
use super::wording::without_full_stop;
use super::{Context, Finding, Subject, require, same};
use crate::config::{
    Address, Config, Connectivity, ProcessServerLocation, RecoveryPlan, Reference, Reprotect,
};
use crate::observe::vault::ProtectedItem;
use crate::resolve::ResolvedReprotect;

/// FB103: with only a site-to-site VPN, the process server belongs in Azure.
pub(super) fn fb103_process_server_placement(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for ps in &context.config.process_servers {
        let subject = Subject::new(&FB103, &ps.address, ps.declared.span_of("location"));
        match context.config.settings.connectivity {
            None => {
                // Nothing discovery could see decides this: only the configuration can.
                let mut finding = subject.unknown(
                    "the failback block does not declare `connectivity` (\"vpn\" or \
                     \"expressroute\")",
                );
                finding.remediation = "declare how Azure reaches on-premises in the failback \
                                       block: `connectivity = \"vpn\"` (site-to-site VPN) or \
                                       `connectivity = \"expressroute\"` (ExpressRoute private \
                                       peering)"
                    .to_owned();
                findings.push(finding);
            }
            Some(Connectivity::ExpressRoute) => {}
            Some(Connectivity::Vpn) => {
                if ps.location == ProcessServerLocation::Onprem {
                    findings.push(subject.violated(
                        format!(
                            "{} is on-premises but Azure reaches on-premises only over a \
                             site-to-site VPN: replication from the failed-over VMs crosses \
                             the VPN with high latency",
                            ps.address
                        ),
                        Some("connectivity = \"vpn\", location = \"onprem\"".to_owned()),
                        "deploy a process server in Azure and use it for the reprotects",
                    ));
                }
            }
        }
    }
}

/// FB104: the process server must be connected to the configuration server.
pub(super) fn fb104_process_server_connected(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for ps in &context.resolution.process_servers {
        let subject = Subject::new(
            &FB104,
            &ps.config.address,
            ps.config.declared.span_of("name"),
        );
        let server = match &ps.server {
            Ok(server) => *server,
            Err(missing) if missing.is_absent() => {
                findings.push(subject.violated(
                    format!(
                        "process server {} is not registered with the configuration server",
                        ps.config.server_name
                    ),
                    Some(missing.reason.clone()),
                    "register the process server with the configuration server, or correct \
                     `name`",
                ));
                continue;
            }
            Err(missing) => {
                findings.push(subject.unresolved(missing));
                continue;
            }
        };
        let errors: Vec<String> = server
            .health_errors
            .iter()
            .filter(|error| {
                error
                    .level
                    .as_deref()
                    .is_none_or(|level| same(level, "Error"))
            })
            .map(|error| format!("{}: {}", error.code, without_full_stop(&error.message)))
            .collect();
        let critical = server
            .health
            .as_deref()
            .is_some_and(|h| same(h, "Critical"));
        if !errors.is_empty() || critical {
            let mut observed = errors.clone();
            if critical {
                observed.insert(0, "health Critical".to_owned());
            }
            findings.push(subject.violated(
                format!(
                    "process server {} reports errors to the configuration server",
                    server.friendly_name
                ),
                Some(observed.join("; ")),
                "fix the process server's health errors (port 443 to the configuration server \
                 must be reachable)",
            ));
            continue;
        }
        let Some(heartbeat) = server.last_heartbeat else {
            findings.push(subject.unknown(format!(
                "the configuration server reports no heartbeat for process server {}",
                server.friendly_name
            )));
            continue;
        };
        let Some(age) = context.stale_heartbeat(&subject, heartbeat, findings) else {
            continue;
        };
        findings.push(subject.violated(
            format!(
                "process server {} last reached the configuration server {} minutes \
                 before discovery",
                server.friendly_name,
                age.num_minutes()
            ),
            Some(format!("last heartbeat {}", heartbeat.to_rfc3339())),
            "check the process server's services and that port 443 to the \
             configuration server is reachable",
        ));
    }
}

/// FB104 (configuration only): a reprotect's process server and master target must
/// belong to the same configuration server; ASR pairs them within one fabric.
pub(super) fn fb104_one_configuration_server(config: &Config, findings: &mut Vec<Finding>) {
    for reprotect in &config.reprotects {
        let (Some(ps), Some(mt)) = (
            config.process_server(&reprotect.process_server.target),
            config.master_target(&reprotect.master_target.target),
        ) else {
            continue;
        };
        if ps.configuration_server.target == mt.configuration_server.target {
            continue;
        }
        findings.push(
            Subject::new(
                &FB104,
                &reprotect.address,
                reprotect.declared.span_of("process_server"),
            )
            .violated(
                format!(
                    "{} belongs to {} but {} to {}: a reprotect goes through one \
                         configuration server",
                    ps.address,
                    ps.configuration_server.target,
                    mt.address,
                    mt.configuration_server.target
                ),
                None,
                format!("use a process server of {}", mt.configuration_server.target),
            ),
        );
    }
}

/// Reprotects grouped by the replication group of their protected item (per vault,
/// group names without case), in declaration order.
fn replication_groups<'c, 'a>(
    context: &'c Context<'a>,
) -> BTreeMap<(String, String), Vec<&'c ResolvedReprotect<'a>>> {
    let mut groups: BTreeMap<(String, String), Vec<&ResolvedReprotect<'a>>> = BTreeMap::new();
    for r in &context.resolution.reprotects {
        let (Ok(vault), Ok(item)) = (&r.vault, &r.protected_item) else {
            continue;
        };
        if let Some(group) = item.replication_group.as_deref().filter(|g| !g.is_empty()) {
            groups
                .entry((vault.name.clone(), group.to_lowercase()))
                .or_default()
                .push(r);
        }
    }
    groups
}

/// FB120: machines of a replication group are reprotected only through one recovery
/// plan, as a whole, each with its values.
pub(super) fn fb120_replication_group_in_one_plan(
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    for r in &context.resolution.reprotects {
        let subject = Subject::new(&FB120, &r.config.address, &r.config.declared.span);
        let item = require!(r.protected_item, subject, findings);
        let Some(group) = item.replication_group.as_deref().filter(|g| !g.is_empty()) else {
            continue;
        };
        if r.recovery_plan.is_none() {
            findings.push(subject.violated(
                format!(
                    "{} is in replication group {group}: its machines can only be \
                     reprotected together, through a recovery_plan",
                    item.friendly_name
                ),
                Some(format!("replication group {group}")),
                format!(
                    "put every reprotect of replication group {group} into one \
                     recovery_plan block's `members`"
                ),
            ));
        }
    }

    // Every vault's items by replication group, scanned once.
    let mut group_items: HashMap<(&str, String), Vec<&ProtectedItem>> = HashMap::new();
    let mut scanned = BTreeSet::new();
    for r in &context.resolution.reprotects {
        let Ok(vault) = &r.vault else { continue };
        if !scanned.insert(vault.name.as_str()) {
            continue;
        }
        for item in &vault.protected_items {
            if let Some(group) = item.replication_group.as_deref().filter(|g| !g.is_empty()) {
                group_items
                    .entry((vault.name.as_str(), group.to_lowercase()))
                    .or_default()
                    .push(item);
            }
        }
    }
    for ((vault_name, group_key), members) in replication_groups(context) {
        let group = members
            .first()
            .and_then(|r| r.protected_item.as_ref().ok())
            .and_then(|item| item.replication_group.clone())
            .unwrap_or_default();
        let plans: BTreeSet<&Address> = members
            .iter()
            .filter_map(|r| r.recovery_plan.map(|plan| &plan.address))
            .collect();
        if plans.len() > 1 {
            for plan in context
                .config
                .recovery_plans
                .iter()
                .filter(|plan| plans.contains(&plan.address))
            {
                let subject = Subject::new(&FB120, &plan.address, plan.declared.span_of("members"));
                findings.push(subject.violated(
                    format!(
                        "replication group {group} is split over {}: it must be reprotected \
                         as one unit",
                        plans
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None,
                    format!("move every member of replication group {group} into one plan"),
                ));
            }
        }
        // Every machine of the group needs its own reprotect with its values.
        let declared_ids: BTreeSet<String> = members
            .iter()
            .filter_map(|r| r.protected_item.as_ref().ok())
            .map(|item| item.id.to_lowercase())
            .collect();
        let missing: Vec<&str> = group_items
            .get(&(vault_name.as_str(), group_key))
            .into_iter()
            .flatten()
            .filter(|item| !declared_ids.contains(&item.id.to_lowercase()))
            .map(|item| item.friendly_name.as_str())
            .collect();
        if missing.is_empty() {
            continue;
        }
        let Some(first) = members.first() else {
            continue;
        };
        let (address, span) = match first.recovery_plan {
            Some(plan) => (&plan.address, plan.declared.span_of("members")),
            None => (&first.config.address, &first.config.declared.span),
        };
        findings.push(Subject::new(&FB120, address, span).violated(
            format!(
                "replication group {group} in vault {vault_name} has members without a \
                 reprotect: {}; the group is reprotected as a whole",
                missing.join(", ")
            ),
            Some(format!(
                "group members without reprotect: {}",
                missing.join(", ")
            )),
            "declare a reprotect (with its master target, datastore, …) for every member \
             and add it to the recovery plan",
        ));
    }
}

/// FB121 (configuration only): the members of a recovery plan use one master target,
/// the plan's own when it names one; likewise its process server.
pub(super) fn fb121_one_master_target_per_plan(config: &Config, findings: &mut Vec<Finding>) {
    let reprotects: HashMap<&Address, &Reprotect> = config
        .reprotects
        .iter()
        .map(|reprotect| (&reprotect.address, reprotect))
        .collect();
    for plan in &config.recovery_plans {
        let members: Vec<&Reprotect> = plan
            .members
            .iter()
            .filter_map(|member| reprotects.get(&member.target).copied())
            .collect();
        let master_targets: BTreeSet<&Address> =
            members.iter().map(|r| &r.master_target.target).collect();
        if let Some(expected) = &plan.master_target {
            members_must_use(
                plan,
                &members,
                expected,
                "master_target",
                |r| &r.master_target,
                findings,
            );
        } else if master_targets.len() > 1 {
            findings.push(
                Subject::new(&FB121, &plan.address, plan.declared.span_of("members")).violated(
                    format!(
                        "the members of {} use {} master targets; a plan (and a replication \
                         group) is reprotected through one",
                        plan.address,
                        master_targets.len()
                    ),
                    Some(
                        members
                            .iter()
                            .map(|r| format!("{} uses {}", r.address, r.master_target.target))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    "use one master target for every member (set `master_target` on the plan \
                     to have it checked)",
                ),
            );
        }
        if let Some(expected) = &plan.process_server {
            members_must_use(
                plan,
                &members,
                expected,
                "process_server",
                |r| &r.process_server,
                findings,
            );
        }
    }
}

/// FB121 (with discovery): a replication group whose members sit in different plans
/// (already FB120) must still not use different master targets.
pub(super) fn fb121_one_master_target_per_group(
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    for ((_, group), members) in replication_groups(context) {
        let plans: BTreeSet<Option<&Address>> = members
            .iter()
            .map(|r| r.recovery_plan.map(|plan| &plan.address))
            .collect();
        if plans.len() == 1 && plans.iter().all(Option::is_some) {
            // One plan: the configuration-only check above covers it.
            continue;
        }
        let master_targets: BTreeSet<&Address> = members
            .iter()
            .map(|r| &r.config.master_target.target)
            .collect();
        if master_targets.len() <= 1 {
            continue;
        }
        let Some(first) = members.first() else {
            continue;
        };
        findings.push(
            Subject::new(
                &FB121,
                &first.config.address,
                first.config.declared.span_of("master_target"),
            )
            .violated(
                format!(
                    "the members of replication group {group} use {} master targets; \
                         a group is reprotected through one",
                    master_targets.len()
                ),
                Some(
                    members
                        .iter()
                        .map(|r| {
                            format!(
                                "{} uses {}",
                                r.config.address, r.config.master_target.target
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                "use one master target for every member of the group",
            ),
        );
    }
}

/// FB121 for a plan that names the `attribute` (master target or process server)
/// every member must use: one finding listing the members that use another.
fn members_must_use(
    plan: &RecoveryPlan,
    members: &[&Reprotect],
    expected: &Reference,
    attribute: &str,
    used_by: impl Fn(&Reprotect) -> &Reference,
    findings: &mut Vec<Finding>,
) {
    let others: Vec<String> = members
        .iter()
        .filter(|r| used_by(r).target != expected.target)
        .map(|r| format!("{} uses {}", r.address, used_by(r).target))
        .collect();
    if others.is_empty() {
        return;
    }
    findings.push(
        Subject::new(&FB121, &plan.address, plan.declared.span_of(attribute)).violated(
            format!(
                "every member of {} must use {}",
                plan.address, expected.target
            ),
            Some(others.join(", ")),
            format!(
                "set `{attribute} = {}` in those reprotects",
                expected.target
            ),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::config::{Connectivity, ProcessServerLocation};
    use crate::observe::vault::HealthError;
    use crate::resolve::fixture::seconds_ago;

    #[test]
    fn fb103_holds_in_azure_with_vpn_or_anywhere_with_expressroute() {
        let mut world = TestWorld::healthy();
        assert_holds(&world, "FB103");
        world.config.settings.connectivity = Some(Connectivity::ExpressRoute);
        world.config.process_servers[0].location = ProcessServerLocation::Onprem;
        assert_holds(&world, "FB103");
    }

    #[test]
    fn fb103_warns_on_an_onprem_process_server_over_vpn() {
        let mut world = TestWorld::healthy();
        world.config.process_servers[0].location = ProcessServerLocation::Onprem;
        let finding = assert_violated(&world, "FB103", "process_server.ps_azure");
        assert_eq!(finding.span.line, 18, "blames `location`");
    }

    #[test]
    fn fb103_cannot_be_checked_without_connectivity() {
        let mut world = TestWorld::healthy();
        world.config.settings.connectivity = None;
        assert!(
            assert_unknown(&world, "FB103", "process_server.ps_azure").contains("connectivity")
        );
        // Only the configuration can say how Azure reaches on-premises: the help says
        // to declare it, not to make discovery see more.
        let findings = findings_of(&world, "FB103");
        assert!(
            findings[0]
                .remediation
                .starts_with("declare how Azure reaches on-premises"),
            "{findings:#?}"
        );
    }

    #[test]
    fn fb104_holds_for_a_healthy_process_server() {
        assert_holds(&TestWorld::healthy(), "FB104");
    }

    #[test]
    fn fb104_is_violated_by_a_stale_heartbeat_an_error_or_absence() {
        let mut world = TestWorld::healthy();
        world.process_server_mut().last_heartbeat = seconds_ago(3600);
        let finding = assert_violated(&world, "FB104", "process_server.ps_azure");
        assert!(finding.message.contains("60 minutes before discovery"));

        let mut world = TestWorld::healthy();
        world.process_server_mut().health_errors.push(HealthError {
            code: "EP0883".to_owned(),
            message: "Configuration server is not reachable".to_owned(),
            ..HealthError::default()
        });
        assert_violated(&world, "FB104", "process_server.ps_azure");

        let mut world = TestWorld::healthy();
        world.fabric_mut().process_servers.clear();
        assert_violated(&world, "FB104", "process_server.ps_azure");
    }

    #[test]
    fn fb104_is_violated_by_a_process_server_of_another_configuration_server() {
        let mut world = TestWorld::healthy();
        world.config.process_servers[0].configuration_server =
            reference("configuration_server", "cs02", 16);
        let finding = assert_violated(&world, "FB104", "reprotect.web01");
        assert_eq!(
            finding.message,
            "process_server.ps_azure belongs to configuration_server.cs02 but \
             master_target.mt_win to configuration_server.cs01: a reprotect goes through one \
             configuration server"
        );
        assert!(
            crate::rules::check_config(&world.config)
                .iter()
                .any(|f| f.rule == "FB104")
        );
    }

    #[test]
    fn fb104_cannot_be_checked_without_a_heartbeat() {
        let mut world = TestWorld::healthy();
        world.process_server_mut().last_heartbeat = None;
        assert_unknown(&world, "FB104", "process_server.ps_azure");
    }

    fn group(world: &mut TestWorld, items: &[&str]) {
        for item in items {
            world.item_mut(item).replication_group = Some("erp-group".to_owned());
        }
    }

    #[test]
    fn fb120_holds_for_a_whole_group_in_one_plan() {
        let mut world = TestWorld::healthy();
        group(&mut world, &["web01-item", "db01-item"]);
        world.add_recovery_plan("erp", &["web01", "db01"]);
        assert_holds(&world, "FB120");
    }

    #[test]
    fn fb120_is_violated_outside_a_plan_and_with_a_member_left_out() {
        let mut world = TestWorld::healthy();
        group(&mut world, &["web01-item", "db01-item"]);
        world.add_recovery_plan("erp", &["web01"]);
        world.config.reprotects.retain(|r| r.address.name != "db01");
        let finding = assert_violated(&world, "FB120", "recovery_plan.erp");
        assert_eq!(
            finding.observed.as_deref(),
            Some("group members without reprotect: db01")
        );

        let mut world = TestWorld::healthy();
        group(&mut world, &["web01-item"]);
        assert_violated(&world, "FB120", "reprotect.web01");
    }

    #[test]
    fn fb120_cannot_be_checked_without_the_item() {
        let mut world = TestWorld::healthy();
        world.observed.vaults.clear();
        assert_unknown(&world, "FB120", "reprotect.web01");
    }

    #[test]
    fn fb121_holds_with_one_master_target() {
        let mut world = TestWorld::healthy();
        world.reprotect_mut("db01").master_target = reference("master_target", "mt_win", 63);
        world.add_recovery_plan("erp", &["web01", "db01"]);
        world.config.recovery_plans[0].master_target =
            Some(reference("master_target", "mt_win", 74));
        assert_holds(&world, "FB121");
    }

    #[test]
    fn fb121_is_violated_by_two_master_targets_in_a_plan_or_group() {
        let mut world = TestWorld::healthy();
        world.add_recovery_plan("erp", &["web01", "db01"]);
        let finding = assert_violated(&world, "FB121", "recovery_plan.erp");
        assert_eq!(
            finding.observed.as_deref(),
            Some(
                "reprotect.web01 uses master_target.mt_win, reprotect.db01 uses master_target.mt_lnx"
            )
        );
        assert!(
            crate::rules::check_config(&world.config)
                .iter()
                .any(|f| f.rule == "FB121")
        );

        let mut world = TestWorld::healthy();
        group(&mut world, &["web01-item", "db01-item"]);
        assert_violated(&world, "FB121", "reprotect.web01");
    }

    // FB121 on a recovery plan is decided from the configuration alone, and per group
    // only where the group is known: it is never "could not check".
}
