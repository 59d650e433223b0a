//! `acknowledge "FB128" { reason = "..." }`: marks the matching findings as acknowledged
//! so that they are still shown but no longer block.
//!
//! Acknowledgements live on configuration servers, process servers, master targets,
//! reprotects and recovery plans. A finding about a reprotect also honours those of the
//! recovery plans that contain it (acknowledging a plan covers its members), and a
//! finding about a vCenter those of the configuration servers that use it (the vcenter
//! block has none of its own).

use std::collections::BTreeMap;

use super::Finding;
use crate::config::{Acknowledgement, Address, Config};

/// Every `acknowledge` block whose rule id is not a rule of the catalogue (a typo such
/// as `FB218` would otherwise acknowledge nothing, silently), with the block it is in.
/// The loader or `validate` reports them as errors at the acknowledgement's span.
pub fn unknown_acknowledgements(config: &Config) -> Vec<(&Address, &Acknowledgement)> {
    let blocks = config
        .configuration_servers
        .iter()
        .map(|cs| (&cs.address, &cs.acknowledgements))
        .chain(
            config
                .process_servers
                .iter()
                .map(|ps| (&ps.address, &ps.acknowledgements)),
        )
        .chain(
            config
                .master_targets
                .iter()
                .map(|mt| (&mt.address, &mt.acknowledgements)),
        )
        .chain(
            config
                .reprotects
                .iter()
                .map(|r| (&r.address, &r.acknowledgements)),
        )
        .chain(
            config
                .recovery_plans
                .iter()
                .map(|p| (&p.address, &p.acknowledgements)),
        );
    blocks
        .flat_map(|(address, acknowledgements)| {
            acknowledgements
                .iter()
                .filter(|ack| super::catalogue::find(ack.rule.trim()).is_none())
                .map(move |ack| (address, ack))
        })
        .collect()
}

pub(super) fn apply(config: &Config, findings: &mut [Finding]) {
    let mut by_address: BTreeMap<&Address, Vec<&Acknowledgement>> = BTreeMap::new();
    for cs in &config.configuration_servers {
        by_address
            .entry(&cs.address)
            .or_default()
            .extend(&cs.acknowledgements);
        by_address
            .entry(&cs.vcenter.target)
            .or_default()
            .extend(&cs.acknowledgements);
    }
    for ps in &config.process_servers {
        by_address
            .entry(&ps.address)
            .or_default()
            .extend(&ps.acknowledgements);
    }
    for mt in &config.master_targets {
        by_address
            .entry(&mt.address)
            .or_default()
            .extend(&mt.acknowledgements);
    }
    for reprotect in &config.reprotects {
        by_address
            .entry(&reprotect.address)
            .or_default()
            .extend(&reprotect.acknowledgements);
    }
    for plan in &config.recovery_plans {
        by_address
            .entry(&plan.address)
            .or_default()
            .extend(&plan.acknowledgements);
        for member in &plan.members {
            by_address
                .entry(&member.target)
                .or_default()
                .extend(&plan.acknowledgements);
        }
    }
    for finding in findings.iter_mut() {
        let Some(acknowledgements) = by_address.get(&finding.address) else {
            continue;
        };
        if let Some(acknowledgement) = acknowledgements
            .iter()
            .find(|ack| ack.rule.trim().eq_ignore_ascii_case(&finding.rule))
        {
            finding.acknowledged = Some(acknowledgement.reason.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn an_acknowledged_error_is_shown_but_does_not_block() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").snapshots = vec!["keep".to_owned()];
        let finding = assert_violated(&world, "FB102", "reprotect.web01");
        assert!(finding.blocks());
        world
            .reprotect_mut("web01")
            .acknowledgements
            .push(acknowledgement(
                "fb102",
                "snapshot is removed by the backup job at 02:00",
            ));
        let finding = assert_violated(&world, "FB102", "reprotect.web01");
        assert_eq!(
            finding.acknowledged.as_deref(),
            Some("snapshot is removed by the backup job at 02:00")
        );
        assert!(!finding.blocks());
    }

    #[test]
    fn an_unverified_error_blocks_until_acknowledged() {
        let mut world = TestWorld::healthy();
        world.host_mut().license_edition = None;
        let unknown = findings_of(&world, "FB124");
        assert!(unknown.iter().all(|finding| finding.blocks()));
        for name in ["mt_win", "mt_lnx"] {
            world
                .master_target_mut(name)
                .acknowledgements
                .push(acknowledgement(
                    "FB124",
                    "licensed Enterprise Plus, checked in the portal",
                ));
        }
        let acknowledged = findings_of(&world, "FB124");
        assert_eq!(acknowledged.len(), 2);
        assert!(acknowledged.iter().all(|finding| !finding.blocks()));
    }

    #[test]
    fn a_vcenter_finding_honours_its_configuration_servers_acknowledgement() {
        let mut world = TestWorld::healthy();
        world.vcenter_mut().privileges.clear();
        world.config.configuration_servers[0]
            .acknowledgements
            .push(acknowledgement(
                "FB101",
                "privileges audited by the VMware team",
            ));
        let finding = findings_of(&world, "FB101").remove(0);
        assert_eq!(
            finding.acknowledged.as_deref(),
            Some("privileges audited by the VMware team")
        );
    }

    #[test]
    fn a_recovery_plan_acknowledgement_covers_its_members() {
        let mut world = TestWorld::healthy();
        world.vm_mut("web01").power_state = "poweredOn".to_owned();
        world.vm_mut("db01").power_state = "poweredOn".to_owned();
        world.add_recovery_plan("erp", &["web01"]);
        world.config.recovery_plans[0]
            .acknowledgements
            .push(acknowledgement("FB128", "shut down by the runbook"));
        let web01 = assert_violated(&world, "FB128", "reprotect.web01");
        let db01 = assert_violated(&world, "FB128", "reprotect.db01");
        assert_eq!(
            web01.acknowledged.as_deref(),
            Some("shut down by the runbook")
        );
        assert_eq!(db01.acknowledged, None);
    }

    #[test]
    fn an_acknowledgement_of_an_unknown_rule_is_reported() {
        let mut world = TestWorld::healthy();
        world
            .reprotect_mut("db01")
            .acknowledgements
            .push(acknowledgement("FB218", "typo"));
        world
            .reprotect_mut("db01")
            .acknowledgements
            .push(acknowledgement("fb128", "fine"));
        let unknown = super::unknown_acknowledgements(&world.config);
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].0.to_string(), "reprotect.db01");
        assert_eq!(unknown[0].1.rule, "FB218");
    }

    #[test]
    fn acknowledging_another_rule_changes_nothing() {
        let mut world = TestWorld::healthy();
        world.vm_mut("mt-win-01").snapshots = vec!["s".to_owned()];
        world
            .master_target_mut("mt_win")
            .acknowledgements
            .push(acknowledgement("FB107", "n/a"));
        let finding = assert_violated(&world, "FB115", "master_target.mt_win");
        assert!(finding.blocks());
    }
}
