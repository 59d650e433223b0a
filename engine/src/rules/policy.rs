//! FB119: the failback policy is created by ASR with the forward policy and cannot be
//! edited; a declared `failback_policy` must match what the vault has.
//!
//! The vault keeps recovery point retention in minutes (`recoveryPointHistory`); the
//! language declares it in hours, so it is converted before comparing.

use std::collections::BTreeSet;

use super::catalogue::FB119;
use super::{Context, Finding, Subject, same};
use crate::resolve::UnresolvedKind;

pub(super) fn fb119_policy_matches(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let mut seen = BTreeSet::new();
    for r in &context.resolution.reprotects {
        let declared = match &r.failback_policy {
            Ok(declared) => *declared,
            Err(missing)
                if missing.kind == UnresolvedKind::Undeclared && r.config.policy.is_none() =>
            {
                // No declared policy: the vault's only failback policy is used; say so
                // when there is none, or several.
                if let Err(missing) = &r.policy {
                    let subject = Subject::new(&FB119, &r.config.address, &r.config.declared.span);
                    if missing.is_absent() || missing.kind == UnresolvedKind::Ambiguous {
                        findings.push(subject.violated(
                            missing.reason.clone(),
                            None,
                            "name the failback policy with `policy = failback_policy.NAME`",
                        ));
                    } else {
                        findings.push(subject.unresolved(missing));
                    }
                }
                continue;
            }
            // A reference to an undeclared block is the loader's error.
            Err(_) => continue,
        };
        let vault_name = r.vault.as_ref().map(|v| v.name.clone()).unwrap_or_default();
        if !seen.insert((declared.address.clone(), vault_name)) {
            continue;
        }
        let subject = Subject::new(&FB119, &declared.address, &declared.declared.span);
        let policy = match &r.policy {
            Ok(policy) => *policy,
            Err(missing) if missing.is_absent() || missing.kind == UnresolvedKind::Ambiguous => {
                findings.push(subject.violated(
                    missing.reason.clone(),
                    None,
                    "the failback policy is created with the forward replication policy; \
                     set `name` to the vault's InMage policy",
                ));
                continue;
            }
            Err(missing) => {
                findings.push(subject.unresolved(missing));
                continue;
            }
        };
        if !same(&policy.instance_type, "InMage") {
            findings.push(Subject::new(&FB119, &declared.address, declared.declared.span_of("name")).violated(
                format!(
                    "policy {} is a {} policy, not a failback (InMage) policy",
                    policy.name, policy.instance_type
                ),
                Some(format!("instanceType {}", policy.instance_type)),
                "name the failback (InMage) policy that ASR created with the forward policy",
            ));
            continue;
        }
        let comparisons = [
            (
                "rpo_threshold_minutes",
                "RPO threshold",
                declared.rpo_threshold_minutes,
                policy.rpo_threshold_minutes,
                "min",
            ),
            (
                "recovery_point_retention_hours",
                "recovery point retention",
                declared.recovery_point_retention_hours.saturating_mul(60),
                policy.recovery_point_history_minutes,
                "min",
            ),
            (
                "app_consistent_frequency_minutes",
                "app-consistent snapshot frequency",
                declared.app_consistent_frequency_minutes,
                policy.app_consistent_frequency_minutes,
                "min",
            ),
        ];
        let mut unknown = Vec::new();
        for (attribute, label, want, have, unit) in comparisons {
            match have {
                None => unknown.push(label),
                Some(have) if have == want => {}
                Some(have) => findings.push(
                    Subject::new(
                        &FB119,
                        &declared.address,
                        declared.declared.span_of(attribute),
                    )
                    .violated(
                        format!(
                            "the vault's failback policy {} has {label} {}, not the declared {}",
                            policy.name,
                            show(have, unit),
                            show(want, unit)
                        ),
                        Some(format!("{label} {}", show(have, unit))),
                        "the failback policy cannot be edited: declare the vault's values \
                             (or change the forward policy, which recreates it)",
                    ),
                ),
            }
        }
        if !unknown.is_empty() {
            findings.push(subject.unknown(format!(
                "the vault does not report the {} of policy {}",
                unknown.join(", "),
                policy.name
            )));
        }
    }
}

/// `90 min`, `1440 min (24 h)`.
fn show(minutes: u32, unit: &str) -> String {
    if minutes >= 60 && minutes.is_multiple_of(60) {
        format!("{minutes} {unit} ({} h)", minutes / 60)
    } else {
        format!("{minutes} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn fb119_holds_when_values_match_hours_against_minutes() {
        assert_holds(&TestWorld::healthy(), "FB119");
    }

    #[test]
    fn fb119_warns_on_a_differing_value() {
        let mut world = TestWorld::healthy();
        world.config.failback_policies[0].recovery_point_retention_hours = 72;
        let finding = assert_violated(&world, "FB119", "failback_policy.default");
        assert_eq!(
            finding.message,
            "the vault's failback policy failback-policy has recovery point retention 1440 min (24 h), not the declared 4320 min (72 h)"
        );
        assert_eq!(
            finding.span.line, 43,
            "blames recovery_point_retention_hours"
        );
    }

    #[test]
    fn fb119_warns_on_a_forward_policy_or_a_missing_one() {
        let mut world = TestWorld::healthy();
        world.config.failback_policies[0].policy_name = "replication-policy".to_owned();
        assert_violated(&world, "FB119", "failback_policy.default");
        let mut world = TestWorld::healthy();
        world.config.failback_policies[0].policy_name = "nope".to_owned();
        assert_violated(&world, "FB119", "failback_policy.default");
    }

    #[test]
    fn fb119_cannot_be_checked_without_values() {
        let mut world = TestWorld::healthy();
        world
            .policy_mut("failback-policy")
            .recovery_point_history_minutes = None;
        assert_eq!(
            assert_unknown(&world, "FB119", "failback_policy.default"),
            "the vault does not report the recovery point retention of policy failback-policy"
        );
    }
}
